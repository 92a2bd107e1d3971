// SPDX-License-Identifier: MIT
/*
 * smemd killed and started again, under traffic. smemd runs under its
 * supervisor (smemd --supervise, the fd store and restarts systemd gives
 * smemd.service), and the test SIGKILLs the serving smemd again and again
 * while two hosts stream numbered messages through a queue pair the RM made.
 * Meanwhile the data path never stops: no message is lost or reordered, items
 * are allocated while smemd is away, and control calls fail with a clear
 * error; once smemd is back, each host's next call reconnects on its own. A
 * host that dies while smemd is away is cleaned up by the next smemd: its
 * lock handed on, its peer told VM_EXITED when it is back.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rm/proto.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/rm.h"
#include "smemkit/smem.h"

#define RESTARTS 100
#define SENDER   1u /* modem */
#define RECEIVER 2u /* adsp */
#define DOOMED   5u /* cdsp: dies while smemd is away */
#define LABEL    9u

static void setup(void)
{
	start_smemd_as(NULL, true);
}

TestSuite(restart, .init = setup, .fini = stop_smemd, .timeout = 600);

/* A host process: commands on one pipe, one answer line each on another. */
struct host {
	unsigned id;
	int cmd[2], ans[2];
	pid_t pid;
};

struct stream {
	struct smem_msgq *q;
	atomic_bool stop;
	uint64_t count;  /* sent, or received in order */
	int error;       /* the first failure, or 0 */
};

static void *send_stream(void *arg)
{
	struct stream *s = arg;
	uint64_t end = UINT64_MAX;

	while (!atomic_load(&s->stop)) {
		int r = smem_msgq_send_wait(s->q, &s->count, sizeof(s->count), 0, 10000);

		if (r < 0) {
			s->error = r;
			return NULL;
		}
		s->count++;
	}
	if (smem_msgq_send_wait(s->q, &end, sizeof(end), 0, 10000) < 0)
		s->error = -EIO;
	return NULL;
}

static void *recv_stream(void *arg)
{
	struct stream *s = arg;

	for (;;) {
		uint64_t v;
		size_t size;
		int r = smem_msgq_recv_wait(s->q, &v, sizeof(v), &size, 10000);

		if (r < 0) {
			s->error = r;
			return NULL;
		}
		if (v == UINT64_MAX)
			return NULL;
		if (size != sizeof(v) || v != s->count) {
			s->error = -EBADMSG; /* lost, reordered or torn */
			return NULL;
		}
		s->count++;
	}
}

static void answer(struct host *h, const char *fmt, long a, long b)
{
	char line[128];
	int n = snprintf(line, sizeof(line), fmt, a, b);

	if (write(h->ans[1], line, (size_t)n) != n)
		_exit(90);
}

/* A control call until it works; how many failed first, and the last error. */
static void control(struct host *h, struct smem_rm *rm)
{
	struct smem_rm_state st;
	long failed = 0, last = 0;
	int r;

	while ((r = smem_rm_get_state(rm, 0, &st)) != 0) {
		if (r != -ECONNREFUSED && r != -ENOENT && r != -ECONNRESET) {
			answer(h, "bad %ld %ld\n", r, failed);
			return;
		}
		failed++;
		last = r;
		/* Lost under the call, and reconnected already if smemd is back: again. */
		if (r == -ECONNRESET)
			continue;
		/* Nobody listens: smemd renames its socket into place then, and that wakes us. */
		struct pollfd p = { smem_rm_fd(rm), POLLIN, 0 };

		poll(&p, 1, -1);
	}
	answer(h, st.vm_state == SMEM_RM_VM_RUNNING ? "ok %ld %ld\n" : "bad 0 %ld\n", failed,
	       last);
}

