// SPDX-License-Identifier: MIT
/* The hardware spinlock bank: ownership, timeouts, bust, and mutual exclusion across processes. */
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "helpers.h"
#include "hwlock/bank.h"
#include "hwlock/hwlock-internal.h"

static struct smem_region *lr;
static struct smem_hwlock *h;

static void setup(void)
{
	cr_assert_eq(smem_region_memfd("locks", SMEM_HWLOCK_BANK_SIZE(64), &lr), 0);
	cr_assert_eq(smem_hwlock_format(smem_region_base(lr), smem_region_size(lr), 64), 0);
	cr_assert_eq(open_bank_in(lr, &h), 0);
}

static void teardown(void)
{
	smem_hwlock_close(h);
	smem_region_close(lr);
}

TestSuite(hwlock, .init = setup, .fini = teardown);

static unsigned owner(unsigned id)
{
	unsigned v;

	cr_assert_eq(smem_hwlock_owner(h, id, &v), 0);
	return v;
}

Test(hwlock, lock_word_names_the_owner)
{
	cr_assert_eq(smem__hwlock_stride(h), 64);
	cr_assert_eq(owner(3), 0);
	cr_assert_eq(smem_hwlock_trylock(h, 3, 1), 0);
	cr_assert_eq(owner(3), 2, "the word holds host + 1");
	/* The word sits at id * stride after the header page, as the TCSR block lays it out. */
	cr_assert_eq(*(uint32_t *)((uint8_t *)smem_region_base(lr) + 4096 + 3 * 64), 2);
	cr_assert_eq(smem_hwlock_trylock(h, 3, 2), -EBUSY);
	cr_assert_eq(smem_hwlock_trylock(h, 3, 1), -EBUSY, "not recursive");
	cr_assert_eq(smem_hwlock_unlock(h, 3, 1), 0);
	cr_assert_eq(owner(3), 0);
	cr_assert_eq(smem_hwlock_trylock(h, 3, 2), 0);
}

Test(hwlock, only_the_holder_unlocks)
{
	cr_assert_eq(smem_hwlock_trylock(h, 5, 0), 0);
	cr_assert_eq(smem_hwlock_unlock(h, 5, 7), -EPERM);
	cr_assert_eq(owner(5), 1, "another host's unlock leaves the lock held");
	cr_assert_eq(smem_hwlock_unlock(h, 5, 0), 0);
	cr_assert_eq(smem_hwlock_unlock(h, 5, 0), -EPERM, "unlocking a free lock is refused");
}

Test(hwlock, bust_releases_only_the_named_owner)
{
	cr_assert_eq(smem_hwlock_trylock(h, 3, 2), 0);
	cr_assert_eq(smem_hwlock_bust(h, 3, 1), 0, "host 1 does not hold it");
	cr_assert_eq(owner(3), 3, "host 2 keeps it");
	cr_assert_eq(smem_hwlock_bust(h, 3, 2), 1);
	cr_assert_eq(owner(3), 0);
	cr_assert_eq(smem_hwlock_bust(h, 3, 2), 0, "a second bust is a no-op");
}

Test(hwlock, lock_times_out_while_held)
{
	cr_assert_eq(smem_hwlock_trylock(h, 0, 4), 0);
	cr_assert_eq(smem_hwlock_lock(h, 0, 1, 0, 0), -ETIMEDOUT);
	cr_assert_eq(smem_hwlock_lock(h, 0, 1, 20, 0), -ETIMEDOUT);
	cr_assert_eq(owner(0), 5);
	cr_assert_eq(smem_hwlock_unlock(h, 0, 4), 0);
	cr_assert_eq(smem_hwlock_lock(h, 0, 1, 0, 0), 0);
}

Test(hwlock, bad_arguments)
{
	unsigned v;

	cr_assert_eq(smem_hwlock_trylock(h, 32, 0), -EINVAL);
	cr_assert_eq(smem_hwlock_trylock(h, 0, SMEM_HWLOCK_MAX_HOST + 1), -EINVAL);
	cr_assert_eq(smem_hwlock_trylock(NULL, 0, 0), -EINVAL);
	cr_assert_eq(smem_hwlock_lock(h, 32, 0, 10, 0), -EINVAL);
	cr_assert_eq(smem_hwlock_unlock(h, 32, 0), -EINVAL);
	cr_assert_eq(smem_hwlock_bust(h, 32, 0), -EINVAL);
	cr_assert_eq(smem_hwlock_owner(h, 32, &v), -EINVAL);
	cr_assert_eq(smem_hwlock_owner(h, 0, NULL), -EINVAL);
}

