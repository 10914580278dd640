/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * json.c - passkey-revoke --json: one JSON document on stdout for each
 * action.  Every string that came from outside is its printable copy
 * (cpk_printable), so that the document is valid UTF-8 and holds nothing
 * a terminal would act on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd.h"
#include "report.h"
#include "util.h"

void
jdoc_print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

json_object *
jdoc_array(void)
{
	return json_object_new_array();
}

void
jdoc_free(json_object *o)
{
	json_object_put(o);
}

static json_object *
jstr(const char *value)
{
	char *shown = cpk_printable_dup(value);
	json_object *v = shown != NULL ? json_object_new_string(shown) : NULL;

	free(shown);
	return v;
}

static void
jset_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, value != NULL ? jstr(value) : NULL);
}

static void
jset_int(json_object *o, const char *key, int64_t value)
{
	json_object_object_add(o, key, json_object_new_int64(value));
}

static void
jset_time(json_object *o, const char *key, int64_t t)
{
	char buf[32];

	cpk_format_time(t, buf, sizeof(buf));
	jset_str(o, key, buf);
}

/* A stored JSON value (a history line) rebuilt with printable strings only. */
static json_object *
jclean(json_object *v)
{
	json_object *out;
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_string:
		return jstr(json_object_get_string(v));
	case json_type_array:
		out = json_object_new_array();
		n = json_object_array_length(v);
		for (i = 0; out != NULL && i < n; i++)
			json_object_array_add(out, jclean(json_object_array_get_idx(v, i)));
		return out;
	case json_type_object:
		out = json_object_new_object();
		json_object_object_foreach(v, key, val) {
			char *k = cpk_printable_dup(key);

			if (out != NULL && k != NULL)
				json_object_object_add(out, k, jclean(val));
			free(k);
		}
		return out;
	default:
		return json_object_get(v);
	}
}

static json_object *
request_json(const struct cpk_request *r)
{
	json_object *o = json_object_new_object(), *ids;
	size_t i;

	jset_str(o, "id", r->id);
	jset_str(o, "selector", cpk_selector_name(r->selector));
	if (r->selector == CPK_SEL_IDS) {
		ids = json_object_new_array();
		for (i = 0; i < r->n_ids; i++)
			json_object_array_add(ids, jstr(r->ids[i]));
		json_object_object_add(o, "ids", ids);
	}
	if (r->pattern != NULL)
		jset_str(o, r->selector == CPK_SEL_RP ? "rp" : "glob", r->pattern);
	jset_str(o, "reason", r->reason);
	jset_str(o, "actor", r->actor);
	jset_time(o, "requested_at", r->requested_at);
	jset_int(o, "attempts", r->attempts);
	jset_str(o, "last_error", r->last_error);
	jset_str(o, "last_detail", r->last_detail);
	return o;
}

void
jdoc_cancelled(const char *user, size_t n, bool dry_run)
{
	json_object *o = json_object_new_object();

	jset_str(o, "user", user);
	jset_int(o, dry_run ? "would_cancel" : "cancelled", (int64_t)n);
	jdoc_print(o);
	json_object_put(o);
}

void
jdoc_flagged(const char *user, const struct cpk_request *r)
{
	json_object *o = json_object_new_object();

	jset_str(o, "user", user);
	json_object_object_add(o, "revocation", request_json(r));
	jdoc_print(o);
	json_object_put(o);
}

/* The fleet's side of one user's status, and how fresh this host's mirror is. */
static json_object *
fleet_json(const struct cpk_user_status *us, const struct cpk_pending *p,
	   const struct fleet_view *fv)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "pending_in_fleet", json_object_new_boolean(p->fleet_revision > 0));
	if (p->fleet_revision > 0)
		jset_int(o, "fleet_revision", p->fleet_revision);
	jset_str(o, "claimed_by", p->n > 0 && us->claimed_by[0] != '\0' ? us->claimed_by : NULL);
	jset_str(o, "done_on", p->n == 0 && strcmp(us->state, "done") == 0 &&
		 us->done_on[0] != '\0' ? us->done_on : NULL);
	if (!fv->root)
		return o;
	if (fv->synced) {
		jset_int(o, "last_sync_revision", fv->revision);
		jset_int(o, "last_sync_age", fv->age);
		json_object_object_add(o, "follow", json_object_new_boolean(fv->follow));
	} else {
		json_object_object_add(o, "last_sync_revision", NULL);
	}
	json_object_object_add(o, "stale", json_object_new_boolean(fv->stale));
	return o;
}

void
jdoc_status_add(json_object *arr, const char *user, const struct cpk_user_status *us,
		const struct cpk_pending *p, const struct fleet_view *fv)
{
	json_object *o = json_object_new_object(), *reqs;
	size_t i;

	jset_str(o, "user", user);
	jset_str(o, "state", us->state);
	if (p->n > 0) {
		jset_time(o, "since", us->since);
		jset_int(o, "attempts", us->attempts);
		jset_str(o, "last_error", us->last_error[0] != '\0' ? us->last_error : NULL);
		reqs = json_object_new_array();
		for (i = 0; i < p->n; i++)
			json_object_array_add(reqs, request_json(&p->items[i]));
		json_object_object_add(o, "revocations", reqs);
	} else if (us->at > 0) {
		jset_time(o, "at", us->at);
	}
	if (fv != NULL && fv->on)
		json_object_object_add(o, "fleet", fleet_json(us, p, fv));
	if (us->corrupt[0] != '\0')
		jset_str(o, "corrupt_file", us->corrupt);
	if (p->n == 0 && us->warning[0] != '\0')
		jset_str(o, "warning", us->warning);
	jset_int(o, "deleted", us->deleted);
	jset_int(o, "absent", us->absent);
	jset_int(o, "failed", us->failed);
	json_object_array_add(arr, o);
}

