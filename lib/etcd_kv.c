/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The key-value and lease calls: build the request, call, check the answer.
 * A listing of a prefix goes in pages, all read at the first page's
 * revision, so that it is one snapshot however many keys there are.
 */
#include "etcd_int.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_LEN	(CPK_ETCD_MAX_KEY * 4 + 1)

static int
add_int64(json_object *o, const char *field, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_object_object_add(o, field, json_object_new_string(buf));
}

static int
add_value(json_object *o, const char *value, size_t len)
{
	char *b64 = cpk_etcd__b64_encode(value, len);
	int rc;

	if (b64 == NULL)
		return -1;
	rc = json_object_object_add(o, "value", json_object_new_string(b64));
	free(b64);
	return rc;
}

/* Call, then the answer's header.revision, which every answer has. */
static int
call(struct cpk_etcd *e, const char *path, json_object *req, json_object **reply, int64_t *rev,
     const char *name, char *err, size_t errlen)
{
	int rc = cpk_etcd__call(e, path, req, reply, name, err, errlen);

	if (rc != CPK_ETCD_OK)
		return rc;
	if (cpk_etcd__revision(*reply, rev) < 0) {
		snprintf(err, errlen, "%s: etcd's answer has no valid header.revision", name);
		json_object_put(*reply);
		*reply = NULL;
		return CPK_ETCD_ERROR;
	}
	return CPK_ETCD_OK;
}

