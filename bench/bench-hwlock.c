// SPDX-License-Identifier: MIT
/*
 * What the hardware spinlock costs, against the machine's floor and its peers,
 * all measured in one run with the two sides pinned to CPU 0 and CPU 1.
 *
 *  1. Uncontended lock + unlock, ns per pair: smem_hwlock_trylock/unlock and
 *     smem_hwlock_lock/unlock, against a bare CAS spinlock (a compare-and-swap
 *     on a word in a memfd mapping, released by a plain release store) and a
 *     process-shared robust pthread mutex in the same kind of mapping.
 *  2. Contended hand-off between two processes: the holder waits until the
 *     other side has announced that it is about to lock, optionally keeps the
 *     lock a while longer (so that the waiter is spinning or asleep), stamps
 *     the time and unlocks; the waiter stamps the time it got the lock. The
 *     roles then swap. Hand-off latency is the difference; round trips per
 *     second count two hand-offs. Holds of 0, 10 us (the hwlock waiter still
 *     spins) and 200 us (it sleeps on the futex, and so does the mutex's).
 *     The floor is a cache-line ping-pong (one word, each side waiting for the
 *     other's value) measured at the start and the end of the run and around
 *     each row, because the host moves the vCPUs between physical cores, which
 *     changes the cost of a cache-line transfer severalfold (~30, ~75 or
 *     ~440 ns a round trip); the output names the regime it saw.
 *  3. Time from SIGKILL of a holder to a waiter owning the lock: the hwlock with
 *     SMEM_HWLOCK_BUST_DEAD (both processes registered in the host table)
 *     against the robust mutex's EOWNERDEAD path. The holder stamps the time
 *     just before raise(SIGKILL); the waiter stamps the time it owns the lock.
 *
 * Every figure is a distribution: p50, p90, p99 (or max) over many samples.
 * Output: a Markdown table, or with --json one JSON array of objects;
 * --quick makes a short smoke run. On a shared machine the ms-scale tails of
 * the sleeping rows are other processes' time slices, not the locks.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/region.h"

#define STRIDE	      64u
#define LOCK_PINGPONG 0u /* hwlock ids: parts 1 and 2 */
#define LOCK_KILL     1u /* part 3 */
#define HOST_A	      0u /* the parent */
#define HOST_B	      1u /* the child */
#define HOST_WAITER   2u /* the parent in part 3 */
#define MAX_HANDOFFS  40000u

/* Run sizes; --quick divides them for a smoke run. */
static unsigned n_samples = 301;  /* part 1: samples per method */
static unsigned n_batch = 4000;	  /* part 1: lock+unlock pairs per sample */
static unsigned n_floor = 301;	  /* floor: samples of FLOOR_RTTS round trips */
static unsigned n_floor_row = 31; /* the same, just before each hand-off row */
static unsigned n_kills = 300;	  /* part 3: kills per method */
#define FLOOR_RTTS 200u

static bool json;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-hwlock: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static bool pinned_ok = true;

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		pinned_ok = false;
}

/* ---- statistics ---------------------------------------------------------- */

struct dist {
	double p50, p90, p99, max;
	size_t n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double q)
{
	return sorted[(size_t)(q * (double)(n - 1) + 0.5)];
}

static struct dist summarize(double *v, size_t n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return (struct dist){pct(v, n, 0.5), pct(v, n, 0.9), pct(v, n, 0.99), v[n - 1], n};
}

/* ---- results ------------------------------------------------------------- */

struct row {
	const char *section, *name, *unit;
	struct dist d;
	double rate;	      /* part 2: round trips per second, 1 / median round trip */
	double rate_overall;  /* part 2: round trips per second, count / elapsed time */
	const char *baseline; /* name of the row the ratio is taken against */
	double ratio;	      /* d.p50 / baseline p50 */
	double floor_before;  /* part 2: the cache-line round trip just before the row */
	double floor_after;   /* ... and just after it */
	double ratio_floor;   /* part 2: d.p50 / one cache-line transfer (mean floor / 2) */
	unsigned failures;    /* samples that went wrong (reported, excluded) */
};

