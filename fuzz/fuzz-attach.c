// SPDX-License-Identifier: MIT
/* Attach to an arbitrary image as any host, then allocate in it and look the items up. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned hosts[] = { 0, 1, 2, 5 };
	struct smem_region *r;
	uint8_t *copy;

	for (unsigned i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct smem *s = fuzz_open(data, size, hosts[i], true, &copy, &r);

		if (s) {
			static const unsigned remotes[] = { SMEM_HOST_ANY, 0, 1, 2, 5 };

			for (unsigned j = 0; j < sizeof(remotes) / sizeof(remotes[0]); j++) {
				void *p;
				size_t n, free;

				if (smem_item_alloc(s, remotes[j], 100 + j, 24, 0) == 0 &&
				    smem_item_get(s, remotes[j], 100 + j, &p, &n) == 0)
					memset(p, 0xee, n);
				smem_item_alloc(s, remotes[j], 200 + j, 8, SMEM_ITEM_CACHED);
				smem_free_space(s, remotes[j], &free);
			}
			/* What the allocations left must still be a sound image to the fsck walk. */
			smem_check(copy, size, NULL, NULL);
		}
		fuzz_close(s, copy, r);
	}
	return 0;
}
