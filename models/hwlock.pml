/*
 * The hardware spinlock of lib/hwlock/hwlock.c: lock, unlock, bust, and the
 * waiter that busts a dead holder (SMEM_HWLOCK_BUST_DEAD), for N hosts sharing
 * one lock word that holds 0 (free) or owner + 1.
 *
 * Each host loops for ever: lock, critical section, unlock. A reaper per host
 * may kill it at any step (the unless escape), even while it holds the lock; the
 * reaper sets dead[h] in the same step, which stands for the host table
 * proving the host dead (pid gone or start time changed). A live host is never
 * marked dead. At most N - 1 hosts die, so that one live waiter is left.
 *
 * Promela label     C code (lib/hwlock/hwlock.c, lib/hwlock/hosts.c)
 *   L1              smem_hwlock_trylock(): acquire CAS 0 -> host + 1
 *   L2              smem_hwlock_lock(): relaxed load of the word (seen)
 *   C1              smem__hwlock_bust_if_dead(): claim_once() of the owner's
 *                   host entry; a busy entry means no bust this round
 *   ALIVE           smem__hwlock_bust_if_dead(): the entry's pid and start time
 *                   checked against /proc (pid_alive())
 *   B1              smem_hwlock_bust(): CAS owner + 1 -> 0, then wake_sleepers()
 *   C2              unclaim()
 *   L1'             bust_if_dead(): the trylock after a bust (RECOVERED)
 *   L3              smem_hwlock_lock(): seq_cst add to the sleeper count,
 *                   then seq_cst load of the word (the Dekker pair with U1/U2)
 *   FWAIT           futex_wait(): the kernel compares the word with seen and
 *                   queues the waiter in one step; a wake or the 1 ms slice ends it
 *   U1              smem_hwlock_unlock(): seq_cst exchange of the word with 0
 *   U2              wake_sleepers(): seq_cst load of the sleeper count
 *   FWAKE           futex_wake_all()
 *   reaper          SIGKILL; with RESPAWN also smem_hwlock_host_register() of a
 *                   new process as the dead host (claim(), bust_all(), rewrite())
 *
 * Promela runs one statement at a time in a single global order, which is what
 * seq_cst gives the C code for L3, U1, U2 and B1. The word itself is only
 * changed by read-modify-writes (L1, U1, B1), so its one modification order is
 * what the model's order of those steps shows. The spin phase of
 * smem_hwlock_lock() (L2 then L1, SPIN_TRIES times) is left out: it only
 * repeats L1, which the sleep loop repeats too, and a model waiter that may bust
 * after fewer rounds than the C code only adds behaviours. Timeouts of the
 * caller (-ETIMEDOUT) are left out: waiters wait for ever. The data under the
 * lock is not modelled; L1/U1/B1's acquire and release order it.
 *
 * Runs (models/check.sh MODEL RUN...; models/meson.build lists them; "!" marks
 * a run that must find an error; N = 3 unless the run says otherwise):
 *   safety            mutual exclusion: a live host in its critical section
 *                     holds the word, no two live hosts are in it together
 *                     (monitor); unlock finds its own value (U1's assertion);
 *                     a successful bust released a dead process's hold (B1's);
 *   dead_released     a lock held by a dead process is released eventually,
 *                     under weak fairness (LTL);
 *   !bust_race_never  a witness that the state space holds the race in which a
 *                     buster reads a dead owner, another buster busts it and a
 *                     live host takes the lock, and only then the first
 *                     buster's CAS runs (and fails, as the assertions show);
 *   safety+WAKEUP     no lost wake-up: no deaths, no timeout slices, each host
 *                     locks ROUNDS times; a sleeper left asleep when the others
 *                     end is an invalid end state;
 *   safety+RESPAWN+N=2, dead_released+RESPAWN+N=2
 *                     host ids are reused: a dead host comes back as a new
 *                     process (N = 2: with three live hosts the state space
 *                     passes 10^8 states). Still no live hold is ever busted,
 *                     and a dead hold is still released.
 *   mutants, each must fail:
 *   !safety+WAKEUP+MUTANT_L3, !safety+WAKEUP+MUTANT_U2
 *                     the Dekker pair undone on one side: a wake-up is lost;
 *   !safety+MUTANT_B1 the owner check apart from the releasing store: a live
 *                     holder's lock is released;
 *   !dead_released+MUTANT_NOBUST
 *                     waiters that never bust: a dead hold stays for ever;
 *   !safety+RESPAWN+MUTANT_NOCLAIM+N=2, !dead_released+RESPAWN+MUTANT_NOCLAIM+N=2
 *                     the code before host ids were reusable (no claim around
 *                     ALIVE and B1, no bust at registration): a waiter that saw
 *                     the old process dead busts the new process's lock, and
 *                     the old process's hold outlives it, as the new process
 *                     reads alive.
 */
