// SPDX-License-Identifier: MIT
/*
 * smemtzd: the secure-call service as a process of its own, not a thread of
 * smemd. TrustZone is another trust domain than the resource manager, with a
 * life of its own: a crash of either must not take the other, each restarts
 * on its own, and the resource manager reaches it as any client does (as
 * Gunyah's RM reaches qcom_scm_assign_mem() through its platform ops), so the
 * one client library is tested by every caller. See docs/DESIGN.md.
 *
 * One thread, one epoll loop: the listening socket, each client's connection
 * (its registration, then only its end), each client's doorbell, the hold
 * timer and the signals. Readiness (sd_notify) once the socket accepts.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "core/futex.h"
#include "core/unixsock.h"
#include "core/util.h"
#include "tzd.h"

#define EV_SIGNAL 0xffff0002u
#define EV_REJECT 0x30000u /* | index */
/* How long the loop stays awake with nothing to do. */
#define SPIN_NS   50000

static void usage(FILE *f)
{
	fputs("usage: smemtzd [--socket PATH] [--wq-cnt N] [--resume-timeout-ms MS] [--verbose]\n"
	      "  --socket PATH  listen there (default $XDG_RUNTIME_DIR/smemkit/tz.sock,\n"
	      "                 /run/smemkit/tz.sock as root)\n"
	      "  --wq-cnt N     wait-queue contexts, 1 to 16 (default 2)\n"
	      "  --resume-timeout-ms MS\n"
	      "                 how long a resource waits for a woken call's RESUME\n"
	      "                 before the next is woken (default 1000)\n"
	      "  --verbose      log clients and their ends to stderr\n",
	      f);
}

/*
 * Connections there is no room for, waiting for their registration to be
 * answered -EUSERS: read first, so that closing leaves nothing unread (which
 * would make the client's read of the answer fail with ECONNRESET).
 */
#define REJECTS 16
static int rejects[REJECTS] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
static uint64_t reject_serial[REJECTS], next_reject_serial;

static void reject_close(struct tzd *t, unsigned i)
{
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, rejects[i], NULL);
	close(rejects[i]);
	rejects[i] = -1;
}

