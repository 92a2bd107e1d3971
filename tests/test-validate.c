// SPDX-License-Identifier: MIT
/*
 * One test per validation check V1-V18 (docs/FORMAT.md): each builds an image that
 * breaks exactly that rule and asserts that attach, lookup or allocation refuses
 * it with the documented error, and that the fsck reports it.
 */
#include <stdio.h>

#include "helpers.h"
#include "smem/decode.h"

#define SIZE (2u << 20)
#define PT   (SIZE - 4096)
#define ENT(i) (PT + 32 + 48 * (i))

static struct img im;
static struct smem *s;

static void v12(void)
{
	img_v(&im, 12, SIZE);
	s = NULL;
}

static void fini(void)
{
	smem_close(s);
	img_free(&im);
}

TestSuite(validate, .init = v12, .fini = fini);

static uint32_t part(unsigned i)
{
	return rd32(&im, ENT(i));
}

static void expect_open(int err)
{
	int r = img_open(&im, 0, &s);

	cr_assert_eq(r, err, "attach returned %d, expected %d", r, err);
	if (err)
		s = NULL;
}

static void expect_findings(void)
{
	cr_assert_gt(img_fsck(&im), 0, "the fsck reports the violation");
}

struct findings {
	char text[4096];
};

static void collect(const char *msg, void *userdata)
{
	struct findings *f = userdata;
	size_t n = strlen(f->text);

	snprintf(f->text + n, sizeof(f->text) - n, "%s\n", msg);
}

/* The fsck's findings include @what. */
static void expect_finding(const char *what)
{
	struct findings f = { "" };

	smem_check(im.b, im.size, collect, &f);
	cr_assert(strstr(f.text, what), "the fsck says \"%s\"; it said:\n%s", what, f.text);
}

/*
 * Puts partition @i at @off with @size, its header agreeing with its table entry
 * and its lists empty, so that only where it lies (V4) can be wrong with it.
 */
static void place_part(unsigned i, uint32_t off, uint32_t size)
{
	uint32_t hosts = rd32(&im, ENT(i) + 12);

	wr32(&im, ENT(i), off);
	wr32(&im, ENT(i) + 4, size);
	memcpy(im.b + off, "$PRT", 4);
	wr32(&im, off + 4, hosts);
	wr32(&im, off + 8, size);
	wr32(&im, off + 12, 32);
	wr32(&im, off + 16, size);
}

/* V1 */
Test(validate, v01_header_not_initialized)
{
	wr32(&im, 0xc0, 0);
	expect_open(-EBADMSG);
	expect_findings();
	wr32(&im, 0xc0, 1);
	wr32(&im, 0xcc, 1);
	expect_open(-EBADMSG);
	expect_findings();
}

/* V2 */
Test(validate, v02_unknown_version)
{
	wr32(&im, 0x5c, 13u << 16);
	expect_open(-EPROTO);
	expect_findings();
	wr32(&im, 0x5c, 8u << 16);
	expect_open(-EPROTO);
}

/* V3 */
Test(validate, v03_too_many_ptable_entries)
{
	wr32(&im, PT + 8, 85);
	expect_open(-EBADMSG);
	expect_findings();
	wr32(&im, PT + 8, 0xffffffff);
	expect_open(-EBADMSG);
	wr32(&im, PT + 4, 2);
	expect_open(-EPROTO); /* the table's own version */
}

/* V4 */
Test(validate, v04_partition_outside_region_or_overlapping)
{
	uint32_t off = part(3);

	wr32(&im, ENT(3) + 4, PT - off + 4096); /* into the table */
	expect_open(-EBADMSG);
	expect_findings();
	wr32(&im, ENT(3) + 4, rd32(&im, off + 8));
	wr32(&im, ENT(2), part(1) + 4096); /* overlaps partition 1 */
	expect_open(-EBADMSG);
	expect_findings();
	wr32(&im, ENT(2), 0x1000); /* inside the header */
	expect_open(-EBADMSG);
}

