/* SPDX-License-Identifier: MIT */
/*
 * The Gunyah Resource Manager RPC codec: the 8-byte header, fragmentation into
 * 240-byte message-queue packets, reassembly of one message per link, the RM
 * error codes and the payloads of the VM lifecycle calls. Shared by the
 * resource-manager daemon and its client library; internal, never installed.
 *
 * Every byte on the wire is little-endian and packed; the wire structures below
 * describe each layout once and the codec reads them through offsetof() with
 * byte copies, never through a cast of a packet pointer (a field may be
 * unaligned in a packet). Nothing here allocates, locks or keeps global state.
 */
#ifndef SMEMKIT_RPC_H
#define SMEMKIT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Framing. */
#define SMEM_RPC_HDR_SIZE  8u
#define SMEM_RPC_FRAG_MAX  240u /* the RM's message-queue packet size */
#define SMEM_RPC_FRAG_DATA (SMEM_RPC_FRAG_MAX - SMEM_RPC_HDR_SIZE) /* 232 */
#define SMEM_RPC_MAX_CONT  62u /* continuation fragments after the first */
/* The largest message: 63 fragments of 232 bytes, what the RM accepts. */
#define SMEM_RPC_MSG_MAX   ((SMEM_RPC_MAX_CONT + 1) * SMEM_RPC_FRAG_DATA)
/* Linux refuses to send more than 62 fragments; clients should keep to it. */
#define SMEM_RPC_MSG_MAX_LINUX (SMEM_RPC_MAX_CONT * SMEM_RPC_FRAG_DATA)

_Static_assert(SMEM_RPC_FRAG_DATA == 232, "232 data bytes per fragment");
_Static_assert(SMEM_RPC_MSG_MAX == 14616, "a message holds at most 63 * 232 bytes");
_Static_assert(SMEM_RPC_MSG_MAX_LINUX == 14384, "Linux sends at most 62 * 232 bytes");

/* Byte 0 of every header: API version 1 in bits 3:0, 2 header words in bits 7:4. */
#define SMEM_RPC_API_VERSION 1u
#define SMEM_RPC_HDR_WORDS   2u
#define SMEM_RPC_API         ((SMEM_RPC_HDR_WORDS << 4) | SMEM_RPC_API_VERSION)
_Static_assert(SMEM_RPC_API == 0x21, "the API byte is always 0x21");

/* Byte 1: bits 1:0. */
enum smem_rpc_type {
	SMEM_RPC_CONT = 0,
	SMEM_RPC_REQUEST = 1,
	SMEM_RPC_REPLY = 2,
	SMEM_RPC_NOTIFICATION = 3,
};

/* msg_id 0 is reserved: never sent, and dropped by a dispatcher that receives it. */
#define SMEM_RPC_MSG_ID_RESERVED 0u

/* The header as it is on the wire. */
struct smem_rpc_wire_hdr {
	uint8_t api;        /* SMEM_RPC_API */
	uint8_t type_frags; /* type | continuation count << 2 */
	uint16_t seq;
	uint32_t msg_id;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_hdr) == SMEM_RPC_HDR_SIZE, "header is 8 bytes");
_Static_assert(offsetof(struct smem_rpc_wire_hdr, type_frags) == 1, "type and count at 1");
_Static_assert(offsetof(struct smem_rpc_wire_hdr, seq) == 2, "seq at 2");
_Static_assert(offsetof(struct smem_rpc_wire_hdr, msg_id) == 4, "msg_id at 4");

/* A decoded header. */
struct smem_rpc_hdr {
	uint8_t type;   /* enum smem_rpc_type */
	uint8_t nfrags; /* continuation fragments of the message, 0..SMEM_RPC_MAX_CONT */
	uint16_t seq;
	uint32_t msg_id;
};

/*
 * RM error codes, the le32 that opens every reply. Defines, not an enum: 0xFFFFFFFF
 * is not an int.
 */