static struct row rows[64];
static unsigned n_rows;

static struct row *add_row(const char *section, const char *name, const char *unit, struct dist d)
{
	struct row *r = &rows[n_rows++];

	*r = (struct row){.section = section, .name = name, .unit = unit, .d = d};
	return r;
}

static const struct row *find_row(const char *section, const char *name)
{
	for (unsigned i = 0; i < n_rows; i++)
		if (!strcmp(rows[i].section, section) && !strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

static void set_ratio(struct row *r, const char *baseline_name)
{
	const struct row *b = find_row(r->section, baseline_name);

	r->baseline = baseline_name;
	r->ratio = b && b->d.p50 > 0 ? r->d.p50 / b->d.p50 : 0;
}

/* ---- the shared mapping --------------------------------------------------- */

struct side_flag {
	alignas(64) _Atomic uint32_t v;
};

struct shared {
	alignas(64) _Atomic uint32_t spin;  /* the bare CAS spinlock */
	alignas(64) pthread_mutex_t mutex;  /* robust, process-shared */
	alignas(64) _Atomic uint32_t line;  /* the cache-line ping-pong */
	struct side_flag waiting[2];	    /* hand-off round a side is about to lock for */
	alignas(64) _Atomic uint32_t got;   /* hand-offs completed */
	alignas(64) int64_t t_release;	    /* written under the lock being measured */
	alignas(64) _Atomic uint32_t ready; /* start barrier */
	alignas(64) _Atomic uint32_t go;
	alignas(64) _Atomic int64_t t_kill; /* part 3: the holder's last stamp */
	_Atomic uint32_t held;		    /* part 3: the holder has the lock */
	_Atomic uint32_t waiter_in;	    /* part 3: the waiter is about to lock */
	_Atomic uint32_t child_err;
	alignas(64) int64_t lat[MAX_HANDOFFS]; /* hand-off latencies, ns, by round */
	int64_t t_acq[MAX_HANDOFFS];	       /* when the taker of each round owned the lock */
};

static struct shared *sh;
static struct smem_hwlock *bank;

/* ---- the bare CAS spinlock (baseline) ------------------------------------ */

static inline void spin_lock(_Atomic uint32_t *w)
{
	uint32_t expected = 0;

	/* S1: take the lock; acquire pairs with the release store S2. */
	while (!atomic_compare_exchange_weak_explicit(w, &expected, 1, memory_order_acquire,
						      memory_order_relaxed)) {
		expected = 0;
		/* S3: wait with plain loads (a hint, S1 decides); no pairing. */
		while (atomic_load_explicit(w, memory_order_relaxed) != 0)
			cpu_relax();
	}
}

static inline void spin_unlock(_Atomic uint32_t *w)
{
	/* S2: release what was written under the lock; pairs with S1. */
	atomic_store_explicit(w, 0, memory_order_release);
}

static void mutex_init_robust(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int err;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	err = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	if (err)
		die("pthread_mutex_init", err);
}

/* ---- the lock kinds under test -------------------------------------------- */

enum kind { K_SPIN, K_SMEM_TRY, K_SMEM, K_MUTEX, K_COUNT };

static const char *const kind_name[K_COUNT] = {
    [K_SPIN] = "bare CAS spinlock",
    [K_SMEM_TRY] = "smem hwlock trylock",
    [K_SMEM] = "smem hwlock lock",
    [K_MUTEX] = "robust pthread mutex",
};

static void kind_lock(enum kind k, unsigned host)
{
	int r = 0;

	switch (k) {
	case K_SPIN:
		spin_lock(&sh->spin);
		return;
	case K_SMEM_TRY:
		while ((r = smem_hwlock_trylock(bank, LOCK_PINGPONG, host)) == -EBUSY)
			cpu_relax();
		break;
	case K_SMEM:
		r = smem_hwlock_lock(bank, LOCK_PINGPONG, host, 10000, 0);
		break;
	case K_MUTEX:
		r = pthread_mutex_lock(&sh->mutex);
		r = -r;
		break;
	default:
		break;
	}
	if (r)
		die("lock", r);
}

static void kind_unlock(enum kind k, unsigned host)
{
	int r = 0;

	switch (k) {
	case K_SPIN:
		spin_unlock(&sh->spin);
		return;
	case K_SMEM_TRY:
	case K_SMEM:
		r = smem_hwlock_unlock(bank, LOCK_PINGPONG, host);
		break;
	case K_MUTEX:
		r = -pthread_mutex_unlock(&sh->mutex);
		break;
	default:
		break;
	}
	if (r)
		die("unlock", r);
}

/* ---- part 1: uncontended -------------------------------------------------- */

/* One sample: ns per lock+unlock pair over a batch. Each kind's loop is its own
 * code, so the baseline's inlined CAS is not slowed by a dispatch. */
static double batch_ns(enum kind k)
{
	int64_t t0 = now_ns();

	switch (k) {
	case K_SPIN:
		for (unsigned i = 0; i < n_batch; i++) {
			spin_lock(&sh->spin);
			spin_unlock(&sh->spin);
		}
		break;
	case K_SMEM_TRY:
		for (unsigned i = 0; i < n_batch; i++) {
			if (smem_hwlock_trylock(bank, LOCK_PINGPONG, HOST_A) < 0)
				die("trylock", EBUSY);
			smem_hwlock_unlock(bank, LOCK_PINGPONG, HOST_A);
		}
		break;
	case K_SMEM:
		for (unsigned i = 0; i < n_batch; i++) {
			if (smem_hwlock_lock(bank, LOCK_PINGPONG, HOST_A, 1000, 0) < 0)
				die("lock", ETIMEDOUT);
			smem_hwlock_unlock(bank, LOCK_PINGPONG, HOST_A);
		}
		break;
	case K_MUTEX:
		for (unsigned i = 0; i < n_batch; i++) {
			pthread_mutex_lock(&sh->mutex);
			pthread_mutex_unlock(&sh->mutex);
		}
		break;
	default:
		break;
	}
	return (double)(now_ns() - t0) / n_batch;
}

static void part_uncontended(void)
{
	double *v[K_COUNT];
	struct row *r;

	for (int k = 0; k < K_COUNT; k++) {
		v[k] = calloc(n_samples, sizeof(double));
		if (!v[k])
			die("calloc", ENOMEM);
		batch_ns(k); /* warm the code and the line */
	}
	/* Interleave the kinds, so that a noisy moment hits all of them alike. */
	for (unsigned s = 0; s < n_samples; s++)
		for (int k = 0; k < K_COUNT; k++)
			v[k][s] = batch_ns(k);
	for (int k = 0; k < K_COUNT; k++) {
		r = add_row("uncontended", kind_name[k], "ns/pair", summarize(v[k], n_samples));
		set_ratio(r, kind_name[K_SPIN]);
		free(v[k]);
	}
}

/* ---- the floor: cache-line ping-pong -------------------------------------- */

static void start_barrier_child(void)
{
	/* G1: tell the parent this side is pinned and waiting; pairs with G2. */
	atomic_store_explicit(&sh->ready, 1, memory_order_release);
	/* G3: wait for the start; pairs with G4. */
	while (!atomic_load_explicit(&sh->go, memory_order_acquire))
		cpu_relax();
}

static void start_barrier_parent(void)
{
	/* G2: the child is ready; pairs with G1. */
	while (!atomic_load_explicit(&sh->ready, memory_order_acquire))
		cpu_relax();
	/* G4: start; pairs with G3. */
	atomic_store_explicit(&sh->go, 1, memory_order_release);
}

/* Before a fork, which orders these stores for the child. */
static void reset_barrier(void)
{
	atomic_store_explicit(&sh->ready, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->go, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->child_err, 0, memory_order_relaxed);
}

static void wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child failed", EIO);
}

/* Each side waits for the other's value on one word and answers with the next. */
static void floor_side(unsigned me, unsigned rounds)
{
	for (uint32_t v = me; v < 2 * rounds; v += 2) {
		/* F1: wait for the peer's value; acquire pairs with its F2. */
		while (atomic_load_explicit(&sh->line, memory_order_acquire) != v)
			cpu_relax();
		/* F2: answer; release pairs with the peer's F1. */
		atomic_store_explicit(&sh->line, v + 1, memory_order_release);
	}
}

/* The round trip of one cache line between CPU 0 and CPU 1, ns, over @samples samples. */
static struct dist measure_floor(unsigned samples)
{
	double *v = calloc(samples, sizeof(double));
	struct dist d;
	pid_t pid;

	if (!v)
		die("calloc", ENOMEM);
	reset_barrier();
	atomic_store_explicit(&sh->line, 0, memory_order_relaxed); /* before the fork */
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		pin_cpu(1);
		start_barrier_child();
		floor_side(1, FLOOR_RTTS * (samples + 1));
		_exit(0);
	}
	start_barrier_parent();
	floor_side(0, FLOOR_RTTS); /* warm-up */
	for (unsigned s = 0; s < samples; s++) {
		int64_t t0 = now_ns();

		/* The word carries on counting from where the last sample left it. */
		for (uint32_t i = 0, base = 2 * FLOOR_RTTS * (s + 1); i < FLOOR_RTTS; i++) {
			uint32_t want = base + 2 * i;

			while (atomic_load_explicit(&sh->line, memory_order_acquire) !=
			       want) /* F1 */
				cpu_relax();
			atomic_store_explicit(&sh->line, want + 1, memory_order_release); /* F2 */
		}
		v[s] = (double)(now_ns() - t0) / FLOOR_RTTS;
	}
	wait_child(pid);
	d = summarize(v, samples);
	free(v);
	return d;
}

