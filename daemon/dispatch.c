// SPDX-License-Identifier: MIT
/*
 * The calls smemd serves. Every request is decoded with lib/rpc's checked
 * decoders; a request that does not decode gets MSG_INVALID, an unknown msg_id
 * UNIMPLEMENTED (a standard reply, as the RM gives), and a call before
 * REGISTER DENIED, except the read-only HOSTS and VM_GET_STATE that smemctl
 * status makes. Identity is the connection's: SO_PEERCRED at accept, a pidfd
 * from REGISTER on; no request names its own caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/util.h"
#include "smemd.h"
#include "smemkit/region.h"

static void reply(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m,
		  uint32_t err, const void *payload, size_t len, const int *fds, unsigned nfds)
{
	static uint8_t buf[SMEM_RPC_MSG_MAX];
	int n;

	/* A link carries no fds: a reply that needs them cannot go there. */
	if (d->via_link && nfds) {
		err = SMEM_RPC_ERR_UNIMPLEMENTED;
		len = 0;
		nfds = 0;
	}
	n = smem__rpc_reply_build(err, payload, len, buf, sizeof(buf));

	if (n < 0) {
		n = smem__rpc_reply_build(SMEM_RPC_ERR_NOMEM, NULL, 0, buf, sizeof(buf));
		nfds = 0;
	}
	/* Out of fds to pass: the caller still gets an answer, an error without them. */
	if (smemd_send(d, c, SMEM_RPC_REPLY, m->seq, m->msg_id, buf, (size_t)n, fds, nfds) ==
		    -EMFILE &&
	    nfds) {
		n = smem__rpc_reply_build(SMEM_RPC_ERR_NOMEM, NULL, 0, buf, sizeof(buf));
		smemd_send(d, c, SMEM_RPC_REPLY, m->seq, m->msg_id, buf, (size_t)n, NULL, 0);
	}
}

static void std_reply(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m,
		      uint32_t err)
{
	reply(d, c, m, err, NULL, 0, NULL, 0);
}

static struct smemd_host *host_of_vmid(struct smemd *d, uint16_t vmid)
{
	unsigned h = SMEM_RM_HOST_OF(vmid);

	if (vmid < SMEM_RPC_VMID_DYN_FIRST || h >= SMEM_RM_MAX_HOSTS || !d->cfg.hosts[h].defined)
		return NULL;
	return &d->hosts[h];
}

static void status_to_peers(struct smemd *d, const struct smemd_host *h)
{
	struct smem_rpc_vm_status st = { .vmid = h->vmid, .vm_status = h->state,
					 .os_status = h->os_state, .app_status = h->app_status };
	uint8_t buf[8];

	if (smem__rpc_vm_status_encode(&st, buf, sizeof(buf)) == 8)
		smemd_notify_all(d, h->id, SMEM_RPC_NOTIF_VM_STATUS, buf, 8);
}

/*
 * Shut a queue down for its peers. A queue whose header a host spoiled while
 * smemd was away has no handle: one is made now, if the header is whole again.
 */
static void queue_shutdown(struct smemd_queue *q)
{
	if (!q->q && q->r)
		smem_msgq_open(smem_region_base(q->r), q->size, 0, NULL, &q->q);
	if (q->q)
		smem_msgq_shutdown(q->q);
}

/* Drop a queue: shut it down for whoever still maps it, then forget it. */
static void queue_destroy(struct smemd *d, struct smemd_queue *q)
{
	char name[16];

	snprintf(name, sizeof(name), "queue.%u", (unsigned)(q - d->queues));
	queue_shutdown(q);
	smem_msgq_close(q->q);
	smem_region_close(q->r);
	*q = (struct smemd_queue){ 0 };
	d->dirty = true;
	smemd_store_drop(d, name);
}

