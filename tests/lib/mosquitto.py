"""A real mosquitto broker for the integration tests.

Mosquitto(workdir).start() writes a config for a free loopback port and
runs `mosquitto -c`; persistence is on so a restarted broker keeps the
sessions and queued messages it had saved.  Options: tls (dict with
cafile, certfile, keyfile, require_certificate), passwords (user ->
password, hashed with mosquitto_passwd), max_queued (per-client queue
bound; the broker default of 1000 drops messages for a gateway that is
down longer than that many messages).
"""
import getpass
import os
import socket
import subprocess
import time
from pathlib import Path

from procs import die_with_parent


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mosquitto:
    def __init__(self, workdir, port=None, tls=None, passwords=None, max_queued=1_000_000,
                 persistence=True, name="mosq"):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.passwords = passwords
        self.max_queued = max_queued
        self.persistence = persistence
        self.conf = self.dir / "mosquitto.conf"
        self.logfile = self.dir / "mosquitto.log"
        self.proc = None
        self._write_conf()

    def _write_conf(self):
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Run as ourselves: as root mosquitto would switch to user
            # mosquitto and could not write its persistence file here.
            f"user {getpass.getuser()}",
            "allow_anonymous " + ("false" if self.passwords else "true"),
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.dir}/",
            "autosave_interval 1",
            f"max_queued_messages {self.max_queued}",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            "persistent_client_expiration 1d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        if self.passwords:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in self.passwords.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True)
            os.chmod(pw, 0o600)
            lines.append(f"password_file {pw}")
        if self.tls:
            lines += [f"cafile {self.tls['cafile']}", f"certfile {self.tls['certfile']}",
                      f"keyfile {self.tls['keyfile']}"]
            if self.tls.get("require_certificate"):
                lines.append("require_certificate true")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout=10):
        log = open(self.logfile, "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log()[-2000:]}")

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def stop(self):
        """SIGTERM: mosquitto saves its persistence file on the way out."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def pub_lines(self, topic, lines, qos=1, version="mqttv311", extra=(), timeout=300):
        """Publish one message per line with mosquitto_pub -l (an
        independent client).  Raises if mosquitto_pub fails."""
        data = "".join(line + "\n" for line in lines)
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
               "-V", version, "-t", topic, "-l", *extra]
        p = subprocess.run(cmd, input=data.encode(), capture_output=True, timeout=timeout)
        assert p.returncode == 0, f"mosquitto_pub: {p.stderr.decode()}"

    def pub(self, topic, payload, qos=1, version="mqttv311", extra=()):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
               "-V", version, "-t", topic, *extra]
        if isinstance(payload, bytes):
            cmd += ["-s"]
            data = payload
        else:
            cmd += ["-m", payload]
            data = None
        p = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
        assert p.returncode == 0, f"mosquitto_pub: {p.stderr.decode()}"

    def __del__(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
        except Exception:
            pass
