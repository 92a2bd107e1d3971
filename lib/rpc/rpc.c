// SPDX-License-Identifier: MIT
/*
 * The Resource Manager RPC codec (spec §2): headers, fragments, reassembly and
 * the payloads of the VM lifecycle calls, byte-exact with Gunyah's RM and Linux.
 *
 * Fragments. A message of len bytes travels as 1 + nfrags packets, nfrags =
 * ceil(len / 232) - 1 (0 when empty); every packet is an 8-byte header and up to
 * 232 bytes of data. The first carries the message's type, the others CONT, and
 * all of them the same seq, msg_id and count. We send every fragment but the
 * last full, as both real senders do, and up to 63 fragments (14616 bytes, the
 * RM's limit, §9.5); SMEM_RPC_MSG_MAX_LINUX is what a client should keep to.
 *
 * Reassembly. One message in progress per link, in a buffer inside struct
 * smem_rpc_rx sized for the largest message. The receiver does not require a
 * non-final fragment to be full: the RM and Linux both append whatever data a
 * fragment holds and count fragments, not bytes, so a short middle fragment is
 * legal on their wire and is legal here; the message is the concatenation. A
 * packet over 240 bytes cannot come out of a real RM queue, and is dropped.
 * The drop rules follow the RM (R2 do_recv), which is stricter than Linux:
 * a CONT whose msg_id, seq or count differ from the partial message is dropped
 * and the partial kept (Linux would abort it), so a stray fragment cannot cost
 * a good message. A new REQUEST, REPLY or NOTIFICATION aborts the partial, which
 * the caller is told about so that a client can fail that waiter with -EIO.
 * What to do after a bad API byte (Linux stops draining for that interrupt) is
 * the transport's business; here it is one dropped packet.
 *
 * Bounds. A fragment adds at most 232 bytes and a message has at most 63
 * fragments, so the buffer cannot overflow; the append still checks. Every
 * packet and payload read is against its length first, and fields are read
 * with byte copies at the offsets of the wire structures of rpc.h, so a packed,
 * unaligned field is never read through a cast.
 *
 * Payloads. Fixed layouts are decoded only at their exact length (the RM's rule
 * for VM_STOP and VM_ALLOCATE, kept for every fixed layout so that a truncated
 * or padded request is MSG_INVALID rather than half read). Reserved fields are
 * written as 0 and ignored on decode, as the RM ignores them.
 */
#include "rpc/rpc.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"

/* Error codes 0..0x14, in order; UNIMPLEMENTED is handled apart. */
static const struct {
	const char *name;
	int err;
} rm_errors[] = {
	[SMEM_RPC_ERR_OK] = { "OK", 0 },
	[SMEM_RPC_ERR_NOMEM] = { "NOMEM", -ENOMEM },
	[SMEM_RPC_ERR_NORESOURCE] = { "NORESOURCE", -ENODEV },
	[SMEM_RPC_ERR_DENIED] = { "DENIED", -EPERM },
	[SMEM_RPC_ERR_MSG_INVALID] = { "MSG_INVALID", -EINVAL },
	[SMEM_RPC_ERR_BUSY] = { "BUSY", -EBUSY },
	[SMEM_RPC_ERR_ARGUMENT_INVALID] = { "ARGUMENT_INVALID", -EINVAL },
	[SMEM_RPC_ERR_HANDLE_INVALID] = { "HANDLE_INVALID", -EINVAL },
	[SMEM_RPC_ERR_VALIDATE_FAILED] = { "VALIDATE_FAILED", -EINVAL },
	[SMEM_RPC_ERR_MAP_FAILED] = { "MAP_FAILED", -EINVAL },
	[SMEM_RPC_ERR_MEM_INVALID] = { "MEM_INVALID", -EINVAL },
	[SMEM_RPC_ERR_MEM_INUSE] = { "MEM_INUSE", -EINVAL },
	[SMEM_RPC_ERR_MEM_RELEASED] = { "MEM_RELEASED", -EINVAL },
	[SMEM_RPC_ERR_VMID_INVALID] = { "VMID_INVALID", -EINVAL },
	[SMEM_RPC_ERR_LOOKUP_FAILED] = { "LOOKUP_FAILED", -EINVAL },
	[SMEM_RPC_ERR_IRQ_INVALID] = { "IRQ_INVALID", -EINVAL },
	[SMEM_RPC_ERR_IRQ_INUSE] = { "IRQ_INUSE", -EINVAL },
	[SMEM_RPC_ERR_IRQ_RELEASED] = { "IRQ_RELEASED", -EINVAL },
	/* The RM's own codes, which Linux does not know: -EBADMSG there. */
	[SMEM_RPC_ERR_IN_USE] = { "IN_USE", -EBADMSG },
	[SMEM_RPC_ERR_IRQ_NOT_MAPPED] = { "IRQ_NOT_MAPPED", -EBADMSG },
	[SMEM_RPC_ERR_VM_STATE] = { "VM_STATE", -EBADMSG },
};