#define SMEM_RPC_ERR_OK               0x00000000u
#define SMEM_RPC_ERR_UNIMPLEMENTED    0xffffffffu
#define SMEM_RPC_ERR_NOMEM            0x01u
#define SMEM_RPC_ERR_NORESOURCE       0x02u
#define SMEM_RPC_ERR_DENIED           0x03u
#define SMEM_RPC_ERR_MSG_INVALID      0x04u
#define SMEM_RPC_ERR_BUSY             0x05u
#define SMEM_RPC_ERR_ARGUMENT_INVALID 0x06u
#define SMEM_RPC_ERR_HANDLE_INVALID   0x07u
#define SMEM_RPC_ERR_VALIDATE_FAILED  0x08u
#define SMEM_RPC_ERR_MAP_FAILED       0x09u
#define SMEM_RPC_ERR_MEM_INVALID      0x0au
#define SMEM_RPC_ERR_MEM_INUSE        0x0bu
#define SMEM_RPC_ERR_MEM_RELEASED     0x0cu
#define SMEM_RPC_ERR_VMID_INVALID     0x0du
#define SMEM_RPC_ERR_LOOKUP_FAILED    0x0eu
#define SMEM_RPC_ERR_IRQ_INVALID      0x0fu
#define SMEM_RPC_ERR_IRQ_INUSE        0x10u
#define SMEM_RPC_ERR_IRQ_RELEASED     0x11u
#define SMEM_RPC_ERR_IN_USE           0x12u
#define SMEM_RPC_ERR_IRQ_NOT_MAPPED   0x13u
#define SMEM_RPC_ERR_VM_STATE         0x14u

/* VM lifecycle calls (client -> RM). */
#define SMEM_RPC_VM_ALLOCATE           0x56000001u
#define SMEM_RPC_VM_DEALLOCATE         0x56000002u
#define SMEM_RPC_VM_START              0x56000004u
#define SMEM_RPC_VM_STOP               0x56000005u
#define SMEM_RPC_VM_RESET              0x56000006u
#define SMEM_RPC_VM_CONFIG_IMAGE       0x56000009u
#define SMEM_RPC_VM_AUTH_IMAGE         0x5600000au
#define SMEM_RPC_VM_INIT               0x5600000bu
#define SMEM_RPC_VM_GET_STATE          0x56000017u
#define SMEM_RPC_VM_GET_CRASH_MSG      0x56000019u
#define SMEM_RPC_VM_GET_HYP_RESOURCES  0x56000020u
#define SMEM_RPC_VM_GET_VMID           0x56000024u
#define SMEM_RPC_VM_SET_BOOT_CONTEXT   0x56000031u
#define SMEM_RPC_VM_SET_FIRMWARE_MEM   0x56000032u
#define SMEM_RPC_VM_SET_DEMAND_PAGING  0x56000033u
#define SMEM_RPC_VM_SET_ADDRESS_LAYOUT 0x56000034u
#define SMEM_RPC_VM_EXIT               0x56000085u /* called by the guest */
#define SMEM_RPC_VM_SET_CRASH_MSG      0x56000086u /* called by the guest */

/* Notifications (RM -> client). */
#define SMEM_RPC_NOTIF_VM_EXITED   0x56100001u /* to the owner */
#define SMEM_RPC_NOTIF_VM_SHUTDOWN 0x56100002u /* to the guest */
#define SMEM_RPC_NOTIF_VM_STATUS   0x56100008u /* to every running peer */

/* VMIDs. */
#define SMEM_RPC_VMID_HYP         0x0000u
#define SMEM_RPC_VMID_HLOS        0x0003u
#define SMEM_RPC_VMID_FIXED_LIMIT 0x0040u /* fixed secondary VMIDs are below this */
#define SMEM_RPC_VMID_DYN_FIRST   0x0080u
#define SMEM_RPC_VMID_DYN_LAST    0x00bfu
#define SMEM_RPC_VMID_RM          0x00ffu
#define SMEM_RPC_VMID_ANY         0xfffeu
#define SMEM_RPC_VMID_INVAL       0xffffu

enum smem_rpc_vm_state {
	SMEM_RPC_VM_STATE_NO_STATE = 0,
	SMEM_RPC_VM_STATE_INIT = 1,
	SMEM_RPC_VM_STATE_READY = 2,
	SMEM_RPC_VM_STATE_RUNNING = 3,
	SMEM_RPC_VM_STATE_PAUSED = 4,
	SMEM_RPC_VM_STATE_LOAD = 5,
	SMEM_RPC_VM_STATE_AUTH = 6,
	/* 7 is reserved */
	SMEM_RPC_VM_STATE_INIT_FAILED = 8,
	SMEM_RPC_VM_STATE_EXITED = 9,
	SMEM_RPC_VM_STATE_RESETTING = 10,
	SMEM_RPC_VM_STATE_RESET = 11,
};