static int host_main(void *arg)
{
	struct host *h = arg;
	struct smem_rm_resource res[4];
	struct smem_open_opts o;
	struct stream st = { 0 };
	struct smem_rm *rm;
	struct smem *s;
	pthread_t t;
	unsigned items = 0;
	bool exited_seen = false;
	char c;

	/* Its own ends only: the test's closing the command pipe is the end. */
	close(h->cmd[1]);
	close(h->ans[0]);
	if (smem_rm_connect(NULL, (int)h->id, &rm) != 0)
		return 1;
	smem_open_opts_init(&o);
	o.rm = rm;
	if (smem_open(NULL, h->id, &o, &s) != 0)
		return 2;
	/* The receiver's calls go on its RM link, which each reconnect makes anew. */
	if (h->id == RECEIVER && smem_rm_link(rm) != 0)
		return 10;
	if (h->id == DOOMED) {
		/* Holds lock 5 until it is killed (taken from the last one killed, maybe). */
		if (smem_hwlock_lock(smem_rm_hwlock(rm), 5, DOOMED, 10000, 0) < 0)
			return 3;
		answer(h, "ok %ld %ld\n", 0, 0);
		for (;;)
			pause();
	}
	answer(h, "ok %ld %ld\n", 0, 0);
	while (read(h->cmd[0], &c, 1) == 1) {
		switch (c) {
		case 'q': { /* make the queue pair (sender), or find it (receiver) and stream */
			uint64_t txc, rxc;
			size_t n;
			struct smem_msgq *tx = NULL, *rx = NULL;

			if (h->id == SENDER) {
				if (smem_rm_msgq_create(rm, smem_rm_vmid(RECEIVER), LABEL, 64, 16, 0,
							&txc, &rxc) != 0 ||
				    smem_rm_msgq_open(rm, txc, NULL, &tx) != 0)
					return 4;
				st.q = tx;
				pthread_create(&t, NULL, send_stream, &st);
			} else {
				if (smem_rm_get_resources(rm, res, 4, &n) != 0 || n != 2)
					return 5;
				for (size_t i = 0; i < n; i++)
					if (res[i].type == 3 &&
					    smem_rm_msgq_open(rm, res[i].cap, NULL, &rx) != 0)
						return 6;
				if (!rx)
					return 7;
				st.q = rx;
				pthread_create(&t, NULL, recv_stream, &st);
			}
			answer(h, "ok %ld %ld\n", 0, 0);
			break;
		}
		case 'c':
			control(h, rm);
			break;
		case 'x': { /* a control call while smemd is away: a clear error, at once */
			struct smem_rm_state sst;
			int r = smem_rm_get_state(rm, 0, &sst);

			answer(h, r == -ECONNREFUSED || r == -ENOENT || r == -ECONNRESET
					  ? "ok %ld %ld\n"
					  : "bad %ld %ld\n",
			       r, 0);
			break;
		}
		case 'b': { /* scribble on the lock bank's header, as a hostile host may */
			uint8_t *bank = smem_region_base(smem__rm_bank_region(rm));

			bank[0] ^= 0xff;
			bank[12] ^= 0x55;
			answer(h, "ok %ld %ld\n", 0, 0);
			break;
		}
		case 'a': { /* an item, whether smemd is there or not */
			int r = smem_item_alloc(s, 0, 100 + items, 32, 0);

			items++;
			answer(h, r >= 0 ? "ok %ld %ld\n" : "bad %ld %ld\n", items, r);
			break;
		}
		case 'l': { /* lock 5, which the doomed host held when it died */
			int r = smem_hwlock_lock(smem_rm_hwlock(rm), 5, h->id, 10000, 0);

			answer(h, r == SMEM_HWLOCK_RECOVERED ? "ok %ld %ld\n" : "bad %ld %ld\n", r, 0);
			if (r >= 0)
				smem_hwlock_unlock(smem_rm_hwlock(rm), 5, h->id);
			break;
		}
		case 'n': { /* was the doomed host's exit told, once back? */
			struct smem_rm_notification n;

			while (smem_rm_notification(rm, &n) == 0)
				if (n.msg_id == SMEM_RM_NOTIF_VM_EXITED && n.vmid == smem_rm_vmid(DOOMED))
					exited_seen = true;
			answer(h, exited_seen ? "ok %ld %ld\n" : "bad %ld %ld\n", 0, 0);
			exited_seen = false;
			break;
		}
		case 'e': /* the end: stop streaming and say how far it got */
			atomic_store(&st.stop, true);
			pthread_join(t, NULL);
			answer(h, st.error ? "bad %ld %ld\n" : "ok %ld %ld\n", (long)st.count, st.error);
			break;
		}
	}
	smem_close(s);
	smem_rm_close(rm);
	return 0;
}

static void start_host(struct host *h, unsigned id)
{
	h->id = id;
	cr_assert_eq(pipe(h->cmd), 0);
	cr_assert_eq(pipe(h->ans), 0);
	h->pid = child(host_main, h);
	/* The child's ends are the child's: its death is an end of file here. */
	close(h->cmd[0]);
	close(h->ans[1]);
}

static int restart; /* which restart the test is at */

