/*
 * The engine: one user's pending requests -> token -> list -> select ->
 * delete -> record, under the user's lock and inside the run's deadline.
 *
 * The order of writes is what makes a SIGKILL at any instant harmless:
 * a deletion is recorded (history, then pending) only after Cognito
 * confirmed it, and a request leaves pending only after all of its
 * credentials reached a final outcome.  A kill between the two writes
 * leaves the credential in pending; the next run asks Cognito again and
 * records "absent" (nothing is recorded as deleted that was not).
 */
#include "revoke.h"
#include "identity.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

enum outcome { OUT_NONE, OUT_DELETED, OUT_ABSENT, OUT_FAILED };

/* One credential chosen by at least one request, deleted at most once. */
struct choice {
	char *id;		/* a copy: record() frees the request's own */
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
	struct cpk_client *client;
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
};

/* ---- small helpers ---------------------------------------------------- */

static void
set_stop(struct run *r, const char *code, const char *detail)
{
	/* defer_all() may pass r's own buffers back: snprintf onto itself is undefined */
	if (code != r->stop_code)
		snprintf(r->stop_code, sizeof(r->stop_code), "%s", code != NULL ? code : "Error");
	if (detail != r->stop_detail)
		snprintf(r->stop_detail, sizeof(r->stop_detail), "%s", detail != NULL ? detail : "");
}

static bool not_cognito(const char *code);

static void
stop_from_reply(struct run *r, const struct cpk_reply *reply)
{
	char detail[sizeof(r->stop_detail)];

	if (!not_cognito(reply->code)) {
		set_stop(r, reply->code[0] != '\0' ? reply->code : "Error", reply->message);
		return;
	}
	/* cut the answer's text, not the hint */
	snprintf(detail, sizeof(detail), "not a Cognito answer, check endpoint_url: %.400s",
		 reply->message);
	set_stop(r, reply->code, detail);
}

static void
report(const struct run *r, const char *what, const char *a, const char *b, const char *c)
{
	cpk_report_write(r->opts->report, what, a, b, c);
}

/* An answer no Cognito endpoint gives: endpoint_url points elsewhere. */
static bool
not_cognito(const char *code)
{
	return strcmp(code, "UnknownOperationException") == 0 ||
	       (strncmp(code, "HTTP4", 5) == 0 && strcmp(code, "HTTP429") != 0);
}

/*
 * Only an administrator can fix these (a file named in the configuration,
 * an endpoint that is not Cognito): the run exits 1, not "stays pending",
 * so that a timer's unit fails instead of counting attempts for weeks.
 */
static bool
admin_only(const char *code)
{
	return strcmp(code, "config_error") == 0 || strcmp(code, "InvalidEndpoint") == 0 ||
	       not_cognito(code);
}

static const char *
pending_error_hint(const char *code)
{
	/* the table of DESIGN.md: nothing we retry can fix these */
	if (admin_only(code) ||
	    strcmp(code, "PasswordResetRequiredException") == 0 ||
	    strcmp(code, "OperationNotEnabledException") == 0 ||
	    strcmp(code, "UserNotFoundException") == 0 ||
	    strcmp(code, "ForbiddenException") == 0 ||
	    strcmp(code, "username_mismatch") == 0 ||
	    strcmp(code, "identity_unverified") == 0 ||
	    strcmp(code, "identity_mismatch") == 0)
		return "administrator";
	return NULL;
}

static void
count_str(char *buf, size_t len, unsigned long n)
{
	snprintf(buf, len, "%lu", n);
}

static struct cpk_event
event_for(const struct run *r, const struct cpk_request *req, const char *name)
{
	struct cpk_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = cpk_now();
	ev.event = name;
	ev.run_by = r->run_by;
	ev.deleted = ev.absent = ev.failed = ev.attempts = -1;
	if (req != NULL) {
		ev.request = req->id;
		ev.actor = req->actor;
		ev.reason = req->reason;
	}
	return ev;
}

