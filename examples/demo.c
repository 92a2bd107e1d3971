// SPDX-License-Identifier: MIT
/*
 * Two hosts share one SMEM region, as the apps processor and the modem do.
 *
 * usage: smemkit-demo IMAGE
 *
 * Apps (host 0) publishes socinfo (item 137) in the global partition and a
 * greeting (item 500) in its private partition with the modem; the modem
 * (host 1), another process, finds the greeting, answers in item 501 of the same
 * partition, and leaves a crash-reason string (item 421) for the decoder. Each
 * side reads what the other wrote. A pipe only says "look now"; the data goes
 * through the shared region.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smemkit/smem.h"

static int put(struct smem *s, unsigned remote, unsigned item, const void *data, size_t len)
{
	void *p;
	int r = smem_item_alloc(s, remote, item, len, 0);

	if (r == 0 || r == -EEXIST) /* a second run finds the item there: rewrite it */
		r = smem_item_get(s, remote, item, &p, NULL);
	if (r == 0)
		memcpy(p, data, len);
	return r;
}

static int say(const char *who, const char *what, int r)
{
	if (r < 0)
		fprintf(stderr, "%s: %s: %s\n", who, what, strerror(-r));
	else
		printf("%-6s %s\n", who, what);
	fflush(stdout);
	return r;
}

static int modem(const char *image, int wait_fd, int done_fd)
{
	static const char answer[] = "modem here: item 500 received";
	static const char reason[] = "demo: modem watchdog bite (not a real crash)";
	struct smem *s;
	char c, line[160];
	size_t size;
	void *p;

	if (say("modem", "attached as host 1", smem_open(image, 1, NULL, &s)) < 0)
		return 1;
	if (read(wait_fd, &c, 1) != 1)
		return 1;
	if (say("modem", "looked up item 500 in the apps:modem partition",
		smem_item_get(s, 0, 500, &p, &size)) < 0)
		return 1;
	snprintf(line, sizeof(line), "read item 500 (%zu bytes): \"%.*s\"", size, (int)size - 1,
		 (char *)p);
	say("modem", line, 0);
	if (say("modem", "allocated item 501 with its answer", put(s, 0, 501, answer, sizeof(answer))) < 0 ||
	    say("modem", "left a crash reason in item 421 (global)",
		put(s, SMEM_HOST_ANY, 421, reason, sizeof(reason))) < 0)
		return 1;
	smem_close(s);
	return write(done_fd, "d", 1) == 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const char greeting[] = "hello modem, apps here";
	uint8_t socinfo[176] = { 0 };
	int to_modem[2], from_modem[2], st;
	struct smem *s;
	char c, line[160];
	size_t size;
	pid_t pid;
	void *p;

	if (argc != 2) {
		fprintf(stderr, "usage: smemkit-demo IMAGE\n");
		return 2;
	}
	if (pipe(to_modem) < 0 || pipe(from_modem) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(modem(argv[1], to_modem[0], from_modem[1]));

	if (say("apps", "attached as host 0", smem_open(argv[1], 0, NULL, &s)) < 0)
		return 1;
	/* socinfo format 0.15: soc id 321 (SDM845), revision 2.1, a build id, a serial. */
	socinfo[0] = 15;
	socinfo[4] = 321 & 0xff;
	socinfo[5] = 321 >> 8;
	socinfo[8] = 1;
	socinfo[10] = 2;
	memcpy(socinfo + 12, "SMEMKIT-DEMO", 12);
	memcpy(socinfo + 96, "\x01\x02\x03\x04", 4);
	if (say("apps", "allocated socinfo (item 137, global partition)",
		put(s, SMEM_HOST_ANY, 137, socinfo, sizeof(socinfo))) < 0 ||
	    say("apps", "allocated item 500 in the apps:modem partition",
		put(s, 1, 500, greeting, sizeof(greeting))) < 0)
		return 1;
	if (write(to_modem[1], "g", 1) != 1 || read(from_modem[0], &c, 1) != 1)
		return 1;
	if (say("apps", "looked up the modem's answer, item 501", smem_item_get(s, 1, 501, &p, &size)) < 0)
		return 1;
	snprintf(line, sizeof(line), "read item 501 (%zu bytes): \"%.*s\"", size, (int)size - 1,
		 (char *)p);
	say("apps", line, 0);
	smem_close(s);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	return 0;
}
