/*
 * Sleep, wake and resume in the secure-call service, as the clients of the
 * merged discipline use it: smemtzd (tzd/server.c) and lib/scm/client.c.
 * Every client makes ROUNDS calls to HOLD one resource R, one call at a time
 * (the call lock, held while it sleeps).
 *
 * The server is one process. It handles one request per atomic step (d_step),
 * as smemtzd's single thread does. Its state: R's holder, R's reservation (the
 * woken context R is kept for), the FIFO of parked contexts, the contexts
 * (used, woken, whose), and for each client the wake-ups it has not asked for
 * yet and its interrupt eventfd. A client is two processes:
 *   caller     posts HOLD on its slot (C1 and the doorbell, one step), waits
 *              for the answer: DONE, or SLEEP(ctx), after which it waits on
 *              its semaphore, a counter (sem_wait: blocks at 0, then takes
 *              one), and posts RESUME(ctx); SLEEP again loops.
 *   irqthread  waits for the interrupt eventfd, reads it (clears it) and
 *              asks GET_WQ_CTX until it answers nothing or more_pending 0,
 *              posting the semaphore for each wake-up.
 * smemtzd's side, one d_step each:
 *   HOLD       do_hold(): a newcomer parks if R is held, kept, or its FIFO is
 *              not empty; a resumed call parks unless R is kept for it and
 *              not held. Taken: held, and no answer until the hold is over.
 *   RESUME     ctx_lookup() (not the caller's, or gone: EINVAL, here an
 *              assertion); not woken: SLEEP again, same context; woken: the
 *              context freed, do_hold() again as resumed.
 *   GET_WQ_CTX do_get_wq_ctx(): one wake-up, and whether another waits.
 *   hold over  release() at any time: DONE to the holder, nobody holds R,
 *              hand_on(): if nobody holds it and it is kept for nobody, the
 *              FIFO head is woken, R kept for it, a wake-up queued for its
 *              client and its interrupt raised (wake()).
 *   late       resume_timeout() at any time (time is not modelled), at most
 *              MAXLATE times a run: R kept for a woken context and not held;
 *              the context is no longer woken, goes to the FIFO tail, and
 *              hand_on() runs (which may wake it again at once).
 *   drop       tzd_client_drop() of a client that died: its contexts leave
 *              the FIFO, or if R is kept for one, R is kept for nobody and
 *              handed on; what it holds is let go (hand_on()); its wake-ups
 *              go. Until then its posted requests may still be executed, as
 *              a doorbell may come before the connection's end in a batch.
 * With DEATH, one client (any) may die at any step (the unless escape).
 * Posting a request and the server taking it are one step: until the server
 * takes it nothing else sees it, and the client, which waits, does nothing
 * meanwhile; a death in between is a death before the post. The same holds
 * for the reads of an answer and for the caller's sem_wait and its RESUME,
 * which no other process can tell apart. Not modelled: events, other
 * resources and wait-queue contexts, EBUSY (assertions check that the server
 * never has cause to answer it), the wake-up queue's overflow (a client has
 * at most 1 + MAXLATE wake-ups queued, of TZD_WAKES), the context generation (no stale RESUME is
 * ever sent: the lookup's assertion), smemtzd's own end (mark_lost), and
 * allow-multi-call (SMEM_SCM_MULTI_CALL: WAITQ_WAKE and WAITQ_ACK), which
 * scm-multi.pml models.
 *
 * Checked (models/check.sh MODEL RUN...; models/meson.build lists them; "!"
 * marks a run that must find an error). NCLI clients (2 or 3, default 3),
 * ROUNDS calls each (default 2), at most MAXLATE late resumes (default 1);
 * with DEATH a client may die, or none (the reaper's skip), so a DEATH run
 * covers the runs without a death too.
 *   safety        one holder at a time, taken only when free and not kept for
 *                 another call; each call executed once (a resumed call is
 *                 never taken twice: exec[]); every RESUME names a live
 *                 context of its caller (so none is resumed twice); a woken
 *                 context is the one R is kept for, and the FIFO holds only
 *                 contexts not woken; a merged client never has a call in
 *                 progress when it makes a new one (run()'s EBUSY never
 *                 applies); no lost wake-up and nobody left parked: a caller
 *                 still waiting when everything else has stopped is an invalid
 *                 end state. Runs: safety (3 clients, 2 calls, 1 late resume),
 *                 safety+DEATH+MAXLATE=0, safety+DEATH+ROUNDS=1 and
 *                 safety+DEATH+NCLI=2+ROUNDS=3+MAXLATE=2;
 *   done          every client that does not die completes all its calls,
 *                 under weak fairness (LTL): done+DEATH+MAXLATE=0 and
 *                 done+DEATH+NCLI=2+ROUNDS=3. (The number of calls and of
 *                 late resumes is finite, so there is no cycle: this is the
 *                 end-state check again, which guards against a change that
 *                 makes a step repeat for ever.) safety+DEATH and
 *                 done+DEATH with the defaults pass too (12 million states;
 *                 half a minute and 3.5 minutes): too long for the suite;
 *   !again        witness: a RESUME answered SLEEP again. Only a late resume
 *                 makes it (again+MAXLATE=0 finds none): without one, each
 *                 post follows a wake-up of the one context its sleeper has;
 *   mutants, each must fail:
 *   !safety+DEATH+MUTANT_NO_HANDON_ON_DEATH  a drop that clears the reservation
 *                 of the dead client's woken call but does not hand R on: the
 *                 next in the FIFO sleeps for ever;
 *   !safety+DEATH+MUTANT_NO_RESERVE          hand_on() wakes the head without
 *                 keeping R for it (a resumed call takes R if nobody holds it,
 *                 else parks at the tail; a newcomer may take it first): when
 *                 the woken call's client dies, nothing says R is waited for,
 *                 nothing hands it on, and the rest of the FIFO sleeps for
 *                 ever. Without a death it passes: with a finite number of
 *                 calls, a woken call that finds R taken re-parks and is woken
 *                 by the next release; the starvation the reservation also
 *                 prevents needs calls without end, which the model does not
 *                 make;
 *   !safety+MUTANT_LOST_IRQ  the interrupt thread clears its interrupt after
 *                 its GET_WQ_CTX loop instead of before: a wake-up queued
 *                 after the loop's last answer is never asked for.
 * Dropped: MUTANT_BINARY_SEM (the completion a flag, posts saturating). The
 * model cannot tell it from the counter, and spin finds no error for it in
 * any configuration above (nor with MAXLATE=2): a semaphore has one sleeper
 * (the call lock), whose RESUME asks the server whether it was woken, so all
 * a sleeper needs is one post after its context's latest wake-up, and that
 * post comes after its last RESUME (which found it not woken), so no earlier
 * wait can have taken it; a flag keeps it as well as a counter. The counter
 * would matter to two sleepers on one semaphore, which this client never has.
 */
