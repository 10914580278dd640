/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The engine's run under the fleet's claim (fleet_run.h): claim, refresh
 * of the local copy, the notes of what the run did, and at the end the
 * outcome (fleet_outcome.h), whose txn releases the claim too; a lease
 * revoke releases it only when no outcome was written (the request stays
 * pending, etcd refused it, ...), so that another host need not wait the
 * lease's TTL.
 */
#include "fleet_run.h"
#include "fleet.h"
#include "fleet_outcome.h"
#include "revoke_run.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define KEY_LEN	320
/*
 * One event per credential up to this many; past it the completed events
 * (which list every credential and Cognito request id) say it all.  It
 * keeps the outcome txn under etcd's --max-txn-ops (128 by default).
 */
#define MAX_CREDENTIAL_EVENTS	64

/* One credential's final outcome: its Cognito request id, for the events. */
struct note {
	char *id;
	char *cognito_request;
};

struct cpk_fleet_run {
	struct cpk_etcd *e;
	struct cpk_fleet_claim claim;
	bool offline;		/* etcd away: the outcome goes to the outbox */
	int64_t base;		/* the fleet revision the run acted on */
	struct note *notes;
	size_t n_notes;
	struct cpk_fleet_outcome o;
};

static const char *
host(const struct run *r)
{
	return r->cfg->host_name != NULL ? r->cfg->host_name : "unknown";
}

/* ---- begin ------------------------------------------------------------ */

static void
go_offline(struct run *r, const char *why)
{
	r->fleet->offline = true;
	cpk_logmsg(r->log, LOG_WARNING, "user=%s: etcd: %s; carrying out the local copy, "
		   "its outcome is queued in state_dir/outbox", r->user, why);
}

/* Keep the subs this host verified when the fleet's copy has none yet. */
static void
keep_pins(struct cpk_pending *fleet, const struct cpk_pending *local)
{
	size_t i, j;

	for (i = 0; i < fleet->n; i++) {
		if (fleet->items[i].sub != NULL)
			continue;
		for (j = 0; j < local->n; j++)
			if (strcmp(fleet->items[i].id, local->items[j].id) == 0 &&
			    local->items[j].sub != NULL) {
				fleet->items[i].sub = strdup(local->items[j].sub);
				break;
			}
	}
}

/* The local copy becomes p (moved), saved; its revision is rev. */
static void
adopt(struct run *r, struct cpk_pending *p, int64_t rev)
{
	keep_pins(p, &r->pending);
	p->fleet_revision = rev;
	cpk_pending_free(&r->pending);
	r->pending = *p;
	memset(p, 0, sizeof(*p));
	cpk_run_save_pending(r);
}

/*
 * Under the claim: what the fleet wants now.  A local copy of the fleet's
 * document (fleet_revision set) follows it: gone means done or cancelled
 * elsewhere, changed means mirrored afresh.  A local-only copy stays as it
 * is (the sync mirrors the fleet's in).  kvs: pending/<user> as read with
 * the claim; fresh false: read it again.  1: nothing left to do.
 */
static int
refresh(struct run *r, struct cpk_etcd_kvs *kvs, bool fresh)
{
	struct cpk_pending p = { 0 };
	char key[KEY_LEN], err[CPK_ERR_LEN];
	int rc = 0;

	if (r->pending.fleet_revision == 0)
		return 0;
	snprintf(key, sizeof(key), "pending/%s", r->user);
	if (!fresh) {
		cpk_etcd_kvs_free(kvs);
		if (cpk_etcd_get(r->fleet->e, key, false, 0, kvs, err, sizeof(err)) != CPK_ETCD_OK) {
			/* claimed a moment ago: the outcome will say whether etcd is back */
			cpk_logmsg(r->log, LOG_WARNING, "user=%s: %s; carrying out the local copy",
				   r->user, err);
			goto out;
		}
	}
	if (kvs->n == 0) {
		cpk_logmsg(r->log, LOG_NOTICE, "user=%s: etcd key %s%s is gone (done or cancelled "
			   "on another host): the local copy goes too", r->user,
			   r->cfg->etcd_prefix, key);
		adopt(r, &p, 0);
		rc = 1;
	} else if (kvs->kv[0].mod_revision != r->pending.fleet_revision) {
		if (cpk_store_parse_pending(kvs->kv[0].value, kvs->kv[0].value_len, r->user, &p) < 0) {
			cpk_audit(r->log, LOG_ERR, "fleet_refused", r->user, "key", key,
				  "detail", "not a pending document; carrying out the local copy",
				  (const char *)NULL);
			goto out;
		}
		adopt(r, &p, kvs->kv[0].mod_revision);
		rc = r->pending.n == 0 ? 1 : 0;
	}
out:
	cpk_pending_free(&p);
	return rc;
}

/* This user's outcomes queued while etcd was away go first.  Any written? */
static bool
flush_queued(struct run *r)
{
	char err[CPK_ERR_LEN];
	unsigned int flushed = 0;

	if (cpk_fleet_outbox_flush(r->fleet->e, r->st, r->user, r->log, &flushed,
				   err, sizeof(err)) < 0)
		cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user, err);
	return flushed > 0;
}

