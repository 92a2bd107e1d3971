// SPDX-License-Identifier: MIT
/*
 * Validation of the parts of an SMEM image that are read once at attach: the
 * header (V1, V2, V14), the partition table (V3, V4, V16) and the partition
 * headers (V5, V7). The walkers of image.h check the lists on every walk.
 */
#include "image.h"

#include <stdarg.h>
#include <stdio.h>

static void report(struct smem__diag *d, bool warning, const char *fmt, va_list ap)
{
	size_t skip = warning ? strlen(SMEM_CHECK_WARNING) : 0;
	char msg[256] = SMEM_CHECK_WARNING;

	vsnprintf(msg + skip, sizeof(msg) - skip, fmt, ap);
	/* buf says why attach failed: the first error, never a warning. */
	if (!warning && d->buf && d->len && d->count == d->warnings)
		snprintf(d->buf, d->len, "%s", msg);
	if (d->fn)
		d->fn(msg, d->userdata);
	d->count++;
	d->warnings += warning;
}

void smem__diag(struct smem__diag *d, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	report(d, false, fmt, ap);
	va_end(ap);
}

void smem__warn(struct smem__diag *d, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	report(d, true, fmt, ap);
	va_end(ap);
}

int smem__read_hdr(const uint8_t *base, uint64_t size, struct smem__diag *d, struct smem__hdr *ret)
{
	uint32_t initialized, reserved, sbl;

	if (size < sizeof(struct smem_header)) {
		smem__diag(d, "region of %" PRIu64 " bytes is smaller than the %zu-byte SMEM header",
			   size, sizeof(struct smem_header));
		return -EBADMSG;
	}
	/* V1 */
	initialized = shm_ld32(base + offsetof(struct smem_header, initialized));
	reserved = shm_ld32(base + offsetof(struct smem_header, reserved));
	if (initialized != 1 || reserved != 0) {
		smem__diag(d, "SMEM is not initialized (initialized=%u reserved=%u, expected 1 and 0)",
			   initialized, reserved);
		return -EBADMSG;
	}
	/* V2 */
	sbl = shm_ld32(base + offsetof(struct smem_header, version[SMEM_SBL_VERSION_INDEX]));
	ret->version = sbl >> 16;
	if (ret->version != SMEM_GLOBAL_HEAP_VERSION && ret->version != SMEM_GLOBAL_PART_VERSION) {
		smem__diag(d, "unsupported SMEM version 0x%x (major %u; 11 and 12 are known)", sbl,
			   ret->version);
		return -EPROTO;
	}
	ret->free_offset = shm_ld32(base + offsetof(struct smem_header, free_offset));
	ret->available = shm_ld32(base + offsetof(struct smem_header, available));
	ret->heap_end = (uint64_t)ret->free_offset + ret->available;
	/* V14: the heap the version-11 driver maps fits in the region. */
	if (ret->version == SMEM_GLOBAL_HEAP_VERSION &&
	    (ret->heap_end > size || ret->free_offset < sizeof(struct smem_header) ||
	     ret->free_offset % 8)) {
		smem__diag(d, "global heap free_offset 0x%x + available 0x%x does not fit a "
			      "0x%" PRIx64 "-byte region after its header",
			   ret->free_offset, ret->available, size);
		return -EBADMSG;
	}
	return 0;
}

int smem__read_ptable(const uint8_t *base, uint64_t size, struct smem__diag *d,
		      struct smem__ptable *ret)
{
	const uint8_t *pt = base + size - SMEM_PTABLE_SIZE;
	uint32_t version, n;
	const uint8_t *info;

	if (size < (uint64_t)sizeof(struct smem_header) + SMEM_PTABLE_SIZE ||
	    memcmp(pt, SMEM_PTABLE_MAGIC, 4) != 0) {
		smem__diag(d, "no partition table (\"$TOC\") in the last 4 KiB");
		return -ENOENT;
	}
	version = shm_ld32(pt + offsetof(struct smem_ptable, version));
	if (version != SMEM_PTABLE_VERSION) {
		smem__diag(d, "unsupported partition table version %u", version);
		return -EPROTO;
	}
	/* V3: the entries and the info block stay inside the 4 KiB table. */
	n = shm_ld32(pt + offsetof(struct smem_ptable, num_entries));
	if (n > SMEM_PTABLE_MAX_ENTRIES) {
		smem__diag(d, "partition table claims %u entries; at most %u fit in 4 KiB", n,
			   SMEM_PTABLE_MAX_ENTRIES);
		return -EBADMSG;
	}
	ret->n = n;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = pt + sizeof(struct smem_ptable) + i * sizeof(struct smem_ptable_entry);
		uint32_t hosts = shm_ld32(e + offsetof(struct smem_ptable_entry, host0));

