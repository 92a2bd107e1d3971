/* SPDX-License-Identifier: MIT */
#ifndef SMEMCTL_H
#define SMEMCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hwlock/hwlock-internal.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/smem.h"

#define EXIT_OK    0
#define EXIT_ERR   1
#define EXIT_USAGE 2

#define DEFAULT_IMAGE "default"

/* Options every verb understands; a verb lists which of them it takes. */
struct common {
	const char *verb;
	const char *usage; /* the verb's synopsis and options, for --help */
	const char *image;
	unsigned as;   /* local host */
	unsigned host; /* remote host or SMEM_HOST_ANY */
	const char *host_arg; /* --host as given, or NULL */
	uint64_t phys_base;
	bool json;
};

enum { OPT_JSON = 0x100, OPT_AS, OPT_HOST, OPT_BASE, OPT_HELP, OPT_VERB_FIRST = 0x200 };

#define COMMON_OPTIONS                                                                             \
	{ "json", no_argument, NULL, OPT_JSON }, { "as", required_argument, NULL, OPT_AS },        \
		{ "host", required_argument, NULL, OPT_HOST },                                     \
		{ "phys-base", required_argument, NULL, OPT_BASE },                                \
		{ "help", no_argument, NULL, OPT_HELP }

#define COMMON_INIT(v, u) { .verb = (v), .usage = (u), .image = DEFAULT_IMAGE, .host = SMEM_HOST_ANY }

/*
 * The option loop of a verb: common options are handled, the verb's own come to
 * its case labels, --help prints the usage, anything else is a usage error.
 */
#define OPTIONS_BEGIN(c, longopts)                                                                 \
	optind = 1;                                                                                \
	opterr = 0;                                                                                \
	for (int opt; (opt = getopt_long(argc, argv, ":", (longopts), NULL)) != -1;) {           \
		int handled_ = common_option(&(c), opt, optarg);                                   \
		if (handled_ < 0)                                                                  \
			return EXIT_USAGE;                                                         \
		if (handled_ > 0)                                                                  \
			continue;                                                                  \
		switch (opt) {
#define OPTIONS_END(c)                                                                             \
	case OPT_HELP:                                                                             \
		fputs((c).usage, stdout);                                                          \
		return EXIT_OK;                                                                    \
	default:                                                                                   \
		bad_option(&(c), opt, argv[optind - 1]);                                           \
		return EXIT_USAGE;                                                                 \
		}                                                                                  \
		}                                                                                  \
	if (common_operand(&(c), argc, argv) < 0)                                                  \
		return EXIT_USAGE;

/* Return: 1 if handled, 0 if not a common option, -1 after printing a usage error. */
int common_option(struct common *c, int opt, const char *arg);
/* Takes the one optional IMAGE operand. Return: 0, or -1 after a usage error. */
int common_operand(struct common *c, int argc, char **argv);

int usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An option getopt refused: unknown, or missing its value. */
void bad_option(const struct common *c, int opt, const char *arg);
int fail(const char *what, int err, const char *detail);

bool parse_u64(const char *s, uint64_t max, uint64_t *ret);
bool parse_size(const char *s, uint64_t *ret); /* with K, M, G suffixes */
bool parse_host(const char *s, unsigned *ret); /* a number or "any" */

/*
 * Parse option @opt's value @arg as a number from @min to @max (a size with
 * K/M/G suffixes if @size). Return: 0, or -1 after a usage error that says
 * whether @arg is not a number or out of range.
 */
int opt_number(const char *verb, const char *opt, const char *arg, uint64_t min, uint64_t max,
	       bool size, uint64_t *ret);
/*
 * Parse hex digits into a new buffer of at most @max bytes. Return: 0, or -1
 * after a usage error naming the first bad digit, an odd count or the length.
 */
int opt_hex(const char *verb, const char *opt, const char *arg, size_t max, uint8_t **ret,
	    size_t *ret_len);

/*
 * Print what is wrong with IMAGE as a file (missing, a directory, empty, not a
 * regular file, too large, unreadable) when @err came from opening it.
 * Return: EXIT_ERR.
 */
int fail_image(const char *image, int err, const char *detail);

/* Attach read-only to a snapshot of the image; prints the reason on failure. */
int open_ro(const struct common *c, struct smem **ret);

void json_str(FILE *f, const char *s);
void hexdump(FILE *f, const uint8_t *p, size_t n, uint64_t base);
const char *host_name(unsigned host);

int verb_format(int argc, char **argv);
int verb_info(int argc, char **argv);
int verb_ls(int argc, char **argv);
int verb_alloc(int argc, char **argv);
int verb_get(int argc, char **argv);
int verb_fsck(int argc, char **argv);
int verb_decode(int argc, char **argv);
int verb_locks(int argc, char **argv);
int verb_bust(int argc, char **argv);
int verb_msgq(int argc, char **argv);
int verb_status(int argc, char **argv);
int verb_dump(int argc, char **argv);
int verb_top(int argc, char **argv);

/*
 * The holder of lock @id, whose lock word is @value: alive 1 or dead 0 as the
 * kernel's mark on the lock says (or on its host's registration), -1 when the
 * lock is free or nobody can tell; known with the pid when the host table has
 * the host.
 */
struct owner_info {
	bool known;
	uint32_t pid;
	int alive;
};

void owner_info(struct smem_hwlock *h, unsigned id, unsigned value, struct owner_info *ret);

/*
 * Open IMAGE.hwlock, or bank if given, writable or as a read-only snapshot;
 * prints the reason on failure.
 */
int open_bank(const char *image, const char *bank, bool writable, struct smem_hwlock **ret);
/* Describe lock @id's holder in words: "host 1 modem (pid 42, alive)". */
void describe_owner(struct smem_hwlock *h, unsigned id, unsigned value, char *buf, size_t len);

#endif
