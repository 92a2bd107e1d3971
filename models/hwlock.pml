/*
 * The robust lock of lib/hwlock/hwlock.c and lib/core/robust.c: N hosts, one
 * process each, sharing one lock whose robust word holds 0 (free), or the
 * holder's liveness id with two flags, WAITERS (someone sleeps, so a release
 * must wake one) and DIED (the kernel marked it: the holder died).
 *
 * Each host loops: lock (with SMEM_HWLOCK_BUST_DEAD), critical section,
 * unlock. A reaper per host may kill it at any step (the unless escape). The
 * kernel's part of a death is the reaper's atomic step: a word that holds the
 * dead process's id becomes DIED (WAITERS kept), and one sleeper is woken if
 * WAITERS was set, as handle_futex_death() does; a death in the middle of an
 * unlock, after the release and before the wake (list_op_pending names the
 * word, which now holds no owner), wakes one sleeper too. At most N - 1 hosts
 * die, so that one live host is left.
 *
 * Promela label     C code
 *   R1              smem__robust_take(): CAS of the word, expected -> id | bits
 *   L0              smem_hwlock_trylock() / the spin: R1 from 0, no flag
 *   L1              the sleep loop's take from 0: R1 to id | WAITERS, since
 *                   others may still sleep
 *   LD              the take from DIED (the policy, or the dead host's
 *                   successor): R1 to id | WAITERS, then a wake of all
 *   L3              set WAITERS on a live holder's word (CAS), then FWAIT
 *   FWAIT           futex_wait(): the kernel compares the word with the value
 *                   announced and queues the waiter in one step; a wake or,
 *                   unless WAKEUP, the fallback slice ends it
 *   U1              unlock: the release CAS (id | any flag) -> 0, which
 *                   returns the flags; then U2
 *   U2              a wake of one sleeper when WAITERS was set
 *
 * Promela runs one statement at a time in a single global order; every access
 * to the word in the C code is a read-modify-write or a load whose value is
 * only used as the expected value of one, so that order is the word's
 * modification order. The label word (host + 1) only tells people who holds
 * the lock and is not modelled; nor is the data under the lock, which R1's
 * acquire and U1's release order. Timeouts of callers are left out: waiters
 * wait for ever, apart from the fallback slice.
 *
 * Runs (models/check.sh MODEL RUN...; models/meson.build lists them; "!" marks
 * a run that must find an error):
 *   safety            mutual exclusion: no two live hosts in the critical
 *                     section (monitor), and a live host there holds the word;
 *                     unlock finds its own id (U1's assertion);
 *   dead_released     a word marked DIED is taken again eventually, under weak
 *                     fairness (LTL);
 *   safety+WAKEUP     no lost wake-up: no deaths and no fallback slice, each
 *                     host locks ROUNDS times; a sleeper left asleep when the
 *                     others end is an invalid end state;
 *   mutants, each must fail:
 *   !safety+WAKEUP+MUTANT_NOWAITERS  a sleeper that does not set WAITERS;
 *   !safety+WAKEUP+MUTANT_NOWAKE     an unlock that never wakes;
 *   !safety+WAKEUP+MUTANT_TAKE_BARE  a woken waiter that takes the word without
 *                                    WAITERS, so the next unlock wakes nobody;
 *   !dead_released+MUTANT_NOBUST     waiters that never take a DIED word.
 *
 * Not checked here, and why: a sleeper the kernel wakes for a dead holder may
 * itself die before it takes the word or wakes the others; the others then
 * sleep until their fallback slice (FALLBACK_SLICE_NS), which is what the
 * slice is for, besides the gap robust.c names.
 */
#ifndef N
#define N 3
#endif

#if defined(WAKEUP)
#define MAXDEAD 0
#define ROUNDS 2
#else
#define MAXDEAD (N - 1)
#endif

byte rid;           /* the word's owner: 0 none, h + 1 for host h's process */
bool waiters;       /* FUTEX_WAITERS */
bool died;          /* FUTEX_OWNER_DIED */
bool killed[N];
byte ndead;
bool incs[N];       /* a live host is between its take and its U1 */
bool asleep[N];     /* queued in FUTEX_WAIT */
bool pending[N];    /* between U1 and U2: list_op_pending names the word */

#define owns(i) (!incs[i] || rid == (i) + 1)
#define alone(i, j) (!incs[i] || !incs[j])
#if N == 2
#define MUTEX (owns(0) && owns(1) && alone(0, 1))
#elif N == 3
#define MUTEX (owns(0) && owns(1) && owns(2) && alone(0, 1) && alone(0, 2) && alone(1, 2))
#else
#error "N is 2 or 3"
#endif

