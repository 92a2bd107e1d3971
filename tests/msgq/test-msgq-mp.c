// SPDX-License-Identifier: MIT
/*
 * Message queues between real peers: forked processes, threads of one host, every
 * doorbell. Each message carries its number and bytes derived from it, so a lost,
 * doubled, reordered or torn message fails the test.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "msgq-helpers.h"

#define N_MSGS 20000u

static struct smem_msgq_config cfg(unsigned depth, unsigned doorbell, unsigned flags)
{
	struct smem_msgq_config c;

	smem_msgq_config_init(&c);
	c.depth = depth;
	c.max_msg_size = sizeof(struct nmsg);
	c.doorbell = doorbell;
	c.flags = flags;
	return c;
}

/* From now on, membarrier(2) fails with ENOSYS in this process, as on a kernel without it. */
static int refuse_membarrier(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/*
 * The child receives N_MSGS with the blocking call and checks order and contents.
 * With @no_membarrier, both processes run where membarrier(2) fails: each keeps
 * the full fence, and its waits have no 1 ms slice to hide a lost wake-up
 * behind (meson runs the msgq suites with SMEMKIT_MSGQ_NO_FALLBACK=1).
 */
static void stream_between(unsigned doorbell, unsigned depth, unsigned spin_ns, bool no_membarrier)
{
	struct smem_msgq_config c = cfg(depth, doorbell, 0);
	struct smem_msgq_opts o;
	struct nmsg m;
	struct tq t;
	pid_t pid;

	tq_make(&t, &c);
	smem_msgq_opts_init(&o);
	o.spin_ns = spin_ns;
	o.rx_eventfd = t.rx_efd;
	o.tx_eventfd = t.tx_efd;
	if (no_membarrier)
		cr_assert_eq(refuse_membarrier(), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem_msgq *rx;
		size_t size;

		if (smem_msgq_open(t.mem, t.size, SMEM_MSGQ_RX, &o, &rx) < 0)
			_exit(1);
		for (uint32_t i = 0; i < N_MSGS; i++) {
			if (smem_msgq_recv_wait(rx, &m, sizeof(m), &size, 10000) < 0)
				_exit(2);
			if (size != sizeof(m) || m.n != i || !nmsg_ok(&m))
				_exit(3);
		}
		_exit(0);
	}
	struct smem_msgq *tx;

	cr_assert_eq(smem_msgq_open(t.mem, t.size, SMEM_MSGQ_TX, &o, &tx), 0);
	for (uint32_t i = 0; i < N_MSGS; i++) {
		nmsg_fill(&m, 0, i);
		cr_assert_geq(smem_msgq_send_wait(tx, &m, sizeof(m), 0, 10000), 0, "message %u", i);
	}
	int st = child_status(pid);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "receiver failed: 0x%x", st);
	smem_msgq_close(tx);
	tq_free(&t);
}

static void stream_between_processes(unsigned doorbell, unsigned depth, unsigned spin_ns)
{
	stream_between(doorbell, depth, spin_ns, false);
}

/* Where membarrier is refused, the waits still lose no wake-up: both sides fence fully. */
Test(msgq_mp, futex_stream_where_membarrier_is_refused)
{
	stream_between(SMEM_MSGQ_DOORBELL_FUTEX, 2, 0, true);
}

Test(msgq_mp, futex_stream_between_processes)
{
	stream_between_processes(SMEM_MSGQ_DOORBELL_FUTEX, 8, 50000);
}

/* No polling at all: every wait sleeps, so every wake-up goes through the doorbell. */
Test(msgq_mp, futex_stream_without_spinning)
{
	stream_between_processes(SMEM_MSGQ_DOORBELL_FUTEX, 2, 0);
}

Test(msgq_mp, poll_stream_between_processes)
{
	stream_between_processes(SMEM_MSGQ_DOORBELL_POLL, 8, 0);
}

Test(msgq_mp, eventfd_stream_between_processes)
{
	stream_between_processes(SMEM_MSGQ_DOORBELL_EVENTFD, 4, 0);
}

