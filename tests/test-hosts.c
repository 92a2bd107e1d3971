// SPDX-License-Identifier: MIT
/* The host table: registration, proof of death, takeover, and waiters that bust dead holders. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>

#include "core/fault.h"
#include "helpers.h"

static struct smem_region *lr;
static struct smem_hwlock *h;

static void setup(void)
{
	cr_assert_eq(smem_region_memfd("bank", SMEM_HWLOCK_BANK_SIZE(64), &lr), 0);
	cr_assert_eq(smem_hwlock_format(smem_region_base(lr), smem_region_size(lr), 64), 0);
	cr_assert_eq(open_bank_in(lr, &h), 0);
}

static void teardown(void)
{
	smem_hwlock_close(h);
	smem_region_close(lr);
}

TestSuite(hosts, .init = setup, .fini = teardown);

/* Fork a child that runs fn, then stays alive until the returned pipe is closed. */
static pid_t child_holding(void (*fn)(void), int *ret_release)
{
	int ready[2], release[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(release), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		close(release[1]);
		fn();
		if (write(ready[1], "r", 1) != 1)
			_exit(9);
		while (read(release[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*ret_release = release[1];
	return pid;
}

static void register_host_1(void)
{
	if (smem_hwlock_host_register(h, 1) != 0)
		_exit(8);
}

static void hold_lock_3_as_host_1(void)
{
	register_host_1();
	if (smem_hwlock_trylock(h, 3, 1) != 0)
		_exit(7);
}

Test(hosts, register_records_this_process)
{
	struct smem_hwlock_host e;

	cr_assert_eq(smem_hwlock_host_get(h, 4, &e), 0);
	cr_assert_not(e.registered);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), -ENOENT);
	cr_assert_eq(smem_hwlock_host_register(h, 4), 0);
	cr_assert_eq(smem_hwlock_host_get(h, 4, &e), 0);
	cr_assert(e.registered);
	cr_assert_eq(e.pid, (uint32_t)getpid());
	cr_assert_gt(e.start_time, 0);
	cr_assert_eq(e.generation, 1);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), 1);
	cr_assert_eq(smem_hwlock_host_register(h, 4), 0, "registering again is harmless");
	cr_assert_eq(smem_hwlock_host_get(h, 4, &e), 0);
	cr_assert_eq(e.generation, 1);
	cr_assert_eq(smem_hwlock_host_unregister(h, 4), 0);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), -ENOENT);
}

Test(hosts, a_live_host_cannot_be_taken_and_a_dead_one_can)
{
	struct smem_hwlock_host e;
	int release;
	pid_t pid = child_holding(register_host_1, &release);

	cr_assert_eq(smem_hwlock_host_alive(h, 1), 1);
	cr_assert_eq(smem_hwlock_host_register(h, 1), -EADDRINUSE);
	cr_assert_eq(smem_hwlock_host_unregister(h, 1), -EPERM, "not ours to clear");
	close(release);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(smem_hwlock_host_alive(h, 1), 0, "exited: proven dead");
	cr_assert_eq(smem_hwlock_host_register(h, 1), 0, "the slot of a dead host is taken over");
	cr_assert_eq(smem_hwlock_host_get(h, 1, &e), 0);
	cr_assert_eq(e.generation, 2);
}

