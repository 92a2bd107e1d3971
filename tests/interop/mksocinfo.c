// SPDX-License-Identifier: MIT
/*
 * mksocinfo - write the bytes of well-known SMEM items for the interop test.
 *
 * The interop test stores these bytes in an image with `smemctl alloc --data`
 * and then asks the real Linux socinfo driver what it read. So the layouts here
 * follow the kernel's structures, not smemkit's headers: a bug shared by
 * smemkit's decoder and this file would otherwise go unnoticed.
 *
 *   mksocinfo socinfo [--fmt N] [--id N] [--ver MAJ.MIN] [--serial N]
 *                     [--build-id TEXT] [--chip-id TEXT] [--raw-id N] [--raw-ver N]
 *       item 137, format 0.N (default 0.15, 176 bytes), all fields little-endian
 *   mksocinfo image-versions INDEX=NAME[:VARIANT[:OEM]]...
 *       item 469, 32 entries of 128 bytes {name[75], variant[20], pad, oem[32]}
 *   mksocinfo pattern SEED SIZE
 *       SIZE bytes, byte k = (SEED + k) mod 256: what smem_test_mod writes
 *
 * The bytes go to standard output. Exit 0 on success, 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* socinfo (item 137): offsets of the fields this tool fills. */
enum {
	SOCINFO_FMT = 0,
	SOCINFO_ID = 4,
	SOCINFO_VER = 8,
	SOCINFO_BUILD_ID = 12,
	SOCINFO_BUILD_ID_LEN = 32,
	SOCINFO_RAW_ID = 44,
	SOCINFO_RAW_VER = 48,
	SOCINFO_SERIAL = 96,
	SOCINFO_NUM_PMICS = 100,
	SOCINFO_PMIC_ARRAY_OFFSET = 104,
	SOCINFO_CHIP_ID = 124,
	SOCINFO_CHIP_ID_LEN = 32,
	SOCINFO_MAX_SIZE = 216,
};

/* The size of the socinfo structure for each format minor, 1..19. */
static const unsigned socinfo_size_by_fmt[] = {
	[1] = 44,   [2] = 52,   [3] = 56,   [4] = 60,   [5] = 64,
	[6] = 68,   [7] = 76,   [8] = 92,   [9] = 96,   [10] = 100,
	[11] = 108, [12] = 120, [13] = 156, [14] = 172, [15] = 176,
	[16] = 192, [17] = 196, [18] = 204, [19] = 216,
};

/* Image version table (item 469). */
enum {
	IMAGE_ENTRIES = 32,
	IMAGE_ENTRY_SIZE = 128,
	IMAGE_NAME = 0,
	IMAGE_NAME_LEN = 75,
	IMAGE_VARIANT = 75,
	IMAGE_VARIANT_LEN = 20,
	IMAGE_OEM = 96,
	IMAGE_OEM_LEN = 32,
};

_Static_assert(IMAGE_VARIANT + IMAGE_VARIANT_LEN + 1 == IMAGE_OEM, "pad byte before oem");
_Static_assert(IMAGE_OEM + IMAGE_OEM_LEN == IMAGE_ENTRY_SIZE, "entry is 128 bytes");
_Static_assert(SOCINFO_CHIP_ID + SOCINFO_CHIP_ID_LEN == 156, "chip_id ends format 0.13");

static int usage(void)
{
	fputs("usage: mksocinfo socinfo [--fmt N] [--id N] [--ver MAJ.MIN] [--serial N]\n"
	      "                         [--build-id TEXT] [--chip-id TEXT] [--raw-id N] [--raw-ver N]\n"
	      "       mksocinfo image-versions INDEX=NAME[:VARIANT[:OEM]]...\n"
	      "       mksocinfo pattern SEED SIZE\n",
	      stderr);
	return 2;
}

static int parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Copy TEXT into a fixed field, refusing text that would leave no NUL. */
static int put_string(uint8_t *field, size_t len, const char *text, const char *what)
{
	size_t n = strlen(text);

	if (n >= len) {
		fprintf(stderr, "mksocinfo: %s '%s' is longer than %zu bytes\n", what, text, len - 1);
		return -EINVAL;
	}
	memcpy(field, text, n);
	return 0;
}

static int write_all(const uint8_t *buf, size_t len)
{
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		perror("mksocinfo: write");
		return 1;
	}
	return 0;
}

