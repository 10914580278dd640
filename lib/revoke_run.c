/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The engine's run (revoke.h): one user's pending requests -> token ->
 * identity -> list -> select -> delete -> record, under the user's lock
 * and inside the run's deadline; and the listing of passkey-revoke -L,
 * which shares the token handling.
 *
 * This file carries the run out: it talks to Cognito (cognito.h) through
 * the user's token (token.h) and stops at the first error that the rest
 * would meet too.  The selection is revoke_select.c's, and every record
 * of an outcome (history, pending, audit, report) is revoke.c's.
 */
#include "revoke_run.h"
#include "identity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* ---- token and client ------------------------------------------------- */

static void
token_rejected(struct run *r, const struct cpk_reply *reply)
{
	cpk_audit(r->log, LOG_ERR, "token_rejected", r->user,
		  "error", reply->code[0] != '\0' ? reply->code : "unknown",
		  "detail", reply->message[0] != '\0' ? reply->message : NULL,
		  "run_by", r->run_by, (const char *)NULL);
}

/*
 * The refresh worked but its tokens are not in the cache.  After a
 * rotation the user's refresh token is now dead: say it loudly, and keep
 * the note for the history of what this run completes (-S shows it).
 */
static void
writeback_failed(struct run *r, const struct cpk_reply *reply)
{
	if (strcmp(reply->code, "token_writeback_failed") == 0) {
		cpk_audit(r->log, LOG_ALERT, "token_writeback_failed", r->user,
			  "detail", reply->message, "run_by", r->run_by, (const char *)NULL);
		snprintf(r->warning, sizeof(r->warning), "%s", reply->message);
	} else if (reply->message[0] != '\0') {
		cpk_logmsg(r->log, LOG_WARNING, "user=%s: %s", r->user, reply->message);
	}
}

/*
 * A failed refresh blames the token only when Cognito refused the refresh
 * token or a local rule refused the cache (codes in lower case).  A 5xx,
 * throttling, the network or an endpoint that is not Cognito say nothing
 * about the token: the run's revocation_deferred line names them, and a
 * token_rejected would send the administrator after the wrong problem.
 */
static bool
refresh_blames_token(const char *code)
{
	return strcmp(code, "NotAuthorizedException") == 0 ||
	       strcmp(code, "RefreshTokenReuseException") == 0 ||
	       (code[0] >= 'a' && code[0] <= 'z' && !cpk_run_admin_only(code) &&
		strcmp(code, "retry_quota_exhausted") != 0);
}

static int verify_identity(struct run *r, struct cpk_reply *reply);

static int
refresh_token(struct run *r, struct cpk_reply *reply)
{
	r->refresh_tried = true;
	if (!r->cfg->refresh) {
		memset(reply, 0, sizeof(*reply));
		snprintf(reply->code, sizeof(reply->code), "expired");
		snprintf(reply->message, sizeof(reply->message),
			 "the access token has expired and refresh = no");
		token_rejected(r, reply);
		return -1;
	}
	if (cpk_token_refresh(r->cfg, &r->pw, r->tc, r->client, reply) < 0) {
		if (refresh_blames_token(reply->code))
			token_rejected(r, reply);
		return -1;
	}
	cpk_audit(r->log, LOG_NOTICE, "token_refreshed", r->user, "run_by", r->run_by,
		  (const char *)NULL);
	writeback_failed(r, reply);
	/* the cached refresh token is as untrusted as the access token was */
	if (r->identity_verified && verify_identity(r, reply) < 0)
		return -1;
	return 0;
}

/* The run's client: the caller's kept one (a batch worker's), else its own. */
static int
get_client(struct run *r, struct cpk_reply *reply)
{
	const char *region = cpk_token_claims(r->tc)->region;
	int rc;

	if (r->opts->client == NULL)
		return cpk_client_new(&r->client, r->cfg, region, r->dl, reply);
	rc = cpk_client_renew(r->opts->client, r->cfg, region, r->dl, reply);
	r->client = *r->opts->client;
	if (r->client != NULL)
		r->connections_before = cpk_client_connections(r->client);
	return rc;
}

