/* SPDX-License-Identifier: MIT */
/*
 * smemkit hardware spinlocks: a bank of 32 owner-tagged 32-bit lock words in a
 * region of its own, modelled on the Qualcomm TCSR mutex block.
 *
 * Lock word i sits at offset i * stride. It holds 0 when the lock is free and
 * host + 1 while host holds it, so anyone can see who holds a lock, and a crash
 * handler can release ("bust") the lock of a host that died holding it without
 * ever releasing a live holder's lock.
 *
 * A bank laid out by smem_hwlock_format() (or smem_hwlock_open() with
 * SMEM_HWLOCK_CREATE) also holds a host table: each attached host records its
 * pid and process start time there, so that anyone can prove a lock holder
 * dead (even after its pid is reused) and bust its lock.
 *
 * Functions return a value >= 0 on success and a negative errno on failure, and
 * write out-parameters only on success, as smem(3) says under RETURN VALUE.
 */
#ifndef SMEMKIT_HWLOCK_H
#define SMEMKIT_HWLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct smem_region;

#define SMEM_HWLOCK_COUNT          32
#define SMEM_HWLOCK_DEFAULT_STRIDE 64   /* one cache line per lock */
#define SMEM_HWLOCK_MAX_STRIDE     4096 /* qcom,tcsr-mutex uses 0x1000 */
#define SMEM_HWLOCK_MAX_HOST       0xfffeu
#define SMEM_HWLOCK_TABLE_HOSTS    64u /* hosts below this have a host-table entry */

/* smem_hwlock_lock() returns this when it took the lock from a dead holder. */
#define SMEM_HWLOCK_RECOVERED 1

/* smem_hwlock_lock() flags. */
enum smem_hwlock_flags {
	/* While waiting, bust the lock if its holder is proven dead (host table). */
	SMEM_HWLOCK_BUST_DEAD = 1u << 0,
};

struct smem_hwlock;

/*
 * The size of a bank: a header page, the 32 lock words, then the robust words,
 * the journal and the host table, rounded up to a page (docs/FORMAT.md).
 */
#define SMEM_HWLOCK_BANK_SIZE(stride)                                                              \
	(((size_t)(stride) * SMEM_HWLOCK_COUNT + 9728u + 4095u) & ~(size_t)4095u)

/**
 * smem_hwlock_format() - lay out a lock bank with a host table in memory
 * @base: the memory: a memfd's mapping, say, that becomes a bank
 * @size: SMEM_HWLOCK_BANK_SIZE(@stride)
 * @stride: bytes between lock words: a multiple of 4 from 4 to SMEM_HWLOCK_MAX_STRIDE
 *
 * Every lock is free and the host table empty afterwards.
 *
 * Context: nobody may use the memory meanwhile.
 * Return: 0; -EINVAL for a NULL @base, a bad stride or a size that does not match it.
 */
int smem_hwlock_format(void *base, size_t size, unsigned stride);

enum smem_hwlock_open_flags {
	SMEM_HWLOCK_CREATE = 1u << 0, /* lay out a new bank: every lock free, an empty host table */
	SMEM_HWLOCK_RDONLY = 1u << 1, /* look only: a private snapshot of the bank file */
};

struct smem_hwlock_opts {
	unsigned flags;             /* enum smem_hwlock_open_flags */
	unsigned stride;            /* with SMEM_HWLOCK_CREATE; 0: SMEM_HWLOCK_DEFAULT_STRIDE */
	struct smem_region *region; /* the bank, borrowed; then the path is NULL */
};

/**
 * smem_hwlock_opts_init() - the defaults: attach to an existing bank
 * @o: options to fill; every field 0 or NULL
 *
 * Context: any.
 */
void smem_hwlock_opts_init(struct smem_hwlock_opts *o);

/**
 * smem_hwlock_open() - attach to a lock bank, or create one
 * @path: a path, or a bare name for SMEM_REGION_DIR; NULL with @o->region
 * @o: options, or NULL for the defaults
 * @ret: the bank
 *
 * The bank is the file @path, mapped shared and read-write, or the writable
 * region @o->region that the caller owns and that must outlive the bank.
 * Without SMEM_HWLOCK_CREATE the bank exists and its stride is taken from its
 * size: 32 strides, plus the host page when it has one. With it, the file is
 * created (or truncated or extended) to SMEM_HWLOCK_BANK_SIZE(@o->stride)
 * bytes, or the region must have that size, and an empty bank is laid out
 * there, as smem_hwlock_format() does.
 *
 * With SMEM_HWLOCK_RDONLY the file is read once into private read-only memory,
 * for a tool that only looks (owners, the host table): it needs no write access,
 * and trylock, lock, unlock, bust and host registration on it return -EROFS. A
 * read-only region is opened the same way without the flag.
 *
 * Context: process context. Creating a bank that others use frees their locks.
 * Return: 0; -EINVAL for a NULL @ret, unknown flag bits, SMEM_HWLOCK_RDONLY with
 * SMEM_HWLOCK_CREATE, a stride without SMEM_HWLOCK_CREATE or a bad one, neither
 * or both of @path and @o->region, a read-only region with SMEM_HWLOCK_CREATE,
 * or a region whose size is not the bank size of the stride;
 * -EBADMSG if the size of an existing bank fits no valid stride; -ENOMEM; or an
 * error of smem_region_open().
 */