/* A receiving host that waits in its own epoll loop on the queue's eventfd. */
Test(msgq_mp, eventfd_in_an_epoll_loop)
{
	struct smem_msgq_config c = cfg(8, SMEM_MSGQ_DOORBELL_EVENTFD, 0);
	struct nmsg m;
	struct tq t;
	pid_t pid;

	tq_make(&t, &c);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct epoll_event ev = { .events = EPOLLIN };
		int ep = epoll_create1(EPOLL_CLOEXEC);
		uint32_t next = 0;
		size_t size;
		int r;

		if (epoll_ctl(ep, EPOLL_CTL_ADD, smem_msgq_fd(t.rx), &ev) < 0)
			_exit(1);
		while (next < N_MSGS) {
			/* Drain on every notification, as a Gunyah client does. */
			while ((r = smem_msgq_recv(t.rx, &m, sizeof(m), &size)) >= 0) {
				if (m.n != next++ || !nmsg_ok(&m))
					_exit(3);
			}
			if (r != -EAGAIN)
				_exit(4);
			if (next < N_MSGS && smem_msgq_arm(t.rx) == 0 && epoll_wait(ep, &ev, 1, 10000) != 1)
				_exit(5);
		}
		_exit(0);
	}
	for (uint32_t i = 0; i < N_MSGS; i++) {
		nmsg_fill(&m, 0, i);
		cr_assert_geq(smem_msgq_send_wait(t.tx, &m, sizeof(m), 0, 10000), 0);
	}
	int st = child_status(pid);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "receiver failed: 0x%x", st);
	tq_free(&t);
}

/* A not-full threshold of 0: the sender sleeps until the queue is empty, then refills it. */
Test(msgq_mp, not_full_threshold_zero_between_processes)
{
	struct smem_msgq_config c = cfg(4, SMEM_MSGQ_DOORBELL_FUTEX, 0);
	struct nmsg m;
	struct tq t;
	pid_t pid;

	c.notfull_thd = 0;
	tq_make(&t, &c);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		size_t size;

		for (uint32_t i = 0; i < 2000; i++)
			if (smem_msgq_recv_wait(t.rx, &m, sizeof(m), &size, 10000) < 0 || m.n != i)
				_exit(2);
		_exit(0);
	}
	for (uint32_t i = 0; i < 2000; i++) {
		nmsg_fill(&m, 0, i);
		cr_assert_geq(smem_msgq_send_wait(t.tx, &m, sizeof(m), 0, 10000), 0);
	}
	int st = child_status(pid);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "receiver failed: 0x%x", st);
	tq_free(&t);
}

/* Many threads per host. */
#define SENDERS   4
#define RECEIVERS 3
#define PER_SENDER 10000u

struct mt {
	struct tq *t;
	unsigned id;
	_Atomic unsigned *received;
	uint8_t *seen; /* SENDERS * PER_SENDER flags */
	bool bad;
};

static void *send_thread(void *arg)
{
	struct mt *a = arg;
	struct nmsg m;

	for (uint32_t i = 0; i < PER_SENDER; i++) {
		nmsg_fill(&m, a->id, i);
		if (smem_msgq_send_wait(a->t->tx, &m, sizeof(m), 0, 20000) < 0)
			a->bad = true;
	}
	return NULL;
}

static void *recv_thread(void *arg)
{
	struct mt *a = arg;
	uint32_t last[SENDERS];
	struct nmsg m;
	size_t size;

	memset(last, 0xff, sizeof(last));
	while (atomic_load(a->received) < SENDERS * PER_SENDER) {
		int r = smem_msgq_recv_wait(a->t->rx, &m, sizeof(m), &size, 20);

		if (r == -ETIMEDOUT)
			continue;
		if (r < 0 || m.who >= SENDERS || m.n >= PER_SENDER || !nmsg_ok(&m)) {
			a->bad = true;
			break;
		}
		/* Each sender's messages reach each receiver in the order they were sent. */
		if (last[m.who] != UINT32_MAX && m.n <= last[m.who])
			a->bad = true;
		last[m.who] = m.n;
		if (a->seen[m.who * PER_SENDER + m.n]++)
			a->bad = true;
		atomic_fetch_add(a->received, 1);
	}
	return NULL;
}

