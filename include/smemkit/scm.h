/* SPDX-License-Identifier: MIT */
/*
 * smemkit/scm.h - secure calls with wait queues, as Qualcomm's SCM makes them
 *
 * smemtzd stands in for TrustZone: it executes calls one at a time, and a call
 * that has to wait for something (a resource another call holds, an event)
 * does not keep it busy: it returns WAITQ_SLEEP at once, with a wait-queue
 * context and a call context, and the call is parked there with its progress.
 * When what it waits for comes, smemtzd raises the client's "waitq interrupt"
 * (an eventfd); the client's interrupt thread asks GET_WQ_CTX which context
 * to complete, the sleeper wakes and RESUMEs the same call.
 *
 * smem_scm_call() does all of that as Linux's qcom_scm does (the merged
 * discipline): one call of the client in flight at a time, under a call lock
 * held while it sleeps; the wake path never takes that lock; completions
 * count, so a wake that comes before the sleeper sleeps is not lost. A
 * V2_EBUSY is retried with the original arguments, after a pause, at most
 * ebusy_retries times, as qcom_scm retries firmware without wait queues (a
 * client that registers with SMEM_SCM_NO_WAITQ is served as such firmware
 * serves: EBUSY instead of SLEEP).
 *
 * With SMEM_SCM_MULTI_CALL (allow-multi-call, the 2022 design) several calls
 * of one client are in flight at once, each on a slot of its own, and a
 * wake-up rides on whichever call smemtzd answers next (WAITQ_WAKE, answered
 * WAITQ_ACK); a client that did not ask for it is served one call at a time.
 */
#ifndef SMEMKIT_SCM_H
#define SMEMKIT_SCM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct smem_scm;

/* Return codes in a0 (qcom_scm's numbers). */
#define SMEM_SCM_SUCCESS      0
#define SMEM_SCM_INTERRUPTED  1
#define SMEM_SCM_WAITQ_SLEEP  2
#define SMEM_SCM_WAITQ_WAKE   3
#define SMEM_SCM_ERROR        (-1)
#define SMEM_SCM_EINVAL_ARG   (-2)
#define SMEM_SCM_EINVAL_ADDR  (-3)
#define SMEM_SCM_EOPNOTSUPP   (-4)
#define SMEM_SCM_ENOMEM       (-5)
#define SMEM_SCM_V2_EBUSY     (-12)

/* Function ids: SMC64, SIP owner 2, (service << 8) | command; 0xc... are fast calls. */
#define SMEM_SCM_FN(fast, svc, cmd)                                                                \
	((uint32_t)((fast) ? 0xc2000000u : 0x42000000u) | (uint32_t)(svc) << 8 | (uint32_t)(cmd))
#define SMEM_SCM_SVC_WAITQ     0x24u
#define SMEM_SCM_FN_WAITQ_ACK  SMEM_SCM_FN(0, SMEM_SCM_SVC_WAITQ, 0x01)  /* 0x42002401 */
#define SMEM_SCM_FN_RESUME     SMEM_SCM_FN(0, SMEM_SCM_SVC_WAITQ, 0x02)  /* 0x42002402 */
#define SMEM_SCM_FN_GET_WQ_CTX SMEM_SCM_FN(1, SMEM_SCM_SVC_WAITQ, 0x03)  /* 0xc2002403 */
#define SMEM_SCM_FN_GET_INFO   SMEM_SCM_FN(1, SMEM_SCM_SVC_WAITQ, 0x04)  /* 0xc2002404 */

/*
 * smemkit's own service: a named resource held for a while (HOLD {a2
 * resource, a3 microseconds}: the call returns when it has held it that
 * long), an event to wait for (EVENT_WAIT {a2 event}: parks until signalled)
 * and its signal (EVENT_SIGNAL {a2 event, a3 SMEM_SCM_WAKE_ONE or _ALL}:
 * r1 how many it woke). Event e and resource r sleep on the wait-queue context
 * e (or r) modulo wq_cnt.
 */
/*
 * QUERY {a2 0 for a resource, 1 for an event, a3 its number} -> r1 the
 * holding client + 1 (0 if free), r2 how many calls are parked on it, r3 1 if
 * it is kept for a woken call: a fast call, for tools and tests. QUERY {a2 2}
 * -> r1 the call contexts in use, r2 how many of them keep an interrupted call.
 */
