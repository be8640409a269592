#!/usr/bin/env bash
# slimbuild build against buildah: every case under tests/build/cases is
# built by both from the same context (the Debian minbase rootfs imported
# once per run as debian:bookworm for both), and the two images must agree
# on their config, their file tree, and what podman prints running them.
#
# A case is a directory, which is also the build context:
#   Dockerfile        (or the file named by -f in args)
#   args              extra build flags, shell words; @HTTP_PORT@ is the
#                     port of a python3 http.server serving tests/build/http
#   run               what podman runs (shell words after the image);
#                     default: the image's own ENTRYPOINT/CMD
#   expected          what that run must print (both builders); a non-zero
#                     exit adds a last line "[exit N]"
#   expect-diff       tolerated differences, "KIND PATTERN REASON" a line
#                     (see compare.py)
#   needs             cases to build first (their images are FROM'd)
#   expect-fail       the build must fail (exit 1), its log matching this
#                     extended regex (slimbuild; buildah need only fail)
#   slimbuild-only    why buildah 1.28 cannot build the Dockerfile; then
#   buildah.Dockerfile  is what buildah builds instead (the same meaning
#                     spelled with what buildah has) when it exists
#
# Until `slimbuild build` exists only the buildah half runs (every case
# builds under buildah and prints its expected output); the slimbuild
# checks are reported as skipped.
#   SB_BUILD_CASES="a b"   run only these cases (and what they need)
#   SB_KEEP=1              keep the scratch directory
#   SB_BUILDAH_CACHE=0     build every case with buildah even when its
#                          results are cached
#
# buildah's results (config, tree, podman output) are cached under
# $SB_CACHE/buildah-results, keyed by the case's files (and those of the
# cases it needs), the files served over http, the base rootfs, buildah's
# version and this script and compare.py: the ASan pass of CI and later
# runs on the same machine build each peer image once.
source "$(dirname "$0")/../integration/lib.sh"
SB=$SLIMBUILD
here=$SB_SOURCE_DIR/tests/build
cmp_py=$here/compare.py
t_start=$(date +%s)

SKIP=0
skip() { SKIP=$((SKIP + 1)); echo "ok - $* # SKIP slimbuild build is missing"; }

sb_need buildah buildah
sb_need podman podman
sb_need runc runc

BR=$SB_T/buildah
BRR=$SB_T/buildah-run
B=(buildah --root "$BR" --runroot "$BRR" --storage-driver overlay)
# buildah's images run by podman straight from buildah's storage;
# slimbuild's are loaded into a storage of their own
PB=(podman --root "$BR" --runroot "$BRR" --storage-driver overlay)
PS=(podman --root "$SB_T/podman" --runroot "$SB_T/podman-run" --storage-driver overlay)
RUN=(run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none)
# buildah keeps RUN --mount=type=cache directories under $TMPDIR: a fresh
# one per run
mkdir -p "$SB_T/tmp"
export TMPDIR=$SB_T/tmp

cleanup_all() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${PB[@]}" rm -af >/dev/null 2>&1 || true
  "${PS[@]}" rm -af >/dev/null 2>&1 || true
  # storage drivers leave mounts below $SB_T (podman's overlay/ bind)
  awk -v t="$SB_T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  sb_cleanup
}
trap cleanup_all EXIT

have_build=0
if "$SB" build --help >/dev/null 2>&1; then have_build=1; fi
echo "# slimbuild build: $([ $have_build = 1 ] && echo present || echo missing, buildah half only)"

# The base, once per run: the minbase rootfs imported with the config the
# Docker Hub image has, and the same image handed to buildah.
base_tar=$(sb_base_rootfs_tar)
check "import the Debian minbase rootfs as debian:bookworm" bash -c '"$0" import "$1" debian:bookworm \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "CMD [\"bash\"]" -m "mmdebstrap --variant=minbase bookworm" >/dev/null' "$SB" "$base_tar"
check "save it as an OCI archive" "$SB" save --format oci -o "$SB_T/base.oci.tar" debian:bookworm
check "buildah pulls it" bash -c '"${@:2}" pull -q "oci-archive:$1" >/dev/null' _ "$SB_T/base.oci.tar" "${B[@]}"
"${B[@]}" tag "$("${B[@]}" images -q | head -1)" docker.io/library/debian:bookworm >/dev/null 2>&1 || true
check "buildah has debian:bookworm" bash -c '"$@" inspect --type image docker.io/library/debian:bookworm >/dev/null' _ "${B[@]}"
rm -f "$SB_T/base.oci.tar"
echo "# base ready after $(($(date +%s) - t_start))s"

