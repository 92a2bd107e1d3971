// SPDX-License-Identifier: MIT
/*
 * smemd's state in shared memory, so that smemd can be killed and started
 * again without anyone losing anything but the control calls meanwhile.
 *
 * What lives on is kept by the service manager's fd store (sd_notify
 * FDSTORE=1): systemd's, or smemd --supervise's, which speaks the same
 * protocol. Each memfd is stored under a name: "state", "bank", "piece.N" for
 * the image's pieces, "queue.N" for queue slot N, and "host.H" for the pidfd
 * of registered host H, so that a host that died while smemd was away is
 * known dead by its pidfd, never by a lookup. A new smemd gets them back
 * (LISTEN_FDS, LISTEN_FDNAMES), maps the state and takes up where the old one
 * stopped, one epoch later.
 *
 * The state is a header, written once, and two slots of records (hosts and
 * queue slots, the next cap, the epoch), of which one is current. A save
 * writes the other slot whole, then makes it current with one store: smemd
 * killed in the middle leaves the current slot as it was. smemd saves before
 * it tells anyone of a change (every reply and notification goes after the
 * save), and stores an fd before a record names it; a stored fd that no
 * record names is dropped at restore, and a record whose fd is missing is
 * forgotten (a queue) or taken as a host that died (a pidfd).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "hwlock/bank.h"
#include "smemd.h"
#include "smemkit/region.h"

#define STATE_MAGIC   "SMEMDST1"
#define STATE_VERSION 1u

struct host_rec {
	uint8_t registered;
	uint8_t state, os_state, flags;
	uint16_t app_status, exit_type;
	uint32_t exit_reason;
	int32_t pid;
	uint32_t uid;
	uint32_t pad;
	uint64_t owed; /* hosts whose exit it has not been told of */
};

enum { HF_EXITED_BY_CALL = 1, HF_STOPPED = 2, HF_NOTIFIED = 4 };

struct queue_rec {
	uint8_t used, pad;
	uint16_t from, to, pad2;
	uint32_t label;
	uint64_t tx_cap, rx_cap, size;
};

struct slot {
	uint64_t gen;
	uint32_t epoch, pad;
	uint64_t next_cap;
	struct host_rec hosts[SMEM_RM_MAX_HOSTS];
	struct queue_rec queues[SMEMD_MAX_QUEUES];
};

struct piece_rec {
	uint16_t host0, host1;
	uint32_t n_ext;
	struct smemd_extent ext[SMEMD_PIECE_MAX_EXT];
};

struct state {
	char magic[8];
	uint32_t version, size;
	uint64_t instance;
	uint64_t fingerprint;   /* of the configuration that made the memory */
	uint32_t n_pieces, pad;
	struct piece_rec pieces[SMEMD_MAX_PIECES];
	/* The bank's header as formatted: every host can write the bank's copy. */
	uint8_t bank_hdr[sizeof(struct smem_bank_hdr)];
	_Atomic uint32_t current;
	uint32_t pad2;
	struct slot slot[2];
};

/* What the memory depends on: a restart with another configuration starts anew. */
static uint64_t fingerprint(const struct smemd_config *c)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t parts[4] = { c->size, c->version, c->owner, 0 };

	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++)
		if (c->hosts[i].defined)
			parts[3] |= 1ull << i;
	for (unsigned i = 0; i < 4; i++)
		for (unsigned b = 0; b < 8; b++)
			h = (h ^ (uint8_t)(parts[i] >> (8 * b))) * 1099511628211ull;
	return h;
}

void smemd_store_put(struct smemd *d, const char *name, int fd)
{
	char msg[96];

	if (!d->store)
		return;
	/* FDPOLL=0: a pidfd that fires is news for the next smemd, not a reason to drop it. */
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
	if (sd_pid_notify_with_fds(0, 0, msg, &fd, 1) <= 0)
		smemd_log(d, "the fd store did not take %s", name);
}

void smemd_store_drop(struct smemd *d, const char *name)
{
	char msg[96];

	if (!d->store)
		return;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify(0, msg);
}

