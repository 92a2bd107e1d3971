// SPDX-License-Identifier: MIT
/*
 * Owner-tagged spinlocks in shared memory (the TCSR mutex model).
 *
 * Word i of the bank, at i * stride, is 0 when lock i is free and host + 1 while
 * host holds it. The hardware latches the first non-zero value written to a free
 * register; a compare-and-swap from 0 is the shared-memory equivalent, and its
 * success is the "read back my own value" of the hardware protocol.
 *
 * Waiting. A waiter spins first, for about as long as waking a halted CPU takes
 * (tens of microseconds: 2000 pauses), since a hand-off between two running
 * CPUs is far cheaper than a sleep; then it sleeps on the lock word with FUTEX_WAIT
 * in slices of at most 1 ms, so a lost wake-up costs a slice, never a hang. When
 * the stride leaves room, the word after the lock word counts sleepers so that an
 * unlock makes the FUTEX_WAKE system call only when someone sleeps.
 *
 * Crash story: a holder that dies leaves its host + 1 in the word; bust() clears
 * it with a compare-and-swap against exactly that value, so it can never release
 * a lock that a live host took after the dead one. With SMEM_HWLOCK_BUST_DEAD a
 * waiter does that itself once the host table (hosts.c) proves the holder dead,
 * and tells its caller, who repairs what the lock guarded. A sleeper that dies
 * leaves the sleeper count too high, which costs later unlocks a needless wake
 * call and nothing else.
 */
#include "smemkit/hwlock.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string.h>

#include "bank.h"
#include "core/fault.h"
#include "core/util.h"
#include "smemkit/region.h"

#define SPIN_TRIES     2000u
#define SLEEP_SLICE_NS 1000000L

static _Atomic uint32_t *lock_word(const struct smem_hwlock *h, unsigned id)
{
	return (_Atomic uint32_t *)(h->base + (size_t)id * h->stride);
}

/* The sleeper count, or NULL when the stride leaves no room for it. */
static _Atomic uint32_t *sleepers(const struct smem_hwlock *h, unsigned id)
{
	return h->stride >= 8 ? lock_word(h, id) + 1 : NULL;
}

static bool stride_ok(uint64_t stride)
{
	return stride >= 4 && stride <= SMEM_HWLOCK_MAX_STRIDE && stride % 4 == 0;
}

/* A bank is 32 strides of lock words, then optionally the host page. */
static int bank_new(struct smem_region *r, bool own, struct smem_hwlock **ret)
{
	size_t size = smem_region_size(r), words = size - SMEM_HOST_PAGE_SIZE;
	uint8_t *base = smem_region_base(r);
	struct smem_host_page *page = NULL;
	struct smem_hwlock *h;
	unsigned stride;

	if (size > SMEM_HOST_PAGE_SIZE && words % SMEM_HWLOCK_COUNT == 0 &&
	    stride_ok(words / SMEM_HWLOCK_COUNT) &&
	    memcmp(base + words, SMEM_HOST_PAGE_MAGIC, 4) == 0) {
		stride = (unsigned)(words / SMEM_HWLOCK_COUNT);
		page = (struct smem_host_page *)(base + words);
	} else if (size % SMEM_HWLOCK_COUNT == 0 && stride_ok(size / SMEM_HWLOCK_COUNT)) {
		stride = (unsigned)(size / SMEM_HWLOCK_COUNT);
	} else {
		return -EBADMSG;
	}
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	*h = (struct smem_hwlock){
		.region = own ? r : NULL,
		.base = base,
		.stride = stride,
		.page = page,
		.writable = smem_region_writable(r),
	};
	*ret = h;
	return 0;
}

struct smem_lock_journal *smem__hwlock_journal(struct smem_hwlock *h, unsigned id)
{
	return h && h->page && id < SMEM_HWLOCK_COUNT ? &h->page->journal[id] : NULL;
}

int smem_hwlock_format(void *mem, size_t size, unsigned stride)
{
	size_t words = (size_t)stride * SMEM_HWLOCK_COUNT;
	struct smem_host_page *page;
	uint8_t *base = mem;

	if (!mem || !stride_ok(stride) || size != words + SMEM_HOST_PAGE_SIZE)
		return -EINVAL;
	/*
	 * Reset before anyone can use the bank; the caller's hand-off (an exec, a
	 * file that others open later) orders it. The magic goes last, so a bank
	 * is recognised only once its host page is empty.
	 */
	memset(base, 0, size);
	page = (struct smem_host_page *)(base + words);
	page->hdr.version = htole32(1);
	page->hdr.nhosts = htole32(SMEM_HWLOCK_TABLE_HOSTS);
	memcpy(page->hdr.magic, SMEM_HOST_PAGE_MAGIC, 4);
	return 0;
}

