"""The command line: exit codes, check, spool tools, signals, secrets."""
import os
import signal
import subprocess
import time

from gateway import Gateway, sg_bin


def run(*args, **kw):
    return subprocess.run([sg_bin(), *args], capture_output=True, text=True, timeout=60, **kw)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "run" in r.stdout and "check" in r.stdout
    for cmd in ("run", "check", "spool", "kafka-mock"):
        r = run(cmd, "--help")
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        assert "usage" in r.stdout
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("sensorgate ")
    assert run("nonsense").returncode == 2
    assert run("run").returncode == 2


def test_check_valid_and_invalid(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("gateway: {id: g}\nsources:\n  - {name: a, driver: sim, sensors: [{id: x}]}\n")
    r = run("check", "-c", str(good))
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("gateway:\n  id: g\n  idd: typo\nspool:\n  max_bytes: huge\n")
    r = run("check", "-c", str(bad))
    assert r.returncode == 2
    assert f"{bad}:3:3: gateway.idd: unknown key" in r.stderr
    assert f"{bad}:5:14: spool.max_bytes: 'huge' is not a size" in r.stderr


def test_check_reports_bad_kafka_property(tmp_path):
    f = tmp_path / "k.yaml"
    f.write_text("kafka:\n  properties: {no.such.property: 1}\n")
    r = run("check", "-c", str(f))
    assert r.returncode == 2
    assert "kafka.properties.no.such.property" in r.stderr
    f.write_text("kafka:\n  properties: {enable.idempotence: 'false'}\n")
    r = run("check", "-c", str(f))
    assert r.returncode == 2 and "kafka.properties.enable.idempotence" in r.stderr


def test_check_never_prints_secrets(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("hunter2-from-file\n")
    f = tmp_path / "s.yaml"
    f.write_text("kafka:\n  properties:\n    sasl.password: ${SG_PW}\n    sasl.username: bob\n")
    r = run("check", "-c", str(f), "--print", env={**os.environ, "SG_PW": "hunter2-env"})
    assert r.returncode == 0, r.stderr
    assert "hunter2" not in r.stdout + r.stderr
    assert "<secret>" in r.stdout


def test_sigterm_exits_zero_and_resumes(tmp_path, kafka_mock):
    conf = f"""
gateway: {{id: sig, shutdown_timeout: 5s}}
spool: {{dir: "{{spool}}", fsync: 50ms}}
kafka: {{bootstrap: "{kafka_mock.bootstrap}"}}
view: {{mode: lines}}
sources:
  - {{name: s, driver: sim, sensors: [{{id: x, kind: counter, rate: 500}}]}}
"""
    gw = Gateway(tmp_path, conf).start()
    time.sleep(1.5)
    t0 = time.time()
    assert gw.stop(signal.SIGTERM) == 0
    assert time.time() - t0 < 7
    st1 = gw.spool_stat()
    assert st1["last_seq"] > 300
    gw.start()
    time.sleep(1)
    assert gw.stop(signal.SIGINT) == 0
    st2 = gw.spool_stat()
    assert st2["last_seq"] > st1["last_seq"]  # seqs continue across restarts
    assert "stopped" in gw.log()


def test_spool_stat_and_dump(tmp_path, kafka_mock):
    kafka_mock.cmd("down")
    conf = f"""
gateway: {{id: dump}}
spool: {{dir: "{{spool}}"}}
kafka: {{bootstrap: "{kafka_mock.bootstrap}"}}
view: {{mode: lines}}
sources:
  - {{name: s, driver: sim, limit: 7, sensors: [{{id: x, kind: counter, rate: 100}}]}}
"""
    gw = Gateway(tmp_path, conf).start()
    time.sleep(1)
    assert gw.stop() == 0
    st = gw.spool_stat()
    assert st["last_seq"] == 7 and st["pending"] == 7
    r = run("spool", "dump", str(gw.spool))
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 7
    assert "id=dump:1 " in lines[0] and '"value":0' in lines[0]
    assert run("spool", "stat").returncode == 2


def test_spool_in_use_is_refused(tmp_path, kafka_mock):
    conf = f"""
gateway: {{id: lock}}
spool: {{dir: "{tmp_path}/shared-spool"}}
kafka: {{bootstrap: "{kafka_mock.bootstrap}"}}
view: {{mode: off}}
sources:
  - {{name: s, driver: sim, sensors: [{{id: x}}]}}
"""
    a = Gateway(tmp_path / "a", conf).start()
    b = Gateway(tmp_path / "b", conf)
    b.start(wait_running=False)
    assert b.proc.wait(10) == 1
    assert "in use by another process" in b.log()
    assert a.stop() == 0


def test_kafka_mock_sleeps_after_stdin_closes():
    """`sensorgate kafka-mock` reads commands on stdin and keeps running
    after it closes (a test harness that lets go of the pipe, `< /dev/null`
    in a shell): it must then sleep until a signal, not spin on the hang-up."""
    p = subprocess.Popen([sg_bin(), "kafka-mock", "--brokers", "1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("bootstrap=")
        p.stdin.close()
        time.sleep(0.5)

        def cpu_s():
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

        c0 = cpu_s()
        time.sleep(2)
        used = cpu_s() - c0
        assert p.poll() is None, "kafka-mock exited when its stdin closed"
        assert used < 0.2, f"kafka-mock used {used:.2f} s of CPU in 2 s with stdin closed"
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
