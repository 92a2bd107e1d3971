// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the RM RPC codec under a hostile peer.
 *
 * The input is a stream of packets, each a length byte followed by that many
 * bytes (a length past the end takes what is left), pushed in order through one
 * reassembler, as a link would receive them. Every packet is copied into a heap
 * block of exactly its size, so the sanitizers catch a read outside it. For each
 * completed message:
 *   - its payload goes through the decoder its type and msg_id choose, and
 *     whatever decodes is encoded again and must decode to the same values;
 *   - it is fragmented again and pushed through a second reassembler, and must
 *     come out identical (type, seq, msg_id, data).
 * Any broken invariant abort()s, so it is a finding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smem_rpc_rx rx, rx2;
static uint8_t enc[SMEM_RPC_MSG_MAX];

static void check(int cond)
{
	if (!cond)
		abort();
}

static void request_payload(uint32_t id, const uint8_t *p, size_t n)
{
	struct smem_rpc_vm_stop s, s2;
	struct smem_rpc_vm_exit e, e2;
	uint16_t vmid, vmid2;
	int r;

	switch (id) {
	case SMEM_RPC_VM_ALLOCATE:
	case SMEM_RPC_VM_DEALLOCATE:
	case SMEM_RPC_VM_START:
	case SMEM_RPC_VM_RESET:
	case SMEM_RPC_VM_GET_STATE:
	case SMEM_RPC_VM_GET_HYP_RESOURCES:
		r = smem__rpc_vmid_req_decode(p, n, &vmid);
		check(r == (n == 4 ? 0 : -EBADMSG));
		if (r == 0) {
			check(smem__rpc_vmid_req_encode(vmid, enc, sizeof(enc)) == 4);
			check(smem__rpc_vmid_req_decode(enc, 4, &vmid2) == 0 && vmid2 == vmid);
		}
		break;
	case SMEM_RPC_VM_STOP:
		r = smem__rpc_vm_stop_decode(p, n, &s);
		check(r == (n == 8 ? 0 : -EBADMSG));
		if (r == 0) {
			r = smem__rpc_vm_stop_encode(&s, enc, sizeof(enc));
			check(r == (s.flags & ~SMEM_RPC_STOP_FLAGS ? -EINVAL : 8));
			if (r == 8) {
				check(smem__rpc_vm_stop_decode(enc, 8, &s2) == 0);
				check(s2.vmid == s.vmid && s2.flags == s.flags &&
				      s2.stop_reason == s.stop_reason);
			}
		}
		break;
	case SMEM_RPC_VM_EXIT:
		r = smem__rpc_vm_exit_decode(p, n, &e);
		check(r == (n == 4 ? 0 : -EBADMSG));
		if (r == 0) {
			check(smem__rpc_vm_exit_encode(&e, enc, sizeof(enc)) == 4);
			check(smem__rpc_vm_exit_decode(enc, 4, &e2) == 0);
			check(e2.exit_flags == e.exit_flags && e2.exit_code == e.exit_code);
		}
		break;
	}
}

/* Field by field: the padding of a decoded structure holds nothing in particular. */
static bool res_eq(const struct smem_rpc_resource *a, const struct smem_rpc_resource *b)
{
	return a->type == b->type && a->partner_vmid == b->partner_vmid &&
	       a->resource_handle == b->resource_handle && a->resource_label == b->resource_label &&
	       a->cap_id == b->cap_id && a->virq_handle == b->virq_handle && a->virq == b->virq &&
	       a->base == b->base && a->size == b->size;
}

static void resources(const uint8_t *p, size_t n)
{
	static struct smem_rpc_resource res[SMEM_RPC_RESOURCES_MAX];
	struct smem_rpc_resource a;
	uint32_t count;
	int r;

	r = smem__rpc_resources_count(p, n, &count);
	if (r < 0) {
		check(r == -EBADMSG);
		check(smem__rpc_resource_get(p, n, 0, &a) == -EBADMSG);
		return;
	}
	check(n == 4 + 44 * (size_t)count && count <= SMEM_RPC_RESOURCES_MAX);
	for (uint32_t i = 0; i < count; i++)
		check(smem__rpc_resource_get(p, n, i, &res[i]) == 0);
	check(smem__rpc_resource_get(p, n, count, &a) == -ENOENT);
	check(smem__rpc_resources_encode(res, count, enc, sizeof(enc)) == (int)n);
	for (uint32_t i = 0; i < count; i++) {
		check(smem__rpc_resource_get(enc, n, i, &a) == 0);
		check(res_eq(&a, &res[i]));
	}
}