/* ---- part 2: contended hand-off ------------------------------------------- */

/*
 * Round k: side k % 2 holds the lock and hands it to the other side. The taker
 * waits until the last hand-off is complete, announces k + 1 in waiting[], then
 * locks; the holder waits for the announcement, keeps the lock hold_ns longer,
 * stamps t_release and unlocks. The taker's latency is its stamp after locking
 * minus t_release, which it reads under the lock. Round trips per second
 * include the two flag transfers of the protocol.
 */
static void handoff_side(enum kind k, unsigned me, unsigned rounds, int64_t hold_ns)
{
	unsigned host = me ? HOST_B : HOST_A, peer = !me;

	for (unsigned r = 0; r < rounds; r++) {
		if (r % 2 == me) {
			/* W2: wait for the taker's announcement; pairs with W1. */
			while (atomic_load_explicit(&sh->waiting[peer].v, memory_order_acquire) !=
			       r + 1)
				cpu_relax();
			if (hold_ns) {
				int64_t until = now_ns() + hold_ns;

				while (now_ns() < until)
					cpu_relax();
			}
			sh->t_release = now_ns();
			kind_unlock(k, host);
		} else {
			/*
			 * W3: the last hand-off is complete (the peer owns the lock), so
			 * the lock below cannot take the lock back before the peer got
			 * it; acquire pairs with W4.
			 */
			while (atomic_load_explicit(&sh->got, memory_order_acquire) != r)
				cpu_relax();
			/* W1: announce; release pairs with the holder's W2. */
			atomic_store_explicit(&sh->waiting[me].v, r + 1, memory_order_release);
			kind_lock(k, host);
			sh->t_acq[r] = now_ns();
			sh->lat[r] = sh->t_acq[r] - sh->t_release;
			/* W4: this hand-off is complete; pairs with the peer's W3. */
			atomic_store_explicit(&sh->got, r + 1, memory_order_release);
		}
	}
}

