/*
 * The message-queue index and notification protocol (lib/msgq/), one sender and
 * one receiver, both using the blocking calls.
 *
 * The sender claims position pos, writes the slot, publishes seq = pos + 1 (S1),
 * then looks at the receive bell (F1) and rings it if a receiver sleeps and the
 * level holds (count >= notempty_thd) or the message is pushed. The receiver
 * takes the slot at head when its seq is head + 1 (A1), frees it (R1), then looks
 * at the send bell and rings it if a sender sleeps and count <= notfull_thd.
 * A waiter reads the bell's seq, sets its sleep bit, re-checks the level (W1)
 * and sleeps in FUTEX_WAIT only while seq is unchanged; a ring clears the bits,
 * bumps seq and wakes every sleeper (D1, D2).
 *
 * Promela runs the statements in one interleaving at a time, which is what the
 * seq_cst fences F1 and W1 give the C code for the accesses that matter here:
 * the publishing store before the look at the bell, the sleep bit before the
 * re-check. (On asymmetric queues the waiter's membarrier stands in for the
 * notifier's fence; the guarantee, and so this model, is the same.)
 * A depth of 3 in 4 slots mirrors the rounding of the C layout. Every pair of
 * thresholds is tried; the last message is pushed, as Linux pushes the last
 * fragment of a request.
 *
 * Checked: no message lost, doubled or reordered (the receiver asserts each
 * value), no overflow (never more than DEPTH claimed and unconsumed), and no
 * lost wake-up: a run where a process sleeps forever is an invalid end state.
 * The mutants (MUTANT_NO_RX_RING, MUTANT_NO_TX_RING, MUTANT_LATE_SLEEP_BIT:
 * the waiter announces itself after its re-check) must each make spin report
 * an error, which shows the check can catch a lost wake-up.
 */
#define DEPTH 3
#define NSLOTS 4
#define N 6

byte slot_seq[NSLOTS];
byte slot_val[NSLOTS];
bool slot_push[NSLOTS];
byte pos;          /* tx.pos */
byte head;         /* rx.head */
byte ne_thd;       /* rx.notempty_thd */
byte nf_thd;       /* tx.notfull_thd */
byte rx_seq;       /* the receive bell */
bool rx_sleep;
byte tx_seq;       /* the send bell */
bool tx_sleep;
byte received;

/* The receive level, read one slot at a time as the C code does. */
inline rx_level(h, i, res, pushed) {
	h = head; i = 0; res = 0; pushed = 0;
	do
	:: i < ne_thd ->
		if
		:: slot_seq[(h + i) % NSLOTS] == h + i + 1 ->
			if :: slot_push[(h + i) % NSLOTS] -> pushed = 1 :: else -> skip fi;
			i++
		:: else -> res = pushed; break
		fi
	:: else -> res = 1; break
	od
}

inline tx_level(res) {
	if :: (pos - head) <= nf_thd -> res = 1 :: else -> res = 0 fi
}

/* D1, D2: take the sleep bit, bump seq (the futex wake follows it). */
inline ring(sleep, seq) {
	atomic { if :: sleep -> sleep = 0; seq++ :: else -> skip fi }
}

proctype Sender()
{
	byte n = 0, p, used, s, s0, h, i;
	bool lvl, pushed, wait_first = 0;

	do
	:: n == N -> break
	:: n < N ->
		/* §1.6: wait for the send notification only after a send reported full. */
		if
		:: wait_first ->
			s0 = tx_seq;
			do
			:: true ->
				s = tx_seq;
				if :: s != s0 -> break :: else -> skip fi;
				tx_sleep = 1;                     /* W1 */
				tx_level(lvl);
				if :: lvl -> tx_sleep = 0; break :: else -> skip fi;
				(tx_seq != s)                     /* FUTEX_WAIT(seq, s) */
			od
		:: else -> skip
		fi;
		p = pos;
		used = p - head;
		assert(used <= DEPTH);
		if
		:: used == DEPTH -> wait_first = 1        /* -EAGAIN */
		:: else ->
			pos = p + 1;                          /* T2: claim */
			slot_val[p % NSLOTS] = n;
			slot_push[p % NSLOTS] = (n == N - 1);
			slot_seq[p % NSLOTS] = p + 1;         /* S1: publish */
			assert(pos - head <= DEPTH);
			/* F1, then the receive bell */
#ifndef MUTANT_NO_RX_RING
			if
			:: rx_sleep ->
				rx_level(h, i, lvl, pushed);
				if :: lvl || n == N - 1 -> ring(rx_sleep, rx_seq) :: else -> skip fi
			:: else -> skip
			fi;
#endif
			wait_first = (pos - head >= DEPTH);
			n++
		fi
	od
}

proctype Receiver()
{
	byte h, i, s, s0;
	bool lvl, pushed;

	do
	:: received == N -> break
	:: received < N ->
		h = head;
		if
		:: slot_seq[h % NSLOTS] == h + 1 ->       /* A1 */
			assert(slot_val[h % NSLOTS] == received);
			received++;
			head = h + 1;                         /* R1 */
			/* F1, then the send bell */
#ifndef MUTANT_NO_TX_RING
			if
			:: tx_sleep ->
				tx_level(lvl);
				if :: lvl -> ring(tx_sleep, tx_seq) :: else -> skip fi
			:: else -> skip
			fi
#else
			skip
#endif
		:: else ->
			/* empty: wait for the receive notification */
			s0 = rx_seq;
			do
			:: true ->
				s = rx_seq;
				if :: s != s0 -> break :: else -> skip fi;
#ifndef MUTANT_LATE_SLEEP_BIT
				rx_sleep = 1;                     /* W1 */
				rx_level(h, i, lvl, pushed);
#else
				rx_level(h, i, lvl, pushed);
				rx_sleep = 1;
#endif
				if :: lvl -> rx_sleep = 0; break :: else -> skip fi;
				(rx_seq != s)                     /* FUTEX_WAIT(seq, s) */
			od
		fi
	od
}

init {
	byte k;

	/* Every slot starts published for an older position, as smem_msgq_init() writes. */
	for (k : 0 .. NSLOTS - 1) { slot_seq[k] = 0 }
	if :: ne_thd = 1 :: ne_thd = 2 :: ne_thd = 3 fi;
	if :: nf_thd = 0 :: nf_thd = 1 :: nf_thd = 2 fi;
	atomic { run Sender(); run Receiver() }
}
