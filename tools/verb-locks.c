// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl locks [--json] [--bank PATH] [IMAGE]\n"
	"Show who holds each lock of IMAGE's lock bank (IMAGE.hwlock, or --bank PATH): the\n"
	"host, whether the kernel has marked its holder dead, and the pid the host table\n"
	"records for that host (in the registrant's own pid namespace).\n";

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
		return fail(bank, r, "not a lock bank: no valid header (another version, half made, "
				     "or damaged; smemctl format makes a new one)");
	if (r == -ENOENT && !given)
		return fail(bank, r, "no lock bank beside the image (smemctl format makes one)");
	if (r < 0)
		return fail_image(bank, r, NULL);
	return 0;
}

void describe_owner(struct smem_hwlock *h, unsigned id, unsigned value, char *buf, size_t len)
{
	struct owner_info o;
	const char *name;
	int n;

	owner_info(h, id, value, &o);
	if (!value && o.alive != 0) {
		snprintf(buf, len, "nobody");
		return;
	}
	if (!value) {
		snprintf(buf, len, "a holder that died before it wrote its host (dead)");
		return;
	}
	name = host_name(value - 1);
	n = snprintf(buf, len, "host %u%s%s (", value - 1, *name ? " " : "", name);
	if (n < 0 || (size_t)n >= len)
		return;
	if (o.known)
		n += snprintf(buf + n, len - (size_t)n, "pid %u, ", o.pid);
	snprintf(buf + n, len - (size_t)n, "%s)",
		 o.alive == 1 ? "alive" : o.alive == 0 ? "dead" : "liveness unknown");
}

void owner_info(struct smem_hwlock *h, unsigned id, unsigned value, struct owner_info *ret)
{
	struct smem_hwlock_host e;
	uint32_t w = 0;

	*ret = (struct owner_info){ .alive = -1 };
	/* The kernel's mark on the lock itself decides; the host table only names the pid. */
	if (smem__hwlock_robust(h, id, &w) == 0 && w)
		ret->alive = (w & SMEM_ROBUST_DIED) ? 0 : 1;
	if (!value || smem_hwlock_host_get(h, value - 1, &e) != 0 || !e.registered)
		return;
	ret->known = true;
	ret->pid = e.pid;
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
		owner_info(h, i, v, &o);
		if (c.json) {
			printf("%s{\"lock\":%u,\"value\":%u,\"owner\":%d,\"held\":%s", i ? "," : "",
			       i, v, v ? (int)(v - 1) : -1, o.alive >= 0 ? "true" : "false");
			if (o.alive >= 0)
				printf(",\"alive\":%s", o.alive ? "true" : "false");
			if (o.known)
				printf(",\"pid\":%u", o.pid);
			printf("}");
		} else if (v || o.alive == 0) {
			char who[160];

			describe_owner(h, i, v, who, sizeof(who));
			printf("%-4u  held    %s%s\n", i, who,
			       o.alive == 0 ? ": smemctl bust frees it" : "");
		} else {
			printf("%-4u  free\n", i);
		}
	}
	if (c.json)
		printf("]\n");
	smem_hwlock_close(h);
	return EXIT_OK;
}