enum smem_rpc_os_state {
	SMEM_RPC_OS_STATE_NONE = 0,
	SMEM_RPC_OS_STATE_EARLY_BOOT = 1,
	SMEM_RPC_OS_STATE_BOOT = 2,
	SMEM_RPC_OS_STATE_INIT = 3,
	SMEM_RPC_OS_STATE_RUN = 4,
	SMEM_RPC_OS_STATE_SHUTDOWN = 5,
	SMEM_RPC_OS_STATE_HALTED = 6,
	SMEM_RPC_OS_STATE_CRASHED = 7,
};

/* exit_type of VM_EXITED: why the VM reached EXITED. */
enum smem_rpc_exit_type {
	SMEM_RPC_EXIT_VM_EXIT = 0,
	SMEM_RPC_EXIT_PLATFORM_OFF = 1,
	SMEM_RPC_EXIT_PLATFORM_RESET = 2,
	SMEM_RPC_EXIT_PSCI_SYSTEM_RESET2 = 3,
	SMEM_RPC_EXIT_WATCHDOG_BITE = 4,
	SMEM_RPC_EXIT_SOFTWARE_ERROR = 5,
	SMEM_RPC_EXIT_ASYNC_HW_ERROR = 6,
	SMEM_RPC_EXIT_VM_STOP_FORCED = 7,
};

/* exit_code of VM_EXIT (2 is not a code: the RM answers MSG_INVALID). */
enum smem_rpc_exit_code {
	SMEM_RPC_EXIT_CODE_NORMAL = 0,
	SMEM_RPC_EXIT_CODE_SOFTWARE_ERROR = 1,
	SMEM_RPC_EXIT_CODE_BUS_ERROR = 3,
	SMEM_RPC_EXIT_CODE_DEVICE_ERROR = 4,
};
#define SMEM_RPC_EXIT_FLAG_RESTART 0x0001u
/* The common word that opens a VM_EXITED reason. */
#define SMEM_RPC_EXIT_REASON(exit_flags, exit_code)                                                \
	((uint32_t)(uint16_t)(exit_flags) | (uint32_t)(uint8_t)(exit_code) << 16)

/* VM_STOP flags. */
#define SMEM_RPC_STOP_FORCE 0x01u
#define SMEM_RPC_STOP_FLAGS SMEM_RPC_STOP_FORCE

/* Resource types of VM_GET_HYP_RESOURCES. */
enum smem_rpc_resource_type {
	SMEM_RPC_RES_BELL_TX = 0,
	SMEM_RPC_RES_BELL_RX = 1,
	SMEM_RPC_RES_MSGQ_TX = 2,
	SMEM_RPC_RES_MSGQ_RX = 3,
	SMEM_RPC_RES_VCPU = 4,
	SMEM_RPC_RES_VIRTUAL_PM = 5,
	SMEM_RPC_RES_VIRTIO_MMIO = 6,
	SMEM_RPC_RES_VRTC = 7,
	SMEM_RPC_RES_WATCHDOG = 8,
	SMEM_RPC_RES_MEM_EXTENT = 9,
	SMEM_RPC_RES_ADDR_SPACE = 10,
};

/* Payload wire layouts (all little-endian, packed). */

/* VM_ALLOCATE, VM_DEALLOCATE, VM_START, VM_RESET, VM_GET_STATE, VM_GET_HYP_RESOURCES. */
struct smem_rpc_wire_vmid_req {
	uint16_t vmid;
	uint16_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vmid_req) == 4, "vmid request is 4 bytes");
_Static_assert(offsetof(struct smem_rpc_wire_vmid_req, vmid) == 0, "vmid at 0");

struct smem_rpc_wire_vm_stop_req {
	uint16_t vmid;
	uint8_t flags; /* SMEM_RPC_STOP_* */
	uint8_t reserved;
	uint32_t stop_reason;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vm_stop_req) == 8, "VM_STOP request is 8 bytes");
_Static_assert(offsetof(struct smem_rpc_wire_vm_stop_req, flags) == 2, "flags at 2");
_Static_assert(offsetof(struct smem_rpc_wire_vm_stop_req, stop_reason) == 4, "reason at 4");

