// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl locks [--json] [--bank PATH] [IMAGE]\n"
	"Show who holds each lock of IMAGE's lock bank (IMAGE.hwlock, or --bank PATH).\n";

enum { O_BANK = OPT_VERB_FIRST };

int open_bank(const char *image, const char *bank, struct smem_hwlock **ret)
{
	char path[PATH_MAX];
	int r;

	if (!bank) {
		snprintf(path, sizeof(path), "%s.hwlock", image);
		bank = path;
	}
	r = smem_hwlock_open(bank, ret);
	if (r < 0)
		return fail(bank, r, r == -EBADMSG ? "not a lock bank (size is not 32 words)" : NULL);
	return 0;
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
	r = open_bank(c.image, bank, &h);
	if (r)
		return r;
	if (c.json)
		printf("[");
	else
		printf("lock  state   owner\n");
	for (unsigned i = 0; i < SMEM_HWLOCK_COUNT; i++) {
		unsigned v;

		smem_hwlock_owner(h, i, &v);
		if (c.json)
			printf("%s{\"lock\":%u,\"value\":%u,\"owner\":%d}", i ? "," : "", i, v,
			       v ? (int)(v - 1) : -1);
		else if (v)
			printf("%-4u  held    host %u %s\n", i, v - 1, host_name(v - 1));
		else
			printf("%-4u  free\n", i);
	}
	if (c.json)
		printf("]\n");
	smem_hwlock_close(h);
	return EXIT_OK;
}
