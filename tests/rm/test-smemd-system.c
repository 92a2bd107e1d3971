// SPDX-License-Identifier: MIT
/*
 * smemd as a whole system: a host sees only the pieces of the image it was
 * given and faults on any other; the whole image comes back as one file in
 * the Linux format; and smemd with three hosts survives one of them dying in
 * the middle of an allocation.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../helpers.h"
#include "core/util.h"
#include "harness.h"
#include "smem/image.h"
#include "smem/layout.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/rm.h"
#include "smemkit/smem.h"

static void setup(void)
{
	start_smemd(NULL);
}

TestSuite(system, .init = setup, .fini = stop_smemd, .timeout = 120);

static struct smem *attach(struct smem_rm *rm, unsigned host)
{
	struct smem_open_opts o;
	struct smem *s;
	char err[256] = "";
	int r;

	smem_open_opts_init(&o);
	o.rm = rm;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(NULL, host, &o, &s);
	cr_assert_eq(r, 0, "attach as host %u through smemd: %d %s", host, r, err);
	return s;
}

/* Where the partition of @host0 and @host1 lies, read from a dump of the image. */
static uint64_t partition_offset(unsigned host0, unsigned host1)
{
	struct smem__ptable pt;
	struct smem_region *img;
	struct smem_rm *obs;
	uint64_t off = 0;

	cr_assert_eq(smem_rm_connect(NULL, -1, &obs), 0);
	cr_assert_eq(smem_rm_dump(obs, &img), 0);
	cr_assert_eq(smem__read_ptable(smem_region_base(img), smem_region_size(img), NULL, &pt), 0);
	for (unsigned i = 0; i < pt.n; i++)
		if (pt.e[i].host0 == host0 && pt.e[i].host1 == host1)
			off = pt.e[i].offset;
	smem_region_close(img);
	smem_rm_close(obs);
	cr_assert_neq(off, 0, "no partition %u:%u", host0, host1);
	return off;
}

/*
 * A child that reads @off of @base, then exits 0; or dies of what the read did.
 * The child puts back the default action, so that a sanitizer's own SIGSEGV
 * handler does not turn the fault into an ordinary exit.
 */
static int touch(const volatile uint8_t *base, uint64_t off)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		volatile uint8_t v;

		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		v = base[off];
		(void)v;
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/*
 * The default hosts: apps 0 shares a partition with modem 1, adsp 2 and cdsp
 * 5. Modem is given the header, the global partition and apps:modem; apps:adsp
 * is not mapped in it, and reading it faults as an XPU violation does.
 */
Test(system, a_host_touching_a_partition_it_is_not_part_of_faults)
{
	uint64_t mine = partition_offset(0, 1), adsp = partition_offset(0, 2);
	struct smem_rm *modem, *apps;
	struct smem_stat st;
	struct smem *sm, *sa;
	void *p;
	size_t size;
	int w;

	cr_assert_eq(smem_rm_connect(NULL, 1, &modem), 0);
	sm = attach(modem, 1);
	cr_assert_eq(smem_stat(sm, &st), 0);
	w = touch(st.base, mine);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0, "modem reads its own partition");
	w = touch(st.base, 0);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0, "and the SMEM header");
	w = touch(st.base, adsp);
	cr_assert(WIFSIGNALED(w) && WTERMSIG(w) == SIGSEGV,
		  "modem reading apps:adsp must fault: status 0x%x", w);
	w = touch(st.base, adsp + 4096);
	cr_assert(WIFSIGNALED(w) && WTERMSIG(w) == SIGSEGV, "every page of it: status 0x%x", w);

	/* apps is one of apps:adsp's hosts: it maps it, and allocates there. */
	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	sa = attach(apps, 0);
	cr_assert_geq(smem_item_alloc(sa, 2, 300, 32, 0), 0);
	cr_assert_eq(smem_item_get(sa, 2, 300, &p, &size), 0);
	cr_assert_eq(smem_stat(sa, &st), 0);
	w = touch(st.base, adsp);
	cr_assert(WIFEXITED(w) && WEXITSTATUS(w) == 0, "apps reads apps:adsp");
	/* Modem asking for the item finds none: not in its partitions, not global. */
	cr_assert_eq(smem_item_get(sm, 2, 300, &p, &size), -ENOENT);
	smem_close(sa);
	smem_close(sm);
	smem_rm_close(apps);
	smem_rm_close(modem);
}