void
jdoc_history_add(json_object *arr, const char *stored_line)
{
	json_object *raw = json_tokener_parse(stored_line), *clean, *id;

	/* the stored line may hold invalid UTF-8 or controls from a name */
	clean = jclean(raw);
	/*
	 * The file keeps "request" for our id (its format predates the
	 * vocabulary); what the command shows calls it "revocation".
	 */
	if (json_object_is_type(clean, json_type_object) &&
	    json_object_object_get_ex(clean, "request", &id)) {
		json_object_object_add(clean, "revocation", json_object_get(id));
		json_object_object_del(clean, "request");
	}
	json_object_array_add(arr, clean);
	json_object_put(raw);
}

void
jdoc_own_history(json_object *arr, json_object *history, const char *host, int64_t updated_at)
{
	json_object *o = json_object_array_get_idx(arr, json_object_array_length(arr) - 1);

	if (o == NULL)
		return;
	json_object_object_add(o, "history", json_object_get(history));
	jset_str(o, "host", host);
	if (updated_at > 0)
		jset_time(o, "updated_at", updated_at);
}

void
jdoc_list(const char *user, const struct cpk_credential_list *l)
{
	json_object *arr = json_object_new_array(), *o, *tr;
	size_t i, k;

	for (i = 0; i < l->n; i++) {
		const struct cpk_credential *cr = &l->items[i];

		o = json_object_new_object();
		jset_str(o, "credential_id", cr->id);
		jset_str(o, "name", cr->name);
		jset_str(o, "rp_id", cr->rp_id);
		jset_time(o, "created_at", (int64_t)cr->created_at);
		jset_str(o, "attachment", cr->attachment);
		tr = json_object_new_array();
		for (k = 0; cr->transports != NULL && cr->transports[k] != NULL; k++)
			json_object_array_add(tr, jstr(cr->transports[k]));
		json_object_object_add(o, "transports", tr);
		json_object_array_add(arr, o);
	}
	o = json_object_new_object();
	jset_str(o, "user", user);
	json_object_object_add(o, "passkeys", arr);
	jdoc_print(o);
	json_object_put(o);
}

static json_object *
outcome_json(const char *report_line)
{
	char *copy = strdup(report_line);
	struct cpk_report_line l;
	json_object *x = NULL;

	if (copy == NULL)
		return NULL;
	if (cpk_report_parse(copy, &l) < 0)
		l = (struct cpk_report_line){ .outcome = CPK_OUT_UNKNOWN, .word = copy };
	x = json_object_new_object();
	jset_str(x, "outcome", l.word);
	if (l.outcome == CPK_OUT_PENDING) {
		jset_str(x, "error", l.error);
		jset_str(x, "detail", l.detail);
	} else {
		jset_str(x, "name", l.name);
		jset_str(x, "credential_id", l.id);
		jset_str(x, "error", l.error);
	}
	free(copy);
	return x;
}

void
jdoc_result_add(json_object *arr, const struct cpk_pool_result *res)
{
	const struct cpk_report_result *r = &res->r;
	json_object *o = json_object_new_object(), *outcomes = json_object_new_array(), *x;
	size_t i;

	jset_str(o, "user", res->user);
	jset_str(o, "status", cpk_status_word(r->status));
	jset_int(o, "exit", r->status);
	jset_int(o, "deleted", r->deleted);
	jset_int(o, "absent", r->absent);
	jset_int(o, "failed", r->failed);
	jset_int(o, "pending_requests", r->pending);
	jset_int(o, "completed_requests", r->completed);
	if (r->would_delete > 0)
		jset_int(o, "would_delete", r->would_delete);
	jset_str(o, "last_error", r->last_error[0] != '\0' ? r->last_error : NULL);
	for (i = 0; i < res->n_lines; i++)
		if ((x = outcome_json(res->lines[i])) != NULL)
			json_object_array_add(outcomes, x);
	json_object_object_add(o, "outcomes", outcomes);
	json_object_array_add(arr, o);
}

void
jdoc_run(json_object *arr, bool many, int status, const struct cpk_pool_totals *totals)
{
	json_object *o;

	if (many) {
		o = json_object_new_object();
		json_object_object_add(o, "users", json_object_get(arr));
		jset_int(o, "exit", status);
		jset_int(o, "workers", totals->workers);
		jset_int(o, "connections", totals->connections);
		jdoc_print(o);
		json_object_put(o);
	} else if (json_object_array_length(arr) == 1) {
		jdoc_print(json_object_array_get_idx(arr, 0));
	}
}