void smemd__queues_of_host(struct smemd *d, unsigned host, bool destroy, unsigned *ret_n)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++) {
		struct smemd_queue *q = &d->queues[i];

		if (!q->used || (q->from != host && q->to != host))
			continue;
		if (destroy)
			queue_destroy(d, q);
		else
			queue_shutdown(q);
		n++;
	}
	if (ret_n)
		*ret_n = n;
}

/* The pieces @host may map, in order (their indexes in @ret, up to @max). Return: how many. */
static unsigned host_pieces(const struct smemd *d, unsigned host, unsigned *ret, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->n_pieces; i++)
		if (smemd_piece_visible(&d->pieces[i], host)) {
			if (n < max)
				ret[n] = i;
			n++;
		}
	return n;
}

/* MAP: one of the caller's pieces, and where it goes; never another host's. */
static void do_map(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	uint8_t out[8 + SMEM_RM_MAP_MAX_EXT * SMEM_RM_EXTENT];
	unsigned idx[SMEMD_MAX_PIECES], n, want;
	const struct smemd_piece *p;

	if (m->len != SMEM_RM_MAP_REQ) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	want = get_le32(m->data);
	n = host_pieces(d, (unsigned)c->host, idx, SMEMD_MAX_PIECES);
	if (want >= n) {
		std_reply(d, c, m, SMEM_RPC_ERR_ARGUMENT_INVALID);
		return;
	}
	p = &d->pieces[idx[want]];
	put_le32(out, p->n_ext);
	put_le32(out + 4, 0);
	for (unsigned k = 0; k < p->n_ext; k++) {
		uint8_t *e = out + 8 + k * SMEM_RM_EXTENT;

		put_le64(e, p->ext[k].off);
		put_le64(e + 8, p->ext[k].len);
		put_le64(e + 16, p->ext[k].fd_off);
	}
	reply(d, c, m, SMEM_RPC_ERR_OK, out, 8 + p->n_ext * SMEM_RM_EXTENT, &p->fd, 1);
}

