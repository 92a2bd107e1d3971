// SPDX-License-Identifier: MIT
/*
 * The secure-call service: calls executed one at a time by one thread, as
 * firmware executes SMCs, none of them ever waiting inside it.
 *
 * A call that needs what another call holds (a resource still held, a woken
 * call's reservation, an event not yet signalled) is parked at once: its
 * frame is kept in a call context (the progress kept), appended to the
 * resource's (or event's) FIFO, and the caller is answered WAITQ_SLEEP with
 * the wait-queue context (key modulo wq_cnt) and the call context's id. A
 * client registered without wait queues is answered V2_EBUSY instead, and
 * nothing is kept.
 *
 * When a resource is let go (the hold is over, or its holder went away), the
 * first parked call is woken: marked woken, the resource kept for it, one
 * wake-up queued for its client, and the client's interrupt eventfd written.
 * The client's GET_WQ_CTX takes its wake-ups one by one (more_pending says
 * whether another waits); its RESUME of the woken context executes the kept
 * frame again, now that the resource is kept for it. A RESUME of a context
 * not woken yet is answered SLEEP again; of one that is not the caller's, or
 * gone, EINVAL_ARG. WAKE_ALL (EVENT_SIGNAL) wakes every call parked on the
 * event, one wake-up each; WAKE_ONE the first.
 *
 * A client is its connection. When it closes (the process died, or closed
 * it), its parked calls are dropped, what it holds is let go, and what was
 * kept for it passes to the next in line: no other caller is left parked.
 *
 * Every frame is read once from the client's page into a local copy and
 * checked word by word; a slot in any state but POSTED is ignored. A client's
 * page is its own memfd, so nothing one client writes reaches another.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/futex.h"
#include "core/util.h"
#include "rm/proto.h"
#include "tzd.h"

/* What a call context holds: a call parked on a resource or an event, or an interrupted one. */
enum { KIND_RESOURCE = 1, KIND_EVENT = 2, KIND_SESSION = 3 };

void tzd_log(const struct tzd *t, const char *fmt, ...)
{
	va_list ap;

	if (!t->verbose)
		return;
	va_start(ap, fmt);
	fputs("smemtzd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int tzd_init(struct tzd *t, unsigned wq_cnt)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TZD_EV_TIMER };

	if (wq_cnt == 0 || wq_cnt > SMEM_SCM_MAX_WQ)
		return -EINVAL;
	t->wq_cnt = wq_cnt;
	t->mem = t->mem_a;
	t->mem_spare = t->mem_b;
	t->n_mem = 0;
	if (!t->resume_timeout_ns)
		t->resume_timeout_ns = TZD_RESUME_TIMEOUT_NS;
	for (unsigned i = 0; i < SMEM_SCM_RESOURCES; i++)
		t->res[i] = (struct tzd_resource){ .holder = -1, .reserved = -1, .head = -1,
						   .tail = -1 };
	for (unsigned i = 0; i < SMEM_SCM_EVENTS; i++)
		t->events[i] = (struct tzd_fifo){ -1, -1 };
	for (unsigned i = 0; i < TZD_MAX_CLIENTS; i++)
		t->clients[i] = (struct tzd_client){ .fd = -1, .doorbell = -1, .irq = -1 };
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->epfd < 0 || t->timer_fd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->timer_fd, &ev) < 0)
		return -errno;
	return 0;
}

void tzd_fini(struct tzd *t)
{
	for (unsigned i = 0; i < TZD_MAX_CLIENTS; i++)
		if (t->clients[i].used)
			tzd_client_drop(t, i);
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	if (t->epfd >= 0)
		close(t->epfd);
}

/* --- answers -------------------------------------------------------------- */

/* D1: the result, then DONE; pairs with the client's acquire of the state. */
static void reply6(struct tzd *t, unsigned c, unsigned slot, int64_t a0, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a6)
{
	struct smem_scm_slot *sl;

	if (!t->clients[c].used || !t->clients[c].page || slot >= SMEM_SCM_SLOTS)
		return;
	sl = &t->clients[c].page->slot[slot];
	sl->r[0] = (uint64_t)a0;
	sl->r[1] = a1;
	sl->r[2] = a2;
	sl->r[3] = a3;
	sl->r6 = a6;
	sl->rseq = sl->seq;
	atomic_store_explicit(&sl->state, SMEM_SCM_SLOT_DONE, memory_order_release);
	smem__futex_wake_all(&sl->state);
}

