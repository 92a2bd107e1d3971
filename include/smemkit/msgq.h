/* SPDX-License-Identifier: MIT */
/*
 * smemkit message queues: bounded, unidirectional queues of copied messages in
 * shared memory, with the semantics of Gunyah hypervisor message queues.
 *
 * The caller places a queue: smem_msgq_size() says how many bytes it needs,
 * smem_msgq_init() writes an empty queue into memory the caller owns (an SMEM
 * item, a memfd, any shared mapping), and each host attaches its end with
 * smem_msgq_open(). A queue has one sending host and one receiving host; any
 * number of threads of each may use it at once if the queue was created with
 * SMEM_MSGQ_MULTI_SEND / SMEM_MSGQ_MULTI_RECV.
 *
 * smem_msgq_send() copies one message in and reports whether the queue is still
 * not full; smem_msgq_recv() copies the oldest message out and reports whether
 * the queue is still not empty. Neither blocks, allocates, locks or makes a
 * system call, except to ring a doorbell for a peer that sleeps. The receive
 * notification is raised when the count reaches the not-empty threshold or on
 * SMEM_MSGQ_PUSH; the send notification when the count falls to the not-full
 * threshold. smem_msgq_send_wait() and smem_msgq_recv_wait() block on them.
 *
 * Everything read from the queue's memory is checked: a peer that scribbles on
 * it can make this side see -EBADMSG or wrong payload bytes, never an access
 * outside the queue or a hang. man smem_msgq(3) has the whole story.
 *
 * Functions return a value >= 0 on success and a negative errno on failure, and
 * write out-parameters only on success, as smem(3) says under RETURN VALUE.
 */
#ifndef SMEMKIT_MSGQ_H
#define SMEMKIT_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMEM_MSGQ_MAX_DEPTH       255u  /* Gunyah: depth strictly below 256 */
#define SMEM_MSGQ_MAX_MSG_SIZE    1023u /* Gunyah: size strictly below 1024 */
#define SMEM_MSGQ_DEFAULT_DEPTH   8u    /* the RM link's queue-depth */
#define SMEM_MSGQ_DEFAULT_MSG_SIZE 240u /* the RM link's message-size */

/* Threshold values with a special meaning, as in msgqueue_configure_send/receive. */
#define SMEM_MSGQ_THD_UNCHANGED (-1) /* keep the current threshold */
#define SMEM_MSGQ_THD_MAXIMUM   (-2) /* not-empty threshold only: the depth */
#define SMEM_MSGQ_THD_DEFAULT   (-3) /* smem_msgq_config only: 1, or depth - 1 */

/* How a host is woken by a notification. */
enum smem_msgq_doorbell {
	SMEM_MSGQ_DOORBELL_FUTEX = 0,   /* FUTEX_WAIT/WAKE on a shared word (default) */
	SMEM_MSGQ_DOORBELL_EVENTFD = 1, /* an eventfd per end, for a host's own epoll loop */
	SMEM_MSGQ_DOORBELL_POLL = 2,    /* nobody sleeps: waiters poll, senders never ring */
};

enum smem_msgq_init_flags {
	SMEM_MSGQ_MULTI_SEND = 1u << 0, /* several threads of the sending host send at once */
	SMEM_MSGQ_MULTI_RECV = 1u << 1, /* several threads of the receiving host receive at once */
};

/* Ends of a queue that a handle may use (the send and receive rights). */
enum smem_msgq_open_flags {
	SMEM_MSGQ_TX = 1u << 0, /* send, configure the not-full threshold */
	SMEM_MSGQ_RX = 1u << 1, /* receive, flush, configure the not-empty threshold */
};

/* smem_msgq_send() flags. */
enum smem_msgq_send_flags {
	SMEM_MSGQ_PUSH = 1u << 0, /* raise the receive notification whatever the threshold */
};

struct smem_msgq_config {
	unsigned depth;        /* 1..SMEM_MSGQ_MAX_DEPTH */
	unsigned max_msg_size; /* 1..SMEM_MSGQ_MAX_MSG_SIZE */
	int notempty_thd;      /* 1..depth, SMEM_MSGQ_THD_MAXIMUM or _DEFAULT (1) */
	int notfull_thd;       /* 0..depth - 1 or SMEM_MSGQ_THD_DEFAULT (depth - 1) */
	unsigned flags;        /* enum smem_msgq_init_flags */
	unsigned doorbell;     /* enum smem_msgq_doorbell */
};

