/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * A revocation request and the list of them in memory (store.h): making
 * one, describing its selector, recording a deferred run, adding and
 * removing.  No file is touched here; store_pending.c reads and writes
 * them.
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const char *
cpk_selector_name(enum cpk_selector sel)
{
	switch (sel) {
	case CPK_SEL_ALL: return "all";
	case CPK_SEL_IDS: return "ids";
	case CPK_SEL_NAME: return "name";
	case CPK_SEL_RP: return "rp";
	}
	return "?";
}

void
cpk_selector_describe(const struct cpk_request *r, char *buf, size_t len)
{
	switch (r->selector) {
	case CPK_SEL_NAME:
	case CPK_SEL_RP:
		snprintf(buf, len, "%s:%s", cpk_selector_name(r->selector),
			 r->pattern != NULL ? r->pattern : "");
		break;
	default:
		snprintf(buf, len, "%s", cpk_selector_name(r->selector));
		break;
	}
}

int
cpk_request_init(struct cpk_request *r, enum cpk_selector sel, const char *actor)
{
	unsigned char rnd[8];
	int64_t now = cpk_now();

	memset(r, 0, sizeof(*r));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	snprintf(r->id, sizeof(r->id), "r-%" PRId64 "-%02x%02x%02x%02x%02x%02x%02x%02x", now,
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	r->selector = sel;
	r->requested_at = now;
	r->actor = strdup(actor != NULL ? actor : "unknown");
	return r->actor != NULL ? 0 : -1;
}

void
cpk_request_free(struct cpk_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_ids; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r->pattern);
	free(r->reason);
	free(r->actor);
	free(r->last_error);
	free(r->last_detail);
	free(r->sub);
	memset(r, 0, sizeof(*r));
}

void
cpk_request_drop_id(struct cpk_request *r, size_t i)
{
	if (i >= r->n_ids)
		return;
	free(r->ids[i]);
	memmove(&r->ids[i], &r->ids[i + 1], (r->n_ids - i - 1) * sizeof(*r->ids));
	r->n_ids--;
}

static int
replace_string(char **dst, const char *src)
{
	char *copy = NULL;

	if (src != NULL && (copy = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

int
cpk_request_defer(struct cpk_request *r, const char *error, const char *detail, int64_t now)
{
	r->attempts++;
	r->last_attempt_at = now;
	if (replace_string(&r->last_error, error) < 0 ||
	    replace_string(&r->last_detail, detail) < 0)
		return -1;
	return 0;
}

int
cpk_pending_add(struct cpk_pending *p, struct cpk_request *r)
{
	struct cpk_request *items;

	if (p->n >= CPK_STORE_MAX_REQUESTS) {
		errno = ENOSPC;
		return -1;
	}
	items = realloc(p->items, (p->n + 1) * sizeof(*items));
	if (items == NULL)
		return -1;
	p->items = items;
	p->items[p->n++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

void
cpk_pending_remove(struct cpk_pending *p, size_t i)
{
	if (i >= p->n)
		return;
	cpk_request_free(&p->items[i]);
	memmove(&p->items[i], &p->items[i + 1], (p->n - i - 1) * sizeof(*p->items));
	p->n--;
}

void
cpk_pending_free(struct cpk_pending *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		cpk_request_free(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
	p->fleet_revision = 0;
}