#ifndef N
#define N 3
#endif

#if defined(WAKEUP)
#define MAXDEAD 0
#define ROUNDS 2
#elif defined(RESPAWN)
#define MAXDEAD 1           /* one death and one new process: enough for the race */
#else
#define MAXDEAD (N - 1)
#endif

byte word;          /* the lock word: 0 free, owner + 1 held */
byte nsleep;        /* the sleeper count, the word after the lock word */
bool dead[N];       /* the host table proves host h dead */
byte ndead;
bool killed[3 * N + 2]; /* by _pid: this process was killed (a respawned host is a new one) */
byte hpid[N];       /* _pid of the current process of each host */
bool incs[N];       /* a live host is between its successful L1 and U1 */
bool asleep[N];     /* queued in FUTEX_WAIT */
bool stale;         /* the word holds the value of a process that has died */
bool bust_race;     /* witness: a CAS in B1 found a live host after a dead one */
byte claim[N];      /* each host entry's claim: _pid of the process holding it, or 0 */

#define held_by_dead stale

/* A live host in its critical section holds the word ... */
#define owns(i) (!incs[i] || word == (i) + 1)
/* ... so no two live hosts are in it together. */
#define alone(i, j) (!incs[i] || !incs[j])
#if N == 2
#define MUTEX (owns(0) && owns(1) && alone(0, 1))
#elif N == 3
#define MUTEX (owns(0) && owns(1) && owns(2) && alone(0, 1) && alone(0, 2) && alone(1, 2))
#elif N == 4
#define MUTEX (owns(0) && owns(1) && owns(2) && owns(3) && alone(0, 1) && alone(0, 2) && \
	       alone(0, 3) && alone(1, 2) && alone(1, 3) && alone(2, 3))
#else
#error "N is 2, 3 or 4"
#endif

ltl dead_released { [] (held_by_dead -> <> !held_by_dead) }
ltl bust_race_never { [] !bust_race }

/* FWAKE: every sleeper on the word leaves FUTEX_WAIT. */
inline futex_wake_all() {
	d_step {
		i = 0;
		do
		:: i < N -> asleep[i] = false; i++
		:: else -> break
		od;
		i = 0
	}
}

/* U2 then FWAKE, as wake_sleepers() does after U1 and B1. */
inline wake_sleepers() {
#ifndef MUTANT_U2
	if
	:: nsleep > 0 -> futex_wake_all()   /* U2 */
	:: else -> skip
	fi
#else
	skip
#endif
}

/*
 * L3, then FUTEX_WAIT for at most one slice. The sleeper's increment must be
 * visible before the kernel compares the word (seq_cst in L3, and the barrier
 * futex_wait() has between queueing and reading the word); the unlocker's U2
 * must read the count after U1. MUTANT_L3 and MUTANT_U2 undo one of the two, as
 * a relaxed access would on a store-buffered CPU, and must lose a wake-up.
 */
inline sleep_once() {
#ifndef MUTANT_L3
	nsleep++;                           /* L3 */
#endif
	seen = word;
	if
	:: seen != 0 ->
		/* FWAIT */
		atomic { if :: word == seen -> asleep[me] = true :: else -> skip fi; seen = 0 }
#ifdef MUTANT_L3
		nsleep++;                       /* the increment becomes visible late */
#endif
		if
		:: !asleep[me]                  /* woken, or the word had already changed */
#ifndef WAKEUP
		:: asleep[me] -> asleep[me] = false   /* the 1 ms slice ran out */
#endif
		fi
	:: else ->
		seen = 0
#ifdef MUTANT_L3
		nsleep++
#endif
	fi;
	nsleep--
}

/* L1: CAS 0 -> me + 1 with acquire; then break out of the wait loop. */
#define L1_TAKE atomic { word == 0 -> word = me + 1; incs[me] = true; last = 0 }; break

/* C2: release the owner's claim taken in C1; seen names the owner. */
#ifdef MUTANT_NOCLAIM
#define UNCLAIM seen = 0
#else
#define UNCLAIM atomic { claim[seen - 1] = 0; seen = 0 }
#endif

