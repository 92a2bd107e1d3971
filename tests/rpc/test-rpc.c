// SPDX-License-Identifier: MIT
/*
 * The RM RPC codec: byte-exact framing against the specification's examples,
 * fragmentation and reassembly, every drop rule, error codes and payloads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

/* The reassembler holds a 14616-byte buffer: static, not on the stack. */
static struct smem_rpc_rx rx;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/* A packet: header fields spelled out, then @n bytes of @data. */
static size_t pkt(uint8_t *out, uint8_t api, uint8_t type, uint8_t nfrags, uint16_t seq,
		  uint32_t msg_id, const uint8_t *data, size_t n)
{
	out[0] = api;
	out[1] = (uint8_t)(type | nfrags << 2);
	out[2] = (uint8_t)seq;
	out[3] = (uint8_t)(seq >> 8);
	out[4] = (uint8_t)msg_id;
	out[5] = (uint8_t)(msg_id >> 8);
	out[6] = (uint8_t)(msg_id >> 16);
	out[7] = (uint8_t)(msg_id >> 24);
	if (n)
		memcpy(out + 8, data, n);
	return 8 + n;
}

static int push(const uint8_t *p, size_t n, struct smem_rpc_rx_event *ev)
{
	return smem__rpc_rx_push(&rx, p, n, ev);
}

/* Fragment @m, check each fragment's size, reassemble and compare. */
static void round_trip(size_t len)
{
	static uint8_t data[SMEM_RPC_MSG_MAX];
	struct smem_rpc_msg m = {
		.type = SMEM_RPC_REPLY, .seq = 0xbeef, .msg_id = 0x56000020, .data = data, .len = len,
	};
	struct smem_rpc_rx_event ev;
	uint8_t frag[SMEM_RPC_FRAG_MAX];
	int nfrags = smem__rpc_nfrags(len), n, r;

	fill(data, len, (unsigned)len);
	cr_assert_eq(nfrags, len ? (int)((len + 231) / 232) - 1 : 0, "len %zu", len);
	smem__rpc_rx_init(&rx);
	for (int i = 0; i <= nfrags; i++) {
		n = smem__rpc_fragment(&m, (unsigned)i, frag);
		if (i < nfrags)
			cr_assert_eq(n, 240, "len %zu fragment %d", len, i);
		else
			cr_assert_eq(n, (int)(8 + len - (size_t)i * 232), "len %zu last", len);
		cr_assert_eq(frag[1] >> 2, nfrags);
		cr_assert_eq(frag[1] & 3, i ? SMEM_RPC_CONT : SMEM_RPC_REPLY);
		r = push(frag, (size_t)n, &ev);
		cr_assert_eq(r, i < nfrags ? SMEM_RPC_RX_MORE : SMEM_RPC_RX_COMPLETE, "len %zu i %d",
			     len, i);
	}
	cr_assert_eq(smem__rpc_fragment(&m, (unsigned)nfrags + 1, frag), -EINVAL);
	cr_assert_eq(ev.msg.type, SMEM_RPC_REPLY);
	cr_assert_eq(ev.msg.seq, 0xbeef);
	cr_assert_eq(ev.msg.msg_id, 0x56000020);
	cr_assert_eq(ev.msg.len, len);
	cr_assert(len == 0 || memcmp(ev.msg.data, data, len) == 0, "len %zu data differ", len);
}

Test(rpc, vm_start_request_is_byte_exact)
{
	static const uint8_t want[] = { 0x21, 0x01, 0x05, 0x00, 0x04, 0x00,
					0x00, 0x56, 0x80, 0x00, 0x00, 0x00 };
	uint8_t payload[4], frag[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_msg m = { .type = SMEM_RPC_REQUEST, .seq = 5, .msg_id = SMEM_RPC_VM_START };

	cr_assert_eq(smem__rpc_vmid_req_encode(0x80, payload, sizeof(payload)), 4);
	m.data = payload;
	m.len = 4;
	cr_assert_eq(smem__rpc_nfrags(m.len), 0);
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), (int)sizeof(want));
	cr_assert_arr_eq(frag, want, sizeof(want));
}

