// SPDX-License-Identifier: MIT
/*
 * Message queues with Gunyah semantics, lock-free, in shared memory.
 *
 * Positions. The sending host owns tx.pos, the next position to claim; the
 * receiving host owns rx.head, below which every position is consumed. They sit
 * on separate cache lines, and the count is tx.pos - head. A slot is published
 * for position p when its seq word reads p + 1: the sender copies the payload
 * and the length, then stores seq with release (S1); the receiver loads seq
 * with acquire (A1) and only then reads the length and payload. The receiver
 * frees the slot by storing head with release (R1) after it copied the message
 * out; the sender loads head with acquire (A2) before it reuses a slot. The
 * receiver polls the slot it wants, not the sender's index, so a message costs
 * the receiver one cache-line transfer when it fits in a line.
 *
 * One sender, one receiver (the default). tx.pos and head are written with
 * plain stores by their only writer; no read-modify-write on the fast path.
 * Several sending threads (SMEM_MSGQ_MULTI_SEND) claim positions with a
 * compare-and-swap on tx.pos and publish slots in any order; the receiver
 * delivers in position order. Several receiving threads (MULTI_RECV) claim with
 * a compare-and-swap on rx.claim, a {position, claims} pair, copy out, then
 * complete: head takes the claim position only when the completions counted in
 * it equal the claims, so a slot is never freed while a slower thread still
 * copies from it. Nobody ever waits for another thread: lock-free.
 *
 * Notifications. The sender raises the receive notification when the count
 * reaches notempty_thd or on PUSH; the receiver raises the send notification
 * when the count falls to notfull_thd. With a FUTEX or EVENTFD doorbell each
 * side orders its publishing store before a look at the peer's bell (F1: a
 * fence, or where membarrier(2) allows, only a compiler barrier, the waiter
 * paying instead); only a sleeping peer costs a ring (doorbell.c explains the
 * pairing with the waiter's W1). A POLL doorbell skips all of it: nobody sleeps.
 *
 * Hostile peer. Slots are chosen as position & mask, so no position can select
 * memory outside the queue; a length over max_msg_size is refused; a difference
 * of positions over the depth is -EBADMSG; every compare-and-swap loop is
 * bounded. A peer can spoil the messages, never this side's memory or progress.
 *
 * Crash story. A sender that dies before S1 leaves its slot unpublished: the
 * receiver never sees a torn message. (It may have claimed the position; the
 * receiver then waits at that position until smem_msgq_recover() on a restarted
 * sender turns it into a hole that receivers skip.) A receiver that dies before
 * R1 has not returned the message, which stays queued and is delivered once, to
 * the next receiver. With MULTI_RECV, a receiver that dies after claiming leaves
 * head behind its claim; smem_msgq_recover() on the receive end drops what the
 * dead receiver claimed, so nothing is delivered twice.
 */
#include "smemkit/msgq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/shm.h"
#include "core/util.h"
#include "msgq/msgq-internal.h"

/* A compare-and-swap that keeps failing this often means the indices are being rewritten. */
#define CAS_TRIES (1u << 16)

#define DEFAULT_SPIN_NS 50000u

/*
 * memcpy() for messages: sizes from 4 to 64 bytes, the common small control
 * messages, are copied with two overlapping fixed-size moves that the compiler
 * inlines, rather than through a call (which costs about as much as the rest of
 * a send).
 */
static inline void copy_msg(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n > 32 && n <= 64) {
		uint8_t a[32], b[32];

		memcpy(a, s, 32);
		memcpy(b, s + n - 32, 32);
		memcpy(d, a, 32);
		memcpy(d + n - 32, b, 32);
	} else if (n > 16 && n <= 32) {
		uint8_t a[16], b[16];

		memcpy(a, s, 16);
		memcpy(b, s + n - 16, 16);
		memcpy(d, a, 16);
		memcpy(d + n - 16, b, 16);
	} else if (n >= 8 && n <= 16) {
		uint64_t a, b;

		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4 && n < 8) {
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else {
		memcpy(d, s, n);
	}
}

/* Payload bytes in a slot's first cache line, after seq and len. */
#define SLOT_HEAD_BYTES (MSGQ_LINE - MSGQ_SLOT_HDR)

