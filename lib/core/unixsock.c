// SPDX-License-Identifier: MIT
/* The services' sockets: see unixsock.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/unixsock.h"

int smem__socket_path(const char *path, const char *env, const char *name, char *buf, size_t len)
{
	const char *from_env = env ? getenv(env) : NULL, *xdg = getenv("XDG_RUNTIME_DIR");
	size_t n;

	if (!path && from_env && *from_env)
		path = from_env;
	if (path) {
		n = strlen(path);
		if (n == 0 || n >= len)
			return -EINVAL;
		memcpy(buf, path, n + 1);
		return 0;
	}
	if (geteuid() == 0 || !xdg || !*xdg)
		xdg = "/run";
	n = (size_t)snprintf(buf, len, "%s/smemkit/%s", xdg, name);
	return n >= len ? -ENAMETOOLONG : 0;
}

int smem__listen_renamed(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd, probe;

	if (strlen(path) + strlen(".new") >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.new", path);
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0660) < 0 ||
	    listen(fd, 64) < 0 || rename(sa.sun_path, path) < 0) {
		int e = -errno;

		unlink(sa.sun_path);
		close(fd);
		return e;
	}
	return fd;
}
