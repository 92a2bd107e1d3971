/* SPDX-License-Identifier: MIT */
/* What the tools and tests may see of a lock bank beyond smemkit/hwlock.h. Never installed. */
#ifndef SMEMKIT_HWLOCK_INTERNAL_H
#define SMEMKIT_HWLOCK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/robust.h"
#include "hwlock/journal.h"
#include "smemkit/hwlock.h"

/* Bytes between two lock words, as the bank's header gives it. */
unsigned smem__hwlock_stride(const struct smem_hwlock *h);

/* Why @base cannot be a lock bank of @size bytes, or NULL if it is one. */
const char *smem__hwlock_problem(const void *base, size_t size);

/* Lock @id's robust word: 0 free, else the holder's id with SMEM_ROBUST_* flags. */
int smem__hwlock_robust(struct smem_hwlock *h, unsigned id, uint32_t *ret_word);

/*
 * Whether this process is registered as @host through any handle on the bank
 * (a forked child never is: it inherited the handle, not the registration).
 */
bool smem__hwlock_host_mine(struct smem_hwlock *h, unsigned host);

/*
 * Hand lock @id on from @owner, whose death the caller knows of (smemd: its
 * pidfd fired), so that the next taker, with or without the bust policy, gets
 * SMEM_HWLOCK_RECOVERED and repairs: the label cleared and every sleeper
 * woken, if the kernel marked the robust word FUTEX_OWNER_DIED, or if the
 * word is the id of @owner's registration, which the kernel marked dead (then
 * the word is marked too). A word of any other process is left alone: the
 * label is only a claim. Return: 1 if handed on, 0 if not (nothing changed);
 * -EROFS; -EINVAL.
 */
int smem__hwlock_mark_dead(struct smem_hwlock *h, unsigned id, unsigned owner);

#endif
