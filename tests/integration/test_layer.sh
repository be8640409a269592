#!/usr/bin/env bash
# Layers against real peers: what slimbuild packs, GNU tar, Go's
# archive/tar and podman read back exactly; what GNU tar packs, slimbuild
# unpacks exactly; the Debian rootfs survives unpack -> pack -> unpack.
#
# Until the CLI exposes pack and unpack, the unit test program doubles as
# the driver (SB_LAYER_DRIVER=pack|unpack, see tests/unit/test_layer.c).
source "$(dirname "$0")/lib.sh"
DRV=${SB_LAYER_DRV:-$SB_BUILD_DIR/tests/test_layer}
sb_need zstd zstd
if [ "$(id -u)" != 0 ]; then
  echo "skip: needs root (owners, device nodes, security.capability)"
  exit 0
fi

pack() { # pack SRC OUT COMPRESSION [SDE] -> prints the driver's result line
  SB_LAYER_DRIVER=pack SB_LAYER_SRC=$1 SB_LAYER_OUT=$2 SB_LAYER_COMPRESSION=$3 \
    ${4:+SB_LAYER_SDE=$4} "$DRV"
}
unpack() { # unpack LAYER DIR
  mkdir -p "$2"
  SB_LAYER_DRIVER=unpack SB_LAYER_IN=$1 SB_LAYER_DST=$2 "$DRV" >/dev/null
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p"; }

# A manifest of a tree: one line per path with type, mode, owner, mtime,
# size and sha256, link target, device numbers, every xattr, and for hard
# links the first path of the inode. Sockets are left out (never packed).
cat >"$SB_T/manifest.py" <<'PY'
import hashlib, os, stat, sys
root = os.fsencode(sys.argv[1])
skip_mtime = len(sys.argv) > 2
entries = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        entries.append((os.path.relpath(p, root), os.lstat(p)))
entries.sort()
first = {}
for rel, st in entries:
    m = st.st_mode
    if stat.S_ISSOCK(m):
        continue
    line = [rel.decode('utf-8', 'backslashreplace'), '%o' % stat.S_IFMT(m), '%o' % stat.S_IMODE(m),
            '%d:%d' % (st.st_uid, st.st_gid)]
    if not skip_mtime:
        line.append('mtime=%d' % int(st.st_mtime))
    full = os.path.join(root, rel)
    key = (st.st_dev, st.st_ino)
    if not stat.S_ISDIR(m) and st.st_nlink > 1 and key in first:
        line.append('link=' + first[key].decode('utf-8', 'backslashreplace'))
    else:
        first.setdefault(key, rel)
        if stat.S_ISREG(m):
            h = hashlib.sha256()
            with open(full, 'rb') as f:
                for b in iter(lambda: f.read(1 << 20), b''):
                    h.update(b)
            line.append('size=%d sha256=%s' % (st.st_size, h.hexdigest()))
        elif stat.S_ISLNK(m):
            line.append('-> ' + os.readlink(full).decode('utf-8', 'backslashreplace'))
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            line.append('dev=%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    try:
        names = sorted(os.listxattr(full, follow_symlinks=False))
    except OSError:
        names = []
    for x in names:
        line.append('xattr:%s=%s' % (x, os.getxattr(full, x, follow_symlinks=False).hex()))
    print(' '.join(line))
PY
manifest() { python3 "$SB_T/manifest.py" "$@"; }
same_tree() { # same_tree A B [nomtime]
  manifest "$1" ${3:+x} >"$SB_T/m1" && manifest "$2" ${3:+x} >"$SB_T/m2" &&
    { diff -u "$SB_T/m1" "$SB_T/m2" | head -20 >&2; cmp -s "$SB_T/m1" "$SB_T/m2"; }
}

# --- a tree of every kind ------------------------------------------------
src=$SB_T/src
mkdir -p "$src/d" "$src/sticky" "$src/deep/$(printf 'n%.0s' {1..120})/$(printf 'm%.0s' {1..120})"
printf 'hello\n' >"$src/d/file"
: >"$src/empty"
printf '#!/bin/sh\n' >"$src/exe"
head -c 3000000 /dev/urandom >"$src/random"
printf 'deep' >"$src/deep/$(printf 'n%.0s' {1..120})/$(printf 'm%.0s' {1..120})/leaf"
printf 'utf8' >"$src/café"
printf 'raw' >"$src/$(printf 'bad\xff')"
ln -s d/file "$src/link"
ln -s /etc/passwd "$src/abs"
ln "$src/d/file" "$src/hard"
mkfifo "$src/fifo"
mknod "$src/null" c 1 3
mknod "$src/loop" b 7 200
chmod 4755 "$src/exe"
chmod 1777 "$src/sticky"
chmod 0750 "$src/d"
chown 1000:1001 "$src/d"
chown 3000000:3000001 "$src/d/file"
chown -h 5:6 "$src/link"
python3 - "$src" <<'PY'
import os, socket, sys
r = sys.argv[1]
os.setxattr(r + '/d/file', 'user.test', b'value')
os.setxattr(r + '/d/file', 'user.bin', b'\0\1\2')
# vfs_cap_data revision 2, effective, CAP_NET_RAW permitted
os.setxattr(r + '/exe', 'security.capability', bytes([1, 0, 0, 2, 0, 0x20, 0, 0] + [0] * 12))
os.setxattr(r + '/d', 'trusted.note', b't')
s = socket.socket(socket.AF_UNIX); s.bind(r + '/sock'); s.close()
PY
find "$src" -depth -exec touch -h -d @1600000000 {} +

for c in none gzip zstd; do
  out=$SB_T/layer.$c
  check "pack $c" pack "$src" "$out" "$c" >"$SB_T/res.$c"
done
diff_id=$(field diff_id <"$SB_T/res.none")
check "pack reports the socket it skipped" grep -q 'skipped=1' "$SB_T/res.none"
check "gzip -t accepts the gzip layer" gzip -t <"$SB_T/layer.gzip"
check "zstd -t accepts the zstd layer" zstd -q -t "$SB_T/layer.zstd"
check "gzip -dc gives the diff_id" test "sha256:$(gzip -dc <"$SB_T/layer.gzip" | sha256sum | cut -d' ' -f1)" = "$diff_id"
check "zstd -dc gives the diff_id" test "sha256:$(zstd -dc <"$SB_T/layer.zstd" | sha256sum | cut -d' ' -f1)" = "$diff_id"
check "the digest is the blob's sha256" \
  test "sha256:$(sha256sum <"$SB_T/layer.gzip" | cut -d' ' -f1)" = "$(field digest <"$SB_T/res.gzip")"

# GNU tar: lists and extracts it, warning only about the non-UTF-8 name's
# hdrcharset record (the one PAX keyword it does not know).
tar -tvf "$SB_T/layer.none" >"$SB_T/tar.list" 2>"$SB_T/tar.err"
check "GNU tar lists every entry" test "$(wc -l <"$SB_T/tar.list")" = "$(field entries <"$SB_T/res.none")"
check "GNU tar has nothing to complain about but hdrcharset" \
  test -z "$(grep -v "unknown extended header keyword 'hdrcharset'" "$SB_T/tar.err")"
check "owners are numeric only (no user or group names)" \
  bash -c "python3 -c 'import tarfile,sys; t=tarfile.open(sys.argv[1]); sys.exit(any(m.uname or m.gname for m in t))' '$SB_T/layer.none'"
mkdir -p "$SB_T/gnu-x"
check "GNU tar extracts it" tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$SB_T/layer.zstd" --zstd -C "$SB_T/gnu-x" 2>/dev/null
check "GNU tar's extraction equals the source tree" same_tree "$src" "$SB_T/gnu-x"

# Our unpack of our layers, each compression.
for c in none gzip zstd; do
  check "unpack $c" unpack "$SB_T/layer.$c" "$SB_T/ours-$c"
  check "unpack $c equals the source tree" same_tree "$src" "$SB_T/ours-$c"
done

# What GNU tar writes (PAX with xattrs, "./" names), we unpack exactly.
tar --format=pax --xattrs --xattrs-include='*' --numeric-owner -C "$src" -czf "$SB_T/gnu.tar.gz" . 2>/dev/null
check "unpack GNU tar's pax layer" unpack "$SB_T/gnu.tar.gz" "$SB_T/from-gnu"
check "it equals the source tree" same_tree "$src" "$SB_T/from-gnu"

# Go's archive/tar (what Docker, BuildKit, containerd and podman use).
if command -v go >/dev/null; then
  mkdir -p "$SB_T/goread"
  cat >"$SB_T/goread/main.go" <<'GO'
package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	tr := tar.NewReader(os.Stdin)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		var xs []string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xs = append(xs, fmt.Sprintf("%s=%x", strings.TrimPrefix(k, "SCHILY.xattr."), v))
			}
		}
		sort.Strings(xs)
		fmt.Printf("%q type=%c mode=%o uid=%d gid=%d size=%d link=%q uname=%q gname=%q format=%v xattrs=%s\n",
			h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname, h.Uname, h.Gname, h.Format,
			strings.Join(xs, ","))
	}
}
GO
  (cd "$SB_T/goread" && GO111MODULE=off GOFLAGS= go build -o reader main.go) 2>"$SB_T/go.err"
  if [ -x "$SB_T/goread/reader" ]; then
    "$SB_T/goread/reader" <"$SB_T/layer.none" >"$SB_T/go.list"
    check "Go's archive/tar reads every entry" test "$(grep -vc '^ERROR' "$SB_T/go.list")" = "$(field entries <"$SB_T/res.none")"
    check "Go sees no uname/gname" bash -c "! grep -v 'uname=\"\" gname=\"\"' '$SB_T/go.list'"
    check "Go sees the user xattrs" grep -q '^"d/file" .*xattrs=user.bin=000102,user.test=76616c7565' "$SB_T/go.list"
    check "Go sees security.capability" grep -q '^"exe" .*xattrs=security.capability=01000002002000' "$SB_T/go.list"
    check "Go sees the big uid" grep -q '^"d/file" .*uid=3000000 gid=3000001' "$SB_T/go.list"
    check "Go sees the hard link" grep -q '^"hard" type=1 .*link="d/file"' "$SB_T/go.list"
    check "Go sees the device" grep -q '^"null" type=3 ' "$SB_T/go.list"
    check "Go sees directories with a trailing slash" grep -q '^"d/" type=5 mode=750 uid=1000 gid=1001' "$SB_T/go.list"
  else
    not_ok "build the Go reader: $(head -3 "$SB_T/go.err")"
  fi
