// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
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
	"  --no-hwlock           write only the image, no lock bank\n"
	"  --force               format even while a live process has the image attached\n";

enum { O_VERSION = OPT_VERB_FIRST, O_SIZE, O_ITEMS, O_CACHELINE, O_PAIRS, O_GSIZE, O_STRIDE, O_NOLOCK,
       O_FORCE };

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
		if (n == max)
			return usage_error(verb, "--pairs lists more than %zu partitions", max);
		if (!parse_u64(a, SMEM_HOST_COUNT - 1, &h0) || !parse_u64(b, SMEM_HOST_COUNT - 1, &h1))
			return usage_error(verb, "--pairs %s:%s: hosts are numbers below %u", a, b,
					   SMEM_HOST_COUNT);
		if (sz && !parse_size(sz, &size))
			return usage_error(verb, "--pairs %s:%s:%s: the size is not a size", a, b, sz);
		pairs[n++] = (struct smem_pair){ (unsigned)h0, (unsigned)h1, (size_t)size };
	}
	*ret_n = n;
	return 0;
}

/* Print why the options cannot make an image; they parsed, so this is exit 1. */
static int check_options(const char *image, const struct smem_format_opts *fo, uint64_t size,
			 bool items_given)
{
	char msg[256];

	if (size % 4096 || size < 16384) {
		snprintf(msg, sizeof(msg), "--size %" PRIu64 " is not a multiple of 4 KiB from 16 KiB",
			 size);
		return fail(image, -EINVAL, msg);
	}
	if (fo->cacheline < 16 || fo->cacheline > 4096 || (fo->cacheline & (fo->cacheline - 1)))
		return fail(image, -EINVAL, "--cacheline must be a power of two from 16 to 4096");
	if (fo->version == 11 && items_given && fo->item_count != SMEM_ITEM_COUNT)
		return fail(image, -EINVAL, "--items is for version 12: a version-11 table of "
					    "contents always has 512 items");
	if (fo->version == 12 && fo->item_count <= SMEM_ITEM_LAST_FIXED)
		return fail(image, -EINVAL, "--items must be from 9 to 65535 (items below 8 are the "
					    "bootloader's)");
	if (fo->global_size % 4096)
		return fail(image, -EINVAL, "--global-size must be a multiple of 4 KiB");
	for (size_t i = 0; i < fo->n_pairs; i++) {
		const struct smem_pair *a = &fo->pairs[i];

		if (a->host0 == a->host1) {
			snprintf(msg, sizeof(msg), "--pairs %u:%u: a partition is between two different "
						   "hosts", a->host0, a->host1);
			return fail(image, -EINVAL, msg);
		}
		if (a->size > SMEM_REGION_MAX_SIZE) {
			snprintf(msg, sizeof(msg), "--pairs %u:%u: the size is over 4 GiB", a->host0,
				 a->host1);
			return fail(image, -EINVAL, msg);
		}
		if (a->size % 4096) {
			snprintf(msg, sizeof(msg), "--pairs %u:%u: the size must be a multiple of 4 KiB",
				 a->host0, a->host1);
			return fail(image, -EINVAL, msg);
		}
		for (size_t j = 0; j < i; j++) {
			const struct smem_pair *b = &fo->pairs[j];

			if ((a->host0 == b->host0 && a->host1 == b->host1) ||
			    (a->host0 == b->host1 && a->host1 == b->host0)) {
				snprintf(msg, sizeof(msg), "--pairs names the partition %u:%u twice",
					 a->host0, a->host1);
				return fail(image, -EINVAL, msg);
			}
		}
	}
	return 0;
}