static struct row *part_handoff(enum kind k, int64_t hold_ns, unsigned rounds, const char *name)
{
	double *v;
	int64_t t0, t1;
	struct row *r;
	pid_t pid;

	if (rounds > MAX_HANDOFFS)
		rounds = MAX_HANDOFFS;
	rounds &= ~1u; /* even: the parent takes the last hand-off and ends holding */
	reset_barrier();
	/* Before the fork, which orders these stores for the child. */
	atomic_store_explicit(&sh->waiting[0].v, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->waiting[1].v, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->got, 0, memory_order_relaxed);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		pin_cpu(1);
		start_barrier_child();
		handoff_side(k, 1, rounds, hold_ns);
		_exit(0);
	}
	/* Round 0 starts with the parent holding, taken before the child may lock. */
	kind_lock(k, HOST_A);
	start_barrier_parent();
	t0 = now_ns();
	handoff_side(k, 0, rounds, hold_ns);
	t1 = now_ns();
	kind_unlock(k, HOST_A);
	wait_child(pid);

	v = calloc(rounds, sizeof(double));
	if (!v)
		die("calloc", ENOMEM);
	for (unsigned i = 0; i < rounds; i++)
		v[i] = (double)sh->lat[i];
	r = add_row("handoff", name, "ns", summarize(v, rounds));
	r->rate_overall = (rounds / 2) / ((double)(t1 - t0) / 1e9);
	/* A round trip is two hand-offs: from one acquisition to the same side's next. */
	for (unsigned i = 0; i + 2 < rounds; i++)
		v[i] = (double)(sh->t_acq[i + 2] - sh->t_acq[i]);
	r->rate = 1e9 / summarize(v, rounds - 2).p50;
	free(v);
	return r;
}

