#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of the smemctl command line, run against the built binary.

Usage: test_smemctl.py PATH/TO/smemctl [unittest options]

Every test works in a fresh temporary directory and names its images with a
path that contains a '/', so nothing under /dev/shm/smemkit is touched. The
tests check what a user sees: exit codes (0 ok, 1 error, 2 usage), the bytes an
item holds, the JSON a verb prints, and the sentence that explains an error.
Images are built with smemctl itself and then damaged with byte edits made
here, following the layout of the Linux qcom_smem driver.
"""

import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
import unittest

SMEMCTL = None

# Layout facts (docs/FORMAT.md).
HDR_SIZE = 0x20D0
SBL_VERSION_OFF = 0x05C
INITIALIZED_OFF = 0x0C0
FREE_OFFSET_OFF = 0x0C4
AVAILABLE_OFF = 0x0C8
TOC_OFF = 0x0D0
PTABLE_SIZE = 4096
PART_HDR_SIZE = 32
ENTRY_HDR_SIZE = 16
CANARY = 0xA5A5
GLOBAL_HOST = 0xFFFE
LOCK_COUNT = 32
LOCK_STRIDE = 64

READ_VERBS = ("info", "ls", "get", "fsck", "decode", "locks")
ALL_VERBS = ("format", "info", "ls", "alloc", "get", "fsck", "decode", "locks", "bust")


def align8(n):
    return (n + 7) & ~7


def u32(data, off):
    return struct.unpack_from("<I", data, off)[0]


# The lock bank (lib/hwlock/bank.h, docs/FORMAT.md): a header page, the lock
# words, then 16-byte robust words, 32-byte journal records, 64-byte host entries.
BANK_WORDS = 4096
ROBUST_DIED = 0x40000000
FAKE_ID = 0x3ffffff0  # a liveness id that no process here has: "alive", as far as anyone knows


def bank_layout(stride=LOCK_STRIDE):
    """(robust, journal, hosts, size) of a bank of this stride."""
    robust = BANK_WORDS + LOCK_COUNT * stride
    journal = robust + 16 * LOCK_COUNT
    hosts = journal + 32 * LOCK_COUNT
    return robust, journal, hosts, (hosts + 64 * 64 + 4095) & ~4095


def lock_words(bank, stride=LOCK_STRIDE):
    """The 32 lock words of a lock bank file's contents."""
    return [u32(bank, BANK_WORDS + i * stride) for i in range(LOCK_COUNT)]


def bank_size_ok(size, stride):
    return size == bank_layout(stride)[3]


def hold(test, img, lock, host, dead=False, stride=LOCK_STRIDE, bank=None):
    """Make host hold lock in img's bank: its word, and a robust word alive or marked dead."""
    bank = bank or img + ".hwlock"
    robust = bank_layout(stride)[0]
    test.patch(bank, BANK_WORDS + lock * stride, struct.pack("<I", 0 if host is None else host + 1))
    test.patch(bank, robust + lock * 16,
               struct.pack("<I", 0 if host is None else ROBUST_DIED if dead else FAKE_ID))


def host_entry_at(host, stride=LOCK_STRIDE):
    return bank_layout(stride)[2] + host * 64


def ptable(data):
    """The used entries of the partition table, as dicts, or [] without one."""
    pt = len(data) - PTABLE_SIZE
    if pt < 0 or data[pt:pt + 4] != b"$TOC":
        return []
    n = u32(data, pt + 8)
    out = []
    for i in range(n):
        off, size, _flags, h0, h1, cl = struct.unpack_from("<IIIHHI", data, pt + 32 + 48 * i)
        if off and size:
            out.append({"index": i, "offset": off, "size": size, "host0": h0, "host1": h1,
                        "cacheline": cl})
    return out


def partition(data, host0, host1):
    for e in ptable(data):
        if {e["host0"], e["host1"]} == {host0, host1}:
            return e
    raise KeyError(f"no partition {host0}:{host1}")


def socinfo(fmt=0x0000000F, soc_id=321, ver=0x00020001, build_id=b"TEST-BUILD",
            serial=0x12345678, size=None):
    """A socinfo item (item 137): le32 fields whose number grows with fmt."""
    b = bytearray(256)
    struct.pack_into("<III", b, 0, fmt, soc_id, ver)
    b[12:12 + len(build_id)] = build_id
    struct.pack_into("<II", b, 44, 0x141, 0x10002)         # raw_id, raw_ver
    struct.pack_into("<I", b, 52, 8)                        # hw_plat
    struct.pack_into("<I", b, 92, 1)                        # foundry_id
    struct.pack_into("<I", b, 96, serial)                   # serial_num
    struct.pack_into("<II", b, 100, 0, 0)                   # num_pmics, pmic_array_offset
    struct.pack_into("<I", b, 108, 0x5A)                    # chip_family
    struct.pack_into("<I", b, 120, 7)                       # nproduct_id
    b[124:124 + 6] = b"SM8550"                              # chip_id
    struct.pack_into("<I", b, 172, 2)                       # nmodem_supported
    if size is None:
        size = 176  # the end of the fields of format 0.15
    return bytes(b[:size])