/* V4: a slot with offset 0 or size 0 is unused and skipped, whatever its hosts say. */
Test(validate, v04_unused_slots_are_skipped)
{
	void *p;

	wr32(&im, ENT(2), 0);          /* 0:2 loses its offset... */
	wr32(&im, ENT(3) + 4, 0);      /* ...and 0:5 its size */
	wr16(&im, ENT(3) + 14, 1);     /* so its hosts, now 0:1 twice, do not matter */
	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 2, 100, 8, 0), 0, "no partition with host 2: global");
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 100, &p, NULL), 0);
	cr_assert_eq(img_fsck(&im), 0);
}

/* V4: a partition over the end of the SMEM header (its table of contents). */
Test(validate, v04_partition_inside_the_header)
{
	place_part(2, 0x2000, 0x1000); /* 0x2000..0x3000; the header ends at 0x20d0 */
	expect_open(-EBADMSG);
	expect_findings();
}

/* V4: a partition that runs over the partition table. */
Test(validate, v04_partition_over_the_table)
{
	place_part(3, part(3), SIZE - part(3)); /* 0:5 now ends at the region's end */
	expect_open(-EBADMSG);
	expect_findings();
}

/* V4: a partition's offset and size are multiples of 8. */
Test(validate, v04_partition_misaligned)
{
	uint32_t off = part(3), size = rd32(&im, ENT(3) + 4);

	place_part(3, off + 4, size - 8);
	expect_open(-EBADMSG);
	expect_findings();
	place_part(3, off, size - 4);
	expect_open(-EBADMSG);
	expect_findings();
	place_part(3, off, size - 8);
	expect_open(0);
}

/* V4: partitions do not overlap. */
Test(validate, v04_partitions_overlap)
{
	place_part(1, part(1), part(2) - part(1) + 4096); /* 0:1 grows a page into 0:2 */
	expect_open(-EBADMSG);
	expect_findings();
}

/* V4: in version 11 the partitions lie after the global heap. */
Test(validate, v04_v11_partition_inside_the_heap)
{
	struct smem_format_opts o;

	img_free(&im);
	smem_format_opts_init(&o);
	o.version = 11;
	img_make(&im, SIZE, &o);
	cr_assert_eq(rd32(&im, 0xc4) + rd32(&im, 0xc8), part(0), "the heap ends where 0:1 begins");
	expect_open(0);
	smem_close(s);
	s = NULL;
	wr32(&im, 0xc8, rd32(&im, 0xc8) + 4096); /* the heap now claims 0:1's first page */
	expect_open(-EBADMSG);
	expect_findings();
}

/* V5 */
Test(validate, v05_partition_header_disagrees_with_table)
{
	uint32_t off = part(1);

	im.b[off + 3] = 'X';
	expect_open(-EBADMSG);
	expect_findings();
	im.b[off + 3] = 'T';
	wr16(&im, off + 6, 2);
	expect_open(-EBADMSG);
	wr16(&im, off + 6, 1);
	wr32(&im, off + 8, rd32(&im, off + 8) - 4096);
	expect_open(-EBADMSG);
	wr32(&im, off + 8, rd32(&im, off + 8) + 4096);
	wr32(&im, off + 12, rd32(&im, off + 8) + 8);
	expect_open(-EBADMSG);
	expect_findings();
}

/*
 * V5: the size is read again on every walk: grown after attach, it would reach
 * into the next partition.
 */
Test(validate, v05_partition_size_rechecked_on_every_walk)
{
	uint32_t off = part(1), size = rd32(&im, off + 8);
	void *p;

	cr_assert_eq(part(2), off + size, "0:2 follows 0:1");
	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 2, 100, 8, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -ENOENT);
	wr32(&im, off + 8, 2 * size); /* 0:1's header now covers 0:2 too */
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG, "0:2's item is not 0:1's");
	cr_assert_eq(smem_item_alloc(s, 1, 101, 8, 0), -EBADMSG);
	expect_findings();
}

/* V6: the free offsets are checked again on every walk, not only at attach. */
Test(validate, v06_free_offsets_rechecked_on_every_walk)
{
	uint32_t off = part(1), size = rd32(&im, off + 8);
	size_t room;
	void *p;

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	wr32(&im, off + 12, 16);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	cr_assert_eq(smem_item_alloc(s, 1, 101, 8, 0), -EBADMSG);
	cr_assert_eq(smem_free_space(s, 1, &room), -EBADMSG,
		     "no free space counted from the header");
	expect_findings();
	wr32(&im, off + 12, 32 + 16 + 8);
	wr32(&im, off + 16, size + 8);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	wr32(&im, off + 16, 40);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG, "uncached above cached");
	wr32(&im, off + 16, size);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), 0, "repaired, it works again");
}

