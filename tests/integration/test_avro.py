"""kafka.format: avro end to end (issue 17), against a real Schema Registry
(Apicurio Registry 2.6, its Confluent-compatible API; tests/lib/registry.py)
and a real Kafka broker.

What the gateway wrote is read back by an independent consumer: Python's
confluent-kafka Consumer with its SchemaRegistryClient and AvroDeserializer
(the schema fetched by id), and every field compared with the JSON
envelope of the same event, as `sensorgate spool dump` renders it from the
spool before delivery.  Registry down at start and for 30 s mid-stream, a
wrong password behind https: nothing lost.  Schema evolution against the
registry's BACKWARD check.  The sink decodes Avro back into the envelope.
"""
import io
import json
import re
import subprocess
import time
import urllib.request
from datetime import datetime, timezone

import fastavro
import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from gateway import Gateway, sg_bin
from registry import ROOT, Front, Registry, call

AVSC = ROOT / "gateway/schema/sensorgate.avsc"

CONF = """
gateway: {{id: {gw}, shutdown_timeout: 3s}}
spool: {{dir: "{{spool}}", fsync: 50ms, ack_interval: 100ms}}
kafka:
  bootstrap: "{bootstrap}"
  topic: "{topic}"
  format: avro
  delivery: {delivery}
schema_registry:
{registry}
view: {{mode: lines}}
sources:
{sources}
"""

SIM = """  - name: {name}
    driver: sim
    {extra}
    sensors:
      - {{id: temp, kind: sine, rate: {rate}, min: -5, max: 30, period: 10s, unit: degC}}
      - {{id: count, kind: counter, rate: {rate}}}
      - {{id: door, kind: toggle, rate: {rate}}}
"""


def conf(kafka, gw, topic, registry, rate=20, sources=None, delivery="at_least_once"):
    reg = "\n".join(f"  {k}: {v}" for k, v in registry.items())
    return CONF.format(gw=gw, bootstrap=kafka.bootstrap, topic=topic, registry=reg,
                       delivery=delivery,
                       sources=sources or SIM.format(name="s1", rate=rate, extra=""))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry")).start()
    yield r
    r.stop()


def dump(gw):
    """The JSON envelope of every undelivered record, by event id."""
    out = subprocess.run([sg_bin(), "spool", "dump", str(gw.spool)], capture_output=True,
                         text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        m = re.search(r" id=(\S+) value=(\{.*\})$", line)
        if m:
            env[m.group(1)] = json.loads(m.group(2))
    return env


def consume(kafka, topics, registry_url, count, timeout=60, isolation="read_uncommitted"):
    """Every record of topics, keys and values decoded by confluent-kafka's
    AvroDeserializer with the schemas it fetches by id."""
    sr = SchemaRegistryClient({"url": registry_url})
    de = AvroDeserializer(sr)
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"avro-{time.time_ns()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": isolation})
    c.subscribe(topics)
    recs, deadline = [], time.time() + timeout
    try:
        while len(recs) < count and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            ctx = SerializationContext(m.topic(), MessageField.VALUE, m.headers())
            headers = {k: v.decode() for k, v in (m.headers() or [])}
            key = m.key()
            if key and key[:1] == b"\x00":
                key = de(key, SerializationContext(m.topic(), MessageField.KEY))
            else:
                key = key.decode() if key else None
            recs.append({"topic": m.topic(), "key": key, "raw": m.value(),
                         "value": de(m.value(), ctx), "headers": headers,
                         "ts_ms": m.timestamp()[1]})
    finally:
        c.close()
    return recs


def same_event(avro, env):
    """Every field of the Avro record equals the envelope's."""
    t = datetime.fromisoformat(env["time"][:26] + "+00:00")  # us precision
    assert avro["time"] == t.replace(tzinfo=timezone.utc), (avro, env)
    for f in ("id", "seq", "gateway", "source", "sensor", "time_ns", "type", "quality"):
        assert avro[f] == env[f], (f, avro, env)
    for f in ("unit", "reason"):
        assert avro[f] == env.get(f), (f, avro, env)
    assert avro["attrs"] == env.get("attrs", {}), (avro, env)
    assert avro["value"] == env["value"], (avro, env)


