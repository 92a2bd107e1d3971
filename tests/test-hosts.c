// SPDX-License-Identifier: MIT
/*
 * The host table and the proof of death: registration, takeover, and waiters
 * that take a dead holder's lock. Death is what the kernel says it is, so the
 * holders here live in other pid namespaces, behind hidepid, in forked
 * children and in threads, and none of them may be taken for dead.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>

#include "helpers.h"
#include "hwlock/bank.h"
#include "hwlock/hwlock-internal.h"

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

static unsigned owner(unsigned id)
{
	unsigned v;

	cr_assert_eq(smem_hwlock_owner(h, id, &v), 0);
	return v;
}

static uint32_t robust(unsigned id)
{
	uint32_t w;

	cr_assert_eq(smem__hwlock_robust(h, id, &w), 0);
	return w;
}

static struct smem_host_entry *host_entry(unsigned host)
{
	struct smem_bank_layout l = smem__bank_layout(64);

	return (struct smem_host_entry *)((uint8_t *)smem_region_base(lr) + l.hosts) + host;
}


/*
 * A child that runs fn, then does one thing per byte it reads from the
 * returned pipe: 'u' unlocks lock 3 as host 1 ('2': lock 2) and reports the
 * result as a byte (0 for success, else -errno), 'k' arms hwlock.unlock.after_release
 * and unlocks (dying there). EOF ends it, holding what it holds.
 */
static pid_t child_commanded(void (*fn)(void), int *ret_cmd, int *ret_reply)
{
	int ready[2], cmd[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(cmd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		close(cmd[1]);
		fn();
		if (write(ready[1], "r", 1) != 1)
			_exit(9);
		while (read(cmd[0], &c, 1) > 0) {
			signed char r;

			if (c == 'k')
				smem__fault_arm("hwlock.unlock.after_release", 1);
			r = (signed char)smem_hwlock_unlock(h, c == '2' ? 2 : 3, 1);
			if (write(ready[1], &r, 1) != 1)
				_exit(9);
		}
		_exit(0);
	}
	close(ready[1]);
	close(cmd[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the child did its part");
	*ret_cmd = cmd[1];
	*ret_reply = ready[0];
	return pid;
}

/*
 * Fork a child that runs fn, then stays alive until the returned pipe is
 * closed, and then exits without undoing anything fn did.
 */
static pid_t child_holding(void (*fn)(void), int *ret_release)
{
	int reply;
	pid_t pid = child_commanded(fn, ret_release, &reply);

	close(reply);
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

static void plant_unmarked_holder(unsigned lock, unsigned host, uint32_t dead_id)
{
	struct smem_bank_layout l = smem__bank_layout(64);
	uint8_t *base = smem_region_base(lr);
	struct smem_host_entry *e = host_entry(host);

	((struct smem_robust *)(base + l.robust))[lock].word = dead_id;
	*(uint32_t *)(base + SMEM_BANK_WORDS + lock * 64) = host + 1;
	e->live.word = SMEM_ROBUST_DIED;
	e->id = dead_id;
}

Test(hosts, register_records_this_process)
{
	struct smem_hwlock_host e;

	cr_assert_eq(smem_hwlock_host_get(h, 4, &e), 0);
	cr_assert_not(e.registered);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), -ENOENT);
	cr_assert_eq(smem_hwlock_host_register(h, 4), 0);
	cr_assert_eq(smem_hwlock_host_get(h, 4, &e), 0);
	cr_assert(e.registered && e.alive);
	cr_assert_eq(e.pid, (uint32_t)getpid());
	cr_assert_eq(e.generation, 1);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), 1);
	cr_assert_eq(smem_hwlock_host_register(h, 4), 0, "registering again is counted");
	cr_assert_eq(smem_hwlock_host_get(h, 4, &e), 0);
	cr_assert_eq(e.generation, 1);
	cr_assert_eq(smem_hwlock_host_unregister(h, 4), 0);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), 1, "one registration is left");
	cr_assert_eq(smem_hwlock_host_unregister(h, 4), 0);
	cr_assert_eq(smem_hwlock_host_alive(h, 4), -ENOENT);
	cr_assert_eq(smem_hwlock_host_unregister(h, 4), -EPERM, "nothing left to undo");
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
	cr_assert_eq(smem_hwlock_host_alive(h, 1), 0, "exited: the kernel marked it");
	cr_assert_eq(smem_hwlock_host_get(h, 1, &e), 0);
	cr_assert(e.registered && !e.alive);
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