#ifndef NCLI
#define NCLI 3
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif
#ifndef MAXLATE
#define MAXLATE 1
#endif

#define NONE 255
#define NCTX NCLI          /* one parked call per client at most */

/* creq: the frame on the caller's slot */
#define R_HOLD 1
#define R_RESUME 2
/* cans: its answer */
#define A_SLEEP 1
#define A_DONE 2
/* ians: GET_WQ_CTX's answer on the interrupt thread's slot */
#define W_NOTHING 1
#define W_LAST 2           /* a wake-up, more_pending 0 */
#define W_MORE 3           /* a wake-up, more_pending 1 */

byte creq[NCLI];
byte creq_ctx[NCLI];
byte cans[NCLI];
byte cans_ctx[NCLI];
bool ireq[NCLI];
byte ians[NCLI];

byte holder = NONE;        /* the client holding R */
byte reserved = NONE;      /* the woken context R is kept for */
byte fifo[NCTX];
byte flen;
bool ctx_used[NCTX];
bool ctx_woken[NCTX];
byte ctx_cli[NCTX];
byte nlate;                /* resume timeouts so far */
bool resleep;              /* a RESUME was answered SLEEP again */

byte pending[NCLI];        /* wake-ups not asked for yet */
bool irq[NCLI];            /* the interrupt eventfd is readable */
byte sem[NCLI];            /* the client's completion */
bool exec[NCLI];           /* the client's current call was taken */
bool done[NCLI];
bool killed[NCLI];
bool dropped[NCLI];

