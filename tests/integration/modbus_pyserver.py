"""A pymodbus (Debian python3-pymodbus 3.0) Modbus TCP server for the
integration tests: an independent implementation to read our driver
against.  Run with the system python that has pymodbus:

    /usr/bin/python3 modbus_pyserver.py PORT SPEC_JSON

SPEC_JSON: {"1": {"hr": [...], "ir": [...], "co": [...], "di": [...]}, ...}
(unit id -> zero-based tables).  Prints "ready" once it listens.
"""
import asyncio
import json
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartAsyncTcpServer


def block(values):
    # Pad so a read just past the last value is still inside the table.
    return ModbusSequentialDataBlock(0, list(values) + [0] * 8)


async def main():
    port = int(sys.argv[1])
    spec = json.loads(sys.argv[2])
    slaves = {int(u): ModbusSlaveContext(hr=block(t.get("hr", [])), ir=block(t.get("ir", [])),
                                         co=block(t.get("co", [])), di=block(t.get("di", [])),
                                         zero_mode=True)
              for u, t in spec.items()}
    ctx = ModbusServerContext(slaves=slaves, single=False)
    server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", port), defer_start=True)
    task = asyncio.ensure_future(server.serve_forever())
    await asyncio.sleep(0.2)
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
