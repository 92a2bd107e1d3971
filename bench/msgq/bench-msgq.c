// SPDX-License-Identifier: MIT
/*
 * bench-msgq: one-way latency and throughput of smemkit message queues against
 * the machine's floor and against the usual IPC mechanisms, all in one run.
 *
 * Two processes, pinned to CPU 0 and CPU 1, play ping-pong: the round trip is
 * timed with the TSC and halved. Percentiles are over --iters round trips after
 * --warmup. Throughput streams --msgs messages one way; it is the message count
 * over the time from the first send to the last receive. The floor is a
 * ping-pong on one cache line, measured before each payload's cases and once at
 * the end. The p50 and the throughput are given as ratios to the floor measured
 * just before their own case, and the table prints both floor figures it divides by.
 *
 * Mechanisms (the JSON names):
 *   floor           one cache line written in turn (payload not copied)
 *   ring            a bare single-producer single-consumer ring, release/acquire
 *   smemkit-poll    smemkit queues, POLL doorbell, polling
 *   smemkit-futex   smemkit queues, FUTEX doorbell, blocking calls (spin, then sleep)
 *   smemkit-eventfd smemkit queues, EVENTFD doorbell, receiver as an event loop
 *   futex           a futex word per direction, same spin-then-sleep policy
 *   pipe, uds-stream, uds-seqpacket, posix-mq  blocking kernel IPC
 *   iceoryx         iceoryx 2.0.3 C binding, busy-polling take (RouDi started here)
 * A second table gives the wake-up path alone: the same blocking mechanisms
 * with no spinning, so that every message wakes a sleeping process.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "smemkit/msgq.h"

/* ---------------------------------------------------------------- timing */

static double ns_per_tick = 1.0;

uint64_t ticks(void)
{
#if defined(__x86_64__)
	unsigned aux;

	return __builtin_ia32_rdtscp(&aux);
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void calibrate_ticks(void)
{
#if defined(__x86_64__)
	uint64_t n0 = mono_ns(), t0 = ticks(), n1, t1;

	do
		n1 = mono_ns();
	while (n1 - n0 < 200000000u);
	t1 = ticks();
	ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
#endif
}

double ticks_to_ns(uint64_t t)
{
	return (double)t * ns_per_tick;
}

void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("sched_setaffinity");
		_exit(3);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n) - 1;

	if (i >= n)
		i = n - 1;
	return ticks_to_ns(v[i]) / 2;
}

void fill_result(struct result *r, uint64_t *rtt, size_t n)
{
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	r->p50 = pct(rtt, n, 0.50);
	r->p99 = pct(rtt, n, 0.99);
	r->p999 = pct(rtt, n, 0.999);
	r->max = ticks_to_ns(rtt[n - 1]) / 2;
	r->ok = true;
}

/* ---------------------------------------------------------------- channels */

/*
 * A channel carries messages one way. Each mechanism makes two (a->b, b->a)
 * before the fork; the children then only send and receive.
 */
struct chan;
struct chan_ops {
	void (*send)(struct chan *c, const void *buf, size_t len);
	void (*recv)(struct chan *c, void *buf, size_t len);
};

struct chan {
	const struct chan_ops *ops;
	/* shared memory */
	void *mem;
	/* smemkit */
	struct smem_msgq *tx, *rx;
	/* kernel objects */
	int fd_w, fd_r;
	mqd_t mq;
	/* ring: the process's cached view of the peer's index */
	uint32_t cache;
	unsigned spin_ns;
};

static struct {
	size_t iters, warmup, msgs;
	unsigned spin_ns;
} opt = { .iters = 20000, .warmup = 2000, .msgs = 200000, .spin_ns = 50000 };

/* --- floor: one cache line; the payload is not copied. */
struct line {
	_Alignas(64) _Atomic uint32_t word;
	uint8_t pad[60];
};

/* --- bare SPSC ring */
#define RING_DEPTH 64u
#define RING_STRIDE 1088u
struct ring {
	_Alignas(64) _Atomic uint32_t tail;
	_Alignas(64) _Atomic uint32_t head;
	_Alignas(64) uint8_t slots[RING_DEPTH][RING_STRIDE];
};

