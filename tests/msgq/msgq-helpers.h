/* SPDX-License-Identifier: MIT */
/* Helpers for the message-queue tests: queues in memfds, numbered messages, eventfds. */
#ifndef SMEMKIT_TEST_MSGQ_HELPERS_H
#define SMEMKIT_TEST_MSGQ_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msgq/layout.h"
#include "smemkit/msgq.h"
#include "smemkit/region.h"

/* A queue in a memfd, with a sending and a receiving handle. */
struct tq {
	struct smem_region *r;
	void *mem;
	size_t size;
	struct smem_msgq *tx;
	struct smem_msgq *rx;
	int rx_efd;
	int tx_efd;
};

static inline void tq_open_ends(struct tq *t)
{
	struct smem_msgq_opts o;

	smem_msgq_opts_init(&o);
	o.rx_eventfd = t->rx_efd;
	o.tx_eventfd = t->tx_efd;
	cr_assert_eq(smem_msgq_open(t->mem, t->size, SMEM_MSGQ_TX, &o, &t->tx), 0);
	cr_assert_eq(smem_msgq_open(t->mem, t->size, SMEM_MSGQ_RX, &o, &t->rx), 0);
}

static inline void tq_make(struct tq *t, const struct smem_msgq_config *c)
{
	struct smem_msgq_config def;

	if (!c) {
		smem_msgq_config_init(&def);
		c = &def;
	}
	cr_assert_eq(smem_msgq_size(c->depth, c->max_msg_size, &t->size), 0);
	cr_assert_eq(smem_region_memfd("test-msgq", t->size, &t->r), 0);
	t->mem = smem_region_base(t->r);
	t->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->tx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert_eq(smem_msgq_init(t->mem, t->size, c), 0);
	tq_open_ends(t);
}

static inline void tq_free(struct tq *t)
{
	smem_msgq_close(t->tx);
	smem_msgq_close(t->rx);
	close(t->rx_efd);
	close(t->tx_efd);
	smem_region_close(t->r);
}

static inline struct msgq_shm *tq_shm(const struct tq *t)
{
	return t->mem;
}

/* How many times an eventfd was written since it was last read; 0 if never. */
static inline uint64_t efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/*
 * A numbered message: the number, the sender's id, and bytes derived from both,
 * so a torn or mixed-up message is caught.
 */
struct nmsg {
	uint32_t n;
	uint32_t who;
	uint8_t body[56];
};

static inline void nmsg_fill(struct nmsg *m, uint32_t who, uint32_t n)
{
	m->n = n;
	m->who = who;
	for (size_t i = 0; i < sizeof(m->body); i++)
		m->body[i] = (uint8_t)(n * 31 + who * 7 + i);
}

static inline bool nmsg_ok(const struct nmsg *m)
{
	for (size_t i = 0; i < sizeof(m->body); i++)
		if (m->body[i] != (uint8_t)(m->n * 31 + m->who * 7 + i))
			return false;
	return true;
}

/* Writes and reads whole values on a pipe, retrying short transfers. */
static inline void pipe_put(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = write(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			_exit(90);
		b += k;
		n -= (size_t)k;
	}
}

static inline bool pipe_get(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t k = read(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		b += k;
		n -= (size_t)k;
	}
	return true;
}

static inline int child_status(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

#endif