struct smem_rpc_wire_vm_exit_req {
	uint16_t exit_flags; /* SMEM_RPC_EXIT_FLAG_* */
	uint8_t exit_code;   /* enum smem_rpc_exit_code */
	uint8_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vm_exit_req) == 4, "VM_EXIT request is 4 bytes");
_Static_assert(offsetof(struct smem_rpc_wire_vm_exit_req, exit_code) == 2, "code at 2");

/* The word of a VM_GET_STATE reply: vm_state | os_state << 8 | app_status << 16. */
struct smem_rpc_wire_vm_state {
	uint32_t state;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vm_state) == 4, "VM_GET_STATE reply is 4 bytes");

/* VM_GET_VMID and (dynamic) VM_ALLOCATE replies. */
struct smem_rpc_wire_vmid_reply {
	uint32_t vmid;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vmid_reply) == 4, "vmid reply is 4 bytes");

/* VM_GET_HYP_RESOURCES reply: le32 n, then n of these. */
struct smem_rpc_wire_resource {
	uint8_t type; /* enum smem_rpc_resource_type */
	uint8_t reserved;
	uint16_t partner_vmid;
	uint32_t resource_handle;
	uint32_t resource_label;
	uint64_t cap_id;
	uint32_t virq_handle;
	uint32_t virq;
	uint64_t base;
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_resource) == 44, "a resource entry is 44 bytes");
_Static_assert(offsetof(struct smem_rpc_wire_resource, partner_vmid) == 2, "partner at 2");
_Static_assert(offsetof(struct smem_rpc_wire_resource, resource_handle) == 4, "handle at 4");
_Static_assert(offsetof(struct smem_rpc_wire_resource, resource_label) == 8, "label at 8");
_Static_assert(offsetof(struct smem_rpc_wire_resource, cap_id) == 12, "cap_id at 12");
_Static_assert(offsetof(struct smem_rpc_wire_resource, virq_handle) == 20, "virq_handle at 20");
_Static_assert(offsetof(struct smem_rpc_wire_resource, virq) == 24, "virq at 24");
_Static_assert(offsetof(struct smem_rpc_wire_resource, base) == 28, "base at 28");
_Static_assert(offsetof(struct smem_rpc_wire_resource, size) == 36, "size at 36");
#define SMEM_RPC_RESOURCES_HDR 4u
/* The most entries a reply can hold: [err | n | entries] within SMEM_RPC_MSG_MAX. */
#define SMEM_RPC_RESOURCES_MAX                                                                     \
	((SMEM_RPC_MSG_MAX - 4u - SMEM_RPC_RESOURCES_HDR) / sizeof(struct smem_rpc_wire_resource))
_Static_assert(SMEM_RPC_RESOURCES_MAX == 332, "332 resources fill a message");

struct smem_rpc_wire_vm_exited {
	uint16_t vmid;
	uint16_t exit_type; /* enum smem_rpc_exit_type */
	uint32_t exit_reason_size;
	uint8_t reason[];
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vm_exited) == 8, "VM_EXITED is 8 bytes + reason");
_Static_assert(offsetof(struct smem_rpc_wire_vm_exited, exit_type) == 2, "exit_type at 2");
_Static_assert(offsetof(struct smem_rpc_wire_vm_exited, exit_reason_size) == 4, "size at 4");

struct smem_rpc_wire_vm_shutdown {
	uint32_t stop_reason;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vm_shutdown) == 4, "VM_SHUTDOWN is 4 bytes");

struct smem_rpc_wire_vm_status {
	uint16_t vmid;
	uint16_t reserved;
	uint8_t vm_status;
	uint8_t os_status;
	uint16_t app_status;
} __attribute__((packed));
_Static_assert(sizeof(struct smem_rpc_wire_vm_status) == 8, "VM_STATUS is 8 bytes");
_Static_assert(offsetof(struct smem_rpc_wire_vm_status, vm_status) == 4, "vm_status at 4");
_Static_assert(offsetof(struct smem_rpc_wire_vm_status, os_status) == 5, "os_status at 5");
_Static_assert(offsetof(struct smem_rpc_wire_vm_status, app_status) == 6, "app_status at 6");

/* Decoded payloads, in host order. */
struct smem_rpc_vm_stop {
	uint16_t vmid;
	uint8_t flags;
	uint32_t stop_reason;
};

struct smem_rpc_vm_exit {
	uint16_t exit_flags;
	uint8_t exit_code;
};

