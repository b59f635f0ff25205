#!/usr/bin/env python3
"""Every metric the code registers is described in the metrics table
(gateway/metrics/families.c), and every row of the table is registered
somewhere: the exposition's HELP lines and docs/metrics.md never miss a
metric, and never list one that does not exist.

Registrations are found as string literals passed to sg_metric(),
sg_source_counter() and the MQTT driver's map_counter().  Exit 0 when both
directions hold; otherwise one line per problem and exit 1.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALL = re.compile(r'\b(?:sg_metric|sg_source_counter|map_counter)\s*\(\s*(?:[^,()"]+,\s*)?"([a-z0-9_]+)"')
ROW = re.compile(r'^\s*(?:C|G|GS)\("([a-z0-9_]+)"|^\s*\{"([a-z0-9_]+)", "sensorgate_', re.M)


def main():
    used = {}
    for top in ("gateway", "drivers"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if not f.endswith(".c") or f == "families.c":
                    continue
                path = os.path.join(d, f)
                with open(path, encoding="utf-8") as fp:
                    for m in CALL.finditer(fp.read()):
                        used.setdefault(m.group(1), os.path.relpath(path, ROOT))
    with open(os.path.join(ROOT, "gateway/metrics/families.c"), encoding="utf-8") as fp:
        table = {a or b for a, b in ROW.findall(fp.read())}
    errors = [f"{where}: metric '{name}' is not in gateway/metrics/families.c"
              for name, where in sorted(used.items()) if name not in table]
    errors += [f"gateway/metrics/families.c: '{name}' is in the table but nothing registers it"
               for name in sorted(table - set(used)) if name not in ("delivery_latency",)]
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
