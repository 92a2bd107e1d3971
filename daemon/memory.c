// SPDX-License-Identifier: MIT
/*
 * smemd's memory: the SMEM image cut into pieces, each its own sealed memfd,
 * so that a host can be given exactly the pieces it may map, as an XPU gives
 * a processor exactly its partitions.
 *
 * The pieces follow the partition table: one per partition (the global one,
 * which every host gets, and each private one, which its two hosts get), and
 * one "common" piece for every byte no partition covers (the SMEM header, a
 * version-11 heap, the partition table and SIII block in the last 4 KiB),
 * which every host gets. A piece may be mapped at several offsets of the
 * image: the common piece is the header at 0 and the table at the end, from
 * one memfd. smemd maps every piece at its offsets inside one reserved range,
 * so that its own view is the whole image, in the Linux format; a host maps
 * its pieces the same way and the rest of the range stays PROT_NONE: touching
 * a partition it was not given faults.
 *
 * The layout is read once from the image smemd formats, and kept in smemd's
 * state: never read again from the table, which every host can write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/util.h"
#include "smem/image.h"
#include "smem/layout.h"
#include "smemd.h"
#include "smemkit/region.h"

int smemd_memfd(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

bool smemd_piece_visible(const struct smemd_piece *p, unsigned host)
{
	return p->host0 == SMEMD_PIECE_ALL || p->host0 == host || p->host1 == host;
}

static int add_extent(struct smemd_piece *p, uint64_t off, uint64_t len)
{
	uint64_t fd_off = 0;

	if (p->n_ext == SMEMD_PIECE_MAX_EXT)
		return -E2BIG;
	for (unsigned i = 0; i < p->n_ext; i++)
		fd_off += p->ext[i].len;
	p->ext[p->n_ext++] = (struct smemd_extent){ .off = off, .len = len, .fd_off = fd_off };
	return 0;
}

static uint64_t piece_size(const struct smemd_piece *p)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < p->n_ext; i++)
		n += p->ext[i].len;
	return n;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct smemd_piece *x = a, *y = b;

	return x->ext[0].off < y->ext[0].off ? -1 : x->ext[0].off > y->ext[0].off;
}

/*
 * The layout of @image: a piece per used partition table entry, and the
 * common piece for the gaps. Return: 0; -EBADMSG for an image whose
 * partitions are not whole pages; -E2BIG for too many gaps or partitions.
 */
static int cut(struct smemd *d, const uint8_t *image, size_t size)
{
	struct smem__ptable pt;
	struct smemd_piece *common = &d->pieces[0];
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t at = 0;
	int r;

	d->n_pieces = 1;
	*common = (struct smemd_piece){ .host0 = SMEMD_PIECE_ALL, .host1 = SMEMD_PIECE_ALL };
	r = smem__read_ptable(image, size, NULL, &pt);
	if (r == -ENOENT)
		pt.n = 0; /* a version-11 image without private partitions */
	else if (r < 0)
		return r;
	for (unsigned i = 0; i < pt.n; i++) {
		struct smemd_piece *p;

		if (!smem__ptable_used(&pt, i))
			continue;
		if (d->n_pieces == SMEMD_MAX_PIECES)
			return -E2BIG;
		if (pt.e[i].offset % page || pt.e[i].size % page)
			return -EBADMSG;
		p = &d->pieces[d->n_pieces++];
		*p = (struct smemd_piece){ .host0 = pt.e[i].host0, .host1 = pt.e[i].host1 };
		if (p->host0 == SMEM_GLOBAL_HOST)
			p->host0 = p->host1 = SMEMD_PIECE_ALL;
		add_extent(p, pt.e[i].offset, pt.e[i].size);
	}
	qsort(d->pieces + 1, d->n_pieces - 1, sizeof(d->pieces[0]), cmp_offset);
	/* The common piece is every gap between them, in order. */
	for (unsigned i = 1; i <= d->n_pieces; i++) {
		uint64_t next = i < d->n_pieces ? d->pieces[i].ext[0].off : size;

		if (next < at)
			return -EBADMSG; /* overlapping partitions: smem_format() never makes them */
		if (next > at) {
			r = add_extent(common, at, next - at);
			if (r < 0)
				return r;
		}
		if (i < d->n_pieces)
			at = d->pieces[i].ext[0].off + d->pieces[i].ext[0].len;
	}
	return 0;
}

