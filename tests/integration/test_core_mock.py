"""Core delivery tests against librdkafka's mock cluster in its own process.

The mock is used here for what it is good at: faults on demand (all
brokers down for 10 s).  The same promises are checked against a real
Kafka broker in test_core_kafka.py.
"""
import os
import time

import pytest

from gateway import Gateway
from kafkaread import audit, read_topic

CONF = """
gateway: {{id: {gw}, status_interval: 1s, shutdown_timeout: 10s}}
spool: {{dir: "{{spool}}", fsync: 100ms, segment_bytes: 4MiB, max_bytes: 512MiB, ack_interval: 100ms}}
kafka:
  bootstrap: "{bootstrap}"
  topic: "t.{{source}}"
  properties: {{linger.ms: "5"}}
view: {{mode: lines}}
sources:
  - name: s1
    driver: sim
    limit: {limit}
    sensors:
      - {{id: k, kind: counter, rate: {rate}, replicas: 200}}
"""


def conf(bootstrap, gw, limit, total_rate):
    # The mock cluster keeps only about 5 MB per partition log: spread the
    # test topic over enough partitions that nothing is trimmed.
    return CONF.format(bootstrap=bootstrap, gw=gw, limit=limit, rate=total_rate / 200)


def with_kafka(text, *lines):
    """text with more keys in its kafka section."""
    anchor = '  properties: {linger.ms: "5"}\n'
    assert anchor in text
    return text.replace(anchor, anchor + "".join(f"  {line}\n" for line in lines))


def mock_reappends(recs):
    """Extra copies the mock cluster made itself: librdkafka 2.0's mock
    broker appends a ProduceRequest without the idempotent sequence
    check, so a batch in flight when the brokers go `down` and retried by
    librdkafka is appended twice, back to back (offsets o..o+n-1, then
    o+n..o+2n-1, same ids in the same order).  A real broker drops such a
    retry (test_core_kafka.py's failover test has no duplicates)."""
    seen, pairs = {}, []
    for r in sorted(recs, key=lambda r: (r["partition"], r["offset"])):
        rid = r["headers"].get("sg-id")
        if rid in seen:
            pairs.append((seen[rid], r))
        else:
            seen[rid] = r
    groups = {}
    for a, b in pairs:
        if a["partition"] == b["partition"]:
            groups.setdefault((a["partition"], b["offset"] - a["offset"]), []).append(a["offset"])
    n = 0
    for (_, delta), firsts in groups.items():
        firsts.sort()
        if len(firsts) == delta and firsts[-1] - firsts[0] == delta - 1:
            n += delta  # one batch, appended twice back to back
    return n


def check(recs, gw, last_seq, allow_dups=False):
    a = audit(recs, gw, last_seq)
    assert not a["missing"], f"lost {len(a['missing'])} events, first {a['missing'][:10]}"
    assert a["bad"] == 0, a
    assert a["order_violations"] == 0, a
    assert a["ts_mismatch"] == 0, a
    if not allow_dups:
        assert a["duplicates"] == mock_reappends(recs), a
    return a


@pytest.mark.parametrize("batch_wait", ["5ms", "0ms"])
def test_end_to_end(tmp_path, kafka_mock, batch_wait):
    """Every event once, in order, whether the producer gathers what the
    spool has for kafka.batch_wait (the default) or reads each event as
    soon as it is appended (0)."""
    kafka_mock.cmd("topic t.s1 64")
    text = with_kafka(conf(kafka_mock.bootstrap, "e2e", 20000, 10000), f"batch_wait: {batch_wait}")
    gw = Gateway(tmp_path, text).start()
    st = gw.wait_drained(timeout=60, min_seq=20000)
    assert gw.stop() == 0
    assert st["last_seq"] == 20000
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=20000)
    a = check(recs, "e2e", 20000)
    assert a["unique"] == 20000


