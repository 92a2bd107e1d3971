// SPDX-License-Identifier: MIT
/*
 * smemctl: format, inspect, decode and repair SMEM images and their lock banks.
 * Exit codes: 0 ok, 1 error, 2 usage.
 */
#include "smemctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "format", verb_format, "create and format an image and its lock bank" },
	{ "info", verb_info, "show the header, partitions and free space" },
	{ "ls", verb_ls, "list every item of every partition" },
	{ "alloc", verb_alloc, "allocate an item, optionally with contents" },
	{ "get", verb_get, "show an item (hex dump, or --raw bytes)" },
	{ "fsck", verb_fsck, "check every invariant; exit 1 with the findings" },
	{ "decode", verb_decode, "decode socinfo, image versions and crash reasons" },
	{ "locks", verb_locks, "show the owner of each hardware spinlock" },
	{ "bust", verb_bust, "release a lock held by a given host" },
	{ "msgq", verb_msgq, "create, send to, receive from and inspect a message queue" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: smemctl VERB [OPTIONS] [IMAGE]\n\n"
		   "IMAGE is a path, or a name under " SMEM_REGION_DIR " (default: " DEFAULT_IMAGE
		   ").\nVerbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nsmemctl VERB --help shows a verb's options; man smemctl(1) has them all.\n");
}

int usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smemctl %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'smemctl %s --help'.\n", verb);
	return -1;
}

int fail(const char *what, int err, const char *detail)
{
	if (detail && *detail)
		fprintf(stderr, "smemctl: %s: %s\n", what, detail);
	else
		fprintf(stderr, "smemctl: %s: %s\n", what, strerror(-err));
	return EXIT_ERR;
}

bool parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	/* Decimal, or hexadecimal with 0x: "010" is ten, not eight. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (end == s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && end == s + 2))
		return false;
	if (errno || *end || v > max)
		return false;
	*ret = v;
	return true;
}

bool parse_size(const char *s, uint64_t *ret)
{
	char buf[64], *end;
	uint64_t mult = 1, v;
	size_t n;

	if (!s || (n = strlen(s)) == 0 || n >= sizeof(buf))
		return false;
	strcpy(buf, s);
	end = buf + n - 1;
	switch (*end) {
	case 'k': case 'K': mult = 1ull << 10; *end = '\0'; break;
	case 'm': case 'M': mult = 1ull << 20; *end = '\0'; break;
	case 'g': case 'G': mult = 1ull << 30; *end = '\0'; break;
	}
	if (!parse_u64(buf, UINT64_MAX / mult, &v))
		return false;
	*ret = v * mult;
	return true;
}

bool parse_host(const char *s, unsigned *ret)
{
	uint64_t v;

	if (s && (!strcmp(s, "any") || !strcmp(s, "-1"))) {
		*ret = SMEM_HOST_ANY;
		return true;
	}
	if (!parse_u64(s, SMEM_HWLOCK_MAX_HOST, &v))
		return false;
	*ret = (unsigned)v;
	return true;
}

int common_option(struct common *c, int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case OPT_JSON:
		c->json = true;
		return 1;
	case OPT_AS:
		if (!parse_u64(arg, SMEM_HOST_COUNT - 1, &v))
			return usage_error(c->verb, "--as needs a host id below %u", SMEM_HOST_COUNT);
		c->as = (unsigned)v;
		return 1;
	case OPT_HOST:
		if (!parse_host(arg, &c->host))
			return usage_error(c->verb, "--host needs a host id or 'any', not '%s'", arg);
		return 1;
	case OPT_BASE:
		if (!parse_u64(arg, UINT64_MAX, &c->phys_base))
			return usage_error(c->verb, "--phys-base needs an address, not '%s'", arg);
		return 1;
	}
	return 0;
}

int common_operand(struct common *c, int argc, char **argv)
{
	if (optind < argc)
		c->image = argv[optind++];
	if (optind < argc)
		return usage_error(c->verb, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int open_ro(const struct common *c, struct smem **ret)
{
	struct smem_open_opts o;
	char err[256] = "";
	int r;

	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_RDONLY;
	o.phys_base = c->phys_base;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(c->image, c->as, &o, ret);
	if (r < 0)
		return fail(c->image, r, err);
	return 0;
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void hexdump(FILE *f, const uint8_t *p, size_t n, uint64_t base)
{
	for (size_t i = 0; i < n; i += 16) {
		fprintf(f, "%08" PRIx64 "  ", base + i);
		for (size_t j = 0; j < 16; j++) {
			if (i + j < n)
				fprintf(f, "%02x ", p[i + j]);
			else
				fputs("   ", f);
			if (j == 7)
				fputc(' ', f);
		}
		fputs(" |", f);
		for (size_t j = 0; j < 16 && i + j < n; j++)
			fputc(p[i + j] >= 0x20 && p[i + j] < 0x7f ? p[i + j] : '.', f);
		fputs("|\n", f);
	}
}

const char *host_name(unsigned host)
{
	static const char *const names[] = { "apps", "modem", "adsp", "dsps", "wcnss",
					     "cdsp", "rpm",   "tz",   "spss", "hyp" };

	if (host == SMEM_GLOBAL_HOST)
		return "global";
	return host < sizeof(names) / sizeof(names[0]) ? names[host] : "";
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("smemctl %s\n", SMEMKIT_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name)) {
			int r = verbs[i].fn(argc - 1, argv + 1);

			if (fflush(stdout) != 0 && r == EXIT_OK)
				return fail("stdout", -errno, NULL);
			return r;
		}
	fprintf(stderr, "smemctl: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
