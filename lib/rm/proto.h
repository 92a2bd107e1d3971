/* SPDX-License-Identifier: MIT */
/*
 * smemkit's own resource-manager calls, beside Gunyah's (lib/rpc/rpc.h), in a
 * msg_id range Gunyah does not use (0x5a......). Shared by smemd and the client
 * library; never installed. Every field is little-endian, and every payload is
 * decoded with get_le*() of core/util.h, never by casting a packet.
 */
#ifndef SMEMKIT_RM_PROTO_H
#define SMEMKIT_RM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc/rpc.h"

/*
 * REGISTER {le16 host, le16 reserved} -> {le32 vmid, le32 epoch, le64 image
 * size, le64 bank size, le64 instance, le32 pieces, le32 reserved}; the reply
 * carries one fd, the lock bank's memfd, sealed against shrinking and growing.
 * The instance names the memory: it stays the same across restarts of smemd
 * that kept it, and the epoch counts those restarts. The first call of a
 * connection; every other call before it is DENIED.
 */
#define SMEM_RM_CALL_REGISTER    0x5a000001u
#define SMEM_RM_REGISTER_REQ     4u
#define SMEM_RM_REGISTER_REPLY   40u

/*
 * MAP {le32 index} -> {le32 n, le32 reserved, n extents of {le64 offset in
 * the image, le64 length, le64 offset in the memfd}}; the reply carries the
 * piece's sealed memfd. The pieces are those of the image the host may map:
 * index from 0 to REGISTER's count. Each extent is whole pages, inside the
 * image; the rest of the image the host must not touch.
 */
#define SMEM_RM_CALL_MAP         0x5a000002u
#define SMEM_RM_MAP_REQ          4u
#define SMEM_RM_MAP_MAX_EXT      4u
#define SMEM_RM_MAX_PIECES       85u
#define SMEM_RM_EXTENT           24u

/*
 * DUMP (empty) -> {le64 size}; the reply carries a memfd sealed against
 * writing that holds a copy of the whole image, in the Linux format. Only a
 * connection of smemd's uid or of root may ask (no registration needed); BUSY
 * while the caller has not taken an earlier reply's fds.
 */
#define SMEM_RM_CALL_DUMP        0x5a000003u
#define SMEM_RM_DUMP_REPLY       8u

/*
 * MSGQ_CREATE {le16 partner vmid, le16 depth, le16 max message size, le16 flags,
 * le32 label} -> {le64 tx cap, le64 rx cap}: a pair of queues between the caller
 * and the partner, the caller's send end and receive end. The partner's ends
 * appear in its VM_GET_HYP_RESOURCES, and it is told by RESOURCES_CHANGED.
 */
#define SMEM_RM_CALL_MSGQ_CREATE 0x5a000010u
#define SMEM_RM_MSGQ_CREATE_REQ  12u
#define SMEM_RM_MSGQ_CREATE_REPLY 16u

/*
 * MSGQ_OPEN {le64 cap} -> {le32 end (1 send, 2 receive), le32 size}; the reply
 * carries the queue's memfd. Only the host the cap was given to may open it.
 */
#define SMEM_RM_CALL_MSGQ_OPEN   0x5a000011u
#define SMEM_RM_MSGQ_OPEN_REQ    8u
#define SMEM_RM_MSGQ_OPEN_REPLY  8u
#define SMEM_RM_END_TX           1u
#define SMEM_RM_END_RX           2u

/*
 * HOSTS (empty) -> {le32 n, n entries of SMEM_RM_HOST_ENTRY bytes: le16 host,
 * le16 vmid, u8 vm state, u8 os state, le16 queues, le32 pid (in smemd's pid
 * namespace, 0 if none), le32 uid, le32 exit type, char name[16] (NUL padded)}.
 */
#define SMEM_RM_CALL_HOSTS       0x5a000020u
#define SMEM_RM_HOST_ENTRY       36u