static void reply(struct tzd *t, unsigned c, unsigned slot, int64_t a0, uint64_t a1, uint64_t a2,
		  uint64_t a3)
{
	reply6(t, c, slot, a0, a1, a2, a3, 0);
}

static void raise_irq(struct tzd_client *cl)
{
	uint64_t one = 1;

	/* A full counter (a client that never reads) is its own business. */
	if (write(cl->irq, &one, sizeof(one)) < 0)
		return;
}

/* --- call contexts and their FIFOs ---------------------------------------- */

static uint64_t ctx_id(const struct tzd *t, int i)
{
	return (uint64_t)t->ctx[i].gen << 16 | (uint64_t)(i + 1);
}

/* The context @id names, if it is @c's; else -1. */
static int ctx_lookup(const struct tzd *t, unsigned c, uint64_t id)
{
	uint64_t idx = (id & 0xffff) - 1;

	if (id >> 32 || idx >= TZD_MAX_CTX)
		return -1;
	if (!t->ctx[idx].used || t->ctx[idx].client != c || t->ctx[idx].gen != (uint16_t)(id >> 16))
		return -1;
	return (int)idx;
}

static void fifo_push(struct tzd *t, int *head, int *tail, int i)
{
	t->ctx[i].next = -1;
	if (*tail >= 0)
		t->ctx[*tail].next = i;
	else
		*head = i;
	*tail = i;
}

static int fifo_pop(struct tzd *t, int *head, int *tail)
{
	int i = *head;

	if (i < 0)
		return -1;
	*head = t->ctx[i].next;
	if (*head < 0)
		*tail = -1;
	return i;
}

static void fifo_remove(struct tzd *t, int *head, int *tail, int i)
{
	int prev = -1;

	for (int k = *head; k >= 0; prev = k, k = t->ctx[k].next) {
		if (k != i)
			continue;
		if (prev >= 0)
			t->ctx[prev].next = t->ctx[k].next;
		else
			*head = t->ctx[k].next;
		if (*tail == k)
			*tail = prev;
		return;
	}
}

static void ctx_free(struct tzd *t, int i)
{
	struct tzd_ctx *x = &t->ctx[i];

	if (x->client < TZD_MAX_CLIENTS && t->clients[x->client].parked)
		t->clients[x->client].parked--;
	x->used = false;
	x->woken = false;
	x->gen++;
}

/*
 * A call context for @a of client @c, or -1 when there is none left for it
 * or at all (which firmware out of them answers as busy).
 */
static int ctx_alloc(struct tzd *t, unsigned c, const uint64_t a[8], uint8_t kind, unsigned key)
{
	int i;

	for (i = 0; i < (int)TZD_MAX_CTX && t->ctx[i].used; i++)
		;
	if (i == (int)TZD_MAX_CTX || t->clients[c].parked >= TZD_CTX_PER_CLIENT)
		return -1;
	t->ctx[i] = (struct tzd_ctx){ .used = true, .gen = t->ctx[i].gen, .kind = kind,
				      .client = c, .key = key, .wq = key % t->wq_cnt, .next = -1 };
	memcpy(t->ctx[i].a, a, sizeof(t->ctx[i].a));
	t->clients[c].parked++;
	return i;
}

/* Park @a of client @c on @key; answer SLEEP(wq, ctx) on @slot, or what keeps it from parking. */
static void park(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8], uint8_t kind,
		 unsigned key)
{
	struct tzd_client *cl = &t->clients[c];
	int i;

	if (!cl->waitq) {
		t->stats.ebusy++;
		reply(t, c, slot, SMEM_SCM_V2_EBUSY, 0, 0, 0);
		return;
	}
	i = ctx_alloc(t, c, a, kind, key);
	if (i < 0) {
		t->stats.ebusy++;
		reply(t, c, slot, SMEM_SCM_V2_EBUSY, 0, 0, 0);
		return;
	}
	if (kind == KIND_RESOURCE)
		fifo_push(t, &t->res[key].head, &t->res[key].tail, i);
	else
		fifo_push(t, &t->events[key].head, &t->events[key].tail, i);
	t->stats.sleeps++;
	reply(t, c, slot, SMEM_SCM_WAITQ_SLEEP, t->ctx[i].wq, ctx_id(t, i), 0);
}

