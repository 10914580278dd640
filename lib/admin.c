/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * admin.c - the administrator's transactions on the revocation state:
 * flag, cancel, discard corrupt state (admin.h), and the checks of who
 * may read whose state.  The engine's own transactions are in revoke.c.
 */
#include "admin.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fleet_publish.h"
#include "util.h"

#define SELECTOR_MAX	300

/* An event of ours; the counts of doc/DESIGN.md are "not given" (-1). */
static struct cpk_event
admin_event(const struct cpk_admin *a, const char *name, const struct cpk_request *req,
	    const char *reason, const char *selector)
{
	struct cpk_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = cpk_now();
	ev.event = name;
	ev.actor = a->actor;
	ev.reason = reason;
	ev.selector = selector;
	ev.deleted = ev.absent = ev.failed = ev.attempts = -1;
	if (req != NULL)
		ev.request = req->id;
	return ev;
}

/* The change is made: a history line that did not make it is a warning. */
static void
record(const struct cpk_admin *a, struct cpk_store *st, const char *user,
       const struct cpk_event *ev)
{
	char err[CPK_ERR_LEN];

	if (cpk_history_append(st, user, ev, err, sizeof(err)) < 0 && a->warn != NULL)
		a->warn(a->warn_ctx, err);
}

int
cpk_admin_open(const struct cpk_admin *a, int flags, bool missing_ok, struct cpk_store **st,
	       char *err, size_t errlen)
{
	char why[CPK_ERR_LEN];

	*st = NULL;
	if (cpk_store_open(st, a->cfg->state_dir, flags, why, sizeof(why)) == 0)
		return 0;
	if (errno == ENOENT && missing_ok)
		return 1;
	/*
	 * state_dir is root's and 0700 (doc/DESIGN.md), and the command is not
	 * set-uid: a user asking for their own status must ask root.
	 */
	if (errno == EACCES && !a->is_root)
		snprintf(err, errlen, "%s: the revocation state is readable by root only; "
			 "ask an administrator to run: passkey-revoke -S %s", why, a->actor);
	else
		snprintf(err, errlen, "%s", why);
	return -1;
}

static int
lock_user(const struct cpk_admin *a, struct cpk_store *st, const char *user,
	  char *err, size_t errlen)
{
	char why[CPK_ERR_LEN];
	int fd = cpk_store_lock(st, user, (long)a->cfg->timeout * 1000, why, sizeof(why));

	if (fd < 0)
		snprintf(err, errlen, "%s%s", why, errno == EWOULDBLOCK ? "; try again later" : "");
	return fd;
}

/*
 * Load under the lock.  A corrupt file is never written over (whatever it
 * flagged would be lost): nothing changes until an administrator fixes it
 * in place or drops it with --discard-corrupt.
 */
static int
load_pending(struct cpk_store *st, const char *user, struct cpk_pending *p,
	     char *err, size_t errlen)
{
	char why[CPK_ERR_LEN];

	if (cpk_pending_load(st, user, p, why, sizeof(why)) == 0)
		return 0;
	if (errno == EBADMSG)
		snprintf(err, errlen, "%s; nothing changed: fix it in place, or drop it with: "
			 "passkey-revoke --discard-corrupt %s", why, user);
	else
		snprintf(err, errlen, "%s", why);
	return -1;
}

static bool
has_id(const struct cpk_request *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n_ids; i++)
		if (strcmp(r->ids[i], id) == 0)
			return true;
	return false;
}

int
cpk_admin_build_request(const struct cpk_admin *a, const struct cpk_flag_args *f,
			struct cpk_request *r)
{
	size_t i;

	if (cpk_request_init(r, f->sel, a->actor) < 0)
		return -1;
	if (f->reason != NULL && (r->reason = strdup(f->reason)) == NULL)
		return -1;
	if (f->pattern != NULL && (r->pattern = strdup(f->pattern)) == NULL)
		return -1;
	if (f->sel != CPK_SEL_IDS)
		return 0;
	r->ids = calloc(f->n_ids > 0 ? f->n_ids : 1, sizeof(*r->ids));
	if (r->ids == NULL)
		return -1;
	for (i = 0; i < f->n_ids; i++) {
		/* the same id twice is one deletion */
		if (has_id(r, f->ids[i]))
			continue;
		if ((r->ids[r->n_ids] = strdup(f->ids[i])) == NULL)
			return -1;
		r->n_ids++;
	}
	return 0;
}

