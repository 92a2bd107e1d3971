// SPDX-License-Identifier: MIT
/*
 * smemd's loop: the memory it owns, the listening socket, the clients and
 * their bounded rings, and the epoll loop that serves them (see smemd.c for
 * the whole picture). The fuzzer of fuzz/rpc/fuzz-smemd.c drives the same
 * code without a socket or a loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "core/unixsock.h"
#include "smemd.h"
#include "smemkit/region.h"

void smemd_log(struct smemd *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->verbose)
		return;
	va_start(ap, fmt);
	fputs("smemd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void smemd_client_close(struct smemd *d, unsigned i)
{
	struct smemd_client *c = d->clients[i];

	if (!c)
		return;
	smemd_client_gone(d, c);
	smemd_link_close(d, c);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	for (unsigned k = 0; k < c->out_len; k++) {
		struct smemd_packet *p = &c->out[(c->out_head + k) % SMEMD_OUTQ];

		for (unsigned f = 0; f < p->nfds; f++)
			close(p->fds[f]);
	}
	free(c);
	d->clients[i] = NULL;
}

int smemd_client_index(struct smemd *d, const struct smemd_client *c)
{
	for (unsigned i = 0; i < SMEMD_MAX_CLIENTS; i++)
		if (d->clients[i] == c)
			return (int)i;
	return -1;
}

/* Send what the socket takes now; the rest waits for EPOLLOUT. Return: -EPIPE if the client is gone. */
int smemd_client_flush(struct smemd *d, struct smemd_client *c)
{
	while (c->out_len) {
		struct smemd_packet *p = &c->out[c->out_head];
		union {
			char buf[CMSG_SPACE(sizeof(int) * SMEM_RM_PACKET_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { p->data, p->len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (p->on_link) {
			int r = smemd_link_send(d, c, p);

			if (r <= 0)
				return r; /* no room: the link's doorbell says when */
			c->out_head = (c->out_head + 1) % SMEMD_OUTQ;
			c->out_len--;
			continue;
		}
		if (p->nfds) {
			struct cmsghdr *cm;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * p->nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * p->nfds);
			memcpy(CMSG_DATA(cm), p->fds, sizeof(int) * p->nfds);
		}
		n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out) {
				struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
							  .data.u64 = smemd_ev_key(SMEMD_EV_CLIENT,
									     (unsigned)smemd_client_index(d, c)) };

				epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
				c->want_out = true;
			}
			return 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		for (unsigned f = 0; f < p->nfds; f++)
			close(p->fds[f]);
		c->fds_out -= p->nfds;
		p->nfds = 0;
		if (n < 0)
			return -EPIPE;
		c->out_head = (c->out_head + 1) % SMEMD_OUTQ;
		c->out_len--;
	}
	if (c->want_out) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = smemd_ev_key(SMEMD_EV_CLIENT, (unsigned)smemd_client_index(d, c)) };

		epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = false;
	}
	return 0;
}

int smemd_send(struct smemd *d, struct smemd_client *c, uint8_t type, uint16_t seq,
	       uint32_t msg_id, const void *data, size_t len, const int *fds, unsigned nfds)
{
	struct smem_rpc_msg m = { .type = type, .seq = seq, .msg_id = msg_id, .data = data,
				  .len = len };
	int n = smem__rpc_nfrags(len);

	if (n < 0)
		return n;
	if (c->doomed)
		return -EPIPE;
	/* Nobody hears of a change before it is saved: a restarted smemd knows it too. */
	if (d->dirty)
		smemd_state_save(d);
	/* Fds waiting in a client's ring are fds of smemd's: a few each, and no more. */
	if (nfds && c->fds_out + nfds > SMEMD_FDS_PER_CLIENT)
		return -EMFILE;
	if (c->out_len + (unsigned)n + 1 > SMEMD_OUTQ) {
		/* A client that does not read what it asked for is dropped, not waited for. */
		smemd_log(d, "client pid %d: %u packets unread, dropping it", (int)c->pid, c->out_len);
		c->doomed = true;
		return -ENOBUFS;
	}
	for (int i = 0; i <= n; i++) {
		struct smemd_packet *p = &c->out[(c->out_head + c->out_len) % SMEMD_OUTQ];
		int own[SMEM_RM_PACKET_FDS], r = 0;
		unsigned nown = 0;

		/* A packet owns its fds until they are sent: the queue may go meanwhile. */
		for (unsigned f = 0; i == 0 && f < nfds && f < SMEM_RM_PACKET_FDS && r == 0; f++) {
			own[nown] = fcntl(fds[f], F_DUPFD_CLOEXEC, 3);
			if (own[nown] < 0)
				r = -errno;
			else
				nown++;
		}
		if (r == 0)
			r = smem__rpc_fragment(&m, (unsigned)i, p->data);
		if (r < 0) {
			for (unsigned f = 0; f < nown; f++)
				close(own[f]);
			return r;
		}
		p->len = (uint16_t)r;
		p->nfds = (uint8_t)nown;
		p->on_link = c->link && (d->via_link || (type == SMEM_RPC_NOTIFICATION && c->link_notify));
		memcpy(p->fds, own, sizeof(int) * nown);
		c->fds_out += p->nfds;
		c->out_len++;
	}
	if (smemd_client_flush(d, c) < 0) {
		c->doomed = true;
		return -EPIPE;
	}
	return 0;
}