/*
 * STATS {le32 first queue slot} -> {le32 n locks, le32 n queues, le32 next
 * slot (0 when no queue is left), n locks of le32 lock word (0 free, else the
 * holder host + 1, as smem_hwlock_owner() reads it), n queues of
 * SMEM_RM_STATS_QUEUE bytes: le32 slot, le16 from host, le16 to host, le32
 * label, le16 depth, le16 max message size, le32 count, le32 sent, le32
 * received, le32 full events, u8 flags (SMEM_RM_STATS_CLOSED), u8 0[3]}, as
 * smem_msgq_stat() reads them on smemd's own handle of the queue. The queues
 * are the used slots from the first on, in slot order, at most
 * SMEM_RM_STATS_PAGE of them; a reader asks again from next until it is 0.
 * Each reply is an observation of its own (the table may change between
 * pages), but next is past every slot listed, so no queue is listed twice
 * (every page carries all the lock words, as they are then). Like HOSTS, it
 * needs no registration. A request of another length is MSG_INVALID, a first
 * slot past smemd's table ARGUMENT_INVALID.
 */
#define SMEM_RM_CALL_STATS       0x5a000030u
#define SMEM_RM_STATS_REQ        4u
#define SMEM_RM_STATS_HDR        12u
#define SMEM_RM_STATS_MAX_LOCKS  32u
#define SMEM_RM_STATS_QUEUE      36u
#define SMEM_RM_STATS_PAGE       256u
#define SMEM_RM_STATS_CLOSED     0x01u
/* The largest payload: with the error word, within what Linux sends in one message. */
#define SMEM_RM_STATS_REPLY_MAX                                                                    \
	(SMEM_RM_STATS_HDR + SMEM_RM_STATS_MAX_LOCKS * 4u +                                        \
	 SMEM_RM_STATS_PAGE * SMEM_RM_STATS_QUEUE)
_Static_assert(4u + SMEM_RM_STATS_REPLY_MAX <= SMEM_RPC_MSG_MAX_LINUX,
	       "a page of STATS fits in a message");

/* RESOURCES_CHANGED {le16 vmid of the host that created them, le16 0, le32 label}. */
#define SMEM_RM_NOTIF_RESOURCES  0x5a100001u
#define SMEM_RM_NOTIF_RESOURCES_LEN 8u

/*
 * LINK (empty) -> {le32 queue size, le32 depth}; the reply carries five fds:
 * a memfd with two queues (EVENTFD doorbells), the request queue (host to
 * smemd) at 0 and the reply queue (smemd to host) at queue size, and their
 * eventfds: request rx, request tx, reply rx, reply tx. From then on the
 * connection's calls may travel on the queues, one RM RPC fragment per
 * message, and notifications go there; a reply that carries fds cannot, and
 * a call that needs one is UNIMPLEMENTED there. The link lasts as long as the
 * connection; a registered host only, one link each.
 */
#define SMEM_RM_CALL_LINK        0x5a000004u
#define SMEM_RM_LINK_REPLY       8u
#define SMEM_RM_LINK_DEPTH       32u
/* The most fds one packet carries. */
#define SMEM_RM_PACKET_FDS       5u

/* A process host's vmid: the dynamic range of Gunyah, one per host-table entry. */
#define SMEM_RM_VMID_OF(host)    ((uint16_t)(0x80u + (host)))
#define SMEM_RM_HOST_OF(vmid)    ((unsigned)(vmid) - 0x80u)
#define SMEM_RM_MAX_HOSTS        64u

struct smem_rm;

/* The host @rm registered as, or -1 (client.c; for smem_open()). */
int smem__rm_host(const struct smem_rm *rm);
/*
 * Whether [@off, @off + @len) of the image is mapped in @rm: the pieces smemd
 * gave it. The partition table is in a piece every host can write, so its
 * offsets are checked against this before anything there is read.
 */
bool smem__rm_mapped(const struct smem_rm *rm, uint64_t off, uint64_t len);
/* The lock bank's region (for tests that play a hostile host). */
struct smem_region *smem__rm_bank_region(const struct smem_rm *rm);
/* The end of the mapped run that holds @off (@off itself if it is not mapped). */
uint64_t smem__rm_mapped_end(const struct smem_rm *rm, uint64_t off);

/*
 * Receive one packet of at most @len bytes on @fd (recvmsg @flags), taking up
 * to @max_fds of the fds that come with it (the others are closed). Return:
 * its length, SMEM_RPC_FRAG_MAX + 1 for a longer one, 0 when the peer closed,
 * or -errno.
 */
ssize_t smem__rm_recv(int fd, void *buf, size_t len, int flags, int *fds, unsigned max_fds,
		      unsigned *ret_nfds);

#endif
