// SPDX-License-Identifier: MIT
/*
 * Crash tests: a peer is killed by SIGKILL at every fault point of the send and
 * receive paths (and while it sleeps), then the survivor checks that no torn
 * message is visible, that nothing is delivered twice, and that it carries on.
 */
#include <signal.h>
#include <fcntl.h>
#include <sched.h>

#include "core/fault.h"
#include "msgq-helpers.h"

#define FILL 12u

static struct smem_msgq_config cfg(unsigned flags)
{
	struct smem_msgq_config c;

	smem_msgq_config_init(&c);
	c.depth = 16;
	c.max_msg_size = sizeof(struct nmsg);
	c.flags = flags;
	return c;
}

static void assert_killed(pid_t pid)
{
	int st = child_status(pid);

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the peer was not killed (0x%x)", st);
}

/* Reads the numbers the child reported before it died. */
static unsigned read_reports(int fd, uint32_t *out, unsigned max)
{
	unsigned k = 0;

	while (k < max && pipe_get(fd, &out[k], sizeof(out[k])))
		k++;
	return k;
}

static void sender_dies_at(const char *point, unsigned nth, unsigned flags)
{
	struct smem_msgq_config c = cfg(flags);
	uint32_t acked[FILL];
	unsigned k, got = 0;
	struct smem_msgq *tx2;
	struct nmsg m;
	size_t size;
	int fds[2], r;
	struct tq t;
	pid_t pid;

	tq_make(&t, &c);
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		smem__fault_arm(point, nth);
		for (uint32_t i = 0; i < FILL; i++) {
			nmsg_fill(&m, 0, i);
			if (smem_msgq_send(t.tx, &m, sizeof(m), 0) < 0)
				_exit(2);
			pipe_put(fds[1], &i, sizeof(i));
		}
		_exit(0);
	}
	close(fds[1]);
	assert_killed(pid);
	k = read_reports(fds[0], acked, FILL);
	close(fds[0]);
	cr_assert_eq(k, nth - 1, "%s:%u: the sender died in send %u", point, nth, k);

	/* The survivor: every visible message is whole, in order, and none is torn. */
	while ((r = smem_msgq_recv(t.rx, &m, sizeof(m), &size)) >= 0) {
		cr_assert_eq(size, sizeof(m));
		cr_assert(nmsg_ok(&m), "%s:%u: message %u is torn", point, nth, got);
		cr_assert_eq(m.n, got, "%s:%u: out of order", point, nth);
		got++;
	}
	cr_assert_eq(r, -EAGAIN);
	if (!strcmp(point, "msgq.send.published"))
		cr_assert_eq(got, k + 1, "a published message is delivered even if the sender died");
	else
		cr_assert_eq(got, k, "an unpublished message never shows");

	/* A restarted sender repairs its end and the queue goes on. */
	cr_assert_eq(smem_msgq_open(t.mem, t.size, SMEM_MSGQ_TX, NULL, &tx2), 0);
	r = smem_msgq_recover(tx2);
	cr_assert_eq(r, strcmp(point, "msgq.send.published") ? 1 : 0, "%s: repaired %d", point, r);
	nmsg_fill(&m, 0, 1000);
	cr_assert_geq(smem_msgq_send(tx2, &m, sizeof(m), 0), 0);
	cr_assert_eq(smem_msgq_recv(t.rx, &m, sizeof(m), &size), 0);
	cr_assert_eq(m.n, 1000, "the receiver carries on past the dead sender's claim");
	cr_assert(nmsg_ok(&m));
	smem_msgq_close(tx2);
	tq_free(&t);
}

static const char *const send_points[] = {
	"msgq.send.claimed",
	"msgq.send.copied",
	"msgq.send.published",
};

Test(msgq_crash, sender_killed_at_every_point)
{
	for (size_t i = 0; i < sizeof(send_points) / sizeof(send_points[0]); i++)
		for (unsigned nth = 1; nth <= 9; nth += 4)
			sender_dies_at(send_points[i], nth, 0);
}

Test(msgq_crash, multi_sender_killed_at_every_point)
{
	for (size_t i = 0; i < sizeof(send_points) / sizeof(send_points[0]); i++)
		for (unsigned nth = 1; nth <= 9; nth += 4)
			sender_dies_at(send_points[i], nth, SMEM_MSGQ_MULTI_SEND);
}

