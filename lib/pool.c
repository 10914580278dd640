/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * pool.c - the workers of passkey-revoke -x and --run-pending (pool.h):
 * at most `jobs` long-lived worker processes, each serving one user after
 * the other through one Cognito client (one connection, one TLS session);
 * the parent hands a user to each worker as it becomes free, reads its
 * report, and replaces a worker that died or hung.
 *
 * The parent and a worker talk over a socketpair: the parent writes a
 * user name and a NUL; the worker answers with the user's report lines
 * (report.h), a "connections\t<n>" line (the new connections that user's
 * run opened) and the result line, which ends the user.  The parent sends
 * the next name only after the result line, so a worker never holds more
 * than one user and a worker that dies loses nobody but the user it was
 * serving, who is recorded as today (still pending, worker_killed or
 * worker_crashed).  A worker whose user runs far past the run's deadline
 * is killed (worker_hung).  EOF on its socket tells an idle worker to exit.
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "privs.h"
#include "revoke.h"
#include "util.h"

#define NAME_MAX_LEN	256
/* beyond the run's deadline: the lock, the last answer, the fleet's etcd calls */
#define HUNG_GRACE_MS	30000L
#define CONN_PREFIX	"connections\t"

struct worker {
	pid_t pid;
	int fd;
	struct cpk_pool_result *res;	/* the user it serves; NULL when idle */
	struct cpk_deadline watch;	/* killed when this passes (hung) */
	bool hung;
	char *buf;
	size_t len;
};

void
cpk_pool_results_init(struct cpk_pool_result *res, char *const *users, size_t n)
{
	size_t i;

	memset(res, 0, n * sizeof(*res));
	for (i = 0; i < n; i++) {
		res[i].user = users[i];
		res[i].r.status = CPK_USAGE;
	}
}

void
cpk_pool_results_free(struct cpk_pool_result *res, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < res[i].n_lines; k++)
			free(res[i].lines[k]);
		free(res[i].lines);
		res[i].lines = NULL;
		res[i].n_lines = 0;
	}
}

int
cpk_pool_status(const struct cpk_pool_result *res, size_t n)
{
	bool pending = false, failed = false;
	size_t i;

	for (i = 0; i < n; i++) {
		pending = pending || res[i].r.status == CPK_PENDING || res[i].r.status == CPK_USAGE;
		failed = failed || res[i].r.status == CPK_FAILED;
	}
	return pending ? CPK_PENDING : failed ? CPK_FAILED : CPK_DONE;
}

/* ---- the worker ----------------------------------------------------- */