static uint32_t pow2_ceil(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static uint32_t slot_size_for(uint32_t max)
{
	return (uint32_t)align_up(MSGQ_SLOT_HDR + max, MSGQ_LINE);
}

void smem_msgq_config_init(struct smem_msgq_config *c)
{
	*c = (struct smem_msgq_config){
		.depth = SMEM_MSGQ_DEFAULT_DEPTH,
		.max_msg_size = SMEM_MSGQ_DEFAULT_MSG_SIZE,
		.notempty_thd = SMEM_MSGQ_THD_DEFAULT,
		.notfull_thd = SMEM_MSGQ_THD_DEFAULT,
		.flags = 0,
		.doorbell = SMEM_MSGQ_DOORBELL_FUTEX,
	};
}

void smem_msgq_opts_init(struct smem_msgq_opts *o)
{
	*o = (struct smem_msgq_opts){ .rx_eventfd = -1, .tx_eventfd = -1, .spin_ns = DEFAULT_SPIN_NS };
}

int smem_msgq_size(unsigned depth, unsigned max_msg_size, size_t *ret_size)
{
	if (!ret_size || depth < 1 || depth > SMEM_MSGQ_MAX_DEPTH || max_msg_size < 1 ||
	    max_msg_size > SMEM_MSGQ_MAX_MSG_SIZE)
		return -EINVAL;
	*ret_size = MSGQ_SLOTS_OFF + (size_t)pow2_ceil(depth) * slot_size_for(max_msg_size);
	return 0;
}

int smem_msgq_init(void *mem, size_t size, const struct smem_msgq_config *c)
{
	struct smem_msgq_config def;
	struct msgq_shm *m = mem;
	uint32_t nslots, stride, ne, nf;
	size_t need;

	if (!c) {
		smem_msgq_config_init(&def);
		c = &def;
	}
	if (!mem || (uintptr_t)mem % 8)
		return -EINVAL;
	if (smem_msgq_size(c->depth, c->max_msg_size, &need) < 0)
		return -EINVAL;
	if (c->flags & ~MSGQ_F_PUBLIC || c->doorbell > SMEM_MSGQ_DOORBELL_POLL)
		return -EINVAL;
	if (c->notempty_thd == SMEM_MSGQ_THD_DEFAULT)
		ne = 1;
	else if (c->notempty_thd == SMEM_MSGQ_THD_MAXIMUM)
		ne = c->depth;
	else if (c->notempty_thd >= 1 && (unsigned)c->notempty_thd <= c->depth)
		ne = (uint32_t)c->notempty_thd;
	else
		return -EINVAL;
	if (c->notfull_thd == SMEM_MSGQ_THD_DEFAULT)
		nf = c->depth - 1;
	else if (c->notfull_thd >= 0 && (unsigned)c->notfull_thd < c->depth)
		nf = (uint32_t)c->notfull_thd;
	else
		return -EINVAL;
	if (size < need)
		return -ENOSPC;

	nslots = pow2_ceil(c->depth);
	stride = slot_size_for(c->max_msg_size);
	/* Unpublish first, so an opener sees no queue while the rest is rewritten. */
	shm_st32_release(&m->hdr.magic, 0);
	memset((uint8_t *)mem + sizeof(m->hdr.magic), 0, need - sizeof(m->hdr.magic));
	m->hdr.version = htole16(MSGQ_VERSION);
	m->hdr.hdr_size = htole16(MSGQ_SLOTS_OFF);
	m->hdr.depth = htole16((uint16_t)c->depth);
	m->hdr.max_msg_size = htole16((uint16_t)c->max_msg_size);
	m->hdr.nslots = htole16((uint16_t)nslots);
	m->hdr.slot_size = htole16((uint16_t)stride);
	m->hdr.flags = htole32(c->flags | (c->doorbell != SMEM_MSGQ_DOORBELL_POLL &&
						   smem__msgq_asym_supported()
					   ? MSGQ_F_ASYM
					   : 0));
	m->hdr.doorbell = htole32(c->doorbell);
	m->hdr.total_size = htole32((uint32_t)need);
	atomic_store_explicit(&m->rx.notempty_thd, ne, memory_order_relaxed);
	atomic_store_explicit(&m->tx.notfull_thd, nf, memory_order_relaxed);
	/*
	 * Each slot starts as published for position p - nslots, never p + 1, so a
	 * zeroed slot 0 (seq 0) can not pass for position 0xffffffff either.
	 */
	for (uint32_t i = 0; i < nslots; i++) {
		struct msgq_slot *s = (struct msgq_slot *)((uint8_t *)mem + MSGQ_SLOTS_OFF +
							   (size_t)i * stride);

		atomic_store_explicit(&s->seq, i - nslots + 1, memory_order_relaxed);
	}
	/* I1: publish the queue last; pairs with O1 in smem_msgq_open(). */
	shm_st32_release(&m->hdr.magic, MSGQ_MAGIC);
	return 0;
}

int smem_msgq_open(void *mem, size_t size, unsigned flags, const struct smem_msgq_opts *o,
		   struct smem_msgq **ret)
{
	struct smem_msgq_opts def;
	struct msgq_shm *m = mem;
	struct smem_msgq *q;
	uint32_t depth, max, nslots, stride, hsize, qflags, bell, total;

	if (!o) {
		smem_msgq_opts_init(&def);
		o = &def;
	}
	if (!mem || !ret || (uintptr_t)mem % 8 || flags & ~(SMEM_MSGQ_TX | SMEM_MSGQ_RX))
		return -EINVAL;
	if (size < MSGQ_SLOTS_OFF)
		return -EBADMSG;
	/* O1: the geometry is complete once the magic reads right; pairs with I1. */
	if (shm_ld32_acquire(&m->hdr.magic) != MSGQ_MAGIC || shm_ld16(&m->hdr.version) != MSGQ_VERSION)
		return -EPROTO;
	/* Each field once, into locals that are checked and then kept in the handle. */
	depth = shm_ld16(&m->hdr.depth);
	max = shm_ld16(&m->hdr.max_msg_size);
	nslots = shm_ld16(&m->hdr.nslots);
	stride = shm_ld16(&m->hdr.slot_size);
	hsize = shm_ld16(&m->hdr.hdr_size);
	qflags = shm_ld32(&m->hdr.flags);
	bell = shm_ld32(&m->hdr.doorbell);
	total = shm_ld32(&m->hdr.total_size);
	if (depth < 1 || depth > SMEM_MSGQ_MAX_DEPTH || max < 1 || max > SMEM_MSGQ_MAX_MSG_SIZE ||
	    nslots != pow2_ceil(depth) || stride != slot_size_for(max) || hsize != MSGQ_SLOTS_OFF ||
	    qflags & ~MSGQ_F_ALL || bell > SMEM_MSGQ_DOORBELL_POLL ||
	    total != MSGQ_SLOTS_OFF + (uint64_t)nslots * stride || total > size)
		return -EBADMSG;
	if (bell == SMEM_MSGQ_DOORBELL_EVENTFD && flags && (o->rx_eventfd < 0 || o->tx_eventfd < 0))
		return -EINVAL;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	*q = (struct smem_msgq){
		.shm = m,
		.slots = (uint8_t *)mem + MSGQ_SLOTS_OFF,
		.ends = flags,
		.depth = depth,
		.max = max,
		.mask = nslots - 1,
		.stride = stride,
		.qflags = qflags,
		.doorbell = bell,
		.rx_efd = -1,
		.tx_efd = -1,
		.spin_ns = o->spin_ns,
	};
	if (bell == SMEM_MSGQ_DOORBELL_EVENTFD && flags) {
		q->rx_efd = fcntl(o->rx_eventfd, F_DUPFD_CLOEXEC, 3);
		q->tx_efd = q->rx_efd < 0 ? -1 : fcntl(o->tx_eventfd, F_DUPFD_CLOEXEC, 3);
		if (q->tx_efd < 0) {
			int err = -errno;

			if (q->rx_efd >= 0)
				close(q->rx_efd);
			free(q);
			return err;
		}
	}
	/* H0: the first view of head, read as A2 reads it (acquire, pairs with R1/R2). */
	atomic_init(&q->head_cache,
		    pos_of(atomic_load_explicit(&m->rx.head, memory_order_acquire)));
	atomic_init(&q->tx_wait_first, false);
	*ret = q;
	return 0;
}

void smem_msgq_close(struct smem_msgq *q)
{
	if (!q)
		return;
	if (q->rx_efd >= 0)
		close(q->rx_efd);
	if (q->tx_efd >= 0)
		close(q->tx_efd);
	free(q);
}

/* The receiver's head position. A2: pairs with R1/R2, the slot is free once head passed it. */
static uint32_t load_head(struct smem_msgq *q)
{
	return pos_of(atomic_load_explicit(&q->shm->rx.head, memory_order_acquire));
}

/*
 * Z2: a look at the closed word (Z1 in smem_msgq_shutdown()); a waiter that
 * sees it returns, and its retry gets -EPIPE. Read after W1, as the levels are.
 */
static bool closed(struct smem_msgq *q)
{
	return atomic_load_explicit(&q->shm->hdr.closed, memory_order_relaxed) != 0;
}

/* Where receivers take the next message: head, or the claim with MULTI_RECV. */
static uint32_t rx_front(struct smem_msgq *q, memory_order mo)
{
	if (q->qflags & MSGQ_F_MULTI_RECV)
		return pos_of(atomic_load_explicit(&q->shm->rx.claim, mo));
	return pos_of(atomic_load_explicit(&q->shm->rx.head, mo));
}

bool smem__msgq_rx_level(struct smem_msgq *q)
{
	uint32_t h = rx_front(q, memory_order_relaxed);
	/* A receiver's own threshold; a value out of range counts as 1. */
	uint32_t thd = atomic_load_explicit(&q->shm->rx.notempty_thd, memory_order_relaxed);
	bool pushed = false;

	if (thd < 1 || thd > q->depth)
		thd = 1;
	for (uint32_t i = 0; i < thd; i++) {
		struct msgq_slot *s = msgq_slot(q, h + i);
		uint32_t len;

		/* V1: a look at publication only; the receive path re-reads with A1. */
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) != h + i + 1)
			return pushed || closed(q);
		len = atomic_load_explicit(&s->len, memory_order_relaxed);
		if (len != MSGQ_LEN_HOLE && (len & MSGQ_LEN_PUSH))
			pushed = true;
	}
	return true;
}

