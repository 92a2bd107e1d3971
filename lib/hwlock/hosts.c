// SPDX-License-Identifier: MIT
/*
 * The host table: who is attached as which host, so that a lock holder can be
 * proven dead.
 *
 * Each entry records a pid and that process's start time (field 22 of
 * /proc/PID/stat, clock ticks after boot). A host is proven dead when the pid is
 * gone, is a zombie, or belongs to a process with another start time: pid reuse
 * cannot make a dead host look alive, nor a live one dead.
 *
 * Writers first claim the entry with a compare-and-swap of their pid into
 * claim, then rewrite it under a sequence count (odd while writing), then
 * release the claim. Readers retry while the count is odd or changes. A writer
 * killed mid-rewrite leaves the count odd and its pid in claim; the next writer
 * sees that pid dead, takes the claim over and rewrites the entry whole.
 *
 * Host ids are reused: a host that died may be started again as a new process.
 * Its locks still hold host + 1, which now names a live host, so the new
 * process releases them when it registers. A waiter busting a dead holder
 * proves the death and busts under the same claim, so it can never see the old
 * process dead and then bust a lock the new one has taken since.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bank.h"
#include "core/fault.h"
#include "core/shm.h"

#define READ_TRIES 100
#define CLAIM_TRIES 100000 /* yields: about a second */

/* Process state and start time. Return: 0; -ESRCH if there is no such process. */
static int proc_stat(uint32_t pid, char *ret_state, uint64_t *ret_start)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields follow the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
				"%*d %*d %llu",
			 ret_state, &start) != 2)
		return -EIO;
	*ret_start = start;
	return 0;
}

/* 1 alive, 0 dead; start 0 means "any start time" (a claim, not a registration). */
static int pid_alive(uint32_t pid, uint64_t start)
{
	uint64_t now;
	char state;
	int r;

	if (pid == 0)
		return 0;
	r = proc_stat(pid, &state, &now);
	if (r == -ESRCH)
		return 0;
	if (r < 0)
		return kill((pid_t)pid, 0) == 0 || errno == EPERM; /* no /proc: existence only */
	if (state == 'Z' || state == 'X')
		return 0;
	return start == 0 || now == start;
}

static int entry(struct smem_hwlock *h, unsigned host, struct smem_host_entry **ret)
{
	if (!h || host >= SMEM_HWLOCK_TABLE_HOSTS)
		return -EINVAL;
	if (!h->page)
		return -ENODATA;
	*ret = &h->page->host[host];
	return 0;
}

/* A consistent copy of an entry (seqlock read). */
static int read_entry(const struct smem_host_entry *e, struct smem_hwlock_host *ret)
{
	for (int i = 0; i < READ_TRIES; i++) {
		/* H1: acquire the count; pairs with H3, the writer's closing release. */
		uint32_t s1 = shm_ld32_acquire(&e->seq), s2;

		if (s1 & 1)
			continue;
		ret->pid = shm_ld32(&e->pid);
		ret->generation = shm_ld32(&e->generation);
		ret->start_time = (uint64_t)shm_ld32((const uint8_t *)&e->start_time + 4) << 32 |
				  shm_ld32(&e->start_time);
		/* H2: the fields are read before the count is read again. */
		atomic_thread_fence(memory_order_acquire);
		s2 = shm_ld32(&e->seq);
		if (s1 == s2) {
			ret->registered = ret->pid != 0;
			return 0;
		}
	}
	return -EAGAIN;
}

/* Take the entry's claim once; a dead claimer's claim is taken over. */
static int claim_once(struct smem_host_entry *e, uint32_t me)
{
	_Atomic uint32_t *c = (_Atomic uint32_t *)&e->claim;
	/* A look before C1: only the CAS below orders anything. */
	uint32_t cur = atomic_load_explicit(c, memory_order_relaxed);

	if (cur == me)
		return 0;
	if (cur != 0 && pid_alive(cur, 0))
		return -EAGAIN;
	/* C1: acquire the claim; pairs with C2, the previous claimer's release. */
	if (!atomic_compare_exchange_strong_explicit(c, &cur, me, memory_order_acquire,
						     memory_order_relaxed))
		return -EAGAIN;
	return 0;
}

/*
 * Take the claim, waiting while another live process holds it (a claim is held
 * for a few microseconds). Return: 0; -EAGAIN after a second of trying.
 */
static int claim(struct smem_host_entry *e, uint32_t me)
{
	for (unsigned i = 0; i < CLAIM_TRIES; i++) {
		if (claim_once(e, me) == 0)
			return 0;
		sched_yield();
	}
	return -EAGAIN;
}

static void unclaim(struct smem_host_entry *e)
{
	/* C2: everything written under the claim before it is released. */
	atomic_store_explicit((_Atomic uint32_t *)&e->claim, 0, memory_order_release);
}