int smemd_state_create(struct smemd *d)
{
	struct state *st;
	int fd = smemd_memfd("smemkit-state", sizeof(struct state));

	if (fd < 0)
		return fd;
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st == MAP_FAILED) {
		close(fd);
		return -errno;
	}
	memcpy(st->magic, STATE_MAGIC, 8);
	st->version = STATE_VERSION;
	st->size = sizeof(*st);
	st->instance = d->instance;
	st->fingerprint = fingerprint(&d->cfg);
	st->n_pieces = d->n_pieces;
	memcpy(st->bank_hdr, smem_region_base(d->bank_region), sizeof(st->bank_hdr));
	for (unsigned i = 0; i < d->n_pieces; i++) {
		st->pieces[i].host0 = d->pieces[i].host0;
		st->pieces[i].host1 = d->pieces[i].host1;
		st->pieces[i].n_ext = d->pieces[i].n_ext;
		memcpy(st->pieces[i].ext, d->pieces[i].ext, sizeof(st->pieces[i].ext));
	}
	d->state = st;
	d->state_fd = fd;
	smemd_state_save(d);
	/* The memory first, the state that names it last. */
	for (unsigned i = 0; i < d->n_pieces; i++) {
		char name[16];

		snprintf(name, sizeof(name), "piece.%u", i);
		smemd_store_put(d, name, d->pieces[i].fd);
	}
	smemd_store_put(d, "bank", d->bank_fd);
	smemd_store_put(d, "state", fd);
	return 0;
}

void smemd_state_save(struct smemd *d)
{
	struct state *st = d->state;
	struct slot *s;
	unsigned cur;

	d->dirty = false;
	if (!st)
		return;
	cur = atomic_load_explicit(&st->current, memory_order_relaxed);
	s = &st->slot[!cur];
	s->gen = st->slot[cur].gen + 1;
	s->epoch = d->epoch;
	s->next_cap = d->next_cap;
	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++) {
		const struct smemd_host *h = &d->hosts[i];

		s->hosts[i] = (struct host_rec){
			.registered = h->pidfd >= 0, .state = h->state, .os_state = h->os_state,
			.flags = (uint8_t)((h->exited_by_call ? HF_EXITED_BY_CALL : 0) |
					   (h->stopped ? HF_STOPPED : 0) |
					   (h->notified ? HF_NOTIFIED : 0)),
			.app_status = h->app_status, .exit_type = h->exit_type,
			.exit_reason = h->exit_reason, .pid = h->pid, .uid = h->uid, .owed = h->owed,
		};
	}
	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++) {
		const struct smemd_queue *q = &d->queues[i];

		s->queues[i] = q->used ? (struct queue_rec){ .used = 1, .from = (uint16_t)q->from,
							     .to = (uint16_t)q->to,
							     .label = q->label, .tx_cap = q->tx_cap,
							     .rx_cap = q->rx_cap, .size = q->size }
				       : (struct queue_rec){ 0 };
	}
	atomic_store_explicit(&st->current, !cur, memory_order_release);
}

struct kept {
	int fd;
	char name[32];
	bool used;
};

static int take(struct kept *k, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!k[i].used && k[i].fd >= 0 && !strcmp(k[i].name, name)) {
			k[i].used = true;
			return k[i].fd;
		}
	return -1;
}

/* Give back an fd taken for a record that was not restored: it is dropped with the rest. */
static void k_unuse(struct kept *k, unsigned n, int fd)
{
	for (unsigned i = 0; i < n; i++)
		if (k[i].fd == fd)
			k[i].used = false;
}

static bool piece_fits(int fd, const struct piece_rec *p, size_t image)
{
	struct stat sb;
	uint64_t total = 0;
	int seals = fcntl(fd, F_GET_SEALS);

	if (fstat(fd, &sb) < 0 || seals < 0 || !(seals & F_SEAL_SHRINK) || !(seals & F_SEAL_GROW) ||
	    p->n_ext == 0 || p->n_ext > SMEMD_PIECE_MAX_EXT)
		return false;
	for (unsigned k = 0; k < p->n_ext; k++) {
		if (p->ext[k].off > image || p->ext[k].len > image - p->ext[k].off ||
		    p->ext[k].fd_off != total)
			return false;
		total += p->ext[k].len;
	}
	return total == (uint64_t)sb.st_size;
}

