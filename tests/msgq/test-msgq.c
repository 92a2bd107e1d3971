// SPDX-License-Identifier: MIT
/* Message queues in one process: Gunyah semantics, thresholds, notifications, errors. */
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "../helpers.h"
#include "msgq-helpers.h"

static struct smem_msgq_config cfg(unsigned depth, unsigned max, unsigned doorbell)
{
	struct smem_msgq_config c;

	smem_msgq_config_init(&c);
	c.depth = depth;
	c.max_msg_size = max;
	c.doorbell = doorbell;
	return c;
}

Test(msgq, size_and_defaults)
{
	struct smem_msgq_config c;
	size_t size;

	smem_msgq_config_init(&c);
	cr_assert_eq(c.depth, 8);
	cr_assert_eq(c.max_msg_size, 240);
	cr_assert_eq(smem_msgq_size(8, 240, &size), 0);
	cr_assert_eq(size, 320 + 8 * 256);
	cr_assert_eq(smem_msgq_size(255, 1023, &size), 0);
	cr_assert_eq(size, 320 + 256 * 1088);
	cr_assert_eq(smem_msgq_size(0, 240, &size), -EINVAL);
	cr_assert_eq(smem_msgq_size(256, 240, &size), -EINVAL);
	cr_assert_eq(smem_msgq_size(8, 0, &size), -EINVAL);
	cr_assert_eq(smem_msgq_size(8, 1024, &size), -EINVAL);
}

Test(msgq, init_checks_its_arguments)
{
	struct smem_msgq_config c = cfg(8, 240, SMEM_MSGQ_DOORBELL_FUTEX);
	_Alignas(64) static uint8_t mem[4096];

	cr_assert_eq(smem_msgq_init(mem, 100, &c), -ENOSPC);
	cr_assert_eq(smem_msgq_init(mem + 4, sizeof(mem) - 4, &c), -EINVAL);
	c.notempty_thd = 9;
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), &c), -EINVAL);
	c.notempty_thd = 0;
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), &c), -EINVAL);
	c.notempty_thd = SMEM_MSGQ_THD_DEFAULT;
	c.notfull_thd = 8;
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), &c), -EINVAL);
	c.notfull_thd = SMEM_MSGQ_THD_DEFAULT;
	c.flags = 0x10;
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), &c), -EINVAL);
	c.flags = 0;
	c.doorbell = 7;
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), &c), -EINVAL);
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), NULL), 0);
}

Test(msgq, open_refuses_what_is_not_a_queue)
{
	_Alignas(64) static uint8_t mem[4096];
	struct smem_msgq *q;
	struct msgq_shm *m = (struct msgq_shm *)mem;
	struct smem_msgq_opts o;

	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), SMEM_MSGQ_RX, NULL, &q), -EPROTO);
	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), NULL), 0);
	cr_assert_eq(smem_msgq_open(mem, 1000, SMEM_MSGQ_RX, NULL, &q), -EBADMSG);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), 0x4, NULL, &q), -EINVAL);
	m->hdr.depth = htole16(300);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), SMEM_MSGQ_RX, NULL, &q), -EBADMSG);
	m->hdr.depth = htole16(8);
	m->hdr.nslots = htole16(16);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), SMEM_MSGQ_RX, NULL, &q), -EBADMSG);
	m->hdr.nslots = htole16(8);
	m->hdr.version = htole16(2);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), SMEM_MSGQ_RX, NULL, &q), -EPROTO);
	m->hdr.version = htole16(1);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), SMEM_MSGQ_RX, NULL, &q), 0);
	smem_msgq_close(q);

	/* An eventfd queue needs its eventfds. */
	struct smem_msgq_config c = cfg(8, 240, SMEM_MSGQ_DOORBELL_EVENTFD);

	cr_assert_eq(smem_msgq_init(mem, sizeof(mem), &c), 0);
	smem_msgq_opts_init(&o);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), SMEM_MSGQ_RX, &o, &q), -EINVAL);
	cr_assert_eq(smem_msgq_open(mem, sizeof(mem), 0, &o, &q), 0);
	smem_msgq_close(q);
}

