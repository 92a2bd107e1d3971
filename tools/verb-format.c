// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl format [OPTIONS] [IMAGE]\n"
	"Create IMAGE (and its lock bank IMAGE.hwlock) and write an empty SMEM image.\n"
	"  --version 11|12       layout: global heap (11) or global partition (12); default 12\n"
	"  --size SIZE           region size, K/M/G suffixes; default 2M\n"
	"  --items N             item limit written to the SIII block (version 12); default 512\n"
	"  --cacheline N         alignment of cached headers, power of two 16..4096; default 64\n"
	"  --pairs LIST|none     private partitions, e.g. 0:1,0:2:64K,0:5; default 0:1,0:2,0:5\n"
	"                        (version 11: none unless given)\n"
	"  --global-size SIZE    size of the global partition; default an equal share\n"
	"  --phys-base ADDR      physical base recorded in the SIII block\n"
	"  --stride N            bytes between lock words of the bank; default 64\n"
	"  --no-hwlock           write only the image, no lock bank\n";

enum { O_VERSION = OPT_VERB_FIRST, O_SIZE, O_ITEMS, O_CACHELINE, O_PAIRS, O_GSIZE, O_STRIDE, O_NOLOCK };

static int parse_pairs(const char *verb, const char *s, struct smem_pair *pairs, size_t max,
		       size_t *ret_n)
{
	char buf[1024], *save = NULL, *tok;
	size_t n = 0;

	if (!strcmp(s, "none")) {
		*ret_n = 0;
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return usage_error(verb, "--pairs list too long");
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *a = tok, *b = strchr(a, ':'), *sz;
		uint64_t h0, h1, size = 0;

		if (!b)
			return usage_error(verb, "pair '%s' is not HOST:HOST[:SIZE]", tok);
		*b++ = '\0';
		sz = strchr(b, ':');
		if (sz)
			*sz++ = '\0';
		if (n == max || !parse_u64(a, SMEM_HOST_COUNT - 1, &h0) ||
		    !parse_u64(b, SMEM_HOST_COUNT - 1, &h1) || (sz && !parse_size(sz, &size)))
			return usage_error(verb, "bad pair in --pairs (hosts below %u, at most %zu pairs)",
					   SMEM_HOST_COUNT, max);
		pairs[n++] = (struct smem_pair){ (unsigned)h0, (unsigned)h1, (size_t)size };
	}
	*ret_n = n;
	return 0;
}

int verb_format(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, O_VERSION },
		{ "size", required_argument, NULL, O_SIZE },
		{ "items", required_argument, NULL, O_ITEMS },
		{ "cacheline", required_argument, NULL, O_CACHELINE },
		{ "pairs", required_argument, NULL, O_PAIRS },
		{ "global-size", required_argument, NULL, O_GSIZE },
		{ "stride", required_argument, NULL, O_STRIDE },
		{ "no-hwlock", no_argument, NULL, O_NOLOCK },
		{ "phys-base", required_argument, NULL, OPT_BASE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	struct common c = COMMON_INIT("format", usage);
	struct smem_pair pairs[83];
	struct smem_format_opts fo;
	struct smem_region *r;
	uint64_t size = SMEM_DEFAULT_SIZE, v, stride = SMEM_HWLOCK_DEFAULT_STRIDE;
	bool pairs_given = false, no_hwlock = false;
	int err;

	smem_format_opts_init(&fo);
	OPTIONS_BEGIN(c, longopts)
	case O_VERSION:
		if (!parse_u64(optarg, 99, &v) || (v != 11 && v != 12))
			return usage_error(c.verb, "--version must be 11 or 12"), EXIT_USAGE;
		fo.version = (unsigned)v;
		break;
	case O_SIZE:
		if (!parse_size(optarg, &size))
			return usage_error(c.verb, "bad --size '%s'", optarg), EXIT_USAGE;
		break;
	case O_ITEMS:
		if (!parse_u64(optarg, 0xffff, &v))
			return usage_error(c.verb, "--items must be at most 65535"), EXIT_USAGE;
		fo.item_count = (unsigned)v;
		break;
	case O_CACHELINE:
		if (!parse_u64(optarg, SMEM_HWLOCK_MAX_STRIDE, &v))
			return usage_error(c.verb, "bad --cacheline '%s'", optarg), EXIT_USAGE;
		fo.cacheline = (unsigned)v;
		break;
	case O_PAIRS:
		if (parse_pairs(c.verb, optarg, pairs, sizeof(pairs) / sizeof(pairs[0]), &fo.n_pairs) < 0)
			return EXIT_USAGE;
		fo.pairs = pairs;
		pairs_given = true;
		break;
	case O_GSIZE:
		if (!parse_size(optarg, &v))
			return usage_error(c.verb, "bad --global-size '%s'", optarg), EXIT_USAGE;
		fo.global_size = (size_t)v;
		break;
	case O_STRIDE:
		if (!parse_u64(optarg, SMEM_HWLOCK_MAX_STRIDE, &stride))
			return usage_error(c.verb, "bad --stride '%s'", optarg), EXIT_USAGE;
		break;
	case O_NOLOCK:
		no_hwlock = true;
		break;
	OPTIONS_END(c)

	if (fo.version == 11 && !pairs_given)
		fo.n_pairs = 0;
	fo.phys_base = c.phys_base;
	if (size > SMEM_REGION_MAX_SIZE)
		return usage_error(c.verb, "--size is at most 4G"), EXIT_USAGE;

	if (stride < 4 || stride % 4)
		return usage_error(c.verb, "--stride must be a multiple of 4 from 4 to 4096"),
		       EXIT_USAGE;
	/* Check the options first, so that a mistake leaves an existing file alone. */
	err = smem_format(NULL, (size_t)size, &fo);
	if (err == 0) {
		err = smem_region_open(c.image, (size_t)size, SMEM_REGION_CREATE, &r);
		if (err < 0)
			return fail(c.image, err, NULL);
		err = smem_format(smem_region_base(r), (size_t)size, &fo);
		smem_region_close(r);
	}
	if (err == -EINVAL) {
		usage_error(c.verb, "invalid options: the size must be a multiple of 4K from 16K, "
				    "the cacheline a power of two from 16 to 4096, the items 9..65535, "
				    "and the pairs distinct pairs of distinct hosts below %u",
			    SMEM_HOST_COUNT);
		return EXIT_USAGE;
	}
	if (err == -ENOSPC)
		return fail(c.image, err, "the partitions do not fit in the region");
	if (err < 0)
		return fail(c.image, err, NULL);
	if (!no_hwlock) {
		char lockpath[PATH_MAX];
		struct smem_hwlock_opts ho;
		struct smem_hwlock *h;

		snprintf(lockpath, sizeof(lockpath), "%s.hwlock", c.image);
		smem_hwlock_opts_init(&ho);
		ho.flags = SMEM_HWLOCK_CREATE;
		ho.stride = (unsigned)stride;
		err = smem_hwlock_open(lockpath, &ho, &h);
		if (err < 0)
			return fail(lockpath, err, NULL);
		smem_hwlock_close(h);
	}
	return EXIT_OK;
}