/* V6: both free offsets are 4-byte aligned. */
Test(validate, v06_free_offsets_must_be_aligned)
{
	uint32_t off = part(1), cached;
	size_t room;
	void *p;

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 101, 8, SMEM_ITEM_CACHED), 0);
	cached = rd32(&im, off + 16);
	wr32(&im, off + 12, 32 + 16 + 8 + 2);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	cr_assert_eq(smem_free_space(s, 1, &room), -EBADMSG);
	expect_findings();
	wr32(&im, off + 12, 32 + 16 + 8);
	wr32(&im, off + 16, cached - 2); /* below item 101, so its slot still fits */
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	cr_assert_eq(smem_free_space(s, 1, &room), -EBADMSG);
	cr_assert_eq(smem_item_alloc(s, 1, 102, 8, SMEM_ITEM_CACHED), -EBADMSG);
	expect_findings();
	wr32(&im, off + 16, cached);
	cr_assert_eq(smem_item_get(s, 1, 101, &p, NULL), 0, "repaired, it works again");
}

/* V7 */
Test(validate, v07_cacheline_must_be_a_power_of_two)
{
	void *p;

	wr32(&im, ENT(0) + 16, 24);
	expect_open(-EBADMSG);
	expect_findings();
	/* Cacheline 0 (old firmware) is accepted while the cached list is empty... */
	wr32(&im, ENT(0) + 16, 0);
	expect_open(0);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 100, &p, NULL), -ENOENT);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, SMEM_ITEM_CACHED), -EOPNOTSUPP);
	/* ...but a cached list without a cacheline cannot be walked... */
	wr32(&im, part(0) + 16, rd32(&im, part(0) + 8) - 64);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 100, &p, NULL), -EBADMSG);
	expect_findings();
	/* ...nor attached. */
	smem_close(s);
	s = NULL;
	expect_open(-EBADMSG);
}

/* V7: a cacheline larger than its partition leaves no room for a header slot. */
Test(validate, v07_cacheline_slot_must_fit_in_its_partition, .timeout = 10)
{
	uint32_t off = part(1); /* the apps:modem partition */
	void *p;

	cr_assert_eq(rd32(&im, ENT(1) + 12), 0 | 1u << 16, "entry 1 is 0:1");
	wr32(&im, ENT(1) + 4, 64);     /* the table's size */
	wr32(&im, off + 8, 64);        /* the header's size */
	wr32(&im, off + 16, 64);       /* an empty cached list */
	wr32(&im, ENT(1) + 16, 4096);  /* a cacheline larger than the partition */
	expect_open(0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -ENOENT, "nothing to walk, nothing read");
	smem_close(s);
	s = NULL;
	/* A cached list of one fake entry: its slot would start below the partition. */
	wr32(&im, off + 16, 48);
	wr32(&im, off + 48, 0xa5a5 | 100u << 16);
	expect_open(-EBADMSG);
	expect_findings();
	/* Made so after attach, the walk refuses it. */
	wr32(&im, off + 16, 64);
	expect_open(0);
	wr32(&im, off + 16, 48);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
}

/*
 * V7: a cached list lies above the partition header with at least one header
 * slot that does not cover it. In a 4 KiB partition with cacheline 4096 the only
 * slot is the partition header itself: attach refuses such a list.
 */