static void reject(struct tzd *t, unsigned i)
{
	uint8_t in[64], out[SMEM_SCM_REPLY_LEN] = { 0 };

	if (recv(rejects[i], in, sizeof(in), MSG_DONTWAIT) < 0 && errno == EAGAIN)
		return;
	put_le32(out, (uint32_t)-EUSERS);
	if (send(rejects[i], out, sizeof(out), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		tzd_log(t, "could not tell a client there is no room");
	reject_close(t, i);
}

static void accept_all(struct tzd *t, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		unsigned i;

		if (fd < 0)
			return;
		if (tzd_client_add(t, fd) == 0)
			continue;
		tzd_log(t, "no room for another client");
		for (i = 0; i < REJECTS && rejects[i] >= 0; i++)
			;
		/*
		 * Full of connections that say nothing: the oldest goes, so that
		 * silent ones cannot keep newcomers from being told.
		 */
		if (i == REJECTS) {
			i = 0;
			for (unsigned k = 1; k < REJECTS; k++)
				if (reject_serial[k] < reject_serial[i])
					i = k;
			reject_close(t, i);
		}
		ev.data.u32 = EV_REJECT | i;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		rejects[i] = fd;
		reject_serial[i] = ++next_reject_serial;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "wq-cnt", required_argument, NULL, 'w' },
		{ "resume-timeout-ms", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct tzd t;
	char path[108] = "";
	unsigned wq_cnt = 2;
	struct epoll_event ev;
	sigset_t mask;
	int o, r, lfd, sfd;
	bool quit = false;

	while ((o = getopt_long(argc, argv, "s:w:r:vh", longopts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (strlen(optarg) >= sizeof(path)) {
				fprintf(stderr, "smemtzd: socket path too long: %s\n", optarg);
				return 2;
			}
			strcpy(path, optarg);
			break;
		case 'w': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg == '\0' || *end || v == 0 || v > SMEM_SCM_MAX_WQ) {
				fprintf(stderr, "smemtzd: --wq-cnt takes 1 to %u, not '%s'\n",
					SMEM_SCM_MAX_WQ, optarg);
				return 2;
			}
			wq_cnt = (unsigned)v;
			break;
		}
		case 'r': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg == '\0' || *end || v == 0 || v > 3600000) {
				fprintf(stderr, "smemtzd: --resume-timeout-ms takes 1 to 3600000, "
						"not '%s'\n", optarg);
				return 2;
			}
			t.resume_timeout_ns = (int64_t)v * 1000000;
			break;
		}
		case 'v':
			t.verbose = true;
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
		fprintf(stderr, "smemtzd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!path[0] && smem__socket_path(NULL, NULL, "tz.sock", path, sizeof(path)) < 0) {
		fprintf(stderr, "smemtzd: no room for the socket path\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	r = tzd_init(&t, wq_cnt);
	if (r < 0) {
		fprintf(stderr, "smemtzd: %s\n", strerror(-r));
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	lfd = smem__listen_renamed(path);
	if (lfd < 0) {
		fprintf(stderr, "smemtzd: cannot listen on %s: %s\n", path,
			lfd == -EADDRINUSE ? "another smemtzd is listening there" : strerror(-lfd));
		return 1;
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = TZD_EV_LISTEN };
	epoll_ctl(t.epfd, EPOLL_CTL_ADD, lfd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = EV_SIGNAL };
	epoll_ctl(t.epfd, EPOLL_CTL_ADD, sfd, &ev);
	sd_notifyf(0, "READY=1\nSTATUS=serving, pid %d, %u wait-queue contexts", (int)getpid(),
		   wq_cnt);
	tzd_log(&t, "listening on %s, %u wait-queue contexts", path, wq_cnt);
	while (!quit) {
		struct epoll_event evs[64];
		int n = epoll_wait(t.epfd, evs, 64, 0);

		/*
		 * Briefly awake before sleeping, looking at the slots itself (no
		 * doorbell needed meanwhile): the answer to a wake-up (the
		 * client's GET_WQ_CTX, then its RESUME) comes within
		 * microseconds, and a halted CPU would take tens of them to wake
		 * for each.
		 */
		for (int64_t now = smem__now_ns(), until = now + SPIN_NS; n == 0 && now < until;) {
			if (tzd_poll(&t))
				until = now + SPIN_NS;
			smem__cpu_relax();
			n = epoll_wait(t.epfd, evs, 64, 0);
			now = smem__now_ns();
		}
		if (n == 0) {
			/* P2: the pages say "ring", then one last look (scm/proto.h). */
			tzd_set_polling(&t, false);
			if (tzd_poll(&t) == 0)
				n = epoll_wait(t.epfd, evs, 64, -1);
			tzd_set_polling(&t, true);
		}
		if (n < 0 && errno != EINTR) {
			perror("smemtzd: epoll_wait");
			break;
		}
		bool accepting = false;

		for (int i = 0; i < n; i++) {
			uint32_t k = evs[i].data.u32;

			/*
			 * New clients after the batch: a client dropped in it leaves
			 * its number free, and a later event of the batch for that
			 * number must find nobody, not a newcomer.
			 */
			if (k == TZD_EV_LISTEN)
				accepting = true;
			else if (k == TZD_EV_TIMER)
				tzd_timer(&t);
			else if (k == EV_SIGNAL)
				quit = true;
			else if ((k & 0xffff0000u) == TZD_EV_DOORBELL)
				tzd_doorbell(&t, k & 0xffffu);
			else if ((k & 0xffff0000u) == TZD_EV_CONN)
				tzd_client_event(&t, k & 0xffffu, evs[i].events);
			else if ((k & 0xffff0000u) == EV_REJECT && (k & 0xffffu) < REJECTS &&
				 rejects[k & 0xffffu] >= 0)
				reject(&t, k & 0xffffu);
		}
		if (accepting)
			accept_all(&t, lfd);
	}
	sd_notify(0, "STOPPING=1");
	unlink(path);
	tzd_fini(&t);
	return 0;
}
