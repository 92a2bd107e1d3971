// SPDX-License-Identifier: MIT
/*
 * Doorbells: how a message-queue notification wakes a host (the "vIRQ").
 *
 * Each notification has a bell, one cache line with two words: seq, bumped by
 * every ring and by every push, and sleep, a set of BELL_* bits that waiters set
 * before they sleep and that a ringer takes with one exchange. The ringer makes
 * a system call only when it took a non-zero sleep word, so a host whose peer
 * keeps up, or polls, never pays for the doorbell.
 *
 * No lost wake-up. A waiter reads seq, sets its sleep bit, issues a seq_cst
 * fence (W1), then re-checks the level (the count against the threshold) and
 * the seq; only if neither says "go" does it sleep, and only while seq still
 * holds the value it read. A ringer publishes its message or its consumption,
 * issues a seq_cst fence (F1 in msgq.c), then reads sleep. By the fence rules
 * of C11 one of the two sees the other's store: either the ringer sees the bit
 * and rings (bumping seq, so a FUTEX_WAIT that has not started yet returns at
 * once), or the waiter's re-check sees the new level. models/msgq.pml checks
 * the same protocol with spin.
 *
 * Futex doorbells sleep in FUTEX_WAIT on seq (a shared futex: the word is
 * mapped by other processes). Eventfd doorbells are for a host's own event
 * loop: smem_msgq_arm() resets the eventfd, sets BELL_EVENTFD and re-checks,
 * and the ringer writes the eventfd of the end it notifies. Blocking calls use
 * the futex on every kind but POLL, where they only poll.
 *
 * Waiting first polls for spin_ns: on a machine whose idle CPUs halt, a wake-up
 * through the kernel costs tens of microseconds, far more than a peer's reply.
 *
 * Asymmetric fences. A fence on every send and receive costs the fast path a
 * drain of the store buffer. Futex and eventfd doorbells only work inside one
 * kernel, where membarrier(2) lets the rare side pay: on a queue marked
 * MSGQ_F_ASYM, a process registers for MEMBARRIER_CMD_GLOBAL_EXPEDITED before
 * its first notification, its F1 becomes a compiler barrier, and a waiter runs
 * MEMBARRIER_CMD_GLOBAL_EXPEDITED after setting its sleep bit (W1). When that
 * call returns, every running thread of every registered process has passed a
 * full barrier, so either a notifier's publication is visible to the re-check,
 * or its later look at the bell sees the sleep bit: the same guarantee as the
 * fence pair. Registration does not survive fork(), so a child registers anew
 * (an atfork handler forgets the registration); a process that cannot register
 * keeps the full fence, and a waiter whose membarrier fails sleeps in 1 ms
 * slices rather than risk a lost wake-up (SMEMKIT_MSGQ_NO_FALLBACK=1 removes
 * the bound, for tests).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/futex.h"
#include "msgq/msgq-internal.h"

int64_t smem__msgq_now_ns(void)
{
	return smem__now_ns();
}

/* This process's registration: 0 unknown, 1 registered, -1 impossible. */
static _Atomic int registered;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_registration(void)
{
	atomic_store_explicit(&registered, 0, memory_order_relaxed);
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_registration);
}

