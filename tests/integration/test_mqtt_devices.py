"""The device fixtures (tests/fixtures/mqtt/*.json) end to end: each
documented example config (config/zigbee2mqtt.yaml, tasmota.yaml,
shelly-gen2.yaml, esphome.yaml, generic-json.yaml) runs in a real gateway
against a real mosquitto, the fixture's payloads are published with
mosquitto_pub (QoS 1; retained ones before the gateway subscribes, as a
device's last will is), and what arrives in a real Apache Kafka broker is
read back with kcat and audited record by record:

- exactly the expected records arrive, each once, and nothing else (the
  spool holds exactly as many events as expected);
- in publish order, so the events of one message are consecutive seqs
  (one batch) in the message's field or document order;
- each with the right Kafka topic, key, sensor, value and type, unit,
  quality, event time (envelope time_ns) and record timestamp (the event
  time in ms; the arrival time where the device gave none or a bad one);
- raw records byte for byte with their content type; dead letters with
  the original bytes and sg-error-reason / -rule / -field.

The same fixtures run through the mapper alone in
tests/unit/test_mqtt_devices.c.
"""
import json
import re
import time
from pathlib import Path

import pytest
import yaml

from gateway import Gateway
from kafkaread import read_topic
from mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mqtt"
NAMES = ["zigbee2mqtt", "tasmota", "shelly-gen2", "esphome", "generic-json"]


def gateway_yaml(fx, bootstrap, port, gw_id):
    """The example config as shipped, pointed at the test's broker,
    Kafka and spool."""
    conf = yaml.safe_load((ROOT / fx["config"]).read_text())
    conf["gateway"].update({"id": gw_id, "shutdown_timeout": "10s"})
    conf["spool"].update({"dir": "{spool}", "ack_interval": "100ms"})
    conf["kafka"]["bootstrap"] = bootstrap
    conf["view"] = {"mode": "lines"}
    conf["http"] = {"port": 0}
    src = next(s for s in conf["sources"] if s["name"] == fx["source"])
    src.update({"host": "127.0.0.1", "port": port, "client_id": f"sg-{gw_id}",
                "reconnect_min": "100ms", "reconnect_max": "1s"})
    return yaml.safe_dump(conf, sort_keys=False)


def subscriptions(fx):
    conf = yaml.safe_load((ROOT / fx["config"]).read_text())
    src = next(s for s in conf["sources"] if s["name"] == fx["source"])
    return [s["filter"] for s in src["subscriptions"]]


def expected_records(fx):
    """(message index, record) in publish order, retained ones first."""
    out = []
    order = [i for i, m in enumerate(fx["messages"]) if m.get("retain")] + \
            [i for i, m in enumerate(fx["messages"]) if not m.get("retain")]
    for i in order:
        m = fx["messages"][i]
        if "dead" in m:
            out.append((i, {"dead": m["dead"], "topic": fx["dead_letter_topic"],
                            "key": m["topic"], "raw": m["payload"]}))
        for r in m.get("records", []):
            out.append((i, r))
    return out


def seq_of(rec):
    return int(rec["headers"]["sg-id"].rsplit(":", 1)[1])


def check_event(rec, want, msg, t0_ms, t1_ms, where):
    env = json.loads(rec["value"])
    assert rec["headers"]["content-type"].startswith("application/vnd.sensorgate.event"), where
    assert env["sensor"] == want["sensor"], where
    assert env["type"] == want["type"], (where, env)
    assert env["value"] == want["value"] and type(env["value"]) is type(want["value"]) \
        or (want["type"] == "double" and float(env["value"]) == want["value"]), (where, env)
    assert env.get("unit") == want.get("unit"), (where, env)
    assert env["quality"] == want["quality"], (where, env)
    assert env["id"] == rec["headers"]["sg-id"], where
    if want["time_ns"] is None:  # the arrival time
        assert t0_ms <= rec["ts_ms"] <= t1_ms, (where, rec["ts_ms"], t0_ms, t1_ms)
    else:
        assert env["time_ns"] == want["time_ns"], (where, env["time_ns"])
    assert rec["ts_ms"] == env["time_ns"] // 1_000_000, where
    assert rec["headers"]["mqtt-topic"] == msg["topic"], where