/* Load and check the token, connect, refresh when it is about to expire. */
static int
prepare_token(struct run *r)
{
	struct cpk_reply reply;

	memset(&reply, 0, sizeof(reply));
	if (cpk_token_load(r->cfg, &r->pw, &r->tc, &reply) < 0 ||
	    cpk_token_check(r->cfg, &r->pw, r->tc, &reply) < 0) {
		token_rejected(r, &reply);
		cpk_run_stop_from_reply(r, &reply);
		return -1;
	}
	if (get_client(r, &reply) < 0) {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: cannot reach Cognito: %s", r->user,
			   reply.message);
		cpk_run_stop_from_reply(r, &reply);
		return -1;
	}
	if (r->opts->before_request != NULL)
		cpk_client_set_before_request(r->client, r->opts->before_request,
					      r->opts->before_request_ctx);
	cpk_client_set_retry_quota(r->client, r->opts->retry_quota);
	if (cpk_token_expiring(r->tc, cpk_now()) && refresh_token(r, &reply) < 0) {
		cpk_run_stop_from_reply(r, &reply);
		return -1;
	}
	return 0;
}

static bool
not_authorized(const struct cpk_reply *reply)
{
	return strcmp(reply->code, "NotAuthorizedException") == 0;
}

/* ---- identity --------------------------------------------------------- */

/* GetUser, with one refresh on NotAuthorizedException. */
static int
ask_identity(struct run *r, char **username, char **sub, struct cpk_reply *reply)
{
	int rc;

	rc = cpk_get_user_identity(r->client, cpk_token_access(r->tc), username, sub, reply);
	if (rc < 0 && not_authorized(reply) && !r->refresh_tried) {
		if (refresh_token(r, reply) < 0)
			return -1;
		rc = cpk_get_user_identity(r->client, cpk_token_access(r->tc), username, sub,
					   reply);
	}
	return rc;
}

/* Give every request the verified sub it lacks (identity.h). */
static void
pin_identity(struct run *r, const char *sub)
{
	bool changed = false;
	size_t i;

	if (r->opts->dry_run)
		return;
	for (i = 0; i < r->pending.n; i++) {
		struct cpk_request *req = &r->pending.items[i];

		if (req->sub != NULL || (req->sub = strdup(sub)) == NULL)
			continue;	/* out of memory: verified now, pinned next run */
		changed = true;
	}
	if (changed)
		cpk_run_save_pending(r);
}

/*
 * Whose token is it?  Asked of Cognito before anything is listed or
 * deleted, and again after every refresh: an empty listing or a
 * ResourceNotFoundException says nothing about the user's passkeys unless
 * the token is proven to be the user's, so no listing or deletion ever
 * happens through a token that is not.  The token's sub must be the one
 * every request saw at its first verified run; requests without one get it.
 */
static int
verify_identity(struct run *r, struct cpk_reply *reply)
{
	char *username = NULL, *sub = NULL;
	size_t i;
	int rc = -1;

	r->identity_verified = false;
	memset(reply, 0, sizeof(*reply));
	if (ask_identity(r, &username, &sub, reply) < 0)
		goto out;
	if (cpk_identity_confirm(r->cfg, &r->pw, username, sub, NULL, reply) < 0)
		goto rejected;
	for (i = 0; i < r->pending.n; i++)
		if (cpk_identity_confirm(r->cfg, &r->pw, username, sub,
					 r->pending.items[i].sub, reply) < 0)
			goto rejected;
	r->identity_verified = true;
	pin_identity(r, sub);
	rc = 0;
	goto out;
rejected:
	token_rejected(r, reply);
out:
	free(username);
	free(sub);
	return rc;
}

static int
identity(struct run *r)
{
	struct cpk_reply reply;

	if (verify_identity(r, &reply) < 0) {
		cpk_run_stop_from_reply(r, &reply);
		return -1;
	}
	return 0;
}

static int
list_credentials(struct run *r)
{
	struct cpk_reply reply;
	int rc;

	memset(&reply, 0, sizeof(reply));
	rc = cpk_list_credentials(r->client, cpk_token_access(r->tc), &r->creds, &reply);
	if (rc < 0 && not_authorized(&reply) && !r->refresh_tried) {
		if (refresh_token(r, &reply) < 0) {
			cpk_run_stop_from_reply(r, &reply);
			return -1;
		}
		memset(&reply, 0, sizeof(reply));
		rc = cpk_list_credentials(r->client, cpk_token_access(r->tc), &r->creds, &reply);
	}
	if (rc < 0)
		cpk_run_stop_from_reply(r, &reply);
	return rc;
}

/* ---- deletions ------------------------------------------------------ */

