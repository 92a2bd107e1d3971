// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl locks [--json] [--bank PATH] [IMAGE]\n"
	"Show who holds each lock of IMAGE's lock bank (IMAGE.hwlock, or --bank PATH): the\n"
	"host, and from the bank's host table its pid and whether that process is alive.\n";

enum { O_BANK = OPT_VERB_FIRST };

int open_bank(const char *image, const char *bank, bool writable, struct smem_hwlock **ret)
{
	struct smem_hwlock_opts o;
	bool given = bank != NULL;
	char path[PATH_MAX];
	int r;

	if (!bank) {
		snprintf(path, sizeof(path), "%s.hwlock", image);
		bank = path;
	}
	smem_hwlock_opts_init(&o);
	o.flags = writable ? 0 : SMEM_HWLOCK_RDONLY;
	r = smem_hwlock_open(bank, &o, ret);
	if (r == -EBADMSG)
		return fail(bank, r, "not a lock bank (its size is not 32 lock words, with or "
				     "without a host page)");
	if (r == -ENOENT && !given)
		return fail(bank, r, "no lock bank beside the image (smemctl format makes one)");
	if (r < 0)
		return fail_image(bank, r, NULL);
	return 0;
}

void describe_owner(struct smem_hwlock *h, unsigned value, char *buf, size_t len)
{
	struct owner_info o;
	const char *name;

	if (!value) {
		snprintf(buf, len, "nobody");
		return;
	}
	name = host_name(value - 1);
	owner_info(h, value, &o);
	if (!o.known)
		snprintf(buf, len, "host %u%s%s (not in the host table, so nobody can tell whether it "
				   "is alive)", value - 1, *name ? " " : "", name);
	else
		snprintf(buf, len, "host %u%s%s (pid %u, %s)", value - 1, *name ? " " : "", name, o.pid,
			 o.alive == 1 ? "alive" : o.alive == 0 ? "dead" : "liveness unknown");
}

void owner_info(struct smem_hwlock *h, unsigned value, struct owner_info *ret)
{
	struct smem_hwlock_host e;

	*ret = (struct owner_info){ .alive = -1 };
	if (!value || smem_hwlock_host_get(h, value - 1, &e) != 0 || !e.registered)
		return;
	ret->known = true;
	ret->pid = e.pid;
	ret->alive = smem_hwlock_host_alive(h, value - 1);
	if (ret->alive < 0)
		ret->alive = -1;
}

int verb_locks(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "bank", required_argument, NULL, O_BANK },
		{ 0 },
	};
	struct common c = COMMON_INIT("locks", usage);
	const char *bank = NULL;
	struct smem_hwlock *h;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_BANK:
		bank = optarg;
		break;
	OPTIONS_END(c)
	r = open_bank(c.image, bank, false, &h);
	if (r)
		return r;
	if (c.json)
		printf("[");
	else
		printf("lock  state   owner\n");
	for (unsigned i = 0; i < SMEM_HWLOCK_COUNT; i++) {
		struct owner_info o;
		unsigned v;

		smem_hwlock_owner(h, i, &v);
		owner_info(h, v, &o);
		if (c.json) {
			printf("%s{\"lock\":%u,\"value\":%u,\"owner\":%d", i ? "," : "", i, v,
			       v ? (int)(v - 1) : -1);
			if (o.known)
				printf(",\"pid\":%u,\"alive\":%s", o.pid,
				       o.alive == 1 ? "true" : o.alive == 0 ? "false" : "null");
			printf("}");
		} else if (v) {
			printf("%-4u  held    host %u %s%s", i, v - 1, host_name(v - 1),
			       *host_name(v - 1) ? " " : "");
			if (o.known)
				printf("(pid %u, %s)\n", o.pid,
				       o.alive == 1 ? "alive" : o.alive == 0 ? "DEAD: smemctl bust frees it" : "unknown");
			else
				printf("(not in the host table)\n");
		} else {
			printf("%-4u  free\n", i);
		}
	}
	if (c.json)
		printf("]\n");
	smem_hwlock_close(h);
	return EXIT_OK;
}