static int open_bytes(size_t size, void (*edit)(uint8_t *base, size_t size), unsigned stride)
{
	struct smem_region *r;
	struct smem_hwlock *x;
	int err;

	cr_assert_eq(smem_region_memfd("bank", size, &r), 0);
	if (stride)
		cr_assert_eq(smem_hwlock_format(smem_region_base(r), size, stride), 0);
	if (edit)
		edit(smem_region_base(r), size);
	err = open_bank_in(r, &x);
	if (err == 0) {
		cr_assert_eq(smem__hwlock_stride(x), stride);
		smem_hwlock_close(x);
	}
	smem_region_close(r);
	return err;
}

static void format_front(uint8_t *b, size_t size)
{
	(void)size;
	cr_assert_eq(smem_hwlock_format(b, SMEM_HWLOCK_BANK_SIZE(64), 64), 0);
}

static void erase_magic(uint8_t *b, size_t size)
{
	(void)size;
	memset(b, 0, 8);
}

static void other_stride(uint8_t *b, size_t size)
{
	(void)size;
	((struct smem_bank_hdr *)b)->stride = 192;
}

static void other_offset(uint8_t *b, size_t size)
{
	(void)size;
	((struct smem_bank_hdr *)b)->hosts += 64;
}

static void other_version(uint8_t *b, size_t size)
{
	(void)size;
	((struct smem_bank_hdr *)b)->version = 1;
}

/*
 * Bug: the layout was guessed from the size, and 32 x 64 + 4 KiB is also a bare
 * bank of stride 192: a bank seen without its marker opened with another
 * stride and no host table. Now the header says it, or the bank is refused.
 */
Test(hwlock, a_bank_must_describe_itself)
{
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(64), NULL, 64), 0);
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(4), NULL, 4), 0, "the SFPB stride of 4 works");
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(4096), NULL, 4096), 0);
	cr_assert_eq(open_bytes(32 * 64 + 4096, NULL, 0), -EBADMSG, "zeros are no bank");
	cr_assert_eq(open_bytes(32 * 192, NULL, 0), -EBADMSG, "nor is a size that fits a stride");
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(64), erase_magic, 64), -EBADMSG,
		     "a half-made or erased bank");
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(64), other_stride, 64), -EBADMSG);
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(64), other_offset, 64), -EBADMSG);
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(64), other_version, 64), -EBADMSG);
	cr_assert_eq(open_bytes(100, NULL, 0), -EBADMSG);
	cr_assert_eq(open_bytes(SMEM_HWLOCK_BANK_SIZE(64) + 4096, format_front, 0), -EBADMSG,
		     "a bank in a larger file than its header says");
	cr_assert_eq(SMEM_HWLOCK_BANK_SIZE(64), smem__bank_layout(64).size);
	cr_assert_eq(SMEM_HWLOCK_BANK_SIZE(4096), smem__bank_layout(4096).size);
	cr_assert_not_null(smem__hwlock_problem(smem_region_base(lr), 100));
	cr_assert_null(smem__hwlock_problem(smem_region_base(lr), smem_region_size(lr)));
}

/* A bank reset under a live handle (format while attached) is refused to new openers mid-way. */
Test(hwlock, a_bank_being_reset_is_refused)
{
	struct smem_region *r;
	struct smem_hwlock *x;
	uint8_t *b;

	cr_assert_eq(smem_region_memfd("bank", SMEM_HWLOCK_BANK_SIZE(64), &r), 0);
	b = smem_region_base(r);
	/* What format leaves before its last store: everything but the magic. */
	cr_assert_eq(smem_hwlock_format(b, smem_region_size(r), 64), 0);
	memset(b, 0, 8);
	cr_assert_eq(open_bank_in(r, &x), -EBADMSG);
	smem_region_close(r);
}