/* DUMP: the whole image, copied into a memfd sealed against writing. */
static void do_dump(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	uint8_t out[SMEM_RM_DUMP_REPLY];
	size_t done = 0;
	int fd;

	if (m->len != 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	/*
	 * smemd's uid or root, as an observer or as the owner: a registered host
	 * other than the owner would read the partitions it was not given.
	 */
	if ((c->uid != geteuid() && c->uid != 0) || (c->host >= 0 && (unsigned)c->host != d->cfg.owner)) {
		std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
		return;
	}
	/* One image in flight per client: a flood of dumps costs it, not smemd. */
	if (c->fds_out) {
		std_reply(d, c, m, SMEM_RPC_ERR_BUSY);
		return;
	}
	fd = memfd_create("smemkit-dump", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	while (fd >= 0 && done < d->cfg.size) {
		ssize_t w = write(fd, (const uint8_t *)d->image + done, d->cfg.size - done);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (fd < 0 || done != d->cfg.size ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		if (fd >= 0)
			close(fd);
		std_reply(d, c, m, SMEM_RPC_ERR_NOMEM);
		return;
	}
	put_le64(out, d->cfg.size);
	reply(d, c, m, SMEM_RPC_ERR_OK, out, sizeof(out), &fd, 1);
	close(fd);
}

static void do_register(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	uint8_t out[SMEM_RM_REGISTER_REPLY];
	struct epoll_event ev;
	struct smemd_host *h;
	bool was_running;
	unsigned id;
	int pidfd;

	if (m->len != SMEM_RM_REGISTER_REQ) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	id = get_le16(m->data);
	if (id >= SMEM_RM_MAX_HOSTS || !d->cfg.hosts[id].defined) {
		std_reply(d, c, m, SMEM_RPC_ERR_ARGUMENT_INVALID);
		return;
	}
	if (c->host >= 0) {
		/* One registration per connection: the fds are not sent again. */
		std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
		return;
	}
	if (d->cfg.hosts[id].uid_bound && d->cfg.hosts[id].uid != c->uid) {
		smemd_log(d, "pid %d uid %u may not be host %u", (int)c->pid, (unsigned)c->uid, id);
		std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
		return;
	}
	h = &d->hosts[id];
	/* A death not yet handled is handled first: the host is free then. */
	if (h->pidfd >= 0 && smemd_pidfd_dead(h->pidfd))
		smemd_host_died(d, h);
	/* A live host is one process: another may not claim it; the same one may reconnect. */
	if (h->pidfd >= 0 && !smemd_same_process(h->pidfd, h->pid, c->pidfd, c->pid)) {
		smemd_log(d, "pid %d claims host %u, which pid %d is", (int)c->pid, id, (int)h->pid);
		std_reply(d, c, m, SMEM_RPC_ERR_IN_USE);
		return;
	}
	/* A host that exited stays so until it dies or its owner resets it. */
	if (h->pidfd >= 0 && h->state != SMEM_RPC_VM_STATE_RUNNING) {
		std_reply(d, c, m, SMEM_RPC_ERR_VM_STATE);
		return;
	}
	was_running = h->pidfd >= 0;
	if (h->pidfd < 0) {
		/* The process the socket names, not a lookup of its pid. */
		pidfd = fcntl(c->pidfd, F_DUPFD_CLOEXEC, 3);
		if (pidfd < 0) {
			std_reply(d, c, m, SMEM_RPC_ERR_NOMEM);
			return;
		}
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = smemd_ev_key(SMEMD_EV_PIDFD, id) };
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
			close(pidfd);
			std_reply(d, c, m, SMEM_RPC_ERR_NOMEM);
			return;
		}
		/* A new life of the host: its old queues and caps are gone. */
		smemd__queues_of_host(d, id, true, NULL);
		*h = (struct smemd_host){ .id = id, .vmid = SMEM_RM_VMID_OF(id), .pidfd = pidfd,
					  .pid = c->pid, .uid = c->uid };
		{
			char name[16];

			snprintf(name, sizeof(name), "host.%u", id);
			smemd_store_put(d, name, pidfd);
		}
	}
	d->dirty = true;
	if (h->client && h->client != c)
		h->client->host = -1;
	h->client = c;
	c->host = (int)id;
	h->state = SMEM_RPC_VM_STATE_RUNNING;
	h->os_state = SMEM_RPC_OS_STATE_RUN;
	put_le32(out, h->vmid);
	put_le32(out + 4, d->epoch);
	put_le64(out + 8, d->cfg.size);
	put_le64(out + 16, SMEM_HWLOCK_BANK_SIZE(SMEM_HWLOCK_DEFAULT_STRIDE));
	put_le64(out + 24, d->instance);
	put_le32(out + 32, host_pieces(d, id, NULL, 0));
	put_le32(out + 36, 0);
	reply(d, c, m, SMEM_RPC_ERR_OK, out, sizeof(out), &d->bank_fd, 1);
	smemd_log(d, "pid %d is host %u %s", (int)c->pid, id, d->cfg.hosts[id].name);
	/*
	 * What it missed while it was away: the hosts that exited meanwhile.
	 * Cleared once told, and saved so: a restart re-tells at most these.
	 */
	for (unsigned j = 0; h->owed && j < SMEM_RM_MAX_HOSTS; j++)
		if (h->owed & 1ull << j) {
			smemd__tell_exit(d, c, &d->hosts[j]);
			h->owed &= ~(1ull << j);
			d->dirty = true;
		}
	/* Peers hear of a change of state, not of a reconnect. */
	if (!was_running)
		status_to_peers(d, h);
}

static void do_get_state(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	struct smem_rpc_vm_state_reply st;
	struct smemd_host *h;
	uint8_t out[4];
	uint16_t vmid;

	if (smem__rpc_vmid_req_decode(m->data, m->len, &vmid) < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	if (vmid == 0 && c->host < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
		return;
	}
	h = vmid == 0 ? &d->hosts[c->host] : host_of_vmid(d, vmid);
	if (!h) {
		std_reply(d, c, m, SMEM_RPC_ERR_NORESOURCE);
		return;
	}
	st = (struct smem_rpc_vm_state_reply){ h->state, h->os_state, h->app_status };
	smem__rpc_vm_state_encode(&st, out, sizeof(out));
	reply(d, c, m, SMEM_RPC_ERR_OK, out, sizeof(out), NULL, 0);
}

static void do_get_resources(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	static struct smem_rpc_resource r[SMEM_RPC_RESOURCES_MAX];
	static uint8_t out[SMEM_RPC_MSG_MAX];
	unsigned host = (unsigned)c->host;
	uint32_t n = 0;
	uint16_t vmid;
	int len;

	if (smem__rpc_vmid_req_decode(m->data, m->len, &vmid) < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	/* A host reads its own capability table only. */
	if (vmid != 0 && vmid != d->hosts[host].vmid) {
		std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
		return;
	}
	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++) {
		const struct smemd_queue *q = &d->queues[i];
		bool tx;

		if (!q->used || (q->from != host && q->to != host))
			continue;
		if (n == SMEM_RPC_RESOURCES_MAX) {
			std_reply(d, c, m, SMEM_RPC_ERR_NOMEM);
			return;
		}
		tx = q->from == host;
		r[n++] = (struct smem_rpc_resource){
			.type = tx ? SMEM_RPC_RES_MSGQ_TX : SMEM_RPC_RES_MSGQ_RX,
			.partner_vmid = SMEM_RM_VMID_OF(tx ? q->to : q->from),
			.resource_handle = i,
			.resource_label = q->label,
			.cap_id = tx ? q->tx_cap : q->rx_cap,
			.size = q->size,
		};
	}
	len = smem__rpc_resources_encode(r, n, out, sizeof(out));
	if (len < 4) {
		std_reply(d, c, m, SMEM_RPC_ERR_NOMEM);
		return;
	}
	/* The payload's own count word comes after the error word. */
	reply(d, c, m, SMEM_RPC_ERR_OK, out, (size_t)len, NULL, 0);
}

static int queue_make(struct smemd *d, unsigned from, unsigned to, uint32_t label,
		      const struct smem_msgq_config *cfg)
{
	struct smem_region *r;
	struct smemd_queue *q;
	size_t size;
	unsigned i;
	int e;

	for (i = 0; i < SMEMD_MAX_QUEUES && d->queues[i].used; i++)
		;
	if (i == SMEMD_MAX_QUEUES)
		return -ENOSPC;
	q = &d->queues[i];
	e = smem_msgq_size(cfg->depth, cfg->max_msg_size, &size);
	if (e < 0)
		return e;
	size = (size + 4095) & ~(size_t)4095;
	e = smem_region_memfd("smemkit-msgq", size, &r);
	if (e < 0)
		return e;
	e = smem_msgq_init(smem_region_base(r), size, cfg);
	if (e == 0)
		e = smem_msgq_open(smem_region_base(r), size, 0, NULL, &q->q);
	if (e < 0) {
		smem_region_close(r);
		return e;
	}
	q->r = r;
	q->fd = smem_region_fd(r);
	q->size = size;
	q->used = true;
	q->from = from;
	q->to = to;
	q->label = label;
	q->tx_cap = d->next_cap++;
	q->rx_cap = d->next_cap++;
	d->dirty = true;
	{
		char name[16];

		snprintf(name, sizeof(name), "queue.%u", i);
		smemd_store_put(d, name, q->fd);
	}
	return (int)i;
}

static void do_msgq_create(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	struct smem_msgq_config cfg;
	struct smemd_host *peer;
	uint8_t out[SMEM_RM_MSGQ_CREATE_REPLY], note[SMEM_RM_NOTIF_RESOURCES_LEN];
	unsigned host = (unsigned)c->host;
	uint16_t flags;
	uint32_t label;
	int a, b;

	if (m->len != SMEM_RM_MSGQ_CREATE_REQ) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	peer = host_of_vmid(d, get_le16(m->data));
	smem_msgq_config_init(&cfg);
	cfg.depth = get_le16(m->data + 2);
	cfg.max_msg_size = get_le16(m->data + 4);
	flags = get_le16(m->data + 6);
	label = get_le32(m->data + 8);
	cfg.flags = flags;
	if (!peer || peer->id == host || flags & ~(SMEM_MSGQ_MULTI_SEND | SMEM_MSGQ_MULTI_RECV) ||
	    smem_msgq_size(cfg.depth, cfg.max_msg_size, &(size_t){ 0 }) < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_ARGUMENT_INVALID);
		return;
	}
	/* Queues with a host that exited would never be serviced: it must be reset first. */
	if (peer->state != SMEM_RPC_VM_STATE_RUNNING && peer->state != SMEM_RPC_VM_STATE_NO_STATE &&
	    peer->state != SMEM_RPC_VM_STATE_RESET) {
		std_reply(d, c, m, SMEM_RPC_ERR_VM_STATE);
		return;
	}
	{
		unsigned mine = 0;

		for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++)
			if (d->queues[i].used && d->queues[i].from == host)
				mine++;
		/* Each host makes a bounded share of the queues, so none can take them all. */
		if (mine >= SMEMD_PAIRS_PER_HOST) {
			std_reply(d, c, m, SMEM_RPC_ERR_NORESOURCE);
			return;
		}
	}
	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++) {
		const struct smemd_queue *q = &d->queues[i];

		if (q->used && q->label == label &&
		    ((q->from == host && q->to == peer->id) || (q->from == peer->id && q->to == host))) {
			std_reply(d, c, m, SMEM_RPC_ERR_IN_USE);
			return;
		}
	}
	a = queue_make(d, host, peer->id, label, &cfg);
	b = a < 0 ? a : queue_make(d, peer->id, host, label, &cfg);
	if (b < 0) {
		if (a >= 0)
			queue_destroy(d, &d->queues[a]);
		std_reply(d, c, m, SMEM_RPC_ERR_NOMEM);
		return;
	}
	put_le64(out, d->queues[a].tx_cap);
	put_le64(out + 8, d->queues[b].rx_cap);
	reply(d, c, m, SMEM_RPC_ERR_OK, out, sizeof(out), NULL, 0);
	if (peer->client && peer->state == SMEM_RPC_VM_STATE_RUNNING) {
		put_le16(note, d->hosts[host].vmid);
		put_le16(note + 2, 0);
		put_le32(note + 4, label);
		smemd_send(d, peer->client, SMEM_RPC_NOTIFICATION, ++d->notif_seq,
			   SMEM_RM_NOTIF_RESOURCES, note, sizeof(note), NULL, 0);
	}
}