/* The memory and records of @st, taken up; the fds used are marked in @k. */
static int restore_from(struct smemd *d, struct state *st, struct kept *k, unsigned n, char *err,
			size_t errlen)
{
	unsigned cur = atomic_load_explicit(&st->current, memory_order_acquire) & 1;
	const struct slot *s = &st->slot[cur];
	struct smem_hwlock_opts ho;
	int fds[SMEMD_MAX_PIECES], fd, r;

	if (st->n_pieces == 0 || st->n_pieces > SMEMD_MAX_PIECES) {
		snprintf(err, errlen, "the kept state has %u pieces", st->n_pieces);
		return -EBADMSG;
	}
	for (unsigned i = 0; i < st->n_pieces; i++) {
		char name[16];

		snprintf(name, sizeof(name), "piece.%u", i);
		fds[i] = take(k, n, name);
		if (fds[i] < 0 || !piece_fits(fds[i], &st->pieces[i], d->cfg.size)) {
			snprintf(err, errlen, "piece %u of the image was not kept whole", i);
			return -ENOENT;
		}
		d->pieces[i] = (struct smemd_piece){ .fd = fds[i], .host0 = st->pieces[i].host0,
						     .host1 = st->pieces[i].host1,
						     .n_ext = st->pieces[i].n_ext };
		memcpy(d->pieces[i].ext, st->pieces[i].ext, sizeof(d->pieces[i].ext));
	}
	d->n_pieces = st->n_pieces;
	fd = take(k, n, "bank");
	if (fd < 0) {
		snprintf(err, errlen, "the lock bank was not kept");
		return -ENOENT;
	}
	r = smemd_map_pieces(d->pieces, fds, d->n_pieces, d->cfg.size, &d->image);
	if (r == 0)
		r = smem_region_wrap(d->image, d->cfg.size, true, &d->image_region);
	if (r == 0)
		r = smem_region_from_fd(fd, 0, &d->bank_region);
	/* A host may have scribbled on the bank's header: it is smemd's to restore. */
	if (r == 0 && smem_region_size(d->bank_region) >= sizeof(st->bank_hdr))
		memcpy(smem_region_base(d->bank_region), st->bank_hdr, sizeof(st->bank_hdr));
	smem_hwlock_opts_init(&ho);
	ho.region = d->bank_region;
	if (r == 0)
		r = smem_hwlock_open(NULL, &ho, &d->bank);
	if (r < 0) {
		snprintf(err, errlen, "cannot map the kept memory: %s", strerror(-r));
		return r;
	}
	d->bank_fd = smem_region_fd(d->bank_region);
	d->instance = st->instance;
	d->epoch = s->epoch + 1;
	d->next_cap = s->next_cap;
	for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++) {
		const struct queue_rec *q = &s->queues[i];
		struct smemd_queue *dq = &d->queues[i];
		char name[16];

		if (!q->used)
			continue;
		snprintf(name, sizeof(name), "queue.%u", i);
		fd = take(k, n, name);
		if (fd < 0)
			continue;
		r = q->from < SMEM_RM_MAX_HOSTS && q->to < SMEM_RM_MAX_HOSTS && q->tx_cap && q->rx_cap
			    ? smem_region_from_fd(fd, 0, &dq->r)
			    : -EBADMSG;
		if (r == 0 && smem_region_size(dq->r) != q->size) {
			smem_region_close(dq->r);
			dq->r = NULL;
			r = -EBADMSG;
		}
		if (r < 0) {
			/* Not a queue of this smemd's: dropped from the store below. */
			k_unuse(k, n, fd);
			continue;
		}
		/*
		 * A header a host spoiled does not cost the queue its record: its caps
		 * stay, and smemd opens it again when it must shut it down.
		 */
		if (smem_msgq_open(smem_region_base(dq->r), q->size, 0, NULL, &dq->q) < 0)
			dq->q = NULL;
		dq->used = true;
		dq->fd = smem_region_fd(dq->r);
		dq->size = q->size;
		dq->from = q->from;
		dq->to = q->to;
		dq->label = q->label;
		dq->tx_cap = q->tx_cap;
		dq->rx_cap = q->rx_cap;
	}
	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++) {
		const struct host_rec *hr = &s->hosts[i];
		struct smemd_host *h = &d->hosts[i];
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = smemd_ev_key(SMEMD_EV_PIDFD, i) };
		char name[16];

		if (!d->cfg.hosts[i].defined)
			continue;
		h->state = hr->state;
		h->os_state = hr->os_state;
		h->app_status = hr->app_status;
		h->exit_type = hr->exit_type;
		h->exit_reason = hr->exit_reason;
		h->exited_by_call = hr->flags & HF_EXITED_BY_CALL;
		h->stopped = hr->flags & HF_STOPPED;
		h->notified = hr->flags & HF_NOTIFIED;
		h->pid = hr->pid;
		h->uid = hr->uid;
		h->owed = hr->owed & ~(1ull << i);
		if (!hr->registered)
			continue;
		snprintf(name, sizeof(name), "host.%u", i);
		h->pidfd = take(k, n, name);
		/*
		 * A pidfd that fires now is a host that died while smemd was away:
		 * the loop cleans up after it first thing, as after any death.
		 */
		if (h->pidfd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, h->pidfd, &ev) == 0)
			continue;
		if (h->pidfd >= 0)
			close(h->pidfd);
		h->pidfd = -1;
		/* Registered, and its pidfd lost: nobody can vouch for it; it is gone. */
		d->lost_hosts |= 1ull << i;
	}
	return 0;
}

