// SPDX-License-Identifier: MIT
#include "smemctl.h"

static const char usage[] =
	"usage: smemctl bust --host HOST [--lock N] [--force] [--bank PATH] [IMAGE]\n"
	"Release lock N (default 3) only if HOST holds it, as a crash handler does for a\n"
	"processor that died. A lock held by anyone else is left alone. Unless the kernel\n"
	"has marked the holder dead, bust refuses: --force busts a live holder anyway.\n"
	"After a bust, the next allocation (or smemctl fsck --repair) repairs the heap.\n";

enum { O_LOCK = OPT_VERB_FIRST, O_BANK, O_FORCE };

int verb_bust(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "lock", required_argument, NULL, O_LOCK },
		{ "bank", required_argument, NULL, O_BANK },
		{ "force", no_argument, NULL, O_FORCE },
		{ 0 },
	};
	struct common c = COMMON_INIT("bust", usage);
	const char *bank = NULL;
	bool force = false;
	uint64_t lock = SMEM_HWLOCK_ID;
	struct smem_hwlock *h;
	unsigned v;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_LOCK:
		if (opt_number(c.verb, "--lock", optarg, 0, SMEM_HWLOCK_COUNT - 1, false, &lock) < 0)
			return EXIT_USAGE;
		break;
	case O_BANK:
		bank = optarg;
		break;
	case O_FORCE:
		force = true;
		break;
	OPTIONS_END(c)
	if (!c.host_arg)
		return usage_error(c.verb, "--host is required: the host whose hold to release"),
		       EXIT_USAGE;
	if (c.host == SMEM_HOST_ANY)
		return usage_error(c.verb, "--host %s names no host; bust needs the number of the "
					   "host that holds the lock (see smemctl locks)", c.host_arg),
		       EXIT_USAGE;
	r = open_bank(c.image, bank, true, &h);
	if (r)
		return r;
	smem_hwlock_owner(h, (unsigned)lock, &v);
	if (v == c.host + 1 && !force) {
		struct owner_info o;

		owner_info(h, (unsigned)lock, v, &o);
		if (o.alive != 0) {
			char who[160];

			describe_owner(h, (unsigned)lock, v, who, sizeof(who));
			fprintf(stderr, "smemctl: lock %u: its holder, %s, is not known to be dead; "
					"it may be working under the lock. Use --force to bust it "
					"anyway.\n",
				(unsigned)lock, who);
			smem_hwlock_close(h);
			return EXIT_ERR;
		}
	}
	r = smem_hwlock_bust(h, (unsigned)lock, c.host);
	smem_hwlock_owner(h, (unsigned)lock, &v);
	smem_hwlock_close(h);
	if (r == 1)
		printf("lock %u: released (was held by host %u)\n", (unsigned)lock, c.host);
	else if (v)
		printf("lock %u: not held by host %u; left held by host %u\n", (unsigned)lock, c.host,
		       v - 1);
	else
		printf("lock %u: not held by host %u; it is free\n", (unsigned)lock, c.host);
	return EXIT_OK;
}
