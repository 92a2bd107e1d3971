#!/usr/bin/env python3
"""Write the seed images of the fuzz corpora with smemctl.

usage: scripts/mkseeds.py SMEMCTL OUTDIR

Small images (16-48 KiB) of both versions, with items in every kind of place:
the global partition or heap, private partitions, cached lists, and the
well-known items the decoder reads (socinfo, image versions, a crash reason).

The "tiny" images have partitions of 64 bytes to 4.5 KiB with cachelines from
16 to 4096, cached entries in most of them: there a cacheline, a free offset or
a size changed by a few bytes meets another limit, where bugs between two
fields live. smemctl format makes 4 KiB partitions only, so these are
formatted, then given a new partition table, checked with smemctl fsck, and
filled with smemctl alloc.
"""
import os
import struct
import subprocess
import sys
import tempfile


def socinfo(fmt_minor=15):
    b = bytearray(176)
    struct.pack_into("<III", b, 0, fmt_minor, 321, 0x00020001)
    b[12:12 + 13] = b"SEED-BUILD-01"
    struct.pack_into("<I", b, 96, 0xC0FFEE)
    struct.pack_into("<II", b, 100, 2, 140)  # two PMICs at 140
    struct.pack_into("<IIII", b, 140, 0x10001, 0x20000, 0x10002, 0x10000)
    b[124:124 + 8] = b"SEEDCHIP"
    return bytes(b)


def image_versions(n=4):
    b = bytearray(128 * n)
    for i, name in enumerate([b"boot", b"tz", b"", b"rpm"][:n]):
        b[i * 128:i * 128 + len(name)] = name
        b[i * 128 + 75:i * 128 + 75 + 3] = b"var"
    return bytes(b)


HEADER_SIZE = 8400
PTABLE_SIZE = 4096


def relayout(img, size, parts, heap=0):
    """Rewrite the formatted image IMG as a SIZE-byte one whose partitions are
    PARTS, [(host0, host1, size, cacheline)], packed from the end of the header
    (version 11: of a global heap of HEAP bytes) up."""
    with open(img, "rb") as f:
        old = f.read()
    b = bytearray(size)
    b[:HEADER_SIZE] = old[:HEADER_SIZE]
    if struct.unpack_from("<I", b, 0x5C)[0] >> 16 == 11:
        struct.pack_into("<II", b, 0xC4, HEADER_SIZE, heap)  # free_offset, available
    pt = size - PTABLE_SIZE
    b[pt:pt + 4] = b"$TOC"
    struct.pack_into("<II", b, pt + 4, 1, len(parts))
    off = HEADER_SIZE + heap
    for i, (h0, h1, psize, cl) in enumerate(parts):
        struct.pack_into("<IIIHHI", b, pt + 32 + 48 * i, off, psize, 0, h0, h1, cl)
        b[off:off + 4] = b"$PRT"
        struct.pack_into("<HHIII", b, off + 4, h0, h1, psize, 32, psize)
        off += psize
    assert off <= pt, "partitions overlap the table"
    info = pt + 32 + 48 * len(parts)
    b[info:info + 4] = b"SIII"
    struct.pack_into("<IIIH", b, info + 4, size, 0, 0, 512)
    with open(img, "wb") as f:
        f.write(b)