void smemd_notify_all(struct smemd *d, unsigned except_host, uint32_t msg_id, const void *data,
		      size_t len)
{
	d->notif_seq++;
	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++) {
		struct smemd_host *h = &d->hosts[i];

		if (i == except_host || !h->client || h->state != SMEM_RPC_VM_STATE_RUNNING)
			continue;
		/* A peer that does not read loses notifications, not its connection. */
		if (h->client->out_len + SMEMD_OUTQ_REPLIES >= SMEMD_OUTQ)
			continue;
		smemd_send(d, h->client, SMEM_RPC_NOTIFICATION, d->notif_seq, msg_id, data, len,
			   NULL, 0);
	}
}

/* Take up to SMEMD_BURST packets from a client. Return: -1 to drop it. */
int smemd_client_read(struct smemd *d, struct smemd_client *c)
{
	for (unsigned k = 0; k < SMEMD_BURST; k++) {
		uint8_t buf[SMEM_RPC_FRAG_MAX + 16];
		struct smem_rpc_rx_event ev;
		unsigned nfds;
		/* A client has no fds to give smemd: any it sends are closed. */
		ssize_t n = smem__rm_recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT, NULL, 0, &nfds);
		int r;

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return 0;
		if (n <= 0)
			return -1;
		r = smem__rpc_rx_push(&c->rx, buf, (size_t)n, &ev);
		if (r < 0)
			return -1;
		if (r & SMEM_RPC_RX_DROPPED)
			smemd_log(d, "client pid %d: packet dropped (%s)", (int)c->pid,
				  smem__rpc_drop_name(ev.drop));
		if (r & SMEM_RPC_RX_COMPLETE) {
			/* Only requests are served; a reply or notification from a client is dropped. */
			if (ev.msg.type == SMEM_RPC_REQUEST && ev.msg.msg_id != SMEM_RPC_MSG_ID_RESERVED)
				smemd_dispatch(d, c, &ev.msg);
			if (c->doomed)
				return -1;
		}
	}
	return 0;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

bool smemd_pidfd_dead(int pidfd)
{
	struct pollfd p = { pidfd, POLLIN, 0 };

	/* Readable is dead; a poll that fails says nothing, and "unknown" is never "dead". */
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

bool smemd_same_process(int pidfd_a, pid_t pid_a, int pidfd_b, pid_t pid_b)
{
	struct stat a, b;

	if (pid_a != pid_b || fstat(pidfd_a, &a) < 0 || fstat(pidfd_b, &b) < 0)
		return false;
	/* On pidfs (Linux 6.9 on), one inode per process; before, all pidfds share one. */
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Make room for a new connection: the oldest that never registered goes. */
static bool evict_idle(struct smemd *d, uid_t uid, bool only_uid)
{
	int oldest = -1;

	for (unsigned i = 0; i < SMEMD_MAX_CLIENTS; i++) {
		const struct smemd_client *c = d->clients[i];

		if (!c || c->host >= 0 || (only_uid && c->uid != uid))
			continue;
		if (oldest < 0 || c->serial < d->clients[oldest]->serial)
			oldest = (int)i;
	}
	if (oldest < 0)
		return false;
	smemd_log(d, "client pid %d uid %u never registered: dropped for a new one",
		  (int)d->clients[oldest]->pid, (unsigned)d->clients[oldest]->uid);
	smemd_client_close(d, (unsigned)oldest);
	return true;
}

static void accept_one(struct smemd *d)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred), plen = sizeof(int);
	struct epoll_event ev;
	unsigned idle = 0;
	int pidfd = -1, i;
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			/* Out of fds: take the spare one to turn the caller away, not spin on it. */
			close(d->spare_fd);
			fd = accept(d->listen_fd, NULL, NULL);
			if (fd >= 0)
				close(fd);
			d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		goto refuse;
	/*
	 * The connecting process, named by the socket itself (Linux 6.5 on), not
	 * by its pid, which may be another process's by the time it registers;
	 * before 6.5, a pidfd of the pid now, checked against the credentials again.
	 */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &plen) < 0) {
		struct ucred again;

		pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
		if (pidfd >= 0 && (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &again, &clen) < 0 ||
				   again.pid != cred.pid))
			goto refuse;
	}
	if (pidfd < 0 || smemd_pidfd_dead(pidfd))
		goto refuse;
	/* A uid's connections that never registered are few; the oldest makes way. */
	for (unsigned k = 0; k < SMEMD_MAX_CLIENTS; k++)
		if (d->clients[k] && d->clients[k]->host < 0 && d->clients[k]->uid == cred.uid)
			idle++;
	if (idle >= SMEMD_IDLE_PER_UID)
		evict_idle(d, cred.uid, true);
	i = smemd_client_add(d, fd, pidfd, cred.pid, cred.uid);
	if (i < 0 && evict_idle(d, cred.uid, false))
		i = smemd_client_add(d, fd, pidfd, cred.pid, cred.uid);
	if (i < 0)
		goto refuse;
	ev = (struct epoll_event){ .events = EPOLLIN,
				   .data.u64 = smemd_ev_key(SMEMD_EV_CLIENT, (unsigned)i) };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		smemd_client_close(d, (unsigned)i);
		return;
	}
	smemd_log(d, "client pid %d uid %u connected", (int)cred.pid, (unsigned)cred.uid);
	return;
