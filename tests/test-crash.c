// SPDX-License-Identifier: MIT
/*
 * The crash matrix: for every fault point on the allocation path, in each place
 * an item can live (version-11 global heap, version-12 global partition, private
 * partition), a host dies at that point while allocating, usually holding lock 3.
 * The survivor must take the lock, repair, and find: a clean fsck, the
 * interrupted item either fully allocated with its size or absent, every item
 * allocated before intact, and room to allocate again.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/fault.h"
#include "helpers.h"
#include "hwlock/bank.h"
#include "hwlock/hwlock-internal.h"

enum where { HEAP11, GLOBAL12, PRIVATE12 };

static const char *const where_name[] = { "v11 global heap", "v12 global partition",
					  "private partition" };

static const struct point {
	const char *name;
	bool holds_lock;    /* the victim dies holding lock 3 */
	unsigned reached;   /* bit per enum where: the victim gets there */
} points[] = {
	{ "hwlock.lock.after_acquire", true, 7 },
	{ "smem.alloc.locked", true, 7 },
	{ "smem.journal.after_record", true, 1 << HEAP11 },
	{ "smem.journal.after_owner", true, 1 << HEAP11 },
	{ "smem.alloc.after_offset", true, 1 << HEAP11 },
	{ "smem.alloc.after_canary", true, 1 << GLOBAL12 | 1 << PRIVATE12 },
	{ "smem.alloc.after_size", true, 1 << GLOBAL12 | 1 << PRIVATE12 },
	{ "smem.alloc.after_entry", true, 7 },
	{ "smem.alloc.after_publish", true, 7 },
	{ "smem.alloc.after_free_offset", true, 1 << HEAP11 },
	{ "smem.alloc.after_available", true, 1 << HEAP11 },
	{ "hwlock.unlock.after_release", false, 7 },
};

#define VICTIM_ITEM 200
#define VICTIM_SIZE 21

static unsigned remote(enum where w, unsigned me)
{
	return w == PRIVATE12 ? (me == 0 ? 1 : 0) : SMEM_HOST_ANY;
}

static void fill(void *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

static bool filled(const void *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != v)
			return false;
	return true;
}

static int open_survivor(struct img *im, struct smem **ret)
{
	struct smem_open_opts o;

	smem_open_opts_init(&o);
	o.hwlock = im->h;
	o.flags = SMEM_OPEN_BUST_DEAD;
	o.region = im->r;
	return smem_open(NULL, 0, &o, ret);
}

static void run(const struct point *pt, enum where w)
{
	unsigned version = w == HEAP11 ? 11 : 12, owner;
	bool reached = pt->reached & (1u << w);
	struct img im;
	struct smem *s;
	size_t size, heap_sum = 0;
	void *p;
	pid_t pid;
	int st, r;

	img_v(&im, version, 1u << 20);
	cr_assert_eq(open_survivor(&im, &s), 0);
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_eq(smem_item_alloc(s, remote(w, 0), 100 + i, 8 + i, 0), 0);
		cr_assert_eq(smem_item_get(s, remote(w, 0), 100 + i, &p, NULL), 0);
		fill(p, 8 + i, (uint8_t)(0x40 + i));
	}
	if (version == 11)
		heap_sum = (size_t)rd32(&im, 0xc4) + rd32(&im, 0xc8);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem *v;

		if (img_open(&im, 1, &v) != 0)
			_exit(20);
		smem__fault_arm(pt->name, 1);
		if (smem_item_alloc(v, remote(w, 1), VICTIM_ITEM, VICTIM_SIZE, 0) != 0 ||
		    smem_item_get(v, remote(w, 1), VICTIM_ITEM, &p, NULL) != 0)
			_exit(21);
		fill(p, VICTIM_SIZE, 0x77);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (!reached) {
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s", pt->name, where_name[w]);
		goto out;
	}
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: the victim died there (%s)",
		  pt->name, where_name[w]);
	cr_assert_eq(smem_hwlock_owner(im.h, SMEM_HWLOCK_ID, &owner), 0);
	cr_assert_eq(owner, pt->holds_lock ? 2u : 0u, "%s: lock 3 held by the dead host", pt->name);

	/* The survivor's next allocation busts the dead holder and repairs. */
	r = smem_item_alloc(s, remote(w, 0), 300, 16, 0);
	cr_assert_eq(r, pt->holds_lock ? SMEM_RECOVERED : 0, "%s (%s): got %d", pt->name,
		     where_name[w], r);
	cr_assert_eq(smem_hwlock_owner(im.h, SMEM_HWLOCK_ID, &owner), 0);
	cr_assert_eq(owner, 0, "and released it");