/* Nothing a peer can write into the entry's fields for people makes a live host dead. */
Test(hosts, the_fields_for_people_prove_nothing)
{
	struct smem_host_entry *e = host_entry(6);
	struct smem_hwlock_host got;

	cr_assert_eq(smem_hwlock_host_register(h, 6), 0);
	e->pid = 999999;
	e->id = 12345;
	e->generation = 7;
	cr_assert_eq(smem_hwlock_host_alive(h, 6), 1);
	cr_assert_eq(smem_hwlock_host_register(h, 6), 0, "still ours");
	cr_assert_eq(smem_hwlock_host_get(h, 6, &got), 0);
	cr_assert(got.alive);
}

Test(hosts, an_entry_that_stays_busy_cannot_be_read)
{
	struct smem_hwlock_host e;

	cr_assert_eq(smem_hwlock_host_register(h, 7), 0);
	/* A rewrite that never ends: the entry's sequence count stays odd. */
	host_entry(7)->seq = 1;
	memset(&e, 0xa5, sizeof(e));
	cr_assert_eq(smem_hwlock_host_get(h, 7, &e), -EAGAIN);
	cr_assert_eq(e.pid, 0xa5a5a5a5, "out-parameters are written only on success");
	cr_assert_eq(smem_hwlock_host_alive(h, 7), 1, "liveness does not need those fields");
}

Test(hosts, a_registration_cut_short_by_a_crash_is_taken_over)
{
	static const char *const points[] = { "hwlock.host.after_take", "hwlock.host.after_seq_odd",
					      "hwlock.host.after_register" };

	NEEDS_FAULT_POINTS();

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
		/* Whatever it left, the kernel marked it, and the host can be registered again. */
		cr_assert_eq(smem_hwlock_host_alive(h, 2), 0, "%s", points[i]);
		cr_assert_eq(smem_hwlock_host_register(h, 2), 0, "%s", points[i]);
		cr_assert_eq(smem_hwlock_host_alive(h, 2), 1);
		cr_assert_eq(smem_hwlock_host_unregister(h, 2), 0);
	}
}

Test(hosts, waiter_takes_a_dead_holders_lock_only_with_the_policy, .timeout = 30)
{
	int release;
	pid_t pid = child_holding(hold_lock_3_as_host_1, &release);

	cr_assert_eq(smem_hwlock_host_register(h, 0), 0);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 50, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT,
		     "the holder is alive: no bust");
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	close(release);
	cr_assert(robust(3) & SMEM_ROBUST_DIED, "the kernel marked the lock");
	cr_assert_eq(owner(3), 2, "the label still names the dead host");
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 20, 0), -ETIMEDOUT, "without the policy nobody takes it");
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
	cr_assert_eq(owner(3), 1, "host 0 holds it now");
	cr_assert_eq(smem_hwlock_unlock(h, 3, 0), 0);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 10, SMEM_HWLOCK_BUST_DEAD), 0, "a plain take");
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 10, 0x80), -EINVAL);
}

