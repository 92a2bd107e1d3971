// SPDX-License-Identifier: MIT
/* The SMEM API with Linux's semantics: partition choice, errors, lookups, free space. */
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"
#include "smem/smem-internal.h"

#define MB (1u << 20)

static struct img im;
static struct smem *s;

static void v12(void)
{
	img_v(&im, 12, 2 * MB);
	cr_assert_eq(img_open(&im, 0, &s), 0);
}

static void v11(void)
{
	img_v(&im, 11, 1 * MB);
	cr_assert_eq(img_open(&im, 0, &s), 0);
}

static void fini(void)
{
	smem_close(s);
	cr_assert_eq(img_fsck(&im), 0, "every test leaves an image fsck finds clean");
	img_free(&im);
}

TestSuite(smem12, .init = v12, .fini = fini);
TestSuite(smem11, .init = v11, .fini = fini);

Test(smem12, facts)
{
	struct smem_stat st;

	cr_assert_eq(smem_stat(s, &st), 0);
	cr_assert_eq(st.version, 12);
	cr_assert_eq(st.item_count, 512);
	cr_assert_eq(st.host, 0);
	cr_assert_eq(st.size, 2 * MB);
	cr_assert_eq(st.base, im.b);
	cr_assert_eq(st.phys_base, 0);
	cr_assert_eq(st.hwlock, im.h);
}

Test(smem12, stat_arguments)
{
	struct smem_stat st;

	cr_assert_eq(smem_stat(NULL, &st), -EINVAL);
	cr_assert_eq(smem_stat(s, NULL), -EINVAL);
}

Test(smem12, alloc_then_get_returns_the_same_bytes)
{
	void *p, *q;
	size_t size;

	cr_assert_eq(smem_item_alloc(s, 1, 100, 5, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, &size), 0);
	cr_assert_eq(size, 5);
	memcpy(p, "hello", 5);
	cr_assert_eq(smem_item_get(s, 1, 100, &q, NULL), 0);
	cr_assert_eq(p, q);
	cr_assert_eq(memcmp(q, "hello", 5), 0);
	cr_assert_eq(((uint8_t *)p)[5], 0, "a fresh image is zero, padding included");
}

Test(smem12, items_are_per_partition)
{
	void *a, *b, *g;

	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 2, 100, 8, 0), 0, "another partition, another item 100");
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 100, &a, NULL), 0);
	cr_assert_eq(smem_item_get(s, 2, 100, &b, NULL), 0);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 100, &g, NULL), 0);
	cr_assert(a != b && b != g && a != g);
}

Test(smem12, host_without_partition_uses_the_global_partition)
{
	void *a, *b;

	/* Host 3 has no partition with host 0: Linux falls back to the global one. */
	cr_assert_eq(smem_item_alloc(s, 3, 120, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 120, 8, 0), -EEXIST);
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 120, &a, NULL), 0);
	cr_assert_eq(smem_item_get(s, 24, 120, &b, NULL), 0);
	cr_assert_eq(a, b);
}

Test(smem12, the_remote_sees_the_item_from_its_side)
{
	struct smem *modem, *adsp;
	void *p, *q;
	size_t size;

	cr_assert_eq(smem_item_alloc(s, 1, 200, 3, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 200, &p, NULL), 0);
	cr_assert_eq(img_open(&im, 1, &modem), 0);
	cr_assert_eq(smem_item_get(modem, 0, 200, &q, &size), 0, "modem asks for its partition with apps");
	cr_assert_eq(p, q);
	cr_assert_eq(size, 3);
	cr_assert_eq(smem_item_alloc(modem, 0, 200, 3, 0), -EEXIST, "the same partition from the other side");
	cr_assert_eq(img_open(&im, 2, &adsp), 0);
	cr_assert_eq(smem_item_get(adsp, 1, 200, &q, NULL), -ENOENT, "adsp has no partition with modem");
	smem_close(modem);
	smem_close(adsp);
}