def drain(gw, timeout=60):
    """Stop, then run once more with the sources off until the spool is
    empty: every event the gateway ever took is in Kafka."""
    assert gw.stop() == 0
    gw.conf.write_text(gw.conf.read_text().replace("    driver: sim\n",
                                                   "    driver: sim\n    enabled: false\n"))
    gw.start()
    st = gw.wait_drained(timeout=timeout)
    assert gw.stop() == 0
    return st


def metric(gw, name, labels=""):
    port = gw.http_port()
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith(name) and labels in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def ready(gw):
    port = gw.http_port()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def registry_check(body):
    return next(c for c in body["checks"] if c["name"] == "schema_registry")


def test_registry_down_at_start_then_every_field_decodes(tmp_path, kafka, registry):
    """The registry is unreachable at start: events wait in the spool,
    /ready says why; once it answers, all are delivered in Avro, and an
    independent consumer decodes each to the envelope of the same event."""
    kafka.create_topic("avro.e2e", partitions=3)
    down = {"url": "http://127.0.0.1:1/apis/ccompat/v7", "retry_max": "500ms"}
    gw = Gateway(tmp_path, conf(kafka, "av1", "avro.e2e", down))
    gw.start()
    gw.wait_log(r"unreachable: .*events wait in the spool", timeout=10)
    time.sleep(2)
    status, body = ready(gw)
    assert status == 503 and not registry_check(body)["ok"], body
    assert metric(gw, "sensorgate_schema_registry_errors_total", 'reason="unreachable"') >= 2
    assert metric(gw, "sensorgate_schema_registry_up") == 0
    assert metric(gw, "sensorgate_kafka_produced_total") == 0
    assert gw.stop() == 0
    envs = dump(gw)
    assert len(envs) >= 60, len(envs)

    gw.conf.write_text(gw.conf.read_text().replace(down["url"], registry.url))
    gw.start()
    gw.wait_log(r"subject 'avro\.e2e-value' has schema id \d+")
    time.sleep(1)
    status, body = ready(gw)
    assert registry_check(body)["ok"], body
    st = drain(gw)
    recs = consume(kafka, ["avro.e2e"], registry.url, st["last_seq"])
    by_id = {r["headers"]["sg-id"]: r for r in recs}
    assert len(by_id) == st["last_seq"] == len(recs), (len(by_id), st)
    for eid, env in envs.items():
        r = by_id[eid]
        same_event(r["value"], env)
        assert r["key"] == env["sensor"]
        assert r["headers"]["content-type"] == "application/vnd.sensorgate.event+avro"
        assert r["ts_ms"] == env["time_ns"] // 1_000_000
    # Values of every kind the sim makes, and all seqs 1..N.
    assert {r["value"]["type"] for r in recs} == {"double", "uint", "bool"}
    assert sorted(r["value"]["seq"] for r in recs) == list(range(1, st["last_seq"] + 1))

    # The sink decodes the same records back into the envelope.
    out = tmp_path / "sink.jsonl"
    r = subprocess.run([sg_bin(), "sink", "-c", str(gw.conf), "-t", "avro.e2e", "--to",
                        f"file:{out}", "--from-beginning", "-g", "avro-sink",
                        "--count", str(st["last_seq"])], capture_output=True, text=True,
                       timeout=90)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == st["last_seq"]
    for line in lines:
        if line["id"] in envs:
            assert json.loads(line["value"]) == envs[line["id"]]
            assert line["key"] == envs[line["id"]]["sensor"]


