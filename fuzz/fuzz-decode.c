// SPDX-License-Identifier: MIT
/*
 * Decode arbitrary bytes as each well-known item, and decode the well-known items
 * of an arbitrary image, as `smemctl decode` does.
 */
#include "fuzz.h"
#include "smem/decode.h"

static void sink(const char *key, const char *value, bool is_string, void *userdata)
{
	*(size_t *)userdata += strlen(key) + strlen(value) + is_string;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned items[] = { 137, 469, 421, 601 };
	struct smem_region *r;
	size_t total = 0;
	uint8_t *copy = malloc(size ? size : 1);
	struct smem *s;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	smem__decode_socinfo(copy, size, sink, &total, NULL);
	smem__decode_image_versions(copy, size, sink, &total, NULL);
	smem__decode_string(copy, size, sink, &total);
	free(copy);

	s = fuzz_open(data, size, 0, false, &copy, &r);
	for (unsigned i = 0; s && i < sizeof(items) / sizeof(items[0]); i++) {
		void *p;
		size_t n;

		if (smem_item_get(s, SMEM_HOST_ANY, items[i], &p, &n) != 0)
			continue;
		if (items[i] == 137)
			smem__decode_socinfo(p, n, sink, &total, NULL);
		else if (items[i] == 469)
			smem__decode_image_versions(p, n, sink, &total, NULL);
		else
			smem__decode_string(p, n, sink, &total);
	}
	fuzz_close(s, copy, r);
	return 0;
}
