/* SPDX-License-Identifier: MIT */
/*
 * Futexes, clocks, the spin-wait pause and the fallback-slice knob, shared by
 * the lock bank and the doorbells. Never installed.
 *
 * Every futex here is a shared one (no FUTEX_PRIVATE_FLAG): the words live in
 * mappings that other processes share.
 */
#ifndef SMEMKIT_CORE_FUTEX_H
#define SMEMKIT_CORE_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline int64_t smem__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One pause of a spin-wait: lets the sibling hyperthread run, saves power. */
static inline void smem__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Sleep while *word == seen, for at most ns (< 0: no limit), or until woken.
 * Return: 0 woken (or spuriously); -ETIMEDOUT; -EAGAIN (the word changed); -EINTR.
 */
static inline int smem__futex_wait(_Atomic uint32_t *word, uint32_t seen, int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	return syscall(SYS_futex, word, FUTEX_WAIT, seen, ns < 0 ? NULL : &ts, NULL, 0) < 0 ? -errno
											    : 0;
}

static inline void smem__futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

static inline void smem__futex_wake_all(_Atomic uint32_t *word)
{
	smem__futex_wake(word, INT_MAX);
}

/*
 * The longest sleep between looks of a waiter that a lost wake-up would
 * otherwise leave asleep: @slice_ns, or INT64_MAX when the environment sets
 * @knob to 1 (tests), so that a lost wake-up hangs instead of hiding behind
 * the next slice. @cache keeps the answer; any thread may fill it, with the
 * same value.
 */
static inline int64_t smem__fallback_slice_ns(const char *knob, int64_t slice_ns,
					      _Atomic int64_t *cache)
{
	int64_t s = atomic_load_explicit(cache, memory_order_relaxed);

	if (s == 0) {
		const char *v = getenv(knob);

		s = v && *v == '1' ? INT64_MAX : slice_ns;
		atomic_store_explicit(cache, s, memory_order_relaxed);
	}
	return s;
}

#endif
