/* SPDX-License-Identifier: MIT */
/*
 * The lock bank's layout, private to lib/hwlock. Never installed; the rest of
 * the library uses journal.h.
 *
 * A bank describes itself: a header at offset 0 gives every offset, and open
 * accepts only the one layout its stride implies. Nothing is guessed from the
 * file's size, so a bank that is half written, reset under our feet or
 * scribbled on is refused, never opened with another stride.
 *
 *   0              struct smem_bank_hdr, then zeros to 4096
 *   4096           lock word i at 4096 + i * stride: 0 when free, holder host + 1
 *                  (the TCSR mutex register window)
 *   robust         struct smem_robust[32]: lock i's robust word, which the holder
 *                  process owns and the kernel marks when it dies
 *   journal        struct smem_lock_journal[32], one per lock
 *   hosts          struct smem_host_entry[64], one per host id
 *   size           the end, a multiple of 4096
 */
#ifndef SMEMKIT_HWLOCK_BANK_H
#define SMEMKIT_HWLOCK_BANK_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/robust.h"
#include "hwlock/journal.h"
#include "smemkit/hwlock.h"

#define SMEM_BANK_VERSION 2u
#define SMEM_BANK_WORDS   4096u
static const uint8_t SMEM_BANK_MAGIC[8] = { 'S', 'M', 'E', 'M', 'L', 'O', 'C', 'K' };

struct smem_bank_hdr {
	uint8_t magic[8]; /* stored last by format */
	uint32_t version;
	uint32_t stride;
	uint32_t nlocks;
	uint32_t nhosts;
	uint32_t words;
	uint32_t robust;
	uint32_t journal;
	uint32_t hosts;
	uint32_t size;
	uint32_t reserved[5];
};

/*
 * One host's registration. live is the registrant process's robust word: 0
 * when nobody is registered, its liveness id while it runs, and marked
 * SMEM_ROBUST_DIED by the kernel when it dies. The other fields are for
 * people and for the host-table fallback (hosts.c): written by the registrant
 * under the odd/even sequence count, never trusted as proof on their own.
 */
struct smem_host_entry {
	struct smem_robust live;
	uint32_t seq;
	uint32_t id;  /* the registrant's liveness id */
	uint32_t pid; /* the registrant's pid, in its own pid namespace */
	uint32_t generation;
	uint32_t reserved[8];
};

_Static_assert(sizeof(struct smem_bank_hdr) == 64, "bank header");
_Static_assert(sizeof(struct smem_host_entry) == 64, "host entry");

struct smem_bank_layout {
	uint32_t stride, robust, journal, hosts, size;
};

/* The only layout a bank of @stride may have. */
static inline struct smem_bank_layout smem__bank_layout(unsigned stride)
{
	struct smem_bank_layout l = { .stride = stride };

	l.robust = SMEM_BANK_WORDS + SMEM_HWLOCK_COUNT * stride;
	l.journal = l.robust + SMEM_HWLOCK_COUNT * (uint32_t)sizeof(struct smem_robust);
	l.hosts = l.journal + SMEM_HWLOCK_COUNT * (uint32_t)sizeof(struct smem_lock_journal);
	l.size = (l.hosts + SMEM_HWLOCK_TABLE_HOSTS * (uint32_t)sizeof(struct smem_host_entry) +
		  4095u) & ~4095u;
	return l;
}

/* One mapping of a bank, shared by every handle of this process on it. */
struct smem_bank {
	struct smem_region *region; /* NULL when borrowed */
	const struct smem_region *key;
	uint64_t dev, ino;          /* of the file; 0 for a borrowed region */
	uint8_t *base;
	unsigned stride;
	struct smem_robust *robust;
	struct smem_lock_journal *journal;
	struct smem_host_entry *hosts;
	bool writable;
	unsigned refs;                            /* handles */
	unsigned host_refs[SMEM_HWLOCK_TABLE_HOSTS]; /* this process's registrations */
	struct smem_bank *next;
};

struct smem_hwlock {
	struct smem_bank *b;
	uint16_t registered[SMEM_HWLOCK_TABLE_HOSTS]; /* registrations made through this handle */
};

/*
 * Whether the host table proves the holder of a lock dead: the lock's label
 * @label names host h, h's registration has liveness id @id and the kernel
 * marked it dead, and no live registration has @id. Return: 1 proven; 0 not
 * (alive, unknown, ambiguous, or a label without a table entry).
 */
int smem__hwlock_id_dead(const struct smem_bank *b, uint32_t id, uint32_t label);

/* Serialises this process's bank registry and registrations. */
void smem__hwlock_registry_lock(void);
void smem__hwlock_registry_unlock(void);

#endif