/* Tell @i's client to resume it: one wake-up queued, its interrupt raised. */
static void wake(struct tzd *t, int i, uint8_t flags)
{
	struct tzd_client *cl = &t->clients[t->ctx[i].client];

	t->ctx[i].woken = true;
	t->stats.wakes++;
	if (cl->wake_len == TZD_WAKES) {
		/* Never asked for: the oldest goes. Only this client's sleepers can miss it. */
		cl->wake_head = (cl->wake_head + 1) % TZD_WAKES;
		cl->wake_len--;
		t->stats.dropped_wakes++;
	}
	cl->wakes[(cl->wake_head + cl->wake_len) % TZD_WAKES] =
		(struct tzd_wake){ .wq = (uint8_t)t->ctx[i].wq, .flags = flags, .ctx = ctx_id(t, i) };
	cl->wake_len++;
	raise_irq(cl);
}

/* --- resources ------------------------------------------------------------ */

static void arm_timer(struct tzd *t)
{
	int64_t next = 0;
	struct itimerspec its = { 0 };

	for (unsigned r = 0; r < SMEM_SCM_RESOURCES; r++) {
		int64_t at = 0;

		if (t->res[r].holder >= 0)
			at = t->res[r].until_ns;
		else if (t->res[r].reserved >= 0)
			at = t->ctx[t->res[r].reserved].woken_ns + t->resume_timeout_ns;
		if (at && (!next || at < next))
			next = at;
	}
	if (next == t->armed_ns)
		return;
	t->armed_ns = next;
	if (next) {
		its.it_value.tv_sec = next / 1000000000;
		its.it_value.tv_nsec = next % 1000000000;
	}
	timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Nobody holds @r now: the first parked call is woken, and @r kept for it. */
static void hand_on(struct tzd *t, unsigned r)
{
	struct tzd_resource *res = &t->res[r];
	int i;

	if (res->holder >= 0 || res->reserved >= 0)
		return;
	i = fifo_pop(t, &res->head, &res->tail);
	if (i < 0)
		return;
	res->reserved = i;
	t->ctx[i].woken_ns = smem__now_ns();
	wake(t, i, SMEM_SCM_WAKE_ONE);
	arm_timer(t);
}

/*
 * A woken call that did not resume in time (its client stopped, or never
 * asks) loses its turn, not its place: back to the tail, not woken, and the
 * next is woken. Its late RESUME is answered SLEEP, and it is woken again
 * when its turn comes round.
 */
static void resume_timeout(struct tzd *t, unsigned r, int64_t now)
{
	struct tzd_resource *res = &t->res[r];
	int i = res->reserved;

	if (i < 0 || res->holder >= 0 || now < t->ctx[i].woken_ns + t->resume_timeout_ns)
		return;
	t->stats.late_resumes++;
	res->reserved = -1;
	t->ctx[i].woken = false;
	fifo_push(t, &res->head, &res->tail, i);
	hand_on(t, r);
}

static void release(struct tzd *t, unsigned r, bool answer)
{
	struct tzd_resource *res = &t->res[r];

	if (res->holder < 0)
		return;
	if (answer)
		reply(t, (unsigned)res->holder, res->holder_slot, SMEM_SCM_SUCCESS, 0, 0, 0);
	res->holder = -1;
	hand_on(t, r);
}

void tzd_timer(struct tzd *t)
{
	uint64_t n;
	int64_t now = smem__now_ns();

	if (read(t->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	t->armed_ns = -1; /* re-armed below, whatever it was */
	for (unsigned r = 0; r < SMEM_SCM_RESOURCES; r++) {
		if (t->res[r].holder >= 0 && t->res[r].until_ns <= now)
			release(t, r, true);
		resume_timeout(t, r, now);
	}
	arm_timer(t);
}

/* --- execution ------------------------------------------------------------ */

static void do_hold(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8], int resumed)
{
	uint64_t r = a[2], us = a[3];
	struct tzd_resource *res;

	if (r >= SMEM_SCM_RESOURCES || us > SMEM_SCM_HOLD_MAX_US) {
		reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
		return;
	}
	res = &t->res[r];
	/*
	 * Free, and kept for nobody else; a newcomer queues behind the parked
	 * calls, so that a woken call's turn is not taken from it.
	 */
	if (resumed >= 0 ? res->reserved != resumed || res->holder >= 0
			 : res->holder >= 0 || res->reserved >= 0 || res->head >= 0) {
		park(t, c, slot, a, KIND_RESOURCE, (unsigned)r);
		return;
	}
	res->reserved = -1;
	res->holder = (int)c;
	res->holder_slot = slot;
	res->until_ns = smem__now_ns() + (int64_t)us * 1000;
	/* The answer comes when the hold is over; the slot stays TAKEN till then. */
	arm_timer(t);
	if (us == 0)
		tzd_timer(t);
}

static void do_signal(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8])
{
	uint64_t e = a[2], flags = a[3];
	struct tzd_fifo *f;
	uint64_t n = 0;
	int i;

	if (e >= SMEM_SCM_EVENTS || (flags != SMEM_SCM_WAKE_ONE && flags != SMEM_SCM_WAKE_ALL)) {
		reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
		return;
	}
	f = &t->events[e];
	while ((i = fifo_pop(t, &f->head, &f->tail)) >= 0) {
		wake(t, i, (uint8_t)flags);
		n++;
		if (flags == SMEM_SCM_WAKE_ONE)
			break;
	}
	reply(t, c, slot, SMEM_SCM_SUCCESS, n, 0, 0);
}

static void do_get_wq_ctx(struct tzd *t, unsigned c, unsigned slot)
{
	struct tzd_client *cl = &t->clients[c];
	struct tzd_wake w;

	/* Nothing for it: success with no flags, which ends the client's loop. */
	if (!cl->wake_len) {
		reply(t, c, slot, SMEM_SCM_SUCCESS, 0, 0, 0);
		return;
	}
	w = cl->wakes[cl->wake_head];
	cl->wake_head = (cl->wake_head + 1) % TZD_WAKES;
	cl->wake_len--;
	reply(t, c, slot, SMEM_SCM_SUCCESS, w.wq, w.flags, cl->wake_len != 0);
}

/*
 * WORK, one slice at a time: the call goes on from the session @i (or, when
 * @i is -1, starts), and is answered INTERRUPTED with the session's token
 * until its last slice, as firmware answers a long call that an interrupt
 * cut short. Other clients' calls are served between the slices.
 */
static void do_work(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8], int i)
{
	uint64_t x = i < 0 ? a[3] : t->ctx[i].x, done = i < 0 ? 0 : t->ctx[i].done;
	uint64_t slices = i < 0 ? 0 : t->ctx[i].slices, units = a[2];
	uint64_t end = units - done < SMEM_SCM_WORK_SLICE ? units : done + SMEM_SCM_WORK_SLICE;

	if (i < 0 && (units == 0 || units > SMEM_SCM_WORK_MAX)) {
		reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
		return;
	}
	for (; done < end; done++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	slices++;
	if (done == units) {
		if (i >= 0)
			ctx_free(t, i);
		reply(t, c, slot, SMEM_SCM_SUCCESS, x, done, slices);
		return;
	}
	if (i < 0)
		i = ctx_alloc(t, c, a, KIND_SESSION, 0);
	if (i < 0) {
		/* No session to keep the progress in: busy, and retried from the start. */
		t->stats.ebusy++;
		reply(t, c, slot, SMEM_SCM_V2_EBUSY, 0, 0, 0);
		return;
	}
	t->ctx[i].x = x;
	t->ctx[i].done = done;
	t->ctx[i].slices = slices;
	t->stats.interrupted++;
	reply6(t, c, slot, SMEM_SCM_INTERRUPTED, 0, 0, 0, ctx_id(t, i));
}

/* The interrupted calls @c left behind: a client of the merged discipline has one call at a time. */
static void drop_sessions(struct tzd *t, unsigned c)
{
	for (int i = 0; i < (int)TZD_MAX_CTX; i++)
		if (t->ctx[i].used && t->ctx[i].client == c && t->ctx[i].kind == KIND_SESSION)
			ctx_free(t, i);
}

static unsigned fifo_len(const struct tzd *t, int head)
{
	unsigned n = 0;

	for (int i = head; i >= 0 && n < TZD_MAX_CTX; i = t->ctx[i].next)
		n++;
	return n;
}

static void do_query(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8])
{
	if (a[2] == 0 && a[3] < SMEM_SCM_RESOURCES) {
		const struct tzd_resource *res = &t->res[a[3]];

		reply(t, c, slot, SMEM_SCM_SUCCESS, (uint64_t)(res->holder + 1),
		      fifo_len(t, res->head), res->reserved >= 0);
	} else if (a[2] == 1 && a[3] < SMEM_SCM_EVENTS) {
		reply(t, c, slot, SMEM_SCM_SUCCESS, 0, fifo_len(t, t->events[a[3]].head), 0);
	} else if (a[2] == 2) {
		uint64_t used = 0, sessions = 0;

		for (unsigned i = 0; i < TZD_MAX_CTX; i++) {
			used += t->ctx[i].used;
			sessions += t->ctx[i].used && t->ctx[i].kind == KIND_SESSION;
		}
		reply(t, c, slot, SMEM_SCM_SUCCESS, used, sessions, 0);
	} else {
		reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
	}
}

