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
 *     then available and free_offset are updated.
 * A crash before the publishing store leaves an entry nobody can see, which the
 * next allocation overwrites. A partition's publication is one aligned 32-bit
 * store, so it cannot tear. The global heap needs three stores (allocated, then
 * available, then free_offset), so its allocator first writes a journal record
 * {free_offset, available, item} in the lock bank; whoever takes lock 3 from a
 * dead holder (or the next holder, if somebody else busted it) finds the record
 * and finishes or undoes that allocation (smem_recover()). Without a record (a
 * holder that does not journal), recovery recomputes free_offset from the table
 * of contents.
 */
#include "smem-internal.h"

#include "core/fault.h"
#include "hwlock/hwlock-internal.h"
#include "hwlock/journal.h"
#include "smemkit/hwlock.h"

enum { JOURNAL_HEAP_ALLOC = 1 };

static int alloc_private(struct smem *s, const struct smem__part *part, unsigned item,
			 size_t size, bool cached)
{
	uint8_t *p = s->base + part->off;
	/*
	 * A cached entry's data lies below its header, and a walk stops at the
	 * lowest byte used; an empty one would sit at that byte and never be seen.
	 * So it takes 8 bytes, all padding.
	 */
	uint64_t need = cached && size == 0 ? 8 : align_up(size, 8);
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
	FAULT_POINT("smem.alloc.after_canary");
	shm_st32(p + hdr + 4, (uint32_t)need);
	FAULT_POINT("smem.alloc.after_size");
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
	struct smem_lock_journal *j = smem__hwlock_journal(s->hwlock, s->hwlock_id);
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
	if ((uint64_t)free_offset + available > s->heap_limit || free_offset % 8 ||
	    free_offset < sizeof(struct smem_header))
		return -EBADMSG;
	if (need > available)
		return -ENOMEM;
	if (j) {
		/* J1: the record is complete before its owner word makes it valid. */
		shm_st32(&j->op, JOURNAL_HEAP_ALLOC);
		shm_st32(&j->arg[0], free_offset);
		shm_st32(&j->arg[1], available);
		shm_st32(&j->arg[2], item);
		FAULT_POINT("smem.journal.after_record");
		shm_st32_release(&j->owner, s->host + 1);
		FAULT_POINT("smem.journal.after_owner");
	}
	shm_st32(e + 4, free_offset);
	FAULT_POINT("smem.alloc.after_offset");
	shm_st32(e + 8, (uint32_t)need);
	FAULT_POINT("smem.alloc.after_entry");
	/* P3: publish the entry; pairs with T1 in smem__read_toc(). */
	shm_st32_release(e, 1);
	FAULT_POINT("smem.alloc.after_publish");
	/*
	 * available before free_offset (Linux does the reverse; both are under the
	 * lock, so no reader can tell): a crash between the two then leaves their sum
	 * below the heap's end, which attach accepts (V14) and recovery repairs,
	 * instead of above it, which would make the image refuse to attach.
	 */
	shm_st32(h + offsetof(struct smem_header, available), available - (uint32_t)need);
	FAULT_POINT("smem.alloc.after_available");
	shm_st32(h + offsetof(struct smem_header, free_offset), free_offset + (uint32_t)need);
	FAULT_POINT("smem.alloc.after_free_offset");
	if (j)
		shm_st32(&j->owner, 0); /* done: the record no longer applies */
	return 0;
}

/*
 * Repair the global heap after its allocator died holding lock 3. Called with
 * lock 3 held. Return: the number of repairs made, or -EBADMSG.
 */
static int recover_heap(struct smem *s)
{
	uint8_t *h = s->base;
	struct smem_lock_journal *j = smem__hwlock_journal(s->hwlock, s->hwlock_id);
	uint32_t free_offset = shm_ld32(h + offsetof(struct smem_header, free_offset));
	uint32_t available = shm_ld32(h + offsetof(struct smem_header, available));
	uint64_t end = sizeof(struct smem_header), heap_end;
	uint32_t owner = 0, op = 0, item = 0;
	int repairs = 0;

	if (j) {
		/* J2: a record left by the dead holder names the allocation it was making. */
		owner = shm_ld32_acquire(&j->owner);
		op = shm_ld32(&j->op);
		item = shm_ld32(&j->arg[2]);
	}
	/* Under lock 3, any record left is a dead holder's: its writer never cleared it. */
	if (owner && op == JOURNAL_HEAP_ALLOC && item < SMEM_TOC_COUNT) {
		uint32_t old_free = shm_ld32(&j->arg[0]), old_avail = shm_ld32(&j->arg[1]);
		struct smem__toc_entry t;

		if ((uint64_t)old_free + old_avail > s->heap_limit)
			goto unusable;
		smem__read_toc(s->base, item, &t);
		if (t.allocated && t.offset == old_free && t.size <= old_avail) {
			old_free += t.size; /* published: finish it */
			old_avail -= t.size;
		}
		/* Not published: the entry's fields are garbage nobody can see; undo. */
		if (old_free != free_offset || old_avail != available) {
			shm_st32(h + offsetof(struct smem_header, free_offset), old_free);
			shm_st32(h + offsetof(struct smem_header, available), old_avail);
			repairs++;
		}
		shm_st32(&j->owner, 0);
		return repairs;
	}

unusable:
	/*
	 * No record (a holder that does not journal, or an offline editor, which
	 * has no lock bank to journal in): whatever order the dead writer stored
	 * the counters in, they are derived state. The free space starts where the
	 * last published item ends and runs to the heap's end, which the layout
	 * bounds (the first partition, the table or the region's end).
	 */
	heap_end = s->heap_limit;
	for (unsigned i = SMEM_ITEM_LAST_FIXED; i < SMEM_TOC_COUNT; i++) {
		struct smem__toc_entry t;

		smem__read_toc(s->base, i, &t);
		if (t.allocated && !t.aux_base && (uint64_t)t.offset + t.size <= heap_end &&
		    t.offset + (uint64_t)t.size > end)
			end = (uint64_t)t.offset + t.size;
	}
	if (end != free_offset || heap_end - end != available) {
		shm_st32(h + offsetof(struct smem_header, free_offset), (uint32_t)end);
		shm_st32(h + offsetof(struct smem_header, available), (uint32_t)(heap_end - end));
		repairs++;
	}
	/*
	 * A record this code cannot replay (another operation, an item past the
	 * table, arguments past the heap) is spent now that the counters are
	 * derived: left in place, it would send every later holder here again.
	 */
	if (owner)
		shm_st32(&j->owner, 0);
	return repairs;
}

