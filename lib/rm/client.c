// SPDX-License-Identifier: MIT
/*
 * The client of smemd: a SEQPACKET connection speaking the RM RPC framing of
 * lib/rpc/ (one fragment per packet), with synchronous calls and a queue of
 * notifications.
 *
 * A call sends its request's fragments, then reads packets until the reply
 * with its seq and msg_id is complete; a notification completed meanwhile is
 * queued (the oldest dropped when SMEM_RM_NOTIF_MAX wait), a reply to nothing
 * is ignored, and a reply cut short by another message (the reassembler's
 * abort) fails the call with -EIO, as Linux fails it. The fds smemd sends ride
 * on a message's first fragment; those of anything but the awaited reply are
 * closed at once. Every value smemd sends is checked before use, though smemd
 * is trusted: a bad answer is -EPROTO, never a crash.
 */
#include "smemkit/rm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/unixsock.h"
#include "core/util.h"
#include "rm/proto.h"
#include "rpc/rpc.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"

#define SMEM_RM_NOTIF_MAX 64u
#define MAX_QUEUES        1024u

struct rm_queue {
	struct smem_msgq *q;
	struct smem_region *r;
};

/* The RM link (smem_rm_link()): two queues, requests out and replies in. */
struct rm_link {
	struct smem_region *r;
	struct smem_msgq *req, *rsp;
	int efd[4];
};

struct smem_rm {
	int fd;                 /* the connection, or -1 while smemd is away */
	int epfd;               /* smem_rm_fd(): the connection, or the watch below */
	int watch_fd;           /* inotify on the socket's directory while away, or -1 */
	char path[108];
	int host;
	unsigned vmid;
	uint64_t instance;      /* the memory mapped, which a reconnect must find again */
	uint32_t epoch;
	uint16_t seq;
	bool gone;              /* the connection is lost: the next call reconnects */
	bool stale;             /* smemd came back with other memory: nothing works */
	struct rm_link *link;   /* the RM link the calls travel on, or NULL: the socket */
	bool want_link;         /* link again after a reconnect */
	bool reconnecting;
	int note_efd;           /* readable while notes wait, in epfd */
	struct smem_rpc_rx rx;
	int rx_fds[SMEM_RM_PACKET_FDS]; /* fds of the message being reassembled */
	unsigned rx_nfds;
	struct smem_rm_notification notes[SMEM_RM_NOTIF_MAX];
	unsigned note_head, note_len;
	struct smem_region *image;
	void *image_base;       /* the reserved range, with the host's pieces mapped in it */
	size_t image_size;
	uint64_t (*mapped)[2];  /* [start, end) of each piece's extents, in order */
	unsigned n_mapped;
	struct smem_region *bank_region;
	struct smem_hwlock *bank;
	struct rm_queue queues[MAX_QUEUES];
	uint8_t reply[SMEM_RPC_MSG_MAX];
	size_t reply_len;
};

static void disconnect(struct smem_rm *rm);
static int reconnect(struct smem_rm *rm);
static int do_link(struct smem_rm *rm);
static int lost(struct smem_rm *rm);

static void drop_rx_fds(struct smem_rm *rm)
{
	for (unsigned i = 0; i < rm->rx_nfds; i++)
		close(rm->rx_fds[i]);
	rm->rx_nfds = 0;
}

/*
 * Keep smem_rm_fd() readable while notifications wait in the connection: those
 * a call read from the socket or the link would otherwise be there unseen.
 */
static void notes_signal(struct smem_rm *rm)
{
	uint64_t v = 1;

	if (rm->note_efd < 0)
		return;
	if (rm->note_len) {
		if (write(rm->note_efd, &v, sizeof(v)) < 0)
			return;
	} else if (read(rm->note_efd, &v, sizeof(v)) < 0) {
		return;
	}
}

static void note_push(struct smem_rm *rm, const struct smem_rpc_msg *m)
{
	struct smem_rm_notification n = { .msg_id = m->msg_id };

	if (m->msg_id == SMEM_RPC_NOTIF_VM_EXITED) {
		struct smem_rpc_vm_exited e;

		if (smem__rpc_vm_exited_decode(m->data, m->len, &e) < 0)
			return;
		n.vmid = e.vmid;
		n.exit_type = e.exit_type;
		n.value = e.reason_size >= 4 ? get_le32(e.reason) : 0;
	} else if (m->msg_id == SMEM_RPC_NOTIF_VM_STATUS) {
		struct smem_rpc_vm_status s;

		if (smem__rpc_vm_status_decode(m->data, m->len, &s) < 0)
			return;
		n.vmid = s.vmid;
		n.vm_state = s.vm_status;
		n.os_state = s.os_status;
		n.value = s.app_status;
	} else if (m->msg_id == SMEM_RPC_NOTIF_VM_SHUTDOWN) {
		if (smem__rpc_vm_shutdown_decode(m->data, m->len, &n.value) < 0)
			return;
	} else if (m->msg_id == SMEM_RM_NOTIF_RESOURCES) {
		if (m->len != SMEM_RM_NOTIF_RESOURCES_LEN)
			return;
		n.vmid = get_le16(m->data);
		n.value = get_le32(m->data + 4);
	} else {
		return; /* a notification this library does not know */
	}
	if (rm->note_len == SMEM_RM_NOTIF_MAX) {
		rm->note_head = (rm->note_head + 1) % SMEM_RM_NOTIF_MAX;
		rm->note_len--;
	}
	rm->notes[(rm->note_head + rm->note_len++) % SMEM_RM_NOTIF_MAX] = n;
	notes_signal(rm);
}

