#!/usr/bin/env python3
"""sensorgate benchmarks (issue 7): every scenario next to its reference,
in the same run, against a real local Kafka broker.

    python3 tests/bench/bench.py [--runs 3] [--only produce,mqtt,...] [--smoke]

`make bench` runs this after building the gateway and the helper programs
(tests/bench/bench.mk).  Each measurement is repeated --runs times,
gateway and reference interleaved (A B A B ...) so that slow phases of
this shared machine hit both alike; the table reports the medians and the
json keeps every run.  Results: bench/results/<UTC date>.md, .json, .svg,
.png.  docs/benchmarks.md explains the method.

A scenario whose driver or tool is missing is reported as
"not run: <reason>", never estimated.  Every wait is bounded in time and
every socket is on 127.0.0.1.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))

from gateway import Gateway, sg_bin  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
STATUS_RE = re.compile(
    r"\[status\] read (\d+)/s, delivered (\d+)/s \(total (\d+)\), spool (\d+) records.*?"
    r"latency p50 ([\d.]+) ms p99 ([\d.]+) ms p999 ([\d.]+) ms")
KCAT_FAIR = ["-X", "enable.idempotence=true", "-X", "acks=all"]
# The headers the gateway puts on every sim record (docs/events.md), with
# values of the same length, so the kcat reference sends as many bytes.
KCAT_HEADERS = ["-H", "sg-id=bench:100000", "-H", "sg-source=sim",
                "-H", "content-type=application/vnd.sensorgate.event.v1+json",
                "-H", "sg-epoch=00c0ffee00c0ffee"]

# (what the ratio is, the bound, "min": ratio >= bound, "max": ratio <= bound).
# Issue 15's targets where it sets one (the others from issue 7).
TARGETS = {
    "produce": ("gateway/kcat", 0.8),
    "mqtt_sub": ("gateway/mosquitto_sub", 0.9),
    "mqtt_sub_q1": ("gateway/mosquitto_sub", 0.95),
    "mqtt_cpu": ("gateway/pipeline CPU per message", 1.0, "max"),
    "modbus": ("gateway/plain", 0.95),
    "spool": ("spool/plain", 0.9),
    "scrape": ("flooded/quiet", 0.98),
    "instr": ("gateway/kcat instructions per event", 1.5, "max"),
    "flat": ("CPU per event 1k/100k", 2.0, "max"),
}
# The committed report this "before -> after" column compares with.
BEFORE = REPO / "bench" / "results" / "2026-11-24.json"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------- process facts
def proc_cpu_s(pid):
    """CPU time of pid (all its threads) in seconds, or None if gone: the
    sum of the threads' time on a CPU from /proc/PID/task/*/schedstat
    (nanoseconds; a window of an idle process holds less than one 10 ms
    tick of utime + stime), else utime + stime from /proc/PID/stat."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks) / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_hwm_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def run_measured(cmd, stdin=None, timeout=300):
    """Run cmd to its end: (returncode, stdout, stderr, peak RSS kB, CPU s),
    the last two from wait4's rusage (the process alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdin=stdin or subprocess.DEVNULL, stdout=out, stderr=err)
        r = Reaped(p)
        r.wait(timeout)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read(), r.rss_kb, r.cpu_s


class Reaped:
    """A child reaped with wait4, so its own CPU is known (Popen.poll would
    reap it without it), and its peak RSS: VmHWM, read while it runs (the
    rusage's ru_maxrss counts the forking Python's RSS too)."""

    def __init__(self, proc):
        self.proc, self.ru, self.hwm = proc, None, None

    def done(self):
        if self.ru is None:
            h = proc_hwm_kb(self.proc.pid)
            if h:
                self.hwm = max(self.hwm or 0, h)
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.ru = ru
                self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.ru is not None

    def wait(self, timeout):
        deadline = time.time() + timeout
        while not self.done():
            if time.time() > deadline:
                self.proc.kill()
                deadline = time.time() + 30
            time.sleep(0.02)
        return self.proc.returncode

    def terminate(self):
        if not self.done():
            self.proc.terminate()

    @property
    def rss_kb(self):
        return self.hwm

    @property
    def cpu_s(self):
        return self.ru.ru_utime + self.ru.ru_stime if self.ru else None


def latency_buckets(port):
    """Cumulative counts of the delivery latency histogram by bound (s),
    from /metrics; {} when it cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except Exception:  # noqa: BLE001 - no figure rather than a failed run
        return {}
    out = {}
    for le, v in re.findall(r'sensorgate_delivery_latency_seconds_bucket\{le="([^"]+)"\} (\d+)',
                            text):
        out[float("inf") if le == "+Inf" else float(le)] = int(v)
    return out


def latency_max_bound(before, after):
    """The smallest histogram bound (ms) that holds every latency added
    between two snapshots: an upper bound of the maximum, or None."""
    if not after:
        return None
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    if total <= 0:
        return None
    for le in sorted(after):
        if after[le] - before.get(le, 0) >= total:
            return le * 1000
    return None


def status_lines(gw):
    """Parsed status lines of the gateway's current start, in order."""
    text = gw.log().rsplit("---- start", 1)[-1]
    out = []
    for m in STATUS_RE.finditer(text):
        r, d, tot, sp, p50, p99, p999 = m.groups()
        out.append(dict(read=int(r), delivered=int(d), total=int(tot), spool=int(sp),
                        p50=float(p50), p99=float(p99), p999=float(p999)))
    return out


def delivered_probe(gw, n, near=0.9):
    """A function returning how many records Kafka has acknowledged to gw,
    asking the gateway as little as the moment allows: the spool's cursor
    (`spool stat`, another process) at most every 50 ms until it is within
    10 % of n, then the gateway's own count of delivery reports
    (sensorgate_kafka_delivered_total on /metrics: exact, no cursor lag)
    at every call.  So the end of a run is seen within the caller's poll,
    and the gateway serves a few scrapes, not one every 10 ms of the run:
    its CPU and instruction counts stay its own.  Where fewer than 90 % ever arrive (QoS 0 losses)
    it stays with the cursor."""
    st = dict(fine=False, last=0, t=0.0)

    def count():
        if st["fine"]:
            try:  # by then the endpoint's port is in the log
                c = int(gw.metric("sensorgate_kafka_delivered_total", timeout=2))
                st["last"] = max(st["last"], c)
                return st["last"]
            except (OSError, AssertionError):
                pass  # not answering: the cursor below
        if time.time() - st["t"] >= 0.05:
            st["t"] = time.time()
            try:
                a = gw.spool_stat()["acked"]
            except (subprocess.CalledProcessError, AssertionError):
                a = 0  # spool not created yet
            st["last"] = max(st["last"], a)
            st["fine"] = st["fine"] or a >= near * n
        return st["last"]
    return count


