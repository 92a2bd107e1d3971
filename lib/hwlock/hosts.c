// SPDX-License-Identifier: MIT
/*
 * The host table: which process is attached as which host.
 *
 * A registration is a robust word (core/robust.h) that the registrant process
 * owns: its liveness id while it runs, marked SMEM_ROBUST_DIED by the kernel
 * when it dies. Whether a host is alive is read from that word and nothing
 * else: no pid is looked up, so a registrant in another pid namespace, behind
 * hidepid, or whose pid was reused is judged right, and "unknown" is never
 * taken for "dead". Registration is one compare-and-swap of that word, from 0
 * (free) or from a marked word (its registrant died), so two processes can
 * never both become a host, and no claim or lock is needed around it.
 *
 * The liveness thread swaps registration words itself (by_liveness), so no
 * death of the process can fall between the swap and the robust list.
 *
 * The other fields (the registrant's liveness id and pid, a generation count)
 * are for people, and for one proof: a lock word left holding a liveness id
 * that the kernel did not mark (robust.c says when that can happen) belongs
 * to a dead process when the table holds a marked registration with that id
 * and no live one. A new registration of a dead host hands such locks on with
 * the mark, so that whoever takes them next is told to repair.
 *
 * Registrations are per process and counted: every handle of the process may
 * register the same host, and the last to unregister (or close) frees it.
 */
#include <errno.h>
#include <unistd.h>

#include "bank.h"
#include "core/fault.h"
#include "core/futex.h"
#include "core/shm.h"
#include "hwlock-internal.h"

#define READ_TRIES 100

static int entry(struct smem_hwlock *h, unsigned host, struct smem_host_entry **ret)
{
	if (!h || host >= SMEM_HWLOCK_TABLE_HOSTS)
		return -EINVAL;
	*ret = &h->b->hosts[host];
	return 0;
}

static uint32_t live_word(const struct smem_host_entry *e)
{
	/* H0: pairs with R2 of a registrant's release, so its last fields come first. */
	return atomic_load_explicit((const _Atomic uint32_t *)&e->live.word, memory_order_acquire);
}

/* Rewrite the fields for people inside an odd sequence count; by the registrant only. */
static void describe(struct smem_host_entry *e, uint32_t id, uint32_t pid, uint32_t generation)
{
	uint32_t seq = shm_ld32(&e->seq) | 1;

	shm_st32(&e->seq, seq);
	/* H4: the odd count is visible before any field changes; pairs with H2. */
	atomic_thread_fence(memory_order_release);
	FAULT_POINT("hwlock.host.after_seq_odd");
	shm_st32(&e->id, id);
	shm_st32(&e->pid, pid);
	shm_st32(&e->generation, generation);
	/* H3: publish; pairs with H1. */
	shm_st32_release(&e->seq, seq + 1);
}

/*
 * A dead registrant's locks that the kernel did not mark: mark them, so the
 * next taker recovers. @dead is that registrant's liveness id.
 */
static void hand_on(struct smem_bank *b, unsigned host, uint32_t dead)
{
	for (unsigned id = 0; dead && id < SMEM_HWLOCK_COUNT; id++) {
		_Atomic uint32_t *rw = (_Atomic uint32_t *)&b->robust[id].word;
		/* Looks; the compare-and-swap from v decides. */
		uint32_t v = atomic_load_explicit(rw, memory_order_relaxed);
		uint32_t label = atomic_load_explicit(
			(_Atomic uint32_t *)(b->base + SMEM_BANK_WORDS + (size_t)id * b->stride),
			memory_order_relaxed);

		if ((v & SMEM_ROBUST_ID) != dead || (v & SMEM_ROBUST_DIED) || label != host + 1)
			continue;
		/* The mark, as the kernel's; the next taker's R1 acquires what it orders. */
		if (atomic_compare_exchange_strong_explicit(rw, &v,
							    (v & SMEM_ROBUST_WAITERS) | SMEM_ROBUST_DIED,
							    memory_order_acq_rel, memory_order_relaxed)) {
			smem__futex_wake_all(rw);
			FAULT_POINT("hwlock.host.after_hand_on");
		}
	}
}

