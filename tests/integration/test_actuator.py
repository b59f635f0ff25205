"""Kafka -> actuator: a command record changes a Modbus holding register
on a real Modbus server (our simulator), read back by the driver itself
and by mbpoll, an independent client."""
import json
import subprocess
import time

from gateway import Gateway
from test_modbus import Sim, events, sim_yaml

CONF = """
gateway: {{id: act, status_interval: 1s}}
spool: {{dir: "{{spool}}", fsync: never}}
kafka: {{bootstrap: "{bs}", topic: "act.{{source}}"}}
view: {{mode: lines}}
actuators: {{topic: cmds, max_age: 30s}}
sources:
  - name: plc
    driver: modbus
    port: {port}
    interval: 100ms
    devices:
      - name: boiler
        points:
          - {{id: setpoint, area: holding_register, address: 10, type: u16}}
"""


def produce(bs, key, value, ts_ms=None):
    args = ["kcat", "-P", "-b", bs, "-t", "cmds", "-K", "|"]
    line = f"{key}|{value}\n"
    if ts_ms is not None:  # kcat has no per-line timestamp flag: use -X? no; emulate via a stale message below
        pass
    subprocess.run(args, input=line, text=True, check=True, timeout=30)


def latest(gw, sensor):
    evs = [e for e in events(gw) if e["sensor"] == sensor]
    return evs[-1]["value"] if evs else None


def test_command_sets_a_register(tmp_path, kafka_mock):
    sim = Sim(tmp_path, sim_yaml(["{address: 10, type: u16, value: 5}"]))
    try:
        kafka_mock.cmd("topic cmds 1")
        gw = Gateway(tmp_path, CONF.format(bs=kafka_mock.bootstrap, port=sim.port)).start()
        gw.wait_log("applying commands from topic cmds")
        time.sleep(3)  # the consumer joins its group (mock: a few seconds)
        produce(kafka_mock.bootstrap, "plc/setpoint", "1234")
        gw.wait_log(r"plc/setpoint <- 1234", timeout=30)
        produce(kafka_mock.bootstrap, "plc/nosuch", "1")
        produce(kafka_mock.bootstrap, "nobody/setpoint", "1")
        produce(kafka_mock.bootstrap, "no-slash", "1")
        gw.wait_log(r"no running source named nobody", timeout=30)
        time.sleep(0.5)
        assert gw.stop() == 0
        assert latest(gw, "setpoint") == 1234
        log = gw.log()
        assert "plc/nosuch <- 1 failed: no point 'nosuch'" in log
        assert "key must be SOURCE/TARGET" in log
        # An independent client sees the register too.
        out = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(sim.port), "-a", "1", "-r", "11",
                              "-t", "4", "-c", "1", "-1", "127.0.0.1"],
                             capture_output=True, text=True, timeout=30).stdout
        assert "[11]: \t1234" in out or "[11]:\t1234" in out or "1234" in out.split("[11]:")[-1], out
    finally:
        sim.stop()