# files served over http for ADD <url>
http_port=$(sb_free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$here/http" "$http_port" >"$SB_T/http.log" 2>&1 &
SB_PIDS+=($!)
sb_wait_port "$http_port"

# the cases to run, each after what it needs
all=$(cd "$here/cases" && ls)
want=${SB_BUILD_CASES:-$all}
order=()
add_case() {
  local c=$1 n
  [ -d "$here/cases/$c" ] || { not_ok "no case named $c"; return; }
  [[ " ${order[*]} " == *" $c "* ]] && return
  if [ -f "$here/cases/$c/needs" ]; then
    for n in $(cat "$here/cases/$c/needs"); do add_case "$n"; done
  fi
  order+=("$c")
}
for c in $want; do add_case "$c"; done

# cache keys and hits of buildah's results; a case whose results are not
# cached needs the images of what it needs: those are built too
bh_cache=$SB_CACHE/buildah-results
mkdir -p "$bh_cache"
bh_version=$(buildah --version)
base_id=$(stat -c '%s %Y' "$base_tar")
declare -A KEY HIT
case_tar() { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C "$here/cases/$1" .; }
for c in "${order[@]}"; do
  KEY[$c]=$({
    case_tar "$c"
    if [ -f "$here/cases/$c/needs" ]; then for n in $(cat "$here/cases/$c/needs"); do case_tar "$n"; done; fi
    tar --sort=name --mtime=@0 --owner=0 --group=0 -cf - -C "$here" http
    cat "$0" "$cmp_py"
    echo "$bh_version $base_id"
  } | sha256sum | cut -c1-32)
  HIT[$c]=0
  if [ "${SB_BUILDAH_CACHE:-1}" = 1 ] && [ -f "$bh_cache/${KEY[$c]}/done" ]; then HIT[$c]=1; fi
done
for ((i = ${#order[@]} - 1; i >= 0; i--)); do
  c=${order[i]}
  if [ "${HIT[$c]}" = 0 ] && [ -f "$here/cases/$c/needs" ]; then
    for n in $(cat "$here/cases/$c/needs"); do HIT[$n]=0; done
  fi
done

# words FILE: the shell words of FILE, placeholders filled in, into WORDS
words() {
  WORDS=()
  [ -f "$1" ] || return 0
  local text
  text=$(sed "s/@HTTP_PORT@/$http_port/g" "$1")
  eval "WORDS=($text)"
}

# podman_out OUT PODMAN... IMAGE [ARGS]: run it, stdout to OUT plus an
# "[exit N]" line when it fails
podman_out() {
  local out=$1 rc=0
  shift
  "$@" >"$out" 2>"$out.err" || rc=$?
  [ "$rc" = 0 ] || echo "[exit $rc]" >>"$out"
}

tolerates_run() { [ -f "$1/expect-diff" ] && grep -q '^run ' "$1/expect-diff"; }

run_case() {
  local c=$1 dir=$here/cases/$1 w=$SB_T/cases/$1 t0 i
  # each builder gets its own copy of the context (a RUN --mount=type=bind,rw
  # of buildah 1.28 writes through to it)
  local dockerfile=Dockerfile bfile rest=() run=()
  mkdir -p "$w"
  t0=$(date +%s)
  words "$dir/args"
  for ((i = 0; i < ${#WORDS[@]}; i++)); do
    case ${WORDS[i]} in
      -f | --file) dockerfile=${WORDS[i + 1]}; i=$((i + 1)) ;;
      *) rest+=("${WORDS[i]}") ;;
    esac
  done
  words "$dir/run"
  run=("${WORDS[@]}")
  local fail_re=
  [ -f "$dir/expect-fail" ] && fail_re=$(cat "$dir/expect-fail")

  # buildah half
  local bh=1
  bfile=$dockerfile
  if [ -f "$dir/slimbuild-only" ]; then
    if [ -f "$dir/buildah.Dockerfile" ]; then bfile=buildah.Dockerfile; else bh=0; fi
  fi
  local cached=$bh_cache/${KEY[$c]}
  if [ $bh = 1 ] && [ "${HIT[$c]}" = 1 ]; then
    cp "$cached"/buildah.* "$w/"
    ok "$c: buildah's results from the cache ($cached)"
  elif [ $bh = 1 ]; then
    local brc=0
    cp -a "$dir" "$w/ctx-buildah"
    (cd "$w/ctx-buildah" && "${B[@]}" bud --isolation chroot --pull=never --format docker \
      -f "$bfile" -t "$c" "${rest[@]}" .) >"$w/buildah.log" 2>&1 || brc=$?
    if [ -n "$fail_re" ]; then
      check "$c: buildah fails to build it, as it should" test "$brc" != 0
      bh=0
    elif [ "$brc" = 0 ]; then
      ok "$c: buildah builds it"
    else
      not_ok "$c: buildah builds it (exit $brc; $w/buildah.log)"
      tail -5 "$w/buildah.log" | sed 's/^/#   /'
      bh=0
    fi
  fi
  if [ $bh = 1 ] && [ "${HIT[$c]}" = 0 ]; then
    "${B[@]}" inspect --type image "localhost/$c" >"$w/buildah.inspect.json"
    python3 "$cmp_py" config buildah "$w/buildah.inspect.json" >"$w/buildah.config"
    # (not buildah from: it would run the image's ONBUILD triggers)
    local mnt
    if mnt=$("${PB[@]}" image mount "localhost/$c"); then
      python3 "$cmp_py" tree "$mnt" >"$w/buildah.tree"
      "${PB[@]}" image unmount "localhost/$c" >/dev/null
    else
      not_ok "$c: mount buildah's image"
    fi
    podman_out "$w/buildah.out" "${PB[@]}" "${RUN[@]}" "localhost/$c" "${run[@]}"
    if [ -f "$w/buildah.tree" ]; then
      rm -rf "$cached"
      mkdir -p "$cached"
      cp "$w/buildah.config" "$w/buildah.tree" "$w/buildah.out" "$cached/" && touch "$cached/done"
    fi
  fi
  if [ $bh = 1 ]; then
    # expected is what Docker prints; when expect-diff says buildah
    # prints otherwise, only slimbuild is held to it
    if [ -f "$dir/expected" ] && ! tolerates_run "$dir"; then
      check "$c: buildah's image$([ "$bfile" = "$dockerfile" ] || echo " (of $bfile)") prints what expected says" \
        diff -u "$dir/expected" "$w/buildah.out"
    fi
  fi

  # slimbuild half
  if [ $have_build = 0 ]; then
    if [ -n "$fail_re" ]; then skip "$c: slimbuild fails as expected"; else
      skip "$c: slimbuild builds it"; fi
  else
    local src=0
    cp -a "$dir" "$w/ctx-slimbuild"
    (cd "$w/ctx-slimbuild" && "$SB" build --no-slim --progress plain -f "$dockerfile" -t "$c" \
      --iidfile "$w/iid" "${rest[@]}" .) >"$w/slimbuild.log" 2>&1 || src=$?
    check "$c: slimbuild leaves the context as it was" diff -r "$dir" "$w/ctx-slimbuild"
    if [ -n "$fail_re" ]; then
      check "$c: slimbuild fails with exit 1 ($src)" test "$src" = 1
      check "$c: slimbuild's error matches /$fail_re/" grep -Eq "$fail_re" "$w/slimbuild.log"
      check "$c: no image tagged after a failed build" bash -c "! '$SB' inspect '$c' >/dev/null 2>&1"
    elif [ "$src" = 0 ]; then
      ok "$c: slimbuild builds it"
      "$SB" inspect "$c" >"$w/slimbuild.inspect.json"
      check "$c: --iidfile names the image" grep -qF "$(cat "$w/iid" 2>/dev/null || echo none)" "$w/slimbuild.inspect.json"
      python3 "$cmp_py" config slimbuild "$w/slimbuild.inspect.json" >"$w/slimbuild.config"
      "$SB" unpack "$c" "$w/sbroot" >/dev/null
      python3 "$cmp_py" tree "$w/sbroot" >"$w/slimbuild.tree"
      rm -rf "$w/sbroot"
      "$SB" save --format docker -o "$w/sb.tar" "$c"
      "${PS[@]}" load -q -i "$w/sb.tar" >/dev/null
      rm -f "$w/sb.tar"
      podman_out "$w/slimbuild.out" "${PS[@]}" "${RUN[@]}" "docker.io/library/$c:latest" "${run[@]}"
      if [ -f "$dir/expected" ]; then
        check "$c: slimbuild's image prints what expected says" diff -u "$dir/expected" "$w/slimbuild.out"
      fi
      if [ $bh = 1 ]; then
        check "$c: same config as buildah's" \
          python3 "$cmp_py" diff config "$w/buildah.config" "$w/slimbuild.config" "$dir/expect-diff"
        check "$c: same file tree as buildah's" \
          python3 "$cmp_py" diff tree "$w/buildah.tree" "$w/slimbuild.tree" "$dir/expect-diff"
        if tolerates_run "$dir"; then
          ok "$c: podman output may differ: $(grep '^run ' "$dir/expect-diff" | head -1 | cut -d' ' -f3-)"
        else
          check "$c: podman prints the same for both images" diff -u "$w/buildah.out" "$w/slimbuild.out"
        fi
      fi
    else
      not_ok "$c: slimbuild builds it (exit $src; $w/slimbuild.log)"
      tail -5 "$w/slimbuild.log" | sed 's/^/#   /'
    fi
  fi
  echo "# $c: $(($(date +%s) - t0))s"
}

for c in "${order[@]}"; do run_case "$c"; done

echo "# ${#order[@]} cases in $(($(date +%s) - t_start))s; $SKIP skipped"
finish
