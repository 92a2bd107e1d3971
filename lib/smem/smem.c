// SPDX-License-Identifier: MIT
/*
 * Attach to an SMEM image and look items up.
 *
 * Attach follows the Linux probe (qcom_smem_probe): header, version, partition
 * table, global partition, then the private partitions of the local host, and
 * adds the checks Linux lacks (docs/FORMAT.md, V1-V18). What attach validated is
 * copied into the handle; what a peer may change later (free offsets, entries) is
 * read again, once, and checked again on every walk.
 *
 * Lookups take no lock (Linux dropped it in v6.9): the acquire load of a
 * partition's free offset, or of a table entry's allocated word, pairs with the
 * allocator's release store, so everything below it is complete.
 */
#include "smem-internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "rm/proto.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/rm.h"

void smem_open_opts_init(struct smem_open_opts *o)
{
	*o = (struct smem_open_opts){ 0 };
}

/* Through smemd, whether the image's [@off, @off + @len) is a piece this host was given. */
static bool given(const struct smem *s, uint64_t off, uint64_t len, struct smem__diag *d)
{
	if (!s->rm || smem__rm_mapped(s->rm, off, len))
		return true;
	smem__diag(d, "0x%" PRIx64 "..0x%" PRIx64 " is not in the pieces smemd gave host %u", off,
		   off + len, s->host);
	return false;
}

/* smem__check_part(), of a partition this host was given only. */
static int check_part(struct smem *s, const struct smem__ptable *pt, unsigned i,
		      struct smem__diag *d, struct smem__part *ret)
{
	if (!given(s, pt->e[i].offset, pt->e[i].size, d))
		return -EBADMSG;
	return smem__check_part(s->base, pt, i, d, ret);
}

