# slimbuild build as a CLI: docker build's flags and outputs, the step
# cache, progress output, usage errors, stdin contexts, pushing to a real
# registry, and what a failure leaves behind.
source "$(dirname "$0")/../integration/lib.sh"
jqe() { jq -e "$@" >/dev/null; }

BASE_TAR=$(sb_base_rootfs_tar)
"$SLIMBUILD" import "$BASE_TAR" debian:bookworm >/dev/null

C=$SB_T/ctx
mkdir -p "$C"
echo data >"$C/file.txt"
cat >"$C/Dockerfile" <<'EOF'
FROM debian:bookworm
ARG MSG=default
ENV WHO=world
RUN echo "hello $WHO $MSG" | tee /greeting
WORKDIR /srv/app
RUN echo "$MSG" > msg
CMD ["cat", "/greeting"]
EOF

# -- a first build: plain progress, tags, iidfile, metadata-file
out=$("$SLIMBUILD" build --no-slim --progress plain -t cli:one -t cli:two --iidfile "$SB_T/iid" \
	--metadata-file "$SB_T/md.json" --build-arg MSG=given "$C" 2>&1)
rc=$?
check "first build exits 0" [ "$rc" -eq 0 ]
check "plain progress numbers the steps" grep -q '^#[0-9]* \[2/4\] RUN echo "hello' <<<"$out"
check "RUN output is shown under its step" grep -qE '^#[0-9]+ [0-9]+\.[0-9]{3} hello world given$' <<<"$out"
check "steps end with DONE and a duration" grep -qE '^#[0-9]+ DONE [0-9]+\.[0-9]s' <<<"$out"
check "both tags named" bash -c "grep -q 'naming to docker.io/library/cli:one' <<<\"\$1\" && grep -q 'naming to docker.io/library/cli:two' <<<\"\$1\"" _ "$out"
iid=$(cat "$SB_T/iid")
check "iidfile holds the config digest" bash -c "\"$SLIMBUILD\" inspect cli:one | jq -e --arg i '$iid' '.[0].Id == \$i' >/dev/null"
check "metadata-file has the manifest digest" bash -c "jq -e --arg d \"\$(\"$SLIMBUILD\" inspect cli:one | jq -r '.[0].ManifestDigest')\" '.\"containerimage.digest\" == \$d' '$SB_T/md.json' >/dev/null"
check "metadata-file has the config digest" jqe --arg i "$iid" '."containerimage.config.digest" == $i' "$SB_T/md.json"
check "metadata-file names the images" jqe '."image.name" == "docker.io/library/cli:one,docker.io/library/cli:two"' "$SB_T/md.json"
cfg=$("$SLIMBUILD" inspect cli:one | jq '.[0].Config.config')
check "ENV in the config" jqe '.Env | index("WHO=world") != null' <<<"$cfg"
check "ARG not in the config" jqe '[.Env[] | select(startswith("MSG="))] | length == 0' <<<"$cfg"
check "WORKDIR in the config" jqe '.WorkingDir == "/srv/app"' <<<"$cfg"
check "CMD in the config" jqe '.Cmd == ["cat","/greeting"]' <<<"$cfg"
"$SLIMBUILD" unpack cli:one "$SB_T/root1" >/dev/null
check "the build arg reached RUN" grep -qx 'hello world given' "$SB_T/root1/greeting"
check "a relative file lands in WORKDIR" grep -qx given "$SB_T/root1/srv/app/msg"

# -- no-change rebuild: every step cached
out=$("$SLIMBUILD" build --no-slim --progress plain -t cli:one --metadata-file "$SB_T/md2.json" --build-arg MSG=given "$C" 2>&1)
check "rebuild: RUN steps are CACHED" [ "$(grep -c ' CACHED$' <<<"$out")" -eq 3 ]
check "rebuild: nothing ran" jqe '."slimbuild.steps" == 0 and ."slimbuild.cached" == 3' "$SB_T/md2.json"
# a changed build arg invalidates the RUN steps after the ARG
out=$("$SLIMBUILD" build --no-slim --progress plain -t cli:three --build-arg MSG=other "$C" 2>&1)
check "changed build arg: every step after the ARG runs again" [ "$(grep -c ' CACHED$' <<<"$out")" -eq 0 ]
"$SLIMBUILD" unpack cli:three "$SB_T/root3" >/dev/null
check "changed build arg: new value used" grep -qx other "$SB_T/root3/srv/app/msg"
# --no-cache
out=$("$SLIMBUILD" build --no-slim --progress plain --no-cache -t cli:one --build-arg MSG=given "$C" 2>&1)
check "--no-cache runs every step" [ "$(grep -c ' CACHED$' <<<"$out")" -eq 0 ]
# an unused build arg is a warning, not an error
out=$("$SLIMBUILD" build --no-slim --progress plain -t cli:one --build-arg NOPE=1 "$C" 2>&1)
check "unused build arg warns" grep -q 'build-args \[NOPE\] were not consumed' <<<"$out"