/* Whether the socket says smemd is gone: EOF or an error, never data (all goes on the link). */
static bool socket_gone(struct smem_rm *rm)
{
	char c;
	ssize_t n = recv(rm->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*
 * Wait for @q's notification (a fragment, or room) or for the socket to say
 * smemd is gone. Return: 0 to try again; -EPIPE.
 */
static int link_wait(struct smem_rm *rm, struct smem_msgq *q)
{
	struct pollfd p[2] = { { smem_msgq_fd(q), POLLIN, 0 }, { rm->fd, POLLIN, 0 } };
	int r = smem_msgq_arm(q);

	if (r == 1)
		return 0;
	if (r < 0)
		return -EPIPE;
	while (poll(p, 2, -1) < 0)
		if (errno != EINTR)
			return -EPIPE;
	if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && socket_gone(rm))
		return -EPIPE;
	return 0;
}

/* One fragment from the link. Return: as smem__rm_recv() (0 when smemd is gone). */
static ssize_t link_recv(struct smem_rm *rm, void *buf, size_t len, bool block)
{
	for (;;) {
		size_t n;
		int r = smem_msgq_recv(rm->link->rsp, buf, len, &n);

		if (r >= 0)
			return (ssize_t)n;
		if (r != -EAGAIN)
			return 0; /* shut down, or broken: smemd is gone */
		if (!block) {
			if (socket_gone(rm))
				return 0;
			r = smem_msgq_arm(rm->link->rsp);
			if (r == 1)
				continue;
			return r < 0 ? 0 : -EAGAIN;
		}
		if (link_wait(rm, rm->link->rsp) < 0)
			return 0;
	}
}

static ssize_t link_send(struct smem_rm *rm, const void *pkt, size_t len)
{
	for (;;) {
		int r = smem_msgq_send(rm->link->req, pkt, len, 0);

		if (r >= 0)
			return (ssize_t)len;
		if (r != -EAGAIN || link_wait(rm, rm->link->req) < 0)
			return -EPIPE;
	}
}

static void free_link(struct smem_rm *rm, struct rm_link *l)
{
	if (l->rsp)
		epoll_ctl(rm->epfd, EPOLL_CTL_DEL, l->efd[2], NULL);
	smem_msgq_close(l->req);
	smem_msgq_close(l->rsp);
	smem_region_close(l->r);
	for (unsigned i = 0; i < 4; i++)
		if (l->efd[i] >= 0)
			close(l->efd[i]);
	free(l);
}

static void link_drop(struct smem_rm *rm)
{
	if (rm->link)
		free_link(rm, rm->link);
	rm->link = NULL;
}

/*
 * Read one packet and feed it to the reassembler. With @want_msg_id, a complete
 * reply of @want_seq/@want_msg_id is copied to rm->reply and 1 returned, its
 * fds left in rm->rx_fds. Return: 0 if the packet completed nothing awaited;
 * -EAGAIN without @block and nothing to read; -EIO if the awaited reply was
 * aborted; -EPIPE if smemd is gone.
 */
static int read_packet(struct smem_rm *rm, bool block, uint16_t want_seq, uint32_t want_msg_id)
{
	uint8_t buf[SMEM_RPC_FRAG_MAX + 16];
	struct smem_rpc_rx_event ev;
	unsigned nfds = 0;
	int fds[SMEM_RM_PACKET_FDS], r;
	ssize_t n;

	if (rm->gone)
		return -EPIPE;
	if (rm->link)
		n = link_recv(rm, buf, sizeof(buf), block);
	else
		n = smem__rm_recv(rm->fd, buf, sizeof(buf), block ? 0 : MSG_DONTWAIT, fds,
				  SMEM_RM_PACKET_FDS, &nfds);
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return -EAGAIN;
	if (n <= 0) {
		disconnect(rm);
		return -EPIPE;
	}
	r = smem__rpc_rx_push(&rm->rx, buf, (size_t)n, &ev);
	if (r < 0 || (r & SMEM_RPC_RX_DROPPED)) {
		for (unsigned f = 0; f < nfds; f++)
			close(fds[f]);
		return 0;
	}
	if (r & SMEM_RPC_RX_ABORTED) {
		drop_rx_fds(rm);
		if (ev.aborted.type == SMEM_RPC_REPLY && ev.aborted.seq == want_seq &&
		    ev.aborted.msg_id == want_msg_id) {
			for (unsigned f = 0; f < nfds; f++)
				close(fds[f]);
			return -EIO;
		}
	}
	/* Fds come with a message's first fragment: this packet opened one if it was not CONT. */
	if (buf[1] & 3) {
		drop_rx_fds(rm);
		for (unsigned f = 0; f < nfds; f++) {
			if (rm->rx_nfds < SMEM_RM_PACKET_FDS)
				rm->rx_fds[rm->rx_nfds++] = fds[f];
			else
				close(fds[f]);
		}
	} else {
		for (unsigned f = 0; f < nfds; f++)
			close(fds[f]);
	}
	if (!(r & SMEM_RPC_RX_COMPLETE))
		return 0;
	if (ev.msg.type == SMEM_RPC_NOTIFICATION) {
		drop_rx_fds(rm);
		note_push(rm, &ev.msg);
		return 0;
	}
	if (ev.msg.type != SMEM_RPC_REPLY || ev.msg.seq != want_seq || ev.msg.msg_id != want_msg_id ||
	    !want_msg_id) {
		drop_rx_fds(rm);
		return 0;
	}
	memcpy(rm->reply, ev.msg.data, ev.msg.len);
	rm->reply_len = ev.msg.len;
	return 1;
}

/*
 * One call. On success *@ret_error is the RM error word, and the payload after
 * it is at @rm->reply + 4, @rm->reply_len - 4 bytes; fds in @rm->rx_fds.
 */
static int call_on(struct smem_rm *rm, uint32_t msg_id, const void *req, size_t len,
		   uint32_t *ret_error)
{
	struct smem_rpc_msg m;
	uint8_t pkt[SMEM_RPC_FRAG_MAX];
	int nfrags, r;

	if (rm->gone) {
		r = reconnect(rm);
		if (r < 0)
			return r;
	}
	if (++rm->seq == 0)
		rm->seq = 1;
	m = (struct smem_rpc_msg){ .type = SMEM_RPC_REQUEST, .seq = rm->seq, .msg_id = msg_id,
				   .data = req, .len = len };
	nfrags = smem__rpc_nfrags(len);
	if (nfrags < 0)
		return nfrags;
	for (int i = 0; i <= nfrags; i++) {
		int n = smem__rpc_fragment(&m, (unsigned)i, pkt);
		ssize_t w;

		if (n < 0)
			return n;
		if (rm->link)
			w = link_send(rm, pkt, (size_t)n);
		else
			do
				w = send(rm->fd, pkt, (size_t)n, MSG_NOSIGNAL);
			while (w < 0 && errno == EINTR);
		if (w != n)
			return lost(rm);
	}
	drop_rx_fds(rm);
	do
		r = read_packet(rm, true, rm->seq, msg_id);
	while (r == 0);
	/* smemd went away with the call: whether it took effect is not known. */
	if (r == -EPIPE)
		return lost(rm);
	if (r < 0)
		return r;
	if (rm->reply_len < 4) {
		drop_rx_fds(rm);
		return -EPROTO;
	}
	*ret_error = get_le32(rm->reply);
	return 0;
}

/*
 * One call, on the link if there is one, except a call whose reply carries
 * fds, which only the socket can: the link is set aside for it (what arrives
 * on the link meanwhile waits there).
 */
static int call(struct smem_rm *rm, uint32_t msg_id, const void *req, size_t len,
		uint32_t *ret_error)
{
	struct rm_link *l = rm->link;
	int r;

	if (!l || (msg_id != SMEM_RM_CALL_MAP && msg_id != SMEM_RM_CALL_MSGQ_OPEN &&
		   msg_id != SMEM_RM_CALL_DUMP && msg_id != SMEM_RM_CALL_LINK))
		return call_on(rm, msg_id, req, len, ret_error);
	rm->link = NULL;
	r = call_on(rm, msg_id, req, len, ret_error);
	/* Unless the call lost the connection, and the link with it. */
	if (!rm->gone)
		rm->link = l;
	else
		free_link(rm, l);
	return r;
}

/* The RM error of a reply, as an errno; @in_use is what IN_USE means for this call. */
static int rm_errno(uint32_t err, int in_use)
{
	if (err == SMEM_RPC_ERR_IN_USE)
		return in_use;
	if (err == SMEM_RPC_ERR_ARGUMENT_INVALID || err == SMEM_RPC_ERR_HANDLE_INVALID ||
	    err == SMEM_RPC_ERR_VMID_INVALID)
		return -EINVAL;
	return smem__rpc_errno(err);
}

static int socket_path(const char *path, char *buf, size_t len)
{
	return smem__socket_path(path, "SMEMKIT_RM_SOCKET", "rm.sock", buf, len);
}

/* Map one of the host's pieces where MAP says, into the reserved range. */
static int map_piece(struct smem_rm *rm, unsigned index, uint64_t (*done)[2], unsigned *n_done)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t req[SMEM_RM_MAP_REQ];
	struct stat st;
	uint32_t err, n;
	int r = 0, seals, fd;

	put_le32(req, index);
	r = call(rm, SMEM_RM_CALL_MAP, req, sizeof(req), &err);
	if (r < 0)
		return r;
	if (err != SMEM_RPC_ERR_OK) {
		drop_rx_fds(rm);
		return rm_errno(err, -EPROTO);
	}
	n = rm->reply_len >= 12 ? get_le32(rm->reply + 4) : 0;
	if (n == 0 || n > SMEM_RM_MAP_MAX_EXT || rm->reply_len != 12 + (size_t)n * SMEM_RM_EXTENT ||
	    rm->rx_nfds != 1) {
		drop_rx_fds(rm);
		return -EPROTO;
	}
	fd = rm->rx_fds[0];
	/* A piece a peer could shrink would kill this process with SIGBUS: sealed only. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
	    fstat(fd, &st) < 0)
		r = -EPROTO;
	for (uint32_t k = 0; r == 0 && k < n; k++) {
		const uint8_t *e = rm->reply + 12 + k * SMEM_RM_EXTENT;
		uint64_t off = get_le64(e), len = get_le64(e + 8), fd_off = get_le64(e + 16);

		if (!len || off % page || len % page || fd_off % page || off > rm->image_size ||
		    len > rm->image_size - off || fd_off > (uint64_t)st.st_size ||
		    len > (uint64_t)st.st_size - fd_off) {
			r = -EPROTO;
			break;
		}
		/* A fixed mapping replaces what is there: never let one piece cover another. */
		for (unsigned j = 0; j < *n_done; j++)
			if (off < done[j][1] && done[j][0] < off + len)
				r = -EPROTO;
		if (r == 0 && mmap((uint8_t *)rm->image_base + off, len, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_FIXED, fd, (off_t)fd_off) == MAP_FAILED)
			r = -errno;
		if (r == 0) {
			done[*n_done][0] = off;
			done[(*n_done)++][1] = off + len;
		}
	}
	drop_rx_fds(rm);
	return r;
}