struct smem_rpc_vm_state_reply {
	uint8_t vm_state; /* enum smem_rpc_vm_state */
	uint8_t os_state; /* enum smem_rpc_os_state */
	uint16_t app_status;
};

struct smem_rpc_resource {
	uint8_t type; /* enum smem_rpc_resource_type */
	uint16_t partner_vmid;
	uint32_t resource_handle;
	uint32_t resource_label;
	uint64_t cap_id;
	uint32_t virq_handle;
	uint32_t virq;
	uint64_t base;
	uint64_t size;
};

struct smem_rpc_vm_exited {
	uint16_t vmid;
	uint16_t exit_type;
	uint32_t reason_size;
	const uint8_t *reason; /* points into the decoded payload */
};

struct smem_rpc_vm_status {
	uint16_t vmid;
	uint8_t vm_status;
	uint8_t os_status;
	uint16_t app_status;
};

/* A whole message: what the fragmenter takes and the reassembler delivers. */
struct smem_rpc_msg {
	uint8_t type; /* SMEM_RPC_REQUEST, _REPLY or _NOTIFICATION */
	uint16_t seq;
	uint32_t msg_id;
	const uint8_t *data;
	size_t len; /* 0..SMEM_RPC_MSG_MAX */
};

/**
 * smem__rpc_errno() - the Linux errno of an RM error code
 * @rm_error: the le32 that opens a reply, in host order
 *
 * OK is 0; UNIMPLEMENTED -EOPNOTSUPP; NOMEM -ENOMEM; NORESOURCE -ENODEV; DENIED
 * -EPERM; MSG_INVALID and ARGUMENT_INVALID..IRQ_RELEASED -EINVAL; BUSY -EBUSY.
 * Codes Linux does not know (IN_USE, IRQ_NOT_MAPPED, VM_STATE and any other)
 * are -EBADMSG, as Linux maps them.
 *
 * Context: any.
 * Return: 0 or a negative errno, as above.
 */
int smem__rpc_errno(uint32_t rm_error);

/**
 * smem__rpc_error_name() - the name of an RM error code, for messages
 * @rm_error: the code
 *
 * Context: any.
 * Return: a static string such as "OK" or "VM_STATE"; "unknown" for a code that
 * §2.5 of the specification does not list.
 */
const char *smem__rpc_error_name(uint32_t rm_error);

/**
 * smem__rpc_hdr_encode() - write an 8-byte header
 * @h: the header; a REQUEST must have a non-zero msg_id
 * @out: SMEM_RPC_HDR_SIZE bytes
 *
 * Context: any.
 * Return: SMEM_RPC_HDR_SIZE; -EINVAL for NULL pointers, a type above 3, a count
 * above SMEM_RPC_MAX_CONT, or a REQUEST with the reserved msg_id 0.
 */
int smem__rpc_hdr_encode(const struct smem_rpc_hdr *h, void *out);

/**
 * smem__rpc_hdr_decode() - read the header that opens a packet
 * @pkt: the packet
 * @len: its length
 * @ret: the header
 *
 * Only the header is checked; the packet's length against SMEM_RPC_FRAG_MAX and
 * the continuation rules are the reassembler's.
 *
 * Context: any.
 * Return: 0; 1 if the header is valid but carries the reserved msg_id 0 (a
 * dispatcher drops such a message); -EINVAL for NULL pointers; -EBADMSG for a
 * packet under 8 bytes, an API byte other than 0x21 or a count above 62.
 */
int smem__rpc_hdr_decode(const void *pkt, size_t len, struct smem_rpc_hdr *ret);

/**
 * smem__rpc_nfrags() - the continuation count of a message of @len bytes
 * @len: the message's length
 *
 * Context: any.
 * Return: ceil(@len / 232) - 1, or 0 for an empty message; -EMSGSIZE if @len is
 * over SMEM_RPC_MSG_MAX.
 */
int smem__rpc_nfrags(size_t len);

/**
 * smem__rpc_fragment() - build fragment @i of a message
 * @m: the message
 * @i: 0 for the first fragment, up to smem__rpc_nfrags(@m->len)
 * @out: SMEM_RPC_FRAG_MAX bytes, the packet to send
 *
 * The first fragment carries @m->type; the others are CONT with the same seq,
 * msg_id and count. Every fragment but the last is SMEM_RPC_FRAG_MAX bytes.
 *
 * Context: any.
 * Return: the packet's length, 8..SMEM_RPC_FRAG_MAX; -EINVAL for NULL pointers
 * (a NULL @m->data is allowed with length 0), a type that is not REQUEST, REPLY
 * or NOTIFICATION, a REQUEST with msg_id 0, or an @i past the last fragment;
 * -EMSGSIZE if @m->len is over SMEM_RPC_MSG_MAX.
 */
