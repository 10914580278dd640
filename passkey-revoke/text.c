/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * text.c - passkey-revoke's output for a person: one line a user for -S
 * (as passwd -S), key=value lines for --history and -L, one line an
 * outcome for -x and --run-pending.  Every string that came from outside
 * (Cognito, a token, a state file) is shown through cpk_printable().
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "report.h"
#include "util.h"

/* "2026-11-29T10:02Z", as in the status line of passwd -S */
static void
short_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%MZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

static void
describe_target(const struct cpk_request *r, char *buf, size_t len)
{
	switch (r->selector) {
	case CPK_SEL_ALL: snprintf(buf, len, "every passkey"); break;
	case CPK_SEL_IDS: snprintf(buf, len, "%zu passkey%s by id", r->n_ids,
				   r->n_ids == 1 ? "" : "s"); break;
	case CPK_SEL_NAME: snprintf(buf, len, "passkeys named like '%s'", r->pattern); break;
	case CPK_SEL_RP: snprintf(buf, len, "passkeys of relying party %s", r->pattern); break;
	}
}

void
text_would_flag(const char *user, const struct cpk_request *r)
{
	char what[300];

	describe_target(r, what, sizeof(what));
	printf("would flag the revocation of %s of %s\n", what, user);
}

void
text_flagged(const char *user, const struct cpk_request *r)
{
	char what[300];

	describe_target(r, what, sizeof(what));
	printf("%s: revocation of %s flagged (revocation=%s); it runs at %s's next session, "
	       "or now with: " PROG " -x %s\n", user, what, r->id, user, user);
}

void
text_status(const char *user, const struct cpk_user_status *us)
{
	char t[32], a[SHOWN_MAX], b[PATH_MAX * 4];

	printf("%s %s", user, us->state);
	if (strcmp(us->state, "pending") == 0) {
		short_time(us->since, t, sizeof(t));
		printf(" %zu request%s since %s", us->requests, us->requests == 1 ? "" : "s", t);
		if (us->last_error[0] != '\0')
			printf(" last_error=%s", SHOWN(a, us->last_error));
		if (us->attempts > 0)
			printf(" attempts=%u", us->attempts);
	} else if (strcmp(us->state, "corrupt") == 0) {
		printf(" kept=%s", SHOWN(b, us->corrupt));
	} else if (strcmp(us->state, "none") != 0) {
		short_time(us->at, t, sizeof(t));
		printf(" %s", t);
	}
	if (us->any_history && strcmp(us->state, "pending") != 0)
		printf(" deleted=%ld absent=%ld failed=%ld", us->deleted, us->absent,
		       us->failed);
	if (strcmp(us->state, "failed") == 0 && us->last_failure[0] != '\0')
		printf(" last_error=%s", SHOWN(a, us->last_failure));
	if (strcmp(us->state, "pending") != 0 && us->warning[0] != '\0')
		printf(" warning=%s", SHOWN(a, us->warning));
	/* fleet = etcd: whose claim keeps it pending, where it was done */
	if (strcmp(us->state, "pending") == 0 && us->claimed_by[0] != '\0')
		printf(" claimed_by=%s", SHOWN(a, us->claimed_by));
	if (strcmp(us->state, "done") == 0 && us->done_on[0] != '\0')
		printf(" done_on=%s", SHOWN(a, us->done_on));
	if (strcmp(us->state, "pending") == 0 && us->fleet_revision > 0)
		printf(" fleet_revision=%lld", (long long)us->fleet_revision);
	putchar('\n');
}

/* Minutes and seconds, as a person reads an age. */
static void
age_words(int64_t s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 2 * 3600)
		snprintf(buf, len, "%lldmin", (long long)(s / 60));
	else
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
}

void
text_fleet(const struct fleet_view *fv)
{
	char a[32], lim[32];

	if (!fv->on || !fv->root)
		return;
	age_words(CPK_FLEET_STALE_AFTER, lim, sizeof(lim));
	if (!fv->synced) {
		printf("fleet: STALE: no sync has run on this host; its mirror of the fleet is "
		       "empty (start passkey-revoke-sync.service, or run " PROG " --sync)\n");
		return;
	}
	age_words(fv->age, a, sizeof(a));
	if (fv->stale)
		printf("fleet: STALE: the last sync (revision %lld) was %s ago, more than %s: "
		       "is passkey-revoke-sync.service running?\n", (long long)fv->revision, a, lim);
	else
		printf("fleet: last sync at revision %lld, %s ago%s\n", (long long)fv->revision, a,
		       fv->follow ? " (following)" : "");
}

/* A count of a history event: empty when the event has none (-1). */
static const char *
num(char *buf, size_t len, long v)
{
	if (v < 0)
		return NULL;
	snprintf(buf, len, "%ld", v);
	return buf;
}