static void execute(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8], int resumed)
{
	uint32_t fn = (uint32_t)a[0];

	if (a[0] >> 32) {
		t->stats.bad_frames++;
		reply(t, c, slot, SMEM_SCM_EOPNOTSUPP, 0, 0, 0);
		return;
	}
	switch (fn) {
	case SMEM_SCM_FN_GET_INFO:
		/* wq_cnt in bits 7:0 of the first result, the interrupt in 15:0 of the second. */
		reply(t, c, slot, SMEM_SCM_SUCCESS, t->wq_cnt, TZD_IRQ, 0);
		return;
	case SMEM_SCM_FN_GET_WQ_CTX:
		do_get_wq_ctx(t, c, slot);
		return;
	case SMEM_SCM_FN_RESUME: {
		int i = ctx_lookup(t, c, a[2]);
		uint64_t orig[8];

		t->stats.resumes++;
		if (i < 0 || resumed >= 0 || t->ctx[i].kind == KIND_SESSION) {
			t->stats.bad_frames++;
			reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
			return;
		}
		if (!t->ctx[i].woken) {
			/* Not its turn yet: asleep again, in the same context. */
			t->stats.sleeps++;
			reply(t, c, slot, SMEM_SCM_WAITQ_SLEEP, t->ctx[i].wq, a[2], 0);
			return;
		}
		memcpy(orig, t->ctx[i].a, sizeof(orig));
		ctx_free(t, i);
		execute(t, c, slot, orig, i);
		return;
	}
	case SMEM_SCM_FN_REISSUE: {
		/* a6 the session token INTERRUPTED gave; the kept frame goes on. */
		int i = ctx_lookup(t, c, a[6]);

		if (i < 0 || t->ctx[i].kind != KIND_SESSION || resumed >= 0) {
			t->stats.bad_frames++;
			reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
			return;
		}
		do_work(t, c, slot, t->ctx[i].a, i);
		return;
	}
	case SMEM_SCM_FN_WORK:
		do_work(t, c, slot, a, -1);
		return;
	case SMEM_SCM_FN_HOLD:
		do_hold(t, c, slot, a, resumed);
		return;
	case SMEM_SCM_FN_EVENT_WAIT:
		if (a[2] >= SMEM_SCM_EVENTS) {
			reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
			return;
		}
		/* Resumed: the event it waited for came. */
		if (resumed >= 0)
			reply(t, c, slot, SMEM_SCM_SUCCESS, 0, 0, 0);
		else
			park(t, c, slot, a, KIND_EVENT, (unsigned)a[2]);
		return;
	case SMEM_SCM_FN_EVENT_SIGNAL:
		do_signal(t, c, slot, a);
		return;
	case SMEM_SCM_FN_QUERY:
		do_query(t, c, slot, a);
		return;
	case SMEM_SCM_FN_NOP:
		reply(t, c, slot, SMEM_SCM_SUCCESS, 0, 0, 0);
		return;
	case SMEM_SCM_FN_ASSIGN_MEM: {
		uint64_t owners = 0;
		int64_t r = tzd_assign(t, a, &owners);

		reply(t, c, slot, r, r == SMEM_SCM_SUCCESS ? owners : 0, 0, 0);
		return;
	}
	case SMEM_SCM_FN_MEM_QUERY: {
		uint64_t q[3];

		tzd_mem_query(t, a[2], a[3] < 64 ? (unsigned)a[3] : 64, q);
		reply(t, c, slot, SMEM_SCM_SUCCESS, q[0], q[1], q[2]);
		return;
	}
	default:
		reply(t, c, slot, SMEM_SCM_EOPNOTSUPP, 0, 0, 0);
		return;
	}
}

