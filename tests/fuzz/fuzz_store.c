/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The state files: pending/<user> (one JSON document) and history/<user>
 * (JSON lines).  Both live in a root-only directory, but a crash, a full
 * disk or an administrator's editor can leave anything there, and the
 * engine, the status display and the history display must cope.  The
 * first byte picks the parser, so that one corpus covers both: odd for
 * history, even for pending (the seeds start with '1' and '0').
 *
 * What parsed is then used the way the engine and the command use it:
 * every request described, ids dropped, requests removed one by one, so
 * that a request the parser accepted can never trip its users.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t lines;
	size_t bytes;
};

static int
on_event(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct seen *s = ctx;

	/* the strings handed out must be whole C strings */
	if (ev->event == NULL)
		abort();
	s->bytes += strlen(json) + strlen(ev->event);
	if (ev->credential != NULL)
		s->bytes += strlen(ev->credential);
	if (ev->detail != NULL)
		s->bytes += strlen(ev->detail);
	return ++s->lines >= 100000;	/* stop early, as a caller may */
}

static void
use_pending(struct cpk_pending *p)
{
	char desc[512];
	size_t i;

	if (p->n > CPK_STORE_MAX_REQUESTS)
		abort();
	for (i = 0; i < p->n; i++) {
		struct cpk_request *r = &p->items[i];

		if (memchr(r->id, '\0', sizeof(r->id)) == NULL || r->actor == NULL)
			abort();
		/* ids: given (CPK_SEL_IDS) or remembered by a run (the others) */
		if (r->n_ids > CPK_STORE_MAX_IDS || (r->n_ids > 0 && r->ids == NULL))
			abort();
		if ((r->selector == CPK_SEL_NAME || r->selector == CPK_SEL_RP) &&
		    (r->pattern == NULL || r->pattern[0] == '\0'))
			abort();
		cpk_selector_describe(r, desc, sizeof(desc));
		if (memchr(desc, '\0', sizeof(desc)) == NULL)
			abort();
		/* the engine drops confirmed ids from the front and the back */
		if (r->n_ids > 0)
			cpk_request_drop_id(r, r->n_ids - 1);
		if (r->n_ids > 0)
			cpk_request_drop_id(r, 0);
		if (cpk_request_defer(r, "TooManyRequestsException", NULL, 1) < 0)
			abort();
	}
	while (p->n > 0)
		cpk_pending_remove(p, p->n / 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpk_pending p;
	struct seen s = { 0, 0 };
	const char *body;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	size--;
	if (data[0] & 1) {
		if (cpk_store_parse_history(body, size, on_event, &s) < 0)
			abort();
		return 0;
	}
	if (cpk_store_parse_pending(body, size, "alice", &p) == 0) {
		use_pending(&p);
		cpk_pending_free(&p);
	} else if (p.n != 0 || p.items != NULL) {
		abort();	/* a refused file must leave nothing behind */
	}
	return 0;
}
