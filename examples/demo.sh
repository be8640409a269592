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

echo
echo "== the image store: the Debian bookworm base made from Debian's packages (mmdebstrap, cached)"
export SLIMBUILD_ROOT=${SLIMBUILD_ROOT:-/var/lib/slimbuild}
base=$(bash tests/integration/make-base.sh)
build/slimbuild import "$base" debian:bookworm --change 'CMD ["bash"]' -m "mmdebstrap --variant=minbase bookworm"
build/slimbuild images
echo
echo "== the store is an OCI image layout: skopeo reads it as it is"
skopeo inspect "oci:$SLIMBUILD_ROOT:docker.io/library/debian:bookworm" | head -8
echo
echo "== save it for docker load / podman load"
build/slimbuild save debian:bookworm -o /tmp/slimbuild-demo-debian.tar
ls -l /tmp/slimbuild-demo-debian.tar
