// SPDX-License-Identifier: MIT
/*
 * smemd with real processes: each test starts its own smemd on a socket of its
 * own and waits for its sd_notify readiness (a datagram on NOTIFY_SOCKET, as
 * systemd listens), so nothing here sleeps to synchronise. Hosts are forked
 * children that connect, register and use the image, the locks and the queues
 * smemd hands them; some are SIGKILLed, some are hostile.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hwlock/hwlock-internal.h"
#include "core/util.h"
#include "rm/proto.h"
#include "rpc/rpc.h"
#include "smemkit/hwlock.h"
#include "smemkit/region.h"
#include "smemkit/rm.h"
#include "smemkit/smem.h"

#include "harness.h"

static void setup(void)
{
	start_smemd(NULL);
}

TestSuite(smemd, .init = setup, .fini = stop_smemd, .timeout = 60);

Test(smemd, a_host_registers_and_learns_who_it_is)
{
	struct smem_rm_state st;
	struct smem_rm *rm;
	unsigned vmid;

	cr_assert_eq(smem_rm_connect(NULL, 1, &rm), 0);
	cr_assert_eq(smem_rm_get_vmid(rm, &vmid), 0);
	cr_assert_eq(vmid, smem_rm_vmid(1));
	cr_assert_eq(smem_rm_get_state(rm, 0, &st), 0);
	cr_assert_eq(st.vm_state, SMEM_RM_VM_RUNNING);
	cr_assert_eq(smem_rm_get_state(rm, smem_rm_vmid(2), &st), 0);
	cr_assert_eq(st.vm_state, SMEM_RM_VM_NO_STATE, "adsp never registered");
	cr_assert_eq(smem_rm_get_state(rm, smem_rm_vmid(9), &st), -ENODEV, "no host 9");
	smem_rm_close(rm);
}

/* The image smemd hands over is a version-12 SMEM image that smem_open() attaches. */
Test(smemd, the_image_is_smem_and_allocations_are_shared)
{
	struct smem_open_opts o;
	struct smem_rm *a, *m;
	struct smem *sa, *sm;
	void *pa, *pm;
	size_t size;

	cr_assert_eq(smem_rm_connect(NULL, 0, &a), 0);
	cr_assert_eq(smem_rm_connect(NULL, 1, &m), 0);
	smem_open_opts_init(&o);
	o.rm = a;
	cr_assert_eq(smem_open(NULL, 0, &o, &sa), 0);
	o.rm = m;
	cr_assert_eq(smem_open(NULL, 1, &o, &sm), 0);
	cr_assert_geq(smem_item_alloc(sa, 1, 400, 64, 0), 0);
	cr_assert_eq(smem_item_get(sa, 1, 400, &pa, &size), 0);
	memcpy(pa, "shared", 7);
	cr_assert_eq(smem_item_get(sm, 0, 400, &pm, &size), 0);
	cr_assert_str_eq(pm, "shared");
	smem_close(sa);
	smem_close(sm);
	smem_rm_close(a);
	smem_rm_close(m);
}

static int hold_modem(void *arg)
{
	struct smem_rm *rm;
	int *pipefd = arg;

	if (smem_rm_connect(NULL, 1, &rm) != 0)
		return 1;
	if (write(pipefd[1], "r", 1) != 1)
		return 2;
	for (;;)
		pause();
}

Test(smemd, a_live_host_cannot_be_claimed_by_another_process)
{
	struct smem_rm *rm;
	int p[2];
	char c;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = child(hold_modem, p);
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(smem_rm_connect(NULL, 1, &rm), -EADDRINUSE);
	kill(pid, SIGKILL);
	status_of(pid);
	/* Once it is dead (the pidfd says so), the host may be someone else. */
	for (;;) {
		struct smem_rm *obs;
		struct smem_rm_state st;

		cr_assert_eq(smem_rm_connect(NULL, -1, &obs), 0);
		cr_assert_eq(smem_rm_get_state(obs, smem_rm_vmid(1), &st), 0);
		smem_rm_close(obs);
		if (st.vm_state == SMEM_RM_VM_EXITED)
			break;
		sched_yield();
	}
	cr_assert_eq(smem_rm_connect(NULL, 1, &rm), 0);
	smem_rm_close(rm);
}

Test(smemd, a_bad_host_number_and_an_unregistered_caller)
{
	struct smem_rm *rm;
	unsigned vmid;

	cr_assert_eq(smem_rm_connect(NULL, 9, &rm), -ENODEV);
	cr_assert_eq(smem_rm_connect(NULL, -1, &rm), 0);
	cr_assert_eq(smem_rm_get_vmid(rm, &vmid), -EPERM, "DENIED before registering");
	smem_rm_close(rm);
}