else
  echo "skip: no go for the archive/tar check"
fi

# --- the Debian rootfs -----------------------------------------------------
base=$(sb_base_rootfs_tar)
if [ -d "$base" ]; then # an older lib.sh cached a directory
  tar --numeric-owner --xattrs -C "$base" -cf "$SB_T/base.tar" .
  base=$SB_T/base.tar
fi
A=$SB_T/deb-a
mkdir -p "$A"
tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$base" -C "$A"
check "pack the Debian rootfs" pack "$A" "$SB_T/deb.tar.gz" gzip >"$SB_T/deb.res"
check "pack it again: same digest" \
  bash -c "SB_LAYER_DRIVER=pack SB_LAYER_SRC='$A' SB_LAYER_OUT='$SB_T/deb2.tar.gz' '$DRV' | grep -q '$(field digest <"$SB_T/deb.res")'"
cp -a "$A" "$SB_T/deb-copy"
check "pack a cp -a copy: same digest" \
  bash -c "SB_LAYER_DRIVER=pack SB_LAYER_SRC='$SB_T/deb-copy' SB_LAYER_OUT='$SB_T/deb3.tar.gz' '$DRV' | grep -q '$(field digest <"$SB_T/deb.res")'"
rm -rf "$SB_T/deb-copy" "$SB_T/deb2.tar.gz" "$SB_T/deb3.tar.gz"
check "unpack it" unpack "$SB_T/deb.tar.gz" "$SB_T/deb-b"
check "unpack(pack(rootfs)) equals the rootfs" same_tree "$A" "$SB_T/deb-b"
mkdir -p "$SB_T/deb-c"
tar --numeric-owner --xattrs --xattrs-include='*' -xpzf "$SB_T/deb.tar.gz" -C "$SB_T/deb-c"
check "GNU tar's extraction of it equals the rootfs" same_tree "$A" "$SB_T/deb-c"
rm -rf "$SB_T/deb-b" "$SB_T/deb-c"

# podman reads the layer (containers/storage applies it with Go's
# archive/tar) and runs the result.
if command -v podman >/dev/null; then
  P=(podman --root "$SB_T/podman" --runroot "$SB_T/podman-run" --storage-driver overlay)
  RUN=(run --rm --runtime runc --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
  check "podman imports the packed rootfs" "${P[@]}" import -q "$SB_T/deb.tar.gz" localhost/sblayer:test
  out=$("${P[@]}" "${RUN[@]}" localhost/sblayer:test cat /etc/debian_version 2>&1 || true)
  check "podman runs it ($out)" test "$out" = "$(cat "$A/etc/debian_version")"
  "${P[@]}" rmi -a -f >/dev/null 2>&1 || true
else
  echo "skip: no podman"
fi
rm -rf "$A"
finish
