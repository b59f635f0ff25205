"""The gpio driver end to end on the simulated chip (`chip: sim`).

The real driver runs inside the real gateway; events are read back from
the spool (`sensorgate spool dump --all`).  The simulated lines go through
the same debounce, counting and overflow detection as hardware lines, so
these tests check the driver glue (config, readings, attributes, quality,
wall-clock times) that the unit tests of the state machine do not reach.
"""
import json
import subprocess
import time

from gateway import Gateway, sg_bin

MS = 1_000_000


def dump(gw):
    out = subprocess.run([sg_bin(), "spool", "dump", str(gw.spool), "--all"],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line.split(" value=", 1)[1]) for line in out.splitlines() if " value=" in line]


def by_sensor(events, sensor):
    return [e for e in events if e["sensor"] == sensor]


def run(tmp_path, lines_yaml, seconds, extra=""):
    gw = Gateway(tmp_path, f"""
gateway: {{id: gpio-it}}
spool: {{dir: "{{spool}}"}}
kafka: {{bootstrap: embedded}}
view: {{mode: off}}
sources:
  - name: bench
    driver: gpio
    chip: sim
{extra}
    lines:
{lines_yaml}
""")
    gw.start()
    gw.wait_log(r"lines on sim", 10)
    time.sleep(seconds)
    assert gw.stop() == 0
    return gw, dump(gw)


def test_edges_debounce_count_and_sample(tmp_path):
    gw, ev = run(tmp_path, """
      - {id: button, line: 17, active_low: true, pattern: "300ms high, 200ms low",
         bounce: 3ms, bounce_edges: 3, debounce: 15ms}
      - {id: meter, line: 22, mode: count, interval: 1s, pattern: "10ms high, 10ms low"}
      - {id: level, line: 23, mode: sample, interval: 500ms, pattern: "10s high"}
      - {id: relay, line: 24, direction: output}
""", 4.6)
    assert all(e["quality"] == "good" for e in ev), [e for e in ev if e["quality"] != "good"]
    assert not by_sensor(ev, "relay")

    button = by_sensor(ev, "button")
    assert button[0]["attrs"] == {"edge": "initial"} and button[0]["value"] is False
    edges = button[1:]
    assert len(edges) >= 16, edges
    kinds = [e["attrs"]["edge"] for e in edges]
    # active low: the line going low (pressed) is a rising edge, value true
    assert kinds[0] == "rising" and edges[0]["value"] is True
    assert all(a != b for a, b in zip(kinds, kinds[1:])), kinds  # bounce never leaks
    rises = [e["time_ns"] for e in edges if e["attrs"]["edge"] == "rising"]
    gaps = [b - a for a, b in zip(rises, rises[1:])]
    # each accepted edge carries its burst's first edge: the pattern's period exactly
    assert all(abs(g - 500 * MS) < 1 * MS for g in gaps), gaps
    falls = [e["time_ns"] for e in edges if e["attrs"]["edge"] == "falling"]
    assert abs((falls[0] - rises[0]) - 200 * MS) < 1 * MS

    meter = [e for e in by_sensor(ev, "meter") if "partial" not in e["attrs"]]
    last = by_sensor(ev, "meter")[-1]
    assert last["attrs"].get("partial") == "true" and int(last["attrs"]["window_ms"]) < 1000, last
    assert len(meter) >= 4, meter
    assert all(e["type"] == "uint" or isinstance(e["value"], int) for e in meter)
    assert all(49 <= e["value"] <= 51 for e in meter), [e["value"] for e in meter]
    assert all(e["attrs"]["window_ms"] == "1000" for e in meter)
    wins = [e["time_ns"] for e in meter]
    assert all(abs((b - a) - 1000 * MS) < 1 * MS for a, b in zip(wins, wins[1:])), wins

    level = by_sensor(ev, "level")
    assert len(level) >= 8 and all(e["value"] is True for e in level)


def test_count_scale_and_unit(tmp_path):
    gw, ev = run(tmp_path, """
      - {id: water, line: 22, mode: count, interval: 1s, pattern: "20ms high, 20ms low",
         scale: 0.5, unit: l}
""", 2.5)
    water = [e for e in by_sensor(ev, "water") if "partial" not in e["attrs"]]
    assert len(water) >= 2
    for e in water:
        assert e["unit"] == "l"
        assert e["value"] == int(e["attrs"]["count"]) * 0.5
        assert 24 <= int(e["attrs"]["count"]) <= 26


def test_kernel_queue_overflow_is_counted_and_marked(tmp_path):
    # 16 bounce pairs within 1 ms after every transition, a queue of 4:
    # the simulated kernel drops the oldest events before the reader
    # wakes, and the seqno gaps must show up.
    gw, ev = run(tmp_path, """
      - {id: noisy, line: 5, pattern: "50ms high, 50ms low", bounce: 1ms, bounce_edges: 16}
""", 2.0, extra="    queue_depth: 4")
    noisy = by_sensor(ev, "noisy")
    uncertain = [e for e in noisy if e["quality"] == "uncertain"]
    assert uncertain, noisy[:5]
    assert "kernel event queue overflow" in uncertain[0]["reason"]
    assert "events lost" in uncertain[0]["reason"]
    assert "kernel event queue overflowed" in gw.log()


def test_missing_chip_retries_and_does_not_stop_the_gateway(tmp_path):
    gw = Gateway(tmp_path, """
gateway: {id: gpio-it}
spool: {dir: "{spool}"}
kafka: {bootstrap: embedded}
view: {mode: off}
sources:
  - name: pi
    driver: gpio
    chip: /dev/gpiochip-nonexistent
    lines:
      - {id: a, line: 17}
  - name: other
    driver: gpio
    chip: sim
    lines:
      - {id: b, line: 1, pattern: "100ms high, 100ms low"}
""")
    gw.start()
    gw.wait_log(r"\[pi\] start failed: cannot open GPIO chip '/dev/gpiochip-nonexistent'", 10)
    gw.wait_log(r"\[pi\] start failed: .*retrying in 200 ms", 10)
    time.sleep(1.2)
    assert gw.running()
    assert gw.stop() == 0
    assert len(by_sensor(dump(gw), "b")) >= 5


def test_config_errors_name_file_line_and_line_id(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("""gateway: {id: x}
spool: {dir: /tmp/unused}
kafka: {bootstrap: embedded}
sources:
  - name: g
    driver: gpio
    lines:
      - {id: a, line: 17, pattern: "1s high"}
      - {id: a, line: 18}
  - name: s
    driver: gpio
    chip: sim
    lines:
      - {id: b, line: 1, pattern: "1s up"}
      - {id: c, line: 2, mode: sample, debounce: 5ms}
      - {id: d, line: 3, edge: sideways}
""")
    r = subprocess.run([sg_bin(), "check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 2
    err = r.stderr + r.stdout
    assert "bad.yaml:5:5: sources[0]: lines[0] ('a'): pattern and bounce need `chip: sim`" in err
    assert "id 'a' is used twice" in err
    assert "bad.yaml:16:32: sources[1].lines[2].edge:" in err and "'sideways' is not one of" in err
