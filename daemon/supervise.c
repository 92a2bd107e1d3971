// SPDX-License-Identifier: MIT
/*
 * smemd --supervise: what systemd does for smemd.service (Restart=, the fd
 * store), for a smemd run by hand. The supervisor runs smemd as a child (the
 * worker), listens for its sd_notify messages on a socket of its own, keeps
 * the fds the worker stores (FDSTORE=1, FDNAME=, FDSTOREREMOVE=1), and when
 * the worker dies of anything but a clean stop, starts another with those fds
 * (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID), which takes up the same memory.
 *
 * Only the worker is listened to: every message must carry its credentials
 * (SCM_CREDENTIALS of the current worker's pid), and the socket is in a
 * directory of mode 0700. The worker's readiness is passed on to the
 * supervisor's own NOTIFY_SOCKET, if it has one: READY=1 once, and each
 * worker's STATUS= line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "smemd.h"

#define STORE_MAX 4096u

struct stored {
	char name[32];
	int fd;
};

struct sup {
	struct stored store[STORE_MAX];
	unsigned n;
	int sock;
	char dir[128], path[160];
	pid_t worker;
	pid_t self;             /* the supervisor */
	bool worker_ready;      /* the current worker said READY=1 */
	bool told_ready;
	bool verbose;
};

static void say(const struct sup *s, const char *fmt, const char *a, long b)
{
	if (!s->verbose)
		return;
	fputs("smemd supervisor: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

static void drop(struct sup *s, const char *name)
{
	for (unsigned i = 0; i < s->n;) {
		if (!strcmp(s->store[i].name, name)) {
			close(s->store[i].fd);
			s->store[i] = s->store[--s->n];
		} else {
			i++;
		}
	}
}

/* One sd_notify datagram: its lines, and the fds that came with it. */
static void message(struct sup *s, char *text, int *fds, unsigned nfds)
{
	bool fdstore = false, remove = false, ready = false;
	char name[32] = "stored", status[200] = "";
	unsigned used = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strcmp(line, "FDSTORE=1"))
			fdstore = true;
		else if (!strcmp(line, "FDSTOREREMOVE=1"))
			remove = true;
		else if (!strcmp(line, "READY=1"))
			ready = true;
		else if (!strncmp(line, "FDNAME=", 7))
			snprintf(name, sizeof(name), "%s", line + 7);
		else if (!strncmp(line, "STATUS=", 7))
			snprintf(status, sizeof(status), "%s", line);
	}
	if (remove)
		drop(s, name);
	if (fdstore) {
		/* One name, one fd: a name stored again replaces what it named. */
		drop(s, name);
		for (; used < nfds && s->n < STORE_MAX; used++) {
			snprintf(s->store[s->n].name, sizeof(s->store[0].name), "%s", name);
			s->store[s->n++].fd = fds[used];
		}
	}
	for (; used < nfds; used++)
		close(fds[used]);
	if (ready || status[0]) {
		char out[256];

		snprintf(out, sizeof(out), "%s%s", ready && !s->told_ready ? "READY=1\n" : "", status);
		sd_notify(0, out);
		if (ready)
			s->told_ready = s->worker_ready = true;
	}
}

