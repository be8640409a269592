#!/usr/bin/env bash
# Run every libFuzzer target for SECONDS each (CI: a short smoke run; by
# hand: as long as you like). Seeds come from the parser corpus.
#   bash bench/fuzz.sh BUILD_DIR [SECONDS]
# BUILD_DIR is a build configured with CC=clang -DSB_FUZZ=ON.
set -euo pipefail
build=$(realpath "${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}")
secs=${2:-300}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seeds="$work/seeds"
mkdir -p "$seeds"
i=0
for f in "$src"/tests/parser/corpus/*/Dockerfile "$src"/examples/*/Dockerfile; do
  [ -f "$f" ] || continue
  cp "$f" "$seeds/seed$((i++))"
done

fail=0
for t in "$build"/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  mkdir -p "$work/$name"
  extra=()
  # per-target seeds (JSON documents, tars) beside the shared Dockerfiles
  [ -d "$src/tests/fuzz/seeds/$name" ] && extra=("$src/tests/fuzz/seeds/$name")
  echo "fuzz: $name for ${secs}s"
  if ! (cd "$work" && ASAN_OPTIONS=detect_leaks=1 "$t" -max_total_time="$secs" -max_len=8192 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work/$name" "$seeds" "${extra[@]}" \
        >"$work/$name.log" 2>&1); then
    echo "fuzz: $name FAILED"; tail -50 "$work/$name.log"; fail=1
    cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$src" 2>/dev/null || true
  else
    grep -E 'stat::number_of_executed_units|cov:' "$work/$name.log" | tail -2
  fi
done
exit $fail