/*
 * The partition table is in the common piece, which every host can write. A
 * host that points modem's table entry at apps:adsp (which modem was not
 * given) gets modem's attach refused, not a fault in it.
 */
Test(system, a_table_rewritten_by_a_hostile_host_is_refused_not_followed)
{
	uint64_t mine = partition_offset(0, 1), adsp = partition_offset(0, 2);
	struct smem_rm *modem, *apps;
	struct smem_open_opts o;
	struct smem_stat st;
	struct smem *sa, *sm;
	char err[256] = "";
	uint8_t *pt;
	int r;

	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	sa = attach(apps, 0);
	cr_assert_eq(smem_stat(sa, &st), 0);
	pt = (uint8_t *)st.base + st.size - SMEM_PTABLE_SIZE;
	for (unsigned i = 0; i < get_le32(pt + 8); i++) {
		uint8_t *e = pt + 32 + 48 * i;

		/* Swapped: the entry for 0:1 says 0:2's place, and 0:2's says 0:1's. */
		if (get_le32(e) == mine)
			put_le32(e, (uint32_t)adsp);
		else if (get_le32(e) == adsp)
			put_le32(e, (uint32_t)mine);
	}
	cr_assert_eq(smem_rm_connect(NULL, 1, &modem), 0);
	smem_open_opts_init(&o);
	o.rm = modem;
	o.errbuf = err;
	o.errbuf_size = sizeof(err);
	r = smem_open(NULL, 1, &o, &sm);
	cr_assert_eq(r, -EBADMSG, "refused, with a reason: %d %s", r, err);
	cr_assert(strstr(err, "not in the pieces"), "%s", err);
	smem_close(sa);
	smem_rm_close(apps);
	smem_rm_close(modem);
}

struct seen {
	unsigned n;
	bool item[SMEM_ITEM_COUNT];
};

static int collect(const struct smem_item_info *it, void *userdata)
{
	struct seen *s = userdata;

	if (it->item < SMEM_ITEM_COUNT)
		s->item[it->item] = true;
	s->n++;
	return 0;
}