static int cmp_extent(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

uint64_t smem__rm_mapped_end(const struct smem_rm *rm, uint64_t off)
{
	uint64_t end = off;

	for (unsigned i = 0; rm && i < rm->n_mapped; i++)
		if (rm->mapped[i][0] <= end && rm->mapped[i][1] > end)
			end = rm->mapped[i][1];
	return end;
}

bool smem__rm_mapped(const struct smem_rm *rm, uint64_t off, uint64_t len)
{
	return len <= UINT64_MAX - off && smem__rm_mapped_end(rm, off) >= off + len;
}

/*
 * The image as pieces: a range of its size reserved with no access, and the
 * host's pieces mapped into it at their offsets. What the host was not given
 * stays PROT_NONE, and touching it faults.
 */
static int map_image(struct smem_rm *rm, uint64_t size, uint32_t pieces)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t (*done)[2];
	unsigned n_done = 0;
	int r = 0;

	if (!size || size % page || size > SMEM_REGION_MAX_SIZE || !pieces ||
	    pieces > SMEM_RM_MAX_PIECES)
		return -EPROTO;
	done = calloc((size_t)pieces * SMEM_RM_MAP_MAX_EXT, sizeof(*done));
	if (!done)
		return -ENOMEM;
	rm->image_base = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			      0);
	if (rm->image_base == MAP_FAILED) {
		rm->image_base = NULL;
		free(done);
		return -ENOMEM;
	}
	rm->image_size = size;
	for (uint32_t i = 0; r == 0 && i < pieces; i++)
		r = map_piece(rm, i, done, &n_done);
	qsort(done, n_done, sizeof(*done), cmp_extent);
	rm->mapped = done;
	rm->n_mapped = n_done;
	if (r == 0)
		r = smem_region_wrap(rm->image_base, size, true, &rm->image);
	return r;
}

