/* SPDX-License-Identifier: MIT */
/*
 * Reading an SMEM image safely: the checks V1-V18 of docs/FORMAT.md, shared by
 * attach (smem.c), lookup and allocation (smem.c) and the fsck (check.c), so that
 * there is one implementation of each rule.
 *
 * All offsets are 64-bit and relative to the region (or, for entries, to their
 * partition); every value comes from one shm_ld32() into a local that is checked
 * before it is used.
 */
#ifndef SMEMKIT_SMEM_IMAGE_H
#define SMEMKIT_SMEM_IMAGE_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/shm.h"
#include "core/util.h"
#include "layout.h"
#include "smemkit/smem.h"

/*
 * Where sentences about failed checks go: the first error into buf (if any),
 * every sentence to fn (if any). count says how many sentences there were,
 * warnings says how many of them were warnings.
 */
struct smem__diag {
	char *buf;
	size_t len;
	void (*fn)(const char *msg, void *userdata);
	void *userdata;
	unsigned count;
	unsigned warnings;
};

/* An error: the image breaks a rule, and attach, lookup or allocation refuses it. */
void smem__diag(struct smem__diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A warning: legal, but a reader may want to know; begins with SMEM_CHECK_WARNING. */
void smem__warn(struct smem__diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The header's facts after V1, V2 and the size checks. */
struct smem__hdr {
	unsigned version;
	uint32_t free_offset;
	uint32_t available;
	uint64_t heap_end; /* version 11: free_offset + available (V14) */
};

int smem__read_hdr(const uint8_t *base, uint64_t size, struct smem__diag *d, struct smem__hdr *ret);

/* A local copy of the partition table (V3, V16). */
struct smem__ptable {
	unsigned n;
	struct {
		uint32_t offset, size, flags, cacheline;
		uint16_t host0, host1;
	} e[SMEM_PTABLE_MAX_ENTRIES];
	bool has_info;
	uint32_t info_num_items;
};

/*
 * A slot of the table with offset 0 or size 0 is unused, whatever its hosts say:
 * Linux skips it before looking at them (qcom_smem_enumerate_partitions(),
 * qcom_smem_set_global_partition()), and so does every reader here. Tables may
 * have unused slots between used ones, and more slots than partitions.
 */
static inline bool smem__ptable_used(const struct smem__ptable *pt, unsigned i)
{
	return pt->e[i].offset && pt->e[i].size;
}

/*
 * Return: 0; -ENOENT if there is no "$TOC" (tolerated by version 11);
 * -EPROTO for a table version other than 1; -EBADMSG.
 */
int smem__read_ptable(const uint8_t *base, uint64_t size, struct smem__diag *d,
		      struct smem__ptable *ret);

/*
 * V4: every used entry inside the region, clear of the header, the heap, the
 * table and each other. Reports every violation; if @bad is not NULL, marks the
 * entries that lie outside their bounds (an overlap marks neither).
 */
int smem__check_ptable_layout(const struct smem__ptable *pt, uint64_t size,
			      const struct smem__hdr *h, struct smem__diag *d, bool *bad);

/* A partition whose table entry and header agree (V5, V7). */
struct smem__part {
	uint32_t off; /* from the start of the region */
	uint32_t size;
	uint32_t slot; /* ALIGN(16, cacheline): the room a cached header takes */
	uint16_t host0, host1;
};

int smem__check_part(const uint8_t *base, const struct smem__ptable *pt, unsigned i,
		     struct smem__diag *d, struct smem__part *ret);

/*
 * V7: a non-empty cached list (offset_free_cached below the size) has a header
 * slot, and its topmost slot, at size - slot, lies inside the list and clear of
 * the partition header. A cacheline too large for its partition would put that
 * slot below the partition's start (size - slot wraps) or over its header (a
 * 4 KiB partition with cacheline 4096, whose only slot is the header itself).
 */
static inline bool smem__cached_slot_fits(uint32_t size, uint32_t slot, uint32_t cached)
{
	if (cached >= size)
		return true; /* empty: nothing is walked, and no slot is needed */
	return slot && slot <= size && size - slot >= cached &&
	       size - slot >= sizeof(struct smem_partition_header);
}

/* One entry of a partition; offsets relative to the partition. */
struct smem__entry {
	unsigned item;
	uint32_t hdr;
	uint32_t data;
	uint32_t size; /* exact: stored size minus padding_data */
	uint32_t padding;
	bool cached;
};

/* A walk over a partition's uncached list, then its cached list (V6, V8-V10). */
struct smem__walk {
	const uint8_t *p;
	uint32_t off; /* of the partition, for messages */
	uint32_t size, slot;
	uint32_t uncached, cached; /* the publishing words, read once */
	uint64_t pos;
	bool in_cached;
};

/*
 * Where the cached walk starts: the topmost header slot, or 0 (nothing to walk,
 * since 0 is below any cached list) when there is no slot or it cannot fit.
 */
static inline uint64_t smem__cached_top(const struct smem__walk *w)
{
	return w->slot && w->slot <= w->size ? (uint64_t)w->size - w->slot : 0;
}

static inline int smem__walk_begin(struct smem__walk *w, const uint8_t *base,
				   const struct smem__part *part, struct smem__diag *d)
{
	const uint8_t *p = base + part->off;
	uint32_t size, uncached, cached;

	/*
	 * W1: acquire the publishing words; pairs with P1 (uncached) and P2 (cached)
	 * in alloc.c, so every entry below them is complete when read.
	 */
	uncached = shm_ld32_acquire(p + offsetof(struct smem_partition_header, offset_free_uncached));
	cached = shm_ld32_acquire(p + offsetof(struct smem_partition_header, offset_free_cached));
	size = shm_ld32(p + offsetof(struct smem_partition_header, size));

	if (size != part->size) {
		smem__diag(d, "partition %u:%u at 0x%x: size changed from 0x%x to 0x%x",
			   part->host0, part->host1, part->off, part->size, size);
		return -EBADMSG;
	}
	/* V6, V13 */
	if (uncached < sizeof(struct smem_partition_header) || uncached > cached || cached > size ||
	    uncached % 4 || cached % 4) {
		smem__diag(d, "partition %u:%u at 0x%x: free offsets uncached 0x%x cached 0x%x "
			      "outside 0x20..0x%x or unordered",
			   part->host0, part->host1, part->off, uncached, cached, size);
		return -EBADMSG;
	}
	/* V7: without a valid cacheline there can be no cached list. */
	if (!part->slot && cached != size) {
		smem__diag(d, "partition %u:%u at 0x%x: cached entries but cacheline 0",
			   part->host0, part->host1, part->off);
		return -EBADMSG;
	}
	/* V7: the topmost slot lies inside the list, above the uncached list and the header. */
	if (!smem__cached_slot_fits(size, part->slot, cached)) {
		smem__diag(d, "partition %u:%u at 0x%x: cached entries, but a header slot of %u "
			      "bytes does not fit between 0x%x and the end 0x%x",
			   part->host0, part->host1, part->off, part->slot, cached, size);
		return -EBADMSG;
	}
	*w = (struct smem__walk){ .p = p, .off = part->off, .size = size, .slot = part->slot, .uncached = uncached,
				  .cached = cached, .pos = sizeof(struct smem_partition_header) };
	if (w->pos == uncached) {
		w->in_cached = true;
		w->pos = smem__cached_top(w);
	}
	return 0;
}

/* Return: 1 with the next entry in *e; 0 at the end; -EBADMSG. */
static inline int smem__walk_next(struct smem__walk *w, struct smem__entry *e, struct smem__diag *d)
{
	uint32_t w0, sz, w2;
	uint16_t canary, padding_data, padding_hdr;
	uint64_t data;

	if (!w->in_cached) {
		/* V8: the whole header lies below the end of the list, and aligned. */
		if (w->pos + sizeof(struct smem_private_entry) > w->uncached || w->pos % 4)
			goto bad_hdr;
	} else {
		if (!w->slot || w->pos <= w->cached)
			return 0;
		if (w->pos % 4)
			goto bad_hdr;
	}
	w0 = shm_ld32(w->p + w->pos);
	sz = shm_ld32(w->p + w->pos + 4);
	w2 = shm_ld32(w->p + w->pos + 8);
	canary = (uint16_t)(w0 & 0xffff);
	padding_data = (uint16_t)(w2 & 0xffff);
	padding_hdr = (uint16_t)(w2 >> 16);
	if (canary != SMEM_PRIVATE_CANARY) {
		smem__diag(d, "partition at 0x%x: invalid canary 0x%04x at +0x%" PRIx64, w->off,
			   canary, w->pos);
		return -EBADMSG;
	}
	/* V10 */
	if (padding_data > sz || sz > w->size)
		goto bad_size;
	e->item = w0 >> 16;
	e->hdr = (uint32_t)w->pos;
	e->size = sz - padding_data;
	e->padding = padding_data;
	e->cached = w->in_cached;
	if (!w->in_cached) {
		data = w->pos + sizeof(struct smem_private_entry) + padding_hdr;
		if (data + sz > w->uncached)
			goto bad_size;
		e->data = (uint32_t)data;
		w->pos = data + sz; /* V9: at least 16 bytes on */
		if (w->pos == w->uncached) {
			w->in_cached = true;
			w->pos = smem__cached_top(w);
		}
		return 1;
	}
	if (sz > w->pos - w->cached)
		goto bad_size;
	data = w->pos - sz;
	e->data = (uint32_t)data;
	/* V9: at least one slot down; below the cached end the walk stops. */
	w->pos = data >= w->slot ? data - w->slot : 0;
	return 1;

bad_hdr:
	smem__diag(d, "partition at 0x%x: entry header at +0x%" PRIx64 " crosses the end of its list",
		   w->off, w->pos);
	return -EBADMSG;
bad_size:
	smem__diag(d, "partition at 0x%x: entry at +0x%" PRIx64 ": size 0x%x (padding %u) runs past its list",
		   w->off, w->pos, sz, padding_data);
	return -EBADMSG;
}

/* The global-heap entry of an item, checked against the heap (V12). */
struct smem__toc_entry {
	uint32_t allocated, offset, size, aux_base;
};

static inline void smem__read_toc(const uint8_t *base, unsigned item, struct smem__toc_entry *t)
{
	const uint8_t *e = base + offsetof(struct smem_header, toc) +
			   (size_t)item * sizeof(struct smem_global_entry);

	/* T1: acquire the publishing word; pairs with P3 in alloc.c. */
	t->allocated = shm_ld32_acquire(e);
	t->offset = shm_ld32(e + 4);
	t->size = shm_ld32(e + 8);
	t->aux_base = shm_ld32(e + 12) & SMEM_AUX_BASE_MASK;
}

#endif