Test(validate, v07_cached_slot_must_clear_the_partition_header)
{
	uint32_t off = part(1); /* the apps:modem partition */
	void *p;

	wr32(&im, ENT(1) + 4, 4096);
	wr32(&im, off + 8, 4096);
	wr32(&im, ENT(1) + 16, 4096);
	wr32(&im, off + 16, 4096 - 64);
	expect_open(-EBADMSG);
	expect_findings();
	wr32(&im, off + 16, 32); /* the whole partition a cached list */
	expect_open(-EBADMSG);
	expect_findings();
	wr32(&im, off + 16, 0); /* a cached list from the start, over the partition header */
	expect_open(-EBADMSG);
	expect_findings();
	/* With cacheline 2048 the top slot, at 2048, clears the header. */
	wr32(&im, ENT(1) + 16, 2048);
	wr32(&im, off + 16, 2048);
	expect_open(0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -ENOENT);
	cr_assert_eq(img_fsck(&im), 0);
	smem_close(s);
	s = NULL;
	/* An empty cached list needs no slot: nothing is walked, nothing can be added. */
	wr32(&im, ENT(1) + 16, 4096);
	wr32(&im, off + 16, 4096);
	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, SMEM_ITEM_CACHED), -ENOSPC);
	cr_assert_eq(img_fsck(&im), 0);
}

/*
 * V7: a non-empty cached list holds its topmost header slot. With cacheline 2048
 * a 4 KiB partition's only slot is at 0x800: a list from 0x840 cannot hold it.
 */
Test(validate, v07_cached_list_must_hold_its_top_slot)
{
	uint32_t off = part(1); /* the apps:modem partition */
	void *p;

	wr32(&im, ENT(1) + 4, 4096);
	wr32(&im, off + 8, 4096);
	wr32(&im, ENT(1) + 16, 2048);
	wr32(&im, off + 16, 2048 + 64);
	expect_open(-EBADMSG);
	expect_findings();
	/* Made so after attach, the walk refuses it. */
	wr32(&im, off + 16, 4096);
	expect_open(0);
	wr32(&im, off + 16, 2048 + 64);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
}

/* V8 */
Test(validate, v08_header_straddling_the_list_end)
{
	uint32_t off = part(1);
	void *p;

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	wr32(&im, off + 12, 32 + 8);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	expect_finding("entry header at +0x20 crosses the end of its list");
}

/* V8: entry headers are 4-byte aligned; an entry size that is not misplaces the next header. */
Test(validate, v08_entry_headers_must_be_aligned)
{
	uint32_t off = part(1), top = rd32(&im, off + 8) - 64, next = top - 10 - 64;
	void *p;

	/* Uncached: item 100 of 10 bytes at 0x20 puts item 101's header at 0x3a. */
	wr32(&im, off + 32, 0xa5a5 | 100u << 16);
	wr32(&im, off + 36, 10);
	wr32(&im, off + 40, 0);
	wr32(&im, off + 58, 0xa5a5 | 101u << 16);
	wr32(&im, off + 62, 6);
	wr32(&im, off + 66, 0);
	wr32(&im, off + 12, 80);
	expect_open(0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), 0);
	cr_assert_eq(smem_item_get(s, 1, 101, &p, NULL), -EBADMSG);
	expect_findings();

	/* Cached: item 102 of 10 bytes in the top slot puts item 103's header 2 bytes off. */
	wr32(&im, off + 12, 32);
	wr32(&im, off + top, 0xa5a5 | 102u << 16);
	wr32(&im, off + top + 4, 10);
	wr32(&im, off + top + 8, 0);
	wr32(&im, off + next, 0xa5a5 | 103u << 16);
	wr32(&im, off + next + 4, 8);
	wr32(&im, off + next + 8, 0);
	wr32(&im, off + 16, next - 10);
	cr_assert_eq(smem_item_get(s, 1, 102, &p, NULL), 0);
	cr_assert_eq(smem_item_get(s, 1, 103, &p, NULL), -EBADMSG);
	expect_findings();
}

/* V9: every step of a walk moves on, so any cached list ends. */
Test(validate, v09_walks_always_progress, .timeout = 10)
{
	uint32_t off = part(2), size = rd32(&im, off + 8);
	void *p;

	/* The whole partition is a cached list of zero-size entries. */
	for (uint32_t e = size - 64; e >= 64; e -= 64) {
		wr32(&im, off + e, 0xa5a5 | 7u << 16);
		wr32(&im, off + e + 4, 0);
		wr32(&im, off + e + 8, 0);
	}
	wr32(&im, off + 16, 64);
	expect_open(0);
	cr_assert_eq(smem_item_get(s, 2, 100, &p, NULL), -ENOENT, "walked to the end");
	cr_assert_gt(img_fsck(&im), 0, "item 7 repeats");
}