static int cmd_socinfo(int argc, char **argv)
{
	uint8_t buf[SOCINFO_MAX_SIZE] = { 0 };
	uint32_t fmt = 15, id = 321, ver_major = 2, ver_minor = 1, serial = 0xc0ffee;
	uint32_t raw_id = 0, raw_ver = 0;
	const char *build_id = "", *chip_id = "";
	size_t size;

	for (int i = 0; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int r = 0;

		if (!val)
			return usage();
		if (!strcmp(opt, "--fmt"))
			r = parse_u32(val, &fmt);
		else if (!strcmp(opt, "--id"))
			r = parse_u32(val, &id);
		else if (!strcmp(opt, "--serial"))
			r = parse_u32(val, &serial);
		else if (!strcmp(opt, "--raw-id"))
			r = parse_u32(val, &raw_id);
		else if (!strcmp(opt, "--raw-ver"))
			r = parse_u32(val, &raw_ver);
		else if (!strcmp(opt, "--build-id"))
			build_id = val;
		else if (!strcmp(opt, "--chip-id"))
			chip_id = val;
		else if (!strcmp(opt, "--ver")) {
			unsigned maj, min;
			char tail;

			if (sscanf(val, "%u.%u%c", &maj, &min, &tail) != 2 || maj > 0xffff ||
			    min > 0xffff)
				r = -EINVAL;
			ver_major = maj;
			ver_minor = min;
		} else
			return usage();
		if (r < 0) {
			fprintf(stderr, "mksocinfo: bad value '%s' for %s\n", val, opt);
			return 2;
		}
	}
	if (fmt < 1 || fmt >= sizeof(socinfo_size_by_fmt) / sizeof(socinfo_size_by_fmt[0])) {
		fprintf(stderr, "mksocinfo: format 0.%" PRIu32 " is not one of 0.1..0.19\n", fmt);
		return 2;
	}
	size = socinfo_size_by_fmt[fmt];

	put_le32(buf + SOCINFO_FMT, fmt); /* major 0, minor fmt */
	put_le32(buf + SOCINFO_ID, id);
	put_le32(buf + SOCINFO_VER, ver_major << 16 | ver_minor);
	if (put_string(buf + SOCINFO_BUILD_ID, SOCINFO_BUILD_ID_LEN, build_id, "build id") < 0)
		return 2;
	put_le32(buf + SOCINFO_RAW_ID, raw_id);
	put_le32(buf + SOCINFO_RAW_VER, raw_ver);
	put_le32(buf + SOCINFO_SERIAL, serial);
	/* No PMIC array: zero entries at an offset inside the item. */
	put_le32(buf + SOCINFO_NUM_PMICS, 0);
	put_le32(buf + SOCINFO_PMIC_ARRAY_OFFSET, 0);
	if (fmt >= 13 &&
	    put_string(buf + SOCINFO_CHIP_ID, SOCINFO_CHIP_ID_LEN, chip_id, "chip id") < 0)
		return 2;
	/* Fields past the end of this format stay zero and are not written. */
	return write_all(buf, size);
}

static int cmd_image_versions(int argc, char **argv)
{
	static uint8_t table[IMAGE_ENTRIES * IMAGE_ENTRY_SIZE];

	for (int i = 0; i < argc; i++) {
		char *arg = argv[i], *eq = strchr(arg, '='), *fields[3] = { NULL, "", "" };
		uint32_t index;
		uint8_t *e;

		if (!eq)
			return usage();
		*eq = '\0';
		if (parse_u32(arg, &index) < 0 || index >= IMAGE_ENTRIES) {
			fprintf(stderr, "mksocinfo: image index '%s' is not 0..31\n", arg);
			return 2;
		}
		fields[0] = eq + 1;
		for (int f = 1; f < 3; f++) {
			char *colon = strchr(fields[f - 1], ':');

			if (!colon)
				break;
			*colon = '\0';
			fields[f] = colon + 1;
		}
		e = table + (size_t)index * IMAGE_ENTRY_SIZE;
		if (put_string(e + IMAGE_NAME, IMAGE_NAME_LEN, fields[0], "image name") < 0 ||
		    put_string(e + IMAGE_VARIANT, IMAGE_VARIANT_LEN, fields[1], "variant") < 0 ||
		    put_string(e + IMAGE_OEM, IMAGE_OEM_LEN, fields[2], "oem") < 0)
			return 2;
	}
	return write_all(table, sizeof(table));
}

static int cmd_pattern(int argc, char **argv)
{
	uint32_t seed, size;
	uint8_t *buf;
	int r;

	if (argc != 2 || parse_u32(argv[0], &seed) < 0 || parse_u32(argv[1], &size) < 0 ||
	    size > (64u << 20))
		return usage();
	buf = malloc(size ? size : 1);
	if (!buf) {
		perror("mksocinfo");
		return 1;
	}
	for (uint32_t k = 0; k < size; k++)
		buf[k] = (uint8_t)(seed + k);
	r = write_all(buf, size);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "socinfo"))
		return cmd_socinfo(argc - 2, argv + 2);
	if (!strcmp(argv[1], "image-versions"))
		return cmd_image_versions(argc - 2, argv + 2);
	if (!strcmp(argv[1], "pattern"))
		return cmd_pattern(argc - 2, argv + 2);
	return usage();
}
