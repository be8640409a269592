#!/usr/bin/env bash
# slimbuild against docker-registry over HTTPS with htpasswd basic auth:
# the registry's certificate is trusted only through SSL_CERT_FILE, and
# credentials come only from a docker config folder ($DOCKER_CONFIG).
source "$(dirname "$0")/lib.sh"
sb_need skopeo skopeo
sb_need umoci umoci
sb_need jq jq

sb_start_registry tls alice s3cret-pw
REG=127.0.0.1:$SB_REGISTRY_PORT
CA=$SB_REGISTRY_CA

OCI=$SB_T/oci
umoci init --layout "$OCI"
mkdir -p "$SB_T/l1"
echo "private" >"$SB_T/l1/secret"
tar -C "$SB_T/l1" -cf "$SB_T/l1.tar" .
umoci new --image "$OCI:v1"
umoci raw add-layer --image "$OCI:v1" "$SB_T/l1.tar"
skopeo copy -q --dest-cert-dir "$SB_T/nocerts" --dest-tls-verify=false --dest-creds alice:s3cret-pw \
  "oci:$OCI:v1" "docker://$REG/private/app:v1"
want=$(skopeo inspect --raw --tls-verify=false --creds alice:s3cret-pw "docker://$REG/private/app:v1" |
  sha256sum | cut -d' ' -f1)

# docker config folders: "auth" (base64 user:password) for the right
# password, username/password fields for a wrong one, and one with nothing
mkdir -p "$SB_T/good" "$SB_T/bad" "$SB_T/none" "$SB_T/home/.docker"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REG" "$(printf 'alice:s3cret-pw' | base64)" \
  >"$SB_T/good/config.json"
printf '{"auths": {"https://%s": {"username": "alice", "password": "wrong"}}}\n' "$REG" \
  >"$SB_T/bad/config.json"
printf '{"auths": {}}\n' >"$SB_T/none/config.json"
# ~/.docker/config.json when DOCKER_CONFIG is unset, keyed with a scheme
printf '{"auths": {"https://%s/v2/": {"auth": "%s"}}}\n' "$REG" "$(printf 'alice:s3cret-pw' | base64)" \
  >"$SB_T/home/.docker/config.json"

# --- TLS ---
rc=0; out=$(DOCKER_CONFIG=$SB_T/good "$SLIMBUILD" pull "$REG/private/app:v1" 2>&1) || rc=$?
echo "$out" | tail -n 2
check "an untrusted certificate fails with 1" test "$rc" = 1
check "... saying how to trust it" grep -q "SSL_CERT_FILE" <<<"$out"
other_ca=$SB_T/other-ca.pem
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other" -keyout "$SB_T/other.key" \
  -out "$other_ca" 2>/dev/null
rc=0; out=$(SSL_CERT_FILE=$other_ca DOCKER_CONFIG=$SB_T/good "$SLIMBUILD" pull "$REG/private/app:v1" 2>&1) ||
  rc=$?
check "SSL_CERT_FILE naming another CA still fails" test "$rc" = 1
check "nothing is tagged after TLS failures" eval '! "$SLIMBUILD" images | grep -q private'

export SSL_CERT_FILE=$CA

# --- credentials ---
rc=0; out=$(DOCKER_CONFIG=$SB_T/bad "$SLIMBUILD" pull "$REG/private/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "wrong credentials fail with 1" test "$rc" = 1
check "... with a 401 naming the image" grep -q "^pull $REG/private/app:v1: unauthorized: .*check credentials (401)" <<<"$out"
rc=0; out=$(DOCKER_CONFIG=$SB_T/none "$SLIMBUILD" pull "$REG/private/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "no credentials fail with 1, saying none were found" \
  eval '[ $rc = 1 ] && grep -q "(401); none found for $REG in $SB_T/none/config.json" <<<"$out"'

rc=0; out=$(DOCKER_CONFIG=$SB_T/good "$SLIMBUILD" pull "$REG/private/app:v1" 2>&1) || rc=$?
check "SSL_CERT_FILE and DOCKER_CONFIG credentials: the pull succeeds" test "$rc" = 0
check "... with the registry's digest" grep -qx "Digest: sha256:$want" <<<"$out"

"$SLIMBUILD" rmi "$REG/private/app:v1" >/dev/null
rc=0; out=$(env -u DOCKER_CONFIG HOME=$SB_T/home "$SLIMBUILD" pull -q "$REG/private/app:v1" 2>&1) || rc=$?
check "credentials from ~/.docker/config.json, keyed https://HOST/v2/" test "$rc" = 0

# --- push with credentials ---
rc=0; out=$(DOCKER_CONFIG=$SB_T/good "$SLIMBUILD" push "$REG/private/app:v1" "$REG/private/copy:v1" 2>&1) || rc=$?
echo "$out"
check "push with credentials succeeds" test "$rc" = 0
check "skopeo reads the pushed manifest with the same digest" test "$(
  skopeo inspect --raw --cert-dir "$SB_T/nocerts" --tls-verify=false --creds alice:s3cret-pw \
    "docker://$REG/private/copy:v1" | sha256sum | cut -d' ' -f1)" = "$want"
rc=0; out=$(DOCKER_CONFIG=$SB_T/bad "$SLIMBUILD" push "$REG/private/app:v1" "$REG/private/copy:v2" 2>&1 >/dev/null) ||
  rc=$?
check "push with wrong credentials fails with a 401" \
  eval '[ $rc = 1 ] && grep -q "^push $REG/private/copy:v2: .*unauthorized: .*check credentials (401)" <<<"$out"'

finish