/* A holder that exits without unlocking died holding the lock, registered or not. */
Test(hosts, an_unregistered_holder_that_exits_is_marked_too, .timeout = 30)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(smem_hwlock_trylock(h, 6, 200) == 0 ? 0 : 1); /* beyond the table */
	wait_ok(pid);
	cr_assert_eq(smem_hwlock_lock(h, 6, 0, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
	cr_assert_eq(smem_hwlock_trylock(h, 5, 9), 0); /* ours, alive */
	cr_assert_eq(smem_hwlock_lock(h, 5, 0, 30, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT);
}

/*
 * Bug: the holder registered its pid in its own pid namespace (1), and a
 * waiter in the root namespace "proved" it dead through /proc/1/stat and
 * busted a lock that was still held.
 */
/*
 * In a new mount namespace: keep mounts over /proc from propagating back. "/"
 * is not a mount point in a chroot, so /proc itself is made private then.
 */
static int make_proc_private(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		return 0;
	return mount(NULL, "/proc", NULL, MS_REC | MS_PRIVATE, NULL);
}

static int in_new_pid_namespace(void (*fn)(void), int *ret_release, pid_t *ret_mid)
{
	int ready[2], release[2];
	pid_t mid;
	char c;

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(release), 0);
	mid = fork();
	cr_assert_geq(mid, 0);
	if (mid == 0) {
		pid_t inner;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* As unshare --pid --fork --mount-proc does: a pid 1 with its own /proc. */
		if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0 || make_proc_private() != 0)
			_exit(77);
		inner = fork();
		if (inner == 0) {
			if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
				_exit(78);
			close(ready[0]);
			close(release[1]);
			fn();
			if (write(ready[1], "r", 1) != 1)
				_exit(9);
			while (read(release[0], &c, 1) > 0)
				;
			_exit(0); /* holding what fn took */
		}
		close(ready[1]);
		close(release[0]);
		close(release[1]);
		_exit(inner > 0 && waitpid(inner, NULL, 0) == inner ? 0 : 10);
	}
	close(ready[1]);
	close(release[0]);
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		close(release[1]);
		waitpid(mid, NULL, 0);
		return -1;
	}
	close(ready[0]);
	*ret_release = release[1];
	*ret_mid = mid;
	return 0;
}

Test(hosts, a_holder_in_another_pid_namespace_is_alive, .timeout = 30)
{
	struct smem_hwlock_host e;
	int release;
	pid_t mid;

	if (geteuid() != 0)
		cr_skip_test("unshare(CLONE_NEWPID) needs root");
	cr_assert_eq(in_new_pid_namespace(hold_lock_3_as_host_1, &release, &mid), 0);
	cr_assert_eq(smem_hwlock_host_get(h, 1, &e), 0);
	cr_assert_eq(e.pid, 1, "the holder is pid 1 where it lives");
	cr_assert_eq(smem_hwlock_host_alive(h, 1), 1);
	cr_assert_eq(smem_hwlock_host_register(h, 1), -EADDRINUSE);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 300, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT,
		     "a live holder is never busted");
	cr_assert_eq(owner(3), 2);
	close(release);
	wait_ok(mid);
	cr_assert_eq(smem_hwlock_host_alive(h, 1), 0);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
}

/* Bug: with /proc mounted hidepid=2, another user's live process looked dead. */
Test(hosts, a_holder_hidden_by_hidepid_is_alive, .timeout = 30)
{
	int release, st;
	pid_t pid, waiter;

	if (geteuid() != 0)
		cr_skip_test("mounting /proc needs root");
	pid = child_holding(hold_lock_3_as_host_1, &release);
	waiter = fork();
	cr_assert_geq(waiter, 0);
	if (waiter == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNS) != 0 || make_proc_private() != 0 ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2"))
			_exit(77);
		if (setgid(65534) || setuid(65534))
			_exit(78);
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if (access(path, F_OK) == 0)
			_exit(79); /* hidepid did not hide it: the test would prove nothing */
		if (smem_hwlock_host_alive(h, 1) != 1)
			_exit(1);
		if (smem_hwlock_lock(h, 3, 0, 300, SMEM_HWLOCK_BUST_DEAD) != -ETIMEDOUT)
			_exit(2);
		_exit(0);
	}
	cr_assert_eq(waitpid(waiter, &st, 0), waiter);
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 79)) {
		close(release);
		waitpid(pid, NULL, 0);
		cr_skip_test("cannot mount a hidepid /proc here");
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "waiter status 0x%x", st);
	cr_assert_eq(owner(3), 2, "still held by the live host 1");
	close(release);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
}

/*
 * Bug: a wrong bust of a live holder cascaded: A busted while alive, B takes
 * the lock, A's unlock released B's lock, and C entered.
 */
