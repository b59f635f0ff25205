"""Hostile and broken payloads through a real mosquitto into a real Kafka
broker: 10,000 levels of nesting, huge numbers, NaN and Infinity,
duplicate member names, invalid UTF-8, a string where a number belongs, a
1 MB message with 100,000 fields (parsed: max_payload is 2 MiB here),
interleaved with good messages.  The gateway must not crash, every good
message must arrive in order, every bad one must be in the dead-letter
topic once with its reason, and the gateway's peak memory must stay
bounded (printed; checked except under ASan, whose quarantine keeps freed
memory resident; tests/unit/test_mqtt_badinput.c measures CPU per
message).
"""
import json
import os
import re
import subprocess
import time

from gateway import Gateway
from kafkaread import read_topic
from mosquitto import Mosquitto

CONF = """
gateway: {{id: {gw}, shutdown_timeout: 10s}}
spool: {{dir: "{{spool}}", fsync: 100ms, ack_interval: 100ms}}
kafka: {{bootstrap: "{bootstrap}", topic: bad.other}}
view: {{mode: lines}}
http: {{port: 0}}
sources:
  - name: bad
    driver: mqtt
    host: 127.0.0.1
    port: {port}
    client_id: sg-{gw}
    reconnect_min: 100ms
    max_payload: 2MiB
    dead_letter_topic: bad.dead
    subscriptions: [{{filter: "in/#", qos: 1}}]
    rules:
      - filter: "in/wild"
        topic: bad.wild
        sensor: "wild/{{field}}"
        payload: json
        wildcard: ""
      - filter: "in/+"
        topic: bad.good
        key: "{{1}}"
        sensor: "{{1}}/{{field}}"
        payload: json
        fields: [{{id: v, pointer: /v, type: number}}]
"""


def big(n=100000):
    return ("{" + ",".join(f'"a{i:06d}":{i % 10}' for i in range(n)) + "}").encode()


BAD = [
    ("in/dev", b'{"v":' + b"[" * 10000 + b"]" * 10000 + b"}", "too_deep"),
    ("in/dev", b'{"v":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}", "too_deep"),
    ("in/dev", b'{"v":1e400}', "bad_number"),
    ("in/dev", b'{"v":' + b"9" * 5000 + b"}", "bad_number"),
    ("in/dev", b'{"v":NaN}', "non_finite"),
    ("in/dev", b'{"v":-Infinity}', "non_finite"),
    ("in/dev", b'{"v":1,"v":2}', "duplicate_key"),
    ("in/dev", b'{"v":1,"s":"\xc0\xaf"}', "invalid_utf8"),
    ("in/dev", b'{"v":1,"s":"\xed\xa0\x80"}', "invalid_utf8"),
    ("in/dev", b'{"v":"21.5"}', "wrong_type"),
    ("in/dev", b'{"w":1}', "missing_field"),
    ("in/dev", b'{"v":1', "invalid_json"),
    ("in/wild", big(), "too_many_events"),
    ("in/dev", big()[:-1] + b',"a000007":1}', "duplicate_key"),
]


def read_dead(bootstrap, topic, count, timeout=60):
    """Like kafkaread.read_topic, for values that are not UTF-8: kcat's JSON
    output carries such bytes as lone surrogates (the value is then not
    the original; only its headers are compared)."""
    deadline = time.time() + timeout
    while True:
        p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                            "-J", "-q"], capture_output=True, timeout=120)
        recs = []
        for line in p.stdout.decode("utf-8", "surrogateescape").splitlines():
            j = json.loads(line)
            h = j.get("headers") or []
            recs.append({"value": (j.get("payload") or "").encode("utf-8", "surrogatepass"),
                         "headers": {h[i]: h[i + 1] for i in range(0, len(h) - 1, 2)}})
        if len(recs) >= count or time.time() > deadline:
            return recs
        time.sleep(0.5)


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))


def test_bad_input_dead_lettered_good_delivered(tmp_path, kafka):
    broker = Mosquitto(tmp_path).start()
    gw = Gateway(tmp_path, CONF.format(gw="badin", bootstrap=kafka.bootstrap,
                                       port=broker.port)).start()
    try:
        gw.wait_log(r'subscribed "in/#"')
        broker.pub("in/dev", b'{"v":-1}')
        gw.wait_drained(timeout=60, min_seq=1)
        base = vm_hwm_kb(gw.proc.pid)
        good = 0
        for i, (topic, payload, _) in enumerate(BAD):
            broker.pub(topic, payload)
            broker.pub("in/dev", json.dumps({"v": i}).encode())
            good += 1
        for _ in range(3):  # the big one again: the scratch does not keep growing
            broker.pub("in/wild", big())
        total = 1 + good + len(BAD) + 3
        gw.wait_drained(timeout=120, min_seq=total)
        peak = vm_hwm_kb(gw.proc.pid)
        assert gw.running(), "the gateway died"
        assert gw.stop() == 0
    finally:
        gw.kill9()
        broker.stop()
    assert gw.spool_stat()["last_seq"] == total
    print(f"\nbad input: peak RSS {base / 1024:.1f} MiB before, {peak / 1024:.1f} MiB after "
          f"{len(BAD) + 3} bad messages (1.2 MB ones included)")
    if not os.environ.get("ASAN_OPTIONS"):  # ASan's quarantine keeps freed memory resident
        assert peak - base < 64 * 1024, f"peak memory grew by {(peak - base) / 1024:.0f} MiB"

    recs = sorted(read_topic(kafka.bootstrap, "bad.good", count=1 + good, timeout=60),
                  key=lambda r: r["offset"])
    assert [json.loads(r["value"])["value"] for r in recs] == [-1] + list(range(good))
    dead = read_dead(kafka.bootstrap, "bad.dead", count=len(BAD) + 3)
    dead.sort(key=lambda r: int(r["headers"]["sg-id"].rsplit(":", 1)[1]))
    assert len(dead) == len(BAD) + 3
    want = [r for _, _, r in BAD] + ["too_many_events"] * 3
    assert [d["headers"]["sg-error-reason"] for d in dead] == want
    for d, (topic, payload, _) in zip(dead, BAD + [("in/wild", big(), "")] * 3):
        h = d["headers"]
        assert h["mqtt-topic"] == topic
        assert h["mqtt-payload-size"] == str(len(payload))
        assert h["sg-error"]
        if len(payload) > 1 << 20:  # over the spool's max_record_bytes: the head
            assert len(d["value"]) == 1024
        elif b"\xc0" not in payload and b"\xed" not in payload:
            assert d["value"] == payload
    assert read_topic(kafka.bootstrap, "bad.wild", timeout=5) == []
    assert "lost after ack 0" in gw.log()