static int attach(struct smem *s, struct smem__diag *d)
{
	struct smem__ptable pt;
	int r;

	/* The header and the table, before either is read. */
	if (!given(s, 0, sizeof(struct smem_header), d) ||
	    (s->size >= SMEM_PTABLE_SIZE && !given(s, s->size - SMEM_PTABLE_SIZE, SMEM_PTABLE_SIZE, d)))
		return -EBADMSG;
	r = smem__read_hdr(s->base, s->size, d, &s->hdr);
	if (r < 0)
		return r;
	s->item_count = SMEM_ITEM_COUNT;
	s->heap_limit = s->size;

	r = smem__read_ptable(s->base, s->size, d, &pt);
	if (r == -ENOENT && s->hdr.version == SMEM_GLOBAL_HEAP_VERSION)
		return 0; /* a plain global heap */
	if (r < 0)
		return r;
	r = smem__check_ptable_layout(&pt, s->size, &s->hdr, d, NULL);
	if (r < 0)
		return r;
	s->heap_limit = s->size - SMEM_PTABLE_SIZE;
	for (unsigned i = 0; i < pt.n; i++)
		if (pt.e[i].offset && pt.e[i].size && pt.e[i].offset < s->heap_limit)
			s->heap_limit = pt.e[i].offset;
	/* A version-11 heap is in the header's piece: never past what is mapped. */
	if (s->rm && smem__rm_mapped_end(s->rm, 0) < s->heap_limit)
		s->heap_limit = smem__rm_mapped_end(s->rm, 0);

	if (s->hdr.version == SMEM_GLOBAL_PART_VERSION) {
		unsigned i;

		for (i = 0; i < pt.n; i++)
			if (pt.e[i].offset && pt.e[i].size && pt.e[i].host0 == SMEM_GLOBAL_HOST &&
			    pt.e[i].host1 == SMEM_GLOBAL_HOST)
				break;
		if (i == pt.n) {
			smem__diag(d, "version 12 image has no global partition (hosts 0xfffe)");
			return -EBADMSG;
		}
		r = check_part(s, &pt, i, d, &s->global);
		if (r < 0)
			return r;
		s->has_global = true;
		if (pt.has_info) {
			/* V11 */
			if (pt.info_num_items <= SMEM_ITEM_LAST_FIXED) {
				smem__diag(d, "SIII block limits items to %u", pt.info_num_items);
				return -EBADMSG;
			}
			s->item_count = pt.info_num_items;
		}
	}

	for (unsigned i = 0; i < pt.n; i++) {
		unsigned remote;

		if (!pt.e[i].offset || !pt.e[i].size)
			continue;
		if (pt.e[i].host0 == s->host)
			remote = pt.e[i].host1;
		else if (pt.e[i].host1 == s->host)
			remote = pt.e[i].host0;
		else
			continue;
		/* V15 */
		if (remote >= SMEM_HOST_COUNT) {
			smem__diag(d, "partition %u: bad remote host %u", i, remote);
			return -EBADMSG;
		}
		if (s->parts[remote].size) {
			smem__diag(d, "partition %u: duplicate partition for host %u", i, remote);
			return -EBADMSG;
		}
		r = check_part(s, &pt, i, d, &s->parts[remote]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Attach to the image in @r, which the caller keeps open. */
static int open_region(struct smem_region *r, unsigned host, const struct smem_open_opts *o,
		       unsigned hwlock_id, bool offline_ok, struct smem **ret)
{
	struct smem__diag d;
	struct smem *s;
	int err;

	d = (struct smem__diag){ .buf = o->errbuf, .len = o->errbuf_size };
	if (!r || !ret || host >= SMEM_HOST_COUNT ||
	    (o->flags & ~(SMEM_OPEN_RDONLY | SMEM_OPEN_BUST_DEAD | SMEM_OPEN_OFFLINE)) ||
	    ((o->flags & SMEM_OPEN_OFFLINE) &&
	     ((o->flags & SMEM_OPEN_RDONLY) || o->hwlock || !offline_ok)) ||
	    hwlock_id >= SMEM_HWLOCK_COUNT) {
		smem__diag(&d, "invalid arguments");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = smem_region_base(r);
	s->size = smem_region_size(r);
	s->writable = smem_region_writable(r) && !(o->flags & SMEM_OPEN_RDONLY);
	s->offline = o->flags & SMEM_OPEN_OFFLINE;
	s->host = host;
	s->hwlock = o->hwlock;
	s->hwlock_id = hwlock_id;
	s->lock_flags = (o->flags & SMEM_OPEN_BUST_DEAD) ? SMEM_HWLOCK_BUST_DEAD : 0;
	s->phys_base = o->phys_base;
	s->rm = o->rm;
	s->partial = o->rm != NULL;
	err = attach(s, &d);
	/* Others prove this host dead or alive through the lock bank's host table. */
	if (err == 0 && s->writable && s->hwlock) {
		err = smem_hwlock_host_register(s->hwlock, host);
		s->registered = err == 0;
		if (err == -EINVAL && host >= SMEM_HWLOCK_TABLE_HOSTS)
			err = 0; /* no entry for this id */
		else if (err == -EADDRINUSE)
			smem__diag(&d, "another live process is attached as host %u", host);
		else if (err < 0)
			smem__diag(&d, "cannot record host %u in the lock bank: %s", host,
				   strerror(-err));
	}
	if (err < 0) {
		free(s);
		return err;
	}
	*ret = s;
	return 0;
}

/* Open the region file @path (and its lock bank), then attach; the handle owns both. */
static int open_path(const char *path, unsigned host, const struct smem_open_opts *o,
		     unsigned hwlock_id, struct smem **ret)
{
	struct smem_open_opts opts = *o;
	struct smem_region *r = NULL;
	struct smem_hwlock *h = NULL;
	struct smem__diag d;
	char lockpath[PATH_MAX], bankfile[PATH_MAX];
	struct smem *s;
	int err;

	d = (struct smem__diag){ .buf = opts.errbuf, .len = opts.errbuf_size };
	if (!path || !ret)
		return -EINVAL;
	if ((opts.flags & SMEM_OPEN_OFFLINE) && (opts.flags & SMEM_OPEN_RDONLY)) {
		smem__diag(&d, "invalid arguments");
		return -EINVAL;
	}
	if (snprintf(lockpath, sizeof(lockpath), "%s.hwlock", path) >= (int)sizeof(lockpath))
		return -ENAMETOOLONG;
	/*
	 * Offline is for an image without a lock bank: with one, a dead holder's
	 * lock and journal record there would be left for the next online
	 * allocator to replay over what the offline editor did.
	 */
	if ((opts.flags & SMEM_OPEN_OFFLINE) && smem_region_path(lockpath, bankfile, sizeof(bankfile)) == 0 &&
	    access(bankfile, F_OK) == 0) {
		smem__diag(&d, "the image has a lock bank (%s.hwlock): attach with it, not offline", path);
		return -EEXIST;
	}
	err = smem_region_open(path, 0,
			       (opts.flags & SMEM_OPEN_RDONLY)	  ? SMEM_REGION_RDONLY
			       : (opts.flags & SMEM_OPEN_OFFLINE) ? SMEM_REGION_LOCK_EX
								  : 0,
			       &r);
	if (err == -EBUSY) {
		smem__diag(&d, (opts.flags & SMEM_OPEN_OFFLINE)
				       ? "a live process has the image attached"
				       : "the image is being edited offline");
		return err;
	}
	if (err < 0) {
		smem__diag(&d, "cannot open the region: %s", strerror(-err));
		return err;
	}
	if (!(opts.flags & (SMEM_OPEN_RDONLY | SMEM_OPEN_OFFLINE)) && !opts.hwlock) {
		err = smem_hwlock_open(lockpath, NULL, &h);
		if (err < 0) {
			smem__diag(&d, "cannot open the lock bank %s.hwlock: %s", path, strerror(-err));
			smem_region_close(r);
			return err;
		}
		opts.hwlock = h;
	}
	err = open_region(r, host, &opts, hwlock_id, true, &s);
	if (err < 0) {
		smem_hwlock_close(h);
		smem_region_close(r);
		return err;
	}
	s->region = r;
	s->own_hwlock = h != NULL;
	*ret = s;
	return 0;
}

int smem__open(const char *path, unsigned host, const struct smem_open_opts *o,
	       unsigned hwlock_id, struct smem **ret)
{
	struct smem_open_opts defaults;

	if (!o) {
		smem_open_opts_init(&defaults);
		o = &defaults;
	}
	if (o->rm) {
		struct smem__diag d = { .buf = o->errbuf, .len = o->errbuf_size };
		struct smem_open_opts opts = *o;

		if (path || o->region || o->hwlock || (o->flags & SMEM_OPEN_OFFLINE) ||
		    smem__rm_host(o->rm) != (int)host || !smem_rm_region(o->rm)) {
			smem__diag(&d, "through smemd: no path, region or lock bank, and the host the "
				       "connection registered as");
			return -EINVAL;
		}
		opts.region = smem_rm_region(o->rm);
		opts.hwlock = smem_rm_hwlock(o->rm);
		return open_region(opts.region, host, &opts, hwlock_id, false, ret);
	}
	if (!o->region)
		return open_path(path, host, o, hwlock_id, ret);
	if (path) {
		struct smem__diag d = { .buf = o->errbuf, .len = o->errbuf_size };

		smem__diag(&d, "a path and a region: give one of them");
		return -EINVAL;
	}
	return open_region(o->region, host, o, hwlock_id, false, ret);
}

int smem_open(const char *path, unsigned host, const struct smem_open_opts *o, struct smem **ret)
{
	return smem__open(path, host, o, SMEM_HWLOCK_ID, ret);
}

void smem_close(struct smem *s)
{
	if (!s)
		return;
	if (s->registered)
		smem_hwlock_host_unregister(s->hwlock, s->host);
	if (s->own_hwlock)
		smem_hwlock_close(s->hwlock);
	smem_region_close(s->region);
	free(s);
}

int smem_stat(const struct smem *s, struct smem_stat *ret)
{
	if (!s || !ret)
		return -EINVAL;
	*ret = (struct smem_stat){
		.version = s->hdr.version,
		.item_count = s->item_count,
		.host = s->host,
		.size = s->size,
		.base = s->base,
		.phys_base = s->phys_base,
		.hwlock = s->hwlock,
	};
	return 0;
}

/* The first entry of @item: the uncached list is walked first, as in Linux. */
static int get_private(const struct smem *s, const struct smem__part *part, unsigned item,
		       uint64_t *ret_off, size_t *ret_size)
{
	struct smem__walk w;
	struct smem__entry e;
	int r;

	r = smem__walk_begin(&w, s->base, part, NULL);
	if (r < 0)
		return r;
	while ((r = smem__walk_next(&w, &e, NULL)) > 0) {
		if (e.item != item)
			continue;
		*ret_off = (uint64_t)part->off + e.data;
		*ret_size = e.size;
		return 0;
	}
	return r < 0 ? r : -ENOENT;
}

static int get_global(const struct smem *s, unsigned item, uint64_t *ret_off, size_t *ret_size)
{
	struct smem__toc_entry t;

	smem__read_toc(s->base, item, &t);
	if (!t.allocated)
		return -ENOENT;
	/*
	 * An entry in another region (the RPM message RAM) is allocated, but the
	 * handle maps only this region: say so rather than "not allocated". As in
	 * Linux, aux_base is compared with the low 32 bits of the region's base.
	 */
	if (t.aux_base && t.aux_base != (uint32_t)(s->phys_base & SMEM_AUX_BASE_MASK))
		return -EREMOTE;
	/* V12 */
	if ((uint64_t)t.offset + t.size > s->heap_limit)
		return -EBADMSG;
	*ret_off = t.offset;
	*ret_size = t.size;
	return 0;
}

int smem_item_get(struct smem *s, unsigned host, unsigned item, void **ret_ptr, size_t *ret_size)
{
	const struct smem__part *part;
	uint64_t off;
	size_t size;
	int r;

	if (!s || !ret_ptr || item >= s->item_count)
		return -EINVAL;
	part = smem__part_for(s, host);
	r = part ? get_private(s, part, item, &off, &size) : get_global(s, item, &off, &size);
	if (r < 0)
		return r;
	/*
	 * V12: the pointer names a byte of the region. Only an item of size 0 can
	 * fail here: a heap entry at the very end of a region without a partition
	 * table, whose address would be one past the mapping.
	 */
	if (off >= s->size)
		return -EBADMSG;
	*ret_ptr = s->base + off;
	if (ret_size)
		*ret_size = size;
	return 0;
}

int smem_free_space(struct smem *s, unsigned host, size_t *ret_size)
{
	const struct smem__part *part;
	struct smem__walk w;
	uint32_t avail;
	int r;

	if (!s || !ret_size)
		return -EINVAL;
	part = smem__part_for(s, host);
	if (part) {
		r = smem__walk_begin(&w, s->base, part, NULL); /* V13 */
		if (r < 0)
			return r;
		*ret_size = w.cached - w.uncached;
		return 0;
	}
	avail = shm_ld32(s->base + offsetof(struct smem_header, available));
	if (avail > s->size)
		return -EBADMSG;
	*ret_size = avail;
	return 0;
}

int smem_virt_to_phys(const struct smem *s, const void *p, uint64_t *ret_addr)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)s->base;

	if (!ret_addr || a < b || a - b >= s->size)
		return -ERANGE;
	*ret_addr = s->phys_base + (a - b);
	return 0;
}

static int foreach_heap(const struct smem *s, int (*fn)(const struct smem_item_info *, void *),
			void *userdata)
{
	for (unsigned i = 0; i < SMEM_TOC_COUNT; i++) {
		struct smem__toc_entry t;
		struct smem_item_info it;
		int r;

		smem__read_toc(s->base, i, &t);
		if (!t.allocated)
			continue;
		/* V12, for entries of this region; another region's are reported as such. */
		if (!t.aux_base && (uint64_t)t.offset + t.size > s->heap_limit)
			return -EBADMSG;
		it = (struct smem_item_info){ .global_heap = true, .item = i, .size = t.size,
					      .offset = t.offset, .aux_base = t.aux_base };
		r = fn(&it, userdata);
		if (r)
			return r;
	}
	return 0;
}

static int foreach_part(const struct smem *s, const struct smem__part *part,
			int (*fn)(const struct smem_item_info *, void *), void *userdata)
{
	struct smem__walk w;
	struct smem__entry e;
	int r;

	r = smem__walk_begin(&w, s->base, part, NULL);
	if (r < 0)
		return r;
	while ((r = smem__walk_next(&w, &e, NULL)) > 0) {
		struct smem_item_info it = {
			.host0 = part->host0, .host1 = part->host1, .item = e.item,
			.size = e.size, .padding = e.padding,
			.offset = (uint64_t)part->off + e.data, .cached = e.cached,
		};

		r = fn(&it, userdata);
		if (r)
			return r;
	}
	return r;
}

int smem_item_foreach(struct smem *s, int (*fn)(const struct smem_item_info *, void *),
		      void *userdata)
{
	struct smem__ptable pt;
	int r;

	if (!s || !fn)
		return -EINVAL;
	if (s->hdr.version == SMEM_GLOBAL_HEAP_VERSION) {
		r = foreach_heap(s, fn, userdata);
		if (r)
			return r;
	}
	/* Through smemd, only this host's partitions are there to walk. */
	if (s->partial) {
		if (s->has_global) {
			r = foreach_part(s, &s->global, fn, userdata);
			if (r)
				return r;
		}
		for (unsigned h = 0; h < SMEM_HOST_COUNT; h++)
			if (s->parts[h].size && (r = foreach_part(s, &s->parts[h], fn, userdata)))
				return r;
		return 0;
	}
	/* Every partition, not only this host's: re-read and re-check the table. */
	r = smem__read_ptable(s->base, s->size, NULL, &pt);
	if (r == -ENOENT && s->hdr.version == SMEM_GLOBAL_HEAP_VERSION)
		return 0;
	if (r < 0)
		return r;
	r = smem__check_ptable_layout(&pt, s->size, &s->hdr, NULL, NULL);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < pt.n; i++) {
		struct smem__part part;

		if (!smem__ptable_used(&pt, i))
			continue;
		r = smem__check_part(s->base, &pt, i, NULL, &part);
		if (r == 0)
			r = foreach_part(s, &part, fn, userdata);
		if (r)
			return r;
	}
	return 0;
}