int smem__rpc_errno(uint32_t rm_error)
{
	if (rm_error == SMEM_RPC_ERR_UNIMPLEMENTED)
		return -EOPNOTSUPP;
	if (rm_error < ARRAY_SIZE(rm_errors))
		return rm_errors[rm_error].err;
	return -EBADMSG;
}

const char *smem__rpc_error_name(uint32_t rm_error)
{
	if (rm_error == SMEM_RPC_ERR_UNIMPLEMENTED)
		return "UNIMPLEMENTED";
	if (rm_error < ARRAY_SIZE(rm_errors))
		return rm_errors[rm_error].name;
	return "unknown";
}

static const char *const drop_names[] = {
	[SMEM_RPC_DROP_NONE] = "none",
	[SMEM_RPC_DROP_SHORT] = "short packet",
	[SMEM_RPC_DROP_LONG] = "packet over 240 bytes",
	[SMEM_RPC_DROP_API] = "bad API byte",
	[SMEM_RPC_DROP_NFRAGS] = "fragment count over 62",
	[SMEM_RPC_DROP_CONT_ORPHAN] = "continuation with no message in progress",
	[SMEM_RPC_DROP_CONT_MISMATCH] = "continuation of another message",
};

const char *smem__rpc_drop_name(unsigned drop)
{
	return drop < ARRAY_SIZE(drop_names) ? drop_names[drop] : "unknown";
}

int smem__rpc_hdr_encode(const struct smem_rpc_hdr *h, void *out)
{
	uint8_t *p = out;

	if (!h || !out || h->type > SMEM_RPC_NOTIFICATION || h->nfrags > SMEM_RPC_MAX_CONT)
		return -EINVAL;
	if (h->type == SMEM_RPC_REQUEST && h->msg_id == SMEM_RPC_MSG_ID_RESERVED)
		return -EINVAL;
	p[offsetof(struct smem_rpc_wire_hdr, api)] = SMEM_RPC_API;
	p[offsetof(struct smem_rpc_wire_hdr, type_frags)] = (uint8_t)(h->type | h->nfrags << 2);
	put_le16(p + offsetof(struct smem_rpc_wire_hdr, seq), h->seq);
	put_le32(p + offsetof(struct smem_rpc_wire_hdr, msg_id), h->msg_id);
	return SMEM_RPC_HDR_SIZE;
}

