// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "smemctl.h"

static const char usage[] =
	"usage: smemctl get --item N [--host HOST|any] [--as HOST] [--raw | --json] [IMAGE]\n"
	"Show an item as a hex dump, as raw bytes on stdout (--raw), or as JSON.\n";

enum { O_ITEM = OPT_VERB_FIRST, O_RAW };

struct where {
	unsigned item;
	unsigned as;
	bool any; /* --host any looked already */
	char *buf;
	size_t len;
	size_t used;
};

static int where_found(const struct smem_item_info *it, void *userdata)
{
	struct where *w = userdata;
	int n;

	if (it->item != w->item)
		return 0;
	if (it->global_heap || it->host0 == SMEM_GLOBAL_HOST)
		n = w->any ? 0 : snprintf(w->buf + w->used, w->len - w->used, "%s--host any",
					  w->used ? " or " : "");
	else if (it->host0 == w->as || it->host1 == w->as)
		n = snprintf(w->buf + w->used, w->len - w->used, "%s--host %u", w->used ? " or " : "",
			     it->host0 == w->as ? it->host1 : it->host0);
	else
		n = snprintf(w->buf + w->used, w->len - w->used, "%s--as %u --host %u",
			     w->used ? " or " : "", it->host0, it->host1);
	if (n > 0 && (size_t)n < w->len - w->used)
		w->used += (size_t)n;
	return 0;
}

/* Not where --host looked: say which --host (and --as) finds it, if any. */
static void not_found(struct smem *s, const struct common *c, unsigned item, char *buf, size_t len)
{
	char found[160] = "";
	struct where w = { .item = item, .as = c->as, .any = c->host == SMEM_HOST_ANY, .buf = found,
			   .len = sizeof(found) };

	smem_item_foreach(s, where_found, &w);
	if (w.used)
		snprintf(buf, len, "item %u is not allocated %s; it is elsewhere: use %s", item,
			 w.any ? "in the global partition or heap" : "in that partition", found);
	else
		snprintf(buf, len, "item %u is not allocated", item);
}

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
		if (opt_number(c.verb, "--item", optarg, 0, 0xffff, false, &item) < 0)
			return EXIT_USAGE;
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
		char msg[256];

		if (r == -ENOENT)
			not_found(s, &c, (unsigned)item, msg, sizeof(msg));
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
		printf("{\"item\":%" PRIu64 ",\"size\":%zu,\"offset\":%" PRIu64 ",\"phys\":%" PRIu64
		       ",\"data\":\"",
		       item, size, phys - c.phys_base, phys);
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
