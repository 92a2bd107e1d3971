/* SPDX-License-Identifier: MIT */
/*
 * The SMEM image, byte for byte as Linux drivers/soc/qcom/smem.c reads it.
 * Every multi-byte field is little-endian. Offsets are from the start of the
 * region (region[0] in Linux) unless a comment says otherwise. This header is the
 * only description of the format in the code; the _Static_asserts pin it to the
 * offsets of docs/FORMAT.md.
 */
#ifndef SMEMKIT_SMEM_LAYOUT_H
#define SMEMKIT_SMEM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define SMEM_SBL_VERSION_INDEX   7
#define SMEM_GLOBAL_HEAP_VERSION 11
#define SMEM_GLOBAL_PART_VERSION 12
#define SMEM_TOC_COUNT           512
#define SMEM_AUX_BASE_MASK       0xfffffffcu
#define SMEM_PTABLE_SIZE         4096u
#define SMEM_PTABLE_MAX_ENTRIES  84u /* 32 + 48 * 84 + 20 <= 4096 (V3) */
#define SMEM_PRIVATE_CANARY      0xa5a5u
#define SMEM_PTABLE_VERSION      1u
#define SMEM_MAX_CACHELINE       4096u

static const uint8_t SMEM_PTABLE_MAGIC[4] = { '$', 'T', 'O', 'C' };
static const uint8_t SMEM_PART_MAGIC[4] = { '$', 'P', 'R', 'T' };
static const uint8_t SMEM_INFO_MAGIC[4] = { 'S', 'I', 'I', 'I' };

struct smem_proc_comm {
	uint32_t command;
	uint32_t status;
	uint32_t params[2];
};

/* One slot of the global-heap table of contents. */
struct smem_global_entry {
	uint32_t allocated; /* publishing word: non-zero once offset and size are valid */
	uint32_t offset;
	uint32_t size; /* 8-byte aligned, padding included */
	uint32_t aux_base;
};

struct smem_header {
	struct smem_proc_comm proc_comm[4];
	uint32_t version[32];
	uint32_t initialized;
	uint32_t free_offset;
	uint32_t available;
	uint32_t reserved;
	struct smem_global_entry toc[SMEM_TOC_COUNT];
};

struct smem_ptable_entry {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint16_t host0;
	uint16_t host1;
	uint32_t cacheline;
	uint32_t reserved[7];
};

struct smem_ptable {
	uint8_t magic[4];
	uint32_t version;
	uint32_t num_entries;
	uint32_t reserved[5];
	struct smem_ptable_entry entry[];
};

/* Follows entry[num_entries] of the partition table. */
struct smem_info {
	uint8_t magic[4];
	uint32_t size;
	uint32_t base_addr;
	uint32_t reserved;
	uint16_t num_items;
};

struct smem_partition_header {
	uint8_t magic[4];
	uint16_t host0;
	uint16_t host1;
	uint32_t size;
	uint32_t offset_free_uncached; /* publishing word of the uncached list */
	uint32_t offset_free_cached;   /* publishing word of the cached list */
	uint32_t reserved[3];
};

struct smem_private_entry {
	uint16_t canary;
	uint16_t item;
	uint32_t size; /* data size, padding_data included */
	uint16_t padding_data;
	uint16_t padding_hdr;
	uint32_t reserved;
};

#define SMEM_INFO_LEN 18u /* bytes of struct smem_info that carry data */

_Static_assert(sizeof(struct smem_proc_comm) == 16, "proc_comm");
_Static_assert(sizeof(struct smem_global_entry) == 16, "global entry");
_Static_assert(offsetof(struct smem_header, version) == 0x040, "header.version");
_Static_assert(offsetof(struct smem_header, version[SMEM_SBL_VERSION_INDEX]) == 0x05c, "sbl");
_Static_assert(offsetof(struct smem_header, initialized) == 0x0c0, "header.initialized");
_Static_assert(offsetof(struct smem_header, free_offset) == 0x0c4, "header.free_offset");
_Static_assert(offsetof(struct smem_header, available) == 0x0c8, "header.available");
_Static_assert(offsetof(struct smem_header, reserved) == 0x0cc, "header.reserved");
_Static_assert(offsetof(struct smem_header, toc) == 0x0d0, "header.toc");
_Static_assert(sizeof(struct smem_header) == 0x20d0, "header");
_Static_assert(sizeof(struct smem_ptable) == 32, "ptable");
_Static_assert(sizeof(struct smem_ptable_entry) == 48, "ptable entry");
_Static_assert(offsetof(struct smem_ptable_entry, host0) == 12, "ptable entry.host0");
_Static_assert(offsetof(struct smem_ptable_entry, cacheline) == 16, "ptable entry.cacheline");
_Static_assert(offsetof(struct smem_info, num_items) == 16, "info.num_items");
_Static_assert(sizeof(struct smem_info) == 20, "info");
_Static_assert(sizeof(struct smem_partition_header) == 32, "partition header");
_Static_assert(offsetof(struct smem_partition_header, offset_free_uncached) == 12, "phdr");
_Static_assert(offsetof(struct smem_partition_header, offset_free_cached) == 16, "phdr");
_Static_assert(sizeof(struct smem_private_entry) == 16, "private entry");
_Static_assert(offsetof(struct smem_private_entry, padding_data) == 8, "entry.padding_data");
_Static_assert(32 + 48 * SMEM_PTABLE_MAX_ENTRIES + SMEM_INFO_LEN + 2 <= SMEM_PTABLE_SIZE, "V3");

#endif