/* V9: an uncached entry of size 0 still moves the walk on by its header. */
Test(validate, v09_empty_uncached_entries_are_stepped_over, .timeout = 10)
{
	size_t n = 1;
	void *p;

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 0, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 101, 0, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 101, &p, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(smem_item_get(s, 1, 102, &p, NULL), -ENOENT, "walked to the end");
}

/* V10 */
Test(validate, v10_entry_sizes)
{
	uint32_t off = part(1), e = off + 32;
	void *p;

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	wr16(&im, e + 8, 9); /* padding beyond the size */
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	expect_findings();
	wr16(&im, e + 8, 0);
	wr32(&im, e + 4, 0x7fffffff); /* size beyond the partition */
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	wr32(&im, e + 4, 16); /* runs past the list end */
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	wr32(&im, e + 4, 8);
	wr16(&im, e + 10, 0xfff8); /* padding_hdr pushes the data out */
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -EBADMSG);
	wr16(&im, e + 10, 0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), 0);

	/* A cached entry whose data would reach below the cached list. */
	cr_assert_eq(smem_item_alloc(s, 1, 101, 8, SMEM_ITEM_CACHED), 0);
	wr32(&im, off + rd32(&im, off + 8) - 64 + 4, 4096);
	cr_assert_eq(smem_item_get(s, 1, 101, &p, NULL), -EBADMSG);
	expect_findings();
}

/* V10, the canary. */
Test(validate, v10_canary)
{
	uint32_t off = part(0);
	void *p;

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, 0), 0);
	wr16(&im, off + 32, 0xa5a4);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 100, &p, NULL), -EBADMSG);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 101, 8, 0), -EBADMSG, "no allocation past a bad entry");
	expect_findings();
}

/* V11 */
Test(validate, v11_item_count)
{
	struct smem_stat st;
	void *p;

	wr16(&im, ENT(4) + 16, 5);
	expect_open(-EBADMSG);
	expect_findings();
	wr16(&im, ENT(4) + 16, 1000);
	expect_open(0);
	cr_assert_eq(smem_stat(s, &st), 0);
	cr_assert_eq(st.item_count, 1000);
	cr_assert_eq(smem_item_alloc(s, 1, 999, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 1000, 8, 0), -EINVAL);
	cr_assert_eq(smem_item_get(s, 1, 1000, &p, NULL), -EINVAL);
}

/* V12 */
Test(validate, v12_global_entry_outside_the_heap)
{
	struct img h;
	struct smem *x;
	void *p;

	img_v(&h, 11, 1u << 20);
	cr_assert_eq(img_open(&h, 0, &x), 0);
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 100, 8, 0), 0);
	wr32(&h, 0xd0 + 16 * 100 + 4, (1u << 20) - 4);
	cr_assert_eq(smem_item_get(x, SMEM_HOST_ANY, 100, &p, NULL), -EBADMSG);
	cr_assert_gt(img_fsck(&h), 0);
	wr32(&h, 0xd0 + 16 * 100 + 4, 0x20d0);
	wr32(&h, 0xd0 + 16 * 100 + 8, 0xfffffff8);
	cr_assert_eq(smem_item_get(x, SMEM_HOST_ANY, 100, &p, NULL), -EBADMSG, "no 32-bit wrap");
	smem_close(x);
	img_free(&h);
}

/* V12: a size-0 entry at the region's end has no byte a pointer could name. */
Test(validate, v12_no_pointer_at_the_region_end)
{
	struct img h;
	struct smem *x;
	void *p = NULL;
	int r;

	img_v(&h, 11, 1u << 20); /* no partition table: the heap may reach the end */
	cr_assert_eq(img_open(&h, 0, &x), 0);
	wr32(&h, 0xd0 + 16 * 300 + 4, 1u << 20);
	wr32(&h, 0xd0 + 16 * 300 + 8, 0);
	wr32(&h, 0xd0 + 16 * 300, 1);
	r = smem_item_get(x, SMEM_HOST_ANY, 300, &p, NULL);
	cr_assert_eq(r, -EBADMSG, "lookup returned %d with %p, the region's end being %p", r, p,
		     (void *)(h.b + h.size));
	cr_assert_gt(img_fsck(&h), 0);
	wr32(&h, 0xd0 + 16 * 300 + 4, (1u << 20) - 8);
	cr_assert_eq(smem_item_get(x, SMEM_HOST_ANY, 300, &p, NULL), 0, "inside, it is found");
	smem_close(x);
	img_free(&h);
}

