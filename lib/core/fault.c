// SPDX-License-Identifier: MIT
/*
 * Fault points (test builds only). One point may be armed per process; hitting it
 * for the N-th time raises SIGKILL, which cannot be caught, so the process stops
 * exactly there, with every store before the point done and none after it; or,
 * armed with a hook, calls the hook there.
 */
#include "fault.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static char armed_name[128];
static atomic_ulong armed_nth;
static atomic_ulong hits;
static atomic_int env_read;
static void (*hook_fn)(void *);
static void *hook_arg;

void smem__fault_arm(const char *name, unsigned long nth)
{
	atomic_store(&env_read, 1);
	if (!name) {
		armed_name[0] = '\0';
		return;
	}
	strncpy(armed_name, name, sizeof(armed_name) - 1);
	hook_fn = NULL;
	atomic_store(&hits, 0);
	atomic_store(&armed_nth, nth ? nth : 1);
}

void smem__fault_hook(const char *name, unsigned long nth, void (*fn)(void *), void *arg)
{
	smem__fault_arm(name, nth);
	hook_arg = arg;
	hook_fn = fn;
}

static void read_env(void)
{
	const char *v = getenv("SMEMKIT_FAULT");
	char buf[sizeof(armed_name)];
	unsigned long nth = 1;
	char *colon;

	if (!v || !*v || strlen(v) >= sizeof(buf))
		return;
	strcpy(buf, v);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		nth = strtoul(colon + 1, NULL, 10);
	}
	smem__fault_arm(buf, nth);
}

void smem__fault_point(const char *name)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&env_read, &expected, 1))
		read_env();
	if (!armed_name[0] || strcmp(name, armed_name) != 0)
		return;
	if (atomic_fetch_add(&hits, 1) + 1 != atomic_load(&armed_nth))
		return;
	if (hook_fn)
		hook_fn(hook_arg);
	else
		raise(SIGKILL);
}
