/*
 * allow-multi-call (SMEM_SCM_MULTI_CALL): one client whose NT threads have
 * calls in flight together, each on a slot of its own, and whose wake-ups
 * ride on its calls as WAITQ_WAKE + WAITQ_ACK; tzd/server.c (piggyback(),
 * tzd_execute(), do_hold(), hand_on(), resume_timeout()) and
 * lib/scm/client.c (smc_multi(), deliver(), sleep_multi(), call_multi(),
 * the interrupt thread's NOP).
 *
 * Every thread makes ROUNDS calls to HOLD one resource R, so that they
 * contend with each other: a thread parks (WAITQ_SLEEP with its context),
 * and when its turn comes smemtzd queues a wake-up naming that context and
 * raises the client's interrupt. The wake-up rides on the next standard call
 * of the client that smemtzd takes, on whichever slot: a thread's HOLD, its
 * RESUME, its WAITQ_ACK, or the interrupt thread's NOP. That call is answered
 * WAITQ_WAKE {the context}, its frame kept; the client delivers the wake-up
 * at once (deliver(): the completion of the thread sleeping in that context,
 * or, if it does not sleep yet, the early list), then acknowledges, and the
 * kept frame is executed (and may carry the next wake-up). A thread answered
 * SLEEP looks in the early list first (sleep_multi()), else sleeps on its
 * completion; then it RESUMEs, which may be answered SLEEP again (a late
 * resume) or carry a wake-up. When its call is over, a wake-up of its last
 * context left in the early list goes.
 *
 * smemtzd handles one request per atomic step (d_step), as its one thread
 * does; a post and its taking are one step (nothing else sees the slot in
 * between), as in scm.pml. deliver() and the post of the ACK after it are
 * two steps, as they are in the code (scm.multi.wake lies between).
 *
 * Checked (models/meson.build):
 *   safety  one holder at a time, taken only when free and not kept for
 *           another; each call executed once; a RESUME names a live context
 *           the same slot parked; an ACK names the context its slot's WAKE
 *           named (smemtzd never has cause to answer EINVAL_ARG); no thread
 *           left sleeping or waiting when all else has stopped (an invalid
 *           end state). Runs: safety (2 threads, 2 calls each, 1 late
 *           resume), safety+ROUNDS=3, safety+MAXLATE=2 and
 *           safety+NT=3+ROUNDS=1; safety+ROUNDS=3+MAXLATE=2 passes too (24
 *           million states, a minute), too long for the suite.
 *   done    every thread completes all its calls, under weak fairness.
 *   !early_wake  witness: a wake-up delivered before its sleeper sleeps (it goes
 *           to the early list).
 *   mutants, each must fail safety:
 *   MUTANT_NO_EARLY     deliver() drops a wake-up nobody sleeps for yet: its
 *                       sleeper, between its SLEEP answer and its sleep,
 *                       sleeps for ever;
 *   MUTANT_DELIVER_LATE the thread delivers a wake-up it carried only when
 *                       its own call is over: a HOLD that carried the wake-up
 *                       of the call R is kept for parks behind it, and
 *                       neither ever goes on;
 *   MUTANT_NO_NOP       the interrupt thread does not call: with every
 *                       thread asleep, no call carries the wake-up;
 *   MUTANT_NO_GEN       a context's id is its index alone: a thread whose
 *                       call is over takes out of the early list the wake-up
 *                       of the next call in its old context, whose sleeper
 *                       then sleeps for ever.
 * With 3 threads of 2 calls each the state space outgrows the machine's
 * memory; NT=3 runs with one call each.
 */
#ifndef NT
#define NT 2
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif
#ifndef MAXLATE
#define MAXLATE 1
#endif

#define NONE 255
#define NS (NT + 1)        /* slot 0 the interrupt thread's, slot t + 1 thread t's */
#define NCTX NT
#define NEARLY 4
/*
 * A context's id is its index and a generation, as ctx_id() makes it
 * (index + NCTX * generation here): a wake-up of a context's earlier call
 * must not match a later call in the same index. No run allocates an index
 * GENS times, so ids do not wrap.
 */
#define GENS 8
#ifdef MUTANT_NO_GEN
#define ID(x) (x)
#else
#define ID(x) ((x) + NCTX * ctx_gen[x])
#endif
#define IDX(v) ((v) % NCTX)

