// SPDX-License-Identifier: MIT
/*
 * smemtzd and its client, with real processes: a smemtzd of each test's own,
 * ready once its sd_notify datagram says so, and forked children as callers.
 * What a caller sees: a call that must wait sleeps (WAITQ_SLEEP, in its
 * stats) and completes once what it waits for is let go, burning no CPU
 * meanwhile; WAKE_ALL wakes every sleeper of its context and no other; a
 * caller without wait queues retries EBUSY and gives up after 22 attempts; a
 * caller killed while parked leaves nobody parked behind it; and smemtzd
 * killed under a call is a clear error, not a hang.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../helpers.h"
#include "smemkit/scm.h"

static char dir[64], sock[128];
static pid_t tzd_pid;

/* smemtzd on the test's socket, once it says it is ready. */
static void spawn_tzd(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *exe = getenv("SMEMTZD");
	char note[128], buf[256];
	int nfd;

	cr_assert(exe, "SMEMTZD names the smemtzd to test");
	snprintf(note, sizeof(note), "%s/notify", dir);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, note);
	cr_assert_eq(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	tzd_pid = fork();
	cr_assert_geq(tzd_pid, 0);
	if (tzd_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", note, 1);
		execl(exe, "smemtzd", "--socket", sock, "--wq-cnt", "2", "--resume-timeout-ms", "200",
		      (char *)NULL);
		_exit(127);
	}
	for (;;) {
		ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);

		cr_assert_gt(n, 0, "smemtzd's readiness");
		buf[n] = 0;
		if (strstr(buf, "READY=1"))
			break;
	}
	close(nfd);
	unlink(note);
}

static void start_tzd(void)
{
	snprintf(dir, sizeof(dir), "/tmp/smemtzd-test-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/tz.sock", dir);
	setenv("SMEMKIT_TZ_SOCKET", sock, 1);
	spawn_tzd();
}

static void stop_tzd(void)
{
	if (tzd_pid > 0) {
		kill(tzd_pid, SIGTERM);
		waitpid(tzd_pid, NULL, 0);
		tzd_pid = 0;
	}
	unlink(sock);
	rmdir(dir);
}

TestSuite(scm, .init = start_tzd, .fini = stop_tzd, .timeout = 60);

static struct smem_scm *connect_client(unsigned flags, unsigned wait_us, unsigned retries)
{
	struct smem_scm_opts o;
	struct smem_scm *s;

	smem_scm_opts_init(&o);
	o.flags = flags;
	if (wait_us)
		o.ebusy_wait_us = wait_us;
	if (retries)
		o.ebusy_retries = retries;
	cr_assert_eq(smem_scm_connect(NULL, &o, &s), 0);
	return s;
}

static struct smem_scm_res call(struct smem_scm *s, uint32_t fn, uint64_t a2, uint64_t a3)
{
	uint64_t args[3] = { 2, a2, a3 };
	struct smem_scm_res res;

	cr_assert_eq(smem_scm_call(s, fn, args, 3, &res), 0, "call 0x%x", fn);
	return res;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Until smemtzd says resource (kind 0) or event (kind 1) @n has @parked parked, and a holder if @held. */
static void wait_for(struct smem_scm *s, unsigned kind, unsigned n, bool held, uint64_t parked)
{
	for (;;) {
		struct smem_scm_res q = call(s, SMEM_SCM_FN_QUERY, kind, n);

		if ((!held || q.a1 != 0) && q.a2 == parked)
			return;
		sched_yield();
	}
}

Test(scm, the_service_answers_and_refuses_what_it_does_not_know)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_res r;

	cr_assert_eq(smem_scm_wq_cnt(s), 2, "GET_INFO's wq_cnt");
	r = call(s, SMEM_SCM_FN_GET_INFO, 0, 0);
	cr_assert_eq(r.a0, 0);
	cr_assert_eq(r.a1 & 0xff, 2);
	r = call(s, SMEM_SCM_FN_HOLD, 3, 0);
	cr_assert_eq(r.a0, 0, "a free resource is held at once");
	r = call(s, SMEM_SCM_FN(0, 0x30, 0x7f), 0, 0);
	cr_assert_eq(r.a0, SMEM_SCM_EOPNOTSUPP, "an unknown function");
	r = call(s, SMEM_SCM_FN_HOLD, SMEM_SCM_RESOURCES, 0);
	cr_assert_eq(r.a0, SMEM_SCM_EINVAL_ARG, "a resource past the table");
	r = call(s, SMEM_SCM_FN_RESUME, 12345, 0);
	cr_assert_eq(r.a0, SMEM_SCM_EINVAL_ARG, "a context that is nobody's");
	smem_scm_close(s);
}

/*
 * A child that holds resource @r for @us on a client of its own, then reports
 * two times: the earliest its hold can have ended (a call served after it
 * returns later), and when its own call returned.
 */
struct holder {
	unsigned r, us;
	int pipe[2];
};

static int hold_main(struct holder *h)
{
	struct smem_scm *s;
	struct smem_scm_res res;
	uint64_t args[3] = { 2, h->r, h->us };
	int64_t t[2];

	if (smem_scm_connect(NULL, NULL, &s) != 0)
		return 1;
	/* The earliest its hold can end (it starts after this), and when its call returned. */
	t[0] = now_us() + h->us;
	if (smem_scm_call(s, SMEM_SCM_FN_HOLD, args, 3, &res) != 0 || res.a0 != 0)
		return 2;
	t[1] = now_us();
	if (write(h->pipe[1], t, sizeof(t)) != sizeof(t))
		return 3;
	smem_scm_close(s);
	return 0;
}

static pid_t start_holder(struct holder *h, unsigned r, unsigned us)
{
	pid_t pid;

	h->r = r;
	h->us = us;
	cr_assert_eq(pipe(h->pipe), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(hold_main(h));
	}
	close(h->pipe[1]);
	return pid;
}