bool smem__msgq_tx_level(struct smem_msgq *q)
{
	/*
	 * V2: observations for the level only; nothing is read under them. Head
	 * first: it never passes tx.pos, so a later tx.pos cannot be behind it.
	 */
	uint32_t head = pos_of(atomic_load_explicit(&q->shm->rx.head, memory_order_relaxed));
	uint32_t used = atomic_load_explicit(&q->shm->tx.pos, memory_order_relaxed) - head;
	uint32_t thd = atomic_load_explicit(&q->shm->tx.notfull_thd, memory_order_relaxed);

	if (thd >= q->depth)
		thd = q->depth - 1;
	/* An impossible count wakes the sender, who then finds -EBADMSG itself. */
	return used <= thd || used > q->depth || closed(q);
}

/* After a send: ring a sleeping receiver if the level is reached or the message is pushed. */
static void notify_rx(struct smem_msgq *q, bool push)
{
	struct msgq_shm *m = q->shm;

	if (q->doorbell == SMEM_MSGQ_DOORBELL_POLL)
		return;
	/* F1: the published slot before the look at the bell; pairs with W1 in doorbell.c. */
	smem__msgq_publish_fence(q);
	if (atomic_load_explicit(&m->rxbell.sleep, memory_order_relaxed) &&
	    (push || smem__msgq_rx_level(q)))
		smem__msgq_ring(q, &m->rxbell, q->rx_efd, &m->tx.rx_notify);
}

