// SPDX-License-Identifier: MIT
/*
 * Decoding an image into its fields, and the values to try in them (fields.h).
 *
 * The decoder follows the layout of docs/FORMAT.md, not the library's checks:
 * it keeps going wherever the bytes are still in the region, so that a field
 * the library would refuse to look at (a partition header behind a table entry
 * that fails V4, say) can still be mutated back into shape. Every offset is
 * computed in 64 bits and compared with the image's size before it is read.
 */
#include "fields.h"

#include <endian.h>
#include <stdbool.h>
#include <string.h>

#include "smem/layout.h"

_Static_assert(sizeof(((struct fuzz_fields *)0)->p) / sizeof(struct fuzz_part) ==
		   SMEM_PTABLE_MAX_ENTRIES,
	       "a record for every partition the table can hold");

#define ENTRIES_PER_LIST 64u /* entry headers decoded per list: enough for any seed */

struct dec {
	const uint8_t *img;
	uint64_t size;
	struct fuzz_fields *ff;
};

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static unsigned new_group(struct dec *d)
{
	return d->ff->groups < 0xffff ? d->ff->groups++ : 0xffff;
}

/* Record the field at @off if it lies in the image and there is room. */
static void add(struct dec *d, uint64_t off, unsigned width, unsigned kind, unsigned group,
		unsigned part, uint32_t bound)
{
	struct fuzz_fields *ff = d->ff;

	if (off + width > d->size || ff->n >= FUZZ_FIELDS_MAX)
		return;
	ff->f[ff->n++] = (struct fuzz_field){
	    .off = (uint32_t)off,
	    .value = width == 2 ? ld16(d->img + off) : ld32(d->img + off),
	    .bound = bound,
	    .group = (uint16_t)group,
	    .part = (uint16_t)part,
	    .width = (uint8_t)width,
	    .kind = (uint8_t)kind,
	};
}

/* The structure at @off (from the start); @from_end records it relative to the end. */
static void add_chunk(struct dec *d, uint64_t off, uint64_t len, bool from_end)
{
	struct fuzz_fields *ff = d->ff;

	if (!len || off + len > d->size || ff->n_chunks >= FUZZ_CHUNKS_MAX)
		return;
	ff->c[ff->n_chunks++] = (struct fuzz_chunk){
	    .off = (uint32_t)(from_end ? d->size - off : off),
	    .len = (uint32_t)len,
	    .from_end = from_end,
	};
}

/* The five fields of the entry header at @hdr (from the image's start). */
static void add_entry(struct dec *d, uint64_t hdr, unsigned part, uint32_t psize)
{
	unsigned g = new_group(d);

	add(d, hdr + offsetof(struct smem_private_entry, canary), 2, FUZZ_FIELD_CANARY, g, part,
	    psize);
	add(d, hdr + offsetof(struct smem_private_entry, item), 2, FUZZ_FIELD_ITEM, g, part, psize);
	add(d, hdr + offsetof(struct smem_private_entry, size), 4, FUZZ_FIELD_SIZE, g, part, psize);
	add(d, hdr + offsetof(struct smem_private_entry, padding_data), 2, FUZZ_FIELD_PADDING, g,
	    part, psize);
	add(d, hdr + offsetof(struct smem_private_entry, padding_hdr), 2, FUZZ_FIELD_PADDING, g,
	    part, psize);
}

/*
 * A partition's header and lists. @off and @esize come from table slot @part,
 * @cl is its cacheline. The walk is bounded by the smaller of the header's size
 * and what is left of the image, whatever the free offsets say.
 */
