// SPDX-License-Identifier: MIT
/*
 * Random-kill stress: K host processes allocate and read items in a loop while
 * this process SIGKILLs one of them at a random moment, restarts it under the
 * same host id, and repeats. All hosts attach with SMEM_OPEN_BUST_DEAD, so a
 * host killed holding lock 3 is busted by whoever waits for it next.
 *
 * Half the kills hit whichever host holds lock 3 at that moment, so that many
 * land in the middle of an allocation. When the image is nearly full, an epoch
 * ends: every host is killed, the image is recovered and checked, then
 * formatted again and the hosts restarted.
 *
 * Checked throughout: every surviving host makes progress (none is stuck for
 * more than 1 s), and no host ever sees an item with the wrong size or another
 * item's bytes. Checked at the end of each epoch: the fsck is clean after
 * recovery, and every item has its size and only its own bytes.
 *
 * usage: stress KILLS VERSION   (VERSION 11: global heap, 12: global partition)
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/smem.h"

#define HOSTS      4
#define FIRST_ITEM 8
#define STUCK_NS   1000000000ll
#define SIZE       (1u << 20)

struct shared {
	_Atomic uint64_t ops[HOSTS + 1];
	_Atomic uint64_t recovered;
	_Atomic uint64_t allocs; /* in this epoch */
	_Atomic int failure;     /* first failure code seen by a host */
};

static unsigned version, last_item, epoch_allocs;

static struct smem_region *region, *bank_region;
static struct smem_hwlock *bank;
static struct shared *sh;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t item_size(unsigned item)
{
	return 8 + item % 40;
}

static int attach(unsigned host, struct smem **ret)
{
	struct smem_open_opts o;

	smem_open_opts_init(&o);
	o.hwlock = bank;
	o.flags = SMEM_OPEN_BUST_DEAD;
	o.region = region;
	return smem_open(NULL, host, &o, ret);
}

static void fail(int code)
{
	int zero = 0;

	atomic_compare_exchange_strong(&sh->failure, &zero, code);
	_exit(code);
}

/* Every byte is the item's own pattern or still 0 (its writer may have been killed). */
static bool plausible(const uint8_t *p, unsigned item)
{
	for (size_t i = 0; i < item_size(item); i++)
		if (p[i] != (uint8_t)item && p[i] != 0)
			return false;
	return true;
}

static void host_loop(unsigned host)
{
	unsigned seed = (unsigned)getpid() * 2654435761u;
	struct smem *s;

	if (attach(host, &s) != 0)
		fail(10);
	for (;;) {
		unsigned item = FIRST_ITEM + rand_r(&seed) % (last_item - FIRST_ITEM + 1);
		size_t size;

		if (item == 137)
			item++; /* socinfo: the fsck decodes it */
		void *p;
		int r;

		if (rand_r(&seed) & 1) {
			r = smem_item_alloc(s, SMEM_HOST_ANY, item, item_size(item), 0);
			if (r == SMEM_RECOVERED)
				atomic_fetch_add(&sh->recovered, 1);
			if (r >= 0)
				atomic_fetch_add(&sh->allocs, 1);
			if (r >= 0 && smem_item_get(s, SMEM_HOST_ANY, item, &p, NULL) == 0)
				memset(p, (int)item, item_size(item));
			else if (r != -EEXIST && r != -ENOSPC && r != -ENOMEM)
				fail(100 - r); /* 100 + errno */
		} else {
			r = smem_item_get(s, SMEM_HOST_ANY, item, &p, &size);
			if (r == 0 && (size < item_size(item) || size > item_size(item) + 7 ||
				       !plausible(p, item)))
				fail(12);
			if (r != 0 && r != -ENOENT)
				fail(13);
		}
		atomic_fetch_add_explicit(&sh->ops[host], 1, memory_order_relaxed);
	}
}

static void print_finding(const char *msg, void *userdata)
{
	fprintf(stderr, "stress: fsck: %s\n", msg);
}

static pid_t spawn(unsigned host)
{
	pid_t pid = fork();

	if (pid == 0)
		host_loop(host);
	return pid;
}

static void format(void)
{
	struct smem_format_opts fo;

	smem_format_opts_init(&fo);
	fo.version = version;
	fo.n_pairs = 0;
	if (version == 12)
		fo.item_count = last_item + 1;
	if (smem_format(smem_region_base(region), SIZE, &fo) != 0) {
		fprintf(stderr, "stress: format failed\n");
		exit(1);
	}
	atomic_store(&sh->allocs, 0);
}

