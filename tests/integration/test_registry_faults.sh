#!/usr/bin/env bash
# slimbuild pull and push through a small HTTP proxy (python3's http.server)
# in front of docker-registry that injects faults: 500s that go away, a 429
# asking for an hour, corrupted, truncated and short blobs, a transfer cut
# once (resumed with Range), and a bearer-token auth server. It logs every
# request, so the tests also see how slimbuild talks: token fetches, Range
# requests, chunked PATCH uploads.
source "$(dirname "$0")/lib.sh"
sb_need python3 python3
sb_need skopeo skopeo
sb_need umoci umoci
sb_need jq jq

sb_start_registry
UP=$SB_REGISTRY_PORT

cat >"$SB_T/proxy.py" <<'PY'
import base64, http.client, http.server, json, re, socket, sys, threading

upstream, port, mode, logf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
seen = {}
TOKEN = "tok-0123456789abcdef"
CREDS = "Basic " + base64.b64encode(b"bob:tokpw").decode()


def bump(key):
    with lock:
        seen[key] = seen.get(key, 0) + 1
        return seen[key]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def log(self, line):
        with lock, open(logf, "a") as f:
            f.write(line + "\n")

    def reply(self, status, headers, body, length=None, cut=None):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if cut is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:
            # the promised length never comes: the client sees EOF
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)

    def upstream(self, body):
        c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=120)
        skip = ("authorization", "connection", "content-length", "transfer-encoding", "expect")
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        headers = r.getheaders()
        c.close()
        return r.status, headers, data

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        path = self.path
        self.log("%s %s range=%s content-range=%s" % (self.command, path, self.headers.get("Range"),
                                                     self.headers.get("Content-Range")))
        blob_get = self.command == "GET" and "/blobs/sha256:" in path
        if path.startswith("/cdn/"):
            # blob storage behind a redirect: it must never see the token
            self.log("CDN %s auth=%s" % (path, self.headers.get("Authorization")))
            self.path = path[4:]
            status, headers, data = self.upstream(None)
            return self.reply(status, headers, data)
        if mode == "deny" and path != "/v2/":
            return self.reply(403, [("Content-Type", "application/json")],
                              b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}')
        if mode == "bearer":
            if path.startswith("/token"):
                ok = self.headers.get("Authorization") == CREDS
                self.log("TOKEN %s %s" % (path, "ok" if ok else "denied"))
                if not ok:
                    return self.reply(401, [("Content-Type", "application/json")], b'{"details":"bad credentials"}')
                return self.reply(200, [("Content-Type", "application/json")],
                                  json.dumps({"access_token": TOKEN, "expires_in": 300}).encode())
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                chal = 'Bearer realm="http://127.0.0.1:%d/token",service="proxy-test"' % port
                m = re.match(r"/v2/(.+)/(manifests|blobs|tags)/", path)
                if m:
                    chal += ',scope="repository:%s:%s"' % (m.group(1), "pull" if self.command in ("GET", "HEAD") else "pull,push")
                return self.reply(401, [("WWW-Authenticate", chal), ("Content-Type", "application/json")],
                                  b'{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}')
        if mode == "bearer" and blob_get:
            # another host name for the same server: curl must drop the
            # Authorization header when it follows
            return self.reply(307, [("Location", "http://localhost:%d/cdn%s" % (port, path))], b"")
        if mode == "fail500" and path != "/v2/":
            # each request kind fails twice: upload sessions collapse to one
            key = self.command + " " + re.sub(r"/uploads/[^?]+", "/uploads/*", path.split("?")[0])
            if bump(key) <= 2:
                return self.reply(500, [("Content-Type", "application/json"), ("Retry-After", "0")],
                                  b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}')
        if mode == "toomany" and path != "/v2/":
            return self.reply(429, [("Retry-After", "3600")], b"")
        status, headers, data = self.upstream(body)
        if blob_get and status in (200, 206):
            if mode == "corrupt" and data:
                b = bytearray(data)
                b[len(b) // 2] ^= 0xFF
                data = bytes(b)
            elif mode == "truncate":
                return self.reply(status, headers, data, cut=len(data) // 2)
            elif mode == "short":
                data = data[: len(data) // 2]
            elif mode == "resume" and len(data) > 100000 and bump(path) == 1:
                return self.reply(status, headers, data, cut=len(data) // 3)
        if self.command == "HEAD":
            length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
            return self.reply(status, headers, b"", length=int(length))
        self.reply(status, headers, data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class S(http.server.ThreadingHTTPServer):
    daemon_threads = True


S(("127.0.0.1", port), H).serve_forever()
PY

# start_proxy MODE: sets PROXY (host:port) and LOG
start_proxy() {
  local port
  port=$(sb_free_port)
  LOG=$SB_T/proxy-$1.log
  : >"$LOG"
  python3 "$SB_T/proxy.py" "$UP" "$port" "$1" "$LOG" 2>>"$SB_T/proxy-$1.err" &
  SB_PIDS+=($!)
  sb_wait_port "$port"
  PROXY=127.0.0.1:$port
}

# a fresh, empty store for each case
fresh_store() { export SLIMBUILD_ROOT=$SB_T/store-$1; }
nothing_stored() {
  [ -z "$(find "$SLIMBUILD_ROOT/blobs" -type f 2>/dev/null)" ] &&
    [ -z "$(ls -A "$SLIMBUILD_ROOT/ingest" 2>/dev/null)" ] &&
    ! "$SLIMBUILD" images 2>/dev/null | grep -q app
}
store_verified() {
  local f
  for f in "$SLIMBUILD_ROOT"/blobs/sha256/*; do
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || return 1
  done
}

# the image: a small layer and 300 kB of random bytes
OCI=$SB_T/oci
umoci init --layout "$OCI"
mkdir -p "$SB_T/l1" "$SB_T/l2"
echo "faults" >"$SB_T/l1/hello"
head -c 300000 /dev/urandom >"$SB_T/l2/rand"
tar -C "$SB_T/l1" -cf "$SB_T/l1.tar" .
tar -C "$SB_T/l2" -cf "$SB_T/l2.tar" .
umoci new --image "$OCI:v1"
umoci raw add-layer --image "$OCI:v1" "$SB_T/l1.tar"
umoci raw add-layer --image "$OCI:v1" "$SB_T/l2.tar"
skopeo copy -q --dest-tls-verify=false "oci:$OCI:v1" "docker://127.0.0.1:$UP/app:v1"
want=sha256:$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$UP/app:v1" | sha256sum | cut -d' ' -f1)

# --- 500 twice per request, then success ---
start_proxy fail500
fresh_store fail500
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1) || rc=$?
echo "$out"
check "500, 500, then 200: the pull succeeds" eval '[ $rc = 0 ] && grep -qx "Digest: $want" <<<"$out"'
check "... after retrying each request twice" \
  test "$(grep -c "^GET /v2/app/blobs/sha256:" "$LOG")" = 9
check "... reporting the retries" grep -q "Retrying: GET .*500 Internal Server Error; retry 1 of 4" <<<"$out"
check "... and the store holds verified blobs" store_verified
rc=0; out=$("$SLIMBUILD" push "$PROXY/app:v1" "$PROXY/retried:v1" 2>&1) || rc=$?
echo "$out"
check "push through the same faults succeeds" test "$rc" = 0
check "... with the stored digest" test "sha256:$(skopeo inspect --raw --tls-verify=false \
  "docker://127.0.0.1:$UP/retried:v1" | sha256sum | cut -d' ' -f1)" = "$want"
# no mount source known (the only tag names another registry): uploads,
# whose sessions are restarted when a step fails
"$SLIMBUILD" tag "$PROXY/app:v1" "127.0.0.2:1/elsewhere:v1"
"$SLIMBUILD" rmi "$PROXY/app:v1" >/dev/null
rc=0; out=$("$SLIMBUILD" push "127.0.0.2:1/elsewhere:v1" "$PROXY/uploaded:v1" 2>&1) || rc=$?
echo "$out"
check "uploads whose POST and PUT fail twice are restarted and succeed" \
  eval '[ $rc = 0 ] && [ "$(grep -c ": Pushed$" <<<"$out")" = 3 ]'
check "... restarting from a new session" grep -q "Retrying: push .*: upload POST: injected failure (500); retry 1 of 4" <<<"$out"
check "... with the stored digest" test "sha256:$(skopeo inspect --raw --tls-verify=false \
  "docker://127.0.0.1:$UP/uploaded:v1" | sha256sum | cut -d' ' -f1)" = "$want"

# --- 429 with an hour's Retry-After: no waiting, a clear error ---
start_proxy toomany
fresh_store toomany
start=$(date +%s)
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "429 asking for an hour fails at once" eval '[ $rc = 1 ] && [ $(( $(date +%s) - start )) -lt 5 ]'
check "... saying so" grep -q "^pull $PROXY/app:v1: too many requests (429)" <<<"$out"

# --- 403 ---
start_proxy deny
fresh_store deny
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "403 fails with the registry's message" \
  eval '[ $rc = 1 ] && [ "$out" = "pull $PROXY/app:v1: denied: requested access to the resource is denied (403)" ]'

# --- a corrupted blob ---
start_proxy corrupt
fresh_store corrupt
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "a corrupted blob fails the pull with 1" test "$rc" = 1
check "... with a digest mismatch" grep -q "digest mismatch: expected sha256:" <<<"$out"
check "... and nothing is stored" nothing_stored

# --- truncated transfers (the connection closes early) ---
start_proxy truncate
fresh_store truncate
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "a blob that is always cut short fails with 1" test "$rc" = 1
check "... after 4 retries" grep -q "bytes remaining to read (after 4 retries)" <<<"$out"
check "... each asking for the rest with Range" grep -q "^GET /v2/app/blobs/.* range=bytes=[1-9][0-9]*-" "$LOG"
check "... and nothing is stored" nothing_stored

# --- a short body with a matching Content-Length ---
start_proxy short
fresh_store short
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "a short blob fails with 1, naming the sizes" eval '[ $rc = 1 ] && grep -q "bytes, expected" <<<"$out"'
check "... and nothing is stored" nothing_stored

# --- cut once: resumed with Range ---
start_proxy resume
fresh_store resume
rc=0; out=$("$SLIMBUILD" pull "$PROXY/app:v1" 2>&1) || rc=$?
check "a transfer cut once is resumed and the pull succeeds" eval '[ $rc = 0 ] && grep -qx "Digest: $want" <<<"$out"'
check "... with a Range request for the rest" grep -q "^GET /v2/app/blobs/.* range=bytes=[1-9][0-9]*-" "$LOG"
check "... and the stored blobs verify" store_verified

# --- bearer tokens ---
start_proxy bearer
mkdir -p "$SB_T/cfg-good" "$SB_T/cfg-bad"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$PROXY" "$(printf bob:tokpw | base64)" >"$SB_T/cfg-good/config.json"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$PROXY" "$(printf bob:nope | base64)" >"$SB_T/cfg-bad/config.json"
fresh_store bearer
rc=0; out=$(DOCKER_CONFIG=$SB_T/cfg-good "$SLIMBUILD" pull "$PROXY/app:v1" 2>&1) || rc=$?
check "bearer token auth: the pull succeeds" eval '[ $rc = 0 ] && grep -qx "Digest: $want" <<<"$out"'
check "... fetching one token for the whole pull" test "$(grep -c "^TOKEN .* ok" "$LOG")" = 1
check "... asking for the service and the pull scope" \
  grep -q "^TOKEN /token?service=proxy-test&scope=repository%3Aapp%3Apull ok" "$LOG"
check "... following blob redirects without sending the token along" \
  eval '[ "$(grep -c "^CDN /cdn/v2/app/blobs/sha256:.* auth=None$" "$LOG")" = 3 ] && ! grep -q "^CDN .*auth=Bearer" "$LOG"'
rc=0; out=$(DOCKER_CONFIG=$SB_T/cfg-good "$SLIMBUILD" push "$PROXY/app:v1" "$PROXY/tokpush:v1" 2>&1) || rc=$?
check "bearer token auth: push succeeds" test "$rc" = 0
check "... asking for push and, to mount, the source's pull scope" \
  grep -q "^TOKEN .*scope=repository%3Atokpush%3Apull%2Cpush&scope=repository%3Aapp%3Apull ok" "$LOG"
fresh_store bearer-bad
rc=0; out=$(DOCKER_CONFIG=$SB_T/cfg-bad "$SLIMBUILD" pull "$PROXY/app:v1" 2>&1 >/dev/null) || rc=$?
echo "$out"
check "a token endpoint refusing the credentials fails with 401" \
  eval '[ $rc = 1 ] && grep -q "^pull $PROXY/app:v1: token: unauthorized: check credentials (401)" <<<"$out"'
check "... and nothing is stored" nothing_stored

# --- a blob above 64 MiB: chunked PATCH upload ---
start_proxy log
fresh_store big
mkdir -p "$SB_T/big"
head -c 70000000 /dev/urandom >"$SB_T/big/blob"
tar -C "$SB_T/big" -cf "$SB_T/big.tar" .
umoci new --image "$OCI:big"
umoci raw add-layer --image "$OCI:big" "$SB_T/big.tar"
rm -f "$SB_T/big.tar" "$SB_T/big/blob"
skopeo copy -q --dest-tls-verify=false "oci:$OCI:big" "docker://127.0.0.1:$UP/big:v1"
bigwant=sha256:$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$UP/big:v1" | sha256sum | cut -d' ' -f1)
rc=0; "$SLIMBUILD" pull -q "$PROXY/big:v1" >/dev/null || rc=$?
check "a 70 MB layer pulls" eval '[ $rc = 0 ] && store_verified'
rc=0; out=$("$SLIMBUILD" push "$PROXY/big:v1" "$PROXY/bigcopy:v1" 2>&1) || rc=$?
check "push of the 70 MB image to another repository mounts its layer" \
  eval '[ $rc = 0 ] && [ "$(grep -c "Mounted from big" <<<"$out")" = 2 ]'
# once the store knows no repository of this registry with the blobs (the
# only tag names another registry), they are uploaded
"$SLIMBUILD" tag "$PROXY/big:v1" "127.0.0.2:1/unrelated:v1"
"$SLIMBUILD" rmi "$PROXY/big:v1" >/dev/null
: >"$LOG"
rc=0; out=$("$SLIMBUILD" push "127.0.0.2:1/unrelated:v1" "$PROXY/chunked:v1" 2>&1) || rc=$?
echo "$out"
check "a blob above 64 MiB is uploaded in chunks" eval '[ $rc = 0 ] && grep -q "^PATCH .* content-range=0-67108863$" "$LOG"'
check "... the second chunk starting where the first ended" grep -q "^PATCH .* content-range=67108864-" "$LOG"
check "... and skopeo reads it back with the stored digest" test "sha256:$(skopeo inspect --raw --tls-verify=false \
  "docker://127.0.0.1:$UP/chunked:v1" | sha256sum | cut -d' ' -f1)" = "$bigwant"
check "... whose layer skopeo copies intact" skopeo copy -q --src-tls-verify=false \
  "docker://127.0.0.1:$UP/chunked:v1" "oci:$SB_T/chunked-back:x"

finish