/*
 * V12 in the fsck: every entry of the region lies inside the heap and has a byte
 * to point at, the bootloader's items (below 8) too; the others lie below
 * free_offset.
 */
Test(validate, v12_fsck_checks_every_heap_entry)
{
	struct img h;
	uint32_t e2 = 0xd0 + 16 * 2, e3 = 0xd0 + 16 * 3, e100 = 0xd0 + 16 * 100;

	img_v(&h, 11, 1u << 20); /* no partition table: the heap ends at the region's end */
	cr_assert_eq(img_fsck(&h), 0);
	wr32(&h, e2 + 4, (1u << 20) - 8); /* item 2 runs 8 bytes past the heap */
	wr32(&h, e2 + 8, 16);
	wr32(&h, e2, 1);
	cr_assert_gt(img_fsck(&h), 0);
	wr32(&h, e2, 0);
	wr32(&h, e3 + 4, 1u << 20); /* item 3, of size 0, at the region's end */
	wr32(&h, e3 + 8, 0);
	wr32(&h, e3, 1);
	cr_assert_gt(img_fsck(&h), 0);
	wr32(&h, e3, 0);
	wr32(&h, e100 + 4, rd32(&h, 0xc4)); /* item 100 published, the counters never moved */
	wr32(&h, e100 + 8, 8);
	wr32(&h, e100, 1);
	cr_assert_gt(img_fsck(&h), 0);
	img_free(&h);
}

/* V13 */
Test(validate, v13_free_space_underflow)
{
	size_t free;

	expect_open(0);
	wr32(&im, part(2) + 16, 16);
	cr_assert_eq(smem_free_space(s, 2, &free), -EBADMSG);
	expect_findings();
}

/* V14 */
Test(validate, v14_heap_larger_than_the_region)
{
	struct img h;
	struct smem *x;

	img_v(&h, 11, 1u << 20);
	wr32(&h, 0xc8, 1u << 20);
	cr_assert_eq(img_open(&h, 0, &x), -EBADMSG);
	cr_assert_gt(img_fsck(&h), 0);
	wr32(&h, 0xc8, 0x10);
	wr32(&h, 0xc4, 0xfffffff8);
	cr_assert_eq(img_open(&h, 0, &x), -EBADMSG, "no 32-bit wrap");
	wr32(&h, 0xc4, 0x1000); /* free_offset inside the table of contents */
	wr32(&h, 0xc8, 0x1000);
	cr_assert_eq(img_open(&h, 0, &x), -EBADMSG);
	cr_assert_gt(img_fsck(&h), 0);
	wr32(&h, 0xc4, 0x20d4); /* past the header, but not 8-byte aligned */
	cr_assert_eq(img_open(&h, 0, &x), -EBADMSG);
	cr_assert_gt(img_fsck(&h), 0);
	img_free(&h);
}

/* V14 again at allocation: the counters may have changed since attach. */
Test(validate, v14_counters_rechecked_at_allocation)
{
	struct img h;
	struct smem *x;
	uint32_t avail;

	img_v(&h, 11, 1u << 20);
	cr_assert_eq(img_open(&h, 0, &x), 0);
	avail = rd32(&h, 0xc8);
	wr32(&h, 0xc8, avail + 4096); /* the heap now runs past the region */
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 100, 8, 0), -EBADMSG);
	wr32(&h, 0xc8, avail);
	wr32(&h, 0xc4, 0x1000); /* free_offset inside the table of contents */
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 100, 8, 0), -EBADMSG);
	wr32(&h, 0xc4, 0x20d4); /* not 8-byte aligned */
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 100, 8, 0), -EBADMSG);
	wr32(&h, 0xc4, 0x20d0);
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 100, 8, 0), 0, "repaired, it allocates");
	smem_close(x);
	img_free(&h);
}

