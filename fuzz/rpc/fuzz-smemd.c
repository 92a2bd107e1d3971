// SPDX-License-Identifier: MIT
/*
 * Fuzz target: smemd's dispatcher, reached as hostile clients reach it. The
 * input is a script of records for two clients, each connected to the daemon's
 * code over a SEQPACKET socketpair:
 *
 *   u8 op  (bit 0: which client; op 0xfe: the host of client 0 dies, as if its
 *          pidfd fired; op 0xff: client 1 disconnects and reconnects)
 *   u8 len, then len bytes: one packet, sent to smemd as it is
 *
 * Every packet goes through the same read, reassembly and dispatch as in smemd
 * (core.c's smemd_client_read()); replies are drained and the fds they carry
 * closed. The daemon's image, bank and queues are real memfds; the caps are
 * deterministic (epoch 1), so the corpus can name them. After each input every
 * host, queue and client is dropped, so inputs do not depend on each other.
 */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemon/smemd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smemd d;
static bool ready;
/*
 * The process the clients are: a child that only waits, so that a VM_STOP
 * with FORCE kills it, not the fuzzer. A new one comes when it died. It shares
 * the fuzzer's memory (CLONE_VM) and touches none of it but its stack: a fork
 * would make every page of the fuzzer copy-on-write again at each new one.
 */
static pid_t puppet;
static char puppet_stack[64 * 1024] __attribute__((aligned(64)));

static int puppet_main(void *parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The parent may have gone before the line above: then nobody waits for us. */
	if (getppid() != (pid_t)(intptr_t)parent)
		_exit(0);
	for (;;)
		pause();
}

static void puppet_up(void)
{
	if (puppet > 0 && waitpid(puppet, NULL, WNOHANG) == 0)
		return;
	puppet = clone(puppet_main, puppet_stack + sizeof(puppet_stack), CLONE_VM | SIGCHLD,
		       (void *)(intptr_t)getpid());
	if (puppet < 0)
		abort();
}

static void setup(void)
{
	char err[256];

	smemd_config_default(&d.cfg);
	smemd_init(&d);
	if (smemd_make_memory(&d, err, sizeof(err)) < 0)
		abort();
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	ready = true;
}

/* Take what smemd sent the client, closing every fd that came with it. */
static void drain(int fd)
{
	for (;;) {
		uint8_t buf[512];
		int fds[8];
		unsigned n;

		if (smem__rm_recv(fd, buf, sizeof(buf), MSG_DONTWAIT, fds, 8, &n) <= 0)
			return;
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
	}
}

static int connect_client(int *ret_peer)
{
	int sv[2], i;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	i = smemd_client_add(&d, sv[0], (int)syscall(SYS_pidfd_open, puppet, 0), puppet, getuid());
	if (i < 0)
		abort();
	*ret_peer = sv[1];
	return i;
}

static void reset(void)
{
	for (unsigned i = 0; i < SMEMD_MAX_CLIENTS; i++)
		if (d.clients[i])
			smemd_client_close(&d, i);
	/* Only the hosts with queues: a scan of the table per host is most of a run. */
	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++)
		if (d.queues[i].used)
			smemd__queues_of_host(&d, d.queues[i].from, true, NULL);
	for (unsigned h = 0; h < SMEM_RM_MAX_HOSTS; h++) {
		if (d.hosts[h].pidfd >= 0) {
			epoll_ctl(d.epfd, EPOLL_CTL_DEL, d.hosts[h].pidfd, NULL);
			close(d.hosts[h].pidfd);
		}
		d.hosts[h] = (struct smemd_host){ .id = h, .vmid = SMEM_RM_VMID_OF(h), .pidfd = -1 };
	}
	d.epoch = 1;
	d.next_cap = (uint64_t)1 << 32 | 1;
	puppet_up();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int peer[2], idx[2];

	if (!ready)
		setup();
	reset();
	idx[0] = connect_client(&peer[0]);
	idx[1] = connect_client(&peer[1]);
	while (size >= 2) {
		unsigned op = data[0], len = data[1];
		unsigned c = op & 1;
		struct smemd_client *cl;

		data += 2;
		size -= 2;
		if (op == 0xfe) {
			cl = d.clients[idx[0]];
			if (cl && cl->host >= 0 && d.hosts[cl->host].pidfd >= 0)
				smemd_host_died(&d, &d.hosts[cl->host]);
			drain(peer[1]);
			continue;
		}
		if (op == 0xff) {
			if (d.clients[idx[1]])
				smemd_client_close(&d, (unsigned)idx[1]);
			close(peer[1]);
			idx[1] = connect_client(&peer[1]);
			continue;
		}
		if (len > size)
			len = (unsigned)size;
		cl = d.clients[idx[c]];
		if (cl && send(peer[c], data, len, MSG_DONTWAIT) >= 0) {
			if (smemd_client_read(&d, cl) < 0 || cl->doomed) {
				smemd_client_close(&d, (unsigned)idx[c]);
				close(peer[c]);
				idx[c] = connect_client(&peer[c]);
			}
		}
		drain(peer[0]);
		drain(peer[1]);
		data += len;
		size -= len;
	}
	reset();
	close(peer[0]);
	close(peer[1]);
	return 0;
}