#define SMEM_SCM_SVC_SMEMKIT       0x3fu
#define SMEM_SCM_FN_QUERY          SMEM_SCM_FN(1, SMEM_SCM_SVC_SMEMKIT, 0x10)
/* NOP: a standard call that does nothing, on which wake-ups ride to a multi-call client. */
#define SMEM_SCM_FN_NOP            SMEM_SCM_FN(0, SMEM_SCM_SVC_SMEMKIT, 0x04)
#define SMEM_SCM_FN_HOLD           SMEM_SCM_FN(0, SMEM_SCM_SVC_SMEMKIT, 0x01)
#define SMEM_SCM_FN_EVENT_WAIT     SMEM_SCM_FN(0, SMEM_SCM_SVC_SMEMKIT, 0x02)
#define SMEM_SCM_FN_EVENT_SIGNAL   SMEM_SCM_FN(0, SMEM_SCM_SVC_SMEMKIT, 0x03)
/*
 * WORK {a2 units, 1 to SMEM_SCM_WORK_MAX, a3 a seed}: a long call, executed
 * SMEM_SCM_WORK_SLICE units per SMC. Between slices it is answered
 * INTERRUPTED (1) with the session token in a6, and goes on where it
 * stopped when re-issued as SMEM_SCM_FN_REISSUE with that token in a6; at
 * the end r1 is the seed after @units steps of xorshift64 (x ^= x << 13,
 * x ^= x >> 7, x ^= x << 17), r2 the units executed in all, r3 the slices.
 * smem_scm_call() re-issues by itself, as qcom_scm does.
 */
#define SMEM_SCM_FN_WORK           SMEM_SCM_FN(0, SMEM_SCM_SVC_SMEMKIT, 0x05)
#define SMEM_SCM_WORK_MAX          (1u << 24)
#define SMEM_SCM_WORK_SLICE        4096u
/* The re-issue of an INTERRUPTED call: fn id 1, a6 the session token. */
#define SMEM_SCM_FN_REISSUE        1u
#define SMEM_SCM_RESOURCES         16u
#define SMEM_SCM_EVENTS            16u
#define SMEM_SCM_HOLD_MAX_US       10000000u

/*
 * assign_mem (qcom_scm's svc MP 0x0c, cmd 0x16): which VMIDs may access a
 * range of memory, with which rights. In the frame: a2 the address, a3 the
 * size (whole pages of SMEM_SCM_ASSIGN_ALIGN, below SMEM_SCM_ASSIGN_LIMIT),
 * a4 the owners it expects now (a bitmap of VMIDs), a5 and a6 the new owners,
 * seven to a word, 9 bits each ({vmid in 5:0, rights in 8:6}), a7 how many
 * (1 to SMEM_SCM_ASSIGN_MAX_DEST); r1 the new owners' bitmap. Memory nobody
 * assigned is HLOS's with RWX. MEM_QUERY {a2 address, a3 vmid} -> r1 the
 * owners there, r2 the vmid's rights there, r3 where that assignment ends.
 */
#define SMEM_SCM_SVC_MP            0x0cu
#define SMEM_SCM_FN_ASSIGN_MEM     SMEM_SCM_FN(0, SMEM_SCM_SVC_MP, 0x16)  /* 0x42000c16 */
#define SMEM_SCM_FN_MEM_QUERY      SMEM_SCM_FN(1, SMEM_SCM_SVC_SMEMKIT, 0x11)
#define SMEM_SCM_VMID_HLOS         0x3u
#define SMEM_SCM_VMID_RM_MANAGED   0x3au
#define SMEM_SCM_PERM_EXEC         0x1u
#define SMEM_SCM_PERM_WRITE        0x2u
#define SMEM_SCM_PERM_READ         0x4u
#define SMEM_SCM_PERM_RW           0x6u
#define SMEM_SCM_PERM_RWX          0x7u
#define SMEM_SCM_ASSIGN_ALIGN      4096u
#define SMEM_SCM_ASSIGN_LIMIT      (1ull << 48)
#define SMEM_SCM_ASSIGN_MAX_DEST   14u

/* One new owner of an assignment, as qcom_scm_vmperm. */
struct smem_scm_vmperm {
	unsigned vmid;  /* below 64 */
	unsigned perm;  /* SMEM_SCM_PERM_* bits, not 0 */
};

/* GET_WQ_CTX flags. */
#define SMEM_SCM_WAKE_ONE 0x1u
#define SMEM_SCM_WAKE_ALL 0x2u

/* The most wait-queue contexts smemtzd may have (GET_INFO's wq_cnt). */
#define SMEM_SCM_MAX_WQ 16u

/* The result frame: a0 the return code, a1..a3 the results. */
struct smem_scm_res {
	int64_t a0;
	uint64_t a1, a2, a3;
};

/* smem_scm_opts.flags */
#define SMEM_SCM_NO_WAITQ   0x1u /* a client without wait queues: EBUSY, retried */
#define SMEM_SCM_MULTI_CALL 0x2u /* allow-multi-call: several calls in flight, WAITQ_WAKE + ACK */

struct smem_scm_opts {
	unsigned flags;
	unsigned ebusy_wait_us;  /* pause before an EBUSY retry; qcom_scm: 30000 */
	unsigned ebusy_retries;  /* retries after the first attempt; qcom_scm: 21 */
};

/* What this client did. */
struct smem_scm_stats {
	uint64_t calls;          /* smem_scm_call()s */
	uint64_t smcs;           /* frames posted, every attempt and resume counted */
	uint64_t sleeps;         /* WAITQ_SLEEP answers */
	uint64_t wakes;          /* completions the interrupt thread gave */
	uint64_t ebusy;          /* V2_EBUSY answers */
	uint64_t failed_busy;    /* calls that failed for lack of retries */
	uint64_t interrupted;    /* INTERRUPTED answers, each re-issued */
	uint64_t reconnects;     /* connections made again after smemtzd went away */
};

