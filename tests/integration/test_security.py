"""Security end to end (issue 13) against a real Apache Kafka broker.

One broker for the module, with a listener per protocol the gateway
speaks: SASL_SSL with SCRAM-SHA-512 (users made by the broker's own
storage tool at format time) and SSL with required client certificates
(mTLS), StandardAuthorizer ACLs, and certificates this module makes with
openssl in a temp dir.  PLAINTEXT stays the admin's and the auditor's
listener (its principal, ANONYMOUS, is a super user: a test shortcut).

The ACLs granted are read from docs/security.md (its acl-list block), so
the least privileges documented are exactly the ones tested.

librdkafka before 2.6.1 (Debian 12 has 2.0.2) fails SCRAM against Kafka
4.x brokers (librdkafka#4895: a nonce the 4.x broker checks strictly), so
with such a librdkafka the broker here is Kafka 3.9.1, the last release
it can authenticate to; docs/security.md says so.
"""
import json
import os
import re
import shlex
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway import Gateway, sg_bin
from kafkaread import audit, read_topic

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
USERS = {"sg-gw": "gw-Secret-7f3a", "sg-txn": "txn-Secret-91c2", "sg-sink": "sink-Secret-44d0",
         "sg-view": "view-Secret-0b6e"}
SSL_PRINCIPAL = "sg-gw-ssl"  # the client certificate's CN, mapped by the broker
COMMANDS = "sg.commands"
SINK_GROUP = "sensorgate-sink"


# ----------------------------------------------------------------- certs
def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def signed(d, name, cn, ca="ca", ext=None, days="365", key_args=()):
    """A key (PKCS#8) and a certificate for cn signed by ca."""
    openssl(d, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
            f"{name}.key", *key_args)
    openssl(d, "req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
            *(["-passin", "file:keypass"] if key_args else []))
    openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", days,
            *(["-extfile", "ext.cnf", "-extensions", ext] if ext else []))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    (d / "ext.cnf").write_text("[srv]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                               "[cli]\nextendedKeyUsage=clientAuth\n")
    (d / "keypass").write_text("key-Pass-5e1b\n")
    for ca in ("ca", "other-ca"):
        openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                "-out", f"{ca}.pem", "-days", "3650", "-subj", f"/CN=sensorgate-test-{ca}")
    signed(d, "broker", "localhost", ext="srv")
    (d / "broker-keystore.pem").write_text((d / "broker.key").read_text() +
                                           (d / "broker.pem").read_text())
    # The gateway's client certificate, its key encrypted (key_password).
    signed(d, "client", SSL_PRINCIPAL, ext="cli",
           key_args=("-aes256", "-pass", "file:keypass"))
    signed(d, "soon", "soon", days="10")    # expires within 30 days
    signed(d, "expired", "expired", days="0")
    signed(d, "stranger", "stranger", ca="other-ca")
    for f in d.glob("*.key"):
        f.chmod(0o600)
    time.sleep(1.1)  # "expired" is past its notAfter now
    return d


# ----------------------------------------------------------------- broker
def librdkafka_version():
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    m = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def broker_config(certs):
    return f"""
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
ssl.keystore.type=PEM
ssl.keystore.location={certs}/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location={certs}/ca.pem
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]*)$/$1/,DEFAULT
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
"""


def doc_acls():
    """(tag, kafka-acls arguments with variables) from docs/security.md."""
    text = DOC.read_text()
    m = re.search(r"<!-- acl-list:.*?-->\s*```sh\n(.*?)```", text, re.S)
    assert m, "docs/security.md has no acl-list block"
    lines, tag = [], None
    for line in m.group(1).replace("\\\n", " ").splitlines():
        line = line.strip()
        t = re.match(r"#\s*\[(\w+)\]", line)
        if t:
            tag = t.group(1)
        elif line.startswith("kafka-acls.sh "):
            lines.append((tag, line))
    assert lines, "no kafka-acls.sh line in the acl-list block"
    return lines


def grant(broker, tags, **var):
    """Grant the documented ACLs of tags, with $VARIABLES from var."""
    n = 0
    for tag, line in doc_acls():
        if tag not in tags:
            continue
        for k in sorted(var, key=len, reverse=True):  # $GATEWAY_ID before $GATEWAY
            line = line.replace("${" + k + "}", var[k]).replace(f"${k}", var[k])
        assert "$" not in line.replace('"$ADMIN"', ""), f"unset variable in {line}"
        args = shlex.split(line)[1:]
        i = args.index("--bootstrap-server")  # kafka.sh gives its own
        del args[i:i + 2]
        broker.acls(*args)
        n += 1
    return n