/* apps creates a pair with modem; modem finds its ends in its table; they talk. */
static int modem_echo(void *arg)
{
	struct smem_rm_resource res[8];
	struct smem_msgq *rx = NULL, *tx = NULL;
	struct smem_rm_notification n;
	struct smem_rm *rm;
	int *p = arg;
	size_t nres, size;
	char buf[64];

	if (smem_rm_connect(NULL, 1, &rm) != 0)
		return 1;
	if (write(p[1], "r", 1) != 1)
		return 2;
	/* Told that apps made queues with it. */
	for (;;) {
		struct pollfd pfd = { smem_rm_fd(rm), POLLIN, 0 };

		if (poll(&pfd, 1, 20000) != 1)
			return 3;
		if (smem_rm_notification(rm, &n) == 0 && n.msg_id == SMEM_RM_NOTIF_RESOURCES)
			break;
	}
	if (n.vmid != smem_rm_vmid(0) || n.value != 77)
		return 4;
	if (smem_rm_get_resources(rm, res, 8, &nres) != 0 || nres != 2)
		return 5;
	for (size_t i = 0; i < nres; i++) {
		if (res[i].partner != smem_rm_vmid(0) || res[i].label != 77)
			return 6;
		if (smem_rm_msgq_open(rm, res[i].cap, NULL, res[i].type == 2 ? &tx : &rx) != 0)
			return 7;
	}
	if (!tx || !rx)
		return 8;
	for (int i = 0; i < 100; i++) {
		if (smem_msgq_recv_wait(rx, buf, sizeof(buf), &size, 20000) < 0)
			return 9;
		if (smem_msgq_send_wait(tx, buf, size, 0, 20000) < 0)
			return 10;
	}
	smem_rm_close(rm);
	return 0;
}

Test(smemd, queues_created_through_the_rm_carry_traffic)
{
	struct smem_msgq *tx, *rx;
	struct smem_rm *rm;
	uint64_t txc, rxc;
	int p[2];
	char c;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = child(modem_echo, p);
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	cr_assert_eq(smem_rm_msgq_create(rm, smem_rm_vmid(1), 77, 8, 64, 0, &txc, &rxc), 0);
	cr_assert_eq(smem_rm_msgq_create(rm, smem_rm_vmid(1), 77, 8, 64, 0, &txc, &rxc), -EEXIST);
	cr_assert_eq(smem_rm_msgq_open(rm, txc, NULL, &tx), 0);
	cr_assert_eq(smem_rm_msgq_open(rm, rxc, NULL, &rx), 0);
	cr_assert_eq(smem_rm_msgq_open(rm, txc + 1000, NULL, &tx), -EINVAL, "not our cap");
	for (int i = 0; i < 100; i++) {
		char msg[32], back[64];
		size_t size;

		snprintf(msg, sizeof(msg), "request %d", i);
		cr_assert_geq(smem_msgq_send_wait(tx, msg, strlen(msg) + 1, 0, 20000), 0);
		cr_assert_geq(smem_msgq_recv_wait(rx, back, sizeof(back), &size, 20000), 0);
		cr_assert_str_eq(back, msg);
	}
	cr_assert(WIFEXITED(status_of(pid)));
	smem_rm_close(rm);
}

/*
 * The crash: modem holds lock 3 and a queue with apps, and is SIGKILLed. apps,
 * waiting on the lock without the bust policy, gets it with the repair signal;
 * it is told VM_EXITED (the process died: SOFTWARE_ERROR) and VM_STATUS; its
 * send on the queue with modem says -EPIPE instead of waiting.
 */
static int modem_takes_lock_3(void *arg)
{
	struct smem_rm *rm;
	int *p = arg;

	if (smem_rm_connect(NULL, 1, &rm) != 0)
		return 1;
	if (smem_hwlock_trylock(smem_rm_hwlock(rm), 3, 1) != 0)
		return 2;
	if (write(p[1], "l", 1) != 1)
		return 3;
	for (;;)
		pause();
}

