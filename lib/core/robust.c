// SPDX-License-Identifier: MIT
/*
 * Process-owned robust words (see robust.h).
 *
 * The kernel keeps one robust list per thread and walks it when that thread
 * exits or execs. glibc owns the list of every thread it creates, so this
 * library starts one thread of its own, the liveness thread, registers a list
 * head of its own there, and links every robust word the process holds into
 * that list. The thread blocks every signal and sleeps; it ends only with the
 * process, which is exactly when the kernel must mark the words.
 *
 * The list as the kernel sees it is a chain of link fields in shared memory,
 * ending at the head. This process never reads those links back: the chain is
 * mirrored in private memory (chain[]), and every change is made from the
 * mirror, so a peer that scribbles over a link can at worst make the kernel
 * miss words when this process dies, never make this process write outside
 * its memory. The kernel's own walk is bounded and stops at a bad pointer.
 *
 * A word being taken or released is named by list_op_pending first, so a death
 * between the swap and the list change still has it marked (or, when it was
 * just released, its sleeper woken), as glibc does for its robust mutexes.
 *
 * One gap remains when a thread other than the liveness thread swaps: if the
 * whole process is killed at that moment, the liveness thread may run its exit
 * walk before the swapping thread has stopped, and a word swapped after the
 * walk stays unmarked. Registrations are therefore taken and released by the
 * liveness thread itself (by_liveness); a lock that slips through the gap is
 * recovered through the host table instead (hosts.c).
 */
#include "robust.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"
#include "futex.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* the chain, the request */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static struct robust_list_head head;
static struct smem_robust **chain; /* chain[0] is head.list.next */
static size_t n_chain, cap_chain;
static uint32_t self_id; /* 0: no liveness thread (yet, or since fork) */

/* A call the liveness thread makes on a requester's behalf, under the requester's mu. */
static struct {
	int (*fn)(void *arg);
	void *arg;
	int ret;
	_Atomic uint32_t seq, done;
} req;

static struct robust_list *entry_of(const struct smem_robust *r)
{
	return (struct robust_list *)&((struct smem_robust *)r)->link;
}

static void set_pending(const struct smem_robust *r)
{
	/*
	 * Named before the swap, cleared after the list change. The kernel reads
	 * it only when the liveness thread exits, and a fence here would not close
	 * the gap the top of this file names: release stores keep program order.
	 */
	atomic_store_explicit((_Atomic(struct robust_list *) *)&head.list_op_pending,
			      r ? entry_of(r) : NULL, memory_order_release);
}

static ssize_t find(const struct smem_robust *r)
{
	for (size_t i = 0; i < n_chain; i++)
		if (chain[i] == r)
			return (ssize_t)i;
	return -1;
}

static void store_link(struct smem_robust *r, struct robust_list *next)
{
	/* K1: read only by the kernel, when the liveness thread exits (see set_pending). */
	atomic_store_explicit((_Atomic uint64_t *)&r->link, (uint64_t)(uintptr_t)next,
			      memory_order_release);
}

static void set_first(struct robust_list *first)
{
	/* K1, as in store_link(). */
	atomic_store_explicit((_Atomic(struct robust_list *) *)&head.list.next, first,
			      memory_order_release);
}

/* Link @r in front: its link first, then the head, so the kernel always sees a whole chain. */
static void link_front(struct smem_robust *r)
{
	store_link(r, n_chain ? entry_of(chain[0]) : &head.list);
	set_first(entry_of(r));
	memmove(chain + 1, chain, n_chain * sizeof(*chain));
	chain[0] = r;
	n_chain++;
}

static void unlink_at(size_t i)
{
	struct robust_list *next = i + 1 < n_chain ? entry_of(chain[i + 1]) : &head.list;

	if (i == 0)
		set_first(next);
	else
		store_link(chain[i - 1], next);
	memmove(chain + i, chain + i + 1, (n_chain - i - 1) * sizeof(*chain));
	n_chain--;
}

static bool ours(const struct smem_robust *r)
{
	/* A look: only the owner stores its id, so a word that holds it is ours. */
	uint32_t cur = atomic_load_explicit((const _Atomic uint32_t *)&r->word, memory_order_relaxed);

	return (cur & SMEM_ROBUST_ID) == self_id && !(cur & SMEM_ROBUST_DIED);
}

/*
 * Drop from the chain every word that is no longer ours (a bust took it, and
 * another process may hold it now, its link field with it), linking around
 * it through our own words only: this process writes no link it does not own.
 */
static void prune(void)
{
	size_t kept = 0;

	for (size_t i = 0; i < n_chain; i++)
		if (ours(chain[i]))
			chain[kept++] = chain[i];
	if (kept == n_chain)
		return;
	n_chain = kept;
	for (size_t i = n_chain; i-- > 0;)
		store_link(chain[i], i + 1 < n_chain ? entry_of(chain[i + 1]) : &head.list);
	set_first(n_chain ? entry_of(chain[0]) : &head.list);
}