# -- prune --build-cache: the cache goes, tagged images stay whole
"$SLIMBUILD" prune --build-cache >/dev/null
check "prune --build-cache removes the snapshots" test ! -e "$SLIMBUILD_ROOT/snapshots"
check "prune --build-cache keeps tagged images" bash -c "\"$SLIMBUILD\" unpack cli:one '$SB_T/root-after-prune' >/dev/null && test -f '$SB_T/root-after-prune/greeting'"
out=$("$SLIMBUILD" build --no-slim --progress plain -t cli:one --build-arg MSG=given "$C" 2>&1)
check "after prune --build-cache every step runs again" [ "$(grep -c ' CACHED$' <<<"$out")" -eq 0 ]

# -- quiet prints the image ID only
out=$("$SLIMBUILD" build --no-slim -q "$C" 2>/dev/null)
check "-q prints only the image ID" grep -qxE 'sha256:[0-9a-f]{64}' <<<"$out"
# build is the default verb
out=$("$SLIMBUILD" -q --no-slim -f "$C/Dockerfile" "$C" 2>/dev/null)
check "slimbuild -f F CONTEXT builds" grep -qxE 'sha256:[0-9a-f]{64}' <<<"$out"

# -- outputs
"$SLIMBUILD" build --no-slim -q -o "type=oci,dest=$SB_T/img.oci.tar" -o "type=docker,dest=$SB_T/img.docker.tar" \
	-o "type=tar,dest=$SB_T/rootfs.tar" -o "type=local,dest=$SB_T/local" -t cli:out "$C" >/dev/null 2>&1
check "-o type=oci: umoci reads it" bash -c "mkdir -p '$SB_T/ocil' && tar -xf '$SB_T/img.oci.tar' -C '$SB_T/ocil' && umoci unpack --image '$SB_T/ocil:out' '$SB_T/umoci' >/dev/null"
check "-o type=oci: the unpacked tree has the file" test -f "$SB_T/umoci/rootfs/greeting"
check "-o type=docker: skopeo reads it" skopeo inspect "docker-archive:$SB_T/img.docker.tar" >/dev/null
check "-o type=tar: rootfs tar holds /greeting" bash -c "tar -tf '$SB_T/rootfs.tar' | grep -qx greeting"
check "-o type=local: rootfs directory" test -f "$SB_T/local/srv/app/msg"
"$SLIMBUILD" build --no-slim -q -o type=tar,dest=- "$C" 2>/dev/null >"$SB_T/stdout.tar"
check "-o type=tar,dest=- streams to stdout" bash -c "tar -tf '$SB_T/stdout.tar' | grep -qx greeting"

# -- context from stdin: a tar, and a bare Dockerfile
tar -C "$C" -cf - . | "$SLIMBUILD" build --no-slim -q -t cli:stdin - >/dev/null 2>&1
check "context tar on stdin" bash -c "\"$SLIMBUILD\" inspect cli:stdin >/dev/null"
printf 'FROM debian:bookworm\nRUN echo piped > /p\n' | "$SLIMBUILD" build --no-slim -q -t cli:piped - >/dev/null 2>&1
"$SLIMBUILD" unpack cli:piped "$SB_T/piped" >/dev/null 2>&1
check "Dockerfile on stdin" grep -qx piped "$SB_T/piped/p"