/* The header checks, with the reason a receiver drops a packet that fails them. */
static unsigned hdr_read(const uint8_t *p, size_t len, struct smem_rpc_hdr *h)
{
	uint8_t tf;

	if (len < SMEM_RPC_HDR_SIZE)
		return SMEM_RPC_DROP_SHORT;
	if (p[offsetof(struct smem_rpc_wire_hdr, api)] != SMEM_RPC_API)
		return SMEM_RPC_DROP_API;
	tf = p[offsetof(struct smem_rpc_wire_hdr, type_frags)];
	if (tf >> 2 > SMEM_RPC_MAX_CONT)
		return SMEM_RPC_DROP_NFRAGS;
	h->type = tf & 3u;
	h->nfrags = tf >> 2;
	h->seq = get_le16(p + offsetof(struct smem_rpc_wire_hdr, seq));
	h->msg_id = get_le32(p + offsetof(struct smem_rpc_wire_hdr, msg_id));
	return SMEM_RPC_DROP_NONE;
}

int smem__rpc_hdr_decode(const void *pkt, size_t len, struct smem_rpc_hdr *ret)
{
	struct smem_rpc_hdr h;

	if (!pkt || !ret)
		return -EINVAL;
	if (hdr_read(pkt, len, &h) != SMEM_RPC_DROP_NONE)
		return -EBADMSG;
	*ret = h;
	return h.msg_id == SMEM_RPC_MSG_ID_RESERVED;
}

int smem__rpc_nfrags(size_t len)
{
	if (len > SMEM_RPC_MSG_MAX)
		return -EMSGSIZE;
	return len ? (int)((len - 1) / SMEM_RPC_FRAG_DATA) : 0;
}

int smem__rpc_fragment(const struct smem_rpc_msg *m, unsigned i, void *out)
{
	struct smem_rpc_hdr h;
	size_t off, n;
	int nfrags, r;

	if (!m || !out || (!m->data && m->len))
		return -EINVAL;
	if (m->type != SMEM_RPC_REQUEST && m->type != SMEM_RPC_REPLY &&
	    m->type != SMEM_RPC_NOTIFICATION)
		return -EINVAL;
	/* A REQUEST with msg_id 0 is refused for each of its fragments. */
	if (m->type == SMEM_RPC_REQUEST && m->msg_id == SMEM_RPC_MSG_ID_RESERVED)
		return -EINVAL;
	nfrags = smem__rpc_nfrags(m->len);
	if (nfrags < 0)
		return nfrags;
	if (i > (unsigned)nfrags)
		return -EINVAL;
	h = (struct smem_rpc_hdr){
		.type = i ? SMEM_RPC_CONT : m->type,
		.nfrags = (uint8_t)nfrags,
		.seq = m->seq,
		.msg_id = m->msg_id,
	};
	r = smem__rpc_hdr_encode(&h, out);
	if (r < 0)
		return r;
	off = (size_t)i * SMEM_RPC_FRAG_DATA;
	n = m->len - off < SMEM_RPC_FRAG_DATA ? m->len - off : SMEM_RPC_FRAG_DATA;
	if (n)
		memcpy((uint8_t *)out + SMEM_RPC_HDR_SIZE, m->data + off, n);
	return (int)(SMEM_RPC_HDR_SIZE + n);
}

void smem__rpc_rx_init(struct smem_rpc_rx *rx)
{
	rx->active = false;
	rx->hdr = (struct smem_rpc_hdr){ 0 };
	rx->got = 0;
	rx->len = 0;
}

static int rx_drop(struct smem_rpc_rx_event *ev, unsigned why)
{
	ev->drop = why;
	return SMEM_RPC_RX_DROPPED;
}

static int rx_complete(struct smem_rpc_rx *rx, struct smem_rpc_rx_event *ev)
{
	rx->active = false;
	ev->msg = (struct smem_rpc_msg){
		.type = rx->hdr.type,
		.seq = rx->hdr.seq,
		.msg_id = rx->hdr.msg_id,
		.data = rx->buf,
		.len = rx->len,
	};
	return SMEM_RPC_RX_COMPLETE;
}

int smem__rpc_rx_push(struct smem_rpc_rx *rx, const void *pkt, size_t len,
		      struct smem_rpc_rx_event *ev)
{
	const uint8_t *p = pkt, *data;
	struct smem_rpc_hdr h;
	unsigned why;
	size_t n;
	int ret = SMEM_RPC_RX_MORE;

