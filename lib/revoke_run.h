/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the state of one engine run (revoke.h), shared by its
 * three parts: revoke_run.c carries the run out (token, identity, listing,
 * deletions), revoke_select.c decides which credentials each request
 * selects, revoke.c records the outcomes (history, pending, audit, the
 * report lines).
 */
#ifndef CPK_REVOKE_RUN_H
#define CPK_REVOKE_RUN_H

#include <pwd.h>
#include <stdbool.h>
#include "revoke.h"
#include "store.h"
#include "token.h"
#include "fleet_run.h"

enum outcome { OUT_NONE, OUT_DELETED, OUT_ABSENT, OUT_FAILED };

/* One credential chosen by at least one request, deleted at most once. */
struct choice {
	char *id;		/* a copy: cpk_run_record() frees the request's own */
	const char *name;	/* NULL when not listed */
	const char *rp_id;
	bool listed;
	enum outcome outcome;
	char error[96];
};

struct run {
	const struct cpk_config *cfg;
	const struct cpk_log *log;
	const struct cpk_run_opts *opts;
	struct cpk_run_result *res;
	const char *user;
	const char *run_by;
	struct passwd pw;
	char *pwbuf;
	const struct cpk_deadline *dl;
	struct cpk_deadline own_dl;
	struct cpk_store *st;
	int lockfd;
	struct cpk_pending pending;
	struct cpk_token_cache *tc;
	struct cpk_client *client;	/* *opts->client when the caller keeps it */
	unsigned int connections_before;	/* the client's count when the run took it */
	struct cpk_credential_list creds;
	struct choice *choices;
	size_t n_choices;
	bool refresh_tried;
	/* token_writeback_failed: what the completed requests' history says */
	char warning[512];
	bool identity_verified;	/* Cognito confirmed the token is the user's */
	/* why the run stopped before finishing everything */
	char stop_code[96];
	char stop_detail[512];
	/* fleet = etcd: the claim and the outcome (fleet_run.h); else NULL */
	struct cpk_fleet_run *fleet;
};

/* ---- revoke.c: outcomes ---------------------------------------------- */

/* Why the run stops (kept for the deferral); code NULL: "Error". */
void cpk_run_set_stop(struct run *r, const char *code, const char *detail);
void cpk_run_stop_from_reply(struct run *r, const struct cpk_reply *reply);
/* Only an administrator can fix this code (the run exits 1). */
bool cpk_run_admin_only(const char *code);
int cpk_run_save_pending(struct run *r);
/* Every request stays pending, with the reason.  Returns the run's status. */
int cpk_run_defer_all(struct run *r, const char *code, const char *detail);
/* A final outcome for c, after Cognito confirmed it. */
void cpk_run_record(struct run *r, struct choice *c, enum outcome out,
		    const struct cpk_reply *reply);
void cpk_run_dry_run_report(struct run *r);
/* After the deletions: complete, fail or defer each request.  The status. */
int cpk_run_finish(struct run *r);

/* ---- revoke_select.c: selection -------------------------------------- */

/* r->choices from the listing and the requests.  0 or -1 (ENOMEM). */
int cpk_run_choose(struct run *r);
/* Write the chosen ids into their requests before deleting.  0 or -1. */
int cpk_run_remember_choices(struct run *r);
bool cpk_run_selects(const struct cpk_request *req, const struct choice *c);
const struct cpk_request *cpk_run_first_selecting(const struct run *r, const struct choice *c);
bool cpk_run_request_finished(const struct run *r, const struct cpk_request *req);

#endif
