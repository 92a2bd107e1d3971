/* SPDX-License-Identifier: MIT */
/*
 * smemkit regions: one interface over the pieces of memory that hosts share.
 *
 * A region is a file (by default under /dev/shm/smemkit/), a memfd that can be
 * passed to another process as a file descriptor, or a read-only snapshot of an
 * image file such as a dump taken from a device. Every descriptor is O_CLOEXEC.
 *
 * Functions return 0 on success and a negative errno on failure, and write
 * out-parameters only on success, as smem(3) says under RETURN VALUE.
 */
#ifndef SMEMKIT_REGION_H
#define SMEMKIT_REGION_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Directory that holds regions named without a '/'. */
#define SMEM_REGION_DIR "/dev/shm/smemkit"

/* The largest region: SMEM offsets are 32-bit. */
#define SMEM_REGION_MAX_SIZE ((size_t)1 << 32)

enum smem_region_flags {
	SMEM_REGION_CREATE = 1u << 0, /* create the file, or resize an existing one */
	SMEM_REGION_EXCL   = 1u << 1, /* with CREATE: fail with -EEXIST if it exists */
	SMEM_REGION_RDONLY = 1u << 2, /* private read-only snapshot of an image file */
	SMEM_REGION_LOCK_EX = 1u << 3, /* the file for this process alone: -EBUSY while mapped elsewhere */
};

struct smem_region;

/**
 * smem_region_open() - map a region kept in a file
 * @path: a path, or a bare name that is looked up in SMEM_REGION_DIR
 * @size: with SMEM_REGION_CREATE, the size to give the file; otherwise 0 or the
 *        size the caller expects the file to have
 * @flags: enum smem_region_flags
 * @ret: the region
 *
 * Without SMEM_REGION_RDONLY the file is mapped shared, read-write: what this
 * process writes, every other process that maps the file sees. With
 * SMEM_REGION_RDONLY the file is read once into private read-only memory, so a
 * file that changes or shrinks later cannot fault the reader.
 *
 * A shared mapping holds a shared flock(2) on the file for as long as the
 * region is open; the kernel drops it when the process dies. With
 * SMEM_REGION_LOCK_EX the lock is exclusive instead, taken before the file is
 * sized, so the call fails with -EBUSY while any live process has the file
 * open as a region, and while it is held nobody else can open it: this is how
 * an image is formatted or edited offline without pulling it from under a
 * live host. A snapshot takes no lock.
 *
 * Context: process context; may create SMEM_REGION_DIR.
 * Return: 0; -EINVAL for bad flags, an empty path, a size of 0 or over
 * SMEM_REGION_MAX_SIZE, or a file that is not a regular file or is empty;
 * -ENAMETOOLONG for an over-long path; -EEXIST with SMEM_REGION_EXCL; -ENOENT;
 * -EBUSY when the file is locked the other way (see above);
 * -EMSGSIZE if the file's size is not @size; -ENOMEM; or the -errno of open,
 * read or mmap.
 */
int smem_region_open(const char *path, size_t size, unsigned flags, struct smem_region **ret);

/**
 * smem_region_memfd() - create an anonymous region backed by a memfd
 * @name: a name for /proc/PID/fd, not a path
 * @size: its size; the memfd is sealed against shrinking and growing
 * @ret: the region
 *
 * Context: process context.
 * Return: 0; -EINVAL for a size of 0 or over SMEM_REGION_MAX_SIZE; or -errno.
 */
int smem_region_memfd(const char *name, size_t size, struct smem_region **ret);

/**
 * smem_region_from_fd() - map a region from a descriptor received from elsewhere
 * @fd: a file or memfd descriptor; the region keeps its own duplicate
 * @flags: 0 or SMEM_REGION_RDONLY
 * @ret: the region
 *
 * Mapped shared (without SMEM_REGION_RDONLY) only if @fd is a memfd sealed
 * against shrinking and growing (F_SEAL_SHRINK, F_SEAL_GROW), as
 * smem_region_memfd() makes them: a peer that could truncate the file could
 * kill this process with SIGBUS. A region file opened by path has no such
 * protection: any host with write access to it can truncate it.
 *
 * Context: process context.
 * Return: 0; -EPERM for a writable mapping of an fd without both seals;
 * -EINVAL for bad flags or an empty file; -EBADF; or -errno.
 */
int smem_region_from_fd(int fd, unsigned flags, struct smem_region **ret);

/**
 * smem_region_wrap() - use memory the caller already has as a region
 * @base: the memory, which must stay mapped until the region is closed
 * @size: its size, from 1 to SMEM_REGION_MAX_SIZE
 * @writable: whether smemkit may write to it
 * @ret: the region; closing it does not unmap @base
 *
 * For an image already in memory: a dump read by the caller, a device's SMEM
 * mapped from /dev/mem, a test's buffer.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @base or a bad @size; -ENOMEM.
 */
int smem_region_wrap(void *base, size_t size, bool writable, struct smem_region **ret);

/**
 * smem_region_close() - unmap a region and close its descriptor; NULL is a no-op
 * @r: the region
 *
 * Context: nothing may use @r or its mapping meanwhile or afterwards.
 */
void smem_region_close(struct smem_region *r);

/*
 * Accessors, which cannot fail (Context: any): the mapping, its size, whether it
 * is writable, and the region's own descriptor, which the caller must not close,
 * or -1 (not an error) for a region without one: a snapshot or wrapped memory.
 */
void *smem_region_base(const struct smem_region *r);
size_t smem_region_size(const struct smem_region *r);
int smem_region_fd(const struct smem_region *r);
bool smem_region_writable(const struct smem_region *r);

/**
 * smem_region_path() - the file behind a name
 * @name: a path, or a bare name for SMEM_REGION_DIR
 * @buf: output buffer
 * @len: its size
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL or empty name or a NULL @buf; -ENAMETOOLONG if
 * @buf is too small (it is left untouched).
 */
int smem_region_path(const char *name, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
