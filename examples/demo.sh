#!/usr/bin/env bash
# The README's first Quick start command: install dependencies, build
# slimbuild, and run the demo that exists so far.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
echo
echo "== slimbuild parse --dump examples/parser-tour/Dockerfile (BuildKit's AST dump, byte for byte)"
build/slimbuild parse --dump examples/parser-tour/Dockerfile
echo
echo "== the same file as JSON, first instruction with a heredoc"
build/slimbuild parse --json examples/parser-tour/Dockerfile | sed -n '/"heredocs": \[$/,/\]/p' | head -12
echo
echo "== a Dockerfile BuildKit refuses is refused the same way (exit 1, FILE:LINE: message)"
printf 'FROM debian\nRUN <<EOF\necho never closed\n' >/tmp/slimbuild-demo.Dockerfile
build/slimbuild parse --dump /tmp/slimbuild-demo.Dockerfile || echo "exit status $?"
