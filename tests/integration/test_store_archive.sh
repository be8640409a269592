#!/usr/bin/env bash
# The store against real peers: archives from skopeo loaded, archives we
# save read by podman, umoci and skopeo, the store itself read as an OCI
# layout, tags and prune, kill -9 at any point leaving the store consistent,
# and hostile archives refused.
source "$(dirname "$0")/lib.sh"
SB=$SLIMBUILD
base=$(sb_base_rootfs_tar)
P=(podman --root "$SB_T/podman" --runroot "$SB_T/podman-run" --storage-driver overlay)
RUN=(run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

# A reference image made by the peers: umoci builds an OCI layout from the
# Debian rootfs, skopeo turns it into a docker-archive.
mkdir -p "$SB_T/rootfs"
tar -C "$SB_T/rootfs" -xf "$base"
umoci init --layout "$SB_T/lay" >/dev/null
umoci new --image "$SB_T/lay:v1"
umoci insert --image "$SB_T/lay:v1" "$SB_T/rootfs" / >/dev/null
umoci config --image "$SB_T/lay:v1" --config.cmd /bin/sh --config.cmd -c \
  --config.cmd 'echo hello from $(cat /etc/debian_version)'
skopeo copy -q "oci:$SB_T/lay:v1" "docker-archive:$SB_T/ref.tar:example/base:v1"
want="hello from $(cat "$SB_T/rootfs/etc/debian_version")"

# a tree listing for comparisons: path, type, mode, owner, link target, content hash
tree_list() {
  (cd "$1" && find . -mindepth 1 ! -path './dev/*' -printf '%p %y %m %U:%G %l\n' | sort) >"$2.meta"
  (cd "$1" && find . -type f ! -path './dev/*' -print0 | sort -z | xargs -0 sha256sum) >"$2.sums"
  cat "$2.meta" "$2.sums" >"$2"
}

check "load a docker-archive written by skopeo" "$SB" load -i "$SB_T/ref.tar"
check "images lists it" bash -c "'$SB' images --format json | grep -q '\"name\": \"docker.io/example/base:v1\"'"
check "inspect shows its config" bash -c "'$SB' inspect example/base:v1 | grep -q 'echo hello from'"
check "the store is an OCI layout skopeo reads" \
  skopeo inspect "oci:$SLIMBUILD_ROOT:docker.io/example/base:v1"

# save --format docker: podman load + podman run
check "save --format docker" "$SB" save example/base:v1 -o "$SB_T/docker.tar"
check "podman loads it" "${P[@]}" load -q -i "$SB_T/docker.tar"
out=$("${P[@]}" "${RUN[@]}" docker.io/example/base:v1 2>&1 || true)
check "podman runs it and it prints what it should ($out)" test "$out" = "$want"

# save --format oci: umoci unpacks the same tree we started from
check "save --format oci" "$SB" save --format oci example/base:v1 -o "$SB_T/oci.tar"
mkdir -p "$SB_T/ox"
tar -C "$SB_T/ox" -xf "$SB_T/oci.tar"
check "umoci unpacks it" bash -c "umoci unpack --image '$SB_T/ox:v1' '$SB_T/bundle' >/dev/null"
tree_list "$SB_T/rootfs" "$SB_T/want.list"
tree_list "$SB_T/bundle/rootfs" "$SB_T/got.list"
check "the unpacked tree equals the input tree" diff -q "$SB_T/want.list" "$SB_T/got.list"
check "skopeo reads the oci archive" skopeo inspect "oci-archive:$SB_T/oci.tar"
check "save is reproducible" bash -c "'$SB' save --format oci example/base:v1 -o '$SB_T/oci2.tar' && cmp -s '$SB_T/oci.tar' '$SB_T/oci2.tar'"

# our own archives load back, and the round trip keeps the digest
id1=$("$SB" images -q)
check "load what we saved" "$SB" load -q -i "$SB_T/docker.tar"
check "the image ID survives the round trip" test "$("$SB" images -q | sort -u)" = "$id1"

# tags, rmi, prune
check "tag" "$SB" tag example/base:v1 localhost:5000/other:v2
check "two names" test "$("$SB" images --format json | grep -c '"name"')" = 2
check "rmi of an ID with two tags needs -f" bash -c "! '$SB' rmi $id1 2>/dev/null"
check "rmi by name" "$SB" rmi localhost:5000/other:v2
check "the other name is still there" bash -c "'$SB' inspect example/base:v1 >/dev/null"
check "a usage error exits 2" bash -c "'$SB' tag onlyone 2>/dev/null; test \$? = 2"

# store consistency: every blob hashes to its name, every tag resolves
consistent() {
  local f bad=0
  for f in "$SLIMBUILD_ROOT"/blobs/sha256/*; do
    [ -e "$f" ] || continue
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "corrupt blob $f"; bad=1; }
  done
  # a kill before the store was fully made leaves a partial layout that
  # the next open completes: open it first, as the next run would
  "$SB" images --format json >/dev/null || bad=1
  python3 -c "import json,sys; json.load(open('$SLIMBUILD_ROOT/index.json'))" || bad=1
  for n in $("$SB" images --format json | python3 -c 'import json,sys; [print(i["name"]) for i in json.load(sys.stdin) if i["name"]]'); do
    "$SB" inspect "$n" >/dev/null || { echo "tag $n is broken"; bad=1; }
  done
  return $bad
}

# kill -9 during load and save, at different moments
for delay in 0.05 0.15 0.3 0.6; do
  export SLIMBUILD_ROOT=$SB_T/killstore
  "$SB" load -q -i "$SB_T/ref.tar" &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  check "store consistent after kill -9 of load at ${delay}s" consistent
  check "load succeeds after the kill" "$SB" load -q -i "$SB_T/ref.tar"
  rm -f "$SB_T/kill.tar"
  "$SB" save example/base:v1 -o "$SB_T/kill.tar" &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # either the whole archive or none at all
  if [ -e "$SB_T/kill.tar" ]; then
    check "a save killed at ${delay}s left a whole archive" "${P[@]}" load -q -i "$SB_T/kill.tar"
  else
    ok "a save killed at ${delay}s left no archive"
  fi
  rm -f "$SB_T"/kill.tar.tmp.*
done
check "prune runs after the kills" bash -c "'$SB' prune >/dev/null"
check "nothing left in ingest/" test -z "$(ls -A "$SLIMBUILD_ROOT/ingest")"
check "store consistent after prune" consistent

# import: the Debian rootfs as a one-layer image, run by podman
export SLIMBUILD_ROOT=$SB_T/importstore
check "import the Debian minbase rootfs" "$SB" import "$base" debian:bookworm \
  --change 'CMD ["sh", "-c", "echo imported $(cat /etc/debian_version) $GREETING"]' \
  --change 'ENV GREETING="and well"' -m "made by mmdebstrap"
check "save it" "$SB" save debian:bookworm -o "$SB_T/imported.tar"
check "podman loads it" "${P[@]}" load -q -i "$SB_T/imported.tar"
out=$("${P[@]}" "${RUN[@]}" docker.io/library/debian:bookworm 2>&1 || true)
check "podman runs the imported image ($out)" test "$out" = "imported $(cat "$SB_T/rootfs/etc/debian_version") and well"

# the Debian base through a registry and back: push, pull into an empty
# store, unpack with slimbuild, compare with the tree mmdebstrap made
sb_start_registry
REG=127.0.0.1:$SB_REGISTRY_PORT
check "push the imported base" "$SB" push -q debian:bookworm "$REG/debian:bookworm"
check "skopeo reads what we pushed" skopeo inspect --tls-verify=false "docker://$REG/debian:bookworm"
export SLIMBUILD_ROOT=$SB_T/pullstore
check "pull it into an empty store" "$SB" pull -q "$REG/debian:bookworm"
check "unpack it" "$SB" unpack "$REG/debian:bookworm" "$SB_T/unpacked"
tree_list "$SB_T/unpacked" "$SB_T/unpacked.list"
check "the unpacked tree equals the mmdebstrap tree" diff -q "$SB_T/want.list" "$SB_T/unpacked.list"

# kill -9 during pull
for delay in 0.05 0.2 0.5; do
  export SLIMBUILD_ROOT=$SB_T/killpull
  "$SB" pull -q "$REG/debian:bookworm" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  check "store consistent after kill -9 of pull at ${delay}s" consistent
done
check "pull succeeds after the kills" "$SB" pull -q "$REG/debian:bookworm"
check "store consistent" consistent
export SLIMBUILD_ROOT=$SB_T/importstore

# kill -9 during import (a smaller tree keeps this quick)
tar -C "$SB_T/rootfs" -cf "$SB_T/small.tar" usr/share/doc usr/share/zoneinfo etc
for delay in 0.05 0.2 0.5; do
  "$SB" import "$SB_T/small.tar" killed:latest >/dev/null &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  check "store consistent after kill -9 of import at ${delay}s" consistent
done
check "import succeeds after the kills" bash -c "'$SB' import '$SB_T/small.tar' killed:latest >/dev/null"
check "store consistent" consistent

# hostile archives
export SLIMBUILD_ROOT=$SB_T/hostile
mkdir -p "$SB_T/h/blobs/sha256"
echo '{}' >"$SB_T/h/evil"
(cd "$SB_T/h" && tar --transform 's,^evil,../../evil,' -cf "$SB_T/dotdot.tar" evil 2>/dev/null)
out=$("$SB" load -i "$SB_T/dotdot.tar" 2>&1 || true)
check "an archive entry with .. is refused ($out)" grep -q 'refusing a path with ".."' <<<"$out"
check "nothing escaped" test ! -e "$SB_T/../evil"
echo "not what the name says" >"$SB_T/h/blobs/sha256/$(printf '%064d' 0)"
(cd "$SB_T/h" && tar -cf "$SB_T/badblob.tar" blobs)
out=$("$SB" load -i "$SB_T/badblob.tar" 2>&1 || true)
check "a blob that does not match its name is refused ($out)" grep -q 'digest mismatch' <<<"$out"
check "and is not stored" test ! -e "$SLIMBUILD_ROOT/blobs/sha256/$(printf '%064d' 0)"

finish
