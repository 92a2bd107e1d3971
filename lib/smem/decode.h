/* SPDX-License-Identifier: MIT */
/*
 * Decoders of well-known items: socinfo (137), the image version table (469) and
 * the crash-reason strings. Every string is bounded by its field or its item
 * (V17); every field is read only if the item is large enough for it (V18).
 */
#ifndef SMEMKIT_SMEM_DECODE_H
#define SMEMKIT_SMEM_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

#define SMEM__ITEM_SOCINFO        137u
#define SMEM__ITEM_IMAGE_VERSIONS 469u

/* One decoded value: a number (is_string false) or an escaped, bounded string. */
typedef void (*smem__emit_fn)(const char *key, const char *value, bool is_string, void *userdata);

/* Return: 0; -EBADMSG if the item is too small for what its format claims (reported to d). */
int smem__decode_socinfo(const uint8_t *item, size_t size, smem__emit_fn emit, void *userdata,
			 struct smem__diag *d);
int smem__decode_image_versions(const uint8_t *item, size_t size, smem__emit_fn emit,
				void *userdata, struct smem__diag *d);
int smem__decode_string(const uint8_t *item, size_t size, smem__emit_fn emit, void *userdata);

/* The name of a crash-reason item ("mpss", ...), or NULL. */
const char *smem__crash_reason_name(unsigned item);

/* Copy at most n bytes up to the first NUL, escaping what is not printable ASCII. */
void smem__escape(char *out, size_t outlen, const uint8_t *s, size_t n);

#endif
