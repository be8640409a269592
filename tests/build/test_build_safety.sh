#!/usr/bin/env bash
# What a build must not do: a RUN that tries to get out (sysctl write,
# mount, kill and ptrace of a host process, loading a kernel module,
# kexec) is stopped and the host is unchanged; a secret is readable in its
# RUN and in no layer; a failing RUN fails the build with Dockerfile:LINE
# and the exit code, tags nothing and stores no layer of the failed step.
#
# The escape probes are tests/sandbox/probe.c built static on the host and
# COPY'd in. Until `slimbuild build` exists, the probes run under podman
# instead (a sandbox known to hold) so that the checks themselves are
# exercised; the slimbuild checks are reported as skipped.
source "$(dirname "$0")/../integration/lib.sh"
SB=$SLIMBUILD
SKIP=0
skip() { SKIP=$((SKIP + 1)); echo "ok - $* # SKIP slimbuild build is missing"; }
cleanup_all() {
  # storage drivers leave mounts below $SB_T (podman's overlay/ bind)
  awk -v t="$SB_T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  sb_cleanup
}
trap cleanup_all EXIT
have_build=0
if "$SB" build --help >/dev/null 2>&1; then have_build=1; fi

base_tar=$(sb_base_rootfs_tar)
"$SB" import "$base_tar" debian:bookworm \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' >/dev/null

# --- escapes -------------------------------------------------------------
ctx=$SB_T/escape
mkdir -p "$ctx"
check "build the static probe on the host" cc -static -O2 -o "$ctx/sbprobe" "$SB_SOURCE_DIR/tests/sandbox/probe.c"

# a host process for the RUN to aim at, and a host setting to change
sleep 600 &
hostpid=$!
SB_PIDS+=($hostpid)
knob=/proc/sys/kernel/printk_ratelimit
before=$(cat "$knob")
newval=$((before + 7))
mounts_before=$(grep -c sbescape /proc/self/mountinfo || true)

# the RUN's script; it reports and exits 0, the checks below judge
probe_script='/sbprobe mount; /sbprobe init_module; /sbprobe kexec; /sbprobe ptrace
(echo $NEWVAL > /proc/sys/kernel/printk_ratelimit) 2>/dev/null && echo "sysctl: ok" || echo "sysctl: blocked"
mount -t tmpfs sbescape /mnt 2>/dev/null && echo "mount-cmd: ok" || echo "mount-cmd: blocked"
kill -0 $HOSTPID 2>/dev/null && echo "kill-host: ok" || echo "kill-host: blocked"
kill -9 $HOSTPID 2>/dev/null; echo "self: $(cat /proc/self/status | grep -E "^(CapEff|NoNewPrivs|Seccomp):" | tr -s "\t " " " | tr "\n" " ")"'
printf '%s\n' "$probe_script" >"$ctx/probe.sh"
cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm
ARG HOSTPID
ARG NEWVAL
COPY sbprobe probe.sh /
RUN sh /probe.sh > /probe.txt 2>&1
EOF

# judge RESULTS WHO: every escape was stopped
judge() {
  local r=$1 who=$2 l
  echo "# $who: $(tr '\n' ';' <"$r")"
  check "$who: mount(2) refused" grep -Eq '^mount: E' "$r"
  check "$who: mount(8) refused" grep -q '^mount-cmd: blocked' "$r"
  check "$who: pivot_root refused" grep -Eq '^pivot_root: E' "$r"
  # EFAULT or ENOEXEC would mean the capability check passed
  check "$who: init_module refused (EPERM or ENOSYS)" grep -Eq '^init_module: (EPERM|ENOSYS)' "$r"
  check "$who: finit_module refused (EPERM or ENOSYS)" grep -Eq '^finit_module: (EPERM|ENOSYS)' "$r"
  check "$who: kexec_load refused" grep -Eq '^kexec_load: E' "$r"
  check "$who: the sysctl write refused" grep -q '^sysctl: blocked' "$r"
  check "$who: the host process is invisible to kill -0" grep -q '^kill-host: blocked' "$r"
  check "$who: the host process is not among those ptrace sees" bash -c "! grep -q '^ptrace $hostpid:' '$r'"
  l=$(sed -n 's/^visible: //p' "$r")
  check "$who: the RUN sees only its own few processes ($l)" test "${l:-99}" -lt 10
  check "$who: host sysctl unchanged" test "$(cat "$knob")" = "$before"
  check "$who: host process still alive" kill -0 "$hostpid"
  check "$who: no sbescape mount on the host" test "$(grep -c sbescape /proc/self/mountinfo || true)" = "$mounts_before"
  # put the knob back if an escape got through
  [ "$(cat "$knob")" = "$before" ] || echo "$before" >"$knob"
}

# The checks against podman's sandbox, so they are known to pass on a
# sandbox that holds.
P=(podman --root "$SB_T/podman" --runroot "$SB_T/podman-run" --storage-driver overlay)
"$SB" save -o "$SB_T/base.tar" debian:bookworm
"${P[@]}" load -q -i "$SB_T/base.tar" >/dev/null
rm -f "$SB_T/base.tar"
"${P[@]}" run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none -e HOSTPID=$hostpid -e NEWVAL=$newval \
  -v "$ctx:/ctx:ro" docker.io/library/debian:bookworm \
  sh -c 'cp /ctx/sbprobe /ctx/probe.sh / && sh /probe.sh' >"$SB_T/podman-probe.txt" 2>&1 || true
