#!/usr/bin/env python3
"""The docs runner: every plain-process step of the tutorial, run as a
learner would type it, its promised output checked.

    tests/docs/run.py [--list] [CHAPTER ...]     (make test-docs)

CHAPTER is a file of docs/tutorial/ or its number ("04"); none means all.

What it reads, in each docs/tutorial/NN-*.md:

  ```sh step [timeout=S]      a plain-process step: run, must exit 0
  ```text expect              right after a step: lines its output must
                              hold, in order; "…" (with the blanks
                              around it) matches anything
  ```sh docker                the docker compose way: shown, not run here
  ```sh cloud                 needs a managed platform: shown, not run
  <!-- step [timeout=S]       a step the reader does not need to see (a
  ...                         wait until something is ready, a check);
  -->                         same rules as a visible step
  <!-- expect ... -->         lines that hidden step's output must hold
  <!-- cleanup ... -->        run when the chapter ends, pass or fail

Every docker and cloud block is reported as skipped, by name, never
silently.  The steps of one chapter run in order in one bash (`set -e`,
`pipefail`), from the repository's top directory, so `cd`, variables and
background processes carry from one step to the next; the first failing
step ends the chapter.

Servers on free ports: the well-known ports the chapters use
(9092 for Kafka, 1883 for MQTT, ...; PORTS below) are replaced, as whole
numbers, by free loopback ports in every step and expected line, so a run
never meets a learner's own broker and two runs never meet.  Kafka
clusters live in a private SENSORGATE_CACHE (the downloaded jars are
shared with the real cache) or under build/tutorial/NN/; when a chapter
ends its process group is killed and every cluster in either is stopped.  `make kafka-up` gets
its port from KAFKA_PORT, `make registry-up` from REGISTRY_PORT.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial"
REAL_CACHE = Path(os.environ.get("SENSORGATE_CACHE", Path.home() / ".cache" / "sensorgate"))

# Well-known ports, in groups that must stay consecutive (a three-broker
# cluster listens on P, P+1, P+2).
PORTS = [
    (9092, 9093, 9094),        # the tutorial cluster (make kafka-up)
    (9192, 9193, 9194),        # the second cluster (disaster recovery)
    (9095,), (9096,), (9097,),  # extra listeners (TLS, SASL)
    (1883,), (8883,),           # MQTT, MQTT over TLS
    (5020,), (5021,),           # Modbus TCP simulators
    (8080,), (8081,),           # Schema Registry, web UI
    (9090,),                    # Prometheus
    (9780,), (9781,), (9782,), (9783,),  # the gateways' HTTP endpoints
]

FENCE = re.compile(r"^```(\S*)\s*(.*)$")
HIDDEN = re.compile(r"^<!--\s*(step|expect|cleanup)\b(.*?)(-->)?\s*$")


class Block:
    def __init__(self, kind, text, line, opts):
        self.kind, self.text, self.line, self.opts = kind, text, line, opts
        self.expect = None  # expected lines, for a step

    def timeout(self):
        m = re.search(r"timeout=(\d+)", self.opts)
        return int(m.group(1)) if m else 120


def parse(path):
    """The blocks of one chapter, in order."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        ln = lines[i]
        m = FENCE.match(ln)
        h = HIDDEN.match(ln)
        if m and m.group(1):
            lang, opts = m.group(1), m.group(2)
            body, j = [], i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                body.append(lines[j])
                j += 1
            if j == len(lines):
                raise SystemExit(f"{path.name}:{i + 1}: fence not closed")
            word = opts.split()[0] if opts.split() else ""
            kind = {"step": "step", "expect": "expect", "docker": "docker",
                    "cloud": "cloud"}.get(word)
            if kind:
                blocks.append(Block(kind, "\n".join(body), i + 1, opts[len(word):]))
            i = j + 1
            continue
        if h:
            kind, rest = h.group(1), h.group(2)
            body, j = [], i
            if h.group(3):  # one line: <!-- expect foo -->
                body = [rest.strip()]
                rest = ""
            else:
                j = i + 1
                while j < len(lines) and lines[j].strip() != "-->":
                    body.append(lines[j])
                    j += 1
                if j == len(lines):
                    raise SystemExit(f"{path.name}:{i + 1}: <!-- {kind} not closed")
            blocks.append(Block(kind, "\n".join(body), i + 1, rest))
            i = j + 1
            continue
        i += 1
    # An expect block belongs to the step before it.
    out, last = [], None
    for b in blocks:
        if b.kind == "expect":
            if last is None or last.expect is not None:
                raise SystemExit(f"{path.name}:{b.line}: expect block without a step before it")
            last.expect = b
            continue
        out.append(b)
        last = b if b.kind == "step" else None
    return out


