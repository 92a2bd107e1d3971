// SPDX-License-Identifier: MIT
/*
 * Secure calls under contention: wait queues against qcom_scm's EBUSY retry,
 * in one run, against one smemtzd.
 *
 * Every case: N caller processes, each a client of its own, call HOLD on one
 * resource for hold_us, over and over, for --seconds. Three mechanisms:
 *
 *   waitq         the caller is parked and sleeps until its turn (WAITQ_SLEEP,
 *                 the interrupt, RESUME)
 *   ebusy         a client without wait queues, as Linux retried before them:
 *                 V2_EBUSY, 30 ms pause, at most 21 retries (22 attempts)
 *   ebusy-scaled  the same, the pause scaled down to hold_us, so that retries
 *                 come about as often as the resource frees
 *
 * Per case: completed calls a second; the callers' CPU time (getrusage: user
 * and system, interrupt thread included, connection set-up excluded) per
 * completed call; p50/p99/max latency of a call from its first post to its
 * answer; calls that failed for lack of retries. smemtzd runs on CPU 0 and
 * the callers on CPU 1, so the two do not take each other's time.
 *
 * With --json, stdout holds one JSON array, a row per case; the table goes to
 * stderr. --plot DIR draws DIR/bench-scm-latency.png with gnuplot: p99 against
 * callers, where EBUSY's lost calls and 30 ms pauses show (its p50 is the
 * lucky first attempts; a parked call's p50 is its fair place in the line).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/scm.h"

#define MAX_CALLERS 32
#define MAX_SAMPLES 200000

enum mech { M_WAITQ, M_EBUSY, M_EBUSY_SCALED };
static const char *const mech_names[] = { "waitq", "ebusy", "ebusy-scaled" };

struct caller_out {
	uint64_t completed, failed, cpu_us, nsamples;
	int64_t end_us;
	int error;
};

struct shared {
	struct caller_out out[MAX_CALLERS];
	uint32_t samples[MAX_SAMPLES]; /* latencies, us; taken by index */
	_Atomic uint64_t next_sample;
};

struct result {
	enum mech mech;
	unsigned callers, hold_us;
	double calls_per_s, cpu_us_per_call, p50, p99, max;
	uint64_t failed, completed;
};

static char tzd_path[PATH_MAX], sock[128], dir[64];
static pid_t tzd_pid;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static int64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static int start_tzd(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char note[128], buf[256];
	int nfd;

	snprintf(dir, sizeof(dir), "/tmp/bench-scm-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/tz.sock", dir);
	snprintf(note, sizeof(note), "%s/notify", dir);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, note);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	tzd_pid = fork();
	if (tzd_pid < 0)
		return -1;
	if (tzd_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(0);
		setenv("NOTIFY_SOCKET", note, 1);
		execl(tzd_path, "smemtzd", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);

		if (n <= 0)
			return -1;
		buf[n] = 0;
		if (strstr(buf, "READY=1"))
			break;
	}
	close(nfd);
	unlink(note);
	return 0;
}

static void stop_tzd(void)
{
	if (tzd_pid > 0) {
		kill(tzd_pid, SIGTERM);
		waitpid(tzd_pid, NULL, 0);
	}
	unlink(sock);
	rmdir(dir);
}