/* The audit line's "fleet" value: NULL (left out) with fleet = none. */
static const char *
fleet_mode(const struct cpk_admin *a)
{
	if (a->cfg->fleet != CPK_FLEET_ETCD)
		return NULL;
	return a->local_only ? "local_only" : "etcd";
}

static bool
use_etcd(const struct cpk_admin *a)
{
	return a->cfg->fleet == CPK_FLEET_ETCD && !a->local_only;
}

/*
 * Change pending/<user> in etcd with fn, and say plainly when etcd could
 * not be reached: nothing changed anywhere, and --local-only is the way
 * to act on this host alone.
 */
static int
fleet_change(const struct cpk_admin *a, const char *user, cpk_fleet_change_fn fn, void *ctx,
	     struct cpk_pending *after, char *err, size_t errlen)
{
	struct cpk_etcd *e;
	char why[CPK_ERR_LEN];
	int rc;

	if ((e = cpk_etcd_open(a->cfg, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "fleet: %s; nothing changed", why);
		return -1;
	}
	rc = cpk_fleet_publish(e, user, fn, ctx, after, why, sizeof(why));
	cpk_etcd_close(e);
	if (rc == CPK_ETCD_UNREACHABLE)
		snprintf(err, errlen, "etcd cannot be reached (etcd_endpoints %s): %s; nothing "
			 "changed anywhere (--local-only changes this host alone)",
			 a->cfg->etcd_endpoints, why);
	else if (rc != CPK_ETCD_OK)
		snprintf(err, errlen, "%s", why);
	return rc == CPK_ETCD_OK ? 0 : -1;
}

struct flag_change {
	const char *user;
	const struct cpk_pending *local;
	const struct cpk_request *r;
};

/*
 * The fleet's document plus the new request.  Requests flagged on this
 * host alone (a local file that mirrors nothing) go to the fleet with it:
 * the local file is about to become the fleet's mirror, and they must not
 * be lost.
 */
static int
add_to_fleet(void *ctx, struct cpk_pending *p, char *err, size_t errlen)
{
	const struct flag_change *fc = ctx;

	if ((fc->local->fleet_revision == 0 &&
	     cpk_fleet_copy_requests(fc->user, p, fc->local->items, fc->local->n) < 0) ||
	    cpk_fleet_copy_requests(fc->user, p, fc->r, 1) < 0) {
		snprintf(err, errlen, "%s has %d pending requests in the fleet already: run or "
			 "cancel them first", fc->user, CPK_STORE_MAX_REQUESTS);
		return -1;
	}
	return 0;
}

/* *after: the user's requests with r added, in etcd first when the fleet is on. */
static int
flag_into(const struct cpk_admin *a, const char *user, struct cpk_request *r,
	  struct cpk_pending *after, char *err, size_t errlen)
{
	struct flag_change fc = { user, after, r };
	struct cpk_pending fleet;

	if (!use_etcd(a)) {
		if (cpk_pending_add(after, r) < 0) {
			snprintf(err, errlen, "%s has %d pending requests already: run or cancel "
				 "them first", user, CPK_STORE_MAX_REQUESTS);
			return -1;
		}
		return 0;
	}
	if (fleet_change(a, user, add_to_fleet, &fc, &fleet, err, errlen) < 0)
		return -1;
	cpk_pending_free(after);
	*after = fleet;
	return 0;
}

static const struct cpk_request *
find_request(const struct cpk_pending *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->items[i].id, id) == 0)
			return &p->items[i];
	return NULL;
}

int
cpk_admin_flag(const struct cpk_admin *a, const char *user, const struct cpk_flag_args *f,
	       struct cpk_pending *after, char *err, size_t errlen)
{
	struct cpk_store *st = NULL;
	struct cpk_request r;
	struct cpk_event ev;
	const struct cpk_request *added;
	char sel[SELECTOR_MAX], id[CPK_REQUEST_ID_LEN];
	int lockfd = -1, rc = -1;

