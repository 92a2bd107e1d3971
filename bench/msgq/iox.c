// SPDX-License-Identifier: MIT
/*
 * The iceoryx side of bench-msgq: starts iox-roudi, runs a publisher/subscriber
 * ping-pong and a one-way stream between two pinned processes for every
 * payload, then stops RouDi once both clients have left.
 *
 * Each client leaves through exit(), never _exit(): iceoryx 2.0.3 deregisters
 * from RouDi only in the runtime's static destructor, and RouDi aborts at
 * shutdown if a registered client is already gone. Only one RouDi can run on a
 * machine; if another holds its lock, the benchmark says so and skips iceoryx.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"

#include "bench.h"

#define ROUDI     "/usr/bin/iox-roudi"
#define ROUDI_LOG "/tmp/smemkit-bench-roudi.log"

enum { T_PING = 1, T_STREAM = 2, T_NEXT = 3, T_HELLO = 4 };

struct hdr {
	uint32_t type;
	uint32_t seq;
};

struct iox_shared {
	_Atomic int ready[2];
	uint64_t t_start[8], t_end[8];
	uint64_t rtt[]; /* np * iters */
};

static void publish(iox_pub_t pub, unsigned size, uint32_t type, uint32_t seq)
{
	void *chunk;

	while (iox_pub_loan_chunk(pub, &chunk, size) != AllocationResult_SUCCESS)
		cpu_relax();
	memset((uint8_t *)chunk + sizeof(struct hdr), 0x5a, size - sizeof(struct hdr));
	memcpy(chunk, &(struct hdr){ type, seq }, sizeof(struct hdr));
	iox_pub_publish_chunk(pub, chunk);
}

/* Takes one chunk (busy polling) and returns its header. */
static struct hdr take(iox_sub_t sub, unsigned size)
{
	uint8_t copy[MAX_PAYLOAD + 1];
	const void *chunk;
	struct hdr h;

	while (iox_sub_take_chunk(sub, &chunk) != ChunkReceiveResult_SUCCESS)
		cpu_relax();
	memcpy(copy, chunk, size);
	memcpy(&h, copy, sizeof(h));
	iox_sub_release_chunk(sub, chunk);
	return h;
}

static int try_take(iox_sub_t sub, struct hdr *h)
{
	const void *chunk;

	if (iox_sub_take_chunk(sub, &chunk) != ChunkReceiveResult_SUCCESS)
		return 0;
	memcpy(h, chunk, sizeof(*h));
	iox_sub_release_chunk(sub, chunk);
	return 1;
}

static void client(int me, struct iox_shared *sh, const unsigned *payloads, size_t np, size_t iters,
		   size_t warmup, size_t msgs)
{
	iox_pub_storage_t ps;
	iox_sub_storage_t ss;
	iox_pub_options_t po;
	iox_sub_options_t so;
	iox_pub_t pub;
	iox_sub_t sub;

	pin_cpu(me);
	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	iox_runtime_init(me ? "smemkit-bench-b" : "smemkit-bench-a");
	iox_pub_options_init(&po);
	po.historyCapacity = 0;
	po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	iox_sub_options_init(&so);
	so.queueCapacity = 256;
	so.historyRequest = 0;
	so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	pub = iox_pub_init(&ps, "smemkit", "bench", me ? "pong" : "ping", &po);
	sub = iox_sub_init(&ss, "smemkit", "bench", me ? "ping" : "pong", &so);
	while (iox_sub_get_subscription_state(sub) != SubscribeState_SUBSCRIBED ||
	       !iox_pub_has_subscribers(pub))
		sched_yield();
	atomic_store(&sh->ready[me], 1);
	while (!atomic_load(&sh->ready[!me]))
		sched_yield();

	for (size_t j = 0; j < np; j++) {
		unsigned size = payloads[j];
		struct hdr h;

		if (me == 0) {
			/* Hello until the peer answers: both ports are connected both ways. */
			for (int got = 0; !got;) {
				publish(pub, size, T_HELLO, 0);
				for (int k = 0; k < 100000 && !got; k++)
					got = try_take(sub, &h) && h.type == T_HELLO;
			}
			for (size_t i = 0; i < warmup + iters; i++) {
				uint64_t t0 = ticks();

				publish(pub, size, T_PING, (uint32_t)i);
				do
					h = take(sub, size);
				while (h.type != T_PING || h.seq != i);
				if (i >= warmup)
					sh->rtt[j * iters + i - warmup] = ticks() - t0;
			}
			sh->t_start[j] = ticks();
			for (size_t i = 0; i < msgs; i++)
				publish(pub, size, T_STREAM, (uint32_t)i);
			publish(pub, size, T_NEXT, 0);
			do
				h = take(sub, size);
			while (h.type != T_NEXT);
		} else {
			size_t streamed = 0;

			for (;;) {
				h = take(sub, size);
				if (h.type == T_HELLO || h.type == T_PING) {
					publish(pub, size, h.type, h.seq);
				} else if (h.type == T_STREAM) {
					if (++streamed == msgs)
						sh->t_end[j] = ticks();
				} else if (h.type == T_NEXT) {
					publish(pub, size, T_NEXT, 0);
					break;
				}
			}
		}
	}
	iox_sub_deinit(sub);
	iox_pub_deinit(pub);
	iox_runtime_shutdown();
	exit(0); /* not _exit(): the runtime deregisters in its static destructor */
}