Test(hosts, unlock_releases_only_the_holders_lock, .timeout = 30)
{
	int cmd, reply;
	pid_t a = child_commanded(hold_lock_3_as_host_1, &cmd, &reply);
	signed char r;
	pid_t c;

	cr_assert_eq(smem_hwlock_bust(h, 3, 1), 1, "a forced bust, as a mistaken operator does");
	/* B takes it as host 1 too, so the label alone cannot tell A from B. */
	cr_assert_eq(smem_hwlock_trylock(h, 3, 1), 0, "B takes it");
	/* A, still alive, believes it holds lock 3 and unlocks it. */
	cr_assert_eq(write(cmd, "u", 1), 1);
	cr_assert_eq(read(reply, &r, 1), 1);
	cr_assert_eq(r, -EPERM, "A's unlock of B's lock");
	cr_assert_eq(owner(3), 2, "B still holds it");
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0)
		_exit(smem_hwlock_trylock(h, 3, 4) == -EBUSY ? 0 : 1);
	wait_ok(c);
	cr_assert_eq(smem_hwlock_unlock(h, 3, 5), -EPERM, "the wrong host's unlock changes nothing");
	cr_assert_eq(owner(3), 2);
	cr_assert_eq(smem_hwlock_unlock(h, 3, 1), 0);
	close(cmd);
	close(reply);
	cr_assert_eq(waitpid(a, NULL, 0), a);
}

/*
 * A holder killed between its release and its wake: the kernel wakes the
 * sleeper (list_op_pending still names the word), no fallback slice needed.
 */

Test(hosts, a_holder_killed_between_release_and_wake_still_wakes, .timeout = 30)
{
	int cmd, reply;
	pid_t a, w;
	signed char r;

	NEEDS_FAULT_POINTS();
	a = child_commanded(hold_lock_3_as_host_1, &cmd, &reply);

	w = fork();
	cr_assert_geq(w, 0);
	if (w == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(smem_hwlock_lock(h, 3, 2, 600000, 0) == 0 ? 0 : 1);
	}
	while (!(robust(3) & SMEM_ROBUST_WAITERS) || !sleeping_in_futex(w))
		sched_yield();
	cr_assert_eq(write(cmd, "k", 1), 1);
	cr_assert_eq(read(reply, &r, 1), 0, "A died inside its unlock");
	cr_assert_eq(waitpid(a, NULL, 0), a);
	wait_ok(w);
	close(cmd);
	close(reply);
}

/* A holder that died inside its unlock, after clearing its label: anyone may take it. */
Test(hosts, a_lock_whose_holder_died_inside_unlock_is_taken, .timeout = 30)
{
	pid_t pid;
	int st;

	NEEDS_FAULT_POINTS();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (smem_hwlock_trylock(h, 3, 1) != 0)
			_exit(40);
		smem__fault_arm("hwlock.unlock.after_word", 1);
		smem_hwlock_unlock(h, 3, 1);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));
	cr_assert_eq(owner(3), 0);
	cr_assert(robust(3) & SMEM_ROBUST_DIED);
	cr_assert_eq(smem_hwlock_lock(h, 3, 1, 1000, 0), SMEM_HWLOCK_RECOVERED,
		     "without the policy too: the lock is nobody's");
}

/*
 * A process whose lock was busted and taken by another must never write that
 * lock's robust-list link again: it is the new holder's now, and rewriting it
 * cut the new holder's list, so its death went unmarked.
 */
static void register_7_take_5(void)
{
	if (smem_hwlock_host_register(h, 7) != 0 || smem_hwlock_trylock(h, 5, 7) != 0)
		_exit(8);
}

static void hold_locks_2_and_5_as_host_1(void)
{
	if (smem_hwlock_trylock(h, 2, 1) != 0 || smem_hwlock_trylock(h, 5, 1) != 0)
		_exit(7);
}

Test(hosts, a_busted_lock_leaves_the_old_holders_list, .timeout = 30)
{
	int cmd, reply, release;
	pid_t a = child_commanded(hold_locks_2_and_5_as_host_1, &cmd, &reply), q;
	signed char r;

	cr_assert_eq(smem_hwlock_bust(h, 5, 1), 1, "a forced bust of A's lock 5");
	q = child_holding(register_7_take_5, &release);
	cr_assert_eq(write(cmd, "2", 1), 1);
	cr_assert_eq(read(reply, &r, 1), 1);
	cr_assert_eq(r, 0, "A unlocked lock 2: its robust list changed after the bust");
	kill(q, SIGKILL);
	cr_assert_eq(waitpid(q, NULL, 0), q);
	close(release);
	cr_assert_eq(smem_hwlock_host_alive(h, 7), 0, "Q's death was marked");
	cr_assert(robust(5) & SMEM_ROBUST_DIED);
	cr_assert_eq(smem_hwlock_host_register(h, 7), 0);
	close(cmd);
	close(reply);
	cr_assert_eq(waitpid(a, NULL, 0), a);
}