/* frames */
#define F_HOLD 1
#define F_RESUME 2
#define F_ACK 3
#define F_NOP 4
/* answers */
#define A_SLEEP 1
#define A_DONE 2
#define A_WAKE 3

byte req[NS];
byte req_ctx[NS];
byte ans[NS];
byte ans_ctx[NS];
bool held[NS];             /* a frame kept until the slot's ACK */
byte held_f[NS];
byte held_fctx[NS];
byte held_wake[NS];        /* the context its WAKE named */

byte holder = NONE;        /* the slot holding R */
byte reserved = NONE;
byte fifo[NCTX];
byte flen;
bool ctx_used[NCTX];
bool ctx_woken[NCTX];
byte ctx_slot[NCTX];
byte ctx_gen[NCTX];
byte nlate;

byte wakes[2 * NCTX];      /* wake-ups queued for the client */
byte wlen;
bool irq;

/* the client */
bool sleeping[NT];
byte waiter[NT];
byte sem[NT];
byte early[NEARLY];
byte nearly;
bool exec[NT];
bool done[NT];
bool went_early;

#if NT == 2
#define ALL_DONE (done[0] && done[1])
#elif NT == 3
#define ALL_DONE (done[0] && done[1] && done[2])
#else
#error "NT is 2 or 3"
#endif

ltl done { <> ALL_DONE }
ltl early_wake { [] !went_early }

inline fifo_push(v) {
	assert(flen < NCTX);
	fifo[flen] = v;
	flen++
}

inline fifo_pop(v) {
	v = fifo[0];
	k = 1;
	do
	:: k < flen -> fifo[k - 1] = fifo[k]; k++
	:: else -> break
	od;
	flen--;
	fifo[flen] = 0;
	k = 0
}

inline wake(v) {
	ctx_woken[v] = true;
	assert(wlen < 2 * NCTX);
	wakes[wlen] = ID(v);
	wlen++;
	irq = true
}

inline hand_on() {
	if
	:: holder == NONE && reserved == NONE && flen > 0 ->
		fifo_pop(x);
		reserved = x;
		wake(x);
		x = 0
	:: else -> skip
	fi
}

inline park(s) {
	x = 0;
	do
	:: x < NCTX && ctx_used[x] -> x++
	:: else -> break
	od;
	assert(x < NCTX);
	ctx_used[x] = true;
	ctx_woken[x] = false;
	ctx_slot[x] = s;
	fifo_push(x);
	ans_ctx[s] = ID(x);
	ans[s] = A_SLEEP;
	x = 0
}

inline do_hold(s) {
	if
	:: (resumed != NONE -> (reserved != resumed || holder != NONE)
	                    : (holder != NONE || reserved != NONE || flen > 0)) ->
		park(s)
	:: else ->
		assert(holder == NONE && (reserved == NONE || reserved == resumed));
		reserved = NONE;
		holder = s;
		assert(s > 0 && !exec[s - 1]);
		exec[s - 1] = true
	fi;
	resumed = NONE
}

/* run(): a wake-up waiting rides on this frame; else it is executed. */
inline run_frame(s, f, fctx) {
	if
	:: wlen > 0 ->
		held[s] = true;
		held_f[s] = f;
		held_fctx[s] = fctx;
		held_wake[s] = wakes[0];
		ans_ctx[s] = wakes[0];
		ans[s] = A_WAKE;
		k = 1;
		do
		:: k < wlen -> wakes[k - 1] = wakes[k]; k++
		:: else -> break
		od;
		wlen--;
		wakes[wlen] = 0;
		k = 0
	:: else ->
		if
		:: f == F_HOLD -> do_hold(s)
		:: f == F_NOP -> ans[s] = A_DONE
		:: f == F_RESUME ->
			y = IDX(fctx);
			assert(ctx_used[y] && ID(y) == fctx && ctx_slot[y] == s);
			if
			:: !ctx_woken[y] -> ans_ctx[s] = fctx; ans[s] = A_SLEEP
			:: else ->
				ctx_used[y] = false; ctx_woken[y] = false; ctx_slot[y] = 0;
				ctx_gen[y]++;
				assert(ctx_gen[y] < GENS);
				resumed = y;
				do_hold(s)
			fi;
			y = 0
		fi
	fi
}

