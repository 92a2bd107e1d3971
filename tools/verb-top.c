// SPDX-License-Identifier: MIT
/*
 * smemctl top: smemd's queues and locks, redrawn every interval until 'q',
 * Ctrl-C or the last of --iterations refreshes. Each refresh asks smemd for
 * its hosts (their names, how many run) and its STATS (every lock word and
 * every queue's counters); a queue's rate is the change of its sent counter
 * since the previous refresh, over the time between the two.
 *
 * The terminal is borrowed and always given back. On a tty, frames are drawn
 * on the alternate screen with the cursor hidden, and a tty on standard input
 * is put in non-canonical mode without echo, so that 'q' needs no Enter. Every
 * way out undoes both before it prints anything: 'q', the iteration count,
 * SIGINT, SIGTERM, SIGHUP, smemd going away, an error. The signals are blocked
 * and read from a signalfd in the one poll() that also waits for the keyboard,
 * smemd's socket and the next refresh, so no handler ever runs between a
 * change of the terminal and its undoing. Ctrl-Z gives the terminal back
 * before the stop and takes it again on SIGCONT.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "smemctl.h"
#include "smemkit/rm.h"

static const char usage[] =
	"usage: smemctl top [--socket PATH] [--interval MS] [--iterations N] [--json]\n"
	"Show smemd's queues (hosts, label, depth, count, sent, received, messages per\n"
	"second, full events, closed) and who holds each lock, refreshed every MS\n"
	"milliseconds (default 1000) until 'q' or Ctrl-C, or N refreshes. --json prints\n"
	"one snapshot and exits. PATH defaults to $SMEMKIT_RM_SOCKET, else smemd's default\n"
	"socket.\n";

enum { O_SOCKET = OPT_VERB_FIRST, O_INTERVAL, O_ITERATIONS };

#define MAX_HOSTS 64u

/* One refresh: what smemd said, and when. */
struct snapshot {
	int64_t mono_ns;
	time_t wall;
	struct smem_rm_host hosts[MAX_HOSTS];
	size_t nhosts;
	struct smem_rm_lock_stats locks[SMEM_HWLOCK_COUNT];
	size_t nlocks;
	struct smem_rm_queue_stats *queues;
	size_t nqueues, cap;
};

/* What was done to the terminal, to undo. */
struct term {
	bool raw;               /* stdin is in non-canonical mode */
	struct termios saved;
	bool screen;            /* stdout is on the alternate screen, cursor hidden */
	bool tty_out;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Take the terminal; a second call (a SIGCONT without a stop) changes nothing. */
static void term_take(struct term *t)
{
	struct termios raw;

	if (!t->raw && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		raw = t->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (t->tty_out && !t->screen) {
		/* The alternate screen, cursor hidden: the shell's own comes back at the end. */
		fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout); /* and cleared */
		fflush(stdout);
		t->screen = true;
	}
}

static void term_give_back(struct term *t)
{
	if (t->screen) {
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		t->screen = false;
	}
	if (t->raw) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
		t->raw = false;
	}
}

static const char *name_of(const struct snapshot *s, unsigned host, char *buf, size_t len)
{
	for (size_t i = 0; i < s->nhosts && i < MAX_HOSTS; i++)
		if (s->hosts[i].host == host && s->hosts[i].name[0])
			return s->hosts[i].name;
	snprintf(buf, len, "host %u", host);
	return buf;
}

/*
 * Ask smemd for a snapshot. The queue array grows to what smemd has, which
 * may grow meanwhile. Return: 0 or -errno.
 */
static int snap_take(struct smem_rm *rm, struct snapshot *s)
{
	int r;

	r = smem_rm_hosts(rm, s->hosts, MAX_HOSTS, &s->nhosts);
	if (r < 0)
		return r;
	for (;;) {
		size_t n;

		r = smem_rm_stats(rm, s->locks, SMEM_HWLOCK_COUNT, &s->nlocks, s->queues, s->cap,
				  &n);
		if (r < 0)
			return r;
		if (n <= s->cap) {
			s->nqueues = n;
			break;
		}
		free(s->queues);
		s->cap = n + 64;
		s->queues = calloc(s->cap, sizeof(*s->queues));
		if (!s->queues) {
			s->cap = 0;
			return -ENOMEM;
		}
	}
	if (s->nlocks > SMEM_HWLOCK_COUNT)
		s->nlocks = SMEM_HWLOCK_COUNT;
	s->mono_ns = mono_ns();
	s->wall = time(NULL);
	return 0;
}

