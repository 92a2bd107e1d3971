/* SPDX-License-Identifier: MIT */
/*
 * smemkit SMEM: a heap of numbered items in memory shared by every host, in the
 * byte format of the Linux qcom_smem driver (versions 11 and 12).
 *
 * Items are allocated once and never freed. An item lives in the private
 * partition of the two hosts that use it, in the global partition (version 12)
 * or in the global heap (version 11). Allocation takes hardware spinlock 3 of the
 * lock bank; lookups take no lock and make no system call. Every value read from
 * the image is checked before use, so a corrupt or hostile image gives -EBADMSG,
 * never a read outside the region.
 *
 * The return contract of every smemkit function (smem(3), RETURN VALUE): a value
 * >= 0 on success, a negative errno on failure; most return 0, and each that
 * returns a positive value says so under Return:. Out-parameters are written
 * only on success. Nothing sets errno, prints or exits.
 */
#ifndef SMEMKIT_SMEM_H
#define SMEMKIT_SMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct smem_region;
struct smem_hwlock;
struct smem;

#define SMEM_HOST_ANY          0xffffffffu /* Linux QCOM_SMEM_HOST_ANY: global partition or heap */
#define SMEM_HOST_APPS         0u
#define SMEM_HOST_COUNT        25u     /* remote host ids below this; Linux SMEM_HOST_COUNT */
#define SMEM_GLOBAL_HOST       0xfffeu /* both hosts of the global partition */
#define SMEM_ITEM_COUNT        512u    /* version-11 table size and default item limit */
#define SMEM_ITEM_LAST_FIXED   8u      /* items below this belong to the bootloader */
#define SMEM_HWLOCK_ID         3u      /* the lock every allocator takes */
#define SMEM_HWLOCK_TIMEOUT_MS 1000u
#define SMEM_DEFAULT_SIZE      ((size_t)2 << 20)
#define SMEM_DEFAULT_CACHELINE 64u

/* smem_item_alloc() returns this when it first repaired what a dead lock holder left. */
#define SMEM_RECOVERED 1

/* One private partition to create: the two hosts and its size (0: an equal share). */
struct smem_pair {
	unsigned host0;
	unsigned host1;
	size_t size;
};

struct smem_format_opts {
	unsigned version;              /* 11 or 12 */
	unsigned item_count;           /* version 12: the limit written to the SIII block */
	unsigned cacheline;            /* alignment of cached entry headers, in every partition */
	const struct smem_pair *pairs; /* private partitions */
	size_t n_pairs;
	size_t global_size;            /* version 12: size of the global partition; 0: an equal share */
	uint64_t phys_base;            /* physical base recorded in the SIII block */
};

/**
 * smem_format_opts_init() - the defaults: version 12, 512 items, cacheline 64, and
 * private partitions for host 0 (apps) with 1 (modem), 2 (adsp) and 5 (cdsp)
 * @o: options to fill
 *
 * Context: any.
 */
void smem_format_opts_init(struct smem_format_opts *o);

/**
 * smem_format() - write an empty SMEM image, as the bootloader does
 * @base: memory to format, all of it overwritten; NULL only checks @size and @o
 * @size: its size, a multiple of 4096 from 16 KiB to 4 GiB, with room for the
 *        partitions (4 KiB each at least; a version-12 image needs 20 KiB or more)
 * @o: options, or NULL for the defaults
 *
 * Version 11: the header with its 512-entry table of contents and a global heap
 * after it; with pairs, a partition table in the last 4 KiB and the partitions
 * after the heap. Version 12: the header, a global partition (hosts 0xfffe) and
 * the private partitions, with the partition table and SIII block in the last
 * 4 KiB. Partitions are 4 KiB aligned.
 *
 * Context: nobody may use the memory while it is formatted.
 * Return: 0; -EINVAL for a bad option (version, cacheline not a power of two from
 * 16 to 4096, item count, a host id of SMEM_HOST_COUNT or more, a pair of one
 * host, a repeated pair, more than 83 pairs); -ENOSPC if the sizes do not fit.
 */
int smem_format(void *base, size_t size, const struct smem_format_opts *o);

/**
 * smem_create() - create the region file and its lock bank, and format it
 * @path: a path or bare name of the region; the lock bank is PATH.hwlock
 * @size: the region's size
 * @o: format options, or NULL for the defaults
 *
 * Context: process context. An existing region of that name is overwritten.
 * Return: 0; -EINVAL for a NULL @path; -ENAMETOOLONG if PATH.hwlock is too long; an
 * error of smem_format(), smem_region_open() or smem_hwlock_open().
 */
