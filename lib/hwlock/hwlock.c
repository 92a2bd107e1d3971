// SPDX-License-Identifier: MIT
/*
 * Owner-tagged locks in shared memory (the TCSR mutex model), robust against
 * the death of their holder.
 *
 * Lock i has two words. Its lock word, at 4096 + i * stride, is what the
 * hardware register holds: 0 when free, host + 1 while host holds it, so that
 * anyone can see who holds what. Its robust word (core/robust.h) is what
 * excludes: the holder process takes it with a compare-and-swap from 0 to its
 * liveness id, and the kernel marks it SMEM_ROBUST_DIED, and wakes a sleeper,
 * when that process dies. The holder writes the lock word after taking the
 * robust word and clears it before releasing it, so a lock word that names a
 * host always names the holder of the robust word, or a holder that died.
 *
 * Waiting. A waiter spins first, for about as long as waking a halted CPU takes
 * (tens of microseconds), since a hand-off between two running CPUs is far
 * cheaper than a sleep; then it sets SMEM_ROBUST_WAITERS and sleeps on the
 * robust word, as a robust mutex does. An unlock that sees the flag wakes one
 * sleeper; the kernel does the same when the holder dies. A woken waiter takes
 * the word with the flag set again, since it cannot know whether others sleep.
 *
 * Death. With SMEM_HWLOCK_BUST_DEAD, or as the dead holder's own host (its
 * successor), a waiter that finds the word marked takes it over, writes its
 * own lock word, and returns SMEM_HWLOCK_RECOVERED: its caller repairs what the
 * lock guarded. The proof is the kernel's, never a
 * lookup of a pid. A sleeper also wakes every FALLBACK_SLICE_NS: a holder that
 * died in the one gap the kernel cannot cover (robust.c) is proven dead through
 * the host table instead.
 *
 * Handles. A process maps each bank once: handles on the same file share the
 * mapping, so a word has one address in the process, the one on its robust
 * list. A handle closed while its process still holds a lock of the bank
 * leaves the mapping in place until the process ends, since the kernel must be
 * able to reach the word when it does.
 */
#include "smemkit/hwlock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bank.h"
#include "hwlock-internal.h"
#include "core/fault.h"
#include "core/futex.h"
#include "core/shm.h"
#include "core/util.h"
#include "smemkit/region.h"

#define SPIN_TRIES        2000u
#define FALLBACK_SLICE_NS 20000000L

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct smem_bank *registry;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&registry_mu);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&registry_mu);
}

/* The child holds no registration: the entries name its parent. */
static void atfork_child(void)
{
	pthread_mutex_init(&registry_mu, NULL);
	for (struct smem_bank *b = registry; b; b = b->next)
		memset(b->host_refs, 0, sizeof(b->host_refs));
}

