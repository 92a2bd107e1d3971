/* SPDX-License-Identifier: MIT */
/* The message-queue handle and the doorbell helpers shared by msgq.c and doorbell.c. */
#ifndef SMEMKIT_MSGQ_INTERNAL_H
#define SMEMKIT_MSGQ_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "msgq/layout.h"
#include "smemkit/msgq.h"

struct smem_msgq {
	struct msgq_shm *shm;
	uint8_t *slots;
	unsigned ends;     /* SMEM_MSGQ_TX | SMEM_MSGQ_RX */
	uint32_t depth;    /* checked copies of the geometry, read once at open */
	uint32_t max;
	uint32_t mask;     /* nslots - 1 */
	uint32_t stride;
	uint32_t qflags;   /* MSGQ_F_* */
	unsigned doorbell; /* enum smem_msgq_doorbell */
	int rx_efd;        /* EVENTFD doorbell only, else -1 */
	int tx_efd;
	unsigned spin_ns;
	/* Hints private to this handle; atomics only because threads may share it. */
	_Atomic uint32_t head_cache; /* the sender's last view of the receiver's head */
	_Atomic bool tx_wait_first;  /* the last send through this handle reported full */
};

static inline struct msgq_slot *msgq_slot(const struct smem_msgq *q, uint32_t pos)
{
	return (struct msgq_slot *)(q->slots + (size_t)(pos & q->mask) * q->stride);
}

static inline uint32_t pos_of(uint64_t v)
{
	return (uint32_t)v;
}

static inline uint32_t cnt_of(uint64_t v)
{
	return (uint32_t)(v >> 32);
}

static inline uint64_t pos_cnt(uint32_t pos, uint32_t cnt)
{
	return (uint64_t)cnt << 32 | pos;
}

/* Level checks of the two notifications; used by waiters and by ringers. */
bool smem__msgq_rx_level(struct smem_msgq *q);
bool smem__msgq_tx_level(struct smem_msgq *q);

/* Wake whoever sleeps on the bell, if anyone does. */
void smem__msgq_ring(struct smem_msgq *q, struct msgq_bell *b, int efd, _Atomic uint32_t *counter);

/*
 * Wait until @level holds or the bell's seq moves, polling first for spin_ns.
 * Return: 0, or -ETIMEDOUT once @deadline_ns (CLOCK_MONOTONIC) passes.
 */
int smem__msgq_wait(struct smem_msgq *q, struct msgq_bell *b, bool (*level)(struct smem_msgq *),
		    int64_t deadline_ns);

/* Announce an event-loop waiter on the bell and re-check: 1 ready, 0 armed. */
int smem__msgq_arm(struct smem_msgq *q, struct msgq_bell *b, int efd,
		   bool (*level)(struct smem_msgq *));

int64_t smem__msgq_now_ns(void);

/* Whether the kernel offers the membarrier commands an MSGQ_F_ASYM queue needs. */
bool smem__msgq_asym_supported(void);

/*
 * F1: order this side's publication (a slot, or head) before its look at the
 * peer's bell. A full fence, or on an MSGQ_F_ASYM queue in a process registered
 * for global expedited membarriers, a compiler barrier: the waiter's
 * membarrier (W1) then acts as the fence on this CPU.
 */
void smem__msgq_publish_fence(struct smem_msgq *q);

/* W1: order a waiter's sleep bit before its re-check. Return: false if a sleep
 * must be bounded, because the membarrier an MSGQ_F_ASYM queue needs failed. */
bool smem__msgq_sleep_fence(struct smem_msgq *q);

#endif
