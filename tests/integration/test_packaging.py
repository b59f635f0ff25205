"""Packaging: the tutorial docker-compose.yml, the Dockerfile and config/docker.yaml.

No docker engine is needed: `docker-compose config -q` validates the
compose file offline, and the rest is checked against the files and the
built binary.  What cannot be checked here (pulling images, starting the
stack) is described in docs/docker.md.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import sg_bin

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# pkg-config module -> Debian -dev package, for hosts where dpkg cannot say.
DEV_PKG = {
    "rdkafka": "librdkafka-dev",
    "libfyaml": "libfyaml-dev",
    "libmodbus": "libmodbus-dev",
    "libmosquitto": "libmosquitto-dev",
    "libgpiod": "libgpiod-dev",
    "sqlite3": "libsqlite3-dev",
}


def loud_skip(msg):
    print("\n" + "!" * 70 + "\n" + msg + "\n" + "!" * 70, file=sys.stderr)
    pytest.skip(msg)


def compose_cmd():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if r.returncode == 0:
            return ["docker", "compose"]
    return None


def load_compose():
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(COMPOSE.read_text())


def sg(*args):
    return subprocess.run([sg_bin(), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_compose_config_is_valid():
    cmd = compose_cmd()
    if cmd is None:
        loud_skip("NEITHER docker-compose NOR docker compose IS INSTALLED: "
                  "docker-compose.yml NOT VALIDATED (apt-get install docker-compose)")
    r = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "--services"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    services = set(r.stdout.split())
    assert {"kafka1", "kafka2", "kafka3", "topic-init", "mosquitto", "modbus-sim", "mqtt-sim",
            "gateway"} <= services, services


def test_compose_kafka_conventions():
    c = load_compose()
    s = c["services"]
    for n, port in ((1, 9092), (2, 9093), (3, 9094)):
        k = s[f"kafka{n}"]
        env = k["environment"]
        assert k["image"].startswith("apache/kafka:4."), k["image"]
        assert env["KAFKA_NODE_ID"] == n
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        adv = env["KAFKA_ADVERTISED_LISTENERS"]
        assert f"INTERNAL://kafka{n}:19092" in adv and f"EXTERNAL://localhost:{port}" in adv, adv
        assert any(p.endswith(f":{port}:{port}") for p in k["ports"]), k["ports"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@kafka") == 3
    assert s["kafka1"]["environment"]["CLUSTER_ID"] == s["kafka3"]["environment"]["CLUSTER_ID"]
    dep = s["gateway"]["depends_on"]["topic-init"]["condition"]
    assert dep == "service_completed_successfully"


def test_compose_files_exist():
    """Every host file or directory the compose file mounts or builds from exists."""
    c = load_compose()
    checked = 0
    for name, svc in c["services"].items():
        build = svc.get("build")
        if build:
            ctx = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            df = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            assert (ctx / df).is_file(), f"{name}: {ctx / df} missing"
            checked += 1
        for v in svc.get("volumes", []):
            src = v.split(":", 1)[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith(("./", "../", "/")):
                assert (ROOT / src).exists(), f"{name}: mounts {src}, which does not exist"
                checked += 1
    assert checked >= 4
    # The gateway's -c file is the one mounted from config/docker.yaml.
    gw = c["services"]["gateway"]
    conf = gw["command"][gw["command"].index("-c") + 1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in gw["volumes"] if isinstance(v, str)}
    assert mounts.get(conf) == "./config/docker.yaml", mounts


def test_dockerfile_copies_exist_and_are_in_context():
    text = DOCKERFILE.read_text()
    ignore = (ROOT / ".dockerignore").read_text().split()
    for m in re.finditer(r"^COPY\s+(?!--from)(.+)$", text, re.M):
        *srcs, _dst = m.group(1).split()
        for src in srcs:
            assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
            top = src.rstrip("/").split("/")[0]
            allowed = {i.lstrip("!").rstrip("/") for i in ignore if i.startswith("!")}
            assert top in allowed, f"{src} is excluded by .dockerignore"


def test_simulator_options_exist():
    """The options the compose file passes to `sensorgate sim ...` are ones it knows."""
    c = load_compose()
    for name in ("modbus-sim", "mqtt-sim"):
        cmd = c["services"][name]["command"]
        assert cmd[0] == "sim"
        r = sg("sim", cmd[1], "--help")
        if r.returncode != 0:
            loud_skip(f"`sensorgate sim {cmd[1]}` IS NOT BUILT YET: {name} OPTIONS NOT CHECKED")
        helptext = r.stdout + r.stderr
        for opt in (a for a in cmd[2:] if a.startswith("--")):
            assert re.search(rf"(^|[\s,]){re.escape(opt)}\b", helptext), \
                f"{name}: `sensorgate sim {cmd[1]}` has no option {opt}"


def test_docker_yaml_checks():
    doc = sg("config-doc")
    assert doc.returncode == 0, doc.stderr
    missing = [d for d in ("mqtt", "modbus") if f"## Driver `{d}`" not in doc.stdout]
    if missing:
        loud_skip(f"DRIVER(S) {missing} NOT REGISTERED YET: config/docker.yaml NOT CHECKED")
    r = sg("check", "-c", "config/docker.yaml")
    assert r.returncode == 0, r.stderr
    assert "ok (4 source(s))" in r.stdout, r.stdout
    text = (ROOT / "config/docker.yaml").read_text()
    assert "kafka1:19092,kafka2:19092,kafka3:19092" in text


def makefile_modules():
    m = re.search(r"^PKGS\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert m, "no PKGS line in the Makefile"
    return m.group(1).split()


def dockerfile_stages():
    """The packages each stage of the Dockerfile installs with apt-get."""
    stages = []
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("FROM "):
            stages.append(set())
        for m in re.finditer(r"apt-get install ([^&;]+)", line):
            stages[-1].update(t for t in m.group(1).split() if not t.startswith("-"))
    return stages


def owner_package(path):
    r = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["dpkg", "-S", str(Path(path).resolve())], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return r.stdout.split(":")[0].split(",")[0].strip()


def test_dockerfile_packages_cover_pkg_config_modules():
    build, runtime = dockerfile_stages()[0], dockerfile_stages()[-1]
    for mod in makefile_modules():
        pkg = None
        if shutil.which("pkg-config") and shutil.which("dpkg"):
            r = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True,
                               text=True)
            if r.returncode == 0:
                pkg = owner_package(Path(r.stdout.strip()) / f"{mod}.pc")
        pkg = pkg or DEV_PKG.get(mod)
        assert pkg, f"no -dev package known for pkg-config module {mod}"
        assert pkg in build, f"Dockerfile build stage lacks {pkg} (pkg-config {mod})"


def test_dockerfile_runtime_has_every_linked_library():
    """Each library build/sensorgate links directly has its package in the runtime stage."""
    if not shutil.which("dpkg") or not shutil.which("ldd"):
        loud_skip("NO dpkg/ldd: RUNTIME LIBRARY LIST OF THE Dockerfile NOT CHECKED")
    runtime = dockerfile_stages()[-1]
    base = {"libc6", "libgcc-s1", "libc-bin"}  # in debian:bookworm-slim already
    r = subprocess.run(["objdump", "-p", sg_bin()], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # Sanitizer runtimes are in test builds only, never in the image.
    needed = [so for so in re.findall(r"NEEDED\s+(\S+)", r.stdout)
              if not re.match(r"lib(asan|ubsan|tsan|lsan)\.", so)]
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", sg_bin()], capture_output=True, text=True).stdout, re.M))
    assert needed
    for so in needed:
        if so not in paths:
            continue  # the dynamic loader itself
        pkg = owner_package(paths[so])
        assert pkg, f"no package owns {paths[so]}"
        assert pkg in runtime | base, f"runtime stage lacks {pkg} ({so})"