struct smem_msgq_opts {
	int rx_eventfd;   /* EVENTFD doorbell: rung by the sender, waited on by the receiver */
	int tx_eventfd;   /* EVENTFD doorbell: rung by the receiver, waited on by the sender */
	unsigned spin_ns; /* blocking calls poll this long before they sleep; default 50 us */
};

struct smem_msgq_stats {
	unsigned depth;
	unsigned max_msg_size;
	unsigned count;        /* messages claimed by the sender and not yet consumed */
	unsigned notempty_thd;
	unsigned notfull_thd;
	unsigned flags;        /* enum smem_msgq_init_flags */
	unsigned doorbell;     /* enum smem_msgq_doorbell */
	uint32_t sent;         /* positions claimed by senders (wraps at 2^32) */
	uint32_t received;     /* positions consumed by receivers (wraps at 2^32) */
	uint32_t full_events;  /* sends refused because the queue was full */
	uint32_t rx_notify;    /* receive notifications rung */
	uint32_t tx_notify;    /* send notifications rung */
	uint32_t pushes;       /* messages sent with SMEM_MSGQ_PUSH */
	uint32_t flushed;      /* messages discarded by smem_msgq_flush() */
	uint32_t bad;          /* malformed messages the receiver skipped */
	unsigned closed;       /* 1 once smem_msgq_shutdown() closed it, else 0 */
};

struct smem_msgq;

/**
 * smem_msgq_config_init() - the defaults: depth 8, messages of up to 240 bytes,
 * default thresholds, one sending and one receiving thread, futex doorbell
 * @c: the configuration to fill
 *
 * Context: any.
 */
void smem_msgq_config_init(struct smem_msgq_config *c);

/**
 * smem_msgq_size() - bytes a queue needs
 * @depth: messages it holds, 1..SMEM_MSGQ_MAX_DEPTH
 * @max_msg_size: the largest message, 1..SMEM_MSGQ_MAX_MSG_SIZE
 * @ret_size: the size to give smem_msgq_init()
 *
 * Context: any.
 * Return: 0; -EINVAL for a depth or size out of range or a NULL @ret_size.
 */
int smem_msgq_size(unsigned depth, unsigned max_msg_size, size_t *ret_size);

/**
 * smem_msgq_init() - write an empty queue
 * @mem: memory the caller owns, 8-byte aligned (64-byte aligned for speed)
 * @size: its size, at least smem_msgq_size()
 * @c: the configuration, or NULL for the defaults
 *
 * Writes the geometry, empties the queue and publishes it last, so a host that
 * opens the memory sees either no queue or a complete one.
 *
 * Context: nobody may use a queue in @mem while it is initialised.
 * Return: 0; -EINVAL for a NULL or misaligned @mem, a bad configuration value or
 * unknown flag bits; -ENOSPC if @size is too small.
 */
int smem_msgq_init(void *mem, size_t size, const struct smem_msgq_config *c);

/**
 * smem_msgq_opts_init() - the defaults: no eventfds, 50 us of polling before sleeping
 * @o: the options to fill
 *
 * Context: any.
 */
void smem_msgq_opts_init(struct smem_msgq_opts *o);

/**
 * smem_msgq_open() - attach to a queue
 * @mem: the queue's memory; it must stay mapped until smem_msgq_close()
 * @size: bytes mapped at @mem
 * @flags: the ends this handle uses, enum smem_msgq_open_flags (0: only observe)
 * @o: options, or NULL for the defaults
 * @ret: the handle
 *
 * Reads the geometry once and checks it against @size; every later access uses
 * that checked copy. With an EVENTFD doorbell, @o must give both eventfds (the
 * handle keeps its own duplicates).
 *
 * Context: process context; allocates.
 * Return: 0; -EINVAL for NULL pointers, a misaligned @mem or unknown flags, or
 * missing eventfds; -EPROTO if @mem holds no queue or one of another version;
 * -EBADMSG if the geometry is inconsistent or larger than @size; -ENOMEM; or
 * the -errno of duplicating an eventfd.
 */
int smem_msgq_open(void *mem, size_t size, unsigned flags, const struct smem_msgq_opts *o,
		   struct smem_msgq **ret);

/**
 * smem_msgq_close() - detach; the queue and its messages stay. NULL is a no-op.
 * @q: the handle
 *
 * Context: no other thread may use @q.
 */
