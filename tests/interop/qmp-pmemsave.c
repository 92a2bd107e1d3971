// SPDX-License-Identifier: MIT
/*
 * qmp-pmemsave - save guest physical memory through QEMU's QMP socket, then
 * stop QEMU.
 *
 *   qmp-pmemsave SOCKET ADDR SIZE FILE
 *
 * The interop test runs this once the guest has printed that the Linux driver
 * finished writing SMEM; the guest then just waits. QMP answers each command
 * with one JSON line holding "return" or "error"; asynchronous events are
 * other lines and are skipped. pmemsave writes FILE before it answers, so
 * once it returns the file is complete and "quit" may end the guest.
 *
 * Whatever happens after the connection is up, "quit" is sent so that QEMU
 * does not sit until its timeout. Exit 0 when FILE was saved, 1 otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { REPLY_TIMEOUT_MS = 60000 };

struct qmp {
	int fd;
	char buf[8192];
	size_t len;
};

/* Read one line (without '\n') into LINE; 0 on success, -errno on failure. */
static int qmp_read_line(struct qmp *q, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		ssize_t n;

		if (nl) {
			size_t n_line = (size_t)(nl - q->buf);

			if (n_line >= cap)
				n_line = cap - 1;
			memcpy(line, q->buf, n_line);
			line[n_line] = '\0';
			q->len -= (size_t)(nl + 1 - q->buf);
			memmove(q->buf, nl + 1, q->len);
			return 0;
		}
		if (q->len == sizeof(q->buf))
			q->len = 0; /* an over-long line: drop it, keep reading */
		n = poll(&pfd, 1, REPLY_TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ETIMEDOUT : -errno;
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		q->len += (size_t)n;
	}
}

/* Send COMMAND and wait for its answer; 0 on "return", -EPROTO on "error". */
static int qmp_execute(struct qmp *q, const char *command)
{
	char line[8192];
	size_t len = strlen(command);

	if (write(q->fd, command, len) != (ssize_t)len)
		return -errno;
	for (;;) {
		int r = qmp_read_line(q, line, sizeof(line));

		if (r < 0)
			return r;
		if (strstr(line, "\"return\""))
			return 0;
		if (strstr(line, "\"error\"")) {
			fprintf(stderr, "qmp-pmemsave: QEMU refused %s  -> %s\n", command, line);
			return -EPROTO;
		}
		/* An event such as STOP or RESUME: not our answer. */
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct qmp q = { .fd = -1 };
	char line[8192], cmd[8192];
	char *end;
	unsigned long long base, size;
	int r;

	if (argc != 5) {
		fputs("usage: qmp-pmemsave SOCKET ADDR SIZE FILE\n", stderr);
		return 2;
	}
	base = strtoull(argv[2], &end, 0);
	if (*end || !*argv[2]) {
		fprintf(stderr, "qmp-pmemsave: bad ADDR '%s'\n", argv[2]);
		return 2;
	}
	size = strtoull(argv[3], &end, 0);
	if (*end || !*argv[3] || size == 0) {
		fprintf(stderr, "qmp-pmemsave: bad SIZE '%s'\n", argv[3]);
		return 2;
	}
	/* FILE goes into a JSON string unescaped, so it may hold no quote or backslash. */
	if (strlen(argv[1]) >= sizeof(addr.sun_path) || strpbrk(argv[4], "\"\\")) {
		fputs("qmp-pmemsave: SOCKET path too long, or FILE has a quote or backslash\n",
		      stderr);
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);

	q.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q.fd < 0 || connect(q.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "qmp-pmemsave: connect %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* The greeting, then capabilities negotiation leaves the handshake mode. */
	r = qmp_read_line(&q, line, sizeof(line));
	if (r == 0 && !strstr(line, "\"QMP\""))
		r = -EPROTO;
	if (r == 0)
		r = qmp_execute(&q, "{\"execute\":\"qmp_capabilities\"}\n");
	if (r == 0) {
		snprintf(cmd, sizeof(cmd),
			 "{\"execute\":\"pmemsave\",\"arguments\":"
			 "{\"val\":%llu,\"size\":%llu,\"filename\":\"%s\"}}\n",
			 base, size, argv[4]);
		r = qmp_execute(&q, cmd);
	}
	if (r < 0)
		fprintf(stderr, "qmp-pmemsave: pmemsave of %s failed: %s\n", argv[4], strerror(-r));
	/* QEMU may close the socket before or after answering quit; both are fine. */
	if (qmp_execute(&q, "{\"execute\":\"quit\"}\n") < 0 && r == 0)
		fputs("qmp-pmemsave: note: no answer to quit\n", stderr);
	close(q.fd);
	return r < 0 ? 1 : 0;
}
