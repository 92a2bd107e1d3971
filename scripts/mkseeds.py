#!/usr/bin/env python3
"""Write the seed images of the fuzz corpora with smemctl.

usage: scripts/mkseeds.py SMEMCTL OUTDIR

Small images (20-40 KiB) of both versions, with items in every kind of place:
the global partition or heap, private partitions, cached lists, and the
well-known items the decoder reads (socinfo, image versions, a crash reason).
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


def main():
    smemctl, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()

    def run(*args, data=None):
        subprocess.run([smemctl, *args], check=True, input=data)

    def make(name, fmt_args, allocs):
        img = os.path.join(tmp, name)
        run("format", *fmt_args, img)
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


if __name__ == "__main__":
    main()
