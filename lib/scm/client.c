// SPDX-License-Identifier: MIT
/*
 * The client of smemtzd, with the merged discipline of Linux's qcom_scm:
 *
 *   lock(call lock); args = the call
 *   loop: res = smc(args)
 *         SLEEP(wq, ctx): wait for completion wq (holding the lock); args = RESUME(ctx)
 *   unlock
 *   V2_EBUSY: pause, and from the top with the original call, a bounded number of times
 *
 * The completions are counting semaphores, one per wait-queue context, so a
 * wake that comes before the sleeper waits is kept for it. They are posted by
 * the interrupt thread, which never takes the call lock (the sleeper holds
 * it): it waits on the interrupt eventfd, and asks GET_WQ_CTX, on slot 0 of
 * its own, until no wake-up is left (more_pending 0). smemtzd sends one
 * wake-up per parked call it wakes, WAKE_ALL included, so a post per
 * wake-up is exactly the count of sleepers to release.
 *
 * smemtzd's end of the socket closing is its going away: the interrupt
 * thread, which watches the socket, marks the slots in flight LOST (smemtzd
 * can no longer answer them), wakes them, and releases every sleeper, which
 * then fail with -ECONNRESET. While the thread is in a GET_WQ_CTX of its own
 * it looks at the socket between sleeps of 100 ms: a fast call answered at
 * once normally, and a liveness check, not a synchronisation.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/futex.h"
#include "core/unixsock.h"
#include "core/util.h"
#include "rm/proto.h"
#include "scm/proto.h"
#include "smemkit/scm.h"

#define IRQ_SLOT     0u
#define CALL_SLOT    1u
#define SPIN_TRIES   100u
#define LIVENESS_NS  100000000

struct smem_scm {
	int fd;                 /* the connection: its end is smemtzd's */
	int doorbell;
	int irq;
	char *path;             /* the socket as given, or NULL; again at each reconnect */
	/*
	 * Read-locked by every call, write-locked to reconnect: a new
	 * connection is made with no call in flight on the old one.
	 */
	pthread_rwlock_t conn_lock;
	sem_t started;          /* posted by the interrupt thread once it runs */
	int stop;               /* eventfd: smem_scm_close() tells the interrupt thread */
	int ep;                 /* the interrupt thread's: the connection, irq and stop */
	struct smem_scm_page *page;
	unsigned client, wq_cnt;
	struct smem_scm_opts o;
	pthread_mutex_t call_lock;
	pthread_t irq_thread;
	bool thread_started;
	_Atomic bool lost;
	sem_t waitq[SMEM_SCM_MAX_WQ];
	/*
	 * allow-multi-call: each call in flight on a slot of its own, and a
	 * completion per slot for the context it sleeps in; a wake-up for a
	 * context nobody sleeps in yet is kept (early) until its sleeper comes.
	 */
	bool multi;
	pthread_mutex_t multi_lock;
	pthread_cond_t slot_free;
	uint32_t busy_slots;
	struct waiter {
		bool sleeping;
		uint64_t ctx;
		sem_t sem;
	} waiters[SMEM_SCM_SLOTS];
	uint64_t early[2 * SMEM_SCM_SLOTS];
	unsigned n_early;
	_Atomic uint64_t calls, smcs, sleeps, wakes, ebusy, failed_busy, interrupted, reconnects;
};

void smem_scm_opts_init(struct smem_scm_opts *o)
{
	if (!o)
		return;
	*o = (struct smem_scm_opts){ .flags = 0, .ebusy_wait_us = 30000, .ebusy_retries = 21 };
}