static void many_threads(unsigned doorbell)
{
	struct smem_msgq_config c = cfg(16, doorbell, SMEM_MSGQ_MULTI_SEND | SMEM_MSGQ_MULTI_RECV);
	pthread_t st[SENDERS], rt[RECEIVERS];
	struct mt sa[SENDERS], ra[RECEIVERS];
	_Atomic unsigned received = 0;
	uint8_t *seen = calloc(SENDERS, PER_SENDER);
	struct smem_msgq_stats stats;
	struct tq t;

	tq_make(&t, &c);
	for (unsigned i = 0; i < RECEIVERS; i++) {
		ra[i] = (struct mt){ .t = &t, .id = i, .received = &received, .seen = seen };
		cr_assert_eq(pthread_create(&rt[i], NULL, recv_thread, &ra[i]), 0);
	}
	for (unsigned i = 0; i < SENDERS; i++) {
		sa[i] = (struct mt){ .t = &t, .id = i };
		cr_assert_eq(pthread_create(&st[i], NULL, send_thread, &sa[i]), 0);
	}
	for (unsigned i = 0; i < SENDERS; i++) {
		pthread_join(st[i], NULL);
		cr_assert_not(sa[i].bad, "sender %u failed", i);
	}
	for (unsigned i = 0; i < RECEIVERS; i++) {
		pthread_join(rt[i], NULL);
		cr_assert_not(ra[i].bad, "receiver %u saw a wrong message", i);
	}
	for (unsigned i = 0; i < SENDERS * PER_SENDER; i++)
		cr_assert_eq(seen[i], 1, "message %u delivered %u times", i, seen[i]);
	cr_assert_eq(smem_msgq_stat(t.rx, &stats), 0);
	cr_assert_eq(stats.count, 0);
	cr_assert_eq(stats.sent, SENDERS * PER_SENDER);
	cr_assert_eq(stats.received, SENDERS * PER_SENDER);
	free(seen);
	tq_free(&t);
}

Test(msgq_mp, many_senders_many_receivers_futex, .timeout = 120)
{
	many_threads(SMEM_MSGQ_DOORBELL_FUTEX);
}

Test(msgq_mp, many_senders_many_receivers_poll, .timeout = 120)
{
	many_threads(SMEM_MSGQ_DOORBELL_POLL);
}

/*
 * A host whose peer is gone: after smem_msgq_shutdown() (which smemd calls when
 * an end's host dies) a receiver sleeping in another process wakes, gets what
 * was queued before, then -EPIPE; a sender gets -EPIPE at once. No wait is left
 * hanging: the waits here have no timeout.
 */
Test(msgq_mp, shutdown_wakes_the_peer_with_epipe, .timeout = 30)
{
	struct smem_msgq_config c = cfg(4, SMEM_MSGQ_DOORBELL_FUTEX, 0);
	struct smem_msgq_stats stats;
	struct nmsg m;
	struct tq t;
	int go[2], st;
	pid_t pid;

	tq_make(&t, &c);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		size_t size;
		char c1;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (read(go[0], &c1, 1) != 1)
			_exit(1);
		/* One message, then a sleep that only the shutdown ends. */
		if (smem_msgq_recv_wait(t.rx, &m, sizeof(m), &size, -1) < 0 || m.n != 7)
			_exit(2);
		if (smem_msgq_recv_wait(t.rx, &m, sizeof(m), &size, -1) != -EPIPE)
			_exit(3);
		_exit(0);
	}
	nmsg_fill(&m, 0, 7);
	cr_assert_eq(smem_msgq_send(t.tx, &m, sizeof(m), 0), 1);
	cr_assert_eq(write(go[1], "g", 1), 1);
	/* The receiver is asleep once it announced itself on the bell. */
	while (atomic_load(&tq_shm(&t)->rx.head) == 0 || !atomic_load(&tq_shm(&t)->rxbell.sleep))
		sched_yield();
	cr_assert_eq(smem_msgq_stat(t.rx, &stats), 0);
	cr_assert_eq(stats.closed, 0, "open until the shutdown");
	cr_assert_eq(smem_msgq_shutdown(t.tx), 0);
	st = child_status(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the receiver: status 0x%x", st);
	cr_assert_eq(smem_msgq_send(t.tx, &m, sizeof(m), 0), -EPIPE);
	cr_assert_eq(smem_msgq_send_wait(t.tx, &m, sizeof(m), 0, -1), -EPIPE);
	/* Either end's stat says so, for smemd and smemctl top to show. */
	cr_assert_eq(smem_msgq_stat(t.rx, &stats), 0);
	cr_assert_eq(stats.closed, 1);
	tq_free(&t);
}