def main():
    smemctl, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()

    def run(*args, data=None):
        subprocess.run([smemctl, *args], check=True, input=data)

    def make(name, fmt_args, allocs, layout=None):
        img = os.path.join(tmp, name)
        run("format", *fmt_args, img)
        if layout:
            relayout(img, *layout)
            subprocess.run([smemctl, "fsck", img], check=True, stdout=subprocess.DEVNULL)
        for a in allocs:
            args, data = a if isinstance(a, tuple) else (a, None)
            run("alloc", *args, *(["--data", "-"] if data is not None else []), img, data=data)
        with open(img, "rb") as f, open(os.path.join(out, name), "wb") as g:
            g.write(f.read())

    make("v12-full", ["--size", "48K", "--pairs", "0:1,0:2", "--global-size", "20K"], [
        (["--item", "137"], socinfo()),
        (["--item", "469"], image_versions()),
        ["--item", "421", "--string", "seed crash: watchdog bite"],
        ["--item", "100", "--host", "1", "--string", "modem"],
        ["--item", "101", "--host", "1", "--size", "13", "--fill", "7"],
        ["--item", "102", "--host", "2", "--size", "40", "--cached"],
        ["--item", "103", "--host", "2", "--size", "3", "--cached"],
    ])
    make("v12-plain", ["--size", "20K", "--pairs", "none", "--cacheline", "128"], [
        ["--item", "300", "--size", "8"],
        ["--item", "301", "--size", "8", "--cached"],
    ])
    make("v12-items", ["--size", "32K", "--items", "1000", "--pairs", "0:1,1:2"], [
        ["--item", "999", "--host", "1", "--size", "24", "--fill", "1"],
        ["--as", "1", "--item", "998", "--host", "2", "--size", "8"],
    ])
    make("v11-heap", ["--version", "11", "--size", "20K"], [
        (["--item", "137"], socinfo(10)),
        ["--item", "424", "--string", "dsps fatal"],
        ["--item", "200", "--size", "100", "--fill", "3"],
        ["--item", "201", "--size", "1"],
    ])
    make("v11-pairs", ["--version", "11", "--size", "32K", "--pairs", "0:1,0:5"], [
        ["--item", "150", "--host", "1", "--size", "16"],
        ["--item", "151", "--size", "16"],
        ["--item", "152", "--host", "5", "--size", "8", "--cached"],
    ])
    # 16 KiB: a 1 KiB global partition, then 64 bytes (room for one 8-byte
    # cached entry in a 16-byte slot), 256, 512, and 2032 bytes whose 4096-byte
    # cacheline allows no cached entry at all.
    gl = 0xFFFE
    make("v12-tiny", ["--size", "20K", "--pairs", "none"], [
        (["--item", "137"], socinfo()),
        ["--item", "421", "--string", "tiny"],
        ["--item", "102", "--size", "8", "--cached"],
        ["--item", "110", "--host", "1", "--size", "8", "--cached", "--fill", "1"],
        ["--item", "120", "--host", "2", "--size", "13", "--fill", "2"],
        ["--item", "121", "--host", "2", "--size", "3", "--cached"],
        ["--as", "1", "--item", "130", "--host", "2", "--size", "40"],
        ["--as", "1", "--item", "131", "--host", "2", "--size", "16", "--cached"],
        ["--as", "1", "--item", "132", "--host", "2", "--size", "0", "--cached"],
        ["--item", "140", "--host", "5", "--size", "100"],
    ], layout=(16384, [(gl, gl, 1024, 64), (0, 1, 64, 16), (0, 2, 256, 32), (1, 2, 512, 128),
                       (0, 5, 2032, 4096)]))
    # 20 KiB: cachelines of 2048, 4096 and 1024 with a cached entry under each.
    make("v12-wide", ["--size", "20K", "--pairs", "none"], [
        ["--item", "100", "--size", "8", "--cached"],
        ["--item", "101", "--size", "24"],
        ["--item", "110", "--host", "1", "--size", "200", "--fill", "4"],
        ["--item", "111", "--host", "1", "--size", "8", "--cached"],
        ["--item", "120", "--host", "2", "--size", "64", "--cached"],
        ["--item", "121", "--host", "2", "--size", "1"],
    ], layout=(20480, [(gl, gl, 2200, 2048), (0, 1, 4616, 4096), (0, 2, 1168, 1024)]))
    # 16 KiB version 11: a 1 KiB heap, then partitions of 128, 1024 and 1712 bytes.
    make("v11-tiny", ["--version", "11", "--size", "16K"], [
        (["--item", "137"], socinfo(10)),
        ["--item", "200", "--size", "100", "--fill", "3"],
        ["--item", "110", "--host", "1", "--size", "8", "--cached"],
        ["--item", "111", "--host", "1", "--size", "4"],
        ["--item", "120", "--host", "2", "--size", "32", "--cached"],
        ["--item", "121", "--host", "2", "--size", "200", "--cached"],
        ["--item", "122", "--host", "2", "--size", "16"],
        ["--item", "150", "--host", "5", "--size", "8", "--cached"],
    ], layout=(16384, [(0, 1, 128, 16), (0, 2, 1024, 256), (0, 5, 1712, 512)], 1024))


if __name__ == "__main__":
    main()