int smemd_state_restore(struct smemd *d, char *err, size_t errlen)
{
	char **names = NULL;
	struct kept *k;
	struct state *st = NULL;
	int n, fd, r = 0;

	d->store = getenv("NOTIFY_SOCKET") != NULL;
	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0) {
		free(names);
		return 0;
	}
	k = calloc((size_t)n, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		k[i].fd = SD_LISTEN_FDS_START + i;
		fcntl(k[i].fd, F_SETFD, FD_CLOEXEC);
		snprintf(k[i].name, sizeof(k[i].name), "%s", names && names[i] ? names[i] : "");
		if (names)
			free(names[i]);
	}
	free(names);
	fd = take(k, (unsigned)n, "state");
	if (fd >= 0) {
		struct stat sb;

		if (fstat(fd, &sb) == 0 && (size_t)sb.st_size == sizeof(*st))
			st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (st == MAP_FAILED)
			st = NULL;
	}
	if (!st || memcmp(st->magic, STATE_MAGIC, 8) || st->version != STATE_VERSION ||
	    st->size != sizeof(*st)) {
		snprintf(err, errlen, "the kept state is not smemd's (version %u)", STATE_VERSION);
		r = -EPROTO;
	} else if (st->fingerprint != fingerprint(&d->cfg)) {
		snprintf(err, errlen, "the configuration changed since the memory was made");
		r = -ESTALE;
	} else {
		r = restore_from(d, st, k, (unsigned)n, err, errlen);
	}
	if (r == 0) {
		d->state = st;
		d->state_fd = fd;
		d->restored = true;
	} else if (st) {
		munmap(st, sizeof(*st));
	}
	/* What no record names, and everything if the state was unusable, goes. */
	for (int i = 0; i < n; i++) {
		bool named_again = false;

		if (k[i].used && r == 0) {
			/* The bank's and the queues' regions hold their own duplicates. */
			if (!strcmp(k[i].name, "bank") || !strncmp(k[i].name, "queue.", 6))
				close(k[i].fd);
			continue;
		}
		/*
		 * FDSTOREREMOVE drops every fd of a name: not when a restored record
		 * uses another fd of the same name (systemd keeps both).
		 */
		for (int j = 0; j < n && r == 0; j++)
			if (j != i && k[j].used && !strcmp(k[j].name, k[i].name))
				named_again = true;
		if (k[i].name[0] && !named_again)
			smemd_store_drop(d, k[i].name);
		close(k[i].fd);
	}
	free(k);
	if (r < 0) {
		/* Start anew: nothing of the old memory is left half taken. */
		for (unsigned i = 0; i < SMEMD_MAX_QUEUES; i++)
			if (d->queues[i].r) {
				smem_msgq_close(d->queues[i].q);
				smem_region_close(d->queues[i].r);
			}
		for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++)
			if (d->hosts[i].pidfd >= 0) {
				epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->hosts[i].pidfd, NULL);
				close(d->hosts[i].pidfd);
			}
		smem_hwlock_close(d->bank);
		smem_region_close(d->bank_region);
		smem_region_close(d->image_region);
		if (d->image)
			munmap(d->image, d->cfg.size);
		memset(d->queues, 0, sizeof(d->queues));
		d->bank = NULL;
		d->bank_region = d->image_region = NULL;
		d->image = NULL;
		d->n_pieces = 0;
		d->lost_hosts = 0;
		for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++)
			d->hosts[i] = (struct smemd_host){ .id = i, .vmid = SMEM_RM_VMID_OF(i),
							   .pidfd = -1 };
	}
	return r;
}
