#!/usr/bin/env bash
# slimbuild push to Debian's docker-registry: to the image's own name and to
# another, with blobs mounted across repositories, blobs the registry has
# skipped, and real uploads to a second registry. skopeo reads every pushed
# image back: its digest must be the stored one and every blob must hash to
# its name.
source "$(dirname "$0")/lib.sh"
sb_need skopeo skopeo
sb_need umoci umoci
sb_need jq jq

sb_start_registry
REG=127.0.0.1:$SB_REGISTRY_PORT
sb_start_registry
REG2=127.0.0.1:$SB_REGISTRY_PORT
OCI=$SB_T/oci
umoci init --layout "$OCI"

mkdir -p "$SB_T/l1/etc" "$SB_T/l2/data"
echo "pushed" >"$SB_T/l1/etc/hello"
head -c 3000000 /dev/urandom >"$SB_T/l2/data/blob"
tar -C "$SB_T/l1" -cf "$SB_T/l1.tar" .
tar -C "$SB_T/l2" -cf "$SB_T/l2.tar" .
umoci new --image "$OCI:v1"
umoci raw add-layer --image "$OCI:v1" "$SB_T/l1.tar"
umoci raw add-layer --image "$OCI:v1" "$SB_T/l2.tar"
skopeo copy -q --dest-tls-verify=false "oci:$OCI:v1" "docker://$REG/app:v1"
"$SLIMBUILD" pull -q "$REG/app:v1" >/dev/null
stored=$("$SLIMBUILD" inspect "$REG/app:v1" | jq -r '.[0].ManifestDigest')
image_id=$("$SLIMBUILD" inspect "$REG/app:v1" | jq -r '.[0].Id')

# the sha256 of the manifest the registry serves for REF
remote_digest() { echo "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$1" | sha256sum | cut -d' ' -f1)"; }
# read_back REF: skopeo copies REF to an OCI folder; every blob must hash to
# its name and the manifest must be the stored one
read_back() {
  local dir=$SB_T/back-$RANDOM f
  skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$dir:x" || return 1
  for f in "$dir"/blobs/sha256/*; do
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || return 1
  done
  [ -f "$dir/blobs/sha256/${stored#sha256:}" ]
}

# --- to another repository of the same registry: mounted ---
rc=0; out=$("$SLIMBUILD" push "$REG/app:v1" "$REG/other:v2" 2>&1) || rc=$?
echo "$out"
check "push to another repository succeeds" test "$rc" = 0
check "... mounting all three blobs from the source" test "$(grep -c 'Mounted from app' <<<"$out")" = 3
check "... and prints tag, digest and size" grep -q "^v2: digest: $stored size: [0-9]*$" <<<"$out"
check "skopeo sees the stored digest" test "$(remote_digest "$REG/other:v2")" = "$stored"
check "skopeo copies it back intact" read_back "$REG/other:v2"

# --- again: the registry has every blob ---
rc=0; out=$("$SLIMBUILD" push "$REG/app:v1" "$REG/other:v2" 2>&1) || rc=$?
check "a second push finds every blob present" test "$(grep -c 'Layer already exists' <<<"$out")" = 3

# --- to its own name (tagged in the store) ---
"$SLIMBUILD" tag "$REG/app:v1" "$REG/app:v3"
rc=0; out=$("$SLIMBUILD" push -q "$REG/app:v3" 2>&1) || rc=$?
check "push NAME pushes to its own name" eval '[ $rc = 0 ] && [ "$out" = "$REG/app:v3" ]'
check "... with the stored digest" test "$(remote_digest "$REG/app:v3")" = "$stored"

# --- to a registry that has nothing: real uploads, by image ID ---
rc=0; out=$("$SLIMBUILD" push "${image_id#sha256:}" "$REG2/fresh/app:v1" 2>&1) || rc=$?
echo "$out"
check "push by image ID to another registry succeeds" test "$rc" = 0
check "... uploading all three blobs" test "$(grep -c ': Pushed$' <<<"$out")" = 3
check "skopeo sees the stored digest there" test "$(remote_digest "$REG2/fresh/app:v1")" = "$stored"
check "skopeo copies the upload back intact" read_back "$REG2/fresh/app:v1"

# --- by digest ---
rc=0; out=$("$SLIMBUILD" push -q "$REG/app:v1" "$REG2/bydigest@$stored" 2>&1) || rc=$?
check "push to a digest reference" eval '[ $rc = 0 ] && [ "$(remote_digest "$REG2/bydigest@$stored")" = "$stored" ]'
rc=0; out=$("$SLIMBUILD" push "$REG/app:v1" "$REG2/bydigest@sha256:$(printf x | sha256sum | cut -d' ' -f1)" 2>&1) ||
  rc=$?
check "push to a digest that is not the image's fails" eval '[ $rc = 1 ] && grep -q "not sha256:" <<<"$out"'

# --- failures ---
rc=0; out=$("$SLIMBUILD" push "$REG/missing:v1" 2>&1) || rc=$?
check "push of an image not in the store fails with 1" eval '[ $rc = 1 ] && grep -q "no such image" <<<"$out"'
rc=0; out=$("$SLIMBUILD" push "${image_id#sha256:}" 2>&1) || rc=$?
check "push of an image ID without DEST fails asking for DEST" \
  eval '[ $rc = 1 ] && grep -q "give a DEST" <<<"$out"'
rc=0; "$SLIMBUILD" push >/dev/null 2>&1 || rc=$?
check "push without a name is a usage error" test "$rc" = 2
rc=0; "$SLIMBUILD" push a b c >/dev/null 2>&1 || rc=$?
check "push with three names is a usage error" test "$rc" = 2
rc=0; "$SLIMBUILD" push "$REG/app:v1" 'Bad:Dest' >/dev/null 2>&1 || rc=$?
check "push to an invalid reference is a usage error" test "$rc" = 2
check "push --help" eval '"$SLIMBUILD" push --help | grep -q "^Usage: slimbuild push"'
rc=0; out=$("$SLIMBUILD" push "$REG/app:v1" "127.0.0.1:1/x:y" 2>&1) || rc=$?
check "push to an unreachable registry fails after retries" \
  eval '[ $rc = 1 ] && grep -q "after 4 retries" <<<"$out"'

finish
