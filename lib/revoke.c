/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The engine's records of what a run did (revoke_run.h): the history
 * events, the pending file, the audit lines and the report lines (the
 * PAM module's notify), for each outcome of a credential, each completed
 * or failed request, and the deferral of everything left pending.
 *
 * The order of writes is what makes a SIGKILL at any instant harmless:
 * a deletion is recorded (history, then pending) only after Cognito
 * confirmed it, and a request leaves pending only after all of its
 * credentials reached a final outcome.  A kill between the two writes
 * leaves the credential in pending; the next run asks Cognito again and
 * records "absent" (nothing is recorded as deleted that was not).
 */
#include "revoke_run.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* ---- small helpers ---------------------------------------------------- */

void
cpk_run_set_stop(struct run *r, const char *code, const char *detail)
{
	/* a deferral may pass r's own buffers back: snprintf onto itself is undefined */
	if (code != r->stop_code)
		snprintf(r->stop_code, sizeof(r->stop_code), "%s", code != NULL ? code : "Error");
	if (detail != r->stop_detail)
		snprintf(r->stop_detail, sizeof(r->stop_detail), "%s", detail != NULL ? detail : "");
}

static bool not_cognito(const char *code);

void
cpk_run_stop_from_reply(struct run *r, const struct cpk_reply *reply)
{
	char detail[sizeof(r->stop_detail)];

	if (!not_cognito(reply->code)) {
		cpk_run_set_stop(r, reply->code[0] != '\0' ? reply->code : "Error", reply->message);
		return;
	}
	/* cut the answer's text, not the hint */
	snprintf(detail, sizeof(detail), "not a Cognito answer, check endpoint_url: %.400s",
		 reply->message);
	cpk_run_set_stop(r, reply->code, detail);
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
bool
cpk_run_admin_only(const char *code)
{
	return strcmp(code, "config_error") == 0 || strcmp(code, "InvalidEndpoint") == 0 ||
	       not_cognito(code);
}

static const char *
pending_error_hint(const char *code)
{
	/* the table of doc/DESIGN.md: nothing we retry can fix these */
	if (cpk_run_admin_only(code) ||
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

int
cpk_run_save_pending(struct run *r)
{
	char err[CPK_ERR_LEN];

	if (cpk_pending_save(r->st, r->user, &r->pending, err, sizeof(err)) == 0)
		return 0;
	cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user, err);
	return -1;
}

/* ---- deferral: everything stays pending ------------------------------- */

/* Record that this run leaves every request pending, with the reason. */
int
cpk_run_defer_all(struct run *r, const char *code, const char *detail)
{
	struct cpk_event ev;
	char attempts[16];
	unsigned int max = 0;
	size_t i;

	cpk_run_set_stop(r, code, detail);
	snprintf(r->res->last_error, sizeof(r->res->last_error), "%s", r->stop_code);
	r->res->pending = (unsigned int)r->pending.n;
	report(r, "pending", r->stop_code, r->stop_detail, NULL);
	if (r->opts->dry_run)
		return cpk_run_admin_only(r->stop_code) ? CPK_USAGE : CPK_PENDING;
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
	cpk_run_save_pending(r);
	snprintf(attempts, sizeof(attempts), "%u", max);
	cpk_audit(r->log, LOG_ERR, "revocation_deferred", r->user,
		  "error", r->stop_code, "detail", r->stop_detail[0] != '\0' ? r->stop_detail : NULL,
		  "attempts", attempts, "action", pending_error_hint(r->stop_code),
		  "run_by", r->run_by, (const char *)NULL);
	return cpk_run_admin_only(r->stop_code) ? CPK_USAGE : CPK_PENDING;
}

/* ---- outcomes of credentials ---------------------------------------- */

/*
 * Record a final outcome, after Cognito confirmed it: history first, then
 * pending (ids requests drop the id).  A kill between the two re-runs the
 * delete, which answers ResourceNotFoundException: recorded as absent.
 */
void
cpk_run_record(struct run *r, struct choice *c, enum outcome out, const struct cpk_reply *reply)
{
	static const char *const hist[] = { "", "deleted", "absent", "failed" };
	static const char *const audit_ev[] = { "", "passkey_deleted", "passkey_absent",
						"revocation_failed" };
	const struct cpk_request *req = cpk_run_first_selecting(r, c);
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
	cpk_fleet_run_note_credential(r, req, c, hist[out], reply);
	cpk_audit(r->log, out == OUT_FAILED ? LOG_ERR : LOG_NOTICE, audit_ev[out], r->user,
		  "credential", c->id, "name", c->name, "request", ev.cognito_request,
		  "actor", ev.actor, "reason", ev.reason,
		  "error", ev.error, "detail", ev.detail, "run_by", r->run_by, (const char *)NULL);
	for (i = 0; i < r->pending.n; i++) {
		struct cpk_request *q = &r->pending.items[i];

		if (!cpk_run_selects(q, c))
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
		cpk_run_save_pending(r);
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

void
cpk_run_dry_run_report(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n_choices; i++) {
		report(r, "would_delete", r->choices[i].name, r->choices[i].id, NULL);
		r->res->would_delete++;
	}
}

/* ---- completion ------------------------------------------------------- */

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
	cpk_fleet_run_note_completed(r, req, ev.event, sel);
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
int
cpk_run_finish(struct run *r)
{
	bool stopped = r->stop_code[0] != '\0';
	size_t i = 0;

	while (i < r->pending.n) {
		struct cpk_request *req = &r->pending.items[i];

		if (!cpk_run_request_finished(r, req)) {
			i++;
			continue;
		}
		complete(r, req);
		cpk_pending_remove(&r->pending, i);
	}
	if (r->pending.n > 0) {
		if (!stopped)
			cpk_run_set_stop(r, "Incomplete", "not every selected passkey reached an outcome");
		return cpk_run_defer_all(r, r->stop_code, r->stop_detail);
	}
	if (cpk_run_save_pending(r) < 0)
		return CPK_USAGE;
	if (r->res->failed > 0) {
		snprintf(r->res->last_error, sizeof(r->res->last_error), "%s",
			 "InvalidParameterException");
		return CPK_FAILED;
	}
	return CPK_DONE;
}