/* One DeleteWebAuthnCredential, with one refresh on NotAuthorizedException. */
static int
delete_one(struct run *r, struct choice *c)
{
	struct cpk_reply reply;
	int rc;

	if (cpk_deadline_expired(r->dl)) {
		cpk_run_set_stop(r, "Timeout", "the run's deadline passed");
		return -1;
	}
	memset(&reply, 0, sizeof(reply));
	rc = cpk_delete_credential(r->client, cpk_token_access(r->tc), c->id, &reply);
	if (rc < 0 && not_authorized(&reply) && !r->refresh_tried) {
		struct cpk_reply why;

		memset(&why, 0, sizeof(why));
		if (refresh_token(r, &why) < 0) {
			cpk_run_stop_from_reply(r, &why);
			return -1;
		}
		memset(&reply, 0, sizeof(reply));
		rc = cpk_delete_credential(r->client, cpk_token_access(r->tc), c->id, &reply);
	}
	if (rc == 0) {
		cpk_run_record(r, c, OUT_DELETED, &reply);
		return 0;
	}
	if (strcmp(reply.code, "ResourceNotFoundException") == 0) {
		cpk_run_record(r, c, OUT_ABSENT, &reply);
		return 0;
	}
	if (strcmp(reply.code, "InvalidParameterException") == 0) {
		cpk_run_record(r, c, OUT_FAILED, &reply);
		return 0;
	}
	/* everything else leaves it pending; the rest would meet the same */
	cpk_run_stop_from_reply(r, &reply);
	return -1;
}

/* ---- the run ---------------------------------------------------------- */

static int
carry_out(struct run *r)
{
	size_t i;
	int status;

	/* fleet = etcd: the claim first (fleet_run.h says why before the token) */
	switch (cpk_fleet_run_begin(r, &status)) {
	case 1:
		return CPK_DONE;
	case -1:
		return status;
	}
	if (prepare_token(r) < 0 || identity(r) < 0 || list_credentials(r) < 0)
		return cpk_run_defer_all(r, r->stop_code, r->stop_detail);
	if (cpk_run_choose(r) < 0) {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: out of memory", r->user);
		return CPK_USAGE;
	}
	if (r->opts->dry_run) {
		cpk_run_dry_run_report(r);
		r->res->pending = (unsigned int)r->pending.n;
		return CPK_DONE;
	}
	if (cpk_run_remember_choices(r) < 0) {
		/* deleting what we could not record would break the history */
		cpk_logmsg(r->log, LOG_ALERT, "user=%s: cannot record the selection; "
			   "nothing deleted", r->user);
		snprintf(r->res->last_error, sizeof(r->res->last_error), "state_unwritable");
		r->res->pending = (unsigned int)r->pending.n;
		return CPK_USAGE;
	}
	for (i = 0; i < r->n_choices; i++)
		if (delete_one(r, &r->choices[i]) < 0)
			break;
	return cpk_run_finish(r);
}

/* ---- setup ---------------------------------------------------------- */

static int
lookup_user(struct run *r)
{
	struct passwd *found = NULL;
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	int e;

	if (size < 16384)
		size = 16384;
	r->pwbuf = malloc((size_t)size);
	if (r->pwbuf == NULL)
		return -1;
	e = getpwnam_r(r->user, &r->pw, r->pwbuf, (size_t)size, &found);
	if (found == NULL) {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user,
			   e != 0 ? strerror(e) : "no such user");
		return -1;
	}
	return 0;
}

/* Open state_dir, take the lock, load pending.  1: nothing to do. */
static int
open_state(struct run *r, int *status)
{
	char err[CPK_ERR_LEN];

	if (cpk_store_open(&r->st, r->cfg->state_dir, 0, err, sizeof(err)) < 0) {
		if (errno == ENOENT)
			return 1;
		cpk_logmsg(r->log, LOG_ALERT, "user=%s: %s", r->user, err);
		*status = CPK_USAGE;
		return -1;
	}
	r->lockfd = cpk_store_lock(r->st, r->user, cpk_deadline_remaining_ms(r->dl),
				   err, sizeof(err));
	if (r->lockfd < 0) {
		if (errno == EWOULDBLOCK) {
			/* another run is carrying them out; nothing recorded here */
			snprintf(r->res->last_error, sizeof(r->res->last_error), "locked");
			cpk_logmsg(r->log, LOG_NOTICE, "user=%s: %s", r->user, err);
			*status = CPK_PENDING;
		} else {
			cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user, err);
			*status = CPK_USAGE;
		}
		return -1;
	}
	if (cpk_pending_load(r->st, r->user, &r->pending, err, sizeof(err)) < 0) {
		cpk_audit(r->log, LOG_ALERT, "revocation_failed", r->user,
			  "error", errno == EBADMSG ? "corrupt_state" : "state_unreadable",
			  "detail", err, "run_by", r->run_by, (const char *)NULL);
		snprintf(r->res->last_error, sizeof(r->res->last_error), "%s",
			 errno == EBADMSG ? "corrupt_state" : "state_unreadable");
		*status = CPK_USAGE;
		return -1;
	}
	if (r->pending.n > 0)
		return 0;
	/* an empty list must not keep the module's fast path busy */
	if (!r->opts->dry_run && cpk_pending_exists(r->st, r->user) == 1)
		cpk_run_save_pending(r);
	return 1;
}