def check_raw(rec, want, msg, where):
    assert rec["value"] == want["raw"].encode(), (where, rec["value"])
    assert rec["headers"]["content-type"] == want["content_type"], where
    assert rec["headers"]["mqtt-topic"] == msg["topic"], where
    assert rec["headers"]["mqtt-qos"] == "1", where


def check_dead(rec, want, msg, where):
    h = rec["headers"]
    assert rec["value"] == msg["payload"].encode(), where  # the original bytes
    assert h["sg-error-reason"] == want["dead"]["reason"], (where, h.get("sg-error"))
    assert h["sg-error-rule"] == str(want["dead"]["rule"]), (where, h)
    if "field" in want["dead"]:
        assert h["sg-error-field"] == want["dead"]["field"], (where, h)
    assert h["mqtt-topic"] == msg["topic"] and h["mqtt-qos"] == "1", where
    assert h["mqtt-payload-size"] == str(len(msg["payload"].encode())), where
    assert f'rules[{want["dead"]["rule"]}]' in h["sg-error"], where


def run_fixture(tmp_path, kafka, name):
    fx = json.loads((FIXTURES / f"{name}.json").read_text())
    gw_id = "dev-" + name.replace("-", "")
    broker = Mosquitto(tmp_path).start()
    try:
        for m in fx["messages"]:
            if m.get("retain"):
                broker.pub(m["topic"], m["payload"].encode(), extra=["-r"])
        gw = Gateway(tmp_path, gateway_yaml(fx, kafka.bootstrap, broker.port, gw_id)).start()
        try:
            for f in subscriptions(fx):
                gw.wait_log(r'subscribed "' + re.escape(f) + '"')
            t0_ms = int(time.time() * 1000) - 1
            for m in fx["messages"]:
                if not m.get("retain"):
                    broker.pub(m["topic"], m["payload"].encode())
            want = expected_records(fx)
            gw.wait_drained(timeout=60, min_seq=len(want))
            t1_ms = int(time.time() * 1000) + 1
            assert gw.stop() == 0
        finally:
            gw.kill9()
    finally:
        broker.stop()
    # exactly as many events as expected: nothing extra, nothing twice
    assert gw.spool_stat()["last_seq"] == len(want), gw.log()[-3000:]
    topics = sorted({r["topic"] for _, r in want})
    got = []
    for t in topics:
        n = sum(1 for _, r in want if r["topic"] == t)
        recs = read_topic(kafka.bootstrap, t, count=n, timeout=60)
        recs = [r for r in recs if r["headers"].get("sg-id", "").startswith(gw_id + ":")]
        assert len(recs) == n, f"{t}: {len(recs)} records, want {n}"
        got += recs
    got.sort(key=seq_of)
    assert [seq_of(r) for r in got] == list(range(1, len(want) + 1))
    nret = sum(1 for i, _ in want if fx["messages"][i].get("retain"))
    # Retained messages arrive on subscribe in the broker's order: match
    # those as a set, the rest in publish order.
    pending = list(got[:nret])
    for k, (i, w) in enumerate(want):
        msg = fx["messages"][i]
        where = f"{name} message {i} ({msg['topic']}), record {k}"
        if k < nret:
            rec = next((r for r in pending if r["topic"] == w["topic"] and r["key"] == w["key"]
                        and r["headers"]["mqtt-topic"] == msg["topic"]), None)
            assert rec is not None, where
            pending.remove(rec)
        else:
            rec = got[k]
        assert rec["topic"] == w["topic"] and rec["key"] == w["key"], (where, rec["topic"], rec["key"])
        assert rec["headers"]["sg-source"] == fx["source"], where
        if "dead" in w:
            check_dead(rec, w, msg, where)
        elif "raw" in w:
            check_raw(rec, w, msg, where)
        else:
            check_event(rec, w, msg, t0_ms, t1_ms, where)
    log = gw.log()
    dead = sum(1 for m in fx["messages"] if "dead" in m)
    assert f"dead-lettered {dead}," in log, log[-2000:]
    assert "lost after ack 0" in log


@pytest.mark.parametrize("name", NAMES)
def test_device_fixture_end_to_end(tmp_path, kafka, name):
    run_fixture(tmp_path, kafka, name)