static void do_msgq_open(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	unsigned host = (unsigned)c->host;
	uint8_t out[SMEM_RM_MSGQ_OPEN_REPLY];
	uint64_t cap;

	if (m->len != SMEM_RM_MSGQ_OPEN_REQ) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	cap = get_le64(m->data);
	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++) {
		const struct smemd_queue *q = &d->queues[i];
		unsigned end;

		if (!q->used)
			continue;
		if (q->tx_cap == cap && q->from == host)
			end = SMEM_RM_END_TX;
		else if (q->rx_cap == cap && q->to == host)
			end = SMEM_RM_END_RX;
		else
			continue;
		put_le32(out, end);
		put_le32(out + 4, (uint32_t)q->size);
		reply(d, c, m, SMEM_RPC_ERR_OK, out, sizeof(out), &q->fd, 1);
		return;
	}
	/* Not a cap of this host's: another's caps are as good as none. */
	std_reply(d, c, m, SMEM_RPC_ERR_HANDLE_INVALID);
}

static void do_exit(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	struct smemd_host *h = &d->hosts[c->host];
	struct smem_rpc_vm_exit e;

	if (smem__rpc_vm_exit_decode(m->data, m->len, &e) < 0 ||
	    e.exit_code == 2) { /* 2 is not an exit code: the RM refuses it */
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	if (h->state != SMEM_RPC_VM_STATE_RUNNING) {
		std_reply(d, c, m, SMEM_RPC_ERR_VM_STATE);
		return;
	}
	h->exited_by_call = true;
	h->exit_reason = SMEM_RPC_EXIT_REASON(e.exit_flags, e.exit_code);
	/* EXITED (and saved, before anything is sent) first: an OK is never undone by a restart. */
	smemd__host_exited(d, h, SMEM_RPC_EXIT_VM_EXIT);
	std_reply(d, c, m, SMEM_RPC_ERR_OK);
}

/* VM_STOP and VM_RESET are the owner's; anyone else, or an unknown vmid, gets VMID_INVALID. */
static struct smemd_host *owned(struct smemd *d, struct smemd_client *c, uint16_t vmid)
{
	struct smemd_host *h = host_of_vmid(d, vmid);

	if (!h || (unsigned)c->host != d->cfg.owner || h->id == d->cfg.owner)
		return NULL;
	return h;
}

static void do_stop(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	struct smem_rpc_vm_stop s;
	struct smemd_host *h;
	uint8_t note[4];

	if (smem__rpc_vm_stop_decode(m->data, m->len, &s) < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	h = owned(d, c, s.vmid);
	if (!h) {
		std_reply(d, c, m, SMEM_RPC_ERR_VMID_INVALID);
		return;
	}
	if (h->state != SMEM_RPC_VM_STATE_RUNNING || h->pidfd < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_VM_STATE);
		return;
	}
	if (s.flags & SMEM_RPC_STOP_FORCE) {
		/* Kill the "vCPUs": the pidfd fires, and crash.c does the rest. */
		h->stopped = true;
		smemd_state_save(d); /* a restart in between still knows it was a stop */
		if (syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0) < 0) {
			std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
			return;
		}
		std_reply(d, c, m, SMEM_RPC_ERR_OK);
		return;
	}
	/* Without FORCE the guest is asked, and exits when it will (VM_EXIT). */
	std_reply(d, c, m, SMEM_RPC_ERR_OK);
	if (h->client && smem__rpc_vm_shutdown_encode(s.stop_reason, note, sizeof(note)) == 4)
		smemd_send(d, h->client, SMEM_RPC_NOTIFICATION, ++d->notif_seq,
			   SMEM_RPC_NOTIF_VM_SHUTDOWN, note, sizeof(note), NULL, 0);
}

