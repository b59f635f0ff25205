#!/usr/bin/env python3
"""The import graph of the C sources: no cycles, and the core never reaches
into a driver's folder.

Checked:
  1. the file include graph has no cycle: no two headers include each
     other, directly or through others;
  2. nothing under gateway/ includes a header under drivers/ except
     drivers/driver.h, the driver table's contract;
  3. drivers include nothing of the gateway but gateway/base/, the config
     table walker (gateway/config/table*.h) and the metrics registry.
Exit 0 when all hold; otherwise one line per violation and exit 1.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
DRIVER_MAY_USE = ("gateway/base/", "gateway/config/table", "gateway/core/metrics.h")


def sources():
    for top in ("gateway", "drivers"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), ROOT)


def resolve(path, inc):
    local = os.path.normpath(os.path.join(os.path.dirname(path), inc))
    if os.path.exists(os.path.join(ROOT, local)):
        return local
    if os.path.exists(os.path.join(ROOT, inc)):
        return os.path.normpath(inc)
    return None  # a system or generated header


def main():
    errors = []
    graph = {}
    for path in sorted(sources()):
        with open(os.path.join(ROOT, path), encoding="utf-8") as fp:
            text = fp.read()
        for inc in INC.findall(text):
            target = resolve(path, inc)
            if not target:
                continue
            if path.startswith("gateway/") and target.startswith("drivers/") \
                    and target != "drivers/driver.h":
                errors.append(f"{path}: includes {target}: the core reaches drivers "
                              "only through drivers/driver.h")
            if path.startswith("drivers/") and target.startswith("gateway/") \
                    and not target.startswith(DRIVER_MAY_USE):
                errors.append(f"{path}: includes {target}: drivers know only the "
                              "core's base helpers, config tables and metrics")
            graph.setdefault(path, set()).add(target)
    # Cycles, by depth-first search with colours.
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cyc = stack[stack.index(d):] + [d]
                errors.append("include cycle: " + " -> ".join(cyc))
            elif not state.get(d):
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
