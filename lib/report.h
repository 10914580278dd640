/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The helper report: the exit statuses and the one writer and parser of
 * the lines a run prints (cognito-passkey-helper's stdout for the PAM
 * module's notify, passkey-revoke's workers for the command).
 *
 * Outcome lines, tab-separated, one per outcome, flushed as they happen:
 *   deleted\t<name>\t<credential id>
 *   absent\t<name>\t<credential id>
 *   failed\t<name>\t<credential id>\t<error code>
 *   would_delete\t<name>\t<credential id>        (dry run)
 *   pending\t<error code>\t<detail>              (once, when something stays pending)
 * and, from passkey-revoke's workers only, the run's totals last:
 *   result\t<status>\t<deleted>\t<absent>\t<failed>\t<pending>\t<would>\t<completed>\t<error>
 * Tabs and control bytes in a field become '?', so a field never spans
 * lines; no field ever holds a token.
 *
 * Like util.c, this file must not depend on libcurl or json-c: the PAM
 * module links it.
 */
#ifndef CPK_REPORT_H
#define CPK_REPORT_H

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses of doc/DESIGN.md, shared by the command, the helper and the module. */
enum cpk_status {
	CPK_DONE = 0,		/* nothing pending any more (or nothing was) */
	CPK_USAGE = 1,		/* usage, permission or system error */
	CPK_PENDING = 2,	/* something stays pending */
	CPK_FAILED = 3,		/* a request failed for good */
};

/* "done", "pending", "failed", or "error" for CPK_USAGE and anything else. */
const char *cpk_status_word(int status);

enum cpk_outcome {
	CPK_OUT_DELETED,
	CPK_OUT_ABSENT,
	CPK_OUT_FAILED,
	CPK_OUT_WOULD_DELETE,
	CPK_OUT_PENDING,
	CPK_OUT_RESULT,
	CPK_OUT_UNKNOWN,
};

/* One parsed line; the strings point into the line, NULL when it has no such field. */
struct cpk_report_line {
	enum cpk_outcome outcome;
	const char *word;		/* the first field as written */
	const char *name;		/* credential outcomes */
	const char *id;
	const char *error;		/* failed; pending: the error code */
	const char *detail;		/* pending */
};

/* The totals of a run, as the result line carries them. */
struct cpk_report_result {
	int status;			/* enum cpk_status */
	unsigned int deleted, absent, failed, pending, would_delete, completed;
	char last_error[96];
};

/* One outcome line (c NULL: three fields).  fp NULL writes nothing. */
void cpk_report_write(FILE *fp, const char *what, const char *a, const char *b,
		      const char *c);
/* The result line. */
void cpk_report_write_result(FILE *fp, const struct cpk_report_result *res);

/*
 * Split line (no newline; it is cut in place at the tabs) into out.
 * Returns 0, or -1 for a line that is not a report line (no tab).
 */
int cpk_report_parse(char *line, struct cpk_report_line *out);
/* A result line into res; true when it was one. */
bool cpk_report_parse_result(const char *line, struct cpk_report_result *res);

#endif
