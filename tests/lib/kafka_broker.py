"""sensorgate test helper: a real local Apache Kafka cluster for pytest.

Wraps tests/kafka/kafka.sh (KRaft mode, no docker, 127.0.0.1 only) so that
integration, fault and benchmark tests can start a 1- or 3-node cluster,
find partition leaders, kill and restart nodes, and create topics with
Kafka's own admin tool.

    from kafka_broker import KafkaBroker

    broker = KafkaBroker(brokers=1, workdir=tmp_path / "kafka").start()
    broker.bootstrap            # "127.0.0.1:41234"
    broker.create_topic("sensors", partitions=3)
    broker.stop()

Set SENSORGATE_SKIP_KAFKA=1 to skip every test that needs the broker
(start() then raises pytest's Skipped, after a loud notice on stderr and a
warning that pytest lists in its summary).

Needs: java 17+, kcat, and Maven on the first run (the Kafka jars are
downloaded once into ${SENSORGATE_CACHE:-~/.cache/sensorgate}).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "tests" / "kafka" / "kafka.sh"
SKIP_ENV = "SENSORGATE_SKIP_KAFKA"

Record = Union[str, bytes, Tuple[Optional[str], str]]


class KafkaBrokerError(RuntimeError):
    """The local Kafka cluster could not be started or used."""


class KafkaSkipped(Exception):
    """Raised instead of pytest's skip when pytest is not importable."""


class KafkaSkipWarning(UserWarning):
    """Shown in pytest's warnings summary when Kafka tests were skipped."""


def kafka_skip_requested() -> bool:
    """True when the environment asks to skip all tests needing Kafka."""
    return os.environ.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def skip_if_kafka_disabled() -> None:
    """Skip (loudly) when SENSORGATE_SKIP_KAFKA=1; otherwise do nothing."""
    if not kafka_skip_requested():
        return
    msg = (
        f"{SKIP_ENV}=1: tests that need a real Kafka broker are SKIPPED; "
        "they did NOT run and prove nothing about Kafka delivery"
    )
    bar = "!" * 78
    sys.stderr.write(f"\n{bar}\n!!! {msg}\n{bar}\n")
    sys.stderr.flush()
    try:
        warnings.warn(msg, KafkaSkipWarning, stacklevel=2)
    except KafkaSkipWarning:  # warnings configured as errors: still just skip
        pass
    try:
        import pytest
    except ImportError:  # used outside pytest
        raise KafkaSkipped(msg) from None
    pytest.skip(msg)


def _kcat() -> str:
    path = shutil.which("kcat")
    if not path:
        raise KafkaBrokerError("kcat not found (Debian: apt-get install kcat)")
    return path