static int do_register(struct smem_rm *rm, unsigned host)
{
	struct smem_hwlock_opts ho;
	uint8_t req[SMEM_RM_REGISTER_REQ] = { 0 };
	uint64_t size, instance;
	uint32_t err, pieces;
	int r;

	put_le16(req, (uint16_t)host);
	r = call(rm, SMEM_RM_CALL_REGISTER, req, sizeof(req), &err);
	if (r < 0)
		return r;
	if (err != SMEM_RPC_ERR_OK) {
		drop_rx_fds(rm);
		if (err == SMEM_RPC_ERR_DENIED)
			return -EACCES;
		if (err == SMEM_RPC_ERR_ARGUMENT_INVALID)
			return -ENODEV;
		return rm_errno(err, -EADDRINUSE);
	}
	if (rm->reply_len != 4 + SMEM_RM_REGISTER_REPLY || rm->rx_nfds != 1) {
		drop_rx_fds(rm);
		return -EPROTO;
	}
	rm->vmid = get_le32(rm->reply + 4);
	rm->epoch = get_le32(rm->reply + 8);
	size = get_le64(rm->reply + 12);
	instance = get_le64(rm->reply + 28);
	pieces = get_le32(rm->reply + 36);
	if (rm->image) {
		/* Again, after losing smemd: the memory must be what this host has mapped. */
		drop_rx_fds(rm);
		if (instance != rm->instance || size != rm->image_size) {
			rm->stale = true;
			return -ESTALE;
		}
		return 0;
	}
	rm->instance = instance;
	r = smem_region_from_fd(rm->rx_fds[0], 0, &rm->bank_region);
	drop_rx_fds(rm);
	if (r == 0)
		r = map_image(rm, size, pieces);
	if (r < 0)
		return r;
	smem_hwlock_opts_init(&ho);
	ho.region = rm->bank_region;
	return smem_hwlock_open(NULL, &ho, &rm->bank);
}

/* Drop the connection; what it mapped stays. */
static void disconnect(struct smem_rm *rm)
{
	if (rm->fd >= 0) {
		epoll_ctl(rm->epfd, EPOLL_CTL_DEL, rm->fd, NULL);
		close(rm->fd);
		rm->fd = -1;
	}
	link_drop(rm);
	drop_rx_fds(rm);
	smem__rpc_rx_init(&rm->rx);
	rm->gone = true;
}

/*
 * While smemd is away, smem_rm_fd() waits on the socket's directory: smemd
 * renames its socket into place once it listens, and that wakes the caller's
 * loop to reconnect. Without inotify the next call reconnects all the same.
 */