/* One caller: HOLD(0, hold_us) until the deadline, every latency kept while there is room. */
static int caller_main(struct shared *sh, unsigned k, enum mech m, unsigned hold_us, int ready_fd,
		       int go_fd, int64_t seconds_us)
{
	struct caller_out *o = &sh->out[k];
	struct smem_scm_opts opts;
	struct smem_scm *s;
	uint64_t args[3] = { 2, 0, hold_us };
	int64_t cpu0, deadline;
	char c;

	pin(1);
	smem_scm_opts_init(&opts);
	if (m != M_WAITQ)
		opts.flags = SMEM_SCM_NO_WAITQ;
	if (m == M_EBUSY_SCALED)
		opts.ebusy_wait_us = hold_us;
	o->error = smem_scm_connect(sock, &opts, &s);
	if (o->error)
		return 1;
	/* Connected; everyone starts when the parent closes the pipe. */
	c = 'r';
	if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) < 0)
		return 2;
	cpu0 = cpu_us();
	deadline = now_us() + seconds_us;
	while (now_us() < deadline) {
		struct smem_scm_res res;
		int64_t t0 = now_us();
		int r = smem_scm_call(s, SMEM_SCM_FN_HOLD, args, 3, &res);
		uint64_t i;

		if (r == -EBUSY) {
			o->failed++;
			continue;
		}
		if (r < 0 || res.a0 != 0) {
			o->error = r < 0 ? r : (int)res.a0;
			break;
		}
		o->completed++;
		i = atomic_fetch_add_explicit(&sh->next_sample, 1, memory_order_relaxed);
		if (i < MAX_SAMPLES)
			sh->samples[i] = (uint32_t)(now_us() - t0);
	}
	o->end_us = now_us();
	o->cpu_us = (uint64_t)(cpu_us() - cpu0);
	smem_scm_close(s);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int run_case(enum mech m, unsigned callers, unsigned hold_us, double seconds,
		    struct result *res)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[MAX_CALLERS];
	int go[2], ready[2];
	int64_t start, end = 0;
	uint64_t cpu = 0, n;

	if (sh == MAP_FAILED || pipe(go) < 0 || pipe(ready) < 0)
		return -1;
	for (unsigned k = 0; k < callers; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(go[1]);
			close(ready[0]);
			_exit(caller_main(sh, k, m, hold_us, ready[1], go[0], (int64_t)(seconds * 1e6)));
		}
	}
	close(go[0]);
	close(ready[1]);
	/* Every caller connected (or gone: its status says why below). */
	for (unsigned k = 0; k < callers; k++) {
		char c;

		if (read(ready[0], &c, 1) != 1)
			break;
	}
	close(ready[0]);
	start = now_us();
	close(go[1]);
	*res = (struct result){ .mech = m, .callers = callers, .hold_us = hold_us };
	for (unsigned k = 0; k < callers; k++) {
		int st;

		waitpid(pids[k], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || sh->out[k].error) {
			fprintf(stderr, "bench-scm: caller %u: exit 0x%x, error %d\n", k, st,
				sh->out[k].error);
			munmap(sh, sizeof(*sh));
			return -1;
		}
		res->completed += sh->out[k].completed;
		res->failed += sh->out[k].failed;
		cpu += sh->out[k].cpu_us;
		if (sh->out[k].end_us > end)
			end = sh->out[k].end_us;
	}
	n = atomic_load(&sh->next_sample);
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	qsort(sh->samples, n, sizeof(sh->samples[0]), cmp_u32);
	res->calls_per_s = res->completed / ((double)(end - start) / 1e6);
	res->cpu_us_per_call = res->completed ? (double)cpu / (double)res->completed : INFINITY;
	res->p50 = n ? sh->samples[n / 2] : NAN;
	res->p99 = n ? sh->samples[(n * 99) / 100] : NAN;
	res->max = n ? sh->samples[n - 1] : NAN;
	munmap(sh, sizeof(*sh));
	return 0;
}

static void plot(const char *out_dir, const struct result *rs, size_t n)
{
	char dat[] = "/tmp/bench-scm-plot-XXXXXX";
	int fd = mkstemp(dat);
	FILE *f, *g;

	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	/* One block per (mechanism, hold): callers, p50, p99. */
	for (int m = 0; m < 3; m++)
		for (unsigned h = 10; h <= 1000; h *= 10) {
			fprintf(f, "\"%s %u us\"\n", mech_names[m], h);
			for (size_t i = 0; i < n; i++)
				if ((int)rs[i].mech == m && rs[i].hold_us == h)
					fprintf(f, "%u %.0f %.0f\n", rs[i].callers, rs[i].p50, rs[i].p99);
			fprintf(f, "\n\n");
		}
	fclose(f);
	g = popen("gnuplot 2>&1", "w");
	if (!g) {
		unlink(dat);
		return;
	}
	fprintf(g,
		"set terminal pngcairo size 1100,600 font ',10' noenhanced\n"
		"set output '%s/bench-scm-latency.png'\n"
		"set title 'Secure-call latency p99 against callers contending for one resource (us, log scale)'\n"
		"set xlabel 'concurrent callers'\nset ylabel 'us'\nset logscale xy\n"
		"set xtics (2, 8, 32)\nset grid\nset key outside right\n"
		"plot for [i=0:8] '%s' index i using 1:3 with linespoints title columnheader(1)\n",
		out_dir, dat);
	pclose(g);
	unlink(dat);
}

