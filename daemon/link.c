// SPDX-License-Identifier: MIT
/*
 * The RM link: the second carrier of RM RPC, a pair of smemkit message queues
 * as a Gunyah VM talks to its resource manager, one fragment per message.
 * Here a registered host asks for its link on the socket (LINK), which stays
 * for what a queue cannot carry (fds) and for the liveness its pidfd gives;
 * its calls may then travel on the link, and its notifications go there.
 *
 * smemd waits on the request queue's eventfd in its epoll loop, takes at most
 * SMEMD_BURST fragments a turn, and feeds them to the same reassembler and
 * dispatcher as the socket's. What it sends goes through the client's ring as
 * everything else; a full reply queue leaves the rest in the ring until the
 * queue's send eventfd says there is room, as EPOLLOUT does for the socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/util.h"
#include "smemd.h"
#include "smemkit/region.h"

void smemd_link_close(struct smemd *d, struct smemd_client *c)
{
	struct smemd_link *l = c->link;

	if (!l)
		return;
	for (unsigned i = 0; i < 4; i++)
		if (l->efd[i] >= 0) {
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, l->efd[i], NULL);
			close(l->efd[i]);
		}
	/* The host may still be waiting on it: a shut queue says -EPIPE, not silence. */
	if (l->rsp)
		smem_msgq_shutdown(l->rsp);
	smem_msgq_close(l->req);
	smem_msgq_close(l->rsp);
	smem_region_close(l->r);
	free(l);
	c->link = NULL;
	c->link_notify = false;
}

static int watch(struct smemd *d, struct smemd_client *c, int fd, unsigned kind)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = smemd_ev_key(kind, (unsigned)smemd_client_index(d, c)) };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int link_make(struct smemd *d, struct smemd_client *c, size_t *ret_qsize)
{
	struct smem_msgq_config cfg;
	struct smem_msgq_opts o = { 0 };
	struct smemd_link *l;
	size_t qsize;
	int r;

	smem_msgq_config_init(&cfg);
	cfg.depth = SMEM_RM_LINK_DEPTH;
	cfg.max_msg_size = SMEM_RPC_FRAG_MAX;
	cfg.doorbell = SMEM_MSGQ_DOORBELL_EVENTFD;
	r = smem_msgq_size(cfg.depth, cfg.max_msg_size, &qsize);
	if (r < 0)
		return r;
	qsize = (qsize + 4095) & ~(size_t)4095;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (unsigned i = 0; i < 4; i++)
		l->efd[i] = -1;
	smem__rpc_rx_init(&l->rx);
	c->link = l;
	r = smem_region_memfd("smemkit-rm-link", 2 * qsize, &l->r);
	for (unsigned i = 0; r == 0 && i < 4; i++) {
		l->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->efd[i] < 0)
			r = -errno;
	}
	if (r == 0)
		r = smem_msgq_init(smem_region_base(l->r), qsize, &cfg);
	if (r == 0)
		r = smem_msgq_init((uint8_t *)smem_region_base(l->r) + qsize, qsize, &cfg);
	o.rx_eventfd = l->efd[0];
	o.tx_eventfd = l->efd[1];
	if (r == 0)
		r = smem_msgq_open(smem_region_base(l->r), qsize, SMEM_MSGQ_RX, &o, &l->req);
	o.rx_eventfd = l->efd[2];
	o.tx_eventfd = l->efd[3];
	if (r == 0)
		r = smem_msgq_open((uint8_t *)smem_region_base(l->r) + qsize, qsize, SMEM_MSGQ_TX, &o,
				   &l->rsp);
	if (r == 0)
		r = watch(d, c, smem_msgq_fd(l->req), SMEMD_EV_LINK);
	if (r == 0 && smem_msgq_arm(l->req) < 0)
		r = -EIO;
	if (r < 0) {
		smemd_link_close(d, c);
		return r;
	}
	*ret_qsize = qsize;
	return 0;
}

