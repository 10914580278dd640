/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The parent side of running cognito-passkey-helper from the PAM module:
 * fork with every signal blocked (the child side is spawn.h plus the
 * caller's own child function), read the helper's report from a pipe
 * until EOF or the deadline, reap it, or kill it at the deadline.  In
 * libcpk_base: no allocation but the argv and the report buffer, no
 * libcurl, no json-c.
 */
#ifndef CPK_LAUNCH_H
#define CPK_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "audit.h"
#include "config.h"
#include "util.h"

/* The helper's report kept for the caller; more is read and dropped. */
#define CPK_LAUNCH_REPORT_MAX	(64 * 1024)

/* A helper run, as the parent sees it. */
struct cpk_launch {
	pid_t pid;
	int fd;				/* read end of its stdout; -1 when done */
	char *report;			/* what it printed, NUL-terminated; may be NULL */
	size_t len;
	bool killed;			/* by the deadline */
	int status;			/* from waitpid(); -1: not ours to know */
};

/*
 * Runs in the child between fork() and execve(), with every signal
 * blocked; out is the pipe's write end (to become stdout).  Only
 * async-signal-safe calls; never returns.
 */
typedef void (*cpk_launch_child_fn)(void *ctx, int out) __attribute__((noreturn));

/*
 * The helper's argv: path user service type, then cfg as settings
 * (cpk_config_to_argv), NULL-terminated; NULL when out of memory.  Free
 * with cpk_argv_free().  Built before fork(): the child may not allocate.
 */
char **cpk_launch_argv(const char *path, const char *user, const char *service,
		       const char *type, const struct cpk_config *cfg);

/* Fork; the child runs fn.  0, or -1 (logged on log).  run is reset first. */
int cpk_launch_start(struct cpk_launch *run, cpk_launch_child_fn fn, void *ctx,
		     const struct cpk_log *log);

/*
 * Read the report until EOF, reap the child; past dl (or on a read error)
 * kill it with SIGKILL and reap it.  run->status / run->killed say how it
 * ended; the pipe is closed.  The report stays for the caller to free().
 */
void cpk_launch_wait(struct cpk_launch *run, const struct cpk_deadline *dl);

#endif