int main(int argc, char **argv)
{
	static const unsigned callers[] = { 2, 8, 32 }, holds[] = { 10, 100, 1000 };
	struct result rs[27];
	const char *plot_dir = NULL;
	double seconds = 1.0;
	bool json = false;
	int only_mech = -1, only_callers = -1, only_hold = -1;
	size_t n = 0;
	FILE *t;

	snprintf(tzd_path, sizeof(tzd_path), "%s/../tzd/smemtzd", dirname(strdup(argv[0])));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--plot") && i + 1 < argc) {
			plot_dir = argv[++i];
		} else if (!strcmp(argv[i], "--mechanism") && i + 1 < argc) {
			i++;
			for (int m = 0; m < 3; m++)
				if (!strcmp(argv[i], mech_names[m]))
					only_mech = m;
			if (only_mech < 0) {
				fprintf(stderr, "bench-scm: --mechanism takes waitq, ebusy or ebusy-scaled\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--callers") && i + 1 < argc) {
			only_callers = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--hold") && i + 1 < argc) {
			only_hold = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--smemtzd") && i + 1 < argc) {
			snprintf(tzd_path, sizeof(tzd_path), "%s", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: bench-scm [--json] [--seconds S] [--plot DIR] [--smemtzd PATH]\n"
				"                 [--mechanism M] [--callers 2|8|32] [--hold 10|100|1000]\n");
			return 2;
		}
	}
	if (seconds <= 0 || seconds > 60) {
		fprintf(stderr, "bench-scm: --seconds takes (0, 60]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (start_tzd() < 0) {
		fprintf(stderr, "bench-scm: cannot start %s\n", tzd_path);
		return 1;
	}
	t = json ? stderr : stdout;
	fprintf(t, "secure calls: callers contending for one resource, %.1f s a case; smemtzd on "
		   "CPU 0, callers on CPU 1\n", seconds);
	fprintf(t, "%-13s %7s %7s %11s %12s %9s %9s %9s %7s\n", "mechanism", "callers", "hold_us",
		"calls/s", "cpu_us/call", "p50_us", "p99_us", "max_us", "failed");
	for (int m = 0; m < 3; m++)
		for (size_t c = 0; c < 3; c++)
			for (size_t h = 0; h < 3; h++) {
				struct result *r = &rs[n];

				if ((only_mech >= 0 && only_mech != m) ||
				    (only_callers >= 0 && only_callers != (int)callers[c]) ||
				    (only_hold >= 0 && only_hold != (int)holds[h]))
					continue;
				if (run_case((enum mech)m, callers[c], holds[h], seconds, r) < 0) {
					stop_tzd();
					return 1;
				}
				n++;
				fprintf(t, "%-13s %7u %7u %11.0f %12.1f %9.0f %9.0f %9.0f %7lu\n",
					mech_names[m], r->callers, r->hold_us, r->calls_per_s,
					r->cpu_us_per_call, r->p50, r->p99, r->max,
					(unsigned long)r->failed);
				fflush(t);
			}
	/* The targets: per case, the CPU ratio to each EBUSY variant and the throughput ratio. */
	if (n == 27) {
		fprintf(t, "\nwait queues against EBUSY retry, same callers and hold:\n");
		fprintf(t, "%7s %7s %16s %16s %19s %19s\n", "callers", "hold_us", "cpu ebusy/waitq",
			"cpu scaled/waitq", "calls/s waitq/ebusy", "calls/s waitq/scaled");
		for (size_t i = 0; i < 9; i++) {
			const struct result *w = &rs[i], *e = &rs[9 + i], *s = &rs[18 + i];

			fprintf(t, "%7u %7u %16.1f %16.1f %19.2f %19.2f\n", w->callers, w->hold_us,
				e->cpu_us_per_call / w->cpu_us_per_call,
				s->cpu_us_per_call / w->cpu_us_per_call, w->calls_per_s / e->calls_per_s,
				w->calls_per_s / s->calls_per_s);
		}
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf("%s\n  {\"mechanism\": \"%s\", \"callers\": %u, \"hold_us\": %u, "
			       "\"calls_per_s\": %.1f, \"cpu_us_per_call\": %.2f, \"p50_us\": %.0f, "
			       "\"p99_us\": %.0f, \"max_us\": %.0f, \"failed\": %lu}",
			       i ? "," : "", mech_names[rs[i].mech], rs[i].callers, rs[i].hold_us,
			       rs[i].calls_per_s, isfinite(rs[i].cpu_us_per_call) ? rs[i].cpu_us_per_call : -1,
			       isnan(rs[i].p50) ? -1 : rs[i].p50, isnan(rs[i].p99) ? -1 : rs[i].p99,
			       isnan(rs[i].max) ? -1 : rs[i].max, (unsigned long)rs[i].failed);
		printf("\n]\n");
	}
	if (plot_dir)
		plot(plot_dir, rs, n);
	stop_tzd();
	return 0;
}
