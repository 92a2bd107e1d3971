// SPDX-License-Identifier: MIT
/*
 * Byte-level checks of formatted and allocated images against the offsets of the
 * Linux format (docs/FORMAT.md). These pin the layout a
 * real device and the Linux driver expect, independently of our own parser.
 */
#include "helpers.h"

#define MB (1u << 20)

static void assert_magic(const struct img *im, size_t off, const char *m)
{
	cr_assert_eq(memcmp(im->b + off, m, 4), 0, "magic %s at 0x%zx", m, off);
}

Test(format, v12_header_ptable_and_partitions)
{
	struct img im;
	size_t pt;

	img_v(&im, 12, 2 * MB);
	cr_assert_eq(rd32(&im, 0x05c), 12u << 16, "version[7]");
	cr_assert_eq(rd32(&im, 0x0c0), 1, "initialized");
	cr_assert_eq(rd32(&im, 0x0cc), 0, "reserved");
	for (size_t off = 0xd0; off < 0x20d0; off += 4)
		cr_assert_eq(rd32(&im, off), 0, "TOC unused in version 12");

	pt = 2 * MB - 4096;
	assert_magic(&im, pt, "$TOC");
	cr_assert_eq(rd32(&im, pt + 4), 1, "ptable version");
	cr_assert_eq(rd32(&im, pt + 8), 4, "global + 3 private partitions");
	/* Entry 0: the global partition. */
	cr_assert_eq(rd32(&im, pt + 32 + 0), 0x3000);
	cr_assert_eq(rd16(&im, pt + 32 + 12), 0xfffe);
	cr_assert_eq(rd16(&im, pt + 32 + 14), 0xfffe);
	cr_assert_eq(rd32(&im, pt + 32 + 16), 64, "cacheline");
	/* Entries 1..3: apps with modem, adsp, cdsp. */
	cr_assert_eq(rd16(&im, pt + 32 + 48 * 1 + 12), 0);
	cr_assert_eq(rd16(&im, pt + 32 + 48 * 1 + 14), 1);
	cr_assert_eq(rd16(&im, pt + 32 + 48 * 2 + 14), 2);
	cr_assert_eq(rd16(&im, pt + 32 + 48 * 3 + 14), 5);
	/* SIII right after the entries. */
	assert_magic(&im, pt + 32 + 48 * 4, "SIII");
	cr_assert_eq(rd32(&im, pt + 32 + 48 * 4 + 4), 2 * MB, "info.size");
	cr_assert_eq(rd16(&im, pt + 32 + 48 * 4 + 16), 512, "info.num_items (le16)");

	for (unsigned i = 0; i < 4; i++) {
		uint32_t off = rd32(&im, pt + 32 + 48 * i), size = rd32(&im, pt + 32 + 48 * i + 4);

		cr_assert_eq(off % 4096, 0, "partitions are page aligned");
		assert_magic(&im, off, "$PRT");
		cr_assert_eq(rd16(&im, off + 4), rd16(&im, pt + 32 + 48 * i + 12));
		cr_assert_eq(rd16(&im, off + 6), rd16(&im, pt + 32 + 48 * i + 14));
		cr_assert_eq(rd32(&im, off + 8), size, "header size equals the table's");
		cr_assert_eq(rd32(&im, off + 12), 32, "empty uncached list");
		cr_assert_eq(rd32(&im, off + 16), size, "empty cached list");
		if (i < 3)
			cr_assert_eq(rd32(&im, pt + 32 + 48 * (i + 1)), off + size, "packed in order");
		else
			cr_assert_leq(off + size, pt);
	}
	cr_assert_eq(img_fsck(&im), 0);
	img_free(&im);
}

Test(format, v11_header_and_heap)
{
	struct img im;

	img_v(&im, 11, 1 * MB);
	cr_assert_eq(rd32(&im, 0x05c), 11u << 16);
	cr_assert_eq(rd32(&im, 0x0c4), 0x20d0, "free_offset right after the header");
	cr_assert_eq(rd32(&im, 0x0c8), 1 * MB - 0x20d0, "available: the rest");
	cr_assert_neq(memcmp(im.b + MB - 4096, "$TOC", 4), 0, "no partition table");
	cr_assert_eq(img_fsck(&im), 0);
	img_free(&im);
}