/* ---- part 3: SIGKILL of the holder ---------------------------------------- */

/* A holder dies at a random point 2-4 ms after the waiter started to wait. */
static void kill_holder(bool smem, unsigned seed)
{
	struct timespec d = {0, 2000000 + (long)(seed % 2000) * 1000};
	int err;

	pin_cpu(1);
	if (smem) {
		err = smem_hwlock_host_register(bank, HOST_B);
		if (err == 0)
			err = smem_hwlock_trylock(bank, LOCK_KILL, HOST_B);
	} else {
		err = -pthread_mutex_lock(&sh->mutex);
	}
	if (err) {
		/* Read by the parent after it sees this process exit. */
		atomic_store_explicit(&sh->child_err, (uint32_t)-err, memory_order_relaxed);
		_exit(1);
	}
	/* K1: the lock is held; pairs with K2. */
	atomic_store_explicit(&sh->held, 1, memory_order_release);
	/* K3: the waiter is on its way into the lock call; pairs with K4. */
	while (!atomic_load_explicit(&sh->waiter_in, memory_order_acquire))
		cpu_relax();
	nanosleep(&d, NULL);
	/*
	 * K5: the stamp; pairs with K6, the waiter's load once it owns the lock,
	 * which it can only do after this process's exit (the kill comes after).
	 */
	atomic_store_explicit(&sh->t_kill, now_ns(), memory_order_seq_cst);
	raise(SIGKILL);
	_exit(2);
}

static struct row *part_kill(bool smem)
{
	double *v = calloc(n_kills, sizeof(double));
	unsigned fails = 0, n = 0;
	struct row *r;

