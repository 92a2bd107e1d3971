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
 * Beside each lock word the bank holds the lock's robust word, which the holder
 * process owns and the kernel marks when that process dies, and a host table
 * whose entries are robust words too: a holder or host is dead only when the
 * kernel says so, in any pid namespace (smem_hwlock(3), "Proof of death").
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
 * Without SMEM_HWLOCK_CREATE the bank exists and its header gives its layout;
 * nothing is guessed from the size. With it, the file is
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
 * -EBADMSG if an existing bank has no valid header or another layout than its
 * header's stride and its size give; -ENOMEM; or an error of smem_region_open().
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
 * Takes the lock only if it is free, the way the hardware latches the first
 * value written to a free mutex: a compare-and-swap of the lock's robust word
 * to this process's liveness id, then host + 1 in the lock word.
 *
 * Context: process context; never waits for another process. Not recursive:
 * a host that holds the lock gets -EBUSY.
 * Return: 0 when the lock is now held by @host; -EBUSY if it is held (or its
 * dead holder's lock awaits a taker); -EROFS for a bank opened with
 * SMEM_HWLOCK_RDONLY; -EINVAL; -ENOMEM, or an error of starting this process's
 * liveness thread.
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
 * Spins briefly, then sleeps on the lock's robust word (futex), as a robust
 * mutex does, until an unlock or the holder's death wakes it.
 *
 * A holder that dies leaves the lock marked by the kernel. With
 * SMEM_HWLOCK_BUST_DEAD, or when the dead holder was @host itself (the caller
 * is its successor), the waiter takes such a lock and says so; otherwise it
 * waits as for a live holder.
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
 * Only the holder releases: a process that does not hold the lock as @host
 * (another does, a bust took it from this one, or it is free) changes nothing.
 * Wakes one sleeper if one announced itself.
 *
 * Context: process context; never waits for another process.
 * Return: 0; -EPERM if this process did not hold the lock as @host (nothing
 * changed); -EROFS for a read-only bank; -EINVAL.
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
 * Context: process context; never blocks. The caller must know @owner will
 * not run again (a pidfd said so, or the kernel marked the lock).
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
 * The entry's robust word takes this process's liveness id, in one
 * compare-and-swap from free or from a registrant the kernel marked dead.
 * Registrations are counted per process: each call adds one, each
 * smem_hwlock_host_unregister() takes one off, and smem_hwlock_close() undoes
 * those made through @h. A dead registrant's locks stay held and marked, so
 * whoever takes one next gets SMEM_HWLOCK_RECOVERED and repairs. A forked
 * child does not inherit the registration.
 *
 * Context: process context; wakes this process's liveness thread and waits for it.
 * Return: 0; -EADDRINUSE if another live process is registered as @host;
 * -EOVERFLOW after 65535 registrations through @h; -EROFS for a read-only
 * bank; -EINVAL; -ENOMEM, or an error of starting the liveness thread.
 */
int smem_hwlock_host_register(struct smem_hwlock *h, unsigned host);

/**
 * smem_hwlock_host_unregister() - take one registration of the caller off
 * @h: the bank the registration was made through
 * @host: the host id
 *
 * Context: process context; may wake this process's liveness thread.
 * Return: 0; -EPERM if @h holds no registration of @host; -EROFS; -EINVAL.
 */
int smem_hwlock_host_unregister(struct smem_hwlock *h, unsigned host);

/**
 * smem_hwlock_host_get() - read a host's entry
 * @h: the bank
 * @host: the host id
 * @ret: the entry (registered false if nobody is registered)
 *
 * Context: any.
 * Return: 0; -EAGAIN if the entry kept changing while it was read; -EINVAL.
 */
int smem_hwlock_host_get(struct smem_hwlock *h, unsigned host, struct smem_hwlock_host *ret);

/**
 * smem_hwlock_host_alive() - whether a host's registered process still runs
 * @h: the bank
 * @host: the host id
 *
 * The kernel's answer: a registrant is dead once the kernel marked its
 * registration, which it does when the process dies or execs, in whatever pid
 * namespace it runs. No pid is looked up.
 *
 * Context: any.
 * Return: 1 alive; 0 dead; -ENOENT if nobody is registered; -EINVAL.
 */
int smem_hwlock_host_alive(struct smem_hwlock *h, unsigned host);

#ifdef __cplusplus
}
#endif

#endif