static void do_reset(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	struct smemd_host *h;
	uint16_t vmid;

	if (smem__rpc_vmid_req_decode(m->data, m->len, &vmid) < 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	h = owned(d, c, vmid);
	if (!h) {
		std_reply(d, c, m, SMEM_RPC_ERR_VMID_INVALID);
		return;
	}
	if (h->state != SMEM_RPC_VM_STATE_EXITED || h->pidfd >= 0) {
		std_reply(d, c, m, SMEM_RPC_ERR_VM_STATE);
		return;
	}
	/* RESETTING, saved with the reply; the end is announced by VM_STATUS(RESET). */
	h->state = SMEM_RPC_VM_STATE_RESETTING;
	d->dirty = true;
	std_reply(d, c, m, SMEM_RPC_ERR_OK);
	status_to_peers(d, h);
	smemd__finish_reset(d, h);
}

void smemd__finish_reset(struct smemd *d, struct smemd_host *h)
{
	smemd__queues_of_host(d, h->id, true, NULL);
	h->state = SMEM_RPC_VM_STATE_RESET;
	h->os_state = SMEM_RPC_OS_STATE_NONE;
	d->dirty = true;
	status_to_peers(d, h);
}

static void do_hosts(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	static uint8_t out[4 + SMEM_RM_MAX_HOSTS * SMEM_RM_HOST_ENTRY];
	uint32_t n = 0;

	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++) {
		const struct smemd_host *h = &d->hosts[i];
		uint8_t *e = out + 4 + n * SMEM_RM_HOST_ENTRY;
		unsigned queues = 0;

		if (!d->cfg.hosts[i].defined)
			continue;
		for (unsigned k = 0; k < SMEMD_MAX_QUEUES; k++)
			if (d->queues[k].used && (d->queues[k].from == i || d->queues[k].to == i))
				queues++;
		memset(e, 0, SMEM_RM_HOST_ENTRY);
		put_le16(e, (uint16_t)i);
		put_le16(e + 2, h->vmid);
		e[4] = h->state;
		e[5] = h->os_state;
		put_le16(e + 6, (uint16_t)queues);
		put_le32(e + 8, h->pidfd >= 0 ? (uint32_t)h->pid : 0);
		put_le32(e + 12, h->pidfd >= 0 ? (uint32_t)h->uid : 0);
		put_le32(e + 16, h->exit_type);
		memcpy(e + 20, d->cfg.hosts[i].name, 16);
		n++;
	}
	put_le32(out, n);
	reply(d, c, m, SMEM_RPC_ERR_OK, out, 4 + (size_t)n * SMEM_RM_HOST_ENTRY, NULL, 0);
}