static void watch(struct smem_rm *rm)
{
	char dir[sizeof(rm->path)];
	char *slash;
	struct epoll_event ev = { .events = EPOLLIN };

	if (rm->watch_fd >= 0)
		return;
	memcpy(dir, rm->path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	rm->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (rm->watch_fd < 0)
		return;
	if (inotify_add_watch(rm->watch_fd, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0 ||
	    epoll_ctl(rm->epfd, EPOLL_CTL_ADD, rm->watch_fd, &ev) < 0) {
		close(rm->watch_fd);
		rm->watch_fd = -1;
	}
}

static void unwatch(struct smem_rm *rm)
{
	if (rm->watch_fd < 0)
		return;
	epoll_ctl(rm->epfd, EPOLL_CTL_DEL, rm->watch_fd, NULL);
	close(rm->watch_fd);
	rm->watch_fd = -1;
}

static int dial(struct smem_rm *rm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };

	memcpy(sa.sun_path, rm->path, sizeof(rm->path));
	rm->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (rm->fd < 0)
		return -errno;
	if (connect(rm->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    epoll_ctl(rm->epfd, EPOLL_CTL_ADD, rm->fd, &ev) < 0) {
		int e = -errno;

		close(rm->fd);
		rm->fd = -1;
		return e;
	}
	rm->gone = false;
	return 0;
}

/* A connection again, registered as the same host with the same memory. */
static int reconnect(struct smem_rm *rm)
{
	int r;

	if (rm->stale)
		return -ESTALE;
	if (rm->reconnecting)
		return -ECONNRESET; /* lost again while registering: the caller tries later */
	rm->reconnecting = true;
	disconnect(rm);
	/* The watch first: a smemd that comes back after the dial fails still wakes us. */
	watch(rm);
	if (rm->watch_fd >= 0) {
		char ev[4096];

		/* What woke the caller's loop is spent now. */
		while (read(rm->watch_fd, ev, sizeof(ev)) > 0)
			;
	}
	r = dial(rm);
	if (r == 0 && rm->host >= 0)
		r = do_register(rm, (unsigned)rm->host);
	if (r == 0 && rm->want_link)
		r = do_link(rm);
	rm->reconnecting = false;
	if (r < 0) {
		disconnect(rm);
		if (rm->stale)
			unwatch(rm);
		return r;
	}
	unwatch(rm);
	return 0;
}

/*
 * The connection was lost under a call: try once to be connected again, so
 * that the next call is served at once if smemd is back, and smem_rm_fd()
 * wakes when it comes back if not. The lost call fails all the same.
 */
static int lost(struct smem_rm *rm)
{
	disconnect(rm);
	reconnect(rm);
	return -ECONNRESET;
}

static int do_link(struct smem_rm *rm)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct smem_msgq_opts o = { 0 };
	struct rm_link *l;
	uint32_t err, qsize;
	int r;

	r = call(rm, SMEM_RM_CALL_LINK, NULL, 0, &err);
	if (r < 0)
		return r;
	if (err) {
		drop_rx_fds(rm);
		return rm_errno(err, -EBUSY);
	}
	if (rm->reply_len != 4 + SMEM_RM_LINK_REPLY || rm->rx_nfds != 5) {
		drop_rx_fds(rm);
		return -EPROTO;
	}
	qsize = get_le32(rm->reply + 4);
	l = calloc(1, sizeof(*l));
	if (!l) {
		drop_rx_fds(rm);
		return -ENOMEM;
	}
	memcpy(l->efd, rm->rx_fds + 1, sizeof(l->efd));
	r = smem_region_from_fd(rm->rx_fds[0], 0, &l->r);
	close(rm->rx_fds[0]);
	rm->rx_nfds = 0; /* the eventfds are the link's now */
	if (r == 0 && (qsize == 0 || smem_region_size(l->r) != 2 * (size_t)qsize))
		r = -EPROTO;
	o.rx_eventfd = l->efd[0];
	o.tx_eventfd = l->efd[1];
	if (r == 0)
		r = smem_msgq_open(smem_region_base(l->r), qsize, SMEM_MSGQ_TX, &o, &l->req);
	o.rx_eventfd = l->efd[2];
	o.tx_eventfd = l->efd[3];
	if (r == 0)
		r = smem_msgq_open((uint8_t *)smem_region_base(l->r) + qsize, qsize, SMEM_MSGQ_RX, &o,
				   &l->rsp);
	rm->link = l;
	if (r == 0 && epoll_ctl(rm->epfd, EPOLL_CTL_ADD, l->efd[2], &ev) < 0)
		r = -errno;
	if (r == 0 && smem_msgq_arm(l->rsp) < 0)
		r = -EPROTO;
	if (r < 0)
		link_drop(rm);
	return r;
}

int smem_rm_link(struct smem_rm *rm)
{
	int r;

	if (!rm || rm->host < 0)
		return -EINVAL;
	if (rm->link)
		return 0;
	if (rm->gone) {
		r = reconnect(rm);
		if (r < 0)
			return r;
	}
	r = do_link(rm);
	if (r == 0)
		rm->want_link = true;
	return r;
}

int smem_rm_connect(const char *socket_name, int host, struct smem_rm **ret)
{
	struct smem_rm *rm;
	int r;

	if (!ret || host < -1 || host >= (int)SMEM_RM_MAX_HOSTS)
		return -EINVAL;
	rm = calloc(1, sizeof(*rm));
	if (!rm)
		return -ENOMEM;
	rm->fd = rm->watch_fd = rm->note_efd = -1;
	rm->host = host;
	smem__rpc_rx_init(&rm->rx);
	r = socket_path(socket_name, rm->path, sizeof(rm->path));
	if (r == 0) {
		struct epoll_event ev = { .events = EPOLLIN };

		rm->epfd = epoll_create1(EPOLL_CLOEXEC);
		rm->note_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (rm->epfd < 0 || rm->note_efd < 0 ||
		    epoll_ctl(rm->epfd, EPOLL_CTL_ADD, rm->note_efd, &ev) < 0)
			r = -errno;
		else
			r = dial(rm);
	}
	if (r == 0 && host >= 0)
		r = do_register(rm, (unsigned)host);
	if (r < 0) {
		smem_rm_close(rm);
		return r;
	}
	*ret = rm;
	return 0;
}

void smem_rm_close(struct smem_rm *rm)
{
	if (!rm)
		return;
	for (unsigned i = 0; i < MAX_QUEUES; i++)
		if (rm->queues[i].q)
			smem_rm_msgq_close(rm, rm->queues[i].q);
	link_drop(rm);
	drop_rx_fds(rm);
	smem_hwlock_close(rm->bank);
	smem_region_close(rm->bank_region);
	smem_region_close(rm->image);
	if (rm->image_base)
		munmap(rm->image_base, rm->image_size);
	free(rm->mapped);
	if (rm->fd >= 0)
		close(rm->fd);
	if (rm->watch_fd >= 0)
		close(rm->watch_fd);
	if (rm->note_efd >= 0)
		close(rm->note_efd);
	if (rm->epfd > 0)
		close(rm->epfd);
	free(rm);
}

int smem__rm_host(const struct smem_rm *rm)
{
	return rm && rm->image ? rm->host : -1;
}

struct smem_region *smem__rm_bank_region(const struct smem_rm *rm)
{
	return rm ? rm->bank_region : NULL;
}

struct smem_region *smem_rm_region(struct smem_rm *rm)
{
	return rm ? rm->image : NULL;
}

struct smem_hwlock *smem_rm_hwlock(struct smem_rm *rm)
{
	return rm ? rm->bank : NULL;
}

int smem_rm_fd(struct smem_rm *rm)
{
	return rm ? rm->epfd : -EINVAL;
}

int smem_rm_notification(struct smem_rm *rm, struct smem_rm_notification *ret)
{
	if (!rm || !ret)
		return -EINVAL;
	/* What has arrived, without waiting; a notification completes in it or not. */
	bool redialled = false;

	if (!rm || !ret)
		return -EINVAL;
	/* What has arrived, without waiting; a notification completes in it or not. */
	while (rm->note_len == 0) {
		int r;

		if (rm->gone) {
			/* One reconnect a call: a smemd that keeps hanging up is not chased. */
			if (redialled)
				return -ECONNRESET;
			redialled = true;
			r = reconnect(rm);
			if (r < 0)
				return r;
		}
		r = read_packet(rm, false, 0, 0);
		if (r == -EPIPE)
			continue; /* reconnect at once: smemd may be back already */
		if (r < 0)
			return r;
	}
	*ret = rm->notes[rm->note_head];
	rm->note_head = (rm->note_head + 1) % SMEM_RM_NOTIF_MAX;
	rm->note_len--;
	notes_signal(rm);
	return 0;
}

int smem_rm_dispatch(struct smem_rm *rm,
		     void (*fn)(const struct smem_rm_notification *n, void *userdata),
		     void *userdata)
{
	struct smem_rm_notification n;
	int count = 0, r;

	if (!rm || !fn)
		return -EINVAL;
	while ((r = smem_rm_notification(rm, &n)) == 0) {
		fn(&n, userdata);
		count++;
	}
	return r == -EAGAIN ? count : r;
}

int smem_rm_dump(struct smem_rm *rm, struct smem_region **ret)
{
	struct stat st;
	uint32_t err;
	int r;

	if (!rm || !ret)
		return -EINVAL;
	r = call(rm, SMEM_RM_CALL_DUMP, NULL, 0, &err);
	if (r < 0)
		return r;
	if (err) {
		drop_rx_fds(rm);
		return err == SMEM_RPC_ERR_BUSY ? -EBUSY : rm_errno(err, -EBUSY);
	}
	if (rm->reply_len != 4 + SMEM_RM_DUMP_REPLY || rm->rx_nfds != 1 ||
	    fstat(rm->rx_fds[0], &st) < 0 || (uint64_t)st.st_size != get_le64(rm->reply + 4)) {
		drop_rx_fds(rm);
		return -EPROTO;
	}
	r = smem_region_from_fd(rm->rx_fds[0], SMEM_REGION_RDONLY, ret);
	drop_rx_fds(rm);
	return r;
}

int smem_rm_get_vmid(struct smem_rm *rm, unsigned *ret_vmid)
{
	uint32_t err, vmid;
	int r;

	if (!rm || !ret_vmid)
		return -EINVAL;
	r = call(rm, SMEM_RPC_VM_GET_VMID, NULL, 0, &err);
	if (r < 0)
		return r;
	if (err)
		return rm_errno(err, -EBADMSG);
	if (smem__rpc_vmid_reply_decode(rm->reply + 4, rm->reply_len - 4, &vmid) < 0)
		return -EPROTO;
	*ret_vmid = vmid;
	return 0;
}

int smem_rm_get_state(struct smem_rm *rm, unsigned vmid, struct smem_rm_state *ret)
{
	struct smem_rpc_vm_state_reply st;
	uint8_t req[4];
	uint32_t err;
	int r;

	if (!rm || !ret || vmid > 0xffff)
		return -EINVAL;
	smem__rpc_vmid_req_encode((uint16_t)vmid, req, sizeof(req));
	r = call(rm, SMEM_RPC_VM_GET_STATE, req, sizeof(req), &err);
	if (r < 0)
		return r;
	if (err)
		return rm_errno(err, -EBADMSG);
	if (smem__rpc_vm_state_decode(rm->reply + 4, rm->reply_len - 4, &st) < 0)
		return -EPROTO;
	*ret = (struct smem_rm_state){ st.vm_state, st.os_state, st.app_status };
	return 0;
}

int smem_rm_get_resources(struct smem_rm *rm, struct smem_rm_resource *buf, size_t n,
			  size_t *ret_n)
{
	uint8_t req[4];
	uint32_t err, count;
	int r;

	if (!rm || (!buf && n) || !ret_n)
		return -EINVAL;
	smem__rpc_vmid_req_encode(0, req, sizeof(req));
	r = call(rm, SMEM_RPC_VM_GET_HYP_RESOURCES, req, sizeof(req), &err);
	if (r < 0)
		return r;
	if (err)
		return rm_errno(err, -EBADMSG);
	if (smem__rpc_resources_count(rm->reply + 4, rm->reply_len - 4, &count) < 0)
		return -EPROTO;
	for (uint32_t i = 0; i < count && i < n; i++) {
		struct smem_rpc_resource e;

		if (smem__rpc_resource_get(rm->reply + 4, rm->reply_len - 4, i, &e) < 0)
			return -EPROTO;
		buf[i] = (struct smem_rm_resource){ e.type, e.partner_vmid, e.resource_label,
						    e.cap_id, e.size };
	}
	*ret_n = count;
	return 0;
}

int smem_rm_hosts(struct smem_rm *rm, struct smem_rm_host *buf, size_t n, size_t *ret_n)
{
	uint32_t err, count;
	int r;

	if (!rm || (!buf && n) || !ret_n)
		return -EINVAL;
	r = call(rm, SMEM_RM_CALL_HOSTS, NULL, 0, &err);
	if (r < 0)
		return r;
	if (err)
		return rm_errno(err, -EBADMSG);
	if (rm->reply_len < 8)
		return -EPROTO;
	count = get_le32(rm->reply + 4);
	if ((uint64_t)count * SMEM_RM_HOST_ENTRY != rm->reply_len - 8)
		return -EPROTO;
	for (uint32_t i = 0; i < count && i < n; i++) {
		const uint8_t *e = rm->reply + 8 + (size_t)i * SMEM_RM_HOST_ENTRY;

		buf[i] = (struct smem_rm_host){
			.host = get_le16(e), .vmid = get_le16(e + 2),
			.vm_state = e[4], .os_state = e[5], .queues = get_le16(e + 6),
			.pid = get_le32(e + 8), .uid = get_le32(e + 12),
			.exit_type = get_le32(e + 16),
		};
		memcpy(buf[i].name, e + 20, 15);
		buf[i].name[15] = '\0';
	}
	*ret_n = count;
	return 0;
}

/*
 * One page of STATS from @first: checked whole before anything is taken from
 * it, so that a page that does not add up changes nothing. Return: 0 with the
 * payload at rm->reply + 4; -EPROTO; an error of the call.
 */
static int stats_page(struct smem_rm *rm, uint32_t first, uint32_t *ret_nlocks, uint32_t *ret_n,
		      uint32_t *ret_next)
{
	uint8_t req[SMEM_RM_STATS_REQ];
	const uint8_t *p = rm->reply + 4;
	uint32_t err, nlocks, n, next, prev = 0;
	size_t len;
	int r;

	put_le32(req, first);
	r = call(rm, SMEM_RM_CALL_STATS, req, sizeof(req), &err);
	if (r < 0)
		return r;
	if (err)
		return rm_errno(err, -EBADMSG);
	len = rm->reply_len - 4;
	if (len < SMEM_RM_STATS_HDR)
		return -EPROTO;
	nlocks = get_le32(p);
	n = get_le32(p + 4);
	next = get_le32(p + 8);
	if (nlocks > SMEM_RM_STATS_MAX_LOCKS || n > SMEM_RM_STATS_PAGE ||
	    len != SMEM_RM_STATS_HDR + (size_t)nlocks * 4 + (size_t)n * SMEM_RM_STATS_QUEUE)
		return -EPROTO;
	/* Slots in increasing order from @first, and next past them: the walk ends, once each. */
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + SMEM_RM_STATS_HDR + nlocks * 4 + i * SMEM_RM_STATS_QUEUE;
		uint32_t slot = get_le32(e);

		if (slot < first || (i > 0 && slot <= prev))
			return -EPROTO;
		prev = slot;
	}
	if (next && (n == 0 || next <= prev))
		return -EPROTO;
	*ret_nlocks = nlocks;
	*ret_n = n;
	*ret_next = next;
	return 0;
}

