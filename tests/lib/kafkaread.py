"""Read Kafka back with an independent client (kcat) and audit by event id."""
import json
import subprocess
import time
from collections import defaultdict


def _kcat_read(bootstrap, topic, extra=()):
    cmd = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J",
           "-X", "topic.metadata.refresh.interval.ms=1000", "-q", *extra]
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    recs = []
    for line in p.stdout.splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        h = j.get("headers") or []
        headers = {h[i]: h[i + 1] for i in range(0, len(h) - 1, 2)}
        payload = j.get("payload")
        recs.append({"topic": j["topic"], "partition": j["partition"], "offset": j["offset"],
                     "ts_ms": j.get("ts"), "key": j.get("key"),
                     "value": payload.encode() if isinstance(payload, str) else b"",
                     "headers": headers})
    return recs, p


def read_topic(bootstrap, topic, count=None, timeout=60, read_committed=False):
    """All records of topic from the beginning.  With count, retry until at
    least count records are there or timeout passes."""
    deadline = time.time() + timeout
    extra = ("-X", "isolation.level=read_committed") if read_committed else ()
    while True:
        recs, p = _kcat_read(bootstrap, topic, extra)
        if count is None or len(recs) >= count or time.time() > deadline:
            return recs
        time.sleep(0.5)


def audit(recs, gateway_id, expect_last_seq):
    """Check the delivery promises over records read back.

    Returns a dict: missing (seqs 1..expect_last_seq not seen), duplicates
    (extra copies of an id), order_violations (per key, first copies out of
    seq order), ts_mismatch (record timestamp != event time), bad (records
    without the headers or a valid envelope).
    """
    seen = defaultdict(int)
    last_per_key = {}
    order_violations = ts_mismatch = bad = 0
    by_part = sorted(recs, key=lambda r: (r["topic"], r["partition"], r["offset"]))
    for r in by_part:
        rid = r["headers"].get("sg-id")
        if not rid or not rid.startswith(gateway_id + ":") or "sg-source" not in r["headers"] \
                or "content-type" not in r["headers"]:
            bad += 1
            continue
        seq = int(rid.split(":")[-1])
        seen[seq] += 1
        if seen[seq] > 1:
            continue
        try:
            env = json.loads(r["value"])
        except ValueError:
            bad += 1
            continue
        if env.get("id") != rid or env.get("v") != 1 or env.get("sensor") != r["key"]:
            bad += 1
        if r["ts_ms"] != env.get("time_ns", 0) // 1_000_000:
            ts_mismatch += 1
        k = (r["topic"], r["key"])
        if k in last_per_key and last_per_key[k] > seq:
            order_violations += 1
        last_per_key[k] = seq
    missing = [s for s in range(1, expect_last_seq + 1) if s not in seen]
    dups = sum(c - 1 for c in seen.values())
    return {"missing": missing, "duplicates": dups, "order_violations": order_violations,
            "ts_mismatch": ts_mismatch, "bad": bad, "unique": len(seen)}
