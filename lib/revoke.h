/*
 * The engine: one user's pending requests -> token -> list -> select ->
 * delete -> record.  Run by cognito-passkey-helper (for the PAM module)
 * and by passkey-revoke -x / --run-pending.
 */
#ifndef CPK_REVOKE_H
#define CPK_REVOKE_H

#include <stdio.h>
#include "audit.h"
#include "cognito.h"
#include "config.h"

/* Exit statuses of DESIGN.md, shared by the command and the helper. */
enum cpk_status {
	CPK_DONE = 0,		/* nothing pending any more (or nothing was) */
	CPK_USAGE = 1,		/* usage, permission or system error */
	CPK_PENDING = 2,	/* something stays pending */
	CPK_FAILED = 3,		/* a request failed for good */
};

struct cpk_run_opts {
	const char *actor;		/* who runs it: "pam:sshd", "root" */
	bool dry_run;
	const struct cpk_deadline *deadline;
	cpk_before_request_fn before_request;	/* rate limiting; may be NULL */
	void *before_request_ctx;
	/*
	 * Machine-readable outcomes for the PAM module's notify, one line
	 * each: "deleted\t<name>" ...  May be NULL.
	 */
	FILE *report;
};

struct cpk_run_result {
	unsigned int deleted;
	unsigned int absent;
	unsigned int failed;
	unsigned int pending;	/* requests left pending */
	char last_error[96];
};

/* Returns an enum cpk_status. */
int cpk_revoke_user(const struct cpk_config *cfg, const struct cpk_log *log,
		    const char *user, const struct cpk_run_opts *opts,
		    struct cpk_run_result *res);

#endif
