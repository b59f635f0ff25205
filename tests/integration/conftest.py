"""Fixtures shared by the integration tests.

- sg_bin: the built gateway binary.
- kafka_mock: librdkafka's mock cluster in its own process
  (`sensorgate kafka-mock`), for fault injection (brokers down).
- kafka: a real Apache Kafka broker (KRaft) for the session.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"
sys.path.insert(0, str(LIB))

from gateway import sg_bin as _sg_bin  # noqa: E402


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # SIGTERM or SIGHUP (a CI timeout, a closed terminal) end the run like
    # Ctrl-C: fixtures tear down and atexit handlers stop the servers the
    # run started.  Python's default for both is to die without cleanup.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


@pytest.fixture(scope="session")
def sg_bin():
    return _sg_bin()


class KafkaMock:
    def __init__(self, brokers=3):
        self.proc = subprocess.Popen([_sg_bin(), "kafka-mock", "--brokers", str(brokers)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("bootstrap="), line
        self.bootstrap = line.split("=", 1)[1]

    def cmd(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        assert reply.startswith("ok"), f"kafka-mock {text!r}: {reply}"

    def close(self):
        if self.proc.poll() is None:
            try:
                self.cmd("quit")
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def kafka_mock():
    m = KafkaMock()
    yield m
    m.close()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """A real single-node Kafka broker, started once per session."""
    if os.environ.get("SENSORGATE_SKIP_KAFKA") == "1":
        msg = "SENSORGATE_SKIP_KAFKA=1: REAL KAFKA BROKER TESTS ARE SKIPPED"
        print("\n" + "!" * 70 + "\n" + msg + "\n" + "!" * 70, file=sys.stderr)
        pytest.skip(msg)
    from kafka_broker import KafkaBroker
    b = KafkaBroker(brokers=1, workdir=str(tmp_path_factory.mktemp("kafka")))
    b.start()
    yield b
    b.stop()
