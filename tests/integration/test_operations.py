"""Operating the gateway: the metrics endpoint scraped by a real Prometheus
server, the exposition checked by promtool, /health and /ready, and the
systemd notify protocol (READY, STATUS, WATCHDOG, STOPPING) on a datagram
socket of the test's own.
"""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway import Gateway
from procs import die_with_parent

EMBEDDED = """
gateway: {{id: ops, status_interval: 1s, shutdown_timeout: 5s}}
spool: {{dir: "{{spool}}", fsync: 10ms, max_bytes: 64MiB, segment_bytes: 4MiB}}
kafka: {{bootstrap: embedded, topic: "ops.{{source}}", embedded_brokers: 1}}
view: {{mode: lines}}
http: {{port: 0{http_extra}}}
sources:
  - name: s1
    driver: sim
    limit: {limit}
    sensors:
      - {{id: c, kind: counter, rate: 500}}
"""


def get(port, path, accept=None, timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def sample(text, name):
    """The value of the sample line `name` (with its labels) in an exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timeout waiting for {what} (last: {last!r})")


def test_metrics_probes_and_promtool(tmp_path):
    gw = Gateway(tmp_path, EMBEDDED.format(limit=1000, http_extra="")).start()
    port = gw.http_port()
    # Every event read, spooled and delivered shows up under its name.
    def drained():
        st, _, text = get(port, "/metrics")
        return st == 200 and sample(text, "sensorgate_kafka_delivered_total") == 1000 and text
    text = wait_for(drained, 30, "1000 deliveries in /metrics")
    assert sample(text, 'sensorgate_events_read_total{source="s1"}') == 1000
    assert sample(text, 'sensorgate_events_spooled_total{source="s1"}') == 1000
    assert sample(text, 'sensorgate_events_delivered_total{source="s1"}') == 1000
    assert sample(text, "sensorgate_delivery_latency_seconds_count") == 1000
    # The producer's connection: the embedded cluster's one broker, no
    # error, no refused topic, no transaction in at_least_once.
    assert sample(text, "sensorgate_kafka_brokers_up") == 1
    assert sample(text, "sensorgate_kafka_topics_refused") == 0
    assert sample(text, 'sensorgate_kafka_transactions_total{result="committed"}') == 0
    assert sample(text, "sensorgate_spool_max_bytes") == 64 * 1024 * 1024
    assert 'sensorgate_build_info{version="' in text
    assert "# TYPE sensorgate_events_read_total counter" in text
    # promtool, Prometheus's own checker, accepts the exposition.
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is missing"
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # OpenMetrics on request.
    st, ctype, om = get(port, "/metrics", accept="application/openmetrics-text;version=1.0.0")
    assert st == 200 and ctype.startswith("application/openmetrics-text"), ctype
    assert om.endswith("# EOF\n") and "# TYPE sensorgate_events_read counter" in om
    # Probes: live and ready, with reasons in JSON.
    st, ctype, body = get(port, "/health")
    assert st == 200 and ctype == "application/json" and json.loads(body)["status"] == "ok"
    st, _, body = get(port, "/ready")
    assert st == 200, body
    names = {c["name"] for c in json.loads(body)["checks"]}
    assert {"loop:main", "spool", "kafka:delivery", "running"} <= names, names
    assert {"loop:producer", "kafka:brokers", "kafka:topics"} <= names, names
    st, _, _ = get(port, "/nope")
    assert st == 404
    assert gw.stop() == 0


def test_not_ready_while_kafka_is_unreachable(tmp_path):
    """Kafka down: /ready says 503 and why; /health stays 200 (the gateway
    is doing its job: keeping events in the spool)."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there
    conf = EMBEDDED.format(limit=200, http_extra=", ready_max_age: 2s").replace(
        "bootstrap: embedded", f'bootstrap: "127.0.0.1:{dead_port}"')
    gw = Gateway(tmp_path, conf).start()
    port = gw.http_port()

    def not_ready():
        # No broker shows at once (kafka:brokers, and the connection's
        # error); records waiting too long once ready_max_age passed.
        st, _, body = get(port, "/ready")
        return st == 503 and '"kafka:delivery","ok":false' in body and body
    body = json.loads(wait_for(not_ready, 20, "/ready 503"))
    failed = {c["name"] for c in body["checks"] if not c["ok"]}
    assert "kafka:delivery" in failed, body
    assert {"kafka:brokers", "kafka:connection"} <= failed, body
    conn = next(c["detail"] for c in body["checks"] if c["name"] == "kafka:connection")
    assert "_TRANSPORT" in conn and "Connection refused" in conn, conn
    st, _, body = get(port, "/health")
    assert st == 200, body
    assert gw.stop() == 0


def test_port_in_use_is_a_clear_start_error(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        conf = EMBEDDED.format(limit=10, http_extra="").replace("port: 0", f"port: {port}")
        gw = Gateway(tmp_path, conf)
        gw.start(wait_running=False)
        rc = gw.proc.wait(20)
        assert rc == 1
        assert f"cannot listen on 127.0.0.1 port {port}" in gw.log()
        assert "in use" in gw.log()
    finally:
        busy.close()


PROM_CONF = """
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: sensorgate
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_real_prometheus_scrapes_the_gateway(tmp_path):
    prom = shutil.which("prometheus")
    assert prom, "prometheus (Debian package prometheus) is missing"
    gw = Gateway(tmp_path, EMBEDDED.format(limit=1500, http_extra="")).start()
    gport = gw.http_port()
    wait_for(lambda: sample(get(gport, "/metrics")[2], "sensorgate_kafka_delivered_total") == 1500,
             30, "deliveries")
    pport = free_port()
    (tmp_path / "prom.yml").write_text(PROM_CONF.format(port=gport))
    log = open(tmp_path / "prometheus.log", "w")
    p = subprocess.Popen([prom, f"--config.file={tmp_path / 'prom.yml'}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{pport}"],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=die_with_parent)
    try:
        def api(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{pport}{path}", timeout=5) as r:
                    return json.loads(r.read())
            except (urllib.error.URLError, ConnectionError):
                return None

        def target_up():
            t = api("/api/v1/targets")
            if not t:
                return None
            act = t["data"]["activeTargets"]
            return act and act[0]["health"] == "up" and act
        wait_for(target_up, 60, "Prometheus target up")

        def query(q):
            r = api("/api/v1/query?query=" + urllib.request.quote(q))
            res = r and r["status"] == "success" and r["data"]["result"]
            return res and float(res[0]["value"][1])
        # The value Prometheus stored is the one the gateway reports.
        v = wait_for(lambda: query('sensorgate_events_read_total{source="s1"}'), 30,
                     "the counter in Prometheus")
        assert v == 1500
        assert wait_for(lambda: query("sensorgate_kafka_delivered_total"), 30, "delivered") == 1500
        assert wait_for(lambda: query("up{job=\"sensorgate\"}"), 30, "up") == 1
    finally:
        p.terminate()
        p.wait(20)
        log.close()
        assert gw.stop() == 0


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket collecting messages."""

    def __init__(self, path):
        self.path = str(path)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(0.2)
        self.msgs = []

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                self.msgs.append(self.s.recv(4096).decode())
            except socket.timeout:
                pass

    def find(self, prefix):
        return [m for m in self.msgs for line in m.split("\n") if line.startswith(prefix)]

    def close(self):
        self.s.close()


def test_systemd_notify_and_watchdog(tmp_path):
    ns = NotifySocket(tmp_path / "notify.sock")
    # No WATCHDOG_PID: sd_watchdog_enabled() then accepts any pid.
    env = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"}
    gw = Gateway(tmp_path, EMBEDDED.format(limit=0, http_extra=""))
    gw.start(env=env)
    try:
        ns.pump(3.5)
        assert ns.find("READY=1"), ns.msgs
        assert ns.find("STATUS="), ns.msgs
        pings = len(ns.find("WATCHDOG=1"))
        assert pings >= 4, f"{pings} watchdog pings in 3.5 s at WatchdogSec=1s: {ns.msgs}"
    finally:
        assert gw.stop() == 0
    ns.pump(0.5)
    assert ns.find("STOPPING=1"), ns.msgs
    ns.close()


def test_watchdog_stops_when_delivery_is_wedged(tmp_path):
    """Records in flight without an acknowledgement past
    http.delivery_stall_timeout: /health fails and the watchdog is no longer
    fed, so systemd restarts the unit (which resumes from the spool)."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(100)  # accepts TCP, never answers Kafka requests
    bport = blackhole.getsockname()[1]
    ns = NotifySocket(tmp_path / "notify.sock")
    conf = EMBEDDED.format(limit=100, http_extra=", delivery_stall_timeout: 2s").replace(
        "bootstrap: embedded", f'bootstrap: "127.0.0.1:{bport}"')
    gw = Gateway(tmp_path, conf)
    gw.start(env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"})
    try:
        port = gw.http_port()
        ns.pump(1.0)
        assert ns.find("READY=1"), ns.msgs
        before = len(ns.find("WATCHDOG=1"))
        assert before >= 1, ns.msgs
        # Whether librdkafka counts records as in flight before a broker
        # answers decides when the stall shows; wait for /health to fail.
        def unhealthy():
            st, _, body = get(port, "/health")
            return st == 503 and body
        body = json.loads(wait_for(unhealthy, 30, "/health 503"))
        assert any(c["name"] == "kafka:progress" and not c["ok"] for c in body["checks"]), body
        ns.pump(0.7)  # what was sent before the stall showed
        ns.msgs.clear()
        ns.pump(2.5)
        assert not ns.find("WATCHDOG=1"), f"watchdog still fed while wedged: {ns.msgs}"
    finally:
        gw.stop()
        blackhole.close()
        ns.close()
