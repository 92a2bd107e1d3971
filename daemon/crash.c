// SPDX-License-Identifier: MIT
/*
 * What smemd does when a host dies, in the order the design gives: the host
 * is marked EXITED with its exit type; every lock it held is handed on with
 * the repair signal (smem__hwlock_mark_dead(): marked dead and unlabelled, so
 * whoever takes it next gets SMEM_HWLOCK_RECOVERED, and every sleeper wakes);
 * the heap needs no repair in a version-12 image (an entry is invisible until
 * one store publishes it, and the lock is all a dead allocator leaves); each of
 * its queues is shut down, so its peers get -EPIPE instead of waiting; and the
 * other running hosts are told with VM_EXITED and VM_STATUS.
 *
 * A death is what the pidfd says, never a lookup. A host whose connection
 * closes but whose process lives stays registered: it may reconnect.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "hwlock/hwlock-internal.h"
#include "core/util.h"
#include "smemd.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* VM_EXITED and VM_STATUS of @h: its exit, as its peers hear of it. */
static void exit_notes(const struct smemd_host *h, uint8_t *exited, size_t *exited_len,
		       uint8_t *status)
{
	struct smem_rpc_vm_exited ex;
	struct smem_rpc_vm_status st;
	uint8_t reason[4];
	int n;

	put_le32(reason, h->exit_reason);
	ex = (struct smem_rpc_vm_exited){ .vmid = h->vmid, .exit_type = h->exit_type,
					  .reason_size = 4, .reason = reason };
	n = smem__rpc_vm_exited_encode(&ex, exited, 16);
	*exited_len = n > 0 ? (size_t)n : 0;
	st = (struct smem_rpc_vm_status){ .vmid = h->vmid, .vm_status = h->state,
					  .os_status = h->os_state };
	smem__rpc_vm_status_encode(&st, status, 8);
}

void smemd__tell_exit(struct smemd *d, struct smemd_client *c, const struct smemd_host *h)
{
	uint8_t exited[16], status[8];
	size_t len;

	exit_notes(h, exited, &len, status);
	if (len)
		smemd_send(d, c, SMEM_RPC_NOTIFICATION, ++d->notif_seq, SMEM_RPC_NOTIF_VM_EXITED,
			   exited, len, NULL, 0);
	smemd_send(d, c, SMEM_RPC_NOTIFICATION, ++d->notif_seq, SMEM_RPC_NOTIF_VM_STATUS, status,
		   8, NULL, 0);
}

void smemd__host_exited(struct smemd *d, struct smemd_host *h, uint16_t exit_type)
{
	uint8_t exited[16], status[8];
	unsigned queues = 0;
	size_t len;

	if (h->state == SMEM_RPC_VM_STATE_EXITED && h->exit_type == exit_type && h->notified)
		return;
	h->state = SMEM_RPC_VM_STATE_EXITED;
	h->os_state = exit_type == SMEM_RPC_EXIT_VM_EXIT ? SMEM_RPC_OS_STATE_HALTED
							 : SMEM_RPC_OS_STATE_CRASHED;
	h->exit_type = exit_type;
	h->notified = true;
	d->dirty = true;
	smemd__queues_of_host(d, h->id, false, &queues);
	/* A running host that is away (its connection lost) is told when it is back. */
	for (unsigned j = 0; j < SMEM_RM_MAX_HOSTS; j++)
		if (j != h->id && d->hosts[j].pidfd >= 0 && !d->hosts[j].client &&
		    d->hosts[j].state == SMEM_RPC_VM_STATE_RUNNING)
			d->hosts[j].owed |= 1ull << h->id;
	exit_notes(h, exited, &len, status);
	if (len)
		smemd_notify_all(d, h->id, SMEM_RPC_NOTIF_VM_EXITED, exited, len);
	smemd_notify_all(d, h->id, SMEM_RPC_NOTIF_VM_STATUS, status, 8);
	smemd_log(d, "host %u exited (type %u): %u queues shut down, peers told", h->id,
		  (unsigned)exit_type, queues);
}

void smemd_host_died(struct smemd *d, struct smemd_host *h)
{
	int64_t t0 = now_ns();
	unsigned locks = 0;

	uint16_t type = h->stopped	   ? SMEM_RPC_EXIT_VM_STOP_FORCED
			: h->exited_by_call ? SMEM_RPC_EXIT_VM_EXIT
					    : SMEM_RPC_EXIT_SOFTWARE_ERROR;

	if (h->pidfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, h->pidfd, NULL);
		close(h->pidfd);
	}
	h->pidfd = -1;
	h->died_ns = t0;
	h->owed = 0;
	d->dirty = true;
	/* 1: EXITED, with its exit type (a host that called VM_EXIT was told of already). */
	if (!h->exited_by_call)
		h->exit_reason = SMEM_RPC_EXIT_REASON(0, SMEM_RPC_EXIT_CODE_SOFTWARE_ERROR);
	if (h->state != SMEM_RPC_VM_STATE_EXITED || h->exit_type != type)
		h->notified = false;
	h->state = SMEM_RPC_VM_STATE_EXITED;
	h->exit_type = type;
	/* 2: its locks, before any notification: a waiter must not wait for them. */
	for (unsigned id = 0; id < SMEM_HWLOCK_COUNT; id++)
		if (smem__hwlock_mark_dead(d->bank, id, h->id) == 1)
			locks++;
	/*
	 * 3: a version-12 heap needs no repair. 4: its queues, shut down for the
	 * peers (who keep their mappings) and forgotten here, caps and all, so
	 * that a dead host's queues never fill the table. 5: its peers.
	 */
	smemd__queues_of_host(d, h->id, true, NULL);
	smemd__host_exited(d, h, type);
	if (h->client) {
		h->client->host = -1;
		h->client = NULL;
	}
	/* Saved as dead first: the pidfd that proves it goes from the store last. */
	smemd_state_save(d);
	{
		char name[16];

		snprintf(name, sizeof(name), "host.%u", h->id);
		smemd_store_drop(d, name);
	}
	smemd_log(d, "host %u (pid %d) died: %u locks handed on, cleaned up in %lld us", h->id,
		  (int)h->pid, locks, (long long)(now_ns() - t0) / 1000);
}

void smemd_client_gone(struct smemd *d, struct smemd_client *c)
{
	if (c->host >= 0 && d->hosts[c->host].client == c)
		d->hosts[c->host].client = NULL;
	c->host = -1;
}
