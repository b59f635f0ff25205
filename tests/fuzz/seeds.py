#!/usr/bin/env python3
"""seeds.py OUTDIR - seed inputs for the JSON fuzz targets: the committed
corpus (tests/fuzz/corpus/json) and every payload of the device fixtures
(tests/fixtures/mqtt/*.json), one file each."""
import glob
import json
import os
import shutil
import sys

out = sys.argv[1]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
for f in glob.glob("tests/fuzz/corpus/json/*"):
    shutil.copy(f, out)
for f in glob.glob("tests/fixtures/mqtt/*.json"):
    name = os.path.basename(f)[:-5]
    for i, m in enumerate(json.load(open(f))["messages"]):
        with open(os.path.join(out, f"{name}-{i}"), "w") as fp:
            fp.write(m["payload"])