static void
run_free(struct run *r)
{
	size_t i;

	/* every path of a run: the outcome recorded, the claim released */
	cpk_fleet_run_end(r);
	for (i = 0; i < r->n_choices; i++)
		free(r->choices[i].id);
	free(r->choices);
	cpk_credential_list_free(&r->creds);
	if (r->client != NULL)
		r->res->connections = cpk_client_connections(r->client) - r->connections_before;
	if (r->opts->client == NULL)
		cpk_client_free(r->client);
	cpk_token_free(r->tc);
	cpk_pending_free(&r->pending);
	cpk_store_unlock(r->lockfd);
	cpk_store_close(r->st);
	free(r->pwbuf);
}

static void
run_init(struct run *r, const struct cpk_config *cfg, const struct cpk_log *log,
	 const char *user, const struct cpk_run_opts *opts, struct cpk_run_result *res)
{
	memset(res, 0, sizeof(*res));
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->log = log;
	r->opts = opts;
	r->res = res;
	r->user = user;
	r->run_by = opts->actor != NULL ? opts->actor : "unknown";
	r->lockfd = -1;
	r->dl = opts->deadline;
	if (r->dl == NULL) {
		cpk_deadline_init_ms(&r->own_dl, (long)cfg->timeout * 1000);
		r->dl = &r->own_dl;
	}
}

int
cpk_revoke_user(const struct cpk_config *cfg, const struct cpk_log *log,
		const char *user, const struct cpk_run_opts *opts,
		struct cpk_run_result *res)
{
	struct run r;
	int status = CPK_USAGE, rc;

	run_init(&r, cfg, log, user, opts, res);
	if (!cpk_user_name_valid(user)) {
		cpk_logmsg(log, LOG_ERR, "refusing an invalid user name");
		snprintf(res->last_error, sizeof(res->last_error), "invalid_user");
		return CPK_USAGE;
	}
	if (lookup_user(&r) < 0) {
		snprintf(res->last_error, sizeof(res->last_error), "unknown_user");
		goto out;
	}
	rc = open_state(&r, &status);
	if (rc == 1)
		status = CPK_DONE;
	else if (rc == 0)
		status = carry_out(&r);
out:
	run_free(&r);
	return status;
}

static void
set_why(struct cpk_reply *why, const char *code, const char *message)
{
	memset(why, 0, sizeof(*why));
	snprintf(why->code, sizeof(why->code), "%s", code);
	snprintf(why->message, sizeof(why->message), "%s", message != NULL ? message : "");
}

/* The lock only: listing must not race a run's token refresh. */
static int
lock_for_listing(struct run *r, struct cpk_reply *why)
{
	char err[CPK_ERR_LEN];

	if (cpk_store_open(&r->st, r->cfg->state_dir, CPK_STORE_CREATE, err, sizeof(err)) < 0) {
		set_why(why, "state_dir", err);
		return -1;
	}
	r->lockfd = cpk_store_lock(r->st, r->user, cpk_deadline_remaining_ms(r->dl),
				   err, sizeof(err));
	if (r->lockfd < 0) {
		set_why(why, errno == EWOULDBLOCK ? "locked" : "state_dir", err);
		return -1;
	}
	return 0;
}

int
cpk_revoke_list(const struct cpk_config *cfg, const struct cpk_log *log,
		const char *user, const struct cpk_run_opts *opts,
		struct cpk_credential_list *out, struct cpk_reply *why)
{
	struct cpk_run_result res;
	struct run r;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	run_init(&r, cfg, log, user, opts, &res);
	if (!cpk_user_name_valid(user) || lookup_user(&r) < 0) {
		set_why(why, "unknown_user", "no such user");
		goto out;
	}
	if (lock_for_listing(&r, why) < 0)
		goto out;
	if (prepare_token(&r) < 0 || identity(&r) < 0 || list_credentials(&r) < 0) {
		set_why(why, r.stop_code, r.stop_detail);
		goto out;
	}
	*out = r.creds;
	memset(&r.creds, 0, sizeof(r.creds));
	rc = 0;
out:
	run_free(&r);
	return rc;
}