Test(rpc, vm_start_reply_is_byte_exact)
{
	static const uint8_t want[] = { 0x21, 0x02, 0x05, 0x00, 0x04, 0x00,
					0x00, 0x56, 0x00, 0x00, 0x00, 0x00 };
	uint8_t data[4], frag[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_msg m = { .type = SMEM_RPC_REPLY, .seq = 5, .msg_id = SMEM_RPC_VM_START };
	struct smem_rpc_rx_event ev;
	const uint8_t *pl;
	uint32_t err;
	size_t pl_len;

	cr_assert_eq(smem__rpc_reply_build(SMEM_RPC_ERR_OK, NULL, 0, data, sizeof(data)), 4);
	m.data = data;
	m.len = 4;
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), (int)sizeof(want));
	cr_assert_arr_eq(frag, want, sizeof(want));

	/* And the client reads it back as success of VM_START seq 5. */
	smem__rpc_rx_init(&rx);
	cr_assert_eq(push(want, sizeof(want), &ev), SMEM_RPC_RX_COMPLETE);
	cr_assert_eq(ev.msg.type, SMEM_RPC_REPLY);
	cr_assert_eq(ev.msg.seq, 5);
	cr_assert_eq(ev.msg.msg_id, SMEM_RPC_VM_START);
	cr_assert_eq(smem__rpc_reply_split(ev.msg.data, ev.msg.len, &err, &pl, &pl_len), 0);
	cr_assert_eq(err, SMEM_RPC_ERR_OK);
	cr_assert_eq(pl_len, 0);
}

Test(rpc, request_of_500_bytes_is_three_fragments)
{
	uint8_t data[500], frag[SMEM_RPC_FRAG_MAX], want[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_msg m = {
		.type = SMEM_RPC_REQUEST, .seq = 0x1234, .msg_id = 0x51000012, .data = data, .len = 500,
	};
	static const size_t sizes[] = { 240, 240, 44 };
	static const uint8_t type_byte[] = { 0x09, 0x08, 0x08 };

	fill(data, sizeof(data), 3);
	cr_assert_eq(smem__rpc_nfrags(500), 2);
	for (unsigned i = 0; i < 3; i++) {
		size_t off = i * 232u;

		memset(frag, 0xee, sizeof(frag));
		cr_assert_eq(smem__rpc_fragment(&m, i, frag), (int)sizes[i], "fragment %u", i);
		want[0] = 0x21;
		want[1] = type_byte[i];
		want[2] = 0x34;
		want[3] = 0x12;
		want[4] = 0x12;
		want[5] = 0x00;
		want[6] = 0x00;
		want[7] = 0x51;
		memcpy(want + 8, data + off, sizes[i] - 8);
		cr_assert_arr_eq(frag, want, sizes[i], "fragment %u differs", i);
	}
	cr_assert_eq(smem__rpc_fragment(&m, 3, frag), -EINVAL);
}

Test(rpc, messages_round_trip_at_every_boundary)
{
	static const size_t lens[] = { 0, 1, 231, 232, 233, 464, 14384, 14616 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		round_trip(lens[i]);
}

Test(rpc, a_message_over_14616_bytes_is_refused)
{
	static uint8_t data[SMEM_RPC_MSG_MAX + 1];
	uint8_t frag[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_msg m = {
		.type = SMEM_RPC_REQUEST, .seq = 1, .msg_id = 1, .data = data, .len = 14617,
	};

	cr_assert_eq(smem__rpc_nfrags(14616), 62);
	cr_assert_eq(smem__rpc_nfrags(14617), -EMSGSIZE);
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), -EMSGSIZE);
	cr_assert_eq(smem__rpc_reply_build(0, data, 14613, data, sizeof(data)), -EMSGSIZE);
	cr_assert_eq(smem__rpc_reply_build(0, data + 4, 14612, data, sizeof(data)), 14616);
}

Test(rpc, fragmenting_checks_its_message)
{
	uint8_t data[300] = { 0 }, frag[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_msg m = {
		.type = SMEM_RPC_REQUEST, .seq = 1, .msg_id = 0, .data = data, .len = 300,
	};

	/* msg_id 0 is reserved: no fragment of a request carries it, CONT included. */
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), -EINVAL);
	cr_assert_eq(smem__rpc_fragment(&m, 1, frag), -EINVAL);
	m.len = 8;
	m.msg_id = SMEM_RPC_VM_GET_VMID;
	m.type = SMEM_RPC_CONT;
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), -EINVAL);
	m.type = 4;
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), -EINVAL);
	m.type = SMEM_RPC_NOTIFICATION;
	m.data = NULL;
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), -EINVAL);
	m.len = 0;
	cr_assert_eq(smem__rpc_fragment(&m, 0, frag), 8);
	cr_assert_eq(frag[1], 0x03);
}