int smem_rm_stats(struct smem_rm *rm, struct smem_rm_lock_stats *locks, size_t nlocks,
		  size_t *ret_nlocks, struct smem_rm_queue_stats *queues, size_t nqueues,
		  size_t *ret_nqueues)
{
	uint32_t first = 0, bank_locks = 0;
	size_t count = 0;
	bool first_page = true;

	if (!rm || (!locks && nlocks) || !ret_nlocks || (!queues && nqueues) || !ret_nqueues)
		return -EINVAL;
	do {
		const uint8_t *p = rm->reply + 4, *e;
		uint32_t nl = 0, n = 0, next = 0;
		int r = stats_page(rm, first, &nl, &n, &next);

		if (r < 0)
			return r;
		if (first_page) {
			for (uint32_t i = 0; i < nl && i < nlocks; i++) {
				unsigned v = get_le32(p + SMEM_RM_STATS_HDR + i * 4);
				bool held = v && v - 1 <= SMEM_HWLOCK_MAX_HOST;

				locks[i] = (struct smem_rm_lock_stats){ .id = i, .value = v,
									.holder = held ? (int)(v - 1) : -1 };
			}
			bank_locks = nl;
			first_page = false;
		} else if (nl != bank_locks) {
			return -EPROTO;
		}
		e = p + SMEM_RM_STATS_HDR + (size_t)nl * 4;
		for (uint32_t i = 0; i < n; i++, e += SMEM_RM_STATS_QUEUE, count++) {
			if (count >= nqueues)
				continue;
			queues[count] = (struct smem_rm_queue_stats){
				.slot = get_le32(e), .from = get_le16(e + 4), .to = get_le16(e + 6),
				.label = get_le32(e + 8), .depth = get_le16(e + 12),
				.max_msg_size = get_le16(e + 14), .count = get_le32(e + 16),
				.sent = get_le32(e + 20), .received = get_le32(e + 24),
				.full_events = get_le32(e + 28),
				.closed = !!(e[32] & SMEM_RM_STATS_CLOSED),
			};
		}
		first = next;
	} while (first);
	*ret_nlocks = bank_locks;
	*ret_nqueues = count;
	return 0;
}