/* Conformance test 1 of the spec: depth 8, the 8th send reports full, the 9th fails. */
Test(msgq, depth_8_fills_and_one_receive_rings_once)
{
	struct smem_msgq_config c = cfg(8, 240, SMEM_MSGQ_DOORBELL_EVENTFD);
	struct smem_msgq_stats st;
	char buf[240];
	size_t size;
	struct tq t;

	tq_make(&t, &c);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(smem_msgq_send(t.tx, "m", 1, 0), 1, "send %d reports not_full", i);
	cr_assert_eq(smem_msgq_send(t.tx, "m", 1, 0), 0, "the 8th send reports full");
	cr_assert_eq(smem_msgq_send(t.tx, "m", 1, 0), -EAGAIN, "a 9th is refused");
	cr_assert_eq(smem_msgq_arm(t.tx), 0, "the sender waits for the send notification");
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 1);
	cr_assert_eq(efd_take(t.tx_efd), 1, "one receive fires the send notification");
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 1);
	cr_assert_eq(efd_take(t.tx_efd), 0, "and fires it exactly once");
	cr_assert_eq(smem_msgq_stat(t.rx, &st), 0);
	cr_assert_eq(st.count, 6);
	cr_assert_eq(st.full_events, 1);
	cr_assert_eq(st.tx_notify, 1);
	cr_assert_eq(st.sent, 8);
	cr_assert_eq(st.received, 2);
	tq_free(&t);
}

Test(msgq, fifo_sizes_and_not_empty)
{
	char buf[240];
	size_t size;
	struct tq t;

	tq_make(&t, NULL);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EAGAIN);
	cr_assert_eq(smem_msgq_send(t.tx, "hello", 5, 0), 1);
	cr_assert_eq(smem_msgq_send(t.tx, "world!", 6, 0), 1);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 1, "more follow");
	cr_assert_eq(size, 5);
	cr_assert_arr_eq(buf, "hello", 5);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 0, "the last one");
	cr_assert_eq(size, 6);
	cr_assert_arr_eq(buf, "world!", 6);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EAGAIN);
	tq_free(&t);
}

Test(msgq, sizes_and_rights)
{
	char big[241] = { 0 }, buf[240];
	size_t size;
	struct tq t;

	tq_make(&t, NULL);
	cr_assert_eq(smem_msgq_send(t.tx, big, 0, 0), -EMSGSIZE);
	cr_assert_eq(smem_msgq_send(t.tx, big, 241, 0), -EMSGSIZE);
	cr_assert_eq(smem_msgq_send(t.tx, big, 240, 0), 1, "exactly max_msg_size fits");
	cr_assert_eq(smem_msgq_send(t.tx, big, 1, 0x2), -EINVAL, "unknown flag bits");
	cr_assert_eq(smem_msgq_send(t.rx, big, 1, 0), -EPERM, "the receive end cannot send");
	cr_assert_eq(smem_msgq_recv(t.tx, buf, sizeof(buf), &size), -EPERM);
	cr_assert_eq(smem_msgq_flush(t.tx), -EPERM);
	cr_assert_eq(smem_msgq_configure_recv(t.tx, 1), -EPERM);
	cr_assert_eq(smem_msgq_configure_send(t.rx, 1), -EPERM);
	cr_assert_eq(smem_msgq_arm(t.rx), -EOPNOTSUPP, "futex queues have no eventfd");
	tq_free(&t);
}

Test(msgq, long_message_stays_queued)
{
	char buf[16], big[100];
	size_t size;
	struct tq t;

	tq_make(&t, NULL);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(smem_msgq_send(t.tx, big, sizeof(big), 0), 1);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EMSGSIZE);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EMSGSIZE, "still there");
	cr_assert_eq(smem_msgq_recv(t.rx, big, sizeof(big), &size), 0);
	cr_assert_eq(size, 100);
	tq_free(&t);
}

Test(msgq, not_empty_threshold_and_push)
{
	struct smem_msgq_config c = cfg(8, 64, SMEM_MSGQ_DOORBELL_EVENTFD);
	struct tq t;

	c.notempty_thd = 3;
	tq_make(&t, &c);
	cr_assert_eq(smem_msgq_arm(t.rx), 0);
	cr_assert_eq(smem_msgq_send(t.tx, "a", 1, 0), 1);
	cr_assert_eq(smem_msgq_send(t.tx, "b", 1, 0), 1);
	cr_assert_eq(efd_take(t.rx_efd), 0, "two messages are below the threshold");
	cr_assert_eq(smem_msgq_send(t.tx, "c", 1, 0), 1);
	cr_assert_eq(efd_take(t.rx_efd), 1, "the third reaches it");
	cr_assert_eq(smem_msgq_flush(t.rx), 3);

	cr_assert_eq(smem_msgq_arm(t.rx), 0);
	cr_assert_eq(smem_msgq_send(t.tx, "d", 1, SMEM_MSGQ_PUSH), 1);
	cr_assert_eq(efd_take(t.rx_efd), 1, "a push rings below the threshold");
	cr_assert_eq(smem_msgq_arm(t.rx), 1, "and stays pending until drained");
	tq_free(&t);
}

