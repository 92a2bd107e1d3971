// SPDX-License-Identifier: MIT
/*
 * Decoders of well-known SMEM items, for `smemctl decode` and the fsck.
 *
 * socinfo (item 137) grows with its format: fmt = (major << 16) | minor with
 * major 0, and each minor version appends fields. A field is shown only if the
 * format has it and the item is large enough to hold it; a format that claims
 * more than the item holds is reported (the bug fixed for CVE-2024-58007).
 */
#include "decode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { U32, HEX, VER, STR32 };

static const struct field {
	const char *name;
	unsigned off;
	unsigned since; /* format minor version */
	enum kind kind;
} socinfo_fields[] = {
	{ "fmt", 0, 0, VER },
	{ "id", 4, 1, U32 },
	{ "ver", 8, 1, VER },
	{ "build_id", 12, 1, STR32 },
	{ "raw_id", 44, 2, U32 },
	{ "raw_ver", 48, 2, U32 },
	{ "hw_plat", 52, 3, U32 },
	{ "plat_ver", 56, 4, U32 },
	{ "accessory_chip", 60, 5, U32 },
	{ "hw_plat_subtype", 64, 6, U32 },
	{ "pmic_model", 68, 7, U32 },
	{ "pmic_die_rev", 72, 7, U32 },
	{ "pmic_model_1", 76, 8, U32 },
	{ "pmic_die_rev_1", 80, 8, U32 },
	{ "pmic_model_2", 84, 8, U32 },
	{ "pmic_die_rev_2", 88, 8, U32 },
	{ "foundry_id", 92, 9, U32 },
	{ "serial_num", 96, 10, U32 },
	{ "num_pmics", 100, 11, U32 },
	{ "pmic_array_offset", 104, 11, HEX },
	{ "chip_family", 108, 12, HEX },
	{ "raw_device_family", 112, 12, HEX },
	{ "raw_device_num", 116, 12, HEX },
	{ "nproduct_id", 120, 13, U32 },
	{ "chip_id", 124, 13, STR32 },
	{ "num_clusters", 156, 14, U32 },
	{ "ncluster_array_offset", 160, 14, HEX },
	{ "num_subset_parts", 164, 14, U32 },
	{ "nsubset_parts_array_offset", 168, 14, HEX },
	{ "nmodem_supported", 172, 15, U32 },
	{ "feature_code", 176, 16, U32 },
	{ "pcode", 180, 16, U32 },
	{ "npartnamemap_offset", 184, 16, HEX },
	{ "nnum_partname_mapping", 188, 16, U32 },
	{ "oem_variant", 192, 17, U32 },
	{ "num_kvps", 196, 18, U32 },
	{ "kvps_offset", 200, 18, HEX },
	{ "num_func_clusters", 204, 19, U32 },
	{ "boot_cluster", 208, 19, U32 },
	{ "boot_core", 212, 19, U32 },
};

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4); /* fields such as the PMIC array may be unaligned */
	return le32toh(v);
}

void smem__escape(char *out, size_t outlen, const uint8_t *s, size_t n)
{
	size_t o = 0;

	if (!outlen)
		return;
	for (size_t i = 0; i < n && s[i]; i++) {
		char tmp[5];
		size_t k;

		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			k = (size_t)snprintf(tmp, sizeof(tmp), "%c", s[i]);
		else
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
		if (o + k >= outlen)
			break;
		memcpy(out + o, tmp, k);
		o += k;
	}
	out[o] = '\0';
}

/* Decimal values are numbers; hexadecimal ones are strings ("0x5a"), as JSON needs. */
static void emit_num(smem__emit_fn emit, void *ud, const char *key, const char *fmt, uint32_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), fmt, v);
	emit(key, buf, buf[0] == '0' && buf[1] == 'x', ud);
}

int smem__decode_socinfo(const uint8_t *item, size_t size, smem__emit_fn emit, void *ud,
			 struct smem__diag *d)
{
	uint32_t fmt, minor;
	int r = 0;