out:
	cr_assert_eq(img_fsck(&im), 0, "%s (%s): fsck clean", pt->name, where_name[w]);
	if (version == 11)
		cr_assert_eq((size_t)rd32(&im, 0xc4) + rd32(&im, 0xc8), heap_sum,
			     "%s: heap counters add up", pt->name);
	/* The interrupted item is whole or absent. */
	r = smem_item_get(s, remote(w, 0), VICTIM_ITEM, &p, &size);
	if (r == 0) {
		cr_assert_eq(size, version == 11 ? 24 : VICTIM_SIZE, "%s: the item has its size", pt->name);
		cr_assert_eq(smem_item_alloc(s, remote(w, 0), VICTIM_ITEM, VICTIM_SIZE, 0), -EEXIST);
	} else {
		cr_assert_eq(r, -ENOENT, "%s", pt->name);
		cr_assert_eq(smem_item_alloc(s, remote(w, 0), VICTIM_ITEM, VICTIM_SIZE, 0), 0,
			     "%s: allocating it afresh works", pt->name);
	}
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_eq(smem_item_get(s, remote(w, 0), 100 + i, &p, &size), 0);
		cr_assert(filled(p, 8 + i, (uint8_t)(0x40 + i)), "%s: item %u intact", pt->name, 100 + i);
	}
	cr_assert_eq(smem_item_alloc(s, remote(w, 0), 301, 8, 0), 0, "and allocation goes on");
	cr_assert_eq(img_fsck(&im), 0);
	smem_close(s);
	img_free(&im);
}

#define MATRIX(w)                                                                                  \
	Test(crash, matrix_##w, .timeout = 120)                                                    \
	{                                                                                          \
		for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)                    \
			run(&points[i], w);                                                        \
	}
MATRIX(HEAP11)
MATRIX(GLOBAL12)
MATRIX(PRIVATE12)

/* A v11 holder that does not journal (another implementation) dies after publishing. */
Test(crash, heap_repair_without_a_journal)
{
	struct img im;
	struct smem *s;
	uint32_t free_offset, available;
	void *p;

	img_v(&im, 11, 1u << 20);
	cr_assert_eq(open_survivor(&im, &s), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, 0), 0);
	free_offset = rd32(&im, 0xc4);
	available = rd32(&im, 0xc8);
	/* Publish item 101 at free_offset as Linux would, then "die" before the counters. */
	wr32(&im, 0xd0 + 16 * 101 + 4, free_offset);
	wr32(&im, 0xd0 + 16 * 101 + 8, 32);
	wr32(&im, 0xd0 + 16 * 101, 1);
	cr_assert_gt(img_fsck(&im), 0, "the fsck sees the counters behind the table");
	cr_assert_eq(smem_recover(s), 1);
	cr_assert_eq(rd32(&im, 0xc4), free_offset + 32);
	cr_assert_eq(rd32(&im, 0xc8), available - 32);
	cr_assert_eq(img_fsck(&im), 0);
	cr_assert_eq(smem_recover(s), 0, "nothing left to repair");
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 102, 8, 0), 0);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 102, &p, NULL), 0);
	cr_assert_eq((uint8_t *)p, im.b + free_offset + 32, "no overlap with the repaired item");
	smem_close(s);
	img_free(&im);
}

/*
 * A journal record that this code cannot replay (another operation, an item past
 * the table, counters past the heap) is spent by one recovery, not replayed by
 * every later allocation.
 */
