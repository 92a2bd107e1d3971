// SPDX-License-Identifier: MIT
/* Region backends: files, memfds, snapshots, and every error path. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "helpers.h"

static char dir[] = "/tmp/smemkit-region-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

TestSuite(region, .init = setup);

Test(region, file_is_shared_between_mappings)
{
	struct smem_region *a, *b;
	char p[PATH_MAX];

	path_in(p, sizeof(p), "shared");
	cr_assert_eq(smem_region_open(p, 8192, SMEM_REGION_CREATE, &a), 0);
	cr_assert_eq(smem_region_size(a), 8192);
	cr_assert(smem_region_writable(a));
	cr_assert_geq(smem_region_fd(a), 0);
	cr_assert(fcntl(smem_region_fd(a), F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(smem_region_open(p, 0, 0, &b), 0);
	((char *)smem_region_base(a))[100] = 'x';
	cr_assert_eq(((char *)smem_region_base(b))[100], 'x');
	smem_region_close(a);
	smem_region_close(b);
}

Test(region, snapshot_is_private_and_readonly)
{
	struct smem_region *a, *s;
	char p[PATH_MAX];

	path_in(p, sizeof(p), "snap");
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_CREATE, &a), 0);
	memset(smem_region_base(a), 0x5a, 4096);
	cr_assert_eq(smem_region_open(p, 0, SMEM_REGION_RDONLY, &s), 0);
	cr_assert_not(smem_region_writable(s));
	cr_assert_eq(smem_region_fd(s), -1);
	memset(smem_region_base(a), 0, 4096);
	/* The snapshot keeps what the file held when it was taken. */
	cr_assert_eq(((uint8_t *)smem_region_base(s))[4095], 0x5a);
	smem_region_close(a);
	smem_region_close(s);
}

Test(region, snapshot_cannot_be_written)
{
	struct smem_region *a, *s;
	char p[PATH_MAX];
	int fd[2];

	path_in(p, sizeof(p), "snapw");
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_CREATE, &a), 0);
	cr_assert_eq(smem_region_open(p, 0, SMEM_REGION_RDONLY, &s), 0);
	/* The kernel refuses to read into memory the process may not write. */
	cr_assert_eq(pipe(fd), 0);
	cr_assert_eq(write(fd[1], "x", 1), 1);
	cr_assert_eq(read(fd[0], smem_region_base(s), 1), -1);
	cr_assert_eq(errno, EFAULT);
	smem_region_close(s);
	smem_region_close(a);
}

Test(region, excl_refuses_existing)
{
	struct smem_region *a, *b;
	char p[PATH_MAX];

	path_in(p, sizeof(p), "excl");
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_CREATE | SMEM_REGION_EXCL, &a), 0);
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_CREATE | SMEM_REGION_EXCL, &b), -EEXIST);
	smem_region_close(a);
}

Test(region, bad_arguments)
{
	struct smem_region *r;
	char p[PATH_MAX];

	path_in(p, sizeof(p), "bad");
	cr_assert_eq(smem_region_open(p, 0, SMEM_REGION_CREATE, &r), -EINVAL);
	cr_assert_eq(smem_region_open(p, 4096, 0x80, &r), -EINVAL);
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_EXCL, &r), -EINVAL);
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_CREATE | SMEM_REGION_RDONLY, &r), -EINVAL);
	cr_assert_eq(smem_region_open(p, SMEM_REGION_MAX_SIZE + 1, SMEM_REGION_CREATE, &r), -EINVAL);
	cr_assert_eq(smem_region_open("", 0, 0, &r), -EINVAL);
	cr_assert_eq(smem_region_open(NULL, 0, 0, &r), -EINVAL);
	cr_assert_eq(smem_region_open(p, 0, 0, &r), -ENOENT);
	cr_assert_eq(smem_region_memfd("x", 0, &r), -EINVAL);
	cr_assert_eq(smem_region_from_fd(-1, 0, &r), -EBADF);
	cr_assert_eq(smem_region_from_fd(0, 0x40, &r), -EINVAL);
}

