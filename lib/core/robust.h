/* SPDX-License-Identifier: MIT */
/*
 * Words in shared memory that the kernel marks when their owner process dies:
 * robust futexes (set_robust_list(2)) owned by a process, not by a thread.
 * Never installed.
 *
 * A robust word holds 0 when free, or its owner's liveness id (below) with two
 * flag bits: SMEM_ROBUST_WAITERS (someone sleeps on the word, so its release
 * must wake one) and SMEM_ROBUST_DIED (the kernel set it: the owner died
 * holding the word). Beside the word, each slot has a link: the owner's entry
 * in its robust list, a pointer into the owner's own address space that only
 * the kernel follows, and only when the owner dies.
 *
 * The liveness id is the thread id of one idle thread per process, started on
 * first use, whose robust list (its own, never glibc's) names every word the
 * process holds. When the process dies, or execs, the kernel walks that list
 * and marks each word that still holds the id: no pid is looked up, so the
 * proof holds across pid namespaces, under hidepid, and across pid reuse, and
 * it comes with a futex wake-up of a sleeper. A forked child is another
 * process, with its own liveness thread and id, and holds nothing.
 */
#ifndef SMEMKIT_CORE_ROBUST_H
#define SMEMKIT_CORE_ROBUST_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMEM_ROBUST_ID      FUTEX_TID_MASK
#define SMEM_ROBUST_WAITERS FUTEX_WAITERS
#define SMEM_ROBUST_DIED    FUTEX_OWNER_DIED

struct smem_robust {
	uint32_t word;
	uint32_t reserved;
	uint64_t link;
};

_Static_assert(sizeof(struct smem_robust) == 16, "robust slot");

/* This process's liveness id, starting its liveness thread on first use. Return: 0; -errno. */
int smem__robust_self(uint32_t *ret_id);

/*
 * Take @r: compare-and-swap its word from @expected to (id | @bits), acquire,
 * and put it on this process's robust list. With @by_liveness the liveness
 * thread does it itself, so no death of the process can fall between the swap
 * and the list (slower: a wake-up of that thread). Return: 0; -EBUSY when the
 * word did not hold @expected (*ret_seen then holds what it did hold); -ENOMEM;
 * or an error of smem__robust_self().
 */
int smem__robust_take(struct smem_robust *r, uint32_t expected, uint32_t bits, bool by_liveness,
		      uint32_t *ret_seen);

/*
 * Release @r, which this process holds: first swap the label word @label (if
 * not NULL) from @label_was to 0, then take @r off the robust list, then swap
 * its word (this id with any flag) to 0, release, and wake one sleeper if
 * SMEM_ROBUST_WAITERS was set. Return: 0 with *ret_old the word released;
 * -EPERM if this process does not hold it, or the label is not @label_was
 * (nothing is changed).
 */
int smem__robust_release(struct smem_robust *r, bool by_liveness, _Atomic uint32_t *label,
			 uint32_t label_was, uint32_t *ret_old);

/* Whether this process holds @r: its word names this process and @r is on its list. */
bool smem__robust_held(const struct smem_robust *r);

/* Take @r off this process's list without touching its word (someone took it from us). */
void smem__robust_forget(const struct smem_robust *r);

/*
 * Take every word in [@base, @base + @size) off this process's list (memory
 * about to be unmapped: the kernel must not walk into it). The words stay as
 * they are.
 */
void smem__robust_forget_in(const void *base, size_t size);

/*
 * Install this file's fork handlers now, so that a caller's handlers installed
 * after them run their prepare step first (pthread_atfork(3) order).
 */
void smem__robust_atfork_install(void);

/* How many words this process holds in [@base, @base + @size). */
size_t smem__robust_held_in(const void *base, size_t size);

#endif
