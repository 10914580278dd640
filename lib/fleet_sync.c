/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * fleet_sync.c - passkey-revoke --sync [--follow]: state_dir/pending/
 * made the mirror of the fleet's pending/ in etcd.
 *
 * One listing of the keys (keys_only, so that one oversized value cannot
 * break it), then a read of each document whose mod_revision differs from
 * the local copy's fleet_revision.  Every key and value is untrusted: one
 * that is refused is reported naming the etcd key and skipped, and the
 * others go on.  A local copy that mirrors the fleet (fleet_revision > 0)
 * whose key has gone from etcd was completed or cancelled on another host:
 * it is removed, with a "completed" event; when the fleet's history names
 * the host that completed the request, the event records it (host,
 * "completed on HOST"), else its detail says it was completed or
 * cancelled elsewhere.  Each sync that saw the fleet marks
 * state_dir/fleet-sync with its revision (and --follow a heartbeat), for
 * -S.  Files flagged here alone (fleet_revision 0) are left alone.
 *
 * --follow then watches the prefix from the listing's revision + 1 and
 * applies each event the same way, resuming from the last revision seen
 * after a disconnect and listing afresh after a compaction or an event it
 * could not read.
 */
#include "fleet_outcome.h"
#include "fleet_publish.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define PREFIX		"pending/"
#define PREFIX_LEN	(sizeof(PREFIX) - 1)
/*
 * seconds one watch stream is held open: the watch itself looks at *stop
 * (about once a second, idle or not), so this only bounds how long one
 * connection lives; an etcd restart breaks the stream at once
 */
#define WATCH_SLICE	300
#define HEARTBEAT	WATCH_SLICE	/* --follow's mark while quiet: at each slice's end */
#define NAME_MAX_SHOWN	(CPK_ETCD_MAX_KEY * 4 + 256)

enum applied { A_NONE, A_ADDED, A_UPDATED, A_REMOVED, A_ERROR };

/* The full etcd key, escaped, for messages. */
static const char *
key_name(const struct cpk_fleet_sync *s, const char *key, char *buf, size_t len)
{
	char raw[CPK_ETCD_MAX_KEY + 256];

	snprintf(raw, sizeof(raw), "%s%s", s->cfg->etcd_prefix, key);
	return cpk_printable(buf, len, raw);
}

static enum applied
refuse(const struct cpk_fleet_sync *s, const char *key, const char *why)
{
	char shown[NAME_MAX_SHOWN], msg[CPK_ERR_LEN + NAME_MAX_SHOWN];

	key_name(s, key, shown, sizeof(shown));
	snprintf(msg, sizeof(msg), "etcd key %s: %s; skipped", shown, why);
	cpk_audit(s->log, LOG_WARNING, "fleet_refused", NULL, "key", shown, "error", why,
		  (const char *)NULL);
	if (s->report != NULL)
		s->report(s->ctx, msg);
	return A_ERROR;
}

/* The user of pending/<user>, or NULL when the key names none. */
static const char *
key_user(const char *key)
{
	if (strncmp(key, PREFIX, PREFIX_LEN) != 0 || !cpk_user_name_valid(key + PREFIX_LEN))
		return NULL;
	return key + PREFIX_LEN;
}

static void
count(struct cpk_fleet_sync_stats *stats, enum applied a)
{
	switch (a) {
	case A_ADDED: stats->added++; break;
	case A_UPDATED: stats->updated++; break;
	case A_REMOVED: stats->removed++; break;
	case A_ERROR: stats->errors++; break;
	default: break;
	}
}

static int
lock(const struct cpk_fleet_sync *s, const char *user, char *why, size_t len)
{
	return cpk_store_lock(s->st, user, (long)s->cfg->timeout * 1000, why, len);
}

/* Lock held: the document in value becomes the local copy at revision mod. */
static enum applied
store_doc(const struct cpk_fleet_sync *s, const char *key, const char *user,
	  struct cpk_pending *local, const char *value, size_t len, int64_t mod)
{
	struct cpk_pending doc;
	char why[CPK_ERR_LEN];
	enum applied a = local->n == 0 ? A_ADDED : A_UPDATED;

