#!/usr/bin/env bash
# slimbuild pull against Debian's docker-registry, with images skopeo put
# there: single manifests, a multi-platform index, pulls by tag and digest,
# blobs already present, unknown images. The store must end up holding
# exactly the blobs the registry serves, readable by skopeo as an OCI layout.
source "$(dirname "$0")/lib.sh"
sb_need skopeo skopeo
sb_need umoci umoci

sb_start_registry
REG=127.0.0.1:$SB_REGISTRY_PORT
OCI=$SB_T/oci
umoci init --layout "$OCI"

# mkimage TAG ARCH SEED: an image of two layers (a small file, 2 MB of
# pseudo-random bytes from SEED) in the OCI layout, for ARCH.
mkimage() {
  local tag=$1 arch=$2 seed=$3 d=$SB_T/src-$1
  mkdir -p "$d/l1/etc" "$d/l2/data"
  echo "hello from $tag" >"$d/l1/etc/hello"
  { openssl enc -aes-128-ctr -pass "pass:$seed" -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
    head -c 2000000 >"$d/l2/data/blob"
  tar -C "$d/l1" -cf "$d/l1.tar" .
  tar -C "$d/l2" -cf "$d/l2.tar" .
  umoci new --image "$OCI:$tag"
  umoci config --image "$OCI:$tag" --architecture "$arch" --config.cmd /bin/true
  umoci raw add-layer --image "$OCI:$tag" "$d/l1.tar"
  umoci raw add-layer --image "$OCI:$tag" "$d/l2.tar"
}

host_arch=$(dpkg --print-architecture)
other_arch=arm64
[ "$host_arch" = arm64 ] && other_arch=amd64
mkimage v1 "$host_arch" one
mkimage other "$other_arch" two
skopeo copy -q --dest-tls-verify=false "oci:$OCI:v1" "docker://$REG/app:v1"

# store_has DIGEST: the blob is in the store and hashes to its name
store_has() {
  local f=$SLIMBUILD_ROOT/blobs/sha256/${1#sha256:}
  [ -f "$f" ] && [ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" = "$1" ]
}
# every blob (config, layers) the registry's manifest names is stored
all_blobs_stored() {
  local raw d
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$REG/$1")
  for d in $(jq -r '.config.digest, .layers[].digest' <<<"$raw"); do
    store_has "$d" || { echo "missing $d" >&2; return 1; }
  done
}
sb_need jq jq

# --- pull by tag ---
out=$("$SLIMBUILD" pull "$REG/app:v1" 2>&1) || true
echo "$out"
want=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/app:v1")
check "pull prints the manifest digest" grep -qx "Digest: $want" <<<"$out"
check "pull ends with the full name" test "$(tail -n1 <<<"$out")" = "$REG/app:v1"
check "pull downloaded three blobs" test "$(grep -c 'Pull complete' <<<"$out")" = 3
check "every blob of the manifest is stored and verified" all_blobs_stored app:v1
check "the manifest blob is stored" store_has "$want"
check "the store is an OCI layout skopeo reads" \
  test "$(skopeo inspect --format '{{.Digest}}' "oci:$SLIMBUILD_ROOT:$REG/app:v1")" = "$want"
check "images lists the pulled image" grep -q "^$REG/app *v1 " <(
  "$SLIMBUILD" images)
check "no ingest leftovers" test -z "$(ls -A "$SLIMBUILD_ROOT/ingest")"

# --- again: every blob present ---
out=$("$SLIMBUILD" pull "$REG/app:v1" 2>&1) || true
check "a second pull skips present blobs" test "$(grep -c 'Already exists' <<<"$out")" = 3
check "a second pull reports up to date" grep -q "Status: Image is up to date" <<<"$out"

# --- quiet, by digest ---
out=$("$SLIMBUILD" pull -q "$REG/app@$want" 2>&1) || true
check "pull by digest prints the name only with -q" test "$out" = "$REG/app@$want"
check "pull by digest is tagged by that name" \
  test "$("$SLIMBUILD" inspect "$REG/app@$want" | jq -r '.[0].ManifestDigest')" = "$want"

# --- a digest the content does not have ---
bad=sha256:$(printf x | sha256sum | cut -d' ' -f1)
rc=0; out=$("$SLIMBUILD" pull "$REG/app@$bad" 2>&1) || rc=$?
check "pull of an unknown digest fails with 1" test "$rc" = 1
check "... naming the image and the 404" grep -q "pull $REG/app@$bad: .*(404)" <<<"$out"

# --- unknown repository and tag ---
rc=0; out=$("$SLIMBUILD" pull "$REG/nope:v1" 2>&1 >/dev/null) || rc=$?
check "pull of an unknown image exits 1" test "$rc" = 1
check "... with the registry's message" test "$out" = "pull $REG/nope:v1: manifest unknown (404)"
rc=0; out=$("$SLIMBUILD" pull "$REG/app:nope" 2>&1) || rc=$?
check "pull of an unknown tag exits 1 with 404" eval '[ $rc = 1 ] && grep -q "(404)" <<<"$out"'

# --- a multi-platform index ---
# an OCI index of both images, made by hand in the layout and copied whole
python3 - "$OCI" <<'PY'
import hashlib, json, os, sys
oci = sys.argv[1]
idx = json.load(open(f"{oci}/index.json"))
ms = []
for m in idx["manifests"]:
    tag = m.get("annotations", {}).get("org.opencontainers.image.ref.name")
    if tag not in ("v1", "other"):
        continue
    man = json.load(open(f"{oci}/blobs/sha256/{m['digest'][7:]}"))
    cfg = json.load(open(f"{oci}/blobs/sha256/{man['config']['digest'][7:]}"))
    d = {k: m[k] for k in ("mediaType", "digest", "size")}
    d["platform"] = {"os": cfg["os"], "architecture": cfg["architecture"]}
    ms.append(d)
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": ms}).encode()
dg = hashlib.sha256(body).hexdigest()
open(f"{oci}/blobs/sha256/{dg}", "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + dg, "size": len(body),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(f"{oci}/index.json", "w"))
PY
skopeo copy -q --all --dest-tls-verify=false "oci:$OCI:multi" "docker://$REG/app:multi"
host_digest=$(skopeo inspect --tls-verify=false --raw "docker://$REG/app:multi" |
  jq -r --arg a "$host_arch" '.manifests[] | select(.platform.architecture == $a) | .digest')
other_digest=$(skopeo inspect --tls-verify=false --raw "docker://$REG/app:multi" |
  jq -r --arg a "$other_arch" '.manifests[] | select(.platform.architecture == $a) | .digest')

out=$("$SLIMBUILD" pull "$REG/app:multi" 2>&1) || true
check "an index resolves to the host's platform" grep -qx "Digest: $host_digest" <<<"$out"
check "... whose blobs were present already" test "$(grep -c 'Already exists' <<<"$out")" = 3
out=$("$SLIMBUILD" pull --platform "linux/$other_arch" "$REG/app:multi" 2>&1) || true
check "--platform picks another manifest" grep -qx "Digest: $other_digest" <<<"$out"
check "... and downloads its blobs" test "$(grep -c 'Pull complete' <<<"$out")" = 3
rc=0; out=$("$SLIMBUILD" pull --platform linux/s390x "$REG/app:multi" 2>&1) || rc=$?
check "a platform the index lacks fails, listing what it has" \
  eval '[ $rc = 1 ] && grep -q "no manifest for linux/s390x in the index (it has: .*linux/$host_arch" <<<"$out"'

# --- usage ---
rc=0; "$SLIMBUILD" pull >/dev/null 2>&1 || rc=$?
check "pull without a name is a usage error" test "$rc" = 2
rc=0; "$SLIMBUILD" pull a b >/dev/null 2>&1 || rc=$?
check "pull with two names is a usage error" test "$rc" = 2
rc=0; "$SLIMBUILD" pull 'Bad:Name' >/dev/null 2>&1 || rc=$?
check "pull of an invalid reference is a usage error" test "$rc" = 2
check "pull --help" eval '"$SLIMBUILD" pull --help | grep -q "^Usage: slimbuild pull"'
rc=0; out=$("$SLIMBUILD" pull "127.0.0.1:1/x:y" 2>&1) || rc=$?
check "an unreachable registry fails after retries" \
  eval '[ $rc = 1 ] && grep -q "after 4 retries" <<<"$out"'

finish