Test(format, private_entry_bytes_after_alloc)
{
	struct img im;
	struct smem *s;
	uint32_t part;
	void *p;
	size_t size;

	img_v(&im, 12, 2 * MB);
	cr_assert_eq(img_open(&im, 0, &s), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 300, 13, 0), 0);
	part = rd32(&im, 2 * MB - 4096 + 32 + 48);
	cr_assert_eq(rd16(&im, part + 32 + 0), 0xa5a5, "canary");
	cr_assert_eq(rd16(&im, part + 32 + 2), 300, "item");
	cr_assert_eq(rd32(&im, part + 32 + 4), 16, "size, 8-aligned");
	cr_assert_eq(rd16(&im, part + 32 + 8), 3, "padding_data");
	cr_assert_eq(rd16(&im, part + 32 + 10), 0, "padding_hdr");
	cr_assert_eq(rd32(&im, part + 12), 32 + 16 + 16, "offset_free_uncached published");
	cr_assert_eq(smem_item_get(s, 1, 300, &p, &size), 0);
	cr_assert_eq((uint8_t *)p, im.b + part + 48, "data follows the header");
	cr_assert_eq(size, 13, "the exact size asked for");
	smem_close(s);
	img_free(&im);
}

Test(format, cached_entry_bytes_after_alloc)
{
	struct img im;
	struct smem *s;
	uint32_t part, psize;
	void *p;

	img_v(&im, 12, 2 * MB);
	cr_assert_eq(img_open(&im, 0, &s), 0);
	cr_assert_eq(smem_item_alloc(s, 2, 301, 20, SMEM_ITEM_CACHED), 0);
	part = rd32(&im, 2 * MB - 4096 + 32 + 96);
	psize = rd32(&im, part + 8);
	/* First cached header: the last cacheline slot of the partition. */
	cr_assert_eq(rd16(&im, part + psize - 64), 0xa5a5);
	cr_assert_eq(rd16(&im, part + psize - 64 + 2), 301);
	cr_assert_eq(rd32(&im, part + psize - 64 + 4), 24);
	cr_assert_eq(rd16(&im, part + psize - 64 + 8), 4);
	cr_assert_eq(rd32(&im, part + 16), psize - 64 - 24, "offset_free_cached moved down to the data");
	cr_assert_eq(smem_item_get(s, 2, 301, &p, NULL), 0);
	cr_assert_eq((uint8_t *)p, im.b + part + psize - 64 - 24, "data sits below its header");
	cr_assert_eq(img_fsck(&im), 0);
	smem_close(s);
	img_free(&im);
}

Test(format, global_entry_bytes_after_alloc)
{
	struct img im;
	struct smem *s;
	size_t toc = 0xd0 + 16 * 400;

	img_v(&im, 11, 1 * MB);
	cr_assert_eq(img_open(&im, 0, &s), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 400, 10, 0), 0);
	cr_assert_eq(rd32(&im, toc + 0), 1, "allocated");
	cr_assert_eq(rd32(&im, toc + 4), 0x20d0, "offset: the old free_offset");
	cr_assert_eq(rd32(&im, toc + 8), 16, "size, 8-aligned");
	cr_assert_eq(rd32(&im, toc + 12), 0, "aux_base");
	cr_assert_eq(rd32(&im, 0xc4), 0x20d0 + 16, "free_offset moved");
	cr_assert_eq(rd32(&im, 0xc8), 1 * MB - 0x20d0 - 16, "available shrank");
	cr_assert_eq(img_fsck(&im), 0);
	smem_close(s);
	img_free(&im);
}

Test(format, options)
{
	struct smem_pair pairs[] = { { 0, 1, 64 * 1024 }, { 2, 3, 0 } };
	struct smem_format_opts o;
	struct img im;
	size_t pt = 1 * MB - 4096;

	smem_format_opts_init(&o);
	o.item_count = 1000;
	o.cacheline = 128;
	o.pairs = pairs;
	o.n_pairs = 2;
	o.global_size = 128 * 1024;
	o.phys_base = 0x86000000;
	img_make(&im, 1 * MB, &o);
	cr_assert_eq(rd32(&im, pt + 8), 3);
	cr_assert_eq(rd32(&im, pt + 32 + 4), 128 * 1024, "global size");
	cr_assert_eq(rd32(&im, pt + 32 + 48 + 4), 64 * 1024, "sized pair");
	cr_assert_eq(rd32(&im, pt + 32 + 96 + 4) % 4096, 0, "the rest, page aligned");
	cr_assert_eq(rd16(&im, pt + 32 + 96 + 12), 2);
	cr_assert_eq(rd16(&im, pt + 32 + 96 + 14), 3);
	cr_assert_eq(rd32(&im, pt + 32 + 16), 128);
	cr_assert_eq(rd32(&im, pt + 32 + 144 + 8), 0x86000000, "info.base_addr");
	cr_assert_eq(rd16(&im, pt + 32 + 144 + 16), 1000);
	cr_assert_eq(img_fsck(&im), 0);
	img_free(&im);
}