/* After a receive or flush: ring a sleeping sender if the count fell to its threshold. */
static void notify_tx(struct smem_msgq *q)
{
	struct msgq_shm *m = q->shm;

	if (q->doorbell == SMEM_MSGQ_DOORBELL_POLL)
		return;
	/* F1: the new head before the look at the bell; pairs with W1 in doorbell.c. */
	smem__msgq_publish_fence(q);
	if (atomic_load_explicit(&m->txbell.sleep, memory_order_relaxed) && smem__msgq_tx_level(q))
		smem__msgq_ring(q, &m->txbell, q->tx_efd, &m->rx.tx_notify);
}

/*
 * The used count before a claim at @p: from the cached head when it shows room,
 * otherwise from a fresh head. Return: the count; -ESTALE if head is past @p,
 * which only a stale @p of several sending threads explains (load it again);
 * or -EBADMSG.
 */
static int64_t used_before(struct smem_msgq *q, uint32_t p)
{
	/*
	 * H1: the view of head another sending thread of this handle learned under
	 * A2; acquire pairs with H2, so the receiver's copy-out happens before our
	 * writes into a slot this view shows free.
	 */
	uint32_t h = atomic_load_explicit(&q->head_cache, memory_order_acquire);
	uint32_t used = p - h;

	if (used < q->depth)
		return used;
	h = load_head(q);
	used = p - h;
	if ((int32_t)used < 0 && q->qflags & MSGQ_F_MULTI_SEND)
		return -ESTALE;
	if (used > q->depth)
		return -EBADMSG;
	/* H2: pass the view on; pairs with H1. */
	atomic_store_explicit(&q->head_cache, h, memory_order_release);
	return used;
}

static void note_full(struct smem_msgq *q, bool full)
{
	if (full || atomic_load_explicit(&q->tx_wait_first, memory_order_relaxed))
		atomic_store_explicit(&q->tx_wait_first, full, memory_order_relaxed);
}