Test(msgq, configure_recv_reevaluates)
{
	struct smem_msgq_config c = cfg(8, 64, SMEM_MSGQ_DOORBELL_EVENTFD);
	struct smem_msgq_stats st;
	struct tq t;

	c.notempty_thd = SMEM_MSGQ_THD_MAXIMUM;
	tq_make(&t, &c);
	cr_assert_eq(smem_msgq_stat(t.rx, &st), 0);
	cr_assert_eq(st.notempty_thd, 8, "maximum means the depth");
	cr_assert_eq(st.notfull_thd, 7, "the default not-full threshold is depth - 1");
	cr_assert_eq(smem_msgq_send(t.tx, "a", 1, 0), 1);
	cr_assert_eq(smem_msgq_send(t.tx, "b", 1, 0), 1);
	cr_assert_eq(smem_msgq_arm(t.rx), 0);
	cr_assert_eq(smem_msgq_configure_recv(t.rx, SMEM_MSGQ_THD_UNCHANGED), 0);
	cr_assert_eq(efd_take(t.rx_efd), 0);
	cr_assert_eq(smem_msgq_configure_recv(t.rx, 0), -EINVAL);
	cr_assert_eq(smem_msgq_configure_recv(t.rx, 9), -EINVAL);
	cr_assert_eq(smem_msgq_configure_recv(t.rx, 2), 0);
	cr_assert_eq(efd_take(t.rx_efd), 1, "lowering it to the count rings at once");
	cr_assert_eq(smem_msgq_stat(t.rx, &st), 0);
	cr_assert_eq(st.notempty_thd, 2);
	tq_free(&t);
}

Test(msgq, not_full_threshold)
{
	struct smem_msgq_config c = cfg(4, 64, SMEM_MSGQ_DOORBELL_EVENTFD);
	char buf[64];
	size_t size;
	struct tq t;

	tq_make(&t, &c);
	cr_assert_eq(smem_msgq_configure_send(t.tx, 4), -EINVAL);
	cr_assert_eq(smem_msgq_configure_send(t.tx, -5), -EINVAL);
	cr_assert_eq(smem_msgq_configure_send(t.tx, 1), 0);
	for (int i = 0; i < 4; i++)
		smem_msgq_send(t.tx, "x", 1, 0);
	cr_assert_eq(smem_msgq_arm(t.tx), 0);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 1);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 1);
	cr_assert_eq(efd_take(t.tx_efd), 0, "count 2 is above the threshold 1");
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 1);
	cr_assert_eq(efd_take(t.tx_efd), 1, "count 1 reaches it");
	cr_assert_eq(smem_msgq_arm(t.tx), 1, "the level holds on re-arm");
	tq_free(&t);
}

Test(msgq, flush_discards_zeroes_and_notifies)
{
	struct smem_msgq_config c = cfg(4, 64, SMEM_MSGQ_DOORBELL_EVENTFD);
	struct smem_msgq_stats st;
	char buf[64];
	size_t size;
	struct tq t;

	tq_make(&t, &c);
	for (int i = 0; i < 4; i++)
		smem_msgq_send(t.tx, "secret", 6, 0);
	cr_assert_eq(smem_msgq_arm(t.tx), 0);
	cr_assert_eq(smem_msgq_flush(t.rx), 4);
	cr_assert_eq(efd_take(t.tx_efd), 1, "a flush of a full queue wakes the sender");
	cr_assert_null(memmem(t.mem, t.size, "secret", 6), "the discarded payloads are zeroed");
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EAGAIN);
	cr_assert_eq(smem_msgq_flush(t.rx), 0);
	cr_assert_eq(smem_msgq_send(t.tx, "again", 5, 0), 1, "the queue is usable after it");
	cr_assert_eq(smem_msgq_stat(t.rx, &st), 0);
	cr_assert_eq(st.flushed, 4);
	cr_assert_eq(st.count, 1);
	tq_free(&t);
}

