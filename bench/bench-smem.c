// SPDX-License-Identifier: MIT
/*
 * smem_item_get() and smem_item_alloc() costs.
 *
 * Lookups are timed in the global heap (a table index) and in partitions holding
 * 1, 64 and 500 items (a list walk, Linux's algorithm), for the first and the last
 * item of the list. Each figure is the median of 11 runs, with p10 and p90. The
 * floor measured in the same run is one relaxed load from the image, the cheapest
 * possible "lookup"; the table prints each cost as a ratio to it.
 *
 * The lookups also run once more in a child under strict seccomp, which kills a
 * process on any system call but read/write/exit, while another host holds
 * hwlock 3: they finish, so a lookup makes no system call and takes no lock.
 */
#include <errno.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/smem.h"

#define RUNS 11

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double p10, p50, p90;
};

static struct stats summarize(double *v)
{
	qsort(v, RUNS, sizeof(v[0]), cmp_double);
	return (struct stats){ v[1], v[RUNS / 2], v[RUNS - 2] };
}

struct setup {
	struct smem_region *r, *lr;
	struct smem_hwlock *h;
	struct smem *s;
};

static void make(struct setup *st, unsigned version, size_t size)
{
	struct smem_format_opts o;
	struct smem_hwlock_opts ho;
	struct smem_open_opts oo;

	smem_format_opts_init(&o);
	o.version = version;
	if (version == 11)
		o.n_pairs = 0;
	if (smem_region_memfd("bench", size, &st->r) || smem_region_memfd("locks", 2048, &st->lr) ||
	    smem_format(smem_region_base(st->r), size, &o)) {
		fprintf(stderr, "bench-smem: setup failed\n");
		exit(1);
	}
	smem_hwlock_opts_init(&ho);
	ho.region = st->lr;
	if (smem_hwlock_open(NULL, &ho, &st->h)) {
		fprintf(stderr, "bench-smem: lock bank failed\n");
		exit(1);
	}
	smem_open_opts_init(&oo);
	oo.region = st->r;
	oo.hwlock = st->h;
	if (smem_open(NULL, 0, &oo, &st->s)) {
		fprintf(stderr, "bench-smem: attach failed\n");
		exit(1);
	}
}

static void teardown(struct setup *st)
{
	smem_close(st->s);
	smem_hwlock_close(st->h);
	smem_region_close(st->lr);
	smem_region_close(st->r);
}

static volatile uintptr_t sink;

static double time_gets(struct smem *s, unsigned host, unsigned item, unsigned iters)
{
	double t0 = now_ns();

	for (unsigned i = 0; i < iters; i++) {
		void *p;

		if (smem_item_get(s, host, item, &p, NULL) != 0)
			abort();
		sink = (uintptr_t)p;
	}
	return (now_ns() - t0) / iters;
}

static double time_floor(const void *word, unsigned iters)
{
	double t0 = now_ns();

	for (unsigned i = 0; i < iters; i++)
		sink = atomic_load_explicit((const _Atomic uint32_t *)word, memory_order_relaxed);
	return (now_ns() - t0) / iters;
}

struct row {
	const char *where;
	unsigned items;
	unsigned host;
	unsigned first, last;
};

