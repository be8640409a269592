#!/usr/bin/env bash
# Pull speed against skopeo: the same image (Debian bookworm minbase plus
# three 20 MB layers of random bytes) from a local docker-registry, pulled by
# `slimbuild pull` into an empty store and by `skopeo copy` into an empty OCI
# folder, alternating, RUNS times each. Prints the median seconds and the
# ratio slimbuild / skopeo (target: at most 1.0).
#   bash bench/pull_bench.sh [SLIMBUILD] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SLIMBUILD=$(realpath "${1:-$here/../build/slimbuild}")
runs=${2:-5}
source "$here/../tests/integration/lib.sh"
sb_need skopeo skopeo
sb_need umoci umoci

sb_start_registry
REG=127.0.0.1:$SB_REGISTRY_PORT

echo "building the image..." >&2
base=$(sb_base_rootfs_tar)
oci=$SB_T/src
umoci init --layout "$oci"
umoci new --image "$oci:bench"
umoci raw add-layer --image "$oci:bench" "$base"
for i in 1 2 3; do
  mkdir -p "$SB_T/l$i"
  head -c 20000000 /dev/urandom >"$SB_T/l$i/data"
  tar -C "$SB_T/l$i" -cf "$SB_T/l$i.tar" .
  umoci raw add-layer --image "$oci:bench" "$SB_T/l$i.tar"
  rm -rf "$SB_T/l$i" "$SB_T/l$i.tar"
done
skopeo copy -q --dest-tls-verify=false "oci:$oci:bench" "docker://$REG/bench:v1"
rm -rf "$oci"
size=$(skopeo inspect --tls-verify=false --raw "docker://$REG/bench:v1" |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print(sum(l["size"] for l in m["layers"]))')

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s%N; }

: >"$SB_T/sb.times"
: >"$SB_T/skopeo.times"
for ((r = 0; r < runs; r++)); do
  sync
  t0=$(now)
  SLIMBUILD_ROOT=$SB_T/store-$r "$SLIMBUILD" pull -q "$REG/bench:v1" >/dev/null
  t1=$(now)
  echo $((t1 - t0)) >>"$SB_T/sb.times"
  rm -rf "$SB_T/store-$r"
  sync
  t0=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$REG/bench:v1" "oci:$SB_T/oci-$r:x"
  t1=$(now)
  echo $((t1 - t0)) >>"$SB_T/skopeo.times"
  rm -rf "$SB_T/oci-$r"
done

sb_s=$(median <"$SB_T/sb.times" | awk '{ printf "%.3f", $1 / 1e9 }')
sk_s=$(median <"$SB_T/skopeo.times" | awk '{ printf "%.3f", $1 / 1e9 }')
printf 'image: 4 layers, %s MB compressed; %d runs each, median\n' "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')" "$runs"
printf '%-22s %8s s\n' "slimbuild pull" "$sb_s" "skopeo copy (oci:)" "$sk_s"
awk -v a="$sb_s" -v b="$sk_s" 'BEGIN { printf "ratio slimbuild/skopeo: %.2f (target <= 1.00)\n", a / b }'
