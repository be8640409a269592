#!/usr/bin/env bash
# probe-flags.sh EXAMPLE_DIR: the example's `probes` file as slimbuild build
# flags, one word a line (for mapfile). See PROBES.md.
set -euo pipefail
while read -r kind rest; do
  case $kind in
    '' | '#'*) ;;
    http) read -r m port path st _ <<<"$rest"; printf '%s\n' --http-probe "$m $port$path=$st" ;;
    cmd) printf '%s\n' --probe-cmd "$rest" ;;
    stdout | exit) ;;
    *) echo "$1/probes: unknown probe '$kind'" >&2; exit 1 ;;
  esac
done <"$1/probes"
