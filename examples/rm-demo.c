// SPDX-License-Identifier: MIT
/*
 * smemkit-rm-demo: the same system with smemd as its resource manager. Three
 * host processes, apps (0), modem (1) and adsp (2), register with smemd; apps
 * asks smemd for a pair of queues with each of the others, and they exchange
 * requests and replies over them. Then the modem is killed in the middle of an
 * allocation, holding lock 3: smemd sees its pidfd fire, hands the lock on,
 * shuts the modem's queues down and tells apps, whose next allocation gets
 * the lock with SMEM_RECOVERED, while adsp keeps talking. A new modem comes up
 * and gets queues of its own. `make run` drives it through scripts/demo.sh.
 *
 *   smemkit-rm-demo SOCKET SMEMCTL N   the whole story, as apps
 *   smemkit-rm-demo host SOCKET ID     a host that answers what apps sends
 *
 * The crash uses the fault point smem.alloc.after_entry (test and run builds
 * compile it in): the modem's SMEMKIT_FAULT names it. Only the installed
 * headers and libsmemkit are used.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smemkit/hwlock.h"
#include "smemkit/msgq.h"
#include "smemkit/region.h"
#include "smemkit/rm.h"
#include "smemkit/smem.h"

enum { APPS = 0, MODEM = 1, ADSP = 2, TIMEOUT_MS = 10000 };

struct msg {
	uint32_t seq;
	uint32_t op; /* OP_* */
	int64_t t_ns; /* OP_ALLOC: when the host started the allocation */
	char text[48];
};

enum { OP_ECHO, OP_ALLOC, OP_QUIT };

static const char *const names[] = { "apps", "modem", "adsp" };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fail(const char *who, const char *what, int r)
{
	fprintf(stderr, "%-6s %s: %s\n", who, what, strerror(-r));
	return 1;
}

/* Poll 50 us before sleeping: a reply usually comes sooner than a wake-up through the kernel. */
static const struct smem_msgq_opts *spin_opts(void)
{
	static struct smem_msgq_opts o;

	smem_msgq_opts_init(&o);
	o.spin_ns = 50000;
	return &o;
}

static int attach(struct smem_rm *rm, unsigned host, struct smem **ret)
{
	struct smem_open_opts o;

	smem_open_opts_init(&o);
	o.rm = rm;
	return smem_open(NULL, host, &o, ret);
}

/* Wait for a notification @msg_id about @vmid (0: any); others are passed over. */
static int wait_note(struct smem_rm *rm, uint32_t msg_id, unsigned vmid,
		     struct smem_rm_notification *ret)
{
	for (;;) {
		struct pollfd p = { smem_rm_fd(rm), POLLIN, 0 };
		int r;

		while ((r = smem_rm_notification(rm, ret)) == 0)
			if (ret->msg_id == msg_id && (!vmid || ret->vmid == vmid))
				return 0;
		if (r != -EAGAIN)
			return r;
		if (poll(&p, 1, TIMEOUT_MS) != 1)
			return -ETIMEDOUT;
	}
}

/* A host: register, wait for apps's queues, answer until told to quit (or to die). */
static int host(const char *sock, unsigned id)
{
	struct smem_rm_resource res[4];
	struct smem_msgq *rx = NULL, *tx = NULL;
	struct smem_rm_notification n;
	const char *me = names[id];
	unsigned answered = 0;
	struct smem_rm *rm;
	struct smem *s;
	size_t nres;
	struct msg m;
	int r;

	r = smem_rm_connect(sock, (int)id, &rm);
	if (r < 0)
		return fail(me, "register with smemd", r);
	r = attach(rm, id, &s);
	if (r < 0)
		return fail(me, "attach the image", r);
	r = wait_note(rm, SMEM_RM_NOTIF_RESOURCES, smem_rm_vmid(APPS), &n);
	if (r == 0)
		r = smem_rm_get_resources(rm, res, 4, &nres);
	for (size_t i = 0; r == 0 && i < nres && i < 4; i++)
		if (res[i].label == n.value)
			r = smem_rm_msgq_open(rm, res[i].cap, spin_opts(), res[i].type == 2 ? &tx : &rx);
	if (r < 0 || !tx || !rx)
		return fail(me, "open the queues smemd made", r ? r : -ENOENT);
	for (;;) {
		size_t size;

		r = smem_msgq_recv_wait(rx, &m, sizeof(m), &size, -1);
		if (r < 0)
			return fail(me, "receive", r);
		if (m.op == OP_QUIT)
			break;
		if (m.op == OP_ALLOC) {
			/* Dies inside when SMEMKIT_FAULT names smem.alloc.after_entry. */
			m.t_ns = now_ns();
			r = smem_item_alloc(s, APPS, 310, 64, 0); /* in the apps:host partition */
			snprintf(m.text, sizeof(m.text), "allocated: %d", r);
		} else {
			snprintf(m.text, sizeof(m.text), "%s answers %" PRIu32, me, m.seq);
		}
		r = smem_msgq_send_wait(tx, &m, sizeof(m), SMEM_MSGQ_PUSH, -1);
		if (r < 0)
			return fail(me, "send", r);
		answered++;
	}
	printf("%-6s (pid %d) answered %u requests\n", me, (int)getpid(), answered);
	smem_close(s);
	smem_rm_exit(rm, 0);
	smem_rm_close(rm);
	return 0;
}