int smem_msgq_send(struct smem_msgq *q, const void *buf, size_t len, unsigned flags)
{
	struct msgq_shm *m;
	struct msgq_slot *s;
	int64_t used;
	uint32_t p;
	bool full;

	if (!q || !buf || flags & ~SMEM_MSGQ_PUSH)
		return -EINVAL;
	if (!(q->ends & SMEM_MSGQ_TX))
		return -EPERM;
	if (len == 0 || len > q->max)
		return -EMSGSIZE;
	if (closed(q))
		return -EPIPE;
	m = q->shm;

	/* T1: our own index; only the sending host writes it. */
	p = atomic_load_explicit(&m->tx.pos, memory_order_relaxed);
	if (!(q->qflags & MSGQ_F_MULTI_SEND)) {
		used = used_before(q, p);
		if (used < 0)
			return (int)used;
		if (used == q->depth)
			goto full;
		/* T2: claim; only this thread writes tx.pos. The slot publishes the message. */
		atomic_store_explicit(&m->tx.pos, p + 1, memory_order_relaxed);
	} else {
		for (uint32_t tries = 0;; tries++) {
			if (tries == CAS_TRIES)
				return -EBADMSG;
			used = used_before(q, p);
			if (used == -ESTALE) {
				/* T1 again: other sending threads claimed meanwhile, or a peer lies. */
				uint32_t again = atomic_load_explicit(&m->tx.pos, memory_order_relaxed);

				if (again == p)
					return -EBADMSG;
				p = again;
				continue;
			}
			if (used < 0)
				return (int)used;
			if (used == q->depth)
				goto full;
			/*
			 * T3: claim position p among the sending threads. Relaxed: the
			 * slot is ours because A2 (in used_before) saw head past its last
			 * occupant, and S1 publishes what we write into it.
			 */
			if (atomic_compare_exchange_weak_explicit(&m->tx.pos, &p, p + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		}
	}
	FAULT_POINT("msgq.send.claimed");

	s = msgq_slot(q, p);
	/*
	 * The bytes past the slot's first cache line go first, so that the stores
	 * to the line the receiver polls (payload head, length, seq) come last and
	 * together: one transfer of that line, not one per switch between lines.
	 * The signal fence only keeps the compiler from merging the two copies.
	 */
	if (len > SLOT_HEAD_BYTES) {
		copy_msg(s->data + SLOT_HEAD_BYTES, (const uint8_t *)buf + SLOT_HEAD_BYTES,
			 len - SLOT_HEAD_BYTES);
		atomic_signal_fence(memory_order_seq_cst);
		memcpy(s->data, buf, SLOT_HEAD_BYTES);
	} else {
		copy_msg(s->data, buf, len);
	}
	atomic_store_explicit(&s->len, (uint32_t)len | (flags & SMEM_MSGQ_PUSH ? MSGQ_LEN_PUSH : 0),
			      memory_order_relaxed);
	FAULT_POINT("msgq.send.copied");
	/* S1: publish the payload and length; pairs with A1 in smem_msgq_recv(). */
	atomic_store_explicit(&s->seq, p + 1, memory_order_release);
	FAULT_POINT("msgq.send.published");

	if (flags & SMEM_MSGQ_PUSH)
		atomic_fetch_add_explicit(&m->tx.pushes, 1, memory_order_relaxed); /* statistics */
	notify_rx(q, flags & SMEM_MSGQ_PUSH);

	/* not_full, as Gunyah reports it: the count after this message is below the depth. */
	full = used + 1 >= q->depth;
	if (full) {
		uint32_t h = load_head(q);
		uint32_t now = atomic_load_explicit(&m->tx.pos, memory_order_relaxed) - h;

		/* H2: as in used_before(). */
		atomic_store_explicit(&q->head_cache, h, memory_order_release);
		full = now >= q->depth;
	}
	note_full(q, full);
	return full ? 0 : 1;

full:
	atomic_fetch_add_explicit(&m->tx.full_events, 1, memory_order_relaxed); /* statistics */
	note_full(q, true);
	return -EAGAIN;
}

/* Length word check. Return: the size, 0 for a hole, or -EBADMSG. */
static int slot_len(const struct smem_msgq *q, uint32_t len)
{
	uint32_t size = len & MSGQ_LEN_SIZE;

	if (len == MSGQ_LEN_HOLE)
		return 0;
	if (len & ~(MSGQ_LEN_SIZE | MSGQ_LEN_PUSH) || size == 0 || size > q->max)
		return -EBADMSG;
	return (int)size;
}

/*
 * Take the message at the front into @buf (or drop it when @buf is NULL and
 * @zero says so). Return: as smem_msgq_recv(), but 2 for a hole that was skipped.
 */
static int take_one(struct smem_msgq *q, void *buf, size_t buflen, size_t *ret_size, bool zero)
{
	struct msgq_shm *m = q->shm;
	struct msgq_slot *s, *next;
	uint64_t c = 0;
	uint32_t h, len;
	int size;

	if (!(q->qflags & MSGQ_F_MULTI_RECV)) {
		/* C1: our own index; only the receiving host writes it. */
		h = pos_of(atomic_load_explicit(&m->rx.head, memory_order_relaxed));
		s = msgq_slot(q, h);
		/* A1: the payload and length are complete; pairs with S1 in smem_msgq_send(). */
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != h + 1)
			return -EAGAIN;
		len = atomic_load_explicit(&s->len, memory_order_relaxed);
		size = slot_len(q, len);
		if (size > 0 && buf && (size_t)size > buflen)
			return -EMSGSIZE;
	} else {
		/* C2: the claim pair of the receiving threads. */
		c = atomic_load_explicit(&m->rx.claim, memory_order_relaxed);
		for (uint32_t tries = 0;; tries++) {
			if (tries == CAS_TRIES)
				return -EBADMSG;
			h = pos_of(c);
			s = msgq_slot(q, h);
			/* A1: as above; pairs with S1. */
			if (atomic_load_explicit(&s->seq, memory_order_acquire) != h + 1)
				return -EAGAIN;
			len = atomic_load_explicit(&s->len, memory_order_relaxed);
			size = slot_len(q, len);
			if (size > 0 && buf && (size_t)size > buflen)
				return -EMSGSIZE;
			/* C3: claim position h among the receiving threads; the slot was read under A1. */
			if (atomic_compare_exchange_weak_explicit(&m->rx.claim, &c,
								  pos_cnt(h + 1, cnt_of(c) + 1),
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		}
		FAULT_POINT("msgq.recv.claimed");
	}

	if (size > 0) {
		if (buf)
			copy_msg(buf, s->data, (size_t)size);
		else if (zero)
			memset(s->data, 0, q->max);
	}
	FAULT_POINT("msgq.recv.copied");

	if (!(q->qflags & MSGQ_F_MULTI_RECV)) {
		/* R1: the slot is free once head passes it; pairs with A2 in the sender. */
		atomic_store_explicit(&m->rx.head, h + 1, memory_order_release);
	} else {
		/*
		 * R2: count our completion in head's high half. One fetch-and-add: it
		 * cannot fail or be starved, so a message that was claimed and copied
		 * is always completed and returned, whatever other threads (or a
		 * hostile peer) do to head meanwhile. Release pairs with A2 in the
		 * sender; every later change of head is a read-modify-write, so it
		 * carries this release on.
		 */
		uint64_t t = atomic_fetch_add_explicit(&m->rx.head, (uint64_t)1 << 32,
						       memory_order_release);
		uint32_t done = cnt_of(t) + 1;
		/* C4: the claims as of now; positions below are ours or completed. */
		uint64_t cl = atomic_load_explicit(&m->rx.claim, memory_order_relaxed);

		if (done == cnt_of(cl)) {
			uint64_t expect = pos_cnt(pos_of(t), done);

			/*
			 * R4: every claim is completed: head moves to the claim
			 * position. If head changed since R2, a later completion did
			 * that, and the move is its to make.
			 */
			atomic_compare_exchange_strong_explicit(&m->rx.head, &expect,
								pos_cnt(pos_of(cl), done),
								memory_order_release,
								memory_order_relaxed);
		}
	}
	FAULT_POINT("msgq.recv.released");

	if (size < 0) {
		atomic_fetch_add_explicit(&m->rx.bad, 1, memory_order_relaxed); /* statistics */
		notify_tx(q);
		return -EBADMSG;
	}
	notify_tx(q);
	if (size == 0)
		return 2;
	*ret_size = (size_t)size;
	next = msgq_slot(q, h + 1);
	/* N1: not_empty is advisory: a drain that stops re-arms with W1 before it sleeps. */
	return atomic_load_explicit(&next->seq, memory_order_relaxed) == h + 2 ? 1 : 0;
}

int smem_msgq_recv(struct smem_msgq *q, void *buf, size_t len, size_t *ret_size)
{
	size_t size;
	int r;

	if (!q || !buf || !ret_size)
		return -EINVAL;
	if (!(q->ends & SMEM_MSGQ_RX))
		return -EPERM;
	/* Holes are skipped; a queue holds at most depth of them. */
	for (uint32_t i = 0; i <= q->depth; i++) {
		r = take_one(q, buf, len, &size, false);
		if (r == 2)
			continue;
		if (r >= 0)
			*ret_size = size;
		/* What was queued before the shutdown is still delivered. */
		if (r == -EAGAIN && closed(q))
			return -EPIPE;
		return r;
	}
	return -EAGAIN;
}

static int64_t deadline_of(int timeout_ms)
{
	if (timeout_ms < 0)
		return INT64_MAX;
	return smem__msgq_now_ns() + (int64_t)timeout_ms * 1000000;
}

int smem_msgq_send_wait(struct smem_msgq *q, const void *buf, size_t len, unsigned flags,
			int timeout_ms)
{
	int64_t deadline;
	int r;

	if (!q || !buf || flags & ~SMEM_MSGQ_PUSH)
		return -EINVAL;
	if (!(q->ends & SMEM_MSGQ_TX))
		return -EPERM;
	if (len == 0 || len > q->max)
		return -EMSGSIZE;
	if (timeout_ms == 0)
		return smem_msgq_send(q, buf, len, flags);
	deadline = deadline_of(timeout_ms);
	for (;;) {
		/* §1.6: wait for the send notification only after a send reported full. */
		if (atomic_load_explicit(&q->tx_wait_first, memory_order_relaxed)) {
			r = smem__msgq_wait(q, &q->shm->txbell, smem__msgq_tx_level, deadline);
			if (r < 0)
				return r;
		}
		r = smem_msgq_send(q, buf, len, flags);
		if (r != -EAGAIN)
			return r;
		if (smem__msgq_now_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

int smem_msgq_recv_wait(struct smem_msgq *q, void *buf, size_t len, size_t *ret_size,
			int timeout_ms)
{
	int64_t deadline = 0;
	int r;

	for (bool first = true;; first = false) {
		r = smem_msgq_recv(q, buf, len, ret_size);
		if (r != -EAGAIN || timeout_ms == 0)
			return r;
		if (first)
			deadline = deadline_of(timeout_ms);
		r = smem__msgq_wait(q, &q->shm->rxbell, smem__msgq_rx_level, deadline);
		if (r < 0)
			return r;
	}
}

int smem_msgq_configure_send(struct smem_msgq *q, int notfull_thd)
{
	if (!q)
		return -EINVAL;
	if (!(q->ends & SMEM_MSGQ_TX))
		return -EPERM;
	if (notfull_thd == SMEM_MSGQ_THD_UNCHANGED)
		return 0;
	if (notfull_thd < 0 || (unsigned)notfull_thd >= q->depth)
		return -EINVAL;
	/* K1: the sender's own threshold, read by the receiver in V2 after F1. */
	atomic_store_explicit(&q->shm->tx.notfull_thd, (uint32_t)notfull_thd, memory_order_relaxed);
	/* Re-evaluate at once, as Gunyah does: wake sleeping senders if the level holds. */
	if (q->doorbell != SMEM_MSGQ_DOORBELL_POLL) {
		/* F1: as after a receive. */
		smem__msgq_publish_fence(q);
		if (smem__msgq_tx_level(q))
			smem__msgq_ring(q, &q->shm->txbell, q->tx_efd, &q->shm->rx.tx_notify);
	}
	return 0;
}

int smem_msgq_configure_recv(struct smem_msgq *q, int notempty_thd)
{
	uint32_t thd;

	if (!q)
		return -EINVAL;
	if (!(q->ends & SMEM_MSGQ_RX))
		return -EPERM;
	if (notempty_thd == SMEM_MSGQ_THD_UNCHANGED)
		return 0;
	if (notempty_thd == SMEM_MSGQ_THD_MAXIMUM)
		thd = q->depth;
	else if (notempty_thd >= 1 && (unsigned)notempty_thd <= q->depth)
		thd = (uint32_t)notempty_thd;
	else
		return -EINVAL;
	/* K2: the receiver's own threshold, read by the sender in V1 after F1. */
	atomic_store_explicit(&q->shm->rx.notempty_thd, thd, memory_order_relaxed);
	if (q->doorbell != SMEM_MSGQ_DOORBELL_POLL) {
		/* F1: as after a send. */
		smem__msgq_publish_fence(q);
		if (smem__msgq_rx_level(q))
			smem__msgq_ring(q, &q->shm->rxbell, q->rx_efd, &q->shm->tx.rx_notify);
	}
	return 0;
}

int smem_msgq_flush(struct smem_msgq *q)
{
	size_t size;
	int n = 0, r;

	if (!q)
		return -EINVAL;
	if (!(q->ends & SMEM_MSGQ_RX))
		return -EPERM;
	/* At most depth messages can be queued; more means the positions are scribbled on. */
	for (uint32_t i = 0; i <= q->depth; i++) {
		r = take_one(q, NULL, 0, &size, true);
		if (r == -EAGAIN)
			break;
		if (r == -EBADMSG && i == q->depth)
			return r;
		if (r >= 0 && r != 2)
			n++;
	}
	if (n)
		atomic_fetch_add_explicit(&q->shm->rx.flushed, (uint32_t)n,
					  memory_order_relaxed); /* statistics */
	return n;
}

int smem_msgq_recover(struct smem_msgq *q)
{
	struct msgq_shm *m;
	int n = 0;

	if (!q || !q->ends)
		return -EINVAL;
	m = q->shm;
	if (q->ends & SMEM_MSGQ_RX && q->qflags & MSGQ_F_MULTI_RECV) {
		/* E1: drop what dead receivers claimed; head takes the claim. */
		uint64_t cl = atomic_load_explicit(&m->rx.claim, memory_order_relaxed);
		uint64_t hd = atomic_load_explicit(&m->rx.head, memory_order_relaxed);
		uint32_t lost = pos_of(cl) - pos_of(hd);

		if (lost > q->depth)
			return -EBADMSG;
		/* R3: as R2, the dropped slots are free; pairs with A2. */
		atomic_store_explicit(&m->rx.head, cl, memory_order_release);
		n += (int)lost;
	}
	if (q->ends & SMEM_MSGQ_TX) {
		uint32_t p = atomic_load_explicit(&m->tx.pos, memory_order_relaxed);
		uint32_t h = load_head(q);

		if (p - h > q->depth)
			return -EBADMSG;
		for (uint32_t pos = h; pos != p; pos++) {
			struct msgq_slot *s = msgq_slot(q, pos);

			/* E2: a claimed, unpublished slot becomes a hole; S1 publishes it. */
			if (atomic_load_explicit(&s->seq, memory_order_relaxed) == pos + 1)
				continue;
			atomic_store_explicit(&s->len, MSGQ_LEN_HOLE, memory_order_relaxed);
			atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
			n++;
		}
		/* H2: as in used_before(). */
		atomic_store_explicit(&q->head_cache, h, memory_order_release);
		notify_rx(q, false);
	}
	return n;
}

int smem_msgq_shutdown(struct smem_msgq *q)
{
	struct msgq_shm *m;

	if (!q)
		return -EINVAL;
	m = q->shm;
	/* Z1: closed for both ends; read by Z2 after W1, so the fence F1 orders it. */
	atomic_store_explicit(&m->hdr.closed, 1, memory_order_relaxed);
	if (q->doorbell == SMEM_MSGQ_DOORBELL_POLL)
		return 0;
	/* F1: as after a send; every sleeper of both ends wakes to see it. */
	smem__msgq_publish_fence(q);
	smem__msgq_ring(q, &m->rxbell, q->rx_efd, &m->tx.rx_notify);
	smem__msgq_ring(q, &m->txbell, q->tx_efd, &m->rx.tx_notify);
	return 0;
}

static int one_end(struct smem_msgq *q, struct msgq_bell **ret_bell, int *ret_fd,
		   bool (**ret_level)(struct smem_msgq *))
{
	if (!q || (q->ends != SMEM_MSGQ_TX && q->ends != SMEM_MSGQ_RX))
		return -EINVAL;
	if (q->doorbell != SMEM_MSGQ_DOORBELL_EVENTFD)
		return -EOPNOTSUPP;
	if (q->ends == SMEM_MSGQ_RX) {
		*ret_bell = &q->shm->rxbell;
		*ret_fd = q->rx_efd;
		*ret_level = smem__msgq_rx_level;
	} else {
		*ret_bell = &q->shm->txbell;
		*ret_fd = q->tx_efd;
		*ret_level = smem__msgq_tx_level;
	}
	return 0;
}

int smem_msgq_fd(struct smem_msgq *q)
{
	bool (*level)(struct smem_msgq *);
	struct msgq_bell *b;
	int fd, r;

	r = one_end(q, &b, &fd, &level);
	return r < 0 ? r : fd;
}

int smem_msgq_arm(struct smem_msgq *q)
{
	bool (*level)(struct smem_msgq *);
	struct msgq_bell *b;
	int fd, r;

	r = one_end(q, &b, &fd, &level);
	if (r < 0)
		return r;
	return smem__msgq_arm(q, b, fd, level);
}

int smem_msgq_stat(struct smem_msgq *q, struct smem_msgq_stats *ret)
{
	struct msgq_shm *m;
	uint32_t pos, head;

	if (!q || !ret)
		return -EINVAL;
	m = q->shm;
	/* Observations only: each field once, relaxed; a live queue moves meanwhile. */
	head = pos_of(atomic_load_explicit(&m->rx.head, memory_order_relaxed));
	pos = atomic_load_explicit(&m->tx.pos, memory_order_relaxed);
	*ret = (struct smem_msgq_stats){
		.depth = q->depth,
		.max_msg_size = q->max,
		.count = pos - head,
		.notempty_thd = atomic_load_explicit(&m->rx.notempty_thd, memory_order_relaxed),
		.notfull_thd = atomic_load_explicit(&m->tx.notfull_thd, memory_order_relaxed),
		.flags = q->qflags & MSGQ_F_PUBLIC,
		.doorbell = q->doorbell,
		.sent = pos,
		.received = head,
		.full_events = atomic_load_explicit(&m->tx.full_events, memory_order_relaxed),
		.rx_notify = atomic_load_explicit(&m->tx.rx_notify, memory_order_relaxed),
		.tx_notify = atomic_load_explicit(&m->rx.tx_notify, memory_order_relaxed),
		.pushes = atomic_load_explicit(&m->tx.pushes, memory_order_relaxed),
		.flushed = atomic_load_explicit(&m->rx.flushed, memory_order_relaxed),
		.bad = atomic_load_explicit(&m->rx.bad, memory_order_relaxed),
		.closed = closed(q),
	};
	return 0;
}