# -- usage errors exit 2, build errors exit 1 with FILE:LINE
set +e
"$SLIMBUILD" build --no-slim --platform linux/s390x "$C" >/dev/null 2>&1
check "--platform of another arch is a usage error" [ $? -eq 2 ]
"$SLIMBUILD" build --no-slim --progress fancy "$C" >/dev/null 2>&1
check "bad --progress is a usage error" [ $? -eq 2 ]
"$SLIMBUILD" build --no-slim >/dev/null 2>&1
check "no context is a usage error" [ $? -eq 2 ]
mkdir -p "$SB_T/bad"
printf 'FROM debian:bookworm\nRUN true\nCOPY --frm=x a b\n' >"$SB_T/bad/Dockerfile"
err=$("$SLIMBUILD" build --no-slim "$SB_T/bad" 2>&1)
rc=$?
check "unknown flag fails with exit 1" [ "$rc" -eq 1 ]
check "unknown flag names Dockerfile:3" grep -q 'Dockerfile:3: dockerfile parse error on line 3: unknown flag: --frm' <<<"$err"
printf 'FROM debian:bookworm\nRUN echo before-fail > /marker-xyz && exit 7\n' >"$SB_T/bad/Dockerfile"
before=$(ls "$SLIMBUILD_ROOT/blobs/sha256" | wc -l)
err=$("$SLIMBUILD" build --no-slim --progress plain -t cli:failed "$SB_T/bad" 2>&1)
rc=$?
check "failed RUN exits 1" [ "$rc" -eq 1 ]
check "failed RUN names the line and the exit code" grep -q 'Dockerfile:2: process "/bin/sh -c echo before-fail > /marker-xyz && exit 7" did not complete successfully: exit code: 7' <<<"$err"
check "failed RUN leaves no tag" bash -c "! \"$SLIMBUILD\" inspect cli:failed >/dev/null 2>&1"
after=$(ls "$SLIMBUILD_ROOT/blobs/sha256" | wc -l)
check "failed RUN leaves no blob" [ "$before" -eq "$after" ]
check "failed RUN leaves no temporary dirs" bash -c "[ -z \"\$(ls -A '$SLIMBUILD_ROOT/tmp' 2>/dev/null)\" ]"
printf 'FROM debian:bookworm\nRUN exit 0\n' >"$SB_T/bad/Dockerfile"
"$SLIMBUILD" build --no-slim --target nope "$SB_T/bad" >/dev/null 2>&1
check "unknown --target fails" [ $? -eq 1 ]
set -e

# -- slimming, the default: profile, closure, verify, summary, records
S=$SB_T/slimctx
mkdir -p "$S"
cat >"$S/Dockerfile" <<'DFEOF'
FROM debian:bookworm
RUN echo "slim me" > /greeting
CMD ["/bin/sh", "-c", "cat /greeting; date -u -d @0 +%Y; head -c 20 /usr/share/common-licenses/GPL-3"]
DFEOF
P=(podman --root "$SB_T/podman" --runroot "$SB_T/podman-run" --storage-driver overlay)
PRUN=(run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none)
out=$("$SLIMBUILD" build --progress plain -t cli:slim --profile-out "$SB_T/prof.json" \
	--seccomp-profile-out "$SB_T/seccomp.json" --metadata-file "$SB_T/slim.json" \
	--dockerfile-out "$SB_T/slim.Dockerfile" --iidfile "$SB_T/slim.iid" \
	--include '/usr/share/common-licenses/Apache-*' "$S" 2>&1)
rc=$?
check "slim build exits 0" [ "$rc" -eq 0 ]
check "slim build prints the summary" grep -q '^slim summary' <<<"$out"
check "slim build verified its probe" jqe '."slimbuild.probes" == 1 and ."slimbuild.probes_verified" == 1' "$SB_T/slim.json"
check "slim image is under 5% of the built one" jqe '."slimbuild.slim.size" * 20 < ."slimbuild.fat.size"' "$SB_T/slim.json"
check "slim image has fewer packages" jqe '."slimbuild.slim.packages" < ."slimbuild.fat.packages"' "$SB_T/slim.json"
slimcfg=$("$SLIMBUILD" inspect cli:slim | jq '.[0]')
check "slim image: the closure layer and the status.d layer" jqe '.Manifest.layers | length == 2' <<<"$slimcfg"
check "slim image history: the stage's COPY --parents from the built stage" \
  jqe '[.Config.history[].created_by | select(startswith("COPY --parents --from=0 "))] | length == 1' <<<"$slimcfg"
