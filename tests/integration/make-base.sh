#!/usr/bin/env bash
# Print the path of the Debian bookworm minbase rootfs tar, making it once
# per machine with mmdebstrap (about 25 s) and caching it in $SB_CACHE
# (default /var/cache/slimbuild). Safe to run from parallel tests.
set -euo pipefail
cache=${SB_CACHE:-/var/cache/slimbuild}
tar=$cache/bookworm-minbase.tar
if [ ! -s "$tar" ]; then
  command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >&2
  mkdir -p "$cache"
  exec 9>"$cache/.bookworm.lock"
  flock 9
  if [ ! -s "$tar" ]; then
    mmdebstrap --quiet --variant=minbase --mode=root --format=tar bookworm "$tar.tmp" >&2
    mv "$tar.tmp" "$tar"
  fi
fi
echo "$tar"
