// SPDX-License-Identifier: MIT
/*
 * assign_mem: the authoritative table of which VMIDs may access which memory,
 * with which rights, as TrustZone keeps it for qcom_scm_assign_mem().
 *
 * Memory nobody assigned belongs to HLOS (VMID 3) with RWX. The table holds
 * the ranges assigned otherwise, sorted and disjoint, each with its owner set
 * (a bitmap of VMIDs below 64) and each owner's rights. An assignment names a
 * range, the set it expects to own it now (srcvm) and the new owners with
 * their rights: every page of the range must be owned by exactly srcvm, or
 * nothing changes. The new table is built aside and swapped in whole, so a
 * call that fails (a bad argument, a range owned otherwise, no room for the
 * entries a split needs) leaves the table as it was.
 */
#include <string.h>

#include "tzd.h"

#define ALL_RIGHTS 0x7u

/* One destination of a frame: {vmid in bits 5:0, rights in bits 8:6}, seven to a word. */
static void dest_at(const uint64_t a[8], unsigned i, unsigned *vmid, unsigned *perm)
{
	uint64_t w = a[5 + i / 7] >> (9 * (i % 7));

	*vmid = (unsigned)(w & 0x3f);
	*perm = (unsigned)(w >> 6 & 0x7);
}

static bool is_default(const struct tzd_mem *m)
{
	if (m->owners != 1ull << SMEM_SCM_VMID_HLOS)
		return false;
	return m->perm[SMEM_SCM_VMID_HLOS] == ALL_RIGHTS;
}

/* The assignment of @addr: the table's entry, or HLOS's default. */
static struct tzd_mem lookup(const struct tzd *t, uint64_t addr, uint64_t *ret_end)
{
	struct tzd_mem m = { .start = 0, .end = UINT64_MAX, .owners = 1ull << SMEM_SCM_VMID_HLOS };

	m.perm[SMEM_SCM_VMID_HLOS] = ALL_RIGHTS;
	for (unsigned i = 0; i < t->n_mem; i++) {
		if (t->mem[i].start <= addr && addr < t->mem[i].end) {
			*ret_end = t->mem[i].end;
			return t->mem[i];
		}
		if (t->mem[i].start > addr) {
			*ret_end = t->mem[i].start;
			return m;
		}
	}
	*ret_end = UINT64_MAX;
	return m;
}

int64_t tzd_assign(struct tzd *t, const uint64_t a[8], uint64_t *ret_owners)
{
	uint64_t addr = a[2], size = a[3], src = a[4], end, owners = 0, at;
	unsigned n = (unsigned)(a[7] & 0xff), k = 0;
	struct tzd_mem want = { 0 }, *next = t->mem_spare;

	/* The frame: a whole number of pages, inside the space, to 1..14 distinct owners. */
	if (!size || (addr | size) & (SMEM_SCM_ASSIGN_ALIGN - 1) || addr >= SMEM_SCM_ASSIGN_LIMIT ||
	    size > SMEM_SCM_ASSIGN_LIMIT - addr)
		return SMEM_SCM_EINVAL_ADDR;
	if (!src || n == 0 || n > SMEM_SCM_ASSIGN_MAX_DEST || a[7] >> 8 ||
	    (n <= 7 && a[6]) || (n < 7 && a[5] >> (9 * n)) || (n > 7 && a[6] >> (9 * (n - 7))))
		return SMEM_SCM_EINVAL_ARG;
	end = addr + size;
	for (unsigned i = 0; i < n; i++) {
		unsigned vmid, perm;

		dest_at(a, i, &vmid, &perm);
		if (!perm || owners & 1ull << vmid)
			return SMEM_SCM_EINVAL_ARG;
		owners |= 1ull << vmid;
		want.perm[vmid] = (uint8_t)perm;
	}
	want.start = addr;
	want.end = end;
	want.owners = owners;
	/* Every page owned by exactly @src now. */
	for (at = addr; at < end;) {
		uint64_t run_end;
		struct tzd_mem m = lookup(t, at, &run_end);

		if (m.owners != src)
			return SMEM_SCM_ERROR;
		at = run_end;
	}
	/* The new table aside, in order: what lies before, the new range, what follows. */
	for (unsigned i = 0; i < t->n_mem; i++) {
		const struct tzd_mem *m = &t->mem[i];

		if (m->start >= addr)
			break;
		next[k] = *m;
		if (next[k].end > addr)
			next[k].end = addr;
		k++;
	}
	if (!is_default(&want)) {
		next[k++] = want;
	}
	for (unsigned i = 0; i < t->n_mem; i++) {
		const struct tzd_mem *m = &t->mem[i];

		if (m->end <= end)
			continue;
		next[k] = *m;
		if (next[k].start < end)
			next[k].start = end;
		k++;
	}
	/* Neighbours assigned alike become one, so that giving back undoes a split. */
	if (k) {
		unsigned j = 0;

		for (unsigned i = 1; i < k; i++) {
			if (next[j].end == next[i].start && next[j].owners == next[i].owners &&
			    !memcmp(next[j].perm, next[i].perm, sizeof(next[j].perm)))
				next[j].end = next[i].end;
			else
				next[++j] = next[i];
		}
		k = j + 1;
	}
	/* Built in room for two more (a range split in three), merged, then checked. */
	if (k > TZD_MAX_MEM)
		return SMEM_SCM_ENOMEM;
	/* Whole, or not at all: the spare becomes the table. */
	t->mem_spare = t->mem;
	t->mem = next;
	t->n_mem = k;
	*ret_owners = owners;
	return SMEM_SCM_SUCCESS;
}

void tzd_mem_query(const struct tzd *t, uint64_t addr, unsigned vmid, uint64_t r[3])
{
	uint64_t end;
	struct tzd_mem m = lookup(t, addr, &end);

	r[0] = m.owners;
	r[1] = vmid < 64 ? m.perm[vmid] : 0;
	r[2] = end;
}