static void decode_partition(struct dec *d, unsigned part, uint64_t e, uint64_t off, uint32_t esize,
			     uint32_t cl)
{
	const uint8_t *p = d->img + off;
	uint64_t limit, pos, ofu, ofc, slot;
	uint32_t hsize;
	unsigned g, n;

	if (off + sizeof(struct smem_partition_header) > d->size)
		return;
	hsize = ld32(p + offsetof(struct smem_partition_header, size));
	ofu = ld32(p + offsetof(struct smem_partition_header, offset_free_uncached));
	ofc = ld32(p + offsetof(struct smem_partition_header, offset_free_cached));
	limit = hsize < d->size - off ? hsize : d->size - off;
	if (d->ff->n_parts < sizeof(d->ff->p) / sizeof(d->ff->p[0]))
		d->ff->p[d->ff->n_parts++] = (struct fuzz_part){
		    .entry = (uint32_t)e,
		    .off = (uint32_t)off,
		    .size = hsize,
		    .cacheline = cl,
		    .ofu = (uint32_t)ofu,
		    .ofc = (uint32_t)ofc,
		};

	g = new_group(d);
	add(d, off + offsetof(struct smem_partition_header, host0), 2, FUZZ_FIELD_HOST, g, part,
	    esize);
	add(d, off + offsetof(struct smem_partition_header, host1), 2, FUZZ_FIELD_HOST, g, part,
	    esize);
	add(d, off + offsetof(struct smem_partition_header, size), 4, FUZZ_FIELD_SIZE, g, part,
	    esize);
	add(d, off + offsetof(struct smem_partition_header, offset_free_uncached), 4,
	    FUZZ_FIELD_OFFSET, g, part, hsize);
	add(d, off + offsetof(struct smem_partition_header, offset_free_cached), 4,
	    FUZZ_FIELD_OFFSET, g, part, hsize);
	add_chunk(d, off, limit, false);

	/* Uncached entries, up from the header; then where the next one would go. */
	pos = sizeof(struct smem_partition_header);
	for (n = 0; n < ENTRIES_PER_LIST && pos + sizeof(struct smem_private_entry) <= limit &&
		    pos + sizeof(struct smem_private_entry) <= ofu;
	     n++) {
		uint64_t next;

		if (ld16(p + pos) != SMEM_PRIVATE_CANARY)
			break;
		add_entry(d, off + pos, part, hsize);
		next = pos + sizeof(struct smem_private_entry) +
		       ld16(p + pos + offsetof(struct smem_private_entry, padding_hdr)) +
		       ld32(p + pos + offsetof(struct smem_private_entry, size));
		pos = next;
	}
	if (ofu >= sizeof(struct smem_partition_header) &&
	    ofu + sizeof(struct smem_private_entry) <= limit)
		add_entry(d, off + ofu, part, hsize);

	/* Cached entries, down from the end, one header slot each. */
	if (cl < 16 || cl > SMEM_MAX_CACHELINE || (cl & (cl - 1)))
		return;
	slot = cl;
	if (slot > limit)
		return;
	pos = limit - slot;
	for (n = 0;
	     n < ENTRIES_PER_LIST && pos >= ofc && pos >= sizeof(struct smem_partition_header);
	     n++) {
		uint32_t sz;

		if (ld16(p + pos) != SMEM_PRIVATE_CANARY)
			break;
		add_entry(d, off + pos, part, hsize);
		sz = ld32(p + pos + offsetof(struct smem_private_entry, size));
		if (sz + slot > pos)
			break;
		pos -= sz + slot;
	}
	if (ofc <= limit && ofc >= slot + sizeof(struct smem_partition_header))
		add_entry(d, off + ofc - slot, part, hsize);
}

static void decode_ptable(struct dec *d)
{
	uint64_t pt_off = d->size - SMEM_PTABLE_SIZE; /* the caller checked the size */
	const uint8_t *pt = d->img + pt_off;
	uint32_t n, size = (uint32_t)d->size;
	uint64_t info;
	unsigned g;

	if (memcmp(pt, SMEM_PTABLE_MAGIC, 4) != 0)
		return;
	add_chunk(d, pt_off, SMEM_PTABLE_SIZE, true);
	g = new_group(d);
	add(d, pt_off + offsetof(struct smem_ptable, version), 4, FUZZ_FIELD_VERSION, g,
	    FUZZ_NO_PART, size);
	add(d, pt_off + offsetof(struct smem_ptable, num_entries), 4, FUZZ_FIELD_ITEM, g,
	    FUZZ_NO_PART, size);
	n = ld32(pt + offsetof(struct smem_ptable, num_entries));
	if (n > SMEM_PTABLE_MAX_ENTRIES)
		n = SMEM_PTABLE_MAX_ENTRIES;
	for (unsigned i = 0; i < n; i++) {
		uint64_t e =
		    pt_off + sizeof(struct smem_ptable) + i * sizeof(struct smem_ptable_entry);
		uint32_t off = ld32(d->img + e + offsetof(struct smem_ptable_entry, offset));
		uint32_t esize = ld32(d->img + e + offsetof(struct smem_ptable_entry, size));
		uint32_t cl = ld32(d->img + e + offsetof(struct smem_ptable_entry, cacheline));

		g = new_group(d);
		add(d, e + offsetof(struct smem_ptable_entry, offset), 4, FUZZ_FIELD_OFFSET, g, i,
		    esize);
		add(d, e + offsetof(struct smem_ptable_entry, size), 4, FUZZ_FIELD_SIZE, g, i,
		    esize);
		add(d, e + offsetof(struct smem_ptable_entry, flags), 4, FUZZ_FIELD_PLAIN, g, i,
		    esize);
		add(d, e + offsetof(struct smem_ptable_entry, host0), 2, FUZZ_FIELD_HOST, g, i,
		    esize);
		add(d, e + offsetof(struct smem_ptable_entry, host1), 2, FUZZ_FIELD_HOST, g, i,
		    esize);
		add(d, e + offsetof(struct smem_ptable_entry, cacheline), 4, FUZZ_FIELD_CACHELINE,
		    g, i, esize);
		if (off && esize && off < pt_off)
			decode_partition(d, i, e, off, esize, cl);
	}
	info = pt_off + sizeof(struct smem_ptable) + (uint64_t)n * sizeof(struct smem_ptable_entry);
	if (memcmp(d->img + info, SMEM_INFO_MAGIC, 4) == 0) {
		g = new_group(d);
		add(d, info + offsetof(struct smem_info, size), 4, FUZZ_FIELD_SIZE, g, FUZZ_NO_PART,
		    size);
		add(d, info + offsetof(struct smem_info, num_items), 2, FUZZ_FIELD_ITEM, g,
		    FUZZ_NO_PART, size);
	}
}

