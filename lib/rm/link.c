// SPDX-License-Identifier: MIT
/*
 * One packet of the RM link on a SEQPACKET socket, with the fds that ride on
 * it, for smemd and its clients alike. A packet longer than a fragment is
 * reported as SMEM_RPC_FRAG_MAX + 1 bytes, so that the reassembler drops it;
 * fds beyond what the caller takes are closed, never leaked.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rm/proto.h"
#include "rpc/rpc.h"

ssize_t smem__rm_recv(int fd, void *buf, size_t len, int flags, int *fds, unsigned max_fds,
		      unsigned *ret_nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	unsigned nfds = 0;
	ssize_t n;

	do
		n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t f = 0; f < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); f++) {
			int rfd;

			memcpy(&rfd, CMSG_DATA(cm) + f * sizeof(int), sizeof(rfd));
			if (nfds < max_fds)
				fds[nfds++] = rfd;
			else
				close(rfd);
		}
	}
	*ret_nfds = nfds;
	if (mh.msg_flags & MSG_TRUNC)
		return SMEM_RPC_FRAG_MAX + 1;
	return n;
}