ltl dead_released { [] (died -> <> !died) }

/* A FUTEX_WAKE of one: any one sleeper, or nobody if none sleeps. */
inline wake_one() {
	if
	:: asleep[0] -> asleep[0] = false
	:: asleep[1] -> asleep[1] = false
#if N == 3
	:: asleep[2] -> asleep[2] = false
#endif
	:: else -> skip
	fi
}

inline wake_all() {
	d_step {
		i = 0;
		do
		:: i < N -> asleep[i] = false; i++
		:: else -> break
		od;
		i = 0
	}
}

/* FWAIT on the value (owner, w, d); then a wake, or the fallback slice. */
inline futex_wait(o, w, d) {
	atomic {
		if
		:: rid == o && waiters == w && died == d -> asleep[me] = true
		:: else -> skip
		fi
	}
	if
	:: !asleep[me]
#ifndef WAKEUP
	:: asleep[me] -> asleep[me] = false   /* the fallback slice ran out */
#endif
	fi
}

proctype host(byte me)
{
	byte o, i;
	bool w, d, taken;
#ifdef WAKEUP
	byte round = 0;
#endif

	{
	do
	::
#ifdef WAKEUP
		if
		:: round == ROUNDS -> break
		:: else -> round++
		fi;
#endif
		taken = false;
		/* L0: trylock, and the spin's takes from 0 */
		atomic {
			if
			:: rid == 0 && !waiters && !died -> rid = me + 1; incs[me] = true; taken = true
			:: else -> skip
			fi
		}
		do
		:: taken -> break
		:: else ->
			atomic { o = rid; w = waiters; d = died }
			if
			:: o == 0 && !d ->
				/* L1 */
				atomic {
					if
					:: rid == 0 && waiters == w && !died ->
						rid = me + 1;
#ifndef MUTANT_TAKE_BARE
						waiters = true;
#endif
						incs[me] = true; taken = true
					:: else -> skip
					fi
				}
			:: d ->
#ifndef MUTANT_NOBUST
				/* LD */
				atomic {
					if
					:: rid == 0 && died && waiters == w ->
						rid = me + 1; waiters = true; died = false;
						incs[me] = true; taken = true
					:: else -> skip
					fi
				}
				if
				:: taken -> wake_all()
				:: else -> skip
				fi
#else
				futex_wait(o, w, d)
#endif
			:: o != 0 && !d ->
				/* L3: a failed CAS goes round the loop again, as the C code's continue */
#ifndef MUTANT_NOWAITERS
				if
				:: !w ->
					atomic {
						if
						:: rid == o && !waiters && !died -> waiters = true; w = true
						:: else -> skip
						fi
					}
				:: else -> skip
				fi;
				if
				:: w -> futex_wait(o, w, false)
				:: else -> skip
				fi
#else
				futex_wait(o, w, false)
#endif
			fi
		od;

		/* the critical section */
		assert(owns(me));

		/* U1 */
		atomic {
			assert(rid == me + 1 && !died);
			w = waiters;
			rid = 0; waiters = false; died = false;
			incs[me] = false;
			pending[me] = true
		}
		/* U2 */
#ifndef MUTANT_NOWAKE
		if
		:: w -> wake_one()
		:: else -> skip
		fi;
#endif
		pending[me] = false
	od
	} unless { killed[me] }
}

/*
 * Kills host v at any step, or never, and does the kernel's part of the death
 * (handle_futex_death() for the robust list and for list_op_pending).
 */
proctype reaper(byte v)
{
	if
	:: atomic {
		ndead < MAXDEAD ->
		killed[v] = true;
		ndead++;
		incs[v] = false;
		asleep[v] = false;
		if
		:: rid == v + 1 ->
			rid = 0; died = true;
			if
			:: waiters -> wake_one()
			:: else -> skip
			fi
		:: rid == 0 && pending[v] -> wake_one()
		:: else -> skip
		fi;
		pending[v] = false
	   }
	:: skip
	fi
}

/* Mutual exclusion, checked in every state. */
active proctype monitor()
{
end:
	atomic { !(MUTEX) -> assert(false) }
}

init {
	byte k;

	atomic {
		for (k : 0 .. N - 1) {
			run host(k);
#ifndef WAKEUP
			run reaper(k)
#endif
		}
	}
}
