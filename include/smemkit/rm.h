/* SPDX-License-Identifier: MIT */
/*
 * smemkit/rm.h - the client of smemd, the resource manager
 *
 * A process becomes a host by connecting to smemd and registering: smemd
 * checks who it is (the socket's credentials, never what it claims), hands it
 * the SMEM image and the lock bank as sealed memfds, and from then on watches
 * it through a pidfd. Calls follow Gunyah's RM RPC (VM_GET_VMID, VM_GET_STATE,
 * VM_GET_HYP_RESOURCES, VM_EXIT, VM_STOP, VM_RESET) plus smemkit's queue
 * calls; notifications (VM_EXITED, VM_STATUS, ...) wait in the connection until
 * read, and smem_rm_fd() becomes readable when one may have arrived.
 *
 * smemd cuts the image into pieces, each a memfd: the header and partition
 * table, the global partition, and each private partition. A host is given
 * only the pieces it may map (the first two, and the partitions it is one of
 * the two hosts of), mapped at their offsets inside one reserved range of the
 * image's size, so that the layout is the SMEM layout; touching a partition
 * it was not given faults (SIGSEGV), as an XPU violation does on hardware.
 *
 * Attaching to the image through smemd is an option of smem_open(): set
 * smem_open_opts.rm to the connection.
 *
 * A host that loses smemd keeps everything it mapped: items, locks and
 * queues keep working. Calls fail meanwhile (-ECONNREFUSED or -ENOENT while
 * nobody listens, -ECONNRESET for the call smemd died in), and each call, and
 * smem_rm_notification(), reconnects first and registers again as the same
 * host. smemd renames its socket into place once it listens, and
 * smem_rm_fd() is readable then too. A smemd that came back with other
 * memory (it was not restarted, but started anew) is -ESTALE for good: the
 * host must attach again.
 */
#ifndef SMEMKIT_RM_H
#define SMEMKIT_RM_H

#include <stddef.h>
#include <stdint.h>

#include "smemkit/msgq.h"

