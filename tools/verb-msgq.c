// SPDX-License-Identifier: MIT
/*
 * smemctl msgq: create a message queue in a region or an SMEM item, send and
 * receive messages on it, and show its thresholds and counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "smemctl.h"
#include "smemkit/msgq.h"

static const char usage[] =
	"usage: smemctl msgq ACTION [OPTIONS] [IMAGE]\n"
	"Actions:\n"
	"  create  [--depth N] [--msg-size N] [--notempty N|max] [--notfull N]\n"
	"          [--multi-send] [--multi-recv] [--doorbell futex|eventfd|poll] [--force]\n"
	"  send    (--string TEXT | --hex HEX) [--push] [--wait MS]\n"
	"  recv    [--raw | --json] [--wait MS] [--all]\n"
	"  stat    [--json]\n"
	"Where the queue lives:\n"
	"  --item N [--host HOST|any] [--as HOST]  an SMEM item of IMAGE (create allocates it)\n"
	"  otherwise IMAGE is a region file that holds only the queue (create makes it).\n"
	"A queue is created with depth 8 and messages of up to 240 bytes unless told.\n"
	"create refuses to replace a queue that holds messages unless --force is given.\n"
	"Queues with an eventfd doorbell can be used here, but smemctl cannot ring a\n"
	"peer's event loop: it has no eventfd of the peer's.\n";

enum {
	O_ITEM = OPT_VERB_FIRST,
	O_DEPTH,
	O_MSGSIZE,
	O_NOTEMPTY,
	O_NOTFULL,
	O_MSEND,
	O_MRECV,
	O_DOORBELL,
	O_STRING,
	O_HEX,
	O_PUSH,
	O_WAIT,
	O_RAW,
	O_ALL,
	O_FORCE,
};

struct args {
	uint64_t item;
	struct smem_msgq_config cfg;
	const char *string;
	const char *hex;
	bool push, raw, all, force;
	int wait_ms;
};

/* The queue's memory: an SMEM item or a whole region, and what keeps it mapped. */
struct place {
	struct smem *s;
	struct smem_region *r;
	void *mem;
	size_t size;
	int efd[2];
	char name[300]; /* IMAGE, or IMAGE item N: what messages name */
};

static void place_close(struct place *p)
{
	smem_close(p->s);
	smem_region_close(p->r);
	for (int i = 0; i < 2; i++)
		if (p->efd[i] >= 0)
			close(p->efd[i]);
}

/*
 * Map the queue's memory: writable for create, send and recv, a read-only
 * snapshot for stat (which needs no write access).
 */
static int place_open(const struct common *c, const struct args *a, bool create, bool writable,
		      struct place *p)
{
	size_t need = 0;
	int r;

	*p = (struct place){ .efd = { -1, -1 } };
	if (a->item != UINT64_MAX)
		snprintf(p->name, sizeof(p->name), "%s item %" PRIu64, c->image, a->item);
	else
		snprintf(p->name, sizeof(p->name), "%s", c->image);
	if (create)
		smem_msgq_size(a->cfg.depth, a->cfg.max_msg_size, &need);
	if (a->item != UINT64_MAX) {
		struct smem_open_opts o;
		char err[256] = "";

		smem_open_opts_init(&o);
		o.flags = writable ? 0 : SMEM_OPEN_RDONLY;
		o.errbuf = err;
		o.errbuf_size = sizeof(err);
		r = smem_open(c->image, c->as, &o, &p->s);
		if (r < 0)
			return fail_image(c->image, r, err);
		if (create) {
			r = smem_item_alloc(p->s, c->host, (unsigned)a->item, need, 0);
			if (r < 0) {
				place_close(p);
				return fail(p->name, r, r == -EEXIST ? "the item exists already; a queue "
								       "is created in a new item"
								     : NULL);
			}
		}
		r = smem_item_get(p->s, c->host, (unsigned)a->item, &p->mem, &p->size);
		if (r < 0) {
			place_close(p);
			return fail(p->name, r, r == -ENOENT ? "the item is not allocated" : NULL);
		}
	} else {
		unsigned flags = create ? SMEM_REGION_CREATE : writable ? 0 : SMEM_REGION_RDONLY;

		if (create && !a->force)
			flags |= SMEM_REGION_LOCK_EX;
		r = smem_region_open(c->image, need, flags, &p->r);
		if (r == -EBUSY && create)
			return fail(c->image, r, "a live process has the queue attached (--force "
						 "creates it anyway)");
		if (r < 0)
			return fail_image(c->image, r, NULL);
		p->mem = smem_region_base(p->r);
		p->size = smem_region_size(p->r);
	}
	return 0;
}