# the slim stage is an ordinary stage of the Dockerfile --dockerfile-out writes
check "--dockerfile-out: the original Dockerfile first" bash -c "head -c \$(stat -c %s '$S/Dockerfile') '$SB_T/slim.Dockerfile' | cmp -s - '$S/Dockerfile'"
check "--dockerfile-out: then the slim stage" grep -qx 'FROM scratch AS slimbuild-slim' "$SB_T/slim.Dockerfile"
check "--dockerfile-out: the closure copied with --parents" grep -q '^COPY --from=0 --parents' "$SB_T/slim.Dockerfile"
check "--dockerfile-out: the original CMD" grep -qxF 'CMD ["/bin/sh", "-c", "cat /greeting; date -u -d @0 +%Y; head -c 20 /usr/share/common-licenses/GPL-3"]' "$SB_T/slim.Dockerfile"
"$SLIMBUILD" build --no-slim -q -f "$SB_T/slim.Dockerfile" --iidfile "$SB_T/printed.iid" "$S" >/dev/null 2>&1
check "rewrite --profile prints that Dockerfile from the recorded profile" \
  cmp <("$SLIMBUILD" rewrite -f "$S/Dockerfile" --profile "$SB_T/prof.json") "$SB_T/slim.Dockerfile"
set +e
"$SLIMBUILD" rewrite -f "$S/Dockerfile" >/dev/null 2>&1
check "rewrite without --profile is a usage error" [ $? -eq 2 ]
set -e
check "that Dockerfile, built as any other, gives the slim image itself" cmp "$SB_T/slim.iid" "$SB_T/printed.iid"
(
  export SLIMBUILD_ROOT=$SB_T/store-printed
  "$SLIMBUILD" import "$(sb_base_rootfs_tar)" debian:bookworm >/dev/null
  "$SLIMBUILD" build --no-slim -q -f "$SB_T/slim.Dockerfile" -t cli:printed "$S" >/dev/null 2>&1
  "$SLIMBUILD" unpack cli:printed "$SB_T/printedroot" >/dev/null
)
"$SLIMBUILD" unpack cli:slim "$SB_T/slimroot-meta" >/dev/null
tree_meta() { (cd "$1" && find . -printf '%p %M %U %G %l %s\n' | sort); }
check "that Dockerfile in a fresh store: the same tree, modes, owners, links" \
  diff <(tree_meta "$SB_T/slimroot-meta") <(tree_meta "$SB_T/printedroot")
check "that Dockerfile in a fresh store: the same contents" diff -r "$SB_T/slimroot-meta" "$SB_T/printedroot"
check "slim image keeps the Cmd" jqe '.Config.config.Cmd[0] == "/bin/sh"' <<<"$slimcfg"
"$SLIMBUILD" unpack cli:slim "$SB_T/slimroot" >/dev/null
check "slim image holds what the command read" test -f "$SB_T/slimroot/greeting"
check "slim image holds the ELF closure of date" test -e "$SB_T/slimroot/usr/lib/x86_64-linux-gnu/libc.so.6"
check "slim image holds the --include" test -f "$SB_T/slimroot/usr/share/common-licenses/Apache-2.0"
check "slim image holds a file the command read" test -f "$SB_T/slimroot/usr/share/common-licenses/GPL-3"
check "slim image leaves out a sibling nothing read" test ! -e "$SB_T/slimroot/usr/share/common-licenses/GPL-2"
check "slim image drops what nothing used" test ! -e "$SB_T/slimroot/usr/bin/apt"
check "slim image: dpkg status.d for a kept package" test -f "$SB_T/slimroot/var/lib/dpkg/status.d/coreutils"
check "slim image: no status.d for a dropped package" test ! -e "$SB_T/slimroot/var/lib/dpkg/status.d/apt"
check "slim image: no full dpkg status" test ! -e "$SB_T/slimroot/var/lib/dpkg/status"
check "slim image keeps /etc/os-release" test -e "$SB_T/slimroot/etc/os-release"
"$SLIMBUILD" build --no-slim -q -t cli:fat "$S" >/dev/null 2>&1
for img in fat slim; do
  "$SLIMBUILD" save --format docker -o "$SB_T/$img.tar" "cli:$img"
  "${P[@]}" load -q -i "$SB_T/$img.tar" >/dev/null
  "${P[@]}" "${PRUN[@]}" "docker.io/library/cli:$img" >"$SB_T/$img.out" 2>&1 || echo "[exit $?]" >>"$SB_T/$img.out"
