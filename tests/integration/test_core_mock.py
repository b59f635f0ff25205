"""Core delivery tests against librdkafka's mock cluster in its own process.

The mock is used here for what it is good at: faults on demand (all
brokers down for 10 s).  The same promises are checked against a real
Kafka broker in test_core_kafka.py.
"""
import time

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


def check(recs, gw, last_seq, allow_dups=False):
    a = audit(recs, gw, last_seq)
    assert not a["missing"], f"lost {len(a['missing'])} events, first {a['missing'][:10]}"
    assert a["bad"] == 0, a
    assert a["order_violations"] == 0, a
    assert a["ts_mismatch"] == 0, a
    if not allow_dups:
        assert a["duplicates"] == 0, a
    return a


def test_end_to_end(tmp_path, kafka_mock):
    kafka_mock.cmd("topic t.s1 64")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, "e2e", 20000, 10000)).start()
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
    kafka_mock.cmd("down")
    time.sleep(5)
    grown = gw.spool_stat()
    time.sleep(5)
    kafka_mock.cmd("up")
    t0 = time.time()
    st = gw.wait_drained(timeout=120, min_seq=total)
    drain_s = time.time() - t0
    assert gw.stop() == 0
    assert grown["pending"] > 20000, f"spool did not grow while Kafka was down: {grown}"
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=total)
    a = check(recs, "down", st["last_seq"])
    print(f"\nbroker down 10 s: pending at peak >= {grown['pending']}, drained {drain_s:.1f} s "
          f"after the brokers returned, {a['unique']} events, {a['duplicates']} duplicates")
    final = gw.spool_stat()
    assert final["pending"] == 0


def test_kill9_restart(tmp_path, kafka_mock):
    """kill -9 mid-stream, restart: every event id arrives; duplicates only
    from the in-flight window, counted."""
    kafka_mock.cmd("topic t.s1 64")
    gw = Gateway(tmp_path, conf(kafka_mock.bootstrap, "crash", 30000, 5000)).start()
    time.sleep(3)
    gw.kill9()
    before = gw.spool_stat()
    gw.start()
    st = gw.wait_drained(timeout=90, min_seq=before["last_seq"] + 30000)
    assert gw.stop() == 0
    assert st["last_seq"] >= before["last_seq"] + 30000
    recs = read_topic(kafka_mock.bootstrap, "t.s1", count=st["last_seq"])
    a = check(recs, "crash", st["last_seq"], allow_dups=True)
    print(f"\nkill -9: {a['unique']} events, {a['duplicates']} duplicates (in-flight window)")
    # Seqs keep increasing across the restart: no id is reused.
    assert a["unique"] == st["last_seq"]