/* V15 */
Test(validate, v15_remote_host_ids)
{
	uint32_t off = part(3);

	wr16(&im, ENT(3) + 14, 30);
	wr16(&im, off + 6, 30);
	expect_open(-EBADMSG);
	expect_findings();
	wr16(&im, ENT(3) + 14, 1); /* a second partition for apps and modem */
	wr16(&im, off + 6, 1);
	expect_open(-EBADMSG);
	expect_findings();
}

/* V16: fields are little-endian; a big-endian writer's table is refused, not misread. */
Test(validate, v16_byte_order)
{
	wr32(&im, PT + 8, htobe32(4) == 4 ? 4 : __builtin_bswap32(4));
	expect_open(-EBADMSG);
	wr32(&im, PT + 8, 4);
	wr32(&im, 0x5c, __builtin_bswap32(12u << 16));
	expect_open(-EPROTO);
}

struct captured {
	char key[64];
	char value[256];
	unsigned n;
	bool saw_serial;
};

static void capture(const char *key, const char *value, bool is_string, void *userdata)
{
	struct captured *c = userdata;

	snprintf(c->key, sizeof(c->key), "%s", key);
	snprintf(c->value, sizeof(c->value), "%s", value);
	c->saw_serial |= !strcmp(key, "serial_num");
	c->n++;
}

/* V17: strings are bounded by their item or field. */
Test(validate, v17_strings_are_bounded)
{
	uint8_t item[24];
	struct captured c = { 0 };

	memset(item, 'A', 16);
	memset(item + 16, 'B', 8);
	cr_assert_eq(smem__decode_string(item, 16, capture, &c), 0);
	cr_assert_str_eq(c.value, "AAAAAAAAAAAAAAAA", "nothing past the item");
	memcpy(item, "ok\n\x01", 4);
	cr_assert_eq(smem__decode_string(item, 4, capture, &c), 0);
	cr_assert_str_eq(c.value, "ok\\x0a\\x01", "control bytes are escaped");
}

/* V18: socinfo fields are read only when the item is large enough. */
Test(validate, v18_socinfo_needs_room_for_its_format)
{
	uint8_t item[128] = { 0 };
	struct captured c = { 0 };
	void *p;

	item[0] = 10; /* format 0.10 has serial_num at 96..100 */
	cr_assert_eq(smem__decode_socinfo(item, 96, capture, &c, NULL), -EBADMSG);
	cr_assert_not(c.saw_serial, "the serial number is not read past the item");
	cr_assert_eq(smem__decode_socinfo(item, 100, capture, &c, NULL), 0);
	cr_assert(c.saw_serial);
	item[0] = 11; /* a PMIC array that runs past the item */
	item[100] = 4;
	item[104] = 100; /* 100 + 4 * 8 > 128 */
	cr_assert_eq(smem__decode_socinfo(item, 128, capture, &c, NULL), -EBADMSG);
	memset(item + 100, 0, 8);
	item[103] = 0x20; /* 0x20000000 PMICs of 8 bytes: the array's end wraps 32 bits */
	cr_assert_eq(smem__decode_socinfo(item, 128, NULL, NULL, NULL), -EBADMSG, "as the fsck reads it");

	expect_open(0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 137, 96, 0), 0);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 137, &p, NULL), 0);
	((uint8_t *)p)[0] = 10;
	expect_findings();
	((uint8_t *)p)[0] = 9;
	cr_assert_eq(img_fsck(&im), 0, "format 0.9 fits in 96 bytes");
}

/* V12, for the walk that lists items: an entry outside the heap stops it. */
static int count_items(const struct smem_item_info *it, void *userdata)
{
	++*(unsigned *)userdata;
	return 0;
}

Test(validate, v12_foreach_refuses_entries_outside_the_heap)
{
	struct img h;
	struct smem *x;
	unsigned n = 0;

	img_v(&h, 11, 1u << 20);
	cr_assert_eq(img_open(&h, 0, &x), 0);
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 100, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(x, SMEM_HOST_ANY, 101, 8, 0), 0);
	wr32(&h, 0xd0 + 16 * 101 + 8, 0x7ffffff8);
	cr_assert_eq(smem_item_foreach(x, count_items, &n), -EBADMSG);
	cr_assert_eq(n, 1, "the items before the bad entry are reported");
	smem_close(x);
	img_free(&h);
}
