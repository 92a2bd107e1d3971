/* SPDX-License-Identifier: MIT */
/* smemd's state: hosts, their connections and their queues. Private to daemon/. */
#ifndef SMEMKIT_SMEMD_H
#define SMEMKIT_SMEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc/rpc.h"
#include "rm/proto.h"
#include "smemkit/hwlock.h"
#include "smemkit/msgq.h"
#include "smemkit/smem.h"

#define SMEMD_MAX_QUEUES  1024u
#define SMEMD_MAX_CLIENTS 256u
/* Packets a client may leave unread before smemd drops it: it costs only itself. */
#define SMEMD_OUTQ        256u
/* Ring space a notification never takes: replies keep it. */
#define SMEMD_OUTQ_REPLIES 64u
/* Fds a client's unread replies may hold; a reply past it is an error without them. */
#define SMEMD_FDS_PER_CLIENT 16u
/* Connections one uid may hold before registering. */
#define SMEMD_IDLE_PER_UID 8u
/* Queue pairs one host may create. */
#define SMEMD_PAIRS_PER_HOST 128u
/* Requests taken from one client per turn of the loop, so that none starves the others. */
#define SMEMD_BURST       16u

struct smemd_config {
	size_t size;            /* the image */
	unsigned version;       /* 11 or 12 */
	char socket[108];       /* the listening socket's path */
	struct smemd_host_cfg {
		bool defined;
		char name[16];
		bool uid_bound;
		uid_t uid;      /* the only uid that may register as this host */
	} hosts[SMEM_RM_MAX_HOSTS];
	unsigned owner;         /* the host that may stop and reset the others */
};

struct smemd_packet {
	uint16_t len;
	uint8_t nfds;
	bool on_link;           /* goes on the client's RM link, not its socket */
	uint8_t data[SMEM_RPC_FRAG_MAX];
	int fds[SMEM_RM_PACKET_FDS];
};

/* A host's RM link (link.c): two message queues carrying RM RPC, as a VM's do. */
struct smemd_link {
	struct smem_region *r;  /* the memfd of both queues */
	struct smem_msgq *req;  /* host -> smemd: smemd's receive end */
	struct smem_msgq *rsp;  /* smemd -> host: smemd's send end */
	int efd[4];             /* req rx, req tx, rsp rx, rsp tx: the doorbells */
	struct smem_rpc_rx rx;
	bool out_armed;         /* waiting for room in rsp */
};

struct state;

struct smemd_client {
	int fd;
	int pidfd;              /* the connecting process, from the socket itself */
	uint64_t serial;        /* order of acceptance: the oldest idle one is evicted first */
	pid_t pid;
	uid_t uid;
	int host;               /* the host it registered as, or -1 */
	struct smem_rpc_rx rx;
	unsigned out_head, out_len;
	unsigned fds_out;       /* fds in the ring, at most SMEMD_FDS_PER_CLIENT */
	bool want_out;
	bool doomed;            /* dropped at the end of this turn of the loop */
	struct smemd_link *link; /* its RM link, or NULL */
	bool link_notify;       /* notifications go on the link */
	/*
	 * What smemd has to send it: a ring of whole packets, never a blocking
	 * write. Last, and never zeroed: only its out_len packets from out_head
	 * are read, so a client costs the pages its replies touched.
	 */
	struct smemd_packet out[SMEMD_OUTQ];
};

struct smemd_host {
	unsigned id;
	uint16_t vmid;
	uint8_t state;          /* enum smem_rpc_vm_state */
	uint8_t os_state;
	uint16_t app_status;
	uint16_t exit_type;
	uint32_t exit_reason;
	bool exited_by_call;    /* it called VM_EXIT */
	bool stopped;           /* its owner forced VM_STOP */
	bool notified;          /* its peers were told it exited */
	pid_t pid;
	uid_t uid;
	int pidfd;
	struct smemd_client *client;
	int64_t died_ns;        /* when its pidfd fired, for the log */
	uint64_t owed;          /* hosts whose exit it has not been told of (it was away) */
};

/* One mapping of a piece: @len bytes at @off in the image, from @fd_off in its memfd. */
struct smemd_extent {
	uint64_t off, len, fd_off;
};

#define SMEMD_PIECE_ALL     0xffffu /* a piece every host maps */
#define SMEMD_PIECE_MAX_EXT 4u
#define SMEMD_MAX_PIECES    85u /* one per partition table entry, and the common piece */

/* A piece of the image (memory.c): its memfd, who may map it, and where. */
struct smemd_piece {
	int fd;
	uint16_t host0, host1;  /* its hosts, or SMEMD_PIECE_ALL */
	unsigned n_ext;
	struct smemd_extent ext[SMEMD_PIECE_MAX_EXT];
};

struct smemd_queue {
	bool used;
	unsigned from, to;      /* hosts: from sends, to receives */
	uint32_t label;
	uint64_t tx_cap, rx_cap; /* from's send end, to's receive end */
	struct smem_region *r;  /* the sealed memfd, and smemd's own mapping of it */
	int fd;
	size_t size;
	struct smem_msgq *q;    /* smemd's own handle, to shut it down */
};

