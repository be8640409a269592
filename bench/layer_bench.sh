#!/usr/bin/env bash
# Layer pack and unpack on the Debian minbase rootfs, side by side with
# GNU tar and the compressors on the same tree, in one run: median wall
# seconds of RUNS alternating runs (warm page cache), and slimbuild/peer
# ratios. The target is a ratio of at most 1.2.
#   bash bench/layer_bench.sh [BUILD_DIR] [RUNS]     (RUNS default 5)
# Until the CLI exposes pack/unpack, the unit test program is the driver
# (SB_LAYER_DRIVER=pack|unpack, see tests/unit/test_layer.c). Needs root
# (the rootfs has device nodes and other owners).
set -euo pipefail
build=${1:-build}
runs=${2:-5}
drv=$build/tests/test_layer
base=${SB_BENCH_ROOTFS:-/var/cache/slimbuild/bookworm-minbase.tar}
[ -x "$drv" ] || { echo "no $drv: build first" >&2; exit 2; }
[ -e "$base" ] || { echo "no $base: run an integration test once to cache it" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sblayerbench.XXXXXX")
trap 'rm -rf "$work"' EXIT

tree=$work/tree
mkdir -p "$tree"
if [ -d "$base" ]; then cp -a "$base/." "$tree"; else tar --numeric-owner -xpf "$base" -C "$tree"; fi

median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] / 1e9 }'; }

# pair PREP SB_CMD PEER_CMD: run the two alternately RUNS times (so that
# load from elsewhere hits both alike), PREP untimed before each run;
# sets SB_S and PEER_S to the median wall seconds.
pair() {
  local prep=$1 sb=$2 peer=$3 r t0 t1
  : >"$work/t.sb"
  : >"$work/t.peer"
  for ((r = 0; r < runs; r++)); do
    for who in sb peer; do
      eval "$prep"
      sync
      t0=$(date +%s%N)
      if [ $who = sb ]; then eval "$sb" >/dev/null; else eval "$peer" >/dev/null; fi
      t1=$(date +%s%N)
      echo $(( t1 - t0 )) >>"$work/t.$who"
    done
  done
  SB_S=$(median <"$work/t.sb")
  PEER_S=$(median <"$work/t.peer")
}

# sb_pack OUT COMPRESSION [THREADS]: threads 0 (default) is one per CPU.
sb_pack() { SB_LAYER_DRIVER=pack SB_LAYER_SRC=$tree SB_LAYER_OUT=$1 SB_LAYER_COMPRESSION=$2 SB_LAYER_THREADS=${3:-0} "$drv"; }
sb_unpack() { SB_LAYER_DRIVER=unpack SB_LAYER_IN=$1 SB_LAYER_DST=$work/dst "$drv"; }
tar_gzip() { tar -C "$tree" -cf - . | gzip >"$work/peer.tar.gz"; }
tar_pigz() { tar -C "$tree" -cf - . | pigz >"$work/peer.pigz.tar.gz"; }
tar_zstd() { tar -C "$tree" -cf - . | zstd -3 -q >"$work/peer.tar.zst"; }
tar_none() { tar -C "$tree" -cf "$work/peer.tar" .; }
fresh='rm -rf "$work/dst"; mkdir "$work/dst"'

printf '%-30s %10s %10s %7s %14s %14s\n' operation slimbuild peer ratio 'sb bytes' 'peer bytes'
row() { # row NAME SB_SECONDS PEER_SECONDS [SB_FILE PEER_FILE]
  local sbb=- pb=-
  [ -n "${4:-}" ] && sbb=$(stat -c %s "$4") && pb=$(stat -c %s "$5")
  printf '%-30s %10s %10s %7s %14s %14s\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')" "$sbb" "$pb"
}

# gzip: slimbuild at its defaults (level 4, a thread per CPU) against
# gzip -6 on one core, then on one thread, then against pigz -6 on all.
pair : 'sb_pack "$work/sb.tar.gz" gzip' tar_gzip
row "pack gzip (vs tar | gzip)" "$SB_S" "$PEER_S" "$work/sb.tar.gz" "$work/peer.tar.gz"
pair : 'sb_pack "$work/sb1.tar.gz" gzip 1' tar_gzip
row "pack gzip 1 thread (vs gzip)" "$SB_S" "$PEER_S" "$work/sb1.tar.gz" "$work/peer.tar.gz"
if command -v pigz >/dev/null; then
  pair : 'sb_pack "$work/sb.tar.gz" gzip' tar_pigz
  row "pack gzip (vs tar | pigz)" "$SB_S" "$PEER_S" "$work/sb.tar.gz" "$work/peer.pigz.tar.gz"
fi
pair : 'sb_pack "$work/sb.tar.zst" zstd' tar_zstd
row "pack zstd (vs tar | zstd -3)" "$SB_S" "$PEER_S" "$work/sb.tar.zst" "$work/peer.tar.zst"
pair : 'sb_pack "$work/sb.tar" none' tar_none
row "pack tar (vs tar -c)" "$SB_S" "$PEER_S" "$work/sb.tar" "$work/peer.tar"

pair "$fresh" 'sb_unpack "$work/sb.tar"' 'tar -xf "$work/peer.tar" -C "$work/dst"'
row "unpack tar (vs tar -x)" "$SB_S" "$PEER_S"
pair "$fresh" 'sb_unpack "$work/sb.tar.gz"' 'tar -xzf "$work/peer.tar.gz" -C "$work/dst"'
row "unpack gzip (vs tar -xz)" "$SB_S" "$PEER_S"
pair "$fresh" 'sb_unpack "$work/sb.tar.zst"' 'tar --zstd -xf "$work/peer.tar.zst" -C "$work/dst"'
row "unpack zstd (vs tar --zstd -x)" "$SB_S" "$PEER_S"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work on the machine skews both columns alike)"