	if (!rx || !ev || (!pkt && len))
		return -EINVAL;
	*ev = (struct smem_rpc_rx_event){ .drop = SMEM_RPC_DROP_NONE };
	if (len > SMEM_RPC_FRAG_MAX)
		return rx_drop(ev, SMEM_RPC_DROP_LONG);
	why = hdr_read(p, len, &h);
	if (why != SMEM_RPC_DROP_NONE)
		return rx_drop(ev, why);
	data = p + SMEM_RPC_HDR_SIZE;
	n = len - SMEM_RPC_HDR_SIZE;

	if (h.type == SMEM_RPC_CONT) {
		if (!rx->active)
			return rx_drop(ev, SMEM_RPC_DROP_CONT_ORPHAN);
		if (h.msg_id != rx->hdr.msg_id || h.seq != rx->hdr.seq ||
		    h.nfrags != rx->hdr.nfrags)
			return rx_drop(ev, SMEM_RPC_DROP_CONT_MISMATCH);
		/* got < nfrags <= 62, so len <= 62 * 232 and n <= 232: always fits. */
		if (n > sizeof(rx->buf) - rx->len)
			return rx_drop(ev, SMEM_RPC_DROP_LONG);
		memcpy(rx->buf + rx->len, data, n);
		rx->len += n;
		if (++rx->got == rx->hdr.nfrags)
			return rx_complete(rx, ev);
		return SMEM_RPC_RX_MORE;
	}

	if (rx->active) {
		ev->aborted = rx->hdr;
		ret |= SMEM_RPC_RX_ABORTED;
	}
	rx->hdr = h;
	rx->got = 0;
	memcpy(rx->buf, data, n);
	rx->len = n;
	rx->active = h.nfrags != 0;
	if (!rx->active)
		ret |= rx_complete(rx, ev);
	return ret;
}

int smem__rpc_reply_build(uint32_t rm_error, const void *payload, size_t len, void *buf,
			  size_t size)
{
	if (!buf || (!payload && len))
		return -EINVAL;
	if (len > SMEM_RPC_MSG_MAX - 4)
		return -EMSGSIZE;
	if (size < 4 + len)
		return -ENOSPC;
	put_le32(buf, rm_error);
	if (len)
		memmove((uint8_t *)buf + 4, payload, len);
	return (int)(4 + len);
}

int smem__rpc_reply_split(const void *data, size_t len, uint32_t *ret_error,
			  const uint8_t **ret_payload, size_t *ret_len)
{
	if (!data || !ret_error || !ret_payload || !ret_len)
		return -EINVAL;
	if (len < 4)
		return -EBADMSG;
	*ret_error = get_le32(data);
	*ret_payload = (const uint8_t *)data + 4;
	*ret_len = len - 4;
	return 0;
}

/*
 * The common head of a fixed-layout encoder: zero the @need bytes so reserved
 * fields are 0, or say why they cannot be written.
 */
static int enc_start(void *buf, size_t size, size_t need)
{
	if (!buf)
		return -EINVAL;
	if (size < need)
		return -ENOSPC;
	memset(buf, 0, need);
	return 0;
}

int smem__rpc_vmid_req_encode(uint16_t vmid, void *buf, size_t size)
{
	int r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vmid_req));

	if (r < 0)
		return r;
	put_le16((uint8_t *)buf + offsetof(struct smem_rpc_wire_vmid_req, vmid), vmid);
	return sizeof(struct smem_rpc_wire_vmid_req);
}

int smem__rpc_vmid_req_decode(const void *p, size_t len, uint16_t *ret_vmid)
{
	if (!p || !ret_vmid)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vmid_req))
		return -EBADMSG;
	*ret_vmid = get_le16((const uint8_t *)p + offsetof(struct smem_rpc_wire_vmid_req, vmid));
	return 0;
}