void smem_hwlock_opts_init(struct smem_hwlock_opts *o)
{
	*o = (struct smem_hwlock_opts){ 0 };
}

/* Attach to (with @create, first lay out) the bank in a region the caller keeps. */
static int open_region(struct smem_region *r, bool create, unsigned stride,
		       struct smem_hwlock **ret)
{
	int err;

	if (create && !smem_region_writable(r))
		return -EINVAL;
	if (create) {
		err = smem_hwlock_format(smem_region_base(r), smem_region_size(r), stride);
		if (err < 0)
			return err;
	}
	return bank_new(r, false, ret);
}

int smem_hwlock_open(const char *path, const struct smem_hwlock_opts *o, struct smem_hwlock **ret)
{
	struct smem_hwlock_opts defaults;
	struct smem_region *r;
	unsigned stride;
	bool create;
	int err;

	if (!o) {
		smem_hwlock_opts_init(&defaults);
		o = &defaults;
	}
	create = o->flags & SMEM_HWLOCK_CREATE;
	stride = o->stride ? o->stride : SMEM_HWLOCK_DEFAULT_STRIDE;
	if (!ret || o->flags & ~(SMEM_HWLOCK_CREATE | SMEM_HWLOCK_RDONLY) ||
	    (create && (o->flags & SMEM_HWLOCK_RDONLY)) || (o->stride && !create) ||
	    !stride_ok(stride) || !path == !o->region)
		return -EINVAL;
	if (o->region)
		return open_region(o->region, create, stride, ret);
	if (create)
		err = smem_region_open(path, SMEM_HWLOCK_BANK_SIZE(stride), SMEM_REGION_CREATE, &r);
	else
		err = smem_region_open(path, 0,
				       (o->flags & SMEM_HWLOCK_RDONLY) ? SMEM_REGION_RDONLY : 0, &r);
	if (err < 0)
		return err;
	if (create)
		err = smem_hwlock_format(smem_region_base(r), SMEM_HWLOCK_BANK_SIZE(stride), stride);
	if (err == 0)
		err = bank_new(r, true, ret);
	if (err < 0)
		smem_region_close(r);
	return err;
}

void smem_hwlock_close(struct smem_hwlock *h)
{
	if (!h)
		return;
	smem_region_close(h->region);
	free(h);
}

unsigned smem__hwlock_stride(const struct smem_hwlock *h)
{
	return h->stride;
}

static bool args_ok(const struct smem_hwlock *h, unsigned id, unsigned host)
{
	return h && id < SMEM_HWLOCK_COUNT && host <= SMEM_HWLOCK_MAX_HOST;
}