Test(rpc, header_round_trip_and_checks)
{
	struct smem_rpc_hdr h = { .type = SMEM_RPC_NOTIFICATION, .nfrags = 62, .seq = 0xa55a,
				  .msg_id = SMEM_RPC_NOTIF_VM_STATUS },
			    got;
	static const uint8_t want[] = { 0x21, 0xfb, 0x5a, 0xa5, 0x08, 0x00, 0x10, 0x56 };
	uint8_t b[9];

	cr_assert_eq(smem__rpc_hdr_encode(&h, b + 1), 8);
	cr_assert_arr_eq(b + 1, want, 8);
	cr_assert_eq(smem__rpc_hdr_decode(b + 1, 8, &got), 0);
	cr_assert_eq(got.type, h.type);
	cr_assert_eq(got.nfrags, 62);
	cr_assert_eq(got.seq, 0xa55a);
	cr_assert_eq(got.msg_id, SMEM_RPC_NOTIF_VM_STATUS);

	h.nfrags = 63;
	cr_assert_eq(smem__rpc_hdr_encode(&h, b), -EINVAL);
	h.nfrags = 0;
	h.type = 4;
	cr_assert_eq(smem__rpc_hdr_encode(&h, b), -EINVAL);
	h.type = SMEM_RPC_REQUEST;
	h.msg_id = 0;
	cr_assert_eq(smem__rpc_hdr_encode(&h, b), -EINVAL);
}

Test(rpc, header_decode_refuses_bad_packets_and_reports_msg_id_0)
{
	uint8_t b[8] = { 0x21, 0x01, 0, 0, 0, 0, 0, 0 };
	struct smem_rpc_hdr h = { .seq = 77 };

	/* msg_id 0: a valid header, reported so the dispatcher drops the message. */
	cr_assert_eq(smem__rpc_hdr_decode(b, 8, &h), 1);
	cr_assert_eq(h.msg_id, 0);
	cr_assert_eq(h.type, SMEM_RPC_REQUEST);
	h.seq = 77;
	cr_assert_eq(smem__rpc_hdr_decode(b, 7, &h), -EBADMSG);
	b[0] = 0x11;
	cr_assert_eq(smem__rpc_hdr_decode(b, 8, &h), -EBADMSG);
	b[0] = 0x22;
	cr_assert_eq(smem__rpc_hdr_decode(b, 8, &h), -EBADMSG);
	b[0] = 0x21;
	b[1] = 0xfd; /* 63 continuations */
	cr_assert_eq(smem__rpc_hdr_decode(b, 8, &h), -EBADMSG);
	cr_assert_eq(h.seq, 77, "a refused header is not written");
}

/*
 * The drop rules. Each opens a 3-fragment message (seq 9, id 0x56000020), pushes
 * the packet under test, and then checks that it was dropped for the right
 * reason and that the partial message still completes with its own fragments.
 */
#define P_SEQ 9
#define P_ID  0x56000020u

static uint8_t p_data[3][232];

static void open_partial(void)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_rx_event ev;

	for (unsigned i = 0; i < 3; i++)
		fill(p_data[i], 232, i + 1);
	smem__rpc_rx_init(&rx);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_REPLY, 2, P_SEQ, P_ID, p_data[0], 232), &ev),
		     SMEM_RPC_RX_MORE);
}

static void finish_partial(void)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_rx_event ev;

	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[1], 232), &ev),
		     SMEM_RPC_RX_MORE);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[2], 100), &ev),
		     SMEM_RPC_RX_COMPLETE);
	cr_assert_eq(ev.msg.type, SMEM_RPC_REPLY);
	cr_assert_eq(ev.msg.seq, P_SEQ);
	cr_assert_eq(ev.msg.msg_id, P_ID);
	cr_assert_eq(ev.msg.len, 232 + 232 + 100);
	cr_assert_arr_eq(ev.msg.data, p_data[0], 232);
	cr_assert_arr_eq(ev.msg.data + 232, p_data[1], 232);
	cr_assert_arr_eq(ev.msg.data + 464, p_data[2], 100);
}

static void expect_drop(const uint8_t *b, size_t n, unsigned why)
{
	struct smem_rpc_rx_event ev;

	cr_assert_eq(push(b, n, &ev), SMEM_RPC_RX_DROPPED);
	cr_assert_eq(ev.drop, why, "dropped as %s", smem__rpc_drop_name(ev.drop));
}

Test(rpc, drop_packet_under_8_bytes)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];

	open_partial();
	pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, NULL, 0);
	for (size_t n = 0; n < 8; n++)
		expect_drop(b, n, SMEM_RPC_DROP_SHORT);
	cr_assert_eq(smem__rpc_rx_push(&rx, NULL, 0, &(struct smem_rpc_rx_event){ 0 }),
		     SMEM_RPC_RX_DROPPED);
	finish_partial();
}

Test(rpc, drop_packet_over_240_bytes)
{
	uint8_t b[SMEM_RPC_FRAG_MAX + 1], big[233] = { 0 };

	open_partial();
	/* A CONT of the right message, but one byte longer than any real packet. */
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, big, 233), SMEM_RPC_DROP_LONG);
	/* Nor does an oversized new message abort the partial. */
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_REQUEST, 0, 1, 1, big, 233), SMEM_RPC_DROP_LONG);
	finish_partial();
}