	if (size < 4) {
		smem__diag(d, "socinfo item of %zu bytes has no format word", size);
		return -EBADMSG;
	}
	fmt = get32(item);
	minor = fmt & 0xffff;
	for (size_t i = 0; i < ARRAY_SIZE(socinfo_fields); i++) {
		const struct field *f = &socinfo_fields[i];
		unsigned len = f->kind == STR32 ? 32 : 4;
		char buf[160];

		if (f->since > minor)
			break;
		if (f->off + len > size) {
			/* V18 */
			smem__diag(d, "socinfo format %u.%u has %s at %u, but the item is %zu bytes",
				   fmt >> 16, minor, f->name, f->off, size);
			r = -EBADMSG;
			break;
		}
		if (!emit)
			continue;
		switch (f->kind) {
		case U32:
			emit_num(emit, ud, f->name, "%" PRIu32, get32(item + f->off));
			break;
		case HEX:
			emit_num(emit, ud, f->name, "0x%" PRIx32, get32(item + f->off));
			break;
		case VER:
			snprintf(buf, sizeof(buf), "%u.%u", get32(item + f->off) >> 16,
				 get32(item + f->off) & 0xffff);
			emit(f->name, buf, true, ud);
			break;
		case STR32:
			smem__escape(buf, sizeof(buf), item + f->off, 32);
			emit(f->name, buf, true, ud);
			break;
		}
	}
	/* The PMIC array: num_pmics pairs of le32 at pmic_array_offset. */
	if (r == 0 && minor >= 11 && size >= 108) {
		uint32_t n = get32(item + 100), off = get32(item + 104);

		if (n && ((uint64_t)off + 8ull * n > size)) {
			smem__diag(d, "socinfo PMIC array of %u at 0x%x runs past the %zu-byte item", n,
				   off, size);
			r = -EBADMSG;
		} else if (emit) {
			for (uint32_t i = 0; i < n; i++) {
				char key[32];

				snprintf(key, sizeof(key), "pmic%u_model", i);
				emit_num(emit, ud, key, "%" PRIu32, get32(item + off + 8 * i) & 0xffff);
				snprintf(key, sizeof(key), "pmic%u_die_rev", i);
				emit_num(emit, ud, key, "0x%" PRIx32, get32(item + off + 8 * i + 4));
			}
		}
	}
	return r;
}

static const char *const image_names[32] = {
	[0] = "boot",   [1] = "tz",     [3] = "rpm",     [9] = "appsbl",  [10] = "apps",
	[11] = "mpss",  [12] = "adsp",  [13] = "cnss",   [14] = "video",  [15] = "dsps",
	[16] = "cdsp",  [19] = "cdsp1", [20] = "gpdsp",  [21] = "gpdsp1", [28] = "tme",
};

#define IMAGE_ENTRY 128u

int smem__decode_image_versions(const uint8_t *item, size_t size, smem__emit_fn emit, void *ud,
				struct smem__diag *d)
{
	unsigned n = (unsigned)(size / IMAGE_ENTRY);

	if (n > 32)
		n = 32;
	if (size % IMAGE_ENTRY)
		smem__diag(d, "image version table of %zu bytes is not a whole number of entries",
			   size);
	for (unsigned i = 0; i < n && emit; i++) {
		const uint8_t *e = item + i * IMAGE_ENTRY;
		char key[48], val[160];

		if (!e[0])
			continue;
		snprintf(key, sizeof(key), "%s.name", image_names[i] ? image_names[i] : "");
		if (!image_names[i])
			snprintf(key, sizeof(key), "%u.name", i);
		smem__escape(val, sizeof(val), e, 75);
		emit(key, val, true, ud);
		key[strlen(key) - 4] = '\0';
		strcat(key, "variant");
		smem__escape(val, sizeof(val), e + 75, 20);
		emit(key, val, true, ud);
		key[strlen(key) - 7] = '\0';
		strcat(key, "oem");
		smem__escape(val, sizeof(val), e + 96, 32);
		emit(key, val, true, ud);
	}
	return size % IMAGE_ENTRY ? -EBADMSG : 0;
}

int smem__decode_string(const uint8_t *item, size_t size, smem__emit_fn emit, void *ud)
{
	size_t len = size > SIZE_MAX / 4 - 1 ? SIZE_MAX / 4 - 1 : size;
	char *val = malloc(4 * len + 1); /* each byte escapes to at most 4 */

	if (!val)
		return -ENOMEM;
	smem__escape(val, 4 * len + 1, item, len); /* V17: never past the item */
	emit("string", val, true, ud);
	free(val);
	return 0;
}

const char *smem__crash_reason_name(unsigned item)
{
	switch (item) {
	case 421: return "mpss";
	case 422: return "wcnss";
	case 423: return "lpass";
	case 424: return "dsps";
	case 425: return "vcodec";
	case 601: return "cdsp";
	case 626: return "wpss";
	case 633: return "cdsp1";
	case 640: return "gpdsp0";
	case 641: return "gpdsp1";
	default: return NULL;
	}
}
