// SPDX-License-Identifier: MIT
/*
 * Fuzz target: smemtzd's slot decoder and call engine, reached as hostile
 * clients reach them, through what they write in their pages. The input is a
 * script of records for two clients, each with a page and eventfds of its
 * own, as smemtzd's registration makes them:
 *
 *   u8 op
 *     0x00..0x7f  bit 6: not rung; bit 5: which client; bits 4:0: the slot.
 *                 Then u32 state and eight le64 words: written to the slot
 *                 (the frame, then the state, as the client library does),
 *                 and the doorbell rung unless bit 6 says not (a client that
 *                 read that smemtzd is polling)
 *     0xfc        smemtzd looks at every slot of every page (tzd_poll())
 *     0xfd        the hold timer fires (holds of 0 us are over at once)
 *     0xfe        client 1 goes away (its connection closes) and comes back, in
 *                 turn without wait queues, of the merged discipline, multi-call
 *     other       ignored
 *
 * A frame written with state POSTED is what a client posts; any other state
 * is a client scribbling. After each input every client is dropped and the
 * engine made anew, so inputs do not depend on each other; the call context
 * ids are then deterministic (the first is 1), so the corpus can name them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../tzd/tzd.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_client(struct tzd *t, unsigned c)
{
	struct tzd_client *cl = &t->clients[c];
	void *page = mmap(NULL, SMEM_SCM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			  -1, 0);

	if (page == MAP_FAILED)
		abort();
	/* Client 0 of the merged discipline, client 1 multi-call at first. */
	*cl = (struct tzd_client){ .used = true, .registered = true, .waitq = true,
				   .multi = c == 1, .fd = -1 };
	cl->page = page;
	cl->page->magic = SMEM_SCM_MAGIC;
	cl->page->version = SMEM_SCM_VERSION;
	cl->page->nslots = SMEM_SCM_SLOTS;
	cl->page->client = c;
	cl->doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cl->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cl->doorbell < 0 || cl->irq < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tzd t;
	unsigned gen = 0;

	memset(&t, 0, sizeof(t));
	if (tzd_init(&t, 2) < 0)
		abort();
	add_client(&t, 0);
	add_client(&t, 1);
	while (size >= 1) {
		uint8_t op = data[0];

		data++;
		size--;
		if (op < 0x80) {
			unsigned c = op >> 5 & 1, s = op & 0x1f;
			struct smem_scm_slot *sl;
			uint64_t one = 1;
			uint32_t state;

			if (size < 4 + 64)
				break;
			state = get_le32(data);
			if (s < SMEM_SCM_SLOTS && t.clients[c].used) {
				sl = &t.clients[c].page->slot[s];
				for (unsigned i = 0; i < 8; i++)
					sl->a[i] = get_le64(data + 4 + 8 * i);
				atomic_store_explicit(&sl->state, state, memory_order_release);
				if (!(op & 0x40)) {
					if (write(t.clients[c].doorbell, &one, sizeof(one)) < 0)
						abort();
					tzd_doorbell(&t, c);
				}
			}
			data += 4 + 64;
			size -= 4 + 64;
		} else if (op == 0xfc) {
			tzd_poll(&t);
		} else if (op == 0xfd) {
			tzd_timer(&t);
		} else if (op == 0xfe) {
			tzd_client_drop(&t, 1);
			add_client(&t, 1);
			gen++;
			t.clients[1].waitq = gen % 3 != 1;
			t.clients[1].multi = gen % 3 == 0;
		}
	}
	tzd_fini(&t);
	return 0;
}