int smem_hwlock_open(const char *path, const struct smem_hwlock_opts *o, struct smem_hwlock **ret);

/**
 * smem_hwlock_close() - detach; the locks keep their state. NULL is a no-op.
 * @h: the bank
 *
 * Context: no other call may use @h meanwhile or afterwards.
 */
void smem_hwlock_close(struct smem_hwlock *h);

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
 * Return: 0 when the lock is now held by @host; -EBUSY if it is held; -EROFS
 * for a bank opened with SMEM_HWLOCK_RDONLY; -EINVAL.
 */
int smem_hwlock_trylock(struct smem_hwlock *h, unsigned id, unsigned host);

/**
 * smem_hwlock_lock() - take a lock, waiting up to a timeout
 * @h: the bank
 * @id: lock number
 * @host: the taker
 * @timeout_ms: how long to wait; 0 tries once, without spinning
 * @flags: 0 or SMEM_HWLOCK_BUST_DEAD
 *
 * Spins briefly, then sleeps on the lock word (futex) between attempts, so a
 * waiter does not burn a core while the holder works.
 *
 * With SMEM_HWLOCK_BUST_DEAD, a waiter that has slept without the holder
 * changing looks the holder up in the host table; if the holder is proven dead,
 * it busts the lock (owner-checked, so a racing buster or a new live holder is
 * safe) and takes it.
 *
 * Context: process context; may sleep.
 * Return: 0; SMEM_HWLOCK_RECOVERED (1) when the lock was taken from a dead
 * holder, so that what it guarded may be half-updated and should be repaired
 * before use; -ETIMEDOUT if the lock stayed held; -EROFS for a read-only bank;
 * -EINVAL for bad arguments or unknown flag bits.
 */
int smem_hwlock_lock(struct smem_hwlock *h, unsigned id, unsigned host, unsigned timeout_ms,
		     unsigned flags);

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
 * -EROFS for a read-only bank; -EINVAL.
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
 * it (nothing changed); -EROFS for a read-only bank; -EINVAL.
 */
int smem_hwlock_bust(struct smem_hwlock *h, unsigned id, unsigned owner);

/**
 * smem_hwlock_owner() - who holds a lock
 * @h: the bank
 * @id: lock number
 * @ret_value: the raw lock word: 0 when free, otherwise owner host + 1
 *
 * Context: any; an observation: the lock may change hands right after.
 * Return: 0; -EINVAL for a NULL @h or @ret_value, or an id not below
 * SMEM_HWLOCK_COUNT.
 */
int smem_hwlock_owner(struct smem_hwlock *h, unsigned id, unsigned *ret_value);

/* A host's entry in the host table. */
struct smem_hwlock_host {
	unsigned host;
	bool registered;     /* a registrant, alive or dead and not yet replaced */
	bool alive;          /* the kernel has not marked the registrant dead */
	uint32_t pid;        /* the registrant's pid in its own pid namespace: for people only */
	uint32_t generation; /* how many registrations the entry has seen */
};

/**
 * smem_hwlock_host_register() - record the calling process as a host
 * @h: the bank
 * @host: the host id, below SMEM_HWLOCK_TABLE_HOSTS
 *
 * Writes this process's pid and start time to the host's entry, taking over an
 * entry whose process is dead. A process may register several hosts. Taking
 * over a dead process's entry releases every lock that process still held (its
 * value, host + 1, is about to name a live host again); whoever takes such a
 * lock next must repair what it guarded, as after any bust.
 *
 * Context: process context; reads /proc; may wait (yielding) while another
 * process rewrites the entry.
 * Return: 0; -EADDRINUSE if another live process is registered as @host;
 * -EAGAIN if the entry stayed busy for a second; -ENODATA if the bank has no
 * host table; -EROFS for a read-only bank; -EINVAL.
 */
int smem_hwlock_host_register(struct smem_hwlock *h, unsigned host);

/**
 * smem_hwlock_host_unregister() - clear the calling process's registration
 * @h: the bank
 * @host: the host id
 *
 * Context: process context; may wait (yielding) while another process
 * rewrites the entry.
 * Return: 0; -EPERM if the entry is another process's; -EAGAIN if the entry
 * stayed busy; -ENODATA; -EROFS for a read-only bank; -EINVAL.
 */
int smem_hwlock_host_unregister(struct smem_hwlock *h, unsigned host);

/**
 * smem_hwlock_host_get() - read a host's entry
 * @h: the bank
 * @host: the host id
 * @ret: the entry (registered false if nobody is registered)
 *
 * Context: any.
 * Return: 0; -EAGAIN if the entry kept changing while it was read; -ENODATA;
 * -EINVAL.
 */
int smem_hwlock_host_get(struct smem_hwlock *h, unsigned host, struct smem_hwlock_host *ret);

/**
 * smem_hwlock_host_alive() - whether a host's registered process still runs
 * @h: the bank
 * @host: the host id
 *
 * A host is proven dead when its pid is gone, is a zombie, or now belongs to a
 * process with another start time (the pid was reused).
 *
 * Context: process context; reads /proc.
 * Return: 1 alive; 0 proven dead; -ENOENT if nobody is registered; -EAGAIN if
 * the entry kept changing; -ENODATA; -EINVAL.
 */
int smem_hwlock_host_alive(struct smem_hwlock *h, unsigned host);

#ifdef __cplusplus
}
#endif

#endif