class SmemctlTest(unittest.TestCase):
    """Runs smemctl in a fresh temporary directory."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="smemctl-cli-")
        self.dir = self._tmp.name
        self.assertIn("/", self.dir)

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name="img"):
        return os.path.join(self.dir, name)

    def run_ctl(self, *args, stdin=None):
        env = dict(os.environ, LC_ALL="C")
        p = subprocess.run([SMEMCTL, *map(str, args)], input=stdin, capture_output=True,
                           timeout=60, env=env)
        self.assertGreaterEqual(p.returncode, 0,
                                f"smemctl {' '.join(map(str, args))} died of signal "
                                f"{-p.returncode}\nstderr: {p.stderr!r}")
        return p

    def ok(self, *args, stdin=None):
        p = self.run_ctl(*args, stdin=stdin)
        self.assertEqual(p.returncode, 0,
                         f"smemctl {' '.join(map(str, args))} failed:\n{p.stderr.decode()}")
        return p

    def error(self, *args, stdin=None):
        p = self.run_ctl(*args, stdin=stdin)
        self.assertEqual(p.returncode, 1,
                         f"smemctl {' '.join(map(str, args))}: expected exit 1, got "
                         f"{p.returncode}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}")
        self.assertTrue(p.stderr.strip(), "an error must say why on stderr")
        return p

    def usage(self, *args, stdin=None):
        p = self.run_ctl(*args, stdin=stdin)
        self.assertEqual(p.returncode, 2,
                         f"smemctl {' '.join(map(str, args))}: expected exit 2, got "
                         f"{p.returncode}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}")
        self.assertTrue(p.stderr.strip(), "a usage error must say why on stderr")
        return p

    def json_of(self, *args):
        out = self.ok(*args).stdout.decode()
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:
            self.fail(f"smemctl {' '.join(map(str, args))} printed invalid JSON ({e}):\n{out}")

    def format(self, *opts, name="img"):
        img = self.path(name)
        self.ok("format", *opts, img)
        return img

    def read(self, img):
        with open(img, "rb") as f:
            return f.read()

    def patch(self, img, off, data):
        with open(img, "r+b") as f:
            f.seek(off)
            f.write(data)

    def write_file(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def get_raw(self, img, item, *opts):
        return self.ok("get", "--item", item, "--raw", *opts, img).stdout

    def crash_at(self, img, point, *args):
        """Run smemctl alloc ARGS on img, killed at fault point POINT."""
        env = dict(os.environ, SMEMKIT_FAULT=point)
        p = subprocess.run([SMEMCTL, "alloc", *map(str, args), img], env=env, capture_output=True)
        if p.returncode == 0:
            self.skipTest("smemctl was built without fault points")
        self.assertEqual(p.returncode, -9, "killed at the fault point")

    def fsck_clean(self, img):
        p = self.run_ctl("fsck", img)
        self.assertEqual(p.returncode, 0, f"fsck found problems:\n{p.stdout.decode()}"
                                          f"{p.stderr.decode()}")
        self.assertIn("clean", p.stdout.decode())


class TopLevel(SmemctlTest):
    def test_no_verb_is_usage(self):
        p = self.usage()
        self.assertIn("usage", p.stderr.decode())

    def test_unknown_verb_is_usage(self):
        p = self.usage("frobnicate", self.path())
        self.assertIn("frobnicate", p.stderr.decode())

    def test_help_and_version(self):
        out = self.ok("--help").stdout.decode()
        for verb in ALL_VERBS:
            self.assertIn(verb, out)
        self.assertRegex(self.ok("--version").stdout.decode(), r"^smemctl \d+\.\d+")

    def test_every_verb_has_help(self):
        for verb in ALL_VERBS:
            with self.subTest(verb=verb):
                out = self.ok(verb, "--help").stdout.decode()
                self.assertIn(f"smemctl {verb}", out)


class UsageErrors(SmemctlTest):
    """Exit code 2 for every kind of usage mistake, on every verb; no file changes."""

    def setUp(self):
        super().setUp()
        self.img = self.format()
        self.before = self.read(self.img), self.read(self.img + ".hwlock")

    def tearDown(self):
        self.assertEqual((self.read(self.img), self.read(self.img + ".hwlock")), self.before,
                         "a usage error changed the image or its lock bank")
        super().tearDown()

    def test_unknown_option(self):
        for verb in ALL_VERBS:
            with self.subTest(verb=verb):
                p = self.usage(verb, "--no-such-option", self.img)
                self.assertIn(f"smemctl {verb} --help", p.stderr.decode())

    def test_extra_operand(self):
        for verb in ALL_VERBS:
            with self.subTest(verb=verb):
                p = self.usage(verb, self.img, self.img)
                self.assertIn("unexpected argument", p.stderr.decode())

    def test_missing_option_argument(self):
        for verb, opt in (("format", "--size"), ("alloc", "--item"), ("get", "--item"),
                          ("decode", "--item"), ("locks", "--bank"), ("bust", "--lock"),
                          ("info", "--as"), ("ls", "--host"), ("fsck", "--phys-base")):
            with self.subTest(verb=verb):
                self.usage(verb, opt)

    def test_bad_common_numbers(self):
        for verb in ALL_VERBS:
            for opt, val in (("--as", "25"), ("--as", "x"), ("--as", "-1"),
                             ("--phys-base", "0xzz")):
                if verb == "format" and opt == "--as":
                    continue  # format takes no --as
                with self.subTest(verb=verb, opt=opt, val=val):
                    self.usage(verb, opt, val, self.img)
            if verb != "format":
                with self.subTest(verb=verb, opt="--host"):
                    p = self.usage(verb, "--host", "modem", self.img)
                    self.assertIn("--host", p.stderr.decode())

    def test_format_usage(self):
        for args in (("--version", "13"), ("--version", "x"), ("--size", "2Q"),
                     ("--size", "-4096"), ("--size", "5G"), ("--items", "65536"),
                     ("--items", "many"), ("--cacheline", "8192"), ("--cacheline", "x"),
                     ("--global-size", "1X"), ("--stride", "6"), ("--stride", "0"),
                     ("--stride", "8192"), ("--phys-base", "-1"), ("--host", "1"),
                     ("--as", "1")):
            with self.subTest(args=args):
                self.usage("format", *args, self.img)

    def test_format_bad_pairs(self):
        for pairs in ("0", "0-1", "0:x", "0:25", "x:1", "0:1:2Q", "0:1,,0:2:", "0:1,5",
                      ",".join(f"{i}:{j}" for i in range(25) for j in range(i + 1, 25))[:1000]):
            with self.subTest(pairs=pairs):
                self.usage("format", "--pairs", pairs, self.img)

    def test_alloc_usage(self):
        for args in (("--size", "8"),                                  # no --item
                     ("--item", "x", "--size", "8"),
                     ("--item", "70000", "--size", "8"),
                     ("--item", "-3", "--size", "8"),
                     ("--item", "100"),                                # no size, no contents
                     ("--item", "100", "--fill", "7"),                 # --fill needs --size
                     ("--item", "100", "--size", "lots"),
                     ("--item", "100", "--size", "5G"),
                     ("--item", "100", "--fill", "256", "--size", "8"),
                     ("--item", "100", "--fill", "x", "--size", "8"),
                     ("--item", "100", "--hex", "abc"),                # odd length
                     ("--item", "100", "--hex", "zz"),
                     ("--item", "100", "--hex", "-1"),
                     ("--item", "100", "--string", "a", "--hex", "00"),
                     ("--item", "100", "--fill", "1", "--data", "-", "--size", "8"),
                     ("--item", "100", "--string", "too long", "--size", "4")):
            with self.subTest(args=args):
                self.usage("alloc", *args, self.img)

    def test_get_usage(self):
        for args in ((), ("--item", "x"), ("--item", "65536"), ("--item", "-1"),
                     ("--item", "100", "--raw", "--json"), ("--item", "100", "--json", "--raw")):
            with self.subTest(args=args):
                self.usage("get", *args, self.img)

    def test_decode_usage(self):
        for args in (("--item", "x"), ("--item", "5"), ("--item", "138")):
            with self.subTest(args=args):
                self.usage("decode", *args, self.img)

    def test_bust_usage(self):
        for args in ((), ("--host", "any"), ("--host", "1", "--lock", "32"),
                     ("--host", "1", "--lock", "x"), ("--host", "1", "--lock", "-1")):
            with self.subTest(args=args):
                self.usage("bust", *args, self.img)

    def test_read_verbs_take_no_write_options(self):
        for verb in ("info", "ls", "fsck", "locks"):
            with self.subTest(verb=verb):
                self.usage(verb, "--item", "100", self.img)
        self.usage("locks", "--raw", self.img)


class Errors(SmemctlTest):
    """Exit code 1 for a missing or unusable image, and for item errors."""

    def test_missing_image(self):
        missing = self.path("missing")
        for verb, args in (("info", ()), ("ls", ()), ("fsck", ()), ("decode", ()),
                           ("get", ("--item", "100")), ("alloc", ("--item", "100", "--size", "8")),
                           ("locks", ()), ("bust", ("--host", "1"))):
            with self.subTest(verb=verb):
                p = self.error(verb, *args, missing)
                self.assertIn("missing", p.stderr.decode())
                self.assertFalse(os.path.exists(missing))

    def test_format_into_missing_directory(self):
        p = self.error("format", self.path("no/such/dir/img"))
        self.assertIn("no/such/dir/img", p.stderr.decode())

    def test_image_is_not_smem(self):
        img = self.write_file("junk", b"not an smem image\n" * 1000)
        for verb, args in (("info", ()), ("ls", ()), ("fsck", ()), ("decode", ()),
                           ("get", ("--item", "100"))):
            with self.subTest(verb=verb):
                p = self.error(verb, *args, img)
                self.assertIn(img, p.stderr.decode())

    def test_existing_item(self):
        img = self.format()
        self.ok("alloc", "--item", 300, "--string", "first", img)
        p = self.error("alloc", "--item", 300, "--string", "second", img)
        self.assertIn("item 300 already exists", p.stderr.decode())
        self.assertIn(img, p.stderr.decode())
        self.assertEqual(self.get_raw(img, 300), b"first\0")
        # The failed allocation gave lock 3 back.
        self.assertIn("3     free", self.ok("locks", img).stdout.decode())

    def test_item_not_allocated(self):
        img = self.format()
        p = self.error("get", "--item", 300, img)
        self.assertIn("item 300 is not allocated", p.stderr.decode())
        self.assertIn(img, p.stderr.decode())
        self.assertEqual(p.stdout, b"")
        p = self.error("decode", "--item", 137, img)
        self.assertIn("item 137 is not allocated", p.stderr.decode())

    def test_item_out_of_range(self):
        img = self.format("--items", 200)
        p = self.error("get", "--item", 300, img)
        self.assertIn("not below the item count 200", p.stderr.decode())
        p = self.error("alloc", "--item", 200, "--size", 8, img)
        self.assertIn("item 200", p.stderr.decode())
        self.ok("alloc", "--item", 199, "--size", 8, img)

    def test_fixed_items_are_refused(self):
        img = self.format()
        for item in (0, 3, 7):
            with self.subTest(item=item):
                p = self.error("alloc", "--item", item, "--size", 8, img)
                self.assertIn("fixed item", p.stderr.decode())
        self.ok("alloc", "--item", 8, "--size", 8, img)

    def test_item_too_big(self):
        img = self.format("--size", "64K")
        p = self.error("alloc", "--item", 100, "--size", "1M", img)
        self.assertIn("does not fit", p.stderr.decode())
        img11 = self.format("--version", 11, "--size", "64K", name="v11")
        p = self.error("alloc", "--item", 100, "--size", "1M", img11)
        self.assertIn("does not fit", p.stderr.decode())
        self.assertEqual(self.json_of("ls", "--json", img11), [])

    def test_unreadable_data_file(self):
        img = self.format()
        p = self.error("alloc", "--item", 100, "--data", self.path("absent"), img)
        self.assertIn("absent", p.stderr.decode())
        self.error("get", "--item", 100, img)

    def test_alloc_without_lock_bank_edits_offline(self):
        for version in (12, 11):
            with self.subTest(version=version):
                img = self.format("--no-hwlock", "--version", version, name=f"v{version}")
                self.assertFalse(os.path.exists(img + ".hwlock"))
                p = self.ok("alloc", "--item", 100, "--string", "offline", img)
                self.assertIn("allocated item 100 offline", p.stdout.decode())
                self.ok("alloc", "--item", 101, "--string", "again!!", "--host", 1, img)
                self.assertFalse(os.path.exists(img + ".hwlock"), "no lock bank appeared")
                self.assertEqual(self.get_raw(img, 100), b"offline\0")
                self.assertEqual(self.get_raw(img, 101, "--host", 1), b"again!!\0")
                self.error("alloc", "--item", 100, "--size", 8, img)  # exists: refused
                self.fsck_clean(img)
        self.error("locks", img)
        # Reading needs no lock bank.
        self.ok("ls", img)
        self.fsck_clean(img)

    def test_full_stdout_is_an_error(self):
        img = self.format()
        self.ok("alloc", "--item", 100, "--size", 8, img)
        with open("/dev/full", "wb") as full:
            for args in (("info",), ("ls", "--json"), ("get", "--item", 100, "--raw"),
                         ("get", "--item", 100), ("locks",), ("fsck",)):
                with self.subTest(args=args):
                    p = subprocess.run([SMEMCTL, *map(str, args), img], stdout=full,
                                       stderr=subprocess.PIPE, timeout=60)
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertIn(b"stdout", p.stderr)

    def test_not_a_lock_bank(self):
        img = self.format()
        bank = self.write_file("bank", b"\0" * 100)
        p = self.error("locks", "--bank", bank, img)
        self.assertIn("not a lock bank", p.stderr.decode())
        self.error("bust", "--host", 1, "--bank", bank, img)


class FormatAndFsck(SmemctlTest):
    def check_layout(self, img, version, size, pairs, cacheline=64, items=512):
        info = self.json_of("info", "--json", img)
        self.assertEqual(info["version"], version)
        self.assertEqual(info["size"], size)
        self.assertEqual(info["item_count"], items)
        self.assertEqual(os.path.getsize(img), size)
        parts = info["partitions"]
        hosts = [(p["host0"], p["host1"]) for p in parts]
        expect = ([(GLOBAL_HOST, GLOBAL_HOST)] if version == 12 else []) + pairs
        self.assertEqual(hosts, expect)
        for p in parts:
            self.assertTrue(p["valid"])
            self.assertEqual(p["cacheline"], cacheline)
            self.assertEqual(p["items"], 0)
            self.assertEqual(p["free"], p["size"] - PART_HDR_SIZE)
            self.assertEqual(p["offset"] % 4096, 0)
            self.assertEqual(p["size"] % 4096, 0)
        return info

    def test_default_v12(self):
        img = self.format()
        self.fsck_clean(img)
        self.check_layout(img, 12, 2 << 20, [(0, 1), (0, 2), (0, 5)])
        self.assertTrue(bank_size_ok(os.path.getsize(img + ".hwlock"), LOCK_STRIDE))
        self.assertEqual(lock_words(self.read(img + ".hwlock")), [0] * LOCK_COUNT)

    def test_default_v11(self):
        img = self.format("--version", 11)
        self.fsck_clean(img)
        info = self.check_layout(img, 11, 2 << 20, [])
        self.assertEqual(info["free_offset"], HDR_SIZE)
        self.assertEqual(info["free_offset"] + info["available"], 2 << 20)

    def test_option_combinations(self):
        cases = [
            (("--version", 12, "--size", "64K"), 12, 64 << 10, [(0, 1), (0, 2), (0, 5)], 64, 512),
            (("--size", "1M", "--items", 1000, "--cacheline", 128, "--pairs", "0:1,0:2:8K,1:2",
              "--global-size", "16K"), 12, 1 << 20, [(0, 1), (0, 2), (1, 2)], 128, 1000),
            (("--cacheline", 16, "--pairs", "none"), 12, 2 << 20, [], 16, 512),
            (("--cacheline", 4096, "--items", 9, "--size", "4M"), 12, 4 << 20,
             [(0, 1), (0, 2), (0, 5)], 4096, 9),
            (("--size", "20K", "--pairs", "none"), 12, 20 << 10, [], 64, 512),
            (("--version", 11, "--size", "16K"), 11, 16 << 10, [], 64, 512),
            (("--pairs", "3:7,0:24", "--global-size", "1M", "--stride", 4096), 12, 2 << 20,
             [(3, 7), (0, 24)], 64, 512),
            (("--version", 11, "--pairs", "0:1,0:5", "--size", "1M", "--cacheline", 32), 11,
             1 << 20, [(0, 1), (0, 5)], 32, 512),
            (("--version", 11, "--pairs", "0:1:64K", "--global-size", "64K", "--no-hwlock"), 11,
             2 << 20, [(0, 1)], 64, 512),
            (("--version", 12, "--phys-base", "0x86000000", "--stride", 4), 12, 2 << 20,
             [(0, 1), (0, 2), (0, 5)], 64, 512),
        ]
        for n, (opts, version, size, pairs, cl, items) in enumerate(cases):
            with self.subTest(opts=opts):
                img = self.format(*opts, name=f"img{n}")
                self.fsck_clean(img)
                info = self.check_layout(img, version, size, pairs, cl, items)
                if "--global-size" in opts and version == 12:
                    gs = opts[opts.index("--global-size") + 1]
                    want = int(gs[:-1]) << (20 if gs.endswith("M") else 10)
                    self.assertEqual(info["partitions"][0]["size"], want)
                if "0:2:8K" in opts:
                    self.assertEqual(info["partitions"][2]["size"], 8 << 10)
                if "--no-hwlock" in opts:
                    self.assertFalse(os.path.exists(img + ".hwlock"))
                else:
                    stride = opts[opts.index("--stride") + 1] if "--stride" in opts else 64
                    self.assertTrue(bank_size_ok(os.path.getsize(img + ".hwlock"), stride))
                    self.assertEqual(lock_words(self.read(img + ".hwlock"), stride),
                                     [0] * LOCK_COUNT)
                # A fresh image takes its first item, and stays clean.
                if "--no-hwlock" not in opts:
                    self.ok("alloc", "--item", 8, "--size", 8, img)
                    self.ok("alloc", "--item", items - 1, "--size", 8, "--host", 1, img)
                    self.fsck_clean(img)

    def test_phys_base_is_recorded(self):
        img = self.format("--phys-base", "0x86000000")
        data = self.read(img)
        pt = len(data) - PTABLE_SIZE
        info = pt + 32 + 48 * u32(data, pt + 8)
        self.assertEqual(data[info:info + 4], b"SIII")
        self.assertEqual(u32(data, info + 8), 0x86000000)
        self.assertEqual(u32(data, info + 4), 2 << 20)

    def test_reformat_replaces_the_image(self):
        img = self.format()
        self.ok("alloc", "--item", 100, "--string", "x", img)
        hold(self, img, 3, 1)
        self.format("--version", 11, "--size", "1M")
        self.assertEqual(os.path.getsize(img), 1 << 20)
        self.assertEqual(self.json_of("ls", "--json", img), [])
        self.assertEqual(self.json_of("info", "--json", img)["version"], 11)
        self.assertEqual(lock_words(self.read(img + ".hwlock")), [0] * LOCK_COUNT)

    def test_invalid_options_leave_existing_file_alone(self):
        img = self.format()
        self.ok("alloc", "--item", 100, "--string", "keep me", img)
        hold(self, img, 5, 2)
        before = self.read(img), self.read(img + ".hwlock")
        # Well-formed values that make no image are errors (exit 1) that name the
        # option; malformed ones are usage errors (exit 2), as smemctl(1) says.
        for opts, code, says in (
                (("--cacheline", 48), 1, "--cacheline"),         # not a power of two
                (("--cacheline", 8), 1, "--cacheline"),          # below 16
                (("--size", "8K"), 1, "--size"),                 # below 16K
                (("--size", 12345), 1, "--size"),                # not a multiple of 4K
                (("--size", 0), 1, "--size"),
                (("--items", 8), 1, "--items"),                  # no room above the fixed items
                (("--version", 11, "--items", 1000), 1, "version 12"),  # version 11 has 512
                (("--pairs", "0:0"), 1, "--pairs 0:0"),          # one host
                (("--pairs", "0:1,1:0"), 1, "twice"),            # a repeated pair
                (("--pairs", "0:1:5000"), 1, "--pairs 0:1"),     # not a multiple of 4K
                (("--global-size", 5000), 1, "--global-size"),
                (("--global-size", "4M"), 1, "do not fit"),      # does not fit
                (("--size", "16K"), 1, "smallest image is 32 KiB"),  # three pairs do not fit
                (("--pairs", "0:1:1M,0:2:1M"), 1, "do not fit"),
                (("--size", "1M", "--pairs", "0:1:8589934594G,0:2:8589934590G"), 1,
                 "over 4 GiB"),                          # sizes whose sum wraps
                (("--stride", 6), 2, "--stride"),
                (("--version", 10), 2, "--version"),
                (("--pairs", "0:x"), 2, "--pairs")):
            with self.subTest(opts=opts):
                p = self.run_ctl("format", *opts, img)
                self.assertEqual(p.returncode, code, p.stderr.decode())
                self.assertIn(says, p.stderr.decode())
                self.assertEqual((self.read(img), self.read(img + ".hwlock")), before,
                                 "a refused format changed the existing files")

    def test_fsck_json_clean(self):
        img = self.format()
        out = self.json_of("fsck", "--json", img)
        self.assertEqual(out, {"image": img, "findings": [], "warnings": [], "repairs": 0,
                               "busted_host": None, "heap_repairs": 0, "clean": True})

    def test_fsck_after_allocations(self):
        img = self.format("--cacheline", 128)
        img11 = self.format("--version", 11, "--pairs", "0:1", name="v11")
        for target in (img, img11):
            for i, (host, cached) in enumerate(((None, False), ("1", False), ("1", True),
                                                 (None, True))):
                args = ["alloc", "--item", 200 + i, "--size", 13 + i]
                if host:
                    args += ["--host", host]
                if cached:
                    args.append("--cached")
                p = self.run_ctl(*args, target)
                if target == img11 and host is None and cached:
                    self.assertEqual(p.returncode, 1)  # no cached list in the heap
                else:
                    self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.fsck_clean(target)


class UnusedSlots(SmemctlTest):
    """A table slot with offset 0 or size 0 is unused, as Linux skips it."""

    def make(self):
        # The default image's table holds global, 0:1, 0:2 and 0:5. Empty slot 2
        # (0:2) between used ones, and add two unused slots after the last
        # partition, one without a size and one without an offset, whose hosts
        # would otherwise repeat 0:5 and 0:1.
        img = self.format()
        self.ok("alloc", "--item", 100, "--string", "global", img)
        self.ok("alloc", "--item", 101, "--string", "cdsp", "--host", 5, img)
        self.ok("alloc", "--item", 102, "--string", "modem", "--host", 1, "--cached", img)
        data = bytearray(self.read(img))
        pt = len(data) - PTABLE_SIZE
        n = u32(data, pt + 8)
        self.assertEqual(n, 4)
        info = data[pt + 32 + 48 * n:pt + 32 + 48 * n + 20]
        self.assertEqual(info[:4], b"SIII")
        slot = lambda i: pt + 32 + 48 * i
        data[slot(2):slot(2) + 48] = bytes(48)
        data[slot(4):slot(6) + 20] = bytes(2 * 48 + 20)
        struct.pack_into("<IIIHHI", data, slot(4), 0x1000, 0, 0, 0, 5, 64)
        struct.pack_into("<IIIHHI", data, slot(5), 0, 0x1000, 0, 0, 1, 64)
        data[slot(6):slot(6) + 20] = info
        struct.pack_into("<I", data, pt + 8, 6)
        with open(img, "wb") as f:
            f.write(data)
        return img

    def test_readers_skip_unused_slots(self):
        img = self.make()
        self.fsck_clean(img)
        self.assertEqual(self.get_raw(img, 101, "--host", 5), b"cdsp\0")
        self.assertEqual(self.get_raw(img, 102, "--host", 1), b"modem\0")
        items = sorted(it["item"] for it in self.json_of("ls", "--json", img))
        self.assertEqual(items, [100, 101, 102])
        self.ok("alloc", "--item", 103, "--size", 8, "--host", 5, img)
        self.fsck_clean(img)

    def test_info_shows_unused_slots(self):
        img = self.make()
        out = self.ok("info", img).stdout.decode()
        self.assertIn("partitions  3 (6 table slots, 3 unused)", out)
        for i in (2, 4, 5):
            self.assertRegex(out, rf"\n  {i}  unused ")
        self.assertNotIn("corrupt", out)
        doc = self.json_of("info", "--json", img)
        self.assertEqual([p["index"] for p in doc["partitions"]], list(range(6)))
        self.assertEqual([p["used"] for p in doc["partitions"]],
                         [True, True, False, True, False, False])
        self.assertTrue(all(p["valid"] for p in doc["partitions"]))
        self.assertEqual([p["items"] for p in doc["partitions"]], [1, 1, 0, 1, 0, 0])


class Warnings(SmemctlTest):
    """What is legal but worth knowing: fsck warns, says where, and exits 0."""

    def both_lists(self):
        # Linux's allocator looks only in the uncached list, so a second copy of an
        # item a remote put in the cached list is legal. Make one by renumbering.
        img = self.format()
        self.ok("alloc", "--item", 300, "--size", 8, "--host", 1, "--cached", img)
        self.ok("alloc", "--item", 301, "--string", "uncached", "--host", 1, img)
        e = partition(self.read(img), 0, 1)
        hdr = e["offset"] + e["size"] - 64  # the topmost cached slot, cacheline 64
        self.assertEqual(struct.unpack_from("<HH", self.read(img), hdr), (CANARY, 300))
        self.patch(img, hdr + 2, struct.pack("<H", 301))
        return img

    def test_item_in_both_lists_is_a_warning(self):
        img = self.both_lists()
        p = self.ok("fsck", img)
        out = p.stdout.decode()
        self.assertRegex(out, r"(?m)^warning: partition 0:1: item 301 is in both the uncached "
                              r"and the cached list")
        self.assertIn("clean", out)
        self.assertEqual(self.get_raw(img, 301, "--host", 1), b"uncached\0",
                         "lookups read the uncached copy, as Linux does")
        doc = self.json_of("fsck", "--json", img)
        self.assertEqual(doc["findings"], [])
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertRegex(doc["warnings"][0], r"^partition 0:1: item 301 ")
        self.assertIs(doc["clean"], True)

    def test_item_in_another_region_is_a_warning(self):
        # A version-11 entry whose aux_base names the RPM message RAM: the image
        # does not hold its bytes, so fsck cannot check it, and says so.
        img = self.format("--version", 11)
        self.ok("alloc", "--item", 300, "--size", 8, img)
        self.patch(img, TOC_OFF + 16 * 300 + 12, struct.pack("<I", 0x00200000))
        out = self.ok("fsck", img).stdout.decode()
        self.assertRegex(out, r"(?m)^warning: global heap item 300 .*aux_base 0x200000")
        doc = self.json_of("fsck", "--json", img)
        self.assertEqual(doc["findings"], [])
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertIn("item 300", doc["warnings"][0])
        self.assertEqual(self.json_of("ls", "--json", img)[0]["aux_base"], 0x00200000)
        self.error("get", "--item", 300, img)

    def test_warnings_beside_errors(self):
        img = self.both_lists()
        e = partition(self.read(img), GLOBAL_HOST, GLOBAL_HOST)
        self.patch(img, e["offset"], b"$PRX")
        p = self.error("fsck", img)
        self.assertIn("warning: partition 0:1: item 301", p.stdout.decode())
        self.assertRegex(p.stderr.decode(), r": 1 finding and 1 warning$")
        out = self.run_ctl("fsck", "--json", img)
        self.assertEqual(out.returncode, 1)
        doc = json.loads(out.stdout)
        self.assertEqual(len(doc["findings"]), 1)
        self.assertIn("partition magic", doc["findings"][0])
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertIs(doc["clean"], False)


class Alloc(SmemctlTest):
    """Every content source, in every kind of place, read back with get --raw."""

    def test_options_may_follow_the_image(self):
        img = self.format()
        self.ok("alloc", img, "--item", 100, "--string", "late")
        self.assertEqual(self.json_of("ls", img, "--json")[0]["item"], 100)

    def test_numbers_are_decimal_or_hex(self):
        img = self.format()
        self.ok("alloc", "--item", "010", "--size", "0x10", img)
        items = self.json_of("ls", "--json", img)
        self.assertEqual((items[0]["item"], items[0]["size"]), (10, 16))
        self.usage("get", "--item", "0x", img)

    def sources(self):
        blob = bytes(random.Random(7).randrange(256) for _ in range(37))
        datafile = self.write_file("blob", blob)
        return [
            # (alloc options, stdin, bytes of the item as asked for)
            (("--data", datafile), None, blob),
            (("--data", "-"), blob[::-1], blob[::-1]),
            (("--data", datafile, "--size", 50), None, blob + b"\0" * 13),
            (("--string", "hello, world"), None, b"hello, world\0"),
            (("--string", "hi", "--size", 20), None, b"hi\0" + b"\0" * 17),
            (("--string", ""), None, b"\0"),
            (("--hex", "DEADbeef00ff"), None, b"\xde\xad\xbe\xef\x00\xff"),
            (("--hex", "0102", "--size", 9), None, b"\x01\x02" + b"\0" * 7),
            (("--fill", "0x5a", "--size", 10), None, b"\x5a" * 10),
            (("--fill", 255, "--size", 24), None, b"\xff" * 24),
            (("--size", 12), None, b"\0" * 12),
            (("--size", "1K"), None, b"\0" * 1024),
            (("--data", "/dev/null"), None, b""),
        ]

    def roundtrip(self, img, where, heap=False):
        for n, (opts, stdin, want) in enumerate(self.sources()):
            item = 100 + n
            if "--cached" in where and not want:
                continue  # see test_cached_zero_size
            with self.subTest(where=where, opts=opts):
                self.ok("alloc", "--item", item, *opts, *where, img, stdin=stdin)
                got = self.get_raw(img, item, *[w for w in where if w != "--cached"])
                if heap:
                    # The global heap keeps only the 8-byte aligned size.
                    want = want + b"\0" * (align8(len(want)) - len(want))
                self.assertEqual(got, want)
        self.fsck_clean(img)

    def test_global_partition(self):
        self.roundtrip(self.format(), ())

    def test_private_partition(self):
        img = self.format()
        self.roundtrip(img, ("--host", "1"))
        # Nothing went to the global partition or to another pair.
        for it in self.json_of("ls", "--json", img):
            self.assertEqual((it["partition"], it["host0"], it["host1"]), ("0:1", 0, 1))

    def test_private_partition_as_the_other_host(self):
        img = self.format()
        self.ok("alloc", "--as", 1, "--host", 0, "--item", 400, "--string", "from modem", img)
        self.assertEqual(self.get_raw(img, 400, "--host", 1), b"from modem\0")
        self.assertEqual(self.get_raw(img, 400, "--as", 1, "--host", 0), b"from modem\0")
        self.error("get", "--item", 400, img)  # not in the global partition

    def test_host_without_partition_uses_global(self):
        img = self.format()
        self.ok("alloc", "--host", 3, "--item", 400, "--string", "x", img)
        self.assertEqual(self.get_raw(img, 400), b"x\0")
        self.assertEqual(self.json_of("ls", "--json", img)[0]["partition"], "global")

    def test_v11_heap(self):
        self.roundtrip(self.format("--version", 11), (), heap=True)

    def test_cached_global(self):
        self.roundtrip(self.format(), ("--cached",))

    def test_cached_private(self):
        self.roundtrip(self.format("--cacheline", 32), ("--host", "5", "--cached"))

    def test_cached_zero_size(self):
        img = self.format()
        self.ok("alloc", "--item", 100, "--size", 0, "--cached", img)
        self.assertEqual(self.get_raw(img, 100), b"")
        self.assertEqual(self.json_of("ls", "--json", img)[0]["cached"], True)

    def test_cached_v11_heap_is_refused(self):
        img = self.format("--version", 11)
        p = self.error("alloc", "--cached", "--item", 100, "--size", 8, img)
        self.assertIn("cached", p.stderr.decode())

    def test_same_item_in_different_partitions(self):
        img = self.format()
        self.ok("alloc", "--item", 300, "--string", "global", img)
        self.ok("alloc", "--item", 300, "--string", "modem", "--host", 1, img)
        self.ok("alloc", "--item", 300, "--string", "adsp", "--host", 2, "--cached", img)
        self.assertEqual(self.get_raw(img, 300), b"global\0")
        self.assertEqual(self.get_raw(img, 300, "--host", 1), b"modem\0")
        self.assertEqual(self.get_raw(img, 300, "--host", 2), b"adsp\0")
        for where in ((), ("--host", "1"), ("--host", "2", "--cached"), ("--host", "2")):
            with self.subTest(where=where):
                p = self.error("alloc", "--item", 300, "--size", 4, *where, img)
                self.assertIn("already exists", p.stderr.decode())
        self.fsck_clean(img)

    def test_ls_json_lists_exactly_the_items(self):
        img = self.format()
        allocs = [  # item, size, where, partition, host0, host1, cached
            (100, 13, (), "global", GLOBAL_HOST, GLOBAL_HOST, False),
            (101, 8, ("--cached",), "global", GLOBAL_HOST, GLOBAL_HOST, True),
            (102, 1, ("--host", "1"), "0:1", 0, 1, False),
            (103, 30, ("--host", "5", "--cached"), "0:5", 0, 5, True),
            (104, 0, ("--host", "2"), "0:2", 0, 2, False),
            (105, 100, (), "global", GLOBAL_HOST, GLOBAL_HOST, False),
        ]
        for item, size, where, *_ in allocs:
            self.ok("alloc", "--item", item, "--size", size, *where, img)
        got = self.json_of("ls", "--json", img)
        self.assertEqual(len(got), len(allocs))
        by_item = {it["item"]: it for it in got}
        self.assertEqual(sorted(by_item), [a[0] for a in allocs])
        data = self.read(img)
        for item, size, _where, part, h0, h1, cached in allocs:
            it = by_item[item]
            with self.subTest(item=item):
                self.assertEqual(it["partition"], part)
                self.assertEqual((it["host0"], it["host1"]), (h0, h1))
                self.assertEqual(it["size"], size)
                self.assertEqual(it["padding"], align8(size) - size)
                self.assertIs(it["cached"], cached)
                self.assertEqual(it["aux_base"], 0)
                # The offset is where get finds the data.
                g = self.json_of("get", "--json", "--item", item,
                                 *(("--host", str(h1)) if part != "global" else ()), img)
                self.assertEqual(g["offset"], it["offset"])
                self.assertEqual(g["size"], size)
                # And it lies inside its partition, after a canary-marked header.
                pe = partition(data, h0, h1)
                self.assertTrue(pe["offset"] <= it["offset"] < pe["offset"] + pe["size"])
                if not cached:
                    hdr = it["offset"] - ENTRY_HDR_SIZE
                    self.assertEqual(struct.unpack_from("<HH", data, hdr), (CANARY, item))
        text = self.ok("ls", img).stdout.decode().splitlines()
        self.assertEqual(len(text), 1 + len(allocs))
        self.assertRegex(text[0], r"partition\s+item\s+size\s+offset\s+list")

    def test_ls_json_v11_heap(self):
        img = self.format("--version", 11, "--pairs", "0:1")
        self.ok("alloc", "--item", 137, "--size", 13, img)
        self.ok("alloc", "--item", 138, "--size", 8, "--host", 1, img)
        got = self.json_of("ls", "--json", img)
        self.assertEqual(len(got), 2)
        heap = [it for it in got if it["partition"] == "heap"]
        self.assertEqual(len(heap), 1)
        self.assertEqual((heap[0]["item"], heap[0]["size"], heap[0]["host0"], heap[0]["host1"],
                          heap[0]["cached"]), (137, 16, -1, -1, False))
        self.assertEqual(heap[0]["offset"], HDR_SIZE)
        priv = [it for it in got if it["partition"] == "0:1"]
        self.assertEqual((priv[0]["item"], priv[0]["size"]), (138, 8))

    def test_info_free_space_shrinks(self):
        img = self.format("--cacheline", 128)

        def free():
            return {(p["host0"], p["host1"]): (p["free"], p["items"])
                    for p in self.json_of("info", "--json", img)["partitions"]}

        g, m = (GLOBAL_HOST, GLOBAL_HOST), (0, 1)
        f0 = free()
        self.ok("alloc", "--item", 100, "--size", 13, img)
        f1 = free()
        self.assertEqual(f1[g], (f0[g][0] - (16 + 16), 1))
        self.assertEqual(f1[m], f0[m])
        self.ok("alloc", "--item", 100, "--size", 64, "--host", 1, img)
        f2 = free()
        self.assertEqual(f2[m], (f1[m][0] - (16 + 64), 1))
        self.assertEqual(f2[g], f1[g])
        # A cached item takes a header slot of one cache line, then its data.
        self.ok("alloc", "--item", 101, "--size", 5, "--host", 1, "--cached", img)
        f3 = free()
        self.assertEqual(f3[m], (f2[m][0] - (128 + 8), 2))
        # A failed allocation takes nothing.
        self.error("alloc", "--item", 101, "--size", 5, "--host", 1, img)
        self.assertEqual(free(), f3)

    def test_info_heap_counters(self):
        img = self.format("--version", 11)
        i0 = self.json_of("info", "--json", img)
        self.ok("alloc", "--item", 100, "--size", 13, img)
        i1 = self.json_of("info", "--json", img)
        self.assertEqual(i1["free_offset"], i0["free_offset"] + 16)
        self.assertEqual(i1["available"], i0["available"] - 16)

    def test_free_space_runs_out(self):
        img = self.format("--size", "20K", "--pairs", "none")
        free = self.json_of("info", "--json", img)["partitions"][0]["free"]
        self.error("alloc", "--item", 100, "--size", free - 16 + 1, img)
        self.ok("alloc", "--item", 100, "--size", free - 16, img)
        self.assertEqual(self.json_of("info", "--json", img)["partitions"][0]["free"], 0)
        p = self.error("alloc", "--item", 101, "--size", 0, img)
        self.assertIn("does not fit", p.stderr.decode())
        self.fsck_clean(img)

    def test_get_hexdump(self):
        img = self.format()
        self.ok("alloc", "--item", 100, "--string", "ABCDEFGHIJKLMNOPQR", img)
        out = self.ok("get", "--item", 100, img).stdout.decode()
        self.assertIn("item 100, 19 bytes at 0x", out)
        self.assertIn("41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50", out)
        self.assertIn("|ABCDEFGHIJKLMNOP|", out)
        self.assertIn("|QR.|", out)

    def test_get_phys_base(self):
        img = self.format()
        self.ok("alloc", "--item", 100, "--size", 4, img)
        off = self.json_of("get", "--json", "--item", 100, img)["offset"]
        g = self.json_of("get", "--json", "--item", 100, "--phys-base", "0x80000000", img)
        # One name for one thing, as in ls --json: offset in the region, phys address.
        self.assertEqual(g["offset"], off)
        self.assertEqual(g["phys"], 0x80000000 + off)
        ls = self.json_of("ls", "--json", "--phys-base", "0x80000000", img)
        it = [e for e in ls if e["item"] == 100][0]
        self.assertEqual((it["offset"], it["phys"]), (g["offset"], g["phys"]))

    def test_lock_held_by_dead_host_blocks_alloc_until_bust(self):
        img = self.format()
        bank = img + ".hwlock"
        hold(self, img, 3, 2, dead=True)   # host 2 died holding lock 3
        p = self.error("alloc", "--item", 100, "--size", 8, img)
        self.assertIn("lock 3", p.stderr.decode())
        self.error("get", "--item", 100, img)
        self.ok("bust", "--host", 2, img)
        self.ok("alloc", "--item", 100, "--size", 8, img)
        self.assertEqual(lock_words(self.read(bank)), [0] * LOCK_COUNT)

    def test_one_live_process_per_host(self):
        # A writable attach records the process in the lock bank's host table
        # (64-byte entries {robust word, seq, id, pid, ...}); a second live
        # process cannot attach as the same host.
        img = self.format()
        bank = img + ".hwlock"
        hold(self, img, 3, 2, dead=True)   # host 2 died holding lock 3
        first = subprocess.Popen([SMEMCTL, "alloc", "--item", "100", "--size", "8", img],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            entry0 = host_entry_at(0)
            deadline = time.monotonic() + 30
            while u32(self.read(bank), entry0 + 24) != first.pid:
                self.assertIsNone(first.poll(), "the first alloc ended before registering")
                self.assertLess(time.monotonic(), deadline)
            p = self.error("alloc", "--item", 101, "--size", 8, img)
            self.assertIn("another live process is attached as host 0", p.stderr.decode())
        finally:
            out, err = first.communicate(timeout=60)
        self.assertEqual(first.returncode, 1)
        self.assertIn(b"lock 3", err)
        # Once it has exited, its entry is a dead process's: host 0 may attach again.
        self.ok("bust", "--host", 2, img)
        self.ok("alloc", "--item", 101, "--size", 8, img)


class JsonOutput(SmemctlTest):
    """Every read verb's --json output is one JSON document."""

    def setUp(self):
        super().setUp()
        self.img = self.format()
        self.ok("alloc", "--item", 100, "--string", 'quote " backslash \\ tab \t', self.img)
        self.ok("alloc", "--item", 101, "--size", 3, "--host", 1, "--cached", self.img)

    def test_info(self):
        out = self.json_of("info", "--json", self.img)
        self.assertEqual(set(out), {"image", "size", "version", "item_count", "free_offset",
                                    "available", "partitions"})
        self.assertEqual(set(out["partitions"][0]),
                         {"index", "used", "host0", "host1", "offset", "size", "cacheline",
                          "valid", "free", "items"})

    def test_ls(self):
        out = self.json_of("ls", "--json", self.img)
        self.assertEqual(len(out), 2)
        self.assertEqual(set(out[0]), {"partition", "host0", "host1", "item", "size",
                                       "padding", "offset", "phys", "cached", "aux_base"})

    def test_get(self):
        out = self.json_of("get", "--json", "--item", 100, self.img)
        self.assertEqual(set(out), {"item", "size", "offset", "phys", "data"})
        self.assertEqual(bytes.fromhex(out["data"]), b'quote " backslash \\ tab \t\0')

    def test_fsck(self):
        out = self.json_of("fsck", "--json", self.img)
        self.assertIs(out["clean"], True)

    def test_locks(self):
        out = self.json_of("locks", "--json", self.img)
        self.assertEqual(len(out), LOCK_COUNT)

    def test_decode_without_known_items(self):
        self.assertEqual(self.json_of("decode", "--json", self.img), {})

    def test_decode_with_known_items(self):
        self.ok("alloc", "--item", 137, "--data", "-", self.img, stdin=socinfo())
        self.ok("alloc", "--item", 421, "--string", "watchdog bite", self.img)
        out = self.json_of("decode", "--json", self.img)
        self.assertEqual(set(out), {"socinfo", "crash_reason.mpss"})

    def test_image_name_is_escaped(self):
        img = self.path('we"ird\\name')
        self.ok("format", img)
        self.assertEqual(self.json_of("info", "--json", img)["image"], img)
        self.assertEqual(self.json_of("fsck", "--json", img)["image"], img)