Test(hosts, a_zombie_is_dead)
{
	int release;
	pid_t pid = child_holding(register_host_1, &release);
	siginfo_t info;

	kill(pid, SIGKILL);
	/* Wait for the death without reaping: the child stays a zombie. */
	cr_assert_eq(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
	cr_assert_eq(smem_hwlock_host_alive(h, 1), 0);
	close(release);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
}

Test(hosts, a_reused_pid_is_not_the_registered_process)
{
	struct smem_hwlock_host e;
	uint8_t *page = (uint8_t *)smem_region_base(lr) + 32 * 64;
	uint64_t fake;

	cr_assert_eq(smem_hwlock_host_register(h, 6), 0);
	cr_assert_eq(smem_hwlock_host_get(h, 6, &e), 0);
	/* Same pid, another start time: as if this pid had been reused. */
	fake = e.start_time + 1;
	memcpy(page + 64 + 6 * 32 + 16, &fake, 8);
	cr_assert_eq(smem_hwlock_host_alive(h, 6), 0);
}

Test(hosts, an_entry_that_stays_busy_cannot_be_read)
{
	struct smem_hwlock_host e;
	uint8_t *page = (uint8_t *)smem_region_base(lr) + 32 * 64;
	uint32_t odd = 1;

	cr_assert_eq(smem_hwlock_host_register(h, 7), 0);
	/* A rewrite that never ends: the entry's sequence count stays odd. */
	memcpy(page + 64 + 7 * 32, &odd, 4);
	memset(&e, 0xa5, sizeof(e));
	cr_assert_eq(smem_hwlock_host_get(h, 7, &e), -EAGAIN);
	cr_assert_eq(e.pid, 0xa5a5a5a5, "out-parameters are written only on success");
	cr_assert_eq(e.generation, 0xa5a5a5a5);
}

Test(hosts, a_registration_cut_short_by_a_crash_is_taken_over)
{
	static const char *const points[] = { "hwlock.host.after_seq_odd", "hwlock.host.after_pid",
					      "hwlock.host.after_fields", "hwlock.host.after_register" };

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		pid_t pid = fork();
		int st;

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			smem__fault_arm(points[i], 1);
			smem_hwlock_host_register(h, 2);
			_exit(0);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "died at %s", points[i]);
		/* Whatever it left, the host is not alive, and can be registered again. */
		cr_assert_neq(smem_hwlock_host_alive(h, 2), 1, "%s", points[i]);
		cr_assert_eq(smem_hwlock_host_register(h, 2), 0, "%s", points[i]);
		cr_assert_eq(smem_hwlock_host_alive(h, 2), 1);
		cr_assert_eq(smem_hwlock_host_unregister(h, 2), 0);
	}
}

Test(hosts, waiter_busts_a_dead_holder_only_with_the_policy, .timeout = 30)
{
	int release;
	pid_t pid = child_holding(hold_lock_3_as_host_1, &release);
	unsigned v;

	cr_assert_eq(smem_hwlock_host_register(h, 0), 0);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 20, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT,
		     "the holder is alive: no bust");
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	close(release);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 20, 0), -ETIMEDOUT, "without the policy nobody busts");
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 5000, SMEM_HWLOCK_BUST_DEAD),
		     SMEM_HWLOCK_RECOVERED);
	cr_assert_eq(smem_hwlock_owner(h, 3, &v), 0);
	cr_assert_eq(v, 1, "host 0 holds it now");
	cr_assert_eq(smem_hwlock_unlock(h, 3, 0), 0);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 10, SMEM_HWLOCK_BUST_DEAD), 0, "a plain take");
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 10, 0x80), -EINVAL);
}

Test(hosts, an_unregistered_holder_is_never_busted, .timeout = 30)
{
	cr_assert_eq(smem_hwlock_trylock(h, 5, 9), 0); /* host 9: nobody registered */
	cr_assert_eq(smem_hwlock_lock(h, 5, 0, 30, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT);
	cr_assert_eq(smem_hwlock_trylock(h, 6, 200), 0); /* beyond the table */
	cr_assert_eq(smem_hwlock_lock(h, 6, 0, 30, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT);
}

Test(hosts, bank_without_table)
{
	struct smem_region *r;
	struct smem_hwlock *x;
	struct smem_hwlock_host e;

	cr_assert_eq(smem_region_memfd("bare", 32 * 64, &r), 0);
	cr_assert_eq(open_bank_in(r, &x), 0);
	cr_assert_eq(smem_hwlock_host_register(x, 0), -ENODATA);
	cr_assert_eq(smem_hwlock_host_get(x, 0, &e), -ENODATA);
	cr_assert_eq(smem_hwlock_host_alive(x, 0), -ENODATA);
	smem_hwlock_close(x);
	smem_region_close(r);
	cr_assert_eq(smem_hwlock_host_register(h, SMEM_HWLOCK_TABLE_HOSTS), -EINVAL);
	cr_assert_eq(smem_hwlock_format(NULL, 100, 64), -EINVAL);
	cr_assert_eq(smem_hwlock_format(smem_region_base(lr), 100, 64), -EINVAL);
}
