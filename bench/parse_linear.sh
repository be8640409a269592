#!/usr/bin/env bash
# Parser scaling: parse generated Dockerfiles of 10,000 and 100,000
# instructions and print the time per MB side by side. A linear parser
# keeps the ratio near 1.0.
#   bash bench/parse_linear.sh [SLIMBUILD] [RUNS]
set -euo pipefail
sb=${1:-build/slimbuild}
runs=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen() { # N instructions, a mix of every argument shape the parser has
  awk -v n="$1" 'BEGIN {
    print "# syntax=docker/dockerfile:1"; print "FROM debian:bookworm AS base"
    for (i = 0; i < n - 1; i++) {
      k = i % 8
      if (k == 0) printf "RUN apt-get update && \\\n    apt-get install -y pkg%d \\\n    # a comment\n    && rm -rf /var/lib/apt/lists/*\n", i
      else if (k == 1) printf "ENV KEY%d=\"value %d\" OTHER%d=plain\\ word\n", i, i, i
      else if (k == 2) printf "COPY --chown=1000:1000 --chmod=0644 [\"src/%d\", \"/app/%d\"]\n", i, i
      else if (k == 3) printf "LABEL org.example.k%d=\"v%d\"\n", i, i
      else if (k == 4) printf "RUN <<EOF\necho line %d\necho more\nEOF\n", i
      else if (k == 5) printf "ARG A%d=\"x y\" B%d\n", i, i
      else if (k == 6) printf "EXPOSE %d/tcp %d/udp\n", 1000 + i % 60000, 2000 + i % 60000
      else printf "CMD [\"/bin/app\", \"--id\", \"%d\"]\n", i
    }
  }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

measure() { # file -> median seconds
  local f=$1 t0 t1
  for ((r = 0; r < runs; r++)); do
    t0=$(date +%s%N)
    "$sb" parse --dump "$f" >/dev/null
    t1=$(date +%s%N)
    echo "$(( t1 - t0 ))"
  done | median | awk '{ printf "%.4f", $1 / 1e9 }'
}

printf '%-14s %10s %10s %12s\n' instructions MB seconds 's/MB'
declare -A perm
for n in 10000 100000; do
  gen "$n" >"$work/Dockerfile.$n"
  mb=$(stat -c %s "$work/Dockerfile.$n" | awk '{ printf "%.3f", $1 / 1048576 }')
  s=$(measure "$work/Dockerfile.$n")
  perm[$n]=$(awk -v s="$s" -v m="$mb" 'BEGIN { printf "%.4f", s / m }')
  printf '%-14s %10s %10s %12s\n' "$n" "$mb" "$s" "${perm[$n]}"
done
awk -v a="${perm[10000]}" -v b="${perm[100000]}" \
  'BEGIN { printf "time per MB, 100k vs 10k: %.2fx (1.00 = linear)\n", b / a }'