int smem_rm_msgq_create(struct smem_rm *rm, unsigned partner, uint32_t label, unsigned depth,
			unsigned max_msg_size, unsigned flags, uint64_t *ret_tx_cap,
			uint64_t *ret_rx_cap)
{
	uint8_t req[SMEM_RM_MSGQ_CREATE_REQ];
	uint32_t err;
	int r;

	if (!rm || partner > 0xffff || depth > 0xffff || max_msg_size > 0xffff || flags > 0xffff ||
	    !ret_tx_cap || !ret_rx_cap)
		return -EINVAL;
	put_le16(req, (uint16_t)partner);
	put_le16(req + 2, (uint16_t)depth);
	put_le16(req + 4, (uint16_t)max_msg_size);
	put_le16(req + 6, (uint16_t)flags);
	put_le32(req + 8, label);
	r = call(rm, SMEM_RM_CALL_MSGQ_CREATE, req, sizeof(req), &err);
	if (r < 0)
		return r;
	if (err)
		return rm_errno(err, -EEXIST);
	if (rm->reply_len != 4 + SMEM_RM_MSGQ_CREATE_REPLY)
		return -EPROTO;
	*ret_tx_cap = get_le64(rm->reply + 4);
	*ret_rx_cap = get_le64(rm->reply + 12);
	return 0;
}