		ret->e[i].offset = shm_ld32(e + offsetof(struct smem_ptable_entry, offset));
		ret->e[i].size = shm_ld32(e + offsetof(struct smem_ptable_entry, size));
		ret->e[i].flags = shm_ld32(e + offsetof(struct smem_ptable_entry, flags));
		ret->e[i].cacheline = shm_ld32(e + offsetof(struct smem_ptable_entry, cacheline));
		ret->e[i].host0 = (uint16_t)(hosts & 0xffff);
		ret->e[i].host1 = (uint16_t)(hosts >> 16);
	}
	info = pt + sizeof(struct smem_ptable) + n * sizeof(struct smem_ptable_entry);
	ret->has_info = memcmp(info, SMEM_INFO_MAGIC, 4) == 0;
	ret->info_num_items = ret->has_info ? shm_ld16(info + offsetof(struct smem_info, num_items)) : 0;
	return 0;
}

int smem__check_ptable_layout(const struct smem__ptable *pt, uint64_t size,
			      const struct smem__hdr *h, struct smem__diag *d, bool *bad)
{
	int r = 0;

	uint64_t lo = h->version == SMEM_GLOBAL_HEAP_VERSION ? h->heap_end
							     : sizeof(struct smem_header);
	uint64_t hi = size - SMEM_PTABLE_SIZE;

	for (unsigned i = 0; i < pt->n; i++) {
		uint64_t off = pt->e[i].offset, end = off + pt->e[i].size;

		if (!smem__ptable_used(pt, i))
			continue;
		if (off < lo || end > hi || off % 8 || pt->e[i].size % 8) {
			smem__diag(d, "partition %u (hosts %u:%u) at 0x%" PRIx64 "..0x%" PRIx64
				      " is misaligned or outside 0x%" PRIx64 "..0x%" PRIx64,
				   i, pt->e[i].host0, pt->e[i].host1, off, end, lo, hi);
			if (bad)
				bad[i] = true;
			r = -EBADMSG;
			continue;
		}
		for (unsigned j = 0; j < i; j++) {
			uint64_t o2 = pt->e[j].offset, e2 = o2 + pt->e[j].size;

			if (smem__ptable_used(pt, j) && (!bad || !bad[j]) && off < e2 && o2 < end) {
				smem__diag(d, "partitions %u and %u overlap", j, i);
				r = -EBADMSG;
			}
		}
	}
	return r;
}

int smem__check_part(const uint8_t *base, const struct smem__ptable *pt, unsigned i,
		     struct smem__diag *d, struct smem__part *ret)
{
	const uint8_t *p = base + pt->e[i].offset;
	uint32_t hosts, size, uncached, cached, slot, cl = pt->e[i].cacheline;

	/* V5 */
	if (pt->e[i].size < sizeof(struct smem_partition_header) ||
	    memcmp(p, SMEM_PART_MAGIC, 4) != 0) {
		smem__diag(d, "partition %u at 0x%x: bad partition magic %02x %02x %02x %02x", i,
			   pt->e[i].offset, p[0], p[1], p[2], p[3]);
		return -EBADMSG;
	}
	hosts = shm_ld32(p + offsetof(struct smem_partition_header, host0));
	size = shm_ld32(p + offsetof(struct smem_partition_header, size));
	uncached = shm_ld32(p + offsetof(struct smem_partition_header, offset_free_uncached));
	cached = shm_ld32(p + offsetof(struct smem_partition_header, offset_free_cached));
	if ((hosts & 0xffff) != pt->e[i].host0 || (hosts >> 16) != pt->e[i].host1) {
		smem__diag(d, "partition %u at 0x%x: header hosts %u:%u, table says %u:%u", i,
			   pt->e[i].offset, hosts & 0xffff, hosts >> 16, pt->e[i].host0,
			   pt->e[i].host1);
		return -EBADMSG;
	}
	if (size != pt->e[i].size) {
		smem__diag(d, "partition %u at 0x%x: header says size 0x%x, the table 0x%x", i,
			   pt->e[i].offset, size, pt->e[i].size);
		return -EBADMSG;
	}
	if (uncached > size) {
		smem__diag(d, "partition %u at 0x%x: offset_free_uncached 0x%x is past its size 0x%x",
			   i, pt->e[i].offset, uncached, size);
		return -EBADMSG;
	}
	/* V7 */
	if (cl && (!is_pow2(cl) || cl < 16 || cl > SMEM_MAX_CACHELINE)) {
		smem__diag(d, "partition %u at 0x%x: cacheline %u is not 0 or a power of two "
			      "from 16 to 4096",
			   i, pt->e[i].offset, cl);
		return -EBADMSG;
	}
	slot = cl ? (uint32_t)align_up(16, cl) : 0;
	/*
	 * V7 at attach too, so that a partition whose cached list cannot exist is
	 * refused at once rather than on its first walk (which checks again).
	 */
	if (!smem__cached_slot_fits(size, slot, cached)) {
		if (!slot)
			smem__diag(d, "partition %u at 0x%x: cached entries from 0x%x but cacheline 0",
				   i, pt->e[i].offset, cached);
		else
			smem__diag(d, "partition %u at 0x%x: cached entries from 0x%x, but the topmost "
				      "%u-byte header slot does not fit between them, clear of the "
				      "partition header, and the end 0x%x",
				   i, pt->e[i].offset, cached, slot, size);
		return -EBADMSG;
	}
	*ret = (struct smem__part){ .off = pt->e[i].offset, .size = size, .slot = slot,
				    .host0 = pt->e[i].host0, .host1 = pt->e[i].host1 };
	return 0;
}
