#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of smemctl top against a real smemd.

Usage: test_top.py plain|tmux SMEMCTL SMEMD RM_TRAFFIC

Each test starts its own smemd on a socket in a fresh temporary directory and
waits for its sd_notify readiness (a datagram on NOTIFY_SOCKET), and a host,
rm-traffic, that sends on a queue when told to and says when it has. "plain"
runs smemctl top with its output in a pipe (JSON, --iterations, errors);
"tmux" runs it in a real terminal, a detached tmux session of a server of the
test's own, and reads the screen with capture-pane until it shows what is
expected or a deadline passes. It exits 77 (skipped) if tmux is not installed.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SMEMCTL = SMEMD = RM_TRAFFIC = None
DEADLINE_S = 30
SKIP = 77

# A queue row of smemctl top: slot, route, label, depth, count, sent, received, rate, full, state.
ROW = (r"^\s*\d+\s+{route}\s+42\s+255\s+{count}\s+{sent}\s+0\s+(?P<rate>\S+)\s+0\s+"
       r"(?P<state>open|closed)\s*$")


def row(route, sent, count=None):
    return re.compile(ROW.format(route=re.escape(route), sent=sent,
                                 count=sent if count is None else count), re.M)


class Smemd:
    """smemd on a socket of its own, ready once it said READY=1."""

    def __init__(self, d):
        self.sock = os.path.join(d, "rm.sock")
        note = os.path.join(d, "notify")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(note)
        ns.settimeout(DEADLINE_S)
        self.log = open(os.path.join(d, "smemd.log"), "wb")
        self.proc = subprocess.Popen([SMEMD, "--socket", self.sock],
                                     env=dict(os.environ, NOTIFY_SOCKET=note),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            # What smemd stores (FDSTORE=1) comes first; the fds are dropped.
            said = ""
            while "READY=1" not in said:
                said = ns.recv(256).decode()
        finally:
            ns.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE_S)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(DEADLINE_S)
        self.log.close()


