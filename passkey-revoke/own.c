/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * own.c - passkey-revoke -S and --history run by a user who is not root:
 * what the writers left in state_dir/summary/<user> (lib/store_summary.c),
 * read as the user, and nothing else.  The command is not set-uid; other
 * users are refused.  Reading one's own state is not an audit event: no
 * syslog line.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd.h"
#include "util.h"

struct own_hist {
	struct json_object *arr;	/* --json: the events, else NULL */
	size_t n;
	bool header;			/* text: "recent history:" before the first */
};

static int
own_event(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct own_hist *h = ctx;

	if (h->n++ == 0 && h->arr == NULL && h->header)
		printf("recent history:\n");
	if (h->arr != NULL)
		jdoc_history_add(h->arr, json);
	else
		text_history_event(ev);
	return 0;
}

/* Text -S: the status line first; the events come with the second read. */
static int
own_status_line(const struct cpk_config *cfg, const char *user)
{
	struct cpk_summary s;
	char err[CPK_ERR_LEN];

	if (cpk_summary_read(cfg->state_dir, user, &s, NULL, NULL, err, sizeof(err)) < 0)
		return fail(CPK_USAGE, "%s", err);
	text_status(user, &s.status);
	cpk_pending_free(&s.pending);
	return 0;
}

static int
own_summary(const struct cpk_config *cfg, const char *user, bool status, bool json)
{
	struct own_hist h = { json ? jdoc_array() : NULL, 0, status };
	struct json_object *arr = json ? jdoc_array() : NULL;
	struct fleet_view fv = { .on = cfg->fleet == CPK_FLEET_ETCD };
	struct cpk_summary s;
	char err[CPK_ERR_LEN], host[SHOWN_MAX];
	int rc;

	memset(&s, 0, sizeof(s));
	if (!json && status && (rc = own_status_line(cfg, user)) != 0)
		goto out;
	if (cpk_summary_read(cfg->state_dir, user, &s, own_event, &h, err, sizeof(err)) < 0) {
		rc = fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (json && status) {
		jdoc_status_add(arr, user, &s.status, &s.pending, &fv);
		jdoc_own_history(arr, h.arr, cfg->host_name, s.updated_at);
		jdoc_print(arr);
	} else if (json) {
		jdoc_print(h.arr);
	} else if (h.n == 0 && !status) {
		printf("%s: no history\n", user);
	} else if (h.n > 0 && cfg->host_name != NULL) {
		/* the summary is this host's: events that name no host happened here */
		printf("(events without host= happened on %s)\n", SHOWN(host, cfg->host_name));
	}
	rc = CPK_DONE;
out:
	cpk_pending_free(&s.pending);
	jdoc_free(h.arr);
	jdoc_free(arr);
	return rc;
}

int
cmd_own(const struct cpk_config *cfg, const struct cpk_admin *a, const struct options *o,
	const char *user, bool status)
{
	char err[CPK_ERR_LEN];
	int i;

	if (o->all_users)
		return fail(CPK_USAGE, "permission denied: only root may see the status of "
			    "every user");
	for (i = 0; status && i < o->n_users; i++)
		if (cpk_admin_check_reader(a, o->users[i], "see the status", err,
					   sizeof(err)) < 0)
			return fail(CPK_USAGE, "%s", err);
	if (!status && cpk_admin_check_reader(a, user, "read the history", err, sizeof(err)) < 0)
		return fail(CPK_USAGE, "%s", err);
	return own_summary(cfg, a->actor, status, o->json);
}
