/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets: every target gets arbitrary bytes as an SMEM image,
 * in a heap buffer of exactly that size, so the sanitizers catch any read
 * outside it.
 */
#ifndef SMEMKIT_FUZZ_H
#define SMEMKIT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/smem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Attach to a copy of the input as @host; writable with a private lock bank when asked. */
static inline struct smem *fuzz_open(const uint8_t *data, size_t size, unsigned host,
				     bool writable, uint8_t **ret_copy, struct smem_region **ret_r)
{
	static uint8_t bank[SMEM_HWLOCK_BANK_SIZE(64)] __attribute__((aligned(64)));
	static struct smem_region *lr;
	static struct smem_hwlock *h;
	struct smem_hwlock_opts ho;
	struct smem_open_opts o;
	struct smem *s = NULL;
	uint8_t *copy;

	*ret_copy = NULL;
	*ret_r = NULL;
	if (!size || !(copy = malloc(size)))
		return NULL;
	memcpy(copy, data, size);
	if (!h) {
		if (smem_hwlock_format(bank, sizeof(bank), 64) < 0 ||
		    smem_region_wrap(bank, sizeof(bank), true, &lr) < 0)
			abort();
		smem_hwlock_opts_init(&ho);
		ho.region = lr;
		if (smem_hwlock_open(NULL, &ho, &h) < 0)
			abort();
		/* Registered once, so each attach only counts a registration. */
		for (unsigned id = 0; id < SMEM_HWLOCK_TABLE_HOSTS; id++)
			if (smem_hwlock_host_register(h, id) < 0)
				abort();
	}
	if (smem_region_wrap(copy, size, writable, ret_r) < 0) {
		free(copy);
		return NULL;
	}
	smem_open_opts_init(&o);
	o.region = *ret_r;
	o.hwlock = writable ? h : NULL;
	if (smem_open(NULL, host, &o, &s) < 0)
		s = NULL;
	*ret_copy = copy;
	return s;
}

static inline void fuzz_close(struct smem *s, uint8_t *copy, struct smem_region *r)
{
	smem_close(s);
	smem_region_close(r);
	free(copy);
}

#endif
