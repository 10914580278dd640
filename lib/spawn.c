/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The child side of the module's fork/execve of cognito-passkey-helper:
 * shed what the calling user controls, become fully root (spawn.h).
 *
 * Only system calls and arithmetic: this runs in a child of a process
 * that may be threaded, between fork() and execve().  glibc's set*id and
 * setgroups are safe here: the child has a single thread, so there is no
 * other thread to broadcast the change to.
 */
#include "spawn.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* <linux/ioprio.h> is not in every header set: the two values we need. */
#define CPK_IOPRIO_WHO_PROCESS	1
#define CPK_IOPRIO_DEFAULT	0	/* class NONE: follows the nice value */

#define MIB			(1024UL * 1024UL)

/*
 * The least each limit is raised to (never lowered, except the core
 * size): what a root process gets from the kernel and from init, or
 * unlimited where the helper's own deadline is the bound that counts
 * (CPU time, memory: the module kills it at `timeout`).  A soft value of
 * RLIM_INFINITY means "the soft limit goes up to the hard one".
 * RLIMIT_NICE, RLIMIT_RTPRIO and RLIMIT_RTTIME are left alone: they only
 * bound raising a priority, which root does not need, and SCHED_OTHER
 * (cpk_spawn_reset_scheduling) is not subject to RLIMIT_RTTIME.
 */
static const struct limit_floor {
	int resource;
	rlim_t soft;
	rlim_t hard;
} limit_floors[] = {
	{ RLIMIT_CPU,		RLIM_INFINITY,	RLIM_INFINITY },
	{ RLIMIT_FSIZE,		RLIM_INFINITY,	RLIM_INFINITY },
	{ RLIMIT_DATA,		RLIM_INFINITY,	RLIM_INFINITY },
	{ RLIMIT_STACK,		8 * MIB,	RLIM_INFINITY },
	{ RLIMIT_AS,		RLIM_INFINITY,	RLIM_INFINITY },
	{ RLIMIT_NPROC,		RLIM_INFINITY,	RLIM_INFINITY },
	{ RLIMIT_NOFILE,	1024,		4096 },
	{ RLIMIT_MEMLOCK,	8 * MIB,	8 * MIB },
	{ RLIMIT_LOCKS,		RLIM_INFINITY,	RLIM_INFINITY },
	{ RLIMIT_SIGPENDING,	RLIM_INFINITY,	1024 },
	{ RLIMIT_MSGQUEUE,	RLIM_INFINITY,	800 * 1024 },
};

int
cpk_spawn_become_root(void)
{
	static const gid_t root_groups[] = { 0 };
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[2];

	/* groups first: once the uids are all 0 there is no way back, but also no need */
	if (setresgid(0, 0, 0) < 0 || setgroups(1, root_groups) < 0 ||
	    setresuid(0, 0, 0) < 0)
		return -1;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -1;
	if (ru != 0 || eu != 0 || su != 0 || rg != 0 || eg != 0 || sg != 0 ||
	    getgroups(2, groups) != 1 || groups[0] != 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static rlim_t
rlim_max(rlim_t a, rlim_t b)
{
	return a > b ? a : b;
}

static int
raise_limit(const struct limit_floor *f)
{
	struct rlimit cur, want;

	if (getrlimit(f->resource, &cur) < 0)
		return -1;
	want.rlim_max = rlim_max(cur.rlim_max, f->hard);
	want.rlim_cur = rlim_max(cur.rlim_cur, f->soft);
	if (want.rlim_cur > want.rlim_max)
		want.rlim_cur = want.rlim_max;
	if (want.rlim_cur == cur.rlim_cur && want.rlim_max == cur.rlim_max)
		return 0;
	if (setrlimit(f->resource, &want) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	/*
	 * Raising a hard limit needs CAP_SYS_RESOURCE, which a container may
	 * withhold from root: then the soft limit goes as far as the hard one.
	 */
	want.rlim_max = cur.rlim_max;
	if (want.rlim_cur > want.rlim_max)
		want.rlim_cur = want.rlim_max;
	return setrlimit(f->resource, &want);
}

int
cpk_spawn_reset_limits(void)
{
	static const struct rlimit no_core = { 0, 0 };
	size_t i;

	for (i = 0; i < sizeof(limit_floors) / sizeof(limit_floors[0]); i++)
		if (raise_limit(&limit_floors[i]) < 0)
			return -1;
	/* the helper holds tokens: never a core file (it says so again itself) */
	return setrlimit(RLIMIT_CORE, &no_core);
}

/*
 * A user may set nice 19, SCHED_IDLE or SCHED_BATCH, the idle I/O class,
 * a huge timer slack (late poll() timeouts) or pin su to one busy CPU:
 * all inherited.  Back to what a fresh root process has.
 */
int
cpk_spawn_reset_scheduling(void)
{
	struct sched_param param = { .sched_priority = 0 };
	cpu_set_t all;

	if (setpriority(PRIO_PROCESS, 0, 0) < 0 ||
	    sched_setscheduler(0, SCHED_OTHER, &param) < 0)
		return -1;
	if (syscall(SYS_ioprio_set, CPK_IOPRIO_WHO_PROCESS, 0, CPK_IOPRIO_DEFAULT) < 0)
		return -1;
	/* 0 restores the default slack */
	if (prctl(PR_SET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL) < 0)
		return -1;
	/* the kernel keeps the set within the cpuset: all of them is always valid */
	CPU_ZERO(&all);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		CPU_SET(cpu, &all);
	return sched_setaffinity(0, sizeof(all), &all);
}

/*
 * execve() resets caught signals to SIG_DFL but keeps SIG_IGN and the
 * mask: a user's `trap '' TERM` or blocked SIGALRM would reach the helper.
 */
int
cpk_spawn_reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;
	int sig;

	dfl.sa_handler = SIG_DFL;
	dfl.sa_flags = 0;
	sigemptyset(&dfl.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* EINVAL: a number glibc keeps for itself (SIGCANCEL, SIGSETXID) */
		if (sigaction(sig, &dfl, NULL) < 0 && errno != EINVAL)
			return -1;
	}
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * Its own session: no controlling terminal, so the user's ^C, ^\, ^Z
 * and a hang-up reach su but not the helper (after cpk_spawn_become_root
 * nothing else of the user's can signal it either).  The working
 * directory may be the user's (a FUSE mount that never answers).
 */
int
cpk_spawn_detach(void)
{
	if (setsid() < 0 || chdir("/") < 0)
		return -1;
	umask(077);
	return 0;
}

int
cpk_spawn_close_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)first, ~0U, 0U) < 0 && errno != ENOSYS)
		return -1;
#else
	(void)first;
#endif
	return 0;
}

int
cpk_spawn_reset(void)
{
	if (geteuid() != 0) {
		errno = EPERM;
		return -1;
	}
	if (cpk_spawn_become_root() < 0 || cpk_spawn_reset_limits() < 0 ||
	    cpk_spawn_reset_scheduling() < 0 || cpk_spawn_detach() < 0)
		return -1;
	return cpk_spawn_reset_signals();
}