def test_registry_down_30s_mid_stream_nothing_lost(tmp_path, kafka, registry):
    """The registry dies mid-stream for 30 s while a reload adds a source
    whose topic is a new subject: everything waits in the spool (counted,
    /ready false), nothing is dropped, all is delivered after."""
    kafka.create_topic("avro.mid", partitions=3)
    kafka.create_topic("avro.mid2", partitions=3)
    reg = {"url": registry.url, "retry_max": "1s"}
    gw = Gateway(tmp_path, conf(kafka, "av2", "avro.mid", reg, rate=50))
    gw.start()
    gw.wait_log(r"subject 'avro\.mid-value' has schema id")
    time.sleep(2)
    registry.stop()
    down_at = time.time()
    s2 = SIM.format(name="s2", rate=50, extra='topic: "avro.mid2"')
    gw.conf.write_text(gw.conf.read_text().replace("sources:\n", "sources:\n" + s2, 1))
    gw.proc.send_signal(1)  # SIGHUP: reload
    gw.wait_log(r"reload applied: 1 source\(s\) added")
    gw.wait_log(r"subject 'avro\.mid2-value': unreachable", timeout=15)
    time.sleep(max(0, 25 - (time.time() - down_at)))
    status, body = ready(gw)
    assert status == 503 and not registry_check(body)["ok"], body
    assert metric(gw, "sensorgate_schema_registry_errors_total", 'reason="unreachable"') >= 3
    waiting = gw.spool_stat()["pending"]
    assert waiting > 1000, waiting  # ~25 s of 300 events/s, none sent
    time.sleep(max(0, 30 - (time.time() - down_at)))
    registry.start()
    gw.wait_log(r"schema registry answers again: subject 'avro\.mid2-value'", timeout=30)
    time.sleep(2)
    st = drain(gw)
    recs = consume(kafka, ["avro.mid", "avro.mid2"], registry.url, st["last_seq"], timeout=90)
    seqs = sorted(r["value"]["seq"] for r in recs)
    assert seqs == list(range(1, st["last_seq"] + 1)), (len(seqs), st)  # 0 lost, 0 duplicated
    assert {r["value"]["source"] for r in recs if r["topic"] == "avro.mid2"} == {"s2"}
    assert any(r["value"]["source"] == "s1" for r in recs if r["topic"] == "avro.mid")


def test_wrong_password_clear_error_nothing_lost(tmp_path, kafka, registry, monkeypatch):
    """https with the test CA and basic auth (user from ${ENV}, password
    from file:): a wrong password is a clear error and only a delay."""
    kafka.create_topic("avro.auth", partitions=1)
    front = Front(registry, tmp_path, "sg-user", "right")
    try:
        pw = tmp_path / "password"
        pw.write_text("wrong\n")
        monkeypatch.setenv("SG_TEST_REGISTRY_USER", "sg-user")
        reg = {"url": front.url, "ca_file": str(front.ca), "username": "${SG_TEST_REGISTRY_USER}",
               "password": f"file:{pw}", "retry_max": "500ms"}
        gw = Gateway(tmp_path, conf(kafka, "av3", "avro.auth", reg))
        gw.start()
        gw.wait_log(r"HTTP 401, error 401: Unauthorized; check schema_registry\.username and "
                    r"password")
        time.sleep(1.5)
        assert metric(gw, "sensorgate_schema_registry_errors_total", 'reason="auth"') >= 2
        assert ready(gw)[0] == 503
        assert metric(gw, "sensorgate_kafka_produced_total") == 0
        assert gw.stop() == 0
        pending = gw.spool_stat()["pending"]
        assert pending > 20 and front.refused >= 2

        pw.write_text("right\n")
        gw.start()
        gw.wait_log(r"subject 'avro\.auth-value' has schema id")
        time.sleep(1)
        st = drain(gw)
        recs = consume(kafka, ["avro.auth"], registry.url, st["last_seq"])
        assert sorted(r["value"]["seq"] for r in recs) == list(range(1, st["last_seq"] + 1))
    finally:
        front.close()


def evolved(field):
    text = AVSC.read_text()
    at = text.index('    {"name": "attrs"')
    return text[:at] + field + ",\n" + text[at:]


