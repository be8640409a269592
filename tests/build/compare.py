#!/usr/bin/env python3
"""Helpers of test_build_compare.sh: list an image's file tree, normalise
an image config, and compare the two builders' listings with the
differences a case tolerates.

  compare.py tree ROOTDIR                     listing on stdout
  compare.py config buildah|slimbuild FILE    normalised config (JSON) on stdout
  compare.py diff tree|config A B [EXPECT_DIFF]
      prints each difference; exit 1 if one is not tolerated, 2 if
      EXPECT_DIFF is malformed

A tree listing has one line per path (the root itself left out): path,
type, mode (with setuid/setgid/sticky), uid:gid, then the symlink target,
the device number, or the sha256 of the content, the xattrs, and for
hard links the first path (sorted) of the group. Times are left out: no
two builds agree on them.

EXPECT_DIFF (a case's expect-diff file) has one tolerated difference a
line, "KIND PATTERN REASON": KIND is tree (PATTERN an fnmatch pattern of
paths), config (PATTERN a config field) or run (PATTERN "-": the podman
output may differ); the REASON is required. Blank lines and # comments
are skipped.
"""
import fnmatch
import hashlib
import json
import os
import stat
import sys

# Differences every case tolerates, each with its reason.
GLOBAL_TREE = {
    "/etc/hostname": "each builder bind-mounts its own over it during RUN and may leave a stub",
    "/etc/hosts": "each builder bind-mounts its own over it during RUN and may leave a stub",
    "/etc/resolv.conf": "each builder bind-mounts the host's over it during RUN and may leave a stub",
}
GLOBAL_LABELS = {
    "io.buildah.version": "buildah stamps its own version on every image",
}
FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels",
          "StopSignal", "Healthcheck", "OnBuild", "Volumes", "Shell"]


def tree(root):
    rows, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, root)
            st = os.lstat(full)
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                kind, extra = "l", "-> " + os.readlink(full)
            elif stat.S_ISDIR(mode):
                kind, extra = "d", ""
            elif stat.S_ISREG(mode):
                h = hashlib.sha256()
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                kind, extra = "f", h.hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                kind = "c" if stat.S_ISCHR(mode) else "b"
                extra = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            elif stat.S_ISFIFO(mode):
                kind, extra = "p", ""
            else:
                kind, extra = "s", ""
            xattrs = []
            try:
                for x in sorted(os.listxattr(full, follow_symlinks=False)):
                    if x.startswith(("trusted.overlay.", "security.selinux")):
                        continue
                    v = os.getxattr(full, x, follow_symlinks=False)
                    xattrs.append("%s=%s" % (x, hashlib.sha256(v).hexdigest()[:16]))
            except OSError:
                pass
            rows[rel] = [kind, "%04o" % stat.S_IMODE(mode), "%d:%d" % (st.st_uid, st.st_gid),
                         extra, ",".join(xattrs)]
    for paths in inodes.values():
        if len(paths) > 1:
            first = min(paths)
            for p in paths:
                rows[p].append("link=" + first)
    for p in sorted(rows):
        print("\t".join([p] + rows[p]).rstrip("\t"))


def config(who, path):
    with open(path) as f:
        d = json.load(f)
    if who == "buildah":  # buildah inspect --type image
        top = d.get("Docker") or {}
        c = top.get("config") or {}
        author = top.get("author", "")
    else:  # slimbuild inspect: a JSON array
        top = d[0]["Config"]
        c = top.get("config") or {}
        author = top.get("author", "")
    out = {}
    for k in FIELDS:
        v = c.get(k)
        if k == "Labels" and v:
            v = {a: b for a, b in v.items() if a not in GLOBAL_LABELS}
        if k == "Env" and v:
            # the order of Env entries means nothing to a runtime (keys
            # are unique); buildah appends the default PATH where BuildKit
            # puts it first, so compare them as sets
            v = sorted(v)
        if v in (None, "", [], {}):
            continue
        out[k] = v
    if author:
        out["Author"] = author
    print(json.dumps(out, indent=1, sort_keys=True))


def read_expect(path):
    rules = []
    if not path or not os.path.exists(path):
        return rules
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or parts[0] not in ("tree", "config", "run"):
                print("%s:%d: want KIND PATTERN REASON, KIND tree, config or run" % (path, n))
                sys.exit(2)
            rules.append(parts)
    return rules


def tolerated(rules, kind, key):
    for k, pat, reason in rules:
        if k == kind and fnmatch.fnmatchcase(key, pat):
            return reason
    return None


def diff(kind, a, b, expect):
    rules = read_expect(expect)
    bad = 0

    def report(key, text):
        nonlocal bad
        why = tolerated(rules, kind, key)
        if why is None and kind == "tree" and key in GLOBAL_TREE:
            why = GLOBAL_TREE[key]
        if why is None and kind == "tree":
            for p, r in GLOBAL_TREE.items():
                if key.startswith(p + "/"):
                    why = r
        if why is None:
            bad += 1
            print("  " + text)
        else:
            print("  (tolerated: %s) %s" % (why, text))

    if kind == "tree":
        def load(p):
            with open(p) as f:
                return {l.split("\t", 1)[0]: l.rstrip("\n") for l in f}
        ta, tb = load(a), load(b)
        for p in sorted(set(ta) | set(tb)):
            if p not in tb:
                report(p, "only buildah:   " + ta[p])
            elif p not in ta:
                report(p, "only slimbuild: " + tb[p])
            elif ta[p] != tb[p]:
                report(p, "buildah:   " + ta[p])
                print("    slimbuild: " + tb[p])
    else:
        with open(a) as f:
            ca = json.load(f)
        with open(b) as f:
            cb = json.load(f)
        for k in sorted(set(ca) | set(cb)):
            if ca.get(k) != cb.get(k):
                report(k, "%s: buildah %s, slimbuild %s" % (
                    k, json.dumps(ca.get(k)), json.dumps(cb.get(k))))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "tree":
        tree(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "config":
        config(sys.argv[2], sys.argv[3])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "diff":
        sys.exit(diff(sys.argv[2], sys.argv[3], sys.argv[4],
                      sys.argv[5] if len(sys.argv) == 6 else None))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
