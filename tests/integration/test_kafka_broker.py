"""sensorgate: self-test of the local Kafka tooling (tests/kafka/kafka.sh and
tests/lib/kafka_broker.py): start a real single-node KRaft broker, produce
100 records with kcat, read them back, stop it.

The 3-node failover check runs only with SENSORGATE_KAFKA_FAILOVER_TEST=1
(it takes ~40 s).  SENSORGATE_SKIP_KAFKA=1 skips everything here.
"""

import os
import subprocess
import sys
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