Test(hwlock, create_and_open_files)
{
	char dir[] = "/tmp/smemkit-hwlock-XXXXXX", p[PATH_MAX];
	struct smem_hwlock_opts o;
	struct smem_hwlock *a, *b;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/bank", dir);
	smem_hwlock_opts_init(&o);
	o.flags = SMEM_HWLOCK_CREATE;
	o.stride = 3;
	cr_assert_eq(smem_hwlock_open(p, &o, &a), -EINVAL);
	o.stride = 0x1000;
	cr_assert_eq(smem_hwlock_open(p, &o, &a), 0);
	cr_assert_eq(smem_hwlock_open(p, NULL, &b), 0);
	cr_assert_eq(smem__hwlock_stride(b), 0x1000);
	cr_assert_eq(smem_hwlock_trylock(a, 9, 6), 0);
	cr_assert_eq(smem_hwlock_trylock(b, 9, 1), -EBUSY, "both handles see one lock");
	smem_hwlock_close(a);
	smem_hwlock_close(b);
	smem_hwlock_close(NULL);
	snprintf(p, sizeof(p), "%s/missing", dir);
	cr_assert_eq(smem_hwlock_open(p, NULL, &a), -ENOENT);
}

Test(hwlock, read_only_snapshot_looks_but_never_writes)
{
	char dir[] = "/tmp/smemkit-hwlock-XXXXXX", p[PATH_MAX];
	struct smem_hwlock_opts o;
	struct smem_hwlock *w, *ro;
	struct smem_hwlock_host e;
	unsigned v;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/bank", dir);
	smem_hwlock_opts_init(&o);
	o.flags = SMEM_HWLOCK_CREATE;
	cr_assert_eq(smem_hwlock_open(p, &o, &w), 0);
	cr_assert_eq(smem_hwlock_host_register(w, 4), 0);
	cr_assert_eq(smem_hwlock_trylock(w, 7, 4), 0);
	cr_assert_eq(chmod(p, 0444), 0);
	o.flags = SMEM_HWLOCK_RDONLY;
	cr_assert_eq(smem_hwlock_open(p, &o, &ro), 0);
	cr_assert_eq(smem_hwlock_owner(ro, 7, &v), 0);
	cr_assert_eq(v, 5, "the snapshot shows the holder");
	cr_assert_eq(smem_hwlock_host_get(ro, 4, &e), 0);
	cr_assert_eq(e.pid, (uint32_t)getpid());
	cr_assert_eq(smem_hwlock_host_alive(ro, 4), 1);
	cr_assert_eq(smem_hwlock_trylock(ro, 8, 1), -EROFS);
	cr_assert_eq(smem_hwlock_lock(ro, 8, 1, 0, 0), -EROFS);
	cr_assert_eq(smem_hwlock_unlock(ro, 7, 4), -EROFS);
	cr_assert_eq(smem_hwlock_bust(ro, 7, 4), -EROFS);
	cr_assert_eq(smem_hwlock_host_register(ro, 5), -EROFS);
	cr_assert_eq(smem_hwlock_owner(w, 7, &v), 0);
	cr_assert_eq(v, 5, "nothing done through the snapshot reached the bank");
	smem_hwlock_close(ro);
	smem_hwlock_close(w);
}

