#!/usr/bin/env bash
# Layer pack and unpack on the Debian minbase rootfs, side by side with
# GNU tar and the compressors on the same tree, in one run: median wall
# seconds of RUNS runs (warm page cache), and slimbuild/peer ratios. The
# target is a ratio of at most 1.2.
#   bash bench/layer_bench.sh [BUILD_DIR] [RUNS]
# Until the CLI exposes pack/unpack, the unit test program is the driver
# (SB_LAYER_DRIVER=pack|unpack, see tests/unit/test_layer.c). Needs root
# (the rootfs has device nodes and other owners).
set -euo pipefail
build=${1:-build}
runs=${2:-3}
drv=$build/tests/test_layer
base=${SB_BENCH_ROOTFS:-/var/cache/slimbuild/bookworm-minbase.tar}
[ -x "$drv" ] || { echo "no $drv: build first" >&2; exit 2; }
[ -e "$base" ] || { echo "no $base: run an integration test once to cache it" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sblayerbench.XXXXXX")
trap 'rm -rf "$work"' EXIT

tree=$work/tree
mkdir -p "$tree"
if [ -d "$base" ]; then cp -a "$base/." "$tree"; else tar --numeric-owner -xpf "$base" -C "$tree"; fi

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# time_it CLEANUP -- CMD...: median wall seconds; CLEANUP runs before each
# run, untimed (e.g. making an empty destination).
time_it() {
  local prep=$1 r t0 t1
  shift 2
  for ((r = 0; r < runs; r++)); do
    eval "$prep"
    sync
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    echo $(( t1 - t0 ))
  done | median | awk '{ printf "%.3f", $1 / 1e9 }'
}

sb_pack() { SB_LAYER_DRIVER=pack SB_LAYER_SRC=$tree SB_LAYER_OUT=$1 SB_LAYER_COMPRESSION=$2 "$drv"; }
sb_unpack() { SB_LAYER_DRIVER=unpack SB_LAYER_IN=$1 SB_LAYER_DST=$work/dst "$drv"; }
tar_gzip() { tar -C "$tree" -cf - . | gzip >"$work/peer.tar.gz"; }
tar_zstd() { tar -C "$tree" -cf - . | zstd -3 -q >"$work/peer.tar.zst"; }
tar_none() { tar -C "$tree" -cf "$work/peer.tar" .; }
fresh='rm -rf "$work/dst"; mkdir "$work/dst"'

printf '%-30s %10s %10s %7s %14s %14s\n' operation slimbuild peer ratio 'sb bytes' 'peer bytes'
row() { # row NAME SB_SECONDS PEER_SECONDS [SB_FILE PEER_FILE]
  local sbb=- pb=-
  [ -n "${4:-}" ] && sbb=$(stat -c %s "$4") && pb=$(stat -c %s "$5")
  printf '%-30s %10s %10s %7s %14s %14s\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')" "$sbb" "$pb"
}

s=$(time_it : -- sb_pack "$work/sb.tar.gz" gzip); p=$(time_it : -- tar_gzip)
row "pack gzip (vs tar | gzip)" "$s" "$p" "$work/sb.tar.gz" "$work/peer.tar.gz"
s=$(time_it : -- sb_pack "$work/sb.tar.zst" zstd); p=$(time_it : -- tar_zstd)
row "pack zstd (vs tar | zstd -3)" "$s" "$p" "$work/sb.tar.zst" "$work/peer.tar.zst"
s=$(time_it : -- sb_pack "$work/sb.tar" none); p=$(time_it : -- tar_none)
row "pack tar (vs tar -c)" "$s" "$p" "$work/sb.tar" "$work/peer.tar"

s=$(time_it "$fresh" -- sb_unpack "$work/sb.tar"); p=$(time_it "$fresh" -- tar -xf "$work/peer.tar" -C "$work/dst")
row "unpack tar (vs tar -x)" "$s" "$p"
s=$(time_it "$fresh" -- sb_unpack "$work/sb.tar.gz"); p=$(time_it "$fresh" -- tar -xzf "$work/peer.tar.gz" -C "$work/dst")
row "unpack gzip (vs tar -xz)" "$s" "$p"
s=$(time_it "$fresh" -- sb_unpack "$work/sb.tar.zst"); p=$(time_it "$fresh" -- tar --zstd -xf "$work/peer.tar.zst" -C "$work/dst")
row "unpack zstd (vs tar --zstd -x)" "$s" "$p"
