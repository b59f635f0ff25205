"""Reload under load (SIGHUP) into a real Kafka broker: sources added,
removed and restarted, a topic template changed, an invalid file and a
restart-only change in between; audited by event id afterwards: no event
read before or after any reload is lost or sent twice, and the invalid
file changed nothing.
"""
import json
import os
import re
import signal
import time
import urllib.request

from gateway import Gateway
from kafkaread import audit, read_topic

HEAD = """
gateway: {{id: {gw}, status_interval: 1s, shutdown_timeout: 20s}}
spool: {{dir: "{{spool}}", fsync: 10ms, segment_bytes: 4MiB, max_bytes: 512MiB, ack_interval: 50ms}}
kafka: {{bootstrap: "{bootstrap}", topic: "{topic}"}}
view: {{mode: lines}}
http: {{port: 0}}
sources:
"""

SRC = """  - name: {name}
    driver: sim
    topic: "{topic}"
    sensors:
      - {{id: {name}-k, kind: counter, rate: {rate}, replicas: 10}}
"""


def conf(bootstrap, gw, default_topic, sources):
    text = HEAD.format(gw=gw, bootstrap=bootstrap, topic=default_topic)
    for name, topic, rate in sources:
        text += SRC.format(name=name, topic=topic, rate=rate)
    return text


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def value(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_reload_under_load_loses_and_duplicates_nothing(tmp_path, kafka):
    topics = ["rl.a", "rl.b", "rl.c", "rl.a2"]
    for t in topics:
        kafka.create_topic(t, partitions=3)
    bs = kafka.bootstrap
    # 5k events/s in all while the set of sources changes under it.
    steps = [
        [("a", "rl.a", 250), ("b", "rl.b", 250)],
        [("a", "rl.a", 250), ("b", "rl.b", 250), ("c", "rl.c", 100)],     # add c
        [("a", "rl.a", 250), ("c", "rl.c", 100)],                          # remove b
        [("a", "rl.a2", 250), ("c", "rl.c", 100)],                         # a: new topic
        [("a", "rl.a2", 300), ("c", "rl.c", 100), ("b", "rl.b", 200)],     # a changed, b back
    ]
    gw = Gateway(tmp_path, conf(bs, "rl", "rl.default", steps[0])).start()
    port = gw.http_port()
    reloads = 0
    ok_reloads = 0
    for i in range(20):
        time.sleep(0.4)
        kind = i % 7
        if kind == 5:
            # An invalid file: reported, nothing changes.
            gw.conf.write_text(gw.conf.read_text() + "\nsources: [unclosed\n")
        elif kind == 6:
            # A restart-only change: reported, nothing applied.
            gw.conf.write_text(conf(bs, "rl", "rl.default", steps[i % len(steps)]).replace(
                "max_bytes: 512MiB", "max_bytes: 256MiB").replace("{spool}", str(gw.spool)))
        else:
            gw.conf.write_text(conf(bs, "rl", "rl.default", steps[(i + 1) % len(steps)])
                               .replace("{spool}", str(gw.spool)))
            ok_reloads += 1
        gw.proc.send_signal(signal.SIGHUP)
        reloads += 1
    time.sleep(1.0)
    log = gw.log()
    assert log.count("reload requested") == reloads, log[-3000:]
    assert "is not valid; keeping the running configuration" in log
    assert "spool.max_bytes changed, which takes effect only after a restart" in log
    assert log.count("reload applied:") >= ok_reloads - 3, log[-3000:]  # unchanged ones say so
    # Still serving, and the sources of the last applied file are up.
    text = metrics(port)
    assert value(text, 'sensorgate_source_up{source="a"}') == 1
    assert gw.stop() == 0
    st = gw.spool_stat()
    last = st["last_seq"]
    assert st["acked"] == last and st["pending"] == 0, st
    recs = []
    for t in topics:
        recs += read_topic(bs, t)
    a = audit(recs, "rl", last)
    assert not a["missing"], f"lost {len(a['missing'])} events, first {a['missing'][:10]}"
    assert a["duplicates"] == 0, a
    assert a["bad"] == 0 and a["order_violations"] == 0, a
    assert a["unique"] == last
    assert last > 5000, last
    # Events went where the file said at the time: a's events moved topic.
    assert any(r["topic"] == "rl.a2" for r in recs) and any(r["topic"] == "rl.a" for r in recs)


def test_reload_sees_a_changed_secret(tmp_path, kafka_mock):
    """A password changed in its file, and nothing else, is a change: the
    source that uses it restarts with it (the comparison holds digests of
    the secrets, not the masked text, in which every password looks the
    same); an untouched file is still "not changed"."""
    from mosquitto import Mosquitto
    pw = tmp_path / "mqtt-password"
    pw.write_text("first-secret\n")
    broker = Mosquitto(tmp_path, passwords={"sg": "first-secret"}).start()
    text = f"""
gateway: {{id: gw-secret, shutdown_timeout: 5s}}
spool: {{dir: "{{spool}}", ack_interval: 50ms}}
kafka: {{bootstrap: "{kafka_mock.bootstrap}", topic: t}}
view: {{mode: lines}}
sources:
  - name: m
    driver: mqtt
    host: 127.0.0.1
    port: {broker.port}
    username: sg
    password: "file:{pw}"
    reconnect_min: 100ms
    reconnect_max: 500ms
    subscriptions: [{{filter: "a/#", qos: 1}}]
    rules: [{{filter: "a/#"}}]
"""
    gw = Gateway(tmp_path, text).start()
    try:
        gw.wait_log(r'\[m\] subscribed "a/#"')
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"reload: the configuration has not changed")
        # The broker now wants another password; the gateway learns it
        # from the file, and only from the file.
        broker.stop()
        broker = Mosquitto(tmp_path, port=broker.port, passwords={"sg": "second-secret"},
                           name="mosq2").start()
        pw.write_text("second-secret\n")
        n_sub = len(re.findall(r'\[m\] subscribed "a/#"', gw.log()))
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"reload: restarting source m \(changed\)")
        deadline = time.time() + 15
        while len(re.findall(r'\[m\] subscribed "a/#"', gw.log())) <= n_sub:
            assert time.time() < deadline, gw.log()[-3000:]
            time.sleep(0.1)
        assert "first-secret" not in gw.log() and "second-secret" not in gw.log()
        assert gw.stop() == 0
    finally:
        gw.kill9()
        broker.stop()
