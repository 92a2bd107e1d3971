// SPDX-License-Identifier: MIT
/*
 * Allocation (qcom_smem_alloc), under hardware spinlock 3.
 *
 * Each allocation writes the new entry first and publishes it last, with one
 * release store of the publishing word:
 *   - uncached list: header at offset_free_uncached, then P1 moves
 *     offset_free_uncached past it;
 *   - cached list: data and header below offset_free_cached, then P2 moves
 *     offset_free_cached down to the data;
 *   - global heap: offset and size of the table entry, then P3 sets allocated,
 *     then free_offset and available are updated.
 * A crash before the publishing store leaves an entry nobody can see, which the
 * next allocation overwrites. A crash after P3 but before the heap counters are
 * updated leaves them behind the table, which the fsck reports.
 */
#include "smem-internal.h"

#include "core/fault.h"
#include "smemkit/hwlock.h"

static int alloc_private(struct smem *s, const struct smem__part *part, unsigned item,
			 size_t size, bool cached)
{
	uint8_t *p = s->base + part->off;
	uint64_t need = align_up(size, 8);
	struct smem__walk w;
	struct smem__entry e;
	uint64_t hdr, data;
	int r;

	r = smem__walk_begin(&w, s->base, part, NULL);
	if (r < 0)
		return r;
	while ((r = smem__walk_next(&w, &e, NULL)) > 0)
		if (e.item == item)
			return -EEXIST;
	if (r < 0)
		return r;

	if (!cached) {
		hdr = w.uncached;
		if (hdr + sizeof(struct smem_private_entry) + need > w.cached)
			return -ENOSPC;
		data = hdr + sizeof(struct smem_private_entry);
	} else {
		if (!part->slot)
			return -EOPNOTSUPP; /* cacheline 0: the partition has no cached list */
		if ((uint64_t)w.cached < (uint64_t)w.uncached + part->slot + need)
			return -ENOSPC;
		hdr = w.cached - part->slot;
		data = hdr - need;
	}
	shm_st32(p + hdr, SMEM_PRIVATE_CANARY | (uint32_t)item << 16);
	shm_st32(p + hdr + 4, (uint32_t)need);
	shm_st32(p + hdr + 8, (uint32_t)(need - size)); /* padding_data; padding_hdr 0 */
	FAULT_POINT("smem.alloc.after_entry");
	if (!cached) {
		/* P1: publish the entry; pairs with W1 in smem__walk_begin(). */
		shm_st32_release(p + offsetof(struct smem_partition_header, offset_free_uncached),
				 (uint32_t)(data + need));
	} else {
		/* P2: publish the entry; pairs with W1 in smem__walk_begin(). */
		shm_st32_release(p + offsetof(struct smem_partition_header, offset_free_cached),
				 (uint32_t)data);
	}
	FAULT_POINT("smem.alloc.after_publish");
	return 0;
}

static int alloc_global(struct smem *s, unsigned item, size_t size)
{
	uint8_t *h = s->base;
	uint8_t *e = h + offsetof(struct smem_header, toc) + (size_t)item * sizeof(struct smem_global_entry);
	uint64_t need = align_up(size, 8);
	uint32_t free_offset, available;

	/* Under the lock nobody else writes the entry; acquire for what a dead holder wrote. */
	if (shm_ld32_acquire(e))
		return -EEXIST;
	free_offset = shm_ld32(h + offsetof(struct smem_header, free_offset));
	available = shm_ld32(h + offsetof(struct smem_header, available));
	/* V14 again: the counters may have been changed since attach. */
	if ((uint64_t)free_offset + available > s->hdr.heap_end || free_offset % 8 ||
	    free_offset < sizeof(struct smem_header))
		return -EBADMSG;
	if (need > available)
		return -ENOMEM;
	shm_st32(e + 4, free_offset);
	shm_st32(e + 8, (uint32_t)need);
	FAULT_POINT("smem.alloc.after_entry");
	/* P3: publish the entry; pairs with T1 in smem__read_toc(). */
	shm_st32_release(e, 1);
	FAULT_POINT("smem.alloc.after_publish");
	shm_st32(h + offsetof(struct smem_header, free_offset), free_offset + (uint32_t)need);
	FAULT_POINT("smem.alloc.after_free_offset");
	shm_st32(h + offsetof(struct smem_header, available), available - (uint32_t)need);
	return 0;
}

static int do_alloc(struct smem *s, unsigned host, unsigned item, size_t size, bool cached)
{
	const struct smem__part *part;
	int r;

	if (!s)
		return -EINVAL;
	if (item < SMEM_ITEM_LAST_FIXED || item >= s->item_count)
		return -EINVAL;
	if (!s->writable)
		return -EROFS;
	if (!s->hwlock)
		return -ENOLCK;
	part = smem__part_for(s, host);
	if (!part && cached)
		return -EOPNOTSUPP;
	if (size > UINT32_MAX - 64)
		return part ? -ENOSPC : -ENOMEM;

	r = smem_hwlock_lock(s->hwlock, s->hwlock_id, s->host, SMEM_HWLOCK_TIMEOUT_MS);
	if (r < 0)
		return r;
	FAULT_POINT("smem.alloc.locked");
	if (part)
		r = alloc_private(s, part, item, size, cached);
	else
		r = alloc_global(s, item, size);
	smem_hwlock_unlock(s->hwlock, s->hwlock_id, s->host);
	return r;
}

int smem_item_alloc(struct smem *s, unsigned host, unsigned item, size_t size)
{
	return do_alloc(s, host, item, size, false);
}

int smem_item_alloc_cached(struct smem *s, unsigned host, unsigned item, size_t size)
{
	return do_alloc(s, host, item, size, true);
}