static void receiver_dies_at(const char *point, unsigned nth, unsigned flags)
{
	struct smem_msgq_config c = cfg(flags);
	uint32_t reported[FILL];
	uint8_t times[FILL] = { 0 };
	struct smem_msgq *rx2;
	unsigned k, missing = 0;
	struct nmsg m;
	size_t size;
	int fds[2], r;
	struct tq t;
	pid_t pid;

	tq_make(&t, &c);
	for (uint32_t i = 0; i < FILL; i++) {
		nmsg_fill(&m, 0, i);
		cr_assert_geq(smem_msgq_send(t.tx, &m, sizeof(m), 0), 0);
	}
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		smem__fault_arm(point, nth);
		while (smem_msgq_recv(t.rx, &m, sizeof(m), &size) >= 0)
			pipe_put(fds[1], &m.n, sizeof(m.n));
		_exit(0);
	}
	close(fds[1]);
	assert_killed(pid);
	k = read_reports(fds[0], reported, FILL);
	close(fds[0]);
	cr_assert_eq(k, nth - 1);
	for (unsigned i = 0; i < k; i++)
		times[reported[i]]++;

	/* A restarted receiver repairs its end and drains the rest. */
	cr_assert_eq(smem_msgq_open(t.mem, t.size, SMEM_MSGQ_RX, NULL, &rx2), 0);
	cr_assert_geq(smem_msgq_recover(rx2), 0);
	while ((r = smem_msgq_recv(rx2, &m, sizeof(m), &size)) >= 0) {
		cr_assert(nmsg_ok(&m));
		cr_assert_lt(m.n, FILL);
		times[m.n]++;
	}
	cr_assert_eq(r, -EAGAIN);
	for (uint32_t i = 0; i < FILL; i++) {
		cr_assert_leq(times[i], 1, "%s:%u: message %u delivered twice", point, nth, i);
		missing += !times[i];
	}
	/* Only the message the receiver held when it died may be gone. */
	cr_assert_leq(missing, 1, "%s:%u: %u messages lost", point, nth, missing);
	if (missing)
		cr_assert_eq(times[k], 0, "the lost one is the one being received");

	/* The sender carries on into the repaired queue. */
	nmsg_fill(&m, 0, 77);
	cr_assert_geq(smem_msgq_send(t.tx, &m, sizeof(m), 0), 0);
	cr_assert_eq(smem_msgq_recv(rx2, &m, sizeof(m), &size), 0);
	cr_assert_eq(m.n, 77);
	smem_msgq_close(rx2);
	tq_free(&t);
}

Test(msgq_crash, receiver_killed_at_every_point)
{
	static const char *const points[] = { "msgq.recv.copied", "msgq.recv.released" };

	for (size_t i = 0; i < 2; i++)
		for (unsigned nth = 1; nth <= 9; nth += 4)
			receiver_dies_at(points[i], nth, 0);
}

Test(msgq_crash, multi_receiver_killed_at_every_point)
{
	static const char *const points[] = { "msgq.recv.claimed", "msgq.recv.copied",
					      "msgq.recv.released" };

	for (size_t i = 0; i < 3; i++)
		for (unsigned nth = 1; nth <= 9; nth += 4)
			receiver_dies_at(points[i], nth, SMEM_MSGQ_MULTI_RECV);
}

/* Waits (without sleeping) until a peer has announced that it sleeps on @b. */
static void await_sleeper(struct msgq_bell *b)
{
	while (!(atomic_load(&b->sleep) & BELL_FUTEX))
		sched_yield();
}

Test(msgq_crash, sleeping_receiver_killed)
{
	struct smem_msgq_config c = cfg(0);
	struct nmsg m;
	size_t size;
	struct tq t;
	pid_t pid;
	struct smem_msgq_opts o;
	struct smem_msgq *rx;

	tq_make(&t, &c);
	smem_msgq_opts_init(&o);
	o.spin_ns = 0;
	cr_assert_eq(smem_msgq_open(t.mem, t.size, SMEM_MSGQ_RX, &o, &rx), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		smem_msgq_recv_wait(rx, &m, sizeof(m), &size, -1);
		_exit(0);
	}
	await_sleeper(&tq_shm(&t)->rxbell);
	kill(pid, SIGKILL);
	assert_killed(pid);
	/* The sender goes on until the queue is full, then gets a clear timeout. */
	nmsg_fill(&m, 0, 0);
	for (int i = 0; i < 15; i++)
		cr_assert_eq(smem_msgq_send(t.tx, &m, sizeof(m), 0), 1);
	cr_assert_eq(smem_msgq_send_wait(t.tx, &m, sizeof(m), 0, 10), 0);
	cr_assert_eq(smem_msgq_send_wait(t.tx, &m, sizeof(m), 0, 10), -ETIMEDOUT);
	smem_msgq_close(rx);
	tq_free(&t);
}

Test(msgq_crash, sleeping_sender_killed)
{
	struct smem_msgq_config c = cfg(0);
	struct smem_msgq_opts o;
	struct smem_msgq *tx;
	struct nmsg m;
	size_t size;
	struct tq t;
	pid_t pid;

	tq_make(&t, &c);
	smem_msgq_opts_init(&o);
	o.spin_ns = 0;
	cr_assert_eq(smem_msgq_open(t.mem, t.size, SMEM_MSGQ_TX, &o, &tx), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (uint32_t i = 0;; i++) {
			nmsg_fill(&m, 0, i);
			smem_msgq_send_wait(tx, &m, sizeof(m), 0, -1);
		}
	}
	await_sleeper(&tq_shm(&t)->txbell);
	kill(pid, SIGKILL);
	assert_killed(pid);
	/* The receiver drains every message the dead sender sent, whole and in order. */
	for (uint32_t i = 0; i < 16; i++) {
		cr_assert_geq(smem_msgq_recv(t.rx, &m, sizeof(m), &size), 0);
		cr_assert_eq(m.n, i);
		cr_assert(nmsg_ok(&m));
	}
	cr_assert_eq(smem_msgq_recv(t.rx, &m, sizeof(m), &size), -EAGAIN);
	smem_msgq_close(tx);
	tq_free(&t);
}