int smem__rpc_vm_stop_encode(const struct smem_rpc_vm_stop *s, void *buf, size_t size)
{
	uint8_t *b = buf;
	int r;

	if (!s || s->flags & ~SMEM_RPC_STOP_FLAGS)
		return -EINVAL;
	r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vm_stop_req));
	if (r < 0)
		return r;
	put_le16(b + offsetof(struct smem_rpc_wire_vm_stop_req, vmid), s->vmid);
	b[offsetof(struct smem_rpc_wire_vm_stop_req, flags)] = s->flags;
	put_le32(b + offsetof(struct smem_rpc_wire_vm_stop_req, stop_reason), s->stop_reason);
	return sizeof(struct smem_rpc_wire_vm_stop_req);
}

int smem__rpc_vm_stop_decode(const void *p, size_t len, struct smem_rpc_vm_stop *ret)
{
	const uint8_t *b = p;

	if (!p || !ret)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vm_stop_req))
		return -EBADMSG;
	*ret = (struct smem_rpc_vm_stop){
		.vmid = get_le16(b + offsetof(struct smem_rpc_wire_vm_stop_req, vmid)),
		.flags = b[offsetof(struct smem_rpc_wire_vm_stop_req, flags)],
		.stop_reason = get_le32(b + offsetof(struct smem_rpc_wire_vm_stop_req, stop_reason)),
	};
	return 0;
}

int smem__rpc_vm_exit_encode(const struct smem_rpc_vm_exit *e, void *buf, size_t size)
{
	uint8_t *b = buf;
	int r;

	if (!e)
		return -EINVAL;
	r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vm_exit_req));
	if (r < 0)
		return r;
	put_le16(b + offsetof(struct smem_rpc_wire_vm_exit_req, exit_flags), e->exit_flags);
	b[offsetof(struct smem_rpc_wire_vm_exit_req, exit_code)] = e->exit_code;
	return sizeof(struct smem_rpc_wire_vm_exit_req);
}

int smem__rpc_vm_exit_decode(const void *p, size_t len, struct smem_rpc_vm_exit *ret)
{
	const uint8_t *b = p;

	if (!p || !ret)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vm_exit_req))
		return -EBADMSG;
	*ret = (struct smem_rpc_vm_exit){
		.exit_flags = get_le16(b + offsetof(struct smem_rpc_wire_vm_exit_req, exit_flags)),
		.exit_code = b[offsetof(struct smem_rpc_wire_vm_exit_req, exit_code)],
	};
	return 0;
}

int smem__rpc_vm_state_encode(const struct smem_rpc_vm_state_reply *s, void *buf, size_t size)
{
	int r;

	if (!s)
		return -EINVAL;
	r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vm_state));
	if (r < 0)
		return r;
	put_le32(buf, (uint32_t)s->vm_state | (uint32_t)s->os_state << 8 |
			      (uint32_t)s->app_status << 16);
	return sizeof(struct smem_rpc_wire_vm_state);
}

int smem__rpc_vm_state_decode(const void *p, size_t len, struct smem_rpc_vm_state_reply *ret)
{
	uint32_t v;

	if (!p || !ret)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vm_state))
		return -EBADMSG;
	v = get_le32((const uint8_t *)p + offsetof(struct smem_rpc_wire_vm_state, state));
	*ret = (struct smem_rpc_vm_state_reply){
		.vm_state = (uint8_t)v,
		.os_state = (uint8_t)(v >> 8),
		.app_status = (uint16_t)(v >> 16),
	};
	return 0;
}

int smem__rpc_vmid_reply_encode(uint32_t vmid, void *buf, size_t size)
{
	int r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vmid_reply));

	if (r < 0)
		return r;
	put_le32((uint8_t *)buf + offsetof(struct smem_rpc_wire_vmid_reply, vmid), vmid);
	return sizeof(struct smem_rpc_wire_vmid_reply);
}