static int open_queue(struct place *p, unsigned ends, struct smem_msgq **ret)
{
	struct smem_msgq_opts o;
	size_t least = 0;
	char msg[160];
	int r;

	smem_msgq_size(1, 1, &least);
	if (p->size < least) {
		snprintf(msg, sizeof(msg), "not a message queue: %zu bytes is less than the smallest "
					   "queue (%zu bytes)", p->size, least);
		return fail(p->name, -EPROTO, msg);
	}
	smem_msgq_opts_init(&o);
	if (ends) {
		p->efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		p->efd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		o.rx_eventfd = p->efd[0];
		o.tx_eventfd = p->efd[1];
	}
	r = smem_msgq_open(p->mem, p->size, ends, &o, ret);
	if (r < 0)
		return fail(p->name, r,
			    r == -EPROTO    ? "not a message queue (smemctl msgq create makes one)"
			    : r == -EBADMSG ? "a message queue whose header is corrupt"
					    : NULL);
	return 0;
}

/*
 * Refuse to replace a queue that holds messages: create would drop them under
 * their receiver. Return: 0 to go on, or EXIT_ERR after saying why.
 */
static int check_replace(const struct common *c, const struct args *a)
{
	struct smem_msgq_stats st;
	struct smem_msgq *q;
	struct smem_region *r;
	char msg[200];
	int err;

	if (a->force || a->item != UINT64_MAX)
		return 0; /* an item is always new: alloc refuses one that exists */
	/* Alone with the file: no attached peer can send meanwhile, none loses its queue. */
	err = smem_region_open(c->image, 0, SMEM_REGION_LOCK_EX, &r);
	if (err == -EBUSY)
		return fail(c->image, err, "a live process has the queue attached; creating a queue "
					   "would pull it from under it (--force creates it anyway)");
	if (err < 0)
		return 0; /* nothing there, or nothing to lose: create says what is wrong */
	err = smem_msgq_open(smem_region_base(r), smem_region_size(r), 0, NULL, &q);
	if (err == 0) {
		smem_msgq_stat(q, &st);
		smem_msgq_close(q);
	}
	smem_region_close(r);
	if (err < 0 || st.count == 0)
		return 0;
	snprintf(msg, sizeof(msg), "the queue there holds %u message%s; creating a queue would "
				   "drop %s (--force creates it anyway)",
		 st.count, st.count == 1 ? "" : "s", st.count == 1 ? "it" : "them");
	return fail(c->image, -EEXIST, msg);
}

static int do_create(const struct common *c, const struct args *a)
{
	struct place p;
	uint8_t *scratch;
	size_t need;
	int r;

	/* Check everything before any file or item exists. */
	if (smem_msgq_size(a->cfg.depth, a->cfg.max_msg_size, &need) < 0)
		return usage_error(c->verb, "--depth must be 1..255 and --msg-size 1..1023"),
		       EXIT_USAGE;
	scratch = aligned_alloc(64, (need + 63) / 64 * 64);
	if (!scratch)
		return fail(c->image, -ENOMEM, NULL);
	r = smem_msgq_init(scratch, need, &a->cfg);
	free(scratch);
	if (r == -EINVAL)
		return fail(c->image, r, a->cfg.notfull_thd >= (int)a->cfg.depth
						 ? "--notfull must be below --depth"
						 : "--notempty must be from 1 to --depth");
	if (r < 0)
		return fail(c->image, r, NULL);
	r = check_replace(c, a);
	if (r)
		return r;

	r = place_open(c, a, true, true, &p);
	if (r)
		return r;
	r = smem_msgq_init(p.mem, p.size, &a->cfg);
	if (r < 0) {
		fail(p.name, r, NULL);
		place_close(&p);
		return EXIT_ERR;
	}
	place_close(&p);
	if (!c->json)
		printf("created a queue of %u messages of up to %u bytes\n", a->cfg.depth,
		       a->cfg.max_msg_size);
	return EXIT_OK;
}