/* Read @h's next answer: "ok A B" or "bad A B". */
static bool answered(struct host *h, long *a, long *b)
{
	char line[128] = "";
	size_t n = 0;
	char word[8];

	while (n < sizeof(line) - 1 && read(h->ans[0], line + n, 1) == 1 && line[n] != '\n')
		n++;
	if (n == 0) {
		int st = status_of(h->pid);

		cr_assert_fail("host %u gave no answer in restart %d: %s %d", h->id, restart,
			       WIFEXITED(st) ? "exit" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	cr_assert_eq(sscanf(line, "%7s %ld %ld", word, a, b), 3, "host %u said '%s'", h->id, line);
	return !strcmp(word, "ok");
}

/* Send @c to @h and read its answer. */
static bool ask(struct host *h, char c, long *a, long *b)
{
	cr_assert_eq(write(h->cmd[1], &c, 1), 1);
	return answered(h, a, b);
}

static bool host_exited(unsigned id)
{
	struct smem_rm_host hosts[64];
	struct smem_rm *obs;
	size_t n;
	bool exited = false;

	cr_assert_eq(smem_rm_connect(NULL, -1, &obs), 0);
	cr_assert_eq(smem_rm_hosts(obs, hosts, 64, &n), 0);
	for (size_t i = 0; i < n && i < 64; i++)
		if (hosts[i].host == id)
			exited = hosts[i].vm_state == SMEM_RM_VM_EXITED;
	smem_rm_close(obs);
	return exited;
}

Test(restart, a_hundred_restarts_under_traffic_lose_nothing)
{
	struct host snd, rcv, doomed;
	long a, b, failed_calls = 0, refused = 0;
	unsigned deaths = 0;

	start_host(&rcv, RECEIVER);
	cr_assert(answered(&rcv, &a, &b), "the receiver is up");
	start_host(&snd, SENDER);
	cr_assert(answered(&snd, &a, &b), "the sender is up");
	cr_assert(ask(&snd, 'q', &a, &b), "the sender makes the queues");
	cr_assert(ask(&rcv, 'q', &a, &b), "the receiver opens its end");
	for (int i = 0; i < RESTARTS; i++) {
		restart = i;
		pid_t old = worker_pid;
		bool kill_one = i % 10 == 5, scribble = i % 10 == 7;
		int pidfd = (int)syscall(SYS_pidfd_open, old, 0);
		struct pollfd dead = { pidfd, POLLIN, 0 };

		if (kill_one) {
			start_host(&doomed, DOOMED);
			cr_assert(answered(&doomed, &a, &b), "the doomed host holds lock 5");
		}
		/* Held away: the supervisor starts no new smemd until it is let go. */
		cr_assert_eq(kill(smemd_pid, SIGSTOP), 0);
		cr_assert_eq(kill(old, SIGKILL), 0);
		cr_assert_eq(poll(&dead, 1, -1), 1, "smemd is gone");
		close(pidfd);
		/* smemd is away: the data path does not care; control calls fail clearly. */
		cr_assert(ask(&snd, 'a', &a, &b), "an item while smemd is away: %ld", b);
		cr_assert(ask(&rcv, 'x', &a, &b), "a call while smemd is away: %ld", a);
		refused++;
		if (kill_one) {
			kill(doomed.pid, SIGKILL);
			status_of(doomed.pid);
			close(doomed.cmd[1]);
			close(doomed.ans[0]);
		}
		if (scribble)
			cr_assert(ask(&snd, 'b', &a, &b));
		cr_assert_eq(kill(smemd_pid, SIGCONT), 0);
		worker_pid = wait_serving();
		cr_assert_neq(worker_pid, old);
		/* Served again, by the same memory: -ESTALE would fail these. */
		cr_assert(ask(&snd, 'c', &a, &b), "the sender is served again: %ld", b);
		failed_calls += a;
		cr_assert(ask(&rcv, 'c', &a, &b), "the receiver is served again: %ld", b);
		failed_calls += a;
		if (kill_one) {
			cr_assert(host_exited(DOOMED), "the host that died while smemd was away");
			cr_assert(ask(&snd, 'l', &a, &b), "its lock comes back repaired: %ld", a);
			cr_assert(ask(&snd, 'n', &a, &b), "the sender was told VM_EXITED when back");
			deaths++;
		}
		if (scribble) {
			/* The bank's header is smemd's: restored, so a new host registers. */
			start_host(&doomed, DOOMED);
			cr_assert(answered(&doomed, &a, &b), "a host registers after the scribble");
			kill(doomed.pid, SIGKILL);
			status_of(doomed.pid);
			close(doomed.cmd[1]);
			close(doomed.ans[0]);
		}
	}
	cr_assert(ask(&snd, 'e', &a, &b), "the sender: error %ld", b);
	{
		long sent = a;

		cr_assert(ask(&rcv, 'e', &a, &b), "the receiver: error %ld after %ld", b, a);
		cr_assert_eq(a, sent, "every message sent arrived, in order");
		cr_assert_gt(sent, RESTARTS, "traffic flowed throughout");
		cr_log_info("%d restarts: %ld messages in order, %u hosts dead while away cleaned "
			    "up, %ld control calls refused while smemd was away, %ld calls that "
			    "found the connection lost and reconnected",
			    RESTARTS, sent, deaths, refused, failed_calls);
	}
	close(snd.cmd[1]);
	close(rcv.cmd[1]);
	cr_assert(WIFEXITED(status_of(snd.pid)));
	cr_assert(WIFEXITED(status_of(rcv.pid)));
}