int smem__recover_locked(struct smem *s)
{
	if (s->hdr.version == SMEM_GLOBAL_HEAP_VERSION && !smem__part_for(s, SMEM_HOST_ANY))
		return recover_heap(s);
	/*
	 * Partitions need nothing: an entry written but not published lies above
	 * offset_free_uncached (or below offset_free_cached), where no walk looks
	 * and the next allocation overwrites it.
	 */
	return 0;
}

int smem__recover_report(struct smem *s, struct smem__repairs *ret)
{
	unsigned before = 0;
	int r, u;

	if (!s || !ret)
		return -EINVAL;
	if (!s->writable)
		return -EROFS;
	if (s->offline) {
		/* Nobody else can be attached: nothing to lock, nothing to bust. */
		u = smem__recover_locked(s);
		if (u < 0)
			return u;
		*ret = (struct smem__repairs){ .heap = (unsigned)u };
		return u;
	}
	if (!s->hwlock)
		return -ENOLCK;
	if (s->registered && !smem__hwlock_host_mine(s->hwlock, s->host))
		return -ESTALE;
	smem_hwlock_owner(s->hwlock, s->hwlock_id, &before);
	r = smem_hwlock_lock(s->hwlock, s->hwlock_id, s->host, SMEM_HWLOCK_TIMEOUT_MS,
				   s->lock_flags);
	if (r < 0)
		return r;
	u = smem__recover_locked(s);
	smem_hwlock_unlock(s->hwlock, s->hwlock_id, s->host);
	if (u < 0)
		return u;
	*ret = (struct smem__repairs){
		/* The holder seen before the bust; the bust itself was owner-checked. */
		.busted = r == SMEM_HWLOCK_RECOVERED ? before : 0,
		.heap = (unsigned)u,
	};
	return u;
}

int smem_recover(struct smem *s)
{
	struct smem__repairs rep;

	return smem__recover_report(s, &rep);
}

static bool journal_dirty(struct smem *s)
{
	struct smem_lock_journal *j = smem__hwlock_journal(s->hwlock, s->hwlock_id);

	/* J3: a record left behind; pairs with J1 in alloc_global(). */
	return j && s->hdr.version == SMEM_GLOBAL_HEAP_VERSION && shm_ld32_acquire(&j->owner) != 0;
}

int smem_item_alloc(struct smem *s, unsigned host, unsigned item, size_t size, unsigned flags)
{
	bool cached = flags & SMEM_ITEM_CACHED;
	const struct smem__part *part;
	bool recovered;
	int r;

	if (!s || flags & ~SMEM_ITEM_CACHED)
		return -EINVAL;
	if (item < SMEM_ITEM_LAST_FIXED || item >= s->item_count)
		return -EINVAL;
	if (!s->writable)
		return -EROFS;
	if (!s->hwlock && !s->offline)
		return -ENOLCK;
	part = smem__part_for(s, host);
	if (!part && cached)
		return -EOPNOTSUPP;
	if (size > UINT32_MAX - 64)
		return part ? -ENOSPC : -ENOMEM;

	if (s->offline) {
		/*
		 * The image is ours alone: no lock to take. An earlier offline editor
		 * may have died in the middle of a heap allocation without a journal,
		 * so the heap's counters are derived again first.
		 */
		if (part)
			return alloc_private(s, part, item, size, cached);
		r = smem__recover_locked(s);
		if (r < 0)
			return r;
		recovered = r > 0;
		r = alloc_global(s, item, size);
		return r == 0 && recovered ? SMEM_RECOVERED : r;
	}
	/* A handle inherited across fork(): the registration stayed with the parent. */
	if (s->registered && !smem__hwlock_host_mine(s->hwlock, s->host))
		return -ESTALE;
	r = smem_hwlock_lock(s->hwlock, s->hwlock_id, s->host, SMEM_HWLOCK_TIMEOUT_MS,
				   s->lock_flags);
	if (r < 0)
		return r;
	recovered = r == SMEM_HWLOCK_RECOVERED;
	FAULT_POINT("smem.alloc.locked");
	/*
	 * A holder died in the middle of something: we took the lock from it, or
	 * somebody else busted it (its journal record is still there). Repair.
	 */
	if (recovered || journal_dirty(s)) {
		r = smem__recover_locked(s);
		if (r < 0)
			goto out_unlock;
		recovered = true;
	}
	if (part)
		r = alloc_private(s, part, item, size, cached);
	else
		r = alloc_global(s, item, size);
out_unlock:
	smem_hwlock_unlock(s->hwlock, s->hwlock_id, s->host);
	return r == 0 && recovered ? SMEM_RECOVERED : r;
}