Test(smem12, errors)
{
	void *p;
	size_t free_before, free_after;

	cr_assert_eq(smem_item_alloc(s, 1, 7, 8, 0), -EINVAL, "fixed items belong to the bootloader");
	cr_assert_eq(smem_item_alloc(s, 1, 512, 8, 0), -EINVAL);
	cr_assert_eq(smem_item_get(s, 1, 512, &p, NULL), -EINVAL);
	cr_assert_eq(smem_item_get(s, 1, 300, &p, NULL), -ENOENT);
	cr_assert_eq(smem_item_alloc(s, 1, 300, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 300, 16, 0), -EEXIST);
	cr_assert_eq(smem_free_space(s, 1, &free_before), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 301, free_before, 0), -ENOSPC, "the header needs 16 more");
	cr_assert_eq(smem_item_alloc(s, 1, 301, (size_t)1 << 40, 0), -ENOSPC);
	cr_assert_eq(smem_free_space(s, 1, &free_after), 0);
	cr_assert_eq(free_after, free_before, "a failed allocation takes nothing");
	cr_assert_eq(smem_item_alloc(s, 1, 301, free_before - 16, 0), 0, "exactly full");
	cr_assert_eq(smem_free_space(s, 1, &free_after), 0);
	cr_assert_eq(free_after, 0);
	cr_assert_eq(smem_item_alloc(s, 1, 302, 0, 0), -ENOSPC);
	cr_assert_eq(smem_item_alloc(NULL, 1, 302, 8, 0), -EINVAL);
	cr_assert_eq(smem_item_get(NULL, 1, 302, &p, NULL), -EINVAL);
	cr_assert_eq(smem_item_get(s, 1, 302, NULL, NULL), -EINVAL);
}

Test(smem12, free_space_shrinks_by_header_and_aligned_size)
{
	size_t a, b;

	cr_assert_eq(smem_free_space(s, 2, &a), 0);
	cr_assert_eq(smem_item_alloc(s, 2, 150, 9, 0), 0);
	cr_assert_eq(smem_free_space(s, 2, &b), 0);
	cr_assert_eq(a - b, 16 + 16);
	cr_assert_eq(smem_item_alloc(s, 2, 151, 9, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_free_space(s, 2, &a), 0);
	cr_assert_eq(b - a, 64 + 16, "a cached entry takes a cacheline slot for its header");
}

Test(smem12, unknown_alloc_flags)
{
	void *p;

	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0x2), -EINVAL);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, SMEM_ITEM_CACHED | 0x80), -EINVAL);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), -ENOENT, "nothing was allocated");
}

Test(smem12, zero_size_item)
{
	void *p;
	size_t size = 99;

	cr_assert_eq(smem_item_alloc(s, 1, 99, 0, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 99, &p, &size), 0);
	cr_assert_eq(size, 0);
}

Test(smem12, cached_items_are_found)
{
	void *p;
	size_t size;

	cr_assert_eq(smem_item_alloc(s, 5, 410, 100, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_item_alloc(s, 5, 411, 1, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_item_alloc(s, 5, 412, 1, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 5, 410, 1, 0), -EEXIST, "a cached item counts as existing");
	cr_assert_eq(smem_item_alloc(s, 5, 412, 1, SMEM_ITEM_CACHED), -EEXIST);
	cr_assert_eq(smem_item_get(s, 5, 411, &p, &size), 0);
	cr_assert_eq(size, 1);
	cr_assert_eq(smem_item_get(s, 5, 410, &p, &size), 0);
	cr_assert_eq(size, 100);
}

struct findings {
	char msg[256];
	unsigned n;
};

static void keep_finding(const char *msg, void *userdata)
{
	struct findings *f = userdata;

	snprintf(f->msg, sizeof(f->msg), "%s", msg);
	f->n++;
}

/*
 * Linux's allocator searches only the uncached list, so it can add an item that
 * a remote already has in the cached list. That is legal: lookups find the
 * uncached copy, as Linux's do, and the fsck warns without calling it an error.
 */
Test(smem12, item_in_both_lists_reads_the_uncached_copy)
{
	struct findings f = { 0 };
	void *p, *cached;
	size_t size;

	cr_assert_eq(smem_item_alloc(s, 1, 410, 24, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_item_get(s, 1, 410, &cached, NULL), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 411, 5, 0), 0);
	/* The cached entry's header lies just above its data: make it item 411 too. */
	wr16(&im, (size_t)((uint8_t *)cached - im.b) + 24 + 2, 411);
	cr_assert_eq(smem_item_get(s, 1, 411, &p, &size), 0);
	cr_assert_eq(size, 5, "the uncached copy");
	cr_assert_neq(p, cached);
	cr_assert_eq(smem_check(im.b, im.size, keep_finding, &f), 1);
	cr_assert_eq(f.n, 1);
	cr_assert_eq(strncmp(f.msg, SMEM_CHECK_WARNING, strlen(SMEM_CHECK_WARNING)), 0,
		     "a warning, not an error: %s", f.msg);
	cr_assert(strstr(f.msg, "partition 0:1") && strstr(f.msg, "item 411"), "%s", f.msg);
	wr16(&im, (size_t)((uint8_t *)cached - im.b) + 24 + 2, 410);
}

Test(smem12, virt_to_phys)
{
	struct smem *b;
	struct smem_open_opts o;
	uint64_t a;
	void *p;

	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, NULL), 0);
	cr_assert_eq(smem_virt_to_phys(s, p, &a), 0);
	cr_assert_eq(a, (uint64_t)((uint8_t *)p - im.b));
	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_RDONLY;
	o.phys_base = 0x86000000;
	cr_assert_eq(open_in_region(im.r, 0, &o, &b), 0);
	cr_assert_eq(smem_virt_to_phys(b, p, &a), 0);
	cr_assert_eq(a, 0x86000000 + (uint64_t)((uint8_t *)p - im.b));
	cr_assert_eq(smem_virt_to_phys(b, im.b + 2 * MB, &a), -ERANGE);
	cr_assert_eq(smem_virt_to_phys(b, im.b - 1, &a), -ERANGE);
	smem_close(b);
}

