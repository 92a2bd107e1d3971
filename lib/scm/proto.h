/* SPDX-License-Identifier: MIT */
/*
 * What the secure-call service (smemtzd) and its clients share: the page of
 * call slots each client is given, and the registration on the socket.
 * Never installed.
 *
 * A client is one connection to smemtzd. It is given a page of its own (a
 * sealed memfd that no other client maps), with SMEM_SCM_SLOTS call slots,
 * and two eventfds: the doorbell it writes after posting a call, and its
 * "waitq interrupt", which smemtzd writes when a wake-up waits for it.
 * Slot 0 belongs to the client's interrupt thread (GET_WQ_CTX); the callers
 * use the others, one call in flight per slot.
 *
 * A call: the client writes the register frame a[0..7] (a[0] the function id),
 * then the state POSTED (C1), and rings. smemtzd takes the slot (T1: POSTED to
 * TAKEN, one compare-and-swap, so a slot is taken once), copies the frame, and
 * when the call is over writes r[0..3] (r[0] the return code, as a0) and r6
 * (an INTERRUPTED call's session token, a6 of an SMC's result) and DONE
 * (D1) and wakes the slot's futex. A call that holds a resource stays TAKEN
 * while it holds it. The client owns everything else in its page: smemtzd reads
 * a frame once into its own memory and checks every word of it, and ignores a
 * slot in any state but POSTED, so a client that scribbles on its page spoils
 * only its own calls.
 *
 * The doorbell is skipped while smemtzd is awake: for a while after its last
 * work it looks at every slot of every page itself instead of sleeping, and
 * says so in each page's polling word. A client stores POSTED, then loads
 * polling (P1, both sequentially consistent), and rings only if it is 0.
 * smemtzd, before it sleeps, stores 0 in every polling word, then looks at
 * every slot once more (P2, the same order): a client that read 1 posted
 * before that last look, which finds its call. models/scm-doorbell.pml
 * checks the handshake. A client that writes its own polling word loses
 * only its own doorbells.
 *
 * When smemtzd goes away, the client's interrupt thread marks every slot in
 * flight LOST (the server can no longer write it) and wakes it.
 */
#ifndef SMEMKIT_SCM_PROTO_H
#define SMEMKIT_SCM_PROTO_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SMEM_SCM_MAGIC    0x314d4353u /* "SCM1" */
#define SMEM_SCM_VERSION  2u
#define SMEM_SCM_SLOTS    31u
#define SMEM_SCM_PAGE     4096u

enum smem_scm_slot_state {
	SMEM_SCM_SLOT_FREE = 0,
	SMEM_SCM_SLOT_POSTED = 1, /* the client's: a frame is waiting */
	SMEM_SCM_SLOT_TAKEN = 2,  /* smemtzd's: the call is in progress */
	SMEM_SCM_SLOT_DONE = 3,   /* smemtzd's: r[] holds the result */
	SMEM_SCM_SLOT_LOST = 4,   /* the client's: smemtzd went away under the call */
};

struct smem_scm_slot {
	_Atomic uint32_t state;   /* enum smem_scm_slot_state; the futex a caller sleeps on */
	uint32_t seq;             /* the client's count of calls on the slot, echoed in rseq */
	uint32_t rseq;
	uint32_t pad;
	uint64_t a[8];            /* the request: a[0] the function id, a[1] the arginfo */
	uint64_t r[4];            /* the result: r[0] the return code */
	uint64_t r6;              /* INTERRUPTED: the session token, as firmware's a6 */
} __attribute__((aligned(64)));
static_assert(sizeof(struct smem_scm_slot) == 128, "a slot is two cache lines");

struct smem_scm_page {
	uint32_t magic;
	uint32_t version;
	uint32_t nslots;
	uint32_t client;          /* the client's number at smemtzd */
	/*
	 * smemtzd's: nonzero while it is awake and looks at the slots by
	 * itself, so a call needs no doorbell (P1 and P2 below).
	 */
	_Atomic uint32_t polling;
	uint8_t pad[108];
	struct smem_scm_slot slot[SMEM_SCM_SLOTS];
};
static_assert(offsetof(struct smem_scm_page, slot) == 128, "slots start on a line");
static_assert(sizeof(struct smem_scm_page) == SMEM_SCM_PAGE, "one page");

/*
 * Registration, the first packet of a connection: {le32 magic, le32 flags}.
 * The reply: {le32 error (0 or a negative errno), le32 client, le32 wq_cnt,
 * le32 irq}, with three fds when the error is 0: the page's memfd, the
 * doorbell eventfd and the interrupt eventfd. No other packet follows; the
 * connection's end is the client's end.
 */
#define SMEM_SCM_REG_LEN   8u
#define SMEM_SCM_REPLY_LEN 16u

#endif