static void receive(struct sup *s)
{
	for (;;) {
		char buf[4096];
		union {
			char b[CMSG_SPACE(sizeof(int) * 253) + CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		int fds[253];
		unsigned nfds = 0;
		pid_t from = 0;
		ssize_t n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_RIGHTS) {
				unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

				for (unsigned i = 0; i < k && nfds < 253; i++)
					memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			} else if (c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred uc;

				memcpy(&uc, CMSG_DATA(c), sizeof(uc));
				from = uc.pid;
			}
		}
		buf[n] = '\0';
		if (from != s->worker || s->worker <= 0 || (mh.msg_flags & MSG_CTRUNC)) {
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		message(s, buf, fds, nfds);
	}
}

/* The worker: this program again, without --supervise, with the kept fds from 3 on. */
static pid_t spawn(struct sup *s, char **argv)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	{
		static char names[STORE_MAX * 33 + 1];
		char num[32];
		size_t at = 0;
		int high = 3 + (int)s->n + 16;
		sigset_t none;

		/* Out of the way first, then in place: 3, 4, ... in the store's order. */
		for (unsigned i = 0; i < s->n; i++) {
			s->store[i].fd = fcntl(s->store[i].fd, F_DUPFD_CLOEXEC, high);
			if (s->store[i].fd < 0)
				_exit(126);
		}
		for (unsigned i = 0; i < s->n; i++) {
			if (dup2(s->store[i].fd, 3 + (int)i) < 0)
				_exit(126);
			at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s", i ? ":" : "",
					       s->store[i].name);
		}
		snprintf(num, sizeof(num), "%u", s->n);
		setenv("LISTEN_FDS", num, 1);
		setenv("LISTEN_FDNAMES", names, 1);
		snprintf(num, sizeof(num), "%d", (int)getpid());
		setenv("LISTEN_PID", num, 1);
		setenv("NOTIFY_SOCKET", s->path, 1);
		if (s->n == 0) {
			unsetenv("LISTEN_FDS");
			unsetenv("LISTEN_FDNAMES");
			unsetenv("LISTEN_PID");
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* One service: smemd goes when its supervisor does, as a unit's processes do. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != s->self)
			_exit(0);
		/* The same binary even if its path was replaced; smemd names itself again. */
		execv("/proc/self/exe", argv);
		_exit(127);
	}
}

int smemd_supervise(int argc, char **argv, bool verbose)
{
	static struct sup s;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *run = getenv("XDG_RUNTIME_DIR");
	char **wargv = calloc((size_t)argc + 1, sizeof(char *));
	int one = 1, wargc = 0, sigfd, st;
	unsigned quick = 0;
	sigset_t mask;
	bool stopping = false;

	if (!wargv)
		return 1;
	s.verbose = verbose;
	s.self = getpid();
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--supervise"))
			wargv[wargc++] = argv[i];
	smemd_raise_fd_limit();
	snprintf(s.dir, sizeof(s.dir), "%s/smemd-supervise-XXXXXX",
		 geteuid() == 0 || !run || !*run ? "/tmp" : run);
	if (!mkdtemp(s.dir)) {
		perror("smemd: the supervisor's directory");
		return 1;
	}
	snprintf(s.path, sizeof(s.path), "%s/notify", s.dir);
	strcpy(sa.sun_path, s.path);
	s.sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s.sock < 0 || bind(s.sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(s.sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		perror("smemd: the supervisor's socket");
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { s.sock, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		struct signalfd_siginfo si;
		pid_t w;

		if (s.worker <= 0 && !stopping) {
			/* A worker that keeps dying before it is ready is restarted a second apart. */
			if (quick > 5) {
				say(&s, "smemd keeps dying before it is ready%s; waiting %ld s", "", 1L);
				sleep(1);
			}
			s.worker_ready = false;
			s.worker = spawn(&s, wargv);
			if (s.worker < 0) {
				perror("smemd: fork");
				break;
			}
			say(&s, "started smemd%s, pid %ld", s.n ? " with the kept memory" : "",
			    (long)s.worker);
		}
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			receive(&s);
		while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				stopping = true;
				if (s.worker > 0)
					kill(s.worker, SIGTERM);
			}
		}
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (w != s.worker)
				continue;
			receive(&s); /* what it said before it died still counts */
			s.worker = 0;
			quick = s.worker_ready ? 0 : quick + 1;
			if (stopping || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
				stopping = true;
				break;
			}
			if (WIFEXITED(st) && (WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 2) &&
			    !s.told_ready) {
				fputs("smemd supervisor: smemd failed to start; not restarting it\n", stderr);
				stopping = true;
				break;
			}
			say(&s, "smemd died (%s %ld); starting it again",
			    WIFSIGNALED(st) ? "signal" : "status",
			    (long)(WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)));
		}
		if (stopping && s.worker <= 0)
			break;
	}
	unlink(s.path);
	rmdir(s.dir);
	return 0;
}