int smem__rpc_vmid_reply_decode(const void *p, size_t len, uint32_t *ret_vmid)
{
	if (!p || !ret_vmid)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vmid_reply))
		return -EBADMSG;
	*ret_vmid = get_le32((const uint8_t *)p + offsetof(struct smem_rpc_wire_vmid_reply, vmid));
	return 0;
}

#define RES_SIZE sizeof(struct smem_rpc_wire_resource)
#define RES_FIELD(b, f) ((b) + offsetof(struct smem_rpc_wire_resource, f))

int smem__rpc_resources_encode(const struct smem_rpc_resource *r, uint32_t n, void *buf,
			       size_t size)
{
	uint8_t *b = buf;
	size_t need;

	if (!buf || (!r && n))
		return -EINVAL;
	if (n > SMEM_RPC_RESOURCES_MAX)
		return -EMSGSIZE;
	need = SMEM_RPC_RESOURCES_HDR + (size_t)n * RES_SIZE;
	if (size < need)
		return -ENOSPC;
	memset(b, 0, need);
	put_le32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *e = b + SMEM_RPC_RESOURCES_HDR + (size_t)i * RES_SIZE;

		*RES_FIELD(e, type) = r[i].type;
		put_le16(RES_FIELD(e, partner_vmid), r[i].partner_vmid);
		put_le32(RES_FIELD(e, resource_handle), r[i].resource_handle);
		put_le32(RES_FIELD(e, resource_label), r[i].resource_label);
		put_le64(RES_FIELD(e, cap_id), r[i].cap_id);
		put_le32(RES_FIELD(e, virq_handle), r[i].virq_handle);
		put_le32(RES_FIELD(e, virq), r[i].virq);
		put_le64(RES_FIELD(e, base), r[i].base);
		put_le64(RES_FIELD(e, size), r[i].size);
	}
	return (int)need;
}

int smem__rpc_resources_count(const void *p, size_t len, uint32_t *ret_n)
{
	uint32_t n;

	if (!p || !ret_n)
		return -EINVAL;
	if (len < SMEM_RPC_RESOURCES_HDR)
		return -EBADMSG;
	n = get_le32(p);
	/* In 64 bits: 4 + 44 * n < 2^38 never wraps, so no n can alias a short len. */
	if ((uint64_t)len != SMEM_RPC_RESOURCES_HDR + (uint64_t)n * RES_SIZE)
		return -EBADMSG;
	*ret_n = n;
	return 0;
}

int smem__rpc_resource_get(const void *p, size_t len, uint32_t i, struct smem_rpc_resource *ret)
{
	const uint8_t *e;
	uint32_t n;
	int r;

	if (!ret)
		return -EINVAL;
	r = smem__rpc_resources_count(p, len, &n);
	if (r < 0)
		return r;
	if (i >= n)
		return -ENOENT;
	e = (const uint8_t *)p + SMEM_RPC_RESOURCES_HDR + (size_t)i * RES_SIZE;
	*ret = (struct smem_rpc_resource){
		.type = *RES_FIELD(e, type),
		.partner_vmid = get_le16(RES_FIELD(e, partner_vmid)),
		.resource_handle = get_le32(RES_FIELD(e, resource_handle)),
		.resource_label = get_le32(RES_FIELD(e, resource_label)),
		.cap_id = get_le64(RES_FIELD(e, cap_id)),
		.virq_handle = get_le32(RES_FIELD(e, virq_handle)),
		.virq = get_le32(RES_FIELD(e, virq)),
		.base = get_le64(RES_FIELD(e, base)),
		.size = get_le64(RES_FIELD(e, size)),
	};
	return 0;
}

