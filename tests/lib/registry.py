"""A real Schema Registry on loopback for the integration tests: Apicurio
Registry 2.6 (tests/registry/fetch.sh downloads it from Maven Central),
whose /apis/ccompat/v7 API is the Confluent Schema Registry's.

    reg = Registry(workdir).start()   # about 8 s
    reg.url                          # http://127.0.0.1:PORT/apis/ccompat/v7
    reg.stop(); reg.start()          # same port, same schemas (H2 file)

Apicurio's own authentication needs a Keycloak; a registry behind a
reverse proxy that does TLS and basic auth is the common deployment, and
Front is that proxy: https with a CA made here (openssl) and a fixed
user and password, forwarding everything to the registry.
"""
import base64
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from procs import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
CT = "application/vnd.schemaregistry.v1+json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch():
    r = subprocess.run([str(ROOT / "tests/registry/fetch.sh")], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"tests/registry/fetch.sh failed:\n{r.stderr[-2000:]}")
    return Path(r.stdout.strip())


def call(url, method="GET", body=None, headers=None, context=None):
    """(status, parsed JSON or text) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": CT, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Registry:
    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home = fetch()
        self.port = free_port()
        self.proc = None
        self.log = self.dir / "registry.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    def start(self, timeout=120):
        jar = next(self.home.glob("apicurio-registry-app-*-runner.jar"))
        env = dict(os.environ,
                   REGISTRY_DATASOURCE_URL=f"jdbc:h2:file:{self.dir}/db/registry")
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
             f"-Dquarkus.http.port={self.port}", "-Dquarkus.http.host=127.0.0.1",
             "-jar", str(jar)],
            cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited:\n{self.log.read_text()[-3000:]}")
            try:
                if call(self.url + "/subjects")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"registry not up in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # --- the REST API, as an operator would use it ---------------------
    def register(self, subject, schema):
        return call(f"{self.url}/subjects/{subject}/versions", "POST", {"schema": schema})

    def set_compatibility(self, subject, level):
        return call(f"{self.url}/config/{subject}", "PUT", {"compatibility": level})

    def versions(self, subject):
        return call(f"{self.url}/subjects/{subject}/versions")

    def schema(self, sid):
        return call(f"{self.url}/schemas/ids/{sid}")


def make_ca(workdir):
    """A CA and a server certificate for 127.0.0.1 and localhost; returns
    (ca.pem, server.pem, server.key)."""
    d = Path(workdir)
    run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=sensorgate test CA", "-keyout", "ca.key", "-out", "ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
    return d / "ca.pem", d / "server.pem", d / "server.key"


class Front:
    """https + basic auth in front of a Registry (the reverse proxy)."""

    def __init__(self, registry, workdir, user, password):
        self.registry = registry
        self.ca, cert, key = make_ca(workdir)
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.refused = 0
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if self.headers.get("Authorization") != want:
                    front.refused += 1
                    return self._send(401, json.dumps(
                        {"error_code": 401, "message": "Unauthorized"}).encode())
                req = urllib.request.Request(front.registry.url.rsplit("/apis", 1)[0] + self.path,
                                             data=body, method=self.command,
                                             headers={"Content-Type": CT})
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        status, raw = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, raw = e.code, e.read()
                except OSError:
                    status, raw = 502, b'{"error_code":502,"message":"registry down"}'
                self._send(status, raw)

            def _send(self, status, raw):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}/apis/ccompat/v7"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