int smem_hwlock_host_register(struct smem_hwlock *h, unsigned host)
{
	struct smem_host_entry *e;
	struct smem_bank *b;
	uint32_t self, v, seen;
	int r;

	if (h && !h->b->writable)
		return -EROFS;
	r = entry(h, host, &e);
	if (r < 0)
		return r;
	r = smem__robust_self(&self);
	if (r < 0)
		return r;
	b = h->b;
	smem__hwlock_registry_lock();
	if (h->registered[host] == UINT16_MAX) {
		r = -EOVERFLOW;
		goto out;
	}
	if (b->host_refs[host] && smem__robust_held(&e->live)) {
		b->host_refs[host]++; /* this process is the host already */
		h->registered[host]++;
		r = 0;
		goto out;
	}
	for (int tries = 0;; tries++) {
		v = live_word(e);
		if (v && !(v & SMEM_ROBUST_DIED)) {
			r = -EADDRINUSE; /* the kernel says its registrant runs */
			goto out;
		}
		r = smem__robust_take(&e->live, v, 0, true, &seen);
		if (r != -EBUSY || tries == 100)
			break;
	}
	if (r < 0)
		goto out;
	FAULT_POINT("hwlock.host.after_take");
	if (v & SMEM_ROBUST_DIED)
		hand_on(b, host, shm_ld32(&e->id));
	describe(e, self, (uint32_t)getpid(), shm_ld32(&e->generation) + 1);
	FAULT_POINT("hwlock.host.after_register");
	b->host_refs[host] = 1;
	h->registered[host]++;
out:
	smem__hwlock_registry_unlock();
	return r;
}

int smem_hwlock_host_unregister(struct smem_hwlock *h, unsigned host)
{
	struct smem_host_entry *e;
	struct smem_bank *b;
	int r;

	if (h && !h->b->writable)
		return -EROFS;
	r = entry(h, host, &e);
	if (r < 0)
		return r;
	b = h->b;
	smem__hwlock_registry_lock();
	if (!h->registered[host] || !b->host_refs[host]) {
		r = -EPERM;
		goto out;
	}
	h->registered[host]--;
	if (--b->host_refs[host] > 0)
		goto out;
	if (smem__robust_held(&e->live)) {
		describe(e, 0, 0, shm_ld32(&e->generation));
		r = smem__robust_release(&e->live, true, NULL, 0, NULL);
	}
out:
	smem__hwlock_registry_unlock();
	return r;
}

bool smem__hwlock_host_mine(struct smem_hwlock *h, unsigned host)
{
	bool mine;

	if (!h || host >= SMEM_HWLOCK_TABLE_HOSTS)
		return false;
	smem__hwlock_registry_lock();
	mine = h->b->host_refs[host] && smem__robust_held(&h->b->hosts[host].live);
	smem__hwlock_registry_unlock();
	return mine;
}

int smem_hwlock_host_get(struct smem_hwlock *h, unsigned host, struct smem_hwlock_host *ret)
{
	struct smem_hwlock_host cur = { .host = host };
	struct smem_host_entry *e;
	int r;

	if (!ret)
		return -EINVAL;
	r = entry(h, host, &e);
	if (r < 0)
		return r;
	for (int i = 0; i < READ_TRIES; i++) {
		/* H1: acquire the count; pairs with H3. */
		uint32_t s1 = shm_ld32_acquire(&e->seq), s2;

		if (s1 & 1)
			continue;
		cur.pid = shm_ld32(&e->pid);
		cur.generation = shm_ld32(&e->generation);
		/* H2: the fields are read before the count is read again. */
		atomic_thread_fence(memory_order_acquire);
		s2 = shm_ld32(&e->seq);
		if (s1 == s2) {
			uint32_t v = live_word(e);

			cur.registered = v != 0;
			cur.alive = v && !(v & SMEM_ROBUST_DIED);
			*ret = cur;
			return 0;
		}
	}
	/* A read that keeps seeing a rewrite fails; *ret stays as the caller left it. */
	return -EAGAIN;
}

int smem_hwlock_host_alive(struct smem_hwlock *h, unsigned host)
{
	struct smem_host_entry *e;
	uint32_t v;
	int r = entry(h, host, &e);

	if (r < 0)
		return r;
	v = live_word(e);
	if (!v)
		return -ENOENT;
	return !(v & SMEM_ROBUST_DIED);
}

int smem__hwlock_id_dead(const struct smem_bank *b, uint32_t id, uint32_t label)
{
	const struct smem_host_entry *named;
	uint32_t v;

	if (!id || label == 0 || label > SMEM_HWLOCK_TABLE_HOSTS)
		return 0;
	named = &b->hosts[label - 1];
	v = live_word(named);
	if (!(v & SMEM_ROBUST_DIED) || shm_ld32(&named->id) != id)
		return 0;
	for (unsigned host = 0; host < SMEM_HWLOCK_TABLE_HOSTS; host++) {
		v = live_word(&b->hosts[host]);
		if ((v & SMEM_ROBUST_ID) == id && !(v & SMEM_ROBUST_DIED))
			return 0; /* a live registration has the id */
	}
	return 1;
}