/* registry_mu before robust.c's mutex, as every caller takes them. */
static void install_atfork(void)
{
	smem__robust_atfork_install();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void smem__hwlock_registry_lock(void)
{
	pthread_once(&atfork_once, install_atfork);
	pthread_mutex_lock(&registry_mu);
}

void smem__hwlock_registry_unlock(void)
{
	pthread_mutex_unlock(&registry_mu);
}

static _Atomic uint32_t *lock_word(const struct smem_bank *b, unsigned id)
{
	return (_Atomic uint32_t *)(b->base + SMEM_BANK_WORDS + (size_t)id * b->stride);
}

static _Atomic uint32_t *robust_word(const struct smem_bank *b, unsigned id)
{
	return (_Atomic uint32_t *)&b->robust[id].word;
}

static bool stride_ok(uint64_t stride)
{
	return stride >= 4 && stride <= SMEM_HWLOCK_MAX_STRIDE && stride % 4 == 0;
}

/*
 * The sleep between looks at a holder that never changes: FALLBACK_SLICE_NS,
 * or none with SMEMKIT_HWLOCK_NO_FALLBACK=1 in the environment (tests).
 */
static int64_t fallback_slice_ns(void)
{
	static _Atomic int64_t cache;

	return smem__fallback_slice_ns("SMEMKIT_HWLOCK_NO_FALLBACK", FALLBACK_SLICE_NS, &cache);
}

/* Why @base cannot be a bank of @size bytes, or NULL if it is one. */
static const char *bank_problem(const uint8_t *base, size_t size, unsigned *ret_stride)
{
	const struct smem_bank_hdr *hd = (const void *)base;
	struct smem_bank_layout l;
	uint32_t stride;

	if (size < sizeof(*hd))
		return "too small for a lock bank header";
	/* A1: the magic is stored last by format; acquire what it published. */
	atomic_thread_fence(memory_order_acquire);
	if (memcmp(hd->magic, SMEM_BANK_MAGIC, sizeof(hd->magic)) != 0)
		return "no lock bank header (not a bank, a half-made one, or one being reset)";
	if (shm_ld32(&hd->version) != SMEM_BANK_VERSION)
		return "a lock bank of another version";
	stride = shm_ld32(&hd->stride);
	if (!stride_ok(stride))
		return "a lock bank header with an invalid stride";
	l = smem__bank_layout(stride);
	if (shm_ld32(&hd->nlocks) != SMEM_HWLOCK_COUNT ||
	    shm_ld32(&hd->nhosts) != SMEM_HWLOCK_TABLE_HOSTS ||
	    shm_ld32(&hd->words) != SMEM_BANK_WORDS || shm_ld32(&hd->robust) != l.robust ||
	    shm_ld32(&hd->journal) != l.journal || shm_ld32(&hd->hosts) != l.hosts ||
	    shm_ld32(&hd->size) != l.size)
		return "a lock bank header whose layout is not the one of its stride";
	if (size != l.size)
		return "a lock bank whose size is not the one its header gives";
	*ret_stride = stride;
	return NULL;
}

const char *smem__hwlock_problem(const void *base, size_t size)
{
	unsigned stride;

	return bank_problem(base, size, &stride);
}

int smem_hwlock_format(void *mem, size_t size, unsigned stride)
{
	struct smem_bank_layout l;
	struct smem_bank_hdr *hd = mem;

	if (!mem || !stride_ok(stride))
		return -EINVAL;
	l = smem__bank_layout(stride);
	if (size != l.size)
		return -EINVAL;
	/*
	 * Reset before anyone can use the bank; the caller's hand-off (an exec, a
	 * file that others open later) orders it. The magic goes last, so a bank
	 * is recognised only once it is whole.
	 */
	memset(mem, 0, size);
	*hd = (struct smem_bank_hdr){
		.version = htole32(SMEM_BANK_VERSION),
		.stride = htole32(stride),
		.nlocks = htole32(SMEM_HWLOCK_COUNT),
		.nhosts = htole32(SMEM_HWLOCK_TABLE_HOSTS),
		.words = htole32(SMEM_BANK_WORDS),
		.robust = htole32(l.robust),
		.journal = htole32(l.journal),
		.hosts = htole32(l.hosts),
		.size = htole32(l.size),
	};
	/* A1: everything above before the magic. */
	atomic_thread_fence(memory_order_release);
	memcpy(hd->magic, SMEM_BANK_MAGIC, sizeof(hd->magic));
	return 0;
}

void smem_hwlock_opts_init(struct smem_hwlock_opts *o)
{
	*o = (struct smem_hwlock_opts){ 0 };
}

/* Under registry_mu. */
static struct smem_bank *registry_find(const struct smem_region *key, uint64_t dev, uint64_t ino)
{
	for (struct smem_bank *b = registry; b; b = b->next)
		if (key ? b->key == key : (b->ino == ino && b->dev == dev && b->ino))
			return b;
	return NULL;
}

/*
 * A handle on the bank in @r. A writable bank already mapped by this process
 * is shared (and @r closed when @own); otherwise @r becomes a new bank.
 */
static int bank_attach(struct smem_region *r, bool own, struct smem_hwlock **ret)
{
	uint8_t *base = smem_region_base(r);
	bool writable = smem_region_writable(r);
	uint64_t dev = 0, ino = 0;
	struct smem_hwlock *h;
	struct smem_bank *b;
	unsigned stride;
	struct stat st;

	if (bank_problem(base, smem_region_size(r), &stride))
		return -EBADMSG;
	if (own && smem_region_fd(r) >= 0 && fstat(smem_region_fd(r), &st) == 0) {
		dev = st.st_dev;
		ino = st.st_ino;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	smem__hwlock_registry_lock();
	b = writable ? registry_find(own ? NULL : r, dev, ino) : NULL;
	if (b && b->stride != stride)
		b = NULL; /* reformatted with another stride while we held it: map anew */
	if (!b) {
		struct smem_bank_layout l = smem__bank_layout(stride);

		b = calloc(1, sizeof(*b));
		if (!b) {
			smem__hwlock_registry_unlock();
			free(h);
			return -ENOMEM;
		}
		*b = (struct smem_bank){
			.region = own ? r : NULL,
			.key = own ? NULL : r,
			.dev = dev,
			.ino = ino,
			.base = base,
			.stride = stride,
			.robust = (struct smem_robust *)(base + l.robust),
			.journal = (struct smem_lock_journal *)(base + l.journal),
			.hosts = (struct smem_host_entry *)(base + l.hosts),
			.writable = writable,
		};
		if (writable) {
			b->next = registry;
			registry = b;
		}
	} else if (own) {
		smem_region_close(r); /* the process's mapping of this file is b's */
	}
	b->refs++;
	smem__hwlock_registry_unlock();
	h->b = b;
	*ret = h;
	return 0;
}

struct smem_lock_journal *smem__hwlock_journal(struct smem_hwlock *h, unsigned id)
{
	return h && id < SMEM_HWLOCK_COUNT ? &h->b->journal[id] : NULL;
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
	return bank_attach(r, false, ret);
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
		err = bank_attach(r, true, ret);
	if (err < 0)
		smem_region_close(r);
	return err;
}

void smem_hwlock_close(struct smem_hwlock *h)
{
	struct smem_bank *b, **p;

	if (!h)
		return;
	b = h->b;
	for (unsigned host = 0; host < SMEM_HWLOCK_TABLE_HOSTS; host++)
		while (h->registered[host] && smem_hwlock_host_unregister(h, host) == 0)
			;
	smem__hwlock_registry_lock();
	/*
	 * A bank whose words this process still holds stays mapped (see the
	 * top). A borrowed one cannot: its owner unmaps it, so its words leave
	 * the robust list first, and the bank leaves the registry.
	 */
	if (--b->refs == 0 && b->key)
		smem__robust_forget_in(b->base, smem__bank_layout(b->stride).size);
	if (b->refs == 0 &&
	    (!b->writable || smem__robust_held_in(b->base, smem__bank_layout(b->stride).size) == 0)) {
		for (p = &registry; *p; p = &(*p)->next)
			if (*p == b) {
				*p = b->next;
				break;
			}
		smem_region_close(b->region);
		free(b);
	}
	smem__hwlock_registry_unlock();
	free(h);
}

unsigned smem__hwlock_stride(const struct smem_hwlock *h)
{
	return h->b->stride;
}

static bool args_ok(const struct smem_hwlock *h, unsigned id, unsigned host)
{
	return h && id < SMEM_HWLOCK_COUNT && host <= SMEM_HWLOCK_MAX_HOST;
}

/* Take lock @id's robust word from @expected; then the lock word names @host. */
static int take(struct smem_bank *b, unsigned id, unsigned host, uint32_t expected, uint32_t bits,
		uint32_t *ret_seen)
{
	int r = smem__robust_take(&b->robust[id], expected, bits, false, ret_seen);

	if (r < 0)
		return r;
	/* L2: a label for people; the robust word's acquire (R1) ordered the rest. */
	atomic_store_explicit(lock_word(b, id), host + 1, memory_order_release);
	FAULT_POINT("hwlock.lock.after_acquire");
	return 0;
}

int smem_hwlock_trylock(struct smem_hwlock *h, unsigned id, unsigned host)
{
	if (!args_ok(h, id, host))
		return -EINVAL;
	if (!h->b->writable)
		return -EROFS;
	return take(h->b, id, host, 0, 0, NULL);
}

/* Took @id from a dead holder: tell every sleeper (some may wait for exactly this). */
static int recovered(struct smem_bank *b, unsigned id)
{
	smem__futex_wake_all(robust_word(b, id));
	FAULT_POINT("hwlock.lock.after_bust");
	return SMEM_HWLOCK_RECOVERED;
}

int smem_hwlock_lock(struct smem_hwlock *h, unsigned id, unsigned host, unsigned timeout_ms,
		     unsigned flags)
{
	bool bust = flags & SMEM_HWLOCK_BUST_DEAD;
	int64_t deadline, slice;
	struct smem_bank *b;
	_Atomic uint32_t *rw;
	int r;

	if (flags & ~SMEM_HWLOCK_BUST_DEAD)
		return -EINVAL;
	r = smem_hwlock_trylock(h, id, host);
	if (r != -EBUSY)
		return r;
	b = h->b;
	rw = robust_word(b, id);
	deadline = smem__now_ns() + (int64_t)timeout_ms * 1000000;
	slice = fallback_slice_ns();

	for (unsigned i = 0; timeout_ms && i < SPIN_TRIES; i++) {
		uint32_t v;

		smem__cpu_relax();
		/* A plain look first, to keep the line shared while it is held. */
		v = atomic_load_explicit(rw, memory_order_relaxed);
		if (v == 0 && take(b, id, host, 0, 0, NULL) == 0)
			return 0;
		if (v & SMEM_ROBUST_DIED)
			break;
		if ((i & 63) == 63 && smem__now_ns() >= deadline)
			return -ETIMEDOUT;
	}

	for (;;) {
		/* A look: every decision below is a compare-and-swap from it (R1, L3). */
		uint32_t v = atomic_load_explicit(rw, memory_order_relaxed), wait_on;
		int64_t left;

		if (v == 0) {
			/* Others may sleep: whoever takes it after a sleep keeps the flag. */
			r = take(b, id, host, 0, SMEM_ROBUST_WAITERS, NULL);
			if (r != -EBUSY)
				return r;
			continue;
		}
		if (v & SMEM_ROBUST_DIED) {
			/*
			 * A dead holder's lock goes to a waiter that agreed to repair, or
			 * to the dead host's successor: nobody else repairs for it.
			 */
			/* A look at the label: who may take the word; R1 decides. */
			uint32_t label = atomic_load_explicit(lock_word(b, id), memory_order_relaxed);

			/* A label of 0: the holder died inside its unlock; nobody's, so anyone's. */
			if (bust || label == host + 1 || label == 0) {
				r = take(b, id, host, v, SMEM_ROBUST_WAITERS, NULL);
				if (r == 0)
					return recovered(b, id);
				if (r != -EBUSY)
					return r;
				continue;
			}
			/*
			 * The kernel woke one sleeper: pass it on to all, once, then wait
			 * for a bust. Relaxed: the flag orders no data; takers' R1 acquires.
			 */
			if (v & SMEM_ROBUST_WAITERS) {
				if (atomic_compare_exchange_strong_explicit(
					    rw, &v, v & ~SMEM_ROBUST_WAITERS, memory_order_relaxed,
					    memory_order_relaxed))
					smem__futex_wake_all(rw);
				continue;
			}
			wait_on = v;
		} else {
			if (timeout_ms == 0)
				return -ETIMEDOUT;
			/* L3: announce the sleeper in the word itself; an unlock then must wake. */
			if (!(v & SMEM_ROBUST_WAITERS) &&
			    !atomic_compare_exchange_strong_explicit(rw, &v, v | SMEM_ROBUST_WAITERS,
								     memory_order_relaxed,
								     memory_order_relaxed))
				continue;
			wait_on = v | SMEM_ROBUST_WAITERS;
		}
		FAULT_POINT("hwlock.lock.before_sleep");
		left = deadline - smem__now_ns();
		if (left <= 0 || timeout_ms == 0)
			return -ETIMEDOUT;
		r = smem__futex_wait(rw, wait_on, slice < left ? slice : left);
		/*
		 * A whole slice without a change: look the holder up in the host
		 * table (looks only; the take's R1 from wait_on decides).
		 */
		if (r == -ETIMEDOUT && bust && !(wait_on & SMEM_ROBUST_DIED) &&
		    atomic_load_explicit(rw, memory_order_relaxed) == wait_on &&
		    smem__hwlock_id_dead(b, wait_on & SMEM_ROBUST_ID,
					 atomic_load_explicit(lock_word(b, id), memory_order_relaxed)) ==
			    1 &&
		    take(b, id, host, wait_on, SMEM_ROBUST_WAITERS, NULL) == 0)
			return recovered(b, id);
	}
}

int smem_hwlock_unlock(struct smem_hwlock *h, unsigned id, unsigned host)
{
	struct smem_bank *b;
	uint32_t old;

	if (!args_ok(h, id, host))
		return -EINVAL;
	b = h->b;
	if (!b->writable)
		return -EROFS;
	/*
	 * Only the holder releases, and only as the host it took the lock as.
	 * U1: the label is cleared first, then the robust word released (R2).
	 */
	/* U2: the release swap returns the flag a sleeper set (L3); R3 wakes one. */
	return smem__robust_release(&b->robust[id], false, lock_word(b, id), host + 1, &old);
}

int smem_hwlock_bust(struct smem_hwlock *h, unsigned id, unsigned owner)
{
	uint32_t expected = owner + 1, zero = 0, v;
	struct smem_bank *b;

	if (!args_ok(h, id, owner))
		return -EINVAL;
	b = h->b;
	if (!b->writable)
		return -EROFS;
	/* The robust word first: a taker swaps it (R1) before it writes its label. */
	v = atomic_load_explicit(robust_word(b, id), memory_order_acquire);
	if (!v)
		return 0;
	/* B1: only if @owner's label is still there, so a new holder is never released. */
	if (!atomic_compare_exchange_strong_explicit(lock_word(b, id), &expected, 0,
						     memory_order_seq_cst, memory_order_relaxed))
		return 0;
	/*
	 * B2: release the word @owner's label named, only if nobody took it
	 * since (then its label is its own, or about to be); pairs with R1.
	 */
	if (!atomic_compare_exchange_strong_explicit(robust_word(b, id), &v, 0,
						     memory_order_acq_rel, memory_order_relaxed)) {
		/* B3: the label back, unless the taker's own (L2) is there already. */
		expected = owner + 1;
		atomic_compare_exchange_strong_explicit(lock_word(b, id), &zero, expected,
							memory_order_relaxed, memory_order_relaxed);
		return 0;
	}
	smem__robust_forget(&b->robust[id]);
	smem__futex_wake_all(robust_word(b, id));
	return 1;
}

int smem__hwlock_mark_dead(struct smem_hwlock *h, unsigned id, unsigned owner)
{
	uint32_t expected = owner + 1, v;
	struct smem_bank *b;

	if (!args_ok(h, id, owner))
		return -EINVAL;
	b = h->b;
	if (!b->writable)
		return -EROFS;
	/* M1: the word as the dead holder left it; pairs with R1 of a taker. */
	v = atomic_load_explicit(robust_word(b, id), memory_order_acquire);
	if (!v || atomic_load_explicit(lock_word(b, id), memory_order_relaxed) != expected)
		return 0;
	/*
	 * M2: what the kernel does at a process's death, if it has not: the word
	 * marked, only if nobody took or released it since, and only if the word
	 * is the dead registrant's own. The label alone proves nothing: another
	 * live process can hold the lock under that host (a forked worker), or
	 * have just taken it and not yet written its own label.
	 */
	if (!(v & SMEM_ROBUST_DIED)) {
		if (smem__hwlock_id_dead(b, v & SMEM_ROBUST_ID, expected) != 1)
			return 0;
		if (!atomic_compare_exchange_strong_explicit(robust_word(b, id), &v,
							     v | SMEM_ROBUST_DIED,
							     memory_order_acq_rel, memory_order_relaxed))
			return 0;
	}
	/* M3: a dead word without a label is anyone's, taken with SMEM_HWLOCK_RECOVERED. */
	if (!atomic_compare_exchange_strong_explicit(lock_word(b, id), &expected, 0,
						     memory_order_relaxed, memory_order_relaxed))
		return 0;
	smem__futex_wake_all(robust_word(b, id));
	return 1;
}

int smem_hwlock_owner(struct smem_hwlock *h, unsigned id, unsigned *ret_value)
{
	if (!h || id >= SMEM_HWLOCK_COUNT || !ret_value)
		return -EINVAL;
	/* O1: an observation only; nothing is read under it. */
	*ret_value = atomic_load_explicit(lock_word(h->b, id), memory_order_relaxed);
	return 0;
}

int smem__hwlock_robust(struct smem_hwlock *h, unsigned id, uint32_t *ret_word)
{
	if (!h || id >= SMEM_HWLOCK_COUNT || !ret_word)
		return -EINVAL;
	/* O1, for the robust word. */
	*ret_word = atomic_load_explicit(robust_word(h->b, id), memory_order_relaxed);
	return 0;
}
