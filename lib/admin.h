/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The administrator's transactions on the revocation state (passkey-revoke
 * -a/-c/-n/--rp, -d, --discard-corrupt), who may read whose state (-S,
 * --history), and which users a status or a --run-pending covers.  Each
 * change is made under the user's lock and leaves a history event and an
 * audit line, as the engine's (lib/revoke.c) do.  Nothing here prints:
 * errors come back in err, ready for "passkey-revoke: <err>".
 */
#ifndef CPK_ADMIN_H
#define CPK_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include "audit.h"
#include "config.h"
#include "store.h"

/* A history line that could not be written: the change itself stands. */
typedef void (*cpk_admin_warn_fn)(void *ctx, const char *msg);

struct cpk_admin {
	const struct cpk_config *cfg;
	const struct cpk_log *log;
	const char *actor;		/* who asks: a user name or "uid:N" */
	bool is_root;
	/*
	 * fleet = etcd: change this host's state alone (--local-only), for
	 * when etcd cannot be reached; the audit line says local_only.
	 */
	bool local_only;
	cpk_admin_warn_fn warn;		/* may be NULL */
	void *warn_ctx;
};

/* What is to be flagged. */
struct cpk_flag_args {
	enum cpk_selector sel;
	char *const *ids;		/* CPK_SEL_IDS; duplicates are one deletion */
	size_t n_ids;
	const char *pattern;		/* CPK_SEL_NAME glob, CPK_SEL_RP id */
	const char *reason;		/* may be NULL */
};

/*
 * Open state_dir: 0, 1 when it is absent and missing_ok, -1 with err (a
 * user asking for their own state is told to ask root).
 */
int cpk_admin_open(const struct cpk_admin *a, int flags, bool missing_ok,
		   struct cpk_store **st, char *err, size_t errlen);

/* The request flagging would add (id and time set).  0, or -1 on ENOMEM. */
int cpk_admin_build_request(const struct cpk_admin *a, const struct cpk_flag_args *f,
			    struct cpk_request *r);

/*
 * Flag f for user.  With fleet = etcd (and not local_only) etcd's
 * pending/<user> is changed first, in one transaction, and the local file
 * becomes its mirror (fleet_revision set); when etcd cannot be reached
 * nothing changes anywhere.  0 with *after the user's pending requests, the new one
 * last (free with cpk_pending_free), or -1 with err.  A corrupt pending
 * file is never written over.
 */
int cpk_admin_flag(const struct cpk_admin *a, const char *user, const struct cpk_flag_args *f,
		   struct cpk_pending *after, char *err, size_t errlen);

/*
 * Cancel every pending request of user, in etcd first with fleet = etcd
 * (as flagging does); *n is how many (dry_run: how many
 * would be, nothing changed).  0, or -1 with err.
 */
int cpk_admin_cancel(const struct cpk_admin *a, const char *user, const char *reason,
		     bool dry_run, size_t *n, char *err, size_t errlen);

/*
 * Remove the user's corrupt pending files, calling fn for each one
 * removed.  0, 1 when there is no state_dir at all, or -1 with err.
 * dry_run removes nothing.
 */
typedef void (*cpk_discard_fn)(void *ctx, const char *path);
int cpk_admin_discard(const struct cpk_admin *a, const char *user, bool dry_run,
		      cpk_discard_fn fn, void *ctx, size_t *n, char *err, size_t errlen);

/* A valid user name that must_exist in passwd.  0, or -1 with err. */
int cpk_admin_check_user(const char *user, bool must_exist, char *err, size_t errlen);

/*
 * May the actor read user's state (what: "see the status", "read the
 * history")?  A valid name and root, or the actor's own.  0, or -1.
 */
int cpk_admin_check_reader(const struct cpk_admin *a, const char *user, const char *what,
			   char *err, size_t errlen);

/* user is in passwd, or has gone from it but still has state.  0, or -1. */
int cpk_admin_check_known(struct cpk_store *st, const char *user, char *err, size_t errlen);

/*
 * The users -S shows: users (n of them), or the actor alone when n is 0,
 * or every user with state when all_users (root only); each checked as
 * above, with state_dir opened in between (*st, NULL when it is absent;
 * close it with cpk_store_close).  0 with a NULL-terminated *out
 * (cpk_argv_free; NULL when there is nobody), or -1 with err.
 */
int cpk_admin_status_users(const struct cpk_admin *a, char *const *users, size_t n,
			   bool all_users, char ***out, struct cpk_store **st,
			   char *err, size_t errlen);

/* Every user with a pending file, sorted.  0 with *out (cpk_argv_free), or -1. */
int cpk_admin_pending_users(const struct cpk_admin *a, char ***out, size_t *n,
			    char *err, size_t errlen);

#endif
