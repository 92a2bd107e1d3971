/* SPDX-License-Identifier: MIT */
/* Shared helpers for the tests: images in memfds, forked hosts, raw field access. */
#ifndef SMEMKIT_TEST_HELPERS_H
#define SMEMKIT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/smem.h"

/*
 * Fault points exist only in builds configured with -Dfault_points=true; the
 * shipped configuration (-Dfault_points=false) runs every other test, and a
 * test that arms a point is skipped there, never run with a point that does
 * nothing.
 */
#ifdef SMEMKIT_FAULT_POINTS
#include "core/fault.h"
#define NEEDS_FAULT_POINTS() ((void)0)
#else
#define NEEDS_FAULT_POINTS() cr_skip_test("built without fault points (-Dfault_points=false)")
static inline void smem__fault_arm(const char *name, unsigned long nth)
{
	(void)name;
	(void)nth;
	abort();
}
#endif

/* smem_hwlock_open() of the bank in a region the test owns. */
static inline int open_bank_in(struct smem_region *r, struct smem_hwlock **ret)
{
	struct smem_hwlock_opts o;

	smem_hwlock_opts_init(&o);
	o.region = r;
	return smem_hwlock_open(NULL, &o, ret);
}

/* A formatted image in a memfd with a lock bank in another memfd. */
struct img {
	struct smem_region *r;
	struct smem_region *lr;
	struct smem_hwlock *h;
	uint8_t *b;
	size_t size;
};

static inline void img_make(struct img *im, size_t size, const struct smem_format_opts *o)
{
	cr_assert_eq(smem_region_memfd("test-smem", size, &im->r), 0);
	cr_assert_eq(smem_region_memfd("test-hwlock", SMEM_HWLOCK_BANK_SIZE(SMEM_HWLOCK_DEFAULT_STRIDE),
				       &im->lr), 0);
	cr_assert_eq(smem_hwlock_format(smem_region_base(im->lr), smem_region_size(im->lr),
				      SMEM_HWLOCK_DEFAULT_STRIDE), 0);
	cr_assert_eq(open_bank_in(im->lr, &im->h), 0);
	im->b = smem_region_base(im->r);
	im->size = size;
	if (o)
		cr_assert_eq(smem_format(im->b, size, o), 0);
}

static inline void img_v(struct img *im, unsigned version, size_t size)
{
	struct smem_format_opts o;

	smem_format_opts_init(&o);
	o.version = version;
	if (version == 11)
		o.n_pairs = 0;
	img_make(im, size, &o);
}

static inline int img_open(struct img *im, unsigned host, struct smem **ret)
{
	struct smem_open_opts o;

	smem_open_opts_init(&o);
	o.region = im->r;
	o.hwlock = im->h;
	return smem_open(NULL, host, &o, ret);
}

/* smem_open() of the image in a region the test owns; @o NULL for the defaults. */
static inline int open_in_region(struct smem_region *r, unsigned host,
				 const struct smem_open_opts *o, struct smem **ret)
{
	struct smem_open_opts opts;

	if (o)
		opts = *o;
	else
		smem_open_opts_init(&opts);
	opts.region = r;
	return smem_open(NULL, host, &opts, ret);
}

static inline void img_free(struct img *im)
{
	smem_hwlock_close(im->h);
	smem_region_close(im->lr);
	smem_region_close(im->r);
}

static inline uint32_t rd32(const struct img *im, size_t off)
{
	uint32_t v;

	memcpy(&v, im->b + off, 4);
	return le32toh(v);
}

static inline uint16_t rd16(const struct img *im, size_t off)
{
	uint16_t v;

	memcpy(&v, im->b + off, 2);
	return le16toh(v);
}

static inline void wr32(struct img *im, size_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(im->b + off, &v, 4);
}

static inline void wr16(struct img *im, size_t off, uint16_t v)
{
	v = htole16(v);
	memcpy(im->b + off, &v, 2);
}

/* Counts the findings of smem_check() on the image. */
static inline int img_fsck(const struct img *im)
{
	return smem_check(im->b, im->size, NULL, NULL);
}

/*
 * Whether our child @pid sleeps in a futex wait: its own /proc entry, a test's
 * view of its own child only, never a proof about a peer.
 */
static inline bool sleeping_in_futex(pid_t pid)
{
	char path[64], buf[128] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f);
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "futex") != NULL;
}

/* Waits for a forked child and asserts it exited with status 0. */
static inline void wait_ok(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status 0x%x)", pid, st);
}

#endif