Test(rpc, drop_bad_api_byte)
{
	static const uint8_t bad[] = { 0x00, 0x11, 0x20, 0x22, 0x31, 0x12, 0xff };
	uint8_t b[SMEM_RPC_FRAG_MAX];

	open_partial();
	for (size_t i = 0; i < sizeof(bad); i++) {
		expect_drop(b, pkt(b, bad[i], SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[1], 232),
			    SMEM_RPC_DROP_API);
		expect_drop(b, pkt(b, bad[i], SMEM_RPC_REQUEST, 0, 1, 1, NULL, 0),
			    SMEM_RPC_DROP_API);
	}
	finish_partial();
}

Test(rpc, drop_count_over_62)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];

	open_partial();
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_REQUEST, 63, 1, 1, NULL, 0), SMEM_RPC_DROP_NFRAGS);
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 63, P_SEQ, P_ID, NULL, 0),
		    SMEM_RPC_DROP_NFRAGS);
	finish_partial();
}

Test(rpc, drop_continuation_with_nothing_in_progress)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];

	smem__rpc_rx_init(&rx);
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_ORPHAN);
	/* After a message completes, one more CONT of it is an orphan too. */
	open_partial();
	finish_partial();
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[2], 10),
		    SMEM_RPC_DROP_CONT_ORPHAN);
	/* And so is one after a reset of the link. */
	open_partial();
	smem__rpc_rx_init(&rx);
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_ORPHAN);
}

Test(rpc, drop_continuation_with_another_seq)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];

	open_partial();
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ + 1, P_ID, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_MISMATCH);
	/* The partial is intact: the right CONTs complete it with the right data. */
	finish_partial();
}

Test(rpc, drop_continuation_with_another_msg_id)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];

	open_partial();
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID + 1, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_MISMATCH);
	finish_partial();
}

Test(rpc, drop_continuation_with_another_count)
{
	uint8_t b[SMEM_RPC_FRAG_MAX];

	open_partial();
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 1, P_SEQ, P_ID, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_MISMATCH);
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 3, P_SEQ, P_ID, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_MISMATCH);
	finish_partial();
}

Test(rpc, a_new_request_aborts_the_partial_and_reports_it)
{
	uint8_t b[SMEM_RPC_FRAG_MAX], d[232];
	struct smem_rpc_rx_event ev;

	open_partial();
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[1], 232), &ev),
		     SMEM_RPC_RX_MORE);
	fill(d, sizeof(d), 42);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_REQUEST, 1, 11, SMEM_RPC_VM_STOP, d, 232), &ev),
		     SMEM_RPC_RX_ABORTED);
	cr_assert_eq(ev.aborted.type, SMEM_RPC_REPLY);
	cr_assert_eq(ev.aborted.seq, P_SEQ);
	cr_assert_eq(ev.aborted.msg_id, P_ID);
	cr_assert_eq(ev.aborted.nfrags, 2);
	/* The aborted message's last CONT no longer belongs to anything in progress. */
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[2], 100),
		    SMEM_RPC_DROP_CONT_MISMATCH);
	/* The new message is what is now in progress. */
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 1, 11, SMEM_RPC_VM_STOP, d, 8), &ev),
		     SMEM_RPC_RX_COMPLETE);
	cr_assert_eq(ev.msg.type, SMEM_RPC_REQUEST);
	cr_assert_eq(ev.msg.seq, 11);
	cr_assert_eq(ev.msg.msg_id, SMEM_RPC_VM_STOP);
	cr_assert_eq(ev.msg.len, 240);
	cr_assert_arr_eq(ev.msg.data, d, 232);
	cr_assert_arr_eq(ev.msg.data + 232, d, 8);
}

Test(rpc, a_single_fragment_reply_aborts_the_partial_and_completes)
{
	uint8_t b[SMEM_RPC_FRAG_MAX], d[4] = { 0x14, 0, 0, 0 };
	struct smem_rpc_rx_event ev;

	open_partial();
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_REPLY, 0, 3, SMEM_RPC_VM_DEALLOCATE, d, 4), &ev),
		     SMEM_RPC_RX_ABORTED | SMEM_RPC_RX_COMPLETE);
	cr_assert_eq(ev.aborted.seq, P_SEQ);
	cr_assert_eq(ev.aborted.msg_id, P_ID);
	cr_assert_eq(ev.msg.seq, 3);
	cr_assert_eq(ev.msg.msg_id, SMEM_RPC_VM_DEALLOCATE);
	cr_assert_eq(ev.msg.len, 4);
	cr_assert_arr_eq(ev.msg.data, d, 4);
	/* Nothing is in progress after it. */
	expect_drop(b, pkt(b, 0x21, SMEM_RPC_CONT, 2, P_SEQ, P_ID, p_data[1], 232),
		    SMEM_RPC_DROP_CONT_ORPHAN);
}