/* The next user name (NUL-terminated on the socket).  false at EOF. */
static bool
read_name(int fd, char *name, size_t len)
{
	size_t have = 0;
	ssize_t n;

	/* the parent sends one name and waits: nothing follows the NUL */
	for (;;) {
		n = read(fd, name + have, len - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		have += (size_t)n;
		if (memchr(name, '\0', have) != NULL)
			return true;
		if (have == len)
			return false;
	}
}

/* One user's run, isolated as a forked one was: its own deadline, token, lock. */
static int
serve_one(const struct cpk_pool *pool, const char *user, FILE *fp, struct cpk_client **client)
{
	struct cpk_report_result out;
	struct cpk_run_result res;
	struct cpk_rate_hook hook;
	struct cpk_run_opts opts;
	struct cpk_deadline dl;
	int status;

	cpk_deadline_init_ms(&dl, (long)pool->cfg->timeout * 1000);
	memset(&opts, 0, sizeof(opts));
	memset(&res, 0, sizeof(res));
	opts.actor = pool->actor;
	opts.dry_run = pool->dry_run;
	opts.deadline = &dl;
	opts.report = fp;
	opts.retry_quota = pool->quota;
	opts.client = client;
	hook.rate = pool->rate;
	hook.deadline = &dl;
	if (pool->rate != NULL) {
		opts.before_request = cpk_rate_before_request;
		opts.before_request_ctx = &hook;
	}
	status = cpk_revoke_user(pool->cfg, pool->log, user, &opts, &res);
	out = (struct cpk_report_result){ .status = status, .deleted = res.deleted,
					  .absent = res.absent, .failed = res.failed,
					  .pending = res.pending,
					  .would_delete = res.would_delete,
					  .completed = res.completed };
	snprintf(out.last_error, sizeof(out.last_error), "%s", res.last_error);
	fprintf(fp, CONN_PREFIX "%u\n", res.connections);
	cpk_report_write_result(fp, &out);
	return fflush(fp) == 0 ? 0 : -1;
}

/*
 * The child: users until the parent closes its end.  A run always gives
 * the file-system identity back (privs.h); were it not root's again, the
 * worker stops rather than serve the next user with the last one's rights.
 */
static void __attribute__((noreturn))
worker_main(const struct cpk_pool *pool, int fd)
{
	struct cpk_client *client = NULL;
	char name[NAME_MAX_LEN + 1];
	FILE *fp;
	int in;

	signal(SIGPIPE, SIG_IGN);
	if ((in = dup(fd)) < 0 || (fp = fdopen(fd, "w")) == NULL)
		_exit(CPK_USAGE);
	while (read_name(in, name, sizeof(name))) {
		if (serve_one(pool, name, fp, &client) < 0)
			break;
		if (cpk_privs_fsuid() != geteuid() || cpk_privs_fsgid() != getegid())
			break;
	}
	cpk_client_free(client);
	fclose(fp);
	closelog();
	_exit(0);
}

/* ---- the parent ------------------------------------------------------ */

static void
take_line(struct cpk_pool_result *r, const char *line)
{
	if (cpk_report_parse_result(line, &r->r))
		r->complete = true;
	else if (strncmp(line, CONN_PREFIX, strlen(CONN_PREFIX)) == 0)
		r->connections = (unsigned int)strtoul(line + strlen(CONN_PREFIX), NULL, 10);
	else if (strncmp(line, "result\t", 7) != 0)
		cpk_strv_push(&r->lines, &r->n_lines, line);
}

static int
spawn(const struct cpk_pool *pool, struct worker *w, struct worker *all, size_t n)
{
	int sv[2];
	size_t i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	w->pid = fork();
	if (w->pid < 0) {
		w->pid = 0;
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (w->pid == 0) {
		close(sv[0]);
		for (i = 0; i < n; i++)
			if (all[i].pid > 0 && all[i].fd >= 0)
				close(all[i].fd);
		worker_main(pool, sv[1]);
	}
	close(sv[1]);
	w->fd = sv[0];
	w->res = NULL;
	w->hung = false;
	w->len = 0;
	return 0;
}

static void
user_done(const struct cpk_pool *pool, struct worker *w)
{
	struct cpk_pool_result *r = w->res;

	w->res = NULL;
	w->len = 0;
	if (pool->finished != NULL)
		pool->finished(pool->ctx, r);
}

/* The worker is gone (EOF): reap it; its user, if any, stays as it was. */
static void
reap(const struct cpk_pool *pool, struct worker *w)
{
	struct cpk_pool_result *r = w->res;
	int wstatus = 0;

	close(w->fd);
	w->fd = -1;
	while (waitpid(w->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	if (r == NULL)
		return;
	if (!r->complete) {
		/* a worker that died leaves the state as it was: still pending */
		r->r.status = CPK_PENDING;
		snprintf(r->r.last_error, sizeof(r->r.last_error), "worker_%s",
			 w->hung ? "hung" : WIFSIGNALED(wstatus) ? "killed" : "crashed");
	}
	user_done(pool, w);
}

static bool
write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static void
refuse(const struct cpk_pool *pool, struct cpk_pool_result *r, const char *why)
{
	struct worker none = { .res = r };

	r->r.status = CPK_USAGE;
	snprintf(r->r.last_error, sizeof(r->r.last_error), "%s", why);
	r->complete = true;
	user_done(pool, &none);
}

static long
hung_after_ms(const struct cpk_pool *pool)
{
	return (long)pool->cfg->timeout * 1000 + HUNG_GRACE_MS +
	       3L * (pool->cfg->etcd_timeout > 0 ? pool->cfg->etcd_timeout : 5) * 1000;
}

/*
 * Give r to w, starting a worker when the slot has none.  A worker that
 * went away while idle is replaced once.  -1: the user could not be
 * handed over (recorded).
 */
static int
assign(const struct cpk_pool *pool, struct worker *w, struct worker *all, size_t jobs,
       struct cpk_pool_result *r, unsigned int *started)
{
	size_t len = strlen(r->user);
	int tries;

	if (len == 0 || len > NAME_MAX_LEN) {
		refuse(pool, r, "invalid_user");
		return -1;
	}
	for (tries = 0; tries < 2; tries++) {
		if (w->pid == 0) {
			if (spawn(pool, w, all, jobs) < 0)
				break;
			(*started)++;
		}
		if (write_all(w->fd, r->user, len + 1)) {
			w->res = r;
			cpk_deadline_init_ms(&w->watch, hung_after_ms(pool));
			return 0;
		}
		reap(pool, w);
	}
	refuse(pool, r, "fork_failed");
	return -1;
}

/* Read what a worker wrote; true at EOF. */
static bool
drain(const struct cpk_pool *pool, struct worker *w)
{
	char chunk[4096], *nl, *grown;
	ssize_t n;

	n = read(w->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0)
		return true;
	if (w->res == NULL)
		return false;	/* nothing was asked: ignore */
	grown = realloc(w->buf, w->len + (size_t)n + 1);
	if (grown == NULL)
		return true;
	w->buf = grown;
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	while (w->res != NULL && (nl = memchr(w->buf, '\n', w->len)) != NULL) {
		*nl = '\0';
		take_line(w->res, w->buf);
		w->len -= (size_t)(nl + 1 - w->buf);
		memmove(w->buf, nl + 1, w->len + 1);
		if (w->res->complete)
			user_done(pool, w);
	}
	return false;
}

/* An idle worker with nobody left to serve: close its socket, it exits. */
static void
retire(const struct cpk_pool *pool, struct worker *w)
{
	if (w->pid != 0 && w->res == NULL)
		reap(pool, w);
}

/* Kill the workers past their watch; the poll timeout until the next. */
static int
watch(struct worker *w, size_t jobs)
{
	long left, soonest = -1;
	size_t i;

	for (i = 0; i < jobs; i++) {
		if (w[i].pid == 0 || w[i].res == NULL || w[i].hung)
			continue;
		left = cpk_deadline_remaining_ms(&w[i].watch);
		if (left <= 0) {
			w[i].hung = true;
			kill(w[i].pid, SIGKILL);
			continue;
		}
		if (soonest < 0 || left < soonest)
			soonest = left;
	}
	return soonest > (long)INT_MAX ? INT_MAX : (int)soonest;
}

static void
sum_connections(const struct cpk_pool *pool, const struct cpk_pool_result *res, size_t n,
		unsigned int started)
{
	size_t i;

	if (pool->totals == NULL)
		return;
	pool->totals->workers = started;
	pool->totals->connections = 0;
	for (i = 0; i < n; i++)
		pool->totals->connections += res[i].connections;
}

int
cpk_pool_run(const struct cpk_pool *pool_in, struct cpk_pool_result *res, size_t n)
{
	struct cpk_pool run = *pool_in, *pool = &run;
	unsigned int jobs = pool->jobs, started = 0;
	struct pollfd pfd[CPK_POOL_MAX_JOBS];
	struct worker *w;
	size_t next = 0, i, k, np;

	if (jobs < 1 || jobs > CPK_POOL_MAX_JOBS)
		jobs = 1;
	if (jobs > n && n > 0)
		jobs = (unsigned int)n;	/* no worker without a user */
	if ((run.quota = cpk_retry_quota_new()) == NULL)
		return -1;
	w = calloc(jobs, sizeof(*w));
	if (w == NULL) {
		cpk_retry_quota_free(run.quota);
		return -1;
	}
	for (i = 0; i < jobs; i++)
		w[i].fd = -1;
	for (;;) {
		for (i = 0; i < jobs; i++) {
			while (w[i].res == NULL && next < n)
				if (assign(pool, &w[i], w, jobs, &res[next++], &started) == 0)
					break;
			if (next >= n)
				retire(pool, &w[i]);
		}
		for (i = 0, np = 0; i < jobs; i++) {
			if (w[i].pid == 0)
				continue;
			pfd[np].fd = w[i].fd;
			pfd[np].events = POLLIN;
			np++;
		}
		if (np == 0)
			break;
		if (poll(pfd, (nfds_t)np, watch(w, jobs)) < 0 && errno != EINTR)
			break;
		for (i = 0, k = 0; i < jobs; i++) {
			if (w[i].pid == 0)
				continue;
			if ((pfd[k++].revents & (POLLIN | POLLHUP | POLLERR)) && drain(pool, &w[i]))
				reap(pool, &w[i]);
		}
	}
	for (i = 0; i < jobs; i++)
		free(w[i].buf);
	free(w);
	sum_connections(pool, res, n, started);
	cpk_retry_quota_free(run.quota);
	return 0;
}
