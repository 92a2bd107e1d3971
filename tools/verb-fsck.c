// SPDX-License-Identifier: MIT
#include "smemctl.h"

static const char usage[] = "usage: smemctl fsck [--json] [IMAGE]\n"
			    "Check every invariant of IMAGE. Exit 0 if clean, 1 with the findings.\n";

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
	static const struct option longopts[] = { COMMON_OPTIONS, { 0 } };
	struct common c = COMMON_INIT("fsck", usage);
	struct findings f = { 0 };
	struct smem_region *r;
	int err;

	OPTIONS_BEGIN(c, longopts)
	OPTIONS_END(c)
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
		printf("],\"clean\":%s}\n", err == 0 ? "true" : "false");
	else if (err == 0)
		printf("%s: clean\n", c.image);
	else
		fprintf(stderr, "smemctl: %s: %d finding%s\n", c.image, err, err == 1 ? "" : "s");
	return err == 0 ? EXIT_OK : EXIT_ERR;
}