/* History is the record the administrator reads: a failed write is loud. */
static int
history(struct run *r, const struct cpk_event *ev)
{
	char err[CPK_ERR_LEN];

	if (cpk_history_append(r->st, r->user, ev, err, sizeof(err)) == 0)
		return 0;
	cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user, err);
	return -1;
}

static int
save_pending(struct run *r)
{
	char err[CPK_ERR_LEN];

	if (cpk_pending_save(r->st, r->user, &r->pending, err, sizeof(err)) == 0)
		return 0;
	cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user, err);
	return -1;
}

/* ---- deferral: everything stays pending ------------------------------- */

/* Record that this run leaves every request pending, with the reason. */
static int
defer_all(struct run *r, const char *code, const char *detail)
{
	struct cpk_event ev;
	char attempts[16];
	unsigned int max = 0;
	size_t i;

	set_stop(r, code, detail);
	snprintf(r->res->last_error, sizeof(r->res->last_error), "%s", r->stop_code);
	r->res->pending = (unsigned int)r->pending.n;
	report(r, "pending", r->stop_code, r->stop_detail, NULL);
	if (r->opts->dry_run)
		return admin_only(r->stop_code) ? CPK_USAGE : CPK_PENDING;
	for (i = 0; i < r->pending.n; i++) {
		struct cpk_request *req = &r->pending.items[i];

		if (cpk_request_defer(req, r->stop_code, r->stop_detail, cpk_now()) < 0)
			return CPK_USAGE;
		if (req->attempts > max)
			max = req->attempts;
		ev = event_for(r, req, "deferred");
		ev.error = r->stop_code;
		ev.detail = r->stop_detail;
		ev.attempts = req->attempts;
		history(r, &ev);
	}
	save_pending(r);
	snprintf(attempts, sizeof(attempts), "%u", max);
	cpk_audit(r->log, LOG_ERR, "revocation_deferred", r->user,
		  "error", r->stop_code, "detail", r->stop_detail[0] != '\0' ? r->stop_detail : NULL,
		  "attempts", attempts, "action", pending_error_hint(r->stop_code),
		  "run_by", r->run_by, (const char *)NULL);
	return admin_only(r->stop_code) ? CPK_USAGE : CPK_PENDING;
}

static void
token_rejected(struct run *r, const struct cpk_reply *reply)
{
	cpk_audit(r->log, LOG_ERR, "token_rejected", r->user,
		  "error", reply->code[0] != '\0' ? reply->code : "unknown",
		  "detail", reply->message[0] != '\0' ? reply->message : NULL,
		  "run_by", r->run_by, (const char *)NULL);
}

/* ---- token and client ------------------------------------------------- */

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
		/* a broken client_secret_file is not the user's token's fault */
		if (!admin_only(reply->code))
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

/* Load and check the token, connect, refresh when it is about to expire. */
static int
prepare_token(struct run *r)
{
	struct cpk_reply reply;

	memset(&reply, 0, sizeof(reply));
	if (cpk_token_load(r->cfg, &r->pw, &r->tc, &reply) < 0 ||
	    cpk_token_check(r->cfg, &r->pw, r->tc, &reply) < 0) {
		token_rejected(r, &reply);
		stop_from_reply(r, &reply);
		return -1;
	}
	if (cpk_client_new(&r->client, r->cfg, cpk_token_claims(r->tc)->region, r->dl,
			   &reply) < 0) {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: cannot reach Cognito: %s", r->user,
			   reply.message);
		stop_from_reply(r, &reply);
		return -1;
	}
	if (r->opts->before_request != NULL)
		cpk_client_set_before_request(r->client, r->opts->before_request,
					      r->opts->before_request_ctx);
	if (cpk_token_expiring(r->tc, cpk_now()) && refresh_token(r, &reply) < 0) {
		stop_from_reply(r, &reply);
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
		save_pending(r);
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
		stop_from_reply(r, &reply);
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
			stop_from_reply(r, &reply);
			return -1;
		}
		memset(&reply, 0, sizeof(reply));
		rc = cpk_list_credentials(r->client, cpk_token_access(r->tc), &r->creds, &reply);
	}
	if (rc < 0)
		stop_from_reply(r, &reply);
	return rc;
}