int smem_rm_msgq_open(struct smem_rm *rm, uint64_t cap, const struct smem_msgq_opts *o,
		      struct smem_msgq **ret)
{
	struct smem_region *r = NULL;
	uint8_t req[SMEM_RM_MSGQ_OPEN_REQ];
	uint32_t err, end, size;
	unsigned slot;
	int e;

	if (!rm || !ret)
		return -EINVAL;
	for (slot = 0; slot < MAX_QUEUES && rm->queues[slot].q; slot++)
		;
	if (slot == MAX_QUEUES)
		return -ENOMEM;
	put_le64(req, cap);
	e = call(rm, SMEM_RM_CALL_MSGQ_OPEN, req, sizeof(req), &err);
	if (e < 0)
		return e;
	if (err) {
		drop_rx_fds(rm);
		return rm_errno(err, -EBADMSG);
	}
	if (rm->reply_len != 4 + SMEM_RM_MSGQ_OPEN_REPLY || rm->rx_nfds != 1) {
		drop_rx_fds(rm);
		return -EPROTO;
	}
	end = get_le32(rm->reply + 4);
	size = get_le32(rm->reply + 8);
	e = smem_region_from_fd(rm->rx_fds[0], 0, &r);
	drop_rx_fds(rm);
	if (e < 0)
		return e;
	if ((end != SMEM_RM_END_TX && end != SMEM_RM_END_RX) || size > smem_region_size(r)) {
		smem_region_close(r);
		return -EPROTO;
	}
	e = smem_msgq_open(smem_region_base(r), size,
			   end == SMEM_RM_END_TX ? SMEM_MSGQ_TX : SMEM_MSGQ_RX, o, ret);
	if (e < 0) {
		smem_region_close(r);
		return e;
	}
	rm->queues[slot] = (struct rm_queue){ *ret, r };
	return 0;
}

void smem_rm_msgq_close(struct smem_rm *rm, struct smem_msgq *q)
{
	if (!rm || !q)
		return;
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		if (rm->queues[i].q == q) {
			smem_msgq_close(q);
			smem_region_close(rm->queues[i].r);
			rm->queues[i] = (struct rm_queue){ 0 };
			return;
		}
	}
}

int smem_rm_exit(struct smem_rm *rm, unsigned code)
{
	struct smem_rpc_vm_exit ex = { .exit_code = (uint8_t)code };
	uint8_t req[4];
	uint32_t err;
	int r;

	if (!rm || code > 0xff)
		return -EINVAL;
	smem__rpc_vm_exit_encode(&ex, req, sizeof(req));
	r = call(rm, SMEM_RPC_VM_EXIT, req, sizeof(req), &err);
	return r < 0 ? r : rm_errno(err, -EBADMSG);
}

int smem_rm_stop(struct smem_rm *rm, unsigned vmid, unsigned flags, uint32_t reason)
{
	struct smem_rpc_vm_stop s = { .vmid = (uint16_t)vmid, .flags = (uint8_t)flags,
				      .stop_reason = reason };
	uint8_t req[8];
	uint32_t err;
	int r;

	if (!rm || vmid > 0xffff || flags & ~SMEM_RM_STOP_FORCE)
		return -EINVAL;
	smem__rpc_vm_stop_encode(&s, req, sizeof(req));
	r = call(rm, SMEM_RPC_VM_STOP, req, sizeof(req), &err);
	return r < 0 ? r : rm_errno(err, -EBADMSG);
}

int smem_rm_reset(struct smem_rm *rm, unsigned vmid)
{
	uint8_t req[4];
	uint32_t err;
	int r;

	if (!rm || vmid > 0xffff)
		return -EINVAL;
	smem__rpc_vmid_req_encode((uint16_t)vmid, req, sizeof(req));
	r = call(rm, SMEM_RPC_VM_RESET, req, sizeof(req), &err);
	return r < 0 ? r : rm_errno(err, -EBADMSG);
}