void fuzz_fields_decode(const uint8_t *img, size_t size, struct fuzz_fields *ret)
{
	struct dec d = { .img = img, .size = size < UINT32_MAX ? size : UINT32_MAX, .ff = ret };
	uint32_t size32 = (uint32_t)d.size;
	unsigned g;

	ret->size = size32;
	ret->version = 0;
	ret->n = ret->groups = ret->n_chunks = ret->n_parts = 0;
	if (d.size < offsetof(struct smem_header, toc))
		return;
	ret->version =
	    ld32(img + offsetof(struct smem_header, version[SMEM_SBL_VERSION_INDEX])) >> 16;
	g = new_group(&d);
	add(&d, offsetof(struct smem_header, version[SMEM_SBL_VERSION_INDEX]), 4,
	    FUZZ_FIELD_VERSION, g, FUZZ_NO_PART, size32);
	add(&d, offsetof(struct smem_header, initialized), 4, FUZZ_FIELD_PLAIN, g, FUZZ_NO_PART,
	    size32);
	add(&d, offsetof(struct smem_header, free_offset), 4, FUZZ_FIELD_OFFSET, g, FUZZ_NO_PART,
	    size32);
	add(&d, offsetof(struct smem_header, available), 4, FUZZ_FIELD_SIZE, g, FUZZ_NO_PART,
	    size32);
	add(&d, offsetof(struct smem_header, reserved), 4, FUZZ_FIELD_PLAIN, g, FUZZ_NO_PART,
	    size32);
	add_chunk(&d, 0, d.size < sizeof(struct smem_header) ? d.size : sizeof(struct smem_header),
		  false);

	/* Version 11: the table of contents entries that are in use. */
	if (ret->version == SMEM_GLOBAL_HEAP_VERSION && d.size >= sizeof(struct smem_header)) {
		for (unsigned i = 0; i < SMEM_TOC_COUNT; i++) {
			uint64_t e = offsetof(struct smem_header, toc) +
				     (uint64_t)i * sizeof(struct smem_global_entry);

			if (!ld32(img + e) && !ld32(img + e + 4) && !ld32(img + e + 8))
				continue;
			g = new_group(&d);
			add(&d, e + offsetof(struct smem_global_entry, allocated), 4,
			    FUZZ_FIELD_PLAIN, g, FUZZ_NO_PART, size32);
			add(&d, e + offsetof(struct smem_global_entry, offset), 4,
			    FUZZ_FIELD_OFFSET, g, FUZZ_NO_PART, size32);
			add(&d, e + offsetof(struct smem_global_entry, size), 4, FUZZ_FIELD_SIZE, g,
			    FUZZ_NO_PART, size32);
			add(&d, e + offsetof(struct smem_global_entry, aux_base), 4,
			    FUZZ_FIELD_PLAIN, g, FUZZ_NO_PART, size32);
		}
	}
	if (d.size >= sizeof(struct smem_header) + SMEM_PTABLE_SIZE)
		decode_ptable(&d);
}

/* Small steps, mostly none: a value equal to another field's is the commonest edge. */
static const uint32_t deltas[] = { 0, 0, 0, 1, (uint32_t)-1, 4, (uint32_t)-4, 8, (uint32_t)-8,
				   16, (uint32_t)-16, 32, (uint32_t)-32 };