int smem_create(const char *path, size_t size, const struct smem_format_opts *o);

enum smem_open_flags {
	SMEM_OPEN_RDONLY    = 1u << 0, /* read a private snapshot of the image; no lock bank */
	SMEM_OPEN_BUST_DEAD = 1u << 1, /* take lock 3 from a holder proven dead, and repair */
	SMEM_OPEN_OFFLINE   = 1u << 2, /* the image file for this process alone; no lock bank */
};

struct smem_rm;

struct smem_open_opts {
	unsigned flags;             /* enum smem_open_flags */
	struct smem_rm *rm;         /* through smemd (smem_rm(3)), borrowed; then the path is NULL */
	struct smem_region *region; /* the image, borrowed; then the path is NULL */
	struct smem_hwlock *hwlock; /* the lock bank, borrowed; NULL: PATH.hwlock or none */
	uint64_t phys_base;         /* physical address of the region's first byte */
	char *errbuf;               /* on failure, a sentence saying what is wrong */
	size_t errbuf_size;
};

/**
 * smem_open_opts_init() - the defaults: read-write, the lock bank beside the image
 * @o: options to fill; every field 0 or NULL
 *
 * Context: any.
 */
void smem_open_opts_init(struct smem_open_opts *o);

/**
 * smem_open() - attach to an SMEM image as a host
 * @path: a path or bare name of the region, or NULL with @o->region
 * @host: the local host id, below SMEM_HOST_COUNT
 * @o: options, or NULL for the defaults
 * @ret: the handle
 *
 * The image is the region file @path, the region @o->region that the caller
 * owns and that must outlive the handle, or the image smemd gave the
 * connection @o->rm (smem_rm_connect() as @host), which must outlive it too:
 * then the handle sees only the pieces smemd gave this host (the header, the
 * global partition and its own private partitions), smem_item_foreach()
 * walks only those, and every other partition is unmapped memory. A file is mapped shared and read-write
 * and its lock bank PATH.hwlock is opened too, unless @o->hwlock names one; with
 * SMEM_OPEN_RDONLY the file is read once into a private snapshot and no lock
 * bank is opened. A region comes with only the lock bank @o->hwlock, if any.
 *
 * SMEM_OPEN_OFFLINE edits an image that nobody has attached, such as a dump or
 * an image without a lock bank: the file is locked exclusively (every process
 * that maps a region file holds a shared flock(2) on it, which the kernel drops
 * when it dies), so the call fails with -EBUSY while any live process has the
 * image attached, and nobody can attach while the handle is open. No lock bank
 * is opened, and smem_item_alloc() and smem_recover() take no lock: there is no
 * one to exclude; a version-11 heap's counters, which an offline editor that
 * died cannot have journalled, are derived from the table of contents again
 * before each heap allocation. It needs @path, and neither @o->region nor
 * @o->hwlock, and refuses an image that has a lock bank (-EEXIST): attach with
 * the bank instead.
 *
 * Validates the image as the Linux probe does, and more (docs/FORMAT.md lists the
 * checks): the header, the version, the partition table, and the header of the
 * global partition and of every private partition of @host. A writable handle
 * registers this process as @host in its lock bank's host table (smem_close()
 * undoes it), so that others can tell whether it is alive; a handle inherited
 * across fork() then allocates nothing (-ESTALE): the child is not the host.
 *
 * Context: process context.
 * Return: 0; -EINVAL for a bad @host, unknown flag bits, a NULL @ret, neither or
 * more than one of @path, @o->region and @o->rm, an @o->rm registered as
 * another host or as none, or @o->rm with @o->hwlock or SMEM_OPEN_OFFLINE, SMEM_OPEN_OFFLINE with SMEM_OPEN_RDONLY, a region
 * or a lock bank; -EBUSY with SMEM_OPEN_OFFLINE while a live process has the
 * image attached (or without it, while one has it open offline); -EEXIST with
 * SMEM_OPEN_OFFLINE for an image that has a lock bank; -EBADMSG if the image fails validation; -EPROTO
 * for an unsupported version; -EADDRINUSE if another live process is attached
 * as @host; -ENOENT if the file or its
 * lock bank does not exist or a version-12 image has no partition table;
 * -ENAMETOOLONG; -ENOMEM; or an error of smem_region_open() or smem_hwlock_open().
 */
int smem_open(const char *path, unsigned host, const struct smem_open_opts *o, struct smem **ret);

/**
 * smem_close() - detach; closes the region and lock bank that smem_open() opened
 * @s: the handle, or NULL (a no-op)
 *
 * Borrowed regions and banks stay open; items stay allocated.
 *
 * Context: no other call may use @s meanwhile or afterwards.
 */