	if (!v)
		die("calloc", ENOMEM);
	for (unsigned i = 0; i < n_kills; i++) {
		unsigned seed = (unsigned)rand();
		int64_t t_own;
		pid_t pid;
		int ret, st;

		/* Reset before the fork, which orders these stores for the child. */
		atomic_store_explicit(&sh->held, 0, memory_order_relaxed);
		atomic_store_explicit(&sh->waiter_in, 0, memory_order_relaxed);
		atomic_store_explicit(&sh->t_kill, 0, memory_order_relaxed);
		pid = fork();
		if (pid < 0)
			die("fork", errno);
		if (pid == 0)
			kill_holder(smem, seed);
		/* K2: wait until the holder has the lock; pairs with K1. */
		while (!atomic_load_explicit(&sh->held, memory_order_acquire)) {
			/* The child wrote its error before it exited; waitpid orders that. */
			if (waitpid(pid, &st, WNOHANG) == pid)
				die("holder failed", (int)atomic_load_explicit(
							 &sh->child_err, memory_order_relaxed));
			cpu_relax();
		}
		/* K4: announce the wait; pairs with K3. */
		atomic_store_explicit(&sh->waiter_in, 1, memory_order_release);
		if (smem) {
			ret = smem_hwlock_lock(bank, LOCK_KILL, HOST_WAITER, 10000,
						     SMEM_HWLOCK_BUST_DEAD);
			t_own = now_ns();
			if (ret >= 0)
				smem_hwlock_unlock(bank, LOCK_KILL, HOST_WAITER);
			ret = ret == SMEM_HWLOCK_RECOVERED ? 0 : (ret ? ret : -EPROTO);
		} else {
			ret = pthread_mutex_lock(&sh->mutex);
			t_own = now_ns();
			if (ret == EOWNERDEAD) {
				pthread_mutex_consistent(&sh->mutex);
				ret = 0;
			} else if (ret == 0) {
				ret = -EPROTO;
			} else {
				ret = -ret;
			}
			if (ret != -ENOTRECOVERABLE)
				pthread_mutex_unlock(&sh->mutex);
		}
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (ret == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			/* K6: pairs with K5. */
			v[n++] = (double)(t_own -
					  atomic_load_explicit(&sh->t_kill, memory_order_seq_cst));
		else
			fails++;
	}
	if (n == 0)
		die("every kill measurement failed", EIO);
	r = add_row("kill",
		    smem ? "smem hwlock, SMEM_HWLOCK_BUST_DEAD"
			 : "robust pthread mutex, EOWNERDEAD",
		    "us", summarize(v, n));
	r->d.p50 /= 1000;
	r->d.p90 /= 1000;
	r->d.p99 /= 1000;
	r->d.max /= 1000;
	r->failures = fails;
	free(v);
	return r;
}

/* ---- output --------------------------------------------------------------- */

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "re");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	/* Keep the three averages; drop the run queue and last pid. */
	for (int i = 0, fields = 0; buf[i]; i++)
		if (buf[i] == ' ' && ++fields == 3) {
			buf[i] = '\0';
			break;
		}
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * The cache-line regimes of this kind of host, by round trip: the two vCPUs on
 * SMT siblings of one core (~30 ns), on cores sharing a cache (~75 ns), or on
 * distant cores (~440 ns).
 */
static const char *regime(double rtt_ns)
{
	return rtt_ns < 45    ? "same core (SMT siblings, ~30 ns class)"
	       : rtt_ns < 200 ? "near (cores share a cache, ~75 ns class)"
	       : rtt_ns < 300 ? "between the known regimes"
			      : "far (vCPUs on distant cores, ~440 ns class)";
}

/* A row whose floor moved between before and after: its ratio to the floor is unsure. */
static bool floor_moved(const struct row *r)
{
	double lo = r->floor_before < r->floor_after ? r->floor_before : r->floor_after;
	double hi = r->floor_before < r->floor_after ? r->floor_after : r->floor_before;

	return hi > 1.5 * lo;
}

