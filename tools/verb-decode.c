// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "smem/decode.h"
#include "smemctl.h"

static const char usage[] =
	"usage: smemctl decode [--item N] [--host HOST|any] [--json] [IMAGE]\n"
	"Decode the well-known items: socinfo (137), the image version table (469) and the\n"
	"crash-reason strings (421-425, 601, 626, 633, 640, 641). Every string is bounded\n"
	"by its field or item. --item decodes one of them only.\n";

enum { O_ITEM = OPT_VERB_FIRST };

static const unsigned known[] = { 137, 469, 421, 422, 423, 424, 425, 601, 626, 633, 640, 641 };

struct out {
	bool json;
	unsigned n; /* values printed in the current group */
};

static void emit(const char *key, const char *value, bool is_string, void *userdata)
{
	struct out *o = userdata;

	if (o->json) {
		printf("%s", o->n ? "," : "");
		json_str(stdout, key);
		putchar(':');
		if (is_string)
			json_str(stdout, value);
		else
			fputs(value, stdout);
	} else {
		printf("  %-28s %s\n", key, value);
	}
	o->n++;
}

static void diag_print(const char *msg, void *userdata)
{
	fprintf(stderr, "smemctl: %s: %s\n", (const char *)userdata, msg);
}

int verb_decode(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "item", required_argument, NULL, O_ITEM },
		{ 0 },
	};
	struct common c = COMMON_INIT("decode", usage);
	struct out o = { 0 };
	uint64_t only = UINT64_MAX;
	unsigned groups = 0;
	bool bad = false;
	struct smem *s;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_ITEM:
		if (!parse_u64(optarg, 0xffff, &only))
			return usage_error(c.verb, "bad --item '%s'", optarg), EXIT_USAGE;
		break;
	OPTIONS_END(c)
	if (only != UINT64_MAX) {
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]) && known[i] != only; i++)
			;
		if (i == sizeof(known) / sizeof(known[0]))
			return usage_error(c.verb, "no decoder for item %" PRIu64 "; use smemctl get",
					   only),
			       EXIT_USAGE;
	}
	r = open_ro(&c, &s);
	if (r)
		return r;
	o.json = c.json;
	if (c.json)
		printf("{");
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		unsigned item = known[i];
		struct smem__diag d = { .fn = diag_print, .userdata = (void *)c.image };
		char title[64];
		size_t size;
		void *p;

		if (only != UINT64_MAX && item != only)
			continue;
		r = smem_item_get(s, c.host, item, &p, &size);
		if (r == -ENOENT || r == -EINVAL) {
			if (only != UINT64_MAX) {
				fprintf(stderr, "smemctl: %s: item %u is not allocated\n", c.image, item);
				bad = true;
			}
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "smemctl: %s: item %u: the image is corrupt (run smemctl fsck)\n",
				c.image, item);
			bad = true;
			continue;
		}
		if (item == 137)
			snprintf(title, sizeof(title), "socinfo");
		else if (item == 469)
			snprintf(title, sizeof(title), "image_versions");
		else
			snprintf(title, sizeof(title), "crash_reason.%s", smem__crash_reason_name(item));
		if (c.json) {
			printf("%s", groups ? "," : "");
			json_str(stdout, title);
			printf(":{\"item\":%u", item);
		} else {
			printf("%s (item %u, %zu bytes)\n", title, item, size);
		}
		o.n = 1; /* the "item" key above */
		if (!c.json)
			o.n = 0;
		if (item == 137)
			r = smem__decode_socinfo(p, size, emit, &o, &d);
		else if (item == 469)
			r = smem__decode_image_versions(p, size, emit, &o, &d);
		else
			r = smem__decode_string(p, size, emit, &o);
		if (r < 0)
			bad = true;
		if (c.json)
			printf("}");
		groups++;
	}
	if (c.json)
		printf("}\n");
	else if (!groups && only == UINT64_MAX)
		printf("no well-known items in %s\n", c.image);
	smem_close(s);
	return bad ? EXIT_ERR : EXIT_OK;
}
