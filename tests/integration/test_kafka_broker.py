"""sensorgate: self-test of the local Kafka tooling (tests/kafka/kafka.sh and
tests/lib/kafka_broker.py): start a real single-node KRaft broker, produce
100 records with kcat, read them back, stop it.

The 3-node failover check runs only with SENSORGATE_KAFKA_FAILOVER_TEST=1
(it takes ~40 s).  SENSORGATE_SKIP_KAFKA=1 skips everything here.

Then the gateway's Kafka client layer (gateway/kafka/client.c) against the
session's broker: kafka.properties reach every client the gateway makes,
each side only the keys meant for it.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from kafka_broker import KafkaBroker  # noqa: E402


def test_single_broker_produce_consume(tmp_path):
    broker = KafkaBroker(brokers=1, workdir=tmp_path / "kafka")
    broker.start()
    try:
        bootstrap = broker.bootstrap
        host, port = bootstrap.split(":")
        assert host == "127.0.0.1" and int(port) > 0

        payload = "".join(f"sensor-{i % 7}:reading-{i}\n" for i in range(100))
        subprocess.run(
            ["kcat", "-P", "-b", bootstrap, "-t", "selftest", "-K:",
             "-X", "acks=all", "-X", "message.timeout.ms=20000"],
            input=payload.encode(), check=True, timeout=60,
        )
        out = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", "selftest", "-o", "beginning",
             "-e", "-q", "-f", "%k %s\n"],
            check=True, capture_output=True, timeout=60,
        ).stdout.decode().splitlines()

        assert len(out) == 100
        assert sorted(out) == sorted(f"sensor-{i % 7} reading-{i}" for i in range(100))
        # Same key -> same partition -> produce order kept per key.
        for k in range(7):
            mine = [line.split()[1] for line in out if line.startswith(f"sensor-{k} ")]
            assert mine == [f"reading-{i}" for i in range(100) if i % 7 == k]

        assert broker.leader_of("selftest", 0) == 1
    finally:
        broker.stop()
    assert broker.pids() == {}


@pytest.mark.skipif(os.environ.get("SENSORGATE_KAFKA_FAILOVER_TEST") != "1",
                    reason="3-node failover self-test: set SENSORGATE_KAFKA_FAILOVER_TEST=1")
def test_three_brokers_failover(tmp_path):
    broker = KafkaBroker(brokers=3, workdir=tmp_path / "kafka3")
    broker.start()
    try:
        assert len(broker.bootstrap.split(",")) == 3
        broker.create_topic("failover", partitions=3, rf=3, configs={"min.insync.replicas": 2})
        broker.produce("failover", [f"before-{i}" for i in range(50)])

        old = broker.leader_of("failover", 0)
        broker.kill_broker(old)
        new = broker.wait_for_leader("failover", 0, exclude=[old], timeout=60)
        assert new != old
        broker.produce("failover", [f"after-{i}" for i in range(50)], timeout=60)

        broker.start_broker(old)
        broker.produce("failover", [f"back-{i}" for i in range(50)])
        values = [line.split("\t", 1)[1] for line in broker.consume("failover")]
        assert len(values) == 150 and len(set(values)) == 150
    finally:
        broker.stop()


# --- the gateway's Kafka client layer against the real broker -----------

from gateway import Gateway  # noqa: E402

PROPS_CONF = """
gateway: {{id: {gw}, status_interval: 1s, shutdown_timeout: 3s}}
spool: {{dir: "{{spool}}", fsync: 50ms}}
kafka:
  bootstrap: "{bs}"
  topic: "props.{{source}}"
  properties: {{{props}}}
actuators: {{topic: "{cmds}"}}
view: {{mode: lines}}
sources:
  - name: s
    driver: sim
    limit: {n}
    sensors: [{{id: x, kind: counter, rate: 200}}]
"""


def test_properties_reach_every_client_without_warnings(tmp_path, kafka):
    """kafka.properties with a producer-only, a consumer-only and a
    connection key: the producer delivers, the actuator consumer consumes,
    and librdkafka warns about no property meant for the other side."""
    kafka.create_topic("props.s", partitions=2)
    kafka.create_topic("props-cmds", partitions=1)
    props = '"linger.ms": "2", "fetch.wait.max.ms": "50", "socket.keepalive.enable": "true"'
    gw = Gateway(tmp_path, PROPS_CONF.format(gw="pr", bs=kafka.bootstrap, props=props,
                                             cmds="props-cmds", n=300)).start()
    gw.wait_log("applying commands from topic props-cmds")
    gw.wait_drained(timeout=60, min_seq=300)
    time.sleep(3)  # the actuator consumer joins its group
    kafka.produce("props-cmds", [("nobody/x", "1")])
    gw.wait_log(r"no running source named nobody", timeout=60)
    assert gw.stop() == 0
    log = gw.log()
    assert "CONFWARN" not in log and "will be ignored" not in log, log[-3000:]


def test_connection_properties_reach_the_consumers(tmp_path, kafka):
    """A connection-level property (here one that makes 127.0.0.1
    unresolvable) reaches the actuator consumer too, not only the
    producer: both clients report it under their own names."""
    props = '"broker.address.family": "v6"'
    gw = Gateway(tmp_path, PROPS_CONF.format(gw="fam", bs=kafka.bootstrap, props=props,
                                             cmds="fam-cmds", n=10)).start()
    gw.wait_log(r"sensorgate-fam#producer-\d+: .*resolve", timeout=60)
    gw.wait_log(r"sensorgate-fam-actuator#consumer-\d+: .*resolve", timeout=60)
    gw.stop()