	if (len != strlen(value) || cpk_store_parse_pending(value, len, user, &doc) < 0)
		return refuse(s, key, "not a pending document of this user");
	if (doc.n == 0) {
		cpk_pending_free(&doc);
		return refuse(s, key, "a pending document without requests");
	}
	/* requests flagged here alone (--local-only) stay with it */
	if (local->fleet_revision == 0 &&
	    cpk_fleet_copy_requests(user, &doc, local->items, local->n) < 0) {
		cpk_pending_free(&doc);
		return refuse(s, key, "too many requests with this host's own");
	}
	doc.fleet_revision = mod;
	if (cpk_pending_save(s->st, user, &doc, why, sizeof(why)) < 0)
		a = refuse(s, key, why);
	else
		cpk_audit(s->log, LOG_INFO, "fleet_synced", user, "action",
			  a == A_ADDED ? "added" : "updated", (const char *)NULL);
	cpk_pending_free(&doc);
	return a;
}

/*
 * pending/<user> at mod_revision mod: value (len bytes) when the caller
 * has it (a watch event), else read here (the listing saw that revision;
 * the read finds the newest).  A watch event older than the local copy is
 * history: this host's own flag mirrored a later revision meanwhile.
 */
static enum applied
apply_put(const struct cpk_fleet_sync *s, struct cpk_etcd *e, const char *key, int64_t mod,
	  const char *value, size_t len)
{
	struct cpk_pending local = { NULL, 0, 0 };
	struct cpk_etcd_kvs kvs = { 0 };
	const char *user = key_user(key);
	char why[CPK_ERR_LEN];
	enum applied a = A_NONE;
	int lockfd = -1;

	if (user == NULL)
		return refuse(s, key, "not pending/ and a valid user name");
	if (getpwnam(user) == NULL)
		return refuse(s, key, "no such user on this host");
	if ((lockfd = lock(s, user, why, sizeof(why))) < 0) {
		a = refuse(s, key, why);
		goto out;
	}
	if (cpk_pending_load(s->st, user, &local, why, sizeof(why)) < 0) {
		/* a corrupt local file is never written over (store.h) */
		a = refuse(s, key, why);
		goto out;
	}
	if (local.fleet_revision == mod || (value != NULL && local.fleet_revision > mod))
		goto out;
	if (value == NULL) {
		if (cpk_etcd_get(e, key, false, 0, &kvs, why, sizeof(why)) != CPK_ETCD_OK) {
			a = refuse(s, key, why);
			goto out;
		}
		if (kvs.n != 1)
			goto out;	/* gone meanwhile: its delete comes next */
		value = kvs.kv[0].value;
		len = kvs.kv[0].value_len;
		mod = kvs.kv[0].mod_revision;
		if (local.fleet_revision == mod)
			goto out;
	}
	a = store_doc(s, key, user, &local, value, len, mod);
out:
	cpk_etcd_kvs_free(&kvs);
	cpk_pending_free(&local);
	cpk_store_unlock(lockfd);
	return a;
}

/*
 * The host the fleet's history (untrusted) names as having completed
 * request id: its newest "completed" event under history/<user>/.
 */
