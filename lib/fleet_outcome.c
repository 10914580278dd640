/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * A run's outcome into etcd (fleet_outcome.h): the one txn, the merge
 * when the fleet's document moved on meanwhile, and the outbox that keeps
 * an outcome etcd could not take until a flush replays it.
 */
#include "fleet_outcome.h"
#include "replace.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define KEY_LEN		320
#define MAX_TRIES	5	/* a document changed under us this often: queue */
#define MAX_QUEUED	1000	/* outbox files looked at in one flush */

void
cpk_fleet_outcome_free(struct cpk_fleet_outcome *o)
{
	size_t i;

	free(o->user);
	for (i = 0; i < o->n_completed; i++)
		free(o->completed[i]);
	free(o->completed);
	for (i = 0; i < o->n_deleted; i++)
		free(o->deleted[i]);
	free(o->deleted);
	for (i = 0; i < o->n_hist; i++) {
		free(o->hist[i].key);
		free(o->hist[i].value);
	}
	free(o->hist);
	memset(o, 0, sizeof(*o));
}

static bool
listed(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* ---- the merge -------------------------------------------------------- */

/*
 * The fleet's document kv with our outcome applied: completed requests
 * out, deleted ids out of every request, the rest (new requests, new ids)
 * kept.  *doc NULL: nothing left.  -1: kv does not parse (or ENOMEM).
 */
static int
merge(const struct cpk_fleet_outcome *o, const struct cpk_etcd_kv *kv, char **doc)
{
	struct cpk_pending p = { 0 };
	size_t i, j;
	int rc = -1;

	*doc = NULL;
	if (cpk_store_parse_pending(kv->value, kv->value_len, o->user, &p) < 0)
		return -1;
	i = 0;
	while (i < p.n) {
		struct cpk_request *q = &p.items[i];

		if (listed(o->completed, o->n_completed, q->id)) {
			cpk_pending_remove(&p, i);
			continue;
		}
		j = 0;
		while (j < q->n_ids) {
			if (listed(o->deleted, o->n_deleted, q->ids[j]))
				cpk_request_drop_id(q, j);
			else
				j++;
		}
		i++;
	}
	p.fleet_revision = 0;
	if (p.n > 0 && (*doc = cpk_pending_render(o->user, &p, false)) == NULL)
		goto out;
	rc = 0;
out:
	cpk_pending_free(&p);
	return rc;
}

/* ---- the txn ---------------------------------------------------------- */

/*
 * compare mod_revision(pending/<user>) == base; success: doc put (absent:
 * nothing, doc NULL and !absent: delete), every history put and our claim
 * deleted if it still is ours; failure: read the document again.
 */
static int
outcome_txn(struct cpk_etcd *e, const char *key, int64_t base, const char *doc, bool absent,
	    const struct cpk_fleet_outcome *o, struct cpk_etcd_txn_result *r,
	    char *err, size_t errlen)
{
	struct cpk_etcd_cmp cmp = { key, CPK_ETCD_MOD_REVISION, base };
	struct cpk_etcd_op get = { CPK_ETCD_GET, key, NULL, 0, 0, NULL };
	char claim[KEY_LEN];
	struct cpk_etcd_cmp ours = { claim, CPK_ETCD_CREATE_REVISION, o->claim_revision };
	struct cpk_etcd_op drop = { CPK_ETCD_DELETE, claim, NULL, 0, 0, NULL };
	struct cpk_etcd_txn release = { &ours, 1, &drop, 1, NULL, 0 };
	struct cpk_etcd_op *ops;
	struct cpk_etcd_txn t;
	size_t n = 0, i;
	int rc;

	if ((ops = calloc(o->n_hist + 2, sizeof(*ops))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", key);
		return CPK_ETCD_ERROR;
	}
	if (doc != NULL)
		ops[n++] = (struct cpk_etcd_op){ CPK_ETCD_PUT, key, doc, strlen(doc), 0, NULL };
	else if (!absent)
		ops[n++] = (struct cpk_etcd_op){ CPK_ETCD_DELETE, key, NULL, 0, 0, NULL };
	for (i = 0; i < o->n_hist; i++)
		ops[n++] = (struct cpk_etcd_op){ CPK_ETCD_PUT, o->hist[i].key, o->hist[i].value,
						 strlen(o->hist[i].value), 0, NULL };
	if (o->claim_revision != 0 &&
	    cpk_snprintf(claim, sizeof(claim), "claims/%s", o->user) == 0)
		ops[n++] = (struct cpk_etcd_op){ CPK_ETCD_TXN, NULL, NULL, 0, 0, &release };
	t = (struct cpk_etcd_txn){ &cmp, 1, ops, n, &get, 1 };
	rc = cpk_etcd_txn(e, &t, r, err, errlen);
	free(ops);
	return rc;
}

/* What the next try writes, from the document as etcd holds it now. */
static int
next_try(const struct cpk_fleet_outcome *o, const char *key, const struct cpk_etcd_kvs *cur,
	 int64_t *base, char **merged, bool *absent, char *err, size_t errlen)
{
	free(*merged);
	*merged = NULL;
	*absent = cur->n == 0;
	*base = *absent ? 0 : cur->kv[0].mod_revision;
	if (*absent)
		return 0;	/* cancelled or done elsewhere: the history only */
	if (merge(o, &cur->kv[0], merged) < 0) {
		snprintf(err, errlen, "etcd key %s does not parse as a pending document; "
			 "left as it is, outcome queued", key);
		return -1;
	}
	return 0;
}

int
cpk_fleet_outcome_write(struct cpk_etcd *e, const struct cpk_fleet_outcome *o,
			bool have_local, const char *local_doc, int64_t *revision, char **mirror,
			char *err, size_t errlen)
{
	struct cpk_etcd_txn_result r = { 0 };
	struct cpk_etcd_kvs cur = { 0 };
	char key[KEY_LEN], *merged = NULL;
	const char *doc = local_doc;
	int64_t base = o->base_revision;
	bool absent = false;
	int rc, tries;

	*revision = 0;
	*mirror = NULL;
	if (!cpk_user_name_valid(o->user) ||
	    cpk_snprintf(key, sizeof(key), "pending/%s", o->user) < 0) {
		snprintf(err, errlen, "outcome: invalid user name");
		return CPK_ETCD_ERROR;
	}
	if (!have_local || base == 0) {
		/* nothing of ours to put as it is: start from the fleet's */
		if ((rc = cpk_etcd_get(e, key, false, 0, &cur, err, errlen)) != CPK_ETCD_OK)
			goto out;
		if (next_try(o, key, &cur, &base, &merged, &absent, err, errlen) < 0) {
			rc = CPK_ETCD_ERROR;
			goto out;
		}
		doc = merged;
	}
	for (tries = 0;; tries++) {
		if (tries == MAX_TRIES) {
			snprintf(err, errlen, "etcd key %s changed %d times during the outcome; "
				 "queued", key, MAX_TRIES);
			rc = CPK_ETCD_ERROR;
			goto out;
		}
		cpk_etcd_txn_result_free(&r);
		if ((rc = outcome_txn(e, key, base, doc, absent, o, &r, err, errlen)) != CPK_ETCD_OK)
			goto out;
		if (r.succeeded)
			break;
		cpk_etcd_kvs_free(&cur);
		cur = r.kvs;
		memset(&r.kvs, 0, sizeof(r.kvs));
		if (next_try(o, key, &cur, &base, &merged, &absent, err, errlen) < 0) {
			rc = CPK_ETCD_ERROR;
			goto out;
		}
		doc = merged;
	}
	*revision = r.revision;
	if (doc != NULL && (*mirror = strdup(doc)) == NULL) {
		/* written; the local copy just stays behind until the next sync */
		*revision = 0;
	}
	rc = CPK_ETCD_OK;
out:
	cpk_etcd_txn_result_free(&r);
	cpk_etcd_kvs_free(&cur);
	free(merged);
	return rc;
}

/* ---- the outbox: as JSON ---------------------------------------------- */

static json_object *
strv_json(char *const *v, size_t n)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (json_object_array_add(a, json_object_new_string(v[i])) != 0) {
			json_object_put(a);
			return NULL;
		}
	return a;
}

static char *
outcome_render(const struct cpk_fleet_outcome *o)
{
	json_object *doc = json_object_new_object(), *h = json_object_new_array(), *ev;
	char *s = NULL;
	size_t i;

	if (doc == NULL || h == NULL)
		goto out;
	for (i = 0; i < o->n_hist; i++) {
		if ((ev = json_object_new_object()) == NULL || json_object_array_add(h, ev) != 0 ||
		    json_object_object_add(ev, "key", json_object_new_string(o->hist[i].key)) != 0 ||
		    json_object_object_add(ev, "value", json_object_new_string(o->hist[i].value)) != 0)
			goto out;
	}
	if (json_object_object_add(doc, "version", json_object_new_int(1)) != 0 ||
	    json_object_object_add(doc, "user", json_object_new_string(o->user)) != 0 ||
	    json_object_object_add(doc, "base_revision", json_object_new_int64(o->base_revision)) != 0 ||
	    json_object_object_add(doc, "completed", strv_json(o->completed, o->n_completed)) != 0 ||
	    json_object_object_add(doc, "deleted", strv_json(o->deleted, o->n_deleted)) != 0)
		goto out;
	json_object_object_add(doc, "history", h);
	h = NULL;
	s = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(h);
	json_object_put(doc);
	return s;
}

static int
json_strv(json_object *doc, const char *name, char ***v, size_t *n)
{
	json_object *a, *s;
	size_t i, len;

	if (!json_object_object_get_ex(doc, name, &a) || !json_object_is_type(a, json_type_array) ||
	    (len = json_object_array_length(a)) > CPK_STORE_MAX_REQUESTS * CPK_STORE_MAX_IDS)
		return -1;
	for (i = 0; i < len; i++) {
		s = json_object_array_get_idx(a, i);
		if (!json_object_is_type(s, json_type_string) ||
		    cpk_strv_push(v, n, json_object_get_string(s)) < 0)
			return -1;
	}
	return 0;
}

static int
json_history(json_object *doc, const char *user, struct cpk_fleet_outcome *o)
{
	json_object *a, *ev, *k, *v;
	char prefix[KEY_LEN + 16];
	size_t i, len;

	snprintf(prefix, sizeof(prefix), "history/%s/", user);
	if (!json_object_object_get_ex(doc, "history", &a) || !json_object_is_type(a, json_type_array) ||
	    (len = json_object_array_length(a)) > 100000 ||
	    (len > 0 && (o->hist = calloc(len, sizeof(*o->hist))) == NULL))
		return -1;
	for (i = 0; i < len; i++) {
		ev = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(ev, "key", &k) || !json_object_is_type(k, json_type_string) ||
		    !json_object_object_get_ex(ev, "value", &v) || !json_object_is_type(v, json_type_string) ||
		    strncmp(json_object_get_string(k), prefix, strlen(prefix)) != 0 ||
		    strstr(json_object_get_string(k), "/../") != NULL)
			return -1;
		o->hist[i].key = strdup(json_object_get_string(k));
		o->hist[i].value = strdup(json_object_get_string(v));
		o->n_hist = i + 1;
		if (o->hist[i].key == NULL || o->hist[i].value == NULL)
			return -1;
	}
	return 0;
}

