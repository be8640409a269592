# Shared helpers for integration tests (bash; source it). Real peers only:
# Debian's docker-registry, skopeo, umoci, podman, buildah, mmdebstrap.
set -euo pipefail

SB_SOURCE_DIR=${SB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SB_BUILD_DIR=${SB_BUILD_DIR:-$SB_SOURCE_DIR/build}
SLIMBUILD=${SLIMBUILD:-$SB_BUILD_DIR/slimbuild}
SB_CACHE=${SB_CACHE:-/var/cache/slimbuild}

# A scratch folder for this test, removed on exit with every service the
# test started.
SB_T=$(mktemp -d "${TMPDIR:-/tmp}/sbtest.XXXXXX")
# As root, the scratch folder is a tmpfs of its own: this machine's disk
# takes ~250 us per file created, and the tests unpack and copy the
# 170 MB Debian base many times. SB_NO_TMPFS=1 keeps it on disk.
SB_T_TMPFS=0
if [ "$(id -u)" = 0 ] && [ -z "${SB_NO_TMPFS:-}" ] && mount -t tmpfs -o size=16g,mode=0700 sbtest "$SB_T"; then
  SB_T_TMPFS=1
fi
SB_PIDS=()
sb_cleanup() {
  local p
  for p in "${SB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -z "${SB_KEEP:-}" ]; then
    # podman/buildah storage may hold overlay mounts
    umount -R "$SB_T"/* 2>/dev/null || true
    if [ "$SB_T_TMPFS" = 1 ]; then umount -l "$SB_T" 2>/dev/null || true; fi
    rm -rf "$SB_T" 2>/dev/null || true
  else
    echo "kept $SB_T"
  fi
}
trap sb_cleanup EXIT

export SLIMBUILD_ROOT=$SB_T/store

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: run COMMAND, count it as passed or failed.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# Print the closing line CI reads and exit non-zero on any failure.
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }

sb_need() { # sb_need CMD PACKAGE...: skip-proofing: install what is missing
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

sb_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

sb_wait_port() { # sb_wait_port PORT [SECONDS]
  local i
  for ((i = 0; i < ${2:-20} * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  return 1
}

# The Debian bookworm minbase rootfs as a tar, made once per machine with
# mmdebstrap and cached. Prints its path.
sb_base_rootfs_tar() {
  SB_CACHE=$SB_CACHE bash "$SB_SOURCE_DIR/tests/integration/make-base.sh"
}

# Start a docker-registry on a free 127.0.0.1 port and set SB_REGISTRY_PORT
# (call it directly, not in $(...), so the test's cleanup stops it).
#   sb_start_registry                 plain HTTP
#   sb_start_registry tls USER PASS   HTTPS with htpasswd basic auth; also
#                                     sets SB_REGISTRY_CA to its certificate
sb_start_registry() {
  sb_need docker-registry docker-registry >&2
  local port dir conf
  port=$(sb_free_port)
  dir=$SB_T/registry-$port
  mkdir -p "$dir/data"
  conf=$dir/config.yml
  cat >"$conf" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  if [ "${1:-}" = tls ]; then
    sb_need htpasswd apache2-utils >&2
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    htpasswd -Bbn "$2" "$3" >"$dir/htpasswd"
    cat >>"$conf" <<YML
  tls:
    certificate: $dir/cert.pem
    key: $dir/key.pem
auth:
  htpasswd:
    realm: slimbuild-test
    path: $dir/htpasswd
YML
    SB_REGISTRY_CA=$dir/cert.pem
  fi
  docker-registry serve "$conf" >"$dir/log" 2>&1 &
  SB_PIDS+=($!)
  sb_wait_port "$port" >&2
  SB_REGISTRY_PORT=$port
}
