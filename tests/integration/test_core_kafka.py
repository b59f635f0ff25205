"""Delivery audits against a real Apache Kafka broker (KRaft).

Each test reads back with kcat, an independent client, and audits by
event id: every id present, per-key order kept, record timestamp = event
time, headers present, value a valid envelope v1.
"""
import random
import time

import pytest

from gateway import Gateway
from kafkaread import audit, read_topic

CONF = """
gateway: {{id: {gw}, status_interval: 1s, shutdown_timeout: 10s}}
spool: {{dir: "{{spool}}", fsync: 100ms, segment_bytes: 4MiB, max_bytes: 1GiB, ack_interval: 100ms}}
kafka:
  bootstrap: "{bootstrap}"
  topic: "{topic}"
  properties: {{{props}}}
view: {{mode: lines}}
sources:
{sources}
"""

SIM = """  - name: {name}
    driver: sim
    limit: {limit}
    {topic}
    sensors:
      - {{id: k, kind: counter, rate: {rate}, replicas: 50}}
"""


def conf(bootstrap, gw, topic, limit, rate, props="", extra_sources=""):
    src = SIM.format(name="s1", limit=limit, rate=rate / 50, topic="") + extra_sources
    return CONF.format(gw=gw, bootstrap=bootstrap, topic=topic, props=props, sources=src)


def drain_only(gw):
    """Restart with the sim disabled: the gateway only empties its spool."""
    gw.conf.write_text(gw.conf.read_text().replace("    driver: sim\n", "    driver: sim\n    enabled: false\n"))
    gw.start()


def crash_then_drain(gw, times, rnd, lo, hi):
    """kill -9 and restart `times` times at random moments under load,
    then stop cleanly and deliver what is left with the source off."""
    gw.start()
    for _ in range(times):
        time.sleep(rnd.uniform(lo, hi))
        gw.kill9()
        gw.start()
    time.sleep(1)
    assert gw.stop() == 0
    drain_only(gw)
    st = gw.wait_drained(timeout=120)
    assert gw.stop() == 0
    return st


def check(recs, gw, last_seq, allow_dups):
    a = audit(recs, gw, last_seq)
    assert not a["missing"], f"lost {len(a['missing'])} events, first {a['missing'][:10]}"
    assert a["bad"] == 0 and a["order_violations"] == 0 and a["ts_mismatch"] == 0, a
    if not allow_dups:
        assert a["duplicates"] == 0, a
    return a


def test_end_to_end(tmp_path, kafka):
    kafka.create_topic("e2e", partitions=6)
    gw = Gateway(tmp_path, conf(kafka.bootstrap, "k-e2e", "e2e", 20000, 5000)).start()
    st = gw.wait_drained(timeout=90, min_seq=20000)
    assert gw.stop() == 0
    recs = read_topic(kafka.bootstrap, "e2e", count=20000)
    a = check(recs, "k-e2e", st["last_seq"], allow_dups=False)
    assert a["unique"] == 20000
    # One sensor, one partition.
    parts = {}
    for r in recs:
        parts.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(p) == 1 for p in parts.values())


def test_outage_30s(tmp_path, kafka):
    """The broker stopped for 30 s at 5k events/s: the spool grows, then
    drains, nothing lost."""
    kafka.create_topic("outage", partitions=6)
    total = 5000 * 45
    gw = Gateway(tmp_path, conf(kafka.bootstrap, "k-out", "outage", total, 5000)).start()
    time.sleep(3)
    kafka.kill_broker(1, graceful=False)
    time.sleep(30)
    grown = gw.spool_stat()
    kafka.start_broker(1)
    t0 = time.time()
    st = gw.wait_drained(timeout=180, min_seq=total)
    drain = time.time() - t0
    assert gw.stop() == 0
    assert grown["pending"] >= 5000 * 25, grown
    recs = read_topic(kafka.bootstrap, "outage", count=total, timeout=120)
    a = check(recs, "k-out", st["last_seq"], allow_dups=True)
    print(f"\noutage 30 s: {grown['pending']} events spooled during it; all delivered "
          f"{drain:.1f} s after the broker returned (sim still running); "
          f"lost 0, duplicates {a['duplicates']}")


def test_crash_20_times(tmp_path, kafka):
    """kill -9 twenty times at random moments under load; restart each time."""
    kafka.create_topic("crash", partitions=6)
    gw = Gateway(tmp_path, conf(kafka.bootstrap, "k-crash", "crash", 0, 3000))
    st = crash_then_drain(gw, 20, random.Random(7), 0.3, 2.0)
    recs = read_topic(kafka.bootstrap, "crash", count=st["last_seq"], timeout=120)
    a = check(recs, "k-crash", st["last_seq"], allow_dups=True)
    print(f"\n20 x kill -9: {a['unique']} events, lost 0, duplicates {a['duplicates']} "
          f"({a['duplicates'] / 20:.1f} per kill -9 at 3k events/s; target <= 50 at 5k/s)")
    # Regression (issue 11): about 260 per kill here before (cursor saved
    # every 100 ms, records sent in group-commit bursts), and 1,000 in the
    # session before that.  What is in flight at a kill grows with the
    # machine's load (11 per kill idle, up to 160 with load average 10 on
    # 2 cores), so the bound guards against that regression with room for
    # a loaded machine; the figure is printed, and make bench is where the
    # target is judged.
    assert a["duplicates"] <= 20 * 200, a


