/* SPDX-License-Identifier: MIT */
/*
 * smemkit hardware spinlocks: a bank of 32 owner-tagged 32-bit lock words in a
 * region of its own, modelled on the Qualcomm TCSR mutex block.
 *
 * Lock word i sits at offset i * stride. It holds 0 when the lock is free and
 * host + 1 while host holds it, so anyone can see who holds a lock, and a crash
 * handler can release ("bust") the lock of a host that died holding it without
 * ever releasing a live holder's lock. The bank's stride is its size / 32.
 */
#ifndef SMEMKIT_HWLOCK_H
#define SMEMKIT_HWLOCK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct smem_region;

#define SMEM_HWLOCK_COUNT          32
#define SMEM_HWLOCK_DEFAULT_STRIDE 64   /* one cache line per lock */
#define SMEM_HWLOCK_MAX_STRIDE     4096 /* qcom,tcsr-mutex uses 0x1000 */
#define SMEM_HWLOCK_MAX_HOST       0xfffeu

struct smem_hwlock;

/**
 * smem_hwlock_create() - create (or reset) a lock bank in a file
 * @path: a path, or a bare name for SMEM_REGION_DIR
 * @stride: bytes between lock words: a multiple of 4 from 4 to SMEM_HWLOCK_MAX_STRIDE
 * @ret: the bank, with every lock free
 *
 * Context: process context. Resetting a bank that others use frees their locks.
 * Return: 0; -EINVAL for a bad stride; or an error of smem_region_open().
 */
int smem_hwlock_create(const char *path, unsigned stride, struct smem_hwlock **ret);

/**
 * smem_hwlock_open() - attach to an existing lock bank
 * @path: a path, or a bare name for SMEM_REGION_DIR
 * @ret: the bank
 *
 * Return: 0; -EBADMSG if the file's size is not 32 times a valid stride; or an
 * error of smem_region_open().
 */
int smem_hwlock_open(const char *path, struct smem_hwlock **ret);

/**
 * smem_hwlock_open_region() - use a region the caller owns as a lock bank
 * @r: the region; it must outlive the bank
 * @ret: the bank
 *
 * Return: 0; -EBADMSG if the size is not 32 times a valid stride; -ENOMEM.
 */
int smem_hwlock_open_region(struct smem_region *r, struct smem_hwlock **ret);

/* Detach; the locks keep their state. NULL is a no-op. */
void smem_hwlock_close(struct smem_hwlock *h);

/* Bytes between two lock words of the bank. */
unsigned smem_hwlock_stride(const struct smem_hwlock *h);

/**
 * smem_hwlock_trylock() - take a lock if it is free
 * @h: the bank
 * @id: lock number, below SMEM_HWLOCK_COUNT
 * @host: the taker, at most SMEM_HWLOCK_MAX_HOST; host + 1 is written to the word
 *
 * Takes the lock only if its word is 0, the way the hardware latches the first
 * value written to a free mutex. No system call.
 *
 * Context: any; never blocks. Not recursive: a host that holds the lock gets -EBUSY.
 * Return: 0 when the lock is now held by @host; -EBUSY if it is held; -EINVAL.
 */
int smem_hwlock_trylock(struct smem_hwlock *h, unsigned id, unsigned host);

/**
 * smem_hwlock_lock() - take a lock, waiting up to a timeout
 * @h: the bank
 * @id: lock number
 * @host: the taker
 * @timeout_ms: how long to wait; 0 tries once
 *
 * Spins briefly, then sleeps on the lock word (futex) between attempts, so a
 * waiter does not burn a core while the holder works.
 *
 * Context: process context; may sleep.
 * Return: 0; -ETIMEDOUT if the lock stayed held; -EINVAL.
 */
int smem_hwlock_lock(struct smem_hwlock *h, unsigned id, unsigned host, unsigned timeout_ms);

/**
 * smem_hwlock_unlock() - release a lock
 * @h: the bank
 * @id: lock number
 * @host: the host that believes it holds the lock
 *
 * As on the hardware, the lock is released whoever holds it.
 *
 * Context: any; never blocks.
 * Return: 0; -EPERM if @host did not hold the lock (it is released all the same);
 * -EINVAL.
 */
int smem_hwlock_unlock(struct smem_hwlock *h, unsigned id, unsigned host);

/**
 * smem_hwlock_bust() - release a lock only if a given host holds it
 * @h: the bank
 * @id: lock number
 * @owner: the host believed dead
 *
 * Checks the owner and releases in one atomic step, so two busters racing, or a
 * buster racing a new holder, can never release a lock that another host holds.
 *
 * Context: any; never blocks. The caller must know @owner will not run again.
 * Return: 1 if @owner held the lock and it is now free; 0 if @owner did not hold
 * it (nothing changed); -EINVAL.
 */
int smem_hwlock_bust(struct smem_hwlock *h, unsigned id, unsigned owner);

/**
 * smem_hwlock_owner() - who holds a lock
 * @h: the bank
 * @id: lock number
 * @ret_value: the raw lock word: 0 when free, otherwise owner host + 1
 *
 * Return: 0; -EINVAL.
 */
int smem_hwlock_owner(struct smem_hwlock *h, unsigned id, unsigned *ret_value);

#ifdef __cplusplus
}
#endif

#endif
