"""Packaging: the tutorial docker-compose.yml, the Dockerfile and
config/docker.yaml; the loadable modules (gateway/base/module.h: what the
executable links, what each module exports, the errors when one is
missing); and the Debian package (cross/debian/, `make deb`).

No docker engine is needed: `docker-compose config -q` validates the
compose file offline, and the rest is checked against the files and the
built binary.  What cannot be checked here (pulling images, starting the
stack) is described in docs/docker.md.

The Debian package is built for this machine's architecture with
cross/deb.sh (dpkg-buildpackage + debhelper, then lintian), installed with
dpkg -i, checked and run as the sensorgate user, and purged; see the
second half of this file.  Cross builds and runs under qemu are
`make test-cross` (tests/cross/), too slow for every `make test`.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gateway import sg_bin
from procs import die_with_parent

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
    "libevent": "libevent-dev",
    "libsystemd": "libsystemd-dev",
    "avro-c": "libavro-dev",
    "libcurl": "libcurl4-openssl-dev",
    "jansson": "libjansson-dev",
    "libcrypto": "libssl-dev",
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
            "gateway", "gateway-gpio", "sink", "schema-registry", "gateway-avro",
            "kafka-ui"} <= services, services


def test_compose_images_are_pinned():
    """Every image names a version: no bare name, no `latest`, no major-only tag."""
    for name, svc in load_compose()["services"].items():
        image = svc.get("image", "")
        if svc.get("build"):
            continue  # built here (sensorgate:local)
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: image {image!r} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image!r} is not pinned"


def gateway_configs(c):
    """{service: host config file} for every service running `sensorgate run -c`."""
    out = {}
    for name, svc in c["services"].items():
        cmd = svc.get("command") or []
        if cmd[:1] == ["run"]:
            conf = cmd[cmd.index("-c") + 1]
            mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"] if isinstance(v, str)}
            assert conf in mounts, f"{name}: its config {conf} is not mounted"
            out[name] = mounts[conf]
    return out


def test_compose_gateways_have_their_own_spool_dirs():
    """Two gateways never share a spool directory (one gateway per spool)."""
    yaml = pytest.importorskip("yaml")
    c = load_compose()
    seen = {}
    for name, conf in gateway_configs(c).items():
        spool = yaml.safe_load((ROOT / conf).read_text())["spool"]["dir"]
        vol = [v.split(":")[0] for v in c["services"][name]["volumes"]
               if isinstance(v, str) and spool.startswith(v.split(":")[1])]
        assert vol, f"{name}: spool {spool} is not on a volume"
        key = (vol[0], spool)
        assert key not in seen, f"{name} and {seen.get(key)} share the spool {key}"
        seen[key] = name


def test_compose_gpio_gateway():
    c = load_compose()
    gw = c["services"]["gateway-gpio"]
    assert gateway_configs(c)["gateway-gpio"] == "./config/docker-gpio.yaml"
    assert "gpio-spool:/var/lib/sensorgate" in gw["volumes"], gw["volumes"]
    assert gw["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
    text = (ROOT / "config/docker-gpio.yaml").read_text()
    assert "chip: sim" in text and "kafka1:19092,kafka2:19092,kafka3:19092" in text
    r = sg("check", "-c", "config/docker-gpio.yaml")
    assert r.returncode == 0, r.stderr
    assert "ok (1 source(s))" in r.stdout, r.stdout


def test_compose_topics_cover_every_source():
    """topic-init creates sensors.<source> for every source of the JSON gateways."""
    yaml = pytest.importorskip("yaml")
    c = load_compose()
    topics = c["services"]["topic-init"]["environment"]["TOPICS"].split()
    for name, conf in gateway_configs(c).items():
        cfg = yaml.safe_load((ROOT / conf).read_text())
        if cfg["kafka"]["topic"] != "sensors.{source}":
            continue
        for src in cfg["sources"]:
            assert f"sensors.{src['name']}" in topics, f"{name}: sensors.{src['name']} not created"


def test_compose_sink():
    """The sink consumes sensors.* in a consumer group into SQLite on its own volume,
    with options `sensorgate sink` knows."""
    c = load_compose()
    sink = c["services"]["sink"]
    cmd = sink["command"]
    assert cmd[0] == "sink"
    opts = {a: cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a in ("-b", "-t", "-g", "--to")}
    assert opts["-b"] == "kafka1:19092,kafka2:19092,kafka3:19092"
    assert re.match(opts["-t"], "sensors.panel") and re.match(opts["-t"], "sensors.meters")
    assert not re.match(opts["-t"], "avro.greenhouse")
    assert opts["-g"] == "sqlite-sink"
    target = opts["--to"]
    assert target.startswith("sqlite:/var/lib/sensorgate/"), target
    assert "sink-data:/var/lib/sensorgate" in sink["volumes"], sink["volumes"]
    assert "sink-data" in c["volumes"] and "gpio-spool" in c["volumes"]
    r = sg("sink", "--help")
    helptext = r.stdout + r.stderr
    for opt in (a for a in cmd[1:] if a.startswith("-")):
        assert re.search(rf"(^|[\s\[(]){re.escape(opt)}\b", helptext), f"sink has no option {opt}"


def test_compose_kafka_ui_sees_cluster_and_registry():
    s = load_compose()["services"]
    env = s["kafka-ui"]["environment"]
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka1:19092,kafka2:19092,kafka3:19092"
    reg = env["KAFKA_CLUSTERS_0_SCHEMAREGISTRY"]
    assert reg.startswith("http://schema-registry:8080/"), reg
    assert "schema-registry" in s["kafka-ui"]["depends_on"]


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


# --- The loadable modules (gateway/base/module.h, issue 15) ---------------

# Libraries only a module may link, and the module that does.
MODULE_LIBS = {"libavro": "sensorgate-avro.so", "libcurl": "sensorgate-avro.so",
               "libjansson": "sensorgate-avro.so", "libsqlite3": "sensorgate-sqlite.so"}
MODULE_TABLES = {"sensorgate-avro.so": "sg_avro_module",
                 "sensorgate-sqlite.so": "sg_sqlite_module"}


def needed(path):
    r = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return re.findall(r"NEEDED\s+(\S+)", r.stdout)


def module_dir():
    return Path(sg_bin()).parent / "modules"


def test_binary_leaves_the_optional_stacks_to_its_modules():
    """build/sensorgate does not link libavro, libcurl, jansson or
    sqlite3; each module links its own and exports one table only."""
    if not shutil.which("objdump") or not shutil.which("nm"):
        loud_skip("NO objdump/nm: THE MODULES' LINKAGE WAS NOT CHECKED")
    core = needed(sg_bin())
    for lib, mod in MODULE_LIBS.items():
        assert not [so for so in core if so.startswith(lib + ".")], \
            f"{sg_bin()} links {lib}: it belongs to {mod} ({core})"
        assert [so for so in needed(module_dir() / mod) if so.startswith(lib + ".")], \
            f"{mod} does not link {lib}"
    for mod, table in MODULE_TABLES.items():
        r = subprocess.run(["nm", "-D", "--defined-only", str(module_dir() / mod)],
                           capture_output=True, text=True, check=True)
        exported = [l.split()[-1] for l in r.stdout.splitlines() if l.split()[1:2] != ["A"]]
        assert exported == [table], f"{mod} exports {exported}, not only {table}"


def module_conf(tmp_path, fmt="avro"):
    conf = tmp_path / f"{fmt}.yaml"
    conf.write_text("gateway: {id: mod-test, shutdown_timeout: 2s}\n"
                    f"spool: {{dir: {tmp_path / fmt}, fsync: 100ms}}\n"
                    f"kafka: {{bootstrap: embedded, topic: modtest, format: {fmt}}}\n"
                    "schema_registry: {url: \"http://127.0.0.1:9\", timeout: 500ms}\n"
                    "http: {port: 0}\n"
                    "view: {mode: lines}\n"
                    "sources:\n"
                    "  - {name: sim, driver: sim, sensors: [{id: c, kind: counter, rate: 10}]}\n")
    return conf


def run_until(conf, env, want, look=None, timeout=20):
    """Run the gateway until its output says want, call look(pid) then,
    SIGTERM it; or let it exit.  Returns (its exit status if it exited
    on its own, else None; its output)."""
    log = conf.with_suffix(".log")
    with open(log, "w") as fp:
        p = subprocess.Popen([sg_bin(), "run", "-c", str(conf)], stdout=fp,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             preexec_fn=die_with_parent)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and p.poll() is None and want not in log.read_text():
            time.sleep(0.2)
        rc = p.poll()
        if rc is None:
            if look:
                look(p.pid)
            p.send_signal(signal.SIGTERM)
            assert p.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return rc, log.read_text()


def env_without_override():
    return {k: v for k, v in os.environ.items() if k != "SENSORGATE_MODULE_DIR"}


def test_gateway_loads_the_avro_module_only_with_kafka_format_avro(tmp_path):
    """A JSON gateway maps none of the modules and their libraries;
    kafka.format avro loads sensorgate-avro.so from the build tree (the
    modules/ directory next to the binary)."""
    def nothing_optional(pid):
        maps = Path(f"/proc/{pid}/maps").read_text()
        for name in list(MODULE_LIBS) + list(MODULE_TABLES):
            assert f"/{name}" not in maps, f"a JSON gateway maps {name}"

    rc, out = run_until(module_conf(tmp_path, "json"), env_without_override(), " running: ",
                        nothing_optional)
    assert rc is None and " running: " in out, out

    def avro_mapped(pid):
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert f"{module_dir().resolve()}/sensorgate-avro.so" in maps, maps
        assert "/libavro" in maps, maps

    rc, out = run_until(module_conf(tmp_path), env_without_override(), "values in Avro",
                        avro_mapped)
    assert rc is None and "values in Avro (sensorgate.Event)" in out, out


def test_missing_module_is_a_clear_error(tmp_path):
    """Without its module, kafka.format avro fails at start and the sink's
    sqlite target before it connects: each names the file and what needs
    it, and exits with an error status (no crash)."""
    empty = tmp_path / "no-modules"
    empty.mkdir()
    env = dict(os.environ, SENSORGATE_MODULE_DIR=str(empty))
    rc, out = run_until(module_conf(tmp_path), env, "values in Avro")
    assert rc is not None and rc > 0, f"exit {rc}:\n{out}"
    assert f"kafka.format: avro needs {empty}/sensorgate-avro.so: cannot open shared object " \
           "file" in out, out
    # `check` says it before any start.
    conf_file = tmp_path / "avro.yaml"
    r = subprocess.run([sg_bin(), "check", "-c", str(conf_file)], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"kafka.format: avro needs {empty}/sensorgate-avro.so: " in r.stderr, r.stderr
    r = subprocess.run([sg_bin(), "sink", "-b", "127.0.0.1:9", "-t", "x",
                        "--to", f"sqlite:{tmp_path / 'x.db'}"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode > 0, r.stdout + r.stderr
    assert f"sink: --to sqlite:PATH needs {empty}/sensorgate-sqlite.so: " in r.stderr, r.stderr
    assert not (tmp_path / "x.db").exists()


def test_wrong_module_file_is_refused(tmp_path):
    """A file that is not the module it is named after (here the SQLite
    module under the Avro module's name) is refused by its table."""
    d = tmp_path / "mods"
    d.mkdir()
    shutil.copy(module_dir() / "sensorgate-sqlite.so", d / "sensorgate-avro.so")
    env = dict(os.environ, SENSORGATE_MODULE_DIR=str(d))
    rc, out = run_until(module_conf(tmp_path), env, "values in Avro")
    assert rc is not None and rc > 0, f"exit {rc}:\n{out}"
    assert f"kafka.format: avro needs {d}/sensorgate-avro.so: no table sg_avro_module" in out, out


# --- The Debian package (cross/debian/, cross/deb.sh, `make deb`) -----------

DEB_DIR = ROOT / "cross" / "debian"
# bookworm's debhelper installs under /lib, trixie's under /usr/lib.
UNIT_DIRS = ("lib/systemd/system", "usr/lib/systemd/system")
UDEV_DIRS = ("lib/udev/rules.d", "usr/lib/udev/rules.d")
# Several checkouts on one machine may run this at once: one install at a
# time, and a dpkg lock held by anyone else is waited for.
INSTALL_LOCK = Path("/run/lock/sensorgate-deb-test.lock")


def deb_arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The package built by cross/deb.sh for this machine (unit tests off:
    `make test` runs them).  Returns (path of the .deb, the script's output,
    the extracted package tree)."""
    if not shutil.which("dpkg-buildpackage") or not shutil.which("lintian"):
        loud_skip("dpkg-buildpackage OR lintian IS NOT INSTALLED: THE DEBIAN PACKAGE WAS NOT "
                  "BUILT (tests/deps.sh installs debhelper and lintian)")
    out = tmp_path_factory.mktemp("deb")
    env = dict(os.environ, DEB_OUT=str(out), DEB_BUILD_OPTIONS="nocheck", CROSS_NO_INSTALL="1")
    r = subprocess.run([str(ROOT / "cross" / "deb.sh")], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, f"cross/deb.sh failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}"
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.name.endswith(f"_{deb_arch()}.deb"), r.stdout
    tree = out / "tree"
    subprocess.run(["dpkg-deb", "-x", str(path), str(tree)], check=True)
    return path, r.stdout, tree


def deb_module_dir():
    """Where the package puts the modules (cross/debian/rules: MODULEDIR)."""
    ma = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                        text=True, check=True).stdout.strip()
    return f"usr/lib/{ma}/sensorgate"


def packaged(tree, dirs, name):
    """The path of name in the first of dirs that has it (relative to tree)."""
    for d in dirs:
        if (Path(tree) / d / name).exists():
            return f"{d}/{name}"
    raise AssertionError(f"{name} is in none of {dirs}")


def dpkg_field(deb_path, field):
    return subprocess.run(["dpkg-deb", "-f", str(deb_path), field], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_deb_lintian_reports_no_error(deb):
    path, out, _ = deb
    tags = [l for l in out.splitlines() if l.startswith("  lintian: ")]
    errors = [t for t in tags if re.match(r"  lintian: E: ", t)]
    assert not errors, "\n".join(errors)
    print("\n" + ("\n".join(tags) if tags else "lintian: no tags"))


def test_deb_files_and_conffile(deb):
    path, _, tree = deb
    packaged(tree, UNIT_DIRS, "sensorgate.service")
    packaged(tree, UDEV_DIRS, "60-sensorgate.rules")
    for f in ("usr/bin/sensorgate", "etc/sensorgate/sensorgate.yaml",
              "usr/share/man/man1/sensorgate.1.gz", "usr/share/man/man5/sensorgate.yaml.5.gz",
              "usr/share/doc/sensorgate/copyright",
              "usr/share/doc/sensorgate/examples/gpio-example.yaml"):
        assert (tree / f).exists(), f"{f} is not in {path.name}"
    assert os.access(tree / "usr/bin/sensorgate", os.X_OK)
    for mod in MODULE_TABLES:
        assert (tree / deb_module_dir() / mod).is_file(), f"{deb_module_dir()}/{mod} is not in {path.name}"
    assert not (tree / "usr/local").exists()
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(path)], capture_output=True,
                               check=True).stdout
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(conffiles)) as tf:
        names = {m.name.lstrip("./") for m in tf.getmembers()}
        assert {"postinst", "postrm", "conffiles"} <= names, names
        conf = tf.extractfile("./conffiles").read().decode()
    assert conf.split() == ["/etc/sensorgate/sensorgate.yaml"], conf
    # The shipped example is valid for the binary shipped with it.
    r = subprocess.run([str(tree / "usr/bin/sensorgate"), "check", "-c",
                        str(tree / "etc/sensorgate/sensorgate.yaml")], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "ok (1 source(s))" in r.stdout, r.stdout + r.stderr


def test_deb_depends_come_from_the_linked_libraries(deb):
    """${shlibs:Depends}: every shared library the binary and its modules
    need has its package (with a version) in Depends."""
    path, _, tree = deb
    depends = dpkg_field(path, "Depends")
    dep_names = {d.strip().split()[0] for d in depends.split(",")}
    assert "adduser" in dep_names, depends
    objs = [tree / "usr/bin/sensorgate"] + [tree / deb_module_dir() / m for m in MODULE_TABLES]
    sos, paths = [], {}
    for o in objs:
        sos += needed(o)
        paths.update(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
            ["ldd", str(o)], capture_output=True, text=True).stdout, re.M))
    assert len(needed(objs[0])) >= 8, needed(objs[0])
    assert [so for so in sos if so.startswith("libavro.")], sos
    for so in sos:
        if so not in paths:
            continue  # the dynamic loader
        pkg = owner_package(paths[so])
        assert pkg, f"no package owns {paths[so]}"
        assert pkg in dep_names, f"{so} ({pkg}) is not in Depends: {depends}"
    assert re.search(r"librdkafka1 \(>= [0-9.]+\)", depends), depends


def test_deb_build_depends_cover_pkg_config_modules():
    control = (DEB_DIR / "control").read_text()
    bdeps = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S).group(1)
    names = {b.strip().split()[0].split(":")[0] for b in bdeps.split(",") if b.strip()}
    for mod in makefile_modules():
        pkg = DEV_PKG.get(mod)
        assert pkg, f"pkg-config module {mod}: add its -dev package to DEV_PKG and cross/debian/control"
        assert pkg in names, f"cross/debian/control Build-Depends lacks {pkg} (pkg-config {mod})"


def unit_settings(text):
    settings = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2))
    return settings


def test_deb_unit_runs_as_sensorgate_with_gpio_and_serial_only(deb):
    _, _, tree = deb
    unit = tree / packaged(tree, UNIT_DIRS, "sensorgate.service")
    s = unit_settings(unit.read_text())
    assert s["User"] == ["sensorgate"] and s["Group"] == ["sensorgate"]
    assert s["SupplementaryGroups"] == ["gpio dialout"]
    assert all(e.startswith("/usr/bin/sensorgate ") for e in s["ExecStart"] + s["ExecStartPre"])
    # sd_notify READY/STATUS/STOPPING and a watchdog (tests/integration/test_operations.py
    # checks the protocol itself); SIGHUP is the reload.
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["DevicePolicy"] == ["closed"]
    allowed = {d.split()[0] for d in s["DeviceAllow"]}
    assert allowed == {"char-gpiochip", "char-ttyUSB", "char-ttyAMA", "char-ttyS"}, allowed
    assert s["CapabilityBoundingSet"] == [""]
    if not shutil.which("systemd-analyze"):
        loud_skip("systemd-analyze IS NOT INSTALLED: THE UNIT'S EXPOSURE WAS NOT MEASURED")
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for sensorgate\.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    print(f"\nsystemd-analyze security: exposure {m.group(1)}")
    assert float(m.group(1)) <= 2.0, r.stdout


def man_render(page):
    r = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", str(page)], capture_output=True,
                       text=True, env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8",
                                           MAN_KEEP_FORMATTING=""))
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def test_deb_man_pages_render_and_cover_the_commands(deb):
    _, _, tree = deb
    if not shutil.which("man"):
        loud_skip("man IS NOT INSTALLED: THE MAN PAGES WERE NOT RENDERED (apt-get install man-db)")
    man1 = tree / "usr/share/man/man1/sensorgate.1.gz"
    text, warn = man_render(man1)
    assert not warn.strip(), warn
    helptext = subprocess.run([str(tree / "usr/bin/sensorgate"), "--help"], capture_output=True,
                              text=True).stdout
    commands = re.findall(r"^  (\S+)\s{2,}", helptext, re.M)
    assert len(commands) >= 6, helptext
    section = text.split("COMMANDS", 1)[1].split("EXIT STATUS", 1)[0]
    for c in commands:
        assert re.search(rf"^\s{{7}}{re.escape(c)}\b", section, re.M), \
            f"sensorgate(1) has no entry for `sensorgate {c}` (cross/man/sensorgate.1)"
    _, warn = man_render(tree / "usr/share/man/man5/sensorgate.yaml.5.gz")
    assert not warn.strip(), warn


def unroff(s):
    return (s.replace("\\fB", "").replace("\\fR", "").replace("\\-", "-").replace("\\e", "\\")
             .replace("\\&", ""))


def test_deb_man5_says_what_config_md_says(deb):
    """sensorgate.yaml(5) and the Markdown reference come from the same
    tables: the same sections, keys, types and defaults."""
    _, _, tree = deb
    binary = str(tree / "usr/bin/sensorgate")
    md = subprocess.run([binary, "config-doc"], capture_output=True, text=True, check=True).stdout
    man = subprocess.run([binary, "config-doc", "--man"], capture_output=True, text=True,
                         check=True).stdout
    import gzip
    assert gzip.decompress((tree / "usr/share/man/man5/sensorgate.yaml.5.gz").read_bytes()) \
        .decode() == man, "the packaged sensorgate.yaml(5) is not the binary's config-doc --man"
    want = set()
    section = None
    for line in md.splitlines():
        m = re.match(r"^### `(.*)`$", line)
        if m:
            section = m.group(1)
        m = re.match(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]*) \|", line)
        if m and section:
            default = m.group(3).strip().strip("`")
            want.add((section, m.group(1), m.group(2).strip(),
                      "" if default in ("—", "required") else default))
    got = set()
    for m in re.finditer(r'^\.SS "(.*)"$|^\.TP\n\.B (\S+)\n([^,.;\n]+)(?:, default \\fB(.*?)\\fR)?',
                         man, re.M):
        if m.group(1) is not None:
            section = unroff(m.group(1))
        else:
            got.add((section, unroff(m.group(2)), m.group(3).replace(", required", ""),
                     unroff(m.group(4) or "")))
    assert len(want) > 50, len(want)
    assert want == got, f"only in Markdown: {sorted(want - got)[:5]}; only in man: {sorted(got - want)[:5]}"


def run_dpkg(*args, timeout=180):
    """dpkg, waiting while another dpkg or apt holds its lock."""
    deadline = time.time() + timeout
    while True:
        r = subprocess.run(["dpkg", *args], capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode == 0 or "lock" not in r.stderr or time.time() > deadline:
            return r
        time.sleep(1)


def as_sensorgate(*args, **kw):
    return dict(user="sensorgate", group="sensorgate", extra_groups=[], cwd="/", **kw)


def test_deb_installs_checks_runs_and_purges(deb, tmp_path):
    """dpkg -i, `sensorgate check` of the installed example and a short
    run as the sensorgate user (embedded cluster: no broker needed), a
    restart that finds its spool, then purge: nothing of it remains."""
    path, _, _ = deb
    if os.geteuid() != 0:
        loud_skip("NOT ROOT: THE PACKAGE WAS NOT INSTALLED, RUN OR PURGED (run make test as root)")
    import fcntl
    INSTALL_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        st = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "sensorgate"],
                            capture_output=True, text=True).stdout
        if "installed" in st and "not-installed" not in st:
            loud_skip("A sensorgate PACKAGE IS ALREADY INSTALLED ON THIS MACHINE: NOT REPLACED OR "
                      "PURGED BY THE TEST (dpkg --purge sensorgate to let it run)")
        had_gpio = subprocess.run(["getent", "group", "gpio"], capture_output=True).returncode == 0
        try:
            install_and_run(path, tmp_path)
        finally:
            r = run_dpkg("--purge", "sensorgate")
        assert r.returncode == 0, r.stdout + r.stderr
        assert subprocess.run(["getent", "passwd", "sensorgate"]).returncode == 2
        assert subprocess.run(["getent", "group", "sensorgate"]).returncode == 2
        assert (subprocess.run(["getent", "group", "gpio"]).returncode == 0) == had_gpio
        left = ["/var/lib/sensorgate", "/etc/sensorgate", "/usr/bin/sensorgate",
                "/usr/share/man/man5/sensorgate.yaml.5.gz"]
        left += [f"/{d}/sensorgate.service" for d in UNIT_DIRS]
        left += [f"/{d}/60-sensorgate.rules" for d in UDEV_DIRS]
        left += [f"/{deb_module_dir()}"]
        for p in left:
            assert not os.path.exists(p), f"{p} is left after the purge"
        st = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "sensorgate"],
                            capture_output=True, text=True).stdout
        assert "installed" not in st or "not-installed" in st, st


def install_and_run(path, tmp_path):
    r = run_dpkg("-i", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    pw = subprocess.run(["getent", "passwd", "sensorgate"], capture_output=True, text=True,
                        check=True).stdout.strip().split(":")
    assert pw[5] == "/var/lib/sensorgate" and pw[6] == "/usr/sbin/nologin", pw
    assert int(pw[2]) < 1000, f"sensorgate is not a system user: {pw}"
    stv = os.stat("/var/lib/sensorgate")
    assert (stv.st_uid, oct(stv.st_mode & 0o777)) == (int(pw[2]), "0o700")
    assert subprocess.run(["getent", "group", "gpio"], capture_output=True).returncode == 0
    # The unit is installed, neither enabled nor started.
    assert not list(Path("/etc/systemd/system").glob("*/sensorgate.service"))
    if shutil.which("systemd-analyze"):
        v = subprocess.run(["systemd-analyze", "verify",
                            "/" + packaged("/", UNIT_DIRS, "sensorgate.service")],
                           capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr  # the binary and both man pages exist

    r = subprocess.run(["/usr/bin/sensorgate", "check", "-c", "/etc/sensorgate/sensorgate.yaml"],
                       capture_output=True, text=True, timeout=30,
                       **as_sensorgate())
    assert r.returncode == 0 and "ok (1 source(s))" in r.stdout, r.stdout + r.stderr

    # pytest's tmp_path is private to root: the gateway user reads its
    # configuration from a directory of its own.
    confdir = Path(tempfile.mkdtemp(prefix="sg-deb-test-"))
    try:
        run_as_sensorgate(confdir, tmp_path)
        installed_modules_load(confdir, tmp_path)
    finally:
        shutil.rmtree(confdir, ignore_errors=True)


def installed_modules_load(confdir, tmp_path):
    """/usr/bin/sensorgate loads the Avro module from /usr/lib/<multiarch>/sensorgate."""
    conf = confdir / "avro.yaml"
    conf.write_text("gateway: {id: deb-avro, shutdown_timeout: 2s}\n"
                    "spool: {dir: /var/lib/sensorgate/spool-avro, fsync: 100ms}\n"
                    "kafka: {bootstrap: embedded, topic: debavro, format: avro}\n"
                    "schema_registry: {url: \"http://127.0.0.1:9\", timeout: 500ms}\n"
                    "http: {port: 0}\n"
                    "view: {mode: lines}\n"
                    "sources:\n"
                    "  - {name: sim, driver: sim, sensors: [{id: c, kind: counter, rate: 10}]}\n")
    os.chmod(conf, 0o644)
    log = tmp_path / "avro.log"
    env = {k: v for k, v in os.environ.items() if k != "SENSORGATE_MODULE_DIR"}
    with open(log, "w") as fp:
        p = subprocess.Popen(["/usr/bin/sensorgate", "run", "-c", str(conf)], stdout=fp,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             **as_sensorgate(preexec_fn=die_with_parent))
    try:
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None and \
                "values in Avro" not in log.read_text():
            time.sleep(0.2)
        assert p.poll() is None and "values in Avro" in log.read_text(), log.read_text()[-3000:]
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def run_as_sensorgate(confdir, tmp_path):
    conf = confdir / "run.yaml"
    conf.write_text("gateway: {id: deb-test, shutdown_timeout: 5s}\n"
                    "spool: {dir: /var/lib/sensorgate/spool, fsync: 100ms}\n"
                    "kafka: {bootstrap: embedded, topic: \"debtest.{source}\"}\n"
                    "http: {port: 0}\n"
                    "view: {mode: lines}\n"
                    "sources:\n"
                    "  - {name: sim, driver: sim, sensors: [{id: c, kind: counter, rate: 100}]}\n")
    os.chmod(confdir, 0o755)
    os.chmod(conf, 0o644)
    for run in (1, 2):
        st = run_once(conf, tmp_path / f"run{run}.log")
        assert st["acked"] == st["last"] > (0 if run == 1 else last), st
        last = st["last"]


def run_once(conf, log):
    """Run until the spool shows deliveries, SIGTERM, and return its stat."""
    with open(log, "w") as fp:
        p = subprocess.Popen(["/usr/bin/sensorgate", "run", "-c", str(conf)], stdout=fp,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             **as_sensorgate(preexec_fn=die_with_parent))
    try:
        deadline = time.time() + 30
        stat = None
        while time.time() < deadline and p.poll() is None:
            time.sleep(0.5)
            stat = spool_stat()
            if stat and stat["acked"] >= 50:
                break
        assert p.poll() is None, f"sensorgate run exited {p.returncode}:\n{log.read_text()[-3000:]}"
        assert stat and stat["acked"] >= 50, f"no deliveries in 30 s: {stat}\n{log.read_text()[-3000:]}"
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return spool_stat()


def spool_stat():
    r = subprocess.run(["/usr/bin/sensorgate", "spool", "stat", "/var/lib/sensorgate/spool"],
                       capture_output=True, text=True, **as_sensorgate())
    m = re.search(r"seqs (\d+)\.\.(\d+), delivered up to (\d+), pending (\d+)", r.stdout)
    if not m:
        return None
    first, last, acked, pending = map(int, m.groups())
    return {"last": max(last, acked), "acked": acked, "pending": pending}
