// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <string.h>

#include "smem/image.h"
#include "smemctl.h"

static const char usage[] = "usage: smemctl info [--json] [--as HOST] [IMAGE]\n"
			    "Show the header, the partition table and the free space of IMAGE.\n";

struct part_stat {
	uint64_t free;
	unsigned items;
	bool ok;
};

static struct part_stat stat_part(const uint8_t *base, const struct smem__ptable *pt, unsigned i)
{
	struct part_stat st = { 0 };
	struct smem__part part;
	struct smem__walk w;
	struct smem__entry e;

	if (smem__check_part(base, pt, i, NULL, &part) < 0 ||
	    smem__walk_begin(&w, base, &part, NULL) < 0)
		return st;
	st.free = w.cached - w.uncached;
	int r;
	while ((r = smem__walk_next(&w, &e, NULL)) > 0)
		st.items++;
	st.ok = r == 0;
	return st;
}

int verb_info(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_OPTIONS, { 0 } };
	struct common c = COMMON_INIT("info", usage);
	struct smem__ptable pt = { 0 };
	struct smem__hdr h;
	struct smem_stat facts;
	struct smem *s;
	const uint8_t *base;
	uint64_t size;
	bool has_pt;
	unsigned bad = 0, used = 0;
	int r;

	OPTIONS_BEGIN(c, longopts)
	OPTIONS_END(c)
	r = open_ro(&c, &s);
	if (r)
		return r;
	smem_stat(s, &facts);
	base = facts.base;
	size = facts.size;
	smem__read_hdr(base, size, NULL, &h);
	has_pt = smem__read_ptable(base, size, NULL, &pt) == 0;
	for (unsigned i = 0; has_pt && i < pt.n; i++)
		used += smem__ptable_used(&pt, i);

	if (c.json) {
		printf("{\"image\":");
		json_str(stdout, c.image);
		printf(",\"size\":%" PRIu64 ",\"version\":%u,\"item_count\":%u,"
		       "\"free_offset\":%u,\"available\":%u,\"partitions\":[",
		       size, h.version, facts.item_count, h.free_offset, h.available);
	} else {
		printf("image       %s\nsize        %" PRIu64 " (0x%" PRIx64 ")\n"
		       "version     %u (%s)\nitem count  %u\n"
		       "heap        free_offset 0x%x, available 0x%x (%u bytes)\n",
		       c.image, size, size, h.version,
		       h.version == 11 ? "global heap" : "global partition", facts.item_count,
		       h.free_offset, h.available, h.available);
		if (has_pt && used == pt.n)
			printf("partitions  %u\n", used);
		else if (has_pt)
			printf("partitions  %u (%u table slots, %u unused)\n", used, pt.n, pt.n - used);
		if (has_pt)
			printf("  #  hosts        offset      size        cacheline  free        items\n");
	}
	for (unsigned i = 0; has_pt && i < pt.n; i++) {
		/* An unused slot (offset or size 0) holds no partition, as for Linux. */
		bool in_use = smem__ptable_used(&pt, i);
		struct part_stat st = in_use ? stat_part(base, &pt, i) : (struct part_stat){ .ok = true };
		char hosts[32];

		bad += !st.ok;
		if (!in_use)
			snprintf(hosts, sizeof(hosts), "unused");
		else if (pt.e[i].host0 == SMEM_GLOBAL_HOST && pt.e[i].host1 == SMEM_GLOBAL_HOST)
			snprintf(hosts, sizeof(hosts), "global");
		else
			snprintf(hosts, sizeof(hosts), "%u:%u", pt.e[i].host0, pt.e[i].host1);
		if (c.json) {
			printf("%s{\"index\":%u,\"used\":%s,\"host0\":%u,\"host1\":%u,\"offset\":%u,"
			       "\"size\":%u,\"cacheline\":%u,\"valid\":%s,\"free\":%" PRIu64
			       ",\"items\":%u}",
			       i ? "," : "", i, in_use ? "true" : "false", pt.e[i].host0, pt.e[i].host1,
			       pt.e[i].offset, pt.e[i].size, pt.e[i].cacheline,
			       st.ok ? "true" : "false", st.free, st.items);
		} else {
			printf("  %-2u %-12s 0x%08x  0x%08x  %-9u  ", i, hosts, pt.e[i].offset,
			       pt.e[i].size, pt.e[i].cacheline);
			if (!in_use)
				printf("-           -\n");
			else if (st.ok)
				printf("0x%08" PRIx64 "  %u\n", st.free, st.items);
			else
				printf("(corrupt: run smemctl fsck)\n");
		}
	}
	if (c.json)
		printf("]}\n");
	smem_close(s);
	if (bad) {
		fprintf(stderr, "smemctl: %s: %u partition%s failed validation (run smemctl fsck)\n",
			c.image, bad, bad == 1 ? "" : "s");
		return EXIT_ERR;
	}
	return EXIT_OK;
}
