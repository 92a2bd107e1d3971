// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl alloc --item N [--size SIZE] [CONTENTS] [--host HOST|any] [--as HOST]\n"
	"                     [--cached] [IMAGE]\n"
	"Allocate an item as host --as (default 0) in its partition with --host (default the\n"
	"global partition or heap), then write its contents. CONTENTS is one of:\n"
	"  --data FILE     the bytes of FILE ('-' for stdin)\n"
	"  --string TEXT   TEXT and a terminating NUL\n"
	"  --hex HEX       bytes written as hex digits\n"
	"  --fill BYTE     every byte set to BYTE\n"
	"The size defaults to the length of the contents.\n"
	"  --cached        allocate in the cached list, as some remote processors do\n";

enum { O_ITEM = OPT_VERB_FIRST, O_SIZE, O_DATA, O_STRING, O_HEX, O_FILL, O_CACHED };

#define MAX_CONTENTS (64u << 20)

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	size_t len = 0, cap = 4096;
	uint8_t *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	for (;;) {
		ssize_t n;

		if (!buf)
			break;
		if (len == cap) {
			uint8_t *nb = cap < MAX_CONTENTS ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;

			free(buf);
			if (fd != STDIN_FILENO)
				close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (!buf)
		return -EFBIG;
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int parse_hex(const char *s, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	uint8_t *b;

	if (n % 2)
		return -EINVAL;
	b = malloc(n / 2 + 1);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		char pair[3] = { s[2 * i], s[2 * i + 1], 0 };
		char *end;

		b[i] = (uint8_t)strtoul(pair, &end, 16);
		if (*end || pair[0] == '+' || pair[0] == '-' || pair[0] == ' ') {
			free(b);
			return -EINVAL;
		}
	}
	*ret = b;
	*ret_len = n / 2;
	return 0;
}

int verb_alloc(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "item", required_argument, NULL, O_ITEM },
		{ "size", required_argument, NULL, O_SIZE },
		{ "data", required_argument, NULL, O_DATA },
		{ "string", required_argument, NULL, O_STRING },
		{ "hex", required_argument, NULL, O_HEX },
		{ "fill", required_argument, NULL, O_FILL },
		{ "cached", no_argument, NULL, O_CACHED },
		{ 0 },
	};
	struct common c = COMMON_INIT("alloc", usage);
	uint64_t item = UINT64_MAX, size = UINT64_MAX, fill = 0;
	const char *data_path = NULL, *string = NULL, *hex = NULL;
	bool cached = false, do_fill = false;
	int sources = 0;
	uint8_t *contents = NULL;
	size_t len = 0;
	struct smem_open_opts o;
	char err[256] = "";
	struct smem *s;
	void *p;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_ITEM:
		if (!parse_u64(optarg, 0xffff, &item))
			return usage_error(c.verb, "bad --item '%s'", optarg), EXIT_USAGE;
		break;
	case O_SIZE:
		if (!parse_size(optarg, &size) || size > UINT32_MAX)
			return usage_error(c.verb, "bad --size '%s'", optarg), EXIT_USAGE;
		break;
	case O_DATA:
		data_path = optarg;
		sources++;
		break;
	case O_STRING:
		string = optarg;
		sources++;
		break;
	case O_HEX:
		hex = optarg;
		sources++;
		break;
	case O_FILL:
		if (!parse_u64(optarg, 255, &fill))
			return usage_error(c.verb, "--fill needs a byte value"), EXIT_USAGE;
		do_fill = true;
		sources++;
		break;
	case O_CACHED:
		cached = true;
		break;
	OPTIONS_END(c)

	if (item == UINT64_MAX)
		return usage_error(c.verb, "--item is required"), EXIT_USAGE;
	if (sources > 1)
		return usage_error(c.verb, "give at most one of --data, --string, --hex, --fill"),
		       EXIT_USAGE;
	if (data_path) {
		r = read_all(data_path, &contents, &len);
		if (r < 0)
			return fail(data_path, r, NULL);
	} else if (string) {
		len = strlen(string) + 1;
		contents = (uint8_t *)strdup(string);
		if (!contents)
			return fail("--string", -ENOMEM, NULL);
	} else if (hex) {
		if (parse_hex(hex, &contents, &len) < 0)
			return usage_error(c.verb, "--hex needs an even number of hex digits"),
			       EXIT_USAGE;
	}
	if (size == UINT64_MAX) {
		if (!contents)
			return usage_error(c.verb, "give --size or the contents"), EXIT_USAGE;
		size = len;
	}
	if (len > size) {
		free(contents);
		return usage_error(c.verb, "the contents (%zu bytes) exceed --size %" PRIu64, len, size),
		       EXIT_USAGE;
	}

	smem_open_opts_init(&o);
	o.phys_base = c.phys_base;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(c.image, c.as, &o, &s);
	if (r < 0) {
		free(contents);
		return fail(c.image, r, err);
	}
	r = smem_item_alloc(s, c.host, (unsigned)item, (size_t)size, cached ? SMEM_ITEM_CACHED : 0);
	if (r >= 0) /* SMEM_RECOVERED too: allocated after a repair */
		r = smem_item_get(s, c.host, (unsigned)item, &p, NULL);
	if (r < 0) {
		const char *why = NULL;
		char msg[160];

		switch (r) {
		case -EEXIST: why = "already exists"; break;
		case -EINVAL: why = "is a fixed item or not below the item count"; break;
		case -ENOSPC:
		case -ENOMEM: why = "does not fit in the free space"; break;
		case -ETIMEDOUT: why = "could not be allocated: lock 3 stayed held (see smemctl locks)"; break;
		case -EBADMSG: why = "could not be allocated: the image is corrupt (run smemctl fsck)"; break;
		case -EOPNOTSUPP: why = "cannot go in a cached list there"; break;
		}
		snprintf(msg, sizeof(msg), "item %" PRIu64 " %s", item, why ? why : "failed");
		free(contents);
		smem_close(s);
		return fail(c.image, r, why ? msg : NULL);
	}
	if (contents)
		memcpy(p, contents, len);
	else if (do_fill)
		memset(p, (int)fill, (size_t)size);
	free(contents);
	smem_close(s);
	return EXIT_OK;
}