#if NCLI == 2
#define ALL_DONE ((done[0] || killed[0]) && (done[1] || killed[1]))
#elif NCLI == 3
#define ALL_DONE ((done[0] || killed[0]) && (done[1] || killed[1]) && (done[2] || killed[2]))
#else
#error "NCLI is 2 or 3"
#endif

ltl done { <> ALL_DONE }
ltl again { [] !resleep }

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

inline fifo_remove(v) {
	k = 0;
	do
	:: k < flen && fifo[k] != v -> k++
	:: else -> break
	od;
	if
	:: k < flen ->
		k++;
		do
		:: k < flen -> fifo[k - 1] = fifo[k]; k++
		:: else -> break
		od;
		flen--;
		fifo[flen] = 0
	:: else -> skip
	fi;
	k = 0
}

inline ctx_free(v) {
	ctx_used[v] = false;
	ctx_woken[v] = false;
	ctx_cli[v] = 0
}

/* wake(): one wake-up queued for the context's client, its interrupt raised. */
inline wake(v) {
	ctx_woken[v] = true;
	pending[ctx_cli[v]]++;
	irq[ctx_cli[v]] = true
}

inline hand_on() {
	if
	:: holder == NONE && reserved == NONE && flen > 0 ->
		fifo_pop(x);
		assert(!ctx_woken[x]);
#ifndef MUTANT_NO_RESERVE
		reserved = x;
#endif
		wake(x);
		x = 0
	:: else -> skip
	fi
}

/* park(): the first free context, at the FIFO tail; SLEEP(ctx). */
inline park(c) {
	x = 0;
	do
	:: x < NCTX && ctx_used[x] -> x++
	:: else -> break
	od;
	assert(x < NCTX);      /* else EBUSY */
	ctx_used[x] = true;
	ctx_woken[x] = false;
	ctx_cli[x] = c;
	fifo_push(x);
	cans_ctx[c] = x;
	cans[c] = A_SLEEP;
	x = 0
}

inline do_hold(c) {
	if
#ifndef MUTANT_NO_RESERVE
	:: (resumed != NONE -> (reserved != resumed || holder != NONE)
	                    : (holder != NONE || reserved != NONE || flen > 0)) ->
#else
	:: (resumed != NONE -> holder != NONE
	                    : (holder != NONE || reserved != NONE || flen > 0)) ->
#endif
		park(c)
	:: else ->
		assert(holder == NONE && (reserved == NONE || reserved == resumed));
		reserved = NONE;
		holder = c;
		assert(!exec[c]);
		exec[c] = true
	fi;
	resumed = NONE
}

inline execute(c) {
	if
	:: creq[c] == R_HOLD ->
		/* run(): a merged client with a call in progress would be answered EBUSY */
		assert(holder != c);
		y = 0;
		do
		:: y < NCTX -> assert(!ctx_used[y] || ctx_cli[y] != c); y++
		:: else -> break
		od;
		y = 0;
		do_hold(c)
	:: creq[c] == R_RESUME ->
		y = creq_ctx[c];
		assert(y < NCTX && ctx_used[y] && ctx_cli[y] == c);
		if
		:: !ctx_woken[y] -> resleep = true; cans_ctx[c] = y; cans[c] = A_SLEEP
		:: else -> ctx_free(y); resumed = y; do_hold(c)
		fi;
		y = 0
	fi;
	creq[c] = 0;
	creq_ctx[c] = 0
}