static void count(_Atomic uint64_t *c)
{
	/* A statistic: nothing is ordered by it. */
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static int socket_path(const char *path, char *buf, size_t len)
{
	return smem__socket_path(path, "SMEMKIT_TZ_SOCKET", "tz.sock", buf, len);
}

/* Is smemtzd's end of the socket gone? (It never sends after the registration.) */
static bool server_gone(const struct smem_scm *s)
{
	struct pollfd p = { s->fd, POLLIN, 0 };

	return poll(&p, 1, 0) != 0;
}

/*
 * One frame on slot @i, and its answer (and its a6, if @a6). Return: 0 with @res filled;
 * -ECONNRESET when smemtzd is gone; -EPROTO for a slot in a state the client
 * never wrote (something scribbled on the page).
 */
static int smc(struct smem_scm *s, unsigned i, const uint64_t a[8], struct smem_scm_res *res,
	       uint64_t *a6)
{
	struct smem_scm_slot *sl = &s->page->slot[i];
	uint64_t one = 1;

	/* L2: pairs with L1 in mark_lost(). */
	if (atomic_load_explicit(&s->lost, memory_order_acquire))
		return -ECONNRESET;
	memcpy(sl->a, a, sizeof(sl->a));
	sl->seq++;
	count(&s->smcs);
	/*
	 * C1: the frame before the state; pairs with T1 in smemtzd's take.
	 * P1: sequentially consistent with the load of polling after it, as
	 * P2 in smemtzd is (see scm/proto.h): a skipped ring is never lost.
	 */
	atomic_store_explicit(&sl->state, SMEM_SCM_SLOT_POSTED, memory_order_seq_cst);
	/* Posted, not rung: smemtzd finds it at the next ring, or at the client's end. */
	FAULT_POINT("scm.call.posted");
	if (!atomic_load_explicit(&s->page->polling, memory_order_seq_cst) &&
	    write(s->doorbell, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		return -ECONNRESET;
	for (unsigned spin = 0;; spin++) {
		/* D1 of smemtzd: the result before DONE. */
		uint32_t v = atomic_load_explicit(&sl->state, memory_order_acquire);

		if (v == SMEM_SCM_SLOT_DONE) {
			res->a0 = (int64_t)sl->r[0];
			res->a1 = sl->r[1];
			res->a2 = sl->r[2];
			res->a3 = sl->r[3];
			if (a6)
				*a6 = sl->r6;
			/* The slot back to its caller; no other side reads FREE (smemtzd takes POSTED only). */
			atomic_store_explicit(&sl->state, SMEM_SCM_SLOT_FREE, memory_order_relaxed);
			return 0;
		}
		if (v == SMEM_SCM_SLOT_LOST) {
			/* As above: FREE is for this client alone. */
			atomic_store_explicit(&sl->state, SMEM_SCM_SLOT_FREE, memory_order_relaxed);
			return -ECONNRESET;
		}
		if (v != SMEM_SCM_SLOT_POSTED && v != SMEM_SCM_SLOT_TAKEN)
			return -EPROTO;
		if (spin < SPIN_TRIES) {
			smem__cpu_relax();
			continue;
		}
		/*
		 * The interrupt thread's own calls cannot count on itself to see
		 * smemtzd go: it looks between sleeps. The callers' slots are
		 * marked LOST by it, which changes the word and wakes them.
		 */
		if (i == IRQ_SLOT) {
			if (smem__futex_wait(&sl->state, v, LIVENESS_NS) == -ETIMEDOUT &&
			    server_gone(s))
				return -ECONNRESET;
		} else {
			smem__futex_wait(&sl->state, v, -1);
		}
	}
}

/* smemtzd went away: no answer comes to what is in flight, no wake-up to who sleeps. */
static void mark_lost(struct smem_scm *s)
{
	/* L1: pairs with L2 in smc() and the loads of lost after a wake-up. */
	atomic_store_explicit(&s->lost, true, memory_order_release);
	for (unsigned i = CALL_SLOT; i < SMEM_SCM_SLOTS; i++) {
		_Atomic uint32_t *st = &s->page->slot[i].state;
		/* Pairs with the caller's C1; the CAS below with its read of the state in smc(). */
		uint32_t v = atomic_load_explicit(st, memory_order_acquire);

		while ((v == SMEM_SCM_SLOT_POSTED || v == SMEM_SCM_SLOT_TAKEN) &&
		       !atomic_compare_exchange_weak_explicit(st, &v, SMEM_SCM_SLOT_LOST,
							      memory_order_acq_rel,
							      memory_order_acquire))
			;
		smem__futex_wake_all(st);
	}
	/* A sleeper that wakes finds lost set (release above). */
	for (unsigned w = 0; w < s->wq_cnt; w++)
		sem_post(&s->waitq[w]);
	for (unsigned i = 0; i < SMEM_SCM_SLOTS; i++)
		sem_post(&s->waiters[i].sem);
}

/* Take entry @i out of the early list, the order of the others kept. */
static void early_remove(struct smem_scm *s, unsigned i)
{
	memmove(&s->early[i], &s->early[i + 1], (s->n_early - i - 1) * sizeof(s->early[0]));
	s->n_early--;
}

/* A multi-call wake-up for the call sleeping in @ctx: its slot's completion, or kept. */
static void deliver(struct smem_scm *s, uint64_t ctx)
{
	unsigned i;

	count(&s->wakes);
	pthread_mutex_lock(&s->multi_lock);
	for (i = 0; i < SMEM_SCM_SLOTS; i++)
		if (s->waiters[i].sleeping && s->waiters[i].ctx == ctx)
			break;
	if (i < SMEM_SCM_SLOTS) {
		s->waiters[i].sleeping = false;
		sem_post(&s->waiters[i].sem);
	} else {
		/*
		 * Kept, oldest first. A wake-up of a context whose call is already
		 * over (a second one, after a late resume) stays for good when it
		 * comes after that call; when the list is full the oldest goes, so
		 * such leftovers cannot crowd out the wake-up of a sleeper about
		 * to sleep, which is taken within microseconds.
		 */
		if (s->n_early == ARRAY_SIZE(s->early))
			early_remove(s, 0);
		s->early[s->n_early++] = ctx;
	}
	pthread_mutex_unlock(&s->multi_lock);
}

/*
 * One frame on @slot, with the wake-ups that ride on its answers: each
 * WAITQ_WAKE {wq_ctx, the woken call's context, flags} is delivered and
 * acknowledged (WAITQ_ACK), and the frame goes on, until its own answer.
 */
static int smc_multi(struct smem_scm *s, unsigned slot, const uint64_t a[8], struct smem_scm_res *res,
		     uint64_t *a6)
{
	uint64_t ack[8] = { SMEM_SCM_FN_WAITQ_ACK, 1 };
	int r = smc(s, slot, a, res, a6);

	while (r == 0 && res->a0 == SMEM_SCM_WAITQ_WAKE) {
		/*
		 * Delivered at once, not when this call is over: the call it rode
		 * on may hold something for long, and the woken one would lose its
		 * turn waiting for it.
		 */
		ack[2] = res->a2;
		deliver(s, res->a2);
		/* Delivered, not acknowledged: smemtzd keeps the frame it rode on. */
		FAULT_POINT("scm.multi.wake");
		r = smc(s, slot, ack, res, a6);
	}
	return r;
}

/*
 * One frame of a call, and its re-issues while it is INTERRUPTED: fn id 1,
 * the other words as they were, a6 the session token the answer gave
 * (qcom_scm's ARM_SMCCC_QUIRK_QCOM_A6).
 */
static int smc_call(struct smem_scm *s, unsigned slot, const uint64_t a[8], struct smem_scm_res *res)
{
	uint64_t b[8], token = 0;
	int r;

	memcpy(b, a, sizeof(b));
	for (;;) {
		r = s->multi ? smc_multi(s, slot, b, res, &token) : smc(s, slot, b, res, &token);
		if (r < 0 || res->a0 != SMEM_SCM_INTERRUPTED)
			return r;
		count(&s->interrupted);
		/* Interrupted, not re-issued: smemtzd keeps the session. */
		FAULT_POINT("scm.call.interrupted");
		b[0] = SMEM_SCM_FN_REISSUE;
		b[6] = token;
	}
}

/* The "waitq interrupt": every wake-up smemtzd has for this client, one post each. */
static void *irq_main(void *arg)
{
	struct smem_scm *s = arg;
	static const uint64_t get[8] = { SMEM_SCM_FN_GET_WQ_CTX };

	/* Running: connect may return (see setup()). */
	sem_post(&s->started);
	for (;;) {
		struct epoll_event ev[3];
		struct smem_scm_res res;
		bool gone = false, irq = false;
		uint64_t v;
		/* epoll, not poll: nothing is added to and taken off the three wait queues each time. */
		int n = epoll_wait(s->ep, ev, 3, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			mark_lost(s);
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == s->stop)
				return NULL;
			if (ev[i].data.fd == s->fd)
				gone = true;
			if (ev[i].data.fd == s->irq)
				irq = true;
		}
		if (gone) {
			mark_lost(s);
			return NULL;
		}
		if (!irq)
			continue;
		if (read(s->irq, &v, sizeof(v)) < 0 && errno != EAGAIN)
			continue;
		/* Multi-call: the wake-ups ride on a NOP, one WAITQ_WAKE each. */
		if (s->multi) {
			static const uint64_t nop[8] = { SMEM_SCM_FN_NOP };

			if (smc_multi(s, IRQ_SLOT, nop, &res, NULL) < 0) {
				mark_lost(s);
				return NULL;
			}
			continue;
		}
		do {
			if (smc(s, IRQ_SLOT, get, &res, NULL) < 0) {
				mark_lost(s);
				return NULL;
			}
			if (res.a0 != SMEM_SCM_SUCCESS || res.a1 >= s->wq_cnt ||
			    !(res.a2 & (SMEM_SCM_WAKE_ONE | SMEM_SCM_WAKE_ALL)))
				break;
			count(&s->wakes);
			/* Told by GET_WQ_CTX, the sleeper not posted yet. */
			FAULT_POINT("scm.irq.wake");
			sem_post(&s->waitq[res.a1]);
		} while (res.a3);
	}
}

static int do_register(struct smem_scm *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t req[SMEM_SCM_REG_LEN], rep[64];
	int fds[3] = { -1, -1, -1 };
	unsigned nfds = 0;
	struct stat st;
	ssize_t n;
	int r;

	r = socket_path(path, sa.sun_path, sizeof(sa.sun_path));
	if (r < 0)
		return r;
	s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	put_le32(req, SMEM_SCM_MAGIC);
	put_le32(req + 4, s->o.flags & (SMEM_SCM_NO_WAITQ | SMEM_SCM_MULTI_CALL));
	/* A full smemtzd may have answered (-EUSERS) and hung up already: read it all the same. */
	if (send(s->fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req) && errno != EPIPE &&
	    errno != ECONNRESET)
		return -errno;
	n = smem__rm_recv(s->fd, rep, sizeof(rep), 0, fds, 3, &nfds);
	r = n < 0 ? (int)n : 0;
	if (r == 0 && n != SMEM_SCM_REPLY_LEN)
		r = n == 0 ? -ECONNRESET : -EPROTO;
	if (r == 0 && get_le32(rep) != 0) {
		int32_t e = (int32_t)get_le32(rep);

		r = e < 0 && e > -4096 ? e : -EPROTO;
	}
	if (r == 0 && nfds != 3)
		r = -EPROTO;
	if (r == 0 && (fstat(fds[0], &st) < 0 || st.st_size != SMEM_SCM_PAGE))
		r = -EPROTO;
	if (r == 0) {
		s->page = mmap(NULL, SMEM_SCM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
		if (s->page == MAP_FAILED) {
			s->page = NULL;
			r = -errno;
		}
	}
	if (r == 0 && (s->page->magic != SMEM_SCM_MAGIC || s->page->version != SMEM_SCM_VERSION ||
		       s->page->nslots != SMEM_SCM_SLOTS))
		r = -EPROTO;
	if (fds[0] >= 0)
		close(fds[0]);
	if (r < 0) {
		if (fds[1] >= 0)
			close(fds[1]);
		if (fds[2] >= 0)
			close(fds[2]);
		return r;
	}
	s->client = get_le32(rep + 4);
	s->doorbell = fds[1];
	s->irq = fds[2];
	return 0;
}

/* The connection's own parts: its page, its fds, its interrupt thread. */
static void disconnect(struct smem_scm *s)
{
	if (s->thread_started)
		pthread_join(s->irq_thread, NULL);
	s->thread_started = false;
	if (s->page)
		munmap(s->page, SMEM_SCM_PAGE);
	s->page = NULL;
	if (s->fd >= 0)
		close(s->fd);
	if (s->doorbell >= 0)
		close(s->doorbell);
	if (s->irq >= 0)
		close(s->irq);
	if (s->ep >= 0)
		close(s->ep);
	s->fd = s->doorbell = s->irq = s->ep = -1;
}

/* Register, ask GET_INFO, start the interrupt thread: a connection, new or again. */
static int setup(struct smem_scm *s)
{
	static const uint64_t info[8] = { SMEM_SCM_FN_GET_INFO };
	struct smem_scm_res res;
	int r = do_register(s, s->path);

	/* GET_INFO: wq_cnt in bits 7:0 of the first result; without it, one context. */
	if (r == 0)
		r = smc(s, CALL_SLOT, info, &res, NULL);
	if (r == 0) {
		s->wq_cnt = res.a0 == SMEM_SCM_SUCCESS ? (unsigned)(res.a1 & 0xff) : 1;
		if (s->wq_cnt == 0 || s->wq_cnt > SMEM_SCM_MAX_WQ)
			r = -EPROTO;
	}
	if (r == 0) {
		s->ep = epoll_create1(EPOLL_CLOEXEC);
		r = s->ep < 0 ? -errno : 0;
		for (unsigned k = 0; r == 0 && k < 3; k++) {
			int fd = k == 0 ? s->fd : k == 1 ? s->irq : s->stop;
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

			if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
				r = -errno;
		}
		if (r == 0)
			r = -pthread_create(&s->irq_thread, NULL, irq_main, s);
		s->thread_started = r == 0;
	}
	/*
	 * Not before the thread runs: a fork() while it is still being set up
	 * (a sanitizer's allocator, say, locked by it) would leave the child a
	 * lock nobody holds any more.
	 */
	while (s->thread_started && sem_wait(&s->started) < 0)
		;
	return r;
}

/*
 * smemtzd went away (the interrupt thread has marked the client lost and
 * ended): connect again, with nothing of the old connection left. Called
 * with no call in flight (the connection lock held for writing), so no
 * sleeper waits on a completion that is made anew here.
 */
static int reconnect(struct smem_scm *s)
{
	int r;

	disconnect(s);
	for (unsigned w = 0; w < SMEM_SCM_MAX_WQ; w++) {
		sem_destroy(&s->waitq[w]);
		sem_init(&s->waitq[w], 0, 0);
	}
	for (unsigned i = 0; i < SMEM_SCM_SLOTS; i++) {
		sem_destroy(&s->waiters[i].sem);
		sem_init(&s->waiters[i].sem, 0, 0);
		s->waiters[i].sleeping = false;
	}
	s->n_early = 0;
	/*
	 * smc() refuses while lost: GET_INFO on the new page must get through.
	 * Relaxed here and below: the interrupt thread that set it is joined,
	 * and every call reads it after taking the connection lock this holds
	 * for writing.
	 */
	atomic_store_explicit(&s->lost, false, memory_order_relaxed);
	r = setup(s);
	if (r < 0) {
		disconnect(s);
		atomic_store_explicit(&s->lost, true, memory_order_relaxed);
		return r;
	}
	count(&s->reconnects);
	return 0;
}

int smem_scm_connect(const char *socket_path_arg, const struct smem_scm_opts *o,
		     struct smem_scm **ret)
{
	struct smem_scm *s;
	int r;

	if (!ret || (o && (o->flags & ~(SMEM_SCM_NO_WAITQ | SMEM_SCM_MULTI_CALL) ||
			   (o->flags & SMEM_SCM_NO_WAITQ && o->flags & SMEM_SCM_MULTI_CALL))))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = s->doorbell = s->irq = s->stop = s->ep = -1;
	smem_scm_opts_init(&s->o);
	if (o)
		s->o = *o;
	pthread_mutex_init(&s->call_lock, NULL);
	pthread_mutex_init(&s->multi_lock, NULL);
	pthread_rwlock_init(&s->conn_lock, NULL);
	sem_init(&s->started, 0, 0);
	pthread_cond_init(&s->slot_free, NULL);
	s->multi = s->o.flags & SMEM_SCM_MULTI_CALL;
	for (unsigned w = 0; w < SMEM_SCM_MAX_WQ; w++)
		sem_init(&s->waitq[w], 0, 0);
	for (unsigned i = 0; i < SMEM_SCM_SLOTS; i++)
		sem_init(&s->waiters[i].sem, 0, 0);
	r = 0;
	if (socket_path_arg) {
		s->path = strdup(socket_path_arg);
		r = s->path ? 0 : -ENOMEM;
	}
	if (r == 0) {
		s->stop = eventfd(0, EFD_CLOEXEC);
		r = s->stop < 0 ? -errno : 0;
	}
	if (r == 0)
		r = setup(s);
	if (r < 0) {
		smem_scm_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

void smem_scm_close(struct smem_scm *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	/* An interrupt thread still running is told to end; one that saw smemtzd go has ended. */
	if (s->thread_started && write(s->stop, &one, sizeof(one)) != sizeof(one)) {
		/* Cannot be told (a full counter cannot be, from 0): left to itself, not waited for. */
		pthread_detach(s->irq_thread);
		s->thread_started = false;
	}
	disconnect(s);
	if (s->stop >= 0)
		close(s->stop);
	free(s->path);
	for (unsigned w = 0; w < SMEM_SCM_MAX_WQ; w++)
		sem_destroy(&s->waitq[w]);
	for (unsigned i = 0; i < SMEM_SCM_SLOTS; i++)
		sem_destroy(&s->waiters[i].sem);
	pthread_cond_destroy(&s->slot_free);
	pthread_rwlock_destroy(&s->conn_lock);
	sem_destroy(&s->started);
	pthread_mutex_destroy(&s->multi_lock);
	pthread_mutex_destroy(&s->call_lock);
	free(s);
}

/* Sleep on completion @wq: what the interrupt thread posts, or the loss of smemtzd. */
static int wait_completion(struct smem_scm *s, unsigned wq)
{
	while (sem_wait(&s->waitq[wq]) < 0)
		if (errno != EINTR)
			return -errno;
	/* Pairs with L1 in mark_lost(), which posts after it. */
	if (atomic_load_explicit(&s->lost, memory_order_acquire))
		return -ECONNRESET;
	return 0;
}

/* Sleep in @ctx on @slot's completion, unless its wake-up came first. */
static int sleep_multi(struct smem_scm *s, unsigned slot, uint64_t ctx)
{
	struct waiter *w = &s->waiters[slot];

	pthread_mutex_lock(&s->multi_lock);
	for (unsigned i = 0; i < s->n_early; i++) {
		if (s->early[i] != ctx)
			continue;
		early_remove(s, i);
		pthread_mutex_unlock(&s->multi_lock);
		return 0;
	}
	w->ctx = ctx;
	w->sleeping = true;
	pthread_mutex_unlock(&s->multi_lock);
	while (sem_wait(&w->sem) < 0)
		if (errno != EINTR)
			return -errno;
	pthread_mutex_lock(&s->multi_lock);
	w->sleeping = false;
	pthread_mutex_unlock(&s->multi_lock);
	/* Pairs with L1 in mark_lost(), which posts after it. */
	return atomic_load_explicit(&s->lost, memory_order_acquire) ? -ECONNRESET : 0;
}

/*
 * One call of the multi-call discipline: on a slot of its own, no call lock;
 * a sleep is on the slot's completion, woken by the WAITQ_WAKE that names its
 * context, whichever call of the client it rode on.
 */
static int call_multi(struct smem_scm *s, const uint64_t orig[8], struct smem_scm_res *res)
{
	uint64_t a[8], last_ctx = 0;
	bool slept = false;
	unsigned slot;
	int r;

	pthread_mutex_lock(&s->multi_lock);
	while ((s->busy_slots | 1u << IRQ_SLOT) == (1u << SMEM_SCM_SLOTS) - 1)
		pthread_cond_wait(&s->slot_free, &s->multi_lock);
	for (slot = CALL_SLOT; s->busy_slots & 1u << slot; slot++)
		;
	s->busy_slots |= 1u << slot;
	pthread_mutex_unlock(&s->multi_lock);
	memcpy(a, orig, sizeof(a));
	for (;;) {
		r = smc_call(s, slot, a, res);
		if (r < 0 || res->a0 != SMEM_SCM_WAITQ_SLEEP)
			break;
		count(&s->sleeps);
		slept = true;
		last_ctx = res->a2;
		/* Answered SLEEP, not asleep: a wake-up delivered now is kept for it. */
		FAULT_POINT("scm.multi.slept");
		r = sleep_multi(s, slot, res->a2);
		if (r < 0)
			break;
		FAULT_POINT("scm.call.woken");
		a[0] = SMEM_SCM_FN_RESUME;
		a[1] = 1;
		a[2] = res->a2;
		memset(a + 3, 0, 5 * sizeof(*a));
	}
	pthread_mutex_lock(&s->multi_lock);
	/* A wake-up of this call's context that came too late to matter is not kept. */
	for (unsigned i = 0; slept && i < s->n_early;)
		if (s->early[i] == last_ctx)
			early_remove(s, i);
		else
			i++;
	s->busy_slots &= ~(1u << slot);
	pthread_cond_signal(&s->slot_free);
	pthread_mutex_unlock(&s->multi_lock);
	return r;
}

/* One call, its sleeps and resumes, and its EBUSY retries, on the connection there is. */
static int call_connected(struct smem_scm *s, const uint64_t orig[8], struct smem_scm_res *ret)
{
	uint64_t a[8];
	struct smem_scm_res res;
	unsigned retries = 0;
	int r;

	for (;;) {
		if (s->multi) {
			r = call_multi(s, orig, &res);
			if (r < 0)
				return r;
			goto answered;
		}
		pthread_mutex_lock(&s->call_lock);
		memcpy(a, orig, sizeof(a));
		for (;;) {
			r = smc_call(s, CALL_SLOT, a, &res);
			if (r < 0 || res.a0 != SMEM_SCM_WAITQ_SLEEP)
				break;
			count(&s->sleeps);
			if (res.a1 >= s->wq_cnt) {
				r = -EPROTO;
				break;
			}
			r = wait_completion(s, (unsigned)res.a1);
			if (r < 0)
				break;
			/* Woken, its resource kept for it, not resumed yet. */
			FAULT_POINT("scm.call.woken");
			/* RESUME {a1 arginfo: one value, a2 the call context}; may SLEEP again. */
			a[0] = SMEM_SCM_FN_RESUME;
			a[1] = 1;
			a[2] = res.a2;
			memset(a + 3, 0, 5 * sizeof(*a));
		}
		pthread_mutex_unlock(&s->call_lock);
		if (r < 0)
			return r;
answered:
		if (res.a0 != SMEM_SCM_V2_EBUSY)
			break;
		count(&s->ebusy);
		if (retries++ >= s->o.ebusy_retries) {
			count(&s->failed_busy);
			return -EBUSY;
		}
		if (s->o.ebusy_wait_us)
			usleep(s->o.ebusy_wait_us);
	}
	*ret = res;
	return 0;
}

/*
 * The connection read-locked, made again first if smemtzd went away since
 * the last call (calls in flight then failed with -ECONNRESET). Return: 0
 * with the lock held; or the error of the reconnect, without it.
 */
static int hold_connection(struct smem_scm *s)
{
	int r = 0;

	pthread_rwlock_rdlock(&s->conn_lock);
	/* L3: pairs with L1 in mark_lost(). */
	while (r == 0 && atomic_load_explicit(&s->lost, memory_order_acquire)) {
		pthread_rwlock_unlock(&s->conn_lock);
		pthread_rwlock_wrlock(&s->conn_lock);
		/* Under the write lock: another call may have reconnected meanwhile (see reconnect()). */
		if (atomic_load_explicit(&s->lost, memory_order_relaxed))
			r = reconnect(s);
		pthread_rwlock_unlock(&s->conn_lock);
		if (r == 0)
			pthread_rwlock_rdlock(&s->conn_lock);
	}
	return r;
}

int smem_scm_call(struct smem_scm *s, uint32_t fn, const uint64_t *args, unsigned nargs,
		  struct smem_scm_res *ret)
{
	uint64_t orig[8] = { fn };
	int r;

	if (!s || !ret || nargs > 7 || (nargs && !args))
		return -EINVAL;
	if (nargs)
		memcpy(orig + 1, args, nargs * sizeof(*args));
	count(&s->calls);
	r = hold_connection(s);
	if (r < 0)
		return r;
	r = call_connected(s, orig, ret);
	pthread_rwlock_unlock(&s->conn_lock);
	return r;
}

int smem_scm_assign_mem(struct smem_scm *s, uint64_t addr, uint64_t size, uint64_t *srcvm,
			const struct smem_scm_vmperm *newvm, unsigned dest_cnt)
{
	uint64_t args[7] = { 6, addr, size, 0, 0, 0, dest_cnt };
	struct smem_scm_res res;
	int r;

	if (!s || !srcvm || !newvm || dest_cnt == 0 || dest_cnt > SMEM_SCM_ASSIGN_MAX_DEST)
		return -EINVAL;
	args[3] = *srcvm;
	for (unsigned i = 0; i < dest_cnt; i++) {
		if (newvm[i].vmid >= 64 || newvm[i].perm == 0 || newvm[i].perm > SMEM_SCM_PERM_RWX)
			return -EINVAL;
		args[4 + i / 7] |= (uint64_t)(newvm[i].vmid | newvm[i].perm << 6) << (9 * (i % 7));
	}
	r = smem_scm_call(s, SMEM_SCM_FN_ASSIGN_MEM, args, 7, &res);
	if (r < 0)
		return r;
	switch (res.a0) {
	case SMEM_SCM_SUCCESS:
		*srcvm = res.a1;
		return 0;
	case SMEM_SCM_EINVAL_ARG:
	case SMEM_SCM_EINVAL_ADDR:
		return -EINVAL;
	case SMEM_SCM_ERROR:
		return -EPERM;
	case SMEM_SCM_ENOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

unsigned smem_scm_wq_cnt(const struct smem_scm *s)
{
	return s ? s->wq_cnt : 0;
}

int smem_scm_get_stats(const struct smem_scm *s, struct smem_scm_stats *ret)
{
	if (!s || !ret)
		return -EINVAL;
	*ret = (struct smem_scm_stats){
		.calls = atomic_load_explicit(&s->calls, memory_order_relaxed),
		.smcs = atomic_load_explicit(&s->smcs, memory_order_relaxed),
		.sleeps = atomic_load_explicit(&s->sleeps, memory_order_relaxed),
		.wakes = atomic_load_explicit(&s->wakes, memory_order_relaxed),
		.ebusy = atomic_load_explicit(&s->ebusy, memory_order_relaxed),
		.failed_busy = atomic_load_explicit(&s->failed_busy, memory_order_relaxed),
		.interrupted = atomic_load_explicit(&s->interrupted, memory_order_relaxed),
		.reconnects = atomic_load_explicit(&s->reconnects, memory_order_relaxed),
	};
	return 0;
}