def wait_acked(gw, n, timeout, t0, poll=0.01, exact=True):
    """Until Kafka has acknowledged n records; returns the wall time from
    t0 to then, or None on timeout.  exact: the end is seen within 10 ms
    (delivered_probe), then `spool stat` must show the cursor there too
    (saved every spool.ack_interval).  Not exact (callgrind, where every
    scrape would count): the cursor alone, every 50 ms."""
    deadline = time.time() + timeout
    count = delivered_probe(gw, n, near=0.9 if exact else float("inf"))
    dt = None
    while time.time() < deadline:
        if count() >= n:
            dt = time.time() - t0
            break
        if not gw.running():
            raise RuntimeError(f"gateway exited ({gw.proc.returncode}):\n{gw.log()[-2000:]}")
        time.sleep(poll)
    if dt is None:
        return None
    while time.time() < deadline:
        try:
            if gw.spool_stat()["acked"] >= n:
                return dt
        except (subprocess.CalledProcessError, AssertionError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Kafka acknowledged {n} records but the spool's cursor did not get there")


class NotRun(Exception):
    """The scenario cannot run here; the message is the reason."""


# --------------------------------------------------------------- the bench
class Bench:
    def __init__(self, args):
        self.args = args
        self.runs = args.runs
        src = (REPO / args.build).resolve()
        self.work = Path(tempfile.mkdtemp(prefix="bench-", dir=str(src)))
        # A private copy of the binaries: others rebuild build/ while a
        # bench runs, and a half-linked binary must not end up in a run.
        self.src = src
        self.build = self.work / "snapshot"
        (self.build / "bench").mkdir(parents=True)
        shutil.copy2(src / "sensorgate", self.build / "sensorgate")
        # Its loadable modules (kafka.format avro, the sink's SQLite): the
        # copy finds them next to itself, in snapshot/modules/.
        if (src / "modules").is_dir():
            shutil.copytree(src / "modules", self.build / "modules")
        for prog in ("spool_bench", "spool_ref", "modbus_plain"):
            if (src / "bench" / prog).exists():
                shutil.copy2(src / "bench" / prog, self.build / "bench" / prog)
        os.environ["SG_BUILD"] = str(self.build)  # tests/lib/gateway.py's sg_bin()
        self.sg = sg_bin()
        self.rows = []  # the table
        self.series = {}  # curves for the chart
        self.kafka = None
        self.bootstrap = None
        self.n_gw = 0
        self.mosq = None
        self.steady = {}  # fsync -> steady-state delivered/s of produce runs

    # ------------------------------------------------------------ plumbing
    def row(self, scenario, case, metric, unit, gw_runs, ref_name=None, ref_runs=None,
            target=None, status="ok", note="", higher_is_better=True, extra=None, short=None):
        g = median(gw_runs) if gw_runs else None
        r = median(ref_runs) if ref_runs else None
        ratio = (g / r) if (g is not None and r) else None
        verdict = ""
        if target is not None and ratio is not None:
            upper = len(target) > 2 and target[2] == "max"
            verdict = "met" if (ratio <= target[1] if upper else ratio >= target[1]) else "missed"
        row = dict(scenario=scenario, case=case, metric=metric, unit=unit, gateway=g,
                   gateway_runs=gw_runs or [], reference=ref_name, reference_value=r,
                   reference_runs=ref_runs or [], ratio=ratio,
                   target=(f"{target[0]} {'<=' if len(target) > 2 and target[2] == 'max' else '>='} "
                           f"{target[1]}" if target else None),
                   verdict=verdict, status=status, note=note, short=short or case[:16])
        if extra:
            row.update(extra)
        self.rows.append(row)
        return row

    def not_run(self, scenario, case, reason):
        log(f"{scenario} {case}: not run: {reason}")
        self.row(scenario, case, "-", "", None, status=f"not run: {reason}")

    def gateway(self, yaml_text, name, binary=None):
        self.n_gw += 1
        return Gateway(self.work, yaml_text, name=f"{name}-{self.n_gw}", binary=binary)

    def conf(self, sources, fsync="10ms", topic="bench.rate", bootstrap=None, extra_kafka=""):
        return f"""
gateway: {{id: bench, status_interval: 1s, shutdown_timeout: 10s}}
spool: {{dir: "{{spool}}", fsync: {fsync}, max_bytes: 16GiB, segment_bytes: 16MiB, ack_interval: 20ms}}
kafka: {{bootstrap: "{bootstrap or self.bootstrap}", topic: "{topic}"{extra_kafka}}}
view: {{mode: lines}}
sources:
{sources}
"""

    @staticmethod
    def sim_source(total_rate, limit=0, replicas=10):
        return f"""  - name: sim
    driver: sim
    limit: {limit}
    sensors:
      - {{id: temp, kind: random_walk, rate: {total_rate / replicas:g}, replicas: {replicas}, min: 10, max: 30, unit: degC}}
"""

    def finish(self, gw):
        try:
            gw.stop(timeout=30)
        except AssertionError as e:
            log(f"warning: {e}"[:300])
        shutil.rmtree(gw.spool, ignore_errors=True)

    def kcat(self, *args, stdin=None, timeout=300):
        return subprocess.run(["kcat", *args], stdin=stdin or subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)

    # ------------------------------------------------------------ kafka
    def start_kafka(self):
        from kafka_broker import KafkaBroker
        log("starting a real Kafka broker (tests/kafka/kafka.sh)")
        t = time.time()
        self.kafka = KafkaBroker(brokers=1, workdir=self.work / "kafka", start_timeout=120).start()
        self.bootstrap = self.kafka.bootstrap
        log(f"kafka at {self.bootstrap} in {time.time() - t:.0f}s")
        for topic in ("bench.produce", "bench.kcat", "bench.rate", "bench.mqtt", "bench.pipe",
                      "bench.modbus", "bench.fanout"):
            self.kafka.create_topic(topic, partitions=3)

    # ------------------------------------------------------------ 1. produce
    def produce_gateway(self, n, fsync, binary=None):
        gw = self.gateway(self.conf(self.sim_source(1_000_000, limit=n), fsync=fsync,
                                    topic="bench.produce"), f"produce-{fsync}", binary=binary)
        t0 = time.time()
        gw.start(wait_running=False)
        dt = wait_acked(gw, n, timeout=240, t0=t0)
        cpu = proc_cpu_s(gw.proc.pid)
        hwm = proc_hwm_kb(gw.proc.pid)
        # Steady state: the status intervals between the first and the
        # last (which are cut by start-up and by the end of the events).
        steady = [s["delivered"] for s in status_lines(gw)[1:-1] if s["delivered"] > 0]
        self.steady.setdefault(fsync if not binary else "alt", []).append(median(steady))
        self.finish(gw)
        if dt is None:
            raise RuntimeError(f"gateway did not deliver {n} records within 240 s")
        return n / dt, cpu, hwm

    def produce_kcat(self, recfile, n):
        """kcat -P of the records: (records/s, CPU s, peak RSS kB)."""
        t0 = time.time()
        with open(recfile, "rb") as f:
            rc, _, err, rss, cpu = run_measured(
                ["kcat", "-P", "-b", self.bootstrap, "-t", "bench.kcat", "-K", "\t",
                 *KCAT_FAIR, *KCAT_HEADERS], stdin=f, timeout=240)
        dt = time.time() - t0
        if rc != 0:
            raise RuntimeError(f"kcat -P failed: {err.decode()[-500:]}")
        return n / dt, cpu, rss

    def scenario_produce(self):
        n = self.args.produce_n
        recfile = self.work / "records.txt"
        # A warm-up run (topic metadata, page cache, JIT of the broker);
        # its records are the kcat reference's input: same keys, same
        # values, same sizes.
        log(f"produce: warm-up run of {n} events")
        self.produce_gateway(n, "10ms")
        p = self.kcat("-C", "-b", self.bootstrap, "-t", "bench.produce", "-o", "beginning",
                      "-c", str(n), "-e", "-q", "-f", "%k\t%s\n", timeout=120)
        recfile.write_bytes(p.stdout)
        lines = p.stdout.split(b"\n")[:-1]
        if len(lines) != n:
            raise RuntimeError(f"read back {len(lines)} of {n} records for the kcat input")
        sizes = [len(l.split(b"\t", 1)[1]) for l in lines]
        self.event_size = dict(mean=statistics.mean(sizes), min=min(sizes), max=max(sizes))
        log(f"produce: event values {self.event_size}")
        self.produce_kcat(recfile, n)  # warm-up of the reference
        # The broker's JIT is still compiling after one run of each: the
        # gateway, whose window keeps in flight what a Pi can spare, feels
        # a slow broker's latency more than kcat, whose queue takes
        # everything. More rounds of both until the broker is warm.
        for i in range(self.args.produce_warmup - 1):
            w_gw = self.produce_gateway(n, "10ms")[0]
            w_ref = self.produce_kcat(recfile, n)[0]
            log(f"produce: warm-up round {i + 2}: gateway {w_gw:.0f}/s, kcat {w_ref:.0f}/s")
        full = {}
        self.steady = {}  # drop the warm-up's
        for fsync in ("10ms", "100ms"):
            gw_r, ref_r, cpu_us, ref_us, rss, ref_rss = [], [], [], [], [], []
            for i in range(self.runs):
                rate, cpu, hwm = self.produce_gateway(n, fsync)
                gw_r.append(rate)
                rss.append(hwm / 1024 if hwm else None)
                if cpu is not None:
                    cpu_us.append(cpu * 1e6 / n)
                rate, cpu, hwm = self.produce_kcat(recfile, n)
                ref_r.append(rate)
                ref_us.append(cpu * 1e6 / n if cpu is not None else None)
                ref_rss.append(hwm / 1024 if hwm else None)
                log(f"produce fsync {fsync} run {i + 1}: gateway {gw_r[-1]:.0f}/s, kcat {ref_r[-1]:.0f}/s")
            full[fsync] = (gw_r, cpu_us, rss)
            self.row("1. produce", f"sim -> spool -> Kafka, fsync {fsync}, {n} events",
                     "events/s", "events/s", gw_r, "kcat -P (idempotent, acks=all)", ref_r,
                     TARGETS["produce"], short=f"produce {fsync}",
                     note=f"steady-state delivered/s from the status lines (start-up and tail "
                          f"excluded): {self.fmt(median(self.steady.get(fsync, [])))}; "
                          f"CPU per event: gateway {self.fmt(median(cpu_us))} us, kcat "
                          f"{self.fmt(median(ref_us))} us; "
                          f"value {self.event_size['mean']:.0f} B mean "
                          f"({self.event_size['min']}-{self.event_size['max']}), same keys and headers",
                     extra=dict(cpu_us_per_event=median(cpu_us), ref_cpu_us_per_event=median(ref_us),
                                rss_mb=median(rss), ref_rss_mb=median(ref_rss)))
        self.produce_mimalloc(n, recfile)
        r = self.row("6. footprint", f"max rate (produce, fsync 10ms, {n} events, default "
                     "settings but spool size)", "peak RSS (VmHWM)", "MB", full["10ms"][2],
                     higher_is_better=False, short="rss max rate")
        r["target"] = "RSS <= 16 MB"
        r["verdict"] = "met" if r["gateway"] is not None and r["gateway"] <= 16 else "missed"
        self.max_rate = median(full["10ms"][0])
        self.max_rate_cpu_us = median(full["10ms"][1])
        self.recfile = recfile

    def produce_mimalloc(self, n, recfile):
        """The produce case with the gateway built ALLOCATOR=mimalloc
        (bench.mk builds it beside the default one), each run next to one
        of the default build and one of kcat: what the allocator buys in
        rate and costs in memory."""
        alt = Path(self.args.build).resolve() / "mimalloc" / "sensorgate"
        if not alt.exists():
            log(f"produce: {alt} not built (make bench builds it): no allocator rows")
            return
        gw_r, alt_r, ref_r, rss, alt_rss = [], [], [], [], []
        for i in range(self.runs):
            rate, _, hwm = self.produce_gateway(n, "10ms")
            gw_r.append(rate)
            rss.append(hwm / 1024 if hwm else None)
            rate, _, hwm = self.produce_gateway(n, "10ms", binary=str(alt))
            alt_r.append(rate)
            alt_rss.append(hwm / 1024 if hwm else None)
            ref_r.append(self.produce_kcat(recfile, n)[0])
            log(f"produce mimalloc run {i + 1}: default {gw_r[-1]:.0f}/s, mimalloc "
                f"{alt_r[-1]:.0f}/s, kcat {ref_r[-1]:.0f}/s")
        self.row("1. produce", f"same, gateway built ALLOCATOR=mimalloc, fsync 10ms, {n} events",
                 "events/s", "events/s", alt_r, "kcat -P (idempotent, acks=all)", ref_r,
                 short="produce mimalloc",
                 note=f"the default build (glibc malloc) in the same runs: "
                      f"{self.fmt(median(gw_r))} events/s, peak RSS {self.fmt(median(rss))} MB; "
                      f"mimalloc's peak RSS {self.fmt(median(alt_rss))} MB",
                 extra=dict(default_rate=median(gw_r), rss_mb=median(alt_rss),
                            default_rss_mb=median(rss)))

    # ------------------------------------------------------------ 1c. callgrind
    @staticmethod
    def callgrind_totals(prefix):
        """Instructions per thread of a callgrind run (--separate-threads):
        {"source": n, "producer": n, "other": n}."""
        out = {"source": 0, "producer": 0, "other": 0}
        for f in Path(prefix).parent.glob(Path(prefix).name + "*"):
            text = f.read_text(errors="replace")
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if not m:
                continue
            who = ("source" if "src_main" in text else
                   "producer" if "prod_thread" in text else "other")
            out[who] += int(m.group(1))
        return out

    def records(self, n):
        """A file of n records (key TAB value) as the gateway produces them:
        the produce scenario's, or read back from a run of n events."""
        path = self.work / f"records-{n}.txt"
        src = getattr(self, "recfile", None)
        if src and src.exists():
            with open(src, "rb") as f, open(path, "wb") as o:
                for i, line in enumerate(f):
                    if i >= n:
                        break
                    o.write(line)
        else:
            self.produce_gateway(n, "10ms")
            p = self.kcat("-C", "-b", self.bootstrap, "-t", "bench.produce", "-o", "-" + str(n),
                          "-c", str(n), "-e", "-q", "-f", "%k\t%s\n", timeout=120)
            path.write_bytes(p.stdout)
        got = path.read_bytes().count(b"\n")
        if got != n:
            raise RuntimeError(f"{got} of {n} records for kcat under callgrind")
        return path

    def scenario_callgrind(self):
        """Instructions per event of the produce path (sim -> spool ->
        Kafka, all threads of the process, start-up included) next to
        kcat -P's per record, both under valgrind --tool=callgrind: the
        figure that is repeatable on this shared machine."""
        if not shutil.which("valgrind"):
            raise NotRun("valgrind not installed")
        n = self.args.callgrind_n
        recfile = self.records(n)
        d = self.work / "callgrind"
        d.mkdir(exist_ok=True)
        gw = self.gateway(self.conf(self.sim_source(1_000_000, limit=n), fsync="10ms",
                                    topic="bench.produce"), "callgrind")
        log(f"callgrind: the gateway, {n} events (a few minutes)")
        with open(gw.logfile, "a") as lf:
            lf.write("---- start 0\n")
            lf.flush()
            gw.proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                 f"--callgrind-out-file={d}/gw.%p", self.sg, "run", "-c", str(gw.conf)],
                stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        t0 = time.time()
        dt = wait_acked(gw, n, timeout=1200, t0=t0, exact=False)
        try:
            gw.stop(timeout=300)
        finally:
            shutil.rmtree(gw.spool, ignore_errors=True)
        if dt is None:
            raise RuntimeError(f"the gateway under callgrind did not deliver {n} events in 1200 s")
        g = self.callgrind_totals(d / "gw.")
        log(f"callgrind: kcat -P, {n} records")
        with open(recfile, "rb") as f:
            rc, _, err, _, _ = run_measured(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/kcat.%p",
                 "kcat", "-P", "-b", self.bootstrap, "-t", "bench.kcat", "-K", "\t",
                 *KCAT_FAIR, *KCAT_HEADERS], stdin=f, timeout=900)
        if rc != 0:
            raise RuntimeError(f"kcat under callgrind: {err.decode()[-300:]}")
        k = sum(self.callgrind_totals(d / "kcat.").values())
        total = sum(g.values())
        self.row("1. produce", f"instructions per event, sim -> spool -> Kafka, {n} events "
                 "(callgrind, all threads, start-up included)", "instructions per event", "",
                 [total / n], "kcat -P per record (callgrind), same records and broker", [k / n],
                 TARGETS["instr"], higher_is_better=False, short="instr/kcat",
                 note=f"source thread {g['source'] / n:,.0f}, producer thread "
                      f"{g['producer'] / n:,.0f}, the others (librdkafka, main) "
                      f"{g['other'] / n:,.0f} per event",
                 extra=dict(threads={w: v / n for w, v in g.items()}))
        shutil.rmtree(d, ignore_errors=True)

    def avro_run(self, n, fmt, url):
        """n events through the gateway with kafka.format fmt: events/s and
        CPU microseconds per event."""
        extra = f", format: {fmt}" if fmt == "avro" else ""
        text = self.conf(self.sim_source(1_000_000, limit=n), topic=f"bench.{fmt}",
                         extra_kafka=extra)
        if fmt == "avro":
            text += f'schema_registry: {{url: "{url}"}}\n'
        gw = self.gateway(text, f"format-{fmt}")
        t0 = time.time()
        gw.start(wait_running=False)
        dt = wait_acked(gw, n, timeout=240, t0=t0)
        cpu = proc_cpu_s(gw.proc.pid)
        self.finish(gw)
        if dt is None:
            raise RuntimeError(f"kafka.format {fmt}: {n} events not delivered within 240 s")
        return n / dt, (cpu * 1e6 / n if cpu is not None else None)

    def scenario_avro(self):
        """kafka.format avro (libavro, the Confluent wire format, ids from a
        real Schema Registry) as a ratio to kafka.format json: the two
        formats alternate in the same run, same events, same broker."""
        from registry import Registry
        n = self.args.produce_n // 2
        try:
            reg = Registry(self.work / "registry").start()
        except Exception as e:  # noqa: BLE001 - the scenario cannot run here
            raise NotRun(f"no Schema Registry: {str(e).splitlines()[0][:160]}")
        if self.kafka:
            for topic in ("bench.avro", "bench.json"):
                self.kafka.create_topic(topic, partitions=3)
        runs = {"json": [], "avro": []}
        cpu = {"json": [], "avro": []}
        try:
            self.avro_run(max(1000, n // 10), "avro", reg.url)  # warm-up: subject, metadata
            self.avro_run(max(1000, n // 10), "json", reg.url)
            for i in range(self.runs):
                for fmt in ("json", "avro"):
                    rate, us = self.avro_run(n, fmt, reg.url)
                    runs[fmt].append(rate)
                    cpu[fmt].append(us)
                log(f"avro run {i + 1}: avro {runs['avro'][-1]:.0f}/s, "
                    f"json {runs['json'][-1]:.0f}/s")
        finally:
            reg.stop()
        self.row("1. produce", f"kafka.format avro vs json, fsync 10ms, {n} events",
                 "events/s", "events/s", runs["avro"], "the same gateway, kafka.format json",
                 runs["json"], short="avro/json",
                 note=f"CPU per event: avro {self.fmt(median(cpu['avro']))} us, json "
                      f"{self.fmt(median(cpu['json']))} us; schema ids from Apicurio Registry "
                      f"2.6 (asked once per subject, then cached)",
                 extra=dict(cpu_us_per_event=median(cpu["avro"]),
                            cpu_us_per_event_json=median(cpu["json"])))

    def scenario_produce_embedded(self):
        n = self.args.produce_n
        runs, rss = [], []
        for i in range(self.runs):
            gw = self.gateway(self.conf(self.sim_source(1_000_000, limit=n), fsync="10ms",
                                        topic="bench.produce", bootstrap="embedded"), "embedded")
            t0 = time.time()
            gw.start(wait_running=False)
            dt = wait_acked(gw, n, timeout=240, t0=t0)
            hwm = proc_hwm_kb(gw.proc.pid)
            self.finish(gw)
            if dt is None:
                raise RuntimeError("embedded run did not finish in 240 s")
            runs.append(n / dt)
            rss.append(hwm / 1024 if hwm else None)
            log(f"produce embedded run {i + 1}: {runs[-1]:.0f}/s")
        self.row("1. produce", f"same, embedded mock cluster, fsync 10ms, {n} events",
                 "events/s", "events/s", runs, note="no reference: the mock cluster lives inside "
                 "the gateway; shows the cost of the real broker's round trips",
                 extra=dict(rss_mb=median(rss)))

    # ------------------------------------------------------------ 1. produce under qemu
    def arm64_tools(self):
        """(qemu, [qemu args], the arm64 gateway, the arm64 kcat): the tree
        built for arm64 by cross/build.sh (which installs the toolchain and
        the :arm64 libraries when missing), qemu-user-static, and Debian's
        kcat for arm64 unpacked into the work directory (it cannot be
        installed beside the amd64 one)."""
        p = subprocess.run([str(REPO / "cross" / "build.sh"), "arm64"], cwd=REPO,
                           capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            raise NotRun(f"cross/build.sh arm64 failed: {(p.stdout + p.stderr)[-200:]}")
        qemu = shutil.which("qemu-aarch64-static")
        if not qemu and os.geteuid() == 0:
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            "qemu-user-static"], capture_output=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            qemu = shutil.which("qemu-aarch64-static")
        if not qemu:
            raise NotRun("qemu-aarch64-static not installed (apt-get install qemu-user-static)")
        root = self.work / "arm64-kcat"
        debs = self.work / "arm64-debs"
        debs.mkdir(exist_ok=True)
        p = subprocess.run(["apt-get", "download", "kcat:arm64", "libyajl2:arm64"], cwd=debs,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise NotRun(f"apt-get download kcat:arm64: {p.stderr.strip()[-200:]}")
        for deb in debs.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        libs = root / "usr" / "lib" / "aarch64-linux-gnu"
        qargs = ["-E", f"LD_LIBRARY_PATH={libs}"]
        sysroot = REPO / "build-arm64" / "sysroot"
        if (sysroot / ".complete").exists():  # the loader and libc of one glibc (tests/cross/qemu.sh)
            qargs = ["-L", str(sysroot), *qargs]
        return qemu, qargs, REPO / "build-arm64" / "sensorgate", root / "usr" / "bin" / "kcat"

    def mock_cluster(self, topics):
        """librdkafka's mock cluster in its own native process (`sensorgate
        kafka-mock`, one broker), with topics of 3 partitions: (process,
        bootstrap)."""
        p = subprocess.Popen([self.sg, "kafka-mock", "--brokers", "1"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if not line.startswith("bootstrap="):
            p.kill()
            raise RuntimeError(f"kafka-mock: {line!r}")
        for t in topics:
            p.stdin.write(f"topic {t} 3\n")
            p.stdin.flush()
            reply = p.stdout.readline()
            if not reply.startswith("ok"):
                p.kill()
                raise RuntimeError(f"kafka-mock topic {t}: {reply!r}")
        return p, line.strip().split("=", 1)[1]

    def scenario_qemu(self):
        """The produce case of the Raspberry Pi build (arm64) under
        qemu-aarch64, against librdkafka's mock cluster in a native process
        (the broker is not on the Pi), next to Debian's kcat for arm64
        under qemu with the same records into the same mock; and the same
        pair native. Under emulation the CPU is mostly the guest's
        instructions, so the ratios say how the per-event costs carry to
        an ARM core; the absolute rates say nothing about a Pi."""
        qemu, qargs, sg_arm, kcat_arm = self.arm64_tools()
        n = self.args.qemu_n
        recfile = self.records(n)
        mock, bootstrap = self.mock_cluster(["bench.qemu", "bench.qemu-kcat"])
        wrapper = self.work / "sensorgate-arm64"
        wrapper.write_text(f"#!/bin/sh\nexec {qemu} {' '.join(qargs)} {sg_arm} \"$@\"\n")
        wrapper.chmod(0o755)
        res = {k: dict(gw=[], ref=[], gw_us=[], ref_us=[]) for k in ("qemu", "native")}

        def one(kind):
            binary = str(wrapper) if kind == "qemu" else None
            gw = self.gateway(self.conf(self.sim_source(1_000_000, limit=n), fsync="10ms",
                                        topic="bench.qemu", bootstrap=bootstrap),
                              f"qemu-{kind}", binary=binary)
            t0 = time.time()
            gw.start(wait_running=False)
            dt = wait_acked(gw, n, timeout=600, t0=t0)
            cpu = proc_cpu_s(gw.proc.pid)
            self.finish(gw)
            if dt is None:
                raise RuntimeError(f"{kind}: {n} events not delivered to the mock in 600 s")
            r = res[kind]
            r["gw"].append(n / dt)
            r["gw_us"].append(cpu * 1e6 / n if cpu is not None else None)
            cmd = [str(kcat_arm)] if kind == "qemu" else ["kcat"]
            if kind == "qemu":
                cmd = [qemu, *qargs, *cmd]
            with open(recfile, "rb") as f:
                t0 = time.time()
                rc, _, err, _, cpu = run_measured(
                    [*cmd, "-P", "-b", bootstrap, "-t", "bench.qemu-kcat", "-K", "\t",
                     *KCAT_FAIR, *KCAT_HEADERS], stdin=f, timeout=600)
                dt = time.time() - t0
            if rc != 0:
                raise RuntimeError(f"kcat ({kind}): {err.decode()[-300:]}")
            r["ref"].append(n / dt)
            r["ref_us"].append(cpu * 1e6 / n if cpu is not None else None)
            log(f"qemu scenario, {kind}: gateway {r['gw'][-1]:.0f}/s "
                f"({self.fmt(r['gw_us'][-1])} us/event), kcat {r['ref'][-1]:.0f}/s "
                f"({self.fmt(r['ref_us'][-1])} us/record)")

        try:
            for i in range(self.runs):
                for kind in ("qemu", "native"):
                    one(kind)
        finally:
            mock.kill()
            mock.wait()
        for kind, what in (("qemu", "arm64 build under qemu-aarch64"), ("native", "amd64, native")):
            r = res[kind]
            self.row("1. produce", f"{what}: sim -> spool -> librdkafka's mock cluster "
                     f"(its own native process), fsync 10ms, {n} events", "events/s", "events/s",
                     r["gw"], f"kcat -P{' (arm64, under qemu)' if kind == 'qemu' else ''}, "
                     "same records, same mock", r["ref"], short=f"mock {kind}",
                     note=("no target: under emulation the CPU is the guest's instructions, so "
                           "the ratio shows how the per-event cost carries to an ARM core"
                           if kind == "qemu" else "the same pair native, in the same run: "
                           "what the qemu row compares with"),
                     extra=dict(cpu_us_per_event=median(r["gw_us"]),
                                ref_cpu_us_per_event=median(r["ref_us"])))
            self.row("1. produce", f"{what}: CPU per event, same runs", "CPU per event", "us",
                     r["gw_us"], "kcat -P per record, same runs", r["ref_us"],
                     higher_is_better=False, short=f"cpu mock {kind}",
                     note="utime+stime of the process, all threads")

    # ------------------------------------------------------------ scrape flood
    def scrape_run(self, n, flood):
        """Delivered/s of n sim events into real Kafka, with or without 50
        scrapes/s of /metrics (and /ready) from another thread."""
        import threading
        import urllib.request
        gw = self.gateway(self.conf(self.sim_source(1_000_000, limit=n), fsync="10ms",
                                    topic="bench.produce"), f"scrape-{int(flood)}")
        t0 = time.time()
        gw.start(wait_running=False)
        stop = threading.Event()
        scrapes = [0, 0]

        def flooder():
            port = gw.http_port(timeout=30)
            nxt = time.time()
            while not stop.is_set():
                for path in ("/metrics", "/ready"):
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                            r.read()
                        scrapes[0] += 1
                    except Exception:  # noqa: BLE001 - a 503 or a timeout is still a scrape
                        scrapes[1] += 1
                nxt += 0.02  # 50 rounds/s
                time.sleep(max(0.0, nxt - time.time()))
        th = threading.Thread(target=flooder, daemon=True)
        if flood:
            th.start()
        dt = wait_acked(gw, n, timeout=240, t0=t0)
        stop.set()
        if flood:
            th.join(5)
        self.finish(gw)
        if dt is None:
            raise RuntimeError(f"gateway did not deliver {n} records within 240 s")
        return n / dt, scrapes

    def scenario_scrape(self):
        n = self.args.produce_n // 2
        quiet, flooded, total = [], [], [0, 0]
        self.scrape_run(n // 10, False)  # warm-up
        for i in range(self.runs):
            quiet.append(self.scrape_run(n, False)[0])
            r, sc = self.scrape_run(n, True)
            flooded.append(r)
            total = [total[0] + sc[0], total[1] + sc[1]]
            log(f"scrape run {i + 1}: quiet {quiet[-1]:.0f}/s, flooded {flooded[-1]:.0f}/s")
        # Each flooded run follows its quiet one: their ratio is the
        # measurement (the produce path's own rate spreads 2x between runs,
        # so a ratio of medians from different runs measures that spread).
        pairs = [f / q for q, f in zip(quiet, flooded) if q and f]
        r = self.row("6. metrics endpoint", f"delivered/s under 50 scrapes/s of /metrics and /ready, "
                     f"{n} events", "events/s", "events/s", flooded,
                     "the same run without scrapes", quiet, TARGETS["scrape"], short="scrape flood",
                     note=f"{total[0]} scrapes answered, {total[1]} failed; ratio: the median of "
                          f"the runs' own (flooded / the quiet run before it): "
                          f"{', '.join(f'{x:.2f}' for x in pairs)}")
        if pairs:
            r["ratio"] = median(pairs)
            r["verdict"] = "met" if r["ratio"] >= TARGETS["scrape"][1] else "missed"

    # ------------------------------------------------------------ 2. mqtt
    def scenario_mqtt(self):
        for tool in ("mosquitto", "mosquitto_sub"):
            if not shutil.which(tool):
                for q in (0, 1):
                    self.not_run("2. MQTT bridge", f"QoS {q}", f"{tool} not installed")
                return
        helptext = subprocess.run([self.sg, "sim", "mqtt", "--help"], capture_output=True,
                                  text=True, timeout=10)
        if helptext.returncode != 0 or "--count" not in helptext.stdout + helptext.stderr:
            for q in (0, 1):
                self.not_run("2. MQTT bridge", f"QoS {q}", "`sensorgate sim mqtt` is not built")
            return
        from mosquitto import Mosquitto
        self.mosq = Mosquitto(self.work, max_queued=5_000_000, persistence=False).start()
        n = self.args.mqtt_n
        names = {"gw": "gateway", "sub": "mosquitto_sub", "pipe": "pipeline"}
        for qos in (0, 1):
            gw_r, sub_r, pipe_r, notes = [], [], [], []
            cpu = {"gw": [], "sub": [], "pipe": []}  # us per message arrived
            rss = {"gw": [], "sub": [], "pipe": []}  # MB
            self.mqtt_gateway(qos, 2000)  # warm-up
            for i in range(self.runs):
                for who, fn, runs in (("gw", self.mqtt_gateway, gw_r), ("sub", self.mqtt_sub, sub_r),
                                      ("pipe", self.mqtt_pipe, pipe_r)):
                    r, got, c, m = fn(qos, n)
                    runs.append(r)
                    cpu[who].append(c * 1e6 / got if c is not None and got else None)
                    rss[who].append(m / 1024 if m else None)
                    if got < n:
                        notes.append(f"{names[who]} got {got}/{n}")
                log(f"mqtt qos {qos} run {i + 1}: gateway {gw_r[-1]:.0f}/s, sub {sub_r[-1]:.0f}/s, "
                    f"pipe {pipe_r[-1]:.0f}/s; CPU us/msg gateway {self.fmt(cpu['gw'][-1])}, "
                    f"sub {self.fmt(cpu['sub'][-1])}, pipe {self.fmt(cpu['pipe'][-1])}")
            note = "; ".join(notes) or f"{n} messages each, all arrived"
            self.row("2. MQTT bridge", f"QoS {qos}: publisher -> mosquitto -> X (-> Kafka)",
                     "msgs/s", "msgs/s", gw_r, "mosquitto_sub alone", sub_r,
                     TARGETS["mqtt_sub_q1" if qos else "mqtt_sub"], note=note,
                     short=f"mqtt q{qos} /sub",
                     extra=dict(rss_mb=median(rss["gw"]), ref_rss_mb=median(rss["sub"])))
            self.row("2. MQTT bridge", f"QoS {qos}: vs improvised pipeline",
                     "msgs/s", "msgs/s", gw_r, "mosquitto_sub | kcat -P (idempotent, acks=all)",
                     pipe_r, note=note + "; no throughput target since issue 15 (CPU below)",
                     short=f"mqtt q{qos} /pipe",
                     extra=dict(rss_mb=median(rss["gw"]), ref_rss_mb=median(rss["pipe"])))
            self.row("2. MQTT bridge", f"QoS {qos}: CPU per message, vs improvised pipeline",
                     "CPU per message", "us", cpu["gw"],
                     "mosquitto_sub | kcat -P (both processes)", cpu["pipe"],
                     TARGETS["mqtt_cpu"] if qos else None, higher_is_better=False,
                     short=f"mqtt q{qos} cpu/pipe",
                     note=f"utime+stime per message arrived, all threads; mosquitto_sub alone "
                          f"{self.fmt(median(cpu['sub']))} us; the gateway's includes the spool, "
                          f"the envelope and librdkafka")
            self.publisher_only(qos, n)

    def publish(self, qos, n, topic="bench/{device}", timeout=240, fmt="json"):
        return subprocess.Popen(
            [self.sg, "sim", "mqtt", "--host", "127.0.0.1", "--port", str(self.mosq.port),
             "--qos", str(qos), "--rate", "0", "--count", str(n), "--devices", "10",
             "--topic", topic, "--client-id", f"bench-pub-{time.time_ns()}", "--format", fmt],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def wait_pub(self, pub, timeout=240):
        """Wait for the publisher; returns its report line.  It exits 1
        when not every message was acknowledged: that is noted by the
        caller through the counts that arrived, not fatal."""
        try:
            out = pub.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            pub.kill()
            out = pub.communicate()[0]
        m = re.search(r"published \d+ acknowledged \d+.*", out)
        if not m:
            raise RuntimeError(f"sim mqtt failed ({pub.returncode}): {out[-500:]}")
        return m.group(0)

    def publisher_only(self, qos, n):
        """The publisher's own ceiling (nobody subscribed): if it is close
        to every figure above, the publisher bounds the scenario."""
        runs = []
        for _ in range(self.runs):
            t0 = time.time()
            self.wait_pub(self.publish(qos, n, topic="nobody/{device}"))
            runs.append(n / (time.time() - t0))
        self.row("2. MQTT bridge", f"QoS {qos}: publisher alone (sensorgate sim mqtt, no subscriber)",
                 "msgs/s", "msgs/s", runs, note="ceiling of the load generator",
                 short=f"mqtt q{qos} pub")

    @staticmethod
    def follow(count, n, pub, t0, finished=None, quiet=3.0, timeout=180, poll=0.05,
               count_while_publishing=True):
        """Until count() reaches n, or finished() is true, or the publisher
        has exited and count() has not moved for `quiet` seconds (messages
        were lost on the way).  Returns (arrived, seconds from t0 to the
        last arrival)."""
        last, t_last = -1, time.time()
        deadline = t0 + timeout
        while time.time() < deadline:
            if finished and finished():
                break
            publishing = pub.poll() is None
            if publishing and not count_while_publishing:
                time.sleep(poll)
                continue
            c = count()
            now = time.time()
            if c != last:
                last, t_last = c, now
            if c >= n:
                return c, now - t0
            if not publishing and now - t_last > quiet:
                return last, t_last - t0
            time.sleep(poll)
        return None, time.time() - t0

    def mqtt_gateway(self, qos, n):
        src = f"""  - name: mq
    driver: mqtt
    host: 127.0.0.1
    port: {self.mosq.port}
    client_id: bench-gw-{time.time_ns()}
    clean_session: true
    qos: {qos}
    receive_maximum: 1000
    rules:
      - filter: "bench/#"
        topic: bench.mqtt
"""
        gw = self.gateway(self.conf(src, fsync="10ms", topic="bench.mqtt"), f"mqtt{qos}")
        gw.start()
        gw.wait_log(r'subscribed "bench/#"', timeout=20)

        acked = delivered_probe(gw, n)
        t0 = time.time()
        c0 = proc_cpu_s(gw.proc.pid)
        pub = self.publish(qos, n)
        got, dt = self.follow(acked, n, pub, t0, poll=0.01)
        c1, hwm = proc_cpu_s(gw.proc.pid), proc_hwm_kb(gw.proc.pid)
        self.wait_pub(pub, timeout=30)
        if got is None:
            got = acked()
        self.finish(gw)
        cpu = c1 - c0 if c0 is not None and c1 is not None else None
        return got / dt, got, cpu, hwm

    # ------------------------------------------------------------ 2b. mqtt fan-out
    FANOUT_RULES = {
        True: """        payload: json
        sensor: "{1}/{field}"
        time: /last_seen
        fields:
          - {id: temperature, pointer: /temperature, unit: degC, type: number}
          - {id: humidity, pointer: /humidity, unit: "%", type: number}
          - {id: battery, pointer: /battery, unit: "%", type: number}
          - {id: voltage, pointer: /voltage, unit: mV, type: number}
""",
        False: "",
    }

    def scenario_fanout(self):
        """zigbee2mqtt-style messages (`sim mqtt --format zigbee`: one state
        object of seven members), QoS 1, the same publisher bridged two
        ways: a fields rule making 4 events of each message (all appended
        together), and raw.  Reports the fan-out's messages/s and events/s,
        the messages/s as a ratio to raw."""
        helptext = subprocess.run([self.sg, "sim", "mqtt", "--help"], capture_output=True,
                                  text=True, timeout=10)
        if not shutil.which("mosquitto") or "zigbee" not in helptext.stdout + helptext.stderr:
            self.not_run("2b. MQTT fan-out", "QoS 1, 4 fields", "mosquitto or `sim mqtt "
                         "--format zigbee` missing")
            return
        from mosquitto import Mosquitto
        if self.mosq is None:
            self.mosq = Mosquitto(self.work, max_queued=5_000_000, persistence=False).start()
        n = self.args.mqtt_n
        fan, raw, notes = [], [], []
        self.fanout_gateway(True, 2000)  # warm-up
        for i in range(self.runs):
            for mode, runs in ((True, fan), (False, raw)):
                r, got = self.fanout_gateway(mode, n)
                runs.append(r)
                if got < n:
                    notes.append(f"{'fan-out' if mode else 'raw'} got {got}/{n} messages")
            log(f"mqtt fan-out run {i + 1}: fan-out {fan[-1]:.0f} msgs/s ({4 * fan[-1]:.0f} "
                f"events/s), raw {raw[-1]:.0f} msgs/s")
        note = "; ".join(notes) or f"{n} messages each, all arrived"
        self.row("2b. MQTT fan-out", "QoS 1, zigbee2mqtt-style, 4 fields per message: messages",
                 "msgs/s", "msgs/s", fan, "the same messages bridged raw", raw, note=note,
                 short="fanout msgs /raw")
        self.row("2b. MQTT fan-out", "QoS 1, zigbee2mqtt-style, 4 fields per message: events",
                 "events/s", "events/s", [4 * r for r in fan], "raw: one event per message",
                 raw, note=note, short="fanout events /raw")

    def fanout_gateway(self, fan, n):
        """(messages/s, messages arrived) of n zigbee-style messages."""
        per = 4 if fan else 1
        src = f"""  - name: mq
    driver: mqtt
    host: 127.0.0.1
    port: {self.mosq.port}
    client_id: bench-gw-{time.time_ns()}
    clean_session: true
    qos: 1
    receive_maximum: 1000
    rules:
      - filter: "zigbee2mqtt/+"
        topic: bench.fanout
        key: "{{1}}"
{self.FANOUT_RULES[fan]}"""
        gw = self.gateway(self.conf(src, fsync="10ms", topic="bench.fanout"),
                          f"fanout{int(fan)}")
        gw.start()
        gw.wait_log(r'subscribed "zigbee2mqtt/\+"', timeout=20)

        def acked():
            try:
                return gw.spool_stat()["acked"]
            except (subprocess.CalledProcessError, AssertionError):
                return 0
        t0 = time.time()
        pub = self.publish(1, n, topic="zigbee2mqtt/{device}", fmt="zigbee")
        got, dt = self.follow(acked, n * per, pub, t0, quiet=15.0)
        self.wait_pub(pub, timeout=30)
        if got is None:
            got = acked()
        # What reached the spool, however long Kafka took: a shortfall
        # here would be a loss, not a slow broker.
        deadline = time.time() + 60
        while gw.spool_stat()["last_seq"] < n * per and time.time() < deadline:
            time.sleep(0.2)
        spooled = gw.spool_stat()["last_seq"]
        self.finish(gw)
        if spooled < n * per:
            log(f"fan-out={fan}: only {spooled} of {n * per} events spooled")
        return got / per / dt, min(got, spooled) // per

    def _sub_cmd(self, qos, n):
        return ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mosq.port), "-q", str(qos),
                "-t", "bench/#", "-C", str(n), "-i", f"bench-sub-{time.time_ns()}"]

    def mqtt_sub(self, qos, n):
        """mosquitto_sub alone: (msgs/s, arrived, CPU s, peak RSS kB)."""
        out = self.work / "sub.out"
        with open(out, "wb") as f, open(out, "rb") as rf:
            sub = Reaped(subprocess.Popen(self._sub_cmd(qos, n), stdout=f,
                                          stdin=subprocess.DEVNULL))
            time.sleep(1.0)  # subscribed (mosquitto_sub has no ready signal)
            lines = [0]

            def count():
                lines[0] += rf.read().count(b"\n")
                return lines[0]
            t0 = time.time()
            pub = self.publish(qos, n)
            got, dt = self.follow(count, n, pub, t0, finished=sub.done, poll=0.01)
            if sub.done():
                dt = time.time() - t0
            else:
                sub.terminate()
            sub.wait(30)
            self.wait_pub(pub, timeout=30)
            got = count()
        out.unlink()
        return got / dt, got, sub.cpu_s, sub.rss_kb

    def topic_end(self, topic):
        p = self.kcat("-Q", "-b", self.bootstrap, *sum((["-t", f"{topic}:{i}:-1"] for i in range(3)), []),
                      timeout=30)
        return sum(int(x) for x in re.findall(rb"offset (\d+)", p.stdout))

    def mqtt_pipe(self, qos, n):
        """mosquitto_sub | kcat -P: (msgs/s, arrived, CPU s and peak RSS kB
        of both processes together)."""
        base = self.topic_end("bench.pipe")
        errf = tempfile.TemporaryFile()
        sub = subprocess.Popen(self._sub_cmd(qos, n), stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
        kc = subprocess.Popen(["kcat", "-P", "-b", self.bootstrap, "-t", "bench.pipe", *KCAT_FAIR],
                              stdin=sub.stdout, stdout=subprocess.DEVNULL, stderr=errf)
        sub.stdout.close()
        sub, kc = Reaped(sub), Reaped(kc)
        time.sleep(1.0)
        t0 = time.time()
        pub = self.publish(qos, n)
        # Count the topic's end offsets only once the publisher is done
        # (kcat -Q is a process: polling it earlier would steal CPU).
        # finished() also reads both processes' VmHWM while they run.
        got, dt = self.follow(lambda: self.topic_end("bench.pipe") - base, n, pub, t0,
                              finished=lambda: sub.done() & kc.done(), poll=0.3,
                              count_while_publishing=False)
        if kc.done():
            dt = time.time() - t0
        else:
            sub.terminate()  # kcat then sees EOF, flushes and exits
        kc.wait(60)
        sub.wait(30)
        self.wait_pub(pub, timeout=30)
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        errf.close()
        got = self.topic_end("bench.pipe") - base
        if got < n:
            log(f"pipeline: {got}/{n} arrived (sub {sub.proc.returncode}, kcat "
                f"{kc.proc.returncode}) {err[-200:]}")
        cpu = sub.cpu_s + kc.cpu_s if sub.cpu_s is not None and kc.cpu_s is not None else None
        rss = sub.rss_kb + kc.rss_kb if sub.rss_kb and kc.rss_kb else None
        return got / dt, got, cpu, rss

    # ------------------------------------------------------------ 3. modbus
    def scenario_modbus(self):
        plain = self.build / "bench" / "modbus_plain"
        helptext = subprocess.run([self.sg, "sim", "modbus", "--help"], capture_output=True,
                                  text=True, timeout=10)
        if helptext.returncode != 0:
            for p in (1, 10, 100):
                self.not_run("3. Modbus", f"{p} points", "`sensorgate sim modbus` is not built")
            return
        if not plain.exists():
            for p in (1, 10, 100):
                self.not_run("3. Modbus", f"{p} points", f"{plain} not built")
            return
        units = self.args.modbus_units
        mapfile = self.work / "modbus-map.yaml"
        regs = "\n".join(f"  - {{address: {a}, type: u16, kind: counter, value: {a}, step: 1, period: 1s}}"
                         for a in range(100))
        mapfile.write_text(f"units: [{', '.join(str(u) for u in range(1, units + 1))}]\n"
                           f"strict: true\nregisters:\n{regs}\n")
        log_path = self.work / "sim-modbus.log"
        with open(log_path, "w") as lf:
            sim = subprocess.Popen([self.sg, "sim", "modbus", "-c", str(mapfile), "--port", "0",
                                    "--host", "127.0.0.1"], stdout=lf, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            port = None
            for _ in range(100):
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_path.read_text())
                if m:
                    port = int(m.group(1))
                    break
                if sim.poll() is not None:
                    break
                time.sleep(0.1)
            if port is None:
                for p in (1, 10, 100):
                    self.not_run("3. Modbus", f"{p} points",
                                 f"sim modbus did not start: {log_path.read_text()[-200:]}")
                return
            for points in (1, 10, 100):
                gw_r, ref_r, dl, rss, ref_rss = [], [], [], [], []
                for i in range(self.runs):
                    rq, d, m = self.modbus_gateway(port, units, points)
                    gw_r.append(rq)
                    dl.append(d)
                    rss.append(m / 1024 if m else None)
                    rq, m = self.modbus_plain(plain, port, points)
                    ref_r.append(rq)
                    ref_rss.append(m / 1024 if m else None)
                    log(f"modbus {points} points run {i + 1}: gateway {gw_r[-1]:.0f} req/s "
                        f"(delivered {dl[-1]:.0f} events/s), plain {ref_r[-1]:.0f} req/s")
                self.row("3. Modbus", f"TCP sim, {points} point(s) per device = 1 request of "
                         f"{points} register(s)", "requests/s", "req/s", gw_r,
                         "plain libmodbus loop (tests/bench/modbus_plain.c)", ref_r,
                         TARGETS["modbus"], short=f"modbus {points}p",
                         note=f"{self.args.modbus_devices} devices (unit ids 1-{units}) at "
                              f"10 ms interval (demand {self.args.modbus_devices * 100} req/s); "
                              f"gateway req/s = events/s read / {points}; events/s into the spool "
                              f"{self.fmt(median(gw_r) * points)}, delivered to Kafka "
                              f"{self.fmt(median(dl))}",
                         extra=dict(events_per_s=median(gw_r) * points, delivered_per_s=median(dl),
                                    rss_mb=median(rss), ref_rss_mb=median(ref_rss)))
                if points == 100:
                    ceiling = median(self.steady.get("10ms", [])) if self.steady else None
                    self.row("3. Modbus", "100 points per request: events/s delivered to Kafka, "
                             "against the produce path's steady state", "events/s", "events/s",
                             dl, "produce scenario, steady-state delivered/s",
                             [ceiling] if ceiling else None, short="modbus 100p /produce",
                             note="read into the spool faster than Kafka takes them: the "
                                  "spool grows; the produce path, not the poll loop, is the "
                                  "limit when this ratio is near 1")
        finally:
            sim.terminate()
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()

    def modbus_gateway(self, port, units, points):
        pts = ", ".join(f"{{id: u{{u}}p{a}, address: {a}, type: u16}}" for a in range(points))
        devs = "\n".join(
            f"      - {{name: d{i}, unit_id: {(i - 1) % units + 1}, "
            f"points: [{pts.replace('{u}', str(i))}]}}"
            for i in range(1, self.args.modbus_devices + 1))
        src = f"""  - name: mb
    driver: modbus
    transport: tcp
    host: 127.0.0.1
    port: {port}
    interval: 10ms
    response_timeout: 1s
    retries: 0
    max_gap: 0
    devices:
{devs}
"""
        gw = self.gateway(self.conf(src, fsync="10ms", topic="bench.modbus"), f"modbus{points}")
        gw.start()
        secs = self.args.window + 3
        deadline = time.time() + secs + 10
        while time.time() < deadline and len(status_lines(gw)) < secs:
            time.sleep(0.2)
        lines = status_lines(gw)[3:]
        hwm = proc_hwm_kb(gw.proc.pid)
        self.finish(gw)
        if not lines:
            raise RuntimeError("no status lines from the modbus gateway")
        return (median([s["read"] for s in lines]) / points,
                median([s["delivered"] for s in lines]), hwm)

    def modbus_plain(self, plain, port, points):
        """(requests/s, peak RSS kB) of the plain loop."""
        _, out, err, rss, _ = run_measured([str(plain), "127.0.0.1", str(port),
                                            str(self.args.window), str(points)],
                                           timeout=self.args.window + 30)
        m = re.search(r"= (\d+) requests/s", out.decode())
        if not m:
            raise RuntimeError(f"modbus_plain: {out.decode()}{err.decode()}")
        return float(m.group(1)), rss

    # ------------------------------------------------------------ 4. spool
    def scenario_spool(self):
        bench = self.build / "bench" / "spool_bench"
        ref = self.build / "bench" / "spool_ref"
        for b in (bench, ref):
            if not b.exists():
                self.not_run("4. spool", "-", f"{b} not built")
                return
        d = self.work / "spool"
        for fsync, count in (("10", 3_000_000), ("always", 1_000_000)):
            for size in (200, 1000):
                sp_r, ref_r = [], []
                for i in range(self.args.spool_runs):
                    sp_r.append(self.spool_run(bench, d / f"s{i}", fsync, size, count))
                    ref_r.append(self.spool_run(ref, d, fsync, size, count))
                    log(f"spool {fsync} {size} B run {i + 1}: spool {sp_r[-1]:.0f}/s, "
                        f"plain {ref_r[-1]:.0f}/s")
                label = "group commit 10 ms" if fsync == "10" else "fsync always"
                self.row("4. spool", f"{label}, {size} B payload (+20 B frame header)",
                         "appends/s", "appends/s", sp_r,
                         "plain write + fdatasync loop (tests/bench/spool_ref.c)", ref_r,
                         TARGETS["spool"], note="one appending thread, same directory",
                         short=f"spool {'10ms' if fsync == '10' else 'always'} {size}B")
        shutil.rmtree(d, ignore_errors=True)

    def spool_run(self, prog, d, fsync, size, count):
        shutil.rmtree(d, ignore_errors=True) if prog.name == "spool_bench" else None
        d.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([str(prog), str(d), fsync, str(size), str(count),
                            str(self.args.spool_secs)], capture_output=True, text=True,
                           timeout=self.args.spool_secs + 60)
        if prog.name == "spool_bench":
            shutil.rmtree(d, ignore_errors=True)
        m = re.search(r"rate ([\d.]+)", p.stdout)
        if p.returncode != 0 or not m:
            raise RuntimeError(f"{prog.name}: {p.stdout}{p.stderr}")
        return float(m.group(1))

    # ------------------------------------------------------------ 5-7. rate sweep
    def rate_run(self, rate, secs):
        """The gateway at a fixed sim rate for secs status intervals (1 s);
        returns the per-interval lines after the warm-up, CPU s/s and VmHWM."""
        gw = self.gateway(self.conf(self.sim_source(rate, replicas=10 if rate >= 10 else 1),
                                    fsync="10ms", topic="bench.rate"), f"rate{rate:g}")
        gw.start()
        pid = gw.proc.pid
        port = gw.http_port(timeout=30)
        deadline = time.time() + secs + 15
        c0 = t0 = None
        h0 = {}
        while time.time() < deadline:
            n = len(status_lines(gw))
            if c0 is None and n >= 3:  # warm-up done
                c0, t0 = proc_cpu_s(pid), time.time()
                h0 = latency_buckets(port)
            if n >= secs:
                break
            time.sleep(0.1)
        c1, t1 = proc_cpu_s(pid), time.time()
        hwm = proc_hwm_kb(pid)
        self.lat_bound = latency_max_bound(h0, latency_buckets(port)) if h0 else None
        lines = status_lines(gw)[3:]
        self.finish(gw)
        cpu = (c1 - c0) / (t1 - t0) if c0 is not None and c1 is not None else None
        return lines, cpu, hwm

    def scenario_rates(self):
        secs = self.args.window + 3
        rates = self.args.rates
        sweep = []
        for rate in rates:
            per = []
            for i in range(self.runs):
                lines, cpu, hwm = self.rate_run(rate, secs)
                read = median([s["read"] for s in lines])
                delivered = median([s["delivered"] for s in lines])
                per.append(dict(lines=lines, cpu=cpu, hwm=hwm, read=read, delivered=delivered,
                                max_bound=self.lat_bound,
                                p50=median([s["p50"] for s in lines]),
                                p99=median([s["p99"] for s in lines]),
                                p999=median([s["p999"] for s in lines]),
                                p99_max=max(s["p99"] for s in lines),
                                p999_max=max(s["p999"] for s in lines)))
                log(f"rate {rate}: run {i + 1}: read {read}/s delivered {delivered}/s cpu {cpu:.3f} "
                    f"hwm {hwm} kB p99 {per[-1]['p99']} ms")
            sweep.append((rate, per))
            if rate in (1000, 100000):
                ref = [self.kcat_paced(rate, secs) for _ in range(self.runs)]
                self.series.setdefault("kcat_paced", {})[rate] = median(ref)
                log(f"rate {rate}: kcat -P paced: {ref} us per record")
        self.series["sweep"] = []
        for rate, per in sweep:
            cpu = median([p["cpu"] for p in per])
            got = median([p["delivered"] for p in per])
            self.series["sweep"].append(dict(
                rate=rate, delivered=got, cpu=cpu, hwm_kb=median([p["hwm"] for p in per]),
                us_per_event=(cpu * 1e6 / got) if cpu and got else None,
                p50=median([p["p50"] for p in per]), p99=median([p["p99"] for p in per]),
                p999=median([p["p999"] for p in per]),
                p99_max=max(p["p99_max"] for p in per), p999_max=max(p["p999_max"] for p in per),
                max_bound=max((p["max_bound"] for p in per if p["max_bound"]), default=None)))
        for s in self.series["sweep"]:
            rate = s["rate"]
            if rate in (1000, 10000):
                for q in ("p50", "p99", "p999"):
                    target = None
                    note = (f"median of {self.runs} runs of the median per-interval {q} "
                            f"({self.args.window} intervals of 1 s after 3 warm-up); "
                            f"max over all intervals {s.get(q + '_max', s[q]):.1f} ms")
                    if q == "p50":
                        note = (f"median of {self.runs} runs of the median per-interval p50; "
                                f"{self.args.window} intervals of 1 s after 3 warm-up")
                    ok = ""
                    if q == "p99":
                        ok = "met" if s["p99"] <= 20 else "missed"
                        target = "p99 <= 20 ms"
                    if q == "p999" and s.get("max_bound"):
                        note += (f"; every latency of the measured intervals <= "
                                 f"{s['max_bound']:g} ms (the /metrics histogram's bucket)")
                    r = self.row("5. latency", f"reading -> Kafka ack at {rate // 1000}k events/s, "
                                 f"fsync 10ms", q, "ms",
                                 [p[q] for p in sweep[self.args.rates.index(rate)][1]],
                                 note=note, higher_is_better=False,
                                 extra=dict(max=s.get(q + "_max")))
                    r["target"], r["verdict"] = target, ok
            if rate in (1000, 10000, 100000):
                per = sweep[self.args.rates.index(rate)][1]
                r = self.row("6. footprint", f"{rate // 1000}k events/s (delivered "
                             f"{s['delivered']:.0f}/s)", "peak RSS (VmHWM)", "MB",
                             [p["hwm"] / 1024 for p in per if p["hwm"]],
                             higher_is_better=False)
                if rate == 10000:
                    r["target"] = "RSS <= 12 MB"
                    r["verdict"] = "met" if r["gateway"] <= 12 else "missed"
                self.row("6. footprint", f"{rate // 1000}k events/s", "CPU per 1k events/s",
                         "% of one core", [p["cpu"] * 100 / (p["delivered"] / 1000)
                                           for p in per if p["cpu"] and p["delivered"]],
                         higher_is_better=False,
                         note=f"total CPU {s['cpu'] * 100:.1f}% of one core" if s["cpu"] else "")

    def idle_run(self, secs):
        """The gateway with one sim sensor at 0.1 Hz and the default
        status_interval (10 s: the other scenarios log a line every second
        to time their windows): CPU s/s over secs after a 3 s warm-up, as
        kcat_idle's, and VmHWM."""
        text = self.conf(self.sim_source(0.1, replicas=1), fsync="10ms", topic="bench.rate")
        text = text.replace("status_interval: 1s, ", "")
        assert "status_interval" not in text
        gw = self.gateway(text, "idle")
        gw.start()
        pid = gw.proc.pid
        time.sleep(3)
        c0, t0 = proc_cpu_s(pid), time.time()
        time.sleep(secs)
        c1, t1 = proc_cpu_s(pid), time.time()
        hwm = proc_hwm_kb(pid)
        self.finish(gw)
        cpu = (c1 - c0) / (t1 - t0) if c0 is not None and c1 is not None else None
        return cpu, hwm

    def scenario_idle(self):
        runs, hwm, lined = [], [], []
        for i in range(self.runs):
            cpu, h = self.idle_run(self.args.window)
            runs.append(cpu * 100 if cpu is not None else None)
            hwm.append(h / 1024 if h else None)
            cpu = self.rate_run(0.1, 3 + self.args.window)[1]
            lined.append(cpu * 100 if cpu is not None else None)
        ref = [self.kcat_idle(self.args.window) for _ in range(self.runs)]
        r = self.row("6. footprint", "idle (one sim sensor at 0.1 Hz)", "CPU", "% of one core",
                     runs, "kcat -P connected, nothing to send (librdkafka alone)", ref,
                     higher_is_better=False,
                     note=f"peak RSS {median(hwm):.1f} MB; default status_interval (10 s); "
                          "CPU from the threads' schedstat (ns), the same window for both",
                     extra=dict(rss_mb=median(hwm)))
        if r["gateway"] is not None:
            r["target"], r["verdict"] = "CPU <= 0.1 %", "met" if r["gateway"] <= 0.1 else "missed"
        self.row("6. footprint", "idle, a status line every second", "CPU", "% of one core",
                 lined, "kcat -P connected, nothing to send (librdkafka alone)", ref,
                 higher_is_better=False, short="idle 1s lines",
                 note="as the row above with status_interval 1s, as the other scenarios run")
        tmp = self.work / "sensorgate.stripped"
        shutil.copy(self.sg, tmp)
        subprocess.run(["strip", str(tmp)], check=True)
        size = tmp.stat().st_size
        self.row("6. footprint", "binary", "stripped size", "KiB", [size / 1024],
                 higher_is_better=False,
                 note=f"build/sensorgate unstripped {Path(self.sg).stat().st_size / 1024:.0f} KiB; "
                      "dynamically linked (librdkafka, libfyaml, libmodbus, libmosquitto, libgpiod)")

    def kcat_idle(self, secs):
        """% of one core that kcat -P (idempotent, acks=all) costs while
        connected to the broker with nothing to send: librdkafka's own
        timers and broker threads, the floor under any idle producer."""
        p = subprocess.Popen(["kcat", "-P", "-b", self.bootstrap, "-t", "bench.kcat", *KCAT_FAIR],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)  # connected, metadata fetched: as the gateway's warm-up
            c0, t0 = proc_cpu_s(p.pid), time.time()
            time.sleep(secs)
            c1, t1 = proc_cpu_s(p.pid), time.time()
        finally:
            p.stdin.close()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if c0 is None or c1 is None:
            return None
        return 100 * (c1 - c0) / (t1 - t0)

    def kcat_paced(self, rate, secs):
        """CPU microseconds per record of kcat -P (idempotent, acks=all,
        the same records and headers) fed `rate` lines a second in 1 ms
        steps, over the last secs - 3 s: what librdkafka itself costs per
        record at that rate."""
        lines = self.records(20000).read_bytes().splitlines(keepends=True)
        p = subprocess.Popen(["kcat", "-P", "-b", self.bootstrap, "-t", "bench.kcat", "-K", "\t",
                              *KCAT_FAIR, *KCAT_HEADERS], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = {}

        def feed():
            t0, i = time.time(), 0
            try:
                while time.time() - t0 < secs:
                    due = int((time.time() - t0) * rate)
                    if due > i:
                        p.stdin.write(b"".join(lines[j % len(lines)] for j in range(i, due)))
                        p.stdin.flush()
                        i = due
                    time.sleep(0.001)
            except (BrokenPipeError, OSError):
                pass
            res["sent"] = i

        th = threading.Thread(target=feed)
        th.start()
        time.sleep(3)
        c0, t0 = proc_cpu_s(p.pid), time.time()
        time.sleep(secs - 3)
        c1, t1 = proc_cpu_s(p.pid), time.time()
        th.join()
        try:
            p.stdin.close()
            p.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait()
        if c0 is None or c1 is None:
            return None
        return (c1 - c0) * 1e6 / (rate * (t1 - t0))

    def scenario_scale(self):
        pts = [s for s in self.series.get("sweep", []) if s["us_per_event"]]
        for s in pts:
            self.row("7. scale", f"{s['rate']:g} events/s offered, {s['delivered']:.0f}/s delivered",
                     "CPU per event", "us", [s["us_per_event"]], higher_is_better=False,
                     note=f"CPU {s['cpu'] * 100:.0f}% of one core")
        per = {s["rate"]: s["us_per_event"] for s in pts}
        if per.get(1000) and per.get(100000):
            self.row("7. scale", "CPU per event at 1k events/s against 100k events/s", "CPU per event",
                     "us", [per[1000]], "the same at 100k events/s", [per[100000]],
                     TARGETS["flat"], higher_is_better=False, short="cpu 1k/100k",
                     note="a flat cost per event: wake-ups, not work, make the difference")
        kp = self.series.get("kcat_paced", {})
        for rate in sorted(kp):
            if kp[rate] and per.get(rate):
                self.row("7. scale", f"{rate:g} events/s: CPU per event against kcat -P fed at "
                         "the same rate", "CPU per event", "us", [per[rate]],
                         "kcat -P (idempotent, acks=all), same records, fed in 1 ms steps",
                         [kp[rate]], higher_is_better=False,
                         note="what librdkafka alone costs per record at this rate (no spool, "
                              "no fsync, no encoding)")
        if kp.get(1000) and kp.get(100000):
            self.row("7. scale", "kcat -P: CPU per record at 1k/s against 100k/s", "CPU per event",
                     "us", [kp[1000]], "the same at 100k records/s", [kp[100000]],
                     higher_is_better=False,
                     note="the reference's own ratio: the per-wake-up floor of librdkafka")
        if getattr(self, "max_rate_cpu_us", None):
            self.series.setdefault("max", dict(rate=self.max_rate, us_per_event=self.max_rate_cpu_us))
            self.row("7. scale", f"max rate ({self.max_rate:.0f}/s, produce scenario, fsync 10ms)",
                     "CPU per event", "us", [self.max_rate_cpu_us], higher_is_better=False,
                     note="whole run incl. start-up, divided by the events")

    # ------------------------------------------------------------ smoke
    def smoke(self):
        """~30 s: sim -> spool -> Kafka (the embedded cluster: no JVM to
        start) for a fixed count, plus the spool pair; asserts they ran."""
        n = 20000
        gw = self.gateway(self.conf(self.sim_source(1_000_000, limit=n), fsync="10ms",
                                    topic="bench.smoke", bootstrap="embedded"), "smoke")
        t0 = time.time()
        gw.start(wait_running=False)
        dt = wait_acked(gw, n, timeout=25, t0=t0)
        st = gw.spool_stat()
        self.finish(gw)
        assert dt is not None, f"smoke: {n} events not delivered in 25 s ({st})"
        assert st["acked"] == n and st["last_seq"] == n, st
        self.row("smoke", f"sim -> spool -> embedded Kafka, {n} events", "events/s",
                 "events/s", [n / dt], note="checks that it ran, not how fast")
        d = self.work / "spool"
        a = self.spool_run(self.build / "bench" / "spool_bench", d / "s", "10", 200, 100000)
        b = self.spool_run(self.build / "bench" / "spool_ref", d, "10", 200, 100000)
        assert a > 0 and b > 0
        self.row("smoke", "spool 10 ms, 200 B", "appends/s", "appends/s", [a],
                 "plain write + fdatasync", [b])

    # ------------------------------------------------------------ output
    def write(self, outdir, started):
        outdir.mkdir(parents=True, exist_ok=True)
        stamp = started.strftime("%Y-%m-%d")
        meta = dict(date=started.isoformat(timespec="seconds"), runs=self.runs,
                    host=platform.node(), cpus=os.cpu_count(), kernel=platform.release(),
                    python=platform.python_version(),
                    version=subprocess.run([self.sg, "version"], capture_output=True,
                                           text=True).stdout.strip(),
                    git=subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                       capture_output=True, text=True).stdout.strip(),
                    kafka=self.bootstrap and "Apache Kafka (tests/kafka/kafka.sh), 1 broker, "
                                             "KRaft, 3 partitions per topic, on this host",
                    event_size=getattr(self, "event_size", None),
                    duration_s=round(time.time() - started.timestamp()),
                    args=vars(self.args))
        (outdir / f"{stamp}.json").write_text(json.dumps(dict(meta=meta, rows=self.rows,
                                                               series=self.series), indent=1))
        chart = self.chart(outdir, stamp)
        (outdir / f"{stamp}.md").write_text(self.markdown(meta, chart))
        log(f"wrote {outdir / stamp}.md, .json" + (", .svg, .png" if chart else ""))

    @staticmethod
    def fmt(x):
        if x is None:
            return "—"
        if isinstance(x, str):
            return x
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        return f"{x:.2f}"

    @staticmethod
    def compact(note):
        """'A got x/n; B got y/n; A got z/n' -> 'arrived of n: A x, z; B y'."""
        got = re.findall(r"([A-Za-z_]+) got (\d+)/(\d+)", note or "")
        if not got:
            return note or ""
        per = {}
        for who, x, n in got:
            per.setdefault(who, []).append(x)
        return (f"runs that lost messages, arrived of {got[0][2]} (other runs got all): "
                + "; ".join(f"{w} {', '.join(xs)}" for w, xs in per.items())
                + " (QoS 0 loses messages; rate = arrived / time to the last arrival)")

    def capped(self, r):
        """The note, plus a warning when a Modbus run reached the demanded
        request rate: then the gateway was not flat out and its ratio is
        only a lower bound."""
        note = self.compact(r["note"])
        m = re.search(r"demand (\d+) req/s", note)
        if m and r["gateway"] and r["gateway"] >= 0.9 * int(m.group(1)):
            note += (f"; CAPPED BY THE DEMAND: the gateway did {r['gateway'] / int(m.group(1)):.0%}"
                     " of the requests demanded, so this ratio is a lower bound")
        return note

    @staticmethod
    def case_key(case):
        """A case without the figures it quotes ("delivered 9992/s")."""
        case = re.sub(r"\(delivered \d+/s\)", "", case)
        case = re.sub(r", \d+/s delivered", "", case)
        return re.sub(r"max rate \(\d+/s, ", "max rate (", case).strip()

    def before_row(self, r):
        """The committed report's row for the same case, or None."""
        for b in self.before or []:
            if (b.get("status") == "ok" and b["scenario"] == r["scenario"]
                    and self.case_key(b["case"]) == self.case_key(r["case"])
                    and b["metric"] == r["metric"]):
                return b
        return None

    def before_after(self, r):
        b = self.before_row(r)
        if not b or b.get("gateway") is None:
            return "new"
        out = f"{self.fmt(b['gateway'])} → {self.fmt(r['gateway'])}"
        if b.get("ratio") is not None and r["ratio"] is not None:
            out += f" (ratio {b['ratio']:.2f} → {r['ratio']:.2f})"
        return out

    def rss_cell(self, r):
        g, ref = r.get("rss_mb"), r.get("ref_rss_mb")
        if g is None and ref is None:
            return ""
        return self.fmt(g) + (f"; ref. {self.fmt(ref)}" if ref is not None else "")

    def load_before(self, path):
        self.before, self.before_name = None, None
        try:
            self.before = json.loads(Path(path).read_text())["rows"]
            self.before_name = Path(path).name.replace(".json", "")
        except (OSError, ValueError, KeyError):
            pass

    def markdown(self, meta, chart):
        out = [f"# sensorgate benchmark, {meta['date']}", "",
               f"Generated by `make bench` (tests/bench/bench.py); method in "
               f"[docs/benchmarks.md](../../docs/benchmarks.md). Machine: {meta['cpus']} CPUs, "
               f"Linux {meta['kernel']}, shared and noisy. Gateway {meta['version']} "
               f"(git {meta['git']}). Kafka: {meta['kafka'] or 'not started'}. "
               f"Each figure is the median of {self.runs} runs unless stated; the json has every run.",
               "", f"*before → after*: the figure (and ratio) of the committed report "
               f"{self.before_name or '(none)'} → this run's; peak RSS: VmHWM of the gateway "
               f"(and, where measured, of its reference).",
               "", "| scenario | case | metric | gateway | reference | ref. value | ratio | target "
               "| verdict | before → after | peak RSS MB | note |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if r["status"] != "ok":
                out.append(f"| {r['scenario']} | {r['case']} | — | **{r['status']}** "
                           f"| | | | | | | | |")
                continue
            unit = f" {r['unit']}" if r["unit"] else ""
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in [
                r["scenario"], r["case"], r["metric"],
                self.fmt(r["gateway"]) + unit, r["reference"] or "",
                self.fmt(r["reference_value"]) if r["reference_value"] is not None else "",
                f"{r['ratio']:.2f}" if r["ratio"] is not None else "",
                r["target"] or "",
                # Capped by the demand, the ratio is a lower bound: one
                # that meets a ">=" target still meets it; one below it
                # says nothing.
                "inconclusive" if "CAPPED" in self.capped(r) and r["verdict"] != "met"
                else (r["verdict"] or ""),
                self.before_after(r), self.rss_cell(r),
                self.capped(r)]) + " |")
        if chart:
            out += ["", f"![throughput ratios, latency and CPU per event]({chart})"]
        out += ["", "Runs (gateway; reference):", ""]
        for r in self.rows:
            if r["status"] == "ok" and len(r["gateway_runs"]) > 1:
                g = ", ".join(self.fmt(x) for x in r["gateway_runs"])
                ref = ", ".join(self.fmt(x) for x in r["reference_runs"])
                out.append(f"- {r['scenario']} / {r['case']} / {r['metric']}: {g}"
                           + (f"; {ref}" if ref else ""))
        return "\n".join(out) + "\n"

    def chart(self, outdir, stamp):
        if not shutil.which("gnuplot"):
            return None
        ratios = [r for r in self.rows if r["status"] == "ok" and r["ratio"] is not None
                  and r["scenario"] != "smoke"]
        sweep = self.series.get("sweep", [])
        d = self.work / "chart"
        d.mkdir(exist_ok=True)
        with open(d / "ratios.dat", "w") as f:
            for i, r in enumerate(ratios):
                m = re.search(r"[<>]= ([\d.]+)$", r["target"] or "")
                tgt = float(m.group(1)) if m else 0
                lab = r.get("short") or r["case"][:16]
                f.write(f'{i} "{lab}" {r["ratio"]:.4f} {tgt}\n')
        with open(d / "sweep.dat", "w") as f:
            for s in sweep:
                f.write(f"{s['rate']} {s['delivered'] or 0} {s['p50'] or 0} {s['p99'] or 0} "
                        f"{s['p999'] or 0} {s['us_per_event'] or 0} {s['cpu'] or 0}\n")
            if "max" in self.series:
                m = self.series["max"]
                f.write(f"\n\n{m['rate']} {m['us_per_event']}\n")
        n = max(1, len(ratios))
        panels = []
        panels.append(f"""
set title "gateway / reference (median of {self.runs}; throughput, and CPU or instructions where lower is better); dots: target"
set style data histograms
set style fill solid 0.6
set boxwidth 0.7
set logscale y
set yrange [0.01:10]
set ytics (0.01, 0.03, 0.1, 0.3, 0.5, 0.8, 1, 2, 3, 10)
set xtics rotate by -30 font ",9"
set xrange [-0.6:{n - 0.4}]
plot "ratios.dat" using 1:3:xtic(2) with boxes lc rgb "#4477aa" title "ratio", \\
     "" using 1:($4 > 0 ? $4 : 1/0) with points pt 7 ps 0.8 lc rgb "#cc3311" title "target", \\
     1 with lines dt 2 lc rgb "#666666" notitle
unset logscale
set ytics auto
""")
        if sweep:
            panels.append("""
set title "reading -> Kafka ack latency, fsync 10ms (median per-interval quantiles)"
set style data linespoints
unset xtics
set xtics auto font ",9"
set logscale x
set logscale y
set xrange [*:*]
set autoscale xfix
set yrange [*:*]
set xlabel "offered events/s"
set ylabel "ms"
plot "sweep.dat" index 0 using 1:3 title "p50" lw 2, "" index 0 using 1:4 title "p99" lw 2, \\
     "" index 0 using 1:5 title "p999" lw 2
""")
            panels.append("""
set title "throughput and CPU per event"
set ylabel "us CPU per event"
set y2label "delivered events/s"
set y2tics
set logscale y2
plot "sweep.dat" index 0 using 1:6 title "CPU us/event" lw 2, \\
     "" index 0 using 1:2 axes x1y2 title "delivered/s" lw 2""" +
                          (""", \\
     "" index 1 using 1:2 with points pt 5 ps 1.2 title "CPU us/event at max (produce)"
""" if "max" in self.series else "\n"))
        rows = len(panels)
        script = "".join(
            f"""set terminal {term} size 1000,{360 * rows} {'font "sans,10"' if term != 'svg' else 'font "sans,10" dynamic'}
set output "{outdir / f'{stamp}.{ext}'}"
set multiplot layout {rows},1
set key top left
set grid ytics
set bmargin 6
""" + "".join(panels) + "unset multiplot\nset output\nreset\n"
            for term, ext in (("svg", "svg"), ("pngcairo", "png")))
        (d / "chart.gp").write_text(script)
        p = subprocess.run(["gnuplot", "chart.gp"], cwd=d, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            log(f"gnuplot failed: {p.stderr[-800:]}")
            return None
        return f"{stamp}.svg"


def render(path, args):
    """Regenerate the table and the chart of a finished run (the json is
    the record; nothing is measured again)."""
    data = json.loads(path.read_text())
    b = object.__new__(Bench)
    b.rows, b.series, b.runs = data["rows"], data["series"], data["meta"]["runs"]
    b.load_before(data["meta"].get("args", {}).get("before") or args.before)
    b.work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        stamp = path.stem
        chart = b.chart(path.parent, stamp)
        (path.parent / f"{stamp}.md").write_text(b.markdown(data["meta"], chart))
    finally:
        shutil.rmtree(b.work, ignore_errors=True)
    log(f"rendered {path.parent / stamp}.md from {path.name}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="produce,embedded,callgrind,avro,mqtt,fanout,modbus,spool,"
                    "rates,idle,scrape,qemu",
                    help="comma-separated scenarios")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--produce-n", type=int, default=1_000_000)
    ap.add_argument("--produce-warmup", type=int, default=3,
                    help="rounds of gateway + kcat before the produce case is measured")
    ap.add_argument("--mqtt-n", type=int, default=100_000)
    ap.add_argument("--modbus-units", type=int, default=247,
                    help="unit ids 1..N (at most 247) the simulator answers")
    ap.add_argument("--modbus-devices", type=int, default=400,
                    help="devices polled every 10 ms (unit ids cycle over the units)")
    ap.add_argument("--spool-secs", type=float, default=3)
    ap.add_argument("--spool-runs", type=int, default=5, help="the disk is the noisiest part")
    ap.add_argument("--window", type=int, default=8, help="measured 1 s intervals after warm-up")
    ap.add_argument("--rates", default="1000,3000,10000,30000,100000,200000",
                    type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--bootstrap", help="use this running broker (topics auto-created) "
                    "instead of starting one (development)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--render", metavar="JSON",
                    help="only rewrite the .md and chart of an earlier run from its json")
    ap.add_argument("--before", default=str(BEFORE),
                    help="the report whose figures fill the before -> after column")
    ap.add_argument("--qemu-n", type=int, default=100_000,
                    help="events of the qemu-aarch64 produce case (and records of kcat's)")
    ap.add_argument("--callgrind-n", type=int, default=100_000,
                    help="events of the callgrind produce case (and records of kcat's)")
    args = ap.parse_args()
    if args.render:
        return render(Path(args.render).resolve(), args)
    started = datetime.datetime.now(datetime.timezone.utc)
    b = Bench(args)
    b.load_before(args.before)
    deadline_total = time.time() + (90 if args.smoke else 3600)
    failed = []
    try:
        if args.smoke:
            b.runs = 1
            b.smoke()
            b.write(b.src / "bench-smoke", started)
            print(b.markdown(dict(date=started.isoformat(timespec="seconds"), cpus=os.cpu_count(),
                                  kernel=platform.release(), version="", git="", kafka="embedded"),
                             None))
            log("bench-smoke: ok")
            return 0
        only = args.only.split(",")
        try:
            if args.bootstrap:
                b.bootstrap = args.bootstrap
            else:
                b.start_kafka()
        except Exception as e:  # noqa: BLE001 - report, do not fake
            reason = f"Kafka broker did not start: {str(e).splitlines()[0][:200]}"
            for s in only:
                b.not_run(s, "all", reason)
            b.write(Path(args.out), started)
            return 1
        steps = [("produce", b.scenario_produce), ("embedded", b.scenario_produce_embedded),
                 ("callgrind", b.scenario_callgrind),
                 ("avro", b.scenario_avro),
                 ("mqtt", b.scenario_mqtt), ("fanout", b.scenario_fanout),
                 ("modbus", b.scenario_modbus),
                 ("spool", b.scenario_spool), ("rates", b.scenario_rates),
                 ("idle", b.scenario_idle), ("scrape", b.scenario_scrape),
                 ("qemu", b.scenario_qemu)]
        for name, fn in steps:
            if name not in only:
                continue
            if time.time() > deadline_total:
                b.not_run(name, "all", "the bench's overall time bound (60 min) was reached")
                continue
            log(f"=== {name}")
            try:
                fn()
            except NotRun as e:
                b.not_run(name, "all", str(e))
            except Exception as e:  # noqa: BLE001 - one scenario's failure is reported
                traceback.print_exc()
                failed.append(name)
                b.row(name, "all", "-", "", None,
                      status=f"not run: failed: {str(e).splitlines()[0][:160]}")
        if "rates" in only:
            b.scenario_scale()
        b.write(Path(args.out), started)
        return 1 if failed else 0
    finally:
        if b.mosq:
            try:
                b.mosq.stop()
            except Exception:  # noqa: BLE001
                pass
        if b.kafka:
            try:
                b.kafka.stop(clean=True)
            except Exception as e:  # noqa: BLE001
                log(f"kafka stop: {e}")
        if not args.keep:
            shutil.rmtree(b.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