struct collected {
	unsigned n;
	struct smem_item_info it[16];
};

static int collect(const struct smem_item_info *it, void *userdata)
{
	struct collected *c = userdata;

	if (c->n < 16)
		c->it[c->n] = *it;
	c->n++;
	return 0;
}

static int stop_at_two(const struct smem_item_info *it, void *userdata)
{
	return ++*(int *)userdata == 2 ? 42 : 0;
}

Test(smem12, foreach_lists_every_partition)
{
	struct collected c = { 0 };
	int n = 0;

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 137, 40, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 5, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 5, 101, 7, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_item_foreach(s, collect, &c), 0);
	cr_assert_eq(c.n, 3);
	cr_assert(c.it[0].host0 == 0xfffe && c.it[0].host1 == 0xfffe && c.it[0].item == 137);
	cr_assert(c.it[1].host0 == 0 && c.it[1].host1 == 1 && c.it[1].item == 100 && c.it[1].size == 5);
	cr_assert_eq(c.it[1].padding, 3);
	cr_assert(c.it[2].host1 == 5 && c.it[2].item == 101 && c.it[2].cached);
	cr_assert_not(c.it[0].global_heap);
	cr_assert_eq(smem_item_foreach(s, stop_at_two, &n), 42, "a non-zero return stops the walk");
	cr_assert_eq(n, 2);
	cr_assert_eq(smem_item_foreach(s, NULL, NULL), -EINVAL);
}

static int fail_with_eio(const struct smem_item_info *it, void *userdata)
{
	return -EIO;
}

/* Every error smem_item_foreach() documents, each from its own code path. */
Test(smem12, foreach_returns_each_documented_error)
{
	struct collected c = { 0 };
	size_t pt = im.size - 4096;
	uint32_t g = rd32(&im, pt + 32); /* the global partition */

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 101, 8, 0), 0);
	cr_assert_eq(smem_item_foreach(NULL, collect, &c), -EINVAL);
	cr_assert_eq(smem_item_foreach(s, NULL, &c), -EINVAL);
	cr_assert_eq(smem_item_foreach(s, fail_with_eio, NULL), -EIO, "the callback's own value");
	/* The partition table changes its version, or disappears, after attach. */
	wr32(&im, pt + 4, 2);
	cr_assert_eq(smem_item_foreach(s, collect, &c), -EPROTO);
	wr32(&im, pt + 4, 1);
	im.b[pt] = 'X';
	cr_assert_eq(smem_item_foreach(s, collect, &c), -ENOENT);
	im.b[pt] = '$';
	/* A partition header, then a list, fails validation. */
	im.b[g + 3] = 'X';
	cr_assert_eq(smem_item_foreach(s, collect, &c), -EBADMSG);
	im.b[g + 3] = 'T';
	wr16(&im, g + 32, 0);
	c.n = 0;
	cr_assert_eq(smem_item_foreach(s, collect, &c), -EBADMSG);
	cr_assert_eq(c.n, 0, "nothing before the fault");
	wr16(&im, g + 32, 0xa5a5);
	cr_assert_eq(smem_item_foreach(s, collect, &c), 0);
}

