#!/usr/bin/env bash
# Slimming, measured on every example: the slim image's size over the fat
# one's (unpacked bytes of files, as --metadata-file records them; target
# for python-web: under 5%), and the probes' wall time traced over untraced
# (the same probes against the same fat image: a normal slim build traces
# them, a build from the recorded profile runs them untraced; target: under
# 1.5x). Median of RUNS each.
#   bash bench/slim_bench.sh [BUILD_DIR] [RUNS] [EXAMPLE...]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
runs=${2:-3}
shift $(($# > 2 ? 2 : $#))
names=("$@")
((${#names[@]})) || names=(python-web node-web c-tls shell-app)
SB=$(cd "$build" && pwd)/slimbuild
base=$(SB_CACHE=${SB_CACHE:-/var/cache/slimbuild} bash "$src/tests/integration/make-base.sh")
work=$(mktemp -d "${TMPDIR:-/tmp}/sbslimbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SLIMBUILD_ROOT=$work/store
"$SB" import "$base" debian:bookworm \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' >/dev/null
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%s", a[int((NR + 1) / 2)]; else printf "-" }'; }

printf '%-11s %10s %10s %8s %11s %11s %7s\n' example fat slim ratio traced_ms untraced_ms ratio
for name in "${names[@]}"; do
  dir=$src/examples/$name
  mapfile -t probes < <(bash "$src/examples/probe-flags.sh" "$dir")
  : >"$work/t" >"$work/u"
  for ((r = 0; r < runs; r++)); do
    "$SB" build --progress quiet "${probes[@]}" -t "$name" --profile-out "$work/$name.json" \
      --metadata-file "$work/md.json" "$dir" >/dev/null 2>&1
    jq -r '."slimbuild.probe_ms"' "$work/md.json" >>"$work/t"
    "$SB" build --progress quiet "${probes[@]}" -t "$name" --profile "$work/$name.json" \
      --metadata-file "$work/mu.json" "$dir" >/dev/null 2>&1
    jq -r '."slimbuild.probe_ms"' "$work/mu.json" >>"$work/u"
  done
  fat=$(jq -r '."slimbuild.fat.size"' "$work/md.json")
  slim=$(jq -r '."slimbuild.slim.size"' "$work/md.json")
  t=$(median <"$work/t")
  u=$(median <"$work/u")
  printf '%-11s %9.1fM %9.1fM %7.2f%% %11s %11s %6.2fx\n' "$name" \
    "$(awk -v b="$fat" 'BEGIN { print b / 1048576 }')" "$(awk -v b="$slim" 'BEGIN { print b / 1048576 }')" \
    "$(awk -v a="$slim" -v b="$fat" 'BEGIN { print 100 * a / b }')" "$t" "$u" \
    "$(awk -v a="$t" -v b="$u" 'BEGIN { print (b > 0 ? a / b : 0) }')"
done
echo "targets: python-web slim under 5% of fat; traced/untraced under 1.5x (median of $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg))"