@pytest.fixture(scope="module")
def secure(certs, tmp_path_factory):
    if os.environ.get("SENSORGATE_SKIP_KAFKA") == "1":
        pytest.skip("SENSORGATE_SKIP_KAFKA=1: SECURITY TESTS AGAINST KAFKA SKIPPED")
    from kafka_broker import KafkaBroker
    version = None if librdkafka_version() >= (2, 6, 1) else "3.9.1"
    print(f"\nsecure broker: Kafka {version or 'default'} for librdkafka "
          f"{'.'.join(map(str, librdkafka_version()))}")
    b = KafkaBroker(brokers=1, workdir=str(tmp_path_factory.mktemp("kafka-secure")),
                    listeners=["SASL_SSL:SASL_SSL", "SSL:SSL"], config=broker_config(certs),
                    scram=[f'SCRAM-SHA-512=[name={u},password={p}]' for u, p in USERS.items()],
                    version=version)
    b.start()
    for t in ("sensorgate.sasl", "sensorgate.mtls", "sensorgate.pw", "sensorgate.ca", "sensorgate.flow",
              "sensorgate.eos", "sensorgate.eos3", "sensorgate.sink", "sensorgate.view", "sensorgate.view2",
              "other.denied",
              "other.txn", COMMANDS):
        b.create_topic(t, partitions=3)
    b.create_topic("sensorgate.checkpoints", partitions=1, configs={"cleanup.policy": "compact"})
    common = dict(ADMIN="-", COMMANDS=COMMANDS, SINK_GROUP=SINK_GROUP)
    grant(b, {"gateway", "actuators"}, GATEWAY="sg-gw", GATEWAY_ID="sec", SINK="-", **common)
    grant(b, {"gateway"}, GATEWAY=SSL_PRINCIPAL, GATEWAY_ID="sec-mtls", SINK="-", **common)
    grant(b, {"gateway", "exactly_once"}, GATEWAY="sg-txn", GATEWAY_ID="sec-eos", SINK="-",
          **common)
    grant(b, {"exactly_once"}, GATEWAY="sg-txn", GATEWAY_ID="sec-eos2", SINK="-", **common)
    grant(b, {"sink"}, GATEWAY="-", GATEWAY_ID="-", SINK="sg-sink", **common)
    grant(b, {"gateway", "view"}, GATEWAY="sg-view", GATEWAY_ID="sec-view", SINK="-", **common)
    yield b
    b.stop()


# ----------------------------------------------------------------- gateway
CONF = """
gateway: {{id: {gw}, status_interval: 1s, shutdown_timeout: {stop}}}
spool: {{dir: "{{spool}}", fsync: 10ms, ack_interval: 50ms}}
kafka:
  bootstrap: "{bootstrap}"
  delivery: {delivery}
  topic: "{topic}"
  security:
{security}
view: {view}
{extra}
sources:
{sources}
"""

SIM = """  - name: {name}
    driver: sim
    limit: {limit}
    {topic}
    sensors:
      - {{id: k, kind: counter, rate: {rate}, replicas: 20}}
"""


def sasl(certs, user="sg-gw", pwfile=None, ca="ca.pem"):
    return (f"    sasl_mechanism: SCRAM-SHA-512\n    username: {user}\n"
            f"    password: \"file:{pwfile}\"\n    ca_file: \"{certs / ca}\"")


def pw_file(tmp_path, user, password=None):
    p = tmp_path / f"{user}.pw"
    p.write_text((password if password is not None else USERS[user]) + "\n")
    p.chmod(0o600)
    return p


def conf(gw, bootstrap, security, topic, limit, rate=500, delivery="at_least_once", stop="5s",
         extra="", more_sources="", view="{mode: lines}"):
    return CONF.format(gw=gw, bootstrap=bootstrap, security=security, topic=topic,
                       delivery=delivery, stop=stop, extra=extra, view=view,
                       sources=SIM.format(name="s1", limit=limit, rate=rate / 20, topic="")
                       + more_sources)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, name):
    _, text = http_get(port, "/metrics")
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


def failed_checks(port):
    st, body = http_get(port, "/ready")
    return st, {c["name"]: c["detail"] for c in json.loads(body)["checks"] if not c["ok"]}