int
cpk_fleet_outcome_parse(const char *buf, const char *user, struct cpk_fleet_outcome *o)
{
	json_object *doc = json_tokener_parse(buf), *u, *b;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	if (doc == NULL || !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "user", &u) || !json_object_is_type(u, json_type_string) ||
	    strcmp(json_object_get_string(u), user) != 0 ||
	    !json_object_object_get_ex(doc, "base_revision", &b) || !json_object_is_type(b, json_type_int) ||
	    json_object_get_int64(b) < 0)
		goto out;
	o->user = strdup(user);
	o->base_revision = json_object_get_int64(b);
	if (o->user == NULL || json_strv(doc, "completed", &o->completed, &o->n_completed) < 0 ||
	    json_strv(doc, "deleted", &o->deleted, &o->n_deleted) < 0 ||
	    json_history(doc, user, o) < 0)
		goto out;
	rc = 0;
out:
	json_object_put(doc);
	if (rc < 0)
		cpk_fleet_outcome_free(o);
	return rc;
}

/* ---- the outbox: files ------------------------------------------------ */

int
cpk_fleet_outbox_queue(struct cpk_store *st, const struct cpk_fleet_outcome *o,
		       char *err, size_t errlen)
{
	struct cpk_replace how = { .tmp = NULL, .mode = 0600, .owner = geteuid(),
				   .max = CPK_STORE_MAX_FILE, .newline = true };
	struct timespec ts;
	char name[KEY_LEN], why[CPK_ERR_LEN], *text = NULL;
	int fd = -1, rc = -1;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (cpk_snprintf(name, sizeof(name), "%s.%010lld%09ld-%ld.json", o->user,
			 (long long)ts.tv_sec, ts.tv_nsec, (long)getpid()) < 0 ||
	    (text = outcome_render(o)) == NULL) {
		snprintf(err, errlen, "outbox: out of memory");
		goto out;
	}
	if ((fd = cpk_store_outbox(st, true, err, errlen)) < 0)
		goto out;
	if (cpk_replace_file(fd, name, text, strlen(text), &how, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s/outbox/%s: %s", cpk_store_path(st), name, why);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The user a queue file is for ("<user>.<unique>.json"), or false. */
static bool
queued_user(const char *name, char *user, size_t len)
{
	size_t n = strlen(name);
	const char *dot;

	if (name[0] == '.' || n < 6 || strcmp(name + n - 5, ".json") != 0)
		return false;
	for (dot = name + n - 6; dot > name && *dot != '.'; dot--)
		;
	if (dot == name || (size_t)(dot - name) >= len)
		return false;
	memcpy(user, name, (size_t)(dot - name));
	user[dot - name] = '\0';
	return cpk_user_name_valid(user);
}

static int
queued_files(int fd, const char *user, char ***names, size_t *n)
{
	char who[KEY_LEN];
	struct dirent *d;
	DIR *dir;
	int dfd = dup(fd);

	if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((d = readdir(dir)) != NULL && *n < MAX_QUEUED) {
		if (!queued_user(d->d_name, who, sizeof(who)) || (user != NULL && strcmp(who, user) != 0))
			continue;
		if (cpk_strv_push(names, n, d->d_name) < 0) {
			closedir(dir);
			return -1;
		}
	}
	closedir(dir);
	if (*n > 0)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return 0;
}

/* Read one queue file: ours (the owner we write as), regular, capped. */
static int
read_queued(int fd, const char *name, char **buf, char *err, size_t errlen)
{
	struct stat sb;
	size_t len;
	int f = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = -1;

	if (f < 0 || fstat(f, &sb) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "not a regular 0600 file of ours");
		goto out;
	}
	if (cpk_read_capped(f, CPK_STORE_MAX_FILE, buf, &len) < 0) {
		snprintf(err, errlen, "unreadable or larger than %d bytes", CPK_STORE_MAX_FILE);
		goto out;
	}
	rc = 0;
out:
	if (f >= 0)
		close(f);
	return rc;
}

/* 0: written and removed; 1: stays queued; -2: etcd unreachable. */
static int
flush_one(struct cpk_etcd *e, struct cpk_store *st, int fd, const char *name,
	  const struct cpk_log *log)
{
	struct cpk_fleet_outcome o;
	char user[KEY_LEN], why[CPK_ERR_LEN], *buf = NULL, *mirror = NULL;
	int64_t rev;
	int rc = 1, w;

	snprintf(why, sizeof(why), "not a queue file name");
	if (!queued_user(name, user, sizeof(user)) || read_queued(fd, name, &buf, why, sizeof(why)) < 0) {
		cpk_logmsg(log, LOG_ERR, "%s/outbox/%s: %s; left queued", cpk_store_path(st), name, why);
		goto out;
	}
	if (cpk_fleet_outcome_parse(buf, user, &o) < 0) {
		cpk_logmsg(log, LOG_ERR, "%s/outbox/%s: not a queued outcome; left as it is",
			   cpk_store_path(st), name);
		goto out;
	}
	w = cpk_fleet_outcome_write(e, &o, false, NULL, &rev, &mirror, why, sizeof(why));
	cpk_fleet_outcome_free(&o);
	if (w == CPK_ETCD_UNREACHABLE) {
		rc = -2;
		goto out;
	}
	if (w != CPK_ETCD_OK) {
		cpk_logmsg(log, LOG_ERR, "%s/outbox/%s: %s", cpk_store_path(st), name, why);
		goto out;
	}
	/* accepted: only now may the file go (a crash before: replayed, harmless) */
	if (unlinkat(fd, name, 0) < 0 && errno != ENOENT) {
		cpk_logmsg(log, LOG_ERR, "%s/outbox/%s: %s", cpk_store_path(st), name, strerror(errno));
		goto out;
	}
	fsync(fd);
	cpk_audit(log, LOG_NOTICE, "fleet_outcome_flushed", user, "file", name, (const char *)NULL);
	rc = 0;
out:
	free(mirror);
	free(buf);
	return rc;
}

int
cpk_fleet_outbox_flush(struct cpk_etcd *e, struct cpk_store *st, const char *user,
		       const struct cpk_log *log, unsigned int *flushed,
		       char *err, size_t errlen)
{
	char **names = NULL;
	size_t n = 0, i;
	int fd, left = 0, one;

	if (flushed != NULL)
		*flushed = 0;
	if ((fd = cpk_store_outbox(st, false, err, errlen)) < 0)
		return errno == ENOENT ? 0 : -1;
	if (queued_files(fd, user, &names, &n) < 0) {
		snprintf(err, errlen, "%s/outbox: %s", cpk_store_path(st), strerror(errno));
		close(fd);
		cpk_argv_free(names);
		return -1;
	}
	for (i = 0; i < n; i++) {
		one = flush_one(e, st, fd, names[i], log);
		if (one == 0 && flushed != NULL)
			(*flushed)++;
		if (one == -2) {
			/* no point asking an etcd that is away once per file */
			left += (int)(n - i);
			break;
		}
		if (one != 0)
			left++;
	}
	close(fd);
	cpk_argv_free(names);
	return left;
}
