#!/usr/bin/env bash
# Install what slimbuild needs to build and test, from Debian's packages.
# Idempotent and quiet: installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libarchive-dev libzstd-dev zlib1g-dev libjansson-dev libssl-dev
  libseccomp-dev libcurl4-openssl-dev libcmocka-dev
  # test peers and oracles
  docker-registry skopeo umoci podman buildah runc mmdebstrap apache2-utils
  python3 openssl curl
  jq
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
