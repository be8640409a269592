#!/usr/bin/env bash
# The README's first Quick start command: install dependencies, build
# slimbuild, make the debian:bookworm base from Debian's packages, then the
# main job: build examples/python-web (a fat Flask image) with slimbuild,
# slim it under its HTTP probes and print the before/after summary.
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

echo
echo "== the main job: slimbuild build examples/python-web (fat Dockerfile: python3, pip, flask,"
echo "   build-essential, curl, git), profiled under its HTTP probes, slimmed and verified"
mapfile -t probes < <(bash examples/probe-flags.sh examples/python-web)
build/slimbuild build --progress plain "${probes[@]}" -t python-web \
  --metadata-file /tmp/slimbuild-demo-python-web.json examples/python-web 2>&1 |
  grep -E '^#[0-9]+ (\[|DONE|CACHED)|slim|^  |verified|round' || true
echo
echo "== python-web: sizes as --metadata-file records them"
jq '{fat_size: ."slimbuild.fat.size", slim_size: ."slimbuild.slim.size", fat_packages: ."slimbuild.fat.packages", slim_packages: ."slimbuild.slim.packages", probes_verified: ."slimbuild.probes_verified"}' /tmp/slimbuild-demo-python-web.json