Test(smemd, a_dead_hosts_lock_queues_and_peers_are_cleaned_up)
{
	struct smem_rm_notification n;
	bool exited = false, status = false;
	struct smem_msgq *tx;
	struct smem_rm *rm;
	uint64_t txc, rxc;
	int p[2], r;
	char c;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	pid = child(modem_takes_lock_3, p);
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(smem_rm_msgq_create(rm, smem_rm_vmid(1), 5, 4, 32, 0, &txc, &rxc), 0);
	cr_assert_eq(smem_rm_msgq_open(rm, txc, NULL, &tx), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_geq(smem_msgq_send(tx, "x", 1, 0), 0);
	kill(pid, SIGKILL);
	r = smem_hwlock_lock(smem_rm_hwlock(rm), 3, 0, 20000, 0);
	cr_assert_eq(r, SMEM_HWLOCK_RECOVERED, "the lock comes with the repair signal: %d", r);
	cr_assert_eq(smem_hwlock_unlock(smem_rm_hwlock(rm), 3, 0), 0);
	/* The queue is full; a send would wait for ever for a receiver that is gone. */
	cr_assert_eq(smem_msgq_send_wait(tx, "x", 1, 0, -1), -EPIPE);
	while (!exited || !status) {
		struct pollfd pfd = { smem_rm_fd(rm), POLLIN, 0 };

		cr_assert_eq(poll(&pfd, 1, 20000), 1);
		while (smem_rm_notification(rm, &n) == 0) {
			if (n.msg_id == SMEM_RM_NOTIF_VM_EXITED) {
				cr_assert_eq(n.vmid, smem_rm_vmid(1));
				cr_assert_eq(n.exit_type, 5, "a process that died: SOFTWARE_ERROR");
				exited = true;
			} else if (n.msg_id == SMEM_RM_NOTIF_VM_STATUS && n.vmid == smem_rm_vmid(1) &&
				   n.vm_state == SMEM_RM_VM_EXITED) {
				status = true; /* after the RUNNING of its registration */
			}
		}
	}
	status_of(pid);
	smem_rm_close(rm);
}

/* The owner stops a host with FORCE: smemd kills it, and the exit type says so. */
Test(smemd, the_owner_stops_a_host_and_resets_it)
{
	struct smem_rm_notification n;
	struct smem_rm *rm;
	struct smem_rm_state st;
	int p[2], s;
	char c;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = child(hold_modem, p);
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	cr_assert_eq(smem_rm_reset(rm, smem_rm_vmid(1)), -EBADMSG, "VM_STATE: it runs");
	cr_assert_eq(smem_rm_stop(rm, smem_rm_vmid(1), SMEM_RM_STOP_FORCE, 3), 0);
	s = status_of(pid);
	cr_assert(WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL);
	for (;;) {
		struct pollfd pfd = { smem_rm_fd(rm), POLLIN, 0 };

		cr_assert_eq(poll(&pfd, 1, 20000), 1);
		if (smem_rm_notification(rm, &n) == 0 && n.msg_id == SMEM_RM_NOTIF_VM_EXITED)
			break;
	}
	cr_assert_eq(n.exit_type, 7, "VM_STOP_FORCED");
	cr_assert_eq(smem_rm_reset(rm, smem_rm_vmid(1)), 0);
	cr_assert_eq(smem_rm_get_state(rm, smem_rm_vmid(1), &st), 0);
	cr_assert_eq(st.vm_state, SMEM_RM_VM_RESET);
	cr_assert_eq(smem_rm_stop(rm, smem_rm_vmid(7), SMEM_RM_STOP_FORCE, 0), -EINVAL,
		     "VMID_INVALID for a host that does not exist");
	smem_rm_close(rm);
}

/* A raw connection, to say what no client library would. */
static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_request(int fd, uint16_t seq, uint32_t msg_id, const void *data, size_t len)
{
	struct smem_rpc_msg m = { SMEM_RPC_REQUEST, seq, msg_id, data, len };
	uint8_t pkt[SMEM_RPC_FRAG_MAX];

	for (int i = 0; i <= smem__rpc_nfrags(len); i++) {
		int n = smem__rpc_fragment(&m, (unsigned)i, pkt);

		cr_assert_gt(n, 0);
		cr_assert_eq(send(fd, pkt, (size_t)n, MSG_NOSIGNAL), n);
	}
}

/* The error word of the reply to @seq, skipping anything else. */
static uint32_t raw_reply(int fd, uint16_t seq)
{
	static struct smem_rpc_rx rx;
	struct smem_rpc_rx_event ev;
	uint8_t pkt[SMEM_RPC_FRAG_MAX + 8];

	smem__rpc_rx_init(&rx);
	for (;;) {
		ssize_t n = recv(fd, pkt, sizeof(pkt), 0);
		int r;

		cr_assert_gt(n, 0, "smemd closed the connection");
		r = smem__rpc_rx_push(&rx, pkt, (size_t)n, &ev);
		if (r > 0 && (r & SMEM_RPC_RX_COMPLETE) && ev.msg.type == SMEM_RPC_REPLY &&
		    ev.msg.seq == seq) {
			cr_assert_geq(ev.msg.len, 4);
			return get_le32(ev.msg.data);
		}
	}
}

Test(smemd, an_unknown_call_is_unimplemented_and_bad_frames_are_dropped)
{
	static const uint8_t junk[][12] = {
		{ 0x21 },                                    /* short */
		{ 0x31, 0x01, 1, 0, 0x24, 0, 0, 0x56 },      /* API byte */
		{ 0x21, 0xfd, 1, 0, 0x24, 0, 0, 0x56 },      /* 63 continuations */
		{ 0x21, 0x00, 1, 0, 0x24, 0, 0, 0x56 },      /* CONT of nothing */
		{ 0x21, 0x01, 1, 0, 0, 0, 0, 0 },            /* msg_id 0 */
		{ 0x21, 0x02, 1, 0, 0x24, 0, 0, 0x56 },      /* a reply, from a client */
	};
	uint8_t big[300] = { 0x21, 0x01 };
	int fd = raw_connect();

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		cr_assert_gt(send(fd, junk[i], i == 0 ? 1 : 8, MSG_NOSIGNAL), 0);
	cr_assert_eq(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	raw_request(fd, 9, 0x56000099u, NULL, 0);
	cr_assert_eq(raw_reply(fd, 9), SMEM_RPC_ERR_UNIMPLEMENTED);
	raw_request(fd, 10, SMEM_RPC_VM_GET_VMID, NULL, 0);
	cr_assert_eq(raw_reply(fd, 10), SMEM_RPC_ERR_DENIED, "not registered");
	raw_request(fd, 11, SMEM_RM_CALL_REGISTER, "\x01", 1);
	cr_assert_eq(raw_reply(fd, 11), SMEM_RPC_ERR_MSG_INVALID);
	close(fd);
}

/*
 * A client that floods requests and never reads a reply is dropped when its
 * ring is full; a host served meanwhile notices nothing.
 */
Test(smemd, a_client_that_never_reads_costs_only_itself)
{
	struct smem_rm *rm;
	unsigned vmid;
	int fd = raw_connect(), one = 4096;
	ssize_t n = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
	cr_assert_eq(smem_rm_connect(NULL, 2, &rm), 0);
	for (uint16_t seq = 1; seq < 20000; seq++) {
		struct smem_rpc_msg m = { SMEM_RPC_REQUEST, seq, SMEM_RPC_VM_GET_VMID, NULL, 0 };
		uint8_t pkt[SMEM_RPC_FRAG_MAX];
		int len = smem__rpc_fragment(&m, 0, pkt);

		n = send(fd, pkt, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { fd, POLLOUT, 0 };

			/* smemd is not reading: check it serves others meanwhile, then go on. */
			cr_assert_eq(smem_rm_get_vmid(rm, &vmid), 0);
			if (poll(&pfd, 1, 2000) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
				break;
		}
	}
	cr_assert(n < 0, "smemd dropped the flooding client");
	cr_assert_eq(smem_rm_get_vmid(rm, &vmid), 0);
	cr_assert_eq(vmid, smem_rm_vmid(2));
	close(fd);
	smem_rm_close(rm);
}

/* A config file binds a host to a uid: another uid may not be it. */
Test(smemd_config, a_host_bound_to_a_uid_refuses_others, .fini = stop_smemd, .timeout = 60)
{
	char path[] = "/tmp/smemd-conf-XXXXXX";
	struct smem_rm *rm;
	FILE *f;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fprintf(f, "[smemd]\nsize = 1M\n[host apps]\nid = 0\n[host modem]\nid = 1\nuid = %u\n",
		(unsigned)getuid() + 1);
	fclose(f);
	start_smemd(path);
	cr_assert_eq(smem_rm_connect(NULL, 1, &rm), -EACCES);
	cr_assert_eq(smem_rm_connect(NULL, 2, &rm), -ENODEV, "adsp is not in this config");
	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	smem_rm_close(rm);
	unlink(path);
}

/* smemctl status shows what smemd knows: a registered host with its pid, the rest none. */
Test(smemd, smemctl_status_shows_the_hosts)
{
	const char *smemctl = getenv("SMEMCTL");
	char cmd[512], out[4096], want[128];
	struct smem_rm *rm;
	size_t n;
	FILE *p;

	cr_assert(smemctl, "SMEMCTL names the smemctl to test");
	cr_assert_eq(smem_rm_connect(NULL, 2, &rm), 0);
	snprintf(cmd, sizeof(cmd), "%s status --json --socket %s", smemctl, sock);
	p = popen(cmd, "r");
	cr_assert(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "%s", out);
	snprintf(want, sizeof(want), "\"name\": \"adsp\", \"vmid\": 130, \"state\": \"running\"");
	cr_assert(strstr(out, want), "%s", out);
	snprintf(want, sizeof(want), "\"pid\": %d,", (int)getpid());
	cr_assert(strstr(out, want), "the registered process: %s", out);
	cr_assert(strstr(out, "\"name\": \"modem\", \"vmid\": 129, \"state\": \"none\""), "%s", out);
	smem_rm_close(rm);
}

/*
 * A uid that opens more connections than smemd has slots, and never registers,
 * cannot lock the hosts out: its oldest idle connections make way.
 */
Test(smemd, idle_connections_cannot_lock_the_hosts_out)
{
	struct smem_rm *rm;
	unsigned vmid;
	int fds[300];

	for (int i = 0; i < 300; i++)
		fds[i] = raw_connect();
	cr_assert_eq(smem_rm_connect(NULL, 2, &rm), 0);
	cr_assert_eq(smem_rm_get_vmid(rm, &vmid), 0);
	cr_assert_eq(vmid, smem_rm_vmid(2));
	for (int i = 0; i < 300; i++)
		close(fds[i]);
	smem_rm_close(rm);
}

/* A host that called VM_EXIT is done: it may not act, nor come back before it dies or is reset. */
Test(smemd, an_exited_host_acts_no_more)
{
	struct smem_rm *rm, *again;
	uint64_t tx, rx;

	cr_assert_eq(smem_rm_connect(NULL, 1, &rm), 0);
	cr_assert_eq(smem_rm_exit(rm, 0), 0);
	cr_assert_eq(smem_rm_msgq_create(rm, smem_rm_vmid(0), 3, 4, 16, 0, &tx, &rx), -EBADMSG,
		     "VM_STATE");
	cr_assert_eq(smem_rm_connect(NULL, 1, &again), -EBADMSG, "VM_STATE until reset");
	smem_rm_close(rm);
}

/* Notifications through a callback, for an event loop: each once, in order. */
static void count_status(const struct smem_rm_notification *n, void *userdata)
{
	unsigned *seen = userdata;

	if (n->msg_id == SMEM_RM_NOTIF_VM_STATUS && n->vmid == smem_rm_vmid(1) &&
	    n->vm_state == SMEM_RM_VM_RUNNING)
		(*seen)++;
}

Test(smemd, notifications_reach_a_callback)
{
	struct smem_rm *rm, *m;
	unsigned seen = 0;
	int r;

	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	cr_assert_eq(smem_rm_connect(NULL, 1, &m), 0);
	while (seen == 0) {
		struct pollfd p = { smem_rm_fd(rm), POLLIN, 0 };

		cr_assert_eq(poll(&p, 1, 20000), 1);
		r = smem_rm_dispatch(rm, count_status, &seen);
		cr_assert_geq(r, 0);
	}
	cr_assert_eq(seen, 1, "the modem's registration, told once");
	cr_assert_eq(smem_rm_dispatch(rm, count_status, &seen), 0, "nothing more");
	smem_rm_close(m);
	smem_rm_close(rm);
}

/*
 * A notification that a call read from the socket while it waited for its own
 * reply is kept, and smem_rm_fd() stays readable for it: an event loop that
 * polls before it dispatches must not sleep on what is already here.
 */
Test(smemd, a_notification_read_by_a_call_still_wakes_the_loop)
{
	struct smem_rm *rm, *m;
	struct smem_rm_state st;
	struct smem_rm_notification n;
	struct pollfd p;
	bool exited = false;

	cr_assert_eq(smem_rm_connect(NULL, 0, &rm), 0);
	cr_assert_eq(smem_rm_connect(NULL, 1, &m), 0);
	/* smemd tells the peers before it answers VM_EXIT: apps has it queued now. */
	cr_assert_eq(smem_rm_exit(m, 0), 0);
	cr_assert_eq(smem_rm_get_state(rm, 0, &st), 0, "a call reads past the notifications");
	p = (struct pollfd){ smem_rm_fd(rm), POLLIN, 0 };
	cr_assert_eq(poll(&p, 1, 0), 1, "the kept notifications keep the fd readable");
	while (smem_rm_notification(rm, &n) == 0)
		if (n.msg_id == SMEM_RM_NOTIF_VM_EXITED && n.vmid == smem_rm_vmid(1))
			exited = true;
	cr_assert(exited, "the modem's VM_EXITED, kept by the call");
	p.revents = 0;
	cr_assert_eq(poll(&p, 1, 0), 0, "and not readable once they are taken");
	smem_rm_close(m);
	smem_rm_close(rm);
}

/* STATS: what smemctl top shows, asked for by an observer that never registers. */
static const struct smem_rm_queue_stats *find_queue(const struct smem_rm_queue_stats *q, size_t n,
						    unsigned from, unsigned to, uint32_t label)
{
	for (size_t i = 0; i < n; i++)
		if (q[i].from == from && q[i].to == to && q[i].label == label)
			return &q[i];
	return NULL;
}

enum { STATS_SENT = 10, STATS_LOCK = 7, STATS_LABEL = 42 };

struct sender {
	int pipe[2];
	bool exit;      /* call VM_EXIT after sending */
};

/*
 * The modem holds lock 7 and sends STATS_SENT messages to apps, who never reads
 * them, and calls VM_EXIT if told to; then it says so on the pipe and waits to
 * be killed.
 */
static int modem_sends_and_holds(void *arg)
{
	struct sender *s = arg;
	struct smem_msgq *tx;
	struct smem_rm *rm;
	uint64_t txc, rxc;

	if (smem_rm_connect(NULL, 1, &rm) != 0)
		return 1;
	if (smem_hwlock_trylock(smem_rm_hwlock(rm), STATS_LOCK, 1) != 0)
		return 2;
	if (smem_rm_msgq_create(rm, smem_rm_vmid(0), STATS_LABEL, 16, 32, 0, &txc, &rxc) != 0)
		return 3;
	if (smem_rm_msgq_open(rm, txc, NULL, &tx) != 0)
		return 4;
	for (int i = 0; i < STATS_SENT; i++)
		if (smem_msgq_send(tx, "counted", 8, 0) < 0)
			return 5;
	if (s->exit && smem_rm_exit(rm, 0) != 0)
		return 6;
	if (write(s->pipe[1], "s", 1) != 1)
		return 7;
	for (;;)
		pause();
}

static pid_t start_sender(struct sender *s, bool exit)
{
	pid_t pid;
	char c;

	s->exit = exit;
	cr_assert_eq(pipe(s->pipe), 0);
	pid = child(modem_sends_and_holds, s);
	cr_assert_eq(read(s->pipe[0], &c, 1), 1, "the modem sent its messages");
	close(s->pipe[0]);
	close(s->pipe[1]);
	return pid;
}

Test(smemd, stats_count_what_a_host_sent_and_show_who_holds_a_lock)
{
	struct smem_rm_queue_stats qs[8];
	struct smem_rm_lock_stats ls[SMEM_HWLOCK_COUNT];
	const struct smem_rm_queue_stats *to_apps, *back;
	struct sender snd;
	struct smem_rm *obs;
	size_t nl, nq;
	pid_t pid;

	pid = start_sender(&snd, false);
	cr_assert_eq(smem_rm_connect(NULL, -1, &obs), 0);
	cr_assert_eq(smem_rm_stats(obs, ls, SMEM_HWLOCK_COUNT, &nl, qs, 8, &nq), 0);
	cr_assert_eq(nl, SMEM_HWLOCK_COUNT, "every lock of the bank");
	cr_assert_eq(nq, 2, "the pair the modem made, one queue each way");
	to_apps = find_queue(qs, nq, 1, 0, STATS_LABEL);
	back = find_queue(qs, nq, 0, 1, STATS_LABEL);
	cr_assert(to_apps && back, "the queues are listed with their hosts and label");
	cr_assert_eq(to_apps->sent, STATS_SENT);
	cr_assert_eq(to_apps->count, STATS_SENT, "nobody received them");
	cr_assert_eq(to_apps->received, 0);
	cr_assert_eq(to_apps->depth, 16);
	cr_assert_eq(to_apps->max_msg_size, 32);
	cr_assert_eq(to_apps->closed, 0);
	cr_assert_eq(back->sent, 0);
	for (unsigned i = 0; i < nl; i++) {
		cr_assert_eq(ls[i].id, i);
		if (i == STATS_LOCK)
			cr_assert(ls[i].holder == 1 && ls[i].value == 2, "the modem holds lock %u", i);
		else
			cr_assert(ls[i].holder == -1 && ls[i].value == 0, "lock %u is free", i);
	}

	/*
	 * SIGKILLed: smemd hands its lock on and forgets its queues in one turn
	 * of its loop (their peers keep their mappings, shut down).
	 */
	kill(pid, SIGKILL);
	status_of(pid);
	do {
		cr_assert_eq(smem_rm_stats(obs, ls, SMEM_HWLOCK_COUNT, &nl, qs, 8, &nq), 0);
		if (ls[STATS_LOCK].value)
			sched_yield();
	} while (ls[STATS_LOCK].value);
	cr_assert_eq(ls[STATS_LOCK].holder, -1);
	cr_assert_eq(nq, 0, "a dead host's queues leave the table with it");
	smem_rm_close(obs);
}

/* A host that called VM_EXIT keeps its queues until it dies, shut down: STATS says closed. */
Test(smemd, stats_show_the_queues_of_an_exited_host_closed)
{
	struct smem_rm_queue_stats qs[8];
	const struct smem_rm_queue_stats *to_apps, *back;
	struct sender snd;
	struct smem_rm *obs;
	size_t nl, nq;
	pid_t pid;

	pid = start_sender(&snd, true);
	cr_assert_eq(smem_rm_connect(NULL, -1, &obs), 0);
	cr_assert_eq(smem_rm_stats(obs, NULL, 0, &nl, qs, 8, &nq), 0);
	to_apps = find_queue(qs, nq, 1, 0, STATS_LABEL);
	back = find_queue(qs, nq, 0, 1, STATS_LABEL);
	cr_assert(to_apps && back);
	cr_assert(to_apps->closed && back->closed, "both queues of the pair are shut down");
	cr_assert_eq(to_apps->sent, STATS_SENT, "the counters outlive the sender");
	cr_assert_eq(to_apps->count, STATS_SENT, "what was queued stays for the receiver");
	kill(pid, SIGKILL);
	status_of(pid);
	smem_rm_close(obs);
}

/* More queues than a page: every one is listed once, in slot order, whatever the room. */
Test(smemd, stats_walk_every_page)
{
	static struct smem_rm_queue_stats qs[600];
	struct smem_rm *apps, *adsp, *obs;
	struct smem_rm_lock_stats l;
	size_t nl, nq, want = 0;
	uint64_t tx, rx;

	/* Two hosts make the queues, with two others: each makes a bounded share. */
	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	cr_assert_eq(smem_rm_connect(NULL, 2, &adsp), 0);
	for (uint32_t label = 0; label < 70; label++, want += 4) {
		cr_assert_eq(smem_rm_msgq_create(apps, smem_rm_vmid(1), label, 1, 8, 0, &tx, &rx),
			     0);
		cr_assert_eq(smem_rm_msgq_create(adsp, smem_rm_vmid(5), label, 1, 8, 0, &tx, &rx),
			     0);
	}
	cr_assert_gt(want, SMEM_RM_STATS_PAGE, "more than one page");
	cr_assert_eq(smem_rm_connect(NULL, -1, &obs), 0);
	cr_assert_eq(smem_rm_stats(obs, &l, 1, &nl, qs, 600, &nq), 0);
	cr_assert_eq(nq, want);
	cr_assert_eq(nl, SMEM_HWLOCK_COUNT, "the bank's count, though there was room for one");
	for (size_t i = 1; i < nq; i++)
		cr_assert_gt(qs[i].slot, qs[i - 1].slot, "slot order, none twice");
	cr_assert(find_queue(qs, nq, 0, 1, 0) && find_queue(qs, nq, 5, 2, 69),
		  "the first and the last");
	/* Room for five: five are written, and the count is still every queue. */
	memset(qs, 0xa5, sizeof(qs));
	cr_assert_eq(smem_rm_stats(obs, NULL, 0, &nl, qs, 5, &nq), 0);
	cr_assert_eq(nq, want);
	cr_assert_eq(qs[4].from, 0, "apps made the first queues");
	cr_assert_eq(qs[5].slot, 0xa5a5a5a5u, "nothing past the room given");
	smem_rm_close(obs);
	smem_rm_close(adsp);
	smem_rm_close(apps);
}

/* STATS takes one le32: anything else is refused as the other calls refuse it. */
Test(smemd, stats_check_their_request)
{
	uint8_t req[4];
	int fd = raw_connect();

	raw_request(fd, 1, SMEM_RM_CALL_STATS, "\x01", 1);
	cr_assert_eq(raw_reply(fd, 1), SMEM_RPC_ERR_MSG_INVALID, "a short request");
	raw_request(fd, 2, SMEM_RM_CALL_STATS, "\0\0\0\0\0", 5);
	cr_assert_eq(raw_reply(fd, 2), SMEM_RPC_ERR_MSG_INVALID, "a long request");
	put_le32(req, 100000);
	raw_request(fd, 3, SMEM_RM_CALL_STATS, req, sizeof(req));
	cr_assert_eq(raw_reply(fd, 3), SMEM_RPC_ERR_ARGUMENT_INVALID, "a slot past the table");
	put_le32(req, 0);
	raw_request(fd, 4, SMEM_RM_CALL_STATS, req, sizeof(req));
	cr_assert_eq(raw_reply(fd, 4), SMEM_RPC_ERR_OK, "unregistered, and yet answered");
	close(fd);
}

/* One fragment of a request, on the link's request queue. */
static void link_request(struct smem_msgq *req, uint16_t seq, uint32_t msg_id, const void *data,
			 size_t len)
{
	struct smem_rpc_msg m = { SMEM_RPC_REQUEST, seq, msg_id, data, len };
	uint8_t pkt[SMEM_RPC_FRAG_MAX];
	int n = smem__rpc_fragment(&m, 0, pkt);

	cr_assert_gt(n, 0);
	cr_assert_geq(smem_msgq_send(req, pkt, (size_t)n, 0), 0);
}

/* The next complete message on the link's reply queue. */
static struct smem_rpc_msg link_next(struct smem_msgq *rsp, struct smem_rpc_rx *rx)
{
	static uint8_t pkt[SMEM_RPC_FRAG_MAX];
	struct smem_rpc_rx_event ev;

	for (;;) {
		size_t n;
		int r;

		cr_assert_geq(smem_msgq_recv_wait(rsp, pkt, sizeof(pkt), &n, 20000), 0, "on the link");
		r = smem__rpc_rx_push(rx, pkt, n, &ev);
		if (r > 0 && (r & SMEM_RPC_RX_COMPLETE))
			return ev.msg;
	}
}

/*
 * The second carrier: a host registered on the socket asks for its RM link,
 * two message queues, and the RM RPC framing works on them as on the socket:
 * calls answered there, malformed fragments dropped, a call whose reply needs
 * fds refused there, notifications delivered there, and nothing on the socket.
 */
Test(smemd, the_rm_link_carries_rm_rpc_on_two_queues)
{
	static const uint8_t junk[] = { 0x31, 0x01, 1, 0, 0x24, 0, 0, 0x56 };
	uint8_t req[4] = { 1, 0, 0, 0 }, pkt[SMEM_RPC_FRAG_MAX], cap[8] = { 0 };
	struct smem_msgq *lreq, *lrsp;
	struct smem_msgq_opts o = { 0 };
	struct smem_region *r;
	struct smem_rpc_rx rx;
	struct smem_rpc_msg m;
	struct smem_rm *apps;
	uint64_t txc, rxc;
	unsigned nfds = 0;
	uint32_t qsize;
	int fd = raw_connect(), fds[5];
	ssize_t n;

	raw_request(fd, 1, SMEM_RM_CALL_REGISTER, req, 4);
	cr_assert_eq(raw_reply(fd, 1), SMEM_RPC_ERR_OK);
	raw_request(fd, 2, SMEM_RM_CALL_LINK, NULL, 0);
	n = smem__rm_recv(fd, pkt, sizeof(pkt), 0, fds, 5, &nfds);
	cr_assert_eq(n, 8 + 4 + SMEM_RM_LINK_REPLY);
	cr_assert_eq(get_le32(pkt + 8), SMEM_RPC_ERR_OK);
	cr_assert_eq(nfds, 5, "the memfd and four eventfds");
	qsize = get_le32(pkt + 12);
	cr_assert_eq(smem_region_from_fd(fds[0], 0, &r), 0);
	cr_assert_eq(smem_region_size(r), 2 * (size_t)qsize);
	o.rx_eventfd = fds[1];
	o.tx_eventfd = fds[2];
	cr_assert_eq(smem_msgq_open(smem_region_base(r), qsize, SMEM_MSGQ_TX, &o, &lreq), 0);
	o.rx_eventfd = fds[3];
	o.tx_eventfd = fds[4];
	cr_assert_eq(smem_msgq_open((uint8_t *)smem_region_base(r) + qsize, qsize, SMEM_MSGQ_RX, &o,
				    &lrsp), 0);
	smem__rpc_rx_init(&rx);

	link_request(lreq, 3, SMEM_RPC_VM_GET_VMID, NULL, 0);
	m = link_next(lrsp, &rx);
	cr_assert_eq(m.type, SMEM_RPC_REPLY);
	cr_assert_eq(m.seq, 3);
	cr_assert_eq(m.len, 8);
	cr_assert_eq(get_le32(m.data), SMEM_RPC_ERR_OK);
	cr_assert_eq(get_le32(m.data + 4), smem_rm_vmid(1), "the link knows whose it is");
	/* A malformed fragment is dropped; the next call is served. */
	cr_assert_geq(smem_msgq_send(lreq, junk, sizeof(junk), 0), 0);
	link_request(lreq, 4, SMEM_RPC_VM_GET_STATE, (uint8_t[4]){ 0 }, 4);
	m = link_next(lrsp, &rx);
	cr_assert_eq(m.seq, 4);
	cr_assert_eq(get_le32(m.data), SMEM_RPC_ERR_OK);
	cr_assert_eq(m.data[4], SMEM_RM_VM_RUNNING);
	/* A reply with fds cannot go on a queue. */
	link_request(lreq, 5, SMEM_RM_CALL_MSGQ_OPEN, cap, 8);
	m = link_next(lrsp, &rx);
	cr_assert_eq(m.seq, 5);
	cr_assert_neq(get_le32(m.data), SMEM_RPC_ERR_OK);
	/* Notifications come on the link. */
	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	cr_assert_eq(smem_rm_msgq_create(apps, smem_rm_vmid(1), 12, 4, 32, 0, &txc, &rxc), 0);
	do
		m = link_next(lrsp, &rx);
	while (m.type != SMEM_RPC_NOTIFICATION || m.msg_id != SMEM_RM_NOTIF_RESOURCES);
	cr_assert_eq(get_le16(m.data), smem_rm_vmid(0));
	cr_assert_eq(get_le32(m.data + 4), 12);
	/* And nothing came on the socket since the link's own reply. */
	cr_assert_eq(recv(fd, pkt, sizeof(pkt), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	smem_rm_close(apps);
	smem_msgq_close(lreq);
	smem_msgq_close(lrsp);
	smem_region_close(r);
	for (int i = 1; i < 5; i++)
		close(fds[i]);
	close(fd);
}

/* The library on the link: typed calls, a queue opened (on the socket), notifications. */
Test(smemd, a_client_on_its_rm_link_works_as_on_the_socket)
{
	struct smem_rm_resource res[4];
	struct smem_rm_notification n;
	struct smem_rm *modem, *apps;
	struct smem_msgq *q;
	unsigned vmid;
	uint64_t txc, rxc;
	size_t nres;
	bool told = false;

	cr_assert_eq(smem_rm_connect(NULL, 1, &modem), 0);
	cr_assert_eq(smem_rm_link(modem), 0);
	cr_assert_eq(smem_rm_link(modem), 0, "linked already");
	cr_assert_eq(smem_rm_get_vmid(modem, &vmid), 0);
	cr_assert_eq(vmid, smem_rm_vmid(1));
	cr_assert_eq(smem_rm_connect(NULL, 0, &apps), 0);
	cr_assert_eq(smem_rm_msgq_create(apps, smem_rm_vmid(1), 13, 4, 32, 0, &txc, &rxc), 0);
	while (!told) {
		struct pollfd p = { smem_rm_fd(modem), POLLIN, 0 };

		cr_assert_eq(poll(&p, 1, 20000), 1, "smem_rm_fd() wakes for the link");
		while (smem_rm_notification(modem, &n) == 0)
			told |= n.msg_id == SMEM_RM_NOTIF_RESOURCES;
	}
	cr_assert_eq(smem_rm_get_resources(modem, res, 4, &nres), 0);
	cr_assert_eq(nres, 2);
	cr_assert_eq(smem_rm_msgq_open(modem, res[0].cap, NULL, &q), 0, "an fd call still works");
	smem_rm_close(apps);
	smem_rm_close(modem);
}
