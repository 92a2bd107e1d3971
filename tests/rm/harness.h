/* SPDX-License-Identifier: MIT */
/*
 * What the smemd tests share: a smemd of each test's own, on a socket of its
 * own, started and waited for through its sd_notify readiness (a datagram on
 * NOTIFY_SOCKET, as systemd listens), and forked children as hosts.
 */
#ifndef SMEMKIT_TESTS_RM_HARNESS_H
#define SMEMKIT_TESTS_RM_HARNESS_H

#include <criterion/criterion.h>
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
static pid_t smemd_pid;

/* Start smemd with @config (or none); return once it said READY=1. */
static void start_smemd(const char *config)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char note[128], buf[256];
	const char *exe = getenv("SMEMD");
	int nfd, c;
	ssize_t n;

	cr_assert(exe, "SMEMD names the smemd to test");
	snprintf(dir, sizeof(dir), "/tmp/smemd-test-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/rm.sock", dir);
	snprintf(note, sizeof(note), "%s/notify", dir);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, note);
	cr_assert_eq(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	smemd_pid = fork();
	cr_assert_geq(smemd_pid, 0);
	if (smemd_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", note, 1);
		if (config)
			execl(exe, "smemd", "--socket", sock, "--config", config, (char *)NULL);
		else
			execl(exe, "smemd", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	n = recv(nfd, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strstr(buf, "READY=1"), "smemd said '%s'", buf);
	close(nfd);
	/* Readiness comes only once the socket accepts: a connect now must work. */
	c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, sock);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0, "READY=1 before listening");
	close(c);
	setenv("SMEMKIT_RM_SOCKET", sock, 1);
}

static void stop_smemd(void)
{
	int st;

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
static pid_t child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(fn(arg));
	}
	return pid;
}

static int status_of(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

#endif
