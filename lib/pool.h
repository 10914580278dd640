/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The worker pool of passkey-revoke -x and --run-pending: each user's run
 * of the engine (lib/revoke.c) in a forked worker process, not a thread,
 * because the engine switches file-system identity to read the user's
 * token and that is per process.  A worker lives for the whole batch and
 * serves one user after the other through one Cognito client, so that a
 * worker pays one TCP+TLS handshake, not one a user; each user's run keeps
 * its own token, deadline, lock and report.  A worker sends its report
 * lines (lib/report.h) and its result line back through a socketpair.
 */
#ifndef CPK_POOL_H
#define CPK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include "audit.h"
#include "config.h"
#include "quota.h"
#include "rate.h"
#include "report.h"

#define CPK_POOL_MAX_JOBS	64

/* One user's run, as the parent sees it. */
struct cpk_pool_result {
	const char *user;		/* the caller's */
	struct cpk_report_result r;	/* status CPK_USAGE until a worker says otherwise */
	bool complete;			/* the worker sent its result line */
	char **lines;			/* the report's outcome lines */
	size_t n_lines;
	unsigned int connections;	/* new connections its run opened */
};

/* What a batch cost: workers started (replacements included), connections. */
struct cpk_pool_totals {
	unsigned int workers;
	unsigned int connections;
};

struct cpk_pool {
	const struct cpk_config *cfg;
	const struct cpk_log *log;
	const char *actor;
	bool dry_run;
	struct cpk_rate *rate;		/* shared by the workers; may be NULL */
	/* the run's retry quota, shared by the workers: cpk_pool_run's own */
	struct cpk_retry_quota *quota;
	unsigned int jobs;		/* 1..CPK_POOL_MAX_JOBS */
	/* called in the parent as each user's run ends (in the order they end) */
	void (*finished)(void *ctx, const struct cpk_pool_result *res);
	void *ctx;
	struct cpk_pool_totals *totals;	/* filled by cpk_pool_run; may be NULL */
};

/* One result a user, nothing run yet (status CPK_USAGE). */
void cpk_pool_results_init(struct cpk_pool_result *res, char *const *users, size_t n);
/*
 * Run every user of res, at most pool->jobs at a time (and never more
 * workers than users), under one retry quota (quota.h) for them all.  A
 * worker that dies leaves its user pending (last_error worker_killed or
 * worker_crashed; worker_hung when the parent killed it, its user's run
 * far past the deadline) and is replaced.  0, or -1 (ENOMEM).
 */
int cpk_pool_run(const struct cpk_pool *pool, struct cpk_pool_result *res, size_t n);
void cpk_pool_results_free(struct cpk_pool_result *res, size_t n);

/*
 * The status of many runs: CPK_PENDING when any stayed pending or did not
 * run, else CPK_FAILED when any failed, else CPK_DONE.
 */
int cpk_pool_status(const struct cpk_pool_result *res, size_t n);

#endif