static int status_of(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static int64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

Test(scm, a_call_that_must_wait_sleeps_and_resumes_when_the_resource_frees)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_stats st0, st;
	struct smem_scm_res r;
	struct holder h;
	pid_t pid = start_holder(&h, 3, 300000);
	int64_t times[2], t0, cpu0, waited, cpu;
	int w;

	wait_for(s, 0, 3, true, 0);
	cr_assert_eq(smem_scm_get_stats(s, &st0), 0);
	t0 = now_us();
	cpu0 = cpu_us();
	r = call(s, SMEM_SCM_FN_HOLD, 3, 0);
	waited = now_us() - t0;
	cpu = cpu_us() - cpu0;
	cr_assert_eq(r.a0, 0, "held once the other let go");
	cr_assert_eq(read(h.pipe[0], times, sizeof(times)), sizeof(times));
	cr_assert_geq(t0 + waited, times[0], "after the holder's hold was over");
	cr_assert_eq(smem_scm_get_stats(s, &st), 0);
	cr_assert_eq(st.sleeps - st0.sleeps, 1, "WAITQ_SLEEP once");
	cr_assert_eq(st.wakes - st0.wakes, 1, "one completion from the interrupt thread");
	cr_assert_eq(st.smcs - st0.smcs, 3, "the call, its RESUME and one GET_WQ_CTX: %lu",
		     (unsigned long)(st.smcs - st0.smcs));
	/* Asleep, not spinning: a tenth of the wait would be a busy loop's smallest share. */
	cr_assert_lt(cpu * 10, waited, "the caller's thread used %ld us of CPU in %ld us", (long)cpu,
		     (long)waited);
	w = status_of(pid);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(s);
}

/* The CPU time of process @pid so far, in microseconds, from /proc (ticks of 1/100 s here). */
static int64_t proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	cr_assert(f);
	cr_assert(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')');
	cr_assert(p);
	/* After the name: state, then fields 4..13, then utime and stime (14, 15). */
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
		     2);
	return (int64_t)(ut + st) * 1000000 / sysconf(_SC_CLK_TCK);
}

/*
 * The spec's section 6.1, with processes: a guest's call holds what HLOS's
 * call needs. HLOS's caller is answered at once and sleeps: its whole process
 * (caller and interrupt thread) uses a small share of the wait, smemtzd too,
 * and smemtzd goes on answering other calls meanwhile; HLOS's call completes
 * once the guest's is over.
 */
Test(scm, section_6_1_hlos_sleeps_while_a_guest_holds_and_nothing_spins)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct holder guest, hlos;
	pid_t g = start_holder(&guest, 11, 400000), h;
	int64_t t0, tzd0, waited, freed[2], done[2];
	struct rusage ru;
	int w;

	wait_for(s, 0, 11, true, 0);
	tzd0 = proc_cpu_us(tzd_pid);
	t0 = now_us();
	h = start_holder(&hlos, 11, 0);
	wait_for(s, 0, 11, true, 1);
	/* smemtzd is not stuck on HLOS's behalf: it answers others at once. */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(call(s, SMEM_SCM_FN_GET_INFO, 0, 0).a0, 0);
	cr_assert_eq(read(guest.pipe[0], freed, sizeof(freed)), sizeof(freed));
	cr_assert_eq(read(hlos.pipe[0], done, sizeof(done)), sizeof(done), "HLOS's call completes");
	cr_assert_geq(done[1], freed[0], "after the guest's");
	waited = now_us() - t0;
	cr_assert_eq(wait4(h, &w, 0, &ru), h);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	{
		int64_t cpu = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
			      ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
		int64_t tz = proc_cpu_us(tzd_pid) - tzd0;

		/* Connecting and the exit are in it too; a spinning thread would be all of it. */
		cr_assert_lt(cpu * 5, waited, "HLOS used %ld us of CPU in %ld us", (long)cpu,
			     (long)waited);
		cr_assert_lt(tz * 5, waited, "smemtzd used %ld us of CPU in %ld us", (long)tz,
			     (long)waited);
	}
	w = status_of(g);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(s);
}

/* A child that waits for event @e on a client of its own, and says so when it is woken. */
static pid_t start_waiter(unsigned e, int *ret_pipe)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem_scm *s;
		struct smem_scm_res res;
		uint64_t args[2] = { 1, e };
		char c = 'w';

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		if (smem_scm_connect(NULL, NULL, &s) != 0)
			_exit(1);
		if (smem_scm_call(s, SMEM_SCM_FN_EVENT_WAIT, args, 2, &res) != 0 || res.a0 != 0)
			_exit(2);
		_exit(write(p[1], &c, 1) == 1 ? 0 : 3);
	}
	close(p[1]);
	*ret_pipe = p[0];
	return pid;
}

Test(scm, wake_all_wakes_every_sleeper_of_its_context_and_no_other)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	int pipes[4], w;
	pid_t pids[4];
	char c;

	/* Events 0 and 2 sleep on context 0, event 1 on context 1. */
	pids[0] = start_waiter(0, &pipes[0]);
	pids[1] = start_waiter(0, &pipes[1]);
	pids[2] = start_waiter(0, &pipes[2]);
	pids[3] = start_waiter(1, &pipes[3]);
	wait_for(s, 1, 0, false, 3);
	wait_for(s, 1, 1, false, 1);
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 0, SMEM_SCM_WAKE_ALL).a1, 3, "three woken");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(read(pipes[i], &c, 1), 1, "sleeper %d of context 0 woke", i);
		w = status_of(pids[i]);
		cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	}
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 1, 1).a2, 1, "the other context's sleeper sleeps");
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 0, SMEM_SCM_WAKE_ALL).a1, 0, "nobody left");
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 1, SMEM_SCM_WAKE_ONE).a1, 1);
	cr_assert_eq(read(pipes[3], &c, 1), 1, "and wakes when its own event comes");
	w = status_of(pids[3]);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(s);
}

Test(scm, wake_one_wakes_the_first_sleeper_only)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	int p0, p1, w;
	pid_t a, b;
	char c;

	a = start_waiter(4, &p0);
	wait_for(s, 1, 4, false, 1);
	b = start_waiter(4, &p1);
	wait_for(s, 1, 4, false, 2);
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 4, SMEM_SCM_WAKE_ONE).a1, 1);
	cr_assert_eq(read(p0, &c, 1), 1, "the first to sleep wakes first");
	w = status_of(a);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 1, 4).a2, 1, "the second still sleeps");
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 4, SMEM_SCM_WAKE_ONE).a1, 1);
	cr_assert_eq(read(p1, &c, 1), 1);
	w = status_of(b);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(s);
}