static int reserve(void)
{
	struct smem_robust **c;
	size_t cap;

	if (n_chain < cap_chain)
		return 0;
	cap = cap_chain ? cap_chain * 2 : 64;
	c = realloc(chain, cap * sizeof(*c));
	if (!c)
		return -ENOMEM;
	chain = c;
	cap_chain = cap;
	return 0;
}

static void *liveness_main(void *arg)
{
	_Atomic int *started = arg;
	int r;

	head.list.next = &head.list;
	head.futex_offset = (long)offsetof(struct smem_robust, word) -
			    (long)offsetof(struct smem_robust, link);
	head.list_op_pending = NULL;
	r = (int)syscall(SYS_set_robust_list, &head, sizeof(head));
	if (r == 0) {
		self_id = (uint32_t)syscall(SYS_gettid);
		/* S1: self_id and the head before the start is seen; pairs with S2. */
		atomic_store_explicit(started, 1, memory_order_release);
	} else {
		atomic_store_explicit(started, -errno, memory_order_release);
	}
	smem__futex_wake_all((_Atomic uint32_t *)started);
	if (r != 0)
		return NULL;
	for (;;) {
		/* Q2: the request's fields after its number; pairs with Q1. */
		uint32_t s = atomic_load_explicit(&req.seq, memory_order_acquire);

		/* done is written by this thread only. */
		if (s != atomic_load_explicit(&req.done, memory_order_relaxed)) {
			req.ret = req.fn(req.arg);
			/* Q3: the result before its number; pairs with Q4. */
			atomic_store_explicit(&req.done, s, memory_order_release);
			smem__futex_wake_all(&req.done);
			continue;
		}
		smem__futex_wait(&req.seq, s, -1);
	}
	return NULL;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&mu);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&mu);
}

/* The child has no liveness thread and holds nothing: the words name its parent. */
static void atfork_child(void)
{
	pthread_mutex_init(&mu, NULL);
	self_id = 0;
	n_chain = 0;
	memset(&head, 0, sizeof(head));
	atomic_store_explicit(&req.seq, 0, memory_order_relaxed);
	atomic_store_explicit(&req.done, 0, memory_order_relaxed);
}

static void install_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Under mu. */
static int start_locked(void)
{
	_Atomic int started = 0;
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t t;
	int err;

	if (self_id)
		return 0;
	if (pthread_attr_init(&a))
		return -ENOMEM;
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* The thread inherits a full mask: no handler of the program ever runs on it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, &a, liveness_main, &started);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (err)
		return -err;
	pthread_setname_np(t, "smemkit-live");
	/* S2: pairs with S1. */
	while (atomic_load_explicit(&started, memory_order_acquire) == 0)
		smem__futex_wait((_Atomic uint32_t *)&started, 0, -1);
	return started < 0 ? started : 0;
}

int smem__robust_self(uint32_t *ret_id)
{
	int r;

	pthread_once(&atfork_once, install_atfork);
	pthread_mutex_lock(&mu);
	r = start_locked();
	if (r == 0)
		*ret_id = self_id;
	pthread_mutex_unlock(&mu);
	return r;
}

/* Run fn on the liveness thread; under mu. */
static int on_liveness(int (*fn)(void *), void *arg)
{
	/* seq is written by requesters only, under mu. */
	uint32_t s = atomic_load_explicit(&req.seq, memory_order_relaxed) + 1;

	req.fn = fn;
	req.arg = arg;
	/* Q1: the request before its number; pairs with Q2. */
	atomic_store_explicit(&req.seq, s, memory_order_release);
	smem__futex_wake_all(&req.seq);
	for (;;) {
		/* Q4: pairs with Q3. */
		uint32_t d = atomic_load_explicit(&req.done, memory_order_acquire);

		if (d == s)
			return req.ret;
		smem__futex_wait(&req.done, d, -1);
	}
}

struct take_args {
	struct smem_robust *r;
	uint32_t expected, bits, seen;
};

static int take_locked(void *arg)
{
	struct take_args *t = arg;
	_Atomic uint32_t *w = (_Atomic uint32_t *)&t->r->word;
	uint32_t cur = t->expected;
	ssize_t stale;

	prune();
	set_pending(t->r);
	/* R1: acquire; pairs with R2 of the previous owner. */
	if (!atomic_compare_exchange_strong_explicit(w, &cur, self_id | t->bits,
						     memory_order_acquire, memory_order_relaxed)) {
		set_pending(NULL);
		t->seen = cur;
		return -EBUSY;
	}
	FAULT_POINT("hwlock.robust.after_swap");
	/* Once ours and taken from us since (a bust): the old entry goes before the new. */
	stale = find(t->r);
	if (stale >= 0)
		unlink_at((size_t)stale);
	link_front(t->r);
	set_pending(NULL);
	return 0;
}