static int do_send(const struct common *c, const struct args *a)
{
	uint8_t *buf = NULL;
	struct smem_msgq_stats st;
	struct smem_msgq *q;
	struct place p;
	size_t len;
	char msg[160];
	int r;

	if (!!a->string == !!a->hex)
		return usage_error(c->verb, "give one of --string, --hex"), EXIT_USAGE;
	if (a->string) {
		len = strlen(a->string);
		if (len > SMEM_MSGQ_MAX_MSG_SIZE)
			return usage_error(c->verb, "the message is %zu bytes; no queue takes more than "
						    "%u", len, SMEM_MSGQ_MAX_MSG_SIZE), EXIT_USAGE;
		buf = (uint8_t *)strdup(a->string);
		if (!buf)
			return fail(c->image, -ENOMEM, NULL);
	} else if (opt_hex(c->verb, "--hex", a->hex, SMEM_MSGQ_MAX_MSG_SIZE, &buf, &len) < 0) {
		return EXIT_USAGE;
	}
	r = place_open(c, a, false, true, &p);
	if (r) {
		free(buf);
		return r;
	}
	r = open_queue(&p, SMEM_MSGQ_TX, &q);
	if (r) {
		free(buf);
		place_close(&p);
		return r;
	}
	r = smem_msgq_send_wait(q, buf, len, a->push ? SMEM_MSGQ_PUSH : 0, a->wait_ms);
	smem_msgq_stat(q, &st);
	smem_msgq_close(q);
	free(buf);
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		snprintf(msg, sizeof(msg), "the queue is full (%u of %u messages)", st.count, st.depth);
	} else if (r == -EMSGSIZE) {
		snprintf(msg, sizeof(msg), "%s: this queue takes messages of 1 to %u bytes",
			 len ? "the message is too big" : "the message is empty", st.max_msg_size);
	} else if (r < 0) {
		snprintf(msg, sizeof(msg), "send failed: %s", strerror(-r));
	}
	if (r < 0) {
		fail(p.name, r, msg);
		place_close(&p);
		return EXIT_ERR;
	}
	place_close(&p);
	if (c->json)
		printf("{\"sent\":%zu,\"not_full\":%s}\n", len, r ? "true" : "false");
	else
		printf("sent %zu bytes; the queue is %s\n", len, r ? "not full" : "now full");
	return EXIT_OK;
}

static void print_msg(const struct common *c, const struct args *a, const uint8_t *b, size_t n,
		      bool not_empty)
{
	if (a->raw) {
		fwrite(b, 1, n, stdout);
	} else if (c->json) {
		printf("{\"size\":%zu,\"not_empty\":%s,\"data\":\"", n, not_empty ? "true" : "false");
		for (size_t i = 0; i < n; i++)
			printf("%02x", b[i]);
		printf("\"}\n");
	} else {
		printf("%zu bytes%s\n", n, not_empty ? " (more queued)" : "");
		hexdump(stdout, b, n, 0);
	}
}

static int do_recv(const struct common *c, const struct args *a)
{
	uint8_t buf[SMEM_MSGQ_MAX_MSG_SIZE];
	struct smem_msgq *q;
	struct place p;
	unsigned got = 0;
	size_t n;
	int r;

	if (a->raw && c->json)
		return usage_error(c->verb, "--raw and --json exclude each other"), EXIT_USAGE;
	r = place_open(c, a, false, true, &p);
	if (r)
		return r;
	r = open_queue(&p, SMEM_MSGQ_RX, &q);
	if (r) {
		place_close(&p);
		return r;
	}
	do {
		r = smem_msgq_recv_wait(q, buf, sizeof(buf), &n, got ? 0 : a->wait_ms);
		if (r == -EBADMSG) {
			fprintf(stderr, "smemctl: %s: a malformed message was skipped\n", p.name);
			continue;
		}
		if (r < 0)
			break;
		print_msg(c, a, buf, n, r == 1);
		got++;
	} while (a->all && r != 0);
	smem_msgq_close(q);
	if (r == -EAGAIN || r == -ETIMEDOUT)
		r = got ? 0 : fail(p.name, r, "the queue is empty");
	else if (r < 0)
		r = fail(p.name, r, NULL);
	else
		r = EXIT_OK;
	place_close(&p);
	return r;
}