Test(smem11, foreach_returns_each_documented_error)
{
	struct collected c = { 0 };

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 100, 8, 0), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 101, 8, 0), 0);
	wr32(&im, 0xd0 + 16 * 101 + 8, 0x7ffffff8); /* outside the heap */
	cr_assert_eq(smem_item_foreach(s, collect, &c), -EBADMSG);
	cr_assert_eq(c.n, 1, "the items before the fault have been reported");
	wr32(&im, 0xd0 + 16 * 101 + 8, 8);
	wr32(&im, 0xd0 + 16 * 101 + 12, 0x00200000); /* another region's entry: listed */
	c.n = 0;
	cr_assert_eq(smem_item_foreach(s, collect, &c), 0);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(c.it[1].aux_base, 0x00200000);
	wr32(&im, 0xd0 + 16 * 101 + 12, 0);
}

Test(smem12, readonly_and_lockless_handles_cannot_allocate)
{
	struct smem_open_opts o;
	struct smem *b;

	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_RDONLY;
	o.hwlock = im.h;
	cr_assert_eq(open_in_region(im.r, 0, &o, &b), 0);
	cr_assert_eq(smem_item_alloc(b, 1, 100, 8, 0), -EROFS);
	smem_close(b);
	smem_open_opts_init(&o);
	cr_assert_eq(open_in_region(im.r, 0, &o, &b), 0);
	cr_assert_eq(smem_item_alloc(b, 1, 100, 8, 0), -ENOLCK);
	smem_close(b);
}

Test(smem12, alloc_waits_for_lock_3_and_times_out, .timeout = 20)
{
	cr_assert_eq(smem_hwlock_trylock(im.h, SMEM_HWLOCK_ID, 1), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), -ETIMEDOUT);
	cr_assert_eq(smem_hwlock_unlock(im.h, SMEM_HWLOCK_ID, 1), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 8, 0), 0);
	/* The other locks are not SMEM's business. */
	cr_assert_eq(smem_hwlock_trylock(im.h, 4, 1), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 101, 8, 0), 0);
	cr_assert_eq(smem_hwlock_unlock(im.h, 4, 1), 0);
}

Test(smem12, open_arguments)
{
	struct smem_open_opts o;
	struct smem *b;

	cr_assert_eq(open_in_region(im.r, SMEM_HOST_COUNT, NULL, &b), -EINVAL);
	cr_assert_eq(open_in_region(NULL, 0, NULL, &b), -EINVAL);
	smem_open_opts_init(&o);
	o.flags = 0x10;
	cr_assert_eq(open_in_region(im.r, 0, &o, &b), -EINVAL);
	smem_open_opts_init(&o);
	o.region = im.r;
	cr_assert_eq(smem__open(NULL, 0, &o, 32, &b), -EINVAL);
	smem_close(NULL);
}

Test(smem12, open_takes_a_path_or_a_region)
{
	struct smem_open_opts o;
	char err[64] = "";
	struct smem *b;

	cr_assert_eq(smem_open(NULL, 0, NULL, &b), -EINVAL, "neither");
	smem_open_opts_init(&o);
	o.region = im.r;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	cr_assert_eq(smem_open("img", 0, &o, &b), -EINVAL, "both");
	cr_assert_str_neq(err, "");
	cr_assert_eq(smem_open(NULL, 0, &o, &b), 0);
	smem_close(b);
}

Test(smem12, other_hwlock_id)
{
	struct smem_open_opts o;
	struct smem *b;

	smem_open_opts_init(&o);
	o.region = im.r;
	o.hwlock = im.h;
	cr_assert_eq(smem__open(NULL, 0, &o, 9, &b), 0);
	cr_assert_eq(smem_hwlock_trylock(im.h, SMEM_HWLOCK_ID, 1), 0);
	cr_assert_eq(smem_item_alloc(b, 1, 100, 8, 0), 0, "lock 3 is not the one configured");
	cr_assert_eq(smem_hwlock_unlock(im.h, SMEM_HWLOCK_ID, 1), 0);
	smem_close(b);
}

