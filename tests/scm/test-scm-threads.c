// SPDX-License-Identifier: MIT
/*
 * Threads contending for one resource through smemtzd: four clients, and two
 * threads sharing each: in two of them one call at a time (the other thread
 * waits on the call lock while the caller sleeps), in the other two, of the
 * multi-call discipline, both in flight, woken by WAITQ_WAKE on any call. Every call must succeed, and the
 * interrupt thread of each client races its callers the whole time; a plain
 * program, so that it runs under ThreadSanitizer too (make test-tsan).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smemkit/scm.h"

#define CLIENTS 4
#define THREADS 2
#define CALLS   300

static char dir[64], sock[128];

static pid_t start_tzd(const char *exe)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char note[128], buf[256];
	int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	snprintf(dir, sizeof(dir), "/tmp/scm-threads-XXXXXX");
	if (!mkdtemp(dir) || nfd < 0)
		return -1;
	snprintf(sock, sizeof(sock), "%s/tz.sock", dir);
	snprintf(note, sizeof(note), "%s/notify", dir);
	strcpy(sa.sun_path, note);
	if (bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", note, 1);
		execl(exe, "smemtzd", "--socket", sock, (char *)NULL);
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
	return pid;
}

struct worker {
	struct smem_scm *s;
	unsigned id;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (unsigned i = 0; i < CALLS; i++) {
		/* Resource 0, for up to 40 microseconds. */
		uint64_t hold[3] = { 2, 0, (w->id * 7 + i) % 40 };
		struct smem_scm_res r;

		if (smem_scm_call(w->s, SMEM_SCM_FN_HOLD, hold, 3, &r) != 0 || r.a0 != 0) {
			fprintf(stderr, "worker %u: call %u failed (a0 %lld)\n", w->id, i,
				(long long)r.a0);
			w->failures++;
		}
	}
	return NULL;
}

int main(void)
{
	const char *exe = getenv("SMEMTZD");
	struct smem_scm *clients[CLIENTS];
	struct worker ws[CLIENTS * THREADS];
	pthread_t ts[CLIENTS * THREADS];
	struct smem_scm_stats st;
	uint64_t sleeps = 0, calls = 0;
	int failures = 0;
	pid_t tzd;

	if (!exe) {
		fprintf(stderr, "SMEMTZD names the smemtzd to test\n");
		return 1;
	}
	tzd = start_tzd(exe);
	if (tzd < 0)
		return 1;
	/* Half of the clients with allow-multi-call: their threads are in flight together. */
	for (unsigned c = 0; c < CLIENTS; c++) {
		struct smem_scm_opts o;

		smem_scm_opts_init(&o);
		o.flags = c % 2 ? SMEM_SCM_MULTI_CALL : 0;
		if (smem_scm_connect(sock, &o, &clients[c]) != 0)
			return 1;
	}
	for (unsigned i = 0; i < CLIENTS * THREADS; i++) {
		ws[i] = (struct worker){ .s = clients[i % CLIENTS], .id = i };
		pthread_create(&ts[i], NULL, work, &ws[i]);
	}
	for (unsigned i = 0; i < CLIENTS * THREADS; i++) {
		pthread_join(ts[i], NULL);
		failures += ws[i].failures;
	}
	for (unsigned c = 0; c < CLIENTS; c++) {
		smem_scm_get_stats(clients[c], &st);
		sleeps += st.sleeps;
		calls += st.calls;
		smem_scm_close(clients[c]);
	}
	kill(tzd, SIGTERM);
	waitpid(tzd, NULL, 0);
	unlink(sock);
	rmdir(dir);
	printf("%lu calls, %lu slept, %d failed\n", (unsigned long)calls, (unsigned long)sleeps,
	       failures);
	return failures || calls != CLIENTS * THREADS * CALLS ? 1 : 0;
}