void smem_msgq_close(struct smem_msgq *q);

/**
 * smem_msgq_send() - copy one message into the queue
 * @q: a handle with SMEM_MSGQ_TX
 * @buf: the message
 * @len: its size, 1..max_msg_size
 * @flags: 0 or SMEM_MSGQ_PUSH
 *
 * A full queue enqueues nothing. The receive notification is raised if this
 * message makes the count reach the not-empty threshold, or if @flags has
 * SMEM_MSGQ_PUSH; only a receiver that sleeps costs a system call.
 *
 * Context: any; never blocks. Several threads may send at once only on a queue
 * created with SMEM_MSGQ_MULTI_SEND.
 * Return: 1 if the queue is not full after the message went in (not_full); 0 if
 * the message went in and filled the queue; -EAGAIN if the queue was full;
 * -EMSGSIZE if @len is 0 or over max_msg_size; -EINVAL for NULL arguments or
 * unknown flags; -EPERM without SMEM_MSGQ_TX; -EBADMSG if the receiver's
 * position is impossible (the queue was scribbled on).
 */
int smem_msgq_send(struct smem_msgq *q, const void *buf, size_t len, unsigned flags);

/**
 * smem_msgq_recv() - copy the oldest message out of the queue
 * @q: a handle with SMEM_MSGQ_RX
 * @buf: where to copy it
 * @len: the size of @buf
 * @ret_size: the message's size
 *
 * A message longer than @len stays queued. The send notification is raised if
 * the count falls to the not-full threshold and a sender sleeps.
 *
 * Context: any; never blocks. Several threads may receive at once only on a
 * queue created with SMEM_MSGQ_MULTI_RECV.
 * Return: 1 if more messages are ready (not_empty); 0 if this was the last one;
 * -EAGAIN if the queue was empty; -EMSGSIZE if the message is longer than @len
 * (it stays queued); -EBADMSG if the message at the head is malformed (it is
 * dropped, so the next call goes on with the next message) or the positions are
 * impossible; -EINVAL for NULL arguments; -EPERM without SMEM_MSGQ_RX.
 */
int smem_msgq_recv(struct smem_msgq *q, void *buf, size_t len, size_t *ret_size);

/**
 * smem_msgq_send_wait() - send, waiting for room
 * @q: a handle with SMEM_MSGQ_TX
 * @buf: the message
 * @len: its size
 * @flags: as for smem_msgq_send()
 * @timeout_ms: how long to wait for room; 0 tries once; negative waits forever
 *
 * Follows the Gunyah client discipline: the queue is assumed not full until a
 * send through this handle reports that it is (a return of 0 or -EAGAIN); only
 * then does the next call wait for the send notification before it sends.
 * Waiting polls for smem_msgq_opts.spin_ns, then sleeps on the doorbell.
 *
 * Context: process context; may sleep.
 * Return: as smem_msgq_send(), and -ETIMEDOUT if no room came in time.
 */
int smem_msgq_send_wait(struct smem_msgq *q, const void *buf, size_t len, unsigned flags,
			int timeout_ms);

/**
 * smem_msgq_recv_wait() - receive, waiting for a message
 * @q: a handle with SMEM_MSGQ_RX
 * @buf: where to copy it
 * @len: the size of @buf
 * @ret_size: the message's size
 * @timeout_ms: how long to wait; 0 tries once; negative waits forever
 *
 * Tries to receive; while the queue is empty, waits for the receive
 * notification (the count reaching the not-empty threshold, or a push) and
 * tries again. Calling it in a loop until it returns 0 drains the queue, as a
 * Gunyah client does on each receive interrupt.
 *
 * Context: process context; may sleep.
 * Return: as smem_msgq_recv(), and -ETIMEDOUT if nothing came in time.
 */
int smem_msgq_recv_wait(struct smem_msgq *q, void *buf, size_t len, size_t *ret_size,
			int timeout_ms);

/**
 * smem_msgq_configure_send() - set the not-full threshold (msgqueue_configure_send)
 * @q: a handle with SMEM_MSGQ_TX
 * @notfull_thd: 0..depth - 1, or SMEM_MSGQ_THD_UNCHANGED
 *
 * The send notification is re-evaluated at once: sleeping senders are woken if
 * the count is already at or below the new threshold.
 *
 * Context: any.
 * Return: 0; -EINVAL for a threshold out of range; -EPERM without SMEM_MSGQ_TX.
 */