void smem_close(struct smem *s);

/* What smem_stat() reports about an attached image. */
struct smem_stat {
	unsigned version;           /* 11 or 12 */
	unsigned item_count;        /* items are below this */
	unsigned host;              /* the local host */
	size_t size;                /* bytes mapped */
	void *base;                 /* the mapping */
	uint64_t phys_base;         /* smem_open_opts.phys_base */
	struct smem_hwlock *hwlock; /* the lock bank; NULL when the handle has none */
};

/**
 * smem_stat() - facts of an attached image
 * @s: the handle
 * @ret: the facts, which do not change while the handle is open
 *
 * Context: any; no lock, no system call.
 * Return: 0; -EINVAL for a NULL argument.
 */
int smem_stat(const struct smem *s, struct smem_stat *ret);

/* smem_item_alloc() flags. */
enum smem_item_alloc_flags {
	SMEM_ITEM_CACHED = 1u << 0, /* in the cached list, from the top of the partition down */
};

/**
 * smem_item_alloc() - allocate an item
 * @s: the handle
 * @host: the remote host whose private partition holds the item, or SMEM_HOST_ANY
 * @item: the item number, from SMEM_ITEM_LAST_FIXED to the item count
 * @size: bytes; stored 8-byte aligned
 * @flags: 0 or SMEM_ITEM_CACHED
 *
 * The item goes in the private partition of the local host and @host if there is
 * one, otherwise in the global partition (version 12) or the global heap
 * (version 11). Takes hwlock 3 for at most SMEM_HWLOCK_TIMEOUT_MS. The data is
 * not cleared (a fresh image is all zeroes).
 *
 * With SMEM_ITEM_CACHED the item goes in the partition's cached list, from the
 * top down, as some remote processors allocate; Linux itself never does, but a
 * test or an emulated remote may.
 *
 * With SMEM_OPEN_BUST_DEAD, a holder of lock 3 proven dead is busted, and what
 * it left half-done is repaired (smem_recover()) before the allocation.
 *
 * Context: process context; may sleep on the lock.
 * Return: 0; SMEM_RECOVERED (1) if the item was allocated after taking lock 3
 * from a dead holder and repairing the heap; -EINVAL for an item below 8 or not
 * below the item count, or unknown flag bits; -EEXIST if the item exists in that
 * partition or heap; -ENOSPC (partition) or -ENOMEM (global heap) if it does not
 * fit; -EOPNOTSUPP for SMEM_ITEM_CACHED in the version-11 global heap or in a
 * partition without a cached list (cacheline 0); -ETIMEDOUT if the lock stayed
 * held; -EBADMSG if the image fails validation; -EROFS for a read-only handle;
 * -ENOLCK without a lock bank.
 */
int smem_item_alloc(struct smem *s, unsigned host, unsigned item, size_t size, unsigned flags);

/**
 * smem_recover() - repair what a crash of an allocator can leave
 * @s: the handle
 *
 * Takes lock 3 (busting a dead holder with SMEM_OPEN_BUST_DEAD) and repairs the
 * version-11 global heap: a table entry published whose free_offset/available
 * update never happened is finished, and an allocation that never published is
 * undone, from the journal record the allocator keeps in the lock bank, or, if
 * there is none, by recomputing free_offset from the table. Partitions need no
 * repair: an entry is invisible until one aligned store publishes it.
 *
 * Context: process context; may sleep on the lock.
 * Return: the number of repairs made (0 if there was nothing to repair);
 * -ETIMEDOUT; -EBADMSG; -EROFS; -ENOLCK.
 */
int smem_recover(struct smem *s);

/**
 * smem_item_get() - find an item
 * @s: the handle
 * @host: as for smem_item_alloc()
 * @item: the item number
 * @ret_ptr: where the item's data is mapped: always a byte inside the region,
 *           never its end, even for an item of size 0
 * @ret_size: optional; the size: in a partition the exact size asked for at
 *            allocation, in the global heap the 8-byte aligned size
 *
 * Walks the partition without a lock or system call; the acquire load of the
 * partition's free offset pairs with the allocator's release store, so a found
 * item's header and data are complete. In a partition the uncached list is
 * searched first, as Linux does, so of an item in both lists the uncached copy
 * is found.
 *
 * The pointer is returned only if it lies inside the region. An item of size 0
 * may point one past its partition (where the next partition or the table
 * starts), which is still inside the region; but a global-heap item of size 0
 * at the very end of a region without a partition table has no byte to point
 * at, and gives -EBADMSG rather than a pointer one past the mapping.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @s or @ret_ptr, or an item not below the item
 * count; -ENOENT if it is not allocated; -EREMOTE for a version-11 global-heap
 * item whose aux_base names a memory region other than this one (whose physical
 * base is smem_open_opts.phys_base), such as the RPM message RAM: it is
 * allocated, but the handle does not map its bytes; -EBADMSG if the image fails
 * validation on the way, or the item's data would start at the region's end.
 */