Test(msgq, positions_wrap_around)
{
	struct smem_msgq_config c = cfg(5, 32, SMEM_MSGQ_DOORBELL_FUTEX);
	struct nmsg m;
	size_t size;
	struct tq t;

	tq_make(&t, &c);
	/* Start both positions just below 2^32, as after four billion messages. */
	atomic_store(&tq_shm(&t)->tx.pos, 0xfffffff0u);
	atomic_store(&tq_shm(&t)->rx.head, 0xfffffff0u);
	tq_free(&t);
	tq_make(&t, &c);
	atomic_store(&tq_shm(&t)->tx.pos, 0xfffffff0u);
	atomic_store(&tq_shm(&t)->rx.head, 0xfffffff0u);
	smem_msgq_close(t.tx);
	smem_msgq_close(t.rx);
	tq_open_ends(&t);
	for (uint32_t i = 0; i < 100; i++) {
		uint8_t buf[32];

		nmsg_fill(&m, 1, i);
		cr_assert_geq(smem_msgq_send(t.tx, &m, 32, 0), 0);
		if (i % 3 == 2)
			continue;
		while (smem_msgq_recv(t.rx, buf, sizeof(buf), &size) >= 0)
			cr_assert_eq(size, 32);
	}
	cr_assert_eq(atomic_load(&tq_shm(&t)->tx.pos), 0xfffffff0u + 100);
	tq_free(&t);
}

Test(msgq, blocking_calls_time_out)
{
	struct smem_msgq_config c = cfg(2, 16, SMEM_MSGQ_DOORBELL_FUTEX);
	char buf[16];
	size_t size;
	struct tq t;

	tq_make(&t, &c);
	cr_assert_eq(smem_msgq_recv_wait(t.rx, buf, sizeof(buf), &size, 20), -ETIMEDOUT);
	cr_assert_eq(smem_msgq_send_wait(t.tx, "a", 1, 0, 20), 1);
	cr_assert_eq(smem_msgq_send_wait(t.tx, "b", 1, 0, 20), 0);
	cr_assert_eq(smem_msgq_send_wait(t.tx, "c", 1, 0, 20), -ETIMEDOUT);
	cr_assert_eq(smem_msgq_recv_wait(t.rx, buf, sizeof(buf), &size, 20), 1);
	cr_assert_eq(smem_msgq_send_wait(t.tx, "c", 1, 0, 20), 0, "room again: no wait");
	cr_assert_eq(smem_msgq_send_wait(t.tx, "d", 1, 0, 0), -EAGAIN, "0 tries once");
	tq_free(&t);
}

Test(msgq, poll_doorbell_blocking_calls)
{
	struct smem_msgq_config c = cfg(2, 16, SMEM_MSGQ_DOORBELL_POLL);
	char buf[16];
	size_t size;
	struct tq t;

	tq_make(&t, &c);
	cr_assert_eq(smem_msgq_recv_wait(t.rx, buf, sizeof(buf), &size, 10), -ETIMEDOUT);
	cr_assert_eq(smem_msgq_send(t.tx, "a", 1, 0), 1);
	cr_assert_eq(smem_msgq_recv_wait(t.rx, buf, sizeof(buf), &size, 10), 0);
	cr_assert_eq(smem_msgq_arm(t.rx), -EOPNOTSUPP);
	tq_free(&t);
}

/* A hostile sender: impossible lengths are refused and skipped; the queue goes on. */
Test(msgq, scribbled_length_is_refused_and_skipped)
{
	char buf[240];
	size_t size;
	struct tq t;
	struct smem_msgq_stats st;

	tq_make(&t, NULL);
	smem_msgq_send(t.tx, "bad", 3, 0);
	smem_msgq_send(t.tx, "good", 4, 0);
	atomic_store(&((struct msgq_slot *)((uint8_t *)t.mem + MSGQ_SLOTS_OFF))->len, 5000);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EBADMSG);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 0);
	cr_assert_arr_eq(buf, "good", 4);
	cr_assert_eq(smem_msgq_stat(t.rx, &st), 0);
	cr_assert_eq(st.bad, 1);
	tq_free(&t);
}

