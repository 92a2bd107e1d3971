// SPDX-License-Identifier: MIT
/*
 * The formatter: what the bootloader does before any host runs. It writes an
 * empty image that smem_open() and the Linux driver accept, and that smem_check()
 * finds clean:
 *
 *   0          smem_header (8400 bytes: versions, heap counters, 512-entry TOC)
 *   0x3000     version 12: the global partition, then one partition per pair
 *              version 11: the global heap from 8400 up, then the partitions
 *   size-4096  "$TOC" partition table and "SIII" info block (if any partition)
 *
 * Partitions are 4 KiB aligned; those without a size share what is left equally.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "layout.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/smem.h"

#define PAGE       4096u
#define PARTS_BASE 0x3000u /* the header rounded up to a page */
#define MIN_PART   PAGE

static const struct smem_pair default_pairs[] = {
	{ .host0 = 0, .host1 = 1 },
	{ .host0 = 0, .host1 = 2 },
	{ .host0 = 0, .host1 = 5 },
};

void smem_format_opts_init(struct smem_format_opts *o)
{
	*o = (struct smem_format_opts){
		.version = SMEM_GLOBAL_PART_VERSION,
		.item_count = SMEM_ITEM_COUNT,
		.cacheline = SMEM_DEFAULT_CACHELINE,
		.pairs = default_pairs,
		.n_pairs = ARRAY_SIZE(default_pairs),
	};
}