static int64_t
claim_ttl(const struct run *r)
{
	long ms = cpk_deadline_remaining_ms(r->dl);

	return cpk_fleet_claim_ttl((unsigned int)(ms > 0 ? ms / 1000 + 1 : 1));
}

int
cpk_fleet_run_begin(struct run *r, int *status)
{
	char holder[128], shown[160], detail[200], err[CPK_ERR_LEN], key[KEY_LEN];
	struct cpk_etcd_kvs kvs = { 0 };
	int rc;

	if (r->cfg->fleet != CPK_FLEET_ETCD || r->opts->dry_run)
		return 0;
	if ((r->fleet = calloc(1, sizeof(*r->fleet))) == NULL) {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: out of memory", r->user);
		*status = CPK_USAGE;
		return -1;
	}
	r->fleet->base = r->pending.fleet_revision;
	if ((r->fleet->e = cpk_etcd_open(r->cfg, err, sizeof(err))) == NULL) {
		go_offline(r, err);
		return 0;
	}
	/* the fleet's document comes with the claim: one request, not two */
	snprintf(key, sizeof(key), "pending/%s", r->user);
	rc = cpk_fleet_claim_read(r->fleet->e, host(r), r->user, claim_ttl(r), key, &kvs,
				  &r->fleet->claim, holder, sizeof(holder), err, sizeof(err));
	if (rc == CPK_FLEET_HELD) {
		snprintf(detail, sizeof(detail), "claimed by %s",
			 cpk_printable(shown, sizeof(shown), holder));
		*status = cpk_run_defer_all(r, "claimed", detail);
		return -1;
	}
	if (rc != CPK_FLEET_CLAIMED) {
		/* logins must not depend on etcd; nor on its RBAC saying no */
		go_offline(r, err);
		return 0;
	}
	/* a flushed outcome moved the document: read it again */
	rc = refresh(r, &kvs, !flush_queued(r));
	cpk_etcd_kvs_free(&kvs);
	r->fleet->base = r->pending.fleet_revision;
	return rc;
}

/* ---- notes ------------------------------------------------------------ */

static json_object *
event_json(const struct run *r, const char *event, const struct cpk_request *req)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "time", json_object_new_int64(cpk_now()));
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "host", json_object_new_string(host(r)));
	json_object_object_add(o, "run_by", json_object_new_string(r->run_by));
	if (req != NULL)
		json_object_object_add(o, "request", json_object_new_string(req->id));
	return o;
}

