// SPDX-License-Identifier: MIT
/*
 * smemd, the resource manager: the role Gunyah's RM and remoteproc play on a
 * Qualcomm platform, for process hosts on one Linux host.
 *
 * It owns the memory: the SMEM image and the lock bank are sealed memfds that it
 * creates and formats at start-up, and every message queue it creates is one
 * more. A process becomes a host by connecting to its Unix SEQPACKET socket and
 * registering: its identity is the socket's SO_PEERCRED, never what it says,
 * and smemd holds a pidfd for it from then on. The RM RPC framing of
 * lib/rpc/ (8-byte header, 232-byte fragments) is spoken on the socket, and
 * fds ride on a reply's first fragment as SCM_RIGHTS.
 *
 * One thread, one epoll loop, nothing that blocks: a client's replies wait in
 * a bounded ring of its own and go out as the socket takes them; a client that
 * lets the ring fill, sends garbage the codec drops, or floods requests costs
 * only itself (it is served SMEMD_BURST requests per turn, and dropped when its
 * ring is full). When a host's pidfd fires, daemon/crash.c cleans up after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "smemd.h"

static void usage(FILE *f)
{
	fputs("usage: smemd [--socket PATH] [--config FILE] [--supervise] [--verbose]\n"
	      "The smemkit resource manager: creates an SMEM image, its lock bank and the\n"
	      "message queues, registers hosts and cleans up after the ones that die.\n"
	      "  --socket PATH  listen here (default $XDG_RUNTIME_DIR/smemkit/rm.sock,\n"
	      "                 /run/smemkit/rm.sock as root)\n"
	      "  --config FILE  sizes, hosts and the uids that may be them (smemd(8))\n"
	      "  --supervise    run smemd as a child, keep its memory and start it again\n"
	      "                 when it dies, as systemd does for smemd.service\n"
	      "  --verbose      say what happens, on stderr\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "supervise", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct smemd d;
	const char *config = NULL, *sock = NULL;
	bool supervise = false;
	struct epoll_event ev;
	char err[256];
	sigset_t mask;
	int o, r;

	/* Started by its supervisor as /proc/self/exe, it would be "exe" in ps and top. */
	prctl(PR_SET_NAME, "smemd");
	while ((o = getopt_long(argc, argv, "s:c:vh", longopts, NULL)) != -1) {
		switch (o) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'v':
			d.verbose = true;
			break;
		case 'S':
			supervise = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "smemd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (supervise)
		return smemd_supervise(argc, argv, d.verbose);
	smemd_config_default(&d.cfg);
	if (config && smemd_config_load(&d.cfg, config, err, sizeof(err)) < 0) {
		fprintf(stderr, "smemd: %s: %s\n", config, err);
		return 1;
	}
	if (sock) {
		if (strlen(sock) >= sizeof(d.cfg.socket)) {
			fprintf(stderr, "smemd: socket path too long: %s\n", sock);
			return 2;
		}
		strcpy(d.cfg.socket, sock);
	} else if (!d.cfg.socket[0] && smemd_default_socket(d.cfg.socket, sizeof(d.cfg.socket)) < 0) {
		fprintf(stderr, "smemd: no room for the socket path\n");
		return 1;
	}
	smemd_raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	smemd_init(&d);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	/* A previous smemd's memory, if the service manager kept it; else new memory. */
	if (smemd_state_restore(&d, err, sizeof(err)) < 0)
		fprintf(stderr, "smemd: starting anew: %s\n", err);
	if (!d.restored && (smemd_make_memory(&d, err, sizeof(err)) < 0 ||
			    smemd_state_create(&d) < 0)) {
		fprintf(stderr, "smemd: %s\n", err);
		return 1;
	}
	/* Registered hosts that nothing vouches for any more are dead; resets end. */
	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++) {
		if (d.lost_hosts & 1ull << i)
			smemd_host_died(&d, &d.hosts[i]);
		if (d.hosts[i].state == SMEM_RPC_VM_STATE_RESETTING)
			smemd__finish_reset(&d, &d.hosts[i]);
	}
	d.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	r = smemd_listen(&d, d.cfg.socket);
	if (r < 0) {
		fprintf(stderr, "smemd: cannot listen on %s: %s\n", d.cfg.socket,
			r == -EADDRINUSE ? "another smemd is listening there" : strerror(-r));
		return 1;
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = smemd_ev_key(SMEMD_EV_LISTEN, 0) };
	epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.listen_fd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = smemd_ev_key(SMEMD_EV_SIGNAL, 0) };
	epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.sig_fd, &ev);
	/* Ready only now: the socket accepts. */
	sd_notifyf(0, "READY=1\nSTATUS=serving, pid %d, epoch %u%s", (int)getpid(), d.epoch,
		   d.restored ? ", restarted" : "");
	smemd_log(&d, "listening on %s, a %zu-byte version-%u image%s (epoch %u)", d.cfg.socket,
		  d.cfg.size, d.cfg.version, d.restored ? " kept from before" : "", d.epoch);
	r = smemd_run(&d);
	sd_notify(0, "STOPPING=1");
	unlink(d.cfg.socket);
	return r < 0 ? 1 : 0;
}
