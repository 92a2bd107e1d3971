// SPDX-License-Identifier: MIT
/* Check an arbitrary image; the checker must finish and stay inside it. */
#include "fuzz.h"

static void ignore(const char *msg, void *userdata)
{
	(void)msg;
	++*(unsigned *)userdata;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	unsigned n = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (smem_check(copy, size, ignore, &n) != (int)n)
		abort(); /* the count returned is the number of findings reported */
	free(copy);
	return 0;
}