class KafkaBroker:
    """A local Kafka cluster of `brokers` (1 or 3) KRaft nodes in `workdir`.

    Node ids are 1..brokers.  With 3 nodes, topics default to replication
    factor 3 and min.insync.replicas=2; with 1 node, to 1 and 1.

    A secured broker (one node): `listeners` adds listeners besides
    PLAINTEXT, e.g. ["SASL_SSL:SASL_SSL", "SSL:SSL"] (their addresses:
    listener("SASL_SSL")); `config` is a properties text appended to the
    node's configuration (keystores, SASL, authorizer); `scram` lists SCRAM
    users made at format time ("SCRAM-SHA-512=[name=u,password=p]");
    `version` picks the Kafka release (default: fetch.sh's).
    PLAINTEXT (bootstrap, and the admin tools: acls(), configs(),
    topic_command()) stays unauthenticated.
    """

    def __init__(
        self,
        brokers: int = 1,
        workdir: Union[str, os.PathLike, None] = None,
        start_timeout: float = 90.0,
        listeners: Sequence[str] = (),
        config: Optional[str] = None,
        scram: Sequence[str] = (),
        version: Optional[str] = None,
    ) -> None:
        if brokers not in (1, 3):
            raise ValueError("brokers must be 1 or 3")
        if listeners and brokers != 1:
            raise ValueError("extra listeners need brokers=1")
        self.listeners = list(listeners)
        self.extra_config = config
        self.scram = list(scram)
        self.version = version  # a Kafka release; None: fetch.sh's default
        self.brokers = brokers
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix="sensorgate-kafka-")
        self.workdir = Path(workdir).resolve()
        self._started = False
        self._atexit_registered = False

    # ------------------------------------------------------------ plumbing
    def _run(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        cmd = [str(KAFKA_SH), *args, "--dir", str(self.workdir)]
        if "--" in args:  # keep pass-through arguments last
            i = args.index("--")
            cmd = [str(KAFKA_SH), *args[:i], "--dir", str(self.workdir), *args[i:]]
        try:
            env = dict(os.environ)
            if self.version:
                env["SENSORGATE_KAFKA_VERSION"] = self.version
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaBrokerError(
                f"{' '.join(cmd)} did not finish within {timeout:.0f}s\n"
                f"{exc.stdout or ''}{exc.stderr or ''}"
            ) from None
        if check and proc.returncode != 0:
            raise KafkaBrokerError(
                f"{' '.join(cmd)} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )
        return proc.stdout + proc.stderr

    def _kcat(self, *args: str, input: Optional[bytes] = None, timeout: float = 60.0):
        return subprocess.run(
            [_kcat(), *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "KafkaBroker":
        """Start all nodes and wait until a record can be produced."""
        skip_if_kafka_disabled()
        self.workdir.mkdir(parents=True, exist_ok=True)
        extra: List[str] = []
        for listener in self.listeners:
            extra += ["--listener", listener]
        if self.extra_config is not None:
            path = self.workdir / "extra.properties"
            path.write_text(self.extra_config)
            extra += ["--config", str(path)]
        for spec in self.scram:
            extra += ["--scram", spec]
        out = self._run(
            "start", "--brokers", str(self.brokers), *extra,
            timeout=self.start_timeout + 240,  # + first-run download
        )
        self.start_output = out.strip()
        self._started = True
        if not self._atexit_registered:
            atexit.register(self._stop_at_exit)
            self._atexit_registered = True
        self._start_reaper()
        return self

    def _start_reaper(self) -> None:
        """A detached watcher that stops this cluster when the process that
        started it is gone, however it ended (a signal, kill -9, a crash):
        atexit alone does not run on SIGTERM or SIGKILL, and the broker
        JVMs run in their own session, so nothing else would stop them."""
        if getattr(self, "_reaper", None) is not None:
            return
        script = (
            'while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
            '[ -f "$3/cluster.env" ] && "$2" stop --dir "$3" >/dev/null 2>&1; '
            'exit 0'
        )
        self._reaper = subprocess.Popen(
            ["sh", "-c", script, "sensorgate-kafka-reaper", str(os.getpid()),
             str(KAFKA_SH), str(self.workdir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def stop(self, clean: Optional[bool] = None) -> None:
        """Stop all nodes.  clean=True also deletes the cluster's data
        (default: only when the workdir was created by this object)."""
        if clean is None:
            clean = self._own_workdir
        if not (self.workdir / "cluster.env").exists():
            return
        self._run("stop", *(["--clean"] if clean else []), timeout=120)
        self._started = False

    def _stop_at_exit(self) -> None:
        if self._started:
            try:
                self.stop()
            except Exception:  # best effort at interpreter exit
                pass

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def kill_broker(self, node: int, graceful: bool = False) -> None:
        """Kill node `node` (SIGKILL, like a crash; graceful=True: SIGTERM
        with controlled shutdown).  Its data stays for start_broker()."""
        self._check_node(node)
        self._run("kill-broker", str(node), *(["--graceful"] if graceful else []))

    def start_broker(self, node: int) -> None:
        """Restart node `node` with its existing data; waits until it serves."""
        self._check_node(node)
        self._run("start-broker", str(node), timeout=self.start_timeout + 30)

    def _check_node(self, node: int) -> None:
        if not 1 <= node <= self.brokers:
            raise ValueError(f"node must be in 1..{self.brokers}")

    # ------------------------------------------------------------ facts
    @property
    def bootstrap(self) -> str:
        """Comma-separated host:port list of all brokers."""
        path = self.workdir / "bootstrap"
        if not path.exists():
            raise KafkaBrokerError(f"no bootstrap file in {self.workdir}: not started?")
        return path.read_text().strip()

    def listener(self, name: str) -> str:
        """host:port of the extra listener `name` (e.g. "SASL_SSL")."""
        path = self.workdir / "listeners"
        for line in (path.read_text().splitlines() if path.exists() else []):
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return parts[1]
        raise KafkaBrokerError(f"no listener {name} in {self.workdir}")

    def acls(self, *args: str, timeout: float = 60.0) -> str:
        """Run Kafka's AclCommand (kafka-acls) over PLAINTEXT."""
        return self._run("acls", "--", *args, timeout=timeout)

    def configs(self, *args: str, timeout: float = 60.0) -> str:
        """Run Kafka's ConfigCommand (kafka-configs) over PLAINTEXT."""
        return self._run("configs", "--", *args, timeout=timeout)

    @property
    def node_addresses(self) -> Dict[int, str]:
        """{node id: "host:port"} of the broker listeners."""
        return {i + 1: a for i, a in enumerate(self.bootstrap.split(","))}

    def pids(self) -> Dict[int, int]:
        """{node id: pid} of running nodes."""
        path = self.workdir / "pids"
        result: Dict[int, int] = {}
        if path.exists():
            for line in path.read_text().split("\n"):
                parts = line.split()
                if len(parts) == 2:
                    result[int(parts[0])] = int(parts[1])
        return result

    def log_path(self, node: int) -> Path:
        return self.workdir / "logs" / f"node-{node}.log"

    def metadata(self, topic: Optional[str] = None, timeout: float = 10.0) -> dict:
        """Cluster metadata as parsed from `kcat -L -J`."""
        args = ["-L", "-J", "-b", self.bootstrap, "-m", str(max(1, int(timeout)))]
        if topic is not None:
            args += ["-t", topic]
        proc = self._kcat(*args, timeout=timeout + 15)
        if proc.returncode != 0:
            raise KafkaBrokerError(
                f"kcat metadata request failed: {proc.stderr.decode(errors='replace')}"
            )
        return json.loads(proc.stdout)

    def leader_of(self, topic: str, partition: int) -> Optional[int]:
        """Node id leading topic/partition, or None if it has no leader now."""
        md = self.metadata(topic)
        for t in md.get("topics", []):
            if t.get("topic") != topic:
                continue
            for p in t.get("partitions", []):
                if p.get("partition") == partition:
                    leader = p.get("leader", -1)
                    return leader if isinstance(leader, int) and leader >= 0 else None
        return None

    def wait_for_leader(
        self,
        topic: str,
        partition: int,
        exclude: Iterable[int] = (),
        timeout: float = 30.0,
    ) -> int:
        """Wait until topic/partition has a leader not in `exclude` (e.g.
        after killing the old leader) and return its node id."""
        excluded = set(exclude)
        deadline = time.monotonic() + timeout
        last: Optional[int] = None
        while True:
            try:
                last = self.leader_of(topic, partition)
            except KafkaBrokerError:
                last = None
            if last is not None and last not in excluded:
                return last
            if time.monotonic() >= deadline:
                raise KafkaBrokerError(
                    f"{topic}/{partition}: no leader outside {sorted(excluded)} "
                    f"after {timeout:.0f}s (last seen: {last})"
                )
            time.sleep(0.3)

    # ------------------------------------------------------------ topics
    def create_topic(
        self,
        name: str,
        partitions: int = 3,
        rf: Optional[int] = None,
        configs: Optional[Dict[str, object]] = None,
        timeout: float = 30.0,
    ) -> None:
        """Create a topic with Kafka's own TopicCommand and wait until every
        partition has a leader.  rf defaults to the number of nodes."""
        if rf is None:
            rf = self.brokers
        args = [
            "topics", "--",
            "--create", "--topic", name,
            "--partitions", str(partitions),
            "--replication-factor", str(rf),
        ]
        for key, value in (configs or {}).items():
            args += ["--config", f"{key}={value}"]
        self._run(*args, timeout=timeout + 30)
        deadline = time.monotonic() + timeout
        while True:
            md = self.metadata(name)
            parts = [p for t in md.get("topics", []) if t.get("topic") == name
                     for p in t.get("partitions", [])]
            if len(parts) == partitions and all(p.get("leader", -1) >= 0 for p in parts):
                return
            if time.monotonic() >= deadline:
                raise KafkaBrokerError(f"topic {name}: partitions without leader after {timeout:.0f}s")
            time.sleep(0.2)

    def topic_command(self, *args: str, timeout: float = 60.0) -> str:
        """Run Kafka's TopicCommand (bootstrap filled in) and return its output."""
        return self._run("topics", "--", *args, timeout=timeout)

    # ------------------------------------------------------------ data
    def produce(
        self,
        topic: str,
        records: Sequence[Record],
        acks: str = "all",
        timeout: float = 60.0,
        extra: Sequence[str] = (),
    ) -> None:
        """Produce records with kcat.  A record is a value, or (key, value).
        Values must not contain newlines."""
        keyed = any(isinstance(r, tuple) for r in records)
        lines = []
        for r in records:
            if isinstance(r, tuple):
                key, value = r
                lines.append(f"{key or ''}\t{value}")
            else:
                value = r.decode() if isinstance(r, bytes) else r
                lines.append(f"\t{value}" if keyed else value)
        data = ("\n".join(lines) + "\n").encode()
        args = ["-P", "-b", self.bootstrap, "-t", topic, "-X", f"acks={acks}",
                "-X", f"message.timeout.ms={int(timeout * 1000)}", *extra]
        if keyed:
            args += ["-K", "\t"]
        proc = self._kcat(*args, input=data, timeout=timeout + 15)
        if proc.returncode != 0:
            raise KafkaBrokerError(f"kcat produce to {topic} failed: "
                                   f"{proc.stderr.decode(errors='replace')}")

    def consume(self, topic: str, fmt: str = "%k\t%s\n", timeout: float = 30.0) -> List[str]:
        """Everything currently in `topic`, from the beginning, one string per
        record formatted with kcat's -f (default: key TAB value)."""
        proc = self._kcat("-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning",
                          "-e", "-q", "-f", fmt, timeout=timeout)
        if proc.returncode != 0:
            raise KafkaBrokerError(f"kcat consume from {topic} failed: "
                                   f"{proc.stderr.decode(errors='replace')}")
        out = proc.stdout.decode(errors="replace")
        return [line for line in out.split("\n") if line != ""] if fmt.endswith("\n") else [out]
