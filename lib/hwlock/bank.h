/* SPDX-License-Identifier: MIT */
/*
 * The lock bank's layout, shared by hwlock.c and hosts.c. Never installed.
 *
 *   0              lock word i at i * stride (host + 1, or 0 when free);
 *                  with stride >= 8 the next word counts sleepers
 *   32 * stride    the host page (4096 bytes), when the bank has one:
 *     0            struct smem_host_page_hdr ("SMHT", version, host count)
 *     64           struct smem_host_entry[64], one per host id
 *     64 + 2048    struct smem_lock_journal[32], one per lock
 *
 * The host page lives in the bank, not in the SMEM image, because the lock words
 * name their owners by host id, every waiter already maps the bank, and the
 * image must stay byte-for-byte what the Linux driver reads.
 */
#ifndef SMEMKIT_HWLOCK_BANK_H
#define SMEMKIT_HWLOCK_BANK_H

#include <stdatomic.h>
#include <stdint.h>

#include "smemkit/hwlock.h"

#define SMEM_HOST_PAGE_SIZE 4096u
static const uint8_t SMEM_HOST_PAGE_MAGIC[4] = { 'S', 'M', 'H', 'T' };

struct smem_host_page_hdr {
	uint8_t magic[4];
	uint32_t version; /* 1 */
	uint32_t nhosts;  /* SMEM_HWLOCK_TABLE_HOSTS */
	uint32_t reserved[13];
};

/*
 * One host's registration. seq is a sequence count: odd while the registering
 * process rewrites the entry, even when it is stable. claim is the pid of the
 * process rewriting it (0 when none), so that a rewrite cut short by a crash can
 * be taken over once that process is dead.
 */
struct smem_host_entry {
	uint32_t seq;
	uint32_t claim;
	uint32_t pid; /* 0: nobody registered */
	uint32_t generation; /* bumped by every registration */
	uint64_t start_time; /* clock ticks after boot: /proc/PID/stat field 22 */
	uint32_t reserved[2];
};

/*
 * What the holder of a lock is doing to state that one store cannot change, so
 * that whoever busts the lock after a crash can finish or undo it. Written and
 * cleared by the holder only, under the lock.
 */
struct smem_lock_journal {
	uint32_t owner; /* host + 1 of the writer; 0 when empty */
	uint32_t op;
	uint32_t arg[6];
};

struct smem_host_page {
	struct smem_host_page_hdr hdr;
	struct smem_host_entry host[SMEM_HWLOCK_TABLE_HOSTS];
	struct smem_lock_journal journal[SMEM_HWLOCK_COUNT];
};

_Static_assert(sizeof(struct smem_host_page_hdr) == 64, "host page header");
_Static_assert(sizeof(struct smem_host_entry) == 32, "host entry");
_Static_assert(sizeof(struct smem_lock_journal) == 32, "lock journal");
_Static_assert(sizeof(struct smem_host_page) <= SMEM_HOST_PAGE_SIZE, "host page");

struct smem_hwlock {
	struct smem_region *region; /* NULL when borrowed */
	uint8_t *base;
	unsigned stride;
	struct smem_host_page *page; /* NULL when the bank has none */
	bool writable;               /* false: a read-only snapshot; lock, unlock, bust refuse */
};

/*
 * Bust lock @id if @owner holds it and is proven dead. Proof and bust happen
 * under the owner's host-entry claim, so no registration of a new process as
 * @owner can slip between them. Return: 1 busted; 0 not (alive, unknown, not
 * the holder, or the entry is busy).
 */
int smem__hwlock_bust_if_dead(struct smem_hwlock *h, unsigned id, unsigned owner);

/* Bytes between two lock words: what smem_hwlock_open() derived from the size. */
unsigned smem__hwlock_stride(const struct smem_hwlock *h);

/* The journal slot of a lock, or NULL when the bank has no host page. */
struct smem_lock_journal *smem__hwlock_journal(struct smem_hwlock *h, unsigned id);

#endif