int smem__rpc_fragment(const struct smem_rpc_msg *m, unsigned i, void *out);

/* Why the reassembler dropped a packet. */
enum smem_rpc_drop {
	SMEM_RPC_DROP_NONE = 0,
	SMEM_RPC_DROP_SHORT,         /* under SMEM_RPC_HDR_SIZE bytes */
	SMEM_RPC_DROP_LONG,          /* over SMEM_RPC_FRAG_MAX bytes */
	SMEM_RPC_DROP_API,           /* API byte other than 0x21 */
	SMEM_RPC_DROP_NFRAGS,        /* count over SMEM_RPC_MAX_CONT */
	SMEM_RPC_DROP_CONT_ORPHAN,   /* CONT with no message in progress */
	SMEM_RPC_DROP_CONT_MISMATCH, /* CONT whose msg_id, seq or count differ */
};

/**
 * smem__rpc_drop_name() - the name of a drop reason, for messages
 * @drop: enum smem_rpc_drop
 *
 * Context: any.
 * Return: a static string; "unknown" for a value out of the enum.
 */
const char *smem__rpc_drop_name(unsigned drop);

/* One link's reassembly state: at most one message in progress. */
struct smem_rpc_rx {
	bool active;             /* a message is in progress */
	struct smem_rpc_hdr hdr; /* its first fragment's header */
	unsigned got;            /* continuation fragments received so far */
	size_t len;              /* bytes of data in buf */
	uint8_t buf[SMEM_RPC_MSG_MAX];
};

/* What smem__rpc_rx_push() returns: a mask of these, or 0 when more is needed. */
#define SMEM_RPC_RX_MORE     0x0 /* the packet was taken; the message is not complete */
#define SMEM_RPC_RX_COMPLETE 0x1 /* ev->msg is a complete message */
#define SMEM_RPC_RX_ABORTED  0x2 /* the packet discarded a partial message: ev->aborted */
#define SMEM_RPC_RX_DROPPED  0x4 /* the packet was dropped (ev->drop); any partial is kept */

struct smem_rpc_rx_event {
	struct smem_rpc_msg msg;     /* SMEM_RPC_RX_COMPLETE; data valid until the next push */
	struct smem_rpc_hdr aborted; /* SMEM_RPC_RX_ABORTED: the discarded message's first header */
	unsigned drop;               /* SMEM_RPC_RX_DROPPED: enum smem_rpc_drop */
};

/**
 * smem__rpc_rx_init() - forget any message in progress
 * @rx: the link's state; also what a link reset calls
 *
 * Context: any; @rx is owned by one thread at a time.
 */
void smem__rpc_rx_init(struct smem_rpc_rx *rx);

/**
 * smem__rpc_rx_push() - take one packet received on the link
 * @rx: the link's state, set up by smem__rpc_rx_init()
 * @pkt: the packet; it must not point into @rx
 * @len: its length
 * @ev: what happened, written whenever the return is not negative
 *
 * A packet is dropped, and any partial message kept, if it is under 8 or over
 * 240 bytes, if its API byte is not 0x21 or its count is over 62, if it is a CONT
 * with no message in progress, or a CONT whose msg_id, seq or count differ from
 * the message in progress. A valid packet of another type discards the partial
 * message (SMEM_RPC_RX_ABORTED, whose waiter a client fails with -EIO) and opens
 * a new one, which completes at once if its count is 0. A message completes
 * when its count of continuations has arrived; its data is the concatenation of
 * the fragments' data. A message with msg_id 0 is delivered like any other; the
 * dispatcher drops it.
 *
 * Context: any; @rx is owned by one thread at a time.
 * Return: SMEM_RPC_RX_MORE (0); SMEM_RPC_RX_COMPLETE, SMEM_RPC_RX_ABORTED, or
 * both; SMEM_RPC_RX_DROPPED; or -EINVAL for a NULL @rx or @ev, or a NULL @pkt
 * with a non-zero @len.
 */