/* Calls of @c in progress: the resources it holds and its parked calls. */
static unsigned in_flight(const struct tzd *t, unsigned c)
{
	unsigned n = t->clients[c].parked;

	for (unsigned r = 0; r < SMEM_SCM_RESOURCES; r++)
		n += t->res[r].holder == (int)c;
	return n;
}

static bool is_fast(uint32_t fn)
{
	return fn == SMEM_SCM_FN_GET_INFO || fn == SMEM_SCM_FN_GET_WQ_CTX ||
	       fn == SMEM_SCM_FN_QUERY || fn == SMEM_SCM_FN_MEM_QUERY;
}

/*
 * A frame of a multi-call client, while a wake-up waits for it: answered
 * WAITQ_WAKE {a1 wq_ctx, a2 the woken call's context, a3 flags} instead, the
 * frame kept until the slot's WAITQ_ACK of that context, then executed.
 */
static bool piggyback(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8])
{
	struct tzd_client *cl = &t->clients[c];
	struct tzd_wake w;

	if (!cl->multi || !cl->wake_len)
		return false;
	w = cl->wakes[cl->wake_head];
	cl->wake_head = (cl->wake_head + 1) % TZD_WAKES;
	cl->wake_len--;
	cl->held[slot].held = true;
	cl->held[slot].ctx = w.ctx;
	memcpy(cl->held[slot].a, a, sizeof(cl->held[slot].a));
	reply(t, c, slot, SMEM_SCM_WAITQ_WAKE, w.wq, w.ctx, w.flags);
	return true;
}