static void ring_send(struct chan *c, const void *buf, size_t len)
{
	struct ring *r = c->mem;
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint8_t *s;

	while (t - c->cache >= RING_DEPTH) {
		c->cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (t - c->cache >= RING_DEPTH)
			cpu_relax();
	}
	s = r->slots[t % RING_DEPTH];
	memcpy(s, &(uint32_t){ (uint32_t)len }, 4);
	memcpy(s + 8, buf, len);
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

static void ring_recv(struct chan *c, void *buf, size_t len)
{
	struct ring *r = c->mem;
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed), n;
	uint8_t *s;

	while (h == c->cache) {
		c->cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (h == c->cache)
			cpu_relax();
	}
	s = r->slots[h % RING_DEPTH];
	memcpy(&n, s, 4);
	memcpy(buf, s + 8, n < len ? n : len);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static const struct chan_ops ring_ops = { ring_send, ring_recv };

/* --- smemkit */
static void sk_poll_send(struct chan *c, const void *buf, size_t len)
{
	while (smem_msgq_send(c->tx, buf, len, 0) == -EAGAIN)
		cpu_relax();
}

static void sk_poll_recv(struct chan *c, void *buf, size_t len)
{
	size_t n;

	while (smem_msgq_recv(c->rx, buf, len, &n) == -EAGAIN)
		cpu_relax();
}

static void sk_block_send(struct chan *c, const void *buf, size_t len)
{
	if (smem_msgq_send_wait(c->tx, buf, len, 0, -1) < 0)
		_exit(4);
}

static void sk_block_recv(struct chan *c, void *buf, size_t len)
{
	size_t n;

	if (smem_msgq_recv_wait(c->rx, buf, len, &n, -1) < 0)
		_exit(4);
}

/* The receiver of an event loop: drain, poll a little, arm, wait on the eventfd. */
static void sk_efd_recv(struct chan *c, void *buf, size_t len)
{
	uint64_t v;
	size_t n;

	for (;;) {
		uint64_t end = mono_ns() + c->spin_ns;

		do {
			if (smem_msgq_recv(c->rx, buf, len, &n) >= 0)
				return;
			cpu_relax();
		} while (c->spin_ns && mono_ns() < end);
		if (smem_msgq_arm(c->rx) == 1)
			continue;
		if (read(smem_msgq_fd(c->rx), &v, sizeof(v)) < 0 && errno != EINTR)
			_exit(4);
	}
}

static const struct chan_ops sk_poll_ops = { sk_poll_send, sk_poll_recv };
static const struct chan_ops sk_block_ops = { sk_block_send, sk_block_recv };
static const struct chan_ops sk_efd_ops = { sk_block_send, sk_efd_recv };

/* --- raw futex: a word per direction and a buffer for the payload */
struct fx {
	_Alignas(64) _Atomic uint32_t word;
	_Atomic uint32_t sleeping;
	_Alignas(64) uint8_t buf[MAX_PAYLOAD + 1];
	uint32_t expect; /* the receiver's process-local count */
};

static void fx_send(struct chan *c, const void *buf, size_t len)
{
	struct fx *f = c->mem;

	memcpy(f->buf, buf, len);
	atomic_fetch_add_explicit(&f->word, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&f->sleeping, memory_order_seq_cst))
		syscall(SYS_futex, &f->word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void fx_recv(struct chan *c, void *buf, size_t len)
{
	struct fx *f = c->mem;
	uint32_t want = ++c->cache;
	uint64_t end = mono_ns() + c->spin_ns;

	for (unsigned i = 0; atomic_load_explicit(&f->word, memory_order_acquire) != want; i++) {
		cpu_relax();
		if ((i & 63) == 0 && mono_ns() >= end)
			break;
	}
	for (;;) {
		uint32_t w = atomic_load_explicit(&f->word, memory_order_acquire);

		if (w == want)
			break;
		atomic_store_explicit(&f->sleeping, 1, memory_order_seq_cst);
		w = atomic_load_explicit(&f->word, memory_order_seq_cst);
		if (w != want)
			syscall(SYS_futex, &f->word, FUTEX_WAIT, w, NULL, NULL, 0);
		atomic_store_explicit(&f->sleeping, 0, memory_order_relaxed);
	}
	memcpy(buf, f->buf, len);
}

static const struct chan_ops fx_ops = { fx_send, fx_recv };

/* --- pipes and stream sockets: whole messages of a known size */
static void fd_send(struct chan *c, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len) {
		ssize_t n = write(c->fd_w, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(5);
		b += n;
		len -= (size_t)n;
	}
}

static void fd_recv(struct chan *c, void *buf, size_t len)
{
	uint8_t *b = buf;

	while (len) {
		ssize_t n = read(c->fd_r, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(5);
		b += n;
		len -= (size_t)n;
	}
}

static const struct chan_ops fd_ops = { fd_send, fd_recv };

static void seq_send(struct chan *c, const void *buf, size_t len)
{
	if (send(c->fd_w, buf, len, 0) != (ssize_t)len)
		_exit(5);
}

static void seq_recv(struct chan *c, void *buf, size_t len)
{
	if (recv(c->fd_r, buf, len, 0) != (ssize_t)len)
		_exit(5);
}

static const struct chan_ops seq_ops = { seq_send, seq_recv };

static void mq_snd(struct chan *c, const void *buf, size_t len)
{
	if (mq_send(c->mq, buf, len, 0) < 0)
		_exit(5);
}

static void mq_rcv(struct chan *c, void *buf, size_t len)
{
	uint8_t tmp[MAX_PAYLOAD + 1];

	if (mq_receive(c->mq, (char *)tmp, sizeof(tmp), NULL) != (ssize_t)len)
		_exit(5);
	memcpy(buf, tmp, len);
}

static const struct chan_ops mq_ops = { mq_snd, mq_rcv };

/* ---------------------------------------------------------------- setup */

enum kind { K_FLOOR, K_RING, K_SK_POLL, K_SK_FUTEX, K_SK_EFD, K_FUTEX, K_PIPE, K_UDS_STREAM,
	    K_UDS_SEQ, K_MQ };

static const char *const kind_name[] = {
	"floor", "ring", "smemkit-poll", "smemkit-futex", "smemkit-eventfd",
	"futex", "pipe", "uds-stream", "uds-seqpacket", "posix-mq",
};

static void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static int chan_make(enum kind k, unsigned payload, unsigned depth, unsigned spin, struct chan *c)
{
	memset(c, 0, sizeof(*c));
	c->fd_w = c->fd_r = -1;
	c->spin_ns = spin;
	switch (k) {
	case K_FLOOR:
		c->mem = shared_alloc(sizeof(struct line));
		return 0;
	case K_RING:
		c->mem = shared_alloc(sizeof(struct ring));
		c->ops = &ring_ops;
		return 0;
	case K_SK_POLL:
	case K_SK_FUTEX:
	case K_SK_EFD: {
		struct smem_msgq_config cfg;
		struct smem_msgq_opts o;
		size_t size;

		smem_msgq_config_init(&cfg);
		cfg.depth = depth;
		cfg.max_msg_size = payload;
		cfg.doorbell = k == K_SK_POLL	? SMEM_MSGQ_DOORBELL_POLL
			       : k == K_SK_EFD ? SMEM_MSGQ_DOORBELL_EVENTFD
					       : SMEM_MSGQ_DOORBELL_FUTEX;
		smem_msgq_size(depth, payload, &size);
		c->mem = shared_alloc(size);
		if (smem_msgq_init(c->mem, size, &cfg) < 0)
			return -1;
		smem_msgq_opts_init(&o);
		o.spin_ns = spin;
		o.rx_eventfd = eventfd(0, EFD_CLOEXEC);
		o.tx_eventfd = eventfd(0, EFD_CLOEXEC);
		if (smem_msgq_open(c->mem, size, SMEM_MSGQ_TX, &o, &c->tx) < 0 ||
		    smem_msgq_open(c->mem, size, SMEM_MSGQ_RX, &o, &c->rx) < 0)
			return -1;
		close(o.rx_eventfd);
		close(o.tx_eventfd);
		c->ops = k == K_SK_POLL ? &sk_poll_ops : k == K_SK_EFD ? &sk_efd_ops : &sk_block_ops;
		return 0;
	}
	case K_FUTEX:
		c->mem = shared_alloc(sizeof(struct fx));
		c->ops = &fx_ops;
		return 0;
	case K_PIPE: {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		c->fd_r = p[0];
		c->fd_w = p[1];
		c->ops = &fd_ops;
		return 0;
	}
	case K_UDS_STREAM:
	case K_UDS_SEQ: {
		int s[2];

		if (socketpair(AF_UNIX, (k == K_UDS_SEQ ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC,
			       0, s) < 0)
			return -1;
		c->fd_w = s[0];
		c->fd_r = s[1];
		c->ops = k == K_UDS_SEQ ? &seq_ops : &fd_ops;
		return 0;
	}
	case K_MQ: {
		struct mq_attr a = { .mq_maxmsg = 8, .mq_msgsize = payload };
		char name[64];

		snprintf(name, sizeof(name), "/smemkit-bench-%d-%p", getpid(), (void *)c);
		c->mq = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &a);
		if (c->mq == (mqd_t)-1)
			return -1;
		mq_unlink(name);
		c->ops = &mq_ops;
		return 0;
	}
	}
	return -1;
}

static void chan_free(enum kind k, struct chan *c)
{
	if (c->tx)
		smem_msgq_close(c->tx);
	if (c->rx)
		smem_msgq_close(c->rx);
	if (c->fd_w >= 0)
		close(c->fd_w);
	if (c->fd_r >= 0)
		close(c->fd_r);
	if (k == K_MQ)
		mq_close(c->mq);
	(void)c->mem; /* shared mappings live until exit; they are small */
}

/* ---------------------------------------------------------------- runs */

static void wait_go(struct shared_out *o, int me)
{
	atomic_store(&o->ready[me], 1);
	while (!atomic_load(&o->ready[!me]))
		cpu_relax();
	atomic_store(&o->go, 1);
}

static void floor_side(struct line *l, struct shared_out *o, int me, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t ping = (uint32_t)(2 * i + 1), pong = ping + 1;

		if (me == 0) {
			uint64_t t0 = ticks();

			atomic_store_explicit(&l->word, ping, memory_order_release);
			while (atomic_load_explicit(&l->word, memory_order_acquire) != pong)
				cpu_relax();
			if (i >= opt.warmup)
				o->rtt[i - opt.warmup] = ticks() - t0;
		} else {
			while (atomic_load_explicit(&l->word, memory_order_acquire) != ping)
				cpu_relax();
			atomic_store_explicit(&l->word, pong, memory_order_release);
		}
	}
}

/* Runs @side in two pinned children and waits for both. Return: 0 if both succeeded. */
static int run_pair(void (*side)(int me, void *arg), void *arg, struct shared_out *o)
{
	pid_t pid[2];
	int ok = 0;

	atomic_store(&o->ready[0], 0);
	atomic_store(&o->ready[1], 0);
	atomic_store(&o->go, 0);
	fflush(NULL);
	for (int me = 0; me < 2; me++) {
		pid[me] = fork();
		if (pid[me] < 0) {
			perror("fork");
			exit(1);
		}
		if (pid[me] == 0) {
			pin_cpu(me);
			side(me, arg);
			_exit(0);
		}
	}
	for (int me = 0; me < 2; me++) {
		int st;

		waitpid(pid[me], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = -1;
	}
	return ok;
}

struct case_arg {
	enum kind k;
	unsigned payload;
	struct chan ab, ba;
	struct shared_out *o;
	bool stream;
};

static void case_side(int me, void *p)
{
	struct case_arg *a = p;
	uint8_t msg[MAX_PAYLOAD + 1], in[MAX_PAYLOAD + 1];
	size_t n = opt.warmup + opt.iters;

	memset(msg, 0x5a, sizeof(msg));
	wait_go(a->o, me);
	if (a->k == K_FLOOR) {
		floor_side(a->ab.mem, a->o, me, n);
		return;
	}
	if (a->stream) {
		if (me == 0) {
			a->o->t_start = ticks();
			for (size_t i = 0; i < opt.msgs; i++)
				a->ab.ops->send(&a->ab, msg, a->payload);
		} else {
			for (size_t i = 0; i < opt.msgs; i++)
				a->ab.ops->recv(&a->ab, in, a->payload);
			a->o->t_end = ticks();
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (me == 0) {
			uint64_t t0 = ticks();

			a->ab.ops->send(&a->ab, msg, a->payload);
			a->ba.ops->recv(&a->ba, in, a->payload);
			if (i >= opt.warmup)
				a->o->rtt[i - opt.warmup] = ticks() - t0;
		} else {
			a->ab.ops->recv(&a->ab, in, a->payload);
			a->ba.ops->send(&a->ba, in, a->payload);
		}
	}
}

static struct shared_out *out_area(void)
{
	static struct shared_out *o;

	if (!o)
		o = shared_alloc(sizeof(*o) + opt.iters * sizeof(uint64_t));
	return o;
}

static bool has_stream(enum kind k)
{
	return k != K_FLOOR && k != K_FUTEX;
}

static void run_case(enum kind k, unsigned payload, unsigned spin, struct result *r);

static struct figures figures_of(const struct result *r)
{
	return (struct figures){ r->p50, r->p99, r->p999, r->max, r->msgs_per_s };
}

/*
 * A case with the floor measured just before it: the host may move the vCPUs
 * between any two cases, and a ratio means something only within one placement.
 */
static void run_case_floored(enum kind k, unsigned payload, unsigned spin, struct result *r)
{
	struct result fl;

	run_case(K_FLOOR, payload, 0, &fl);
	if (k == K_FLOOR) {
		*r = fl;
	} else {
		run_case(k, payload, spin, r);
	}
	r->floor = figures_of(&fl);
}

static void run_case(enum kind k, unsigned payload, unsigned spin, struct result *r)
{
	struct case_arg a = { .k = k, .payload = payload, .o = out_area() };
	unsigned depth = k == K_SK_POLL || k == K_SK_FUTEX || k == K_SK_EFD ? 8 : 0;

	memset(r, 0, sizeof(*r));
	r->mechanism = kind_name[k];
	r->payload = payload;
	if (chan_make(k, payload, depth, spin, &a.ab) < 0 ||
	    chan_make(k, payload, depth, spin, &a.ba) < 0) {
		fprintf(stderr, "bench-msgq: %s: setup failed: %s\n", kind_name[k], strerror(errno));
		return;
	}
	if (run_pair(case_side, &a, a.o) < 0) {
		fprintf(stderr, "bench-msgq: %s %u: a side failed\n", kind_name[k], payload);
		goto out;
	}
	fill_result(r, a.o->rtt, opt.iters);
	if (has_stream(k) && spin == opt.spin_ns) {
		struct chan s;

		/* Throughput: the queue kinds stream through a deeper queue, like the ring. */
		chan_free(k, &a.ab);
		if (chan_make(k, payload, depth ? 64 : 0, spin, &a.ab) < 0)
			goto out;
		a.stream = true;
		if (run_pair(case_side, &a, a.o) == 0 && a.o->t_end > a.o->t_start)
			r->msgs_per_s = (double)opt.msgs / (ticks_to_ns(a.o->t_end - a.o->t_start) * 1e-9);
		(void)s;
	} else {
		/* No queue to stream through: ping-pong messages per second. */
		double sum = 0;

		for (size_t i = 0; i < opt.iters; i++)
			sum += ticks_to_ns(a.o->rtt[i]);
		r->msgs_per_s = 2.0 * (double)opt.iters / (sum * 1e-9);
	}
out:
	chan_free(k, &a.ab);
	chan_free(k, &a.ba);
}

/* ---------------------------------------------------------------- output */

static void print_json(const struct result *rs, size_t n)
{
	printf("[\n");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &rs[i];

		printf("  {\"mechanism\": \"%s\", \"payload\": %u, \"p50_ns\": %.1f, \"p99_ns\": %.1f, "
		       "\"p999_ns\": %.1f, \"max_ns\": %.1f, \"msgs_per_s\": %.0f}%s\n",
		       r->mechanism, r->payload, r->p50, r->p99, r->p999, r->max, r->msgs_per_s,
		       i + 1 < n ? "," : "");
	}
	printf("]\n");
}

static const struct result *floor_for(const struct result *rs, size_t n, unsigned payload)
{
	for (size_t i = 0; i < n; i++)
		if (rs[i].payload == payload && !strcmp(rs[i].mechanism, "floor"))
			return &rs[i];
	return NULL;
}

static const struct result *find(const struct result *rs, size_t n, const char *m, unsigned payload)
{
	for (size_t i = 0; i < n; i++)
		if (rs[i].payload == payload && !strcmp(rs[i].mechanism, m) && rs[i].ok)
			return &rs[i];
	return NULL;
}

static void latency(FILE *f, double ns)
{
	if (ns >= 10000)
		fprintf(f, " %.1f µs", ns / 1000);
	else
		fprintf(f, " %.0f ns", ns);
}

/*
 * The floor is measured just before each case, and only its p50 and its
 * throughput are steady enough to divide by (its tails are the machine's
 * interrupts), so only those two figures carry a ratio, and the table shows
 * both floor figures that the ratios divide by.
 */
static void print_table(FILE *f, const struct result *rs, size_t n)
{
	fprintf(f, "| mechanism | payload | floor p50 | p50 (× floor) | p99 | p99.9 | max | floor msgs/s "
		   "| msgs/s (× floor) |\n");
	fprintf(f, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &rs[i];
		const struct figures *fl = &r->floor;

		if (!r->ok) {
			fprintf(f, "| %s | %u | | n/a | n/a | n/a | n/a | | n/a |\n", r->mechanism,
				r->payload);
			continue;
		}
		fprintf(f, "| %s | %u |", r->mechanism, r->payload);
		latency(f, fl->p50);
		fprintf(f, " |");
		latency(f, r->p50);
		fprintf(f, " (%.3g×) |", fl->p50 > 0 ? r->p50 / fl->p50 : 0);
		latency(f, r->p99);
		fprintf(f, " |");
		latency(f, r->p999);
		fprintf(f, " |");
		latency(f, r->max);
		fprintf(f, " | %.3g M | %.3g M (%.3g×) |\n", fl->msgs_per_s / 1e6, r->msgs_per_s / 1e6,
			fl->msgs_per_s > 0 ? r->msgs_per_s / fl->msgs_per_s : 0);
	}
}

static void target(FILE *f, const char *what, double ratio, double limit, bool le)
{
	bool met = le ? ratio <= limit : ratio >= limit;

	fprintf(f, "- %s: %.2f× (target %s %.2g×): %s\n", what, ratio, le ? "≤" : "≥", limit,
		met ? "met" : "NOT met");
}

/* A figure over the floor measured just before its own case. */
static double norm(const struct result *r)
{
	return r->floor.p50 > 0 ? r->p50 / r->floor.p50 : 0;
}

static double norm_mps(const struct result *r)
{
	return r->floor.msgs_per_s > 0 ? r->msgs_per_s / r->floor.msgs_per_s : 0;
}

/*
 * Each comparison divides every figure by the floor measured just before its
 * own case first, so that a move of the vCPUs between two cases does not pass
 * for a difference between mechanisms. The raw quotient follows in brackets.
 */
static void print_targets(FILE *f, const struct result *rs, size_t n, const unsigned *payloads,
			  size_t np)
{
	fprintf(f, "\nTargets (per payload; each side over its own floor, raw quotient in brackets):\n");
	for (size_t j = 0; j < np; j++) {
		unsigned p = payloads[j];
		const struct result *poll = find(rs, n, "smemkit-poll", p),
				    *fut = find(rs, n, "smemkit-futex", p), *rfx = find(rs, n, "futex", p),
				    *ring = find(rs, n, "ring", p), *iox = find(rs, n, "iceoryx", p);
		char what[160];

		if (poll) {
			snprintf(what, sizeof(what), "%u B: smemkit-poll p50 / floor p50", p);
			target(f, what, norm(poll), 1.5, true);
		}
		if (fut && rfx) {
			snprintf(what, sizeof(what), "%u B: smemkit-futex p50 / futex p50 [%.2f×]", p,
				 fut->p50 / rfx->p50);
			target(f, what, norm(fut) / norm(rfx), 1.2, true);
		}
		if (p == 64 && ring && poll && ring->msgs_per_s > 0) {
			snprintf(what, sizeof(what), "64 B: smemkit-poll msgs/s / ring msgs/s [%.2f×]",
				 poll->msgs_per_s / ring->msgs_per_s);
			target(f, what, norm_mps(poll) / norm_mps(ring), 0.7, false);
			if (fut) {
				snprintf(what, sizeof(what), "64 B: smemkit-futex msgs/s / ring msgs/s [%.2f×]",
					 fut->msgs_per_s / ring->msgs_per_s);
				target(f, what, norm_mps(fut) / norm_mps(ring), 0.7, false);
			}
		}
		if (iox && poll) {
			snprintf(what, sizeof(what), "%u B: iceoryx p50 / smemkit-poll p50 [%.2f×]", p,
				 iox->p50 / poll->p50);
			target(f, what, norm(iox) / norm(poll), 3, false);
		}
	}
}

static void plots(const char *dir, const struct result *rs, size_t n, const unsigned *payloads,
		  size_t np, const char *const *mechs, size_t nm)
{
	char dat[PATH_MAX], cmd[PATH_MAX + 32];
	FILE *f, *g;

	snprintf(dat, sizeof(dat), "%s/.bench-msgq.dat", dir);
	f = fopen(dat, "w");
	if (!f) {
		fprintf(stderr, "bench-msgq: cannot write %s: %s\n", dat, strerror(errno));
		return;
	}
	/* One row per mechanism; columns: p50 per payload, then msgs/s per payload. */
	fprintf(f, "mechanism");
	for (size_t j = 0; j < np; j++)
		fprintf(f, " %uB", payloads[j]);
	for (size_t j = 0; j < np; j++)
		fprintf(f, " %uB", payloads[j]);
	fprintf(f, "\n");
	for (size_t i = 0; i < nm; i++) {
		fprintf(f, "%s", mechs[i]);
		for (size_t j = 0; j < np; j++) {
			const struct result *r = find(rs, n, mechs[i], payloads[j]);

			fprintf(f, " %.1f", r ? r->p50 : NAN);
		}
		for (size_t j = 0; j < np; j++) {
			const struct result *r = find(rs, n, mechs[i], payloads[j]);

			fprintf(f, " %.0f", r ? r->msgs_per_s : NAN);
		}
		fprintf(f, "\n");
	}
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot 2>&1");
	g = popen(cmd, "w");
	if (!g)
		return;
	fprintf(g,
		"set terminal pngcairo size 1100,560 font ',10' noenhanced\n"
		"set style data histogram\nset style histogram cluster gap 1\n"
		"set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
		"set xtics rotate by -30\nset key top left title 'payload'\n"
		"set logscale y\nset grid ytics\nset datafile missing 'nan'\n"
		"set output '%s/bench-msgq-latency.png'\n"
		"set title 'One-way latency p50 (ns, log scale), two processes pinned to CPU 0 and 1'\n"
		"set ylabel 'ns'\n"
		"plot for [i=2:%zu] '%s' using i:xtic(1) title columnhead(i)\n"
		"set output '%s/bench-msgq-throughput.png'\n"
		"set title 'Throughput, one way (messages per second, log scale)'\n"
		"set ylabel 'messages/s'\n"
		"plot for [i=%zu:%zu] '%s' using i:xtic(1) title columnhead(i)\n",
		dir, 1 + np, dat, dir, 2 + np, 1 + 2 * np, dat);
	pclose(g);
	unlink(dat);
}

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

static const char *regime(double floor_p50)
{
	return floor_p50 < 130 ? "near (the two vCPUs share a fast path: a line moves in well under 130 ns)"
			       : "far (the host placed the two vCPUs apart: a line takes 130 ns or more)";
}

int main(int argc, char **argv)
{
	static const unsigned payloads[] = { 8, 64, 240, 1023 };
	static const enum kind kinds[] = { K_FLOOR, K_RING, K_SK_POLL, K_SK_FUTEX, K_SK_EFD,
					   K_FUTEX, K_PIPE, K_UDS_STREAM, K_UDS_SEQ, K_MQ };
	static const enum kind wake_kinds[] = { K_SK_FUTEX, K_SK_EFD, K_FUTEX };
	const char *mechs[] = { "floor", "ring", "smemkit-poll", "smemkit-futex", "smemkit-eventfd",
				"futex", "pipe", "uds-stream", "uds-seqpacket", "posix-mq", "iceoryx" };
	const size_t np = sizeof(payloads) / sizeof(payloads[0]);
	const size_t nk = sizeof(kinds) / sizeof(kinds[0]);
	struct result *rs, *wake, endfloor;
	size_t n = 0, nw = 0;
	const char *plot_dir = NULL, *only = NULL;
	unsigned only_payload = 0;
	bool json = false, no_iox = false;
	char la0[128], la1[128];
	char iox_why[256] = "not built with iceoryx";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--no-iceoryx"))
			no_iox = true;
		else if (!strcmp(argv[i], "--plots") && i + 1 < argc)
			plot_dir = argv[++i];
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			opt.iters = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			opt.warmup = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--msgs") && i + 1 < argc)
			opt.msgs = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
			only_payload = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--spin-ns") && i + 1 < argc)
			opt.spin_ns = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr,
				"usage: bench-msgq [--json] [--plots DIR] [--iters N] [--warmup N]\n"
				"                  [--msgs N] [--spin-ns NS] [--no-iceoryx]\n"
				"                  [--only MECH,MECH...] [--payload BYTES]\n");
			return 2;
		}
	}
	if (opt.iters < 1000)
		opt.iters = 1000;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "bench-msgq: needs two CPUs\n");
		return 1;
	}
	calibrate_ticks();
	loadavg(la0, sizeof(la0));
	rs = calloc(np * (nk + 1), sizeof(*rs));
	wake = calloc(np * 3, sizeof(*wake));

	for (size_t j = 0; j < np; j++) {
		if (only_payload && payloads[j] != only_payload)
			continue;
		for (size_t i = 0; i < nk; i++) {
			if (only && kinds[i] != K_FLOOR && !strstr(only, kind_name[kinds[i]]))
				continue;
			run_case_floored(kinds[i], payloads[j], opt.spin_ns, &rs[n]);
			if (!json)
				fprintf(stderr, "  %-16s %4u B  p50 %8.0f ns\n", rs[n].mechanism, payloads[j],
					rs[n].p50);
			n++;
		}
	}
	for (size_t j = 0; j < np && !only && !only_payload; j++)
		for (size_t i = 0; i < 3; i++) {
			run_case_floored(wake_kinds[i], payloads[j], 0, &wake[nw]);
			nw++;
		}