Test(smem11, heap_allocation_and_lookup)
{
	struct smem_stat st;
	void *p;
	size_t size, a, b;

	cr_assert_eq(smem_stat(s, &st), 0);
	cr_assert_eq(st.version, 11);
	cr_assert_eq(smem_free_space(s, SMEM_HOST_ANY, &a), 0);
	cr_assert_eq(a, 1 * MB - 0x20d0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 5, 0), 0, "no partitions: host 1 uses the heap");
	cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 100, &p, &size), 0);
	cr_assert_eq(size, 8, "the heap reports the aligned size, as Linux does");
	cr_assert_eq(smem_free_space(s, SMEM_HOST_ANY, &b), 0);
	cr_assert_eq(a - b, 8);
	cr_assert_eq(smem_item_alloc(s, 1, 100, 5, 0), -EEXIST);
	cr_assert_eq(smem_item_alloc(s, 1, 101, b + 1, 0), -ENOMEM, "the heap says -ENOMEM");
	cr_assert_eq(smem_item_alloc(s, 1, 101, b, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 102, &p, NULL), -ENOENT);
	cr_assert_eq(smem_item_alloc(s, 1, 103, 8, SMEM_ITEM_CACHED), -EOPNOTSUPP);
}

Test(smem11, foreach_lists_the_heap)
{
	struct collected c = { 0 };

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 300, 4, 0), 0);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 200, 4, 0), 0);
	cr_assert_eq(smem_item_foreach(s, collect, &c), 0);
	cr_assert_eq(c.n, 2);
	cr_assert(c.it[0].global_heap && c.it[0].item == 200 && c.it[0].offset == 0x20d0 + 8);
	cr_assert(c.it[1].item == 300 && c.it[1].offset == 0x20d0);
}

/*
 * An entry whose aux_base names another memory region (the RPM message RAM) is
 * allocated, but its bytes are not in the image: a lookup says so, with an error
 * of its own, and the fsck, which cannot check it, warns.
 */
Test(smem11, entries_in_another_region_are_not_mapped)
{
	struct findings f = { 0 };
	void *p;
	int r;

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 300, 4, 0), 0);
	wr32(&im, 0xd0 + 16 * 300 + 12, 0x00200003); /* RPM message RAM; bits 1:0 reserved */
	r = smem_item_get(s, SMEM_HOST_ANY, 300, &p, NULL);
	cr_assert_eq(r, -EREMOTE, "lookup returned %d, expected -EREMOTE", r);
	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 300, 4, 0), -EEXIST, "it is allocated");
	r = smem_check(im.b, im.size, keep_finding, &f);
	cr_assert_eq(r, 1, "the fsck reported %d findings, expected a warning", r);
	cr_assert_eq(strncmp(f.msg, SMEM_CHECK_WARNING, strlen(SMEM_CHECK_WARNING)), 0, "%s", f.msg);
	cr_assert(strstr(f.msg, "item 300") && strstr(f.msg, "aux_base 0x200000"), "%s", f.msg);
	wr32(&im, 0xd0 + 16 * 300 + 12, 0);
}

Test(smem11, aux_base_equal_to_our_base_is_ours)
{
	struct smem_open_opts o;
	struct smem *b;
	void *p;

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 300, 4, 0), 0);
	wr32(&im, 0xd0 + 16 * 300 + 12, 0x86000000);
	smem_open_opts_init(&o);
	o.phys_base = 0x86000000;
	cr_assert_eq(open_in_region(im.r, 0, &o, &b), 0);
	cr_assert_eq(smem_item_get(b, SMEM_HOST_ANY, 300, &p, NULL), 0);
	smem_close(b);
	wr32(&im, 0xd0 + 16 * 300 + 12, 0);
}

Test(files, create_open_alloc_and_reopen)
{
	char dir[] = "/tmp/smemkit-smem-XXXXXX", p[PATH_MAX];
	struct smem *a, *b;
	void *x;
	size_t size;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/img", dir);
	cr_assert_eq(smem_create(p, 1 * MB, NULL), 0);
	cr_assert_eq(smem_open(p, 0, NULL, &a), 0);
	cr_assert_eq(smem_item_alloc(a, 1, 100, 4, 0), 0);
	cr_assert_eq(smem_item_get(a, 1, 100, &x, NULL), 0);
	memcpy(x, "abcd", 4);
	smem_close(a);
	cr_assert_eq(smem_open(p, 1, NULL, &b), 0);
	cr_assert_eq(smem_item_get(b, 0, 100, &x, &size), 0, "the modem finds it after a reopen");
	cr_assert_eq(memcmp(x, "abcd", 4), 0);
	smem_close(b);
	snprintf(p, sizeof(p), "%s/nothing", dir);
	cr_assert_eq(smem_open(p, 0, NULL, &a), -ENOENT);
	cr_assert_eq(smem_create(p, 1000, NULL), -EINVAL);
}

/*
 * Offline editing: the image is the caller's alone, proven by the kernel's
 * flock, which a SIGKILLed attacher loses at once; no lock bank is needed.
 */
