/* SPDX-License-Identifier: MIT */
#ifndef SMEMKIT_SMEM_INTERNAL_H
#define SMEMKIT_SMEM_INTERNAL_H

#include "image.h"

struct smem {
	struct smem_region *region; /* owned, or NULL when borrowed */
	struct smem_hwlock *hwlock;
	bool own_hwlock;
	bool registered; /* as host in the bank's host table; undone by smem_close() */
	uint8_t *base;
	uint64_t size;
	bool writable;
	bool offline; /* SMEM_OPEN_OFFLINE: the file is ours alone, so no lock is taken */
	bool partial; /* through smemd: only this host's pieces are mapped */
	const struct smem_rm *rm; /* then: which they are */
	unsigned host;
	unsigned hwlock_id;
	unsigned lock_flags; /* SMEM_HWLOCK_BUST_DEAD with SMEM_OPEN_BUST_DEAD */
	uint64_t phys_base;
	struct smem__hdr hdr;
	/*
	 * Version 11: where the global heap must end. The layout bounds it (the
	 * first partition, the partition table, or the region's end), not the heap
	 * counters, which a crash between their two stores leaves short until
	 * recovery; attach checked free_offset + available against it (V4, V14).
	 */
	uint64_t heap_limit;
	unsigned item_count;
	bool has_global;
	struct smem__part global;                  /* version 12 */
	struct smem__part parts[SMEM_HOST_COUNT];  /* by remote host; size 0 = none */
};

/* The partition that serves @host, or NULL for the version-11 global heap. */
static inline const struct smem__part *smem__part_for(const struct smem *s, unsigned host)
{
	if (host < SMEM_HOST_COUNT && s->parts[host].size)
		return &s->parts[host];
	return s->has_global ? &s->global : NULL;
}

/*
 * smem_open() with allocators taking lock @hwlock_id instead of SMEM_HWLOCK_ID,
 * for tests of a bank shared with other users. Return: as smem_open(); -EINVAL
 * for an id not below SMEM_HWLOCK_COUNT.
 */
int smem__open(const char *path, unsigned host, const struct smem_open_opts *o,
	       unsigned hwlock_id, struct smem **ret);

/* Repair what a holder of lock 3 that died can leave; lock 3 held. */
int smem__recover_locked(struct smem *s);

/* What smem__recover_report() did. */
struct smem__repairs {
	unsigned busted; /* lock word value (host + 1) of the dead holder busted; 0: none */
	unsigned heap;   /* version-11 heap counters repaired */
};

/* smem_recover(), and say what it repaired. Return: as smem_recover(). */
int smem__recover_report(struct smem *s, struct smem__repairs *ret);

#endif