/* Bug: two ids equal in two pid namespaces let a dead registration prove a live holder dead. */
Test(hosts, a_dead_registration_proves_only_its_own_hosts_locks, .timeout = 30)
{
	/* Lock 7 held by host 3 (not registered) with id X; host 0's dead registrant had id X too. */
	plant_unmarked_holder(7, 3, 0x2);
	host_entry(3)->live.word = 0;
	host_entry(0)->live.word = SMEM_ROBUST_DIED;
	host_entry(0)->id = 0x2;
	unsetenv("SMEMKIT_HWLOCK_NO_FALLBACK");
	cr_assert_eq(smem_hwlock_lock(h, 7, 9, 100, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT);
	cr_assert_eq(owner(7), 4);
}

/* Bug: a borrowed region's bank was found again by a reused region pointer, with the old base. */
Test(hosts, a_closed_borrowed_bank_is_forgotten)
{
	static uint8_t one[SMEM_HWLOCK_BANK_SIZE(64)] __attribute__((aligned(64)));
	static uint8_t two[SMEM_HWLOCK_BANK_SIZE(64)] __attribute__((aligned(64)));
	struct smem_region *r1, *r2;
	struct smem_hwlock *h1, *h2;

	cr_assert_eq(smem_hwlock_format(one, sizeof(one), 64), 0);
	cr_assert_eq(smem_hwlock_format(two, sizeof(two), 64), 0);
	cr_assert_eq(smem_region_wrap(one, sizeof(one), true, &r1), 0);
	cr_assert_eq(open_bank_in(r1, &h1), 0);
	cr_assert_eq(smem_hwlock_trylock(h1, 1, 1), 0);
	smem_hwlock_close(h1);
	smem_region_close(r1);
	/* The next region object likely reuses r1's memory: its address proves nothing. */
	cr_assert_eq(smem_region_wrap(two, sizeof(two), true, &r2), 0);
	cr_assert_eq(open_bank_in(r2, &h2), 0);
	cr_assert_eq(smem_hwlock_trylock(h2, 1, 1), 0, "the new bank's lock 1 is free");
	cr_assert_eq(*(uint32_t *)(two + SMEM_BANK_WORDS + 64), 2, "the lock is in the new region");
	cr_assert_eq(smem_hwlock_unlock(h2, 1, 1), 0);
	smem_hwlock_close(h2);
	smem_region_close(r2);
}

/* fork() while another thread registers: the child never inherits a held registry lock. */
static _Atomic bool stop_registering;

static void *register_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_registering)) {
		smem_hwlock_host_register(h, 8);
		smem_hwlock_host_unregister(h, 8);
	}
	return NULL;
}

Test(hosts, fork_while_registering_leaves_the_child_usable, .timeout = 60)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, register_loop, NULL), 0);
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			struct smem_hwlock *x;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (open_bank_in(lr, &x) != 0)
				_exit(2);
			smem_hwlock_close(x);
			_exit(smem_hwlock_host_register(h, 10) == 0 &&
					      smem_hwlock_trylock(h, 4, 10) == 0 &&
					      smem_hwlock_unlock(h, 4, 10) == 0
				      ? 0
				      : 1);
		}
		wait_ok(pid);
	}
	atomic_store(&stop_registering, true);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

/*
 * Bug: when a dead holder's host id registered again, its locks were freed and
 * the next taker got 0, not the signal that it must repair.
 */
Test(hosts, a_new_registration_hands_the_dead_hosts_locks_on_to_be_repaired, .timeout = 30)
{
	int release;
	pid_t pid = child_holding(hold_lock_3_as_host_1, &release);

	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	close(release);
	cr_assert_eq(smem_hwlock_host_register(h, 1), 0);
	cr_assert_eq(owner(3), 2, "registering frees nothing");
	cr_assert_eq(smem_hwlock_trylock(h, 3, 1), -EBUSY);
	cr_assert_eq(smem_hwlock_lock(h, 3, 1, 1000, 0), SMEM_HWLOCK_RECOVERED,
		     "the successor is told to repair, even without the policy");
	cr_assert_eq(smem_hwlock_unlock(h, 3, 1), 0);
}

