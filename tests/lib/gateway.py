"""Run the sensorgate binary as a real process for integration tests."""
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from procs import die_with_parent


def sg_bin():
    b = Path(os.environ.get("SG_BUILD", Path(__file__).resolve().parents[2] / "build")) / "sensorgate"
    if not b.exists():
        raise RuntimeError(f"{b} not built: run make")
    return str(b)


class Gateway:
    """One gateway process with its own config, spool and log file.

    yaml_text may use {spool} and {dir}; they are replaced with paths in
    workdir.  The same Gateway can be started again after stop()/kill9():
    it reuses the spool, like a restart on a device.

    A config without an `http:` section gets `http: {port: 0}`: each
    gateway's metrics endpoint on its own free port (see http_port()), so
    tests never collide on the default port.
    """

    def __init__(self, workdir, yaml_text, name="gw", binary=None):
        self.binary = binary  # None: sg_bin()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spool = self.dir / f"{name}-spool"
        self.conf = self.dir / f"{name}.yaml"
        self.logfile = self.dir / f"{name}.log"
        text = yaml_text.replace("{spool}", str(self.spool)).replace("{dir}", str(self.dir))
        if not re.search(r"^http:", text, re.M):
            text += "\nhttp:\n  port: 0\n"
        self.conf.write_text(text)
        self.proc = None
        self.starts = 0

    def start(self, wait_running=True, env=None, timeout=15):
        log = open(self.logfile, "a")
        log.write(f"---- start {self.starts}\n")
        log.flush()
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([self.binary or sg_bin(), "run", "-c", str(self.conf)],
                                     stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=e,
                                     preexec_fn=die_with_parent)
        log.close()
        self.starts += 1
        if wait_running:
            self.wait_log(r"gateway \S+ running", timeout)
        return self

    def http_port(self, timeout=10):
        """The port of this run's metrics endpoint, from the log."""
        pattern = r"metrics and probes at http://\S*:(\d+)/metrics"
        self.wait_log(pattern, timeout)
        return int(re.findall(pattern, self.log().rsplit("---- start", 1)[-1])[-1])

    def metric(self, name, labels="", timeout=5):
        """The sum of the samples of one metric (those whose labels contain
        `labels`) on this run's /metrics."""
        port = self.http_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^(\S+?)(\{[^}]*\})?\s+(\S+)$", line)
            if m and m.group(1) == name and labels in (m.group(2) or ""):
                total += float(m.group(3))
        return total

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def wait_log(self, pattern, timeout=15, since_start=True):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log()
            if since_start:
                text = text.rsplit("---- start", 1)[-1]
            if re.search(pattern, text):
                return True
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"gateway exited ({self.proc.returncode}) before /{pattern}/:\n{text[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"timeout waiting for /{pattern}/ in gateway log:\n{self.log()[-3000:]}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gateway did not stop within {timeout}s:\n{self.log()[-3000:]}")

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def spool_stat(self):
        out = subprocess.run([sg_bin(), "spool", "stat", str(self.spool)], capture_output=True,
                             text=True, check=True).stdout
        last = out.strip().splitlines()[-1]
        m = re.search(r"records (\d+), bytes (\d+), seqs (\d+)\.\.(\d+), delivered up to (\d+), "
                      r"pending (\d+), corrupt regions (\d+)", last)
        assert m, out
        keys = ("records", "bytes", "first_seq", "last_seq", "acked", "pending", "corrupt")
        st = dict(zip(keys, map(int, m.groups())))
        # Delivered segments are deleted: the cursor still knows the last seq.
        st["last_seq"] = max(st["last_seq"], st["acked"])
        return st

    def wait_drained(self, timeout=60, min_seq=1):
        """Wait until every spooled event (at least up to min_seq) is acked."""
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            st = self.spool_stat()
            if st["last_seq"] >= min_seq and st["acked"] >= st["last_seq"] and st["pending"] == 0:
                return st
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"gateway exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"spool not drained within {timeout}s: {st}\n{self.log()[-3000:]}")

    def __del__(self):
        try:
            self.kill9()
        except Exception:
            pass