Test(rpc, short_middle_fragments_are_concatenated)
{
	uint8_t b[SMEM_RPC_FRAG_MAX], d[6] = { 1, 2, 3, 4, 5, 6 };
	struct smem_rpc_rx_event ev;

	smem__rpc_rx_init(&rx);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_NOTIFICATION, 3, 0, 0x56100001, d, 2), &ev),
		     SMEM_RPC_RX_MORE);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 3, 0, 0x56100001, NULL, 0), &ev),
		     SMEM_RPC_RX_MORE);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 3, 0, 0x56100001, d + 2, 3), &ev),
		     SMEM_RPC_RX_MORE);
	cr_assert_eq(push(b, pkt(b, 0x21, SMEM_RPC_CONT, 3, 0, 0x56100001, d + 5, 1), &ev),
		     SMEM_RPC_RX_COMPLETE);
	cr_assert_eq(ev.msg.len, 6);
	cr_assert_arr_eq(ev.msg.data, d, 6);
}

Test(rpc, push_checks_its_arguments)
{
	struct smem_rpc_rx_event ev;
	uint8_t b[8] = { 0x21, 1, 0, 0, 1, 0, 0, 0 };

	smem__rpc_rx_init(&rx);
	cr_assert_eq(smem__rpc_rx_push(NULL, b, 8, &ev), -EINVAL);
	cr_assert_eq(smem__rpc_rx_push(&rx, b, 8, NULL), -EINVAL);
	cr_assert_eq(smem__rpc_rx_push(&rx, NULL, 8, &ev), -EINVAL);
	cr_assert_eq(smem__rpc_rx_push(&rx, b, 8, &ev), SMEM_RPC_RX_COMPLETE);
}

