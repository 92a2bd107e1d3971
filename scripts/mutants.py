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
    # V2-V18 (V1, V7 and V10 are above). Each disables or weakens one check of
    # docs/FORMAT.md's table; where a rule makes several distinct checks (attach
    # and walk, or one clause per bound), each has its own mutant.
    ("v02-any-version", "lib/smem/image.c",
     "\tif (ret->version != SMEM_GLOBAL_HEAP_VERSION && ret->version != SMEM_GLOBAL_PART_VERSION) {",
     "\tif (0) {",
     "V2: a header of an unknown version is attached",
     crit("test-validate", "validate/v02_unknown_version")),
    ("v03-ptable-version-skipped", "lib/smem/image.c",
     "\tif (version != SMEM_PTABLE_VERSION) {", "\tif (0) {",
     "V3: a partition table of an unknown version is read",
     crit("test-validate", "validate/v03_too_many_ptable_entries")),
    ("v03-entries-unbounded", "lib/smem/image.c",
     "\tif (n > SMEM_PTABLE_MAX_ENTRIES) {", "\tif (0) {",
     "V3: entries past the 4 KiB table are read",
     crit("test-validate", "validate/v03_too_many_ptable_entries")),
    ("v04-below-start", "lib/smem/image.c",
     "\t\tif (off < lo || end > hi ||", "\t\tif (end > hi ||",
     "V4: a partition inside the SMEM header is attached",
     crit("test-validate", "validate/v04_partition_inside_the_header")),
    ("v04-v11-heap-ignored", "lib/smem/image.c",
     "\tuint64_t lo = h->version == SMEM_GLOBAL_HEAP_VERSION ? h->heap_end\n"
     "\t\t\t\t\t\t\t     : sizeof(struct smem_header);",
     "\tuint64_t lo = sizeof(struct smem_header);",
     "V4: a version-11 partition inside the global heap is attached",
     crit("test-validate", "validate/v04_v11_partition_inside_the_heap")),
    ("v04-past-table", "lib/smem/image.c",
     "\t\tif (off < lo || end > hi ||", "\t\tif (off < lo ||",
     "V4: a partition over the partition table is attached",
     crit("test-validate", "validate/v04_partition_over_the_table")),
    ("v04-offset-misaligned", "lib/smem/image.c",
     "|| off % 8 || pt->e[i].size % 8) {", "|| pt->e[i].size % 8) {",
     "V4: a partition at an offset not 8-byte aligned is attached",
     crit("test-validate", "validate/v04_partition_misaligned")),
    ("v04-size-misaligned", "lib/smem/image.c",
     "|| off % 8 || pt->e[i].size % 8) {", "|| off % 8) {",
     "V4: a partition whose size is not a multiple of 8 is attached",
     crit("test-validate", "validate/v04_partition_misaligned")),
    ("v04-overlap", "lib/smem/image.c",
     "(!bad || !bad[j]) && off < e2 && o2 < end) {", "(!bad || !bad[j]) && 0) {",
     "V4: overlapping partitions are attached",
     crit("test-validate", "validate/v04_partitions_overlap")),
    ("v05-magic-unchecked", "lib/smem/image.c",
     "\t    memcmp(p, SMEM_PART_MAGIC, 4) != 0) {", "\t    0) {",
     "V5: a partition without \"$PRT\" is attached",
     crit("test-validate", "validate/v05_partition_header_disagrees_with_table")),
    ("v05-hosts-unchecked", "lib/smem/image.c",
     "\tif ((hosts & 0xffff) != pt->e[i].host0 || (hosts >> 16) != pt->e[i].host1) {",
     "\tif (0) {",
     "V5: a partition header naming other hosts than its table entry is attached",
     crit("test-validate", "validate/v05_partition_header_disagrees_with_table")),
    ("v05-size-unchecked", "lib/smem/image.c",
     "\tif (size != pt->e[i].size) {", "\tif (0) {",
     "V5: a partition header of another size than its table entry is attached",
     crit("test-validate", "validate/v05_partition_header_disagrees_with_table")),
    ("v05-uncached-past-size", "lib/smem/image.c",
     "\tif (uncached > size) {", "\tif (0) {",
     "V5: offset_free_uncached past the partition's end is attached",
     crit("test-validate", "validate/v05_partition_header_disagrees_with_table")),
    ("v05-size-not-rechecked", "lib/smem/image.h",
     "\tif (size != part->size) {", "\tif (0) {",
     "V5: a walk trusts a partition size changed since attach, and reads the next partition",
     crit("test-validate", "validate/v05_partition_size_rechecked_on_every_walk")),
    ("v06-uncached-in-header", "lib/smem/image.h",
     "\tif (uncached < sizeof(struct smem_partition_header) || uncached > cached ||",
     "\tif (uncached > cached ||",
     "V6: offset_free_uncached inside the partition header is walked",
     crit("test-validate", "validate/v06_free_offsets_rechecked_on_every_walk")),
    ("v06-cached-past-size", "lib/smem/image.h",
     "uncached > cached || cached > size ||\n", "uncached > cached ||\n",
     "V6: offset_free_cached past the partition's end is walked",
     crit("test-validate", "validate/v06_free_offsets_rechecked_on_every_walk")),
    ("v06-uncached-misaligned", "lib/smem/image.h",
     "\t    uncached % 4 || cached % 4) {", "\t    cached % 4) {",
     "V6: an offset_free_uncached not 4-byte aligned is walked",
     crit("test-validate", "validate/v06_free_offsets_must_be_aligned")),
    ("v06-cached-misaligned", "lib/smem/image.h",
     "\t    uncached % 4 || cached % 4) {", "\t    uncached % 4) {",
     "V6: an offset_free_cached not 4-byte aligned is walked",
     crit("test-validate", "validate/v06_free_offsets_must_be_aligned")),
    ("v07-cacheline0-at-attach", "lib/smem/image.c",
     "\tif (!smem__cached_slot_fits(size, slot, cached)) {",
     "\tif (slot && !smem__cached_slot_fits(size, slot, cached)) {",
     "V7: a cached list without a cacheline is attached",
     crit("test-validate", "validate/v07_cacheline_must_be_a_power_of_two")),
    # The walk checks cacheline 0 twice (its own test, and the slot check that
    # needs a slot): only without both is such a list walked.
    ("v07-cacheline0-on-walk", "lib/smem/image.h",
     [("\tif (!part->slot && cached != size) {", "\tif (0) {"),
      ("\tif (!smem__cached_slot_fits(size, part->slot, cached)) {",
       "\tif (part->slot && !smem__cached_slot_fits(size, part->slot, cached)) {")],
     None,
     "V7: a cached list without a cacheline, made so after attach, is walked",
     crit("test-validate", "validate/v07_cacheline_must_be_a_power_of_two")),
    ("v07-slot-at-attach", "lib/smem/image.c",
     "\tif (!smem__cached_slot_fits(size, slot, cached)) {",
     "\tif (!slot && !smem__cached_slot_fits(size, slot, cached)) {",
     "V7: a cached list whose header slot does not fit is attached",
     crit("test-validate", "validate/v07_cacheline_slot_must_fit_in_its_partition",
          "validate/v07_cached_slot_must_clear_the_partition_header")),
    ("v07-slot-on-walk", "lib/smem/image.h",
     "\tif (!smem__cached_slot_fits(size, part->slot, cached)) {", "\tif (0) {",
     "V7: a cached list whose header slot does not fit, made so after attach, is walked",
     crit("test-validate", "validate/v07_cacheline_slot_must_fit_in_its_partition")),
    ("v07-slot-wraps", "lib/smem/image.h",
     "\treturn slot && slot <= size && size - slot >= cached &&",
     "\treturn slot && size - slot >= cached &&",
     "V7: a header slot larger than its partition wraps below it",
     crit("test-validate", "validate/v07_cacheline_slot_must_fit_in_its_partition")),
    ("v07-slot-below-list", "lib/smem/image.h",
     "slot <= size && size - slot >= cached &&\n", "slot <= size &&\n",
     "V7: a cached list that does not hold its topmost header slot",
     crit("test-validate", "validate/v07_cached_list_must_hold_its_top_slot")),
    ("v07-slot-over-header", "lib/smem/image.h",
     " &&\n\t       size - slot >= sizeof(struct smem_partition_header);", ";",
     "V7: a cached list whose only header slot is the partition header",
     crit("test-validate", "validate/v07_cached_slot_must_clear_the_partition_header")),
    ("v08-header-past-list", "lib/smem/image.h",
     "if (w->pos + sizeof(struct smem_private_entry) > w->uncached || w->pos % 4)",
     "if (w->pos % 4)",
     "V8: an entry header that crosses the end of the uncached list is read",
     crit("test-validate", "validate/v08_header_straddling_the_list_end")),
    ("v08-uncached-misaligned", "lib/smem/image.h",
     "> w->uncached || w->pos % 4)", "> w->uncached)",
     "V8: a misaligned uncached entry header is read",
     crit("test-validate", "validate/v08_entry_headers_must_be_aligned")),
    ("v08-cached-misaligned", "lib/smem/image.h",
     "\t\tif (w->pos % 4)\n\t\t\tgoto bad_hdr;", "\t\tif (0)\n\t\t\tgoto bad_hdr;",
     "V8: a misaligned cached entry header is read",
     crit("test-validate", "validate/v08_entry_headers_must_be_aligned")),
    ("v09-cached-step-stays", "lib/smem/image.h",
     "\tw->pos = data >= w->slot ? data - w->slot : 0;", "\tw->pos = data;",
     "V9: a cached step of an empty entry stays put, and the walk never ends",
     crit("test-validate", "validate/v09_walks_always_progress")),
    ("v09-uncached-step-stays", "lib/smem/image.h",
     "\t\tw->pos = data + sz; /* V9: at least 16 bytes on */", "\t\tw->pos += sz;",
     "V9: an uncached step forgets the header, and stays put over an empty entry",
     crit("test-validate", "validate/v09_empty_uncached_entries_are_stepped_over")),
    # V10's sz > partition size is implied by the list bounds below (each list
    # lies inside the partition): dropping it changes no result or message.
    ("v10-padding-unchecked", "lib/smem/image.h",
     "\tif (padding_data > sz || sz > w->size)\n", "\tif (sz > w->size)\n",
     "V10: padding_data larger than the entry's size",
     crit("test-validate", "validate/v10_entry_sizes")),
    ("v10-uncached-past-list", "lib/smem/image.h",
     "\t\tif (data + sz > w->uncached)\n\t\t\tgoto bad_size;",
     "\t\tif (0)\n\t\t\tgoto bad_size;",
     "V10: uncached data that runs past offset_free_uncached",
     crit("test-validate", "validate/v10_entry_sizes")),
    ("v10-cached-below-list", "lib/smem/image.h",
     "\tif (sz > w->pos - w->cached)\n\t\tgoto bad_size;", "\tif (0)\n\t\tgoto bad_size;",
     "V10: cached data that reaches below offset_free_cached",
     crit("test-validate", "validate/v10_entry_sizes")),
    ("v11-siii-unchecked", "lib/smem/smem.c",
     "\t\t\tif (pt.info_num_items <= SMEM_ITEM_LAST_FIXED) {", "\t\t\tif (0) {",
     "V11: an SIII item count of 8 or less is attached",
     crit("test-validate", "validate/v11_item_count")),
    ("v11-fsck-siii-unchecked", "lib/smem/check.c",
     "\t\tif (pt.info_num_items <= SMEM_ITEM_LAST_FIXED)\n\t\t\tsmem__diag",
     "\t\tif (0)\n\t\t\tsmem__diag",
     "V11: the fsck takes an SIII item count of 8 or less",
     crit("test-validate", "validate/v11_item_count")),
    ("v11-lookup-item-unbounded", "lib/smem/smem.c",
     "if (!s || !ret_ptr || item >= s->item_count)", "if (!s || !ret_ptr)",
     "V11: a lookup of an item at or above the item count",
     crit("test-validate", "validate/v11_item_count")),
    ("v11-alloc-item-unbounded", "lib/smem/alloc.c",
     "if (item < SMEM_ITEM_LAST_FIXED || item >= s->item_count)",
     "if (item < SMEM_ITEM_LAST_FIXED)",
     "V11: an allocation of an item at or above the item count",
     crit("test-validate", "validate/v11_item_count")),
    ("v12-lookup-past-heap", "lib/smem/smem.c",
     "\t/* V12 */\n\tif ((uint64_t)t.offset + t.size > s->heap_limit)\n\t\treturn -EBADMSG;\n", "",
     "V12: a lookup returns a global-heap entry past the heap",
     crit("test-validate", "validate/v12_global_entry_outside_the_heap")),
    ("v12-lookup-32bit-sum", "lib/smem/smem.c",
     "\tif ((uint64_t)t.offset + t.size > s->heap_limit)\n\t\treturn -EBADMSG;",
     "\tif (t.offset + t.size > s->heap_limit)\n\t\treturn -EBADMSG;",
     "V12: offset + size of a global-heap entry wraps in 32 bits",
     crit("test-validate", "validate/v12_global_entry_outside_the_heap")),
    ("v12-pointer-past-region", "lib/smem/smem.c",
     "\tif (off >= s->size)\n\t\treturn -EBADMSG;", "\tif (0)\n\t\treturn -EBADMSG;",
     "V12: a lookup returns a pointer one past the region",
     crit("test-validate", "validate/v12_no_pointer_at_the_region_end")),
    ("v12-listing-past-heap", "lib/smem/smem.c",
     "if (!t.aux_base && (uint64_t)t.offset + t.size > s->heap_limit)", "if (0)",
     "V12: the listing reports a global-heap entry past the heap",
     crit("test-validate", "validate/v12_foreach_refuses_entries_outside_the_heap")),
    ("v12-fsck-past-heap", "lib/smem/check.c",
     "\t\tif ((uint64_t)t.offset + t.size > h->heap_end) {", "\t\tif (0) {",
     "V12: the fsck passes a bootloader item past the heap",
     crit("test-validate", "validate/v12_fsck_checks_every_heap_entry")),
    ("v12-fsck-region-end", "lib/smem/check.c",
     "\t\tif (t.offset >= size) {", "\t\tif (0) {",
     "V12: the fsck passes a bootloader item of size 0 at the region's end",
     crit("test-validate", "validate/v12_fsck_checks_every_heap_entry")),
    ("v12-fsck-past-free-offset", "lib/smem/check.c",
     " ||\n\t\t    (uint64_t)t.offset + t.size > h->free_offset)", ")",
     "V12: the fsck passes an entry past free_offset",
     crit("test-validate", "validate/v12_fsck_checks_every_heap_entry")),
    ("v13-free-space-underflow", "lib/smem/image.h",
     "uncached > cached || cached > size", "cached > size",
     "V13: free space with offset_free_cached below offset_free_uncached wraps",
     crit("test-validate", "validate/v13_free_space_underflow")),
    ("v14-heap-past-region", "lib/smem/image.c",
     "\t    (ret->heap_end > size || ret->free_offset < sizeof(struct smem_header) ||",
     "\t    (ret->free_offset < sizeof(struct smem_header) ||",
     "V14: a global heap larger than the region is attached",
     crit("test-validate", "validate/v14_heap_larger_than_the_region")),
    ("v14-32bit-sum", "lib/smem/image.c",
     "ret->heap_end = (uint64_t)ret->free_offset + ret->available;",
     "ret->heap_end = ret->free_offset + ret->available;",
     "V14: free_offset + available wraps in 32 bits",
     crit("test-validate", "validate/v14_heap_larger_than_the_region")),
    ("v14-free-offset-in-header", "lib/smem/image.c",
     " || ret->free_offset < sizeof(struct smem_header) ||", " ||",
     "V14: a free_offset inside the SMEM header is attached",
     crit("test-validate", "validate/v14_heap_larger_than_the_region")),
    ("v14-free-offset-misaligned", "lib/smem/image.c",
     " ||\n\t     ret->free_offset % 8)) {", ")) {",
     "V14: a free_offset not 8-byte aligned is attached",
     crit("test-validate", "validate/v14_heap_larger_than_the_region")),
    ("v14-unchecked-at-alloc", "lib/smem/alloc.c",
     "\tif ((uint64_t)free_offset + available > s->heap_limit || free_offset % 8 ||\n"
     "\t    free_offset < sizeof(struct smem_header))\n\t\treturn -EBADMSG;\n", "",
     "V14: allocation trusts heap counters changed since attach",
     crit("test-validate", "validate/v14_counters_rechecked_at_allocation")),
    ("v15-remote-host-unbounded", "lib/smem/smem.c",
     "\t\tif (remote >= SMEM_HOST_COUNT) {", "\t\tif (0) {",
     "V15: a partition for a remote host of 25 or more is attached",
     crit("test-validate", "validate/v15_remote_host_ids")),
    ("v15-duplicate-pair", "lib/smem/smem.c",
     "\t\tif (s->parts[remote].size) {", "\t\tif (0) {",
     "V15: a second partition for one pair is attached",
     crit("test-validate", "validate/v15_remote_host_ids")),
    ("v15-fsck-host-pair", "lib/smem/check.c",
     "\t\tif (!pair_ok(pt.e[i].host0, pt.e[i].host1))", "\t\tif (0)",
     "V15: the fsck passes a partition for a host of 25 or more",
     crit("test-validate", "validate/v15_remote_host_ids")),
    ("v15-fsck-duplicate-pair", "lib/smem/check.c",
     "\t\t\tif (smem__ptable_used(&pt, j) &&\n", "\t\t\tif (0 &&\n",
     "V15: the fsck passes a second partition for one pair",
     crit("test-validate", "validate/v15_remote_host_ids")),
    # V16: every field is read through shm_ld32()/shm_ld16() (le32toh/le16toh) or
    # the decoder's get32(). On this little-endian host a read without its
    # conversion is the same read, so no such mutant can fail a test here; the
    # rule's test (validate/v16_byte_order) checks the other half, that a
    # big-endian writer's image is refused by V2/V3.
    ("v17-string-unbounded", "lib/smem/decode.c",
     "\tfor (size_t i = 0; i < n && s[i]; i++) {", "\tfor (size_t i = 0; s[i]; i++) {",
     "V17: a string is read up to a NUL past its item or field",
     crit("test-validate", "validate/v17_strings_are_bounded")),
    ("v17-unescaped", "lib/smem/decode.c",
     "\t\tif (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\\\')", "\t\tif (1)",
     "V17: control bytes of a string are printed raw",
     crit("test-validate", "validate/v17_strings_are_bounded")),
    ("v18-field-past-item", "lib/smem/decode.c",
     "\t\tif (f->off + len > size) {", "\t\tif (0) {",
     "V18: socinfo fields past the item are read (CVE-2024-58007)",
     crit("test-validate", "validate/v18_socinfo_needs_room_for_its_format")),
    ("v18-pmic-past-item", "lib/smem/decode.c",
     "\t\tif (n && ((uint64_t)off + 8ull * n > size)) {", "\t\tif (0) {",
     "V18: a PMIC array past the item is read",
     crit("test-validate", "validate/v18_socinfo_needs_room_for_its_format")),
    ("v18-pmic-32bit-sum", "lib/smem/decode.c",
     "(uint64_t)off + 8ull * n > size", "off + 8u * n > size",
     "V18: the PMIC array's end wraps in 32 bits",
     crit("test-validate", "validate/v18_socinfo_needs_room_for_its_format")),
    ("v18-fsck-skips-socinfo", "lib/smem/check.c",
     "\t\tif (e.item == SMEM__ITEM_SOCINFO)\n", "\t\tif (0)\n",
     "V18: the fsck does not look into a partition's socinfo",
     crit("test-validate", "validate/v18_socinfo_needs_room_for_its_format")),
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