int smem_hwlock_trylock(struct smem_hwlock *h, unsigned id, unsigned host)
{
	uint32_t expected = 0;

	if (!args_ok(h, id, host))
		return -EINVAL;
	if (!h->writable)
		return -EROFS;
	/*
	 * L1: take the lock; acquire pairs with the release in U1 (unlock) and B1
	 * (bust), so the new holder sees every store made under the lock before.
	 */
	if (atomic_compare_exchange_strong_explicit(lock_word(h, id), &expected, host + 1,
						    memory_order_acquire, memory_order_relaxed)) {
		FAULT_POINT("hwlock.lock.after_acquire");
		return 0;
	}
	return -EBUSY;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t seen, long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	/* Shared futex (not FUTEX_PRIVATE): the word is mapped by other processes. */
	syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * With SMEM_HWLOCK_BUST_DEAD: bust the holder seen if it is proven dead (hosts.c
 * does that under the host entry's claim), then try to take the lock.
 * Return: SMEM_HWLOCK_RECOVERED if taken, 0 otherwise.
 */
static int bust_if_dead(struct smem_hwlock *h, unsigned id, unsigned host, uint32_t seen)
{
	if (!seen || seen - 1 >= SMEM_HWLOCK_TABLE_HOSTS)
		return 0;
	if (smem__hwlock_bust_if_dead(h, id, seen - 1) != 1)
		return 0;
	FAULT_POINT("hwlock.lock.after_bust");
	return smem_hwlock_trylock(h, id, host) == 0 ? SMEM_HWLOCK_RECOVERED : 0;
}

int smem_hwlock_lock(struct smem_hwlock *h, unsigned id, unsigned host, unsigned timeout_ms,
		     unsigned flags)
{
	_Atomic uint32_t *w, *s;
	int64_t deadline;
	uint32_t last_seen = 0;
	int r;

	if (flags & ~SMEM_HWLOCK_BUST_DEAD)
		return -EINVAL;
	r = smem_hwlock_trylock(h, id, host);
	if (r != -EBUSY)
		return r;
	w = lock_word(h, id);
	if (timeout_ms == 0) {
		/* One try; with the policy, one look at the holder too. */
		/* L2: which holder to look up; bust and trylock order the rest. */
		if (flags & SMEM_HWLOCK_BUST_DEAD &&
		    (r = bust_if_dead(h, id, host, atomic_load_explicit(w, memory_order_relaxed))))
			return r;
		return -ETIMEDOUT;
	}
	s = sleepers(h, id);
	deadline = now_ns() + (int64_t)timeout_ms * 1000000;

	for (unsigned i = 0; i < SPIN_TRIES; i++) {
		cpu_relax();
		/* L2: a plain look first, to keep the line shared while it is held. */
		if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
		    smem_hwlock_trylock(h, id, host) == 0)
			return 0;
		if ((i & 63) == 63 && now_ns() >= deadline)
			return -ETIMEDOUT;
	}

	for (;;) {
		int64_t left = deadline - now_ns();
		uint32_t seen;

		if (smem_hwlock_trylock(h, id, host) == 0)
			return 0;
		if (flags & SMEM_HWLOCK_BUST_DEAD) {
			/* Only a holder seen twice, one sleep apart, is looked up. */
			seen = atomic_load_explicit(w, memory_order_relaxed); /* L2 */
			if (seen && seen == last_seen && (r = bust_if_dead(h, id, host, seen)))
				return r;
			last_seen = seen;
		}
		if (left <= 0)
			return -ETIMEDOUT;
		/*
		 * L3: announce the sleeper, then look at the word again. Sequentially
		 * consistent with U2 in unlock (store 0, then read the count): either
		 * the unlocker sees this sleeper and wakes it, or this load sees 0.
		 */
		if (s)
			atomic_fetch_add_explicit(s, 1, memory_order_seq_cst);
		FAULT_POINT("hwlock.lock.after_sleeper_add");
		seen = atomic_load_explicit(w, memory_order_seq_cst);
		if (seen != 0)
			futex_wait(w, seen, left < SLEEP_SLICE_NS ? (long)left : SLEEP_SLICE_NS);
		if (s)
			atomic_fetch_sub_explicit(s, 1, memory_order_relaxed);
	}
}

static void wake_sleepers(struct smem_hwlock *h, unsigned id)
{
	_Atomic uint32_t *s = sleepers(h, id);

	/* U2: read the count after the releasing store; pairs with L3 in lock(). */
	if (s && atomic_load_explicit(s, memory_order_seq_cst) != 0)
		futex_wake_all(lock_word(h, id));
}

int smem_hwlock_unlock(struct smem_hwlock *h, unsigned id, unsigned host)
{
	uint32_t was;

	if (!args_ok(h, id, host))
		return -EINVAL;
	if (!h->writable)
		return -EROFS;
	/*
	 * U1: release every store made under the lock before the word reads 0;
	 * pairs with the acquire in L1. The exchange returns the owner it replaced,
	 * so a non-owner unlock is reported, while the lock is released all the same
	 * as the hardware does.
	 */
	was = atomic_exchange_explicit(lock_word(h, id), 0, memory_order_seq_cst);
	FAULT_POINT("hwlock.unlock.after_release");
	wake_sleepers(h, id);
	return was == host + 1 ? 0 : -EPERM;
}

int smem_hwlock_bust(struct smem_hwlock *h, unsigned id, unsigned owner)
{
	uint32_t expected = owner + 1;

	if (!args_ok(h, id, owner))
		return -EINVAL;
	if (!h->writable)
		return -EROFS;
	/*
	 * B1: release the lock only if the dead owner's value is still there;
	 * pairs with the acquire in L1 of the next holder.
	 */
	if (!atomic_compare_exchange_strong_explicit(lock_word(h, id), &expected, 0,
						     memory_order_seq_cst, memory_order_relaxed))
		return 0;
	wake_sleepers(h, id);
	return 1;
}

int smem_hwlock_owner(struct smem_hwlock *h, unsigned id, unsigned *ret_value)
{
	if (!h || id >= SMEM_HWLOCK_COUNT || !ret_value)
		return -EINVAL;
	/* O1: an observation only; nothing is read under it. */
	*ret_value = atomic_load_explicit(lock_word(h, id), memory_order_relaxed);
	return 0;
}
