// SPDX-License-Identifier: MIT
/*
 * Several sending and several receiving threads on one queue, for every doorbell
 * and with and without polling before sleeping: every message must arrive exactly
 * once, whole, and each sender's messages in order at each receiver. A plain
 * program rather than a Criterion test, so that it also runs under ThreadSanitizer
 * (meson setup -Db_sanitize=thread), which sees the threads' synchronisation.
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

#define SENDERS   4
#define RECEIVERS 3
#define PER       20000u

struct msg {
	uint32_t who, n, check;
};

struct run {
	struct smem_msgq *tx, *rx;
	_Atomic unsigned received;
	_Atomic uint8_t *seen;
	_Atomic int failed;
};

struct arg {
	struct run *r;
	unsigned id;
};

static void *sender(void *p)
{
	struct arg *a = p;

	for (uint32_t i = 0; i < PER; i++) {
		struct msg m = { a->id, i, a->id * 2654435761u ^ i };
		int r = smem_msgq_send_wait(a->r->tx, &m, sizeof(m), 0, 20000);

		if (r < 0) {
			fprintf(stderr, "sender %u: message %u: %s\n", a->id, i, strerror(-r));
			atomic_store(&a->r->failed, 1);
			return NULL;
		}
	}
	return NULL;
}

static void *receiver(void *p)
{
	struct arg *a = p;
	uint32_t last[SENDERS];

	memset(last, 0xff, sizeof(last));
	while (atomic_load(&a->r->received) < SENDERS * PER && !atomic_load(&a->r->failed)) {
		struct msg m;
		size_t size;
		int r = smem_msgq_recv_wait(a->r->rx, &m, sizeof(m), &size, 20);

		if (r == -ETIMEDOUT)
			continue;
		if (r < 0 || size != sizeof(m) || m.who >= SENDERS || m.n >= PER ||
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
	return NULL;
}

static int one(unsigned doorbell, unsigned spin_ns)
{
	struct smem_msgq_config c;
	struct smem_msgq_opts o;
	pthread_t t[SENDERS + RECEIVERS];
	struct arg args[SENDERS + RECEIVERS];
	struct run r = { 0 };
	size_t size;
	void *mem;
	int ok;

	smem_msgq_config_init(&c);
	c.depth = 5;
	c.max_msg_size = sizeof(struct msg);
	c.flags = SMEM_MSGQ_MULTI_SEND | SMEM_MSGQ_MULTI_RECV;
	c.doorbell = doorbell;
	smem_msgq_opts_init(&o);
	o.spin_ns = spin_ns;
	o.rx_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	o.tx_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (smem_msgq_size(c.depth, c.max_msg_size, &size) < 0 || !(mem = aligned_alloc(64, size)) ||
	    smem_msgq_init(mem, size, &c) < 0 || smem_msgq_open(mem, size, SMEM_MSGQ_TX, &o, &r.tx) < 0 ||
	    smem_msgq_open(mem, size, SMEM_MSGQ_RX, &o, &r.rx) < 0)
		return 0;
	r.seen = calloc(SENDERS * PER, 1);
	for (unsigned i = 0; i < SENDERS + RECEIVERS; i++) {
		args[i] = (struct arg){ &r, i < SENDERS ? i : i - SENDERS };
		pthread_create(&t[i], NULL, i < SENDERS ? sender : receiver, &args[i]);
	}
	for (unsigned i = 0; i < SENDERS + RECEIVERS; i++)
		pthread_join(t[i], NULL);
	ok = !atomic_load(&r.failed) && atomic_load(&r.received) == SENDERS * PER;
	for (unsigned i = 0; ok && i < SENDERS * PER; i++)
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
		unsigned doorbell, spin_ns;
		const char *name;
	} cases[] = {
		{ SMEM_MSGQ_DOORBELL_FUTEX, 50000, "futex" },
		{ SMEM_MSGQ_DOORBELL_FUTEX, 0, "futex, no polling" },
		{ SMEM_MSGQ_DOORBELL_EVENTFD, 0, "eventfd, no polling" },
		{ SMEM_MSGQ_DOORBELL_POLL, 0, "poll" },
	};
	unsigned passed = 0, failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = one(cases[i].doorbell, cases[i].spin_ns);

		printf("%s: %s\n", cases[i].name, ok ? "ok" : "FAILED");
		ok ? passed++ : failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