static int check_opts(const struct smem_format_opts *o, size_t size)
{
	if (o->version != SMEM_GLOBAL_HEAP_VERSION && o->version != SMEM_GLOBAL_PART_VERSION)
		return -EINVAL;
	if (!is_pow2(o->cacheline) || o->cacheline < 16 || o->cacheline > SMEM_MAX_CACHELINE)
		return -EINVAL;
	if (o->item_count <= SMEM_ITEM_LAST_FIXED || o->item_count > 0xffff ||
	    (o->version == SMEM_GLOBAL_HEAP_VERSION && o->item_count != SMEM_ITEM_COUNT))
		return -EINVAL;
	if (o->n_pairs > SMEM_PTABLE_MAX_ENTRIES - 1 || (o->n_pairs && !o->pairs))
		return -EINVAL;
	for (size_t i = 0; i < o->n_pairs; i++) {
		const struct smem_pair *a = &o->pairs[i];

		/* Each size below 4 GiB, so that their sum cannot wrap. */
		if (a->host0 >= SMEM_HOST_COUNT || a->host1 >= SMEM_HOST_COUNT ||
		    a->host0 == a->host1 || a->size % PAGE || a->size > SMEM_REGION_MAX_SIZE)
			return -EINVAL;
		for (size_t j = 0; j < i; j++) {
			const struct smem_pair *b = &o->pairs[j];

			if ((a->host0 == b->host0 && a->host1 == b->host1) ||
			    (a->host0 == b->host1 && a->host1 == b->host0))
				return -EINVAL;
		}
	}
	if (o->global_size % PAGE || o->global_size > SMEM_REGION_MAX_SIZE)
		return -EINVAL;
	if (size % PAGE || size < 4 * PAGE || size > SMEM_REGION_MAX_SIZE)
		return -EINVAL;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void write_partition(uint8_t *base, uint32_t off, uint32_t size, unsigned h0, unsigned h1)
{
	uint8_t *p = base + off;

	memcpy(p, SMEM_PART_MAGIC, 4);
	put16(p + offsetof(struct smem_partition_header, host0), (uint16_t)h0);
	put16(p + offsetof(struct smem_partition_header, host1), (uint16_t)h1);
	put32(p + offsetof(struct smem_partition_header, size), size);
	put32(p + offsetof(struct smem_partition_header, offset_free_uncached),
	      sizeof(struct smem_partition_header));
	put32(p + offsetof(struct smem_partition_header, offset_free_cached), size);
}

int smem_format(void *mem, size_t size, const struct smem_format_opts *opts)
{
	struct smem_format_opts defaults;
	const struct smem_format_opts *o = opts;
	uint8_t *base = mem, *pt;
	bool v12, has_ptable;
	/* Slot 0 is the global partition (version 12) or the global heap (version 11). */
	uint64_t want[SMEM_PTABLE_MAX_ENTRIES], at[SMEM_PTABLE_MAX_ENTRIES];
	uint64_t lo, hi, fixed = 0, shares = 0, share = 0;
	size_t n;
	int r;

	if (!o) {
		smem_format_opts_init(&defaults);
		o = &defaults;
	}
	r = check_opts(o, size);
	if (r < 0)
		return r;
	v12 = o->version == SMEM_GLOBAL_PART_VERSION;
	has_ptable = v12 || o->n_pairs;
	n = o->n_pairs + 1;
	lo = PARTS_BASE;
	hi = has_ptable ? size - SMEM_PTABLE_SIZE : size;
	if (hi < lo)
		return -ENOSPC;

	want[0] = o->global_size;
	for (size_t i = 1; i < n; i++)
		want[i] = o->pairs[i - 1].size;
	for (size_t i = 0; i < n; i++) {
		fixed += want[i];
		shares += !want[i];
	}
	if (fixed > hi - lo)
		return -ENOSPC;
	if (shares)
		share = (hi - lo - fixed) / shares / PAGE * PAGE;
	for (size_t i = 0, off = lo; i < n; i++) {
		if (!want[i])
			want[i] = share;
		if (want[i] < MIN_PART)
			return -ENOSPC;
		at[i] = off;
		off += want[i];
	}
	if (!v12 && !o->n_pairs)
		want[0] = hi - lo; /* a lone heap takes everything */
	if (!mem)
		return 0; /* only checking the options */

	memset(base, 0, size);
	put32(base + offsetof(struct smem_header, version[SMEM_SBL_VERSION_INDEX]),
	      o->version << 16);
	put32(base + offsetof(struct smem_header, initialized), 1);
	/* The heap counters: the version-11 heap, or the gap before the partitions. */
	put32(base + offsetof(struct smem_header, free_offset), sizeof(struct smem_header));
	put32(base + offsetof(struct smem_header, available),
	      (uint32_t)(v12 ? lo - sizeof(struct smem_header)
			     : at[0] + want[0] - sizeof(struct smem_header)));
	if (!has_ptable)
		return 0;

	pt = base + size - SMEM_PTABLE_SIZE;
	memcpy(pt, SMEM_PTABLE_MAGIC, 4);
	put32(pt + offsetof(struct smem_ptable, version), SMEM_PTABLE_VERSION);
	{
		unsigned slot = 0;

		for (size_t i = v12 ? 0 : 1; i < n; i++, slot++) {
			uint8_t *e = pt + sizeof(struct smem_ptable) + slot * sizeof(struct smem_ptable_entry);
			unsigned h0 = i ? o->pairs[i - 1].host0 : SMEM_GLOBAL_HOST;
			unsigned h1 = i ? o->pairs[i - 1].host1 : SMEM_GLOBAL_HOST;

			put32(e + offsetof(struct smem_ptable_entry, offset), (uint32_t)at[i]);
			put32(e + offsetof(struct smem_ptable_entry, size), (uint32_t)want[i]);
			put16(e + offsetof(struct smem_ptable_entry, host0), (uint16_t)h0);
			put16(e + offsetof(struct smem_ptable_entry, host1), (uint16_t)h1);
			put32(e + offsetof(struct smem_ptable_entry, cacheline), o->cacheline);
			write_partition(base, (uint32_t)at[i], (uint32_t)want[i], h0, h1);
		}
		put32(pt + offsetof(struct smem_ptable, num_entries), slot);
		uint8_t *info = pt + sizeof(struct smem_ptable) + slot * sizeof(struct smem_ptable_entry);
		memcpy(info, SMEM_INFO_MAGIC, 4);
		put32(info + offsetof(struct smem_info, size), (uint32_t)size);
		put32(info + offsetof(struct smem_info, base_addr), (uint32_t)o->phys_base);
		put16(info + offsetof(struct smem_info, num_items), (uint16_t)o->item_count);
	}
	return 0;
}

int smem_create(const char *path, size_t size, const struct smem_format_opts *o)
{
	struct smem_hwlock_opts ho;
	struct smem_region *r;
	struct smem_hwlock *h;
	char lockpath[4096];
	int err;

	if (!path)
		return -EINVAL;
	if ((size_t)snprintf(lockpath, sizeof(lockpath), "%s.hwlock", path) >= sizeof(lockpath))
		return -ENAMETOOLONG;
	err = smem_format(NULL, size, o); /* a mistake must leave an existing file alone */
	if (err < 0)
		return err;
	err = smem_region_open(path, size, SMEM_REGION_CREATE, &r);
	if (err < 0)
		return err;
	err = smem_format(smem_region_base(r), size, o);
	smem_region_close(r);
	if (err < 0)
		return err;
	smem_hwlock_opts_init(&ho);
	ho.flags = SMEM_HWLOCK_CREATE;
	err = smem_hwlock_open(lockpath, &ho, &h);
	if (err < 0)
		return err;
	smem_hwlock_close(h);
	return 0;
}