class Corruption(SmemctlTest):
    """Damaged images: fsck names the problem, readers fail with exit 1, nothing crashes."""

    def make(self, damage):
        img = self.format()
        self.ok("alloc", "--item", 200, "--string", "payload", img)
        self.ok("alloc", "--item", 137, "--data", "-", img, stdin=socinfo())
        self.ok("alloc", "--item", 201, "--size", 8, "--host", 1, img)
        data = bytearray(self.read(img))
        damage(data)
        with open(img, "wb") as f:
            f.write(data)
        return img

    def global_part(self, data):
        return partition(data, GLOBAL_HOST, GLOBAL_HOST)["offset"]

    def bad_magic(self, data):
        off = self.global_part(data)
        data[off:off + 4] = b"$PRX"

    def bad_canary(self, data):
        off = self.global_part(data) + PART_HDR_SIZE
        struct.pack_into("<H", data, off, 0x5A5A)

    def free_beyond_size(self, data):
        e = partition(data, GLOBAL_HOST, GLOBAL_HOST)
        struct.pack_into("<I", data, e["offset"] + 12, e["size"] + 0x100)

    def version_13(self, data):
        struct.pack_into("<I", data, SBL_VERSION_OFF, 13 << 16)

    def all_zero(self, data):
        data[:] = bytes(len(data))

    CASES = {
        "bad_magic": ("bad_magic", r"partition magic"),
        "bad_canary": ("bad_canary", r"invalid canary 0x5a5a"),
        "free_beyond_size": ("free_beyond_size", r"offset_free_uncached 0x7f100 is past its size"),
        "version_13": ("version_13", r"unsupported SMEM version .*13"),
        "all_zero": ("all_zero", r"not initialized"),
    }

    def check_fsck(self, case):
        fn, pattern = self.CASES[case]
        img = self.make(getattr(self, fn))
        p = self.run_ctl("fsck", img)
        self.assertEqual(p.returncode, 1, p.stdout.decode())
        self.assertRegex(p.stdout.decode(), pattern)
        self.assertRegex(p.stderr.decode(), r"\d+ findings?")
        out = self.run_ctl("fsck", "--json", img)
        self.assertEqual(out.returncode, 1)
        doc = json.loads(out.stdout)
        self.assertIs(doc["clean"], False)
        self.assertTrue(any(re.search(pattern, f) for f in doc["findings"]), doc)

    def check_readers(self, case, verbs=("ls", "get", "info", "decode")):
        fn, _ = self.CASES[case]
        img = self.make(getattr(self, fn))
        for verb in verbs:
            args = ("--item", 200) if verb == "get" else ()
            for json_opt in ((), ("--json",)):
                with self.subTest(verb=verb, json=json_opt):
                    p = self.error(verb, *args, *json_opt, img)
                    self.assertRegex(p.stderr.decode(), rf"^smemctl: {re.escape(img)}: ")

    def test_fsck_bad_magic(self):
        self.check_fsck("bad_magic")

    def test_fsck_bad_canary(self):
        self.check_fsck("bad_canary")

    def test_fsck_free_beyond_size(self):
        self.check_fsck("free_beyond_size")

    def test_fsck_version_13(self):
        self.check_fsck("version_13")

    def test_fsck_all_zero(self):
        self.check_fsck("all_zero")

    def test_readers_bad_magic(self):
        self.check_readers("bad_magic")

    def test_readers_free_beyond_size(self):
        self.check_readers("free_beyond_size")

    def test_readers_version_13(self):
        self.check_readers("version_13")

    def test_readers_all_zero(self):
        self.check_readers("all_zero")

    def test_readers_bad_canary(self):
        self.check_readers("bad_canary", verbs=("ls", "get", "decode"))

    def test_info_bad_canary(self):
        self.check_readers("bad_canary", verbs=("info",))

    def test_info_bad_canary_marks_partition(self):
        img = self.make(self.bad_canary)
        out = self.run_ctl("info", img).stdout.decode()
        self.assertIn("corrupt", out)
        doc = json.loads(self.run_ctl("info", "--json", img).stdout)
        self.assertIs(doc["partitions"][0]["valid"], False)
        self.assertIs(doc["partitions"][1]["valid"], True)

    def test_alloc_on_corrupt_images(self):
        for case in self.CASES:
            with self.subTest(case=case):
                img = self.make(getattr(self, self.CASES[case][0]))
                before = self.read(img)
                p = self.error("alloc", "--item", 300, "--size", 8, img)
                self.assertIn(img, p.stderr.decode())
                self.assertEqual(self.read(img), before)

    def test_damage_in_another_partition_spares_global_items(self):
        # A bad canary in partition 0:1 breaks ls, but not a lookup in the global partition.
        def damage(data):
            off = partition(data, 0, 1)["offset"] + PART_HDR_SIZE
            struct.pack_into("<H", data, off, 0)
        img = self.make(damage)
        self.assertEqual(self.get_raw(img, 200), b"payload\0")
        p = self.error("get", "--item", 201, "--host", 1, img)
        self.assertIn("corrupt", p.stderr.decode())
        p = self.error("ls", img)
        self.assertIn("corrupt", p.stderr.decode())
        p = self.run_ctl("fsck", img)
        self.assertEqual(p.returncode, 1)
        self.assertIn("invalid canary 0x0000", p.stdout.decode())

    def test_heap_counters_behind_the_table(self):
        # A version-11 allocator that dies after publishing a table entry but before
        # moving free_offset leaves the entry outside the allocated heap.
        img = self.format("--version", 11)
        self.ok("alloc", "--item", 300, "--size", 16, img)
        self.patch(img, FREE_OFFSET_OFF, struct.pack("<II", HDR_SIZE, (2 << 20) - HDR_SIZE))
        p = self.run_ctl("fsck", img)
        self.assertEqual(p.returncode, 1)
        self.assertIn("global heap item 300", p.stdout.decode())
        self.assertIn("outside the allocated heap", p.stdout.decode())

    def test_truncated_and_tiny_files(self):
        img = self.format()
        data = self.read(img)
        for name, content in (("empty", b""), ("one", b"\x01"), ("hdr", data[:HDR_SIZE]),
                              ("half", data[:len(data) // 2]), ("odd", data[:HDR_SIZE + 4097])):
            path = self.write_file(name, content)
            for verb in ("fsck", "info", "ls", "decode"):
                with self.subTest(file=name, verb=verb):
                    p = self.error(verb, path)
                    self.assertIn(path, p.stderr.decode())

    def test_random_damage_never_crashes(self):
        # Flip bytes in the places a reader trusts: headers, the table, entries.
        img = self.format("--size", "64K")
        for i in range(6):
            self.ok("alloc", "--item", 100 + i, "--size", 8 * i + 3, "--host",
                    ("any", "1")[i % 2], *(("--cached",) if i % 3 == 0 else ()), img)
        clean = self.read(img)
        parts = ptable(clean)
        hot = list(range(0x0C0, 0x0D0)) + list(range(len(clean) - PTABLE_SIZE,
                                                      len(clean) - PTABLE_SIZE + 256))
        for e in parts:
            hot += range(e["offset"], e["offset"] + 160)
            hot += range(e["offset"] + e["size"] - 256, e["offset"] + e["size"])
        rng = random.Random(1234)
        for n in range(40):
            data = bytearray(clean)
            for _ in range(rng.randrange(1, 6)):
                data[rng.choice(hot)] = rng.randrange(256)
            path = self.write_file(f"fuzz{n}", bytes(data))
            for verb, args in (("fsck", ()), ("info", ()), ("ls", ()), ("decode", ()),
                               ("get", ("--item", 101, "--host", 1))):
                for json_opt in ((), ("--json",)):
                    p = self.run_ctl(verb, *args, *json_opt, path)
                    self.assertIn(p.returncode, (0, 1), f"{verb} on {path}: {p.stderr!r}")


class Decode(SmemctlTest):
    def fields(self, out):
        """The 'key value' lines of decode's text output, as a dict."""
        d = {}
        for line in out.splitlines():
            if line.startswith("  "):
                key, _, value = line.strip().partition(" ")
                d[key] = value.strip()
        return d

    def test_socinfo_text(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--data", self.write_file("si", socinfo()), img)
        out = self.ok("decode", img).stdout.decode()
        self.assertIn("socinfo (item 137, 176 bytes)", out)
        f = self.fields(out)
        self.assertEqual(f["fmt"], "0.15")
        self.assertEqual(f["id"], "321")
        self.assertEqual(f["ver"], "2.1")
        self.assertEqual(f["build_id"], "TEST-BUILD")
        self.assertEqual(f["serial_num"], str(0x12345678))
        self.assertEqual(f["hw_plat"], "8")
        self.assertEqual(f["chip_family"], "0x5a")
        self.assertEqual(f["chip_id"], "SM8550")
        self.assertEqual(f["nmodem_supported"], "2")
        self.assertNotIn("feature_code", f)  # format 16 and later
        self.fsck_clean(img)

    def test_socinfo_one_item(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--data", "-", img, stdin=socinfo())
        self.ok("alloc", "--item", 421, "--string", "oops", img)
        out = self.ok("decode", "--item", 137, img).stdout.decode()
        self.assertIn("socinfo", out)
        self.assertNotIn("crash_reason", out)

    def test_socinfo_json(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--data", "-", img, stdin=socinfo())
        s = self.json_of("decode", "--json", img)["socinfo"]
        self.assertEqual(s["item"], 137)
        self.assertEqual(s["fmt"], "0.15")
        self.assertEqual(s["id"], 321)
        self.assertEqual(s["ver"], "2.1")
        self.assertEqual(s["build_id"], "TEST-BUILD")
        self.assertEqual(s["serial_num"], 0x12345678)

    def test_socinfo_json_has_no_bare_hex(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--data", "-", img, stdin=socinfo())
        out = self.ok("decode", "--json", img).stdout.decode()
        self.assertNotRegex(out, r":0x[0-9a-f]+")

    def test_socinfo_in_private_partition_and_heap(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--host", 1, "--data", "-", img, stdin=socinfo())
        self.assertIn("no well-known items", self.ok("decode", img).stdout.decode())
        f = self.fields(self.ok("decode", "--host", 1, img).stdout.decode())
        self.assertEqual(f["build_id"], "TEST-BUILD")
        img11 = self.format("--version", 11, name="v11")
        self.ok("alloc", "--item", 137, "--data", "-", img11, stdin=socinfo(size=174))
        out = self.run_ctl("decode", img11)
        # The heap rounds the item up to 176 bytes, which is enough for format 15.
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertEqual(self.fields(out.stdout.decode())["id"], "321")

    def test_socinfo_too_short_for_its_format(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--data", "-", img, stdin=socinfo(size=100))
        p = self.error("decode", img)
        self.assertIn("socinfo format 0.15 has num_pmics at 100, but the item is 100 bytes",
                      p.stderr.decode())
        self.assertIn(img, p.stderr.decode())
        # What fits is still shown.
        f = self.fields(p.stdout.decode())
        self.assertEqual(f["serial_num"], str(0x12345678))
        self.assertNotIn("num_pmics", f)
        # fsck checks the well-known items too.
        p = self.run_ctl("fsck", img)
        self.assertEqual(p.returncode, 1)
        self.assertIn("socinfo format 0.15", p.stdout.decode())

    def test_socinfo_without_format_word(self):
        img = self.format()
        self.ok("alloc", "--item", 137, "--hex", "0f00", img)
        p = self.error("decode", img)
        self.assertIn("no format word", p.stderr.decode())

    def test_socinfo_pmic_array_past_item(self):
        img = self.format()
        b = bytearray(socinfo(fmt=11, size=120))
        struct.pack_into("<II", b, 100, 2, 112)   # two PMICs at 112: needs 128 bytes
        self.ok("alloc", "--item", 137, "--data", "-", img, stdin=bytes(b))
        p = self.error("decode", img)
        self.assertIn("PMIC array", p.stderr.decode())
        struct.pack_into("<II", b, 100, 1, 112)   # one PMIC fits
        struct.pack_into("<II", b, 112, 0x1001B, 0x20000)
        self.ok("alloc", "--item", 137, "--host", 1, "--data", "-", img, stdin=bytes(b))
        f = self.fields(self.ok("decode", "--host", 1, img).stdout.decode())
        self.assertEqual(f["pmic0_model"], "27")
        self.assertEqual(f["pmic0_die_rev"], "0x20000")

    def test_crash_reason_bounded_by_item(self):
        img = self.format()
        # 21 bytes without a NUL; its 3 padding bytes and the next entry are not NUL either.
        self.ok("alloc", "--item", 421, "--hex", "41" * 21, img)
        self.ok("alloc", "--item", 300, "--fill", 0x42, "--size", 64, img)
        data = self.read(img)
        item = [it for it in self.json_of("ls", "--json", img) if it["item"] == 421][0]
        self.assertEqual(item["size"], 21)
        self.patch(img, item["offset"] + 21, b"CCC")
        self.assertNotEqual(data, self.read(img))
        p = self.ok("decode", img)
        out = p.stdout.decode()
        self.assertIn("crash_reason.mpss (item 421, 21 bytes)", out)
        self.assertEqual(self.fields(out)["string"], "A" * 21)
        self.assertNotIn("C", out.replace("crash_reason", ""))
        self.assertNotIn("\\xa5", out)
        self.ok("fsck", img)

    def test_crash_reason_with_nul_and_control_bytes(self):
        img = self.format("--items", 1024)  # 601 is above the default 512
        self.ok("alloc", "--item", 423, "--hex", "6f6f707301" + "00" + "41414141", img)
        self.ok("alloc", "--item", 601, "--string", "", img)
        out = self.ok("decode", img).stdout.decode()
        self.assertIn("crash_reason.lpass (item 423, 10 bytes)", out)
        self.assertIn("oops\\x01", out)
        self.assertNotIn("AAAA", out)
        self.assertIn("crash_reason.cdsp (item 601, 1 bytes)", out)

    def test_image_versions(self):
        img = self.format()
        table = bytearray(32 * 128)

        def entry(i, name, variant, oem):
            table[i * 128:i * 128 + len(name)] = name
            table[i * 128 + 75:i * 128 + 75 + len(variant)] = variant
            table[i * 128 + 96:i * 128 + 96 + len(oem)] = oem

        entry(0, b"BOOT.XF.4.2", b"LAAANAZA", b"oem-boot")
        entry(11, b"MPSS.DE.3.1" * 8, b"V" * 20, b"O" * 32)  # every field full, no NUL
        self.ok("alloc", "--item", 469, "--data", "-", img, stdin=bytes(table))
        f = self.fields(self.ok("decode", "--item", 469, img).stdout.decode())
        self.assertEqual(f["boot.name"], "BOOT.XF.4.2")
        self.assertEqual(f["boot.variant"], "LAAANAZA")
        self.assertEqual(f["boot.oem"], "oem-boot")
        self.assertEqual(f["mpss.name"], ("MPSS.DE.3.1" * 8)[:75])
        self.assertEqual(f["mpss.variant"], "V" * 20)
        self.assertEqual(f["mpss.oem"], "O" * 32)
        self.assertNotIn("tz.name", f)

    def test_image_versions_partial_entry(self):
        img = self.format()
        self.ok("alloc", "--item", 469, "--fill", 0x41, "--size", 200, img)
        p = self.error("decode", img)
        self.assertIn("not a whole number of entries", p.stderr.decode())
        f = self.fields(p.stdout.decode())
        self.assertEqual(f["boot.name"], "A" * 75)

    def test_nothing_to_decode(self):
        img = self.format()
        self.assertIn("no well-known items", self.ok("decode", img).stdout.decode())


class Locks(SmemctlTest):
    def register(self, img, host, pid, alive=True):
        """Write a host-table entry naming pid as host: alive, or marked dead by the kernel."""
        self.patch(img + ".hwlock", host_entry_at(host),
                   struct.pack("<IIQIIII", FAKE_ID if alive else ROBUST_DIED, 0, 0, 2, FAKE_ID,
                               pid, 1))

    def test_owner_pid_and_liveness_are_shown(self):
        img = self.format()
        self.register(img, 2, 4242)
        self.set_lock(img, 5, 2)
        line = self.ok("locks", img).stdout.decode().splitlines()[1 + 5]
        self.assertRegex(line, r"^5\s+held\s+host 2 adsp \(pid 4242, alive\)$")
        doc = self.json_of("locks", "--json", img)[5]
        self.assertEqual((doc["owner"], doc["pid"], doc["alive"]), (2, 4242, True))
        self.set_lock(img, 5, 2, dead=True)   # as the kernel marks it when the holder dies
        line = self.ok("locks", img).stdout.decode().splitlines()[1 + 5]
        self.assertIn("pid 4242, dead): smemctl bust frees it", line)
        self.assertIs(self.json_of("locks", "--json", img)[5]["alive"], False)

    def test_bust_refuses_a_live_host_without_force(self):
        img = self.format()
        self.register(img, 1, 4242)
        self.set_lock(img, 3, 1)
        p = self.error("bust", "--host", 1, img)
        self.assertIn("pid 4242, alive", p.stderr.decode())
        self.assertEqual(self.word(img, 3), 2, "a live host's lock is left alone")
        self.assertIn("released", self.ok("bust", "--host", 1, "--force", img).stdout.decode())
        self.assertEqual(self.word(img, 3), 0)

    def test_a_live_successor_of_a_dead_registrant_is_alive(self):
        # Host 1's registrant died; a live process now holds lock 3 as host 1.
        img = self.format()
        self.register(img, 1, 4242, alive=False)
        self.set_lock(img, 3, 1)
        line = self.ok("locks", img).stdout.decode().splitlines()[1 + 3]
        self.assertIn("alive", line)
        self.assertNotIn("bust frees it", line)
        self.error("bust", "--host", 1, img)
        self.assertEqual(self.word(img, 3), 2, "the live holder keeps its lock")

    def test_crashed_allocation_is_repaired(self):
        img = self.format("--version", 11)
        self.crash_at(img, "smem.alloc.after_publish", "--as", 1, "--item", 100, "--size", 8)
        line = self.ok("locks", img).stdout.decode().splitlines()[1 + 3]
        self.assertIn("dead): smemctl bust frees it", line)
        self.assertRegex(self.error("fsck", img).stdout.decode(), "outside the allocated heap")
        out = self.ok("fsck", "--repair", img).stdout.decode()
        self.assertIn("clean after repair", out)
        self.assertEqual(self.word(img, 3), 0, "the dead holder's lock is free")
        self.assertEqual([i["item"] for i in self.json_of("ls", "--json", img)], [100])
        self.ok("alloc", "--item", 101, "--size", 8, img)
        self.ok("fsck", img)

    def set_lock(self, img, lock, host, dead=False):
        hold(self, img, lock, host, dead)

    def word(self, img, lock):
        return u32(self.read(img + ".hwlock"), BANK_WORDS + lock * LOCK_STRIDE)

    def test_all_free_after_format(self):
        img = self.format()
        lines = self.ok("locks", img).stdout.decode().splitlines()
        self.assertEqual(len(lines), 1 + LOCK_COUNT)
        for i, line in enumerate(lines[1:]):
            self.assertRegex(line, rf"^{i}\s+free$")
        doc = self.json_of("locks", "--json", img)
        self.assertEqual(doc, [{"lock": i, "value": 0, "owner": -1, "held": False}
                               for i in range(LOCK_COUNT)])

    def test_bust_free_lock_leaves_it_free(self):
        img = self.format()
        before = self.read(img + ".hwlock")
        out = self.ok("bust", "--host", 1, img).stdout.decode()
        self.assertIn("lock 3: not held by host 1; it is free", out)
        self.assertEqual(self.read(img + ".hwlock"), before)

    def test_held_lock_is_shown(self):
        img = self.format()
        self.set_lock(img, 3, 1)
        self.set_lock(img, 31, 0)
        lines = self.ok("locks", img).stdout.decode().splitlines()
        self.assertRegex(lines[1 + 3], r"^3\s+held\s+host 1 modem \(alive\)$")
        self.assertRegex(lines[1 + 31], r"^31\s+held\s+host 0 apps \(alive\)$")
        doc = self.json_of("locks", "--json", img)
        self.assertEqual(doc[3], {"lock": 3, "value": 2, "owner": 1, "held": True, "alive": True})
        self.assertEqual(doc[31], {"lock": 31, "value": 1, "owner": 0, "held": True,
                                   "alive": True})
        self.assertEqual(sum(1 for d in doc if d["value"]), 2)

    def test_bust_releases_only_the_owners_lock(self):
        img = self.format()
        self.set_lock(img, 3, 1, dead=True)
        self.set_lock(img, 5, 1, dead=True)
        out = self.ok("bust", "--host", 1, "--lock", 3, img).stdout.decode()
        self.assertIn("lock 3: released (was held by host 1)", out)
        self.assertEqual(self.word(img, 3), 0)
        self.assertEqual(self.word(img, 5), 2, "bust released a lock it was not asked to")
        self.assertEqual(self.json_of("locks", "--json", img)[3]["owner"], -1)

    def test_bust_leaves_another_hosts_lock(self):
        img = self.format()
        self.set_lock(img, 3, 2, dead=True)
        out = self.ok("bust", "--host", 1, "--lock", 3, img).stdout.decode()
        self.assertIn("lock 3: not held by host 1; left held by host 2", out)
        self.assertEqual(self.word(img, 3), 3)
        self.assertRegex(self.ok("locks", img).stdout.decode(),
                         r"\n3\s+held\s+host 2 adsp \(dead\): smemctl bust frees it\n")
        self.ok("bust", "--host", 2, "--lock", 3, img)
        self.assertEqual(self.word(img, 3), 0)

    def test_bust_default_lock_is_3(self):
        img = self.format()
        self.set_lock(img, 3, 5, dead=True)
        self.set_lock(img, 0, 5, dead=True)
        self.ok("bust", "--host", 5, img)
        self.assertEqual(self.word(img, 3), 0)
        self.assertEqual(self.word(img, 0), 6)

    def test_bank_option_and_stride(self):
        img = self.format("--stride", 4096)
        bank = img + ".hwlock"
        self.assertTrue(bank_size_ok(os.path.getsize(bank), 4096))
        hold(self, img, 7, 9, dead=True, stride=4096)
        other = self.write_file("bank", self.read(bank))
        os.remove(bank)
        self.error("locks", img)
        doc = self.json_of("locks", "--json", "--bank", other, img)
        self.assertEqual(doc[7], {"lock": 7, "value": 10, "owner": 9, "held": True,
                                  "alive": False})
        self.ok("bust", "--host", 9, "--lock", 7, "--bank", other, img)
        self.assertEqual(u32(self.read(other), BANK_WORDS + 7 * 4096), 0)


class Messages(SmemctlTest):
    """Each error says what is wrong and names the file, and changes nothing."""

    def test_unknown_option_has_the_verb_prefix(self):
        img = self.format()
        for verb in ALL_VERBS:
            with self.subTest(verb=verb):
                p = self.usage(verb, "--bogus", img)
                self.assertIn(f"smemctl {verb}: unknown option '--bogus'", p.stderr.decode())
        p = self.usage("get", img, "--item")
        self.assertIn("smemctl get: option '--item' needs a value", p.stderr.decode())

    def test_bad_values_are_described_as_they_are(self):
        img = self.format()
        for args, says in (
                (("alloc", "--item", 600, "--hex", "zz"), "'z' is not a hex digit"),
                (("alloc", "--item", 600, "--hex", "abc"), "two hex digits per byte"),
                (("bust", "--host", 1, "--lock", "3abc"), "--lock needs a number"),
                (("bust", "--host", 1, "--lock", 40), "--lock must be from 0 to 31"),
                (("bust", "--host", "any"), "--host any names no host"),
                (("bust",), "--host is required"),
                (("get", "--item", "12x"), "--item needs a number"),
                (("alloc", "--item", 600, "--size", "1Q"), "--size needs a size")):
            with self.subTest(args=args):
                self.assertIn(says, self.usage(*args, img).stderr.decode())

    def test_leading_zero_is_decimal_in_code_and_page(self):
        img = self.format()
        self.ok("alloc", "--item", "0100", "--fill", "010", "--size", 4, img)
        self.assertEqual(self.get_raw(img, 100), b"\x0a" * 4)
        page = open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "../../man/smemctl.1")).read()
        self.assertNotIn("octal", page.replace("never octal", ""))
        self.assertIn("leading 0 is still decimal", page)

    def test_images_that_are_no_files(self):
        empty = self.write_file("empty", b"")
        for image, says in ((empty, "is empty (0 bytes)"), (self.dir, "is a directory"),
                            ("/dev/null", "is not a regular file")):
            for verb in ("info", "ls", "fsck", "alloc"):
                with self.subTest(image=image, verb=verb):
                    args = ("--item", 100, "--size", 4) if verb == "alloc" else ()
                    p = self.error(verb, *args, image)
                    self.assertIn(f"smemctl: {image}: {says}", p.stderr.decode())
        p = self.usage("format", "")
        self.assertIn("IMAGE is an empty string", p.stderr.decode())

    def test_alloc_that_does_not_fit_says_how_much_room(self):
        img = self.format("--size", "64K")
        free = self.json_of("info", "--json", img)["partitions"][0]["free"]
        p = self.error("alloc", "--item", 100, "--size", free + 8, img)
        self.assertIn(f"{free} bytes are free there", p.stderr.decode())

    def test_get_says_which_host_finds_an_item(self):
        img = self.format()
        self.ok("alloc", "--item", 500, "--size", 4, "--host", 1, img)
        p = self.error("get", "--item", 500, img)
        self.assertIn("use --host 1", p.stderr.decode())
        p = self.error("get", "--item", 500, "--as", 1, img)
        self.assertIn("use --host 0", p.stderr.decode())
        self.assertIn("is not allocated", self.error("get", "--item", 501, img).stderr.decode())


def copy_for_nobody(ctl, d):
    """A copy of smemctl that another user may run, in a directory it may enter."""
    dst = os.path.join(d, "smemctl")
    with open(ctl, "rb") as src, open(dst, "wb") as out:
        out.write(src.read())
    os.chmod(dst, 0o755)
    os.chmod(d, 0o755)
    return dst


class ReadOnly(SmemctlTest):
    """Read verbs need read access only: a read-only mount, another user."""

    def run_as_reader(self, *args):
        """Run smemctl without write access to the images: as root, as nobody."""
        ctl = copy_for_nobody(SMEMCTL, self.dir)
        cmd = [ctl, *map(str, args)]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, timeout=60)

    def test_read_verbs_work_without_write_access(self):
        img = self.format()
        q = self.path("q")
        self.ok("msgq", "create", "--depth", 4, q)
        self.ok("msgq", "send", "--string", "hi", q)
        self.ok("msgq", "create", "--item", 300, img)
        for f in (img, img + ".hwlock", q):
            os.chmod(f, 0o444)
        for args in (("locks", img), ("locks", "--json", img), ("info", img), ("ls", img),
                     ("fsck", img), ("msgq", "stat", q), ("msgq", "stat", "--item", 300, img),
                     ("get", "--item", 300, img)):
            with self.subTest(args=args):
                p = self.run_as_reader(*args)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = self.run_as_reader("msgq", "stat", "--json", q).stdout
        self.assertEqual(json.loads(out)["count"], 1)
        p = self.run_as_reader("bust", "--host", 1, img)
        self.assertEqual(p.returncode, 1, "bust needs write access and says so")
        self.assertIn("Permission denied", p.stderr.decode())

    def test_read_verbs_work_on_a_read_only_mount(self):
        if os.geteuid() != 0 or subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "true"]).returncode:
            self.skipTest("needs root and a mount namespace (CAP_SYS_ADMIN)")
        img = self.format()
        q = self.path("q")
        self.ok("msgq", "create", q)
        # A private copy of the mounts; inside a chroot "/" is no mount point, so
        # make the mount that holds the directory private instead.
        script = (f"{{ mount --make-rprivate / 2>/dev/null || "
                  f"mount --make-rprivate \"$(findmnt -n -o TARGET -T {self.dir})\"; }} && "
                  f"mount --bind -o ro {self.dir} {self.dir} && "
                  f"{SMEMCTL} locks {img} >/dev/null && {SMEMCTL} msgq stat {q} >/dev/null && "
                  f"{SMEMCTL} bust --host 1 {img} 2>&1 | grep -q 'Read-only file system'")
        p = subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-c", script],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())


class Msgq(SmemctlTest):
    def test_refused_create_leaves_no_file(self):
        q = self.path("q")
        p = self.error("msgq", "create", "--depth", 8, "--notfull", 8, q)
        self.assertIn("--notfull must be below --depth", p.stderr.decode())
        self.assertFalse(os.path.exists(q), "a refused create left a file behind")
        img = self.format()
        before = self.read(img)
        self.error("msgq", "create", "--item", 300, "--depth", 4, "--notempty", 9, img)
        self.assertEqual(self.read(img), before, "a refused create allocated the item")

    def test_errors_name_the_queue(self):
        q = self.path("q")
        self.ok("msgq", "create", "--depth", 1, "--msg-size", 8, q)
        p = self.error("msgq", "recv", q)
        self.assertIn(f"smemctl: {q}: the queue is empty", p.stderr.decode())
        p = self.error("msgq", "send", "--string", "123456789", q)
        self.assertIn(f"smemctl: {q}: the message is too big: this queue takes messages of 1 "
                      "to 8 bytes", p.stderr.decode())
        self.ok("msgq", "send", "--string", "x", q)
        self.assertIn(f"smemctl: {q}: the queue is full (1 of 1 messages)",
                      self.error("msgq", "send", "--string", "y", q).stderr.decode())
        img = self.format()
        self.ok("msgq", "create", "--item", 300, img)
        p = self.error("msgq", "create", "--item", 300, img)
        self.assertIn(f"smemctl: {img} item 300: the item exists already", p.stderr.decode())

    def test_an_item_that_is_no_queue_is_not_corrupt(self):
        img = self.format()
        self.ok("alloc", "--item", 300, "--size", 16, img)
        self.ok("alloc", "--item", 301, "--size", 4096, img)
        for item in (300, 301):
            with self.subTest(item=item):
                p = self.error("msgq", "stat", "--item", item, img)
                self.assertIn(f"smemctl: {img} item {item}: not a message queue",
                              p.stderr.decode())
                self.assertNotIn("corrupt", p.stderr.decode())

    def test_create_over_a_queue_with_messages_needs_force(self):
        q = self.path("q")
        self.ok("msgq", "create", q)
        self.ok("msgq", "create", q)  # empty: replacing it loses nothing
        self.ok("msgq", "send", "--string", "keep", q)
        before = self.read(q)
        p = self.error("msgq", "create", "--depth", 4, q)
        self.assertIn("holds 1 message", p.stderr.decode())
        self.assertEqual(self.read(q), before)
        self.ok("msgq", "create", "--depth", 4, "--force", q)
        self.assertEqual(self.json_of("msgq", "stat", "--json", q)["count"], 0)


class LiveHosts(SmemctlTest):
    """What a live, attached host must be protected from."""

    def attached_receiver(self, img):
        """A smemctl attached to img as host 0, blocked in recv on item 300."""
        self.ok("msgq", "create", "--item", 300, img)
        p = subprocess.Popen([SMEMCTL, "msgq", "recv", "--item", "300", "--wait", "60000", img],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        # Attached once its registration shows in the host table.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if p.poll() is not None:
                self.fail(f"the receiver exited: {p.stderr.read()!r}")
            if self.host_pid(img, 0) == p.pid:
                return p
            os.sched_yield()
        self.fail("the receiver never registered")

    def host_pid(self, img, host):
        e = self.read(img + ".hwlock")[host_entry_at(host):][:64]
        seq, _id, pid = struct.unpack_from("<III", e, 16)
        return pid if seq % 2 == 0 else None

    def test_format_refuses_an_attached_image(self):
        img = self.format()
        rx = self.attached_receiver(img)
        # The receiver writes its queue's words meanwhile, so compare what format
        # would reset: the items and the receiver's host-table entry.
        before = self.json_of("ls", "--json", img)
        p = self.error("format", img)
        self.assertIn("a live process has the image attached", p.stderr.decode())
        self.assertEqual(self.json_of("ls", "--json", img), before)
        self.assertEqual(self.host_pid(img, 0), rx.pid, "its host-table entry is intact")
        self.ok("msgq", "send", "--as", 1, "--item", 300, "--string", "bye", img)
        self.assertEqual(rx.wait(30), 0)
        self.ok("format", img)  # nobody attached any more

    def test_offline_heap_allocation_after_a_crash_never_overlaps(self):
        for point, size in (("smem.alloc.after_publish", 8), ("smem.alloc.after_available", 40000),
                            ("smem.alloc.after_available", 8)):
            with self.subTest(point=point, size=size):
                img = self.format("--no-hwlock", "--version", 11, "--size", "64K", name="v11")
                self.crash_at(img, point, "--item", 100, "--size", size, "--fill", 1)
                self.ok("alloc", "--item", 101, "--size", 8, "--fill", 2, img)
                items = {e["item"]: e for e in self.json_of("ls", "--json", img)}
                self.assertEqual(self.get_raw(img, 101), b"\x02" * 8)
                if 100 in items:  # published before the crash, never filled: still zero
                    self.assertEqual(self.get_raw(img, 100), b"\0" * size,
                                     "item 101 was placed over item 100")
                    self.assertNotEqual(items[100]["offset"], items[101]["offset"])
                self.fsck_clean(img)

    def test_offline_is_refused_with_a_lock_bank(self):
        img = self.format()
        os.rename(img + ".hwlock", img + ".bank")
        self.ok("alloc", "--item", 100, "--size", 8, img)  # offline: no bank
        os.rename(img + ".bank", img + ".hwlock")
        p = self.ok("alloc", "--item", 101, "--size", 8, img)  # with the bank, online
        self.assertNotIn("offline", p.stdout.decode())

    def test_msgq_create_refuses_a_queue_a_live_peer_has_attached(self):
        q = self.path("q")
        self.ok("msgq", "create", "--depth", 255, "--msg-size", 1023, q)
        rx = subprocess.Popen([SMEMCTL, "msgq", "recv", "--wait", "60000", q],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(rx.wait)
        self.addCleanup(rx.kill)
        deadline = time.monotonic() + 30
        # Attached once our own child maps the file (it takes the flock first);
        # a probe that took the flock itself could refuse the receiver.
        while time.monotonic() < deadline:
            with open(f"/proc/{rx.pid}/maps") as f:
                if q in f.read():
                    break
            self.assertIsNone(rx.poll(), rx.stderr.read() if rx.poll() is not None else "")
            os.sched_yield()
        size = os.path.getsize(q)
        p = self.error("msgq", "create", "--depth", 1, "--msg-size", 8, q)
        self.assertIn("a live process has the queue attached", p.stderr.decode())
        self.assertEqual(os.path.getsize(q), size, "the peer's queue was resized under it")
        self.ok("msgq", "send", "--string", "bye", q)
        self.assertEqual(rx.wait(30), 0)

    def test_offline_alloc_refuses_an_attached_image(self):
        img = self.format()
        rx = self.attached_receiver(img)
        os.rename(img + ".hwlock", img + ".bank")  # the receiver keeps its mapping
        before = self.json_of("ls", "--json", img)
        p = self.error("alloc", "--item", 100, "--size", 8, img)
        self.assertIn("a live process has the image attached", p.stderr.decode())
        self.assertEqual(self.json_of("ls", "--json", img), before)
        rx.kill()
        rx.wait()
        self.assertIn("offline", self.ok("alloc", "--item", 100, "--size", 8, img).stdout.decode())

    def test_format_force_formats_an_attached_image(self):
        img = self.format()
        self.attached_receiver(img)
        self.ok("format", "--force", img)
        self.assertEqual(self.json_of("ls", "--json", img), [])


class Repair(SmemctlTest):
    register = Locks.register
    set_lock = Locks.set_lock
    word = Locks.word

    def test_repair_reports_the_bust(self):
        img = self.format("--version", 11)
        self.register(img, 1, 4242, alive=False)
        self.set_lock(img, 3, 1, dead=True)
        out = self.ok("fsck", "--repair", img).stdout.decode()
        self.assertIn("repaired: busted lock 3, held by host 1", out)
        self.assertIn("clean after repair", out)
        self.set_lock(img, 3, 1, dead=True)
        doc = self.json_of("fsck", "--repair", "--json", img)
        self.assertEqual((doc["repairs"], doc["busted_host"], doc["clean"]), (1, 1, True))
        self.assertEqual(self.word(img, 3), 0)
        self.assertIn("nothing to repair", self.ok("fsck", "--repair", img).stdout.decode())

    def test_repair_reports_a_dead_holder_attached_as_the_repairing_host(self):
        img = self.format("--version", 11)
        self.crash_at(img, "smem.alloc.locked", "--as", 0, "--item", 100, "--size", 8)
        self.assertEqual(self.word(img, 3), 1, "host 0 died holding lock 3")
        out = self.ok("fsck", "--repair", "--as", 0, img).stdout.decode()
        self.assertIn("repaired: busted lock 3, held by host 0", out)
        self.assertEqual(self.word(img, 3), 0)

    def test_a_holder_not_marked_dead_is_never_busted(self):
        img = self.format()
        self.set_lock(img, 3, 7)
        p = self.error("fsck", "--repair", img)
        err = p.stderr.decode()
        self.assertIn("lock 3 stayed held for 1000 ms by host 7 tz (alive)", err)
        self.assertEqual(self.word(img, 3), 8, "a holder the kernel did not mark is never busted")


def main():
    global SMEMCTL
    if len(sys.argv) < 2:
        sys.exit("usage: test_smemctl.py PATH/TO/smemctl [unittest options]")
    SMEMCTL = os.path.abspath(sys.argv.pop(1))
    if not os.access(SMEMCTL, os.X_OK):
        sys.exit(f"{SMEMCTL} is not executable")
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
