/*
 * The doorbell that smemtzd lets its clients skip while it is awake
 * (lib/scm/proto.h, P1 and P2; lib/scm/client.c smc(); tzd/tzd.c's loop,
 * tzd/server.c tzd_poll() and tzd_set_polling()).
 *
 * A client posts a call (its slot's state to POSTED), then loads its page's
 * polling word, and rings the doorbell only if it reads 0. It then waits for
 * the answer. smemtzd, awake, says so in every page (polling 1, one store per
 * page), and takes what is posted, looking at the slots by itself; when its
 * spin is over it stores 0 in every page, one at a time, looks at every slot
 * once more, and sleeps only if that look found nothing, until a doorbell
 * rings. The doorbell is a counter (an eventfd) of any client's rings.
 * Every store and load is a step of its own, in program order: the
 * sequentially consistent order that P1 and P2 ask of the C code.
 *
 * Checked (models/meson.build): "safety", no invalid end state, which here
 * means that no client waits for ever for an answer to a call it posted
 * while smemtzd sleeps with nothing rung; and "answered", every call is
 * answered, under weak fairness. MUTANT_LOOK_FIRST looks at the slots before
 * saying "ring" instead of after, and must fail: a client that posts between
 * the look and the store reads 1, does not ring, and smemtzd sleeps on it.
 * MUTANT_NO_RING_CHECK_AFTER makes the client read polling before it posts,
 * and must fail too.
 */
#ifndef NCLI
#define NCLI 2
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif

bool posted[NCLI];   /* the slot's state is POSTED */
bool answered[NCLI]; /* DONE */
bool polling[NCLI];  /* each page's polling word */
byte bell;           /* the doorbell eventfd's counter */
byte done_calls;

proctype client(byte i)
{
	byte r = 0;
	bool p;

	do
	:: r < ROUNDS ->
#ifdef MUTANT_NO_RING_CHECK_AFTER
		p = polling[i];
		posted[i] = true;
#else
		posted[i] = true;	/* P1: the store, then the load */
		p = polling[i];
#endif
		if
		:: !p -> bell++
		:: else -> skip
		fi;
		answered[i];		/* the wait for DONE */
		answered[i] = false;
		r++
	:: else -> break
	od
}

/* Take what client i posted, if anything: the CAS from POSTED, the answer. */
inline take(i)
{
	atomic {
		if
		:: posted[i] -> posted[i] = false; answered[i] = true; done_calls++; found = true
		:: else -> skip
		fi
	}
}

inline look()
{
	found = false;
	k = 0;
	do
	:: k < NCLI -> take(k); k++
	:: else -> break
	od
}

inline say(v)
{
	k = 0;
	do
	:: k < NCLI -> polling[k] = v; k++
	:: else -> break
	od
}

active proctype server()
{
	byte k;
	bool found;

awake:
	say(true);
	/* The spin: any number of looks, then it is over. */
	do
	:: look()
	:: break
	od;
#ifdef MUTANT_LOOK_FIRST
	look();
	say(false);
#else
	say(false);
	look();
#endif
	if
	:: found -> goto awake
	:: else -> skip
	fi;
	/* Asleep until a ring: epoll_wait(-1), then the doorbell's read. */
end_asleep:
	atomic { bell > 0 -> bell = 0 };
	look();
	goto awake
}

init
{
	byte i = 0;

	atomic {
		do
		:: i < NCLI -> run client(i); i++
		:: else -> break
		od
	}
}

ltl answered { <> (done_calls == NCLI * ROUNDS) }
