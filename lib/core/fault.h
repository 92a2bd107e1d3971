/* SPDX-License-Identifier: MIT */
/*
 * Fault points: named places between two stores to shared memory where a test can
 * make the process die by SIGKILL, so that a crash can be placed anywhere.
 *
 * A point is armed through the environment, SMEMKIT_FAULT=name or name:N (die on the
 * N-th hit, counting from 1), read once per process, or through smem__fault_arm().
 * Release builds (meson -Dfault_points=false) compile every FAULT_POINT() to nothing,
 * so no fault-point code or symbol is in the library.
 */
#ifndef SMEMKIT_CORE_FAULT_H
#define SMEMKIT_CORE_FAULT_H

#ifdef SMEMKIT_FAULT_POINTS
void smem__fault_point(const char *name);
void smem__fault_arm(const char *name, unsigned long nth);
/*
 * The N-th hit of @name calls @fn(@arg) instead of killing the process: a
 * test makes something happen exactly there (another thread's step, another
 * process's call) to force an interleaving. Not for memory ordering: the
 * call is a compiler barrier, and @fn may well fence.
 */
void smem__fault_hook(const char *name, unsigned long nth, void (*fn)(void *), void *arg);
#define FAULT_POINT(name) smem__fault_point(name)
#else
#define FAULT_POINT(name) ((void)0)
#endif

#endif