/* The same queue in the previous snapshot: same slot, hosts and label, counter not gone back. */
static const struct smem_rm_queue_stats *previous(const struct snapshot *p,
						  const struct smem_rm_queue_stats *q)
{
	for (size_t i = 0; i < p->nqueues; i++) {
		const struct smem_rm_queue_stats *o = &p->queues[i];

		if (o->slot != q->slot)
			continue;
		/* A slot that holds another queue now, or the same made anew, has no rate yet. */
		if (o->from != q->from || o->to != q->to || o->label != q->label ||
		    o->sent > q->sent)
			return NULL;
		return o;
	}
	return NULL;
}

static unsigned running(const struct snapshot *s)
{
	unsigned n = 0;

	for (size_t i = 0; i < s->nhosts && i < MAX_HOSTS; i++)
		n += s->hosts[i].vm_state == 3;
	return n;
}

/* Printable bytes only: a host name comes from smemd's configuration. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void lock_text(const struct snapshot *s, const struct smem_rm_lock_stats *l, char *buf,
		      size_t len)
{
	char tmp[16];

	if (!l->value)
		snprintf(buf, len, "free");
	else if (l->holder < 0)
		snprintf(buf, len, "word 0x%x", l->value);
	else
		snprintf(buf, len, "%s (%d)", name_of(s, (unsigned)l->holder, tmp, sizeof(tmp)),
			 l->holder);
	sanitize(buf);
}

/* Write one frame's lines into @f; @p is the previous snapshot, or NULL. */
static void frame(FILE *f, const struct snapshot *s, const struct snapshot *p, unsigned interval,
		  unsigned width, bool tty)
{
	double dt = p ? (double)(s->mono_ns - p->mono_ns) / 1e9 : 0;
	unsigned held = 0, cols, rows;
	char when[32];
	struct tm tm;

	for (size_t i = 0; i < s->nlocks; i++)
		held += s->locks[i].value != 0;
	localtime_r(&s->wall, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "smemd %s  %zu hosts, %u running  %zu queues  %u of %zu locks held  every %u ms",
		when, s->nhosts, running(s), s->nqueues, held, s->nlocks, interval);
	fputs(tty ? "  (q quits)\n" : "\n", f);
	fprintf(f, "\n%4s  %-21s %10s %5s %5s %10s %10s %9s %6s  %s\n", "SLOT", "FROM -> TO",
		"LABEL", "DEPTH", "COUNT", "SENT", "RECEIVED", "MSG/S", "FULL", "STATE");
	for (size_t i = 0; i < s->nqueues; i++) {
		const struct smem_rm_queue_stats *q = &s->queues[i];
		const struct smem_rm_queue_stats *o = p && dt > 0 ? previous(p, q) : NULL;
		char a[16], b[16], route[48], rate[24] = "-";

		snprintf(route, sizeof(route), "%s -> %s", name_of(s, q->from, a, sizeof(a)),
			 name_of(s, q->to, b, sizeof(b)));
		sanitize(route);
		if (o)
			snprintf(rate, sizeof(rate), "%.1f", (double)(q->sent - o->sent) / dt);
		fprintf(f,
			"%4u  %-21s %10" PRIu32 " %5u %5u %10" PRIu32 " %10" PRIu32 " %9s %6" PRIu32
			"  %s\n",
			q->slot, route, q->label, q->depth, q->count, q->sent, q->received, rate,
			q->full_events, q->closed ? "closed" : "open");
	}
	if (!s->nqueues)
		fprintf(f, "      (no queues)\n");
	/* The locks in columns on a terminal wide enough, one a line otherwise. */
	cols = tty ? width / 26 : 1;
	cols = cols < 1 ? 1 : cols > 4 ? 4 : cols;
	rows = (unsigned)(s->nlocks + cols - 1) / cols;
	fputc('\n', f);
	for (unsigned c = 0; c < cols; c++)
		fprintf(f, "%4s  %-*s", "LOCK", c + 1 < cols ? 20 : 0, "HOLDER");
	fputc('\n', f);
	for (unsigned r = 0; r < rows; r++) {
		for (unsigned c = 0; c < cols; c++) {
			size_t i = (size_t)c * rows + r;
			bool last = c + 1 == cols || i + rows >= s->nlocks;
			char who[48];

			if (i >= s->nlocks)
				break;
			lock_text(s, &s->locks[i], who, sizeof(who));
			fprintf(f, "%4u  %-*s", s->locks[i].id, last ? 0 : 20, who);
		}
		fputc('\n', f);
	}
}