Test(scm, without_wait_queues_ebusy_is_retried_22_times_then_fails)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	/* qcom_scm's count of attempts, at a thousandth of its pause. */
	struct smem_scm *busy = connect_client(SMEM_SCM_NO_WAITQ, 30, 21);
	struct smem_scm_stats st;
	struct smem_scm_res r;
	uint64_t args[3] = { 2, 5, 0 };
	struct holder h;
	pid_t pid = start_holder(&h, 5, 2000000);

	wait_for(s, 0, 5, true, 0);
	cr_assert_eq(smem_scm_call(busy, SMEM_SCM_FN_HOLD, args, 3, &r), -EBUSY);
	cr_assert_eq(smem_scm_get_stats(busy, &st), 0);
	cr_assert_eq(st.ebusy, 22, "22 attempts: %lu", (unsigned long)st.ebusy);
	cr_assert_eq(st.failed_busy, 1);
	cr_assert_eq(st.sleeps, 0, "nothing parked for it");
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 5).a2, 0, "and nothing left parked");
	kill(pid, SIGKILL);
	status_of(pid);
	/* Its holder gone, the resource is free again for the next attempt. */
	wait_for(s, 0, 5, false, 0);
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 5).a1, 0);
	cr_assert_eq(smem_scm_call(busy, SMEM_SCM_FN_HOLD, args, 3, &r), 0);
	cr_assert_eq(r.a0, 0);
	smem_scm_close(busy);
	smem_scm_close(s);
}

/* A child that parks behind a holder of @r and is killed there. */
Test(scm, a_caller_killed_while_parked_leaves_nobody_parked_behind_it)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct holder h, doomed;
	pid_t holder = start_holder(&h, 7, 200000), victim, next;
	struct holder after;
	int64_t freed[2], got[2];
	int w;

	wait_for(s, 0, 7, true, 0);
	victim = start_holder(&doomed, 7, 0);
	wait_for(s, 0, 7, true, 1);
	next = start_holder(&after, 7, 0);
	wait_for(s, 0, 7, true, 2);
	kill(victim, SIGKILL);
	status_of(victim);
	wait_for(s, 0, 7, true, 1);
	cr_assert_eq(read(h.pipe[0], freed, sizeof(freed)), sizeof(freed));
	cr_assert_eq(read(after.pipe[0], got, sizeof(got)), sizeof(got),
		     "the caller behind the dead one is served");
	cr_assert_geq(got[1], freed[0], "after the hold it waited for");
	w = status_of(next);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	w = status_of(holder);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 7).a1, 0, "free");
	smem_scm_close(s);
}

/*
 * Killed between its wake-up and its RESUME, while the resource is kept for
 * it: the resource goes to the next in line, who would otherwise wait forever.
 */
Test(scm, a_caller_killed_after_its_wake_up_hands_its_turn_on)
{
	struct smem_scm *s;
	struct holder h, doomed, after;
	pid_t holder, victim, next;
	int64_t got[2];
	int w;

	NEEDS_FAULT_POINTS();
	s = connect_client(0, 0, 0);
	holder = start_holder(&h, 6, 100000);
	wait_for(s, 0, 6, true, 0);
	smem__fault_arm("scm.call.woken", 1);
	victim = start_holder(&doomed, 6, 0);
	smem__fault_arm(NULL, 0);
	wait_for(s, 0, 6, true, 1);
	next = start_holder(&after, 6, 0);
	wait_for(s, 0, 6, true, 2);
	w = status_of(victim);
	cr_assert(WIFSIGNALED(w) && WTERMSIG(w) == SIGKILL, "killed at its wake-up: 0x%x", w);
	cr_assert_eq(read(after.pipe[0], got, sizeof(got)), sizeof(got),
		     "the caller behind it is served");
	w = status_of(next);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	w = status_of(holder);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(s);
}

/*
 * A caller stopped between its wake-up and its resume (a client that never
 * asks, or is not scheduled) keeps the resource only for smemtzd's resume
 * timeout (200 ms here): then the next is served, and the stopped one, let
 * go, is served in its turn.
 */
Test(scm, a_woken_caller_that_does_not_resume_loses_its_turn_not_its_call)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct holder h, stopped, after;
	pid_t holder = start_holder(&h, 10, 50000), slow, next;
	struct pollfd p;
	int64_t got[2];
	int w;

	wait_for(s, 0, 10, true, 0);
	slow = start_holder(&stopped, 10, 0);
	wait_for(s, 0, 10, true, 1);
	cr_assert_eq(kill(slow, SIGSTOP), 0);
	next = start_holder(&after, 10, 0);
	wait_for(s, 0, 10, true, 2);
	cr_assert_eq(read(after.pipe[0], got, sizeof(got)), sizeof(got),
		     "the caller behind the stopped one is served");
	p = (struct pollfd){ stopped.pipe[0], POLLIN, 0 };
	cr_assert_eq(poll(&p, 1, 0), 0, "while the stopped one is not");
	cr_assert_eq(kill(slow, SIGCONT), 0);
	cr_assert_eq(read(stopped.pipe[0], got, sizeof(got)), sizeof(got),
		     "and then it is, in its turn");
	w = status_of(slow);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	w = status_of(next);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	w = status_of(holder);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(s);
}

/*
 * A caller of @flags that calls HOLD(@r) and dies at fault point @point. The
 * hold is long: at scm.multi.wake the interrupt thread has delivered the
 * caller's own wake-up, and the caller could resume and be done before that
 * thread reaches the point; holding, it is still there when the point kills it.
 */
static pid_t start_doomed(unsigned r, unsigned flags, const char *point)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint64_t args[3] = { 2, r, 10000000 };
		struct smem_scm_opts o;
		struct smem_scm_res res;
		struct smem_scm *z;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		smem_scm_opts_init(&o);
		o.flags = flags;
		if (smem_scm_connect(NULL, &o, &z) != 0)
			_exit(2);
		smem__fault_arm(point, 1);
		smem_scm_call(z, SMEM_SCM_FN_HOLD, args, 3, &res);
		_exit(3); /* the point was never reached */
	}
	return pid;
}

/*
 * A caller killed at each fault point of the client, behind a holder: it
 * dies, and the next caller is served, with nothing left parked or kept.
 */