done
check "podman: the slim image prints what the built one prints" diff -u "$SB_T/fat.out" "$SB_T/slim.out"
check "podman: that output is the real one" grep -qx 'slim me' "$SB_T/slim.out"
"${P[@]}" "${PRUN[@]}" --security-opt "seccomp=$SB_T/seccomp.json" docker.io/library/cli:slim >"$SB_T/seccomp.out" 2>&1 || true
check "podman: the slim image runs under the seccomp profile it recorded" diff -u "$SB_T/slim.out" "$SB_T/seccomp.out"
check "profile JSON records the closure" jqe '.version == 1 and (.closure | map(.path) | index("/greeting")) != null' "$SB_T/prof.json"
check "profile JSON records the syscalls" jqe '.syscalls | index("execve") != null' "$SB_T/prof.json"
"$SLIMBUILD" build -q -t cli:slim2 --profile "$SB_T/prof.json" --include '/usr/share/common-licenses/Apache-*' "$S" >/dev/null 2>&1
"$SLIMBUILD" unpack cli:slim2 "$SB_T/slimroot2" >/dev/null 2>&1
check "--profile rebuilds the same tree without tracing" diff <(cd "$SB_T/slimroot" && find . | sort) <(cd "$SB_T/slimroot2" && find . | sort)
set +e
err=$("$SLIMBUILD" build -q -t cli:noport --http-probe 8080/ --probe-timeout 2s "$S" 2>&1)
rc=$?
set -e
check "a probe failing on the built image fails the build" [ "$rc" -eq 1 ]
check "that failure names the probe" grep -q 'failed on the built image itself' <<<"$err"
# a directory listing: the tracer sees the getdents of the listed
# directory; verification catches the difference, repair adds the entries
# the slim run listed and lacked; without repair the build fails
L=$SB_T/listctx
mkdir -p "$L"
printf 'FROM debian:bookworm\nCMD ["/bin/ls", "/usr/share/common-licenses"]\n' >"$L/Dockerfile"
set +e
err=$("$SLIMBUILD" build -q -t cli:list --no-repair "$L" 2>&1)
rc=$?
set -e
check "verification fails a slim image that answers differently" [ "$rc" -eq 1 ]
check "that failure says which probe differs" grep -q 'answers differently' <<<"$err"
check "that failure lists the entries the slim run listed and lacked" grep -q '/usr/share/common-licenses/GPL-2' <<<"$err"
check "repair adds the listed directory's entries and verifies" \
  "$SLIMBUILD" build -q -t cli:list --metadata-file "$SB_T/list.json" "$L"
check "what repair added is reported" jqe '."slimbuild.repaired" > 0' "$SB_T/list.json"
"$SLIMBUILD" unpack cli:list "$SB_T/listroot" >/dev/null
check "the repaired image holds a listed entry" test -e "$SB_T/listroot/usr/share/common-licenses/GPL-2"
check "--include of the listed directory verifies without repair" \
  "$SLIMBUILD" build -q -t cli:list2 --no-repair --include /usr/share/common-licenses "$L"

# -- --push and -o type=registry to a real registry
sb_start_registry
R=127.0.0.1:$SB_REGISTRY_PORT
"$SLIMBUILD" build --no-slim -q --push -t "$R/cli/app:v1" "$C" >/dev/null 2>&1
check "--push: skopeo sees the image" skopeo inspect --tls-verify=false "docker://$R/cli/app:v1" >/dev/null
"$SLIMBUILD" build --no-slim -q -o "type=registry,name=$R/cli/app:v2" "$C" >/dev/null 2>&1
check "-o type=registry pushes" skopeo inspect --tls-verify=false "docker://$R/cli/app:v2" >/dev/null

# -- a pulled base: FROM an image only the registry has
"$SLIMBUILD" push debian:bookworm "$R/library/debian:pulled" >/dev/null 2>&1
export SLIMBUILD_ROOT=$SB_T/store2
printf 'FROM %s\nRUN echo on-pulled > /x\n' "$R/library/debian:pulled" >"$SB_T/bad/Dockerfile"
"$SLIMBUILD" build --no-slim -q -t cli:pulled "$SB_T/bad" >/dev/null 2>&1
check "FROM pulls a base missing from the store" bash -c "\"$SLIMBUILD\" unpack cli:pulled '$SB_T/pulled' >/dev/null && grep -qx on-pulled '$SB_T/pulled/x'"

finish