/**
 * smem_scm_opts_init() - the defaults: wait queues; qcom_scm's EBUSY policy
 * @o: the options
 *
 * Context: any.
 */
void smem_scm_opts_init(struct smem_scm_opts *o);

/**
 * smem_scm_connect() - become a client of smemtzd
 * @socket_path: its socket; NULL for $SMEMKIT_TZ_SOCKET, else
 *               $XDG_RUNTIME_DIR/smemkit/tz.sock (/run/smemkit/tz.sock as root)
 * @o: options, or NULL for the defaults
 * @ret: the client
 *
 * Registers, maps the client's page of call slots, asks GET_INFO for wq_cnt
 * and starts the interrupt thread.
 *
 * Context: process context; blocks while it registers.
 * Return: 0; -EINVAL for unknown flag bits or a path too long; -ENOENT or
 * -ECONNREFUSED when nobody listens; -EPROTO for an answer that is not
 * smemtzd's; -EUSERS when smemtzd serves as many clients as it can; -ENOMEM;
 * another negative errno of the socket or the thread.
 */
int smem_scm_connect(const char *socket_path, const struct smem_scm_opts *o,
		     struct smem_scm **ret);

/**
 * smem_scm_close() - end the connection
 * @s: the client, or NULL
 *
 * smemtzd drops the client's parked calls and what they held. No call may be
 * in flight.
 *
 * Context: process context.
 */
void smem_scm_close(struct smem_scm *s);

/**
 * smem_scm_call() - one secure call, sleeping while it must wait
 * @s: the client
 * @fn: the function id
 * @args: a1..a7 (a1 the arginfo); NULL for none
 * @nargs: how many of @args, at most 7
 * @ret: the result frame (a0 0 or a negative SCM error)
 *
 * Posts the call; on INTERRUPTED re-issues it (SMEM_SCM_FN_REISSUE, the
 * session token in a6) until it is over; on WAITQ_SLEEP sleeps on the
 * wait-queue context until the interrupt thread completes it, then RESUMEs
 * the call, as often as it must;
 * on V2_EBUSY pauses and tries the original call again. Threads of one
 * client are served one at a time.
 *
 * Context: process context; may sleep, without limit while parked.
 * When smemtzd went away since the last call, the client first connects
 * again by itself (a new page, the parked calls of the old connection gone).
 *
 * Return: 0 when smemtzd answered (the SCM result is in @ret); -EBUSY when
 * every retry found it busy; -EPROTO for a SLEEP naming a wait-queue context
 * GET_INFO did not count; -ECONNRESET when smemtzd went away under the call
 * (whether it took effect is not known; the next call connects again);
 * -ECONNREFUSED or -ENOENT when it is not back yet (nothing was sent); an
 * error of smem_scm_connect() from connecting again; -EINVAL.
 */
int smem_scm_call(struct smem_scm *s, uint32_t fn, const uint64_t *args, unsigned nargs,
		  struct smem_scm_res *ret);

/**
 * smem_scm_assign_mem() - reassign a range of memory, as qcom_scm_assign_mem()
 * @s: the client
 * @addr: the range's start, a multiple of SMEM_SCM_ASSIGN_ALIGN
 * @size: its size, a multiple of SMEM_SCM_ASSIGN_ALIGN, not 0
 * @srcvm: in: the owners the range has now (a bitmap of VMIDs); out, on
 *         success: the new owners
 * @newvm: the new owners and their rights
 * @dest_cnt: how many, 1 to SMEM_SCM_ASSIGN_MAX_DEST
 *
 * smemtzd changes the whole range, or nothing: every page of it must be owned
 * by exactly *@srcvm now.
 *
 * Context: process context; may sleep (smem_scm_call()).
 * Return: 0; -EINVAL for bad arguments (also a VMID twice, rights of 0);
 * -EPERM when some page of the range is not owned by exactly *@srcvm;
 * -ENOMEM when smemtzd's table has no room for the ranges the change makes;
 * an error of smem_scm_call().
 */
int smem_scm_assign_mem(struct smem_scm *s, uint64_t addr, uint64_t size, uint64_t *srcvm,
			const struct smem_scm_vmperm *newvm, unsigned dest_cnt);

/**
 * smem_scm_wq_cnt() - how many wait-queue contexts smemtzd has (GET_INFO)
 * @s: the client
 *
 * Context: any.
 * Return: 1 to SMEM_SCM_MAX_WQ.
 */
unsigned smem_scm_wq_cnt(const struct smem_scm *s);

/**
 * smem_scm_get_stats() - what the client did so far
 * @s: the client
 * @ret: the counts
 *
 * Context: any; the counts are read one by one.
 * Return: 0; -EINVAL.
 */
int smem_scm_get_stats(const struct smem_scm *s, struct smem_scm_stats *ret);

#ifdef __cplusplus
}
#endif

#endif