Test(scm, a_caller_killed_at_each_fault_point_leaves_nobody_waiting)
{
	static const struct {
		const char *point;
		unsigned flags;
		bool parks;     /* it dies once woken: the next caller parks behind it first */
	} points[] = {
		{ "scm.call.posted", 0, false },
		{ "scm.call.woken", 0, true },
		{ "scm.irq.wake", 0, true },
		{ "scm.call.woken", SMEM_SCM_MULTI_CALL, true },
		{ "scm.multi.wake", SMEM_SCM_MULTI_CALL, true },
	};
	struct smem_scm *s;

	NEEDS_FAULT_POINTS();
	s = connect_client(0, 0, 0);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		struct holder h, after;
		pid_t holder = start_holder(&h, 12, 10000000), victim, next = 0;
		int64_t got[2];
		int w;

		wait_for(s, 0, 12, true, 0);
		victim = start_doomed(12, points[i].flags, points[i].point);
		if (points[i].parks) {
			wait_for(s, 0, 12, true, 1);
			next = start_holder(&after, 12, 0);
			wait_for(s, 0, 12, true, 2);
		}
		/* The holder goes: the resource is handed on, to the victim first if it parked. */
		kill(holder, SIGKILL);
		status_of(holder);
		w = status_of(victim);
		cr_assert(WIFSIGNALED(w) && WTERMSIG(w) == SIGKILL, "%s: killed there (0x%x)",
			  points[i].point, w);
		if (!points[i].parks)
			next = start_holder(&after, 12, 0);
		cr_assert_eq(read(after.pipe[0], got, sizeof(got)), sizeof(got),
			     "%s: the next caller is served", points[i].point);
		w = status_of(next);
		cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
		wait_for(s, 0, 12, false, 0);
		cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 12).a1, 0, "%s: free", points[i].point);
		cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 12).a3, 0, "%s: kept for nobody",
			     points[i].point);
		close(h.pipe[0]);
		close(after.pipe[0]);
	}
	smem_scm_close(s);
}

Test(scm, a_holder_killed_mid_call_hands_the_resource_on)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct holder h;
	pid_t holder = start_holder(&h, 8, 10000000);
	struct smem_scm_res r;

	wait_for(s, 0, 8, true, 0);
	kill(holder, SIGKILL);
	status_of(holder);
	r = call(s, SMEM_SCM_FN_HOLD, 8, 0);
	cr_assert_eq(r.a0, 0, "the dead holder's resource is let go");
	smem_scm_close(s);
}

/* A child that calls HOLD(@r, @us) on a client of its own: exit 0 if the call returned @expect. */
static pid_t start_call(unsigned r, unsigned us, int expect)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint64_t args[3] = { 2, r, us };
		struct smem_scm_res res;
		struct smem_scm *z;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (smem_scm_connect(NULL, NULL, &z) != 0)
			_exit(2);
		_exit(smem_scm_call(z, SMEM_SCM_FN_HOLD, args, 3, &res) == expect ? 0 : 1);
	}
	return pid;
}

Test(scm, smemtzd_killed_under_a_call_is_a_clear_error_and_its_clients_connect_again)
{
	struct smem_scm *s = connect_client(0, 0, 0), *m = connect_client(SMEM_SCM_MULTI_CALL, 0, 0);
	struct smem_scm_res r;
	pid_t holder, sleeper;
	int w;

	/* One holds resource 9, one sleeps behind it, when smemtzd goes. */
	holder = start_call(9, 10000000, -ECONNRESET);
	wait_for(s, 0, 9, true, 0);
	sleeper = start_call(9, 0, -ECONNRESET);
	wait_for(s, 0, 9, true, 1);
	kill(tzd_pid, SIGKILL);
	status_of(tzd_pid);
	tzd_pid = 0;
	w = status_of(sleeper);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0, "the sleeper: -ECONNRESET (status 0x%x)", w);
	w = status_of(holder);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0, "the holder: -ECONNRESET (status 0x%x)", w);
	{
		/* The first call after may still find the old page (and fail), or try to connect. */
		int e = smem_scm_call(s, SMEM_SCM_FN_GET_INFO, NULL, 0, &r);

		cr_assert(e == -ECONNRESET || e == -ECONNREFUSED, "then: %d", e);
	}
	cr_assert_eq(smem_scm_call(s, SMEM_SCM_FN_GET_INFO, NULL, 0, &r), -ECONNREFUSED,
		     "while nobody listens, a call says so");
	{
		int e = smem_scm_call(m, SMEM_SCM_FN_NOP, NULL, 0, &r);

		cr_assert(e == -ECONNRESET || e == -ECONNREFUSED, "multi-call: %d", e);
	}
	/* A new smemtzd on the same socket: the same client is served again, by itself. */
	spawn_tzd();
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 9).a1, 0, "resource 9 is free in the new one");
	{
		struct smem_scm_stats st;

		smem_scm_get_stats(s, &st);
		cr_assert_eq(st.reconnects, 1);
		cr_assert_eq(call(m, SMEM_SCM_FN_HOLD, 9, 0).a0, SMEM_SCM_SUCCESS,
			     "a multi-call client too");
		smem_scm_get_stats(m, &st);
		cr_assert_eq(st.reconnects, 1);
	}
	holder = start_call(9, 100000, 0);
	wait_for(s, 0, 9, true, 0);
	sleeper = start_call(9, 0, 0);
	w = status_of(sleeper);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0, "a caller behind a holder is served again");
	w = status_of(holder);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0);
	smem_scm_close(m);
	smem_scm_close(s);
}

/* What smemtzd says @addr is: its owners, @vmid's rights there. */
static uint64_t owners_at(struct smem_scm *s, uint64_t addr, unsigned vmid, uint64_t *ret_perm)
{
	struct smem_scm_res r = call(s, SMEM_SCM_FN_MEM_QUERY, addr, vmid);

	if (ret_perm)
		*ret_perm = r.a2;
	return r.a1;
}

#define HLOS (1ull << SMEM_SCM_VMID_HLOS)
#define MSS  0xfu

Test(scm, assign_mem_moves_memory_and_gives_it_back)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_vmperm to_mss[2] = { { MSS, SMEM_SCM_PERM_RW },
					     { SMEM_SCM_VMID_HLOS, SMEM_SCM_PERM_READ } };
	struct smem_scm_vmperm to_hlos = { SMEM_SCM_VMID_HLOS, SMEM_SCM_PERM_RWX };
	uint64_t src = HLOS, perm, other = HLOS;

	cr_assert_eq(owners_at(s, 0x80000000, SMEM_SCM_VMID_HLOS, &perm), HLOS, "HLOS's at first");
	cr_assert_eq(perm, SMEM_SCM_PERM_RWX);
	cr_assert_eq(smem_scm_assign_mem(s, 0x80000000, 0x10000, &src, to_mss, 2), 0);
	cr_assert_eq(src, HLOS | 1ull << MSS, "the new owners come back");
	cr_assert_eq(owners_at(s, 0x80008000, MSS, &perm), src);
	cr_assert_eq(perm, SMEM_SCM_PERM_RW, "the modem may read and write");
	owners_at(s, 0x80008000, SMEM_SCM_VMID_HLOS, &perm);
	cr_assert_eq(perm, SMEM_SCM_PERM_READ, "HLOS may only read now");
	cr_assert_eq(owners_at(s, 0x80010000, MSS, NULL), HLOS, "the next page is untouched");
	cr_assert_eq(smem_scm_assign_mem(s, 0x80000000, 0x1000, &other, &to_hlos, 1), -EPERM,
		     "HLOS alone does not own it any more");
	cr_assert_eq(smem_scm_assign_mem(s, 0x80000000, 0x10000, &src, &to_hlos, 1), 0);
	cr_assert_eq(src, HLOS);
	cr_assert_eq(call(s, SMEM_SCM_FN_MEM_QUERY, 0x80000000, 3).a3, UINT64_MAX,
		     "given back whole: nothing is left assigned");
	smem_scm_close(s);
}