proctype host(byte me)
{
	byte seen, last, was, i;
#ifdef MUTANT_U2
	byte early;
#endif
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
		/* smem_hwlock_lock(..., SMEM_HWLOCK_BUST_DEAD) */
		do
		:: L1_TAKE
		:: else ->
			/* L2: only a holder seen twice, one sleep apart, is looked up */
			atomic {
				seen = word;
				if
				:: seen != 0 && seen == last -> skip
				:: else -> last = seen; seen = 0
				fi
			}
#ifdef MUTANT_NOBUST
			seen = 0;
#endif
			/*
			 * smem__hwlock_bust_if_dead(): C1, take the owner's host-entry claim
			 * once (a busy entry is left for the next round), so that no new
			 * process can register as the owner between ALIVE and B1.
			 */
#ifndef MUTANT_NOCLAIM
			if
			:: seen != 0 ->
				if
				:: atomic { claim[seen - 1] == 0 -> claim[seen - 1] = _pid }
				:: else -> seen = 0
				fi
			:: else -> skip
			fi;
#endif
			if
			:: seen != 0 ->
				/* ALIVE: what the host table can prove */
				if
				:: dead[seen - 1] ->
					/* B1 */
					atomic {
						was = word;
#ifdef MUTANT_B1
						/* an owner check apart from the store */
						word = 0;
						assert(was == 0 || stale);
						stale = false;
#else
						if
						:: was == seen ->
							/* only a dead process's hold is released */
							assert(stale);
							word = 0;
							stale = false
						:: else ->
							if
							:: was != 0 && !stale -> bust_race = true
							:: else -> skip
							fi
						fi;
#endif
						was = 0
					}
					wake_sleepers();
					UNCLAIM;
					/* L1': SMEM_HWLOCK_RECOVERED on success */
					if
					:: L1_TAKE
					:: else -> skip
					fi
				:: else -> UNCLAIM
				fi
			:: else -> skip
			fi;
			sleep_once()
		od;

		/* the critical section */
		assert(owns(me));

		/* smem_hwlock_unlock() */
#ifdef MUTANT_U2
		early = nsleep;                 /* the count read before U1 */
#endif
		atomic {
			/* U1 */
			was = word;
			word = 0;
			incs[me] = false;
			assert(was == me + 1);
			was = 0
		}
#ifdef MUTANT_U2
		if
		:: early > 0 -> early = 0; futex_wake_all()
		:: else -> skip
		fi;
#endif
		wake_sleepers()
	od
	} unless { killed[_pid] }
}

/*
 * Kills host v at any step, or never. The host's process stops at once (its
 * unless escape); its hold on the word, if any, becomes stale, and the host
 * table shows it dead. A claim the dead process held is free from then on
 * (claim_once() takes over a dead claimer's claim).
 *
 * With RESPAWN a new process then registers as host v, as
 * smem_hwlock_host_register() does: under the entry's claim (waiting for it),
 * it busts what the dead process held (bust_all()), then rewrites the entry,
 * which from then on names a live process. The new process takes locks only
 * once it is registered.
 */
proctype reaper(byte v)
{
	byte i;

	if
	:: atomic {
		ndead < MAXDEAD ->
		killed[hpid[v]] = true;
		dead[v] = true;
		incs[v] = false;
		stale = stale || word == v + 1;
		ndead++;
		for (i : 0 .. N - 1) {
			if :: claim[i] == hpid[v] -> claim[i] = 0 :: else -> skip fi
		}
		i = 0
	   }
#ifdef RESPAWN
#ifndef MUTANT_NOCLAIM
	   atomic { claim[v] == 0 -> claim[v] = _pid }
	   /* bust_all(): B1 for the dead process's value */
	   atomic {
		if
		:: word == v + 1 -> assert(stale); word = 0; stale = false
		:: else -> skip
		fi
	   }
	   wake_sleepers();
	   /* rewrite(), then C2 */
	   atomic { dead[v] = false; hpid[v] = run host(v); claim[v] = 0 }
#else
	   /* the registration of commit ca61cb5: no claim around busts, no bust_all() */
	   atomic { dead[v] = false; hpid[v] = run host(v) }
#endif
#endif
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
			hpid[k] = run host(k);
#ifndef WAKEUP
			run reaper(k)
#endif
		}
	}
}
