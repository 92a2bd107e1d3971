// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a message queue whose shared bytes a hostile peer controls.
 *
 * The input chooses a geometry, then runs a script of operations from both ends,
 * interleaved with writes of arbitrary values anywhere in the queue's memory, as
 * a peer scribbling on indices, counts, thresholds and lengths would do. With the
 * first byte's top bit set, the input is instead taken as the queue's whole
 * memory image, header included. The queue sits in a heap block of exactly its
 * size, so the sanitizers catch any access outside it; every operation must
 * return, and every message received must fit the buffer and the maximum size.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgq/layout.h"
#include "smemkit/msgq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct in *in, unsigned bytes)
{
	unsigned v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (in->n) {
			v |= *in->p++;
			in->n--;
		}
	}
	return v;
}

static void check(int cond)
{
	if (!cond)
		abort();
}

static void run(struct in *in, uint8_t *mem, size_t size, unsigned max)
{
	struct smem_msgq_opts o;
	struct smem_msgq *tx = NULL, *rx = NULL;
	uint8_t buf[SMEM_MSGQ_MAX_MSG_SIZE + 1], msg[SMEM_MSGQ_MAX_MSG_SIZE + 1];
	struct smem_msgq_stats st;
	size_t got;
	int r;

	smem_msgq_opts_init(&o);
	o.spin_ns = 0;
	if (smem_msgq_open(mem, size, SMEM_MSGQ_TX, &o, &tx) < 0 ||
	    smem_msgq_open(mem, size, SMEM_MSGQ_RX, &o, &rx) < 0)
		goto out;
	/* The geometry the handles checked and kept is the one every call must honour. */
	check(smem_msgq_stat(tx, &st) == 0);
	max = st.max_msg_size;
	for (unsigned step = 0; in->n && step < 4096; step++) {
		unsigned op = take(in, 1), a;

		switch (op % 11) {
		case 0: /* send */
			a = take(in, 2) % (SMEM_MSGQ_MAX_MSG_SIZE + 1);
			memset(msg, (int)step, sizeof(msg));
			r = smem_msgq_send(tx, msg, a, op & 0x80 ? SMEM_MSGQ_PUSH : 0);
			/* -EPIPE: the peer wrote the header's closed word (smem_msgq_shutdown()). */
			check(r == 0 || r == 1 || r == -EAGAIN || r == -EMSGSIZE || r == -EBADMSG ||
			      r == -EPIPE);
			check(r != -EMSGSIZE || a == 0 || a > max);
			break;
		case 1: /* receive */
			a = take(in, 2) % (sizeof(buf) + 1);
			got = SIZE_MAX;
			r = smem_msgq_recv(rx, buf, a, &got);
			check(r == 0 || r == 1 || r == -EAGAIN || r == -EMSGSIZE || r == -EBADMSG ||
			      r == -EPIPE);
			if (r >= 0)
				check(got >= 1 && got <= a && got <= max);
			break;
		case 2: /* the peer writes 4 bytes anywhere */
		case 3:
			a = take(in, 2) % (size - 3);
			a &= ~3u;
			{
				uint32_t v = take(in, 4);

				memcpy(mem + a, &v, 4);
			}
			break;
		case 4:
			r = smem_msgq_flush(rx);
			check(r >= 0 || r == -EBADMSG);
			break;
		case 5:
			r = smem_msgq_configure_send(tx, (int)(int8_t)take(in, 1));
			check(r == 0 || r == -EINVAL);
			break;
		case 6:
			r = smem_msgq_configure_recv(rx, (int)(int8_t)take(in, 1));
			check(r == 0 || r == -EINVAL);
			break;
		case 7:
			smem_msgq_recover(op & 0x80 ? rx : tx);
			break;
		case 8:
			check(smem_msgq_stat(rx, &st) == 0);
			break;
		case 9: /* blocking calls with a zero timeout try once */
			got = 0;
			r = smem_msgq_recv_wait(rx, buf, sizeof(buf), &got, 0);
			if (r >= 0)
				check(got >= 1 && got <= max);
			r = smem_msgq_send_wait(tx, msg, 1 + step % max, 0, 0);
			check(r != -ETIMEDOUT);
			break;
		case 10: /* the peer re-attaches: the header is checked again */
			smem_msgq_close(tx);
			smem_msgq_close(rx);
			tx = rx = NULL;
			if (smem_msgq_open(mem, size, SMEM_MSGQ_TX, &o, &tx) < 0 ||
			    smem_msgq_open(mem, size, SMEM_MSGQ_RX, &o, &rx) < 0)
				goto out;
			check(smem_msgq_stat(tx, &st) == 0);
			max = st.max_msg_size;
			break;
		}
	}
out:
	smem_msgq_close(tx);
	smem_msgq_close(rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct smem_msgq_config c;
	unsigned mode = take(&in, 1);
	size_t qsize;
	uint8_t *mem;

	smem_msgq_config_init(&c);
	if (mode & 0x80) {
		/* The whole image comes from the input. */
		qsize = (in.n + 63) & ~(size_t)63;
		if (qsize < 64)
			return 0;
		mem = aligned_alloc(64, qsize);
		if (!mem)
			return 0;
		memset(mem, 0, qsize);
		memcpy(mem, in.p, in.n);
		in.n = 0;
		run(&in, mem, qsize, SMEM_MSGQ_MAX_MSG_SIZE);
		free(mem);
		return 0;
	}
	c.depth = 1 + take(&in, 1) % 16;
	c.max_msg_size = 1 + take(&in, 2) % SMEM_MSGQ_MAX_MSG_SIZE;
	c.flags = mode & 3;
	c.doorbell = mode & 4 ? SMEM_MSGQ_DOORBELL_POLL : SMEM_MSGQ_DOORBELL_FUTEX;
	if (smem_msgq_size(c.depth, c.max_msg_size, &qsize) < 0)
		return 0;
	mem = aligned_alloc(64, qsize);
	if (!mem)
		return 0;
	if (smem_msgq_init(mem, qsize, &c) == 0)
		run(&in, mem, qsize, c.max_msg_size);
	free(mem);
	return 0;
}