/* Put a frame on the screen: home, each line cut to the width, the rest cleared. */
static void draw(const char *buf, size_t len, unsigned width, unsigned height)
{
	unsigned line = 0;

	fputs("\033[H", stdout);
	while (len && line < height) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;

		if (line)
			fputs("\n", stdout);
		fwrite(buf, 1, n < width ? n : width, stdout);
		fputs("\033[K", stdout);
		line++;
		if (!nl)
			break;
		len -= n + 1;
		buf = nl + 1;
	}
	fputs("\033[J", stdout);
}

static void json(const struct snapshot *s)
{
	char when[40], tmp[16];
	struct tm tm;

	localtime_r(&s->wall, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm);
	printf("{\"time\": \"%s\", \"hosts\": %zu, \"running\": %u,\n \"queues\": [", when,
	       s->nhosts, running(s));
	for (size_t i = 0; i < s->nqueues; i++) {
		const struct smem_rm_queue_stats *q = &s->queues[i];

		printf("%s\n  {\"slot\": %u, \"from\": %u, \"from_name\": ", i ? "," : "", q->slot,
		       q->from);
		json_str(stdout, name_of(s, q->from, tmp, sizeof(tmp)));
		printf(", \"to\": %u, \"to_name\": ", q->to);
		json_str(stdout, name_of(s, q->to, tmp, sizeof(tmp)));
		printf(", \"label\": %" PRIu32 ", \"depth\": %u, \"max_msg_size\": %u, "
		       "\"count\": %u, \"sent\": %" PRIu32 ", \"received\": %" PRIu32
		       ", \"full_events\": %" PRIu32 ", \"closed\": %s}",
		       q->label, q->depth, q->max_msg_size, q->count, q->sent, q->received,
		       q->full_events, q->closed ? "true" : "false");
	}
	printf("%s],\n \"locks\": [", s->nqueues ? "\n " : "");
	for (size_t i = 0; i < s->nlocks; i++) {
		const struct smem_rm_lock_stats *l = &s->locks[i];

		printf("%s\n  {\"lock\": %u, \"value\": %u, \"owner\": %d", i ? "," : "", l->id,
		       l->value, l->holder);
		if (l->holder >= 0) {
			fputs(", \"owner_name\": ", stdout);
			json_str(stdout, name_of(s, (unsigned)l->holder, tmp, sizeof(tmp)));
		}
		fputs("}", stdout);
	}
	printf("%s]}\n", s->nlocks ? "\n " : "");
}

static void size_of_terminal(unsigned *ret_width, unsigned *ret_height)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*ret_width = ws.ws_col;
		*ret_height = ws.ws_row;
	} else {
		*ret_width = 80;
		*ret_height = 24;
	}
}

/* The connection is lost: smemd went away (and is not back yet). */
static bool smemd_lost(int r)
{
	return r == -EPIPE || r == -ECONNRESET || r == -ECONNREFUSED || r == -ENOENT;
}

/* How a wait for the next refresh ended. */
enum wake { WAKE_TIME, WAKE_REDRAW, WAKE_QUIT, WAKE_GONE, WAKE_ERROR };

/*
 * Wait until @deadline (monotonic ns) for a key, a signal or smemd. Return:
 * WAKE_TIME at the deadline; WAKE_REDRAW after a resize or a SIGCONT;
 * WAKE_QUIT for 'q' or a signal that ends it; WAKE_GONE if smemd went away.
 */
static enum wake wait_next(struct smem_rm *rm, int sfd, struct term *t, int64_t deadline)
{
	for (;;) {
		struct pollfd fds[3] = { { sfd, POLLIN, 0 }, { smem_rm_fd(rm), POLLIN, 0 },
					 { t->raw ? STDIN_FILENO : -1, POLLIN, 0 } };
		int64_t left = deadline - mono_ns();
		int n;

		if (left <= 0)
			return WAKE_TIME;
		n = poll(fds, 3, (int)((left + 999999) / 1000000));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return WAKE_ERROR;
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGWINCH)
				return WAKE_REDRAW;
			if (si.ssi_signo == SIGCONT) {
				/* Back from Ctrl-Z: take the terminal again, and draw at once. */
				term_take(t);
				return WAKE_REDRAW;
			}
			if (si.ssi_signo == SIGTSTP) {
				term_give_back(t);
				raise(SIGSTOP);
				continue;
			}
			return WAKE_QUIT; /* SIGINT, SIGTERM, SIGHUP */
		}
		if (fds[1].revents) {
			struct smem_rm_notification note;
			int r;

			/* An observer is told nothing it needs: drop what comes, see a hang-up. */
			while ((r = smem_rm_notification(rm, &note)) == 0)
				;
			if (smemd_lost(r))
				return WAKE_GONE;
		}
		if (fds[2].revents) {
			char keys[64];
			ssize_t k = read(STDIN_FILENO, keys, sizeof(keys));

			if (k <= 0)
				return WAKE_QUIT; /* the terminal is gone */
			if (memchr(keys, 'q', (size_t)k) || memchr(keys, 'Q', (size_t)k))
				return WAKE_QUIT;
		}
	}
}