int smemd_map_pieces(const struct smemd_piece *pieces, const int *fds, unsigned n, size_t size,
		     void **ret_base)
{
	uint8_t *base = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (base == MAP_FAILED)
		return -errno;
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < pieces[i].n_ext; k++) {
			const struct smemd_extent *e = &pieces[i].ext[k];

			if (e->off > size || e->len > size - e->off ||
			    mmap(base + e->off, e->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 fds[i], (off_t)e->fd_off) == MAP_FAILED) {
				munmap(base, size);
				return -EINVAL;
			}
		}
	*ret_base = base;
	return 0;
}

int smemd_make_memory(struct smemd *d, char *err, size_t errlen)
{
	struct smem_pair pairs[SMEM_RM_MAX_HOSTS];
	struct smem_format_opts fo;
	struct smem_hwlock_opts ho;
	int fds[SMEMD_MAX_PIECES];
	uint8_t *image;
	size_t n = 0;
	int r;

	smem_format_opts_init(&fo);
	fo.version = d->cfg.version;
	/* One private partition between the owner (apps) and each other host. */
	for (unsigned i = 0; i < SMEM_RM_MAX_HOSTS && i < SMEM_HOST_COUNT; i++) {
		if (!d->cfg.hosts[i].defined || i == d->cfg.owner)
			continue;
		pairs[n++] = (struct smem_pair){ d->cfg.owner, i, 0 };
	}
	fo.pairs = pairs;
	fo.n_pairs = n;
	image = calloc(1, d->cfg.size);
	if (!image) {
		snprintf(err, errlen, "no memory for a %zu-byte image", d->cfg.size);
		return -ENOMEM;
	}
	r = smem_format(image, d->cfg.size, &fo);
	if (r == 0)
		r = cut(d, image, d->cfg.size);
	if (r < 0) {
		snprintf(err, errlen, "cannot make a %zu-byte version-%u image: %s", d->cfg.size,
			 d->cfg.version, strerror(-r));
		free(image);
		return r;
	}
	/* Each piece its own memfd, holding its bytes of the formatted image. */
	for (unsigned i = 0; i < d->n_pieces; i++) {
		struct smemd_piece *p = &d->pieces[i];
		char name[32];
		uint8_t *m;

		snprintf(name, sizeof(name), "smemkit-piece-%u", i);
		p->fd = smemd_memfd(name, piece_size(p));
		if (p->fd < 0) {
			r = p->fd;
			break;
		}
		m = mmap(NULL, piece_size(p), PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
		if (m == MAP_FAILED) {
			r = -errno;
			break;
		}
		for (unsigned k = 0; k < p->n_ext; k++)
			memcpy(m + p->ext[k].fd_off, image + p->ext[k].off, p->ext[k].len);
		munmap(m, piece_size(p));
		fds[i] = p->fd;
	}
	free(image);
	if (r == 0)
		r = smemd_map_pieces(d->pieces, fds, d->n_pieces, d->cfg.size, &d->image);
	if (r == 0)
		r = smem_region_wrap(d->image, d->cfg.size, true, &d->image_region);
	if (r < 0) {
		snprintf(err, errlen, "cannot make the image's pieces: %s", strerror(-r));
		return r;
	}
	r = smem_region_memfd("smemkit-bank", SMEM_HWLOCK_BANK_SIZE(SMEM_HWLOCK_DEFAULT_STRIDE),
			      &d->bank_region);
	if (r == 0)
		r = smem_hwlock_format(smem_region_base(d->bank_region),
				       smem_region_size(d->bank_region), SMEM_HWLOCK_DEFAULT_STRIDE);
	smem_hwlock_opts_init(&ho);
	ho.region = d->bank_region;
	if (r == 0)
		r = smem_hwlock_open(NULL, &ho, &d->bank);
	if (r < 0) {
		snprintf(err, errlen, "cannot make the lock bank: %s", strerror(-r));
		return r;
	}
	d->bank_fd = smem_region_fd(d->bank_region);
	return 0;
}