refuse:
	if (pidfd >= 0)
		close(pidfd);
	close(fd);
}

int smemd_default_socket(char *buf, size_t len)
{
	return smem__socket_path(NULL, NULL, "rm.sock", buf, len);
}

/* The socket's directory, made if missing; a live socket there is another smemd's. */
int smemd_listen(struct smemd *d, const char *path)
{
	int fd = smem__listen_renamed(path);

	if (fd < 0)
		return fd;
	d->listen_fd = fd;
	return 0;
}

void smemd_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int smemd_run(struct smemd *d)
{
	while (!d->quit) {
		struct epoll_event evs[64];
		int n;

		if (d->dirty)
			smemd_state_save(d);
		n = epoll_wait(d->epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int k = 0; k < n; k++) {
			unsigned kind = (unsigned)(evs[k].data.u64 >> 32);
			unsigned i = (unsigned)evs[k].data.u64;

			if (kind == SMEMD_EV_LISTEN) {
				accept_one(d);
			} else if (kind == SMEMD_EV_SIGNAL) {
				struct signalfd_siginfo si;

				if (read(d->sig_fd, &si, sizeof(si)) == sizeof(si))
					d->quit = true;
			} else if (kind == SMEMD_EV_PIDFD) {
				if (i < SMEM_RM_MAX_HOSTS && d->hosts[i].pidfd >= 0)
					smemd_host_died(d, &d->hosts[i]);
			} else if ((kind == SMEMD_EV_LINK || kind == SMEMD_EV_LINK_OUT) &&
				   i < SMEMD_MAX_CLIENTS && d->clients[i]) {
				struct smemd_client *c = d->clients[i];
				bool drop = kind == SMEMD_EV_LINK ? smemd_link_read(d, c) < 0
								  : smemd_client_flush(d, c) < 0;

				if (drop || c->doomed)
					smemd_client_close(d, i);
			} else if (kind == SMEMD_EV_CLIENT && i < SMEMD_MAX_CLIENTS && d->clients[i]) {
				struct smemd_client *c = d->clients[i];
				bool drop = false;

				if (evs[k].events & EPOLLIN)
					drop = smemd_client_read(d, c) < 0;
				if (!drop && (evs[k].events & EPOLLOUT))
					drop = smemd_client_flush(d, c) < 0;
				if (!drop && (evs[k].events & (EPOLLHUP | EPOLLERR)) &&
				    !(evs[k].events & EPOLLIN))
					drop = true;
				if (drop)
					smemd_client_close(d, i);
			}
		}
		/* Clients whose ring overflowed, or whose socket failed, while smemd wrote to them. */
		for (unsigned i = 0; i < SMEMD_MAX_CLIENTS; i++)
			if (d->clients[i] && d->clients[i]->doomed)
				smemd_client_close(d, i);
	}
	return 0;
}


void smemd_init(struct smemd *d)
{
	struct timespec ts;

	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++)
		d->hosts[i] = (struct smemd_host){ .id = i, .vmid = SMEM_RM_VMID_OF(i), .pidfd = -1 };
	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&d->instance, sizeof(d->instance), 0) != sizeof(d->instance))
		d->instance = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
	/* The first life of this memory; caps of other memory are not guessed from it. */
	d->epoch = 1;
	d->next_cap = (d->instance & ~(uint64_t)0xffffffffu) | 1;
	d->epfd = d->listen_fd = d->sig_fd = d->state_fd = -1;
}

/* A client on a connected @fd, whose process @pidfd names. Return: its index, or -1. */
int smemd_client_add(struct smemd *d, int fd, int pidfd, pid_t pid, uid_t uid)
{
	struct smemd_client *c;
	unsigned i;

	for (i = 0; i < SMEMD_MAX_CLIENTS && d->clients[i]; i++)
		;
	if (i == SMEMD_MAX_CLIENTS || !(c = malloc(sizeof(*c))))
		return -1;
	memset(c, 0, offsetof(struct smemd_client, out));
	c->fd = fd;
	c->pidfd = pidfd;
	c->serial = ++d->next_serial;
	c->pid = pid;
	c->uid = uid;
	c->host = -1;
	smem__rpc_rx_init(&c->rx);
	d->clients[i] = c;
	return (int)i;
}