#ifdef __cplusplus
extern "C" {
#endif

struct smem_rm;
struct smem_region;
struct smem_hwlock;

/* VM states of VM_GET_STATE and VM_STATUS (Gunyah's numbers). */
enum smem_rm_vm_state {
	SMEM_RM_VM_NO_STATE = 0,
	SMEM_RM_VM_RUNNING = 3,
	SMEM_RM_VM_EXITED = 9,
	SMEM_RM_VM_RESETTING = 10,
	SMEM_RM_VM_RESET = 11,
};

struct smem_rm_state {
	unsigned vm_state; /* enum smem_rm_vm_state */
	unsigned os_state; /* 4 running, 6 halted, 7 crashed */
	unsigned app_status;
};

/* One entry of the capability table (VM_GET_HYP_RESOURCES). */
struct smem_rm_resource {
	unsigned type;       /* 2 a queue's send end, 3 its receive end */
	unsigned partner;    /* the vmid of the host at the other end */
	uint32_t label;
	uint64_t cap;
	uint64_t size;
};

/* A notification from smemd. */
struct smem_rm_notification {
	uint32_t msg_id;    /* SMEM_RM_NOTIF_* */
	unsigned vmid;      /* the host it is about */
	unsigned exit_type; /* VM_EXITED: 0 it exited, 5 it died, 7 it was stopped */
	unsigned vm_state;  /* VM_STATUS */
	unsigned os_state;  /* VM_STATUS */
	uint32_t value;     /* VM_SHUTDOWN: the stop reason; RESOURCES: the label */
};

#define SMEM_RM_NOTIF_VM_EXITED   0x56100001u
#define SMEM_RM_NOTIF_VM_SHUTDOWN 0x56100002u
#define SMEM_RM_NOTIF_VM_STATUS   0x56100008u
#define SMEM_RM_NOTIF_RESOURCES   0x5a100001u /* a peer created queues with this host */

/* One host in smem_rm_hosts(). */
struct smem_rm_host {
	unsigned host;
	unsigned vmid;
	unsigned vm_state;
	unsigned os_state;
	unsigned queues;    /* queue ends it has */
	unsigned pid;       /* in smemd's pid namespace; 0 if none */
	unsigned uid;
	unsigned exit_type;
	char name[16];
};

/* One queue in smem_rm_stats(): its counters, as smem_msgq_stat() has them. */
struct smem_rm_queue_stats {
	unsigned slot;         /* smemd's number for the queue */
	unsigned from, to;     /* hosts: from sends, to receives */
	uint32_t label;
	unsigned depth;
	unsigned max_msg_size;
	unsigned count;        /* messages in the queue */
	uint32_t sent;         /* messages sent since it was made (wraps at 2^32) */
	uint32_t received;     /* messages received (wraps at 2^32) */
	uint32_t full_events;  /* sends refused because it was full */
	unsigned closed;       /* 1 once shut down (a host at an end of it is gone), else 0 */
};

/* One lock of the bank in smem_rm_stats(). */
struct smem_rm_lock_stats {
	unsigned id;
	unsigned value;        /* the raw lock word: 0 free, else the holder + 1 */
	int holder;            /* the host holding it; -1 when free or the word names no host */
};

#define SMEM_RM_STOP_FORCE 0x1u

/**
 * smem_rm_vmid() - the vmid smemd gives a host: 0x80 + its SMEM host id
 * @host: the host
 */
#define smem_rm_vmid(host) (0x80u + (unsigned)(host))

/**
 * smem_rm_connect() - connect to smemd, as @host or only to look
 * @socket: the socket's path; NULL for $SMEMKIT_RM_SOCKET, else
 *          $XDG_RUNTIME_DIR/smemkit/rm.sock, or /run/smemkit/rm.sock as root
 * @host: the SMEM host to register as, or -1 to register as none (only
 *        smem_rm_hosts(), smem_rm_stats() and smem_rm_get_state() of a named
 *        vmid then work)
 * @ret: the connection
 *
 * Registering maps the image and the lock bank smemd hands over (sealed
 * memfds). A second process claiming a live host is refused.
 *
 * Context: process context; waits for smemd's answer.
 * Return: 0; -EINVAL; -ENOENT or -ECONNREFUSED if no smemd listens there;
 * -EACCES if this uid may not be @host; -EADDRINUSE if a live process is @host;
 * -ENODEV if smemd has no such host; -EPROTO for an answer that is not RM RPC;
 * -ENOMEM.
 */
int smem_rm_connect(const char *socket, int host, struct smem_rm **ret);

/**
 * smem_rm_close() - disconnect; the image, bank and queues it mapped stay valid
 *                   only until then
 * @rm: the connection, or NULL
 *
 * Context: nothing else may use @rm meanwhile or afterwards.
 */
void smem_rm_close(struct smem_rm *rm);

/* The image and the lock bank smemd handed over; borrowed from @rm. NULL before registering. */
struct smem_region *smem_rm_region(struct smem_rm *rm);
struct smem_hwlock *smem_rm_hwlock(struct smem_rm *rm);

/**
 * smem_rm_link() - carry this connection's calls on its RM link
 * @rm: a registered connection
 *
 * smemd makes the host a pair of message queues, as a Gunyah VM has to its
 * resource manager, and from then on every call and notification travels on
 * them, one RM RPC fragment per message (at most 240 bytes), in the same
 * framing as on the socket. The socket stays: it tells the host when smemd
 * goes, smemd knows the host's process by it, and a call whose reply carries
 * fds (smem_rm_msgq_open(), smem_rm_dump()), which no queue can carry, goes
 * on it. smem_rm_fd() is readable for the link too, and a reconnect makes a
 * new link.
 *
 * Context: process context; waits for smemd's answer.
 * Return: 0, also if already linked; -EINVAL for a connection that registered
 * as none; -EEXIST if smemd gave this connection a link already; a connection
 * error as for every call; -ENOMEM.
 */
int smem_rm_link(struct smem_rm *rm);

/**
 * smem_rm_dump() - a copy of the whole image, as one file
 * @rm: a connection of smemd's uid, or of root; registered or not
 * @ret: a private snapshot of the image in the Linux format (smem_check(),
 *       smemctl fsck and the Linux driver read it); the caller closes it
 *
 * Context: process context; waits for smemd's answer.
 * Return: 0; -EINVAL; -EPERM for another uid; -EBUSY while an earlier reply's
 * fds are not yet taken; a connection error as for every call; -ENOMEM.
 */
int smem_rm_dump(struct smem_rm *rm, struct smem_region **ret);

/**
 * smem_rm_fd() - a descriptor for the caller's event loop
 * @rm: the connection
 *
 * Readable when smemd has sent something, when the connection is lost, and
 * when smemd is back after that; then call smem_rm_notification() until it
 * returns -EAGAIN. The descriptor stays the same across reconnects.
 *
 * Return: the fd (owned by @rm); -EINVAL.
 */
int smem_rm_fd(struct smem_rm *rm);

/**
 * smem_rm_notification() - take the next notification
 * @rm: the connection
 * @ret: the notification
 *
 * Context: never blocks.
 * Return: 0; -EAGAIN if none waits; -EPIPE if smemd is gone; -EINVAL.
 */
int smem_rm_notification(struct smem_rm *rm, struct smem_rm_notification *ret);

/**
 * smem_rm_dispatch() - hand every notification that has arrived to a callback
 * @rm: the connection
 * @fn: called once per notification, in order of arrival
 * @userdata: passed to @fn
 *
 * For an event loop: when smem_rm_fd() is readable, call this instead of
 * looping over smem_rm_notification().
 *
 * Context: never blocks; @fn may make calls on @rm.
 * Return: the number of notifications handed over; -EPIPE if smemd is gone
 * (after handing over what had arrived); -EINVAL.
 */
int smem_rm_dispatch(struct smem_rm *rm,
		     void (*fn)(const struct smem_rm_notification *n, void *userdata),
		     void *userdata);

/*
 * The calls. Each sends one request and waits for its reply; notifications
 * that arrive meanwhile are kept for smem_rm_notification(). Errors are the
 * RM's, mapped as Linux maps them (DENIED -EPERM, NORESOURCE -ENODEV, BUSY
 * -EBUSY, UNIMPLEMENTED -EOPNOTSUPP, invalid arguments -EINVAL, others
 * -EBADMSG), and -EPIPE when smemd went away. Context: process context; one
 * thread at a time per connection.
 */
int smem_rm_get_vmid(struct smem_rm *rm, unsigned *ret_vmid);
int smem_rm_get_state(struct smem_rm *rm, unsigned vmid, struct smem_rm_state *ret);
int smem_rm_get_resources(struct smem_rm *rm, struct smem_rm_resource *buf, size_t n,
			  size_t *ret_n);
int smem_rm_hosts(struct smem_rm *rm, struct smem_rm_host *buf, size_t n, size_t *ret_n);

/**
 * smem_rm_stats() - every lock of the bank and every queue, with their counters
 * @rm: a connection, registered or not
 * @locks: room for @nlocks locks, in id order
 * @nlocks: its size; may be 0 with a NULL @locks
 * @ret_nlocks: the number of locks the bank has, which may be over @nlocks
 * @queues: room for @nqueues queues, in slot order
 * @nqueues: its size; may be 0 with a NULL @queues
 * @ret_nqueues: the number of queues smemd has, which may be over @nqueues
 *
 * What smemctl top shows. smemd answers in pages, which this function asks
 * for one after the other: each is an observation of its own, so a queue made
 * or dropped meanwhile may be missing or shown, but none is shown twice. The
 * lock words are those of the first page. The arrays may have been written in
 * part when it fails.
 *
 * Context: process context; waits for smemd's answer to each page.
 * Return: 0; -EINVAL for NULL pointers; -EPROTO for an answer that does not
 * add up; as above.
 */
int smem_rm_stats(struct smem_rm *rm, struct smem_rm_lock_stats *locks, size_t nlocks,
		  size_t *ret_nlocks, struct smem_rm_queue_stats *queues, size_t nqueues,
		  size_t *ret_nqueues);

/**
 * smem_rm_msgq_create() - create a pair of queues between this host and @partner
 * @rm: a registered connection
 * @partner: the other host's vmid
 * @label: names the pair; a pair of two hosts has one label once
 * @depth: messages per queue, 1 to 255
 * @max_msg_size: 1 to 1023 bytes
 * @flags: SMEM_MSGQ_MULTI_SEND, SMEM_MSGQ_MULTI_RECV
 * @ret_tx_cap: this host's send end
 * @ret_rx_cap: this host's receive end
 *
 * The partner finds its two ends in its capability table and is notified.
 * Return: 0; -EINVAL; -EBADMSG for a label already in use; -ENOMEM; as above.
 */
int smem_rm_msgq_create(struct smem_rm *rm, unsigned partner, uint32_t label, unsigned depth,
			unsigned max_msg_size, unsigned flags, uint64_t *ret_tx_cap,
			uint64_t *ret_rx_cap);

/**
 * smem_rm_msgq_open() - map a queue end this host was given and open it
 * @rm: a registered connection
 * @cap: the end's capability
 * @o: options for smem_msgq_open(), or NULL
 * @ret: the queue handle; smem_rm_msgq_close() frees it
 *
 * Return: 0; -EINVAL for a cap that is not this host's; -ENOMEM; an error of
 * smem_msgq_open(); as above.
 */
int smem_rm_msgq_open(struct smem_rm *rm, uint64_t cap, const struct smem_msgq_opts *o,
		      struct smem_msgq **ret);
void smem_rm_msgq_close(struct smem_rm *rm, struct smem_msgq *q);

/* VM_EXIT: this host is done (code 0 normal, 1 software error, 3 bus, 4 device error). */
int smem_rm_exit(struct smem_rm *rm, unsigned code);
/* VM_STOP of another host, by the owner; SMEM_RM_STOP_FORCE kills it. */
int smem_rm_stop(struct smem_rm *rm, unsigned vmid, unsigned flags, uint32_t reason);
/* VM_RESET of an exited host, by the owner; VM_STATUS(RESET) says when it is done. */
int smem_rm_reset(struct smem_rm *rm, unsigned vmid);

#ifdef __cplusplus
}
#endif

#endif
