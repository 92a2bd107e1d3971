// SPDX-License-Identifier: MIT
/*
 * Threads of two processes contend for one lock of a shared bank, and each
 * critical section rewrites a block of plain (non-atomic) memory in a shared
 * region: no update may be lost and no section may see another's half-written
 * block. Then a holder process is SIGKILLed and a waiter must own the lock with
 * SMEM_HWLOCK_RECOVERED. A plain program rather than a Criterion test, so that
 * it runs under ThreadSanitizer too (Criterion cannot), which then checks that
 * the lock orders the threads' plain accesses within each process.
 *
 * No wait here has a fallback: with SMEMKIT_HWLOCK_NO_FALLBACK=1 (as meson sets)
 * a lost wake-up hangs, and the test's timeout fails it.
 *
 * usage: test-hwlock-threads [ROUNDS]
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/region.h"

#define THREADS 2
#define WORDS   32
#define LOCK    3
#define KILLED  5

/* The shared block the lock guards: plain memory, on purpose. */
struct guarded {
	uint64_t count;
	uint64_t block[WORDS];
};

struct worker {
	struct smem_hwlock *h;
	struct guarded *g;
	unsigned host, rounds;
	int failed;
};

static void *work(void *p)
{
	struct worker *w = p;

	for (unsigned i = 0; i < w->rounds; i++) {
		int r = smem_hwlock_lock(w->h, LOCK, w->host, 60000, 0);

		if (r != 0) {
			fprintf(stderr, "host %u: lock: %d\n", w->host, r);
			w->failed = 1;
			return NULL;
		}
		for (unsigned k = 0; k < WORDS; k++) {
			if (w->g->block[k] != w->g->count) {
				fprintf(stderr, "host %u: word %u is %llu inside the section, not %llu\n",
					w->host, k, (unsigned long long)w->g->block[k],
					(unsigned long long)w->g->count);
				w->failed = 1;
			}
		}
		w->g->count++;
		for (unsigned k = 0; k < WORDS; k++)
			w->g->block[k] = w->g->count;
		r = smem_hwlock_unlock(w->h, LOCK, w->host);
		if (r != 0) {
			fprintf(stderr, "host %u: unlock: %d\n", w->host, r);
			w->failed = 1;
			return NULL;
		}
		if (w->failed)
			return NULL;
	}
	return NULL;
}

static int open_bank(struct smem_region *lr, struct smem_hwlock **ret)
{
	struct smem_hwlock_opts o;

	smem_hwlock_opts_init(&o);
	o.region = lr;
	return smem_hwlock_open(NULL, &o, ret);
}

/* THREADS threads of this process, as hosts @first_host, @first_host + 2, ... */
static int contend(struct smem_region *lr, struct guarded *g, unsigned first_host, unsigned rounds)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct smem_hwlock *h;
	int failed = 0;

	if (open_bank(lr, &h) < 0)
		return 1;
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ h, g, first_host + 2 * i, rounds, 0 };
		if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
			return 1;
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		failed |= w[i].failed;
	}
	smem_hwlock_close(h);
	return failed;
}

/*
 * A holder of lock KILLED that dies by SIGKILL once told to take the lock. It is
 * forked before any thread exists (ThreadSanitizer cannot follow a fork of a
 * process with threads); @cmd tells it to go, @ready says it holds the lock.
 */
static pid_t spawn_holder(struct smem_region *lr, int *cmd, int *ready)
{
	int c[2], rd[2];
	struct smem_hwlock *h;
	char x;
	pid_t pid;

	if (pipe(c) < 0 || pipe(rd) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(c[0]);
		close(rd[1]);
		*cmd = c[1];
		*ready = rd[0];
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(c[1]);
	close(rd[0]);
	if (read(c[0], &x, 1) != 1 || open_bank(lr, &h) < 0 || smem_hwlock_trylock(h, KILLED, 7) != 0)
		_exit(1);
	if (write(rd[1], "h", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* The holder dies; a waiter gets its lock, told to repair. */
static int killed_holder(struct smem_region *lr, pid_t pid, int cmd, int ready)
{
	struct smem_hwlock *h;
	int st, r;
	char c;

	if (write(cmd, "t", 1) != 1 || read(ready, &c, 1) != 1 || open_bank(lr, &h) < 0)
		return 1;
	kill(pid, SIGKILL);
	r = smem_hwlock_lock(h, KILLED, 8, 60000, SMEM_HWLOCK_BUST_DEAD);
	if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st)) {
		fprintf(stderr, "the holder did not die by its signal\n");
		return 1;
	}
	if (r != SMEM_HWLOCK_RECOVERED) {
		fprintf(stderr, "the waiter on a killed holder's lock got %d, not SMEM_HWLOCK_RECOVERED\n", r);
		return 1;
	}
	r = smem_hwlock_unlock(h, KILLED, 8);
	smem_hwlock_close(h);
	return r != 0;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
	struct smem_region *lr, *gr;
	struct guarded *g;
	int st, failed, cmd, ready;
	pid_t pid, holder;

	if (smem_region_memfd("hwlock-threads-bank", SMEM_HWLOCK_BANK_SIZE(SMEM_HWLOCK_DEFAULT_STRIDE),
			      &lr) < 0 ||
	    smem_hwlock_format(smem_region_base(lr), smem_region_size(lr),
			       SMEM_HWLOCK_DEFAULT_STRIDE) < 0 ||
	    smem_region_memfd("hwlock-threads-data", sizeof(*g), &gr) < 0) {
		fprintf(stderr, "test-hwlock-threads: cannot make the bank or the data\n");
		return 1;
	}
	g = smem_region_base(gr);
	/* Fork before any thread exists: each child is a whole process of its own. */
	holder = spawn_holder(lr, &cmd, &ready);
	if (holder < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(contend(lr, g, 2, rounds));
	}
	failed = contend(lr, g, 1, rounds);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "the other process's threads failed\n");
		failed = 1;
	}
	if (g->count != 2ull * THREADS * rounds) {
		fprintf(stderr, "%llu sections counted, not %llu: the lock let two in at once\n",
			(unsigned long long)g->count, 2ull * THREADS * rounds);
		failed = 1;
	}
	printf("contention: %llu sections by %u threads of 2 processes: %s\n",
	       (unsigned long long)g->count, 2 * THREADS, failed ? "FAILED" : "ok");
	if (killed_holder(lr, holder, cmd, ready)) {
		printf("killed holder: FAILED\n");
		failed = 1;
	} else {
		printf("killed holder: ok\n");
	}
	smem_region_close(gr);
	smem_region_close(lr);
	return failed;
}