/*
 * STATS, for smemctl top: every lock word of the bank and a page of the
 * queues' counters, read on smemd's own handles. Read-only, so any connection
 * may ask, as for HOSTS: an observer need not register.
 */
_Static_assert(SMEM_HWLOCK_COUNT <= SMEM_RM_STATS_MAX_LOCKS, "every lock word fits a page");

static void do_stats(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	static uint8_t out[SMEM_RM_STATS_REPLY_MAX];
	uint8_t *e = out + SMEM_RM_STATS_HDR + 4 * SMEM_HWLOCK_COUNT;
	uint32_t first, n = 0, next = 0;

	if (m->len != SMEM_RM_STATS_REQ) {
		std_reply(d, c, m, SMEM_RPC_ERR_MSG_INVALID);
		return;
	}
	first = get_le32(m->data);
	if (first >= SMEMD_MAX_QUEUES) {
		std_reply(d, c, m, SMEM_RPC_ERR_ARGUMENT_INVALID);
		return;
	}
	for (unsigned id = 0; id < SMEM_HWLOCK_COUNT; id++) {
		unsigned word = 0;

		/* Cannot fail: the bank is smemd's own and the id below the count. */
		smem_hwlock_owner(d->bank, id, &word);
		put_le32(out + SMEM_RM_STATS_HDR + 4 * id, word);
	}
	for (uint32_t i = first; i < SMEMD_MAX_QUEUES; i++) {
		const struct smemd_queue *q = &d->queues[i];
		struct smem_msgq_stats st = { 0 };

		if (!q->used)
			continue;
		if (n == SMEM_RM_STATS_PAGE) {
			next = i; /* the next page starts at a used slot */
			break;
		}
		smem_msgq_stat(q->q, &st);
		memset(e, 0, SMEM_RM_STATS_QUEUE);
		put_le32(e, i);
		put_le16(e + 4, (uint16_t)q->from);
		put_le16(e + 6, (uint16_t)q->to);
		put_le32(e + 8, q->label);
		put_le16(e + 12, (uint16_t)st.depth);
		put_le16(e + 14, (uint16_t)st.max_msg_size);
		put_le32(e + 16, st.count);
		put_le32(e + 20, st.sent);
		put_le32(e + 24, st.received);
		put_le32(e + 28, st.full_events);
		e[32] = st.closed ? SMEM_RM_STATS_CLOSED : 0;
		e += SMEM_RM_STATS_QUEUE;
		n++;
	}
	put_le32(out, SMEM_HWLOCK_COUNT);
	put_le32(out + 4, n);
	put_le32(out + 8, next);
	reply(d, c, m, SMEM_RPC_ERR_OK, out, (size_t)(e - out), NULL, 0);
}