/* Recover as host 0 and check everything. Return: the number of problems. */
static int check_epoch(void)
{
	struct smem *s;
	int bad = 0;

	if (attach(0, &s) != 0 || smem_recover(s) < 0) {
		fprintf(stderr, "stress: attach or recovery failed\n");
		return 1;
	}
	if (smem_check(smem_region_base(region), SIZE, print_finding, NULL) != 0) {
		fprintf(stderr, "stress: fsck found problems after recovery\n");
		bad++;
	}
	for (unsigned item = FIRST_ITEM; item <= last_item; item++) {
		size_t size;
		void *p;
		int r = smem_item_get(s, SMEM_HOST_ANY, item, &p, &size);

		if ((r != 0 && r != -ENOENT) ||
		    (r == 0 && (size < item_size(item) || !plausible(p, item)))) {
			fprintf(stderr, "stress: item %u is damaged (%d)\n", item, r);
			bad++;
		}
	}
	smem_close(s);
	return bad;
}

/* Lay out an empty bank with a host table in @r and attach to it. */
static int create_bank(struct smem_region *r, struct smem_hwlock **ret)
{
	struct smem_hwlock_opts o;

	smem_hwlock_opts_init(&o);
	o.flags = SMEM_HWLOCK_CREATE;
	o.stride = 64;
	o.region = r;
	return smem_hwlock_open(NULL, &o, ret);
}

int main(int argc, char **argv)
{
	unsigned kills = argc > 1 ? (unsigned)atoi(argv[1]) : 300;
	unsigned seed = (unsigned)time(NULL), epochs = 1, targeted = 0;
	uint64_t last_ops[HOSTS + 1] = { 0 }, total = 0;
	int64_t last_change[HOSTS + 1];
	pid_t pids[HOSTS + 1];
	int found = 0;

	version = argc > 2 ? (unsigned)atoi(argv[2]) : 12;
	last_item = version == 12 ? 30000 : 511;
	epoch_allocs = version == 12 ? 15000 : 480;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || smem_region_memfd("stress", SIZE, &region) ||
	    smem_region_memfd("stress-bank", SMEM_HWLOCK_BANK_SIZE(64), &bank_region) ||
	    create_bank(bank_region, &bank)) {
		fprintf(stderr, "stress: setup failed\n");
		return 1;
	}
	format();
	for (unsigned h = 1; h <= HOSTS; h++) {
		pids[h] = spawn(h);
		last_change[h] = now_ns();
	}
	for (unsigned k = 0; k < kills && !found; k++) {
		struct timespec pause = { 0, (long)(rand_r(&seed) % 2000000) };
		unsigned victim = 1 + rand_r(&seed) % HOSTS, owner;
		int64_t t;

		/* A random moment: this only spreads the kills over the hosts' work. */
		nanosleep(&pause, NULL);
		if ((rand_r(&seed) & 1) && smem_hwlock_owner(bank, SMEM_HWLOCK_ID, &owner) == 0 &&
		    owner >= 2 && owner <= HOSTS + 1) {
			victim = owner - 1;
			targeted++;
		}
		kill(pids[victim], SIGKILL);
		waitpid(pids[victim], NULL, 0);
		pids[victim] = spawn(victim);
		last_change[victim] = now_ns();
		t = now_ns();
		for (unsigned h = 1; h <= HOSTS; h++) {
			uint64_t ops = atomic_load(&sh->ops[h]);

			if (ops != last_ops[h]) {
				last_ops[h] = ops;
				last_change[h] = t;
			} else if (t - last_change[h] > STUCK_NS) {
				fprintf(stderr, "stress: host %u made no progress for over 1 s\n", h);
				found = 1;
			}
		}
		if (atomic_load(&sh->failure))
			break;
		if (atomic_load(&sh->allocs) >= epoch_allocs) {
			/* The image is nearly full: stop, check, start over. */
			for (unsigned h = 1; h <= HOSTS; h++) {
				kill(pids[h], SIGKILL);
				waitpid(pids[h], NULL, 0);
			}
			found |= check_epoch();
			format();
			epochs++;
			for (unsigned h = 1; h <= HOSTS; h++) {
				pids[h] = spawn(h);
				last_change[h] = now_ns();
			}
		}
	}
	for (unsigned h = 1; h <= HOSTS; h++) {
		kill(pids[h], SIGKILL);
		waitpid(pids[h], NULL, 0);
	}
	if (atomic_load(&sh->failure)) {
		int code = atomic_load(&sh->failure);

		if (code >= 100)
			fprintf(stderr, "stress: an allocation failed: %s\n", strerror(code - 100));
		else
			fprintf(stderr, "stress: a host saw a bad item or error (code %d)\n", code);
		found = 1;
	}
	found |= check_epoch();
	for (unsigned h = 1; h <= HOSTS; h++)
		total += atomic_load(&sh->ops[h]);
	printf("stress v%u: %u kills (%u of the lock-3 holder), %u epochs, %llu operations, "
	       "%llu allocations that first repaired a dead holder's work\n",
	       version, kills, targeted, epochs, (unsigned long long)total,
	       (unsigned long long)atomic_load(&sh->recovered));
	printf("%d passed, %d failed\n", found ? 0 : 1, found ? 1 : 0);
	return found;
}