int smem__rpc_rx_push(struct smem_rpc_rx *rx, const void *pkt, size_t len,
		      struct smem_rpc_rx_event *ev);

/*
 * Payload helpers. An encoder writes into @buf of @size bytes and returns the
 * length written, or -EINVAL for NULL pointers, -ENOSPC if @size is too small,
 * -EMSGSIZE if the result could not travel in one message. A decoder takes the
 * payload (for a reply: what follows the error word) and returns 0, -EINVAL for
 * NULL pointers, or -EBADMSG if the length does not match the layout. Decoders
 * ignore reserved fields; encoders write them as 0.
 */

/**
 * smem__rpc_reply_build() - write a reply's data: le32 @rm_error, then @payload
 * @rm_error: the RM error code
 * @payload: the call-specific payload, may be NULL if @len is 0
 * @len: its length
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4 + @len; -EINVAL; -ENOSPC; -EMSGSIZE if 4 + @len is over SMEM_RPC_MSG_MAX.
 */
int smem__rpc_reply_build(uint32_t rm_error, const void *payload, size_t len, void *buf,
			  size_t size);

/**
 * smem__rpc_reply_split() - take the error word off a reply's data
 * @data: the reply's data
 * @len: its length
 * @ret_error: the RM error code
 * @ret_payload: the payload that follows it
 * @ret_len: the payload's length
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL pointers; -EBADMSG for a reply under 4 bytes.
 */
int smem__rpc_reply_split(const void *data, size_t len, uint32_t *ret_error,
			  const uint8_t **ret_payload, size_t *ret_len);

/**
 * smem__rpc_vmid_req_encode() - {u16 vmid, u16 0}, the request of VM_ALLOCATE,
 * VM_DEALLOCATE, VM_START, VM_RESET, VM_GET_STATE and VM_GET_HYP_RESOURCES
 * @vmid: the VM
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4; -EINVAL; -ENOSPC.
 */
int smem__rpc_vmid_req_encode(uint16_t vmid, void *buf, size_t size);

/**
 * smem__rpc_vmid_req_decode() - read {u16 vmid, u16 0}
 * @p: the request's data
 * @len: its length, which must be 4
 * @ret_vmid: the VM
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vmid_req_decode(const void *p, size_t len, uint16_t *ret_vmid);

/**
 * smem__rpc_vm_stop_encode() - the VM_STOP request {u16 vmid, u8 flags, u8 0, u32 reason}
 * @s: the request
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 8; -EINVAL, also for flag bits other than SMEM_RPC_STOP_FORCE; -ENOSPC.
 */
int smem__rpc_vm_stop_encode(const struct smem_rpc_vm_stop *s, void *buf, size_t size);

/**
 * smem__rpc_vm_stop_decode() - read a VM_STOP request
 * @p: the request's data
 * @len: its length, which must be 8 (the RM's rule)
 * @ret: the request; the flags as sent, unknown bits included
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vm_stop_decode(const void *p, size_t len, struct smem_rpc_vm_stop *ret);

/**
 * smem__rpc_vm_exit_encode() - the VM_EXIT request {u16 exit_flags, u8 exit_code, u8 0}
 * @e: the request
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4; -EINVAL; -ENOSPC.
 */
int smem__rpc_vm_exit_encode(const struct smem_rpc_vm_exit *e, void *buf, size_t size);

/**
 * smem__rpc_vm_exit_decode() - read a VM_EXIT request
 * @p: the request's data
 * @len: its length, which must be 4
 * @ret: the request, codes as sent (rejecting code 2 is the RM's business)
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vm_exit_decode(const void *p, size_t len, struct smem_rpc_vm_exit *ret);

/**
 * smem__rpc_vm_state_encode() - the VM_GET_STATE reply payload, one le32
 * @s: the state
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4; -EINVAL; -ENOSPC.
 */
int smem__rpc_vm_state_encode(const struct smem_rpc_vm_state_reply *s, void *buf, size_t size);

/**
 * smem__rpc_vm_state_decode() - read a VM_GET_STATE reply payload
 * @p: the payload after the error word
 * @len: its length, which must be 4
 * @ret: the state
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vm_state_decode(const void *p, size_t len, struct smem_rpc_vm_state_reply *ret);

/**
 * smem__rpc_vmid_reply_encode() - the VM_GET_VMID (or dynamic VM_ALLOCATE) reply payload
 * @vmid: the VMID, sent as a le32
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4; -EINVAL; -ENOSPC.
 */