static void print_markdown(struct dist f0, struct dist f1, const char *load0, const char *load1)
{
	printf("# bench-hwlock\n\n");
	printf("CPUs: parent on 0, child on 1%s. Load average before: %s; after: %s.\n\n",
	       pinned_ok ? "" : " (pinning FAILED, numbers are unpinned)", load0, load1);
	printf("Cache-line round trip (floor): start p50 %.0f ns (p90 %.0f), end p50 %.0f ns "
	       "(p90 %.0f). Regime at the start: %s; at the end: %s.\n\n",
	       f0.p50, f0.p90, f1.p50, f1.p90, regime(f0.p50), regime(f1.p50));

	printf("## 1. Uncontended lock + unlock (one process, CPU 0)\n\n");
	printf("| lock | p50 ns/pair | p90 | p99 | ratio to bare CAS (p50) "
	       "|\n|---|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];

		if (strcmp(r->section, "uncontended"))
			continue;
		printf("| %s | %.1f | %.1f | %.1f | %.2f |\n", r->name, r->d.p50, r->d.p90,
		       r->d.p99, r->ratio);
	}

	printf("\n## 2. Contended hand-off between two processes (CPU 0 <-> CPU 1)\n\n");
	printf("Latency: holder's stamp before unlock to taker's stamp after lock. Floor: one "
	       "cache-line transfer, half the round trip measured just before and just after "
	       "the row; * marks a row during which the vCPUs moved (the two differ by more "
	       "than 1.5x), whose ratio to the floor is unsure.\n\n");
	printf("Round trips/s: 1 / the median round trip (two hand-offs and the protocol's two "
	       "flag transfers); in brackets, all round trips / elapsed time, which counts "
	       "every preemption by the machine's other load.\n\n");
	printf(
	    "| lock, holder keeps it after the taker arrives | round trips/s | hand-off p50 ns | "
	    "p90 | p99 | ratio to bare CAS (p50) | floor rtt ns, before/after | "
	    "ratio to floor (p50) |\n"
	    "|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];

		if (strcmp(r->section, "handoff"))
			continue;
		printf("| %s | %.0f (%.0f) | %.0f | %.0f | %.0f | %.2f | %.0f/%.0f | %.1f%s |\n",
		       r->name, r->rate, r->rate_overall, r->d.p50, r->d.p90, r->d.p99, r->ratio,
		       r->floor_before, r->floor_after, r->ratio_floor, floor_moved(r) ? " *" : "");
	}

	printf("\n## 3. SIGKILL of the holder until the waiter owns the lock\n\n");
	printf("| recovery | samples | p50 us | p90 us | max us | ratio to robust mutex (p50) |\n"
	       "|---|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];

		if (strcmp(r->section, "kill"))
			continue;
		printf("| %s | %zu%s | %.0f | %.0f | %.0f | %.2f |\n", r->name, r->d.n,
		       r->failures ? " (some failed)" : "", r->d.p50, r->d.p90, r->d.max, r->ratio);
	}
}

static void print_json(struct dist f0, struct dist f1, const char *load0, const char *load1)
{
	printf(
	    "[\n  {\"section\": \"machine\", \"pinned\": %s, \"loadavg_before\": \"%s\", "
	    "\"loadavg_after\": \"%s\", \"floor_rtt_ns_start\": {\"p50\": %.1f, \"p90\": %.1f, "
	    "\"p99\": %.1f}, \"floor_rtt_ns_end\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f}, "
	    "\"regime_start\": \"%s\", \"regime_end\": \"%s\"}",
	    pinned_ok ? "true" : "false", load0, load1, f0.p50, f0.p90, f0.p99, f1.p50, f1.p90,
	    f1.p99, regime(f0.p50), regime(f1.p50));
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];

		printf(",\n  {\"section\": \"%s\", \"name\": \"%s\", \"unit\": \"%s\", "
		       "\"samples\": %zu, "
		       "\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"max\": %.2f",
		       r->section, r->name, r->unit, r->d.n, r->d.p50, r->d.p90, r->d.p99,
		       r->d.max);
		if (r->rate > 0)
			printf(
			    ", \"round_trips_per_s\": %.0f, \"round_trips_per_s_overall\": %.0f, "
			    "\"floor_rtt_ns_before\": %.1f, \"floor_rtt_ns_after\": %.1f, "
			    "\"ratio_to_floor\": %.3f, \"floor_moved\": %s",
			    r->rate, r->rate_overall, r->floor_before, r->floor_after,
			    r->ratio_floor, floor_moved(r) ? "true" : "false");
		if (r->baseline)
			printf(", \"baseline\": \"%s\", \"ratio\": %.3f", r->baseline, r->ratio);
		if (r->failures)
			printf(", \"failures\": %u", r->failures);
		printf("}");
	}
	printf("\n]\n");
}

/* ---- main ----------------------------------------------------------------- */