	memset(&r, 0, sizeof(r));
	memset(after, 0, sizeof(*after));
	if (cpk_admin_build_request(a, f, &r) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(id, sizeof(id), "%s", r.id);
	cpk_selector_describe(&r, sel, sizeof(sel));
	/* the local file is checked (a corrupt one is never written over)
	 * before etcd changes, and the lock held until its mirror is written */
	if (cpk_admin_open(a, CPK_STORE_CREATE, false, &st, err, errlen) != 0 ||
	    (lockfd = lock_user(a, st, user, err, errlen)) < 0 ||
	    load_pending(st, user, after, err, errlen) != 0 ||
	    flag_into(a, user, &r, after, err, errlen) < 0)
		goto out;
	if (cpk_pending_save(st, user, after, err, errlen) < 0)
		goto out;
	if ((added = find_request(after, id)) == NULL)
		added = &after->items[after->n - 1];
	ev = admin_event(a, "requested", added, f->reason, sel);
	ev.time = added->requested_at;
	record(a, st, user, &ev);
	cpk_audit(a->log, LOG_NOTICE, "revocation_requested", user, "selector", sel,
		  "actor", a->actor, "reason", f->reason, "revocation", added->id,
		  "fleet", fleet_mode(a), (const char *)NULL);
	rc = 0;
out:
	if (rc != 0)
		cpk_pending_free(after);
	cpk_request_free(&r);
	cpk_store_unlock(lockfd);
	cpk_store_close(st);
	return rc;
}

/* The fleet's requests move to *ctx (on every retry afresh); etcd's key goes. */
static int
take_all(void *ctx, struct cpk_pending *p, char *err, size_t errlen)
{
	struct cpk_pending *removed = ctx;

	(void)err;
	(void)errlen;
	cpk_pending_free(removed);
	*removed = *p;
	memset(p, 0, sizeof(*p));
	return 0;
}

/* With the fleet on: *p becomes every request cancelled, the fleet's and ours. */
static int
cancel_fleet(const struct cpk_admin *a, const char *user, struct cpk_pending *p,
	     char *err, size_t errlen)
{
	struct cpk_pending removed = { NULL, 0, 0 }, left;

	if (fleet_change(a, user, take_all, &removed, &left, err, errlen) < 0) {
		cpk_pending_free(&removed);
		return -1;
	}
	cpk_pending_free(&left);
	if (cpk_fleet_copy_requests(user, &removed, p->items, p->n) < 0) {
		/* etcd has changed: the local file goes all the same */
		if (a->warn != NULL)
			a->warn(a->warn_ctx, "out of memory: some cancelled requests are not in "
				"the history");
	}
	cpk_pending_free(p);
	*p = removed;
	return 0;
}

int
cpk_admin_cancel(const struct cpk_admin *a, const char *user, const char *reason,
		 bool dry_run, size_t *n, char *err, size_t errlen)
{
	struct cpk_pending p = { NULL, 0, 0 }, none = { NULL, 0, 0 };
	struct cpk_store *st = NULL;
	struct cpk_event ev;
	char sel[SELECTOR_MAX];
	int lockfd = -1, rc;
	size_t i;

	*n = 0;
	/* with the fleet on, etcd may hold requests this host never saw */
	rc = cpk_admin_open(a, use_etcd(a) && !dry_run ? CPK_STORE_CREATE : 0, true, &st,
			    err, errlen);
	if (rc != 0) {
		rc = rc == 1 ? 0 : -1;
		goto out;
	}
	rc = -1;
	if ((lockfd = lock_user(a, st, user, err, errlen)) < 0 ||
	    load_pending(st, user, &p, err, errlen) != 0)
		goto out;
	if (!dry_run && use_etcd(a) && cancel_fleet(a, user, &p, err, errlen) < 0)
		goto out;
	*n = p.n;
	if (p.n == 0 || dry_run) {
		rc = 0;
		goto out;
	}
	if (cpk_pending_save(st, user, &none, err, errlen) < 0)
		goto out;
	for (i = 0; i < p.n; i++) {
		cpk_selector_describe(&p.items[i], sel, sizeof(sel));
		ev = admin_event(a, "cancelled", &p.items[i], reason, sel);
		record(a, st, user, &ev);
		cpk_audit(a->log, LOG_NOTICE, "revocation_cancelled", user, "selector", sel,
			  "actor", a->actor, "reason", reason, "revocation", p.items[i].id,
			  "fleet", fleet_mode(a), (const char *)NULL);
	}
	rc = 0;
out:
	cpk_pending_free(&p);
	cpk_store_unlock(lockfd);
	cpk_store_close(st);
	return rc;
}

/*
 * The administrator's resolution of corrupt state: each corrupt file of
 * the user is removed under the lock, with a history event and an audit
 * line, so the record says who dropped what.
 */
int
cpk_admin_discard(const struct cpk_admin *a, const char *user, bool dry_run,
		  cpk_discard_fn fn, void *ctx, size_t *n, char *err, size_t errlen)
{
	struct cpk_store *st = NULL;
	struct cpk_event ev;
	char path[PATH_MAX];
	int lockfd = -1, rc = 0, found = 0;

	*n = 0;
	rc = cpk_admin_open(a, 0, true, &st, err, errlen);
	if (rc != 0)
		goto out;
	rc = -1;
	if ((lockfd = lock_user(a, st, user, err, errlen)) < 0)
		goto out;
	while (!dry_run &&
	       (found = cpk_store_discard_corrupt(st, user, path, sizeof(path), err, errlen)) == 1) {
		(*n)++;
		ev = admin_event(a, "discarded", NULL, NULL, NULL);
		ev.error = "corrupt_state";
		ev.detail = path;
		record(a, st, user, &ev);
		cpk_audit(a->log, LOG_ALERT, "state_corrupt", user, "action", "discarded",
			  "file", path, "actor", a->actor, (const char *)NULL);
		if (fn != NULL)
			fn(ctx, path);
	}
	if (!dry_run && found < 0)
		goto out;
	rc = 0;
out:
	cpk_store_unlock(lockfd);
	cpk_store_close(st);
	return rc;
}

int
cpk_admin_check_user(const char *user, bool must_exist, char *err, size_t errlen)
{
	char shown[64];

	if (!cpk_user_name_valid(user)) {
		snprintf(err, errlen, "invalid user name '%s'",
			 cpk_printable(shown, sizeof(shown), user));
		return -1;
	}
	if (must_exist && getpwnam(user) == NULL) {
		snprintf(err, errlen, "user '%s' does not exist", user);
		return -1;
	}
	return 0;
}

int
cpk_admin_check_reader(const struct cpk_admin *a, const char *user, const char *what,
		       char *err, size_t errlen)
{
	if (cpk_admin_check_user(user, false, err, errlen) < 0)
		return -1;
	if (!a->is_root && strcmp(user, a->actor) != 0) {
		snprintf(err, errlen, "permission denied: only root may %s of other users", what);
		return -1;
	}
	return 0;
}

int
cpk_admin_check_known(struct cpk_store *st, const char *user, char *err, size_t errlen)
{
	/* a user that has gone from passwd may still have state */
	if (getpwnam(user) == NULL && !cpk_store_has_state(st, user)) {
		snprintf(err, errlen, "user '%s' does not exist", user);
		return -1;
	}
	return 0;
}

/* Who runs the command, as -S with no user name means it. */
static int
self_users(char ***out, char *err, size_t errlen)
{
	struct passwd *pw = getpwuid(getuid());
	size_t n = 0;

	if (pw == NULL || cpk_strv_push(out, &n, pw->pw_name) < 0) {
		snprintf(err, errlen, "who are you?");
		return -1;
	}
	return 0;
}

static int
copy_users(char *const *users, size_t n, char ***out, char *err, size_t errlen)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (cpk_strv_push(out, &k, users[i]) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

int
cpk_admin_status_users(const struct cpk_admin *a, char *const *users, size_t n,
		       bool all_users, char ***out, struct cpk_store **st,
		       char *err, size_t errlen)
{
	size_t i;
	int rc = -1;

	*out = NULL;
	*st = NULL;
	if (all_users && !a->is_root) {
		snprintf(err, errlen, "permission denied: only root may see the status of "
			 "every user");
		goto out;
	}
	if (!all_users && n == 0 && self_users(out, err, errlen) < 0)
		goto out;
	if (!all_users && n > 0 && copy_users(users, n, out, err, errlen) < 0)
		goto out;
	for (i = 0; *out != NULL && (*out)[i] != NULL; i++)
		if (cpk_admin_check_reader(a, (*out)[i], "see the status", err, errlen) < 0)
			goto out;
	if (cpk_admin_open(a, 0, true, st, err, errlen) < 0)
		goto out;
	if (all_users) {
		if (*st != NULL && cpk_store_users(*st, out, err, errlen) < 0)
			goto out;
	} else {
		for (i = 0; (*out)[i] != NULL; i++)
			if (cpk_admin_check_known(*st, (*out)[i], err, errlen) < 0)
				goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		cpk_argv_free(*out);
		*out = NULL;
		cpk_store_close(*st);
		*st = NULL;
	}
	return rc;
}

int
cpk_admin_pending_users(const struct cpk_admin *a, char ***out, size_t *n,
			char *err, size_t errlen)
{
	struct cpk_store *st = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	rc = cpk_admin_open(a, 0, true, &st, err, errlen);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	rc = cpk_store_pending_users(st, out, err, errlen);
	cpk_store_close(st);
	if (rc < 0)
		return -1;
	*n = (size_t)rc;
	return 0;
}