Test(scm, a_failed_assign_mem_changes_nothing)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_vmperm to_mss = { MSS, SMEM_SCM_PERM_RWX };
	struct smem_scm_vmperm twice[2] = { { MSS, SMEM_SCM_PERM_RW }, { MSS, SMEM_SCM_PERM_READ } };
	struct smem_scm_vmperm none = { MSS, 0 };
	uint64_t src = HLOS;

	cr_assert_eq(smem_scm_assign_mem(s, 0x10000, 0x4000, &src, &to_mss, 1), 0);
	src = HLOS;
	/* Half of it is the modem's: refused whole. */
	cr_assert_eq(smem_scm_assign_mem(s, 0xe000, 0x4000, &src, &to_mss, 1), -EPERM);
	cr_assert_eq(src, HLOS, "srcvm untouched");
	cr_assert_eq(owners_at(s, 0xe000, MSS, NULL), HLOS, "the free half stays HLOS's");
	cr_assert_eq(owners_at(s, 0x10000, MSS, NULL), 1ull << MSS, "the modem keeps its part");
	cr_assert_eq(smem_scm_assign_mem(s, 0x20001, 0x1000, &src, &to_mss, 1), -EINVAL, "unaligned");
	cr_assert_eq(smem_scm_assign_mem(s, 0x20000, 0, &src, &to_mss, 1), -EINVAL, "empty");
	cr_assert_eq(smem_scm_assign_mem(s, 0x20000, 0x1000, &src, twice, 2), -EINVAL, "twice");
	cr_assert_eq(smem_scm_assign_mem(s, 0x20000, 0x1000, &src, &none, 1), -EINVAL, "no rights");
	cr_assert_eq(smem_scm_assign_mem(s, SMEM_SCM_ASSIGN_LIMIT - 0x1000, 0x2000, &src, &to_mss, 1),
		     -EINVAL, "past the space");
	cr_assert_eq(owners_at(s, 0x20000, MSS, NULL), HLOS);
	smem_scm_close(s);
}

/* The middle of an assigned range reassigned: three ranges, each ending where the next starts. */
Test(scm, assign_mem_of_the_middle_of_a_range_splits_it)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_vmperm to_mss = { MSS, SMEM_SCM_PERM_RW };
	struct smem_scm_vmperm to_rm = { SMEM_SCM_VMID_RM_MANAGED, SMEM_SCM_PERM_RWX };
	struct smem_scm_vmperm to_hlos = { SMEM_SCM_VMID_HLOS, SMEM_SCM_PERM_RWX };
	uint64_t src = HLOS;

	cr_assert_eq(smem_scm_assign_mem(s, 0x400000, 0x8000, &src, &to_mss, 1), 0);
	src = 1ull << MSS;
	cr_assert_eq(smem_scm_assign_mem(s, 0x402000, 0x2000, &src, &to_rm, 1), 0);
	cr_assert_eq(owners_at(s, 0x400000, MSS, NULL), 1ull << MSS);
	cr_assert_eq(call(s, SMEM_SCM_FN_MEM_QUERY, 0x400000, MSS).a3, 0x402000, "the head ends");
	cr_assert_eq(owners_at(s, 0x402000, MSS, NULL), 1ull << SMEM_SCM_VMID_RM_MANAGED);
	cr_assert_eq(call(s, SMEM_SCM_FN_MEM_QUERY, 0x402000, MSS).a3, 0x404000, "the middle ends");
	cr_assert_eq(owners_at(s, 0x404000, MSS, NULL), 1ull << MSS);
	cr_assert_eq(call(s, SMEM_SCM_FN_MEM_QUERY, 0x404000, MSS).a3, 0x408000, "the tail ends");
	/* The middle back to the modem: one range again, given back whole. */
	src = 1ull << SMEM_SCM_VMID_RM_MANAGED;
	cr_assert_eq(smem_scm_assign_mem(s, 0x402000, 0x2000, &src, &to_mss, 1), 0);
	cr_assert_eq(call(s, SMEM_SCM_FN_MEM_QUERY, 0x400000, MSS).a3, 0x408000, "merged again");
	src = 1ull << MSS;
	cr_assert_eq(smem_scm_assign_mem(s, 0x400000, 0x8000, &src, &to_hlos, 1), 0);
	smem_scm_close(s);
}

/* A table full: the change that needs one more range is refused, and changes nothing. */
Test(scm, assign_mem_out_of_room_changes_nothing)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_vmperm to_mss = { MSS, SMEM_SCM_PERM_RW };
	uint64_t src;
	unsigned n = 0;
	int r;

	/* Every other page, so that none merge. */
	for (;; n++) {
		src = HLOS;
		r = smem_scm_assign_mem(s, 0x1000000 + (uint64_t)n * 0x2000, 0x1000, &src, &to_mss, 1);
		if (r != 0)
			break;
	}
	cr_assert_eq(r, -ENOMEM, "the table fills: %d after %u", r, n);
	cr_assert_geq(n, 64, "room for %u ranges", n);
	cr_assert_eq(owners_at(s, 0x1000000 + (uint64_t)n * 0x2000, MSS, NULL), HLOS,
		     "the refused page is HLOS's still");
	cr_assert_eq(owners_at(s, 0x1000000 + (uint64_t)(n - 1) * 0x2000, MSS, NULL), 1ull << MSS);
	/* Filling a gap merges three ranges into one: that needs no room. */
	src = HLOS;
	cr_assert_eq(smem_scm_assign_mem(s, 0x1001000, 0x1000, &src, &to_mss, 1), 0);
	cr_assert_eq(call(s, SMEM_SCM_FN_MEM_QUERY, 0x1000000, MSS).a3, 0x1003000, "merged");
	smem_scm_close(s);
}

/* --- the protocol by hand: a raw client of smemtzd ----------------------- */

#include <sys/mman.h>

#include "core/futex.h"
#include "rm/proto.h"
#include "scm/proto.h"

struct raw {
	int fd, doorbell, irq;
	struct smem_scm_page *page;
};

