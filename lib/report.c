/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * report.c - the one writer and parser of the helper report lines
 * (report.h): lib/revoke.c writes them, lib/pool.c and the PAM module
 * read them.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_FIELDS	4

const char *
cpk_status_word(int status)
{
	switch (status) {
	case CPK_DONE: return "done";
	case CPK_PENDING: return "pending";
	case CPK_FAILED: return "failed";
	default: return "error";
	}
}

/*
 * The report must stay one line per outcome, tab-separated: cpk_printable
 * escapes a tab or a newline (\x09, \x0a) like every byte a terminal
 * would act on, and keeps UTF-8 names whole.
 */
static void
write_field(FILE *fp, const char *s)
{
	char *safe;

	if (s == NULL || *s == '\0')
		return;
	safe = cpk_printable_dup(s);
	fputs(safe != NULL ? safe : "?", fp);	/* ENOMEM: the line keeps its shape */
	free(safe);
}

void
cpk_report_write(FILE *fp, const char *what, const char *a, const char *b, const char *c)
{
	if (fp == NULL)
		return;
	fputs(what, fp);
	fputc('\t', fp);
	write_field(fp, a);
	fputc('\t', fp);
	write_field(fp, b);
	if (c != NULL) {
		fputc('\t', fp);
		write_field(fp, c);
	}
	fputc('\n', fp);
	fflush(fp);
}

void
cpk_report_write_result(FILE *fp, const struct cpk_report_result *res)
{
	if (fp == NULL)
		return;
	/* last_error is shown escaped by the reader: only a newline must go */
	fprintf(fp, "result\t%d\t%u\t%u\t%u\t%u\t%u\t%u\t%.*s\n", res->status, res->deleted,
		res->absent, res->failed, res->pending, res->would_delete, res->completed,
		(int)strcspn(res->last_error, "\n"), res->last_error);
	fflush(fp);
}

static enum cpk_outcome
outcome_of(const char *word)
{
	static const struct {
		const char *word;
		enum cpk_outcome outcome;
	} words[] = {
		{ "deleted", CPK_OUT_DELETED },
		{ "absent", CPK_OUT_ABSENT },
		{ "failed", CPK_OUT_FAILED },
		{ "would_delete", CPK_OUT_WOULD_DELETE },
		{ "pending", CPK_OUT_PENDING },
		{ "result", CPK_OUT_RESULT },
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(word, words[i].word) == 0)
			return words[i].outcome;
	return CPK_OUT_UNKNOWN;
}

int
cpk_report_parse(char *line, struct cpk_report_line *out)
{
	const char *f[MAX_FIELDS] = { NULL, NULL, NULL, NULL };
	char *tok = line;
	int i;

	if (strchr(line, '\t') == NULL)
		return -1;
	for (i = 0; tok != NULL && i < MAX_FIELDS; i++) {
		f[i] = tok;
		tok = strchr(tok, '\t');
		if (tok != NULL)
			*tok++ = '\0';
	}
	memset(out, 0, sizeof(*out));
	out->word = f[0];
	out->outcome = outcome_of(f[0]);
	if (out->outcome == CPK_OUT_PENDING) {
		out->error = f[1];
		out->detail = f[2];
	} else {
		out->name = f[1];
		out->id = f[2];
		out->error = f[3];
	}
	return 0;
}

bool
cpk_report_parse_result(const char *line, struct cpk_report_result *res)
{
	char err[sizeof(res->last_error)] = "";
	struct cpk_report_result r;

	memset(&r, 0, sizeof(r));
	if (strncmp(line, "result\t", 7) != 0 ||
	    sscanf(line, "result\t%d\t%u\t%u\t%u\t%u\t%u\t%u\t%95[^\n]", &r.status, &r.deleted,
		   &r.absent, &r.failed, &r.pending, &r.would_delete, &r.completed, err) < 7)
		return false;
	snprintf(r.last_error, sizeof(r.last_error), "%s", err);
	*res = r;
	return true;
}