int smem_item_get(struct smem *s, unsigned host, unsigned item, void **ret_ptr, size_t *ret_size);

/**
 * smem_free_space() - bytes left for items
 * @s: the handle
 * @host: as for smem_item_alloc()
 * @ret_size: the space between the uncached and cached lists of the partition,
 *            or the global heap's available count
 *
 * Context: any; lock-free.
 * Return: 0; -EBADMSG if the values fail validation.
 */
int smem_free_space(struct smem *s, unsigned host, size_t *ret_size);

/**
 * smem_virt_to_phys() - the physical address of a pointer into the region
 * @s: the handle
 * @p: a pointer, as smem_item_get() returns
 * @ret_addr: the region's physical base (smem_open_opts.phys_base) plus the
 *            offset of @p in the region
 *
 * Context: any.
 * Return: 0; -ERANGE if @p is outside the region or @ret_addr is NULL.
 */
int smem_virt_to_phys(const struct smem *s, const void *p, uint64_t *ret_addr);

/* Where an item lives, as smem_item_foreach() reports it. */
struct smem_item_info {
	bool global_heap;  /* version-11 table of contents */
	unsigned host0;    /* partition hosts; 0xfffe twice for the global partition */
	unsigned host1;
	unsigned item;
	size_t size;       /* as smem_item_get() reports it */
	size_t padding;    /* padding_data (partition) */
	uint64_t offset;   /* of the data, from the start of the region */
	bool cached;       /* in the cached list of its partition */
	uint32_t aux_base; /* global heap: the entry's region base; 0 = this region */
};

/**
 * smem_item_foreach() - every item of the global heap and of every partition
 * @s: the handle
 * @fn: called for each item, in table order, then partition by partition; a
 *      non-zero return stops the walk and is returned
 * @userdata: passed to @fn
 *
 * Every partition of the table is walked, not only this host's, so the table
 * and each partition header are read and checked again: a peer may have
 * changed them since attach.
 *
 * Context: any; lock-free.
 * Return: 0 after the whole walk; the non-zero value @fn returned to stop it,
 * passed on as is; -EINVAL for a NULL @s or @fn; -EBADMSG if a global-heap entry
 * of this region lies outside the heap, or the partition table, a partition
 * header or a list fails validation; -EPROTO if the partition table's version
 * is no longer 1; -ENOENT if a version-12 image's partition table is gone.
 * After an error the items before the fault have been reported.
 */
int smem_item_foreach(struct smem *s, int (*fn)(const struct smem_item_info *it, void *userdata),
		      void *userdata);

/*
 * How a warning of smem_check() begins. A finding that begins otherwise is an
 * error: the image breaks a rule, and attach, lookups or allocation refuse it.
 * A warning reports something legal that a reader may want to know, such as an
 * item in both lists of a partition.
 */
#define SMEM_CHECK_WARNING "warning: "

/**
 * smem_check() - check every invariant of an image (the fsck)
 * @base: the image
 * @size: its size
 * @finding: called with one sentence for each finding: an error, or a warning,
 *           whose sentence begins with SMEM_CHECK_WARNING
 * @userdata: passed to @finding
 *
 * Checks what smem_open() checks and more: every partition of the table, not only
 * those of one host, every entry of every list, overlaps between partitions,
 * items, and the global heap, and repeated items. Never reads outside @size.
 *
 * Warnings: an item in both the uncached and the cached list of one partition
 * (legal: lookups find the uncached one, as Linux's do); a version-11 global-heap
 * item whose aux_base names another memory region, which the image does not
 * hold, so the item cannot be checked (nor read, unless that is the image's own
 * physical base, which a bare image does not record).
 *
 * Context: any. The image should not change while it is checked.
 * Return: the number of findings, errors and warnings, one for each call of
 * @finding (0 for an image with nothing to report; an image is clean when every
 * finding is a warning); -EINVAL for a NULL @base.
 */
int smem_check(const void *base, size_t size, void (*finding)(const char *msg, void *userdata),
	       void *userdata);

#ifdef __cplusplus
}
#endif

#endif