static int membarrier(int cmd)
{
	return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

bool smem__msgq_asym_supported(void)
{
	int r = membarrier(MEMBARRIER_CMD_QUERY);

	return r >= 0 && (r & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
	       (r & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED);
}

void smem__msgq_publish_fence(struct smem_msgq *q)
{
	if (q->qflags & MSGQ_F_ASYM) {
		/* R0: a process-local flag; the registration call itself is a full barrier. */
		int reg = atomic_load_explicit(&registered, memory_order_relaxed);

		if (reg == 0) {
			pthread_once(&atfork_once, install_atfork);
			reg = membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0 ? 1 : -1;
			atomic_store_explicit(&registered, reg, memory_order_relaxed);
		}
		if (reg == 1) {
			/* F1 (asymmetric): the waiter's membarrier in W1 is the fence here. */
			atomic_signal_fence(memory_order_seq_cst);
			return;
		}
	}
	/* F1: pairs with W1. */
	atomic_thread_fence(memory_order_seq_cst);
}

bool smem__msgq_sleep_fence(struct smem_msgq *q)
{
	/* W1: pairs with F1 (a full fence) ... */
	atomic_thread_fence(memory_order_seq_cst);
	/* ... and, on an asymmetric queue, stands in for the notifiers' fence. */
	if (q->qflags & MSGQ_F_ASYM)
		return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
	return true;
}

#define BOUNDED_SLEEP_NS 1000000

/* SMEMKIT_MSGQ_NO_FALLBACK=1 (tests) lifts the bound. */
static int64_t fallback_slice_ns(void)
{
	static _Atomic int64_t cache;

	return smem__fallback_slice_ns("SMEMKIT_MSGQ_NO_FALLBACK", BOUNDED_SLEEP_NS, &cache);
}

void smem__msgq_ring(struct smem_msgq *q, struct msgq_bell *b, int efd, _Atomic uint32_t *counter)
{
	uint32_t sleep;

	/*
	 * D1: take the waiters' bits; the caller's fence F1 ordered this after its
	 * publishing store, and the exchange makes exactly one ringer wake them.
	 */
	sleep = atomic_exchange_explicit(&b->sleep, 0, memory_order_relaxed);
	if (!sleep)
		return;
	/* D2: move seq so a waiter between its check and FUTEX_WAIT does not sleep; pairs with W2. */
	atomic_fetch_add_explicit(&b->seq, 1, memory_order_release);
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed); /* statistics only */
	if (sleep & BELL_FUTEX)
		smem__futex_wake_all(&b->seq);
	if ((sleep & BELL_EVENTFD) && efd >= 0) {
		uint64_t one = 1;

		/* An eventfd write fails only when its counter would overflow: it is readable then. */
		if (write(efd, &one, sizeof(one)) < 0) {
		}
	}
	(void)q;
}

/*
 * A waiter that is its end's only thread takes its own bit back when it stops
 * waiting, so the next ring does not make a system call for nobody. With several
 * threads on the end the bit stays: another may still sleep.
 */
static void unsleep(struct smem_msgq *q, struct msgq_bell *b)
{
	uint32_t multi = b == &q->shm->rxbell ? MSGQ_F_MULTI_RECV : MSGQ_F_MULTI_SEND;

	if (!(q->qflags & multi))
		atomic_fetch_and_explicit(&b->sleep, ~BELL_FUTEX, memory_order_relaxed);
}

int smem__msgq_wait(struct smem_msgq *q, struct msgq_bell *b, bool (*level)(struct smem_msgq *),
		    int64_t deadline_ns)
{
	/* W2: the seq at the start; any ring or push after it ends the wait. Pairs with D2. */
	uint32_t s0 = atomic_load_explicit(&b->seq, memory_order_acquire);
	bool spin = q->spin_ns || q->doorbell == SMEM_MSGQ_DOORBELL_POLL;
	int64_t now, spin_end = INT64_MAX;

	/*
	 * The clock is first read after 64 looks, so that a peer's quick reply is
	 * not met with a clock read: the spin is then longer by those few looks.
	 */
	for (unsigned i = 1; spin; i++) {
		if (level(q) || atomic_load_explicit(&b->seq, memory_order_acquire) != s0)
			return 0;
		smem__cpu_relax();
		if ((i & 63) == 0) {
			now = smem__msgq_now_ns();
			if (i == 64)
				spin_end = q->doorbell == SMEM_MSGQ_DOORBELL_POLL ? deadline_ns
										  : now + q->spin_ns;
			if (now >= deadline_ns)
				return -ETIMEDOUT;
			if (now >= spin_end)
				break;
			/* A poller that has spun a while lets others on its CPU run. */
			if (q->doorbell == SMEM_MSGQ_DOORBELL_POLL && (i & 0xffff) == 0)
				sched_yield();
		}
	}

	for (;;) {
		/* W2: a ring since s0 ends the wait; pairs with D2 in smem__msgq_ring(). */
		uint32_t s = atomic_load_explicit(&b->seq, memory_order_acquire);
		int64_t left;
		bool fenced;

		if (s != s0)
			return 0;
		atomic_fetch_or_explicit(&b->sleep, BELL_FUTEX, memory_order_relaxed);
		/* W1: the sleep bit before the level re-check; pairs with F1 in msgq.c. */
		fenced = smem__msgq_sleep_fence(q);
		if (level(q)) {
			unsleep(q, b);
			return 0;
		}
		left = deadline_ns - smem__msgq_now_ns();
		if (left <= 0) {
			unsleep(q, b);
			return -ETIMEDOUT;
		}
		if (!fenced && left > fallback_slice_ns())
			left = fallback_slice_ns();
		smem__futex_wait(&b->seq, s, left);
	}
}

int smem__msgq_arm(struct smem_msgq *q, struct msgq_bell *b, int efd,
		   bool (*level)(struct smem_msgq *))
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t v;

	/* Reset the eventfd first, so that a ring after the re-check leaves it readable. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN)) {
		if (read(efd, &v, sizeof(v)) < 0) {
		}
	}
	atomic_fetch_or_explicit(&b->sleep, BELL_EVENTFD, memory_order_relaxed);
	/* W1 (event loops): as in smem__msgq_wait(). Without the barrier, drain again. */
	if (!smem__msgq_sleep_fence(q))
		return 1;
	return level(q) ? 1 : 0;
}
