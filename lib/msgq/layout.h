/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory layout of a message queue. Every byte that the two hosts
 * share is described here, once.
 *
 *   offset  size  written by      contents
 *   0       64    initialiser     struct msgq_hdr: geometry, fixed after init
 *   64      64    sending host    struct msgq_tx: claim position, not-full threshold, counters
 *   128     64    receiving host  struct msgq_rx: head position, not-empty threshold, counters
 *   192     64    both            struct msgq_bell: receive notification (sender rings)
 *   256     64    both            struct msgq_bell: send notification (receiver rings)
 *   320     ...   both            nslots slots of slot_size bytes: struct msgq_slot + payload
 *
 * Positions are free-running 32-bit counters; position p lives in slot
 * p & (nslots - 1), where nslots is depth rounded up to a power of two, so any
 * position a peer writes selects a slot inside the queue. A slot is published
 * for position p when its seq word reads p + 1.
 *
 * The structures carry no alignment attribute: a queue may sit in an SMEM item,
 * which is only 8-byte aligned. Each is one line long, so in 64-byte aligned
 * memory (a memfd, a page) each side's index has a cache line of its own.
 *
 * All multi-byte fields are little-endian; the atomics are used natively, which
 * is the same thing on every supported host (x86-64, arm64 little-endian).
 */
#ifndef SMEMKIT_MSGQ_LAYOUT_H
#define SMEMKIT_MSGQ_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MSGQ_MAGIC     0x3151534du /* "MSQ1" read as little-endian bytes */
#define MSGQ_VERSION   1u
#define MSGQ_LINE      64u
#define MSGQ_SLOTS_OFF (5u * MSGQ_LINE)
#define MSGQ_SLOT_HDR  8u

/*
 * A slot's len word: the payload size in the low 16 bits, MSGQ_LEN_PUSH if it was
 * sent with SMEM_MSGQ_PUSH; or MSGQ_LEN_HOLE for a position that a sender claimed
 * and never published before it died (smem_msgq_recover() writes it; skipped).
 */
#define MSGQ_LEN_SIZE 0x0000ffffu
#define MSGQ_LEN_PUSH 0x00010000u
#define MSGQ_LEN_HOLE 0xffffffffu

/* Header flags (enum smem_msgq_init_flags in the public header). */
#define MSGQ_F_MULTI_SEND 0x1u
#define MSGQ_F_MULTI_RECV 0x2u
#define MSGQ_F_PUBLIC     0x3u
/*
 * Set by init when the kernel offers MEMBARRIER_CMD_GLOBAL_EXPEDITED (futex and
 * eventfd doorbells, which only work within one kernel anyway): notifiers then
 * order their publication before the look at the bell with a compiler barrier
 * only, and a waiter pays instead, with a membarrier before it sleeps.
 */
#define MSGQ_F_ASYM       0x4u
#define MSGQ_F_ALL        0x7u

struct msgq_hdr {
	uint32_t magic;        /* MSGQ_MAGIC, stored last by init with release */
	uint16_t version;      /* MSGQ_VERSION */
	uint16_t hdr_size;     /* MSGQ_SLOTS_OFF */
	uint16_t depth;        /* 1..255 */
	uint16_t max_msg_size; /* 1..1023 */
	uint16_t nslots;       /* depth rounded up to a power of two */
	uint16_t slot_size;    /* align_up(8 + max_msg_size, 64) */
	uint32_t flags;        /* MSGQ_F_* */
	uint32_t doorbell;     /* enum smem_msgq_doorbell */
	uint32_t total_size;   /* bytes the queue occupies */
	_Atomic uint32_t closed; /* set by smem_msgq_shutdown(): an end's host is gone */
	uint32_t reserved[8];
};

struct msgq_tx {
	_Atomic uint32_t pos; /* next position to claim; all below are claimed */
	_Atomic uint32_t notfull_thd;            /* send notification when count falls to this */
	_Atomic uint32_t full_events;            /* sends refused because the queue was full */
	_Atomic uint32_t rx_notify;              /* receive notifications raised (rings) */
	_Atomic uint32_t pushes;                 /* messages sent with SMEM_MSGQ_PUSH */
	uint32_t reserved[11];
};

struct msgq_rx {
	/* Low 32 bits: position; high 32: claims (multi-receive) or 0. */
	_Atomic uint64_t head;  /* all positions below are consumed */
	_Atomic uint64_t claim;                    /* multi-receive: next position to claim */
	_Atomic uint32_t notempty_thd;             /* receive notification when count reaches this */
	_Atomic uint32_t tx_notify;                /* send notifications raised (rings) */
	_Atomic uint32_t flushed;                  /* messages discarded by flush */
	_Atomic uint32_t bad;                      /* messages refused as malformed */
	uint32_t reserved[8];
};

/* Bits of msgq_bell.sleep: how the waiters of a notification want to be woken. */
#define BELL_FUTEX   0x1u /* someone sleeps in FUTEX_WAIT on seq */
#define BELL_EVENTFD 0x2u /* an event loop armed the eventfd */

struct msgq_bell {
	_Atomic uint32_t seq; /* bumped by every ring and push; futex word */
	_Atomic uint32_t sleep;                  /* BELL_* set by waiters, taken by the ringer */
	uint32_t reserved[14];
};

struct msgq_slot {
	_Atomic uint32_t seq; /* position + 1 once published */
	_Atomic uint32_t len; /* size | MSGQ_LEN_PUSH, or MSGQ_LEN_HOLE */
	uint8_t data[];
};

struct msgq_shm {
	struct msgq_hdr hdr;
	struct msgq_tx tx;
	struct msgq_rx rx;
	struct msgq_bell rxbell;
	struct msgq_bell txbell;
	/* slots follow */
};

_Static_assert(sizeof(struct msgq_hdr) == MSGQ_LINE, "header is one line");
_Static_assert(sizeof(struct msgq_tx) == MSGQ_LINE, "tx is one line");
_Static_assert(sizeof(struct msgq_rx) == MSGQ_LINE, "rx is one line");
_Static_assert(sizeof(struct msgq_bell) == MSGQ_LINE, "a bell is one line");
_Static_assert(offsetof(struct msgq_shm, tx) == 1 * MSGQ_LINE, "tx line");
_Static_assert(offsetof(struct msgq_shm, rx) == 2 * MSGQ_LINE, "rx line");
_Static_assert(offsetof(struct msgq_shm, rxbell) == 3 * MSGQ_LINE, "rx bell line");
_Static_assert(offsetof(struct msgq_shm, txbell) == 4 * MSGQ_LINE, "tx bell line");
_Static_assert(sizeof(struct msgq_shm) == MSGQ_SLOTS_OFF, "slots follow the bells");
_Static_assert(offsetof(struct msgq_slot, data) == MSGQ_SLOT_HDR, "slot header");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && sizeof(_Atomic uint64_t) == 8, "plain words");

#endif