def test_broker_down_10s(tmp_path, kafka_mock):
    """All brokers down for 10 s at 10k events/s: the spool grows, then
    drains; every event arrives once, in order per key."""
    total = 150000
    kafka_mock.cmd("topic t.s1 64")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, "down", total, 10000)).start()
    time.sleep(2)
    assert gw.metric("sensorgate_kafka_brokers_up") >= 1
    kafka_mock.cmd("down")
    # The gauge (and /ready) follow librdkafka's _ALL_BROKERS_DOWN at
    # once, not at the next statistics (every 5 s).
    t_down = time.time()
    while gw.metric("sensorgate_kafka_brokers_up") != 0 and time.time() - t_down < 2:
        time.sleep(0.1)
    assert gw.metric("sensorgate_kafka_brokers_up") == 0, "brokers_up still > 0 2 s after down"
    time.sleep(5 - (time.time() - t_down))
    grown = gw.spool_stat()
    time.sleep(5)
    kafka_mock.cmd("up")
    t0 = time.time()
    st = gw.wait_drained(timeout=120, min_seq=total)
    drain_s = time.time() - t0
    assert gw.metric("sensorgate_kafka_brokers_up") >= 1
    assert gw.stop() == 0
    assert grown["pending"] > 20000, f"spool did not grow while Kafka was down: {grown}"
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=total)
    a = check(recs, "down", st["last_seq"])
    print(f"\nbroker down 10 s: pending at peak >= {grown['pending']}, drained {drain_s:.1f} s "
          f"after the brokers returned, {a['unique']} events, {a['duplicates']} duplicates")
    final = gw.spool_stat()
    assert final["pending"] == 0


def test_window_bounded_in_bytes(tmp_path, kafka_mock):
    """kafka.max_in_flight_bytes bounds what is handed to librdkafka: with
    the brokers down the window fills to the byte bound, not to the record
    bound (max_in_flight, far above it), and holds there; once they are
    back every event arrives once."""
    total, bound = 30000, 64 * 1024
    kafka_mock.cmd("topic t.s1 64")
    text = with_kafka(conf(kafka_mock.bootstrap, "win", total, 5000),
                      f"max_in_flight_bytes: {bound}", "max_in_flight: 100000")
    gw = Gateway(tmp_path, text).start()
    time.sleep(1)
    kafka_mock.cmd("down")
    time.sleep(3)
    samples = []
    for _ in range(10):
        samples.append((gw.metric("sensorgate_kafka_in_flight_bytes"),
                        gw.metric("sensorgate_kafka_in_flight_records")))
        time.sleep(0.2)
    kafka_mock.cmd("up")
    st = gw.wait_drained(timeout=120, min_seq=total)
    assert gw.stop() == 0
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=total)
    a = check(recs, "win", st["last_seq"])
    assert a["unique"] == total
    # A record is about 300 bytes: one more than the bound may be in flight.
    for nbytes, nrecs in samples:
        assert 0 < nrecs < 1000, samples
        assert bound - 1024 <= nbytes <= bound + 1024, samples
    print(f"\nwindow while the brokers were down: {samples[-1][1]:.0f} records, "
          f"{samples[-1][0]:.0f} bytes (bound {bound})")


def test_kill9_restart(tmp_path, kafka_mock):
    """kill -9 mid-stream, restart: every event id arrives; duplicates only
    from the in-flight window, counted."""
    kafka_mock.cmd("topic t.s1 64")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, "crash", 30000, 5000)).start()
    time.sleep(3)
    while gw.spool_stat()["acked"] < 5000:
        time.sleep(0.2)
    time.sleep(1)
    gw.kill9()
    before = gw.spool_stat()
    gw.start()
    st = gw.wait_drained(timeout=90, min_seq=before["last_seq"] + 30000)
    assert gw.stop() == 0
    assert st["last_seq"] >= before["last_seq"] + 30000
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=st["last_seq"])
    a = check(recs, "crash", st["last_seq"], allow_dups=True)
    print(f"\nkill -9 at 5k events/s: {a['unique']} events, {a['duplicates']} duplicates "
          f"per kill -9 (the records in flight; target <= 50)")
    # Regression: a restart once resent every delivered record still in a
    # live segment.  Only the unsaved tail of the cursor may come again.
    assert a["duplicates"] < before["acked"] / 2, (a, before)
    # Regression (issue 11): the cursor saved every 100 ms and records
    # sent in 100 ms group-commit bursts cost ~500-680 duplicates per kill.
    # Now the cursor is written as acks arrive and records are sent as
    # they are appended: only what is in flight comes again (measured
    # 14-25 here, idle).  What is in flight grows with the machine's load,
    # so the bound sits between that and the old behaviour.
    assert a["duplicates"] <= 300, a
    # Seqs keep increasing across the restart: no id is reused.
    assert a["unique"] == st["last_seq"]