static void reply_payload(uint32_t id, const uint8_t *d, size_t len)
{
	struct smem_rpc_vm_state_reply st, st2;
	const uint8_t *p;
	uint32_t err, v;
	size_t n;
	int r;

	r = smem__rpc_reply_split(d, len, &err, &p, &n);
	if (r < 0) {
		check(r == -EBADMSG && len < 4);
		return;
	}
	check(p == d + 4 && n == len - 4);
	check(smem__rpc_errno(err) <= 0 && smem__rpc_error_name(err));
	/* The error word and payload build back into the same bytes. */
	check(smem__rpc_reply_build(err, p, n, enc, sizeof(enc)) == (int)len);
	check(memcmp(enc, d, len) == 0);

	switch (id) {
	case SMEM_RPC_VM_GET_STATE:
		r = smem__rpc_vm_state_decode(p, n, &st);
		check(r == (n == 4 ? 0 : -EBADMSG));
		if (r == 0) {
			check(smem__rpc_vm_state_encode(&st, enc, sizeof(enc)) == 4);
			check(memcmp(enc, p, 4) == 0);
			check(smem__rpc_vm_state_decode(enc, 4, &st2) == 0);
		}
		break;
	case SMEM_RPC_VM_GET_VMID:
	case SMEM_RPC_VM_ALLOCATE:
		r = smem__rpc_vmid_reply_decode(p, n, &v);
		check(r == (n == 4 ? 0 : -EBADMSG));
		if (r == 0) {
			check(smem__rpc_vmid_reply_encode(v, enc, sizeof(enc)) == 4);
			check(memcmp(enc, p, 4) == 0);
		}
		break;
	case SMEM_RPC_VM_GET_HYP_RESOURCES:
		resources(p, n);
		break;
	}
}

static void notification_payload(uint32_t id, const uint8_t *p, size_t n)
{
	struct smem_rpc_vm_exited e, e2;
	struct smem_rpc_vm_status s, s2;
	uint32_t v;
	int r;

	switch (id) {
	case SMEM_RPC_NOTIF_VM_EXITED:
		r = smem__rpc_vm_exited_decode(p, n, &e);
		if (r < 0) {
			check(r == -EBADMSG);
			break;
		}
		check(e.reason == p + 8 && e.reason_size <= n - 8);
		r = smem__rpc_vm_exited_encode(&e, enc, sizeof(enc));
		check(r == (int)(8 + e.reason_size));
		/* No reserved field: the bytes up to the reason's end are the same. */
		check(memcmp(enc, p, (size_t)r) == 0);
		check(smem__rpc_vm_exited_decode(enc, (size_t)r, &e2) == 0);
		check(e2.vmid == e.vmid && e2.exit_type == e.exit_type &&
		      e2.reason_size == e.reason_size);
		break;
	case SMEM_RPC_NOTIF_VM_STATUS:
		r = smem__rpc_vm_status_decode(p, n, &s);
		check(r == (n == 8 ? 0 : -EBADMSG));
		if (r == 0) {
			check(smem__rpc_vm_status_encode(&s, enc, sizeof(enc)) == 8);
			check(smem__rpc_vm_status_decode(enc, 8, &s2) == 0);
			check(s2.vmid == s.vmid && s2.vm_status == s.vm_status &&
			      s2.os_status == s.os_status && s2.app_status == s.app_status);
		}
		break;
	case SMEM_RPC_NOTIF_VM_SHUTDOWN:
		r = smem__rpc_vm_shutdown_decode(p, n, &v);
		check(r == (n == 4 ? 0 : -EBADMSG));
		if (r == 0) {
			check(smem__rpc_vm_shutdown_encode(v, enc, sizeof(enc)) == 4);
			check(memcmp(enc, p, 4) == 0);
		}
		break;
	}
}

