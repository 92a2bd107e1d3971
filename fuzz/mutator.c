// SPDX-License-Identifier: MIT
/*
 * The structure-aware mutator of the image fuzz targets, linked into their
 * libFuzzer binaries only (the replay binaries need no mutator).
 *
 * Most bugs worth finding in a parser of untrusted images need two fields to
 * disagree in one particular way while every other check still passes: a
 * partition whose header and table entry agree on a size smaller than the
 * cacheline, a cached free offset that moved below the top slot. Byte-level
 * mutation of a 20 KiB image almost never changes the right two words at once.
 * So most of the time the image is decoded into its fields (fields.h), and one
 * field, or two of them (of the same structure, the same partition, or any
 * two), are set to boundary values or to each other's values, or a partition
 * is resized consistently; the rest of the time, and whenever the input does
 * not decode, libFuzzer's own mutations run.
 *
 * Every choice comes from a PRNG seeded with libFuzzer's seed, so a mutation
 * can be repeated. The size never grows here, so nothing is written past
 * MaxSize; fuzz_field_put() bounds every store by the input's size.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fields.h"
#include "smem/layout.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
				 size_t size2, uint8_t *out, size_t max_out_size,
				 unsigned int seed);

/* libFuzzer mutates from one thread; the decoded fields are too big for its stack. */
static struct fuzz_fields fields;

static const uint32_t near[] = { 0, 0, 0, 0, 4, (uint32_t)-4, 8, (uint32_t)-8, 16 };

/* One or two fields set; false if the bytes did not change. */
static bool mutate_fields(uint8_t *data, size_t size, struct fuzz_rng *r)
{
	const struct fuzz_field *f = &fields.f[fuzz_rng_below(r, fields.n)];
	uint32_t v = fuzz_field_pick(&fields, f, r);
	bool changed = v != f->value;

	fuzz_field_put(data, size, f, v);
	if (fuzz_rng_below(r, 2)) {
		const struct fuzz_field *g = fuzz_field_partner(&fields, f, r);
		uint32_t w;

		/* Often the point is that the two agree, or nearly: a size and its copy. */
		if (fuzz_rng_below(r, 3) == 0)
			w = v + near[fuzz_rng_below(r, sizeof(near) / sizeof(near[0]))];
		else
			w = fuzz_field_pick(&fields, g, r);
		if (g->width == 2)
			w &= 0xffff;
		changed |= w != g->value;
		fuzz_field_put(data, size, g, w);
	}
	return changed;
}

static void put32(uint8_t *data, size_t size, uint64_t off, uint32_t v)
{
	struct fuzz_field f = { .off = (uint32_t)off, .width = 4 };

	if (off + 4 <= size)
		fuzz_field_put(data, size, &f, v);
}

/*
 * A partition resized in both places that hold its size, its table entry and
 * its header, with the free offsets pulled inside the new size: four fields
 * that must change together for the partition to stay valid, and so to reach
 * the checks that compare its size with the cacheline and the lists.
 */
static bool resize_partition(uint8_t *data, size_t size, struct fuzz_rng *r)
{
	const struct fuzz_part *p = &fields.p[fuzz_rng_below(r, fields.n_parts)];
	uint32_t ns, ofu = p->ofu, ofc = p->ofc;

	switch (fuzz_rng_below(r, 6)) {
	case 0:
		ns = 32 + 8 * fuzz_rng_below(r, 8); /* a header and an entry or two */
		break;
	case 1:
		ns = p->cacheline - 8 + 8 * fuzz_rng_below(r, 3); /* about one slot */
		break;
	case 2:
		ns = 32u << fuzz_rng_below(r, 8); /* 32 .. 4096 */
		break;
	case 3:
		ns = p->size / 2;
		break;
	case 4:
		ns = p->size - 8 + 16 * fuzz_rng_below(r, 2);
		break;
	default:
		ns = fuzz_rng_below(r, 8192);
		break;
	}
	ns = ns < sizeof(struct smem_partition_header) ? sizeof(struct smem_partition_header)
						       : ns & ~7u;
	if (ofc > ns)
		ofc = fuzz_rng_below(r, 2) ? ns : ns - 8; /* empty, or one entry's worth */
	if (ofu > ofc)
		ofu = fuzz_rng_below(r, 2) ? sizeof(struct smem_partition_header) : ofc;
	put32(data, size, (uint64_t)p->entry + offsetof(struct smem_ptable_entry, size), ns);
	put32(data, size, (uint64_t)p->off + offsetof(struct smem_partition_header, size), ns);
	put32(data, size,
	      (uint64_t)p->off + offsetof(struct smem_partition_header, offset_free_uncached), ofu);
	put32(data, size,
	      (uint64_t)p->off + offsetof(struct smem_partition_header, offset_free_cached), ofc);
	return ns != p->size;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	struct fuzz_rng r = { .s = (uint64_t)seed << 17 ^ 0x736d656d6b6974ull };
	unsigned ops, done = 0;

	if (size > max_size)
		size = max_size;
	if (fuzz_rng_below(&r, 5) == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	fuzz_fields_decode(data, size, &fields);
	if (!fields.n)
		return LLVMFuzzerMutate(data, size, max_size);
	/* Sometimes two operations: up to four fields in one step. */
	ops = fuzz_rng_below(&r, 4) == 0 ? 2 : 1;
	for (unsigned i = 0; done < ops && i < 8; i++) {
		if (fields.n_parts && fuzz_rng_below(&r, 8) == 0)
			done += resize_partition(data, size, &r);
		else
			done += mutate_fields(data, size, &r);
	}
	return done ? size : LLVMFuzzerMutate(data, size, max_size);
}

/*
 * Take one whole structure (the header, the partition table, a partition) from
 * the second input and put it where it lies in the first; the partition table
 * is placed relative to the end, as it is found. Otherwise take a run of bytes
 * at the same offset.
 */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
				 size_t size2, uint8_t *out, size_t max_out_size, unsigned int seed)
{
	struct fuzz_rng r = { .s = (uint64_t)seed << 13 ^ 0x63726f73736f7672ull };
	size_t n = size1 < max_out_size ? size1 : max_out_size, len, at;

	memcpy(out, data1, n);
	if (!n || !size2)
		return n;
	fuzz_fields_decode(data2, size2, &fields);
	if (fields.n_chunks && fuzz_rng_below(&r, 4)) {
		const struct fuzz_chunk *c = &fields.c[fuzz_rng_below(&r, fields.n_chunks)];
		size_t src = c->from_end ? size2 - c->off : c->off;

		if (c->from_end ? c->off <= n : (uint64_t)c->off + c->len <= n) {
			size_t dst = c->from_end ? n - c->off : c->off;

			len = c->len < n - dst ? c->len : n - dst;
			memcpy(out + dst, data2 + src, len);
			return n;
		}
	}
	at = fuzz_rng_below(&r, (uint32_t)(n < size2 ? n : size2));
	len = 1 + fuzz_rng_below(&r, (uint32_t)((n < size2 ? n : size2) - at));
	memcpy(out + at, data2 + at, len);
	return n;
}
