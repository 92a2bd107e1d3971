// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
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

/* Whether IMAGE.hwlock exists; an error other than "missing" counts as there. */
static bool bank_exists(const char *image)
{
	char name[PATH_MAX], path[PATH_MAX];
	struct stat st;

	if (snprintf(name, sizeof(name), "%s.hwlock", image) >= (int)sizeof(name) ||
	    smem_region_path(name, path, sizeof(path)) < 0)
		return true;
	return stat(path, &st) == 0 || errno != ENOENT;
}

/* Say why item @item of @size bytes could not be allocated. */
static void alloc_error(struct smem *s, const struct common *c, unsigned item, size_t size, int r,
			char *buf, size_t len)
{
	struct smem_stat st;
	size_t room;

	switch (r) {
	case -EEXIST:
		snprintf(buf, len, "item %u already exists", item);
		break;
	case -EINVAL:
		if (item < SMEM_ITEM_LAST_FIXED)
			snprintf(buf, len, "item %u is a fixed item: items below %u belong to the "
					   "bootloader", item, SMEM_ITEM_LAST_FIXED);
		else if (smem_stat(s, &st) == 0)
			snprintf(buf, len, "item %u is not below the item count %u", item,
				 st.item_count);
		else
			snprintf(buf, len, "item %u is not below the item count", item);
		break;
	case -ENOSPC:
	case -ENOMEM:
		if (smem_free_space(s, c->host, &room) == 0)
			snprintf(buf, len, "item %u of %zu bytes does not fit: %zu bytes are free there "
					   "(each item also takes a header and rounds up to 8)",
				 item, size, room);
		else
			snprintf(buf, len, "item %u of %zu bytes does not fit in the free space", item,
				 size);
		break;
	case -ETIMEDOUT:
		snprintf(buf, len, "item %u could not be allocated: lock 3 stayed held for %u ms "
				   "(see smemctl locks)", item, SMEM_HWLOCK_TIMEOUT_MS);
		break;
	case -EBADMSG:
		snprintf(buf, len, "item %u could not be allocated: the image is corrupt (run "
				   "smemctl fsck)", item);
		break;
	case -EOPNOTSUPP:
		snprintf(buf, len, "item %u cannot go in a cached list there (the version-11 heap "
				   "has none, nor has a partition with cacheline 0)", item);
		break;
	default:
		snprintf(buf, len, "item %u could not be allocated: %s", item, strerror(-r));
	}
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
	bool offline;
	char err[256] = "";
	struct smem *s;
	void *p;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_ITEM:
		if (opt_number(c.verb, "--item", optarg, 0, 0xffff, false, &item) < 0)
			return EXIT_USAGE;
		break;
	case O_SIZE:
		if (opt_number(c.verb, "--size", optarg, 0, UINT32_MAX, true, &size) < 0)
			return EXIT_USAGE;
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
		if (opt_number(c.verb, "--fill", optarg, 0, 255, false, &fill) < 0)
			return EXIT_USAGE;
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
		if (opt_hex(c.verb, "--hex", hex, MAX_CONTENTS, &contents, &len) < 0)
			return EXIT_USAGE;
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
	/* No lock bank (a dump, another tool's image): edit it offline, alone. */
	offline = !bank_exists(c.image);
	if (offline)
		o.flags |= SMEM_OPEN_OFFLINE;
	r = smem_open(c.image, c.as, &o, &s);
	if (r == -EBUSY && offline) {
		free(contents);
		return fail(c.image, r, "a live process has the image attached; without a lock bank "
					"smemctl can only edit an image that nobody has attached");
	}
	if (r < 0) {
		free(contents);
		return fail_image(c.image, r, err);
	}
	r = smem_item_alloc(s, c.host, (unsigned)item, (size_t)size, cached ? SMEM_ITEM_CACHED : 0);
	if (r >= 0) /* SMEM_RECOVERED too: allocated after a repair */
		r = smem_item_get(s, c.host, (unsigned)item, &p, NULL);
	if (r < 0) {
		char msg[256];

		alloc_error(s, &c, (unsigned)item, (size_t)size, r, msg, sizeof(msg));
		free(contents);
		smem_close(s);
		return fail(c.image, r, msg);
	}
	if (contents)
		memcpy(p, contents, len);
	else if (do_fill)
		memset(p, (int)fill, (size_t)size);
	free(contents);
	smem_close(s);
	if (offline)
		printf("%s: allocated item %" PRIu64 " offline: there is no lock bank, so the image "
		       "was locked for smemctl alone while it ran\n",
		       c.image, item);
	return EXIT_OK;
}