void smemd_dispatch(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m)
{
	if (m->msg_id == SMEM_RM_CALL_REGISTER) {
		do_register(d, c, m);
		return;
	}
	if (m->msg_id == SMEM_RM_CALL_HOSTS) {
		do_hosts(d, c, m);
		return;
	}
	if (m->msg_id == SMEM_RM_CALL_DUMP) {
		do_dump(d, c, m);
		return;
	}
	if (m->msg_id == SMEM_RM_CALL_STATS) {
		do_stats(d, c, m);
		return;
	}
	if (m->msg_id == SMEM_RPC_VM_GET_STATE) {
		do_get_state(d, c, m);
		return;
	}
	switch (m->msg_id) {
	case SMEM_RM_CALL_MAP:
	case SMEM_RM_CALL_LINK:
	case SMEM_RPC_VM_GET_VMID:
	case SMEM_RPC_VM_GET_HYP_RESOURCES:
	case SMEM_RM_CALL_MSGQ_CREATE:
	case SMEM_RM_CALL_MSGQ_OPEN:
	case SMEM_RPC_VM_EXIT:
	case SMEM_RPC_VM_STOP:
	case SMEM_RPC_VM_RESET:
		break;
	default:
		std_reply(d, c, m, SMEM_RPC_ERR_UNIMPLEMENTED);
		return;
	}
	/* What changes a record is saved before its reply goes (smemd_send()). */
	if (m->msg_id == SMEM_RPC_VM_EXIT || m->msg_id == SMEM_RPC_VM_STOP ||
	    m->msg_id == SMEM_RPC_VM_RESET || m->msg_id == SMEM_RM_CALL_MSGQ_CREATE)
		d->dirty = true;
	/* Everything else needs a registered, running host. */
	if (c->host < 0 || d->hosts[c->host].client != c) {
		std_reply(d, c, m, SMEM_RPC_ERR_DENIED);
		return;
	}
	if (d->hosts[c->host].state != SMEM_RPC_VM_STATE_RUNNING) {
		std_reply(d, c, m, SMEM_RPC_ERR_VM_STATE);
		return;
	}
	switch (m->msg_id) {
	case SMEM_RPC_VM_GET_VMID: {
		uint8_t out[4];

		smem__rpc_vmid_reply_encode(d->hosts[c->host].vmid, out, sizeof(out));
		reply(d, c, m, SMEM_RPC_ERR_OK, out, sizeof(out), NULL, 0);
		return;
	}
	case SMEM_RM_CALL_MAP:
		do_map(d, c, m);
		return;
	case SMEM_RM_CALL_LINK:
		smemd_link_request(d, c, m);
		return;
	case SMEM_RPC_VM_GET_HYP_RESOURCES:
		do_get_resources(d, c, m);
		return;
	case SMEM_RM_CALL_MSGQ_CREATE:
		do_msgq_create(d, c, m);
		return;
	case SMEM_RM_CALL_MSGQ_OPEN:
		do_msgq_open(d, c, m);
		return;
	case SMEM_RPC_VM_EXIT:
		do_exit(d, c, m);
		return;
	case SMEM_RPC_VM_STOP:
		do_stop(d, c, m);
		return;
	case SMEM_RPC_VM_RESET:
		do_reset(d, c, m);
		return;
	default:
		std_reply(d, c, m, SMEM_RPC_ERR_UNIMPLEMENTED);
	}
}
