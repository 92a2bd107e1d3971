// SPDX-License-Identifier: MIT
/*
 * smemkit-demo: two hosts, apps (0) and modem (1), in separate processes share
 * one SMEM region; the modem is killed in the middle of an allocation and apps
 * recovers by itself. `make run` drives it through scripts/demo.sh.
 *
 *   smemkit-demo traffic IMAGE N   apps and a new modem process exchange N
 *                                   requests and replies over two message queues
 *                                   that live in SMEM items 300 and 301 of the
 *                                   apps:modem partition
 *   smemkit-demo crash IMAGE       a modem process starts to allocate item 310
 *                                   and is SIGKILLed between writing the entry
 *                                   and publishing it, holding lock 3
 *   smemkit-demo recover IMAGE N   apps allocates item 311: it proves the holder
 *                                   of lock 3 dead, busts the lock and repairs
 *                                   (SMEM_RECOVERED), then traffic as above
 *
 * The crash uses the fault point smem.alloc.after_entry, which test builds
 * compile in: a process whose SMEMKIT_FAULT names it raises SIGKILL right there.
 * Pipes and signals carry no data: every message goes through the region.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/msgq.h"
#include "smemkit/smem.h"

enum {
	HOST_APPS = 0,
	HOST_MODEM = 1,
	ITEM_TO_MODEM = 300,  /* queue apps -> modem */
	ITEM_TO_APPS = 301,   /* queue modem -> apps */
	ITEM_CRASHED = 310,   /* the allocation the modem dies in */
	ITEM_RECOVERED = 311, /* the allocation that repairs */
	DEPTH = 8,
	MSG_SIZE = 64,
	TIMEOUT_MS = 5000,
};

struct msg {
	uint32_t seq;
	uint32_t stop; /* the last message: the modem answers and exits */
	char text[56];
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int fail(const char *who, const char *what, int r)
{
	fprintf(stderr, "%s: %s: %s\n", who, what, strerror(r < 0 ? -r : r));
	return 1;
}

static int attach(const char *image, unsigned host, struct smem **ret)
{
	struct smem_open_opts o;
	char err[256] = "";
	int r;

	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_BUST_DEAD; /* a dead holder of lock 3 is busted, not waited for */
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(image, host, &o, ret);
	if (r < 0)
		fprintf(stderr, "%s: cannot attach as host %u: %s\n", image, host,
			*err ? err : strerror(-r));
	return r;
}

/* Open one end of the queue in @item of the apps:modem partition. */
static int queue(struct smem *s, unsigned remote, unsigned item, unsigned end,
		 struct smem_msgq **ret)
{
	size_t size;
	void *mem;
	int r = smem_item_get(s, remote, item, &mem, &size);

