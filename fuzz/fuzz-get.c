// SPDX-License-Identifier: MIT
/* Look items up in an arbitrary image from several hosts, touching every byte returned. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned hosts[] = { 0, 1 };
	static const unsigned remotes[] = { SMEM_HOST_ANY, 0, 1, 2, 3, 5, 24 };

	for (unsigned h = 0; h < 2; h++) {
		struct smem_region *r;
		uint8_t *copy;
		struct smem *s = fuzz_open(data, size, hosts[h], false, &copy, &r);

		for (unsigned j = 0; s && j < sizeof(remotes) / sizeof(remotes[0]); j++) {
			for (unsigned item = 0; item < 600; item += (item < 16 ? 1 : 7)) {
				volatile uint8_t sum = 0; /* keeps the reads */
				void *p;
				size_t n;
				uint64_t phys;

				if (smem_item_get(s, remotes[j], item, &p, &n) != 0)
					continue;
				for (size_t i = 0; i < n; i++)
					sum += ((uint8_t *)p)[i];
				smem_virt_to_phys(s, p, &phys);
			}
		}
		fuzz_close(s, copy, r);
	}
	return 0;
}
