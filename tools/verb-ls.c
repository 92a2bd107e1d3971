// SPDX-License-Identifier: MIT
#include <inttypes.h>

#include "smemctl.h"

static const char usage[] = "usage: smemctl ls [--json] [--as HOST] [IMAGE]\n"
			    "List every item of the global heap and of every partition.\n";

struct ls_state {
	bool json;
	unsigned n;
	uint64_t phys_base;
};

static int print_item(const struct smem_item_info *it, void *userdata)
{
	struct ls_state *st = userdata;
	char part[32];

	if (it->global_heap)
		snprintf(part, sizeof(part), "heap");
	else if (it->host0 == SMEM_GLOBAL_HOST && it->host1 == SMEM_GLOBAL_HOST)
		snprintf(part, sizeof(part), "global");
	else
		snprintf(part, sizeof(part), "%u:%u", it->host0, it->host1);
	if (st->json)
		printf("%s{\"partition\":\"%s\",\"host0\":%d,\"host1\":%d,\"item\":%u,\"size\":%zu,"
		       "\"padding\":%zu,\"offset\":%" PRIu64 ",\"phys\":%" PRIu64
		       ",\"cached\":%s,\"aux_base\":%u}",
		       st->n ? "," : "", part, it->global_heap ? -1 : (int)it->host0,
		       it->global_heap ? -1 : (int)it->host1, it->item, it->size, it->padding,
		       it->offset, st->phys_base + it->offset, it->cached ? "true" : "false",
		       it->aux_base);
	else
		printf("%-10s %6u %10zu 0x%08" PRIx64 " %s%s\n", part, it->item, it->size,
		       st->phys_base + it->offset, it->cached ? "cached" : "uncached",
		       it->aux_base ? " (other region)" : "");
	st->n++;
	return 0;
}

int verb_ls(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_OPTIONS, { 0 } };
	struct common c = COMMON_INIT("ls", usage);
	struct ls_state st = { 0 };
	struct smem *s;
	int r;

	OPTIONS_BEGIN(c, longopts)
	OPTIONS_END(c)
	r = open_ro(&c, &s);
	if (r)
		return r;
	st.json = c.json;
	st.phys_base = c.phys_base;
	if (c.json)
		printf("[");
	else
		printf("%-10s %6s %10s %-10s %s\n", "partition", "item", "size",
		       c.phys_base ? "address" : "offset", "list");
	r = smem_item_foreach(s, print_item, &st);
	if (c.json)
		printf("]\n");
	smem_close(s);
	if (r < 0)
		return fail(c.image, r, "a partition is corrupt; the listing stops there (run smemctl fsck)");
	return EXIT_OK;
}