inline execute(s) {
	if
	:: req[s] == F_ACK ->
		assert(held[s] && held_wake[s] == req_ctx[s]);
		held[s] = false;
		f = held_f[s];
		fctx = held_fctx[s];
		held_f[s] = 0; held_fctx[s] = 0; held_wake[s] = 0
	:: else ->
		assert(!held[s]);
		f = req[s];
		fctx = req_ctx[s]
	fi;
	req[s] = 0;
	req_ctx[s] = 0;
	run_frame(s, f, fctx);
	f = 0;
	fctx = 0
}

#define SERVE(n) :: d_step { req[n] != 0 -> execute(n) }

active proctype server()
{
	byte x, y, k, f, fctx, resumed = NONE;

end:
	do
	SERVE(0)
	SERVE(1)
	SERVE(2)
#if NT == 3
	SERVE(3)
#endif
	:: d_step {
		holder != NONE ->
		ans[holder] = A_DONE;
		holder = NONE;
		hand_on()
	   }
	:: d_step {
		reserved != NONE && holder == NONE && nlate < MAXLATE ->
		nlate++;
		x = reserved;
		reserved = NONE;
		ctx_woken[x] = false;
		fifo_push(x);
		x = 0;
		hand_on()
	   }
	od
}

/* deliver(): the completion of the thread sleeping in @v, or the early list. */
inline deliver(v) {
	i = 0;
	do
	:: i < NT && !(sleeping[i] && waiter[i] == v) -> i++
	:: else -> break
	od;
	if
	:: i < NT -> sleeping[i] = false; sem[i]++
	:: else ->
#ifndef MUTANT_NO_EARLY
		assert(nearly < NEARLY);
		early[nearly] = v;
		nearly++;
#endif
		went_early = true
	fi;
	i = 0
}

/* Take @v out of the early list if it is there; found says whether it was. */
inline take_early(v) {
	found = false;
	i = 0;
	do
	:: i < nearly && early[i] != v -> i++
	:: i < nearly && early[i] == v ->
		found = true;
		nearly--;
		early[i] = early[nearly];
		early[nearly] = 0;
		break
	:: else -> break
	od;
	i = 0
}

proctype thread(byte t)
{
	byte r, i, w, last = NONE, carried = NONE;
	bool found;

	for (r : 1 .. ROUNDS) {
		d_step { exec[t] = false; req[t + 1] = F_HOLD };
		do
		:: d_step { ans[t + 1] == A_DONE -> assert(exec[t]); ans[t + 1] = 0 };
#ifdef MUTANT_DELIVER_LATE
			d_step {
				if
				:: carried != NONE -> deliver(carried); carried = NONE
				:: else -> skip
				fi
			};
#endif
			d_step {
				if
				:: last != NONE -> take_early(last); last = NONE
				:: else -> skip
				fi
			};
			break
		:: d_step { ans[t + 1] == A_WAKE -> w = ans_ctx[t + 1]; ans[t + 1] = 0; ans_ctx[t + 1] = 0 };
#ifdef MUTANT_DELIVER_LATE
			d_step { carried = w };
#else
			d_step { deliver(w) };
#endif
			d_step { req_ctx[t + 1] = w; req[t + 1] = F_ACK; w = 0 }
		:: d_step { ans[t + 1] == A_SLEEP -> w = ans_ctx[t + 1]; ans[t + 1] = 0; ans_ctx[t + 1] = 0 };
			last = w;
			d_step {
				take_early(w);
				if
				:: !found -> waiter[t] = w; sleeping[t] = true
				:: else -> skip
				fi
			};
			if
			:: found -> skip
			:: else -> d_step { sem[t] > 0 -> sem[t]--; sleeping[t] = false }
			fi;
			d_step { req_ctx[t + 1] = w; req[t + 1] = F_RESUME; w = 0 }
		od
	};
	done[t] = true
}

proctype irqthread()
{
	byte i, w;

end:
	do
	:: d_step { irq -> irq = false
#ifndef MUTANT_NO_NOP
		; req[0] = F_NOP
#endif
	   };
#ifndef MUTANT_NO_NOP
		do
		:: d_step { ans[0] == A_DONE -> ans[0] = 0 }; break
		:: d_step { ans[0] == A_WAKE -> w = ans_ctx[0]; ans[0] = 0; ans_ctx[0] = 0 };
			d_step { deliver(w) };
			d_step { req_ctx[0] = w; req[0] = F_ACK; w = 0 }
		od
#endif
	od
}

init {
	byte k;

	atomic {
		for (k : 0 .. NT - 1) {
			run thread(k)
		}
		run irqthread()
	}
}