int smem_msgq_configure_send(struct smem_msgq *q, int notfull_thd);

/**
 * smem_msgq_configure_recv() - set the not-empty threshold (msgqueue_configure_receive)
 * @q: a handle with SMEM_MSGQ_RX
 * @notempty_thd: 1..depth, SMEM_MSGQ_THD_MAXIMUM (the depth) or SMEM_MSGQ_THD_UNCHANGED
 *
 * The receive notification is re-evaluated at once: sleeping receivers are woken
 * if the count already reaches the new threshold.
 *
 * Context: any.
 * Return: 0; -EINVAL for a threshold out of range; -EPERM without SMEM_MSGQ_RX.
 */
int smem_msgq_configure_recv(struct smem_msgq *q, int notempty_thd);

/**
 * smem_msgq_flush() - discard every queued message (msgqueue_flush)
 * @q: a handle with SMEM_MSGQ_RX
 *
 * Zeroes the discarded slots and, if anything was discarded, raises the send
 * notification for sleeping senders.
 *
 * Context: any; never blocks.
 * Return: the number of messages discarded; -EINVAL for a NULL @q; -EPERM
 * without SMEM_MSGQ_RX; -EBADMSG if the positions are impossible.
 */
int smem_msgq_flush(struct smem_msgq *q);

/**
 * smem_msgq_recover() - repair this handle's end after its host died
 * @q: a handle with SMEM_MSGQ_TX, SMEM_MSGQ_RX or both
 *
 * Call it when a host restarts and takes over an end whose previous owner was
 * killed (or let the resource manager call it). On the send end, a position that
 * the dead sender claimed but never published becomes a hole the receiver skips
 * silently, so no torn message is ever delivered. On the receive end, messages
 * that the dead receiver had claimed are dropped, so none is delivered twice.
 *
 * Context: no other thread of this end's host may use the queue meanwhile.
 * Return: the number of positions repaired; -EINVAL for a handle with neither
 * end; -EBADMSG if the positions are impossible.
 */
int smem_msgq_recover(struct smem_msgq *q);

/**
 * smem_msgq_shutdown() - close the queue, for both ends, because one end's host is gone
 * @q: any handle on the queue, with or without an end
 *
 * What a resource manager does when a host dies, so that its peer gets a
 * clear error instead of waiting forever: from now on sends return -EPIPE,
 * receives return what is still queued and then -EPIPE, and every waiter of
 * either end wakes (and gets -EPIPE). Only smem_msgq_init() opens the queue
 * again.
 *
 * Context: any; never blocks.
 * Return: 0; -EINVAL for a NULL @q.
 */
int smem_msgq_shutdown(struct smem_msgq *q);

/**
 * smem_msgq_fd() - the eventfd that signals this end's notification
 * @q: a handle with exactly one end, on a queue with an EVENTFD doorbell
 *
 * The receive end's fd becomes readable for the receive notification, the send
 * end's for the send notification, once smem_msgq_arm() armed it.
 *
 * Context: any.
 * Return: the descriptor (owned by @q); -EOPNOTSUPP for another doorbell;
 * -EINVAL for a handle without exactly one end.
 */
int smem_msgq_fd(struct smem_msgq *q);

/**
 * smem_msgq_arm() - ask for this end's notification on its eventfd
 * @q: as for smem_msgq_fd()
 *
 * Resets the eventfd, then announces the waiter and re-checks the level: a
 * receive end is ready when the count reaches the not-empty threshold (or a
 * push came), a send end when it falls to the not-full threshold. An event loop
 * calls it before each wait and drains the queue when it returns 1 or when the
 * fd becomes readable. One event loop per end.
 *
 * Context: any; never blocks.
 * Return: 1 if the notification condition already holds (drain now, do not
 * wait); 0 if armed; -EOPNOTSUPP for another doorbell; -EINVAL as for
 * smem_msgq_fd().
 */
int smem_msgq_arm(struct smem_msgq *q);

/**
 * smem_msgq_stat() - the queue's geometry, thresholds and counters
 * @q: any handle
 * @ret: the values, each read once; a live queue changes while it is read
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL arguments.
 */
int smem_msgq_stat(struct smem_msgq *q, struct smem_msgq_stats *ret);

#ifdef __cplusplus
}
#endif

#endif
