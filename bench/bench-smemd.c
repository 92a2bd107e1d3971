// SPDX-License-Identifier: MIT
/*
 * What the resource manager costs, against baselines measured in the same run,
 * with this process on CPU 0 and smemd (and the killed hosts) on CPU 1:
 *
 *   rpc             one VM_GET_STATE call through smemd, against
 *   seqpacket       a bare request/reply ping-pong on a SEQPACKET socketpair
 *                   between two processes (the floor of any RPC on a socket);
 *   register        connect, REGISTER, map the image and the bank, close;
 *   kill_to_acquire a waiter on lock 3 with SMEM_HWLOCK_BUST_DEAD (as an
 *                   allocator with SMEM_OPEN_BUST_DEAD waits) owns it after
 *                   its holder host is SIGKILLed, against
 *   robust_mutex    the same with a process-shared robust pthread mutex
 *                   (EOWNERDEAD);
 *   kill_to_acquire_via_smemd  the same waiter without the policy, which
 *                   waits for smemd to hand the dead host's lock on;
 *   crash_to_clean  from that SIGKILL until this waiter owns the lock and has
 *                   been told VM_EXITED by smemd: smemd's whole crash path;
 *   restart         smemd (under smemd --supervise) SIGKILLed: until a
 *                   registered host's next call is served again by the new
 *                   smemd, which took the memory up (the host reconnects and
 *                   registers by itself);
 *   rss             smemd's resident memory with 64 hosts and 1000 queues.
 *
 * Every timing is a distribution (p50, p99, max). The holder stamps the time
 * just before it raises SIGKILL, 500 us after the waiter started waiting, so
 * that the waiters of every kind are asleep by then. With --json: one JSON array, a row per
 * measurement (name, n, p50_us, p99_us, max_us; kib for rss).
 *
 * usage: bench-smemd [--json] [--kills N] [--calls N] [--smemd PATH]
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/rm.h"

static bool json;
static unsigned n_kills = 1000, n_calls = 20000;
static char smemd_path[PATH_MAX], sock[128], dir[64];

struct row {
	const char *name;
	size_t n;
	double p50, p99, max; /* us */
	long kib;
};
static struct row rows[16];
static unsigned n_rows;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-smemd: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void add(const char *name, double *ns, size_t n)
{
	struct row *r = &rows[n_rows++];

	qsort(ns, n, sizeof(*ns), cmp);
	*r = (struct row){ name, n, ns[n / 2] / 1000, ns[(size_t)((double)(n - 1) * 0.99)] / 1000,
			   ns[n - 1] / 1000, 0 };
}