int smem__rpc_vmid_reply_encode(uint32_t vmid, void *buf, size_t size);

/**
 * smem__rpc_vmid_reply_decode() - read a VM_GET_VMID reply payload
 * @p: the payload after the error word
 * @len: its length, which must be 4
 * @ret_vmid: the VMID
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vmid_reply_decode(const void *p, size_t len, uint32_t *ret_vmid);

/**
 * smem__rpc_resources_encode() - the VM_GET_HYP_RESOURCES reply payload
 * @r: @n resources
 * @n: how many, at most SMEM_RPC_RESOURCES_MAX
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4 + 44 * @n; -EINVAL (a NULL @r is allowed when @n is 0); -ENOSPC;
 * -EMSGSIZE if @n is over SMEM_RPC_RESOURCES_MAX.
 */
int smem__rpc_resources_encode(const struct smem_rpc_resource *r, uint32_t n, void *buf,
			       size_t size);

/**
 * smem__rpc_resources_count() - check a VM_GET_HYP_RESOURCES reply payload
 * @p: the payload after the error word
 * @len: its length, which must be exactly 4 + 44 * n (computed in 64 bits)
 * @ret_n: n, the number of entries
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG for a payload under 4 bytes or of another length.
 */
int smem__rpc_resources_count(const void *p, size_t len, uint32_t *ret_n);

/**
 * smem__rpc_resource_get() - read entry @i of a VM_GET_HYP_RESOURCES reply payload
 * @p: the payload after the error word
 * @len: its length
 * @i: the entry, below n
 * @ret: the entry
 *
 * Checks the payload as smem__rpc_resources_count() does, every time, so a
 * caller cannot read past it.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL pointers; -EBADMSG as smem__rpc_resources_count();
 * -ENOENT if @i is not below n.
 */
int smem__rpc_resource_get(const void *p, size_t len, uint32_t i, struct smem_rpc_resource *ret);

/**
 * smem__rpc_vm_exited_encode() - the VM_EXITED notification
 * @e: vmid, exit type, and @e->reason_size bytes at @e->reason (NULL if 0)
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 8 + @e->reason_size; -EINVAL; -ENOSPC; -EMSGSIZE if it is over
 * SMEM_RPC_MSG_MAX.
 */
int smem__rpc_vm_exited_encode(const struct smem_rpc_vm_exited *e, void *buf, size_t size);

/**
 * smem__rpc_vm_exited_decode() - read a VM_EXITED notification
 * @p: the notification's data
 * @len: its length: 8 + exit_reason_size or more (bytes after the reason are
 *       ignored, as padding)
 * @ret: the notification; @ret->reason points into @p
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG for a notification under 8 bytes or a reason
 * size over what follows the 8 bytes.
 */
int smem__rpc_vm_exited_decode(const void *p, size_t len, struct smem_rpc_vm_exited *ret);

/**
 * smem__rpc_vm_shutdown_encode() - the VM_SHUTDOWN notification {u32 stop_reason}
 * @stop_reason: the reason the owner gave VM_STOP
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 4; -EINVAL; -ENOSPC.
 */
int smem__rpc_vm_shutdown_encode(uint32_t stop_reason, void *buf, size_t size);

/**
 * smem__rpc_vm_shutdown_decode() - read a VM_SHUTDOWN notification
 * @p: the notification's data
 * @len: its length, which must be 4
 * @ret_reason: the stop reason
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vm_shutdown_decode(const void *p, size_t len, uint32_t *ret_reason);

/**
 * smem__rpc_vm_status_encode() - the VM_STATUS notification
 * @s: the status
 * @buf: where to write
 * @size: bytes at @buf
 *
 * Context: any.
 * Return: 8; -EINVAL; -ENOSPC.
 */
int smem__rpc_vm_status_encode(const struct smem_rpc_vm_status *s, void *buf, size_t size);

/**
 * smem__rpc_vm_status_decode() - read a VM_STATUS notification
 * @p: the notification's data
 * @len: its length, which must be 8
 * @ret: the status
 *
 * Context: any.
 * Return: 0; -EINVAL; -EBADMSG.
 */
int smem__rpc_vm_status_decode(const void *p, size_t len, struct smem_rpc_vm_status *ret);

#endif