/*
 * The one death the kernel cannot mark (robust.c): the lock's robust word keeps
 * a dead process's liveness id. The host table proves it dead; a waiter with
 * the policy takes the lock after a fallback slice, and a new registration of
 * that host marks the lock so that its next taker repairs.
 */

Test(hosts, an_unmarked_dead_holder_is_proven_dead_by_the_table, .timeout = 30)
{
	/* The proof comes after a fallback slice: this test needs the slice. */
	unsetenv("SMEMKIT_HWLOCK_NO_FALLBACK");
	plant_unmarked_holder(3, 1, 0x12345);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
	cr_assert_eq(owner(3), 1);
	cr_assert_eq(smem_hwlock_unlock(h, 3, 0), 0);

	plant_unmarked_holder(4, 2, 0x23456);
	cr_assert_eq(smem_hwlock_host_register(h, 2), 0);
	cr_assert(robust(4) & SMEM_ROBUST_DIED, "handed on with the mark");
	cr_assert_eq(smem_hwlock_lock(h, 4, 0, 1000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
}

Test(hosts, an_id_with_a_live_registration_is_never_proven_dead, .timeout = 30)
{
	uint32_t self;

	cr_assert_eq(smem_hwlock_host_register(h, 5), 0);
	self = host_entry(5)->live.word & SMEM_ROBUST_ID;
	/* A dead entry claims our id too: ambiguous, so nothing is proven. */
	plant_unmarked_holder(3, 1, self);
	cr_assert_eq(smem_hwlock_lock(h, 3, 0, 100, SMEM_HWLOCK_BUST_DEAD), -ETIMEDOUT);
}

/*
 * Bug: a forked child using an inherited handle lived on its parent's
 * registration: it allocated as the parent's host, and the parent's death
 * was hidden while the child ran.
 */
Test(hosts, a_forked_child_is_not_its_parents_host, .timeout = 30)
{
	struct img im;
	struct smem *s;
	pid_t child, parent;
	int to_parent[2], to_test[2], done[2];
	char c;

	img_v(&im, 12, 1u << 20);
	cr_assert_eq(pipe(to_parent), 0);
	cr_assert_eq(pipe(to_test), 0);
	cr_assert_eq(pipe(done), 0);
	parent = fork();
	cr_assert_geq(parent, 0);
	if (parent == 0) {
		/* The "parent": host 1, holding lock 7; its child inherits both handles. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(to_test[0]);
		if (img_open(&im, 1, &s) != 0 || smem_hwlock_trylock(im.h, 7, 1) != 0)
			_exit(40);
		child = fork();
		if (child == 0) {
			int bad = 0;

			close(done[1]);
			close(to_parent[0]);
			if (smem_item_alloc(s, SMEM_HOST_ANY, 300, 8, 0) != -ESTALE)
				bad |= 1;
			if (smem_hwlock_unlock(im.h, 7, 1) != -EPERM)
				bad |= 2;
			if (write(to_parent[1], bad ? "x" : "g", 1) != 1)
				_exit(41);
			/* Outlive the parent. */
			while (read(done[0], &c, 1) > 0)
				;
			_exit(0);
		}
		close(to_parent[1]);
		if (read(to_parent[0], &c, 1) != 1 || write(to_test[1], &c, 1) != 1)
			_exit(42);
		raise(SIGKILL);
	}
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_test[1]);
	close(done[0]);
	cr_assert_eq(read(to_test[0], &c, 1), 1);
	cr_assert_eq(c, 'g', "the child allocated or unlocked as its parent");
	cr_assert_eq(waitpid(parent, NULL, 0), parent);
	cr_assert_eq(smem_hwlock_host_alive(im.h, 1), 0, "the parent is dead, its child runs on");
	cr_assert_eq(smem_hwlock_lock(im.h, 7, 0, 5000, SMEM_HWLOCK_BUST_DEAD), SMEM_HWLOCK_RECOVERED);
	close(done[1]);
	close(to_test[0]);
	img_free(&im);
}

/* Bug: smem_close() left the host id taken, so the next process got -EADDRINUSE. */
Test(hosts, a_closed_host_id_is_free_again, .timeout = 30)
{
	struct img im;
	struct smem *s;
	pid_t pid;

	img_v(&im, 12, 1u << 20);
	cr_assert_eq(img_open(&im, 1, &s), 0);
	cr_assert_eq(smem_hwlock_host_alive(im.h, 1), 1);
	smem_close(s);
	cr_assert_eq(smem_hwlock_host_alive(im.h, 1), -ENOENT);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct smem *n;

		_exit(img_open(&im, 1, &n) == 0 ? 0 : 1);
	}
	wait_ok(pid);
	img_free(&im);
}

