#!/usr/bin/env python3
"""Mutation testing: each mutant is a known-wrong change to the concurrency or
validation code, applied to a copy of the tree; some test must then fail.

usage: scripts/mutants.py [--keep] [NAME...]

The tree's tracked files are copied to a scratch directory and built once
(fault points on, as the tests need), and once more under ThreadSanitizer
(fault points off, as shipped) when a chosen mutant weakens a memory order,
which only a race detector sees on x86. Each mutant replaces exactly one piece
of text in one file, is rebuilt incrementally, and runs the tests that should
kill it, with SMEMKIT_HWLOCK_NO_FALLBACK=1 and SMEMKIT_MSGQ_NO_FALLBACK=1 (a
lost wake-up hangs, and the test's own timeout fails it). A mutant whose text
is not found exactly once is an error: the code moved and the mutant must
follow it. Exit 0 when every mutant was killed.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def crit(exe, *tests):
    """A Criterion run of some tests of one suite executable."""
    return [["tests/" + exe, "--jobs", "2", "--filter", t] for t in tests]


def tsan(exe):
    """A plain test program run in the ThreadSanitizer build; a report fails it."""
    return [["@tsan", "tests/" + exe]]


# Weakened orders of the queue: each lets a receiver read a slot before the
# sender's copy into it is visible, or a sender reuse a slot a receiver still
# reads. x86 hides that from an ordinary run; ThreadSanitizer does not.
def relaxed(label, text, what):
    return (label, "lib/msgq/msgq.c", text,
            text.replace("memory_order_acquire", "memory_order_relaxed")
                .replace("memory_order_release", "memory_order_relaxed"),
            what, tsan("msgq/test-msgq-threads"))


# (name, file, text, replacement, what breaks, tests that must catch it); text may
# be a list of (text, replacement) pairs, all applied, with replacement None.
MUTANTS = [
    ("unlock-no-wake", "lib/core/robust.c",
     "\tif (cur & SMEM_ROBUST_WAITERS)\n\t\tsmem__futex_wake(w, 1);\n", "",
     "drop the wake of a sleeper at unlock",
     crit("test-hwlock", "hwlock/sleeper_gets_the_lock_after_unlock")),
    ("sleeper-no-waiters-flag", "lib/hwlock/hwlock.c",
     "!atomic_compare_exchange_strong_explicit(rw, &v, v | SMEM_ROBUST_WAITERS,",
     "!atomic_compare_exchange_strong_explicit(rw, &v, v,",
     "a sleeper that does not announce itself (WAITERS), so unlock wakes nobody",
     crit("test-hwlock", "hwlock/sleeper_gets_the_lock_after_unlock")),
    ("pending-cleared-before-wake", "lib/core/robust.c",
     "\tFAULT_POINT(\"hwlock.unlock.after_release\");",
     "\tset_pending(NULL);\n\tFAULT_POINT(\"hwlock.unlock.after_release\");",
     "let go of list_op_pending before the wake: a death in between wakes nobody",
     crit("test-hosts", "hosts/a_holder_killed_between_release_and_wake_still_wakes")),
    ("pending-never-set", "lib/core/robust.c",
     "\tprune();\n\tset_pending(t->r);", "\tprune();",
     "take without naming the word in list_op_pending first",
     crit("test-crash", "crash/taker_dying_before_its_list_is_marked")),
    ("unlock-no-label-check", "lib/hwlock/hwlock.c",
     "false, lock_word(b, id), host + 1, &old);", "false, NULL, 0, &old);",
     "skip the owner check of unlock's host",
     crit("test-hwlock", "hwlock/only_the_holder_unlocks")),
    ("unlock-no-holder-check", "lib/core/robust.c",
     [("\tif ((cur & SMEM_ROBUST_ID) != self_id || (cur & SMEM_ROBUST_DIED)) {\n"
       "\t\tunlink_at((size_t)i); /* taken from us: forget it, leave the word */\n"
       "\t\treturn -EPERM;\n\t}", ""),
      ("\treturn (cur & SMEM_ROBUST_ID) == self_id && !(cur & SMEM_ROBUST_DIED);",
       "\treturn cur || true;")],
     None,
     "unlock checks the label but not that this process still holds the word",
     crit("test-hosts", "hosts/unlock_releases_only_the_holders_lock")),
    ("prune-off", "lib/core/robust.c",
     "\treturn (cur & SMEM_ROBUST_ID) == self_id && !(cur & SMEM_ROBUST_DIED);",
     "\treturn cur || true;",
     "keep on the robust list a word a bust took away, and write its link",
     crit("test-hosts", "hosts/a_busted_lock_leaves_the_old_holders_list")),
    ("bust-policy-ignored", "lib/hwlock/hwlock.c",
     "if (bust || label == host + 1 || label == 0) {", "if (label == host + 1 || label == 0) {",
     "waiters with SMEM_HWLOCK_BUST_DEAD never take a dead holder's lock",
     crit("test-hosts", "hosts/waiter_takes_a_dead_holders_lock_only_with_the_policy")),
    ("successor-must-wait", "lib/hwlock/hwlock.c",
     "if (bust || label == host + 1 || label == 0) {", "if (bust || label == 0) {",
     "the dead host's successor is not handed its lock",
     crit("test-hosts", "hosts/a_new_registration_hands_the_dead_hosts_locks_on_to_be_repaired")),
    ("dead-label-zero-stuck", "lib/hwlock/hwlock.c",
     "if (bust || label == host + 1 || label == 0) {", "if (bust || label == host + 1) {",
     "a lock whose holder died inside unlock is nobody's to take",
     crit("test-hosts", "hosts/a_lock_whose_holder_died_inside_unlock_is_taken")),
    ("take-dead-without-policy", "lib/hwlock/hwlock.c",
     "if (bust || label == host + 1 || label == 0) {", "if (1) {",
     "every waiter takes a dead holder's lock, policy or not",
     crit("test-hosts", "hosts/waiter_takes_a_dead_holders_lock_only_with_the_policy")),
    ("proof-from-any-entry", "lib/hwlock/hosts.c",
     "if (!(v & SMEM_ROBUST_DIED) || shm_ld32(&named->id) != id)\n\t\treturn 0;",
     "(void)named;",
     "the fallback proof ignores which host the lock names",
     crit("test-hosts", "hosts/a_dead_registration_proves_only_its_own_hosts_locks")),
    ("proof-ignores-live-id", "lib/hwlock/hosts.c",
     "\t\tif ((v & SMEM_ROBUST_ID) == id && !(v & SMEM_ROBUST_DIED))\n\t\t\treturn 0;",
     "",
     "the fallback proof ignores a live registration with the same id",
     crit("test-hosts", "hosts/an_id_with_a_live_registration_is_never_proven_dead")),
    ("no-hand-on", "lib/hwlock/hosts.c",
     "\tif (v & SMEM_ROBUST_DIED)\n\t\thand_on(", "\tif (0)\n\t\thand_on(",
     "a new registration does not mark the dead registrant's unmarked locks",
     crit("test-hosts", "hosts/an_unmarked_dead_holder_is_proven_dead_by_the_table")),
    ("register-over-live", "lib/hwlock/hosts.c",
     "\t\tif (v && !(v & SMEM_ROBUST_DIED)) {", "\t\tif (0) {",
     "registration takes over a live registrant's entry",
     crit("test-hosts", "hosts/a_live_host_cannot_be_taken_and_a_dead_one_can")),
    ("alive-ignores-mark", "lib/hwlock/hosts.c",
     "\treturn !(v & SMEM_ROBUST_DIED);\n}", "\treturn 1;\n}",
     "host_alive() ignores the kernel's mark",
     crit("test-hosts", "hosts/a_live_host_cannot_be_taken_and_a_dead_one_can")),
    ("trust-proc-again", "lib/hwlock/hosts.c",
     "\treturn !(v & SMEM_ROBUST_DIED);\n}",
     "\treturn kill((pid_t)shm_ld32(&e->pid), 0) == 0 || errno == EPERM;\n}",
     "host_alive() asks the pid, as before: another namespace's pid 1 is not the holder",
     crit("test-hosts", "hosts/a_holder_in_another_pid_namespace_is_alive")),
    ("fork-child-allocates", "lib/smem/alloc.c",
     "\tif (s->registered && !smem__hwlock_host_mine(s->hwlock, s->host))\n\t\treturn -ESTALE;\n"
     "\tr = smem_hwlock_lock(",
     "\tr = smem_hwlock_lock(",
     "a forked child allocates as its parent's host",
     crit("test-hosts", "hosts/a_forked_child_is_not_its_parents_host")),
    ("close-keeps-host", "lib/smem/smem.c",
     "\tif (s->registered)\n\t\tsmem_hwlock_host_unregister", "\tif (0)\n\t\tsmem_hwlock_host_unregister",
     "smem_close() leaves the host id taken",
     crit("test-hosts", "hosts/a_closed_host_id_is_free_again")),
    ("bank-no-magic-check", "lib/hwlock/hwlock.c",
     "\tif (memcmp(hd->magic, SMEM_BANK_MAGIC, sizeof(hd->magic)) != 0)\n",
     "\tif (0)\n",
     "open a bank without its header's magic (half made, reset, erased)",
     crit("test-hwlock", "hwlock/a_bank_must_describe_itself")),
    ("bank-offset-unchecked", "lib/hwlock/hwlock.c",
     "\t    shm_ld32(&hd->journal) != l.journal || shm_ld32(&hd->hosts) != l.hosts ||\n",
     "\t    shm_ld32(&hd->journal) != l.journal ||\n",
     "a header's host-table offset is not checked against its stride's layout",
     crit("test-hwlock", "hwlock/a_bank_must_describe_itself")),
    ("bank-size-unchecked", "lib/hwlock/hwlock.c",
     "\tif (size != l.size)\n\t\treturn \"a lock bank whose size", "\tif (0)\n\t\treturn \"a lock bank whose size",
     "a bank larger than its header says is opened",
     crit("test-hwlock", "hwlock/a_bank_must_describe_itself")),
    relaxed("recv-seq-relaxed",
            "/* A1: the payload and length are complete; pairs with S1 in smem_msgq_send(). */\n"
            "\t\tif (atomic_load_explicit(&s->seq, memory_order_acquire)",
            "A1 relaxed: one receiver reads a slot before its payload is visible"),
    relaxed("claim-seq-relaxed",
            "/* A1: as above; pairs with S1. */\n"
            "\t\t\tif (atomic_load_explicit(&s->seq, memory_order_acquire)",
            "A1 relaxed: receiving threads read a slot before its payload is visible"),
    relaxed("publish-relaxed",
            "atomic_store_explicit(&s->seq, p + 1, memory_order_release);",
            "S1 relaxed: the slot is published before its payload"),
    relaxed("head-store-relaxed",
            "atomic_store_explicit(&m->rx.head, h + 1, memory_order_release);",
            "R1 relaxed: one receiver frees a slot before it has copied out of it"),
    relaxed("completion-relaxed",
            "uint64_t t = atomic_fetch_add_explicit(&m->rx.head, (uint64_t)1 << 32,\n"
            "\t\t\t\t\t\t       memory_order_release);",
            "R2 relaxed: receiving threads free slots before they have copied out of them"),
    relaxed("head-load-relaxed",
            "return pos_of(atomic_load_explicit(&q->shm->rx.head, memory_order_acquire));",
            "A2 relaxed: the sender reuses a slot before the receiver's copy-out is done"),
    relaxed("head-cache-relaxed",
            "uint32_t h = atomic_load_explicit(&q->head_cache, memory_order_acquire);",
            "H1 relaxed: a sending thread reuses a slot on another thread's view of head"),
    ("v01-skipped", "lib/smem/image.c",
     "\tif (initialized != 1 || reserved != 0) {", "\tif (0) {",
     "V1: an uninitialized header is attached",
     crit("test-validate", "validate/v01_header_not_initialized")),
    ("v07-skipped", "lib/smem/image.c",
     "\tif (cl && (!is_pow2(cl) || cl < 16 || cl > SMEM_MAX_CACHELINE)) {", "\tif (0) {",
     "V7: a cacheline that is not a power of two from 16 to 4096",
     crit("test-validate", "validate/v07_cacheline_must_be_a_power_of_two")),
    ("v10-canary-skipped", "lib/smem/image.h",
     "\tif (canary != SMEM_PRIVATE_CANARY) {", "\tif (0) {",
     "V10: an entry with a bad canary is walked",
     crit("test-validate", "validate/v10_canary")),
]


def copy_tree(dst):
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], check=True,
                           capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        src = os.path.join(ROOT, f.decode())
        out = os.path.join(dst, f.decode())
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), out)
        elif os.path.isfile(src):
            shutil.copy2(src, out)


def main():
    keep = "--keep" in sys.argv
    names = [a for a in sys.argv[1:] if not a.startswith("--")]
    chosen = [m for m in MUTANTS if not names or m[0] in names]
    if names and len(chosen) != len(names):
        sys.exit(f"mutants.py: unknown mutant among {names}")
    work = tempfile.mkdtemp(prefix="smemkit-mutants-")
    tree = os.path.join(work, "tree")
    copy_tree(tree)
    builds = {"": os.path.join(work, "build")}
    setups = {"": ["-Dfault_points=true", "-Dbench=false"]}
    if any(cmd[0] == "@tsan" for m in chosen for cmd in m[5]):
        builds["@tsan"] = os.path.join(work, "build-tsan")
        setups["@tsan"] = ["-Db_sanitize=thread", "-Db_lundef=false", "-Dfault_points=false",
                           "-Dbench=false"]
    for kind, build in builds.items():
        subprocess.run(["meson", "setup", build, tree] + setups[kind], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["ninja", "-C", build], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SMEMKIT_HWLOCK_NO_FALLBACK="1", SMEMKIT_MSGQ_NO_FALLBACK="1",
               TSAN_OPTIONS="halt_on_error=1:exitcode=66")
    survived, broken = [], []
    print(f"{'mutant':30} {'result':8} {'secs':>5}  what / killed by")
    for name, path, text, repl, what, tests in chosen:
        src = os.path.join(tree, path)
        orig = open(src).read()
        edits = text if isinstance(text, list) else [(text, repl)]
        mutated = orig
        for old, new in edits:
            if mutated.count(old) != 1:
                break
            mutated = mutated.replace(old, new)
        else:
            old = None
        if old is not None:
            broken.append(name)
            print(f"{name:30} {'NO MATCH':8} {'':>5}  {path}: the text is found "
                  f"{mutated.count(old)} times")
            continue
        open(src, "w").write(mutated)
        t0 = time.monotonic()
        try:
            kinds = {cmd[0] if cmd[0] == "@tsan" else "" for cmd in tests}
            b = None
            for kind in kinds:
                b = subprocess.run(["ninja", "-C", builds[kind]], capture_output=True)
                if b.returncode != 0:
                    break
            if b.returncode != 0:
                broken.append(name)
                print(f"{name:30} {'NO BUILD':8} {'':>5}  {b.stdout.decode()[-400:]}")
                continue
            killer = None
            for cmd in tests:
                kind = cmd[0] if cmd[0] == "@tsan" else ""
                argv = cmd[1:] if kind else cmd
                r = subprocess.run(argv, cwd=builds[kind], env=env, capture_output=True,
                                   timeout=300)
                if r.returncode != 0:
                    killer = ("ThreadSanitizer in " if kind else "") + argv[-1]
                    break
        except subprocess.TimeoutExpired:
            killer = "a hang (300 s)"
        finally:
            open(src, "w").write(orig)
        secs = time.monotonic() - t0
        if killer:
            print(f"{name:30} {'killed':8} {secs:5.1f}  {what}; by {killer}")
        else:
            survived.append(name)
            print(f"{name:30} {'SURVIVED':8} {secs:5.1f}  {what}")
    for build in builds.values():
        subprocess.run(["ninja", "-C", build], stdout=subprocess.DEVNULL)
    if not keep:
        shutil.rmtree(work)
    print(f"{len(chosen) - len(survived) - len(broken)} killed, {len(survived)} survived, "
          f"{len(broken)} broken")
    sys.exit(1 if survived or broken else 0)


if __name__ == "__main__":
    main()