static pid_t spawn(const char *self, const char *sock, unsigned id, const char *fault)
{
	char arg[8];
	pid_t pid = fork();

	if (pid == 0) {
		snprintf(arg, sizeof(arg), "%u", id);
		if (fault)
			setenv("SMEMKIT_FAULT", fault, 1);
		else
			unsetenv("SMEMKIT_FAULT");
		execl(self, "smemkit-rm-demo", "host", sock, arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

struct peer {
	unsigned id;
	pid_t pid;
	struct smem_msgq *tx, *rx;
};

/* A new host process, registered, with a pair of queues from apps under @label. */
static int bring_up(struct smem_rm *rm, const char *self, const char *sock, struct peer *p,
		    uint32_t label, const char *fault)
{
	struct smem_rm_notification n;
	uint64_t txc, rxc;
	int r;

	p->pid = spawn(self, sock, p->id, fault);
	/* Registered once smemd says it runs. */
	do
		r = wait_note(rm, SMEM_RM_NOTIF_VM_STATUS, smem_rm_vmid(p->id), &n);
	while (r == 0 && n.vm_state != SMEM_RM_VM_RUNNING);
	if (r == 0)
		r = smem_rm_msgq_create(rm, smem_rm_vmid(p->id), label, 8, sizeof(struct msg), 0, &txc,
					&rxc);
	if (r == 0)
		r = smem_rm_msgq_open(rm, txc, spin_opts(), &p->tx);
	if (r == 0)
		r = smem_rm_msgq_open(rm, rxc, spin_opts(), &p->rx);
	return r;
}

static int exchange(struct peer *p, uint32_t op, struct msg *ret)
{
	struct msg m = { .op = op };
	size_t size;
	int r = smem_msgq_send_wait(p->tx, &m, sizeof(m), SMEM_MSGQ_PUSH, TIMEOUT_MS);

	if (r >= 0)
		r = smem_msgq_recv_wait(p->rx, ret, sizeof(*ret), &size, TIMEOUT_MS);
	return r < 0 ? r : 0;
}

static int traffic(struct peer *peers, unsigned np, unsigned n)
{
	int64_t t0 = now_ns();
	struct msg m;

	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < np; k++) {
			int r = exchange(&peers[k], OP_ECHO, &m);

			if (r < 0)
				return fail("apps", "exchange", r);
		}
	printf("apps   sent %u requests to each of", n);
	for (unsigned k = 0; k < np; k++)
		printf(" %s", names[peers[k].id]);
	printf(" over queues smemd made, and checked every reply (%.1f us per round trip)\n",
	       (double)(now_ns() - t0) / 1000.0 / (n * np));
	return 0;
}

static void status(const char *smemctl, const char *sock)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s status --socket %s", smemctl, sock);
	printf("\n$ smemctl status\n");
	fflush(stdout);
	if (system(cmd) != 0)
		fprintf(stderr, "apps   smemctl status failed\n");
}

static void finding(const char *msg, void *userdata)
{
	(void)userdata;
	printf("apps   fsck: %s\n", msg);
}

static void check_image(struct smem_rm *rm)
{
	struct smem_region *r;
	int n = smem_rm_dump(rm, &r);

	if (n < 0) {
		fail("apps", "dump the image", n);
		return;
	}
	n = smem_check(smem_region_base(r), smem_region_size(r), finding, NULL);
	printf("apps   smem_check() of smemd's whole image (smem_rm_dump()): %s\n",
	       n == 0 ? "clean" : "see above");
	smem_region_close(r);
}

static int story(const char *self, const char *sock, const char *smemctl, unsigned n)
{
	struct peer peers[2] = { { .id = MODEM }, { .id = ADSP } };
	struct smem_rm_notification note;
	struct smem_rm *rm;
	struct smem *s;
	struct msg m;
	int64_t t_send, t_note, t_own;
	int r, st;

	r = smem_rm_connect(sock, APPS, &rm);
	if (r < 0)
		return fail("apps", "register with smemd", r);
	r = attach(rm, APPS, &s);
	if (r < 0)
		return fail("apps", "attach the image", r);
	printf("apps   (pid %d) registered with smemd as host 0\n", (int)getpid());
	if (bring_up(rm, self, sock, &peers[0], 1, "smem.alloc.after_entry") < 0 ||
	    bring_up(rm, self, sock, &peers[1], 1, NULL) < 0)
		return fail("apps", "bring the hosts up", -EIO);
	if (traffic(peers, 2, n))
		return 1;
	status(smemctl, sock);

	printf("\n# The modem dies in the middle of an allocation, holding lock 3\n");
	fflush(stdout);
	t_send = now_ns();
	smem_msgq_send_wait(peers[0].tx, &(struct msg){ .op = OP_ALLOC }, sizeof(m), SMEM_MSGQ_PUSH,
			    TIMEOUT_MS);
	r = wait_note(rm, SMEM_RM_NOTIF_VM_EXITED, smem_rm_vmid(MODEM), &note);
	t_note = now_ns();
	if (r < 0)
		return fail("apps", "hear of the modem's death", r);
	r = smem_item_alloc(s, MODEM, 311, 64, 0);
	t_own = now_ns();
	waitpid(peers[0].pid, &st, 0);
	printf("modem  (pid %d) was SIGKILLed inside its allocation of item 310, holding lock 3\n",
	       (int)peers[0].pid);
	printf("apps   smemd said VM_EXITED (exit type %u: the process died) %.0f us after apps sent "
	       "the request that killed it\n",
	       note.exit_type, (double)(t_note - t_send) / 1000.0);
	printf("apps   allocated item 311: %s, %.0f us after that\n",
	       r == SMEM_RECOVERED ? "SMEM_RECOVERED (smemd handed lock 3 on, marked for repair)"
				   : strerror(-r),
	       (double)(t_own - t_note) / 1000.0);
	{
		void *p;
		size_t size;

		printf("apps   item 310, which the modem never published, is %s\n",
		       smem_item_get(s, MODEM, 310, &p, &size) == -ENOENT ? "absent, as it should be"
									 : "PRESENT");
	}
	r = smem_msgq_send_wait(peers[0].tx, &m, sizeof(m), 0, -1);
	printf("apps   a send to the dead modem's queue returns %s, not a wait for ever\n",
	       r == -EPIPE ? "-EPIPE" : strerror(-r));
	check_image(rm);
	status(smemctl, sock);

	printf("\n# adsp never noticed; a new modem comes up and gets queues of its own\n");
	if (traffic(&peers[1], 1, n))
		return 1;
	smem_rm_msgq_close(rm, peers[0].tx);
	smem_rm_msgq_close(rm, peers[0].rx);
	if (bring_up(rm, self, sock, &peers[0], 2, NULL) < 0)
		return fail("apps", "bring the new modem up", -EIO);
	if (traffic(peers, 2, n))
		return 1;
	for (unsigned k = 0; k < 2; k++) {
		smem_msgq_send_wait(peers[k].tx, &(struct msg){ .op = OP_QUIT }, sizeof(m),
				    SMEM_MSGQ_PUSH, TIMEOUT_MS);
		waitpid(peers[k].pid, &st, 0);
	}
	status(smemctl, sock);
	smem_close(s);
	smem_rm_close(rm);
	return 0;
}

int main(int argc, char **argv)
{
	/* Lines in the order they happen, whoever prints them. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "host"))
		return host(argv[2], (unsigned)atoi(argv[3]) % 3);
	if (argc == 4)
		return story(argv[0], argv[1], argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: smemkit-rm-demo SOCKET SMEMCTL N | host SOCKET ID\n");
	return 2;
}