Test(rpc, error_codes_map_to_linux_errnos)
{
	static const struct {
		uint32_t code;
		int err;
		const char *name;
	} table[] = {
		{ 0x00, 0, "OK" },
		{ 0xffffffff, -EOPNOTSUPP, "UNIMPLEMENTED" },
		{ 0x01, -ENOMEM, "NOMEM" },
		{ 0x02, -ENODEV, "NORESOURCE" },
		{ 0x03, -EPERM, "DENIED" },
		{ 0x04, -EINVAL, "MSG_INVALID" },
		{ 0x05, -EBUSY, "BUSY" },
		{ 0x06, -EINVAL, "ARGUMENT_INVALID" },
		{ 0x07, -EINVAL, "HANDLE_INVALID" },
		{ 0x08, -EINVAL, "VALIDATE_FAILED" },
		{ 0x09, -EINVAL, "MAP_FAILED" },
		{ 0x0a, -EINVAL, "MEM_INVALID" },
		{ 0x0b, -EINVAL, "MEM_INUSE" },
		{ 0x0c, -EINVAL, "MEM_RELEASED" },
		{ 0x0d, -EINVAL, "VMID_INVALID" },
		{ 0x0e, -EINVAL, "LOOKUP_FAILED" },
		{ 0x0f, -EINVAL, "IRQ_INVALID" },
		{ 0x10, -EINVAL, "IRQ_INUSE" },
		{ 0x11, -EINVAL, "IRQ_RELEASED" },
		{ 0x12, -EBADMSG, "IN_USE" },
		{ 0x13, -EBADMSG, "IRQ_NOT_MAPPED" },
		{ 0x14, -EBADMSG, "VM_STATE" },
		{ 0x15, -EBADMSG, "unknown" },
		{ 0xfffffffe, -EBADMSG, "unknown" },
		{ 0x80000000, -EBADMSG, "unknown" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		cr_assert_eq(smem__rpc_errno(table[i].code), table[i].err, "code %#x", table[i].code);
		cr_assert_str_eq(smem__rpc_error_name(table[i].code), table[i].name, "code %#x",
				 table[i].code);
	}
	cr_assert_eq(SMEM_RPC_ERR_VM_STATE, 0x14);
	cr_assert_eq(SMEM_RPC_ERR_IRQ_RELEASED, 0x11);
}

Test(rpc, reply_error_word)
{
	uint8_t buf[16], pl[3] = { 7, 8, 9 };
	const uint8_t *got;
	uint32_t err;
	size_t n;

	cr_assert_eq(smem__rpc_reply_build(SMEM_RPC_ERR_VM_STATE, pl, 3, buf, sizeof(buf)), 7);
	cr_assert_arr_eq(buf, ((uint8_t[]){ 0x14, 0, 0, 0, 7, 8, 9 }), 7);
	cr_assert_eq(smem__rpc_reply_split(buf, 7, &err, &got, &n), 0);
	cr_assert_eq(err, 0x14);
	cr_assert_eq(n, 3);
	cr_assert_eq(got, buf + 4);
	cr_assert_eq(smem__rpc_reply_build(SMEM_RPC_ERR_UNIMPLEMENTED, NULL, 0, buf, 4), 4);
	cr_assert_arr_eq(buf, ((uint8_t[]){ 0xff, 0xff, 0xff, 0xff }), 4);
	cr_assert_eq(smem__rpc_reply_build(0, pl, 3, buf, 6), -ENOSPC);
	cr_assert_eq(smem__rpc_reply_build(0, NULL, 3, buf, 16), -EINVAL);
	/* A reply without its error word is malformed; nothing is written. */
	err = 99;
	for (size_t len = 0; len < 4; len++)
		cr_assert_eq(smem__rpc_reply_split(buf, len, &err, &got, &n), -EBADMSG);
	cr_assert_eq(err, 99);
}

Test(rpc, vm_stop_is_exactly_8_bytes)
{
	struct smem_rpc_vm_stop s = { .vmid = 0x81, .flags = SMEM_RPC_STOP_FORCE,
				      .stop_reason = 3 },
				got = { 0 };
	static const uint8_t want[] = { 0x81, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00 };
	uint8_t b[10] = { 0 };

	cr_assert_eq(smem__rpc_vm_stop_encode(&s, b + 1, 8), 8);
	cr_assert_arr_eq(b + 1, want, 8);
	cr_assert_eq(smem__rpc_vm_stop_encode(&s, b, 7), -ENOSPC);
	s.flags = 0x02;
	cr_assert_eq(smem__rpc_vm_stop_encode(&s, b, 8), -EINVAL);

	for (size_t len = 0; len <= 9; len++) {
		int r = smem__rpc_vm_stop_decode(want, len, &got);

		cr_assert_eq(r, len == 8 ? 0 : -EBADMSG, "length %zu", len);
	}
	cr_assert_eq(got.vmid, 0x81);
	cr_assert_eq(got.flags, SMEM_RPC_STOP_FORCE);
	cr_assert_eq(got.stop_reason, 3);
}

Test(rpc, vmid_request_and_reply)
{
	uint8_t b[5] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
	uint16_t vmid = 0;
	uint32_t v32 = 0;

	cr_assert_eq(smem__rpc_vmid_req_encode(0xbf, b + 1, 4), 4);
	cr_assert_arr_eq(b + 1, ((uint8_t[]){ 0xbf, 0, 0, 0 }), 4);
	cr_assert_eq(smem__rpc_vmid_req_encode(0xbf, b, 3), -ENOSPC);
	cr_assert_eq(smem__rpc_vmid_req_decode(b + 1, 4, &vmid), 0);
	cr_assert_eq(vmid, 0xbf);
	cr_assert_eq(smem__rpc_vmid_req_decode(b + 1, 3, &vmid), -EBADMSG);
	cr_assert_eq(smem__rpc_vmid_req_decode(b, 5, &vmid), -EBADMSG);

	cr_assert_eq(smem__rpc_vmid_reply_encode(SMEM_RPC_VMID_HLOS, b + 1, 4), 4);
	cr_assert_arr_eq(b + 1, ((uint8_t[]){ 3, 0, 0, 0 }), 4);
	cr_assert_eq(smem__rpc_vmid_reply_decode(b + 1, 4, &v32), 0);
	cr_assert_eq(v32, 3);
	cr_assert_eq(smem__rpc_vmid_reply_decode(b + 1, 0, &v32), -EBADMSG);
}

Test(rpc, vm_exit_request)
{
	struct smem_rpc_vm_exit e = { .exit_flags = SMEM_RPC_EXIT_FLAG_RESTART,
				      .exit_code = SMEM_RPC_EXIT_CODE_BUS_ERROR },
				got;
	uint8_t b[4];

	cr_assert_eq(smem__rpc_vm_exit_encode(&e, b, 4), 4);
	cr_assert_arr_eq(b, ((uint8_t[]){ 1, 0, 3, 0 }), 4);
	cr_assert_eq(smem__rpc_vm_exit_decode(b, 4, &got), 0);
	cr_assert_eq(got.exit_flags, 1);
	cr_assert_eq(got.exit_code, 3);
	cr_assert_eq(smem__rpc_vm_exit_decode(b, 8, &got), -EBADMSG);
}

Test(rpc, vm_state_word)
{
	struct smem_rpc_vm_state_reply s = { .vm_state = SMEM_RPC_VM_STATE_RUNNING,
					     .os_state = SMEM_RPC_OS_STATE_RUN,
					     .app_status = 0x1234 },
				       got;
	uint8_t b[4];

	cr_assert_eq(smem__rpc_vm_state_encode(&s, b, 4), 4);
	cr_assert_arr_eq(b, ((uint8_t[]){ 3, 4, 0x34, 0x12 }), 4);
	cr_assert_eq(smem__rpc_vm_state_decode(b, 4, &got), 0);
	cr_assert_eq(got.vm_state, SMEM_RPC_VM_STATE_RUNNING);
	cr_assert_eq(got.os_state, SMEM_RPC_OS_STATE_RUN);
	cr_assert_eq(got.app_status, 0x1234);
	cr_assert_eq(smem__rpc_vm_state_decode(b, 3, &got), -EBADMSG);
}

static const struct smem_rpc_resource res[2] = {
	{ .type = SMEM_RPC_RES_MSGQ_TX, .partner_vmid = 0xff, .resource_handle = 0x11223344,
	  .resource_label = 7, .cap_id = 0x0102030405060708ull, .virq_handle = 9, .virq = 0x2a,
	  .base = 0x8000000000ull, .size = 0x1000 },
	{ .type = SMEM_RPC_RES_VCPU, .partner_vmid = 0x80, .cap_id = 0xffffffffffffffffull },
};

Test(rpc, hyp_resources_round_trip)
{
	uint8_t b[1 + 4 + 2 * 44];
	struct smem_rpc_resource got;
	uint32_t n = 0;

	cr_assert_eq(smem__rpc_resources_encode(res, 2, b + 1, sizeof(b) - 1), 92);
	/* The first entry, byte for byte. */
	cr_assert_arr_eq(b + 1,
			 ((uint8_t[]){ 2, 0, 0, 0, 2, 0, 0xff, 0, 0x44, 0x33, 0x22, 0x11, 7, 0, 0,
				       0, 8, 7, 6, 5, 4, 3, 2, 1, 9, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0,
				       0, 0, 0x80, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0 }),
			 48);
	cr_assert_eq(smem__rpc_resources_count(b + 1, 92, &n), 0);
	cr_assert_eq(n, 2);
	for (uint32_t i = 0; i < 2; i++) {
		cr_assert_eq(smem__rpc_resource_get(b + 1, 92, i, &got), 0);
		cr_assert_eq(got.type, res[i].type);
		cr_assert_eq(got.partner_vmid, res[i].partner_vmid);
		cr_assert_eq(got.resource_handle, res[i].resource_handle);
		cr_assert_eq(got.resource_label, res[i].resource_label);
		cr_assert_eq(got.cap_id, res[i].cap_id);
		cr_assert_eq(got.virq_handle, res[i].virq_handle);
		cr_assert_eq(got.virq, res[i].virq);
		cr_assert_eq(got.base, res[i].base);
		cr_assert_eq(got.size, res[i].size);
	}
	cr_assert_eq(smem__rpc_resource_get(b + 1, 92, 2, &got), -ENOENT);
	cr_assert_eq(smem__rpc_resources_encode(res, 2, b, 91), -ENOSPC);
	cr_assert_eq(smem__rpc_resources_encode(NULL, 0, b, 4), 4);
	cr_assert_eq(smem__rpc_resources_count(b, 4, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(smem__rpc_resources_encode(res, SMEM_RPC_RESOURCES_MAX + 1, b, sizeof(b)),
		     -EMSGSIZE);
}

Test(rpc, hyp_resources_refuse_a_length_that_does_not_match)
{
	uint8_t b[4 + 2 * 44 + 1];
	uint32_t n = 77;

	cr_assert_eq(smem__rpc_resources_encode(res, 2, b, sizeof(b)), 92);
	for (size_t len = 0; len < sizeof(b); len++)
		if (len != 92)
			cr_assert_eq(smem__rpc_resources_count(b, len, &n), -EBADMSG, "len %zu", len);
	cr_assert_eq(n, 77, "nothing written on refusal");
	cr_assert_eq(smem__rpc_resource_get(b, 93, 0, &(struct smem_rpc_resource){ 0 }), -EBADMSG);
}

Test(rpc, hyp_resources_refuse_counts_that_wrap)
{
	uint8_t b[48] = { 0 };
	uint32_t n = 77;

	/* 4 + 44 * 0x40000001 is 48 in 32-bit arithmetic. */
	b[0] = 0x01;
	b[3] = 0x40;
	cr_assert_eq((uint32_t)(4u + 44u * 0x40000001u), 48u);
	cr_assert_eq(smem__rpc_resources_count(b, 48, &n), -EBADMSG);
	cr_assert_eq(smem__rpc_resource_get(b, 48, 0, &(struct smem_rpc_resource){ 0 }), -EBADMSG);
	/*
	 * 0xffffffff entries: 4 + 44 * n is 2^32 - 40 in 32 bits. The length is a
	 * lie, and only the count word may be read before it is refused.
	 */
	memset(b, 0xff, 4);
	cr_assert_eq((uint32_t)(4u + 44u * 0xffffffffu), 0xffffffd8u);
	cr_assert_eq(smem__rpc_resources_count(b, 0xffffffd8u, &n), -EBADMSG);
	/* 0x2e8ba2e9 * 44 wraps 32 bits to 12, so 4 + 44 n would read 16. */
	b[0] = 0xe9, b[1] = 0xa2, b[2] = 0x8b, b[3] = 0x2e;
	cr_assert_eq((uint32_t)(4u + 44u * 0x2e8ba2e9u), 16u);
	cr_assert_eq(smem__rpc_resources_count(b, 16, &n), -EBADMSG);
	cr_assert_eq(n, 77);
}

Test(rpc, vm_exited_notification)
{
	uint8_t reason[12] = { 0x01, 0x00, 0x01, 0x00, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct smem_rpc_vm_exited e = { .vmid = 0x80, .exit_type = SMEM_RPC_EXIT_WATCHDOG_BITE,
					.reason_size = 4, .reason = reason },
				  got;
	uint8_t b[32];

	cr_assert_eq(SMEM_RPC_EXIT_REASON(SMEM_RPC_EXIT_FLAG_RESTART, 1), 0x00010001u);
	cr_assert_eq(smem__rpc_vm_exited_encode(&e, b, sizeof(b)), 12);
	cr_assert_arr_eq(b, ((uint8_t[]){ 0x80, 0, 4, 0, 4, 0, 0, 0, 1, 0, 1, 0 }), 12);
	cr_assert_eq(smem__rpc_vm_exited_decode(b, 12, &got), 0);
	cr_assert_eq(got.vmid, 0x80);
	cr_assert_eq(got.exit_type, SMEM_RPC_EXIT_WATCHDOG_BITE);
	cr_assert_eq(got.reason_size, 4);
	cr_assert_eq(got.reason, b + 8);
	/* Padding after the reason is allowed; a reason past the end is not. */
	cr_assert_eq(smem__rpc_vm_exited_decode(b, 16, &got), 0);
	cr_assert_eq(got.reason_size, 4);
	cr_assert_eq(smem__rpc_vm_exited_decode(b, 11, &got), -EBADMSG);
	cr_assert_eq(smem__rpc_vm_exited_decode(b, 7, &got), -EBADMSG);
	b[4] = 0xff, b[5] = 0xff, b[6] = 0xff, b[7] = 0xff;
	cr_assert_eq(smem__rpc_vm_exited_decode(b, sizeof(b), &got), -EBADMSG);
	e.reason_size = 12;
	cr_assert_eq(smem__rpc_vm_exited_encode(&e, b, 19), -ENOSPC);
	e.reason_size = SMEM_RPC_MSG_MAX - 7;
	cr_assert_eq(smem__rpc_vm_exited_encode(&e, b, sizeof(b)), -EMSGSIZE);
}

Test(rpc, vm_status_and_shutdown_notifications)
{
	struct smem_rpc_vm_status s = { .vmid = 0x82, .vm_status = SMEM_RPC_VM_STATE_RESET,
					.os_status = SMEM_RPC_OS_STATE_CRASHED, .app_status = 0xabcd },
				  got;
	uint8_t b[8];
	uint32_t reason = 0;

	cr_assert_eq(smem__rpc_vm_status_encode(&s, b, 8), 8);
	cr_assert_arr_eq(b, ((uint8_t[]){ 0x82, 0, 0, 0, 11, 7, 0xcd, 0xab }), 8);
	cr_assert_eq(smem__rpc_vm_status_decode(b, 8, &got), 0);
	cr_assert_eq(got.vmid, 0x82);
	cr_assert_eq(got.vm_status, 11);
	cr_assert_eq(got.os_status, 7);
	cr_assert_eq(got.app_status, 0xabcd);
	cr_assert_eq(smem__rpc_vm_status_decode(b, 7, &got), -EBADMSG);

	cr_assert_eq(smem__rpc_vm_shutdown_encode(3, b, 4), 4);
	cr_assert_arr_eq(b, ((uint8_t[]){ 3, 0, 0, 0 }), 4);
	cr_assert_eq(smem__rpc_vm_shutdown_decode(b, 4, &reason), 0);
	cr_assert_eq(reason, 3);
	cr_assert_eq(smem__rpc_vm_shutdown_decode(b, 8, &reason), -EBADMSG);
}
