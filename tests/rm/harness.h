/* SPDX-License-Identifier: MIT */
/*
 * What the smemd tests share: a smemd of each test's own, on a socket of its
 * own, started and waited for through its sd_notify readiness (a datagram on
 * NOTIFY_SOCKET, as systemd listens), and forked children as hosts.
 */
#ifndef SMEMKIT_TESTS_RM_HARNESS_H
#define SMEMKIT_TESTS_RM_HARNESS_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64], sock[128];
static pid_t smemd_pid;    /* smemd, or its supervisor */
static pid_t worker_pid;   /* the smemd serving now, under a supervisor */
static int notify_fd = -1; /* NOTIFY_SOCKET, kept open under a supervisor */

/* One sd_notify datagram into @buf (NUL-terminated), the fds that came with it closed. */
static inline ssize_t notify_recv(int fd, char *buf, size_t len)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(f);
			}
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Wait for the next smemd to say it serves (READY=1, STATUS=serving, pid N); return N. */
static inline pid_t wait_serving(void)
{
	char buf[512];

	for (;;) {
		const char *at;

		cr_assert_gt(notify_recv(notify_fd, buf, sizeof(buf)), 0, "NOTIFY_SOCKET");
		at = strstr(buf, "STATUS=serving, pid ");
		if (at)
			return (pid_t)atoi(at + strlen("STATUS=serving, pid "));
	}
}

/* Start smemd with @config (or none), or its supervisor; return once it is ready. */
static inline void start_smemd_as(const char *config, bool supervise)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char note[128];
	const char *exe = getenv("SMEMD");
	const char *args[8];
	int c, k = 0;

	cr_assert(exe, "SMEMD names the smemd to test");
	snprintf(dir, sizeof(dir), "/tmp/smemd-test-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/rm.sock", dir);
	snprintf(note, sizeof(note), "%s/notify", dir);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, note);
	cr_assert_eq(bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	args[k++] = "smemd";
	if (supervise)
		args[k++] = "--supervise";
	args[k++] = "--socket";
	args[k++] = sock;
	if (config) {
		args[k++] = "--config";
		args[k++] = config;
	}
	args[k] = NULL;
	smemd_pid = fork();
	cr_assert_geq(smemd_pid, 0);
	if (smemd_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", note, 1);
		execv(exe, (char *const *)args);
		_exit(127);
	}
	worker_pid = wait_serving();
	if (!supervise) {
		close(notify_fd);
		notify_fd = -1;
	}
	/* Readiness comes only once the socket accepts: a connect now must work. */
	c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, sock);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0, "READY=1 before listening");
	close(c);
	setenv("SMEMKIT_RM_SOCKET", sock, 1);
}

static inline void start_smemd(const char *config)
{
	start_smemd_as(config, false);
}

static inline void stop_smemd(void)
{
	int st;

	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
	if (smemd_pid > 0) {
		kill(smemd_pid, SIGTERM);
		waitpid(smemd_pid, &st, 0);
		smemd_pid = 0;
	}
	unlink(sock);
	snprintf(sock, sizeof(sock), "%s/notify", dir);
	unlink(sock);
	rmdir(dir);
}

/* A child that runs @fn(arg) and exits with its result; killed when the test dies. */
static inline pid_t child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(fn(arg));
	}
	return pid;
}

static inline int status_of(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

#endif