Test(crash, an_unusable_journal_record_is_cleared_once)
{
	static const uint32_t bad[][4] = {
		/* op, old free_offset, old available, item */
		{ 99, 0, 0, 100 },
		{ 1, 0, 0, 600 },
		{ 1, 0xfffffff0u, 0x100, 100 },
	};
	struct smem_lock_journal *j;
	struct smem_stat st;
	struct img im;
	struct smem *s;
	unsigned item = 200;

	img_v(&im, 11, 1u << 20);
	cr_assert_eq(open_survivor(&im, &s), 0);
	cr_assert_eq(smem_stat(s, &st), 0);
	j = smem__hwlock_journal(st.hwlock, SMEM_HWLOCK_ID);
	cr_assert_not_null(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j->op = bad[i][0];
		j->arg[0] = bad[i][1];
		j->arg[1] = bad[i][2];
		j->arg[2] = bad[i][3];
		atomic_store((_Atomic uint32_t *)&j->owner, 2); /* left by host 1 */
		cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, item++, 8, 0), SMEM_RECOVERED,
			     "record %zu is seen once", i);
		cr_assert_eq(j->owner, 0, "record %zu is cleared", i);
		cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, item++, 8, 0), 0,
			     "record %zu is not replayed again", i);
		cr_assert_eq(img_fsck(&im), 0);
	}
	smem_close(s);
	img_free(&im);
}

/* In a partition an entry written but not published is invisible, and harmless. */
Test(crash, unpublished_partition_entry_is_invisible)
{
	struct img im;
	struct smem *s;
	uint32_t part, uncached;
	void *p;

	img_v(&im, 12, 1u << 20);
	cr_assert_eq(open_survivor(&im, &s), 0);
	part = rd32(&im, (1u << 20) - 4096 + 32 + 48);
	uncached = rd32(&im, part + 12);
	/* A whole entry for item 150 above the published end, as a crash leaves it. */
	wr32(&im, part + uncached, 0xa5a5 | 150u << 16);
	wr32(&im, part + uncached + 4, 8);
	wr32(&im, part + uncached + 8, 0);
	cr_assert_eq(smem_item_get(s, 1, 150, &p, NULL), -ENOENT);
	cr_assert_eq(img_fsck(&im), 0);
	cr_assert_eq(smem_recover(s), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 151, 16, 0), 0, "the next allocation takes its place");
	cr_assert_eq(smem_item_get(s, 1, 151, &p, NULL), 0);
	cr_assert_eq((uint8_t *)p, im.b + part + uncached + 16);
	cr_assert_eq(smem_item_get(s, 1, 150, &p, NULL), -ENOENT);
	smem_close(s);
	img_free(&im);
}

/*
 * A publication is one aligned 32-bit store: however other hosts interleave,
 * a reader sees the old or the new free offset, never a mix. Readers in another
 * process look items up while a writer allocates; every item they find has its
 * exact size and the writer's contents.
 */
Test(crash, publication_never_tears, .timeout = 60)
{
	struct img im;
	struct smem *s;
	int go[2];
	pid_t pid;
	char c;

	img_v(&im, 12, 1u << 20);
	cr_assert_eq(open_survivor(&im, &s), 0);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem *rd;
		unsigned seen = 0;

		close(go[1]);
		if (img_open(&im, 1, &rd) != 0 || read(go[0], &c, 1) != 0)
			_exit(30);
		while (seen < 400) {
			seen = 0;
			for (unsigned i = 0; i < 400; i++) {
				void *p;
				size_t size;
				int r = smem_item_get(rd, 0, 100 + i, &p, &size);

				if (r == -ENOENT)
					continue;
				if (r != 0 || size != 1 + i % 29)
					_exit(31);
				seen++;
			}
		}
		_exit(0);
	}
	close(go[0]);
	close(go[1]);
	for (unsigned i = 0; i < 400; i++)
		cr_assert_eq(smem_item_alloc(s, 1, 100 + i, 1 + i % 29, 0), 0);
	wait_ok(pid);
	smem_close(s);
	img_free(&im);
}