int smem__robust_take(struct smem_robust *r, uint32_t expected, uint32_t bits, bool by_liveness,
		      uint32_t *ret_seen)
{
	struct take_args t = { .r = r, .expected = expected, .bits = bits };
	int err;

	pthread_once(&atfork_once, install_atfork);
	pthread_mutex_lock(&mu);
	err = start_locked();
	if (err == 0)
		err = reserve();
	if (err == 0)
		err = by_liveness ? on_liveness(take_locked, &t) : take_locked(&t);
	pthread_mutex_unlock(&mu);
	if (err == -EBUSY && ret_seen)
		*ret_seen = t.seen;
	return err;
}

struct release_args {
	struct smem_robust *r;
	_Atomic uint32_t *label;
	uint32_t label_was, old;
};

static int release_locked(void *arg)
{
	struct release_args *a = arg;
	_Atomic uint32_t *w = (_Atomic uint32_t *)&a->r->word;
	ssize_t i;
	uint32_t cur;

	prune();
	i = find(a->r);
	if (i < 0)
		return -EPERM;
	/* A look; R2's compare-and-swap below decides. */
	cur = atomic_load_explicit(w, memory_order_relaxed);
	if ((cur & SMEM_ROBUST_ID) != self_id || (cur & SMEM_ROBUST_DIED)) {
		unlink_at((size_t)i); /* taken from us: forget it, leave the word */
		return -EPERM;
	}
	if (a->label) {
		uint32_t was = a->label_was;

		/*
		 * The label goes first, so a label that names a host always has a
		 * holder. Relaxed: it orders no data; R2 releases the critical section.
		 */
		if (!atomic_compare_exchange_strong_explicit(a->label, &was, 0, memory_order_relaxed,
							     memory_order_relaxed))
			return -EPERM;
		FAULT_POINT("hwlock.unlock.after_word");
	}
	set_pending(a->r);
	unlink_at((size_t)i);
	/* R2: release what was done under the word; pairs with R1 of the next owner. */
	while (!atomic_compare_exchange_weak_explicit(w, &cur, 0, memory_order_release,
						      memory_order_relaxed)) {
		if ((cur & SMEM_ROBUST_ID) != self_id || (cur & SMEM_ROBUST_DIED)) {
			set_pending(NULL);
			return -EPERM;
		}
	}
	FAULT_POINT("hwlock.unlock.after_release");
	/*
	 * R3: wake a sleeper that announced itself, before the word leaves
	 * list_op_pending: a death in between still has the kernel wake one.
	 */
	if (cur & SMEM_ROBUST_WAITERS)
		smem__futex_wake(w, 1);
	set_pending(NULL);
	a->old = cur;
	return 0;
}

int smem__robust_release(struct smem_robust *r, bool by_liveness, _Atomic uint32_t *label,
			 uint32_t label_was, uint32_t *ret_old)
{
	struct release_args a = { .r = r, .label = label, .label_was = label_was };
	int err;

	pthread_once(&atfork_once, install_atfork);
	pthread_mutex_lock(&mu);
	if (!self_id)
		err = -EPERM;
	else
		err = by_liveness ? on_liveness(release_locked, &a) : release_locked(&a);
	pthread_mutex_unlock(&mu);
	if (err == 0 && ret_old)
		*ret_old = a.old;
	return err;
}

bool smem__robust_held(const struct smem_robust *r)
{
	/* A look, as in ours(). */
	uint32_t cur = atomic_load_explicit((const _Atomic uint32_t *)&r->word, memory_order_relaxed);
	bool held;

	pthread_mutex_lock(&mu);
	held = self_id && (cur & SMEM_ROBUST_ID) == self_id && !(cur & SMEM_ROBUST_DIED) &&
	       find(r) >= 0;
	pthread_mutex_unlock(&mu);
	return held;
}

void smem__robust_forget(const struct smem_robust *r)
{
	ssize_t i;

	pthread_mutex_lock(&mu);
	i = find(r);
	if (i >= 0)
		unlink_at((size_t)i);
	prune();
	pthread_mutex_unlock(&mu);
}

void smem__robust_forget_in(const void *base, size_t size)
{
	uintptr_t lo = (uintptr_t)base;
	size_t kept = 0;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n_chain; i++)
		if ((uintptr_t)chain[i] - lo >= size)
			chain[kept++] = chain[i];
	if (kept != n_chain) {
		n_chain = kept;
		for (size_t i = n_chain; i-- > 0;)
			store_link(chain[i], i + 1 < n_chain ? entry_of(chain[i + 1]) : &head.list);
		set_first(n_chain ? entry_of(chain[0]) : &head.list);
	}
	pthread_mutex_unlock(&mu);
}

void smem__robust_atfork_install(void)
{
	pthread_once(&atfork_once, install_atfork);
}

size_t smem__robust_held_in(const void *base, size_t size)
{
	uintptr_t lo = (uintptr_t)base;
	size_t n = 0;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n_chain; i++)
		if ((uintptr_t)chain[i] - lo < size)
			n++;
	pthread_mutex_unlock(&mu);
	return n;
}