def port_free(p):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False


def allocate_ports():
    """A free loopback port for every well-known one, groups consecutive."""
    mapping, used = {}, set()
    for group in PORTS:
        for _ in range(200):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                base = s.getsockname()[1]
            cand = [base + k for k in range(len(group))]
            if cand[-1] < 65000 and not used & set(cand) and all(port_free(p) for p in cand):
                break
        else:
            raise SystemExit("docs runner: no free loopback ports")
        used |= set(cand)
        mapping.update(zip(group, cand))
    return mapping


def substitute(text, ports):
    return re.sub(r"(?<![\d.])(\d{4})(?![\d])",
                  lambda m: str(ports.get(int(m.group(1)), m.group(1))), text)


def expect_ok(expected, output):
    """Each expected line is found in the output, in order."""
    out = output.splitlines()
    k = 0
    for want in [w.strip() for w in expected.splitlines() if w.strip()]:
        # "a … b" matches "a b" and "a\tb" too: the blanks around "…" are its
        rx = re.compile(".*".join(re.escape(p.strip()) for p in want.split("…")))
        while k < len(out) and not rx.search(out[k]):
            k += 1
        if k == len(out):
            return want
        k += 1
    return None


class Shell:
    """One bash for a chapter, fed step by step."""

    def __init__(self, env, work):
        self.work = work
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=ROOT, env=env, text=True, start_new_session=True)
        self.send("set -eE -o pipefail\n")

    def send(self, s):
        self.proc.stdin.write(s)
        self.proc.stdin.flush()

    def run(self, n, text, timeout):
        script = self.work / f"step-{n}.sh"
        out = self.work / f"step-{n}.out"
        rc = self.work / f"step-{n}.rc"
        script.write_text(text + "\n")
        # The step's own exit status is written by the EXIT trap when set -e
        # ends the shell, or after the step when it succeeds.
        self.send(f"trap 'echo $? > {rc}' EXIT\n"
                  f"source {script} > {out} 2>&1 < /dev/null\n"
                  f"trap - EXIT; echo 0 > {rc}\n")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if rc.exists() and rc.read_text().strip():
                break
            if self.proc.poll() is not None and not rc.exists():
                break
            time.sleep(0.1)
        output = out.read_text(errors="replace") if out.exists() else ""
        if not rc.exists() or not rc.read_text().strip():
            return None, output  # timed out
        return int(rc.read_text()), output

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def private_cache(work):
    """A cache of our own for clusters, sharing the real one's downloads."""
    cache = work / "cache"
    cache.mkdir()
    if REAL_CACHE.is_dir():
        for e in REAL_CACHE.iterdir():
            # downloads only: not a server's state (kafka-local,
            # registry-local, any cluster directory)
            if e.is_dir() and not (e / "cluster.env").exists() and not e.name.endswith("-local"):
                (cache / e.name).symlink_to(e)
    return cache


def stop_clusters(dirs, env):
    """Stop every Kafka cluster whose state is under one of dirs (kafka.sh
    starts brokers in sessions of their own: killing the chapter's group
    does not reach them)."""
    for envf in [e for d in dirs if d.is_dir() for e in d.rglob("cluster.env")]:
        subprocess.run([str(ROOT / "tests/kafka/kafka.sh"), "stop", "--dir", str(envf.parent)],
                       env=env, capture_output=True, timeout=120)


