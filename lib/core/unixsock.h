/* SPDX-License-Identifier: MIT */
/*
 * The services' sockets (smemd's rm.sock, smemtzd's tz.sock): where they are,
 * and how a service starts listening on one. Never installed.
 */
#ifndef SMEMKIT_CORE_UNIXSOCK_H
#define SMEMKIT_CORE_UNIXSOCK_H

#include <stddef.h>

/*
 * The socket a client dials: @path, else $@env, else
 * $XDG_RUNTIME_DIR/smemkit/@name (/run/smemkit/@name as root or without
 * XDG_RUNTIME_DIR). Return: 0; -EINVAL for an empty or too long @path;
 * -ENAMETOOLONG.
 */
int smem__socket_path(const char *path, const char *env, const char *name, char *buf, size_t len);

/*
 * Listen on a SEQPACKET socket at @path, mode 0660, its directory made if
 * missing: bound and listening as @path.new first, then renamed into place,
 * so that whoever sees it appear (a client watching the directory to
 * reconnect) can connect at once. Return: the listening fd (non-blocking,
 * close-on-exec); -EADDRINUSE when a live socket is there already;
 * -ENAMETOOLONG; another -errno.
 */
int smem__listen_renamed(const char *path);

#endif