static const char *doorbell_name(unsigned d)
{
	return d == SMEM_MSGQ_DOORBELL_FUTEX	 ? "futex"
	       : d == SMEM_MSGQ_DOORBELL_EVENTFD ? "eventfd"
	       : d == SMEM_MSGQ_DOORBELL_POLL	 ? "poll"
						 : "?";
}

static int do_stat(const struct common *c, const struct args *a)
{
	struct smem_msgq_stats st;
	struct smem_msgq *q;
	struct place p;
	int r;

	r = place_open(c, a, false, false, &p);
	if (r)
		return r;
	r = open_queue(&p, 0, &q);
	if (r) {
		place_close(&p);
		return r;
	}
	smem_msgq_stat(q, &st);
	smem_msgq_close(q);
	place_close(&p);
	if (c->json) {
		printf("{\"depth\":%u,\"max_msg_size\":%u,\"count\":%u,\"notempty_thd\":%u,"
		       "\"notfull_thd\":%u,\"multi_send\":%s,\"multi_recv\":%s,\"doorbell\":\"%s\","
		       "\"sent\":%" PRIu32 ",\"received\":%" PRIu32 ",\"full_events\":%" PRIu32
		       ",\"rx_notifications\":%" PRIu32 ",\"tx_notifications\":%" PRIu32
		       ",\"pushes\":%" PRIu32 ",\"flushed\":%" PRIu32 ",\"malformed\":%" PRIu32 "}\n",
		       st.depth, st.max_msg_size, st.count, st.notempty_thd, st.notfull_thd,
		       st.flags & SMEM_MSGQ_MULTI_SEND ? "true" : "false",
		       st.flags & SMEM_MSGQ_MULTI_RECV ? "true" : "false", doorbell_name(st.doorbell),
		       st.sent, st.received, st.full_events, st.rx_notify, st.tx_notify, st.pushes,
		       st.flushed, st.bad);
		return EXIT_OK;
	}
	printf("depth            %u\n", st.depth);
	printf("max message      %u bytes\n", st.max_msg_size);
	printf("count            %u%s\n", st.count, st.count > st.depth ? " (impossible: corrupt)" : "");
	printf("not-empty thd    %u\n", st.notempty_thd);
	printf("not-full thd     %u\n", st.notfull_thd);
	printf("threads          %s sender%s, %s receiver%s\n",
	       st.flags & SMEM_MSGQ_MULTI_SEND ? "many" : "one",
	       st.flags & SMEM_MSGQ_MULTI_SEND ? "s" : "",
	       st.flags & SMEM_MSGQ_MULTI_RECV ? "many" : "one",
	       st.flags & SMEM_MSGQ_MULTI_RECV ? "s" : "");
	printf("doorbell         %s\n", doorbell_name(st.doorbell));
	printf("sent             %" PRIu32 "\n", st.sent);
	printf("received         %" PRIu32 "\n", st.received);
	printf("full events      %" PRIu32 "\n", st.full_events);
	printf("notifications    %" PRIu32 " receive, %" PRIu32 " send\n", st.rx_notify, st.tx_notify);
	printf("pushes           %" PRIu32 "\n", st.pushes);
	printf("flushed          %" PRIu32 "\n", st.flushed);
	printf("malformed        %" PRIu32 "\n", st.bad);
	return EXIT_OK;
}

static bool parse_thd(const char *s, bool allow_max, unsigned max, int *ret)
{
	uint64_t v;

	if (allow_max && !strcmp(s, "max")) {
		*ret = SMEM_MSGQ_THD_MAXIMUM;
		return true;
	}
	if (!parse_u64(s, max, &v))
		return false;
	*ret = (int)v;
	return true;
}