static void run(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8])
{
	struct tzd_client *cl = &t->clients[c];
	uint32_t fn = (uint32_t)a[0];
	bool new_call;

	if (!is_fast(fn) && piggyback(t, c, slot, a))
		return;
	/*
	 * A client of the merged discipline has one call in progress at a time:
	 * a new call means an interrupted one was given up, and its session goes.
	 */
	new_call = !cl->multi && !is_fast(fn) && fn != SMEM_SCM_FN_RESUME &&
		   fn != SMEM_SCM_FN_REISSUE;

	/* No context, no session: the scan is skipped for the common call. */
	if (new_call && cl->parked)
		drop_sessions(t, c);
	if (new_call && in_flight(t, c)) {
		t->stats.ebusy++;
		reply(t, c, slot, SMEM_SCM_V2_EBUSY, 0, 0, 0);
		return;
	}
	execute(t, c, slot, a, -1);
}

void tzd_execute(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8])
{
	struct tzd_client *cl;
	uint64_t held[8];

	if (c >= TZD_MAX_CLIENTS || !t->clients[c].used || slot >= SMEM_SCM_SLOTS)
		return;
	cl = &t->clients[c];
	t->stats.calls++;
	if (a[0] != SMEM_SCM_FN_WAITQ_ACK) {
		/* A new frame on a slot whose kept one was never acknowledged: that one is gone. */
		cl->held[slot].held = false;
		run(t, c, slot, a);
		return;
	}
	/* WAITQ_ACK {a2 the context the WAKE named}: the kept frame goes on. */
	if (!cl->held[slot].held || cl->held[slot].ctx != a[2]) {
		t->stats.bad_frames++;
		reply(t, c, slot, SMEM_SCM_EINVAL_ARG, 0, 0, 0);
		return;
	}
	cl->held[slot].held = false;
	memcpy(held, cl->held[slot].a, sizeof(held));
	run(t, c, slot, held);
}