static json_object *
range_request(const struct cpk_etcd *e, const char *key, bool prefix, int64_t limit,
	      bool keys_only)
{
	json_object *req = json_object_new_object();

	if (req == NULL || cpk_etcd__add_key(e, req, key, prefix) < 0 ||
	    (limit > 0 && add_int64(req, "limit", limit) != 0) ||
	    (keys_only && json_object_object_add(req, "keys_only",
						 json_object_new_boolean(1)) != 0)) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

int
cpk_etcd__parse_range(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kvs *out,
	    char *err, size_t errlen)
{
	json_object *more;

	if (cpk_etcd__parse_kvs(e, o, out, err, errlen) < 0)
		return CPK_ETCD_ERROR;
	if (json_object_object_get_ex(o, "more", &more)) {
		if (!json_object_is_type(more, json_type_boolean)) {
			snprintf(err, errlen, "etcd answered 'more' that is not a boolean");
			return CPK_ETCD_ERROR;
		}
		out->more = out->more || json_object_get_boolean(more);
	}
	return CPK_ETCD_OK;
}

static int
range(struct cpk_etcd *e, const char *key, bool prefix, int64_t limit, bool keys_only,
      struct cpk_etcd_kvs *out, char *err, size_t errlen)
{
	json_object *req, *reply = NULL;
	char name[NAME_LEN];
	int rc = CPK_ETCD_ERROR;

	memset(out, 0, sizeof(*out));
	cpk_etcd__name(e, key, name, sizeof(name));
	if ((req = range_request(e, key, prefix, limit, keys_only)) == NULL) {
		snprintf(err, errlen, "%s: key too long, or out of memory", name);
		goto out;
	}
	if ((rc = call(e, "/v3/kv/range", req, &reply, &out->revision, name, err, errlen)) != 0)
		goto out;
	rc = cpk_etcd__parse_range(e, reply, out, err, errlen);
out:
	if (rc != CPK_ETCD_OK)
		cpk_etcd_kvs_free(out);
	json_object_put(req);
	json_object_put(reply);
	return rc;
}

/* ---- a listing in pages ------------------------------------------------- */

/* How often a listing starts again because etcd compacted under it. */
#define PAGE_RESTARTS	3

/*
 * The next page's request: the prefix's range_end, from the key after the
 * last one read (its full name + "\0"; "" on the first page), at rev.
 */
static json_object *
page_request(const struct cpk_etcd *e, const char *key, const char *after, int64_t rev,
	     bool keys_only)
{
	json_object *req = range_request(e, key, true, CPK_ETCD_PAGE, keys_only);
	char full[CPK_ETCD_MAX_KEY + 200], *b64 = NULL;
	int n;

	if (req == NULL)
		return NULL;
	if (after != NULL) {
		n = snprintf(full, sizeof(full), "%s%s", e->prefix, after);
		if (n < 0 || (size_t)n + 1 >= sizeof(full) ||
		    (b64 = cpk_etcd__b64_encode(full, (size_t)n + 1)) == NULL ||
		    json_object_object_add(req, "key", json_object_new_string(b64)) != 0)
			goto bad;
		free(b64);
	}
	if (rev > 0 && add_int64(req, "revision", rev) != 0)
		goto bad;
	return req;
bad:
	free(b64);
	json_object_put(req);
	return NULL;
}

/* etcd's answer to a revision it no longer has (gRPC OutOfRange). */
static bool
compacted(const char *err)
{
	return strstr(err, "required revision has been compacted") != NULL;
}

/*
 * One page into out (appended).  *rev 0: the first page, whose revision
 * every later page reads at.  *done when etcd says nothing is left.
 */
static int
one_page(struct cpk_etcd *e, const char *key, bool keys_only, int64_t *rev,
	 struct cpk_etcd_kvs *out, bool *done, char *err, size_t errlen)
{
	const char *after = out->n > 0 ? out->kv[out->n - 1].key : NULL;
	json_object *req, *reply = NULL;
	char name[NAME_LEN];
	size_t before = out->n;
	int64_t at;
	int rc = CPK_ETCD_ERROR;

	cpk_etcd__name(e, key, name, sizeof(name));
	if ((req = page_request(e, key, after, *rev, keys_only)) == NULL) {
		snprintf(err, errlen, "%s: key too long, or out of memory", name);
		return CPK_ETCD_ERROR;
	}
	if ((rc = call(e, "/v3/kv/range", req, &reply, &at, name, err, errlen)) != 0)
		goto out;
	out->more = false;
	if ((rc = cpk_etcd__parse_range(e, reply, out, err, errlen)) != CPK_ETCD_OK)
		goto out;
	if (*rev == 0)
		*rev = out->revision = at;
	*done = !out->more;
	out->more = false;
	/* a page that says "more" must move on, or the listing never ends */
	if (!*done && (out->n == before ||
		       (after != NULL && strcmp(out->kv[out->n - 1].key, after) <= 0))) {
		snprintf(err, errlen, "%s: etcd answered a page that does not move on", name);
		rc = CPK_ETCD_ERROR;
	}
out:
	json_object_put(req);
	json_object_put(reply);
	return rc;
}

/*
 * Every key below key, page by page at one revision.  A compaction of
 * that revision between pages starts the listing again at a newer one.
 */
static int
range_paged(struct cpk_etcd *e, const char *key, bool keys_only, struct cpk_etcd_kvs *out,
	    char *err, size_t errlen)
{
	int64_t rev;
	bool done;
	int rc = CPK_ETCD_ERROR, restarts;

	for (restarts = 0; restarts <= PAGE_RESTARTS; restarts++) {
		memset(out, 0, sizeof(*out));
		rev = 0;
		done = false;
		while (!done) {
			rc = one_page(e, key, keys_only, &rev, out, &done, err, errlen);
			if (rc != CPK_ETCD_OK)
				break;
		}
		if (rc == CPK_ETCD_OK)
			return CPK_ETCD_OK;
		cpk_etcd_kvs_free(out);
		if (!compacted(err))
			return rc;
	}
	return rc;
}

int
cpk_etcd_get(struct cpk_etcd *e, const char *key, bool prefix, int64_t limit,
	     struct cpk_etcd_kvs *out, char *err, size_t errlen)
{
	if (prefix && limit == 0)
		return range_paged(e, key, false, out, err, errlen);
	return range(e, key, prefix, limit, false, out, err, errlen);
}

int
cpk_etcd_get_keys(struct cpk_etcd *e, const char *key, bool prefix, struct cpk_etcd_kvs *out,
		  char *err, size_t errlen)
{
	if (prefix)
		return range_paged(e, key, true, out, err, errlen);
	return range(e, key, prefix, 0, true, out, err, errlen);
}

static json_object *
put_request(const struct cpk_etcd *e, const char *key, const char *value, size_t len, int64_t lease)
{
	json_object *req = json_object_new_object();

	if (req == NULL || cpk_etcd__add_key(e, req, key, false) < 0 ||
	    add_value(req, value, len) != 0 || (lease != 0 && add_int64(req, "lease", lease) != 0)) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

int
cpk_etcd_put(struct cpk_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
	     int64_t *revision, char *err, size_t errlen)
{
	json_object *req, *reply = NULL;
	char name[NAME_LEN];
	int64_t rev = 0;
	int rc = CPK_ETCD_ERROR;

	cpk_etcd__name(e, key, name, sizeof(name));
	if (len > CPK_ETCD_MAX_VALUE || (req = put_request(e, key, value, len, lease)) == NULL) {
		snprintf(err, errlen, "%s: key or value too long, or out of memory", name);
		return CPK_ETCD_ERROR;
	}
	rc = call(e, "/v3/kv/put", req, &reply, &rev, name, err, errlen);
	if (revision != NULL)
		*revision = rev;
	json_object_put(req);
	json_object_put(reply);
	return rc;
}

int
cpk_etcd_delete(struct cpk_etcd *e, const char *key, bool prefix, int64_t *deleted,
		char *err, size_t errlen)
{
	json_object *req, *reply = NULL;
	char name[NAME_LEN];
	int64_t rev, n = 0;
	int rc = CPK_ETCD_ERROR;

	cpk_etcd__name(e, key, name, sizeof(name));
	if ((req = range_request(e, key, prefix, 0, false)) == NULL) {
		snprintf(err, errlen, "%s: key too long, or out of memory", name);
		return CPK_ETCD_ERROR;
	}
	if ((rc = call(e, "/v3/kv/deleterange", req, &reply, &rev, name, err, errlen)) != 0)
		goto out;
	if (cpk_etcd__int64(reply, "deleted", &n) < 0 || n < 0) {
		snprintf(err, errlen, "%s: etcd answered a 'deleted' that is not a count", name);
		rc = CPK_ETCD_ERROR;
	}
out:
	if (deleted != NULL)
		*deleted = n;
	json_object_put(req);
	json_object_put(reply);
	return rc;
}

/* ---- txn ---------------------------------------------------------------- */

static json_object *
txn_compare(const struct cpk_etcd *e, const struct cpk_etcd_cmp *c)
{
	json_object *o = json_object_new_object();
	bool create = c->target == CPK_ETCD_CREATE_REVISION;

	if (o == NULL || cpk_etcd__add_key(e, o, c->key, false) < 0 ||
	    json_object_object_add(o, "result", json_object_new_string("EQUAL")) != 0 ||
	    json_object_object_add(o, "target", json_object_new_string(create ? "CREATE" : "MOD")) != 0 ||
	    add_int64(o, create ? "create_revision" : "mod_revision", c->revision) != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *txn_request(const struct cpk_etcd *e, const struct cpk_etcd_txn *t);

static json_object *
txn_op(const struct cpk_etcd *e, const struct cpk_etcd_op *op)
{
	json_object *o = json_object_new_object(), *inner = NULL;
	const char *field = "request_range";

	if (o == NULL)
		return NULL;
	switch (op->type) {
	case CPK_ETCD_PUT:
		field = "request_put";
		inner = put_request(e, op->key, op->value, op->value_len, op->lease);
		break;
	case CPK_ETCD_DELETE:
		field = "request_delete_range";
		inner = range_request(e, op->key, false, 0, false);
		break;
	case CPK_ETCD_GET:
		inner = range_request(e, op->key, false, 0, false);
		break;
	case CPK_ETCD_TXN:
		field = "request_txn";
		inner = op->txn != NULL ? txn_request(e, op->txn) : NULL;
		break;
	}
	if (inner == NULL || json_object_object_add(o, field, inner) != 0) {
		json_object_put(inner);
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int
add_array(json_object *req, const char *field, size_t n, json_object *(*make)(const struct cpk_etcd *,
	  const void *), const struct cpk_etcd *e, const void *items, size_t size)
{
	json_object *arr, *item;
	size_t i;

	if (n == 0)
		return 0;
	if ((arr = json_object_new_array()) == NULL || json_object_object_add(req, field, arr) != 0) {
		json_object_put(arr);
		return -1;
	}
	for (i = 0; i < n; i++) {
		item = make(e, (const char *)items + i * size);
		if (item == NULL || json_object_array_add(arr, item) != 0) {
			json_object_put(item);
			return -1;
		}
	}
	return 0;
}

static json_object *
make_cmp(const struct cpk_etcd *e, const void *p)
{
	return txn_compare(e, p);
}

static json_object *
make_op(const struct cpk_etcd *e, const void *p)
{
	return txn_op(e, p);
}

static json_object *
txn_request(const struct cpk_etcd *e, const struct cpk_etcd_txn *t)
{
	json_object *req = json_object_new_object();

	if (req == NULL ||
	    add_array(req, "compare", t->ncmp, make_cmp, e, t->cmp, sizeof(*t->cmp)) < 0 ||
	    add_array(req, "success", t->nsuccess, make_op, e, t->success, sizeof(*t->success)) < 0 ||
	    add_array(req, "failure", t->nfailure, make_op, e, t->failure, sizeof(*t->failure)) < 0) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

int
cpk_etcd__parse_txn(const struct cpk_etcd *e, json_object *reply, struct cpk_etcd_txn_result *r,
	  const char *name, char *err, size_t errlen)
{
	json_object *ok = NULL, *resps = NULL, *item, *range;
	size_t i, n;

	if (json_object_object_get_ex(reply, "succeeded", &ok) &&
	    !json_object_is_type(ok, json_type_boolean)) {
		snprintf(err, errlen, "%s: etcd answered 'succeeded' that is not a boolean", name);
		return CPK_ETCD_ERROR;
	}
	r->succeeded = ok != NULL && json_object_get_boolean(ok);
	if (!json_object_object_get_ex(reply, "responses", &resps) || resps == NULL)
		return CPK_ETCD_OK;
	if (!json_object_is_type(resps, json_type_array)) {
		snprintf(err, errlen, "%s: etcd answered 'responses' that is not an array", name);
		return CPK_ETCD_ERROR;
	}
	n = json_object_array_length(resps);
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(resps, i);
		if (!json_object_is_type(item, json_type_object)) {
			snprintf(err, errlen, "%s: etcd answered a txn response that is not an object",
				 name);
			return CPK_ETCD_ERROR;
		}
		if (json_object_object_get_ex(item, "response_range", &range) &&
		    cpk_etcd__parse_range(e, range, &r->kvs, err, errlen) != CPK_ETCD_OK)
			return CPK_ETCD_ERROR;
	}
	return CPK_ETCD_OK;
}

int
cpk_etcd_txn(struct cpk_etcd *e, const struct cpk_etcd_txn *t, struct cpk_etcd_txn_result *r,
	     char *err, size_t errlen)
{
	json_object *req, *reply = NULL;
	char name[NAME_LEN];
	int rc = CPK_ETCD_ERROR;

	memset(r, 0, sizeof(*r));
	cpk_etcd__name(e, t->ncmp > 0 ? t->cmp[0].key :
		       t->nsuccess > 0 && t->success[0].key != NULL ? t->success[0].key : "",
		       name, sizeof(name));
	if ((req = txn_request(e, t)) == NULL) {
		snprintf(err, errlen, "%s: a key or value too long, or out of memory", name);
		return CPK_ETCD_ERROR;
	}
	if ((rc = call(e, "/v3/kv/txn", req, &reply, &r->revision, name, err, errlen)) != 0)
		goto out;
	rc = cpk_etcd__parse_txn(e, reply, r, name, err, errlen);
	r->kvs.revision = r->revision;
out:
	if (rc != CPK_ETCD_OK)
		cpk_etcd_txn_result_free(r);
	json_object_put(req);
	json_object_put(reply);
	return rc;
}

/* ---- leases ------------------------------------------------------------- */

int
cpk_etcd_lease_grant(struct cpk_etcd *e, int64_t ttl, int64_t *id, char *err, size_t errlen)
{
	json_object *req = json_object_new_object(), *reply = NULL;
	int64_t rev, granted = 0;
	int rc = CPK_ETCD_ERROR;

	*id = 0;
	if (req == NULL || add_int64(req, "TTL", ttl) != 0) {
		snprintf(err, errlen, "lease grant: out of memory");
		goto out;
	}
	if ((rc = call(e, "/v3/lease/grant", req, &reply, &rev, "lease grant", err, errlen)) != 0)
		goto out;
	if (cpk_etcd__int64(reply, "ID", id) < 0 || *id == 0 ||
	    cpk_etcd__int64(reply, "TTL", &granted) < 0 || granted < ttl) {
		snprintf(err, errlen, "lease grant: etcd answered no lease ID, or a TTL under %" PRId64 " s",
			 ttl);
		*id = 0;
		rc = CPK_ETCD_ERROR;
	}
out:
	json_object_put(req);
	json_object_put(reply);
	return rc;
}

int
cpk_etcd_lease_revoke(struct cpk_etcd *e, int64_t id, char *err, size_t errlen)
{
	json_object *req = json_object_new_object(), *reply = NULL;
	int64_t rev;
	int rc = CPK_ETCD_ERROR;

	if (req == NULL || add_int64(req, "ID", id) != 0) {
		snprintf(err, errlen, "lease revoke: out of memory");
		goto out;
	}
	rc = call(e, "/v3/lease/revoke", req, &reply, &rev, "lease revoke", err, errlen);
out:
	json_object_put(req);
	json_object_put(reply);
	return rc;
}
