"""A pymodbus Modbus TCP server for the integration tests: an independent
implementation to read our driver against.  Works with Debian 12's
python3-pymodbus (3.0) and with later 3.x from PyPI.  Run with a python
that has pymodbus:

    python3 modbus_pyserver.py PORT SPEC_JSON

SPEC_JSON: {"1": {"hr": [...], "ir": [...], "co": [...], "di": [...]}, ...}
(unit id -> zero-based tables).  Prints "ready" once it listens.
"""
import asyncio
import json
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext

try:  # pymodbus >= 3.9
    from pymodbus.datastore import ModbusDeviceContext as _Device
    NEW_API = True
except ImportError:  # Debian 12: 3.0
    from pymodbus.datastore import ModbusSlaveContext as _Device
    NEW_API = False
try:
    from pymodbus.server import ModbusTcpServer
except ImportError:  # 3.0 keeps it in the asyncio module
    from pymodbus.server.async_io import ModbusTcpServer


def block(values):
    # Pad so a read just past the last value is still inside the table.
    # The new API numbers the block from 1 (address 0 on the wire is
    # element 1); the old one honours zero_mode.
    return ModbusSequentialDataBlock(1 if NEW_API else 0, list(values) + [0] * 8)


def device(t):
    tables = {k: block(t.get(k, [])) for k in ("hr", "ir", "co", "di")}
    return _Device(**tables) if NEW_API else _Device(**tables, zero_mode=True)


async def main():
    port = int(sys.argv[1])
    spec = json.loads(sys.argv[2])
    devices = {int(u): device(t) for u, t in spec.items()}
    ctx = ModbusServerContext(devices, single=False) if NEW_API else \
        ModbusServerContext(slaves=devices, single=False)
    server = ModbusTcpServer(ctx, address=("127.0.0.1", port))
    task = asyncio.ensure_future(server.serve_forever())
    await asyncio.sleep(0.3)
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
