// SPDX-License-Identifier: MIT
/*
 * N forked hosts allocate the same items and their own items at once, in the
 * global partition or heap and in a private partition. Every item must end up
 * allocated exactly once, by one winner, with the winner's contents intact.
 */
#include "helpers.h"

#define NPROC 6
static const unsigned hosts[NPROC] = { 0, 1, 2, 5, 3, 4 };

#define SHARED_FIRST  140 /* clear of socinfo (137), which the fsck decodes */
#define SHARED_N      200
#define OWN_FIRST     340
#define OWN_N         20
#define PRIVATE_FIRST 460
#define PRIVATE_N     50

struct record {
	uint32_t item;
	uint32_t remote; /* SMEM_HOST_ANY or the partition's other host */
	uint32_t host;
};

static size_t item_size(unsigned item)
{
	return 8 + item % 17;
}

static void fill(uint8_t *p, unsigned item, unsigned host)
{
	memset(p, (int)(item & 0xff), item_size(item));
	memcpy(p, &host, sizeof(host));
}

static bool intact(const uint8_t *p, unsigned item, unsigned host)
{
	uint8_t want[64];

	fill(want, item, host);
	return memcmp(p, want, item_size(item)) == 0;
}

static unsigned host_of(const struct smem *s)
{
	struct smem_stat st;

	return smem_stat(s, &st) == 0 ? st.host : ~0u;
}

/* Allocate, and on success fill the item and report it. Return: false on an unexpected error. */
static bool try_alloc(struct smem *s, unsigned remote, unsigned item, int out, bool must_win)
{
	struct record rec = { item, remote, host_of(s) };
	void *p;
	int r = smem_item_alloc(s, remote, item, item_size(item), 0);

	if (r == -EEXIST && !must_win)
		return true;
	if (r != 0 || smem_item_get(s, remote, item, &p, NULL) != 0)
		return false;
	fill(p, item, host_of(s));
	return write(out, &rec, sizeof(rec)) == sizeof(rec);
}

static int child(struct img *im, unsigned host, int start, int out)
{
	struct smem *s;
	char c;
	void *p;

	if (img_open(im, host, &s) != 0 || read(start, &c, 1) != 0)
		return 10;
	for (unsigned i = 0; i < SHARED_N; i++) {
		/* Everybody races for the same items, each host in its own order. */
		unsigned item = SHARED_FIRST + (i * 7 + host * 31) % SHARED_N;

		if (!try_alloc(s, SMEM_HOST_ANY, item, out, false))
			return 11;
		if (i % 10 == 0 && !try_alloc(s, SMEM_HOST_ANY, OWN_FIRST + host * OWN_N + i / 10, out, true))
			return 12;
		if (host <= 1 && i < PRIVATE_N &&
		    !try_alloc(s, host == 0 ? 1 : 0, PRIVATE_FIRST + i, out, false))
			return 13;
	}
	/* What this host allocated is still its own. */
	for (unsigned i = 0; i < OWN_N; i++) {
		unsigned item = OWN_FIRST + host * OWN_N + i;

		if (smem_item_get(s, SMEM_HOST_ANY, item, &p, NULL) != 0 || !intact(p, item, host))
			return 14;
	}
	smem_close(s);
	return 0;
}

static void run(unsigned version)
{
	struct record rec;
	struct img im;
	struct smem *s;
	int start[2], out[2];
	pid_t pids[NPROC];
	unsigned won_shared[SHARED_N] = { 0 }, won_private[PRIVATE_N] = { 0 }, records = 0;
	unsigned winner_shared[SHARED_N], winner_private[PRIVATE_N];

	img_v(&im, version, 2u << 20);
	cr_assert_eq(pipe(start), 0);
	cr_assert_eq(pipe(out), 0);
	for (unsigned i = 0; i < NPROC; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			close(start[1]);
			close(out[0]);
			_exit(child(&im, hosts[i], start[0], out[1]));
		}
	}
	close(start[1]); /* everybody starts now */
	close(out[1]);
	for (unsigned i = 0; i < NPROC; i++)
		wait_ok(pids[i]);
	while (read(out[0], &rec, sizeof(rec)) == sizeof(rec)) {
		records++;
		if (rec.item >= SHARED_FIRST && rec.item < SHARED_FIRST + SHARED_N) {
			cr_assert_eq(rec.remote, SMEM_HOST_ANY);
			won_shared[rec.item - SHARED_FIRST]++;
			winner_shared[rec.item - SHARED_FIRST] = rec.host;
		} else if (rec.item >= PRIVATE_FIRST && rec.item < PRIVATE_FIRST + PRIVATE_N &&
			   rec.remote != SMEM_HOST_ANY) {
			won_private[rec.item - PRIVATE_FIRST]++;
			winner_private[rec.item - PRIVATE_FIRST] = rec.host;
		}
	}
	cr_assert_eq(records, SHARED_N + NPROC * OWN_N + PRIVATE_N);

	cr_assert_eq(img_open(&im, 0, &s), 0);
	for (unsigned i = 0; i < SHARED_N; i++) {
		void *p;
		size_t size;

		cr_assert_eq(won_shared[i], 1, "item %u won %u times", SHARED_FIRST + i, won_shared[i]);
		cr_assert_eq(smem_item_get(s, SMEM_HOST_ANY, SHARED_FIRST + i, &p, &size), 0);
		cr_assert(intact(p, SHARED_FIRST + i, winner_shared[i]), "item %u", SHARED_FIRST + i);
		if (version == 12)
			cr_assert_eq(size, item_size(SHARED_FIRST + i));
	}
	for (unsigned i = 0; i < PRIVATE_N; i++) {
		void *p;
		unsigned remote = version == 12 ? 1 : SMEM_HOST_ANY;

		cr_assert_eq(won_private[i], 1, "item %u won %u times", PRIVATE_FIRST + i, won_private[i]);
		cr_assert_eq(smem_item_get(s, remote, PRIVATE_FIRST + i, &p, NULL), 0);
		cr_assert(intact(p, PRIVATE_FIRST + i, winner_private[i]));
	}
	cr_assert_eq(img_fsck(&im), 0, "no repeated item, no overlap");
	smem_close(s);
	img_free(&im);
}

Test(multiproc, v12_global_and_private_partitions, .timeout = 120)
{
	run(12);
}

Test(multiproc, v11_global_heap, .timeout = 120)
{
	run(11);
}