	return r < 0 ? r : smem_msgq_open(mem, size, end, NULL, ret);
}

/* Allocate the two queues once, and (re)initialise them empty. */
static int make_queues(struct smem *s)
{
	struct smem_msgq_config c;
	unsigned items[] = { ITEM_TO_MODEM, ITEM_TO_APPS };
	size_t need, size;
	void *mem;
	int r;

	smem_msgq_config_init(&c);
	c.depth = DEPTH;
	c.max_msg_size = MSG_SIZE;
	smem_msgq_size(DEPTH, MSG_SIZE, &need);
	for (int i = 0; i < 2; i++) {
		r = smem_item_alloc(s, HOST_MODEM, items[i], need, 0);
		if (r < 0 && r != -EEXIST)
			return r;
		r = smem_item_get(s, HOST_MODEM, items[i], &mem, &size);
		if (r == 0)
			r = smem_msgq_init(mem, size, &c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The modem: answer every request until the one that says stop. */
static int modem(const char *image)
{
	struct smem_msgq *rx, *tx;
	unsigned answered = 0;
	struct smem *s;
	struct msg m;
	size_t n;
	int r;

	if (attach(image, HOST_MODEM, &s) < 0)
		return 1;
	r = queue(s, HOST_APPS, ITEM_TO_MODEM, SMEM_MSGQ_RX, &rx);
	if (r == 0)
		r = queue(s, HOST_APPS, ITEM_TO_APPS, SMEM_MSGQ_TX, &tx);
	if (r < 0)
		return fail("modem", "open the queues", r);
	for (;;) {
		r = smem_msgq_recv_wait(rx, &m, sizeof(m), &n, TIMEOUT_MS);
		if (r < 0)
			return fail("modem", "receive", r);
		snprintf(m.text, sizeof(m.text), "modem answers %" PRIu32, m.seq);
		r = smem_msgq_send_wait(tx, &m, sizeof(m), SMEM_MSGQ_PUSH, TIMEOUT_MS);
		if (r < 0)
			return fail("modem", "send", r);
		if (m.stop)
			break;
		answered++;
	}
	printf("modem  (pid %d) answered %u requests\n", (int)getpid(), answered);
	smem_msgq_close(rx);
	smem_msgq_close(tx);
	smem_close(s);
	return 0;
}

static pid_t spawn(const char *self, const char *role, const char *image, const char *fault)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (fault)
			setenv("SMEMKIT_FAULT", fault, 1);
		else
			unsetenv("SMEMKIT_FAULT");
		execl(self, "smemkit-demo", role, image, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Apps: send @n requests to a fresh modem process and check every reply. */
static int traffic(const char *self, const char *image, struct smem *s, unsigned n)
{
	struct smem_msgq *tx, *rx;
	double t0, t1;
	struct msg m, reply;
	size_t got;
	pid_t pid;
	int r, st;

	r = make_queues(s);
	if (r == 0)
		r = queue(s, HOST_MODEM, ITEM_TO_MODEM, SMEM_MSGQ_TX, &tx);
	if (r == 0)
		r = queue(s, HOST_MODEM, ITEM_TO_APPS, SMEM_MSGQ_RX, &rx);
	if (r < 0)
		return fail("apps", "set up the queues in items 300 and 301", r);
	pid = spawn(self, "modem", image, NULL);
	if (pid < 0)
		return fail("apps", "fork", errno);
	t0 = now_us();
	for (unsigned i = 0; i <= n; i++) {
		m = (struct msg){ .seq = i, .stop = i == n };
		snprintf(m.text, sizeof(m.text), "apps asks %u", i);
		r = smem_msgq_send_wait(tx, &m, sizeof(m), SMEM_MSGQ_PUSH, TIMEOUT_MS);
		if (r >= 0)
			r = smem_msgq_recv_wait(rx, &reply, sizeof(reply), &got, TIMEOUT_MS);
		if (r < 0)
			return fail("apps", "exchange with the modem", r);
		if (got != sizeof(reply) || reply.seq != i) {
			fprintf(stderr, "apps: reply %u carries sequence %" PRIu32 "\n", i, reply.seq);
			return 1;
		}
	}
	t1 = now_us();
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail("apps", "the modem process failed", EPROTO);
	printf("apps   sent %u requests over item %d and checked %u replies over item %d "
	       "(%.1f us per round trip)\n",
	       n, ITEM_TO_MODEM, n, ITEM_TO_APPS, (t1 - t0) / (n + 1));
	smem_msgq_close(tx);
	smem_msgq_close(rx);
	return 0;
}

/* A modem that dies inside its allocation of item 310. */
static int modem_crash(const char *image)
{
	struct smem *s;
	int r;

	if (attach(image, HOST_MODEM, &s) < 0)
		return 1;
	r = smem_item_alloc(s, HOST_APPS, ITEM_CRASHED, 64, 0);
	/* Only a build without fault points gets here. */
	fprintf(stderr, "modem: the allocation returned %d: this build has no fault points "
			"(meson setup -Dfault_points=true)\n", r);
	return 3;
}

static int crash(const char *self, const char *image)
{
	pid_t pid = spawn(self, "modem-crash", image, "smem.alloc.after_entry");
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return fail("apps", "run the modem", errno);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		return 1;
	printf("modem  (pid %d) was SIGKILLed inside its allocation of item %d: the entry was "
	       "written, not published, and lock 3 is still held by host 1\n",
	       (int)pid, ITEM_CRASHED);
	return 0;
}

static int recover(const char *self, const char *image, struct smem *s, unsigned n)
{
	double t0 = now_us(), t1;
	void *p;
	int r = smem_item_alloc(s, HOST_MODEM, ITEM_RECOVERED, 64, 0);

	t1 = now_us();
	if (r < 0)
		return fail("apps", "allocate item 311", r);
	printf("apps   allocated item %d: %s after %.0f us (the lock bank proved host 1 dead and "
	       "lock 3 was busted; the unpublished entry is invisible and was written over)\n",
	       ITEM_RECOVERED, r == SMEM_RECOVERED ? "SMEM_RECOVERED" : "0, no repair needed",
	       t1 - t0);
	r = smem_item_get(s, HOST_MODEM, ITEM_CRASHED, &p, NULL);
	printf("apps   item %d, which the modem never published, is %s\n", ITEM_CRASHED,
	       r == -ENOENT ? "absent, as it should be" : "there (unexpected)");
	if (r != -ENOENT)
		return 1;
	return traffic(self, image, s, n);
}

int main(int argc, char **argv)
{
	const char *self = "/proc/self/exe";
	struct smem *s;
	unsigned long n = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
	int r;

	if (argc < 3 || n < 1 || n > 10000000) {
		fprintf(stderr, "usage: smemkit-demo traffic|crash|recover IMAGE [N]\n");
		return 2;
	}
	if (!strcmp(argv[1], "modem"))
		return modem(argv[2]);
	if (!strcmp(argv[1], "modem-crash"))
		return modem_crash(argv[2]);
	if (!strcmp(argv[1], "crash"))
		return crash(self, argv[2]);
	if (strcmp(argv[1], "traffic") && strcmp(argv[1], "recover")) {
		fprintf(stderr, "usage: smemkit-demo traffic|crash|recover IMAGE [N]\n");
		return 2;
	}
	if (attach(argv[2], HOST_APPS, &s) < 0)
		return 1;
	r = !strcmp(argv[1], "traffic") ? traffic(self, argv[2], s, (unsigned)n)
					 : recover(self, argv[2], s, (unsigned)n);
	smem_close(s);
	return r;
}