/* ---- selection ------------------------------------------------------ */

static bool
request_has_id(const struct cpk_request *req, const char *id)
{
	size_t i;

	for (i = 0; i < req->n_ids; i++)
		if (strcmp(req->ids[i], id) == 0)
			return true;
	return false;
}

/* Does req's selector match this listed credential? */
static bool
matches(const struct cpk_request *req, const struct choice *c)
{
	if (!c->listed)
		return false;
	switch (req->selector) {
	case CPK_SEL_ALL:
		return true;
	case CPK_SEL_NAME:
		return fnmatch(req->pattern, c->name != NULL ? c->name : "", 0) == 0;
	case CPK_SEL_RP:
		return c->rp_id != NULL && strcasecmp(c->rp_id, req->pattern) == 0;
	default:
		return false;
	}
}

/* req holds c's id (given, or remembered by an earlier run) or matches it. */
static bool
selects(const struct cpk_request *req, const struct choice *c)
{
	return request_has_id(req, c->id) || matches(req, c);
}

static struct choice *
find_choice(struct run *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n_choices; i++)
		if (strcmp(r->choices[i].id, id) == 0)
			return &r->choices[i];
	return NULL;
}

static bool
any_request_selects(const struct run *r, const struct choice *c)
{
	size_t i;

	for (i = 0; i < r->pending.n; i++)
		if (selects(&r->pending.items[i], c))
			return true;
	return false;
}

/*
 * Every listed credential that some request selects, then the requested
 * ids that were not listed (the delete call is the authority on those:
 * ResourceNotFoundException makes them absent).  Each id appears once.
 */
static int
choose(struct run *r)
{
	size_t i, j, max = r->creds.n;
	struct choice c;

	for (i = 0; i < r->pending.n; i++)
		max += r->pending.items[i].n_ids;
	r->choices = calloc(max > 0 ? max : 1, sizeof(*r->choices));
	if (r->choices == NULL)
		return -1;
	for (i = 0; i < r->creds.n; i++) {
		memset(&c, 0, sizeof(c));
		c.id = r->creds.items[i].id;
		c.name = r->creds.items[i].name;
		c.rp_id = r->creds.items[i].rp_id;
		c.listed = true;
		if (c.id == NULL || find_choice(r, c.id) != NULL || !any_request_selects(r, &c))
			continue;
		if ((c.id = strdup(c.id)) == NULL)
			return -1;
		r->choices[r->n_choices++] = c;
	}
	for (i = 0; i < r->pending.n; i++) {
		const struct cpk_request *req = &r->pending.items[i];

		for (j = 0; j < req->n_ids; j++) {
			if (find_choice(r, req->ids[j]) != NULL)
				continue;
			memset(&c, 0, sizeof(c));
			if ((c.id = strdup(req->ids[j])) == NULL)
				return -1;
			r->choices[r->n_choices++] = c;
		}
	}
	return 0;
}

/*
 * Before deleting anything, write down which listed credentials each
 * name/rp/all request chose.  A run killed after Cognito deleted one but
 * before recording it then leaves the id pending, and the next run records
 * it (as absent) instead of never mentioning it again.
 */
static int
remember_choices(struct run *r)
{
	bool changed = false;
	size_t i, k;

	for (i = 0; i < r->pending.n; i++) {
		struct cpk_request *req = &r->pending.items[i];

		if (req->selector == CPK_SEL_IDS)
			continue;
		for (k = 0; k < r->n_choices; k++) {
			const struct choice *c = &r->choices[k];

			if (!matches(req, c) || request_has_id(req, c->id) ||
			    req->n_ids >= CPK_STORE_MAX_IDS)
				continue;
			if (cpk_strv_push(&req->ids, &req->n_ids, c->id) < 0)
				return -1;
			changed = true;
		}
	}
	return changed ? save_pending(r) : 0;
}

