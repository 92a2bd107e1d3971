// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smem/smem-internal.h"
#include "smemctl.h"

static const char usage[] =
	"usage: smemctl fsck [--json] [--repair [--as HOST]] [IMAGE]\n"
	"Check every invariant of IMAGE. Exit 0 if clean, 1 with the findings.\n"
	"  --repair   first repair what a crashed allocator can leave, as host --as\n"
	"             (default 0): take lock 3, busting it if its holder is dead, and\n"
	"             finish or undo a half-done global-heap allocation\n";

enum { O_REPAIR = OPT_VERB_FIRST };

/* Return: 0 with *ret filled in, or EXIT_ERR after printing why. */
static int repair(const struct common *c, struct smem__repairs *ret)
{
	struct smem_open_opts o;
	char err[256] = "", who[160];
	struct smem_hwlock *bank;
	struct owner_info before = { .alive = -1 };
	unsigned held = 0, v = 0;
	struct smem *s;
	int r;

	/* Who held lock 3 before: the report names the dead holder whose lock was taken. */
	if (open_bank(c->image, NULL, false, &bank) == 0) {
		smem_hwlock_owner(bank, SMEM_HWLOCK_ID, &held);
		owner_info(bank, SMEM_HWLOCK_ID, held, &before);
		smem_hwlock_close(bank);
	} else {
		return EXIT_ERR;
	}
	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_BUST_DEAD;
	o.phys_base = c->phys_base;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(c->image, c->as, &o, &s);
	if (r < 0)
		return fail_image(c->image, r, err);
	r = smem__recover_report(s, ret);
	if (r >= 0 && !ret->busted && held == c->as + 1 && before.alive == 0)
		ret->busted = held;
	if (r == -ETIMEDOUT) {
		struct smem_stat st;

		smem_stat(s, &st);
		smem_hwlock_owner(st.hwlock, SMEM_HWLOCK_ID, &v);
		describe_owner(st.hwlock, SMEM_HWLOCK_ID, v, who, sizeof(who));
		snprintf(err, sizeof(err), "lock 3 stayed held for %u ms by %s; nothing was repaired",
			 SMEM_HWLOCK_TIMEOUT_MS, who);
	}
	smem_close(s);
	if (r < 0)
		return fail(c->image, r, r == -ETIMEDOUT ? err : NULL);
	return 0;
}

struct findings {
	bool json;
	unsigned errors;
	unsigned warnings;
	char **warning; /* --json: the warnings, printed after the errors */
	bool oom;
};

static bool is_warning(const char *msg)
{
	return strncmp(msg, SMEM_CHECK_WARNING, strlen(SMEM_CHECK_WARNING)) == 0;
}

static void report(const char *msg, void *userdata)
{
	struct findings *f = userdata;

	if (is_warning(msg)) {
		if (f->json) {
			char **w = realloc(f->warning, (f->warnings + 1) * sizeof(*w));
			char *copy = strdup(msg + strlen(SMEM_CHECK_WARNING));

			if (!w || !copy) {
				free(copy);
				if (w)
					f->warning = w;
				f->oom = true;
				return;
			}
			f->warning = w;
			f->warning[f->warnings] = copy;
		} else {
			printf("%s\n", msg);
		}
		f->warnings++;
		return;
	}
	if (f->json) {
		printf("%s", f->errors ? "," : "");
		json_str(stdout, msg);
	} else {
		printf("%s\n", msg);
	}
	f->errors++;
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
	struct smem__repairs rep = { 0 };
	bool do_repair = false;
	char busted[32] = "null", warned[32] = "";
	int err;

	OPTIONS_BEGIN(c, longopts)
	case O_REPAIR:
		do_repair = true;
		break;
	OPTIONS_END(c)
	if (do_repair) {
		err = repair(&c, &rep);
		if (err)
			return err;
		if (rep.busted)
			snprintf(busted, sizeof(busted), "%u", rep.busted - 1);
		if (!c.json && rep.busted)
			printf("repaired: busted lock 3, held by host %u, whose process is dead\n",
			       rep.busted - 1);
		if (!c.json && rep.heap)
			printf("repaired: the global heap's counters, left half-updated by a crashed "
			       "allocation\n");
		if (!c.json && !rep.busted && !rep.heap)
			printf("nothing to repair\n");
	}
	err = smem_region_open(c.image, 0, SMEM_REGION_RDONLY, &r);
	if (err < 0)
		return fail_image(c.image, err, NULL);
	f.json = c.json;
	if (c.json) {
		printf("{\"image\":");
		json_str(stdout, c.image);
		printf(",\"findings\":[");
	}
	err = smem_check(smem_region_base(r), smem_region_size(r), report, &f);
	smem_region_close(r);
	if (err < 0)
		return fail_image(c.image, err, NULL);
	if (f.warnings)
		snprintf(warned, sizeof(warned), "%u warning%s", f.warnings, f.warnings == 1 ? "" : "s");
	if (c.json) {
		printf("],\"warnings\":[");
		for (unsigned i = 0; i < f.warnings; i++) {
			printf("%s", i ? "," : "");
			json_str(stdout, f.warning[i]);
			free(f.warning[i]);
		}
		free(f.warning);
		printf("],\"repairs\":%u,\"busted_host\":%s,\"heap_repairs\":%u,\"clean\":%s}\n",
		       (rep.busted != 0) + rep.heap, busted, rep.heap, f.errors == 0 ? "true" : "false");
	} else if (f.errors == 0) {
		printf("%s: clean%s%s%s\n", c.image, rep.busted || rep.heap ? " after repair" : "",
		       f.warnings ? ", " : "", warned);
	} else {
		fprintf(stderr, "smemctl: %s: %u finding%s%s%s\n", c.image, f.errors,
			f.errors == 1 ? "" : "s", f.warnings ? " and " : "", warned);
	}
	if (f.oom)
		return fail(c.image, -ENOMEM, "not every warning could be kept for the JSON");
	return f.errors == 0 ? EXIT_OK : EXIT_ERR;
}
