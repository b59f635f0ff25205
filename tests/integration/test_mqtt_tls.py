"""MQTT driver with TLS (client certificate) and password authentication
against a real mosquitto broker; certificates are made here with openssl.

Covered: mutual TLS + username/password (password from a file) delivers;
a wrong password gives a clear error and is never logged; the broker
certificate's host name is verified (a mismatch fails) unless
tls_insecure is set, which is logged loudly.
"""
import subprocess
import time

import pytest

from gateway import Gateway
from kafkaread import read_topic
from mosquitto import Mosquitto

PASSWORD = "s3cret-Pa55-w0rd"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=sensorgate test CA", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
            "-subj", "/CN=gateway", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.crt", "-days", "2", cwd=d)
    return d


@pytest.fixture
def tls_broker(tmp_path):
    certs = make_certs(tmp_path / "certs")
    b = Mosquitto(tmp_path, tls={"cafile": certs / "ca.crt", "certfile": certs / "server.crt",
                                 "keyfile": certs / "server.key", "require_certificate": True},
                  passwords={"gw": PASSWORD})
    b.start()
    b.certs = certs
    yield b
    b.stop()


def conf(bootstrap, broker, host="localhost", pwfile=None, insecure=False):
    c = broker.certs
    return f"""
gateway: {{id: tls, status_interval: 5s, shutdown_timeout: 10s}}
spool: {{dir: "{{spool}}", fsync: 100ms}}
kafka: {{bootstrap: "{bootstrap}", topic: "mqtt.tls"}}
view: {{mode: lines}}
sources:
  - name: secure
    driver: mqtt
    host: {host}
    port: {broker.port}
    client_id: sg-tls-test
    tls: true
    ca_file: {c / "ca.crt"}
    cert_file: {c / "client.crt"}
    key_file: {c / "client.key"}
    tls_insecure: {"true" if insecure else "false"}
    username: gw
    password: "file:{pwfile}"
    reconnect_min: 200ms
    reconnect_max: 1s
    rules:
      - filter: "secure/#"
        topic: secure
"""


def tls_pub(broker, topic, msg):
    c = broker.certs
    subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker.port), "-q", "1",
                    "--cafile", str(c / "ca.crt"), "--cert", str(c / "client.crt"),
                    "--key", str(c / "client.key"), "-u", "gw", "-P", PASSWORD,
                    "-t", topic, "-m", msg], check=True, capture_output=True, timeout=30)


def test_tls_client_cert_and_password(tmp_path, kafka_mock, tls_broker):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, tls_broker, pwfile=pw)).start()
    gw.wait_log(r"subscribed \"secure/#\"")
    for i in range(10):
        tls_pub(tls_broker, "secure/dev1", f"m{i}")
    gw.wait_drained(timeout=30, min_seq=10)
    assert gw.stop() == 0
    recs = read_topic(kafka_mock.bootstrap, "secure", count=10, timeout=30)
    assert [r["value"] for r in sorted(recs, key=lambda r: r["offset"])] == \
        [f"m{i}".encode() for i in range(10)]
    assert PASSWORD not in gw.log()
    assert "tls_insecure" not in gw.log()


def test_wrong_password_clear_error(tmp_path, kafka_mock, tls_broker):
    pw = tmp_path / "pw"
    pw.write_text("not-the-password\n")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, tls_broker, pwfile=pw)).start()
    gw.wait_log(r"broker refused the connection: .*\(check username and password\)", timeout=15)
    time.sleep(2)  # a few retries, with backoff, never a crash
    assert gw.running()
    assert gw.stop() == 0
    log = gw.log()
    assert "not-the-password" not in log
    assert log.count("broker refused the connection") >= 2
    assert "user gw" in log


def test_host_name_is_verified(tmp_path, kafka_mock, tls_broker):
    """The certificate names localhost; connecting as 127.0.0.1 must fail."""
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, tls_broker, host="127.0.0.1",
                                pwfile=pw)).start()
    gw.wait_log(r"host name verification failed", timeout=15)
    time.sleep(1)
    assert "connected to" not in gw.log()
    assert gw.stop() == 0


def test_tls_insecure_is_explicit_and_loud(tmp_path, kafka_mock, tls_broker):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, tls_broker, host="127.0.0.1", pwfile=pw,
                                insecure=True)).start()
    gw.wait_log(r"subscribed \"secure/#\"", timeout=15)
    assert gw.stop() == 0
    assert "error [secure] tls_insecure: true - the broker certificate's host name is NOT verified" \
        in gw.log()