/* Fragment the message again and reassemble it on a fresh link: it must be the same. */
static void refragment(const struct smem_rpc_msg *m)
{
	uint8_t frag[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_rx_event ev;
	int nfrags = smem__rpc_nfrags(m->len), n, r = 0;

	check(nfrags >= 0 && nfrags <= (int)SMEM_RPC_MAX_CONT);
	if (m->type == SMEM_RPC_REQUEST && m->msg_id == SMEM_RPC_MSG_ID_RESERVED) {
		/* Reassembled, but never sent again: the reserved id is refused. */
		check(smem__rpc_fragment(m, 0, frag) == -EINVAL);
		return;
	}
	smem__rpc_rx_init(&rx2);
	for (int i = 0; i <= nfrags; i++) {
		n = smem__rpc_fragment(m, (unsigned)i, frag);
		check(n >= (int)SMEM_RPC_HDR_SIZE && n <= (int)SMEM_RPC_FRAG_MAX);
		check(i == nfrags || n == (int)SMEM_RPC_FRAG_MAX);
		r = smem__rpc_rx_push(&rx2, frag, (size_t)n, &ev);
		check(r == (i < nfrags ? SMEM_RPC_RX_MORE : SMEM_RPC_RX_COMPLETE));
	}
	check(smem__rpc_fragment(m, (unsigned)nfrags + 1, frag) == -EINVAL);
	check(ev.msg.type == m->type && ev.msg.seq == m->seq && ev.msg.msg_id == m->msg_id);
	check(ev.msg.len == m->len && (m->len == 0 || memcmp(ev.msg.data, m->data, m->len) == 0));
}

static void complete(const struct smem_rpc_msg *m)
{
	uint8_t *exact;

	check(m->type >= SMEM_RPC_REQUEST && m->type <= SMEM_RPC_NOTIFICATION);
	check(m->len <= SMEM_RPC_MSG_MAX && m->data == rx.buf);
	/* The decoders get a heap copy of exactly the message, so a read past it is caught. */
	exact = malloc(m->len ? m->len : 1);
	check(exact != NULL);
	memcpy(exact, m->data, m->len);
	switch (m->type) {
	case SMEM_RPC_REQUEST:
		request_payload(m->msg_id, exact, m->len);
		break;
	case SMEM_RPC_REPLY:
		reply_payload(m->msg_id, exact, m->len);
		break;
	case SMEM_RPC_NOTIFICATION:
		notification_payload(m->msg_id, exact, m->len);
		break;
	}
	free(exact);
	refragment(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smem_rpc_rx_event ev;
	struct smem_rpc_hdr h;
	bool active = false;

	smem__rpc_rx_init(&rx);
	while (size) {
		size_t n = data[0];
		uint8_t *p;
		int r, hr;

		data++, size--;
		if (n > size)
			n = size;
		p = malloc(n ? n : 1);
		check(p != NULL);
		memcpy(p, data, n);
		data += n, size -= n;

		hr = smem__rpc_hdr_decode(p, n, &h);
		r = smem__rpc_rx_push(&rx, p, n, &ev);
		check(r >= 0);
		if (r & SMEM_RPC_RX_DROPPED) {
			check(r == SMEM_RPC_RX_DROPPED);
			check(ev.drop > SMEM_RPC_DROP_NONE && ev.drop <= SMEM_RPC_DROP_CONT_MISMATCH);
			/* The header decoder and the reassembler agree on what is malformed. */
			if (hr < 0)
				check(ev.drop == SMEM_RPC_DROP_SHORT || ev.drop == SMEM_RPC_DROP_API ||
				      ev.drop == SMEM_RPC_DROP_NFRAGS || ev.drop == SMEM_RPC_DROP_LONG);
			else
				check(n > SMEM_RPC_FRAG_MAX || h.type == SMEM_RPC_CONT);
			/* A dropped packet leaves the partial message alone. */
			check(rx.active == active);
		} else {
			check(hr >= 0 && n <= SMEM_RPC_FRAG_MAX);
			check(hr == (h.msg_id == SMEM_RPC_MSG_ID_RESERVED));
			check(!(r & SMEM_RPC_RX_ABORTED) || (active && h.type != SMEM_RPC_CONT));
			check(!(r & SMEM_RPC_RX_ABORTED) || ev.aborted.nfrags > 0);
			if (r & SMEM_RPC_RX_COMPLETE) {
				check(ev.msg.seq == h.seq && ev.msg.msg_id == h.msg_id);
				complete(&ev.msg);
			}
		}
		active = rx.active;
		free(p);
	}
	return 0;
}