/* The smallest region in which @fo's partitions fit, or 0 if none up to 4 GiB does. */
static uint64_t smallest_size(const struct smem_format_opts *fo)
{
	uint64_t lo = 16384 / 4096, hi = SMEM_REGION_MAX_SIZE / 4096;

	if (smem_format(NULL, (size_t)(hi * 4096), fo) != 0)
		return 0;
	while (lo < hi) { /* in pages: the smallest that fits lies in [lo, hi] */
		uint64_t mid = lo + (hi - lo) / 2;

		if (smem_format(NULL, (size_t)(mid * 4096), fo) == 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo * 4096;
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
		{ "force", no_argument, NULL, O_FORCE },
		{ "phys-base", required_argument, NULL, OPT_BASE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	struct common c = COMMON_INIT("format", usage);
	struct smem_pair pairs[83];
	struct smem_format_opts fo;
	struct smem_region *r;
	uint64_t size = SMEM_DEFAULT_SIZE, v, stride = SMEM_HWLOCK_DEFAULT_STRIDE;
	bool pairs_given = false, no_hwlock = false, items_given = false, force = false;
	int err;

	smem_format_opts_init(&fo);
	OPTIONS_BEGIN(c, longopts)
	case O_VERSION:
		if (!parse_u64(optarg, 99, &v) || (v != 11 && v != 12))
			return usage_error(c.verb, "--version must be 11 or 12, not '%s'", optarg),
			       EXIT_USAGE;
		fo.version = (unsigned)v;
		break;
	case O_SIZE:
		if (opt_number(c.verb, "--size", optarg, 0, SMEM_REGION_MAX_SIZE, true, &size) < 0)
			return EXIT_USAGE;
		break;
	case O_ITEMS:
		if (opt_number(c.verb, "--items", optarg, 0, 0xffff, false, &v) < 0)
			return EXIT_USAGE;
		fo.item_count = (unsigned)v;
		items_given = true;
		break;
	case O_CACHELINE:
		if (opt_number(c.verb, "--cacheline", optarg, 0, SMEM_HWLOCK_MAX_STRIDE, false, &v) < 0)
			return EXIT_USAGE;
		fo.cacheline = (unsigned)v;
		break;
	case O_PAIRS:
		if (parse_pairs(c.verb, optarg, pairs, sizeof(pairs) / sizeof(pairs[0]), &fo.n_pairs) < 0)
			return EXIT_USAGE;
		fo.pairs = pairs;
		pairs_given = true;
		break;
	case O_GSIZE:
		if (opt_number(c.verb, "--global-size", optarg, 0, SMEM_REGION_MAX_SIZE, true, &v) < 0)
			return EXIT_USAGE;
		fo.global_size = (size_t)v;
		break;
	case O_STRIDE:
		if (opt_number(c.verb, "--stride", optarg, 4, SMEM_HWLOCK_MAX_STRIDE, false, &stride) < 0)
			return EXIT_USAGE;
		if (stride % 4)
			return usage_error(c.verb, "--stride must be a multiple of 4, not '%s'", optarg),
			       EXIT_USAGE;
		break;
	case O_NOLOCK:
		no_hwlock = true;
		break;
	case O_FORCE:
		force = true;
		break;
	OPTIONS_END(c)

	if (fo.version == 11 && !pairs_given)
		fo.n_pairs = 0;
	if (fo.version == 11 && !items_given)
		fo.item_count = SMEM_ITEM_COUNT;
	fo.phys_base = c.phys_base;

	/* Check the options first, so that a mistake leaves an existing file alone. */
	err = check_options(c.image, &fo, size, items_given);
	if (err)
		return err;
	err = smem_format(NULL, (size_t)size, &fo);
	if (err == -ENOSPC) {
		uint64_t need = smallest_size(&fo);
		char msg[200];

		if (need)
			snprintf(msg, sizeof(msg), "the partitions do not fit in %" PRIu64 " KiB; with "
						   "these options the smallest image is %" PRIu64 " KiB",
				 size >> 10, need >> 10);
		else
			snprintf(msg, sizeof(msg), "the partitions do not fit in any region up to 4 GiB");
		return fail(c.image, err, msg);
	}
	if (err < 0)
		return fail(c.image, err, "these options do not make an image");
	err = smem_region_open(c.image, (size_t)size,
			       SMEM_REGION_CREATE | (force ? 0 : SMEM_REGION_LOCK_EX), &r);
	if (err == -EBUSY && force)
		return fail(c.image, err, "another process is editing the image offline");
	if (err == -EBUSY)
		return fail(c.image, err, "a live process has the image attached; formatting would "
					  "reset its items, lock bank and host table under it "
					  "(--force formats anyway)");
	if (err < 0)
		return fail_image(c.image, err, NULL);
	err = smem_format(smem_region_base(r), (size_t)size, &fo);
	/* The image stays locked until its bank is reset too: nobody attaches between. */
	if (err == 0 && !no_hwlock) {
		char lockpath[PATH_MAX];
		struct smem_hwlock_opts ho;
		struct smem_hwlock *h;

		if (snprintf(lockpath, sizeof(lockpath), "%s.hwlock", c.image) >= (int)sizeof(lockpath)) {
			smem_region_close(r);
			return fail(c.image, -ENAMETOOLONG, NULL);
		}
		smem_hwlock_opts_init(&ho);
		ho.flags = SMEM_HWLOCK_CREATE;
		ho.stride = (unsigned)stride;
		err = smem_hwlock_open(lockpath, &ho, &h);
		if (err < 0) {
			smem_region_close(r);
			return fail(lockpath, err, NULL);
		}
		smem_hwlock_close(h);
	}
	smem_region_close(r);
	if (err < 0)
		return fail(c.image, err, NULL);
	return EXIT_OK;
}
