// SPDX-License-Identifier: MIT
/*
 * rm-traffic: a host that makes traffic for smemctl top to show, driven by
 * the test on its standard input. It registers with smemd as the modem (host
 * 1), takes lock 7, asks for a pair of queues with apps (host 0) under label
 * 42 and sends on its end; apps never reads, so the count grows with sent.
 *
 *   rm-traffic SOCKET      then, one a line on standard input:
 *     send N               send N messages more; answers "sent TOTAL"
 *     exit                 VM_EXIT: smemd shuts the pair down; answers "exited"
 *   end of input           exit
 *
 * It says "ready" once registered, holding the lock, with the queues made.
 * Only the installed headers and libsmemkit are used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smemkit/hwlock.h"
#include "smemkit/msgq.h"
#include "smemkit/rm.h"

enum { MODEM = 1, APPS = 0, LOCK = 7, LABEL = 42, DEPTH = 255 };

static int fail(const char *what, int r)
{
	fprintf(stderr, "rm-traffic: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	struct smem_msgq *tx;
	struct smem_rm *rm;
	uint64_t txc, rxc;
	unsigned long total = 0;
	char line[64];
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: rm-traffic SOCKET\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = smem_rm_connect(argv[1], MODEM, &rm);
	if (r < 0)
		return fail("register as the modem", r);
	r = smem_hwlock_trylock(smem_rm_hwlock(rm), LOCK, MODEM);
	if (r < 0)
		return fail("take lock 7", r);
	r = smem_rm_msgq_create(rm, smem_rm_vmid(APPS), LABEL, DEPTH, 32, 0, &txc, &rxc);
	if (r == 0)
		r = smem_rm_msgq_open(rm, txc, NULL, &tx);
	if (r < 0)
		return fail("make queues with apps", r);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long n;

		if (sscanf(line, "send %lu", &n) == 1) {
			for (unsigned long i = 0; i < n; i++) {
				r = smem_msgq_send(tx, "traffic", 8, 0);
				if (r < 0)
					return fail("send", r);
			}
			total += n;
			printf("sent %lu\n", total);
		} else if (!strcmp(line, "exit\n")) {
			r = smem_rm_exit(rm, 0);
			if (r < 0)
				return fail("VM_EXIT", r);
			printf("exited\n");
		} else {
			fprintf(stderr, "rm-traffic: unknown command %s", line);
			return 2;
		}
	}
	smem_rm_close(rm);
	return 0;
}