struct smemd {
	struct smemd_config cfg;
	int epfd, listen_fd, sig_fd;
	int spare_fd;           /* kept to accept and close a client when out of fds */
	int bank_fd;
	void *image;            /* every piece, mapped at its offsets: the whole image */
	struct smemd_piece pieces[SMEMD_MAX_PIECES];
	unsigned n_pieces;
	struct smem_region *image_region;
	struct smem_region *bank_region;
	struct smem_hwlock *bank;
	uint32_t epoch;         /* restarts of smemd that kept the memory */
	uint64_t instance;      /* names the memory, across those restarts */
	uint64_t next_cap;
	uint64_t next_serial;
	uint16_t notif_seq;
	struct smemd_host hosts[SMEM_RM_MAX_HOSTS];
	struct smemd_queue queues[SMEMD_MAX_QUEUES];
	struct smemd_client *clients[SMEMD_MAX_CLIENTS];
	bool quit;
	bool verbose;
	/* state.c: what outlives smemd, in the service manager's fd store. */
	bool store;             /* a service manager keeps fds (NOTIFY_SOCKET) */
	bool restored;          /* this smemd took up a previous one's memory */
	bool dirty;             /* records changed since the last save */
	struct state *state;
	int state_fd;
	uint64_t lost_hosts;    /* registered hosts whose pidfd was not kept */
	bool via_link;          /* the request being served came on a link: so goes its reply */
};

/* What an epoll event is about: the kind in the high half, an index in the low. */
enum {
	SMEMD_EV_LISTEN = 1,
	SMEMD_EV_SIGNAL,
	SMEMD_EV_CLIENT,
	SMEMD_EV_PIDFD,
	SMEMD_EV_LINK,          /* a client's link has requests */
	SMEMD_EV_LINK_OUT,      /* a client's link has room again */
};

static inline uint64_t smemd_ev_key(unsigned kind, unsigned index)
{
	return (uint64_t)kind << 32 | index;
}

/* core.c: the loop's parts, also driven by the fuzzer. */
void smemd_init(struct smemd *d);
int smemd_make_memory(struct smemd *d, char *err, size_t errlen);
int smemd_default_socket(char *buf, size_t len);
int smemd_listen(struct smemd *d, const char *path);
void smemd_raise_fd_limit(void);
int smemd_run(struct smemd *d);
int smemd_client_add(struct smemd *d, int fd, int pidfd, pid_t pid, uid_t uid);
/* Whether two pidfds name one process (pid and, where pidfs gives one, inode). */
bool smemd_same_process(int pidfd_a, pid_t pid_a, int pidfd_b, pid_t pid_b);
/* Whether the process of @pidfd has exited. */
bool smemd_pidfd_dead(int pidfd);
int smemd_client_read(struct smemd *d, struct smemd_client *c);
/* Send what the client's socket and link take now. Return: -EPIPE if the client is gone. */
int smemd_client_flush(struct smemd *d, struct smemd_client *c);
int smemd_client_index(struct smemd *d, const struct smemd_client *c);
void smemd_client_close(struct smemd *d, unsigned i);

/* memory.c */
int smemd_memfd(const char *name, size_t size);
bool smemd_piece_visible(const struct smemd_piece *p, unsigned host);
int smemd_map_pieces(const struct smemd_piece *pieces, const int *fds, unsigned n, size_t size,
		     void **ret_base);

/* state.c */
void smemd_store_put(struct smemd *d, const char *name, int fd);
void smemd_store_drop(struct smemd *d, const char *name);
int smemd_state_create(struct smemd *d);
/* Return: 0, also when nothing was kept; -errno (and @err) when what was kept is unusable. */
int smemd_state_restore(struct smemd *d, char *err, size_t errlen);
void smemd_state_save(struct smemd *d);

/* link.c */
void smemd_link_request(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m);
int smemd_link_read(struct smemd *d, struct smemd_client *c);
/* Send one packet on @c's link. Return: 1 sent, 0 no room (armed), -EPIPE. */
int smemd_link_send(struct smemd *d, struct smemd_client *c, const struct smemd_packet *p);
void smemd_link_close(struct smemd *d, struct smemd_client *c);

/* supervise.c: smemd --supervise. Return: the exit status. */
int smemd_supervise(int argc, char **argv, bool verbose);

/* config.c */
void smemd_config_default(struct smemd_config *c);
int smemd_config_load(struct smemd_config *c, const char *path, char *err, size_t errlen);

/* smemd.c: send a whole message to a client (queued); fds ride on the first fragment. */
int smemd_send(struct smemd *d, struct smemd_client *c, uint8_t type, uint16_t seq,
	       uint32_t msg_id, const void *data, size_t len, const int *fds, unsigned nfds);
void smemd_notify_all(struct smemd *d, unsigned except_host, uint32_t msg_id, const void *data,
		      size_t len);
void smemd_log(struct smemd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dispatch.c: one complete request from @c. */
void smemd_dispatch(struct smemd *d, struct smemd_client *c, const struct smem_rpc_msg *m);

/* dispatch.c: shut down (or, with @destroy, also forget) every queue of @host. */
void smemd__queues_of_host(struct smemd *d, unsigned host, bool destroy, unsigned *ret_n);

/* dispatch.c: the rest of a VM_RESET, also for one a restart interrupted. */
void smemd__finish_reset(struct smemd *d, struct smemd_host *h);

/* crash.c */
void smemd_host_died(struct smemd *d, struct smemd_host *h);
void smemd__host_exited(struct smemd *d, struct smemd_host *h, uint16_t exit_type);
/* Send @c the VM_EXITED and VM_STATUS of @h, which it missed while away. */
void smemd__tell_exit(struct smemd *d, struct smemd_client *c, const struct smemd_host *h);
void smemd_client_gone(struct smemd *d, struct smemd_client *c);

#endif