def assert_delivered_once(bootstrap, topics, gw, total, read_committed=False):
    recs = []
    for t in topics:
        recs += read_topic(bootstrap, t, count=None, read_committed=read_committed)
    deadline = time.time() + 60
    while len({r["headers"].get("sg-id") for r in recs}) < total and time.time() < deadline:
        time.sleep(0.5)
        recs = [r for t in topics for r in read_topic(bootstrap, t, read_committed=read_committed)]
    a = audit(recs, gw, total)
    assert not a["missing"] and a["duplicates"] == 0 and a["bad"] == 0, a
    assert a["order_violations"] == 0 and a["unique"] == total, a
    return recs


def assert_no_secret(gw, secret):
    """Not in the log, the spool, or the process's command line."""
    assert secret not in gw.log()
    for f in gw.spool.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    assert stat.S_IMODE(gw.spool.stat().st_mode) == 0o700
    for f in gw.spool.glob("*.seg"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


# ----------------------------------------------------------------- tests
def test_sasl_ssl_scram_delivery_audited(tmp_path, secure, certs):
    sec = sasl(certs, pwfile=pw_file(tmp_path, "sg-gw"))
    gw = Gateway(tmp_path, conf("sec", secure.listener("SASL_SSL"), sec, "sensorgate.sasl", 2000))
    gw.start()
    cmdline = Path(f"/proc/{gw.proc.pid}/cmdline").read_bytes()
    assert USERS["sg-gw"].encode() not in cmdline
    gw.wait_drained(timeout=60, min_seq=2000)
    port = gw.http_port()
    assert metric(port, "sensorgate_kafka_brokers_up") >= 1
    assert metric(port, 'sensorgate_events_delivered_total{source="s1"}') == 2000
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.sasl"], "sec", 2000)
    assert_no_secret(gw, USERS["sg-gw"])
    r = subprocess.run([sg_bin(), "check", "-c", str(gw.conf), "--print"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "password: <secret>" in r.stdout and USERS["sg-gw"] not in r.stdout


def test_mtls_delivery_audited(tmp_path, secure, certs):
    sec = (f"    certificate: \"{certs / 'client.pem'}\"\n    key: \"{certs / 'client.key'}\"\n"
           f"    key_password: \"${{SG_T_KEYPASS}}\"\n    ca_file: \"{certs / 'ca.pem'}\"")
    gw = Gateway(tmp_path, conf("sec-mtls", secure.listener("SSL"), sec, "sensorgate.mtls", 1000))
    passphrase = (certs / "keypass").read_text().strip()
    gw.start(env={"SG_T_KEYPASS": passphrase})
    gw.wait_drained(timeout=60, min_seq=1000)
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.mtls"], "sec-mtls", 1000)
    assert passphrase not in gw.log()


def test_wrong_password_is_clear_and_loses_nothing(tmp_path, secure, certs):
    """A refused password: one log line with the broker's reason, metrics
    and /ready say it, the events wait in the spool; fixed, they flow."""
    pw = pw_file(tmp_path, "sg-gw", "not-the-password")
    gw = Gateway(tmp_path, conf("sec-pw", secure.listener("SASL_SSL"),
                                sasl(certs, pwfile=pw), "sensorgate.pw", 300, stop="2s"))
    gw.start()
    port = gw.http_port()

    def refused():
        st, failed = failed_checks(port)
        return st == 503 and "kafka:connection" in failed and failed
    failed = wait_for(refused, 30, "/ready: kafka:connection")
    assert "_AUTHENTICATION" in failed["kafka:connection"], failed
    assert "SCRAM-SHA-512" in failed["kafka:connection"], failed
    assert "kafka:brokers" in failed, failed
    assert metric(port, "sensorgate_kafka_brokers_up") == 0
    assert metric(port, 'sensorgate_kafka_errors_total{error="_AUTHENTICATION"}') >= 1
    wait_for(lambda: gw.spool_stat()["last_seq"] == 300, 30, "300 events spooled")
    time.sleep(6)  # librdkafka retries meanwhile: still one line
    log = gw.log()
    assert len(re.findall(r"error \[kafka\] sensorgate-sec-pw#producer-\d+: _AUTHENTICATION: .*invalid credentials",
                          log)) == 1, log
    st = gw.spool_stat()
    assert st["pending"] == 300 and st["acked"] == 0, st
    gw.stop()
    pw_file(tmp_path, "sg-gw")  # fixed: the 300 kept, and 300 more read after the restart
    gw.start()
    gw.wait_drained(timeout=60, min_seq=600)
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.pw"], "sec-pw", 600)
    assert_no_secret(gw, USERS["sg-gw"])


def test_untrusted_ca_is_clear_and_loses_nothing(tmp_path, secure, certs):
    sec = sasl(certs, pwfile=pw_file(tmp_path, "sg-gw"), ca="other-ca.pem")
    gw = Gateway(tmp_path, conf("sec-ca", secure.listener("SASL_SSL"), sec, "sensorgate.ca",
                                100, stop="2s"))
    gw.start()
    port = gw.http_port()

    def refused():
        st, failed = failed_checks(port)
        return st == 503 and "kafka:connection" in failed and failed
    failed = wait_for(refused, 30, "/ready: kafka:connection")
    assert "_SSL" in failed["kafka:connection"], failed
    assert "certificate verify failed" in failed["kafka:connection"], failed
    assert metric(port, 'sensorgate_kafka_errors_total{error="_SSL"}') >= 1
    wait_for(lambda: gw.spool_stat()["last_seq"] == 100, 30, "100 events spooled")
    gw.stop()
    assert gw.spool_stat()["pending"] == 100
    assert len(re.findall(r"error \[kafka\] sensorgate-sec-ca#producer-\d+: _SSL: .*certificate verify failed",
                          gw.log())) == 1, gw.log()


def test_missing_acl_on_one_topic_the_others_flow(tmp_path, secure, certs):
    """No ACL for one source's topic: the other source's events flow, the
    refused ones are held (metrics, /ready); granted, they follow, in order,
    none lost or twice."""
    denied = SIM.format(name="d", limit=300, rate=150 / 20, topic='topic: "other.denied"')
    gw = Gateway(tmp_path, conf("sec-acl", secure.listener("SASL_SSL"),
                                sasl(certs, pwfile=pw_file(tmp_path, "sg-gw")),
                                "sensorgate.flow", 1000, more_sources=denied))
    gw.start()
    port = gw.http_port()
    wait_for(lambda: metric(port, 'sensorgate_events_delivered_total{source="s1"}') == 1000, 60,
             "the allowed topic's 1000 events delivered")
    wait_for(lambda: metric(port, "sensorgate_kafka_held_records") == 300, 30, "300 held")
    assert metric(port, "sensorgate_kafka_topics_refused") == 1
    assert metric(port, 'sensorgate_events_delivered_total{source="d"}') == 0
    st, failed = failed_checks(port)
    assert st == 503 and "other.denied: TOPIC_AUTHORIZATION_FAILED" in failed["kafka:topics"]
    assert (gw.spool / "held" / "other.denied.held").exists()
    assert stat.S_IMODE((gw.spool / "held" / "other.denied.held").stat().st_mode) == 0o600
    assert gw.log().count("topic other.denied refused by Kafka") == 1
    # The ACL is granted: the held events follow.
    secure.acls("--add", "--allow-principal", "User:sg-gw", "--operation", "Write",
                "--operation", "Describe", "--topic", "other.denied")
    wait_for(lambda: metric(port, 'sensorgate_events_delivered_total{source="d"}') == 300, 60,
             "the held events delivered")
    assert metric(port, "sensorgate_kafka_topics_refused") == 0
    assert metric(port, "sensorgate_kafka_held_records") == 0
    assert wait_for(lambda: http_get(port, "/ready")[0] == 200, 10, "/ready 200")
    assert not (gw.spool / "held" / "other.denied.held").exists()
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.flow", "other.denied"], "sec-acl", 1300)


def test_exactly_once_over_sasl_ssl(tmp_path, secure, certs):
    sec = sasl(certs, user="sg-txn", pwfile=pw_file(tmp_path, "sg-txn"))
    gw = Gateway(tmp_path, conf("sec-eos", secure.listener("SASL_SSL"), sec, "sensorgate.eos",
                                1000, delivery="exactly_once"))
    gw.start()
    gw.wait_drained(timeout=90, min_seq=1000)
    port = gw.http_port()
    assert metric(port, 'sensorgate_kafka_transactions_total{result="committed"}') >= 1
    assert not re.search(r"AUTHORIZATION_FAILED", gw.log()), gw.log()
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.eos"], "sec-eos", 1000,
                          read_committed=True)


def test_exactly_once_waits_for_a_refused_topic(tmp_path, secure, certs):
    """A transaction cannot commit without a refused topic: transactions
    wait (said once, in the metrics and /ready), nothing is lost; granted,
    every event is committed once."""
    sec = sasl(certs, user="sg-txn", pwfile=pw_file(tmp_path, "sg-txn"))
    # Its own gateway id: another one's checkpoint is not its own.
    gw = Gateway(tmp_path, conf("sec-eos2", secure.listener("SASL_SSL"), sec, "other.txn", 200,
                                delivery="exactly_once"))
    gw.start()
    port = gw.http_port()
    wait_for(lambda: metric(port, "sensorgate_kafka_topics_refused") == 1, 60, "refused topic")
    st, failed = failed_checks(port)
    assert st == 503 and "other.txn: TOPIC_AUTHORIZATION_FAILED" in failed["kafka:topics"], failed
    wait_for(lambda: gw.spool_stat()["last_seq"] == 200, 30, "200 events spooled")
    time.sleep(3)  # transactions are tried again meanwhile
    assert gw.spool_stat()["acked"] == 0
    assert gw.log().count("topic other.txn refused by Kafka") == 1, gw.log()
    assert metric(port, 'sensorgate_kafka_transactions_total{result="aborted"}') >= 1
    secure.acls("--add", "--allow-principal", "User:sg-txn", "--operation", "Write",
                "--operation", "Describe", "--topic", "other.txn")
    gw.wait_drained(timeout=90, min_seq=200)
    assert metric(port, "sensorgate_kafka_topics_refused") == 0
    assert "topic other.txn is taken again" in gw.log()
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["other.txn"], "sec-eos2", 200, read_committed=True)


def test_exactly_once_without_its_transactional_id_acl(tmp_path, secure, certs):
    """No TransactionalId ACL: init_transactions fails fatally; the failure
    is logged once (not once a retry), the producer is recreated with a
    growing pause, nothing is lost; granted, every event is committed once."""
    sec = sasl(certs, user="sg-txn", pwfile=pw_file(tmp_path, "sg-txn"))
    gw = Gateway(tmp_path, conf("sec-eos3", secure.listener("SASL_SSL"), sec, "sensorgate.eos3",
                                300, delivery="exactly_once"))
    gw.start()
    port = gw.http_port()
    gw.wait_log(r"init_transactions: TRANSACTIONAL_ID_AUTHORIZATION_FAILED", timeout=60)
    t0 = time.time()
    wait_for(lambda: gw.spool_stat()["last_seq"] == 300, 30, "300 events spooled")
    time.sleep(max(0.0, 10 - (time.time() - t0)))
    assert gw.log().count("init_transactions: TRANSACTIONAL_ID_AUTHORIZATION_FAILED") == 1, \
        gw.log()[-3000:]
    # 1 + 2 + 4 s of pauses fit in 10 s: at most 4 recreations, not 10
    assert metric(port, "sensorgate_kafka_producer_restarts_total") <= 4, gw.log()[-3000:]
    assert gw.spool_stat()["acked"] == 0
    secure.acls("--add", "--allow-principal", "User:sg-txn", "--operation", "Write",
                "--operation", "Describe", "--transactional-id", "sensorgate-sec-eos3")
    gw.wait_drained(timeout=120, min_seq=300)
    assert "init_transactions succeeded after" in gw.log()
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.eos3"], "sec-eos3", 300,
                          read_committed=True)


