/* SPDX-License-Identifier: MIT */
/*
 * The fields of an SMEM image, as far as they parse, for the structure-aware
 * mutator (mutator.c) and the scribbling thread of fuzz-scribble.c.
 *
 * Byte-level mutation rarely reaches a state in which two fields of an image
 * disagree in a way that passes every check but one: a partition table entry
 * and its partition header must still agree on the size while the cacheline
 * grows past it, say. So both tools decode the image into its words (header,
 * version-11 table of contents, partition table and every slot, partition
 * headers, the uncached and cached entry headers of each partition) and set one
 * or two of them at a time to values at the edges of what the checks compare
 * them with.
 *
 * The decoder reads the image it is given once, bounds every offset it
 * computes, and never writes; it gives up on a structure as soon as it does not
 * parse, keeping what it has found so far.
 */
#ifndef SMEMKIT_FUZZ_FIELDS_H
#define SMEMKIT_FUZZ_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_FIELDS_MAX 4096u
#define FUZZ_CHUNKS_MAX 96u
#define FUZZ_NO_PART	0xffffu

/* What a field means, for the values that matter to it beyond the generic ones. */
enum fuzz_field_kind {
	FUZZ_FIELD_PLAIN,
	FUZZ_FIELD_VERSION,   /* header version[7]: major in the top half */
	FUZZ_FIELD_OFFSET,    /* an offset into the region or a partition */
	FUZZ_FIELD_SIZE,      /* a size of a partition, an entry or the heap */
	FUZZ_FIELD_HOST,      /* a 16-bit host id */
	FUZZ_FIELD_CACHELINE, /* a partition's cacheline */
	FUZZ_FIELD_CANARY,    /* an entry header's 0xa5a5 */
	FUZZ_FIELD_ITEM,      /* an item number or an item count */
	FUZZ_FIELD_PADDING,   /* padding_data or padding_hdr */
};

struct fuzz_field {
	uint32_t off;	/* from the start of the image */
	uint32_t value; /* as decoded */
	uint32_t bound; /* the size the field lives in: its partition's, or the region's */
	uint16_t group; /* the structure (header, table entry, entry header) it belongs to */
	uint16_t part;	/* the partition table slot it relates to, or FUZZ_NO_PART */
	uint8_t width;	/* 2 or 4 bytes, little-endian */
	uint8_t kind;	/* enum fuzz_field_kind */
};

/* A byte range that holds one whole structure, for the crossover. */
struct fuzz_chunk {
	uint32_t off; /* from the start, or with from_end from the end of the image */
	uint32_t len;
	uint8_t from_end;
};

/* A partition whose header lies in the image: where its sizes and free offsets are. */
struct fuzz_part {
	uint32_t entry; /* its partition table entry, from the start of the image */
	uint32_t off;	/* its header */
	uint32_t size, cacheline, ofu, ofc; /* the header's size, the entry's cacheline */
};

struct fuzz_fields {
	uint32_t size; /* of the image decoded */
	unsigned version;
	unsigned n, groups, n_chunks, n_parts;
	struct fuzz_field f[FUZZ_FIELDS_MAX];
	struct fuzz_chunk c[FUZZ_CHUNKS_MAX];
	struct fuzz_part p[84]; /* SMEM_PTABLE_MAX_ENTRIES */
};

/* A small PRNG (splitmix64): the same seed gives the same mutations. */
struct fuzz_rng {
	uint64_t s;
};

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform enough below @n (n > 0). */
static inline uint32_t fuzz_rng_below(struct fuzz_rng *r, uint32_t n)
{
	return (uint32_t)(((fuzz_rng_next(r) >> 32) * n) >> 32);
}

/* Decode @img (@size bytes) into @ret; @size above 4 GiB is decoded as 4 GiB - 1. */
void fuzz_fields_decode(const uint8_t *img, size_t size, struct fuzz_fields *ret);

/*
 * A value for field @f: 0, 1, 16, 4096, its partition's or the region's size
 * minus one, exact or plus one, 2^31, 2^32 - 1, a power of two, another
 * field's value (or the end of a structure) give or take a few bytes, or one of
 * the values its kind is compared with. Truncated to the field's width.
 */
uint32_t fuzz_field_pick(const struct fuzz_fields *ff, const struct fuzz_field *f,
			 struct fuzz_rng *r);

/* Another field to change together with @f: of the same structure, partition, or any. */
const struct fuzz_field *fuzz_field_partner(const struct fuzz_fields *ff,
					    const struct fuzz_field *f, struct fuzz_rng *r);

/* Write @v to field @f of @img, little-endian; nothing if it would not fit in @size. */
void fuzz_field_put(uint8_t *img, size_t size, const struct fuzz_field *f, uint32_t v);

#endif
