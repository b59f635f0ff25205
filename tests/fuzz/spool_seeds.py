#!/usr/bin/env python3
"""spool_seeds.py OUTDIR - seed inputs for the spool fuzz targets, made
from the formats of gateway/spool/frame.h (so no binary file is kept in
the tree): OUTDIR/seeds-spool_scan holds segment images (whole, torn,
bit-flipped, a damaged header, a batch), cursor and epoch files;
OUTDIR/seeds-spool_open holds directory images in fuzz_spool_open.c's
chunk format (kind, name number, length, bytes); OUTDIR/seeds-modbus holds
register words for fuzz_modbus.c."""
import os
import shutil
import struct
import sys


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(crc):  # LevelDB's masked CRC, as gateway/base/crc32c.h
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def seg_header(version=1):
    h = b"SGSEG\0\0\0" + struct.pack("<I", version)
    return h + struct.pack("<I", mask(crc32c(h)))


def frame(seq, payload, more=False):  # more: SG_FRAME_MORE (version 2)
    body = struct.pack("<IQ", len(payload) | (0x80000000 if more else 0), seq)
    crc = mask(crc32c(payload, crc32c(body)))
    return struct.pack("<I", 0x31524753) + body + struct.pack("<I", crc) + payload


def segment(first, n, size=40):
    return seg_header() + b"".join(frame(first + i, bytes([65 + i % 26]) * (size + i % 7))
                                   for i in range(n))


def batches(first, sizes):
    """A version 2 segment of batches of the given sizes."""
    out, seq = [seg_header(2)], first
    for n in sizes:
        for i in range(n):
            out.append(frame(seq, bytes([97 + seq % 26]) * (30 + seq % 5), more=i + 1 < n))
            seq += 1
    return b"".join(out)


def ack(acked, hw=0):
    slot = b"SGACK2\0\0" + struct.pack("<QQ", acked, hw) + b"\1" * 16
    slot += struct.pack("<I", mask(crc32c(slot)))
    return slot + slot


def epoch(e):
    b = b"SGEPOCH1" + struct.pack("<Q", e)
    return b + struct.pack("<I", mask(crc32c(b)))


def chunk(kind, num, data):  # fuzz_spool_open.c: kind, (num - 1) / 7, length
    return bytes([kind, num]) + struct.pack(">H", len(data)) + data


def main():
    out = sys.argv[1]
    scan, opn, mb = (os.path.join(out, "seeds-" + t) for t in ("spool_scan", "spool_open", "modbus"))
    for d in (scan, opn, mb):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    s = segment(1, 12)
    flipped = bytearray(s)
    flipped[100] ^= 4
    bad_header = bytearray(s)
    bad_header[3] ^= 1
    seeds = {"whole": s, "torn": s[:-17], "flipped": bytes(flipped),
             "bad-header": bytes(bad_header), "empty": seg_header(), "ack": ack(7, 99),
             "epoch": epoch(0x1234), "two": s + segment(13, 3)}
    v2 = batches(1, [1, 4, 2, 5])
    seeds.update({"batches": v2, "batch-torn": v2[:-70], "batch-cut-at-frame": v2[:-52]})
    for name, data in seeds.items():
        with open(os.path.join(scan, name), "wb") as f:
            f.write(data)
    # directories: segments named 1 and 8 (chunk num 0 and 1), a cursor,
    # an epoch, a tombstone; swapped names; a damaged header; a torn tail
    a, b = segment(1, 7)[16:], segment(8, 5)[16:]
    dirs = {"plain": chunk(0, 0, a) + chunk(0, 1, b) + chunk(3, 0, ack(3)) + chunk(4, 0, epoch(5)),
            "swapped": chunk(0, 1, a) + chunk(0, 0, b),
            "damaged": chunk(1, 0, bytes(bad_header)) + chunk(0, 2, segment(13, 2)[16:]),
            "torn": chunk(0, 0, a[:-9]),
            "tomb": chunk(0, 0, a) + chunk(5, 1, b"") + chunk(0, 3, segment(22, 2)[16:])}
    for name, data in dirs.items():
        with open(os.path.join(opn, name), "wb") as f:
            f.write(data)
    for t in range(11):  # fuzz_modbus.c: type, order, bit, words
        with open(os.path.join(mb, f"type{t}"), "wb") as f:
            f.write(bytes([t, t % 4, 3]) + bytes(range(1, 17)))


main()
