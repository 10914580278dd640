/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Which credentials a run acts on (revoke_run.h): every listed credential
 * that some request selects (all, a name glob, a relying party, or an id
 * it holds), then the requested ids that were not listed; each id once.
 * Also what a request has left to wait for: a request is finished when
 * every credential it selects has reached a final outcome.
 */
#include "revoke_run.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
bool
cpk_run_selects(const struct cpk_request *req, const struct choice *c)
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
		if (cpk_run_selects(&r->pending.items[i], c))
			return true;
	return false;
}

/*
 * Every listed credential that some request selects, then the requested
 * ids that were not listed (the delete call is the authority on those:
 * ResourceNotFoundException makes them absent).  Each id appears once.
 */
int
cpk_run_choose(struct run *r)
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
int
cpk_run_remember_choices(struct run *r)
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
	return changed ? cpk_run_save_pending(r) : 0;
}

/* The first request selecting c: its actor and reason go on the record. */
const struct cpk_request *
cpk_run_first_selecting(const struct run *r, const struct choice *c)
{
	size_t i;

	for (i = 0; i < r->pending.n; i++)
		if (cpk_run_selects(&r->pending.items[i], c))
			return &r->pending.items[i];
	return NULL;
}

/* True when every credential req selects has a final outcome. */
bool
cpk_run_request_finished(const struct run *r, const struct cpk_request *req)
{
	size_t i;

	if (req->n_ids > 0)
		return false;	/* cpk_run_record() drops each id that reached an outcome */
	for (i = 0; i < r->n_choices; i++)
		if (cpk_run_selects(req, &r->choices[i]) && r->choices[i].outcome == OUT_NONE)
			return false;
	return true;
}