/* A hostile receiver: a head beyond the sender's position is -EBADMSG, not a wild write. */
Test(msgq, scribbled_head_is_refused)
{
	struct tq t;

	tq_make(&t, NULL);
	for (int i = 0; i < 8; i++)
		smem_msgq_send(t.tx, "x", 1, 0);
	atomic_store(&tq_shm(&t)->rx.head, 1000);
	cr_assert_eq(smem_msgq_send(t.tx, "x", 1, 0), -EBADMSG);
	atomic_store(&tq_shm(&t)->rx.head, 4);
	cr_assert_eq(smem_msgq_send(t.tx, "x", 1, 0), 1);
	tq_free(&t);
}

/* The queue placed in an SMEM item, the way two hosts of an SMEM region share one. */
Test(msgq, lives_in_an_smem_item)
{
	struct img im;
	struct smem *s;
	struct smem_msgq *tx, *rx;
	char buf[240];
	size_t qsize, size;
	void *p;

	img_v(&im, 12, 256 * 1024);
	cr_assert_eq(img_open(&im, 0, &s), 0);
	cr_assert_eq(smem_msgq_size(8, 240, &qsize), 0);
	cr_assert_eq(smem_item_alloc(s, 1, 100, qsize, 0), 0);
	cr_assert_eq(smem_item_get(s, 1, 100, &p, &size), 0);
	cr_assert_eq(smem_msgq_init(p, size, NULL), 0);
	cr_assert_eq(smem_msgq_open(p, size, SMEM_MSGQ_TX, NULL, &tx), 0);
	cr_assert_eq(smem_msgq_open(p, size, SMEM_MSGQ_RX, NULL, &rx), 0);
	cr_assert_eq(smem_msgq_send(tx, "to the modem", 12, SMEM_MSGQ_PUSH), 1);
	cr_assert_eq(smem_msgq_recv(rx, buf, sizeof(buf), &size), 0);
	cr_assert_arr_eq(buf, "to the modem", 12);
	cr_assert_eq(img_fsck(&im), 0, "the heap around the queue is intact");
	smem_msgq_close(tx);
	smem_msgq_close(rx);
	smem_close(s);
	img_free(&im);
}

Test(msgq, recover_turns_an_unpublished_claim_into_a_hole)
{
	char buf[240];
	size_t size;
	struct tq t;

	tq_make(&t, NULL);
	smem_msgq_send(t.tx, "one", 3, 0);
	/* A sender that died after claiming position 1 and before publishing it. */
	atomic_store(&tq_shm(&t)->tx.pos, 2);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 0);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), -EAGAIN, "nothing torn shows");
	cr_assert_eq(smem_msgq_recover(t.tx), 1);
	smem_msgq_send(t.tx, "three", 5, 0);
	cr_assert_eq(smem_msgq_recv(t.rx, buf, sizeof(buf), &size), 0, "the hole is skipped");
	cr_assert_arr_eq(buf, "three", 5);
	tq_free(&t);
}

/*
 * The fast paths make no system call: a child under strict seccomp, which kills
 * a process on any call but read, write, exit and sigreturn, sends and receives
 * thousands of messages on queues with each doorbell while nobody sleeps.
 */
Test(msgq, fast_paths_make_no_system_call)
{
	static const unsigned bells[] = { SMEM_MSGQ_DOORBELL_FUTEX, SMEM_MSGQ_DOORBELL_EVENTFD,
					  SMEM_MSGQ_DOORBELL_POLL };

	for (size_t b = 0; b < 3; b++) {
		struct smem_msgq_config c = cfg(8, 64, bells[b]);
		struct tq t;
		pid_t pid;
		int st;

		c.flags = b == 0 ? SMEM_MSGQ_MULTI_SEND | SMEM_MSGQ_MULTI_RECV : 0;
		tq_make(&t, &c);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			char buf[64];
			size_t size;
			int bad = 0;

			/* A process's first notification may register it for membarrier. */
			if (smem_msgq_send(t.tx, "warm", 4, 0) != 1)
				syscall(SYS_exit, 3);
			if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
				syscall(SYS_exit, 2);
			for (int i = 0; i < 10000; i++) {
				if (smem_msgq_send(t.tx, "payload", 7, i % 100 ? 0 : SMEM_MSGQ_PUSH) < 0 ||
				    smem_msgq_recv(t.rx, buf, sizeof(buf), &size) < 0)
					bad = 1;
			}
			smem_msgq_configure_recv(t.rx, 2);
			smem_msgq_configure_send(t.tx, 3);
			smem_msgq_flush(t.rx);
			syscall(SYS_exit, bad);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "doorbell %u: a system call on the fast path (status 0x%x)", bells[b], st);
		tq_free(&t);
	}
}