def test_sink_and_actuators_over_sasl_ssl(tmp_path, secure, certs):
    """The sink (its own principal, from a config file's kafka.security) and
    the gateway's actuators consumer over SASL_SSL with the documented ACLs."""
    extra = f"actuators: {{topic: \"{COMMANDS}\", max_age: 60s}}"
    gw = Gateway(tmp_path, conf("sec", secure.listener("SASL_SSL"),
                                sasl(certs, pwfile=pw_file(tmp_path, "sg-gw")), "sensorgate.sink",
                                500, extra=extra))
    gw.start()
    gw.wait_log(f"applying commands from topic {COMMANDS}")
    sink_conf = tmp_path / "sink.yaml"
    sink_conf.write_text(
        f"kafka:\n  bootstrap: \"{secure.listener('SASL_SSL')}\"\n  security:\n"
        + sasl(certs, user="sg-sink", pwfile=pw_file(tmp_path, "sg-sink")) + "\n")
    db = tmp_path / "events.db"
    sink = subprocess.run([sg_bin(), "sink", "-c", str(sink_conf), "-t", "sensorgate.sink",
                           "--to", f"sqlite:{db}", "-g", SINK_GROUP, "--from-beginning",
                           "--count", "500", "--idle-exit", "30"],
                          capture_output=True, text=True, timeout=120)
    assert sink.returncode == 0, sink.stderr
    assert USERS["sg-sink"] not in sink.stderr
    rows = subprocess.run(["sqlite3", str(db), "SELECT count(DISTINCT id) FROM events"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert rows == "500"
    for f in tmp_path.glob("events.db*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # A command reaches the actuators' consumer (no such source: refused,
    # which proves it was read).
    deadline = time.time() + 60
    while time.time() < deadline:
        secure.produce(COMMANDS, [("nobody/valve", "1")])
        try:
            gw.wait_log("no running source named nobody", timeout=5)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the actuators never read a command:\n" + gw.log()[-3000:])
    assert not re.search(r"AUTHORIZATION_FAILED", gw.log()), gw.log()
    assert gw.stop() == 0


LIVE_TAIL = "{mode: live, interval: 500ms, tail: 5}"
TAIL_HEAD = re.compile(r"latest records read back from Kafka by a consumer \((\d+) so far\)")


def view_screens(gw):
    """The live view's screens in the log, last first (each starts by
    clearing the terminal)."""
    return gw.log().split("\033[H\033[2J")[::-1]


def test_live_view_tail_with_the_documented_acls(tmp_path, secure, certs):
    """The live view's tail consumer over SASL_SSL with the [view] ACLs of
    docs/security.md: the records it shows made the round trip."""
    gw = Gateway(tmp_path, conf("sec-view", secure.listener("SASL_SSL"),
                                sasl(certs, user="sg-view", pwfile=pw_file(tmp_path, "sg-view")),
                                "sensorgate.view", 0, rate=50, view=LIVE_TAIL))
    gw.start()

    def shown():
        for screen in view_screens(gw)[:2]:
            m = TAIL_HEAD.search(screen)
            if m and int(m.group(1)) > 0 and re.search(r"sensorgate\.view\s+p\d.*sec-view:\d+",
                                                        screen):
                return screen
        return None
    screen = wait_for(shown, 60, "records read back in the live view")
    assert "authorization" not in screen.lower(), screen
    assert not re.search(r"AUTHORIZATION_FAILED", gw.log()), gw.log()[-3000:]
    assert_no_secret(gw, USERS["sg-view"])
    assert gw.stop() == 0


def test_live_view_without_its_acls_says_so_and_delivers(tmp_path, secure, certs):
    """sg-gw has no [view] ACLs: the view says which authorization failed
    where the records would be, and every event is still delivered."""
    gw = Gateway(tmp_path, conf("sec", secure.listener("SASL_SSL"),
                                sasl(certs, pwfile=pw_file(tmp_path, "sg-gw")),
                                "sensorgate.view2", 300, view=LIVE_TAIL))
    gw.start()

    def told():
        for screen in view_screens(gw)[:2]:
            if TAIL_HEAD.search(screen) and re.search(r"AUTHORIZATION_FAILED", screen):
                return screen
        return None
    screen = wait_for(told, 60, "the view's authorization error")
    assert TAIL_HEAD.search(screen).group(1) == "0", screen
    port = int(re.findall(r"metrics and probes at http://\S*:(\d+)/metrics", gw.log())[-1])
    wait_for(lambda: (metric(port, "sensorgate_kafka_delivered_total") or 0) >= 300, 60,
             "300 events delivered")
    assert gw.stop() == 0
    assert_delivered_once(secure.bootstrap, ["sensorgate.view2"], "sec", 300)


# ----------------------------------------------------------------- check
def run_check(tmp_path, kafka_yaml, env=None):
    f = tmp_path / "check.yaml"
    f.write_text("kafka:\n" + kafka_yaml)
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sg_bin(), "check", "-c", str(f)], capture_output=True, text=True,
                          env=e)


def test_check_validates_tls_files_offline(tmp_path, certs):
    def tls(cert="client.pem", key="client.key", ca="ca.pem", extra="    key_password: \"file:"
            + str(certs / "keypass") + "\"\n"):
        return (f"  security:\n    ca_file: \"{certs / ca}\"\n    certificate: \"{certs / cert}\"\n"
                f"    key: \"{certs / key}\"\n" + extra)
    r = run_check(tmp_path, tls())
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = run_check(tmp_path, tls(ca="nope.pem"))
    assert r.returncode == 2 and "kafka.security.ca_file:" in r.stderr and \
        "No such file" in r.stderr, r.stderr
    r = run_check(tmp_path, tls(key="broker.key", extra=""))
    assert r.returncode == 2 and "this key does not belong to the certificate" in r.stderr, \
        r.stderr
    r = run_check(tmp_path, tls(cert="expired.pem", key="expired.key", extra=""))
    assert r.returncode == 2 and re.search(r"certificate /CN=expired expired on \d{4}-", r.stderr), \
        r.stderr
    r = run_check(tmp_path, tls(cert="soon.pem", key="soon.key", extra=""))
    assert r.returncode == 0 and "warning: kafka.security.certificate" in r.stderr and \
        "expires in 9 day(s)" in r.stderr, r.stderr
    r = run_check(tmp_path, tls(extra=""))
    assert r.returncode == 2 and "the key is encrypted and no key_password is given" in r.stderr
    wrong = tmp_path / "wrongpass"
    wrong.write_text("nope\n")
    r = run_check(tmp_path, tls(extra=f"    key_password: \"file:{wrong}\"\n"))
    assert r.returncode == 2 and "cannot decrypt the key (wrong key_password?)" in r.stderr
    # A CA that is not a certificate; a key other users can read.
    r = run_check(tmp_path, tls(ca="keypass"))
    assert r.returncode == 2 and "no PEM certificate in it" in r.stderr, r.stderr
    open_key = tmp_path / "open.key"
    open_key.write_text((certs / "soon.key").read_text())
    open_key.chmod(0o644)
    r = run_check(tmp_path, f"  security:\n    certificate: \"{certs / 'soon.pem'}\"\n"
                  f"    key: \"{open_key}\"\n")
    assert r.returncode == 0 and "lets other users read the private key" in r.stderr, r.stderr
    # kafka.properties' files are checked too.
    r = run_check(tmp_path, "  properties: {ssl.ca.location: /nonexistent/ca.pem}\n")
    assert r.returncode == 2 and "kafka.properties.ssl.ca.location: /nonexistent/ca.pem" \
        in r.stderr, r.stderr


def test_check_secrets_and_mechanisms(tmp_path, certs):
    r = run_check(tmp_path, "  security: {sasl_mechanism: SCRAM-SHA-512, username: gw, "
                  "password: hunter2}\n")
    assert r.returncode == 2 and "a secret is never written in the configuration" in r.stderr
    assert "hunter2" not in r.stderr
    r = run_check(tmp_path, "  security: {sasl_mechanism: OAUTHBEARER, oauth_token_endpoint: "
                  "\"https://idp/token\", oauth_client_id: gw, oauth_client_secret: "
                  "\"${SG_T_SECRET}\"}\n", env={"SG_T_SECRET": "oidc-Secret-1"})
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    if "oidc" in out:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 2 and "OAUTHBEARER needs OIDC" in r.stderr, r.stderr
    # check --print masks librdkafka's secret properties and credential-
    # looking values (issue 11, defect 7).
    f = tmp_path / "print.yaml"
    f.write_text("kafka:\n  properties:\n"
                 "    sasl.oauthbearer.config: \"principal=gw clientSecret=oauth-Secret-9\"\n"
                 "    ssl.keystore.password: \"ks-Secret-2\"\n"
                 "    client.id: plant-7\n")
    r = subprocess.run([sg_bin(), "check", "-c", str(f), "--print"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "oauth-Secret-9" not in r.stdout and "ks-Secret-2" not in r.stdout
    assert '"sasl.oauthbearer.config": "<secret>"' in r.stdout
    assert '"client.id": "plant-7"' in r.stdout
    # A password on the sink's command line is visible to every user: said.
    r = subprocess.run([sg_bin(), "sink", "-b", "127.0.0.1:1", "-t", "x", "--to", "nowhere",
                        "-X", "sasl.password=cmdline-Secret-3", "-X", "sasl.username=gw"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown target 'nowhere'" in r.stderr, r.stderr
    assert "-X sasl.password: a secret on the command line is visible" in r.stderr
    assert "-X sasl.username" not in r.stderr and "cmdline-Secret-3" not in r.stderr