static bool
completed_on(const struct cpk_etcd_kvs *hist, const char *id, char *host, size_t len)
{
	json_object *o, *v;
	bool found = false;
	size_t i;

	for (i = hist->n; i-- > 0 && !found;) {
		const struct cpk_etcd_kv *kv = &hist->kv[i];

		if (strlen(kv->value) != kv->value_len || (o = json_tokener_parse(kv->value)) == NULL)
			continue;
		if (json_object_object_get_ex(o, "event", &v) &&
		    strcmp(json_object_get_string(v) ?: "", "completed") == 0 &&
		    json_object_object_get_ex(o, "request", &v) &&
		    strcmp(json_object_get_string(v) ?: "", id) == 0 &&
		    json_object_object_get_ex(o, "host", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    cpk_host_name_valid(json_object_get_string(v)) &&
		    strlen(json_object_get_string(v)) < len) {
			snprintf(host, len, "%s", json_object_get_string(v));
			found = true;
		}
		json_object_put(o);
	}
	return found;
}

/*
 * Lock held: the local copy of a request the fleet no longer has goes.
 * Its history event says which host completed it when the fleet's
 * history tells (e may be NULL: it is not asked).
 */
static enum applied
remove_local(const struct cpk_fleet_sync *s, struct cpk_etcd *e, const char *user,
	     struct cpk_pending *local)
{
	struct cpk_pending none = { NULL, 0, 0 };
	struct cpk_etcd_kvs hist = { 0 };
	struct cpk_event ev;
	char why[CPK_ERR_LEN], sel[300], key[CPK_ETCD_MAX_KEY], host[256], detail[300];
	size_t i;

	if (cpk_pending_save(s->st, user, &none, why, sizeof(why)) < 0) {
		if (s->report != NULL)
			s->report(s->ctx, why);
		return A_ERROR;
	}
	/* unreadable: the events just cannot say which host it was */
	if (e != NULL && cpk_snprintf(key, sizeof(key), "history/%s/", user) == 0 &&
	    cpk_etcd_get(e, key, true, 0, &hist, why, sizeof(why)) != CPK_ETCD_OK)
		memset(&hist, 0, sizeof(hist));
	for (i = 0; i < local->n; i++) {
		memset(&ev, 0, sizeof(ev));
		cpk_selector_describe(&local->items[i], sel, sizeof(sel));
		ev.time = cpk_now();
		ev.event = "completed";
		ev.request = local->items[i].id;
		ev.actor = local->items[i].actor;
		ev.selector = sel;
		ev.detail = "removed from the fleet: completed or cancelled on another host";
		if (completed_on(&hist, local->items[i].id, host, sizeof(host))) {
			snprintf(detail, sizeof(detail), "completed on %s", host);
			ev.host = host;
			ev.detail = detail;
		}
		ev.deleted = ev.absent = ev.failed = ev.attempts = -1;
		if (cpk_history_append(s->st, user, &ev, why, sizeof(why)) < 0 && s->report != NULL)
			s->report(s->ctx, why);
		cpk_audit(s->log, LOG_NOTICE, "fleet_synced", user, "action", "removed",
			  "revocation", local->items[i].id, "host", ev.host, "detail", ev.detail,
			  (const char *)NULL);
	}
	cpk_etcd_kvs_free(&hist);
	return A_REMOVED;
}

/*
 * user's key was not in etcd at revision rev: drop its mirror if it is
 * older (a newer one was made by this host's own flag meanwhile), and
 * never a local-only file.
 */
static enum applied
apply_absent(const struct cpk_fleet_sync *s, struct cpk_etcd *e, const char *user, int64_t rev)
{
	struct cpk_pending local = { NULL, 0, 0 };
	char why[CPK_ERR_LEN];
	enum applied a = A_NONE;
	int lockfd;

	if ((lockfd = lock(s, user, why, sizeof(why))) < 0) {
		if (s->report != NULL)
			s->report(s->ctx, why);
		return A_ERROR;
	}
	/* a corrupt file (it does not parse) is the administrator's to resolve */
	if (cpk_pending_load(s->st, user, &local, why, sizeof(why)) == 0 &&
	    local.fleet_revision > 0 && local.fleet_revision < rev && local.n > 0)
		a = remove_local(s, e, user, &local);
	cpk_pending_free(&local);
	cpk_store_unlock(lockfd);
	return a;
}

/* state_dir/fleet-sync for -S; a failure is said, the sync goes on. */
static void
mark(const struct cpk_fleet_sync *s, int64_t rev, bool follow)
{
	char why[CPK_ERR_LEN];

	if (cpk_store_fleet_mark(s->st, rev, cpk_now(), follow, why, sizeof(why)) < 0 &&
	    s->report != NULL)
		s->report(s->ctx, why);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every local mirror whose user is not among the fleet's (sorted) goes. */
static int
remove_gone(const struct cpk_fleet_sync *s, struct cpk_etcd *e, char **fleet, size_t nfleet,
	    struct cpk_fleet_sync_stats *stats, char *err, size_t errlen)
{
	char **local = NULL;
	int n, i;

	if ((n = cpk_store_pending_users(s->st, &local, err, errlen)) < 0)
		return CPK_ETCD_ERROR;
	for (i = 0; i < n; i++)
		if (bsearch(&local[i], fleet, nfleet, sizeof(*fleet), cmp_str) == NULL)
			count(stats, apply_absent(s, e, local[i], stats->revision + 1));
	cpk_argv_free(local);
	return CPK_ETCD_OK;
}

int
cpk_fleet_sync_once(const struct cpk_fleet_sync *s, struct cpk_etcd *e,
		    struct cpk_fleet_sync_stats *stats, char *err, size_t errlen)
{
	struct cpk_etcd_kvs kvs = { 0 };
	char **users = NULL;
	const char *user;
	size_t i, n = 0;
	int rc;

	memset(stats, 0, sizeof(*stats));
	/*
	 * The outcomes this host queued while etcd was away go first: a mirror
	 * taken before them would bring back a request already carried out
	 * here.  One that is still queued stops the sync (nothing is lost:
	 * the next sync tries again).
	 */
	rc = cpk_fleet_outbox_flush(e, s->st, NULL, s->log, NULL, err, errlen);
	if (rc != 0) {
		if (rc > 0)
			snprintf(err, errlen, "%d queued outcome(s) in %s/outbox could not be "
				 "written to etcd; not mirroring before they are", rc,
				 cpk_store_path(s->st));
		return CPK_ETCD_ERROR;
	}
	if ((rc = cpk_etcd_get_keys(e, PREFIX, true, &kvs, err, errlen)) != CPK_ETCD_OK)
		return rc;
	stats->revision = kvs.revision;
	users = calloc(kvs.n + 1, sizeof(*users));
	if (users == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = CPK_ETCD_ERROR;
		goto out;
	}
	for (i = 0; i < kvs.n; i++) {
		/* a bad document still says its user is in the fleet */
		if ((user = key_user(kvs.kv[i].key)) != NULL)
			users[n++] = (char *)(uintptr_t)user;
		count(stats, apply_put(s, e, kvs.kv[i].key, kvs.kv[i].mod_revision, NULL, 0));
	}
	qsort(users, n, sizeof(*users), cmp_str);
	rc = remove_gone(s, e, users, n, stats, err, errlen);
	if (rc == CPK_ETCD_OK)
		mark(s, stats->revision, false);
out:
	free(users);
	cpk_etcd_kvs_free(&kvs);
	return rc;
}

/* ---- --follow ------------------------------------------------------------ */

struct follow {
	const struct cpk_fleet_sync *s;
	struct cpk_etcd *e;
	struct cpk_fleet_sync_stats *stats;
};

static int
on_event(void *arg, const struct cpk_etcd_event *ev)
{
	struct follow *f = arg;
	const char *user;

	if (ev->type == CPK_ETCD_EV_PUT)
		count(f->stats, apply_put(f->s, f->e, ev->kv->key, ev->kv->mod_revision,
					  ev->kv->value, ev->kv->value_len));
	else if ((user = key_user(ev->kv->key)) != NULL)
		count(f->stats, apply_absent(f->s, f->e, user, ev->kv->mod_revision));
	return *f->s->stop ? 1 : 0;
}

static void
pause_a_second(const struct cpk_fleet_sync *s)
{
	struct timespec ts = { 1, 0 };

	/* a signal ends it early, which is what --follow wants */
	if (!*s->stop)
		(void)nanosleep(&ts, NULL);
}

static void
say(const struct cpk_fleet_sync *s, const char *msg)
{
	if (s->report != NULL)
		s->report(s->ctx, msg);
}

/* Say a failure once a streak, not once a second. */
static void
say_down(const struct cpk_fleet_sync *s, bool *down, const char *msg)
{
	if (!*down)
		say(s, msg);
	*down = true;
}

static void
say_up(const struct cpk_fleet_sync *s, bool *down, int64_t rev)
{
	char msg[96];

	if (*down) {
		snprintf(msg, sizeof(msg), "etcd answers again; following from revision %lld",
			 (long long)rev + 1);
		say(s, msg);
	}
	*down = false;
}

/* A full listing after a compaction or an event the watch could not read. */
static int
resync(const struct cpk_fleet_sync *s, struct cpk_etcd *e, struct cpk_fleet_sync_stats *stats,
       int64_t *rev, bool *down)
{
	struct cpk_fleet_sync_stats again;
	char why[CPK_ERR_LEN], msg[CPK_ERR_LEN + 64];

	if (cpk_fleet_sync_once(s, e, &again, why, sizeof(why)) != CPK_ETCD_OK) {
		snprintf(msg, sizeof(msg), "sync: %s; trying again every second", why);
		say_down(s, down, msg);
		return -1;
	}
	stats->added += again.added;
	stats->updated += again.updated;
	stats->removed += again.removed;
	stats->errors += again.errors;
	*rev = again.revision;
	say_up(s, down, *rev);
	return 0;
}

int
cpk_fleet_follow(const struct cpk_fleet_sync *s, struct cpk_etcd *e,
		 struct cpk_fleet_sync_stats *stats, char *err, size_t errlen)
{
	/*
	 * The callbacks read etcd (a removed request's history) while the
	 * watch holds e's handle: they get one of their own (none: the
	 * history just cannot name the host).
	 */
	char why[CPK_ERR_LEN];
	struct cpk_etcd *reader = cpk_etcd_open(s->cfg, why, sizeof(why));
	struct follow f = { s, reader, stats };
	struct cpk_etcd_watch w;
	int64_t rev = stats->revision, failed_at = -1, marked_rev = -1, marked_at = 0;
	char msg[CPK_ERR_LEN + 64];
	bool full = false, down = false;
	int rc;

	(void)err;
	(void)errlen;
	while (!*s->stop) {
		if (full) {
			if (resync(s, e, stats, &rev, &down) < 0) {
				pause_a_second(s);
				continue;
			}
			full = false;
			failed_at = -1;
		}
		memset(&w, 0, sizeof(w));
		w.key = PREFIX;
		w.prefix = true;
		w.start_revision = rev + 1;
		w.max_seconds = WATCH_SLICE;
		w.stop = s->stop;
		w.cb = on_event;
		w.arg = &f;
		rc = cpk_etcd_watch(e, &w, why, sizeof(why));
		if (w.last_revision > rev) {
			rev = w.last_revision;
			say_up(s, &down, rev);
		}
		stats->revision = rev;
		if (rc == CPK_ETCD_OK) {
			say_up(s, &down, rev);
			/* etcd answered: the mirror is current; say so now and then */
			if (rev != marked_rev || cpk_now() - marked_at >= HEARTBEAT) {
				mark(s, rev, true);
				marked_rev = rev;
				marked_at = cpk_now();
			}
			continue;
		}
		if (rc == CPK_ETCD_COMPACTED || (rc == CPK_ETCD_ERROR && failed_at == rev)) {
			/* compacted, or the same event refused twice: list afresh */
			snprintf(msg, sizeof(msg), "%s; syncing afresh", why);
			say(s, msg);
			full = true;
			continue;
		}
		/* a stream that broke (etcd going away says so as an error too):
		 * resume where it stopped, on whichever endpoint answers */
		failed_at = rc == CPK_ETCD_ERROR ? rev : -1;
		snprintf(msg, sizeof(msg), "%s; resuming from revision %lld", why, (long long)rev + 1);
		say_down(s, &down, msg);
		pause_a_second(s);
	}
	cpk_etcd_close(reader);
	return CPK_ETCD_OK;
}
