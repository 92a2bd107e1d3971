// SPDX-License-Identifier: MIT
/*
 * smemd's configuration: an embedded default (a 2 MiB version-12 image with
 * the hosts apps 0, modem 1, adsp 2 and cdsp 5, apps owning the others), and a
 * small ini file read with libinih that changes it:
 *
 *   [smemd]
 *   size = 2M            ; the image, 16K to 1G, a multiple of 4096 (K, M, G)
 *   version = 12         ; 11 or 12
 *   socket = /run/smemkit/rm.sock
 *   owner = apps         ; the host that may stop and reset the others
 *
 *   [host modem]         ; a host, by name
 *   id = 1               ; its host id, below 64 (from 25 on: no private partition)
 *   uid = 1000           ; only this uid may register as it (a number)
 *
 * Any [host] section replaces the default hosts. Unknown sections and keys,
 * and bad values, are errors that name the line.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smemd.h"

static const struct {
	const char *name;
	unsigned id;
} default_hosts[] = { { "apps", 0 }, { "modem", 1 }, { "adsp", 2 }, { "cdsp", 5 } };

void smemd_config_default(struct smemd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->size = SMEM_DEFAULT_SIZE;
	c->version = 12;
	c->owner = 0;
	for (size_t i = 0; i < sizeof(default_hosts) / sizeof(default_hosts[0]); i++) {
		struct smemd_host_cfg *h = &c->hosts[default_hosts[i].id];

		h->defined = true;
		snprintf(h->name, sizeof(h->name), "%s", default_hosts[i].name);
	}
}

struct parse {
	struct smemd_config *c;
	bool hosts_replaced;
	char owner[16];
	char pending[16]; /* the [host NAME] being read */
	int pending_id;
	long pending_uid;
	char *err;
	size_t errlen;
	int line_err;
};

static int number(const char *v, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		n <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		n <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		n <<= 30, end++;
	if (*end || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

/* The [host NAME] just read, once its section ends. */
static int commit_host(struct parse *p)
{
	struct smemd_host_cfg *h;

	if (!p->pending[0])
		return 0;
	if (p->pending_id < 0) {
		snprintf(p->err, p->errlen, "[host %s] has no id", p->pending);
		return -EINVAL;
	}
	h = &p->c->hosts[p->pending_id];
	if (h->defined) {
		snprintf(p->err, p->errlen, "[host %s]: id %d is host %s already", p->pending,
			 p->pending_id, h->name);
		return -EINVAL;
	}
	h->defined = true;
	snprintf(h->name, sizeof(h->name), "%s", p->pending);
	h->uid_bound = p->pending_uid >= 0;
	h->uid = (uid_t)p->pending_uid;
	p->pending[0] = '\0';
	return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	unsigned long long n;

	/* The first error is the one reported; inih goes on reading. */
	if (p->err[0])
		return 0;
	if (!strcmp(section, "smemd")) {
		if (!strcmp(name, "size")) {
			if (number(value, 1ull << 30, &n) < 0 || n < (16u << 10) || n % 4096) {
				snprintf(p->err, p->errlen, "size = %s: 16K to 1G, a multiple of 4096", value);
				return 0;
			}
			p->c->size = (size_t)n;
		} else if (!strcmp(name, "version")) {
			if (strcmp(value, "11") && strcmp(value, "12")) {
				snprintf(p->err, p->errlen, "version = %s: 11 or 12", value);
				return 0;
			}
			p->c->version = (unsigned)atoi(value);
		} else if (!strcmp(name, "socket")) {
			if (strlen(value) >= sizeof(p->c->socket) || !*value) {
				snprintf(p->err, p->errlen, "socket = %s: empty or too long", value);
				return 0;
			}
			strcpy(p->c->socket, value);
		} else if (!strcmp(name, "owner")) {
			snprintf(p->owner, sizeof(p->owner), "%s", value);
		} else {
			snprintf(p->err, p->errlen, "[smemd] has no key '%s'", name);
			return 0;
		}
		return 1;
	}
	if (!strncmp(section, "host ", 5) && section[5]) {
		if (strlen(section + 5) >= sizeof(p->pending)) {
			snprintf(p->err, p->errlen, "[%s]: a host name has at most 15 characters", section);
			return 0;
		}
		if (strcmp(p->pending, section + 5)) {
			if (commit_host(p) < 0)
				return 0;
			if (!p->hosts_replaced) {
				for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++)
					p->c->hosts[i] = (struct smemd_host_cfg){ 0 };
				p->hosts_replaced = true;
			}
			for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS; i++) {
				if (p->c->hosts[i].defined && !strcmp(p->c->hosts[i].name, section + 5)) {
					snprintf(p->err, p->errlen, "[%s] appears twice", section);
					return 0;
				}
			}
			snprintf(p->pending, sizeof(p->pending), "%s", section + 5);
			p->pending_id = -1;
			p->pending_uid = -1;
		}
		if (!strcmp(name, "id")) {
			if (number(value, SMEM_RM_MAX_HOSTS - 1, &n) < 0) {
				snprintf(p->err, p->errlen, "[%s] id = %s: a host id below %u", section,
					 value, SMEM_RM_MAX_HOSTS);
				return 0;
			}
			p->pending_id = (int)n;
		} else if (!strcmp(name, "uid")) {
			if (number(value, 0xfffffffeu, &n) < 0) {
				snprintf(p->err, p->errlen, "[%s] uid = %s: a number", section, value);
				return 0;
			}
			p->pending_uid = (long)n;
		} else {
			snprintf(p->err, p->errlen, "[%s] has no key '%s'", section, name);
			return 0;
		}
		return 1;
	}
	snprintf(p->err, p->errlen, "no section [%s]", section);
	return 0;
}

int smemd_config_load(struct smemd_config *c, const char *path, char *err, size_t errlen)
{
	struct parse p = { .c = c, .err = err, .errlen = errlen, .pending_id = -1,
			   .pending_uid = -1 };
	FILE *f = fopen(path, "re");
	int line;

	err[0] = '\0';
	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	line = ini_parse_file(f, on_entry, &p);
	fclose(f);
	if (line != 0) {
		char what[200];

		snprintf(what, sizeof(what), "%s", err[0] ? err : "not an ini file");
		snprintf(err, errlen, "line %d: %s", line, what);
		return -EINVAL;
	}
	if (commit_host(&p) < 0)
		return -EINVAL;
	if (p.owner[0]) {
		unsigned i;

		for (i = 0; i < SMEM_RM_MAX_HOSTS; i++)
			if (c->hosts[i].defined && !strcmp(c->hosts[i].name, p.owner))
				break;
		if (i == SMEM_RM_MAX_HOSTS) {
			snprintf(err, errlen, "owner = %s: no such host", p.owner);
			return -EINVAL;
		}
		c->owner = i;
	}
	if (!c->hosts[c->owner].defined) {
		snprintf(err, errlen, "the owner, host %u, is not defined", c->owner);
		return -EINVAL;
	}
	return 0;
}
