/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
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
#include "report.h"	/* enum cpk_status, the report lines */

struct cpk_run_opts {
	const char *actor;		/* who runs it: "pam:sshd", "root" */
	bool dry_run;
	const struct cpk_deadline *deadline;	/* NULL: cfg->timeout from now */
	cpk_before_request_fn before_request;	/* rate limiting; may be NULL */
	void *before_request_ctx;
	struct cpk_retry_quota *retry_quota;	/* shared by a run's workers; may be NULL */
	/*
	 * A batch worker's client, kept by the caller across the users it
	 * serves so that they share one connection (cpk_client_renew); the
	 * caller frees it.  NULL: the run makes and frees its own.
	 */
	struct cpk_client **client;
	/*
	 * Machine-readable outcomes (the PAM module's notify), the outcome
	 * lines of report.h.  <name> is the FriendlyCredentialName, empty
	 * when unknown.  May be NULL.
	 */
	FILE *report;
};

struct cpk_run_result {
	unsigned int deleted;
	unsigned int absent;
	unsigned int failed;
	unsigned int pending;	/* requests left pending */
	unsigned int would_delete;	/* dry run */
	unsigned int completed;	/* requests finished this run */
	unsigned int connections;	/* new connections (TCP+TLS) this run opened */
	char last_error[96];	/* why something stays pending / failed */
};

/*
 * Carry out the user's pending revocations, under the user's lock.
 *
 * Returns CPK_PENDING when anything stays pending (it takes precedence:
 * fail=closed is about pending state), else CPK_FAILED when a credential
 * was refused for good (InvalidParameterException), else CPK_DONE.  A
 * second run for the same user waits for the first (bounded by the
 * deadline) and then finds less or nothing to do; when the wait runs out
 * it returns CPK_PENDING with last_error "locked".  CPK_USAGE: invalid or
 * unknown user, unusable state_dir, corrupt pending file (set aside).
 *
 * A name-glob or relying-party selector that matches nothing when listed
 * completes with zero deletions (the audit line says deleted=0).
 *
 * dry_run: everything up to the deletions (token, refresh, list,
 * selection), reported as would_delete; nothing in state_dir changes and
 * CPK_DONE is returned when the deletions could have been attempted.
 */
int cpk_revoke_user(const struct cpk_config *cfg, const struct cpk_log *log,
		    const char *user, const struct cpk_run_opts *opts,
		    struct cpk_run_result *res);

/*
 * The user's passkeys, listed through the user's token (passkey-revoke
 * -L): the same token handling as a run (checks, refresh with write-back,
 * one retry after NotAuthorizedException), under the user's lock so that
 * two refreshes of a rotating refresh token never race.  Returns 0, or -1
 * with the reason in why (a Cognito code or a token rule, or "locked",
 * "unknown_user", "state_dir").  Free out with cpk_credential_list_free().
 */
int cpk_revoke_list(const struct cpk_config *cfg, const struct cpk_log *log,
		    const char *user, const struct cpk_run_opts *opts,
		    struct cpk_credential_list *out, struct cpk_reply *why);

#endif
