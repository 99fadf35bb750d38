#!/usr/bin/env python3
"""scripts/check-layering rejects an include the layering table forbids and accepts the
real tree: a folder reaching up a layer fails the build."""
import os
import subprocess
import sys
import tempfile

checker, src, table = sys.argv[1], sys.argv[2], sys.argv[3:]


def run(src_dir, args):
    return subprocess.run([sys.executable, checker, "--src", src_dir] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


failures = []
# The real tree passes with the real table.
r = run(src, table)
if r.returncode != 0:
    failures.append("the source tree fails its own layering table:\n" + r.stderr)

with tempfile.TemporaryDirectory() as d:
    for mod in ("http1", "pipeline", "base"):
        os.makedirs(os.path.join(d, mod))
    with open(os.path.join(d, "base", "log.h"), "w") as f:
        f.write("#pragma once\n")
    with open(os.path.join(d, "pipeline", "exchange.h"), "w") as f:
        f.write('#include "http1/h1_server.h"\n#include "base/log.h"\n')
    with open(os.path.join(d, "http1", "h1_server.h"), "w") as f:
        f.write('#pragma once\n#include "base/log.h"\n')
    small = ["base=", "http1=base", "pipeline=base,http1"]
    r = run(d, small)
    if r.returncode != 0:
        failures.append("a correct tree was rejected: " + r.stderr)
    # A codec that knows the pipeline: refused, with file, line and what is allowed.
    with open(os.path.join(d, "http1", "h1_server.cc"), "w") as f:
        f.write('#include "http1/h1_server.h"\n#include "pipeline/exchange.h"\n')
    r = run(d, small)
    want = ('src/http1/h1_server.cc:2: http1 may not include "pipeline/exchange.h" '
            "(it may include: base;")
    if r.returncode == 0 or want not in r.stderr:
        failures.append("an upward include was not refused as expected: rc=%d %s"
                        % (r.returncode, r.stderr))
    # A folder the table does not know.
    os.makedirs(os.path.join(d, "stray"))
    os.remove(os.path.join(d, "http1", "h1_server.cc"))
    r = run(d, small)
    if r.returncode == 0 or "src/stray/: a folder that is not a module" not in r.stderr:
        failures.append("an unknown folder was not refused: " + r.stderr)

for f in failures:
    print("FAIL: " + f)
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