def test_bad_topic_and_oversize_record(tmp_path, kafka):
    """A record over the topic's max.message.bytes: clear error, counted,
    kept in rejected.log. A topic that does not exist (and is not created
    on first use): its events are held, not rejected, and delivered in
    order once the topic is created. The rest flows meanwhile."""
    kafka.create_topic("good", partitions=3)
    kafka.create_topic("tiny", partitions=1, configs={"max.message.bytes": "100"})
    extra = SIM.format(name="big", limit=20, rate=50, topic='topic: "tiny"') + \
        SIM.format(name="nowhere", limit=10, rate=50, topic='topic: "no-such-topic-x"')
    props = '"allow.auto.create.topics": "false", "topic.metadata.propagation.max.ms": "3000"'
    gw = Gateway(tmp_path, conf(kafka.bootstrap, "k-bad", "good", 2000, 1000, props=props,
                                extra_sources=extra)).start()
    gw.wait_drained(timeout=90, min_seq=2030)
    gw.wait_log(r"topic no-such-topic-x refused by Kafka: (_UNKNOWN_TOPIC|UNKNOWN_TOPIC_OR_PART)",
                timeout=30)
    good = read_topic(kafka.bootstrap, "good", count=2000)
    ids = {r["headers"]["sg-id"] for r in good}
    assert len(ids) == 2000
    rejected = (gw.spool / "rejected.log").read_text()
    assert rejected.count("seq=") == 20, rejected
    assert "tiny" in rejected and ("too large" in rejected.lower() or "MSG_SIZE" in rejected)
    assert "no-such-topic-x" not in rejected
    assert (gw.spool / "held" / "no-such-topic-x.held").exists()
    kafka.create_topic("no-such-topic-x", partitions=1)
    gw.wait_log(r"topic no-such-topic-x is taken again: 10 held events delivered", timeout=90)
    assert gw.stop() == 0
    recs = read_topic(kafka.bootstrap, "no-such-topic-x", count=10)
    seqs = [int(r["headers"]["sg-id"].rsplit(":", 1)[1]) for r in recs]
    assert len(seqs) == 10 and seqs == sorted(seqs), seqs


@pytest.fixture(scope="module")
def kafka3(tmp_path_factory):
    import os
    if os.environ.get("SENSORGATE_SKIP_KAFKA") == "1":
        pytest.skip("SENSORGATE_SKIP_KAFKA=1")
    from kafka_broker import KafkaBroker
    b = KafkaBroker(brokers=3, workdir=str(tmp_path_factory.mktemp("kafka3")))
    b.start()
    yield b
    b.stop()


def test_failover_leader_killed(tmp_path, kafka3):
    """3 brokers, RF 3, min.insync.replicas 2: kill a partition leader
    mid-stream; nothing lost, nothing duplicated."""
    kafka3.create_topic("fo", partitions=3, rf=3, configs={"min.insync.replicas": "2"})
    total = 40000
    gw = Gateway(tmp_path, conf(kafka3.bootstrap, "k-fo", "fo", total, 4000)).start()
    time.sleep(3)
    leader = kafka3.leader_of("fo", 0)
    kafka3.kill_broker(leader)
    st = gw.wait_drained(timeout=180, min_seq=total)
    assert gw.stop() == 0
    kafka3.start_broker(leader)
    recs = read_topic(kafka3.bootstrap, "fo", count=total, timeout=120)
    a = check(recs, "k-fo", st["last_seq"], allow_dups=False)
    print(f"\nfailover: leader {leader} killed; {a['unique']} events, lost 0, duplicates 0")


def test_exactly_once_across_crashes(tmp_path, kafka):
    """delivery: exactly_once: kill -9 ten times under load; a
    read_committed consumer sees every event exactly once."""
    kafka.create_topic("eos", partitions=6)
    text = conf(kafka.bootstrap, "k-eos", "eos", 0, 3000).replace(
        "kafka:\n", "kafka:\n  delivery: exactly_once\n  checkpoint_topic: eos-ckpt\n", 1)
    gw = Gateway(tmp_path, text)
    st = crash_then_drain(gw, 10, random.Random(11), 0.5, 2.5)
    # The spool cursor now follows each commit at once (issue 11), so a
    # kill between a commit and the cursor write is rare: lose the cursor
    # on purpose, and the checkpoint in Kafka alone must keep the spool's
    # delivered records from being sent again.
    (gw.spool / "ack").unlink()
    gw.start()
    st = gw.wait_drained(timeout=60)
    assert gw.stop() == 0
    recs = read_topic(kafka.bootstrap, "eos", count=st["last_seq"], timeout=120, read_committed=True)
    a = check(recs, "k-eos", st["last_seq"], allow_dups=False)
    print(f"\nexactly_once, 10 x kill -9: {a['unique']} events, lost 0, duplicates 0")
    assert "nothing is sent twice" in gw.log()