/* Threads of one process: registration is per process and counted; locks exclude. */
#define THREAD_ROUNDS 20000
static uint64_t thread_counter;

static void *thread_main(void *arg)
{
	unsigned host = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < THREAD_ROUNDS; i++) {
		if (smem_hwlock_host_register(h, 9) != 0)
			return (void *)1;
		if (smem_hwlock_lock(h, 3, host, 10000, SMEM_HWLOCK_BUST_DEAD) != 0)
			return (void *)2;
		uint64_t v = *(volatile uint64_t *)&thread_counter;
		*(volatile uint64_t *)&thread_counter = v + 1;
		if (smem_hwlock_unlock(h, 3, host) != 0)
			return (void *)3;
		if (smem_hwlock_host_unregister(h, 9) != 0)
			return (void *)4;
	}
	return NULL;
}

Test(hosts, threads_are_one_process_and_are_excluded, .timeout = 120)
{
	pthread_t t[2];
	void *ret;

	cr_assert_eq(smem_hwlock_host_register(h, 9), 0);
	for (uintptr_t i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_main, (void *)(i + 1)), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_join(t[i], &ret), 0);
		cr_assert_null(ret, "thread %d failed at step %p", i, ret);
	}
	cr_assert_eq(thread_counter, 2ull * THREAD_ROUNDS);
	cr_assert_eq(smem_hwlock_host_alive(h, 9), 1, "the first registration is still there");
	cr_assert_eq(smem_hwlock_host_unregister(h, 9), 0);
	cr_assert_eq(smem_hwlock_host_alive(h, 9), -ENOENT);
}

Test(hosts, bad_arguments)
{
	cr_assert_eq(smem_hwlock_host_register(h, SMEM_HWLOCK_TABLE_HOSTS), -EINVAL);
	cr_assert_eq(smem_hwlock_host_register(NULL, 0), -EINVAL);
	cr_assert_eq(smem_hwlock_format(NULL, 100, 64), -EINVAL);
	cr_assert_eq(smem_hwlock_format(smem_region_base(lr), 100, 64), -EINVAL);
}

/*
 * A resource manager that learns of a holder's death (smemd: its pidfd fired)
 * hands the lock on as the kernel would: whoever takes it next, with or without
 * the bust policy, gets SMEM_HWLOCK_RECOVERED and repairs. Also where the kernel
 * left the word unmarked, and never for a host that does not hold the lock.
 */
Test(hosts, a_lock_handed_on_by_the_manager_says_recovered, .timeout = 30)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (smem_hwlock_trylock(h, 4, 2) != 0)
			_exit(40);
		raise(SIGKILL);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));
	cr_assert_eq(smem__hwlock_mark_dead(h, 4, 5), 0, "host 5 does not hold it");
	cr_assert_eq(owner(4), 3);
	cr_assert_eq(smem__hwlock_mark_dead(h, 4, 2), 1);
	cr_assert_eq(owner(4), 0);
	cr_assert_eq(smem_hwlock_lock(h, 4, 3, 1000, 0), SMEM_HWLOCK_RECOVERED,
		     "a waiter without the bust policy repairs too");
	cr_assert_eq(smem_hwlock_unlock(h, 4, 3), 0);

	/*
	 * A live process holding the lock under the dead host's label (a forked
	 * worker; or a taker that has not written its own label yet) keeps it.
	 */
	cr_assert_eq(smem_hwlock_trylock(h, 6, 6), 0);
	cr_assert_eq(smem__hwlock_mark_dead(h, 6, 6), 0, "the word is a live process's");
	cr_assert_eq(robust(6) & SMEM_ROBUST_DIED, 0);
	cr_assert_eq(smem_hwlock_lock(h, 6, 7, 0, 0), -ETIMEDOUT, "nobody else gets in");
	cr_assert_eq(smem_hwlock_unlock(h, 6, 6), 0, "the holder still unlocks");
	cr_assert_eq(smem__hwlock_mark_dead(h, 6, 7), 0, "a free lock is left alone");
}
