/* SPDX-License-Identifier: MIT */
/*
 * smemtzd's engine: the secure-call service that TrustZone is on a Qualcomm
 * SoC, as a process. server.c executes calls; tzd.c is the program around it.
 */
#ifndef SMEMKIT_TZD_H
#define SMEMKIT_TZD_H

#include <stdbool.h>
#include <stdint.h>

#include "scm/proto.h"
#include "smemkit/scm.h"

#define TZD_MAX_CLIENTS  64u
#define TZD_MAX_CTX      1024u
/* Parked calls one client may have: its share, so that no client takes all of them. */
#define TZD_CTX_PER_CLIENT (TZD_MAX_CTX / TZD_MAX_CLIENTS)
/* Wake-ups one client has not asked for yet (each parked call is woken once). */
#define TZD_WAKES        (2u * SMEM_SCM_SLOTS)
/* The interrupt number GET_INFO reports: an SPI, as firmware names one. */
#define TZD_IRQ          0xf3u
#define TZD_RESUME_TIMEOUT_NS 1000000000

/* A parked call: its original frame (the progress kept), where it waits, whose it is. */
struct tzd_ctx {
	bool used;
	bool woken;             /* told to resume; its resource is kept for it */
	uint16_t gen;           /* with the index, the call context's id */
	uint8_t kind;           /* 1 a resource, 2 an event */
	int64_t woken_ns;       /* when, for a resource kept for it */
	unsigned client, key, wq;
	int next;               /* the FIFO it is parked in */
	uint64_t a[8];
	uint64_t x, done, slices; /* an interrupted WORK's progress */
};

struct tzd_resource {
	int holder;             /* the client holding it, or -1 */
	unsigned holder_slot;
	int64_t until_ns;
	int reserved;           /* the woken call it is kept for, or -1 */
	int head, tail;         /* parked calls, first come first woken */
};

struct tzd_fifo {
	int head, tail;
};

struct tzd_wake {
	uint8_t wq, flags;
	uint64_t ctx;           /* the call woken, which WAITQ_WAKE names */
};

/* A frame answered WAITQ_WAKE instead, executed when its slot sends WAITQ_ACK. */
struct tzd_held {
	bool held;
	uint64_t ctx;           /* the context the WAKE named, which the ACK must name */
	uint64_t a[8];
};

struct tzd_client {
	bool used;
	bool registered;
	uint64_t serial;        /* order of connection: the oldest unregistered goes first */
	bool waitq;             /* it sleeps; else it is answered V2_EBUSY */
	bool multi;             /* several calls in flight; wake-ups ride on its calls */
	int fd;                 /* its connection */
	int doorbell, irq;      /* eventfds: it rings, smemtzd raises */
	struct smem_scm_page *page;
	unsigned parked;
	struct tzd_wake wakes[TZD_WAKES];
	unsigned wake_head, wake_len;
	struct tzd_held held[SMEM_SCM_SLOTS];
};

/* An assigned range of memory: its owners and each one's rights (SMEM_SCM_PERM_*). */
struct tzd_mem {
	uint64_t start, end;
	uint64_t owners;
	uint8_t perm[64];
};
#define TZD_MAX_MEM 256u

struct tzd_stats {
	uint64_t calls, sleeps, resumes, wakes, ebusy, bad_frames, dropped_wakes, late_resumes;
	uint64_t interrupted;
};

struct tzd {
	int epfd;
	int timer_fd;
	unsigned wq_cnt;
	bool verbose;
	struct tzd_client clients[TZD_MAX_CLIENTS];
	struct tzd_ctx ctx[TZD_MAX_CTX];
	struct tzd_resource res[SMEM_SCM_RESOURCES];
	struct tzd_fifo events[SMEM_SCM_EVENTS];
	/* assign_mem's table, and the spare a change is built in. */
	struct tzd_mem mem_a[TZD_MAX_MEM + 2], mem_b[TZD_MAX_MEM + 2];
	struct tzd_mem *mem, *mem_spare;
	unsigned n_mem;
	struct tzd_stats stats;
	int64_t armed_ns;       /* the timer's deadline, or 0 */
	uint64_t next_serial;
	/* How long a resource is kept for a woken call that does not resume. */
	int64_t resume_timeout_ns;
	bool polling;           /* awake: the pages say no doorbell is needed */
};

/* epoll data: what woke the loop. */
#define TZD_EV_LISTEN   0xffff0000u
#define TZD_EV_TIMER    0xffff0001u
#define TZD_EV_DOORBELL 0x10000u /* | client */
#define TZD_EV_CONN     0x20000u /* | client */

int tzd_init(struct tzd *t, unsigned wq_cnt);
void tzd_fini(struct tzd *t);
/* A new connection: 0 with it waiting for its registration, or -errno (fd not taken). */
int tzd_client_add(struct tzd *t, int fd);
/* The connection of @c is readable or closed: registration, or its end. */
void tzd_client_event(struct tzd *t, unsigned c, uint32_t events);
/* Client @c rang its doorbell: take every call it posted. */
void tzd_doorbell(struct tzd *t, unsigned c);
/* Take every call posted on any page, rung or not; how many there were. */
unsigned tzd_poll(struct tzd *t);
/* Say in every page whether a call needs the doorbell (see scm/proto.h, P2). */
void tzd_set_polling(struct tzd *t, bool on);
/* The timer fired: end the holds that are over. */
void tzd_timer(struct tzd *t);
/* Drop client @c: its parked calls, what it holds, its page. */
void tzd_client_drop(struct tzd *t, unsigned c);
/* Execute one frame as if posted on @slot of @c (the slot decoder's entry). */
void tzd_execute(struct tzd *t, unsigned c, unsigned slot, const uint64_t a[8]);
/* assign.c: ASSIGN_MEM's frame; the SCM result, the new owners in *@ret_owners. */
int64_t tzd_assign(struct tzd *t, const uint64_t a[8], uint64_t *ret_owners);
/* assign.c: the owners of @addr, @vmid's rights there, the end of that assignment. */
void tzd_mem_query(const struct tzd *t, uint64_t addr, unsigned vmid, uint64_t r[3]);
void tzd_log(const struct tzd *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