Test(format, v11_with_partitions)
{
	struct smem_format_opts o;
	struct img im;
	struct smem *s;
	void *p;

	smem_format_opts_init(&o);
	o.version = 11;
	img_make(&im, 1 * MB, &o);
	cr_assert_eq(memcmp(im.b + MB - 4096, "$TOC", 4), 0);
	cr_assert_eq(rd32(&im, MB - 4096 + 8), 3, "no global partition in version 11");
	cr_assert_leq(rd32(&im, 0xc4) + rd32(&im, 0xc8), rd32(&im, MB - 4096 + 32), "heap first");
	cr_assert_eq(img_open(&im, 0, &s), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, 0), 0, "heap and partition are separate");
	cr_assert_eq(smem_item_get(s, 3, 100, &p, NULL), 0, "no partition with 3: the heap");
	cr_assert_eq((uint8_t *)p, im.b + 0x20d0);
	cr_assert_eq(img_fsck(&im), 0);
	smem_close(s);
	img_free(&im);
}

Test(format, bad_options)
{
	struct smem_pair same[] = { { 1, 1, 0 } }, dup[] = { { 0, 1, 0 }, { 1, 0, 0 } },
			 far[] = { { 0, SMEM_HOST_COUNT, 0 } }, odd[] = { { 0, 1, 1000 } };
	struct smem_format_opts o;
	static uint8_t buf[1 << 20];

#define EXPECT(field, value, err)                                                                  \
	do {                                                                                       \
		smem_format_opts_init(&o);                                                         \
		o.field = value;                                                                   \
		cr_assert_eq(smem_format(buf, sizeof(buf), &o), err, #field " = " #value);         \
	} while (0)
	EXPECT(version, 8, -EINVAL);
	EXPECT(version, 13, -EINVAL);
	EXPECT(cacheline, 24, -EINVAL);
	EXPECT(cacheline, 8, -EINVAL);
	EXPECT(cacheline, 8192, -EINVAL);
	EXPECT(item_count, 8, -EINVAL);
	EXPECT(item_count, 70000, -EINVAL);
	EXPECT(global_size, 1000, -EINVAL);
	EXPECT(global_size, 2u << 20, -ENOSPC);
#define EXPECT_PAIR(p, err)                                                                        \
	do {                                                                                       \
		smem_format_opts_init(&o);                                                         \
		o.pairs = p;                                                                       \
		o.n_pairs = 1;                                                                     \
		cr_assert_eq(smem_format(buf, sizeof(buf), &o), err, #p);                          \
	} while (0)
	EXPECT_PAIR(same, -EINVAL);
	EXPECT_PAIR(far, -EINVAL);
	EXPECT_PAIR(odd, -EINVAL);
	smem_format_opts_init(&o);
	o.pairs = dup;
	o.n_pairs = 2;
	cr_assert_eq(smem_format(buf, sizeof(buf), &o), -EINVAL, "a pair given twice");
	smem_format_opts_init(&o);
	o.version = 11;
	o.item_count = 1000;
	cr_assert_eq(smem_format(buf, sizeof(buf), &o), -EINVAL, "version 11 has 512 items");
	cr_assert_eq(smem_format(buf, 12288, NULL), -EINVAL, "too small");
	cr_assert_eq(smem_format(buf, 65536 + 100, NULL), -EINVAL, "not a page multiple");
	cr_assert_eq(smem_format(buf, 16384, NULL), -ENOSPC, "four partitions do not fit");
	/* A NULL base checks without writing. */
	cr_assert_eq(smem_format(NULL, 1 << 20, NULL), 0);
#undef EXPECT
#undef EXPECT_PAIR
}