static pid_t start_smemd(const char *config)
{
	pid_t pid;

	snprintf(dir, sizeof(dir), "/tmp/bench-smemd-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(sock, sizeof(sock), "%s/rm.sock", dir);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(1);
		unsetenv("NOTIFY_SOCKET");
		if (config)
			execl(smemd_path, "smemd", "--socket", sock, "--config", config, (char *)NULL);
		else
			execl(smemd_path, "smemd", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	/* Ready when a connection is accepted: try until it is (no sleep: a yield). */
	for (;;) {
		struct smem_rm *rm;
		int st;

		if (smem_rm_connect(sock, -1, &rm) == 0) {
			smem_rm_close(rm);
			break;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			die("smemd did not start", ECHILD);
		sched_yield();
	}
	return pid;
}

static void stop_smemd(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(sock);
	rmdir(dir);
}

/* ---- rpc against a bare SEQPACKET ping-pong ------------------------------ */

static void bench_rpc(void)
{
	struct smem_rm_state st;
	struct smem_rm *rm;
	double *v = calloc(n_calls, sizeof(*v));
	int sv[2];
	pid_t pid;

	if (smem_rm_connect(sock, 0, &rm) < 0)
		die("register as apps", EIO);
	for (unsigned i = 0; i < n_calls / 10; i++) /* warm */
		smem_rm_get_state(rm, 0, &st);
	for (unsigned i = 0; i < n_calls; i++) {
		int64_t t = now_ns();

		if (smem_rm_get_state(rm, 0, &st) < 0)
			die("VM_GET_STATE", EIO);
		v[i] = (double)(now_ns() - t);
	}
	add("rpc", v, n_calls);
	smem_rm_close(rm);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", errno);
	pid = fork();
	if (pid == 0) {
		uint8_t b[64];

		pin(1);
		close(sv[0]);
		for (;;) {
			ssize_t n = recv(sv[1], b, sizeof(b), 0);

			if (n <= 0 || send(sv[1], b, 12, 0) != 12)
				_exit(0);
		}
	}
	close(sv[1]);
	for (unsigned i = 0; i < n_calls + n_calls / 10; i++) {
		uint8_t req[12] = { 0x21, 0x01 }, rep[64];
		int64_t t = now_ns();

		if (send(sv[0], req, sizeof(req), 0) != sizeof(req) || recv(sv[0], rep, sizeof(rep), 0) <= 0)
			die("ping-pong", errno);
		if (i >= n_calls / 10)
			v[i - n_calls / 10] = (double)(now_ns() - t);
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	add("seqpacket", v, n_calls);
	free(v);
}

static void bench_register(void)
{
	unsigned n = 1000;
	double *v = calloc(n, sizeof(*v));

	for (unsigned i = 0; i < n; i++) {
		struct smem_rm *rm;
		int64_t t = now_ns();

		/* adsp: the kills below need the modem free for their holders. */
		if (smem_rm_connect(sock, 2, &rm) < 0)
			die("register", EIO);
		smem_rm_close(rm);
		v[i] = (double)(now_ns() - t);
	}
	add("register", v, n);
	free(v);
}

/* The serving smemd under @sup: its one child. */
static pid_t worker_of(pid_t sup)
{
	char path[64], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)sup, (int)sup);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	return (pid_t)atoi(buf);
}

static void bench_restart(unsigned n)
{
	double *v = calloc(n, sizeof(*v));
	struct smem_rm_state st;
	struct smem_rm *rm;
	pid_t sup;

	snprintf(dir, sizeof(dir), "/tmp/bench-smemd-XXXXXX");
	if (!v || !mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(sock, sizeof(sock), "%s/rm.sock", dir);
	sup = fork();
	if (sup == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(1);
		unsetenv("NOTIFY_SOCKET");
		execl(smemd_path, "smemd", "--supervise", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	while (smem_rm_connect(sock, 2, &rm) < 0)
		sched_yield();
	for (unsigned i = 0; i < n; i++) {
		pid_t w;
		int64_t t;

		while ((w = worker_of(sup)) <= 0)
			sched_yield();
		t = now_ns();
		kill(w, SIGKILL);
		for (;;) {
			int r = smem_rm_get_state(rm, 0, &st);
			struct pollfd p = { smem_rm_fd(rm), POLLIN, 0 };

			if (r == 0)
				break;
			if (r != -ECONNREFUSED && r != -ENOENT && r != -ECONNRESET)
				die("a call after the restart", -r);
			/* Woken when smemd renames its socket into place. */
			poll(&p, 1, 100);
		}
		v[i] = (double)(now_ns() - t);
		/* The old worker is reaped by the supervisor; wait until a new one serves. */
	}
	add("restart", v, n);
	smem_rm_close(rm);
	kill(sup, SIGTERM);
	waitpid(sup, NULL, 0);
	unlink(sock);
	rmdir(dir);
	free(v);
}

/* ---- kills ----------------------------------------------------------------- */

struct shared {
	_Atomic int64_t t_kill;
	pthread_mutex_t mutex;
};

/* The holder: take the lock (hwlock as modem, or the mutex), say so, wait for 'k', die. */
static void holder(struct shared *sh, bool smem, int ready, int go)
{
	struct smem_rm *rm = NULL;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pin(1);
	if (smem) {
		if (smem_rm_connect(sock, 1, &rm) < 0 || smem_hwlock_trylock(smem_rm_hwlock(rm), 3, 1))
			_exit(1);
	} else if (pthread_mutex_lock(&sh->mutex) != 0) {
		_exit(1);
	}
	if (write(ready, "h", 1) != 1 || read(go, &c, 1) != 1)
		_exit(1);
	/* Hold on 500 us more, so that every waiter has gone to sleep, as in bench-hwlock. */
	for (int64_t t = now_ns(); now_ns() - t < 500000;)
		;
	/* K1: the kill time, read by the waiter in K2 after it saw the death. */
	atomic_store(&sh->t_kill, now_ns());
	raise(SIGKILL);
}

static void bench_kills(bool smem, bool policy, struct shared *sh)
{
	double *own = calloc(n_kills, sizeof(*own)), *clean = calloc(n_kills, sizeof(*clean));
	struct smem_rm *rm = NULL;
	pthread_mutexattr_t ma;
	unsigned n = 0;

	if (smem) {
		if (smem_rm_connect(sock, 0, &rm) < 0)
			die("register as apps", EIO);
	} else {
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&sh->mutex, &ma);
	}
	for (unsigned k = 0; k < n_kills; k++) {
		int ready[2], go[2], r, st;
		int64_t t_own, t_note = 0, t_kill;
		pid_t pid;
		char c;

		if (pipe(ready) < 0 || pipe(go) < 0)
			die("pipe", errno);
		pid = fork();
		if (pid == 0)
			holder(sh, smem, ready[1], go[0]);
		close(ready[1]);
		close(go[0]);
		if (read(ready[0], &c, 1) != 1)
			die("the holder did not take the lock", EIO);
		if (write(go[1], "k", 1) != 1)
			die("write", errno);
		if (smem) {
			r = smem_hwlock_lock(smem_rm_hwlock(rm), 3, 0, 10000,
					     policy ? SMEM_HWLOCK_BUST_DEAD : 0);
			t_own = now_ns();
			if (r != SMEM_HWLOCK_RECOVERED)
				die("the waiter did not get the lock with the repair signal", r < 0 ? r : EIO);
			smem_hwlock_unlock(smem_rm_hwlock(rm), 3, 0);
			/* Then smemd's word: VM_EXITED for the modem. */
			while (!t_note) {
				struct smem_rm_notification note;
				struct pollfd p = { smem_rm_fd(rm), POLLIN, 0 };

				while (smem_rm_notification(rm, &note) == 0)
					if (note.msg_id == SMEM_RM_NOTIF_VM_EXITED && note.vmid == smem_rm_vmid(1))
						t_note = now_ns();
				if (!t_note && poll(&p, 1, 10000) != 1)
					die("no VM_EXITED within 10 s", ETIMEDOUT);
			}
		} else {
			r = pthread_mutex_lock(&sh->mutex);
			t_own = now_ns();
			if (r != EOWNERDEAD)
				die("the mutex did not say EOWNERDEAD", r ? r : EIO);
			pthread_mutex_consistent(&sh->mutex);
			pthread_mutex_unlock(&sh->mutex);
		}
		waitpid(pid, &st, 0);
		close(ready[0]);
		close(go[1]);
		/* K2: pairs with K1; the holder's death (waitpid) came after its store. */
		t_kill = atomic_load(&sh->t_kill);
		own[n] = (double)(t_own - t_kill);
		clean[n] = (double)((t_note > t_own ? t_note : t_own) - t_kill);
		n++;
	}
	if (smem && policy) {
		add("kill_to_acquire", own, n);
		smem_rm_close(rm);
	} else if (smem) {
		add("kill_to_acquire_via_smemd", own, n);
		add("crash_to_clean", clean, n);
		smem_rm_close(rm);
	} else {
		add("robust_mutex", own, n);
	}
	free(own);
	free(clean);
}

/* ---- memory with 64 hosts and 1000 queues --------------------------------- */

static void bench_rss(void)
{
	char cfg[] = "/tmp/bench-smemd-conf-XXXXXX", path[64], line[256];
	struct smem_rm *rm[64];
	long kib = -1;
	FILE *f;
	int fd = mkstemp(cfg);
	pid_t pid;

	f = fdopen(fd, "w");
	fprintf(f, "[smemd]\nsize = 2M\n");
	for (unsigned i = 0; i < 64; i++)
		fprintf(f, "[host h%u]\nid = %u\n", i, i);
	fclose(f);
	pid = start_smemd(cfg);
	for (unsigned i = 0; i < 64; i++)
		if (smem_rm_connect(sock, (int)i, &rm[i]) < 0)
			die("register 64 hosts", EIO);
	for (unsigned q = 0; q < 500; q++) {
		uint64_t tx, rx;

		/* Spread over the hosts: each may make a bounded number of pairs. */
		if (smem_rm_msgq_create(rm[q % 63], smem_rm_vmid(1 + q % 63), q, 8, 240, 0, &tx,
					&rx) < 0)
			die("create 1000 queues", EIO);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	for (unsigned i = 0; i < 64; i++)
		smem_rm_close(rm[i]);
	stop_smemd(pid);
	unlink(cfg);
	rows[n_rows++] = (struct row){ .name = "rss", .n = 1, .kib = kib };
}

static const struct row *row(const char *name)
{
	for (unsigned i = 0; i < n_rows; i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct shared *sh;
	pid_t pid;

	snprintf(smemd_path, sizeof(smemd_path), "%s/../daemon/smemd", dirname(strdup(argv[0])));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--kills") && i + 1 < argc)
			n_kills = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			n_calls = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--smemd") && i + 1 < argc)
			snprintf(smemd_path, sizeof(smemd_path), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: bench-smemd [--json] [--kills N] [--calls N] [--smemd PATH]\n");
			return 2;
		}
	}
	if (n_kills < 1 || n_calls < 10)
		return 2;
	pin(0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap", errno);
	pid = start_smemd(NULL);
	bench_rpc();
	bench_register();
	bench_kills(false, false, sh);
	bench_kills(true, true, sh);
	bench_kills(true, false, sh);
	stop_smemd(pid);
	bench_restart(n_kills < 200 ? n_kills : 200);
	bench_rss();

	if (json) {
		fputs("[", stdout);
		for (unsigned i = 0; i < n_rows; i++) {
			const struct row *r = &rows[i];

			if (r->kib)
				printf("%s\n  {\"name\": \"%s\", \"n\": %zu, \"kib\": %ld}", i ? "," : "",
				       r->name, r->n, r->kib);
			else
				printf("%s\n  {\"name\": \"%s\", \"n\": %zu, \"p50_us\": %.2f, "
				       "\"p99_us\": %.2f, \"max_us\": %.2f}",
				       i ? "," : "", r->name, r->n, r->p50, r->p99, r->max);
		}
		puts("\n]");
		return 0;
	}
	printf("| measurement | n | p50 us | p99 us | max us |\n|---|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];

		if (r->kib)
			printf("| %s | %zu | %ld KiB | | |\n", r->name, r->n, r->kib);
		else
			printf("| %s | %zu | %.1f | %.1f | %.1f |\n", r->name, r->n, r->p50, r->p99,
			       r->max);
	}
	printf("\nrpc / seqpacket (p50): %.2f (target <= 1.5)\n",
	       row("rpc")->p50 / row("seqpacket")->p50);
	printf("kill_to_acquire / robust_mutex (p50): %.2f (target <= 2); via smemd: %.2f\n",
	       row("kill_to_acquire")->p50 / row("robust_mutex")->p50,
	       row("kill_to_acquire_via_smemd")->p50 / row("robust_mutex")->p50);
	printf("crash_to_clean: p50 %.0f us (target <= 1000), max %.0f us (target <= 10000)\n",
	       row("crash_to_clean")->p50, row("crash_to_clean")->max);
	return 0;
}