inline get_wq_ctx(c) {
	if
	:: pending[c] == 0 -> ians[c] = W_NOTHING
	:: else ->
		pending[c]--;
		ians[c] = (pending[c] > 0 -> W_MORE : W_LAST)
	fi;
	ireq[c] = false
}

inline drop(c) {
	y = 0;
	do
	:: y < NCTX ->
		if
		:: ctx_used[y] && ctx_cli[y] == c ->
#ifndef MUTANT_NO_RESERVE
			assert(ctx_woken[y] == (reserved == y));
#endif
			if
			:: reserved == y -> reserved = NONE; hand = true
			:: else -> fifo_remove(y)
			fi;
			ctx_free(y)
		:: else -> skip
		fi;
		y++
	:: else -> break
	od;
	y = 0;
	if
	:: holder == c -> holder = NONE; hand_on()
#ifndef MUTANT_NO_HANDON_ON_DEATH
	:: holder != c && hand -> hand_on()
#endif
	:: else -> skip
	fi;
	hand = false;
	pending[c] = 0;
	irq[c] = false;
	creq[c] = 0; creq_ctx[c] = 0; cans[c] = 0; cans_ctx[c] = 0;
	ireq[c] = false; ians[c] = 0;
	dropped[c] = true
}

#define SERVE(n) \
	:: d_step { creq[n] != 0 && !dropped[n] -> execute(n) } \
	:: d_step { ireq[n] && !dropped[n] -> get_wq_ctx(n) } \
	:: d_step { killed[n] && !dropped[n] -> drop(n) }

active proctype server()
{
	byte x, y, k, resumed = NONE;
	bool hand;

end:
	do
	SERVE(0)
	SERVE(1)
#if NCLI == 3
	SERVE(2)
#endif
	:: d_step {
		/* release(): the hold is over */
		holder != NONE ->
		cans[holder] = A_DONE;
		holder = NONE;
		hand_on()
	   }
	:: d_step {
		/* resume_timeout() */
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

proctype caller(byte c)
{
	byte r;

	{
	for (r : 1 .. ROUNDS) {
		d_step { exec[c] = false; creq[c] = R_HOLD };
		do
		:: d_step { cans[c] == A_DONE -> assert(exec[c]); cans[c] = 0 }; break
		:: d_step {
			cans[c] == A_SLEEP && sem[c] > 0 ->
			sem[c]--;
			creq_ctx[c] = cans_ctx[c]; creq[c] = R_RESUME;
			cans[c] = 0; cans_ctx[c] = 0
		   }
		od
	};
	done[c] = true
	} unless { killed[c] }
}

/* sem_post() */
#define POST(c) sem[c]++

proctype irqthread(byte c)
{
	{
end:
	do
	:: d_step {
		irq[c] ->
#ifndef MUTANT_LOST_IRQ
		irq[c] = false;
#endif
		ireq[c] = true
	   };
		do
		:: d_step { ians[c] == W_NOTHING -> ians[c] = 0 }; break
		:: d_step { ians[c] == W_LAST -> ians[c] = 0; POST(c) }; break
		:: d_step { ians[c] == W_MORE -> ians[c] = 0; POST(c); ireq[c] = true }
		od;
#ifdef MUTANT_LOST_IRQ
		irq[c] = false
#endif
	od
	} unless { killed[c] }
}

#ifdef DEATH
active proctype reaper()
{
	if
	:: killed[0] = true
	:: killed[1] = true
#if NCLI == 3
	:: killed[2] = true
#endif
	:: skip
	fi
}
#endif

init {
	byte k;

	atomic {
		for (k : 0 .. NCLI - 1) {
			run caller(k);
			run irqthread(k)
		}
	}
}
