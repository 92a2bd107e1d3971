// SPDX-License-Identifier: MIT
/*
 * smem_check(): the fsck. It runs the same checks as attach and lookup (image.c,
 * image.h) over the whole image, not just one host's view, and adds those that
 * need the whole picture: every partition of the table, overlapping partitions,
 * repeated items, global-heap entries outside the allocated heap or overlapping
 * each other, and the contents of well-known items (decode.c). It reports every
 * finding it can reach and never reads outside the image.
 */
#include <stdio.h>
#include <stdlib.h>

#include "decode.h"
#include "image.h"

struct seen {
	uint64_t start, end;
	unsigned item;
};

static int cmp_seen(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static void check_heap(const uint8_t *base, uint64_t size, const struct smem__hdr *h,
		       struct smem__diag *d)
{
	struct seen s[SMEM_TOC_COUNT];
	unsigned n = 0;

	for (unsigned i = 0; i < SMEM_TOC_COUNT; i++) {
		struct smem__toc_entry t;

		smem__read_toc(base, i, &t);
		if (!t.allocated)
			continue;
		/*
		 * An image holds one region. Without its physical base (a dump has
		 * none) the checker cannot tell whether aux_base is the image's own
		 * base, so it cannot check the entry; lookups read it only if so.
		 */
		if (t.aux_base) {
			smem__warn(d, "global heap item %u names another memory region (aux_base 0x%x) "
				      "that the image does not hold: it is not checked, and cannot be "
				      "read unless 0x%x is the image's own physical base",
				   i, t.aux_base, t.aux_base);
			continue;
		}
		/* V12 */
		if ((uint64_t)t.offset + t.size > h->heap_end) {
			smem__diag(d, "global heap item %u at 0x%x+0x%x runs past the heap end 0x%" PRIx64,
				   i, t.offset, t.size, h->heap_end);
			continue;
		}
		/* V12: even an item of size 0 needs a byte of the region to point at. */
		if (t.offset >= size) {
			smem__diag(d, "global heap item %u of size 0 lies at the region's end 0x%x, "
				      "where no pointer to it is valid",
				   i, t.offset);
			continue;
		}
		if (i < SMEM_ITEM_LAST_FIXED)
			continue; /* the bootloader's own items may live anywhere */
		if (t.offset % 8 || t.size % 8)
			smem__diag(d, "global heap item %u at 0x%x+0x%x is not 8-byte aligned", i,
				   t.offset, t.size);
		if (t.offset < sizeof(struct smem_header) ||
		    (uint64_t)t.offset + t.size > h->free_offset)
			smem__diag(d, "global heap item %u at 0x%x+0x%x lies outside the allocated "
				      "heap 0x%zx..0x%x (free_offset behind the table?)",
				   i, t.offset, t.size, sizeof(struct smem_header), h->free_offset);
		s[n++] = (struct seen){ t.offset, (uint64_t)t.offset + t.size, i };
	}
	qsort(s, n, sizeof(s[0]), cmp_seen);
	for (unsigned i = 1; i < n; i++)
		if (s[i].start < s[i - 1].end)
			smem__diag(d, "global heap items %u and %u overlap", s[i - 1].item, s[i].item);
}

static void check_part(const uint8_t *base, const struct smem__part *part, unsigned item_count,
		       struct smem__diag *d)
{
	/* A bitmap of item numbers per list finds repeats (the walk ends, V9). */
	uint8_t seen[2][65536 / 8] = { { 0 } };
	struct smem__walk w;
	struct smem__entry e;
	int r;

	if (smem__walk_begin(&w, base, part, d) < 0)
		return;
	while ((r = smem__walk_next(&w, &e, d)) > 0) {
		uint8_t bit = (uint8_t)(1u << (e.item % 8));

		/*
		 * Twice in one list no allocator makes. Once in each is legal: Linux
		 * allocates after searching only the uncached list, and its lookups
		 * (and smem_item_get()) find the uncached copy first.
		 */
		if (seen[e.cached][e.item / 8] & bit)
			smem__diag(d, "partition %u:%u: item %u appears more than once in the %s list",
				   part->host0, part->host1, e.item, e.cached ? "cached" : "uncached");
		else if (e.cached && (seen[0][e.item / 8] & bit))
			smem__warn(d, "partition %u:%u: item %u is in both the uncached and the cached "
				      "list; lookups find the uncached one",
				   part->host0, part->host1, e.item);
		seen[e.cached][e.item / 8] |= bit;
		if (e.item >= item_count)
			smem__diag(d, "partition %u:%u: item %u is not below the item count %u",
				   part->host0, part->host1, e.item, item_count);
		if (e.item == SMEM__ITEM_SOCINFO)
			smem__decode_socinfo(base + part->off + e.data, e.size, NULL, NULL, d);
	}
}

static bool pair_ok(unsigned h0, unsigned h1)
{
	if (h0 == SMEM_GLOBAL_HOST && h1 == SMEM_GLOBAL_HOST)
		return true;
	return h0 < SMEM_HOST_COUNT && h1 < SMEM_HOST_COUNT && h0 != h1;
}

int smem_check(const void *image, size_t size, void (*finding)(const char *msg, void *userdata),
	       void *userdata)
{
	struct smem__diag d = { .fn = finding, .userdata = userdata };
	const uint8_t *base = image;
	struct smem__ptable pt;
	struct smem__hdr h;
	bool bad[SMEM_PTABLE_MAX_ENTRIES] = { false };
	unsigned item_count = SMEM_ITEM_COUNT, globals = 0;
	int r;

	if (!image)
		return -EINVAL;
	if (smem__read_hdr(base, size, &d, &h) < 0)
		return (int)d.count;
	if (h.version == SMEM_GLOBAL_HEAP_VERSION) {
		check_heap(base, size, &h, &d);
		if (h.free_offset + (uint64_t)h.available != h.heap_end)
			smem__diag(&d, "heap counters changed during the check");
	}

	/* A plain global heap needs no table: look quietly first. */
	r = smem__read_ptable(base, size, NULL, &pt);
	if (r == -ENOENT && h.version == SMEM_GLOBAL_HEAP_VERSION)
		goto items;
	if (r < 0) {
		smem__read_ptable(base, size, &d, &pt);
		return (int)d.count;
	}
	smem__check_ptable_layout(&pt, size, &h, &d, bad);
	if (h.version == SMEM_GLOBAL_PART_VERSION && pt.has_info) {
		if (pt.info_num_items <= SMEM_ITEM_LAST_FIXED)
			smem__diag(&d, "SIII block limits items to %u", pt.info_num_items);
		else
			item_count = pt.info_num_items;
	}
	for (unsigned i = 0; i < pt.n; i++) {
		struct smem__part part;

		if (!smem__ptable_used(&pt, i) || bad[i])
			continue;
		/* V15 */
		if (!pair_ok(pt.e[i].host0, pt.e[i].host1))
			smem__diag(&d, "partition %u: bad host pair %u:%u", i, pt.e[i].host0,
				   pt.e[i].host1);
		for (unsigned j = 0; j < i; j++)
			if (smem__ptable_used(&pt, j) &&
			    ((pt.e[j].host0 == pt.e[i].host0 && pt.e[j].host1 == pt.e[i].host1) ||
			     (pt.e[j].host0 == pt.e[i].host1 && pt.e[j].host1 == pt.e[i].host0)))
				smem__diag(&d, "partitions %u and %u are both for hosts %u:%u", j, i,
					   pt.e[i].host0, pt.e[i].host1);
		if (pt.e[i].host0 == SMEM_GLOBAL_HOST && pt.e[i].host1 == SMEM_GLOBAL_HOST)
			globals++;
		if (smem__check_part(base, &pt, i, &d, &part) == 0)
			check_part(base, &part, item_count, &d);
	}
	if (h.version == SMEM_GLOBAL_PART_VERSION && globals != 1)
		smem__diag(&d, "version 12 image has %u global partitions, expected 1", globals);
items:
	if (h.version == SMEM_GLOBAL_HEAP_VERSION) {
		struct smem__toc_entry t;

		smem__read_toc(base, SMEM__ITEM_SOCINFO, &t);
		if (t.allocated && !t.aux_base && (uint64_t)t.offset + t.size <= h.heap_end)
			smem__decode_socinfo(base + t.offset, t.size, NULL, NULL, &d);
	}
	return (int)d.count;
}