class Traffic:
    """rm-traffic: the modem, holding lock 7, with a pair of queues with apps under label 42."""

    def __init__(self, sock):
        self.proc = subprocess.Popen([RM_TRAFFIC, sock], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.expect("ready")

    def expect(self, line):
        got = self.proc.stdout.readline().strip()
        if got != line:
            raise AssertionError(f"rm-traffic said {got!r}, not {line!r} "
                                 f"(status {self.proc.poll()})")

    def send(self, n, total):
        self.proc.stdin.write(f"send {n}\n")
        self.expect(f"sent {total}")

    def exit_vm(self):
        self.proc.stdin.write("exit\n")
        self.expect("exited")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(DEADLINE_S)
        self.proc.stdout.close()


class TopTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="smemctl-top-")
        self.addCleanup(tmp.cleanup)  # last: after everything that uses it stopped
        self.dir = tmp.name
        self.smemd = Smemd(self.dir)
        self.addCleanup(self.smemd.stop)
        self.traffic = Traffic(self.smemd.sock)
        self.addCleanup(self.traffic.close)

    def top(self, *args, timeout=DEADLINE_S):
        return subprocess.run([SMEMCTL, "top", "--socket", self.smemd.sock, *map(str, args)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)


class Plain(TopTest):
    """smemctl top with a pipe for its output: for scripts."""

    def test_json_is_one_snapshot(self):
        self.traffic.send(10, 10)
        p = self.top("--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual((doc["hosts"], doc["running"]), (4, 1), "apps, modem, adsp, cdsp")
        q = {(e["from_name"], e["to_name"]): e for e in doc["queues"]}
        self.assertEqual(set(q), {("modem", "apps"), ("apps", "modem")})
        sent = q["modem", "apps"]
        self.assertEqual((sent["label"], sent["depth"], sent["max_msg_size"]), (42, 255, 32))
        self.assertEqual((sent["sent"], sent["count"], sent["received"]), (10, 10, 0))
        self.assertIs(sent["closed"], False)
        self.assertEqual(q["apps", "modem"]["sent"], 0)
        self.assertEqual(len(doc["locks"]), 32)
        for lock in doc["locks"]:
            if lock["lock"] == 7:
                self.assertEqual((lock["value"], lock["owner"], lock["owner_name"]),
                                 (2, 1, "modem"))
            else:
                self.assertEqual((lock["value"], lock["owner"]), (0, -1), lock)

    def test_iterations_end_it_and_a_pipe_gets_no_escapes(self):
        self.traffic.send(3, 3)
        p = self.top("--iterations", 3, "--interval", 10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("FROM -> TO"), 3, "three refreshes, then the end")
        self.assertNotIn("\033", p.stdout, "a pipe is no terminal")
        self.assertRegex(p.stdout, row("modem -> apps", 3))
        self.assertRegex(p.stdout, r"(?m)^\s+7\s+modem \(1\)$")
        self.assertRegex(p.stdout, r"(?m)^\s+3\s+free$")
        rates = [m.group("rate") for m in row("modem -> apps", 3).finditer(p.stdout)]
        self.assertEqual(rates[0], "-", "no rate before a second refresh")
        self.assertEqual(rates[1:], ["0.0", "0.0"], "nothing was sent between the refreshes")

    def test_an_exited_host_shows_its_queues_closed(self):
        self.traffic.send(4, 4)
        self.traffic.exit_vm()
        p = self.top("--iterations", 1)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = row("modem -> apps", 4).search(p.stdout)
        self.assertTrue(m, p.stdout)
        self.assertEqual(m.group("state"), "closed")

    def test_smemd_going_away_is_an_error_not_a_crash(self):
        top = subprocess.Popen([SMEMCTL, "top", "--socket", self.smemd.sock, "--interval", "20"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(top.wait, DEADLINE_S)
        self.addCleanup(top.kill)
        # The first frame is out once its lock table is.
        for line in top.stdout:
            if re.match(r"^\s+31\s+free$", line):
                break
        self.smemd.kill()
        self.assertEqual(top.wait(DEADLINE_S), 1)
        err = top.stderr.read()
        self.assertIn("smemd went away", err)
        self.assertIn(self.smemd.sock, err)

    def test_sigterm_ends_it_cleanly(self):
        top = subprocess.Popen([SMEMCTL, "top", "--socket", self.smemd.sock, "--interval", "20"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(top.wait, DEADLINE_S)
        self.addCleanup(top.kill)
        self.assertIn("smemd", top.stdout.readline())
        top.send_signal(signal.SIGTERM)
        self.assertEqual(top.wait(DEADLINE_S), 0, top.stderr.read())

    def test_no_smemd(self):
        p = subprocess.run([SMEMCTL, "top", "--socket", os.path.join(self.dir, "none.sock")],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=DEADLINE_S)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is smemd running?", p.stderr)

    def test_usage(self):
        for args in (("--interval", 5), ("--interval", "x"), ("--iterations", 0),
                     ("--iterations", "-1"), ("an-image",), ("--frobnicate",)):
            with self.subTest(args=args):
                p = self.top(*args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn("smemctl top", p.stderr)
        p = self.top("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: smemctl top", p.stdout)
        self.assertRegex(subprocess.run([SMEMCTL, "--help"], capture_output=True, text=True,
                                        timeout=DEADLINE_S).stdout, r"(?m)^\s+top\s")


class Tmux(TopTest):
    """smemctl top in a terminal: tmux, a server of the test's own, 160 columns by 50 lines."""

    def setUp(self):
        super().setUp()
        self.tmux_sock = os.path.join(self.dir, "tmux.sock")
        self.env = dict(os.environ, TERM=os.environ.get("TERM") or "xterm")
        self.addCleanup(self.tmux_quietly, "kill-server")

    def tmux(self, *args):
        p = subprocess.run(["tmux", "-S", self.tmux_sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, env=self.env, timeout=DEADLINE_S)
        self.assertEqual(p.returncode, 0, f"tmux {' '.join(args)}: {p.stderr}")
        return p.stdout

    def tmux_quietly(self, *args):
        subprocess.run(["tmux", "-S", self.tmux_sock, *args], capture_output=True,
                       env=self.env, timeout=DEADLINE_S)

    def start_top(self):
        """
        smemctl top in a shell that shows its exit status and then waits, so
        that the terminal can be looked at as top left it. (The shell's own
        status is not used: tmux 3.3 now and then never reaps a pane's process.)
        """
        before, after = os.path.join(self.dir, "stty.before"), os.path.join(self.dir, "stty.after")
        top = " ".join(map(shlex.quote, [SMEMCTL, "top", "--socket", self.smemd.sock,
                                         "--interval", "100"]))
        # Ctrl-C goes to the shell too: a trap (not an ignore, which top would inherit)
        # keeps it alive to report.
        script = (f"trap : INT; echo BEFORE-TOP; stty -g > {shlex.quote(before)}; {top}; rc=$?; "
                  f"stty -g > {shlex.quote(after)}; echo TOP-EXIT $rc; read x")
        self.tmux("new-session", "-d", "-s", "top", "-x", "160", "-y", "50",
                  "sh -c " + shlex.quote(script))
        return before, after

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top")

    def pane(self, fmt):
        return self.tmux("display-message", "-p", "-t", "top", fmt).strip()

    def wait_screen(self, what, pattern):
        """The screen once pattern matches it; fails at the deadline, showing the last one."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            text = self.screen()
            m = re.search(pattern, text)
            if m:
                return m
            if time.monotonic() > deadline:
                self.fail(f"the terminal never showed {what}:\n{text}")
            os.sched_yield()

    def ended(self, before, after, status):
        """top exited with status, and the terminal is as it was before it."""
        m = self.wait_screen("top's end", r"TOP-EXIT (\d+)")
        text = self.screen()
        self.assertEqual(int(m.group(1)), status, text)
        self.assertEqual(self.pane("#{alternate_on}"), "0", "back on the shell's own screen")
        self.assertEqual(self.pane("#{cursor_flag}"), "1", "the cursor is shown again")
        self.assertIn("BEFORE-TOP", text, "what was on the screen before is back")
        self.assertNotIn("FROM -> TO", text, "top's frames are gone with its screen")
        with open(before) as b, open(after) as a:
            self.assertEqual(a.read(), b.read(), "the terminal's modes (stty -g) are restored")
        return text

    def test_live_counters_and_q(self):
        self.traffic.send(10, 10)
        before, after = self.start_top()
        m = self.wait_screen("the queue's ten messages", row("modem -> apps", 10))
        self.assertEqual(m.group("state"), "open")
        text = self.screen()
        self.assertRegex(text, r"smemd \d\d:\d\d:\d\d  4 hosts, 1 running  2 queues")
        self.assertRegex(text, r"\b7  modem \(1\)", "lock 7 and its holder")
        self.assertRegex(text, r"\b3  free\b")
        self.assertEqual(self.pane("#{alternate_on}"), "1", "drawn on the alternate screen")
        # Sent while top runs: the next refreshes show it.
        self.traffic.send(5, 15)
        self.wait_screen("the five more", row("modem -> apps", 15))
        self.tmux("send-keys", "-t", "top", "q")
        self.ended(before, after, 0)

    def test_ctrl_c_quits_cleanly(self):
        before, after = self.start_top()
        self.wait_screen("the queue", row("modem -> apps", 0))
        self.tmux("send-keys", "-t", "top", "C-c")
        self.ended(before, after, 0)

    def wait_pane(self, what, fmt, value):
        deadline = time.monotonic() + DEADLINE_S
        while self.pane(fmt) != value:
            self.assertLess(time.monotonic(), deadline, f"never {what}: {fmt} is not {value}")
            os.sched_yield()

    def test_ctrl_z_gives_the_terminal_back_until_continued(self):
        before, after = self.start_top()
        self.wait_screen("the queue", row("modem -> apps", 0))
        self.tmux("send-keys", "-t", "top", "C-z")
        self.wait_pane("back on the shell's screen", "#{alternate_on}", "0")
        self.assertEqual(self.pane("#{cursor_flag}"), "1")
        self.assertIn("BEFORE-TOP", self.screen())
        # The shell without job control stopped with it: both go on.
        os.killpg(int(self.pane("#{pane_pid}")), signal.SIGCONT)
        self.wait_pane("on top's screen again", "#{alternate_on}", "1")
        self.traffic.send(7, 7)
        self.wait_screen("the seven", row("modem -> apps", 7))
        self.tmux("send-keys", "-t", "top", "q")
        self.ended(before, after, 0)

    def test_smemd_going_away_gives_the_terminal_back_and_says_so(self):
        before, after = self.start_top()
        self.wait_screen("the queue", row("modem -> apps", 0))
        self.smemd.kill()
        text = self.ended(before, after, 1)
        self.assertIn("smemctl: top: smemd went away", text, "on the shell's screen, not top's")


def main():
    global SMEMCTL, SMEMD, RM_TRAFFIC
    if len(sys.argv) < 5 or sys.argv[1] not in ("plain", "tmux"):
        sys.exit("usage: test_top.py plain|tmux SMEMCTL SMEMD RM_TRAFFIC")
    mode = sys.argv.pop(1)
    SMEMCTL, SMEMD, RM_TRAFFIC = (os.path.abspath(sys.argv.pop(1)) for _ in range(3))
    if mode == "tmux" and not shutil.which("tmux"):
        print("tmux is not installed: skipped")
        sys.exit(SKIP)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Plain if mode == "plain" else Tmux)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