def test_schema_evolution_against_backward_compatibility(tmp_path, kafka, registry):
    """Adding a nullable field with default null passes the registry's
    BACKWARD check: a new version, old and new records both decode, and a
    reader of the new schema reads the old data.  The same field without a
    default is refused by the registry (HTTP 409, said so), and the events
    wait in the spool until the schema is fixed."""
    kafka.create_topic("avro.evo", partitions=1)
    reg = {"url": registry.url, "retry_max": "500ms"}
    gw = Gateway(tmp_path, conf(kafka, "av4", "avro.evo", reg))
    gw.start()
    gw.wait_log(r"subject 'avro\.evo-value' has schema id (\d+)")
    assert registry.set_compatibility("avro.evo-value", "BACKWARD")[0] == 200
    time.sleep(1)
    assert gw.stop() == 0

    bad = tmp_path / "bad.avsc"
    bad.write_text(evolved('    {"name": "site", "type": ["null", "string"]}'))
    text = gw.conf.read_text().replace("schema_registry:\n",
                                       f"schema_registry:\n  schema_file: {bad}\n")
    gw.conf.write_text(text)
    gw.start()
    gw.wait_log(r"subject 'avro\.evo-value': HTTP 409.*compatibility level", timeout=15)
    time.sleep(1)
    assert metric(gw, "sensorgate_schema_registry_errors_total", 'reason="incompatible"') >= 1
    assert gw.stop() == 0
    assert gw.spool_stat()["pending"] > 0

    good = tmp_path / "good.avsc"
    good.write_text(evolved('    {"name": "site", "type": ["null", "string"], "default": null}'))
    gw.conf.write_text(text.replace(str(bad), str(good)))
    gw.start()
    gw.wait_log(r"subject 'avro\.evo-value' has schema id")
    time.sleep(1)
    st = drain(gw)
    status, versions = registry.versions("avro.evo-value")
    assert status == 200 and len(versions) == 2, versions

    recs = consume(kafka, ["avro.evo"], registry.url, st["last_seq"])
    assert sorted(r["value"]["seq"] for r in recs) == list(range(1, st["last_seq"] + 1))
    ids = {int.from_bytes(r["raw"][1:5], "big") for r in recs}
    assert len(ids) == 2, ids
    assert {r["value"].get("site", "absent") for r in recs} == {"absent", None}
    # BACKWARD: a consumer that moved to the new schema reads the old data.
    new = fastavro.parse_schema(json.loads(good.read_text()))
    old_id = min(ids)
    old = fastavro.parse_schema(json.loads(registry.schema(old_id)[1]["schema"]))
    for r in recs:
        if int.from_bytes(r["raw"][1:5], "big") == old_id:
            v = fastavro.schemaless_reader(io.BytesIO(r["raw"][5:]), old, new)
            assert v["site"] is None and v["seq"] == r["value"]["seq"]


def test_lookup_only_record_names_avro_keys_exactly_once(tmp_path, kafka, registry):
    """auto_register off and RecordNameStrategy: the gateway only looks the
    schema up and says what to do while it is not registered; keys in Avro;
    exactly_once delivery."""
    kafka.create_topic("avro.lock", partitions=3)
    reg = {"url": registry.url, "auto_register": "false", "subject_strategy": "record",
           "key_format": "avro", "retry_max": "500ms"}
    gw = Gateway(tmp_path, conf(kafka, "av5", "avro.lock", reg, delivery="exactly_once"))
    status, _ = call(f"{registry.url}/subjects/sensorgate.Event")
    gw.start()
    if status == 404:
        gw.wait_log(r"subject 'sensorgate\.Event'.*auto_register is off: register the schema",
                    timeout=15)
        assert ready(gw)[0] == 503
    schema = AVSC.read_text()
    assert registry.register("sensorgate.Event", schema)[0] == 200
    assert registry.register("string", '"string"')[0] == 200
    gw.wait_log(r"subject 'string' has schema id", timeout=15)
    time.sleep(1.5)
    st = drain(gw)
    recs = consume(kafka, ["avro.lock"], registry.url, st["last_seq"], isolation="read_committed")
    assert sorted(r["value"]["seq"] for r in recs) == list(range(1, st["last_seq"] + 1))
    assert all(r["raw"][:1] == b"\x00" and r["key"] == r["value"]["sensor"] for r in recs)
