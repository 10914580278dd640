/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * What passkey-revoke -S shows for one user (store.h): a snapshot derived
 * from pending/<user> and history/<user>, taken without the lock and
 * changing nothing.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* cpk_history_fn: counts per credential, and the last terminal event. */
static int
summarize(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct cpk_user_status *us = ctx;

	us->any_history = true;
	if (ev->credential != NULL) {
		if (strcmp(ev->event, "deleted") == 0) {
			us->deleted++;
		} else if (strcmp(ev->event, "absent") == 0) {
			us->absent++;
		} else if (strcmp(ev->event, "failed") == 0) {
			us->failed++;
			snprintf(us->last_failure, sizeof(us->last_failure), "%s",
				 ev->error != NULL ? ev->error : "");
		}
		return 0;
	}
	if (strcmp(ev->event, "completed") == 0 || strcmp(ev->event, "failed") == 0 ||
	    strcmp(ev->event, "cancelled") == 0) {
		snprintf(us->state, sizeof(us->state), "%s",
			 strcmp(ev->event, "completed") == 0 ? "done" : ev->event);
		us->at = ev->time;
		/* the sync's record of another host's outcome names that host */
		snprintf(us->done_on, sizeof(us->done_on), "%s",
			 strcmp(ev->event, "completed") == 0 && ev->host != NULL ? ev->host : "");
		/* e.g. token_writeback_failed: done, but the user must sign in again */
		snprintf(us->warning, sizeof(us->warning), "%s",
			 ev->error != NULL ? ev->error : "");
	}
	return 0;
}

/* fleet_run.c defers with error "claimed", detail "claimed by HOST". */
static void
claimed_by(const struct cpk_request *r, struct cpk_user_status *us)
{
	const char *pre = "claimed by ";

	us->claimed_by[0] = '\0';
	if (strcmp(r->last_error, "claimed") == 0 && r->last_detail != NULL &&
	    strncmp(r->last_detail, pre, strlen(pre)) == 0)
		snprintf(us->claimed_by, sizeof(us->claimed_by), "%s",
			 r->last_detail + strlen(pre));
}

static void
summarize_pending(const struct cpk_pending *p, struct cpk_user_status *us)
{
	int64_t latest = -1;
	size_t i;

	snprintf(us->state, sizeof(us->state), "pending");
	us->requests = p->n;
	us->since = p->items[0].requested_at;
	for (i = 0; i < p->n; i++) {
		const struct cpk_request *r = &p->items[i];

		if (r->requested_at < us->since)
			us->since = r->requested_at;
		if (r->attempts > us->attempts)
			us->attempts = r->attempts;
		if (r->last_error != NULL && r->last_attempt_at > latest) {
			latest = r->last_attempt_at;
			snprintf(us->last_error, sizeof(us->last_error), "%s", r->last_error);
			claimed_by(r, us);
		}
	}
	us->fleet_revision = p->fleet_revision;
}

int
cpk_store_user_status(struct cpk_store *st, const char *user, struct cpk_user_status *us,
		      struct cpk_pending *p, char *err, size_t errlen)
{
	struct cpk_pending own = { NULL, 0, 0 }, *pend = p != NULL ? p : &own;
	bool in_place = false;
	int rc = -1;

	memset(us, 0, sizeof(*us));
	snprintf(us->state, sizeof(us->state), "none");
	if (st == NULL)
		return 0;
	if (cpk_pending_exists(st, user) == 1 &&
	    cpk_pending_load(st, user, pend, err, errlen) < 0) {
		if (errno != EBADMSG)
			goto out;
		in_place = true;
	}
	if (cpk_history_read(st, user, summarize, us, err, errlen) < 0)
		goto out;
	if (in_place)
		snprintf(us->corrupt, sizeof(us->corrupt), "%s/pending/%s", st->path, user);
	else if (cpk_store_corrupt_file(st, user, us->corrupt, sizeof(us->corrupt)) != 1)
		us->corrupt[0] = '\0';
	if (pend->n > 0)
		summarize_pending(pend, us);
	/* corrupt state stays visible until an administrator resolves it */
	if (us->corrupt[0] != '\0')
		snprintf(us->state, sizeof(us->state), "corrupt");
	rc = 0;
out:
	cpk_pending_free(&own);
	return rc;
}

bool
cpk_store_has_state(struct cpk_store *st, const char *user)
{
	struct cpk_user_status us;
	char err[CPK_ERR_LEN];

	if (st == NULL)
		return false;
	if (cpk_pending_exists(st, user) == 1)
		return true;
	memset(&us, 0, sizeof(us));
	return cpk_history_read(st, user, summarize, &us, err, sizeof(err)) == 0 && us.any_history;
}