/* history/<user>/<20-digit ns>.<host>.<n> (fleet_outcome.h says why). */
static void
add_event(struct run *r, json_object *ev)
{
	struct cpk_fleet_outcome *o = &r->fleet->o;
	struct cpk_fleet_history *h;
	struct timespec ts;
	char key[KEY_LEN];

	if (ev == NULL)
		return;
	h = realloc(o->hist, (o->n_hist + 1) * sizeof(*h));
	if (h == NULL)
		goto out;
	o->hist = h;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(key, sizeof(key), "history/%s/%010lld%09ld.%s.%zu", r->user,
		 (long long)ts.tv_sec, ts.tv_nsec, host(r), o->n_hist);
	h[o->n_hist].key = strdup(key);
	h[o->n_hist].value = strdup(json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	if (h[o->n_hist].key == NULL || h[o->n_hist].value == NULL) {
		free(h[o->n_hist].key);
		free(h[o->n_hist].value);
		goto out;
	}
	o->n_hist++;
out:
	json_object_put(ev);
}

void
cpk_fleet_run_note_credential(struct run *r, const struct cpk_request *req,
			      const struct choice *c, const char *event,
			      const struct cpk_reply *reply)
{
	struct cpk_fleet_run *f = r->fleet;
	const char *rid = reply->request_id[0] != '\0' ? reply->request_id : NULL;
	struct note *n;
	json_object *ev;

	if (f == NULL)
		return;
	(void)cpk_strv_push(&f->o.deleted, &f->o.n_deleted, c->id);
	if ((n = realloc(f->notes, (f->n_notes + 1) * sizeof(*n))) != NULL) {
		f->notes = n;
		n[f->n_notes].id = strdup(c->id);
		n[f->n_notes].cognito_request = rid != NULL ? strdup(rid) : NULL;
		f->n_notes++;
	}
	if (f->n_notes > MAX_CREDENTIAL_EVENTS || (ev = event_json(r, event, req)) == NULL)
		return;
	json_object_object_add(ev, "credential", json_object_new_string(c->id));
	if (rid != NULL)
		json_object_object_add(ev, "cognito_request", json_object_new_string(rid));
	add_event(r, ev);
}

static const char *
noted_request(const struct cpk_fleet_run *f, const char *id)
{
	size_t i;

	for (i = 0; i < f->n_notes; i++)
		if (f->notes[i].id != NULL && strcmp(f->notes[i].id, id) == 0)
			return f->notes[i].cognito_request;
	return NULL;
}

void
cpk_fleet_run_note_completed(struct run *r, const struct cpk_request *req,
			     const char *event, const char *selector)
{
	struct cpk_fleet_run *f = r->fleet;
	json_object *ev, *ids, *rids;
	const char *rid;
	size_t i;

	if (f == NULL)
		return;
	(void)cpk_strv_push(&f->o.completed, &f->o.n_completed, req->id);
	if ((ev = event_json(r, event, req)) == NULL)
		return;
	ids = json_object_new_array();
	rids = json_object_new_array();
	for (i = 0; i < r->n_choices; i++) {
		const struct choice *c = &r->choices[i];

		if (c->outcome == OUT_NONE || !cpk_run_selects(req, c))
			continue;
		json_object_array_add(ids, json_object_new_string(c->id));
		if ((rid = noted_request(f, c->id)) != NULL)
			json_object_array_add(rids, json_object_new_string(rid));
	}
	json_object_object_add(ev, "selector", json_object_new_string(selector));
	json_object_object_add(ev, "credentials", ids);
	json_object_object_add(ev, "cognito_requests", rids);
	json_object_object_add(ev, "deleted", json_object_new_int64(req->run_deleted));
	json_object_object_add(ev, "absent", json_object_new_int64(req->run_absent));
	json_object_object_add(ev, "failed", json_object_new_int64(req->run_failed));
	add_event(r, ev);
}

/* ---- end -------------------------------------------------------------- */

static void
queue(struct run *r, const char *why)
{
	char err[CPK_ERR_LEN];

	if (cpk_fleet_outbox_queue(r->st, &r->fleet->o, err, sizeof(err)) < 0) {
		cpk_audit(r->log, LOG_ALERT, "fleet_outcome_lost", r->user, "error", why,
			  "detail", err, (const char *)NULL);
		return;
	}
	cpk_audit(r->log, LOG_WARNING, "fleet_outcome_queued", r->user, "error", why,
		  (const char *)NULL);
}

/* The fleet's document after the txn becomes the local copy. */
static void
mirror(struct run *r, const char *doc, int64_t rev)
{
	struct cpk_pending p = { 0 };

	if (doc == NULL) {
		adopt(r, &p, 0);
		return;
	}
	if (rev == 0 || cpk_store_parse_pending(doc, strlen(doc), r->user, &p) < 0)
		return;	/* written: the next sync brings the copy up to date */
	adopt(r, &p, rev);
}

static void
record_outcome(struct run *r)
{
	struct cpk_fleet_run *f = r->fleet;
	char err[CPK_ERR_LEN], *doc = NULL, *now = NULL;
	int64_t rev;
	int rc;

	f->o.base_revision = f->base;
	if ((f->o.user = strdup(r->user)) == NULL) {
		cpk_logmsg(r->log, LOG_ALERT, "user=%s: out of memory: outcome lost", r->user);
		return;
	}
	if (f->offline || f->claim.lease == 0) {
		queue(r, "etcd_unreachable");
		return;
	}
	if (r->pending.n > 0 && (doc = cpk_pending_render(r->user, &r->pending, false)) == NULL) {
		queue(r, "out_of_memory");
		return;
	}
	/* the txn releases the claim too: no lease revoke after it */
	f->o.claim_revision = f->claim.revision;
	rc = cpk_fleet_outcome_write(f->e, &f->o, true, doc, &rev, &now, err, sizeof(err));
	f->o.claim_revision = 0;
	if (rc == CPK_ETCD_OK) {
		/* its lease has no key left and just expires */
		memset(&f->claim, 0, sizeof(f->claim));
		mirror(r, now, rev);
	} else {
		cpk_logmsg(r->log, LOG_ERR, "user=%s: %s", r->user, err);
		queue(r, rc == CPK_ETCD_UNREACHABLE ? "etcd_unreachable" : "etcd_refused");
	}
	free(doc);
	free(now);
}

void
cpk_fleet_run_end(struct run *r)
{
	struct cpk_fleet_run *f = r->fleet;
	char err[CPK_ERR_LEN];
	size_t i;

	if (f == NULL)
		return;
	/* a local-only copy (revision 0) is not the fleet's to record */
	if (f->o.n_hist > 0 && f->base != 0 && r->st != NULL)
		record_outcome(r);
	if (f->claim.lease != 0 &&
	    cpk_fleet_release(f->e, &f->claim, err, sizeof(err)) != CPK_ETCD_OK)
		cpk_logmsg(r->log, LOG_WARNING, "user=%s: %s (the claim expires with its lease)",
			   r->user, err);
	cpk_etcd_close(f->e);
	for (i = 0; i < f->n_notes; i++) {
		free(f->notes[i].id);
		free(f->notes[i].cognito_request);
	}
	free(f->notes);
	cpk_fleet_outcome_free(&f->o);
	free(f);
	r->fleet = NULL;
}