static void read_log(char *why, size_t len, const char *prefix)
{
	char buf[512] = "";
	FILE *f = fopen(ROUDI_LOG, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	snprintf(why, len, "%s; RouDi's log (%s): %.180s", prefix, ROUDI_LOG, buf);
}

int iceoryx_run(const unsigned *payloads, size_t np, size_t iters, size_t warmup, size_t msgs,
		struct result *out, char *why, size_t why_len)
{
	struct iox_shared *sh;
	pid_t roudi, pid[2];
	int st, ok = 0;
	struct stat sb;

	if (access(ROUDI, X_OK) < 0) {
		snprintf(why, why_len, "%s is not installed (scripts/deps.sh bench)", ROUDI);
		return -1;
	}
	sh = mmap(NULL, sizeof(*sh) + np * iters * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		snprintf(why, why_len, "mmap: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	roudi = fork();
	if (roudi == 0) {
		int fd = open(ROUDI_LOG, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(ROUDI, ROUDI, (char *)NULL);
		_exit(127);
	}
	/* RouDi is ready when its socket exists; it dies at once if another RouDi runs. */
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10000000 };

		if (waitpid(roudi, &st, WNOHANG) == roudi) {
			read_log(why, why_len, "iox-roudi exited at start (is another RouDi running?)");
			munmap(sh, sizeof(*sh) + np * iters * sizeof(uint64_t));
			return -1;
		}
		if (stat("/tmp/roudi", &sb) == 0)
			break;
		nanosleep(&ts, NULL);
	}
	for (int me = 0; me < 2; me++) {
		pid[me] = fork();
		if (pid[me] == 0)
			client(me, sh, payloads, np, iters, warmup, msgs);
	}
	for (int me = 0; me < 2; me++) {
		waitpid(pid[me], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			ok = -1;
	}
	kill(roudi, SIGTERM);
	for (int i = 0; i < 300; i++) {
		struct timespec ts = { 0, 10000000 };

		if (waitpid(roudi, &st, WNOHANG) == roudi)
			break;
		if (i == 299) {
			kill(roudi, SIGKILL);
			waitpid(roudi, &st, 0);
		}
		nanosleep(&ts, NULL);
	}
	if (ok < 0) {
		read_log(why, why_len, "an iceoryx client failed");
		return -1;
	}
	for (size_t j = 0; j < np; j++) {
		memset(&out[j], 0, sizeof(out[j]));
		fill_result(&out[j], &sh->rtt[j * iters], iters);
		if (sh->t_end[j] > sh->t_start[j])
			out[j].msgs_per_s = (double)msgs / (ticks_to_ns(sh->t_end[j] - sh->t_start[j]) * 1e-9);
	}
	munmap(sh, sizeof(*sh) + np * iters * sizeof(uint64_t));
	return 0;
}