/* Register with @flags and map the page; no interrupt thread: wake-ups wait for us. */
static void raw_connect(struct raw *c, uint32_t flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t req[8], rep[64];
	int fds[3];
	unsigned nfds;

	strcpy(sa.sun_path, sock);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	memcpy(req, &(uint32_t){ SMEM_SCM_MAGIC }, 4);
	memcpy(req + 4, &flags, 4);
	cr_assert_eq(send(c->fd, req, 8, 0), 8);
	cr_assert_eq(smem__rm_recv(c->fd, rep, sizeof(rep), 0, fds, 3, &nfds), SMEM_SCM_REPLY_LEN);
	cr_assert_eq(nfds, 3);
	c->page = mmap(NULL, SMEM_SCM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	cr_assert_neq(c->page, MAP_FAILED);
	close(fds[0]);
	c->doorbell = fds[1];
	c->irq = fds[2];
}

static void raw_close(struct raw *c)
{
	munmap(c->page, SMEM_SCM_PAGE);
	close(c->fd);
	close(c->doorbell);
	close(c->irq);
}

/* Post the frame @a on @slot and return its answer (its a6 in *@a6), or, if @wait is false, only post it. */
static struct smem_scm_res raw_frame(struct raw *c, unsigned slot, const uint64_t a[8], bool wait,
				     uint64_t *a6)
{
	struct smem_scm_slot *sl = &c->page->slot[slot];
	struct smem_scm_res r = { 0 };
	uint64_t one = 1;
	uint32_t v;

	memcpy(sl->a, a, sizeof(sl->a));
	atomic_store_explicit(&sl->state, SMEM_SCM_SLOT_POSTED, memory_order_release);
	cr_assert_eq(write(c->doorbell, &one, sizeof(one)), sizeof(one));
	if (!wait)
		return r;
	while ((v = atomic_load_explicit(&sl->state, memory_order_acquire)) != SMEM_SCM_SLOT_DONE)
		smem__futex_wait(&sl->state, v, -1);
	r.a0 = (int64_t)sl->r[0];
	r.a1 = sl->r[1];
	r.a2 = sl->r[2];
	r.a3 = sl->r[3];
	if (a6)
		*a6 = sl->r6;
	return r;
}

/* Post @fn {a2, a3} on @slot and return its answer, or, if @wait is false, only post it. */
static struct smem_scm_res raw_call(struct raw *c, unsigned slot, uint64_t fn, uint64_t a2,
				    uint64_t a3, bool wait)
{
	uint64_t a[8] = { fn, 2, a2, a3 };

	return raw_frame(c, slot, a, wait, NULL);
}

/*
 * allow-multi-call: two calls of one client in flight, one parked; its
 * wake-up rides on the other, unrelated call as WAITQ_WAKE naming the parked
 * call's context, and that call goes on once it is acknowledged.
 */
Test(scm, a_multi_call_client_gets_its_wake_up_on_an_unrelated_call)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_res r, sleep;
	struct raw m;

	raw_connect(&m, SMEM_SCM_MULTI_CALL);
	sleep = raw_call(&m, 1, SMEM_SCM_FN_EVENT_WAIT, 5, 0, true);
	cr_assert_eq(sleep.a0, SMEM_SCM_WAITQ_SLEEP);
	cr_assert_eq(sleep.a1, 5 % 2, "event 5 sleeps on context 1");
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 5, SMEM_SCM_WAKE_ONE).a1, 1);
	r = raw_call(&m, 2, SMEM_SCM_FN_NOP, 0, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_WAITQ_WAKE, "the wake-up rides on the NOP");
	cr_assert_eq(r.a1, 1, "its wait-queue context");
	cr_assert_eq(r.a2, sleep.a2, "the parked call's context");
	cr_assert_eq(r.a3, SMEM_SCM_WAKE_ONE);
	r = raw_call(&m, 2, SMEM_SCM_FN_WAITQ_ACK, sleep.a2 + 1, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_EINVAL_ARG, "an ACK must name the context the WAKE named");
	r = raw_call(&m, 2, SMEM_SCM_FN_NOP, 0, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_SUCCESS, "nothing rides on it any more");
	cr_assert_eq(raw_call(&m, 1, SMEM_SCM_FN_RESUME, sleep.a2, 0, true).a0, SMEM_SCM_SUCCESS,
		     "the parked call resumes: its event came");
	/* Once more, acknowledged properly this time: the unrelated call goes on after the ACK. */
	sleep = raw_call(&m, 1, SMEM_SCM_FN_EVENT_WAIT, 4, 0, true);
	cr_assert_eq(sleep.a0, SMEM_SCM_WAITQ_SLEEP);
	call(s, SMEM_SCM_FN_EVENT_SIGNAL, 4, SMEM_SCM_WAKE_ONE);
	r = raw_call(&m, 3, SMEM_SCM_FN_QUERY, 1, 4, true);
	cr_assert_eq(r.a0, SMEM_SCM_SUCCESS, "a fast call carries no wake-up");
	r = raw_call(&m, 3, SMEM_SCM_FN_HOLD, 14, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_WAITQ_WAKE, "a HOLD does");
	r = raw_call(&m, 3, SMEM_SCM_FN_WAITQ_ACK, sleep.a2, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_SUCCESS, "and after the ACK the HOLD is done");
	cr_assert_eq(call(s, SMEM_SCM_FN_QUERY, 0, 14).a1, 0, "held for 0 us, and let go");
	cr_assert_eq(raw_call(&m, 1, SMEM_SCM_FN_RESUME, sleep.a2, 0, true).a0, SMEM_SCM_SUCCESS);
	raw_close(&m);
	smem_scm_close(s);
}

/*
 * A client that did not ask for multi-call is served one call at a time, and
 * its wake-ups come through GET_WQ_CTX, never on its calls.
 */
