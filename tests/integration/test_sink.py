"""`sensorgate sink`: Kafka back into files and SQLite, in a consumer group.

The sink commits offsets only after its write is durable, so a kill -9 of
the sink re-reads the uncommitted tail; the SQLite sink keys rows by event
id, so those re-reads leave no duplicate rows.
"""
import json
import signal
import sqlite3
import subprocess
import time

from gateway import Gateway, sg_bin

CONF = """
gateway: {{id: sk}}
spool: {{dir: "{{spool}}", fsync: 50ms}}
kafka: {{bootstrap: "{bs}", topic: "sink.{{source}}"}}
view: {{mode: off}}
sources:
  - name: a
    driver: sim
    limit: {n}
    sensors: [{{id: x, kind: counter, rate: 100, replicas: 40}}]
"""


def sink(bs, *args):
    return subprocess.Popen([sg_bin(), "sink", "-b", bs, "-t", "^sink\\..*", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sqlite_sink_survives_kill9_without_duplicates(tmp_path, kafka_mock):
    n = 20000
    kafka_mock.cmd("topic sink.a 8")
    gw = Gateway(tmp_path, CONF.format(bs=kafka_mock.bootstrap, n=n)).start()
    db = tmp_path / "events.db"
    p = sink(kafka_mock.bootstrap, "-g", "g1", "--from-beginning", "--to", f"sqlite:{db}")
    time.sleep(3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    gw.wait_drained(timeout=60, min_seq=n)
    assert gw.stop() == 0
    p = sink(kafka_mock.bootstrap, "-g", "g1", "--from-beginning", "--to", f"sqlite:{db}",
             "--idle-exit", "4")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    con = sqlite3.connect(db)
    rows = con.execute("select count(*), count(distinct id), min(id like 'sk:%') from events").fetchone()
    assert rows == (n, n, 1), rows
    env = json.loads(con.execute("select value from events limit 1").fetchone()[0])
    assert env["v"] == 1 and env["gateway"] == "sk"


def test_file_sink_and_consumer_group_share_partitions(tmp_path, kafka_mock):
    n = 8000
    kafka_mock.cmd("topic sink.a 8")
    gw = Gateway(tmp_path, CONF.format(bs=kafka_mock.bootstrap, n=n)).start()
    gw.wait_drained(timeout=60, min_seq=n)
    assert gw.stop() == 0
    f1, f2 = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    p1 = sink(kafka_mock.bootstrap, "-g", "shared", "--from-beginning", "--to", f"file:{f1}",
              "--idle-exit", "6")
    p2 = sink(kafka_mock.bootstrap, "-g", "shared", "--from-beginning", "--to", f"file:{f2}",
              "--idle-exit", "6")
    for p in (p1, p2):
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
    lines = [json.loads(x) for f in (f1, f2) if f.exists() for x in f.read_text().splitlines()]
    ids = {x["id"] for x in lines}
    assert len(ids) == n
    # Each partition was read by one member of the group at a time.
    parts1 = {x["partition"] for x in map(json.loads, f1.read_text().splitlines())} if f1.exists() else set()
    parts2 = {x["partition"] for x in map(json.loads, f2.read_text().splitlines())} if f2.exists() else set()
    assert parts1 and parts2, "both group members should have had partitions"


def test_sink_usage_errors():
    r = subprocess.run([sg_bin(), "sink", "-b", "x:1", "-t", "t", "--to", "ftp:x"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown target" in r.stderr
    r = subprocess.run([sg_bin(), "sink"], capture_output=True, text=True)
    assert r.returncode == 2


def run_sink(*args, timeout=120):
    return subprocess.run([sg_bin(), "sink", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_sink_refused_properties_exit_2_naming_the_key():
    """-X goes through the client layer: every refused key is named, and
    nothing connects (the bootstrap is unreachable on purpose)."""
    base = ["-b", "127.0.0.1:1", "-t", "t", "--to", "stdout"]
    r = run_sink(*base, "-X", "no.such.property=1", "-X", "group.id=mine",
                 "-X", "security.protocol=carrier-pigeon")
    assert r.returncode == 2, r.stderr
    assert "-X no.such.property: No such configuration property" in r.stderr
    assert "-X group.id: set by sensorgate for the sink; use -g" in r.stderr
    assert "-X security.protocol: " in r.stderr
    r = run_sink(*base, "-X", "novalue")
    assert r.returncode == 2 and "-X 'novalue': expected KEY=VALUE" in r.stderr


def test_sink_numbers_are_parsed_strictly():
    base = ["-b", "127.0.0.1:1", "-t", "t", "--to", "stdout"]
    for opt, bad in (("--count", "abc"), ("--count", "10x"), ("--count", "0"),
                     ("--count", "-3"), ("--idle-exit", "1.5"), ("--idle-exit", "-1"),
                     ("--idle-exit", "")):
        r = run_sink(*base, opt, bad)
        assert r.returncode == 2, (opt, bad, r.stderr)
        assert f"sink: {opt} '{bad}': expected a whole number" in r.stderr, r.stderr


SINK_CONF = """
gateway: {{id: sinkconf}}
kafka:
  bootstrap: "{bs}"
  properties:
    linger.ms: "5"
    fetch.wait.max.ms: "50"
    socket.keepalive.enable: "true"
"""


def test_sink_takes_kafka_settings_from_a_config_file(tmp_path, kafka):
    """-c FILE: the bootstrap and kafka.properties come from a gateway
    config (no -b); producer-only properties in it neither fail the
    consumer nor make librdkafka warn."""
    kafka.create_topic("sinkconf", partitions=2)
    n = 200
    kafka.produce("sinkconf", [(f"k{i % 5}", f"v{i}") for i in range(n)])
    conf = tmp_path / "gw.yaml"
    conf.write_text(SINK_CONF.format(bs=kafka.bootstrap))
    out = tmp_path / "out.jsonl"
    r = run_sink("-c", str(conf), "-t", "sinkconf", "-g", "conf-group", "--from-beginning",
                 "--to", f"file:{out}", "--count", str(n), "-X", "queue.buffering.max.ms=7",
                 "--idle-exit", "60")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["value"] for x in lines) == sorted(f"v{i}" for i in range(n))
    assert "CONFWARN" not in r.stderr and "will be ignored" not in r.stderr, r.stderr

    # The same file with a property librdkafka refuses: exit 2, named.
    conf.write_text(SINK_CONF.format(bs=kafka.bootstrap) + "    no.such.property: x\n")
    r = run_sink("-c", str(conf), "-t", "sinkconf", "--to", "stdout")
    assert r.returncode == 2
    assert "kafka.properties.no.such.property: No such configuration property" in r.stderr
    # The embedded cluster lives inside a gateway: -b is needed then.
    conf.write_text("kafka: {bootstrap: embedded}\n")
    r = run_sink("-c", str(conf), "-t", "sinkconf", "--to", "stdout")
    assert r.returncode == 2 and "kafka.bootstrap is embedded" in r.stderr


def test_count_stops_at_count_and_sigterm_exits_while_records_flow(tmp_path, kafka_mock):
    """With records arriving all the time: --count N writes exactly N (it
    stopped only at a commit, up to a whole batch later), and a SIGTERM on
    a sink in mid-stream ends it promptly and cleanly (a record polled on
    the pass that read the signal was kept, and the consumer's destroy
    waited for it for good)."""
    n = 200000
    kafka_mock.cmd("topic sink.a 4")
    gw = Gateway(tmp_path, CONF.format(bs=kafka_mock.bootstrap, n=n).replace(
        "rate: 100, replicas: 40", "rate: 500, replicas: 40")).start()
    try:
        out1 = tmp_path / "count.jsonl"
        p = sink(kafka_mock.bootstrap, "-g", "c1", "--from-beginning", "--to", f"file:{out1}",
                 "--count", "7")
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, out
        assert len(out1.read_text().splitlines()) == 7, out
        for k in range(5):
            f = tmp_path / f"term{k}.jsonl"
            p = sink(kafka_mock.bootstrap, "-g", f"t{k}", "--from-beginning", "--to", f"file:{f}")
            deadline = time.time() + 30
            while not (f.exists() and f.stat().st_size > 0):
                assert time.time() < deadline and p.poll() is None
                time.sleep(0.05)
            p.send_signal(signal.SIGTERM)
            out, _ = p.communicate(timeout=20)
            assert p.returncode == 0, out
    finally:
        assert gw.stop() == 0
