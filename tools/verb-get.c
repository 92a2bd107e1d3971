// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl get --item N [--host HOST|any] [--as HOST] [--raw | --json] [IMAGE]\n"
	"Show an item as a hex dump, as raw bytes on stdout (--raw), or as JSON.\n";

enum { O_ITEM = OPT_VERB_FIRST, O_RAW };

int verb_get(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "item", required_argument, NULL, O_ITEM },
		{ "raw", no_argument, NULL, O_RAW },
		{ 0 },
	};
	struct common c = COMMON_INIT("get", usage);
	uint64_t item = UINT64_MAX, phys;
	bool raw = false;
	struct smem_stat st;
	struct smem *s;
	size_t size;
	void *p;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_ITEM:
		if (!parse_u64(optarg, 0xffff, &item))
			return usage_error(c.verb, "bad --item '%s'", optarg), EXIT_USAGE;
		break;
	case O_RAW:
		raw = true;
		break;
	OPTIONS_END(c)
	if (item == UINT64_MAX)
		return usage_error(c.verb, "--item is required"), EXIT_USAGE;
	if (raw && c.json)
		return usage_error(c.verb, "--raw and --json exclude each other"), EXIT_USAGE;
	r = open_ro(&c, &s);
	if (r)
		return r;
	smem_stat(s, &st);
	r = smem_item_get(s, c.host, (unsigned)item, &p, &size);
	if (r < 0) {
		char msg[128];

		if (r == -ENOENT)
			snprintf(msg, sizeof(msg), "item %" PRIu64 " is not allocated", item);
		else if (r == -EINVAL)
			snprintf(msg, sizeof(msg), "item %" PRIu64 " is not below the item count %u",
				 item, st.item_count);
		else
			snprintf(msg, sizeof(msg), "item %" PRIu64 ": %s (run smemctl fsck)", item,
				 r == -EBADMSG ? "the partition is corrupt" : "lookup failed");
		smem_close(s);
		return fail(c.image, r, msg);
	}
	smem_virt_to_phys(s, p, &phys);
	if (raw) {
		const uint8_t *b = p;

		for (size_t done = 0; done < size;) {
			ssize_t n = write(STDOUT_FILENO, b + done, size - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				smem_close(s);
				return fail("stdout", -errno, NULL);
			}
			done += (size_t)n;
		}
	} else if (c.json) {
		printf("{\"item\":%" PRIu64 ",\"size\":%zu,\"offset\":%" PRIu64 ",\"data\":\"", item,
		       size, phys);
		for (size_t i = 0; i < size; i++)
			printf("%02x", ((const uint8_t *)p)[i]);
		printf("\"}\n");
	} else {
		printf("item %" PRIu64 ", %zu bytes at 0x%" PRIx64 "\n", item, size, phys);
		hexdump(stdout, p, size, phys);
	}
	smem_close(s);
	return EXIT_OK;
}