/* Take and execute every call @c has posted; how many there were. */
static unsigned take_posted(struct tzd *t, unsigned c)
{
	struct tzd_client *cl = &t->clients[c];
	unsigned n = 0;

	for (unsigned s = 0; s < SMEM_SCM_SLOTS && cl->used && cl->page; s++) {
		struct smem_scm_slot *sl = &cl->page->slot[s];
		uint32_t v = SMEM_SCM_SLOT_POSTED;
		uint64_t a[8];

		/* T1: taken once; pairs with the client's C1, and the frame is read after. */
		if (!atomic_compare_exchange_strong_explicit(&sl->state, &v, SMEM_SCM_SLOT_TAKEN,
							     memory_order_acquire,
							     memory_order_relaxed))
			continue;
		memcpy(a, sl->a, sizeof(a));
		tzd_execute(t, c, s, a);
		n++;
	}
	return n;
}

void tzd_doorbell(struct tzd *t, unsigned c)
{
	uint64_t n;

	if (c >= TZD_MAX_CLIENTS || !t->clients[c].used || !t->clients[c].page)
		return;
	if (read(t->clients[c].doorbell, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	take_posted(t, c);
}

unsigned tzd_poll(struct tzd *t)
{
	unsigned n = 0;

	for (unsigned c = 0; c < TZD_MAX_CLIENTS; c++)
		if (t->clients[c].used && t->clients[c].page)
			n += take_posted(t, c);
	return n;
}

void tzd_set_polling(struct tzd *t, bool on)
{
	t->polling = on;
	for (unsigned c = 0; c < TZD_MAX_CLIENTS; c++)
		if (t->clients[c].used && t->clients[c].page)
			/* P2: before the last look at the slots (see scm/proto.h). */
			atomic_store_explicit(&t->clients[c].page->polling, on,
					      memory_order_seq_cst);
	/* P2: the stores above before every load of a slot after. */
	atomic_thread_fence(memory_order_seq_cst);
}

/* --- clients -------------------------------------------------------------- */

int tzd_client_add(struct tzd *t, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned c, oldest = TZD_MAX_CLIENTS;

	for (c = 0; c < TZD_MAX_CLIENTS && t->clients[c].used; c++)
		if (!t->clients[c].registered &&
		    (oldest == TZD_MAX_CLIENTS || t->clients[c].serial < t->clients[oldest].serial))
			oldest = c;
	/* Full: a connection that never registered makes room, the oldest first. */
	if (c == TZD_MAX_CLIENTS && oldest < TZD_MAX_CLIENTS) {
		tzd_log(t, "client %u never registered: dropped for a new one", oldest);
		tzd_client_drop(t, oldest);
		c = oldest;
	}
	if (c == TZD_MAX_CLIENTS)
		return -EUSERS;
	ev.data.u32 = TZD_EV_CONN | c;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	t->clients[c] = (struct tzd_client){ .used = true, .fd = fd, .doorbell = -1, .irq = -1,
					     .serial = ++t->next_serial };
	return 0;
}

/* The registration's answer, with the page and the two eventfds. */
static int send_reply(int fd, int32_t err, unsigned c, unsigned wq_cnt, const int *fds,
		      unsigned nfds)
{
	uint8_t out[SMEM_SCM_REPLY_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { out, sizeof(out) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	put_le32(out, (uint32_t)err);
	put_le32(out + 4, c);
	put_le32(out + 8, wq_cnt);
	put_le32(out + 12, TZD_IRQ);
	if (nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(out) ? 0 : -errno;
}

static int do_register(struct tzd *t, unsigned c)
{
	struct tzd_client *cl = &t->clients[c];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TZD_EV_DOORBELL | c };
	uint8_t req[64];
	unsigned nfds;
	int fds[3] = { -1, -1, -1 }, memfd, r;
	ssize_t n = smem__rm_recv(cl->fd, req, sizeof(req), MSG_DONTWAIT, fds, 0, &nfds);
	uint32_t flags;

	if (n == -EAGAIN)
		return 0;
	if (n != SMEM_SCM_REG_LEN || get_le32(req) != SMEM_SCM_MAGIC)
		return -EPROTO;
	flags = get_le32(req + 4);
	if (flags & ~(SMEM_SCM_NO_WAITQ | SMEM_SCM_MULTI_CALL) ||
	    (flags & SMEM_SCM_NO_WAITQ && flags & SMEM_SCM_MULTI_CALL)) {
		send_reply(cl->fd, -EINVAL, c, t->wq_cnt, NULL, 0);
		return -EINVAL;
	}
	cl->waitq = !(flags & SMEM_SCM_NO_WAITQ);
	cl->multi = flags & SMEM_SCM_MULTI_CALL;
	memfd = memfd_create("smemkit-scm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0)
		return -errno;
	r = ftruncate(memfd, SMEM_SCM_PAGE) < 0 ? -errno : 0;
	if (r == 0) {
		cl->page = mmap(NULL, SMEM_SCM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		if (cl->page == MAP_FAILED) {
			cl->page = NULL;
			r = -errno;
		}
	}
	if (r == 0) {
		cl->page->magic = SMEM_SCM_MAGIC;
		cl->page->version = SMEM_SCM_VERSION;
		cl->page->nslots = SMEM_SCM_SLOTS;
		cl->page->client = c;
		atomic_store_explicit(&cl->page->polling, t->polling, memory_order_seq_cst);
		/* Its size is fixed: a client cannot shrink the page under smemtzd. */
		if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
			r = -errno;
	}
	if (r == 0) {
		cl->doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		cl->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (cl->doorbell < 0 || cl->irq < 0 ||
		    epoll_ctl(t->epfd, EPOLL_CTL_ADD, cl->doorbell, &ev) < 0)
			r = -errno;
	}
	if (r == 0) {
		fds[0] = memfd;
		fds[1] = cl->doorbell;
		fds[2] = cl->irq;
		r = send_reply(cl->fd, 0, c, t->wq_cnt, fds, 3);
	}
	close(memfd);
	if (r < 0)
		return r;
	cl->registered = true;
	tzd_log(t, "client %u registered%s", c, cl->waitq ? "" : " without wait queues");
	return 0;
}

void tzd_client_event(struct tzd *t, unsigned c, uint32_t events)
{
	struct tzd_client *cl;

	if (c >= TZD_MAX_CLIENTS || !t->clients[c].used)
		return;
	cl = &t->clients[c];
	/* After the registration a client sends nothing: anything else is its end. */
	if (!cl->registered && !(events & (EPOLLHUP | EPOLLERR)) && do_register(t, c) == 0)
		return;
	tzd_client_drop(t, c);
}

void tzd_client_drop(struct tzd *t, unsigned c)
{
	bool hand[SMEM_SCM_RESOURCES] = { false };
	struct tzd_client *cl;

	if (c >= TZD_MAX_CLIENTS || !t->clients[c].used)
		return;
	cl = &t->clients[c];
	/* Its parked calls go, and what was kept for them passes on. */
	for (int i = 0; i < (int)TZD_MAX_CTX; i++) {
		struct tzd_ctx *x = &t->ctx[i];

		if (!x->used || x->client != c)
			continue;
		if (x->kind == KIND_RESOURCE) {
			struct tzd_resource *res = &t->res[x->key];

			if (res->reserved == i) {
				res->reserved = -1;
				hand[x->key] = true;
			} else {
				fifo_remove(t, &res->head, &res->tail, i);
			}
		} else if (x->kind == KIND_EVENT && !x->woken) {
			fifo_remove(t, &t->events[x->key].head, &t->events[x->key].tail, i);
		}
		ctx_free(t, i);
	}
	/* What it holds is let go. */
	for (unsigned r = 0; r < SMEM_SCM_RESOURCES; r++) {
		if (t->res[r].holder == (int)c)
			release(t, r, false);
		else if (hand[r])
			hand_on(t, r);
	}
	arm_timer(t);
	if (cl->fd >= 0) {
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
		close(cl->fd);
	}
	if (cl->doorbell >= 0) {
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, cl->doorbell, NULL);
		close(cl->doorbell);
	}
	if (cl->irq >= 0)
		close(cl->irq);
	if (cl->page)
		munmap(cl->page, SMEM_SCM_PAGE);
	tzd_log(t, "client %u gone", c);
	*cl = (struct tzd_client){ .fd = -1, .doorbell = -1, .irq = -1 };
}
