/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * What the PAM module's child does between fork() and execve() of
 * cognito-passkey-helper: it leaves every process attribute the calling
 * user controls behind and becomes fully root.
 *
 * Why: the module runs inside set-uid programs (su, sudo, passwd) whose
 * real uid is the user who typed the command.  A child that kept that
 * real uid could be signalled by that user (kill(2) checks the real and
 * saved uids), would be refused by the helper's getuid() check, and would
 * inherit whatever limits, nice value, scheduling class, signal mask and
 * dispositions the user set before running su: enough to starve or break
 * the revocation.  After cpk_spawn_reset() the child is a root process in
 * its own session, as if started by init.
 *
 * Every function here is async-signal-safe (system calls and plain
 * arithmetic only, no allocation, no locks), because the host may be
 * threaded; each returns 0 or -1 with errno set.
 */
#ifndef CPK_SPAWN_H
#define CPK_SPAWN_H

/* Real, effective and saved uid and gid 0, supplementary groups {0}; verified. */
int cpk_spawn_become_root(void);

/* Raise the resource limits a caller may have lowered; RLIMIT_CORE to 0. */
int cpk_spawn_reset_limits(void);

/* Nice 0, SCHED_OTHER, every CPU, default I/O priority and timer slack. */
int cpk_spawn_reset_scheduling(void);

/* Empty signal mask; every disposition SIG_DFL. */
int cpk_spawn_reset_signals(void);

/* A new session (no controlling terminal), cwd "/", umask 077. */
int cpk_spawn_detach(void);

/* Close every descriptor from `first` up (close_range; ENOSYS is not an error). */
int cpk_spawn_close_from(int first);

/*
 * All of the above, in an order where each step's privileges are in
 * place: credentials first (raising a hard limit needs root), then
 * limits, scheduling, signals, session.  Requires euid 0.
 */
int cpk_spawn_reset(void);

#endif
