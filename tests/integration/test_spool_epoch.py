"""Event ids stay unique when the spool is lost (issue 11, defect 9).

A reflashed SD card or a spool on tmpfs starts again at seq 1, so
`<gateway>:<seq>` repeats.  The spool epoch, made with the spool, travels
as the sg-epoch header and the envelope's "epoch"; the SQLite sink keys
rows by (id, epoch).  Before the fix the sink silently dropped the second
spool's events as duplicates of the first's.  Also: a database the
previous release wrote (keyed by id alone) is converted, its rows kept.
"""
import json
import shutil
import sqlite3
import subprocess

from gateway import Gateway, sg_bin
from kafkaread import read_topic

CONF = """
gateway: {{id: ep}}
spool: {{dir: "{{spool}}", fsync: 50ms}}
kafka: {{bootstrap: "{bs}", topic: "ep.{{source}}"}}
view: {{mode: off}}
sources:
  - name: a
    driver: sim
    limit: {n}
    sensors: [{{id: x, kind: counter, rate: 200, replicas: 10}}]
"""


def run_once(gw, n):
    gw.start()
    gw.wait_drained(timeout=60, min_seq=n)
    assert gw.stop() == 0


def sink_db(bs, db, group):
    p = subprocess.run([sg_bin(), "sink", "-b", bs, "-t", "ep.a", "-g", group,
                        "--from-beginning", "--to", f"sqlite:{db}", "--idle-exit", "3"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def test_ids_unique_across_a_lost_spool(tmp_path, kafka_mock):
    n = 1000
    kafka_mock.cmd("topic ep.a 4")
    db = tmp_path / "events.db"
    # A database of the previous release, keyed by id alone, one row in it.
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE events (id TEXT PRIMARY KEY, topic TEXT, partition INTEGER,"
                " offset INTEGER, key TEXT, ts_ms INTEGER, source TEXT, value BLOB)")
    con.execute("INSERT INTO events VALUES ('old:1', 't', 0, 0, 'k', 1, 's', 'v')")
    con.commit()
    con.close()

    gw = Gateway(tmp_path, CONF.format(bs=kafka_mock.bootstrap, n=n))
    run_once(gw, n)
    first_epoch = (gw.spool / "epoch").read_bytes()
    shutil.rmtree(gw.spool)  # the SD card reflashed
    run_once(gw, n)
    assert (gw.spool / "epoch").read_bytes() != first_epoch

    recs = read_topic(kafka_mock.bootstrap, "ep.a", count=2 * n)
    assert len(recs) == 2 * n
    keys = {(r["headers"]["sg-id"], r["headers"].get("sg-epoch")) for r in recs}
    ids = {r["headers"]["sg-id"] for r in recs}
    assert len(ids) == n  # the ids alone repeat ...
    assert len(keys) == 2 * n  # ... with the epoch they are unique
    env = json.loads(recs[0]["value"])
    assert env["epoch"] == recs[0]["headers"]["sg-epoch"] and len(env["epoch"]) == 16

    out = sink_db(kafka_mock.bootstrap, db, "g1")
    assert "converting the events table" in out, out
    con = sqlite3.connect(db)
    rows = con.execute("select count(*), count(distinct id), count(distinct epoch) from events"
                       " where id like 'ep:%'").fetchone()
    assert rows == (2 * n, n, 2), rows
    assert con.execute("select epoch from events where id = 'old:1'").fetchone() == ("",)
    con.close()
    # All of it again (another group): every record is a duplicate now.
    out = sink_db(kafka_mock.bootstrap, db, "g2")
    assert f"0 records written, {2 * n} duplicates ignored" in out, out
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from events").fetchone() == (2 * n + 1,)


def test_exactly_once_after_a_lost_spool(tmp_path, kafka_mock):
    """delivery: exactly_once resumes after the checkpoint in Kafka; the
    checkpoint of a lost spool (another epoch) must not make the new
    spool's seqs 1..N count as committed: they would never be sent."""
    n = 600
    kafka_mock.cmd("topic ep.a 4")
    kafka_mock.cmd("topic ep-ckpt 1")
    text = CONF.format(bs=kafka_mock.bootstrap, n=n).replace(
        "kafka: {", "kafka: {delivery: exactly_once, checkpoint_topic: ep-ckpt, ", 1)
    gw = Gateway(tmp_path, text)
    run_once(gw, n)
    shutil.rmtree(gw.spool)
    run_once(gw, n)
    assert "resuming after it" not in gw.log().rsplit("---- start", 1)[-1]
    recs = read_topic(kafka_mock.bootstrap, "ep.a", count=2 * n, read_committed=True)
    keys = {(r["headers"]["sg-id"], r["headers"]["sg-epoch"]) for r in recs}
    assert len(keys) == 2 * n, (len(keys), len(recs))