Test(files, offline_open_excludes_every_live_attachment)
{
	char dir[] = "/tmp/smemkit-smem-XXXXXX", p[PATH_MAX], bank[PATH_MAX + 8], c;
	struct smem_open_opts o;
	struct smem_region *r;
	struct smem *a, *b;
	struct smem_stat sst;
	int ready[2], st;
	pid_t pid;
	void *x;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/img", dir);
	snprintf(bank, sizeof(bank), "%s.hwlock", p);
	cr_assert_eq(smem_create(p, 1 * MB, NULL), 0);
	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_OFFLINE;
	cr_assert_eq(smem_open(p, 0, &o, &a), -EEXIST, "an image with a lock bank is attached with it");
	cr_assert_eq(pipe(ready), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
		if (smem_open(p, 1, NULL, &b) != 0 || write(ready[1], "a", 1) != 1)
			_exit(1);
		pause(); /* attached until killed */
		_exit(0);
	}
	close(ready[1]); /* a child that fails then gives EOF, not a hang */
	cr_assert_eq(read(ready[0], &c, 1), 1, "the other host attached");
	cr_assert_eq(unlink(bank), 0, "even without a lock bank, the attachment shows");
	cr_assert_eq(smem_open(p, 0, &o, &a), -EBUSY, "a live host has it attached");
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(smem_open(p, 0, &o, &a), 0, "the kernel dropped the dead host's lock");
	cr_assert_eq(smem_item_alloc(a, 1, 100, 4, 0), 0, "allocates without a lock bank");
	cr_assert_eq(smem_item_alloc(a, SMEM_HOST_ANY, 101, 4, SMEM_ITEM_CACHED), 0);
	cr_assert_eq(smem_item_alloc(a, 1, 100, 4, 0), -EEXIST);
	cr_assert_eq(smem_recover(a), 0);
	cr_assert_eq(smem_open(p, 1, NULL, &b), -EBUSY, "nobody attaches while it is edited");
	smem_close(a);
	cr_assert_eq(smem_open(p, 0, &o, &a), 0);
	cr_assert_eq(smem_item_get(a, 1, 100, &x, NULL), 0);
	cr_assert_eq(smem_stat(a, &sst), 0);
	cr_assert_eq(smem_check(sst.base, sst.size, NULL, NULL), 0, "the offline edit is clean");
	smem_close(a);

	o.flags = SMEM_OPEN_OFFLINE | SMEM_OPEN_RDONLY;
	cr_assert_eq(smem_open(p, 0, &o, &a), -EINVAL);
	cr_assert_eq(smem_region_open(p, 0, 0, &r), 0);
	o.flags = SMEM_OPEN_OFFLINE;
	o.region = r;
	cr_assert_eq(smem_open(NULL, 0, &o, &a), -EINVAL, "a region the caller maps is not locked");
	smem_region_close(r);
}

Test(files, open_reports_a_reason)
{
	char dir[] = "/tmp/smemkit-smem-XXXXXX", p[PATH_MAX], err[256] = "";
	struct smem_open_opts o;
	struct smem_region *r;
	struct smem *a;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/zero", dir);
	cr_assert_eq(smem_region_open(p, 65536, SMEM_REGION_CREATE, &r), 0);
	smem_region_close(r);
	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_RDONLY;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	cr_assert_eq(smem_open(p, 0, &o, &a), -EBADMSG);
	cr_assert_not_null(strstr(err, "not initialized"), "got: %s", err);
	smem_open_opts_init(&o);
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	cr_assert_eq(smem_open(p, 0, &o, &a), -ENOENT, "no lock bank beside it");
	cr_assert_not_null(strstr(err, ".hwlock"), "got: %s", err);
}

/*
 * Lookups take no lock: with lock 3 held by a host that died (as a crashed
 * remote leaves it), a crash-reason read must still succeed at once.
 */
Test(smem12, lookup_does_not_wait_for_a_dead_lock_holder, .timeout = 5)
{
	void *p;

	cr_assert_eq(smem_item_alloc(s, SMEM_HOST_ANY, 421, 16, 0), 0);
	cr_assert_eq(smem_hwlock_trylock(im.h, SMEM_HWLOCK_ID, 1), 0);
	for (unsigned i = 0; i < 100000; i++)
		cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, 421, &p, NULL), 0);
	cr_assert_eq(smem_hwlock_bust(im.h, SMEM_HWLOCK_ID, 1), 1);
}