/* Walking every item through smemd walks the host's own pieces, and faults on none. */
Test(system, a_walk_of_the_items_sees_only_the_hosts_own_partitions)
{
	struct smem_rm *modem, *apps;
	struct smem *sm, *sa;
	struct seen seen = { 0 };

	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	cr_assert_eq(smem_rm_connect(NULL, 1, &modem), 0);
	sa = attach(apps, 0);
	sm = attach(modem, 1);
	cr_assert_geq(smem_item_alloc(sa, 1, 301, 16, 0), 0);   /* apps:modem */
	cr_assert_geq(smem_item_alloc(sa, 2, 302, 16, 0), 0);   /* apps:adsp */
	cr_assert_geq(smem_item_alloc(sm, SMEM_HOST_ANY, 303, 16, 0), 0); /* global */
	cr_assert_eq(smem_item_foreach(sm, collect, &seen), 0);
	cr_assert(seen.item[301] && seen.item[303], "its partition and the global one");
	cr_assert(!seen.item[302], "not apps:adsp");
	memset(&seen, 0, sizeof(seen));
	cr_assert_eq(smem_item_foreach(sa, collect, &seen), 0);
	cr_assert(seen.item[301] && seen.item[302] && seen.item[303]);
	smem_close(sa);
	smem_close(sm);
	smem_rm_close(apps);
	smem_rm_close(modem);
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * smemctl dump writes the whole image as one file, byte for byte what the
 * hosts wrote into their pieces: fsck finds it clean and a host attached to
 * the file sees every partition's items.
 */
Test(system, smemctl_dump_writes_the_whole_image_as_one_file)
{
	const char *smemctl = getenv("SMEMCTL");
	char file[160], cmd[512];
	struct smem_open_opts o;
	struct smem_rm *apps;
	struct smem *sa, *f;
	void *p;
	size_t size;

	cr_assert(smemctl);
	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	sa = attach(apps, 0);
	cr_assert_geq(smem_item_alloc(sa, 5, 310, 8, 0), 0);
	cr_assert_eq(smem_item_get(sa, 5, 310, &p, &size), 0);
	memcpy(p, "in cdsp", 8);
	snprintf(file, sizeof(file), "%s/dump.bin", dir);
	snprintf(cmd, sizeof(cmd), "%s dump --socket %s %s", smemctl, sock, file);
	cr_assert_eq(run(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof(cmd), "%s fsck %s >/dev/null", smemctl, file);
	cr_assert_eq(run(cmd), 0, "fsck of the dump is clean");
	smem_open_opts_init(&o);
	o.flags = SMEM_OPEN_RDONLY;
	cr_assert_eq(smem_open(file, 5, &o, &f), 0);
	cr_assert_eq(smem_item_get(f, 0, 310, &p, &size), 0);
	cr_assert_str_eq(p, "in cdsp");
	smem_close(f);
	/* Standard output, and a usage error without a file. */
	snprintf(cmd, sizeof(cmd), "%s dump --socket %s - | cmp -s - %s", smemctl, sock, file);
	cr_assert_eq(run(cmd), 0, "dump to stdout is the same image");
	snprintf(cmd, sizeof(cmd), "%s dump --socket %s 2>/dev/null", smemctl, sock);
	cr_assert_eq(run(cmd), 2);
	unlink(file);
	smem_close(sa);
	smem_rm_close(apps);
}

/*
 * The whole scenario, with real processes: smemd, apps (this
 * process), modem and adsp. apps makes a queue pair with each through the RM
 * and traffic flows; modem dies in the middle of an allocation, holding lock 3
 * (fault point smem.alloc.after_entry: the entry written, not published).
 * Then: apps owns the lock with the repair signal, fsck of the whole image is
 * clean, apps is told VM_EXITED, its queue to modem says -EPIPE, and adsp goes
 * on echoing as if nothing happened.
 */
struct peer {
	unsigned host;
	int ready[2]; /* the child says it is attached */
	bool die_in_alloc;
};

static int echo(void *arg)
{
	struct peer *pe = arg;
	struct smem_rm_resource res[4];
	struct smem_msgq *rx = NULL, *tx = NULL;
	struct smem_rm_notification n;
	struct smem_rm *rm;
	struct smem *s;
	struct smem_open_opts o;
	size_t nres, size;
	char buf[64];

	if (smem_rm_connect(NULL, (int)pe->host, &rm) != 0)
		return 1;
	smem_open_opts_init(&o);
	o.rm = rm;
	if (smem_open(NULL, pe->host, &o, &s) != 0)
		return 2;
	if (write(pe->ready[1], "r", 1) != 1)
		return 3;
	for (;;) {
		struct pollfd pfd = { smem_rm_fd(rm), POLLIN, 0 };

		if (poll(&pfd, 1, 60000) != 1)
			return 4;
		if (smem_rm_notification(rm, &n) == 0 && n.msg_id == SMEM_RM_NOTIF_RESOURCES)
			break;
	}
	if (smem_rm_get_resources(rm, res, 4, &nres) != 0 || nres != 2)
		return 5;
	for (size_t i = 0; i < nres; i++)
		if (smem_rm_msgq_open(rm, res[i].cap, NULL, res[i].type == 2 ? &tx : &rx) != 0)
			return 6;
	for (;;) {
		if (smem_msgq_recv_wait(rx, buf, sizeof(buf), &size, 60000) < 0)
			return 7;
		if (!strcmp(buf, "stop"))
			break;
		if (!strcmp(buf, "alloc") && pe->die_in_alloc) {
			smem__fault_arm("smem.alloc.after_entry", 1);
			smem_item_alloc(s, 0, 320, 64, 0);
			return 8; /* not reached: the fault point kills */
		}
		if (smem_msgq_send_wait(tx, buf, size, 0, 60000) < 0)
			return 9;
	}
	smem_close(s);
	smem_rm_close(rm);
	return 0;
}

static void round_trip(struct smem_msgq *tx, struct smem_msgq *rx, int i)
{
	char msg[32], back[64];
	size_t size;

	snprintf(msg, sizeof(msg), "message %d", i);
	cr_assert_geq(smem_msgq_send_wait(tx, msg, strlen(msg) + 1, 0, 60000), 0);
	cr_assert_geq(smem_msgq_recv_wait(rx, back, sizeof(back), &size, 60000), 0);
	cr_assert_str_eq(back, msg);
}

static void finding(const char *msg, void *userdata)
{
	(void)userdata;
	cr_log_error("fsck: %s", msg);
}

Test(system, a_host_killed_mid_allocation_is_cleaned_up_and_the_others_go_on)
{
	struct peer peers[2] = { { .host = 1, .die_in_alloc = true }, { .host = 2 } };
	struct smem_msgq *tx[2], *rx[2];
	bool exited = false;
	struct smem_rm_notification n;
	struct smem_region *img;
	struct smem_rm *rm;
	struct smem *s;
	pid_t pid[2];
	int r, st;
	char c;
	void *p;
	size_t size;

	NEEDS_FAULT_POINTS();
	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	s = attach(rm, 0);
	for (int k = 0; k < 2; k++) {
		uint64_t txc, rxc;

		cr_assert_eq(pipe(peers[k].ready), 0);
		pid[k] = child(echo, &peers[k]);
		cr_assert_eq(read(peers[k].ready[0], &c, 1), 1);
		cr_assert_eq(smem_rm_msgq_create(rm, smem_rm_vmid(peers[k].host), 40 + k, 8, 64, 0,
						 &txc, &rxc), 0);
		cr_assert_eq(smem_rm_msgq_open(rm, txc, NULL, &tx[k]), 0);
		cr_assert_eq(smem_rm_msgq_open(rm, rxc, NULL, &rx[k]), 0);
	}
	for (int i = 0; i < 200; i++)
		round_trip(tx[i % 2], rx[i % 2], i);
	/* modem dies inside smem_item_alloc(), lock 3 held, its entry half made. */
	cr_assert_geq(smem_msgq_send_wait(tx[0], "alloc", 6, 0, 60000), 0);
	st = status_of(pid[0]);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "modem died at the fault point");
	/* No bust policy: smemd hands the lock on, with the repair signal. */
	r = smem_hwlock_lock(smem_rm_hwlock(rm), 3, 0, 20000, 0);
	cr_assert_eq(r, SMEM_HWLOCK_RECOVERED, "lock 3 comes back repaired: %d", r);
	cr_assert_eq(smem_hwlock_unlock(smem_rm_hwlock(rm), 3, 0), 0);
	while (!exited) {
		struct pollfd pfd = { smem_rm_fd(rm), POLLIN, 0 };

		cr_assert_eq(poll(&pfd, 1, 20000), 1, "VM_EXITED of modem");
		while (smem_rm_notification(rm, &n) == 0)
			if (n.msg_id == SMEM_RM_NOTIF_VM_EXITED && n.vmid == smem_rm_vmid(1))
				exited = true;
	}
	cr_assert_eq(smem_msgq_send_wait(tx[0], "x", 2, 0, -1), -EPIPE, "the queue to modem");
	/* The half-made item is not there; the image is clean; allocation goes on. */
	cr_assert_eq(smem_item_get(s, 1, 320, &p, &size), -ENOENT);
	cr_assert_eq(smem_rm_dump(rm, &img), 0);
	cr_assert_eq(smem_check(smem_region_base(img), smem_region_size(img), finding, NULL), 0,
		     "fsck of the whole image after the crash");
	smem_region_close(img);
	cr_assert_geq(smem_item_alloc(s, 2, 321, 64, 0), 0);
	for (int i = 0; i < 200; i++)
		round_trip(tx[1], rx[1], i);
	cr_assert_geq(smem_msgq_send_wait(tx[1], "stop", 5, 0, 60000), 0);
	st = status_of(pid[1]);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "adsp: status 0x%x", st);
	smem_close(s);
	smem_rm_close(rm);
}