/* The values a field of @kind is compared with, beyond the generic ones. */
static uint32_t pick_kind(const struct fuzz_fields *ff, unsigned kind, struct fuzz_rng *r)
{
	static const uint32_t hosts[] = { 0, 1, 2, 5, 24, 25, 0xfffe, 0xffff };
	static const uint32_t items[] = { 0, 7, 8, 9, 100, 137, 469, 511, 512, 0xffff };
	uint32_t size = ff->size;

	switch (kind) {
	case FUZZ_FIELD_VERSION:
		return (fuzz_rng_below(r, 2) ? SMEM_GLOBAL_PART_VERSION : SMEM_GLOBAL_HEAP_VERSION)
			   << 16 |
		       fuzz_rng_below(r, 2);
	case FUZZ_FIELD_HOST:
		return hosts[fuzz_rng_below(r, sizeof(hosts) / sizeof(hosts[0]))];
	case FUZZ_FIELD_CACHELINE:
		return 8u << fuzz_rng_below(r, 11); /* 8 .. 8192 */
	case FUZZ_FIELD_CANARY:
		return SMEM_PRIVATE_CANARY;
	case FUZZ_FIELD_ITEM:
		return items[fuzz_rng_below(r, sizeof(items) / sizeof(items[0]))];
	case FUZZ_FIELD_OFFSET:
	case FUZZ_FIELD_SIZE:
		switch (fuzz_rng_below(r, 4)) {
		case 0:
			return (uint32_t)sizeof(struct smem_header);
		case 1:
			return size - SMEM_PTABLE_SIZE;
		case 2:
			return (uint32_t)sizeof(struct smem_partition_header);
		default:
			return size - (uint32_t)sizeof(struct smem_header);
		}
	default:
		return fuzz_rng_below(r, 2) ? 0 : 1;
	}
}

uint32_t fuzz_field_pick(const struct fuzz_fields *ff, const struct fuzz_field *f,
			 struct fuzz_rng *r)
{
	uint32_t bound = fuzz_rng_below(r, 2) ? f->bound : ff->size;
	uint32_t delta = deltas[fuzz_rng_below(r, sizeof(deltas) / sizeof(deltas[0]))];
	const struct fuzz_field *o = ff->n ? &ff->f[fuzz_rng_below(r, ff->n)] : f;
	const struct fuzz_field *o2 = ff->n ? &ff->f[fuzz_rng_below(r, ff->n)] : f;
	uint32_t v;

	switch (fuzz_rng_below(r, 16)) {
	case 0:
		v = 0;
		break;
	case 1:
		v = 1;
		break;
	case 2:
		v = 16;
		break;
	case 3:
		v = 4096;
		break;
	case 4:
		v = bound - 1;
		break;
	case 5:
		v = bound;
		break;
	case 6:
		v = bound + 1;
		break;
	case 7:
		v = 1u << 31;
		break;
	case 8:
		v = UINT32_MAX;
		break;
	case 9:
		v = 1u << fuzz_rng_below(r, 32);
		break;
	case 10:
	case 11:
		v = o->value + delta; /* another field's value, give or take */
		break;
	case 12:
		v = o->value + o2->value + delta; /* where a structure ends: offset + size */
		break;
	case 13:
		v = f->value + delta;
		break;
	default:
		v = pick_kind(ff, f->kind, r);
		break;
	}
	return f->width == 2 ? v & 0xffff : v;
}

const struct fuzz_field *fuzz_field_partner(const struct fuzz_fields *ff,
					    const struct fuzz_field *f, struct fuzz_rng *r)
{
	unsigned choice = fuzz_rng_below(r, 3), first = (unsigned)(f - ff->f), tries;

	if (choice == 2 || ff->n < 2)
		return &ff->f[fuzz_rng_below(r, ff->n)];
	/* Fields of a structure, or of a partition, are mostly next to each other. */
	for (tries = 0; tries < 8; tries++) {
		unsigned span = choice == 0 ? 8 : 64;
		unsigned lo = first > span ? first - span : 0;
		unsigned hi = first + span < ff->n ? first + span : ff->n - 1;
		const struct fuzz_field *g = &ff->f[lo + fuzz_rng_below(r, hi - lo + 1)];

		if (g == f)
			continue;
		if (choice == 0 ? g->group == f->group : g->part == f->part)
			return g;
	}
	return &ff->f[fuzz_rng_below(r, ff->n)];
}

void fuzz_field_put(uint8_t *img, size_t size, const struct fuzz_field *f, uint32_t v)
{
	if ((uint64_t)f->off + f->width > size)
		return;
	if (f->width == 2) {
		uint16_t le = htole16((uint16_t)v);

		memcpy(img + f->off, &le, 2);
	} else {
		uint32_t le = htole32(v);

		memcpy(img + f->off, &le, 4);
	}
}
