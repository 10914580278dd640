/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Revocation state under state_dir (doc/DESIGN.md, "Revocation state"):
 *
 *   state_dir/            root-owned, 0700
 *     pending/<user>      the user's pending requests, one JSON document;
 *                         exists only while something is pending (the PAM
 *                         module's fast path stats exactly this path)
 *     history/<user>      append-only JSON lines, one event each
 *     lock/<user>         the per-user lock file (flock); never renamed
 *                         over and never removed
 *
 * Writers hold the user's lock, write pending/.tmp.<user>, fsync, rename
 * it over pending/<user> and fsync the directory, so a crash at any
 * instant leaves either the old or the new state.  The writer refuses a
 * document larger than the reader accepts (CPK_STORE_MAX_FILE).  A pending
 * file that does not parse stays where it is (no reader renames or
 * changes anything): the module's fast path keeps seeing it, the engine
 * refuses it as a system error, -S shows the user as corrupt, and only an
 * administrator resolves it (fix it in place, or passkey-revoke
 * --discard-corrupt).  Earlier versions renamed such files to
 * pending/.corrupt.<user>.<epoch>; those count as corrupt state too.
 *
 * Every directory is opened O_DIRECTORY|O_NOFOLLOW and every file is
 * reached with *at() relative to it: nothing is resolved twice by path.
 */
#ifndef CPK_STORE_H
#define CPK_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define CPK_STORE_MAX_FILE	(4 * 1024 * 1024)	/* pending file */
#define CPK_STORE_MAX_REQUESTS	256
#define CPK_STORE_MAX_IDS	1000	/* credential ids in one request */
#define CPK_REQUEST_ID_LEN	40

enum cpk_selector {
	CPK_SEL_ALL,		/* every passkey of the user */
	CPK_SEL_IDS,		/* these credential ids */
	CPK_SEL_NAME,		/* FriendlyCredentialName matching a glob (fnmatch) */
	CPK_SEL_RP,		/* RelyingPartyId equal to this */
};

/* One revocation request, as flagged by an administrator. */
struct cpk_request {
	char id[CPK_REQUEST_ID_LEN];	/* "r-<epoch>-<16 hex>" */
	enum cpk_selector selector;
	/*
	 * CPK_SEL_IDS: the ids still to do.  Other selectors: the ids a run
	 * chose (and saved before deleting anything) that have no recorded
	 * outcome yet, so that a run killed after Cognito deleted one but
	 * before the record leaves it to the next run, which records it.
	 */
	char **ids;
	size_t n_ids;
	char *pattern;			/* CPK_SEL_NAME glob, CPK_SEL_RP id */
	char *reason;			/* may be NULL */
	char *actor;			/* who asked */
	int64_t requested_at;
	unsigned int attempts;		/* runs that left it pending */
	int64_t last_attempt_at;	/* 0: never */
	char *last_error;		/* Cognito code or local rule; may be NULL */
	char *last_detail;		/* may be NULL */
	/*
	 * The Cognito user (GetUser's sub) whose token the first verified run
	 * of this request used; later runs need a token of the same user
	 * (identity.h).  NULL until a run verified one.
	 */
	char *sub;
	/* this run's outcomes (the engine's bookkeeping; not stored) */
	unsigned int run_deleted, run_absent, run_failed;
};

struct cpk_pending {
	struct cpk_request *items;
	size_t n;
	/*
	 * fleet = etcd: the mod_revision of the fleet's pending/<user> that
	 * this local copy mirrors (the outcome transaction compares it).
	 * 0: not from the fleet.  Stored as "fleet_revision" locally only.
	 */
	int64_t fleet_revision;
};

/*
 * One history line.  NULL strings and negative counts are left out.
 * event is one of requested, deleted, absent, deferred, failed,
 * cancelled, completed, would_delete (dry run is never written, but the
 * command prints it in the same shape).
 */
struct cpk_event {
	int64_t time;
	const char *event;
	const char *request;		/* our request id */
	const char *actor;		/* who asked for the revocation */
	const char *run_by;		/* who carried it out: "root", "pam:sshd" */
	const char *reason;
	const char *selector;		/* "all", "ids", "name:GLOB", "rp:RPID" */
	const char *credential;
	const char *name;
	const char *cognito_request;	/* x-amzn-RequestId */
	const char *error;
	const char *detail;
	/*
	 * fleet = etcd: the host that carried it out, when not this one (a
	 * "completed" the sync records for another host's outcome).
	 */
	const char *host;
	long deleted, absent, failed;	/* completed/failed: counts */
	long attempts;			/* deferred */
};

struct cpk_store;

enum {
	CPK_STORE_CREATE = 1,	/* create state_dir and its subdirectories */
};

/*
 * Open state_dir.  Refuses, with a message in err, a state_dir (or
 * subdirectory) that is a symlink, not a directory, not owned by root
 * (or by the caller, for tests run without root), or accessible by group
 * or others.  Without CPK_STORE_CREATE a missing state_dir fails with
 * errno ENOENT (the caller reads that as "nothing pending").  Returns 0
 * or -1.
 */
int cpk_store_open(struct cpk_store **out, const char *state_dir, int flags,
		   char *err, size_t errlen);
void cpk_store_close(struct cpk_store *st);
const char *cpk_store_path(const struct cpk_store *st);

/*
 * state_dir/outbox, opened (and with create, made) under the same rules as
 * the other subdirectories; the descriptor, or -1 with err (errno ENOENT:
 * none yet).  Used with fleet = etcd only (fleet_outcome.h).
 */
int cpk_store_outbox(struct cpk_store *st, bool create, char *err, size_t errlen);

/*
 * state_dir/summary (0711, made on first use, which widens state_dir from
 * 0700 to 0711): the descriptor, or -1 with err (errno ENOENT: none yet).
 */
int cpk_store_summary_dir(struct cpk_store *st, bool create, char *err, size_t errlen);

/*
 * Take the user's lock (flock LOCK_EX on lock/<user>), waiting at most
 * wait_ms.  Returns the lock descriptor, or -1: errno EWOULDBLOCK when
 * another run holds it past wait_ms.  Release with cpk_store_unlock().
 */
int cpk_store_lock(struct cpk_store *st, const char *user, long wait_ms,
		   char *err, size_t errlen);
void cpk_store_unlock(int lockfd);

/*
 * Load the user's pending requests; an absent file is p->n == 0 and
 * returns 0.  A file that does not parse is left in place, reported in
 * err, and -1 is returned with errno EBADMSG.  Call with the lock held
 * (or accept a snapshot, as the status display does).
 */
int cpk_pending_load(struct cpk_store *st, const char *user, struct cpk_pending *p,
		     char *err, size_t errlen);
/*
 * Atomically replace pending/<user>; p->n == 0 removes it.  Lock held.
 * A document larger than CPK_STORE_MAX_FILE is refused (errno EFBIG,
 * nothing changed).
 */
int cpk_pending_save(struct cpk_store *st, const char *user, const struct cpk_pending *p,
		     char *err, size_t errlen);
/* 1 when pending/<user> exists, 0 when not, -1 on error. */
int cpk_pending_exists(struct cpk_store *st, const char *user);
void cpk_pending_free(struct cpk_pending *p);
/* Append r (its contents are moved; r is left zeroed).  0 or -1. */
int cpk_pending_add(struct cpk_pending *p, struct cpk_request *r);
/* Remove items[i], freeing it. */
void cpk_pending_remove(struct cpk_pending *p, size_t i);

/* A fresh request: id and requested_at set, everything else empty. */
int cpk_request_init(struct cpk_request *r, enum cpk_selector sel, const char *actor);
void cpk_request_free(struct cpk_request *r);
/* Remove ids[i] from an ids request. */
void cpk_request_drop_id(struct cpk_request *r, size_t i);
/* Record a run that left r pending.  NULL detail is fine. */
int cpk_request_defer(struct cpk_request *r, const char *error, const char *detail,
		      int64_t now);
/* "all", "ids", "name:GLOB", "rp:RPID" */
void cpk_selector_describe(const struct cpk_request *r, char *buf, size_t len);
const char *cpk_selector_name(enum cpk_selector sel);

/* Append one event to history/<user> (O_APPEND, fsync). */
int cpk_history_append(struct cpk_store *st, const char *user, const struct cpk_event *ev,
		       char *err, size_t errlen);
/*
 * Call fn for every well-formed line of history/<user>, in order, with the
 * line itself (a JSON object, no newline) and its parsed event (strings
 * valid only during the call).  A missing history is no line and 0.
 * Lines that do not parse (a crash cut them) are skipped.  fn returns 0
 * to go on.
 */
typedef int (*cpk_history_fn)(void *ctx, const char *json, const struct cpk_event *ev);
int cpk_history_read(struct cpk_store *st, const char *user, cpk_history_fn fn, void *ctx,
		     char *err, size_t errlen);

/*
 * What passkey-revoke -S shows for one user, derived from pending/<user>
 * and history/<user>.  A snapshot: no lock is taken and nothing is set
 * aside.  state is "pending", "done", "failed", "cancelled", "corrupt"
 * (pending/<user> does not parse, or an earlier version kept one aside:
 * the path is in corrupt) or "none".  Counts are over
 * the whole history.
 */
struct cpk_user_status {
	char state[16];
	size_t requests;		/* pending requests */
	int64_t since;			/* the oldest of them */
	unsigned int attempts;		/* the most attempts of any of them */
	char last_error[96];		/* the latest pending error, or "" */
	int64_t at;			/* time of the last terminal event */
	char corrupt[PATH_MAX];		/* kept-aside pending file, or "" */
	long deleted, absent, failed;
	char last_failure[96];		/* error of the last failed credential */
	char warning[96];		/* error noted on the last terminal event */
	/* fleet = etcd: the host whose claim left a request pending, or "" */
	char claimed_by[72];
	/* fleet = etcd: the host the last "completed" event names, or "" */
	char done_on[72];
	int64_t fleet_revision;		/* the mirrored fleet document's, or 0 */
	bool any_history;
};

/*
 * st may be NULL (no state_dir yet: "none").  p, when not NULL, receives
 * the pending requests (free with cpk_pending_free).  0, or -1 with err.
 */
int cpk_store_user_status(struct cpk_store *st, const char *user, struct cpk_user_status *us,
			  struct cpk_pending *p, char *err, size_t errlen);
/*
 * state_dir/summary/<user> (store_summary.c): the part of the state a user
 * may read without privilege, owned by that user, 0400, written by root
 * after every change of the user's pending/ or history/.
 *
 * cpk_summary_update rewrites it (root only; a user gone from passwd has
 * theirs removed); 0 or -1 with err.  The store's writers call it.
 */
int cpk_summary_update(struct cpk_store *st, const char *user, char *err, size_t errlen);

struct cpk_summary {
	bool found;
	int64_t updated_at;
	struct cpk_user_status status;
	struct cpk_pending pending;	/* free with cpk_pending_free */
};

/*
 * Read as the user, with no privilege: state_dir and summary/ must be
 * root's and writable by nobody else, the file the caller's own.  fn (may
 * be NULL) gets each recent history event, oldest first.  1 found, 0 none
 * recorded (s says "none"), -1 with err.
 */
int cpk_summary_read(const char *state_dir, const char *user, struct cpk_summary *s,
		     cpk_history_fn fn, void *ctx, char *err, size_t errlen);

/*
 * state_dir/fleet-sync (fleet = etcd, store_fleetmark.c): the revision the
 * last sync mirrored and when (a --follow also marks a heartbeat while
 * etcd answers).  mark: 0 or -1 with err.  read: 1 with *m, 0 when no sync
 * ever ran, -1 when it cannot be read.
 */
struct cpk_fleet_mark {
	int64_t revision;
	int64_t time;
	bool follow;
};
int cpk_store_fleet_mark(struct cpk_store *st, int64_t revision, int64_t at, bool follow,
			 char *err, size_t errlen);
int cpk_store_fleet_mark_read(struct cpk_store *st, struct cpk_fleet_mark *m);
/*
 * A mirror older than this is stale: twice the timer's 15 minutes
 * (passkey-revoke.timer runs --sync), with --follow's heartbeat far inside.
 */
#define CPK_FLEET_STALE_AFTER	(30 * 60)

/* Anything pending or in the history for user. */
bool cpk_store_has_state(struct cpk_store *st, const char *user);

/*
 * The same parsers on a buffer, with no file involved (tests/fuzz):
 * pending/<user>'s document (0, or -1 with *p emptied) and history lines
 * (fn as for cpk_history_read; 0, or -1 on ENOMEM).
 */
int cpk_store_parse_pending(const char *buf, size_t len, const char *user,
			    struct cpk_pending *p);
/*
 * pending/<user>'s document as text (malloc'd; NULL with errno), as the
 * file holds it.  With fleet false, without "fleet_revision": the document
 * the fleet stores in etcd.
 */
char *cpk_pending_render(const char *user, const struct cpk_pending *p, bool fleet);
int cpk_store_parse_history(const char *buf, size_t len, cpk_history_fn fn, void *ctx);

/*
 * Every user with state (pending or history), sorted, NULL-terminated;
 * free with cpk_argv_free().  Entries that are not valid user names are
 * skipped.
 */
int cpk_store_users(struct cpk_store *st, char ***users, char *err, size_t errlen);
/*
 * Every user with a pending file (pending/<user> exists, whatever it
 * holds: a corrupt one counts, as it does for the module's fast path),
 * sorted, NULL-terminated; free with cpk_argv_free().  Entries that are
 * not valid user names (temp files, .corrupt.*) are skipped.  Returns how
 * many, or -1 with err.
 */
int cpk_store_pending_users(struct cpk_store *st, char ***users, char *err, size_t errlen);
/* Newest pending/.corrupt.<user>.* name into buf; 1 found, 0 none, -1 error. */
int cpk_store_corrupt_file(struct cpk_store *st, const char *user, char *buf, size_t len);

/*
 * Lock held: remove one corrupt pending file of user (pending/<user> when
 * it does not parse, else the newest .corrupt.<user>.* an earlier version
 * kept) and put its path in path.  1 removed, 0 none left, -1 error.
 */
int cpk_store_discard_corrupt(struct cpk_store *st, const char *user, char *path, size_t len,
			      char *err, size_t errlen);

#endif
