/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Running cognito-passkey-helper from the PAM module, the parent's side
 * (launch.h): pam_unix runs unix_chkpwd the same way, but this one is
 * killed at a hard deadline, so a login is never held hostage.
 */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

/* Reaping after EOF: how long to sleep between WNOHANG polls. */
#define REAP_POLL_MS		10

/*
 * Fork; run->pid and run->fd on success.
 * Every signal is blocked across fork(), so that the child never runs a
 * handler of the host's (nor dies of the calling user's kill) before it
 * has reset them; the host's mask is back as soon as fork() returns.
 */
int
cpk_launch_start(struct cpk_launch *run, cpk_launch_child_fn fn, void *ctx,
		 const struct cpk_log *log)
{
	sigset_t all, saved;
	int fds[2], fork_errno;

	memset(run, 0, sizeof(*run));
	run->fd = -1;
	run->report = malloc(CPK_LAUNCH_REPORT_MAX + 1);
	if (run->report != NULL)
		run->report[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0) {
		cpk_logmsg(log, LOG_ERR, "pipe: %s", strerror(errno));
		return -1;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &saved);
	run->pid = fork();
	fork_errno = errno;
	if (run->pid == 0)
		fn(ctx, fds[1]);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	if (run->pid < 0) {
		cpk_logmsg(log, LOG_ERR, "fork: %s", strerror(fork_errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	close(fds[1]);
	run->fd = fds[0];
	return 0;
}

/* Milliseconds to wait in poll(): what is left, capped to an int. */
static int
poll_ms(const struct cpk_deadline *dl, long cap)
{
	long left = cpk_deadline_remaining_ms(dl);

	if (cap >= 0 && left > cap)
		left = cap;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/*
 * Read the helper's stdout until EOF or the deadline.  Past CPK_LAUNCH_REPORT_MAX
 * the bytes are read and dropped, so that the helper never blocks on a
 * full pipe.  Returns true on EOF.
 */
static bool
read_report(struct cpk_launch *run, const struct cpk_deadline *dl)
{
	char scratch[4096];
	struct pollfd pfd = { .fd = run->fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		int r = poll(&pfd, 1, poll_ms(dl, -1));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;	/* deadline, or poll failed: kill it */
		if (run->report != NULL && run->len < CPK_LAUNCH_REPORT_MAX)
			n = read(run->fd, run->report + run->len, CPK_LAUNCH_REPORT_MAX - run->len);
		else
			n = read(run->fd, scratch, sizeof(scratch));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n == 0;
		if (run->report != NULL && run->len < CPK_LAUNCH_REPORT_MAX) {
			run->len += (size_t)n;
			run->report[run->len] = '\0';
		}
	}
}

/* After EOF the helper is exiting: reap it, or give up at the deadline. */
static bool
reap_before(struct cpk_launch *run, const struct cpk_deadline *dl)
{
	for (;;) {
		pid_t r = waitpid(run->pid, &run->status, WNOHANG);

		if (r == run->pid)
			return true;
		if (r < 0 && errno == ECHILD) {
			/* reaped behind our back: never signal a pid we no longer own */
			run->status = -1;
			return true;
		}
		if (r < 0 && errno != EINTR)
			return false;
		if (cpk_deadline_expired(dl))
			return false;
		if (r == 0)
			poll(NULL, 0, poll_ms(dl, REAP_POLL_MS));
	}
}

/* SIGKILL cannot be caught: the blocking, EINTR-safe wait is bounded. */
static void
kill_and_reap(struct cpk_launch *run)
{
	pid_t r;

	/* still ours (running or a zombie)?  Else its pid may be someone else's. */
	while ((r = waitpid(run->pid, &run->status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		run->status = -1;
		return;
	}
	if (r == run->pid)
		return;		/* it ended just now: its own status stands */
	run->killed = true;
	kill(run->pid, SIGKILL);
	while ((r = waitpid(run->pid, &run->status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		run->status = -1;
}

void
cpk_launch_wait(struct cpk_launch *run, const struct cpk_deadline *dl)
{
	if (!read_report(run, dl) || !reap_before(run, dl))
		kill_and_reap(run);
	close(run->fd);
	run->fd = -1;
}

char **
cpk_launch_argv(const char *path, const char *user, const char *service, const char *type,
		const struct cpk_config *cfg)
{
	char **settings, **argv = NULL;
	size_t n, i;

	if ((settings = cpk_config_to_argv(cfg)) == NULL)
		return NULL;
	for (n = 0; settings[n] != NULL; n++)
		;
	if ((argv = calloc(n + 5, sizeof(*argv))) == NULL)
		goto out;
	if ((argv[0] = strdup(path)) == NULL || (argv[1] = strdup(user)) == NULL ||
	    (argv[2] = strdup(service)) == NULL || (argv[3] = strdup(type)) == NULL) {
		cpk_argv_free(argv);
		argv = NULL;
		goto out;
	}
	/* move the settings over; the vector keeps its NULL terminator */
	for (i = 0; i < n; i++) {
		argv[4 + i] = settings[i];
		settings[i] = NULL;
	}
out:
	cpk_argv_free(settings);
	return argv;
}