def test_fatal_producer_error_recreates_and_resumes(tmp_path, kafka_mock):
    """A fatal idempotent-producer error (injected after 5000 records): the
    producer is destroyed and recreated, and resumes from the spool."""
    kafka_mock.cmd("topic t.s1 64")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, "fatal", 30000, 10000))
    gw.start(env={"SENSORGATE_FAULT_FATAL_AFTER": "5000"})
    st = gw.wait_drained(timeout=90, min_seq=30000)
    assert gw.stop() == 0
    log = gw.log()
    assert "fatal producer error" in log and "recreating the producer" in log
    assert "resending from seq" in log
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=30000)
    a = check(recs, "fatal", st["last_seq"], allow_dups=True)
    print(f"\nfatal error after 5000: {a['unique']} events, lost 0, {a['duplicates']} duplicates")


def test_full_spool_blocks_the_source_without_loss(tmp_path, kafka_mock):
    """when_full: block with Kafka down: the source is held back (no drop),
    and everything flows once Kafka is back."""
    kafka_mock.cmd("topic t.s1 64")
    text = conf(kafka_mock.bootstrap, "block", 60000, 20000).replace(
        "max_bytes: 512MiB", "max_bytes: 2MiB").replace("segment_bytes: 4MiB", "segment_bytes: 256KiB, max_record_bytes: 64KiB")
    gw = Gateway(tmp_path, text).start()
    kafka_mock.cmd("down")
    time.sleep(4)
    a1 = gw.spool_stat()
    time.sleep(2)
    a2 = gw.spool_stat()
    assert a1["bytes"] <= 2 * 1024 * 1024 and a2["last_seq"] == a1["last_seq"], (a1, a2)
    kafka_mock.cmd("up")
    st = gw.wait_drained(timeout=120, min_seq=60000)
    assert gw.stop() == 0
    assert "dropped" not in gw.log().split("running")[-1].replace("dropped 0", "")
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=60000)
    check(recs, "block", st["last_seq"], allow_dups=False)


def _threads(pid):
    """{name: [tid, ...]} of the process's threads."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                out.setdefault(f.read().strip(), []).append(int(t))
        except FileNotFoundError:
            pass  # ended meanwhile
    return out


def _switches(tid):
    with open(f"/proc/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches for thread {tid}")


def _slack(tid):
    with open(f"/proc/{tid}/timerslack_ns") as f:
        return int(f.read())


def test_idle_costs_librdkafka_wakeups_not_ours(tmp_path, kafka_mock):
    """Once everything is delivered, the producer thread sleeps on its fds
    (the spool's eventfd, librdkafka's queue, stop) instead of waking
    every second, and librdkafka's threads run with 1 ms of timer slack,
    which ends its main thread's sub-millisecond spin before each timer
    (librdkafka < 2.3.1); the gateway's own threads keep the default."""
    text = conf(kafka_mock.bootstrap, "idle", 10, 1000)
    gw = Gateway(tmp_path, text).start()
    gw.wait_drained(timeout=60, min_seq=10)
    pid = gw.proc.pid
    th = _threads(pid)
    rdk = [t for name, tids in th.items() if name.startswith("rdk:") for t in tids]
    assert rdk, th
    for t in rdk:
        assert _slack(t) == 1_000_000, (t, _slack(t))
    for name in ("sensorgate", "sg-producer", "sg-spool"):
        for t in th[name]:
            assert _slack(t) != 1_000_000, (name, _slack(t))
    (prod,) = th["sg-producer"]
    time.sleep(1)
    s0 = _switches(prod)
    time.sleep(4)
    woke = _switches(prod) - s0
    assert gw.stop() == 0
    # librdkafka's statistics come every 5 s (one wake-up); the old
    # once-a-second bound made it 4 or more.
    assert woke <= 2, f"the idle producer woke {woke} times in 4 s"
