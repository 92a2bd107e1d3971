// SPDX-License-Identifier: MIT
#include <errno.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl fsck [--json] [--repair [--as HOST]] [IMAGE]\n"
	"Check every invariant of IMAGE. Exit 0 if clean, 1 with the findings.\n"
	"  --repair   first repair what a crashed allocator can leave, as host --as\n"
	"             (default 0): take lock 3, busting it if its holder is dead, and\n"
	"             finish or undo a half-done global-heap allocation\n";

enum { O_REPAIR = OPT_VERB_FIRST };

/* Return: the number of repairs, or EXIT_ERR negated after printing why. */
static int repair(const struct common *c)
{
	struct smem_open_opts o;
	char err[256] = "";
	struct smem *s;
	int r;

	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_BUST_DEAD;
	o.phys_base = c->phys_base;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(c->image, c->as, &o, &s);
	if (r < 0)
		return -fail(c->image, r, err);
	r = smem_recover(s);
	smem_close(s);
	if (r == -ETIMEDOUT)
		return -fail(c->image, r, "lock 3 is held by a live host (see smemctl locks)");
	if (r < 0)
		return -fail(c->image, r, NULL);
	return r;
}

struct findings {
	bool json;
	unsigned n;
};

static void report(const char *msg, void *userdata)
{
	struct findings *f = userdata;

	if (f->json) {
		printf("%s", f->n ? "," : "");
		json_str(stdout, msg);
	} else {
		printf("%s\n", msg);
	}
	f->n++;
}

int verb_fsck(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "repair", no_argument, NULL, O_REPAIR },
		{ 0 },
	};
	struct common c = COMMON_INIT("fsck", usage);
	struct findings f = { 0 };
	struct smem_region *r;
	bool do_repair = false;
	int err, repairs = 0;

	OPTIONS_BEGIN(c, longopts)
	case O_REPAIR:
		do_repair = true;
		break;
	OPTIONS_END(c)
	if (do_repair) {
		repairs = repair(&c);
		if (repairs < 0)
			return -repairs;
	}
	err = smem_region_open(c.image, 0, SMEM_REGION_RDONLY, &r);
	if (err < 0)
		return fail(c.image, err, NULL);
	f.json = c.json;
	if (c.json) {
		printf("{\"image\":");
		json_str(stdout, c.image);
		printf(",\"findings\":[");
	}
	err = smem_check(smem_region_base(r), smem_region_size(r), report, &f);
	smem_region_close(r);
	if (c.json)
		printf("],\"repairs\":%d,\"clean\":%s}\n", repairs, err == 0 ? "true" : "false");
	else if (err == 0)
		printf("%s: clean%s\n", c.image, repairs ? " after repair" : "");
	else
		fprintf(stderr, "smemctl: %s: %d finding%s\n", c.image, err, err == 1 ? "" : "s");
	return err == 0 ? EXIT_OK : EXIT_ERR;
}