/* Rewrite an entry under the claim, inside an odd sequence count. */
static void rewrite(struct smem_host_entry *e, uint32_t pid, uint64_t start, uint32_t generation)
{
	uint32_t seq = shm_ld32(&e->seq) | 1;

	shm_st32(&e->seq, seq);
	/* H4: the odd count is visible before any field changes; pairs with H2. */
	atomic_thread_fence(memory_order_release);
	FAULT_POINT("hwlock.host.after_seq_odd");
	shm_st32(&e->pid, pid);
	FAULT_POINT("hwlock.host.after_pid");
	shm_st32(&e->start_time, (uint32_t)start);
	shm_st32((uint8_t *)&e->start_time + 4, (uint32_t)(start >> 32));
	shm_st32(&e->generation, generation);
	FAULT_POINT("hwlock.host.after_fields");
	/* H3: publish the entry; pairs with H1. */
	shm_st32_release(&e->seq, seq + 1);
}

/* Locks still held under this host id by a dead process; under the entry's claim. */
static void bust_all(struct smem_hwlock *h, unsigned host)
{
	for (unsigned id = 0; id < SMEM_HWLOCK_COUNT; id++) {
		if (smem_hwlock_bust(h, id, host) == 1)
			FAULT_POINT("hwlock.host.after_bust");
	}
}

int smem__hwlock_bust_if_dead(struct smem_hwlock *h, unsigned id, unsigned owner)
{
	uint32_t me = (uint32_t)getpid(), pid;
	struct smem_host_entry *e;
	uint64_t start;
	int r, busted = 0;

	/* A busy entry is left alone: the waiter looks again after its next sleep. */
	if (entry(h, owner, &e) < 0 || claim_once(e, me) < 0)
		return 0;
	/*
	 * Under the claim nobody rewrites the entry. An odd count means a
	 * registration died half-way: the process it was replacing was dead
	 * already, and the registrant never ran as the host, so the holder is dead.
	 */
	pid = shm_ld32(&e->pid);
	start = (uint64_t)shm_ld32((uint8_t *)&e->start_time + 4) << 32 | shm_ld32(&e->start_time);
	if ((shm_ld32(&e->seq) & 1) || (pid && pid != me && !pid_alive(pid, start))) {
		r = smem_hwlock_bust(h, id, owner);
		busted = r == 1;
	}
	unclaim(e);
	return busted;
}

int smem_hwlock_host_register(struct smem_hwlock *h, unsigned host)
{
	uint32_t me = (uint32_t)getpid();
	struct smem_hwlock_host cur;
	struct smem_host_entry *e;
	uint64_t start;
	bool torn;
	char state;
	int r;

	if (h && !h->writable)
		return -EROFS;
	r = entry(h, host, &e);
	if (r < 0)
		return r;
	r = proc_stat(me, &state, &start);
	if (r < 0)
		return r;
	r = claim(e, me);
	if (r < 0)
		return r;
	/* Under the claim only we write; an odd count is a dead writer's leftover. */
	torn = shm_ld32(&e->seq) & 1;
	cur.pid = shm_ld32(&e->pid);
	cur.generation = shm_ld32(&e->generation);
	cur.start_time = (uint64_t)shm_ld32((uint8_t *)&e->start_time + 4) << 32 |
			 shm_ld32(&e->start_time);
	if (!torn && cur.pid == me && cur.start_time == start) {
		unclaim(e);
		return 0; /* already ours */
	}
	if (!torn && cur.pid && cur.pid != me && pid_alive(cur.pid, cur.start_time)) {
		unclaim(e);
		return -EADDRINUSE;
	}
	/* Whoever was this host before is dead: what it held is nobody's now. */
	bust_all(h, host);
	rewrite(e, me, start, cur.generation + 1);
	FAULT_POINT("hwlock.host.after_register");
	unclaim(e);
	return 0;
}

int smem_hwlock_host_unregister(struct smem_hwlock *h, unsigned host)
{
	uint32_t me = (uint32_t)getpid();
	struct smem_host_entry *e;
	int r;

	if (h && !h->writable)
		return -EROFS;
	r = entry(h, host, &e);
	if (r < 0)
		return r;
	r = claim(e, me);
	if (r < 0)
		return r;
	if (shm_ld32(&e->pid) != me) {
		unclaim(e);
		return -EPERM;
	}
	rewrite(e, 0, 0, shm_ld32(&e->generation));
	unclaim(e);
	return 0;
}

int smem_hwlock_host_get(struct smem_hwlock *h, unsigned host, struct smem_hwlock_host *ret)
{
	struct smem_hwlock_host cur;
	struct smem_host_entry *e;
	int r;

	if (!ret)
		return -EINVAL;
	r = entry(h, host, &e);
	if (r < 0)
		return r;
	/* A read that keeps seeing a rewrite fails; *ret stays as the caller left it. */
	r = read_entry(e, &cur);
	if (r < 0)
		return r;
	cur.host = host;
	*ret = cur;
	return 0;
}

int smem_hwlock_host_alive(struct smem_hwlock *h, unsigned host)
{
	struct smem_hwlock_host cur;
	int r = smem_hwlock_host_get(h, host, &cur);

	if (r < 0)
		return r;
	if (!cur.registered)
		return -ENOENT;
	return pid_alive(cur.pid, cur.start_time);
}