/* The first request selecting c: its actor and reason go on the record. */
static const struct cpk_request *
first_selecting(const struct run *r, const struct choice *c)
{
	size_t i;

	for (i = 0; i < r->pending.n; i++)
		if (selects(&r->pending.items[i], c))
			return &r->pending.items[i];
	return NULL;
}

/* ---- deletion ------------------------------------------------------- */

/*
 * Record a final outcome, after Cognito confirmed it: history first, then
 * pending (ids requests drop the id).  A kill between the two re-runs the
 * delete, which answers ResourceNotFoundException: recorded as absent.
 */
static void
record(struct run *r, struct choice *c, enum outcome out, const struct cpk_reply *reply)
{
	static const char *const hist[] = { "", "deleted", "absent", "failed" };
	static const char *const audit_ev[] = { "", "passkey_deleted", "passkey_absent",
						"revocation_failed" };
	const struct cpk_request *req = first_selecting(r, c);
	bool changed = false;
	struct cpk_event ev;
	size_t i, j;

	c->outcome = out;
	if (out == OUT_FAILED)
		snprintf(c->error, sizeof(c->error), "%s", reply->code);
	ev = event_for(r, req, hist[out]);
	ev.credential = c->id;
	ev.name = c->name;
	ev.cognito_request = reply->request_id[0] != '\0' ? reply->request_id : NULL;
	if (out == OUT_FAILED) {
		ev.error = reply->code;
		ev.detail = reply->message[0] != '\0' ? reply->message : NULL;
	}
	history(r, &ev);
	cpk_audit(r->log, out == OUT_FAILED ? LOG_ERR : LOG_NOTICE, audit_ev[out], r->user,
		  "credential", c->id, "name", c->name, "request", ev.cognito_request,
		  "actor", ev.actor, "reason", ev.reason,
		  "error", ev.error, "detail", ev.detail, "run_by", r->run_by, (const char *)NULL);
	for (i = 0; i < r->pending.n; i++) {
		struct cpk_request *q = &r->pending.items[i];

		if (!selects(q, c))
			continue;
		if (out == OUT_DELETED)
			q->run_deleted++;
		else if (out == OUT_ABSENT)
			q->run_absent++;
		else
			q->run_failed++;
		for (j = 0; j < q->n_ids; j++) {
			if (strcmp(q->ids[j], c->id) == 0) {
				cpk_request_drop_id(q, j);
				changed = true;
				break;
			}
		}
	}
	if (changed)
		save_pending(r);
	switch (out) {
	case OUT_DELETED:
		r->res->deleted++;
		report(r, "deleted", c->name, c->id, NULL);
		break;
	case OUT_ABSENT:
		r->res->absent++;
		report(r, "absent", c->name, c->id, NULL);
		break;
	default:
		r->res->failed++;
		report(r, "failed", c->name, c->id, c->error);
		break;
	}
}

/* One DeleteWebAuthnCredential, with one refresh on NotAuthorizedException. */
static int
delete_one(struct run *r, struct choice *c)
{
	struct cpk_reply reply;
	int rc;

	if (cpk_deadline_expired(r->dl)) {
		set_stop(r, "Timeout", "the run's deadline passed");
		return -1;
	}
	memset(&reply, 0, sizeof(reply));
	rc = cpk_delete_credential(r->client, cpk_token_access(r->tc), c->id, &reply);
	if (rc < 0 && not_authorized(&reply) && !r->refresh_tried) {
		struct cpk_reply why;

		memset(&why, 0, sizeof(why));
		if (refresh_token(r, &why) < 0) {
			stop_from_reply(r, &why);
			return -1;
		}
		memset(&reply, 0, sizeof(reply));
		rc = cpk_delete_credential(r->client, cpk_token_access(r->tc), c->id, &reply);
	}
	if (rc == 0) {
		record(r, c, OUT_DELETED, &reply);
		return 0;
	}
	if (strcmp(reply.code, "ResourceNotFoundException") == 0) {
		record(r, c, OUT_ABSENT, &reply);
		return 0;
	}
	if (strcmp(reply.code, "InvalidParameterException") == 0) {
		record(r, c, OUT_FAILED, &reply);
		return 0;
	}
	/* everything else leaves it pending; the rest would meet the same */
	stop_from_reply(r, &reply);
	return -1;
}

