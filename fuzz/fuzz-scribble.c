// SPDX-License-Identifier: MIT
/*
 * Attach to an image, list it, look items up, read them and allocate, while a
 * second thread keeps scribbling on the same bytes, as a remote processor may.
 *
 * The library reads each shared value once into a local and checks the local
 * (docs/FORMAT.md); a value read twice, checked the first time and used the
 * second after a peer changed it, is what this target looks for. The input is
 * the image. The scribbler decodes the input's fields (fields.h) and, with a
 * PRNG seeded from the input, sets them to boundary values and back to what
 * they were, so that a check may pass on one value and the use see another; a
 * quarter of its stores go to any word of the image.
 *
 * The interleaving differs from run to run, so the target asserts nothing a
 * race may change: any call may fail. What may never happen is an access
 * outside the image (ASan), a crash, or a call that does not return. Replayed
 * as a test, a corpus file can therefore fail only on a real fault, never on
 * an unlucky schedule. The scribbler stores whole aligned words atomically, as
 * a peer's store would arrive; it runs until the reader is done and is joined
 * before the next input.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "fields.h"
#include "fuzz.h"

/* The scribbler's choices are not the target's behaviour: no coverage for them. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

struct scribbler {
	uint8_t *img; /* the attached copy */
	size_t size;
	const struct fuzz_fields *ff; /* decoded from the input, with the values to restore */
	uint64_t seed;
	atomic_uint writes;
	atomic_bool stop;
};

/* Store @v into the @width bytes at @off, one atomic word at a time. */
NO_COVERAGE static void poke(struct scribbler *sc, uint32_t off, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++) {
		uint64_t at = (uint64_t)off + i, word = at & ~(uint64_t)3;
		unsigned shift = (unsigned)(at & 3) * 8;
		_Atomic uint32_t *p = (_Atomic uint32_t *)(sc->img + word);
		uint32_t old, le;

		if (word + 4 > sc->size)
			return;
		old = le32toh(atomic_load_explicit(p, memory_order_relaxed));
		le = (old & ~(0xffu << shift)) | ((v >> (8 * i)) & 0xffu) << shift;
		atomic_store_explicit(p, htole32(le), memory_order_relaxed);
	}
}

NO_COVERAGE static void *scribble(void *arg)
{
	struct scribbler *sc = arg;
	struct fuzz_rng r = { .s = sc->seed };
	const struct fuzz_fields *ff = sc->ff;

	while (!atomic_load_explicit(&sc->stop, memory_order_relaxed)) {
		unsigned op = fuzz_rng_below(&r, 8);

		if (op < 2 || !ff->n) {
			uint32_t word = fuzz_rng_below(&r, (uint32_t)(sc->size / 4)) * 4;
			uint32_t v = (uint32_t)fuzz_rng_next(&r);

			poke(sc, word, 4, op ? v : v & 0xff);
		} else {
			const struct fuzz_field *f = &ff->f[fuzz_rng_below(&r, ff->n)];

			/* Half the time back to the input's value: checks pass, then it changes. */
			poke(sc, f->off, f->width, op < 5 ? f->value : fuzz_field_pick(ff, f, &r));
			if (op == 7) {
				const struct fuzz_field *g = fuzz_field_partner(ff, f, &r);

				poke(sc, g->off, g->width, fuzz_field_pick(ff, g, &r));
			}
		}
		/* Sharing a core with the reader, let it run between bursts. */
		if (atomic_fetch_add_explicit(&sc->writes, 1, memory_order_relaxed) % 64 == 63)
			sched_yield();
	}
	return NULL;
}

struct found {
	const uint8_t *base;
	unsigned n;
	unsigned items[16];
};

static int touch(const struct smem_item_info *it, void *userdata)
{
	struct found *fd = userdata;
	volatile uint8_t sum = 0; /* keeps the reads */

	if (fd->n < sizeof(fd->items) / sizeof(fd->items[0]))
		fd->items[fd->n++] = it->item;
	if (it->aux_base)
		return 0; /* another region's entry: its offset means nothing here */
	for (size_t i = 0; i < it->size; i++)
		sum += fd->base[it->offset + i];
	return 0;
}

static void get_and_read(struct smem *s, unsigned item)
{
	static const unsigned remotes[] = {SMEM_HOST_ANY, 0, 1, 2, 5};

	for (unsigned j = 0; j < sizeof(remotes) / sizeof(remotes[0]); j++) {
		volatile uint8_t sum = 0;
		uint64_t phys;
		void *p;
		size_t n;

		if (smem_item_get(s, remotes[j], item, &p, &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			sum += ((uint8_t *)p)[i];
		smem_virt_to_phys(s, p, &phys);
	}
}

static void count(const char *msg, void *userdata)
{
	(void)msg;
	++*(unsigned *)userdata;
}

static void use(struct smem *s, uint8_t *copy)
{
	static const unsigned fixed[] = { 3, 100, 137, 421, 469 };
	static const unsigned remotes[] = {SMEM_HOST_ANY, 1, 2};
	struct found fd = { .base = copy };
	size_t free;

	smem_item_foreach(s, touch, &fd);
	for (unsigned i = 0; i < fd.n; i++)
		get_and_read(s, fd.items[i]);
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		get_and_read(s, fixed[i]);
	for (unsigned j = 0; j < sizeof(remotes) / sizeof(remotes[0]); j++) {
		void *p;
		size_t n;

		if (smem_item_alloc(s, remotes[j], 300 + j, 24, 0) == 0 &&
		    smem_item_get(s, remotes[j], 300 + j, &p, &n) == 0)
			memset(p, 0xee, n);
		if (smem_item_alloc(s, remotes[j], 310 + j, 8, SMEM_ITEM_CACHED) == 0 &&
		    smem_item_get(s, remotes[j], 310 + j, &p, &n) == 0)
			memset(p, 0xcc, n);
		smem_free_space(s, remotes[j], &free);
	}
	fd.n = 0;
	smem_item_foreach(s, touch, &fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned hosts[] = { 0, 1, 2, 5 };
	static struct fuzz_fields ff;
	struct scribbler sc = { .size = size, .ff = &ff };
	uint64_t hash = 0xcbf29ce484222325ull;
	struct smem_region *r;
	struct smem *s;
	pthread_t t;
	unsigned n = 0;

	if (size < 4 || !(sc.img = malloc(size)))
		return 0;
	memcpy(sc.img, data, size);
	for (size_t i = 0; i < size; i += 8) {
		uint64_t w = 0;

		memcpy(&w, data + i, size - i < 8 ? size - i : 8);
		hash = (hash ^ w) * 0x100000001b3ull;
	}
	sc.seed = hash;
	fuzz_fields_decode(data, size, &ff);
	if (pthread_create(&t, NULL, scribble, &sc) != 0)
		abort();
	/* Attach only once the image is changing, whatever the schedule. */
	while (!atomic_load_explicit(&sc.writes, memory_order_relaxed))
		sched_yield();

	s = fuzz_attach(sc.img, size, hosts[hash >> 62], true, &r);
	if (s)
		use(s, sc.img);
	if (smem_check(sc.img, size, count, &n) != (int)n)
		abort(); /* the count returned is the number of findings reported */

	atomic_store_explicit(&sc.stop, true, memory_order_relaxed);
	pthread_join(t, NULL);
	smem_close(s);
	smem_region_close(r);
	free(sc.img);
	return 0;
}