#ifdef HAVE_ICEORYX
	if (no_iox || only || only_payload)
		snprintf(iox_why, sizeof(iox_why), "skipped (--no-iceoryx, --only or --payload)");
	if (!no_iox && !only && !only_payload) {
		struct result ir[4];

		struct result fl;

		/* One RouDi session runs every payload: one floor, just before it. */
		run_case(K_FLOOR, 8, 0, &fl);
		if (iceoryx_run(payloads, np, opt.iters, opt.warmup, opt.msgs, ir, iox_why,
				sizeof(iox_why)) == 0) {
			iox_why[0] = '\0';
		}
		for (size_t j = 0; j < np; j++) {
			ir[j].mechanism = "iceoryx";
			ir[j].payload = payloads[j];
			ir[j].floor = figures_of(&fl);
			if (iox_why[0])
				ir[j].ok = false;
			rs[n++] = ir[j];
		}
	}
#else
	(void)no_iox;
#endif
	/* The floor once more, to see whether the vCPUs moved during the run. */
	run_case(K_FLOOR, 8, 0, &endfloor);
	loadavg(la1, sizeof(la1));

	/* Sort the rows by payload, then in the order of mechs[]. */
	{
		struct result *sorted = calloc(n, sizeof(*sorted));
		size_t k = 0;

		for (size_t j = 0; j < np; j++)
			for (size_t m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++)
				for (size_t i = 0; i < n; i++)
					if (rs[i].payload == payloads[j] && !strcmp(rs[i].mechanism, mechs[m]))
						sorted[k++] = rs[i];
		memcpy(rs, sorted, k * sizeof(*rs));
		n = k;
		free(sorted);
	}

	if (json) {
		/* Only results that were measured: a consumer compares like with like. */
		struct result *okr = calloc(n, sizeof(*okr));
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (rs[i].ok)
				okr[k++] = rs[i];
		print_json(okr, k);
		free(okr);
	} else {
		const struct result *f8 = floor_for(rs, n, 8);

		printf("## bench-msgq\n\n");
		printf("Two processes pinned to CPU 0 and CPU 1; %zu round trips after %zu of warm-up "
		       "per case; throughput over %zu messages (queues of depth 64; ring of depth %u).\n",
		       opt.iters, opt.warmup, opt.msgs, RING_DEPTH);
		printf("Latency is one way (round trip / 2). The p50 and the throughput are followed by "
		       "their ratio to the floor's, which is measured again just before every case "
		       "(columns \"floor p50\" and \"floor msgs/s\"; iceoryx: once before its RouDi "
		       "session); the tails carry no ratio, since the floor's tails are the machine's "
		       "interrupts. Blocking "
		       "mechanisms of smemkit and the raw futex spin %u µs before sleeping.\n\n",
		       opt.spin_ns / 1000);
		printf("Load average before: %s; after: %s.\n", la0, la1);
		if (f8) {
			printf("Placement: floor p50 %.0f ns at the start: %s; %.0f ns at the end",
			       f8->p50, regime(f8->p50), endfloor.p50);
			for (size_t j = 1; j < np; j++) {
				const struct result *fj = floor_for(rs, n, payloads[j]);

				if (fj)
					printf("; %.0f ns before the %u-byte cases", fj->p50, payloads[j]);
			}
			{
				double lo = 1e18, hi = 0;
				unsigned far = 0, all = 0;

				for (size_t i = 0; i < n; i++) {
					if (!rs[i].ok || rs[i].floor.p50 <= 0)
						continue;
					lo = rs[i].floor.p50 < lo ? rs[i].floor.p50 : lo;
					hi = rs[i].floor.p50 > hi ? rs[i].floor.p50 : hi;
					far += rs[i].floor.p50 >= 130;
					all++;
				}
				printf(". Over the run the floor p50 ranged from %.0f to %.0f ns; %u of %u "
				       "cases ran in the far placement", lo, hi, far, all);
			}
			printf(". The host moves vCPUs between physical cores at any time, so "
			       "every figure is compared with the floor measured just before its "
			       "own case.\n\n");
		}
		printf("msgs/s: one-way streaming through a queue of depth 64 (pipes and sockets: "
		       "their kernel buffers); for floor and futex, which have no queue, the "
		       "ping-pong message rate.\n\n");
		print_table(stdout, rs, n);
		if (iox_why[0])
			printf("\niceoryx: %s\n", iox_why);
		printf("\nWake-up path (no spinning: every message wakes a sleeping process):\n\n");
		print_table(stdout, wake, nw);
		print_targets(stdout, rs, n, payloads, np);
	}
	if (plot_dir)
		plots(plot_dir, rs, n, payloads, np, mechs, sizeof(mechs) / sizeof(mechs[0]));
	free(rs);
	free(wake);
	return 0;
}