int verb_msgq(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "item", required_argument, NULL, O_ITEM },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "msg-size", required_argument, NULL, O_MSGSIZE },
		{ "notempty", required_argument, NULL, O_NOTEMPTY },
		{ "notfull", required_argument, NULL, O_NOTFULL },
		{ "multi-send", no_argument, NULL, O_MSEND },
		{ "multi-recv", no_argument, NULL, O_MRECV },
		{ "doorbell", required_argument, NULL, O_DOORBELL },
		{ "string", required_argument, NULL, O_STRING },
		{ "hex", required_argument, NULL, O_HEX },
		{ "push", no_argument, NULL, O_PUSH },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "raw", no_argument, NULL, O_RAW },
		{ "all", no_argument, NULL, O_ALL },
		{ "force", no_argument, NULL, O_FORCE },
		{ 0 },
	};
	struct common c = COMMON_INIT("msgq", usage);
	struct args a = { .item = UINT64_MAX };
	const char *action;
	uint64_t v;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (argc < 2 || argv[1][0] == '-')
		return usage_error("msgq", "give an action: create, send, recv or stat"), EXIT_USAGE;
	action = argv[1];
	if (strcmp(action, "create") && strcmp(action, "send") && strcmp(action, "recv") &&
	    strcmp(action, "stat"))
		return usage_error("msgq", "unknown action '%s'", action), EXIT_USAGE;
	smem_msgq_config_init(&a.cfg);
	argc--;
	argv++;

	OPTIONS_BEGIN(c, longopts)
	case O_ITEM:
		if (opt_number(c.verb, "--item", optarg, 0, 0xffff, false, &a.item) < 0)
			return EXIT_USAGE;
		break;
	case O_DEPTH:
		if (opt_number(c.verb, "--depth", optarg, 1, SMEM_MSGQ_MAX_DEPTH, false, &v) < 0)
			return EXIT_USAGE;
		a.cfg.depth = (unsigned)v;
		break;
	case O_MSGSIZE:
		if (opt_number(c.verb, "--msg-size", optarg, 1, SMEM_MSGQ_MAX_MSG_SIZE, false, &v) < 0)
			return EXIT_USAGE;
		a.cfg.max_msg_size = (unsigned)v;
		break;
	case O_NOTEMPTY:
		if (!parse_thd(optarg, true, SMEM_MSGQ_MAX_DEPTH, &a.cfg.notempty_thd))
			return usage_error(c.verb, "--notempty needs a count or 'max'"), EXIT_USAGE;
		break;
	case O_NOTFULL:
		if (!parse_thd(optarg, false, SMEM_MSGQ_MAX_DEPTH, &a.cfg.notfull_thd))
			return usage_error(c.verb, "--notfull needs a count"), EXIT_USAGE;
		break;
	case O_MSEND:
		a.cfg.flags |= SMEM_MSGQ_MULTI_SEND;
		break;
	case O_MRECV:
		a.cfg.flags |= SMEM_MSGQ_MULTI_RECV;
		break;
	case O_DOORBELL:
		if (!strcmp(optarg, "futex"))
			a.cfg.doorbell = SMEM_MSGQ_DOORBELL_FUTEX;
		else if (!strcmp(optarg, "eventfd"))
			a.cfg.doorbell = SMEM_MSGQ_DOORBELL_EVENTFD;
		else if (!strcmp(optarg, "poll"))
			a.cfg.doorbell = SMEM_MSGQ_DOORBELL_POLL;
		else
			return usage_error(c.verb, "--doorbell is futex, eventfd or poll"), EXIT_USAGE;
		break;
	case O_STRING:
		a.string = optarg;
		break;
	case O_HEX:
		a.hex = optarg;
		break;
	case O_PUSH:
		a.push = true;
		break;
	case O_WAIT:
		if (opt_number(c.verb, "--wait", optarg, 0, INT32_MAX, false, &v) < 0)
			return EXIT_USAGE;
		a.wait_ms = (int)v;
		break;
	case O_RAW:
		a.raw = true;
		break;
	case O_ALL:
		a.all = true;
		break;
	case O_FORCE:
		a.force = true;
		break;
	OPTIONS_END(c)

	if (!strcmp(action, "create"))
		return do_create(&c, &a);
	if (!strcmp(action, "send"))
		return do_send(&c, &a);
	if (!strcmp(action, "recv"))
		return do_recv(&c, &a);
	return do_stat(&c, &a);
}
