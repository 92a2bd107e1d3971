/* SPDX-License-Identifier: MIT */
/*
 * The lock journal: what the holder of a lock is doing to state that one store
 * cannot change, so that whoever takes the lock after the holder died can
 * finish or undo it. The interface the rest of the library uses to reach a
 * bank's journal; the bank's layout stays private to lib/hwlock. Never
 * installed.
 */
#ifndef SMEMKIT_HWLOCK_JOURNAL_H
#define SMEMKIT_HWLOCK_JOURNAL_H

#include <stdint.h>

struct smem_hwlock;

/* Written and cleared by the lock's holder only, under the lock. */
struct smem_lock_journal {
	uint32_t owner; /* host + 1 of the writer; 0 when empty */
	uint32_t op;
	uint32_t arg[6];
};

_Static_assert(sizeof(struct smem_lock_journal) == 32, "lock journal");

/* The journal record of lock @id, or NULL for a NULL bank or a bad id. */
struct smem_lock_journal *smem__hwlock_journal(struct smem_hwlock *h, unsigned id);

#endif