int smem__rpc_vm_exited_encode(const struct smem_rpc_vm_exited *e, void *buf, size_t size)
{
	const size_t head = sizeof(struct smem_rpc_wire_vm_exited);
	uint8_t *b = buf;

	if (!e || !buf || (!e->reason && e->reason_size))
		return -EINVAL;
	if (e->reason_size > SMEM_RPC_MSG_MAX - head)
		return -EMSGSIZE;
	if (size < head + e->reason_size)
		return -ENOSPC;
	put_le16(b + offsetof(struct smem_rpc_wire_vm_exited, vmid), e->vmid);
	put_le16(b + offsetof(struct smem_rpc_wire_vm_exited, exit_type), e->exit_type);
	put_le32(b + offsetof(struct smem_rpc_wire_vm_exited, exit_reason_size), e->reason_size);
	if (e->reason_size)
		memmove(b + head, e->reason, e->reason_size);
	return (int)(head + e->reason_size);
}

int smem__rpc_vm_exited_decode(const void *p, size_t len, struct smem_rpc_vm_exited *ret)
{
	const size_t head = sizeof(struct smem_rpc_wire_vm_exited);
	const uint8_t *b = p;
	uint32_t rs;

	if (!p || !ret)
		return -EINVAL;
	if (len < head)
		return -EBADMSG;
	rs = get_le32(b + offsetof(struct smem_rpc_wire_vm_exited, exit_reason_size));
	if (rs > len - head)
		return -EBADMSG;
	*ret = (struct smem_rpc_vm_exited){
		.vmid = get_le16(b + offsetof(struct smem_rpc_wire_vm_exited, vmid)),
		.exit_type = get_le16(b + offsetof(struct smem_rpc_wire_vm_exited, exit_type)),
		.reason_size = rs,
		.reason = b + head,
	};
	return 0;
}

int smem__rpc_vm_shutdown_encode(uint32_t stop_reason, void *buf, size_t size)
{
	int r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vm_shutdown));

	if (r < 0)
		return r;
	put_le32((uint8_t *)buf + offsetof(struct smem_rpc_wire_vm_shutdown, stop_reason),
		 stop_reason);
	return sizeof(struct smem_rpc_wire_vm_shutdown);
}

int smem__rpc_vm_shutdown_decode(const void *p, size_t len, uint32_t *ret_reason)
{
	if (!p || !ret_reason)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vm_shutdown))
		return -EBADMSG;
	*ret_reason = get_le32((const uint8_t *)p +
			       offsetof(struct smem_rpc_wire_vm_shutdown, stop_reason));
	return 0;
}

int smem__rpc_vm_status_encode(const struct smem_rpc_vm_status *s, void *buf, size_t size)
{
	uint8_t *b = buf;
	int r;

	if (!s)
		return -EINVAL;
	r = enc_start(buf, size, sizeof(struct smem_rpc_wire_vm_status));
	if (r < 0)
		return r;
	put_le16(b + offsetof(struct smem_rpc_wire_vm_status, vmid), s->vmid);
	b[offsetof(struct smem_rpc_wire_vm_status, vm_status)] = s->vm_status;
	b[offsetof(struct smem_rpc_wire_vm_status, os_status)] = s->os_status;
	put_le16(b + offsetof(struct smem_rpc_wire_vm_status, app_status), s->app_status);
	return sizeof(struct smem_rpc_wire_vm_status);
}

int smem__rpc_vm_status_decode(const void *p, size_t len, struct smem_rpc_vm_status *ret)
{
	const uint8_t *b = p;

	if (!p || !ret)
		return -EINVAL;
	if (len != sizeof(struct smem_rpc_wire_vm_status))
		return -EBADMSG;
	*ret = (struct smem_rpc_vm_status){
		.vmid = get_le16(b + offsetof(struct smem_rpc_wire_vm_status, vmid)),
		.vm_status = b[offsetof(struct smem_rpc_wire_vm_status, vm_status)],
		.os_status = b[offsetof(struct smem_rpc_wire_vm_status, os_status)],
		.app_status = get_le16(b + offsetof(struct smem_rpc_wire_vm_status, app_status)),
	};
	return 0;
}
