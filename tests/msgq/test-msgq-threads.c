// SPDX-License-Identifier: MIT
/*
 * Several sending and several receiving threads on one queue (and one of each on
 * a queue without the multi flags), for every doorbell and with and without
 * polling before sleeping: every message must arrive exactly once, whole, and
 * each sender's messages in order at each receiver. No wait has a timeout: the
 * receivers stop on a message that says so, so a lost wake-up hangs and the
 * test's timeout fails it. A plain program rather than a Criterion test, so
 * that it also runs under ThreadSanitizer (make test-tsan), which sees the
 * threads' synchronisation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "smemkit/msgq.h"

#define MAX_THREADS 8
#define PER         20000u
#define STOP        UINT32_MAX

struct msg {
	uint32_t who, n, check;
};

struct run {
	struct smem_msgq *tx, *rx;
	unsigned senders;
	_Atomic unsigned received;
	_Atomic uint8_t *seen;
	_Atomic int failed;
};

struct arg {
	struct run *r;
	unsigned id;
};

static int send_one(struct run *run, const struct msg *m)
{
	int r = smem_msgq_send_wait(run->tx, m, sizeof(*m), 0, -1);

	if (r < 0) {
		fprintf(stderr, "sender %u: message %u: %s\n", m->who, m->n, strerror(-r));
		atomic_store(&run->failed, 1);
	}
	return r;
}

static void *sender(void *p)
{
	struct arg *a = p;

	for (uint32_t i = 0; i < PER; i++) {
		struct msg m = { a->id, i, a->id * 2654435761u ^ i };

		if (send_one(a->r, &m) < 0)
			return NULL;
	}
	return NULL;
}

static void *receiver(void *p)
{
	struct arg *a = p;
	uint32_t last[MAX_THREADS];

	memset(last, 0xff, sizeof(last));
	for (;;) {
		struct msg m;
		size_t size;
		int r = smem_msgq_recv_wait(a->r->rx, &m, sizeof(m), &size, -1);

		if (r >= 0 && size == sizeof(m) && m.who == STOP)
			return NULL;
		if (r < 0 || size != sizeof(m) || m.who >= a->r->senders || m.n >= PER ||
		    m.check != (m.who * 2654435761u ^ m.n) ||
		    (last[m.who] != UINT32_MAX && m.n <= last[m.who]) ||
		    atomic_fetch_add(&a->r->seen[m.who * PER + m.n], 1) != 0) {
			fprintf(stderr, "receiver %u: bad message (r %d)\n", a->id, r);
			atomic_store(&a->r->failed, 1);
			return NULL;
		}
		last[m.who] = m.n;
		atomic_fetch_add(&a->r->received, 1);
	}
}

static int one(unsigned doorbell, unsigned spin_ns, unsigned senders, unsigned receivers)
{
	struct smem_msgq_config c;
	struct smem_msgq_opts o;
	pthread_t t[MAX_THREADS];
	struct arg args[MAX_THREADS];
	struct run r = { .senders = senders };
	unsigned n = senders + receivers;
	size_t size;
	void *mem;
	int ok;

	smem_msgq_config_init(&c);
	c.depth = 5;
	c.max_msg_size = sizeof(struct msg);
	c.flags = (senders > 1 ? SMEM_MSGQ_MULTI_SEND : 0) | (receivers > 1 ? SMEM_MSGQ_MULTI_RECV : 0);
	c.doorbell = doorbell;
	smem_msgq_opts_init(&o);
	o.spin_ns = spin_ns;
	o.rx_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	o.tx_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (smem_msgq_size(c.depth, c.max_msg_size, &size) < 0 || !(mem = aligned_alloc(64, size)) ||
	    smem_msgq_init(mem, size, &c) < 0 || smem_msgq_open(mem, size, SMEM_MSGQ_TX, &o, &r.tx) < 0 ||
	    smem_msgq_open(mem, size, SMEM_MSGQ_RX, &o, &r.rx) < 0)
		return 0;
	r.seen = calloc((size_t)senders * PER, 1);
	for (unsigned i = 0; i < n; i++) {
		args[i] = (struct arg){ &r, i < senders ? i : i - senders };
		pthread_create(&t[i], NULL, i < senders ? sender : receiver, &args[i]);
	}
	for (unsigned i = 0; i < senders; i++)
		pthread_join(t[i], NULL);
	/* Each receiver stops at the first stop message it takes. */
	for (unsigned i = 0; i < receivers; i++) {
		struct msg stop = { STOP, i, 0 };

		send_one(&r, &stop);
	}
	for (unsigned i = senders; i < n; i++)
		pthread_join(t[i], NULL);
	ok = !atomic_load(&r.failed) && atomic_load(&r.received) == senders * PER;
	for (unsigned i = 0; ok && i < senders * PER; i++)
		ok = atomic_load(&r.seen[i]) == 1;
	smem_msgq_close(r.tx);
	smem_msgq_close(r.rx);
	close(o.rx_eventfd);
	close(o.tx_eventfd);
	free((void *)r.seen);
	free(mem);
	return ok;
}

int main(void)
{
	static const struct {
		unsigned doorbell, spin_ns, senders, receivers;
		const char *name;
	} cases[] = {
		{ SMEM_MSGQ_DOORBELL_FUTEX, 50000, 4, 3, "futex, 4 senders, 3 receivers" },
		{ SMEM_MSGQ_DOORBELL_FUTEX, 0, 4, 3, "futex, no polling, 4 senders, 3 receivers" },
		{ SMEM_MSGQ_DOORBELL_EVENTFD, 0, 4, 3, "eventfd, no polling, 4 senders, 3 receivers" },
		{ SMEM_MSGQ_DOORBELL_POLL, 0, 4, 3, "poll, 4 senders, 3 receivers" },
		{ SMEM_MSGQ_DOORBELL_FUTEX, 0, 1, 1, "futex, no polling, 1 sender, 1 receiver" },
		{ SMEM_MSGQ_DOORBELL_FUTEX, 50000, 1, 1, "futex, 1 sender, 1 receiver" },
	};
	unsigned passed = 0, failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = one(cases[i].doorbell, cases[i].spin_ns, cases[i].senders,
			     cases[i].receivers);

		printf("%s: %s\n", cases[i].name, ok ? "ok" : "FAILED");
		ok ? passed++ : failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
