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
#include <sys/stat.h>

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
	{ "status", verb_status, "ask smemd for its hosts, their states and queues" },
	{ "dump", verb_dump, "write smemd's whole image to a file" },
	{ "top", verb_top, "watch smemd's queues and locks, refreshed until 'q'" },
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

void bad_option(const struct common *c, int opt, const char *arg)
{
	if (opt == ':')
		usage_error(c->verb, "option '%s' needs a value", arg);
	else
		usage_error(c->verb, "unknown option '%s'", arg);
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

int opt_number(const char *verb, const char *opt, const char *arg, uint64_t min, uint64_t max,
	       bool size, uint64_t *ret)
{
	uint64_t v;

	if (!(size ? parse_size(arg, &v) : parse_u64(arg, UINT64_MAX, &v)))
		return usage_error(verb, "%s needs a %s (decimal, or hexadecimal with 0x), not '%s'",
				   opt, size ? "size (a number, optionally with K, M or G)" : "number",
				   arg);
	if (v < min || v > max)
		return usage_error(verb, "%s must be from %" PRIu64 " to %" PRIu64 ", not '%s'", opt,
				   min, max, arg);
	*ret = v;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int opt_hex(const char *verb, const char *opt, const char *arg, size_t max, uint8_t **ret,
	    size_t *ret_len)
{
	size_t n = strlen(arg);
	uint8_t *b;

	for (size_t i = 0; i < n; i++)
		if (hexval(arg[i]) < 0)
			return usage_error(verb, "%s: '%c' is not a hex digit (0-9, a-f)", opt, arg[i]);
	if (n % 2)
		return usage_error(verb, "%s needs two hex digits per byte; '%s' has %zu digits", opt,
				   arg, n);
	if (n / 2 > max)
		return usage_error(verb, "%s gives %zu bytes; at most %zu fit", opt, n / 2, max);
	b = malloc(n / 2 + 1);
	if (!b) {
		fail(opt, -ENOMEM, NULL);
		return -1;
	}
	for (size_t i = 0; i < n / 2; i++)
		b[i] = (uint8_t)(hexval(arg[2 * i]) << 4 | hexval(arg[2 * i + 1]));
	*ret = b;
	*ret_len = n / 2;
	return 0;
}

int fail_image(const char *image, int err, const char *detail)
{
	char path[4096];
	struct stat st;

	if (smem_region_path(image, path, sizeof(path)) < 0)
		return fail(image, err, detail);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && !strchr(image, '/'))
			fprintf(stderr, "smemctl: %s: no region %s (a name without a '/' is a region "
					"under " SMEM_REGION_DIR "; write ./%s for a file here)\n",
				image, path, image);
		else
			fprintf(stderr, "smemctl: %s: %s\n", image, strerror(errno));
		return EXIT_ERR;
	}
	if (S_ISDIR(st.st_mode))
		return fail(image, err, "is a directory, not an image");
	if (!S_ISREG(st.st_mode))
		return fail(image, err, "is not a regular file (an image is a file of at least 16 KiB)");
	if (st.st_size == 0)
		return fail(image, err, "is empty (0 bytes): not an image; smemctl format makes one");
	if ((uint64_t)st.st_size > SMEM_REGION_MAX_SIZE)
		return fail(image, err, "is larger than 4 GiB, the largest SMEM region");
	return fail(image, err, detail);
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
		c->host_arg = arg;
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
	if (!*c->image)
		return usage_error(c->verb, "IMAGE is an empty string; give a name or a path");
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
		return fail_image(c->image, r, err);
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