judge "$SB_T/podman-probe.txt" "podman (reference)"

if [ $have_build = 1 ]; then
  rc=0
  (cd "$ctx" && "$SB" build --no-slim --progress plain -t escape --build-arg HOSTPID=$hostpid \
    --build-arg NEWVAL=$newval .) >"$SB_T/escape.log" 2>&1 || rc=$?
  check "the probe build runs (exit $rc)" test "$rc" = 0
  "$SB" unpack escape "$SB_T/escape-root" >/dev/null 2>&1 || true
  if [ -f "$SB_T/escape-root/probe.txt" ]; then
    judge "$SB_T/escape-root/probe.txt" "slimbuild RUN"
  else
    not_ok "the probe's report is in the image"
    tail -5 "$SB_T/escape.log" | sed 's/^/#   /'
  fi
else
  skip "escape probes in a slimbuild RUN"
fi

# layer_grep STRING: print the blobs of the store that hold STRING, after
# decompressing those that are compressed
layer_grep() {
  # grep -q stops reading early: without pipefail, for the SIGPIPE
  local - b
  set +o pipefail
  for b in "$SLIMBUILD_ROOT"/blobs/sha256/*; do
    if zstd -qdc "$b" 2>/dev/null | grep -qaF "$1" ||
      gzip -qdc "$b" 2>/dev/null | grep -qaF "$1" ||
      grep -qaF "$1" "$b"; then
      echo "$b"
    fi
  done
}

# the search itself works: it finds what the base layer is known to hold
check "layer_grep finds a string of the base layer" test -n "$(layer_grep 'Debian GNU/Linux 12 (bookworm)')"

# --- secrets -------------------------------------------------------------
if [ $have_build = 1 ]; then
  sctx=$SB_T/secret
  mkdir -p "$sctx"
  secret="sbsecret-$RANDOM$RANDOM-do-not-store"
  printf '%s' "$secret" >"$SB_T/secret.txt"
  sum=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
  cat >"$sctx/Dockerfile" <<'EOF'
FROM debian:bookworm
ARG WANT
RUN --mount=type=secret,id=s sha256sum /run/secrets/s | cut -d' ' -f1 > /secret.sum
RUN test "$(cat /secret.sum)" = "$WANT"
RUN --mount=type=secret,id=s,target=/etc/s.conf cp /etc/s.conf /tmp/x && rm /tmp/x
EOF
  rc=0
  (cd "$sctx" && "$SB" build --no-slim --progress plain -t secret --secret id=s,src="$SB_T/secret.txt" \
    --build-arg WANT="$sum" .) >"$SB_T/secret.log" 2>&1 || rc=$?
  check "the secret is readable in its RUN (the next RUN checks its hash; exit $rc)" test "$rc" = 0
  check "no blob in the store holds the secret" test -z "$(layer_grep "$secret")"
  check "the build log does not print the secret" bash -c "! grep -qF '$secret' '$SB_T/secret.log'"
  "$SB" unpack secret "$SB_T/secret-root" >/dev/null 2>&1 || true
  check "the image has no file at the secret's path" test ! -s "$SB_T/secret-root/run/secrets/s"
  check "nor at its custom target" test ! -s "$SB_T/secret-root/etc/s.conf"
else
  skip "secrets stay out of the layers"
fi

# --- a failing RUN -------------------------------------------------------
if [ $have_build = 1 ]; then
  fctx=$SB_T/fail
  mkdir -p "$fctx"
  marker="sbfailmarker-$RANDOM$RANDOM"
  cat >"$fctx/Dockerfile" <<EOF
FROM debian:bookworm
RUN echo fine > /fine.txt
RUN echo $marker > /$marker.txt && exit 3
CMD ["true"]
EOF
  blobs_before=$(ls "$SLIMBUILD_ROOT/blobs/sha256" | wc -l)
  rc=0
  (cd "$fctx" && "$SB" build --no-slim --progress plain -t failing .) >"$SB_T/fail.log" 2>&1 || rc=$?
  check "a RUN exiting 3 makes the build exit 1 ($rc)" test "$rc" = 1
  check "the error names Dockerfile:3" grep -q 'Dockerfile:3' "$SB_T/fail.log"
  check "the error gives the exit code 3" grep -Eq '(exit|status|code)[^0-9]*3' "$SB_T/fail.log"
  check "no image is tagged failing" bash -c "! '$SB' images | grep -q failing"
  check "no blob holds the failed step's file" test -z "$(layer_grep "$marker")"
  blobs_after=$(ls "$SLIMBUILD_ROOT/blobs/sha256" | wc -l)
  # at most the cached layer of RUN echo fine and its config may be new
  check "at most the cached step's blobs are new ($blobs_before -> $blobs_after)" \
    test $((blobs_after - blobs_before)) -le 2
  check "nothing left in ingest/" test -z "$(ls -A "$SLIMBUILD_ROOT/ingest" 2>/dev/null)"
else
  skip "a failing RUN fails the build and stores nothing"
fi

echo "# $SKIP skipped"
finish
