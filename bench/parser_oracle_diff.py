#!/usr/bin/env python3
"""Differential check of `slimbuild parse --dump` against an oracle built
from BuildKit's own parser (see tests/parser/corpus/README.md for how the
corpus oracle was built; it is not part of this repository).

    python3 bench/parser_oracle_diff.py ORACLE build/slimbuild DIR

ORACLE is run as `ORACLE -slimbuild-lines Dockerfile` and must print the
dump (exit 0) or `Dockerfile:LINE: message` (exit 1). Every file in DIR
(e.g. a libFuzzer corpus grown by build-fuzz/fuzz/fuzz_parser) is parsed by
both; differences are printed (SHOW=N of them) and counted.
"""
import os, subprocess, sys, shutil, tempfile
oracle, sb, corpus = sys.argv[1], sys.argv[2], sys.argv[3]
d = tempfile.mkdtemp()
df = os.path.join(d, "Dockerfile")
n = bad = 0
shown = 0
for name in sorted(os.listdir(corpus)):
    shutil.copy(os.path.join(corpus, name), df)
    n += 1
    a = subprocess.run([oracle, "-slimbuild-lines", "Dockerfile"], cwd=d, capture_output=True, timeout=10)
    b = subprocess.run([sb, "parse", "--dump", "Dockerfile"], cwd=d, capture_output=True, timeout=10)
    berr = b"\n".join(l for l in b.stderr.split(b"\n") if b": warning: " not in l)
    aerr = b"\n".join(l for l in a.stderr.split(b"\n") if l.startswith(b"Dockerfile:"))
    if a.returncode != b.returncode or a.stdout != b.stdout or (a.returncode and aerr.strip() != berr.strip()):
        bad += 1
        if shown < int(os.environ.get("SHOW", "6")):
            shown += 1
            print("==", name, a.returncode, b.returncode)
            print("  oracle:", (a.stdout + aerr)[:300])
            print("  ours:  ", (b.stdout + berr)[:300])
print(n, "files,", bad, "differ")