/* A waiter that dies after announcing itself as a sleeper costs nothing but a wake call. */
Test(crash, dead_sleeper_leaves_the_lock_usable, .timeout = 30)
{
	struct img im;
	pid_t pid;
	int st;

	img_v(&im, 12, 1u << 20);
	cr_assert_eq(smem_hwlock_trylock(im.h, 4, 0), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		smem__fault_arm("hwlock.lock.before_sleep", 1);
		smem_hwlock_lock(im.h, 4, 1, 10000, 0);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(smem_hwlock_unlock(im.h, 4, 0), 0);
	cr_assert_eq(smem_hwlock_lock(im.h, 4, 2, 100, 0), 0);
	cr_assert_eq(smem_hwlock_unlock(im.h, 4, 2), 0);
	img_free(&im);
}

/* A taker killed between its swap and its robust list: list_op_pending has it marked. */
Test(crash, taker_dying_before_its_list_is_marked, .timeout = 30)
{
	struct img im;
	pid_t pid;
	int st;

	img_v(&im, 12, 1u << 20);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		smem__fault_arm("hwlock.robust.after_swap", 1);
		smem_hwlock_trylock(im.h, 6, 1);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(smem_hwlock_trylock(im.h, 6, 2), -EBUSY, "the swap was done");
	cr_assert_eq(smem_hwlock_lock(im.h, 6, 2, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED,
		     "and the kernel marked it");
	img_free(&im);
}

/* A holder that dies inside its unlock, label cleared, word not yet released. */
Test(crash, holder_dying_inside_its_unlock, .timeout = 30)
{
	struct img im;
	unsigned v;
	pid_t pid;
	int st;

	img_v(&im, 12, 1u << 20);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (smem_hwlock_trylock(im.h, 5, 1) != 0)
			_exit(40);
		smem__fault_arm("hwlock.unlock.after_word", 1);
		smem_hwlock_unlock(im.h, 5, 1);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(smem_hwlock_owner(im.h, 5, &v), 0);
	cr_assert_eq(v, 0, "the label was cleared");
	cr_assert_eq(smem_hwlock_trylock(im.h, 5, 2), -EBUSY, "but the lock was never released");
	cr_assert_eq(smem_hwlock_lock(im.h, 5, 2, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
	img_free(&im);
}

/* A taker that dies right after taking a dead holder's lock leaves it to be taken again. */
Test(crash, dead_buster_leaves_the_lock_to_the_next, .timeout = 30)
{
	struct img im;
	pid_t holder, buster;
	unsigned v;
	int st;

	img_v(&im, 12, 1u << 20);
	holder = fork();
	cr_assert_geq(holder, 0);
	if (holder == 0) {
		if (smem_hwlock_host_register(im.h, 1) != 0 || smem_hwlock_trylock(im.h, 3, 1) != 0)
			_exit(40);
		raise(SIGKILL);
	}
	cr_assert_eq(waitpid(holder, NULL, 0), holder);
	buster = fork();
	cr_assert_geq(buster, 0);
	if (buster == 0) {
		smem_hwlock_host_register(im.h, 2);
		smem__fault_arm("hwlock.lock.after_bust", 1);
		smem_hwlock_lock(im.h, 3, 2, 10000, SMEM_HWLOCK_BUST_DEAD);
		_exit(0);
	}
	cr_assert_eq(waitpid(buster, &st, 0), buster);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(smem_hwlock_owner(im.h, 3, &v), 0);
	cr_assert_eq(v, 3, "the buster took it, then died holding it");
	cr_assert_eq(smem_hwlock_lock(im.h, 3, 0, 10, 0), -ETIMEDOUT);
	cr_assert_eq(smem_hwlock_lock(im.h, 3, 0, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
	img_free(&im);
}

/*
 * A host that died holding lock 3 is started again as the same host id. Its
 * registration leaves the dead process's lock to it, marked, and its next
 * allocation takes it and repairs what the dead one left half-done.
 */
static void die_mid_alloc_as_host_1(struct img *im, const char *point)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem *v;

		if (img_open(im, 1, &v) != 0)
			_exit(50);
		smem__fault_arm(point, 1);
		smem_item_alloc(v, SMEM_HOST_ANY, VICTIM_ITEM, VICTIM_SIZE, 0);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

Test(crash, restarted_host_repairs_after_its_dead_predecessor, .timeout = 30)
{
	struct img im;
	uint32_t sum;
	unsigned owner;
	pid_t pid;

	img_v(&im, 11, 1u << 20);
	sum = rd32(&im, 0xc4) + rd32(&im, 0xc8);
	die_mid_alloc_as_host_1(&im, "smem.alloc.after_free_offset");
	cr_assert_eq(smem_hwlock_owner(im.h, SMEM_HWLOCK_ID, &owner), 0);
	cr_assert_eq(owner, 2);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem *n;
		unsigned v;

		/* The new host 1, without any bust policy. */
		if (img_open(&im, 1, &n) != 0)
			_exit(51);
		if (smem_hwlock_owner(im.h, SMEM_HWLOCK_ID, &v) != 0 || v != 2)
			_exit(52);
		_exit(smem_item_alloc(n, SMEM_HOST_ANY, 301, 8, 0) == SMEM_RECOVERED ? 0 : 53);
	}
	wait_ok(pid);
	cr_assert_eq(rd32(&im, 0xc4) + rd32(&im, 0xc8), sum, "the heap counters add up");
	cr_assert_eq(img_fsck(&im), 0);
	img_free(&im);
}

/* A registration that dies half-way leaves the dead host's lock to be repaired. */
Test(crash, registration_dying_half_way, .timeout = 30)
{
	static const char *const steps[] = { "hwlock.host.after_take", "hwlock.host.after_hand_on" };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct img im;
		struct smem *s;
		pid_t pid;
		int st;

		img_v(&im, 12, 1u << 20);
		die_mid_alloc_as_host_1(&im, "smem.alloc.after_entry");
		if (i == 1) {
			/* The gap the kernel cannot mark: the lock keeps the dead id. */
			struct smem_bank_layout l = smem__bank_layout(SMEM_HWLOCK_DEFAULT_STRIDE);
			struct smem_host_entry *e =
				(struct smem_host_entry *)(smem_region_base(im.lr) + l.hosts) + 1;
			struct smem_robust *rw =
				(struct smem_robust *)(smem_region_base(im.lr) + l.robust) + SMEM_HWLOCK_ID;

			rw->word = e->id;
		}
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			smem__fault_arm(steps[i], 1);
			smem_hwlock_host_register(im.h, 1);
			_exit(0);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s", steps[i]);
		cr_assert_eq(open_survivor(&im, &s), 0);
		cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 301, 8, 0), SMEM_RECOVERED, "%s",
			     steps[i]);
		cr_assert_eq(img_fsck(&im), 0);
		smem_close(s);
		img_free(&im);
	}
}

/*
 * A host that attaches while the heap counters are torn (its predecessor died
 * between storing available and free_offset) must keep allocating after the
 * repair restores them: the heap's bound comes from the layout, not from the
 * counters it saw at attach.
 */
Test(crash, attach_between_the_counter_stores, .timeout = 30)
{
	struct img im;
	struct smem *s;
	uint32_t sum;

	img_v(&im, 11, 1u << 20);
	sum = rd32(&im, 0xc4) + rd32(&im, 0xc8);
	die_mid_alloc_as_host_1(&im, "smem.alloc.after_available");
	cr_assert_lt(rd32(&im, 0xc4) + rd32(&im, 0xc8), sum, "torn: the sum is short");
	cr_assert_eq(open_survivor(&im, &s), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 301, 8, 0), SMEM_RECOVERED);
	cr_assert_eq(rd32(&im, 0xc4) + rd32(&im, 0xc8), sum, "repaired");
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 302, 8, 0), 0, "and the heap still takes items");
	cr_assert_eq(img_fsck(&im), 0);
	smem_close(s);
	img_free(&im);
}