static void
dry_run_report(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n_choices; i++) {
		report(r, "would_delete", r->choices[i].name, r->choices[i].id, NULL);
		r->res->would_delete++;
	}
}

/* ---- completion ------------------------------------------------------- */

/* True when every credential req selects has a final outcome. */
static bool
request_finished(const struct run *r, const struct cpk_request *req)
{
	size_t i;

	if (req->n_ids > 0)
		return false;	/* record() drops each id that reached an outcome */
	for (i = 0; i < r->n_choices; i++)
		if (selects(req, &r->choices[i]) && r->choices[i].outcome == OUT_NONE)
			return false;
	return true;
}

static void
complete(struct run *r, const struct cpk_request *req)
{
	char sel[300], del[16], abs_[16], fail[16];
	struct cpk_event ev;
	bool failed = req->run_failed > 0;

	cpk_selector_describe(req, sel, sizeof(sel));
	ev = event_for(r, req, failed ? "failed" : "completed");
	ev.selector = sel;
	if (r->warning[0] != '\0') {
		ev.error = "token_writeback_failed";
		ev.detail = r->warning;
	}
	ev.deleted = req->run_deleted;
	ev.absent = req->run_absent;
	ev.failed = req->run_failed;
	history(r, &ev);
	count_str(del, sizeof(del), req->run_deleted);
	count_str(abs_, sizeof(abs_), req->run_absent);
	count_str(fail, sizeof(fail), req->run_failed);
	cpk_audit(r->log, failed ? LOG_ERR : LOG_NOTICE,
		  failed ? "revocation_failed" : "revocation_completed", r->user,
		  "selector", sel,
		  "deleted", del, "absent", abs_, "failed", fail,
		  "actor", req->actor, "reason", req->reason, "run_by", r->run_by,
		  (const char *)NULL);
	r->res->completed++;
}

/*
 * After the deletions: finished requests leave pending (completed, or
 * failed when a credential was refused for good), the others are
 * deferred with the reason the run stopped.
 */
static int
finish(struct run *r)
{
	bool stopped = r->stop_code[0] != '\0';
	size_t i = 0;

	while (i < r->pending.n) {
		struct cpk_request *req = &r->pending.items[i];

		if (!request_finished(r, req)) {
			i++;
			continue;
		}
		complete(r, req);
		cpk_pending_remove(&r->pending, i);
	}
	if (r->pending.n > 0) {
		if (!stopped)
			set_stop(r, "Incomplete", "not every selected passkey reached an outcome");
		return defer_all(r, r->stop_code, r->stop_detail);
	}
	if (save_pending(r) < 0)
		return CPK_USAGE;
	if (r->res->failed > 0) {
		snprintf(r->res->last_error, sizeof(r->res->last_error), "%s",
			 "InvalidParameterException");
		return CPK_FAILED;
	}
	return CPK_DONE;
}

static int
carry_out(struct run *r)
{
	size_t i;

	if (prepare_token(r) < 0 || identity(r) < 0 || list_credentials(r) < 0)
		return defer_all(r, r->stop_code, r->stop_detail);
	if (choose(r) < 0) {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: out of memory", r->user);
		return CPK_USAGE;
	}
	if (r->opts->dry_run) {
		dry_run_report(r);
		r->res->pending = (unsigned int)r->pending.n;
		return CPK_DONE;
	}
	if (remember_choices(r) < 0) {
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
	return finish(r);
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
		save_pending(r);
	return 1;
}

static void
run_free(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n_choices; i++)
		free(r->choices[i].id);
	free(r->choices);
	cpk_credential_list_free(&r->creds);
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
