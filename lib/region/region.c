// SPDX-License-Identifier: MIT
/*
 * Region backends: a shared file, a memfd, or a private read-only snapshot.
 *
 * Shared mappings are MAP_SHARED so that every process that maps the same file or
 * memfd sees the same bytes. A memfd is sealed against resizing so that no peer
 * can shrink it under a mapping (which would turn reads into SIGBUS). A plain file
 * cannot be sealed; smemkit's own tools never resize a region after creating it.
 * Snapshots are read into anonymous memory that is then made read-only, so a dump
 * cannot change or fault while it is being parsed.
 */
#include "smemkit/region.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

struct smem_region {
	void *base;
	size_t size;
	int fd;
	bool writable;
	bool wrapped; /* the caller's memory: never unmapped here */
};

int smem_region_path(const char *name, char *buf, size_t len)
{
	const char *dir;
	int n;

	if (!name || !*name || !buf)
		return -EINVAL;
	/* Measure first, so that a name that does not fit leaves @buf untouched. */
	dir = strchr(name, '/') ? "" : SMEM_REGION_DIR "/";
	n = snprintf(NULL, 0, "%s%s", dir, name);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	snprintf(buf, len, "%s%s", dir, name);
	return 0;
}

static int region_new(void *base, size_t size, int fd, bool writable, struct smem_region **ret)
{
	struct smem_region *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	*r = (struct smem_region){ .base = base, .size = size, .fd = fd, .writable = writable };
	*ret = r;
	return 0;
}

static int map_shared(int fd, size_t size, struct smem_region **ret)
{
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int r;

	if (base == MAP_FAILED)
		return -errno;
	r = region_new(base, size, fd, true, ret);
	if (r < 0)
		munmap(base, size);
	return r;
}

/* Read a whole file into private memory, then make it read-only. */
static int snapshot(int fd, size_t size, struct smem_region **ret)
{
	uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t done = 0;
	int r;

	if (base == MAP_FAILED)
		return -errno;
	while (done < size) {
		ssize_t n = pread(fd, base + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO; /* the file shrank while being read */
			goto fail;
		}
		done += (size_t)n;
	}
	if (mprotect(base, size, PROT_READ) < 0) {
		r = -errno;
		goto fail;
	}
	r = region_new(base, size, -1, false, ret);
	if (r == 0)
		return 0;
fail:
	munmap(base, size);
	return r;
}

static int file_size(int fd, size_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size <= 0 || (uint64_t)st.st_size > SMEM_REGION_MAX_SIZE)
		return -EINVAL;
	*ret = (size_t)st.st_size;
	return 0;
}

/*
 * The flock that says "a live process maps this file": shared for every mapping,
 * exclusive for one that must be alone. flock, not fcntl, locks: they belong to
 * the open file, so a fork shares them, and a close of another descriptor of the
 * same file in this process does not drop them.
 */
static int lock_file(int fd, unsigned flags)
{
	while (flock(fd, ((flags & SMEM_REGION_LOCK_EX) ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	}
	return 0;
}

int smem_region_open(const char *path, size_t size, unsigned flags, struct smem_region **ret)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t have = 0;
	int r;

	if (!ret || (flags & ~(SMEM_REGION_CREATE | SMEM_REGION_EXCL | SMEM_REGION_RDONLY |
			       SMEM_REGION_LOCK_EX)))
		return -EINVAL;
	if ((flags & SMEM_REGION_LOCK_EX) && (flags & SMEM_REGION_RDONLY))
		return -EINVAL;
	if ((flags & SMEM_REGION_EXCL) && !(flags & SMEM_REGION_CREATE))
		return -EINVAL;
	if ((flags & SMEM_REGION_CREATE) && (flags & SMEM_REGION_RDONLY))
		return -EINVAL;
	if (size > SMEM_REGION_MAX_SIZE || ((flags & SMEM_REGION_CREATE) && size == 0))
		return -EINVAL;
	r = smem_region_path(path, p, sizeof(p));
	if (r < 0)
		return r;

	if (flags & SMEM_REGION_CREATE) {
		int oflags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;

		if (flags & SMEM_REGION_EXCL)
			oflags |= O_EXCL;
		if (!strchr(path, '/')) {
			/* Shared by every user, like /tmp; the umask must not narrow it. */
			if (mkdir(SMEM_REGION_DIR, 01777) == 0)
				chmod(SMEM_REGION_DIR, 01777);
			else if (errno != EEXIST)
				return -errno;
		}
		fd = open(p, oflags, 0660);
		if (fd < 0)
			return -errno;
		r = lock_file(fd, flags);
		if (r < 0)
			return r;
		if (ftruncate(fd, (off_t)size) < 0)
			return -errno;
		r = map_shared(fd, size, ret);
		if (r == 0)
			fd = -1; /* the region owns it now */
		return r;
	}

	/* In the shared directory a name must not be someone's symlink. */
	fd = open(p, ((flags & SMEM_REGION_RDONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC |
			     (strchr(path, '/') ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	/* The lock first, then the size: a format holds LOCK_EX while it resizes. */
	if (!(flags & SMEM_REGION_RDONLY)) {
		r = lock_file(fd, flags);
		if (r < 0)
			return r;
	}
	r = file_size(fd, &have);
	if (r < 0)
		return r;
	if (size && size != have)
		return -EMSGSIZE;
	if (flags & SMEM_REGION_RDONLY)
		return snapshot(fd, have, ret);
	r = map_shared(fd, have, ret);
	if (r == 0)
		fd = -1;
	return r;
}

int smem_region_memfd(const char *name, size_t size, struct smem_region **ret)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!ret || size == 0 || size > SMEM_REGION_MAX_SIZE)
		return -EINVAL;
	fd = memfd_create(name ? name : "smemkit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	r = map_shared(fd, size, ret);
	if (r == 0)
		fd = -1;
	return r;
}

int smem_region_from_fd(int fd, unsigned flags, struct smem_region **ret)
{
	_cleanup_close_ int own = -1;
	size_t size;
	int r, seals;

	if (!ret || (flags & ~SMEM_REGION_RDONLY))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	r = file_size(fd, &size);
	if (r < 0)
		return r;
	if (flags & SMEM_REGION_RDONLY)
		return snapshot(fd, size, ret);
	/*
	 * A mapping of a file that a peer can shrink dies of SIGBUS: only a memfd
	 * sealed against shrinking and growing is mapped shared.
	 */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPERM;
	own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return -errno;
	r = map_shared(own, size, ret);
	if (r == 0)
		own = -1;
	return r;
}

int smem_region_wrap(void *base, size_t size, bool writable, struct smem_region **ret)
{
	int r;

	if (!base || !ret || size == 0 || size > SMEM_REGION_MAX_SIZE)
		return -EINVAL;
	r = region_new(base, size, -1, writable, ret);
	if (r == 0)
		(*ret)->wrapped = true;
	return r;
}

void smem_region_close(struct smem_region *r)
{
	if (!r)
		return;
	if (!r->wrapped)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

void *smem_region_base(const struct smem_region *r)
{
	return r->base;
}

size_t smem_region_size(const struct smem_region *r)
{
	return r->size;
}

int smem_region_fd(const struct smem_region *r)
{
	return r->fd;
}

bool smem_region_writable(const struct smem_region *r)
{
	return r->writable;
}