/* After a failed call to smemd: what a user should know. Return: EXIT_ERR. */
static int gone(const char *sock, int r)
{
	if (smemd_lost(r))
		fprintf(stderr, "smemctl: top: smemd went away (%s closed the connection)\n",
			sock ? sock : "its socket");
	else
		fprintf(stderr, "smemctl: top: asking smemd: %s\n", strerror(-r));
	return EXIT_ERR;
}

static int run(struct smem_rm *rm, const char *sock, unsigned interval, uint64_t iterations)
{
	struct snapshot snaps[2] = { 0 };
	struct term t = { .tty_out = isatty(STDOUT_FILENO) };
	uint64_t frames = 0;
	sigset_t mask, old;
	int sfd, r = 0, out = 0;
	unsigned cur = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTSTP);
	sigaddset(&mask, SIGCONT);
	sigaddset(&mask, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
		return fail("top", -errno, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return fail("top", r, NULL);
	}
	if (t.tty_out)
		setvbuf(stdout, NULL, _IOFBF, 1 << 16); /* a frame in one write, without flicker */
	term_take(&t);
	for (;;) {
		struct snapshot *s = &snaps[cur], *p = frames ? &snaps[cur ^ 1] : NULL;
		unsigned width, height;
		char *buf = NULL;
		size_t len = 0;
		enum wake w;
		FILE *f;

		r = snap_take(rm, s);
		if (r < 0)
			break;
		f = open_memstream(&buf, &len);
		if (!f) {
			out = -ENOMEM;
			break;
		}
		size_of_terminal(&width, &height);
		frame(f, s, p, interval, width, t.tty_out);
		if (fclose(f) != 0) {
			free(buf);
			out = -ENOMEM;
			break;
		}
		if (t.tty_out)
			draw(buf, len, width, height);
		else
			printf("%s%s", frames ? "\n" : "", buf);
		free(buf);
		if (fflush(stdout) != 0) {
			out = -errno;
			break;
		}
		frames++;
		if (iterations && frames >= iterations)
			break;
		cur ^= 1;
		w = wait_next(rm, sfd, &t, s->mono_ns + (int64_t)interval * 1000000);
		if (w == WAKE_QUIT)
			break;
		if (w == WAKE_GONE) {
			r = -EPIPE;
			break;
		}
		if (w == WAKE_ERROR) {
			out = -errno;
			break;
		}
	}
	/* The terminal first, so that what follows lands on the user's own screen. */
	term_give_back(&t);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(snaps[0].queues);
	free(snaps[1].queues);
	if (r < 0)
		return gone(sock, r);
	if (out < 0)
		return fail("top", out, NULL);
	return EXIT_OK;
}

int verb_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "iterations", required_argument, NULL, O_ITERATIONS },
		{ 0 },
	};
	struct common c = COMMON_INIT("top", usage);
	uint64_t interval = 1000, iterations = 0;
	const char *sock = NULL;
	struct smem_rm *rm;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_SOCKET:
		sock = optarg;
		break;
	case O_INTERVAL:
		if (opt_number(c.verb, "--interval", optarg, 10, 3600000, false, &interval) < 0)
			return EXIT_USAGE;
		break;
	case O_ITERATIONS:
		if (opt_number(c.verb, "--iterations", optarg, 1, UINT32_MAX, false,
			       &iterations) < 0)
			return EXIT_USAGE;
		break;
	OPTIONS_END(c)
	if (strcmp(c.image, DEFAULT_IMAGE))
		return usage_error(c.verb, "takes no IMAGE: it asks smemd"), EXIT_USAGE;
	r = smem_rm_connect(sock, -1, &rm);
	if (r < 0)
		return fail("cannot reach smemd", r,
			    r == -ENOENT || r == -ECONNREFUSED ? "is smemd running? (--socket PATH)"
								: NULL);
	if (c.json) {
		struct snapshot s = { 0 };

		r = snap_take(rm, &s);
		smem_rm_close(rm);
		if (r == 0)
			json(&s);
		free(s.queues);
		return r < 0 ? gone(sock, r) : EXIT_OK;
	}
	r = run(rm, sock, (unsigned)interval, iterations);
	smem_rm_close(rm);
	return r;
}
