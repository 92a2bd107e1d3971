/* SPDX-License-Identifier: MIT */
/*
 * Access to words that live in shared memory.
 *
 * Every value in shared memory may be changed by a peer at any moment, so each is
 * read exactly once, through one of these helpers, into a local that is then
 * checked. The helpers use relaxed or acquire/release C11 atomics on naturally
 * aligned little-endian words; callers guarantee the alignment (the layouts keep
 * every field aligned, and walkers reject misaligned offsets before reading).
 * The orderings are named at each call site, together with the partner access.
 */
#ifndef SMEMKIT_CORE_SHM_H
#define SMEMKIT_CORE_SHM_H

#include <endian.h>
#include <stdatomic.h>
#include <stdint.h>

static inline uint32_t shm_ld32(const void *p)
{
	return le32toh(atomic_load_explicit((const _Atomic uint32_t *)p, memory_order_relaxed));
}

static inline uint32_t shm_ld32_acquire(const void *p)
{
	return le32toh(atomic_load_explicit((const _Atomic uint32_t *)p, memory_order_acquire));
}

static inline void shm_st32(void *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, htole32(v), memory_order_relaxed);
}

static inline void shm_st32_release(void *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, htole32(v), memory_order_release);
}

static inline uint16_t shm_ld16(const void *p)
{
	return le16toh(atomic_load_explicit((const _Atomic uint16_t *)p, memory_order_relaxed));
}

static inline void shm_st16(void *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)p, htole16(v), memory_order_relaxed);
}

#endif