static void setup(void)
{
	struct smem_region *r, *br;
	size_t bank_size = SMEM_HWLOCK_BANK_SIZE(STRIDE);
	struct smem_hwlock_opts bo;
	int err;

	err = smem_region_memfd("bench-hwlock", (sizeof(struct shared) + 4095) & ~(size_t)4095, &r);
	if (err < 0)
		die("smem_region_memfd", err);
	sh = smem_region_base(r);
	mutex_init_robust(&sh->mutex);

	err = smem_region_memfd("bench-hwlock-bank", bank_size, &br);
	if (err == 0) {
		smem_hwlock_opts_init(&bo);
		bo.flags = SMEM_HWLOCK_CREATE;
		bo.stride = STRIDE;
		bo.region = br;
		err = smem_hwlock_open(NULL, &bo, &bank);
	}
	if (err == 0)
		err = smem_hwlock_host_register(bank, HOST_WAITER);
	if (err < 0)
		die("hwlock bank", err);
}

int main(int argc, char **argv)
{
	static const int64_t holds[] = {0, 10000, 200000};
	static const char *const hold_names[][3] = {
	    {"bare CAS spinlock, hold 0", "smem hwlock lock, hold 0",
	     "robust pthread mutex, hold 0"},
	    {"bare CAS spinlock, hold 10 us", "smem hwlock lock, hold 10 us",
	     "robust pthread mutex, hold 10 us"},
	    {"bare CAS spinlock, hold 200 us", "smem hwlock lock, hold 200 us",
	     "robust pthread mutex, hold 200 us"},
	};
	static const unsigned hold_rounds[] = {20000, 4000, 800};
	static const enum kind handoff_kinds[] = {K_SPIN, K_SMEM, K_MUTEX};
	char load0[128], load1[128];
	struct dist f0, f1;
	unsigned div = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--quick")) {
			div = 10;
		} else {
			fprintf(stderr, "usage: %s [--json] [--quick]\n", argv[0]);
			return 2;
		}
	}
	n_samples /= div;
	n_batch /= div;
	n_floor /= div;
	n_floor_row = n_floor_row / div + 1;
	n_kills /= div;
	srand((unsigned)now_ns());
	loadavg(load0, sizeof(load0));
	setup();
	pin_cpu(0);

	if (!json)
		fprintf(stderr, "bench-hwlock: floor...\n");
	f0 = measure_floor(n_floor);
	if (!json)
		fprintf(stderr, "bench-hwlock: uncontended...\n");
	part_uncontended();

	if (!json)
		fprintf(stderr, "bench-hwlock: hand-off...\n");
	for (unsigned h = 0; h < sizeof(holds) / sizeof(holds[0]); h++) {
		struct row *base = NULL;

		for (unsigned k = 0; k < 3; k++) {
			/*
			 * The vCPUs may move between cores: each row gets the floor of
			 * its moment, measured before and after it.
			 */
			double before = measure_floor(n_floor_row).p50;
			struct row *r = part_handoff(handoff_kinds[k], holds[h],
						     hold_rounds[h] / (div > 1 ? div / 2 : 1),
						     hold_names[h][k]);

			if (k == 0)
				base = r;
			set_ratio(r, base->name);
			r->floor_before = before;
			r->floor_after = measure_floor(n_floor_row).p50;
			r->ratio_floor = r->d.p50 / ((r->floor_before + r->floor_after) / 4);
		}
	}

	if (!json)
		fprintf(stderr, "bench-hwlock: SIGKILL recovery...\n");
	part_kill(false);
	set_ratio(part_kill(true), "robust pthread mutex, EOWNERDEAD");
	set_ratio((struct row *)find_row("kill", "robust pthread mutex, EOWNERDEAD"),
		  "robust pthread mutex, EOWNERDEAD");

	f1 = measure_floor(n_floor);
	loadavg(load1, sizeof(load1));
	if (json)
		print_json(f0, f1, load0, load1);
	else
		print_markdown(f0, f1, load0, load1);
	return 0;
}
