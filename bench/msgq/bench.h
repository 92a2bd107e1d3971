/* SPDX-License-Identifier: MIT */
/* Shared pieces of the message-queue benchmark: timing, pinning, results. */
#ifndef SMEMKIT_BENCH_MSGQ_H
#define SMEMKIT_BENCH_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_PAYLOAD 1023u

/* One-way latency in ns (round trip / 2) and one-way messages per second. */
struct figures {
	double p50, p99, p999, max;
	double msgs_per_s;
};

struct result {
	const char *mechanism;
	unsigned payload;
	double p50, p99, p999, max;
	double msgs_per_s;
	bool ok;
	struct figures floor; /* the floor measured just before this case */
};

/* Where the children put what they measured: round trips in ticks, stream times. */
struct shared_out {
	_Atomic int ready[2];
	_Atomic int go;
	uint64_t t_start, t_end; /* ticks */
	int failed;
	uint64_t rtt[]; /* iters entries */
};

uint64_t ticks(void);
double ticks_to_ns(uint64_t t);
void calibrate_ticks(void);
void pin_cpu(int cpu);
void cpu_relax(void);
void fill_result(struct result *r, uint64_t *rtt, size_t n);

#ifdef HAVE_ICEORYX
/*
 * Runs iox-roudi and the iceoryx ping-pong for every payload; fills one result
 * per payload. Return: 0, or -1 with a reason in @why when iceoryx could not run.
 */
int iceoryx_run(const unsigned *payloads, size_t n_payloads, size_t iters, size_t warmup,
		size_t msgs, struct result *out, char *why, size_t why_len);
#endif

#endif
