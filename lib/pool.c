/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * pool.c - the forked workers of passkey-revoke -x and --run-pending
 * (pool.h): spawn, read each worker's report, reap, and run a list of
 * users at most `jobs` at a time.
 */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "revoke.h"
#include "util.h"

struct worker {
	pid_t pid;
	int fd;
	struct cpk_pool_result *res;
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

static void
take_line(struct cpk_pool_result *r, const char *line)
{
	if (cpk_report_parse_result(line, &r->r))
		r->complete = true;
	else if (strncmp(line, "result\t", 7) != 0)
		cpk_strv_push(&r->lines, &r->n_lines, line);
}

/* The child: one engine run, its report on the pipe. */
static void __attribute__((noreturn))
worker_main(const struct cpk_pool *pool, const char *user, int fd)
{
	struct cpk_report_result out;
	struct cpk_run_result res;
	struct cpk_rate_hook hook;
	struct cpk_run_opts opts;
	struct cpk_deadline dl;
	FILE *fp;
	int status;

	signal(SIGPIPE, SIG_IGN);
	fp = fdopen(fd, "w");
	if (fp == NULL)
		_exit(CPK_USAGE);
	cpk_deadline_init_ms(&dl, (long)pool->cfg->timeout * 1000);
	memset(&opts, 0, sizeof(opts));
	memset(&res, 0, sizeof(res));
	opts.actor = pool->actor;
	opts.dry_run = pool->dry_run;
	opts.deadline = &dl;
	opts.report = fp;
	opts.retry_quota = pool->quota;
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
	cpk_report_write_result(fp, &out);
	fclose(fp);
	closelog();
	_exit(status);
}

static int
spawn(const struct cpk_pool *pool, struct worker *w, struct cpk_pool_result *res,
      struct worker *all, size_t n)
{
	int p[2];
	size_t i;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	w->pid = fork();
	if (w->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (w->pid == 0) {
		close(p[0]);
		for (i = 0; i < n; i++)
			if (all[i].pid > 0 && all[i].fd >= 0)
				close(all[i].fd);
		worker_main(pool, res->user, p[1]);
	}
	close(p[1]);
	w->fd = p[0];
	w->res = res;
	w->len = 0;
	return 0;
}

static void
finished(const struct cpk_pool *pool, struct worker *w)
{
	struct cpk_pool_result *r = w->res;
	int wstatus = 0;

	close(w->fd);
	w->fd = -1;
	while (waitpid(w->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	if (!r->complete) {
		/* a worker that died leaves the state as it was: still pending */
		r->r.status = CPK_PENDING;
		snprintf(r->r.last_error, sizeof(r->r.last_error), "worker_%s",
			 WIFSIGNALED(wstatus) ? "killed" : "crashed");
	}
	if (pool->finished != NULL)
		pool->finished(pool->ctx, r);
}

/* Read what a worker wrote; true at EOF. */
static bool
drain(struct worker *w)
{
	char chunk[4096], *nl, *grown;
	ssize_t n;

	n = read(w->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0)
		return true;
	grown = realloc(w->buf, w->len + (size_t)n + 1);
	if (grown == NULL)
		return true;
	w->buf = grown;
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	while ((nl = memchr(w->buf, '\n', w->len)) != NULL) {
		*nl = '\0';
		take_line(w->res, w->buf);
		w->len -= (size_t)(nl + 1 - w->buf);
		memmove(w->buf, nl + 1, w->len + 1);
	}
	return false;
}

/* Fill the idle slots; a fork that fails is that user's system error. */
static void
start_more(const struct cpk_pool *pool, struct worker *w, unsigned int jobs,
	   struct cpk_pool_result *res, size_t n, size_t *next, size_t *running)
{
	size_t i;

	for (i = 0; i < jobs && *next < n; i++) {
		if (w[i].pid != 0)
			continue;
		if (spawn(pool, &w[i], &res[*next], w, jobs) < 0) {
			res[*next].r.status = CPK_USAGE;
			snprintf(res[*next].r.last_error, sizeof(res[*next].r.last_error),
				 "fork_failed");
			res[*next].complete = true;
			(*next)++;
			continue;
		}
		(*next)++;
		(*running)++;
	}
}

int
cpk_pool_run(const struct cpk_pool *pool_in, struct cpk_pool_result *res, size_t n)
{
	struct cpk_pool run = *pool_in, *pool = &run;
	unsigned int jobs = pool->jobs;
	struct pollfd pfd[CPK_POOL_MAX_JOBS];
	struct worker *w;
	size_t next = 0, running = 0, i;
	int k, np;

	if (jobs < 1 || jobs > CPK_POOL_MAX_JOBS)
		jobs = 1;
	if ((run.quota = cpk_retry_quota_new()) == NULL)
		return -1;
	w = calloc(jobs, sizeof(*w));
	if (w == NULL) {
		cpk_retry_quota_free(run.quota);
		return -1;
	}
	for (i = 0; i < jobs; i++)
		w[i].fd = -1;
	while (next < n || running > 0) {
		start_more(pool, w, jobs, res, n, &next, &running);
		for (i = 0, np = 0; i < jobs; i++) {
			if (w[i].pid == 0)
				continue;
			pfd[np].fd = w[i].fd;
			pfd[np].events = POLLIN;
			np++;
		}
		if (np == 0)
			continue;
		if (poll(pfd, (nfds_t)np, -1) < 0 && errno != EINTR)
			break;
		for (i = 0, k = 0; i < jobs; i++) {
			if (w[i].pid == 0)
				continue;
			if ((pfd[k++].revents & (POLLIN | POLLHUP | POLLERR)) && drain(&w[i])) {
				finished(pool, &w[i]);
				running--;
			}
		}
	}
	for (i = 0; i < jobs; i++)
		free(w[i].buf);
	free(w);
	cpk_retry_quota_free(run.quota);
	return 0;
}
