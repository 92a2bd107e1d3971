// SPDX-License-Identifier: MIT
/* List every item of an arbitrary image, touching every byte each entry claims. */
#include "fuzz.h"

static int touch(const struct smem_item_info *it, void *userdata)
{
	const uint8_t *base = userdata;
	volatile uint8_t sum = 0; /* keeps the reads */

	if (it->aux_base)
		return 0; /* another region's entry: its offset means nothing here */
	for (size_t i = 0; i < it->size; i++)
		sum += base[it->offset + i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smem_region *r;
	uint8_t *copy;
	struct smem *s = fuzz_open(data, size, 0, false, &copy, &r);

	if (s)
		smem_item_foreach(s, touch, copy);
	fuzz_close(s, copy, r);
	return 0;
}