void smemd_link_request(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	uint8_t out[4 + SMEM_RM_LINK_REPLY];
	size_t qsize;
	int fds[5], n;

	if (m->len != 0) {
		n = smem__rpc_reply_build(SMEM_RPC_ERR_MSG_INVALID, NULL, 0, out, sizeof(out));
		smemd_send(d, c, SMEM_RPC_REPLY, m->seq, m->msg_id, out, (size_t)n, NULL, 0);
		return;
	}
	if (c->link || d->via_link || link_make(d, c, &qsize) < 0) {
		n = smem__rpc_reply_build(c->link ? SMEM_RPC_ERR_IN_USE : SMEM_RPC_ERR_NOMEM, NULL, 0,
					  out, sizeof(out));
		smemd_send(d, c, SMEM_RPC_REPLY, m->seq, m->msg_id, out, (size_t)n, NULL, 0);
		return;
	}
	put_le32(out + 4, (uint32_t)qsize);
	put_le32(out + 8, SMEM_RM_LINK_DEPTH);
	n = smem__rpc_reply_build(SMEM_RPC_ERR_OK, out + 4, SMEM_RM_LINK_REPLY, out, sizeof(out));
	fds[0] = smem_region_fd(c->link->r);
	memcpy(fds + 1, c->link->efd, sizeof(c->link->efd));
	/* The reply goes on the socket, with the fds; notifications go on the link from now. */
	if (smemd_send(d, c, SMEM_RPC_REPLY, m->seq, m->msg_id, out, (size_t)n, fds, 5) < 0) {
		smemd_link_close(d, c);
		return;
	}
	c->link_notify = true;
}

int smemd_link_read(struct smemd *d, struct smemd_client *c)
{
	struct smemd_link *l = c->link;

	for (unsigned k = 0; l && k < SMEMD_BURST; k++) {
		uint8_t buf[SMEM_RPC_FRAG_MAX];
		struct smem_rpc_rx_event ev;
		size_t n;
		int r = smem_msgq_recv(l->req, buf, sizeof(buf), &n);

		if (r == -EAGAIN) {
			/* Empty: wait for the doorbell; 1 is a request that came meanwhile. */
			r = smem_msgq_arm(l->req);
			if (r == 1)
				continue;
			return r < 0 ? -1 : 0;
		}
		if (r < 0)
			return -1; /* a queue the host broke: it costs the host its connection */
		r = smem__rpc_rx_push(&l->rx, buf, n, &ev);
		if (r < 0)
			return -1;
		if ((r & SMEM_RPC_RX_COMPLETE) && ev.msg.type == SMEM_RPC_REQUEST &&
		    ev.msg.msg_id != SMEM_RPC_MSG_ID_RESERVED) {
			d->via_link = true;
			smemd_dispatch(d, c, &ev.msg);
			d->via_link = false;
			if (c->doomed)
				return -1;
			l = c->link;
		}
	}
	/* More than a burst waits: come back next turn, the doorbell will not ring again. */
	if (l) {
		uint64_t one = 1;

		if (write(l->efd[0], &one, sizeof(one)) < 0)
			return 0;
	}
	return 0;
}

int smemd_link_send(struct smemd *d, struct smemd_client *c, const struct smemd_packet *p)
{
	struct smemd_link *l = c->link;
	int r;

	if (!l)
		return 1; /* the link is gone: what was meant for it is dropped */
	for (;;) {
		r = smem_msgq_send(l->rsp, p->data, p->len, 0);
		if (r >= 0)
			break;
		if (r != -EAGAIN)
			return -EPIPE;
		/* Full: wait for room; 1 is room made meanwhile. */
		r = smem_msgq_arm(l->rsp);
		if (r < 0)
			return -EPIPE;
		if (r == 1)
			continue;
		if (!l->out_armed && watch(d, c, smem_msgq_fd(l->rsp), SMEMD_EV_LINK_OUT) < 0)
			return -EPIPE;
		l->out_armed = true;
		return 0;
	}
	if (l->out_armed) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, smem_msgq_fd(l->rsp), NULL);
		l->out_armed = false;
	}
	return 1;
}