def run_chapter(path, args):
    blocks = parse(path)
    work = Path(tempfile.mkdtemp(prefix=f"sg-docs-{path.stem[:2]}-"))
    ports = allocate_ports()
    cache = private_cache(work)
    # make kafka-up and make registry-up take their ports from the environment.
    env = dict(os.environ, SENSORGATE_CACHE=str(cache), TERM="dumb",
               KAFKA_PORT=str(ports[9092]), REGISTRY_PORT=str(ports[8080]))
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    shell = Shell(env, work)
    counts = {"step": 0, "docker": 0, "cloud": 0}
    failed = None
    t0 = time.time()
    print(f"== {path.name}")
    try:
        for n, b in enumerate(blocks):
            where = f"{path.relative_to(ROOT)}:{b.line}"
            if b.kind in ("docker", "cloud"):
                counts[b.kind] += 1
                why = "docker-only" if b.kind == "docker" else "needs a managed Kafka platform"
                first = b.text.strip().splitlines()[0] if b.text.strip() else ""
                print(f"  SKIPPED ({why})  {where}  {first}")
                continue
            if b.kind != "step":
                continue
            text = substitute(b.text, ports)
            ts = time.time()
            rc, output = shell.run(n, text, b.timeout())
            dt = time.time() - ts
            if rc is None:  # hung: its shell cannot run the cleanup
                shell.kill()
            if rc != 0:
                why = f"timed out after {b.timeout()} s" if rc is None else f"exit {rc}"
                failed = (where, why, text, output)
                break
            if b.expect is not None:
                miss = expect_ok(substitute(b.expect.text, ports), output)
                if miss is not None:
                    failed = (where, f"its output lacks the expected line {miss!r}", text, output)
                    break
            counts["step"] += 1
            if args.verbose:
                print(f"  ok {dt:5.1f} s  {where}")
    finally:
        for n, b in enumerate(blocks):
            if b.kind == "cleanup":
                if not shell.alive():  # set -e ended it: clean up in a new one
                    shell.kill()
                    shell = Shell(env, work)
                shell.run(f"cleanup-{n}", "set +e\n" + substitute(b.text, ports), b.timeout())
        shell.kill()
        stop_clusters([cache, ROOT / "build" / "tutorial" / path.stem[:2]], env)
    dt = time.time() - t0
    if failed:
        where, why, text, output = failed
        print(f"  FAILED  {where}: {why}\n  --- step\n{indent(text)}\n  --- output (last 60 lines)")
        print(indent("\n".join(output.splitlines()[-60:])))
        print(f"  (files in {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    skipped = counts["docker"] + counts["cloud"]
    print(f"  {path.stem}: {'FAILED' if failed else 'ok'}, {counts['step']} steps ran, "
          f"{skipped} skipped ({counts['docker']} docker-only, {counts['cloud']} managed-only), "
          f"{dt:.0f} s")
    return failed is None, counts, dt


def indent(s):
    return "\n".join("    " + ln for ln in s.splitlines())


def chapters(names):
    allc = sorted(TUTORIAL.glob("[0-9][0-9]-*.md"))
    if not names:
        return allc
    out = []
    for n in names:
        hit = [c for c in allc if c.name == n or c.name.startswith(n + "-") or c.stem == n
               or str(c) == str(Path(n).resolve())]
        if not hit:
            raise SystemExit(f"docs runner: no chapter {n!r} in {TUTORIAL.relative_to(ROOT)}")
        out += hit
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapter", nargs="*")
    ap.add_argument("--list", action="store_true", help="list the blocks, run nothing")
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per step")
    args = ap.parse_args()
    selected = chapters(args.chapter)
    if args.list:
        for c in selected:
            for b in parse(c):
                print(f"{c.name}:{b.line}: {b.kind}{' + expect' if b.expect else ''}")
        return 0
    if not (ROOT / "build" / "sensorgate").exists():
        raise SystemExit("docs runner: build/sensorgate is missing (make first)")
    ok_all, total, skipped, t0 = True, 0, [], time.time()
    for c in selected:
        ok, counts, _ = run_chapter(c, args)
        ok_all &= ok
        total += counts["step"]
        skipped += [c.stem] * (counts["docker"] + counts["cloud"])
    print(f"docs: {len(selected)} chapters, {total} steps ran, {len(skipped)} blocks skipped "
          f"(docker or managed platforms), {time.time() - t0:.0f} s: {'ok' if ok_all else 'FAILED'}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