/* Under strict seccomp any system call but read, write and exit kills the child. */
static int lookups_without_syscalls(struct smem *s, const struct row *rows, size_t n)
{
	int fd[2], st;
	pid_t pid;
	char ok = 0;

	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
			_exit(2);
		for (size_t i = 0; i < n; i++)
			for (unsigned k = 0; k < 1000; k++) {
				void *p;

				if (smem_item_get(s, rows[i].host, rows[i].last, &p, NULL) != 0)
					syscall(SYS_exit, 3);
			}
		ok = 1;
		if (write(fd[1], &ok, 1) != 1)
			syscall(SYS_exit, 4);
		syscall(SYS_exit, 0);
	}
	close(fd[1]);
	if (read(fd[0], &ok, 1) != 1)
		ok = 0;
	close(fd[0]);
	waitpid(pid, &st, 0);
	return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)atoi(argv[1]) : 200000;
	struct setup v11, v12;
	struct row rows[] = {
		{ "global heap (v11)", 500, SMEM_HOST_ANY, 10, 509 },
		{ "partition, 1 item", 1, 1, 100, 100 },
		{ "partition, 64 items", 64, 2, 100, 163 },
		{ "partition, 500 items", 500, SMEM_HOST_ANY, 10, 509 },
	};
	double v[RUNS], floor_ns;
	struct stats fl;

	make(&v11, 11, 4u << 20);
	make(&v12, 12, 8u << 20);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct smem *s = r == 0 ? v11.s : v12.s;

		for (unsigned i = 0; i < rows[r].items; i++)
			if (smem_item_alloc(s, rows[r].host, rows[r].first + i, 64, 0)) {
				fprintf(stderr, "bench-smem: alloc failed\n");
				return 1;
			}
	}

	for (int k = 0; k < RUNS; k++)
		v[k] = time_floor(smem_region_base(v12.r), iters);
	fl = summarize(v);
	floor_ns = fl.p50;

	printf("## smem_item_get()\n\n");
	printf("%u lookups per run, %d runs; floor (one relaxed load from the image): %.2f ns\n\n",
	       iters, RUNS, floor_ns);
	printf("| where | item | ns p50 | ns p10 | ns p90 | × floor |\n");
	printf("|---|---|---:|---:|---:|---:|\n");
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct smem *s = r == 0 ? v11.s : v12.s;
		unsigned which[2] = { rows[r].first, rows[r].last };

		for (int w = 0; w < (rows[r].items > 1 ? 2 : 1); w++) {
			struct stats st;
			unsigned n = iters;

			if (r > 0 && rows[r].items > 64 && w == 1)
				n = iters / 20; /* a 500-entry walk is slow; fewer, still > 10 ms */
			for (int k = 0; k < RUNS; k++)
				v[k] = time_gets(s, rows[r].host, which[w], n);
			st = summarize(v);
			printf("| %s | %s | %.1f | %.1f | %.1f | %.0f |\n", rows[r].where,
			       w ? "last" : "first", st.p50, st.p10, st.p90, st.p50 / floor_ns);
		}
	}

	/* No syscall, no lock: lookups under strict seccomp while host 1 holds lock 3. */
	smem_hwlock_trylock(v12.h, SMEM_HWLOCK_ID, 1);
	smem_hwlock_trylock(v11.h, SMEM_HWLOCK_ID, 1);
	printf("\nlookups under strict seccomp with hwlock 3 held by host 1: %s\n",
	       lookups_without_syscalls(v12.s, rows + 1, 3) == 0 &&
				       lookups_without_syscalls(v11.s, rows, 1) == 0
			       ? "completed (no system call, no lock)"
			       : "FAILED");
	smem_hwlock_unlock(v12.h, SMEM_HWLOCK_ID, 1);
	smem_hwlock_unlock(v11.h, SMEM_HWLOCK_ID, 1);
	teardown(&v11);
	teardown(&v12);

	/* Allocation throughput: 500 items into a fresh partition / heap, per run. */
	printf("\n## smem_item_alloc()\n\n| where | allocs/s p50 | p10 | p90 | ns per alloc p50 |\n"
	       "|---|---:|---:|---:|---:|\n");
	for (int version = 11; version <= 12; version++) {
		struct stats st;

		for (int k = 0; k < RUNS; k++) {
			struct setup x;
			double t0;

			make(&x, (unsigned)version, 4u << 20);
			t0 = now_ns();
			for (unsigned i = 0; i < 500; i++)
				if (smem_item_alloc(x.s, version == 12 ? 1 : SMEM_HOST_ANY, 10 + i, 64, 0))
					abort();
			v[k] = 500 / ((now_ns() - t0) / 1e9);
			teardown(&x);
		}
		st = summarize(v);
		printf("| %s | %.0f | %.0f | %.0f | %.0f |\n",
		       version == 11 ? "global heap (v11)" : "partition (v12), grows to 500",
		       st.p50, st.p10, st.p90, 1e9 / st.p50);
	}
	return 0;
}