Test(region, size_mismatch_and_empty_file)
{
	struct smem_region *a, *b;
	char p[PATH_MAX], q[PATH_MAX];
	int fd;

	path_in(p, sizeof(p), "size");
	cr_assert_eq(smem_region_open(p, 4096, SMEM_REGION_CREATE, &a), 0);
	cr_assert_eq(smem_region_open(p, 8192, 0, &b), -EMSGSIZE);
	smem_region_close(a);
	path_in(q, sizeof(q), "empty");
	fd = open(q, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(smem_region_open(q, 0, 0, &b), -EINVAL);
	cr_assert_eq(smem_region_open(q, 0, SMEM_REGION_RDONLY, &b), -EINVAL);
}

Test(region, directory_is_not_a_region)
{
	struct smem_region *r;

	cr_assert_lt(smem_region_open(dir, 0, SMEM_REGION_RDONLY, &r), 0);
}

Test(region, memfd_is_sealed_and_passable)
{
	struct smem_region *a, *b;

	cr_assert_eq(smem_region_memfd("t", 4096, &a), 0);
	cr_assert(fcntl(smem_region_fd(a), F_GETFD) & FD_CLOEXEC);
	/* Nobody can shrink it under a mapping. */
	cr_assert_lt(ftruncate(smem_region_fd(a), 0), 0);
	cr_assert_eq(smem_region_from_fd(smem_region_fd(a), 0, &b), 0);
	cr_assert_neq(smem_region_fd(b), smem_region_fd(a));
	((char *)smem_region_base(b))[7] = 'q';
	cr_assert_eq(((char *)smem_region_base(a))[7], 'q');
	smem_region_close(b);
	smem_region_close(a);
	smem_region_close(NULL);
}

/* Bug: a received fd was mapped without its seals, so its sender could truncate it (SIGBUS). */
Test(region, an_unsealed_fd_is_not_mapped_shared)
{
	struct smem_region *r;
	char p[PATH_MAX];
	int fd;

	fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	cr_assert_eq(smem_region_from_fd(fd, 0, &r), -EPERM);
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	cr_assert_eq(smem_region_from_fd(fd, 0, &r), -EPERM, "growing is not sealed yet");
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
	cr_assert_eq(smem_region_from_fd(fd, 0, &r), 0);
	smem_region_close(r);
	cr_assert_eq(smem_region_from_fd(fd, SMEM_REGION_RDONLY, &r), 0, "a snapshot needs no seal");
	smem_region_close(r);
	close(fd);
	path_in(p, sizeof(p), "plain");
	fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	cr_assert_eq(smem_region_from_fd(fd, 0, &r), -EPERM, "a plain file can be truncated");
	close(fd);
}

/* Bug: a bare name in the shared 01777 directory followed a symlink planted there. */
Test(region, a_bare_name_is_never_a_symlink)
{
	char target[PATH_MAX], link[PATH_MAX], name[64];
	struct smem_region *r;
	int fd;

	path_in(target, sizeof(target), "target");
	fd = open(target, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd);
	snprintf(name, sizeof(name), "smemkit-test-link-%d", getpid());
	cr_assert_eq(smem_region_path(name, link, sizeof(link)), 0);
	mkdir(SMEM_REGION_DIR, 01777);
	unlink(link);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(smem_region_open(name, 0, 0, &r), -ELOOP);
	cr_assert_eq(smem_region_open(name, 0, SMEM_REGION_RDONLY, &r), -ELOOP);
	unlink(link);
}

Test(region, bare_names_live_in_the_region_dir)
{
	char buf[64];

	cr_assert_eq(smem_region_path("abc", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, SMEM_REGION_DIR "/abc");
	cr_assert_eq(smem_region_path("./abc", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "./abc");
	cr_assert_eq(smem_region_path("abc", buf, 4), -ENAMETOOLONG);
	cr_assert_eq(smem_region_path("", buf, sizeof(buf)), -EINVAL);
}

Test(region, a_path_that_does_not_fit_leaves_the_buffer_alone)
{
	char buf[8] = "keep";

	cr_assert_eq(smem_region_path("abcdefgh", buf, sizeof(buf)), -ENAMETOOLONG);
	cr_assert_str_eq(buf, "keep", "out-parameters are written only on success");
	cr_assert_eq(smem_region_path("/tmp/a/long/path", buf, sizeof(buf)), -ENAMETOOLONG);
	cr_assert_str_eq(buf, "keep");
}

Test(region, wrap_uses_the_callers_memory)
{
	static uint8_t buf[4096];
	struct smem_region *r;

	cr_assert_eq(smem_region_wrap(buf, sizeof(buf), false, &r), 0);
	cr_assert_eq(smem_region_base(r), buf);
	cr_assert_eq(smem_region_size(r), sizeof(buf));
	cr_assert_not(smem_region_writable(r));
	cr_assert_eq(smem_region_fd(r), -1);
	smem_region_close(r);
	buf[0] = 1; /* still mapped */
	cr_assert_eq(smem_region_wrap(NULL, 10, false, &r), -EINVAL);
	cr_assert_eq(smem_region_wrap(buf, 0, false, &r), -EINVAL);
}