Test(scm, a_single_call_client_is_served_one_call_at_a_time)
{
	struct smem_scm *s = connect_client(0, 0, 0);
	struct smem_scm_res r, sleep;
	struct raw m;
	uint64_t n;

	raw_connect(&m, 0);
	sleep = raw_call(&m, 1, SMEM_SCM_FN_EVENT_WAIT, 6, 0, true);
	cr_assert_eq(sleep.a0, SMEM_SCM_WAITQ_SLEEP);
	r = raw_call(&m, 2, SMEM_SCM_FN_EVENT_WAIT, 7, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_V2_EBUSY, "a second call while one is parked");
	cr_assert_eq(call(s, SMEM_SCM_FN_EVENT_SIGNAL, 6, SMEM_SCM_WAKE_ONE).a1, 1);
	cr_assert_eq(read(m.irq, &n, sizeof(n)), sizeof(n), "its interrupt is raised");
	r = raw_call(&m, 2, SMEM_SCM_FN_NOP, 0, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_V2_EBUSY, "another call is still busy, and carries no WAITQ_WAKE");
	r = raw_call(&m, 0, SMEM_SCM_FN_GET_WQ_CTX, 0, 0, true);
	cr_assert_eq(r.a0, SMEM_SCM_SUCCESS);
	cr_assert_eq(r.a1, 0, "context 0");
	cr_assert_eq(r.a2, SMEM_SCM_WAKE_ONE);
	cr_assert_eq(r.a3, 0, "nothing more pending");
	cr_assert_eq(raw_call(&m, 1, SMEM_SCM_FN_RESUME, sleep.a2, 0, true).a0, SMEM_SCM_SUCCESS);
	raw_close(&m);
	smem_scm_close(s);
}

/* Threads of one multi-call client, several calls in flight at once: all complete. */
struct mthread {
	struct smem_scm *s;
	int bad;
};

static void *mwork(void *arg)
{
	struct mthread *m = arg;

	for (int i = 0; i < 50; i++) {
		uint64_t args[3] = { 2, 15, 200 };
		struct smem_scm_res r;

		if (smem_scm_call(m->s, SMEM_SCM_FN_HOLD, args, 3, &r) != 0 || r.a0 != 0)
			m->bad++;
	}
	return NULL;
}

Test(scm, threads_of_a_multi_call_client_are_in_flight_together)
{
	struct smem_scm *s = connect_client(SMEM_SCM_MULTI_CALL, 0, 0);
	struct smem_scm *q = connect_client(0, 0, 0);
	struct smem_scm_stats st;
	struct mthread m[6];
	struct holder h;
	pthread_t t[6];
	pid_t holder = start_holder(&h, 15, 10000000);

	/* All six park behind a holder: six calls of one client in flight at once. */
	wait_for(q, 0, 15, true, 0);
	for (int i = 0; i < 6; i++) {
		m[i] = (struct mthread){ .s = s };
		pthread_create(&t[i], NULL, mwork, &m[i]);
	}
	wait_for(q, 0, 15, true, 6);
	kill(holder, SIGKILL);
	status_of(holder);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(m[i].bad, 0, "thread %d: every call succeeded", i);
	}
	cr_assert_eq(smem_scm_get_stats(s, &st), 0);
	cr_assert_eq(st.ebusy, 0, "never refused for being in flight together");
	cr_assert_geq(st.sleeps, 6);
	smem_scm_close(q);
	smem_scm_close(s);
}

/*
 * Connections that never register cannot lock the clients out: each new one
 * takes the place of the oldest of them. When every place is a registered
 * client's, the next is told -EUSERS.
 */