void
text_history_event(const struct cpk_event *ev)
{
	char t[32], line[CPK_AUDIT_MAX], d[24], a[24], f[24], n[24];

	cpk_format_time(ev->time, t, sizeof(t));
	cpk_audit_format(line, sizeof(line), ev->event, NULL,
			 "credential", ev->credential, "name", ev->name,
			 "cognito_request", ev->cognito_request, "selector", ev->selector,
			 "deleted", num(d, sizeof(d), ev->deleted),
			 "absent", num(a, sizeof(a), ev->absent),
			 "failed", num(f, sizeof(f), ev->failed),
			 "attempts", num(n, sizeof(n), ev->attempts),
			 "error", ev->error, "detail", ev->detail,
			 "actor", ev->actor, "reason", ev->reason, "run_by", ev->run_by,
			 "revocation", ev->request, "host", ev->host, (const char *)NULL);
	printf("%s %s\n", t, line);
}

void
text_list(const char *user, const struct cpk_credential_list *l)
{
	char line[CPK_AUDIT_MAX], t[32];
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct cpk_credential *cr = &l->items[i];

		cpk_format_time((int64_t)cr->created_at, t, sizeof(t));
		cpk_audit_format(line, sizeof(line), "passkey", NULL, "id", cr->id,
				 "name", cr->name, "rp", cr->rp_id, "created", t,
				 "attachment", cr->attachment, (const char *)NULL);
		/* "event=passkey id=..." reads better without the event key */
		printf("%s\n", line + strlen("event=passkey "));
	}
	if (l->n == 0)
		printf("%s: no passkeys\n", user);
}

/* An outside field, shown; "" for a field the line does not have. */
static const char *
field(char *buf, size_t len, const char *s)
{
	return s != NULL ? cpk_printable(buf, len, s) : "";
}

static void
print_outcome(const char *user, const char *report_line)
{
	char *copy = strdup(report_line), a[SHOWN_MAX], b[SHOWN_MAX], c[SHOWN_MAX];
	char w[SHOWN_MAX];
	struct cpk_report_line l;

	if (copy == NULL || cpk_report_parse(copy, &l) < 0)
		goto out;
	/* names and error codes come from Cognito */
	switch (l.outcome) {
	case CPK_OUT_PENDING:
		printf("%s: stays pending: %s%s%s\n", user, field(a, sizeof(a), l.error),
		       l.detail != NULL && l.detail[0] != '\0' ? ": " : "",
		       field(b, sizeof(b), l.detail));
		break;
	case CPK_OUT_FAILED:
		printf("%s: failed \"%s\" (%s): %s\n", user, field(a, sizeof(a), l.name),
		       field(b, sizeof(b), l.id), field(c, sizeof(c), l.error));
		break;
	case CPK_OUT_WOULD_DELETE:
		printf("%s: would delete \"%s\" (%s)\n", user, field(a, sizeof(a), l.name),
		       field(b, sizeof(b), l.id));
		break;
	case CPK_OUT_ABSENT:
		printf("%s: already gone \"%s\" (%s)\n", user, field(a, sizeof(a), l.name),
		       field(b, sizeof(b), l.id));
		break;
	default:
		printf("%s: %s \"%s\" (%s)\n", user, field(w, sizeof(w), l.word),
		       field(a, sizeof(a), l.name), field(b, sizeof(b), l.id));
		break;
	}
out:
	free(copy);
}

void
text_result(const struct cpk_pool_result *res, bool dry_run)
{
	const struct cpk_report_result *r = &res->r;
	char last[SHOWN_MAX];
	size_t i;

	SHOWN(last, r->last_error);
	for (i = 0; i < res->n_lines; i++)
		print_outcome(res->user, res->lines[i]);
	if (r->status == CPK_USAGE)
		printf("%s: not carried out%s%s\n", res->user,
		       r->last_error[0] != '\0' ? ": " : "", last);
	else if (dry_run && r->status == CPK_DONE && r->pending > 0)
		printf("%s: dry run: %u passkey%s would be deleted\n", res->user, r->would_delete,
		       r->would_delete == 1 ? "" : "s");
	else if (r->status == CPK_DONE && res->n_lines == 0 && r->completed == 0)
		printf("%s: nothing pending\n", res->user);
	else
		printf("%s: %s: %u deleted, %u already gone, %u failed, %u request%s pending%s%s\n",
		       res->user, cpk_status_word(r->status), r->deleted, r->absent, r->failed,
		       r->pending, r->pending == 1 ? "" : "s",
		       r->last_error[0] != '\0' ? ", last error " : "", last);
}

void
text_progress(const struct tally *t, bool final)
{
	fprintf(stderr, "\r\033[K" PROG ": %zu/%zu users, %zu done, %zu pending, %zu failed%s",
		t->finished, t->total, t->done, t->pending, t->failed, final ? "\n" : "");
	fflush(stderr);
}

void
text_progress_clear(void)
{
	fprintf(stderr, "\r\033[K");
}