/*
 * A peer that changes rx.head exactly when this receiver writes it, every time:
 * the receiver's end is mapped a second time, its first page read-only, and a
 * SIGSEGV handler flips the top bit of head's completion count (through the
 * sender's writable mapping) before letting the write run, one instruction,
 * under the trap flag. A completion that was a bounded compare-and-swap loop
 * gave up under such a peer with -EBADMSG after the message was claimed and
 * copied: the message was lost and head stayed behind the claims. A completion
 * is now one fetch-and-add, which cannot fail, so every claimed message is
 * returned; what the peer did to head is repaired by smem_msgq_recover().
 */
#if defined(__x86_64__)
#include <sys/mman.h>
#include <ucontext.h>

#define TRAP_FLAG 0x100

static struct {
	uint8_t *page;          /* the receiver's mapping of the queue's first page */
	_Atomic uint64_t *head; /* rx.head in the receiver's mapping */
	_Atomic uint64_t *alias; /* rx.head in the sender's mapping */
	_Atomic unsigned hits;
} peer;

static void on_write(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint8_t *a = si->si_addr;

	if (a < peer.page || a >= peer.page + 4096) {
		signal(sig, SIG_DFL);
		return;
	}
	if (a >= (uint8_t *)peer.head && a < (uint8_t *)(peer.head + 1)) {
		atomic_fetch_xor(peer.alias, (uint64_t)1 << 63);
		atomic_fetch_add(&peer.hits, 1);
	}
	mprotect(peer.page, 4096, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= TRAP_FLAG;
}

static void after_write(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	(void)si;
	mprotect(peer.page, 4096, PROT_READ);
	uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)TRAP_FLAG;
}

Test(msgq, a_claimed_message_is_returned_whatever_a_peer_does_to_head, .timeout = 120)
{
	struct smem_msgq_config c = cfg(8, sizeof(struct nmsg), SMEM_MSGQ_DOORBELL_POLL);
	struct sigaction segv = { .sa_sigaction = on_write, .sa_flags = SA_SIGINFO };
	struct sigaction trap = { .sa_sigaction = after_write, .sa_flags = SA_SIGINFO };
	struct smem_msgq *rx;
	uint8_t *mine;
	struct tq t;

	c.flags = SMEM_MSGQ_MULTI_RECV;
	tq_make(&t, &c);
	mine = mmap(NULL, t.size, PROT_READ | PROT_WRITE, MAP_SHARED, smem_region_fd(t.r), 0);
	cr_assert_neq(mine, MAP_FAILED);
	cr_assert_eq(smem_msgq_open(mine, t.size, SMEM_MSGQ_RX, NULL, &rx), 0);
	peer.page = mine;
	peer.head = &((struct msgq_shm *)mine)->rx.head;
	peer.alias = &tq_shm(&t)->rx.head;
	cr_assert_eq(sigaction(SIGSEGV, &segv, NULL), 0);
	cr_assert_eq(sigaction(SIGTRAP, &trap, NULL), 0);
	cr_assert_eq(mprotect(mine, 4096, PROT_READ), 0);
	for (uint32_t round = 0; round < 100; round++) {
		for (uint32_t i = 0; i < c.depth; i++) {
			struct nmsg m;

			nmsg_fill(&m, 1, round * c.depth + i);
			cr_assert_eq(smem_msgq_send(t.tx, &m, sizeof(m), 0) < 0 ? -1 : 0, 0,
				     "round %u: the queue is wedged", round);
		}
		for (uint32_t i = 0; i < c.depth; i++) {
			struct nmsg m;
			size_t size;
			int r = smem_msgq_recv(rx, &m, sizeof(m), &size);

			cr_assert_geq(r, 0, "round %u, message %u: claimed, then lost: %d", round, i, r);
			cr_assert(size == sizeof(m) && nmsg_ok(&m) && m.n == round * c.depth + i,
				  "round %u, message %u: not the message sent", round, i);
		}
		/* What the peer did to head leaves it behind the claims; recovery repairs it. */
		cr_assert_geq(smem_msgq_recover(rx), 0);
	}
	cr_assert_eq(mprotect(mine, 4096, PROT_READ | PROT_WRITE), 0);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGTRAP, SIG_DFL);
	cr_assert_gt(atomic_load(&peer.hits), 0, "the peer never struck");
	smem_msgq_close(rx);
	munmap(mine, t.size);
	tq_free(&t);
}
#endif