Test(scm, idle_connections_cannot_lock_clients_out_and_a_full_service_says_so)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct smem_scm *cl[64];
	struct smem_scm *extra;
	int idle[64];

	strcpy(sa.sun_path, sock);
	for (int i = 0; i < 64; i++) {
		idle[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(idle[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (int i = 0; i < 64; i++)
		cr_assert_eq(smem_scm_connect(NULL, NULL, &cl[i]), 0, "client %d registers", i);
	{
		int r = smem_scm_connect(NULL, NULL, &extra);

		cr_assert_eq(r, -EUSERS, "the 65th is told why: %d", r);
	}
	/* Connections beyond the full service that say nothing do not silence it. */
	for (int i = 0; i < 64; i++) {
		close(idle[i]);
		idle[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(idle[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	{
		int r = smem_scm_connect(NULL, NULL, &extra);

		cr_assert_eq(r, -EUSERS, "after 64 silent ones, still told why: %d", r);
	}
	for (int i = 0; i < 64; i++) {
		smem_scm_close(cl[i]);
		close(idle[i]);
	}
}

/* --- INTERRUPTED: a long call cut into slices ----------------------------- */

static uint64_t xorshift(uint64_t x, uint64_t n)
{
	while (n--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

/* Call contexts in use at smemtzd, and of them the interrupted calls it keeps. */
static uint64_t sessions(struct smem_scm *s)
{
	return call(s, SMEM_SCM_FN_QUERY, 2, 0).a2;
}

/*
 * A call longer than a slice is answered INTERRUPTED after each, and the
 * library re-issues it (fn 1, the token in a6) until it is over: every unit
 * executed exactly once, the progress kept from slice to slice, in either
 * discipline.
 */
Test(scm, a_long_call_is_interrupted_and_goes_on_where_it_stopped)
{
	static const unsigned flags[] = { 0, SMEM_SCM_MULTI_CALL };
	const uint64_t units = 3 * SMEM_SCM_WORK_SLICE + 5, seed = 0x9e3779b97f4a7c15ull;

	for (size_t k = 0; k < 2; k++) {
		struct smem_scm *s = connect_client(flags[k], 0, 0);
		struct smem_scm_stats before, after;
		struct smem_scm_res r;

		smem_scm_get_stats(s, &before);
		r = call(s, SMEM_SCM_FN_WORK, units, seed);
		smem_scm_get_stats(s, &after);
		cr_assert_eq(r.a0, SMEM_SCM_SUCCESS);
		cr_assert_eq(r.a1, xorshift(seed, units), "the result of every unit, in order");
		cr_assert_eq(r.a2, units, "each unit executed once: nothing started over");
		cr_assert_eq(r.a3, 4, "in four slices");
		cr_assert_eq(after.interrupted - before.interrupted, 3, "interrupted after three");
		cr_assert_eq(after.smcs - before.smcs, 4, "the call and three re-issues");
		cr_assert_eq(sessions(s), 0, "nothing kept once it is over");
		r = call(s, SMEM_SCM_FN_WORK, SMEM_SCM_WORK_SLICE, seed);
		cr_assert_eq(r.a3, 1, "a call of one slice is not interrupted");
		cr_assert_eq(call(s, SMEM_SCM_FN_WORK, 0, seed).a0, SMEM_SCM_EINVAL_ARG);
		cr_assert_eq(call(s, SMEM_SCM_FN_WORK, SMEM_SCM_WORK_MAX + 1ull, seed).a0,
			     SMEM_SCM_EINVAL_ARG);
		smem_scm_close(s);
	}
}

/*
 * Between an INTERRUPTED answer and its re-issue smemtzd serves others; a
 * token is good only for the client it was given to, only once, and only for
 * a re-issue; a single-call client that starts another call gives up the
 * interrupted one.
 */
Test(scm, an_interrupted_call_is_its_clients_alone_and_others_go_meanwhile)
{
	const uint64_t units = 2 * SMEM_SCM_WORK_SLICE, seed = 7;
	uint64_t work[8] = { SMEM_SCM_FN_WORK, 2, units, seed }, again[8];
	struct smem_scm *s = connect_client(0, 0, 0);
	uint64_t token, token2, x;
	struct smem_scm_res r;
	struct raw a, b;

	raw_connect(&a, 0);
	raw_connect(&b, 0);
	r = raw_frame(&a, 1, work, true, &token);
	cr_assert_eq(r.a0, SMEM_SCM_INTERRUPTED);
	cr_assert_neq(token, 0);
	cr_assert_eq(sessions(s), 1);
	cr_assert_eq(call(s, SMEM_SCM_FN_HOLD, 3, 0).a0, SMEM_SCM_SUCCESS, "others are served meanwhile");
	memcpy(again, work, sizeof(again));
	again[0] = SMEM_SCM_FN_REISSUE;
	again[6] = token;
	cr_assert_eq(raw_frame(&b, 1, again, true, NULL).a0, SMEM_SCM_EINVAL_ARG,
		     "another client's token");
	again[6] = token + (1u << 16);
	cr_assert_eq(raw_frame(&a, 1, again, true, NULL).a0, SMEM_SCM_EINVAL_ARG, "a stale token");
	cr_assert_eq(raw_call(&a, 1, SMEM_SCM_FN_RESUME, token, 0, true).a0, SMEM_SCM_EINVAL_ARG,
		     "a token is not a wait-queue context");
	again[6] = token;
	r = raw_frame(&a, 1, again, true, NULL);
	cr_assert_eq(r.a0, SMEM_SCM_SUCCESS, "its own re-issue goes on");
	x = xorshift(seed, units);
	cr_assert_eq(r.a1, x);
	cr_assert_eq(r.a2, units);
	cr_assert_eq(raw_frame(&a, 1, again, true, NULL).a0, SMEM_SCM_EINVAL_ARG, "only once");
	/* Given up: a new call of a single-call client drops what it left interrupted. */
	cr_assert_eq(raw_frame(&a, 1, work, true, &token).a0, SMEM_SCM_INTERRUPTED);
	cr_assert_eq(raw_frame(&a, 1, work, true, &token2).a0, SMEM_SCM_INTERRUPTED, "not busy");
	cr_assert_eq(sessions(s), 1, "the first one went");
	again[6] = token;
	cr_assert_eq(raw_frame(&a, 1, again, true, NULL).a0, SMEM_SCM_EINVAL_ARG);
	again[6] = token2;
	cr_assert_eq(raw_frame(&a, 1, again, true, NULL).a1, x);
	raw_close(&a);
	raw_close(&b);
	smem_scm_close(s);
}

/*
 * A multi-call client keeps as many interrupted calls as its share of call
 * contexts, and no more; they go with its connection, as they do with a
 * client killed between an INTERRUPTED answer and its re-issue.
 */
Test(scm, interrupted_calls_are_bounded_and_go_with_their_client)
{
	uint64_t work[8] = { SMEM_SCM_FN_WORK, 2, 2 * SMEM_SCM_WORK_SLICE, 1 };
	struct smem_scm *s = connect_client(0, 0, 0);
	struct raw m;
	unsigned n = 0;
	pid_t pid;
	int w;

	raw_connect(&m, SMEM_SCM_MULTI_CALL);
	for (unsigned slot = 1; slot < SMEM_SCM_SLOTS; slot++)
		n += raw_frame(&m, slot, work, true, NULL).a0 == SMEM_SCM_INTERRUPTED;
	cr_assert_eq(n, 16, "its share of contexts, then busy");
	cr_assert_eq(sessions(s), 16);
	raw_close(&m);
	while (sessions(s) != 0)
		sched_yield();
	NEEDS_FAULT_POINTS();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint64_t args[3] = { 2, 2 * SMEM_SCM_WORK_SLICE, 1 };
		struct smem_scm_res res;
		struct smem_scm *z;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (smem_scm_connect(NULL, NULL, &z) != 0)
			_exit(2);
		smem__fault_arm("scm.call.interrupted", 1);
		smem_scm_call(z, SMEM_SCM_FN_WORK, args, 3, &res);
		_exit(3);
	}
	w = status_of(pid);
	cr_assert(WIFSIGNALED(w) && WTERMSIG(w) == SIGKILL, "killed before its re-issue (0x%x)", w);
	while (sessions(s) != 0)
		sched_yield();
	smem_scm_close(s);
}

/* --- a wake-up before its sleeper sleeps --------------------------------- */

struct early {
	struct smem_scm *s, *other;
	unsigned event;
};

/* Between the SLEEP answer and the sleep: the event comes and its wake-up is delivered. */
static void wake_before_sleep(void *arg)
{
	struct early *e = arg;
	struct smem_scm_stats st, now;

	smem_scm_get_stats(e->s, &st);
	cr_assert_eq(call(e->other, SMEM_SCM_FN_EVENT_SIGNAL, e->event, SMEM_SCM_WAKE_ONE).a1, 1,
		     "the call is parked");
	/* The interrupt thread's NOP carries the WAITQ_WAKE; nobody sleeps in that context yet. */
	do {
		sched_yield();
		smem_scm_get_stats(e->s, &now);
	} while (now.wakes == st.wakes);
}

/*
 * allow-multi-call: a wake-up that rides in before its sleeper has gone to
 * sleep is kept for it (the early list), and the sleeper finds it, resumes
 * and completes instead of sleeping for ever.
 */
Test(scm, a_multi_call_wake_up_that_comes_before_its_sleeper_is_kept)
{
	struct early e = { .event = 9 };
	struct smem_scm_stats st;
	struct smem_scm_res r;

	NEEDS_FAULT_POINTS();
	e.s = connect_client(SMEM_SCM_MULTI_CALL, 0, 0);
	e.other = connect_client(0, 0, 0);
	smem__fault_hook("scm.multi.slept", 1, wake_before_sleep, &e);
	r = call(e.s, SMEM_SCM_FN_EVENT_WAIT, e.event, 0);
	smem__fault_arm(NULL, 0);
	cr_assert_eq(r.a0, SMEM_SCM_SUCCESS, "resumed and completed");
	smem_scm_get_stats(e.s, &st);
	cr_assert_eq(st.sleeps, 1);
	cr_assert_eq(call(e.other, SMEM_SCM_FN_QUERY, 1, e.event).a2, 0, "nothing parked");
	smem_scm_close(e.other);
	smem_scm_close(e.s);
}
