#!/usr/bin/env bash
# slimbuild build side by side with buildah bud (--layers, so that both
# cache), on the Dockerfiles under bench/build: an apt-get install, a
# multi-stage C build, 50 small COPY steps. For each: a cold build (a
# store holding only the Debian base) and a no-change rebuild right after
# it; median wall seconds of RUNS alternating runs and the ratio
# slimbuild/buildah. Targets: cold <= 1.0x, rebuild <= 0.2x.
#   bash bench/build_bench.sh [BUILD_DIR] [RUNS] [NAME...]   (RUNS default 3)
# Needs root (buildah's overlay storage) and the Debian mirror (apt-get).
# Until `slimbuild build` exists only the buildah column is measured.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
runs=${2:-3}
shift $(($# > 2 ? 2 : $#))
names=("$@")
((${#names[@]})) || names=(apt cbuild copies)
SB=$(cd "$build" && pwd)/slimbuild
[ -x "$SB" ] || { echo "no $SB: build first" >&2; exit 2; }
base=$(SB_CACHE=${SB_CACHE:-/var/cache/slimbuild} bash "$src/tests/integration/make-base.sh")
work=$(mktemp -d "${TMPDIR:-/tmp}/sbbuildbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
have_build=0
"$SB" build --help >/dev/null 2>&1 && have_build=1

# the pristine stores, made once: copied before each cold build
export SLIMBUILD_ROOT=$work/sb0
"$SB" import "$base" debian:bookworm \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' >/dev/null
"$SB" save --format oci -o "$work/base.oci.tar" debian:bookworm
# buildah's storage holds the base unpacked once it is pulled; slimbuild
# unpacks a base into its snapshot on first use: make that use here, so
# both cold builds start from an unpacked base
((have_build)) && printf 'FROM debian:bookworm\nRUN true\n' | "$SB" build --no-slim --progress quiet - >/dev/null
bh() { buildah --root "$1" --runroot "$1-run" --storage-driver overlay "${@:2}"; }
bh "$work/bh0" pull -q "oci-archive:$work/base.oci.tar" >/dev/null
bh "$work/bh0" tag "$(bh "$work/bh0" images -q | head -1)" docker.io/library/debian:bookworm
rm -rf "$work/bh0-run" "$work/base.oci.tar"

fresh() { # fresh sb|bh: a store with only the base
  rm -rf "$work/$1" "$work/$1-run"
  cp -a "$work/${1}0" "$work/$1"
}
build_sb() { SLIMBUILD_ROOT=$work/sb "$SB" build --no-slim --progress quiet -t bench "$1" >/dev/null; }
build_bh() { bh "$work/bh" bud --isolation chroot --pull=never --layers -q -t bench "$1" >/dev/null; }
# timed CMD...: wall seconds of CMD into T
timed() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >"$work/last.log" 2>&1 || { echo "failed: $*" >&2; tail -5 "$work/last.log" >&2; exit 1; }
  t1=$(date +%s%N)
  T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%.3f", a[int((NR + 1) / 2)]; else printf "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", a / b }'; }

printf '%-8s %-8s %10s %10s %8s %8s\n' build phase slimbuild buildah ratio target
for name in "${names[@]}"; do
  ctx=$work/ctx-$name
  cp -a "$src/bench/build/$name" "$ctx"
  if [ "$name" = copies ]; then
    mkdir -p "$ctx/files"
    for i in $(seq -w 1 50); do printf 'file %s\n' "$i" >"$ctx/files/f$i"; done
  fi
  : >"$work/sb.cold" >"$work/sb.re" >"$work/bh.cold" >"$work/bh.re"
  for ((r = 0; r < runs; r++)); do
    for who in sb bh; do
      [ $who = sb ] && [ $have_build = 0 ] && continue
      fresh $who
      sync
      timed "build_$who" "$ctx"
      echo "$T" >>"$work/$who.cold"
      timed "build_$who" "$ctx"
      echo "$T" >>"$work/$who.re"
    done
  done
  for phase in cold re; do
    s=$(median <"$work/sb.$phase")
    b=$(median <"$work/bh.$phase")
    if [ $phase = cold ]; then label=cold target="<= 1.0x"; else label=rebuild target="<= 0.2x"; fi
    printf '%-8s %-8s %10s %10s %8s %8s\n' "$name" "$label" "$s" "$b" "$(ratio "$s" "$b")" "$target"
  done
done
[ $have_build = 1 ] || echo "slimbuild build is missing: the buildah column only"
echo "median of $runs runs each; load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