Test(hwlock, open_options)
{
	struct smem_hwlock_opts o;
	struct smem_region *r;
	struct smem_hwlock *x;
	unsigned v;

	smem_hwlock_opts_init(&o);
	cr_assert_eq(smem_hwlock_open(NULL, &o, &x), -EINVAL, "no path and no region");
	o.region = lr;
	cr_assert_eq(smem_hwlock_open("bank", &o, &x), -EINVAL, "a path and a region");
	o.flags = 0x4;
	cr_assert_eq(smem_hwlock_open(NULL, &o, &x), -EINVAL, "unknown flags");
	o.flags = SMEM_HWLOCK_CREATE | SMEM_HWLOCK_RDONLY;
	cr_assert_eq(smem_hwlock_open(NULL, &o, &x), -EINVAL, "a snapshot cannot be created");
	o.flags = 0;
	o.stride = 64;
	cr_assert_eq(smem_hwlock_open(NULL, &o, &x), -EINVAL, "a stride only with CREATE");
	o.flags = SMEM_HWLOCK_CREATE;
	cr_assert_eq(smem_region_memfd("odd", 100, &r), 0);
	o.region = r;
	cr_assert_eq(smem_hwlock_open(NULL, &o, &x), -EINVAL, "the region is not a bank's size");
	smem_region_close(r);
	o.region = lr;
	cr_assert_eq(smem_hwlock_open(NULL, &o, NULL), -EINVAL);

	/* CREATE in a region lays out an empty bank, host table included. */
	cr_assert_eq(smem_region_memfd("new", SMEM_HWLOCK_BANK_SIZE(64), &r), 0);
	memset(smem_region_base(r), 0xff, smem_region_size(r));
	o.region = r;
	o.stride = 0;
	cr_assert_eq(smem_hwlock_open(NULL, &o, &x), 0, "stride 0 is the default, 64");
	cr_assert_eq(smem_hwlock_owner(x, 31, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(smem_hwlock_host_register(x, 0), 0);
	smem_hwlock_close(x);
	smem_region_close(r);
}

/*
 * N processes, each a different host, increment a plain counter in shared memory
 * under the lock. Without mutual exclusion increments are lost.
 */
#define PROCS 4
#define ROUNDS 20000

Test(hwlock, mutual_exclusion_across_processes, .timeout = 120)
{
	uint64_t *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[PROCS];

	cr_assert_neq(counter, MAP_FAILED);
	for (unsigned p = 0; p < PROCS; p++) {
		pids[p] = fork();
		cr_assert_geq(pids[p], 0);
		if (pids[p] == 0) {
			for (unsigned i = 0; i < ROUNDS; i++) {
				if (smem_hwlock_lock(h, 3, p, 10000, 0) != 0)
					_exit(2);
				/* A non-atomic read-modify-write: only the lock protects it. */
				uint64_t v = *(volatile uint64_t *)counter;
				*(volatile uint64_t *)counter = v + 1;
				if (smem_hwlock_unlock(h, 3, p) != 0)
					_exit(3);
			}
			_exit(0);
		}
	}
	for (unsigned p = 0; p < PROCS; p++)
		wait_ok(pids[p]);
	cr_assert_eq(*counter, (uint64_t)PROCS * ROUNDS);
	cr_assert_eq(owner(3), 0);
}


/*
 * A waiter that went to sleep gets the lock when the holder unlocks. The parent
 * unlocks only once the child has announced itself (the waiters flag of the
 * lock's robust word), so the hand-off really goes through the sleeping path.
 */
Test(hwlock, sleeper_gets_the_lock_after_unlock, .timeout = 30)
{
	uint32_t w;
	pid_t pid;

	cr_assert_eq(smem_hwlock_trylock(h, 7, 0), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(smem_hwlock_lock(h, 7, 1, 600000, 0) == 0 && owner(7) == 2 ? 0 : 5);
	}
	do {
		sched_yield();
		cr_assert_eq(smem__hwlock_robust(h, 7, &w), 0);
	} while (!(w & SMEM_ROBUST_WAITERS));
	/* The flag comes just before FUTEX_WAIT: wait until the child sleeps in it. */
	while (!sleeping_in_futex(pid))
		sched_yield();
	cr_assert_eq(smem_hwlock_unlock(h, 7, 0), 0);
	wait_ok(pid);
}

/* A dead holder's lock is marked by the kernel; a bust or a waiter with the policy takes it. */
Test(hwlock, dead_holder_is_marked_and_busted, .timeout = 30)
{
	uint32_t w;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		smem_hwlock_trylock(h, 3, 2);
		raise(SIGKILL);
	}
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(owner(3), 3, "the dead host still owns the lock");
	cr_assert_eq(smem__hwlock_robust(h, 3, &w), 0);
	cr_assert(w & SMEM_ROBUST_DIED);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 10, 0), -ETIMEDOUT);
	cr_assert_eq(smem_hwlock_bust(h, 3, 2), 1);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 10, 0), 0);
}
