/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * fleet_publish.c - an administrator's change to pending/<user> in etcd:
 * change it and write it back in one transaction that compares its
 * mod_revision (create_revision 0 when it was absent), so that two
 * administrators flagging the same user at once both land.  The first
 * try assumes the key absent and needs no read: a txn whose failure
 * branch reads the key, so that a present or changed key costs one more
 * compare-and-swap round, never a separate read.
 */
#include "fleet_publish.h"
#include "etcd_int.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_KEY_LEN	320

int
cpk_fleet_pending_key(const char *user, char *key, size_t len)
{
	if (!cpk_user_name_valid(user) || cpk_snprintf(key, len, "pending/%s", user) < 0)
		return -1;
	return 0;
}

static bool
has_request(const struct cpk_pending *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->items[i].id, id) == 0)
			return true;
	return false;
}

/*
 * Deep copies through the document's own renderer and parser: one place
 * knows every field of a request.
 */
int
cpk_fleet_copy_requests(const char *user, struct cpk_pending *p,
			const struct cpk_request *items, size_t n)
{
	struct cpk_pending src = { (struct cpk_request *)(uintptr_t)items, n, 0 }, copy;
	char *text;
	size_t i;
	int rc = -1;

	if (n == 0)
		return 0;
	if ((text = cpk_pending_render(user, &src, false)) == NULL)
		return -1;
	if (cpk_store_parse_pending(text, strlen(text), user, &copy) < 0)
		goto out;
	for (i = 0; i < copy.n; i++) {
		if (has_request(p, copy.items[i].id))
			continue;
		if (cpk_pending_add(p, &copy.items[i]) < 0)
			goto out;
	}
	rc = 0;
out:
	cpk_pending_free(&copy);
	free(text);
	return rc;
}

/* The fleet's document in kvs (as read; none: absent) into *p and *mod. */
static int
parse_doc(struct cpk_etcd *e, const char *user, const char *key, const struct cpk_etcd_kvs *kvs,
	  struct cpk_pending *p, int64_t *mod, char *err, size_t errlen)
{
	char shown[PENDING_KEY_LEN * 4 + CPK_ETCD_MAX_KEY * 4];

	memset(p, 0, sizeof(*p));
	*mod = 0;
	if (kvs->n != 1)
		return CPK_ETCD_OK;
	*mod = kvs->kv[0].mod_revision;
	if (kvs->kv[0].value_len != strlen(kvs->kv[0].value) ||
	    cpk_store_parse_pending(kvs->kv[0].value, kvs->kv[0].value_len, user, p) < 0) {
		cpk_etcd__name(e, key, shown, sizeof(shown));
		snprintf(err, errlen, "etcd key %s does not hold a pending document; "
			 "nothing changed: fix or delete it in etcd",
			 shown);
		return CPK_ETCD_ERROR;
	}
	p->fleet_revision = 0;	/* only the local copy stores one */
	return CPK_ETCD_OK;
}

/* The fleet's document now: *p (empty when absent) and its mod_revision. */
static int
read_doc(struct cpk_etcd *e, const char *user, const char *key, struct cpk_pending *p,
	 int64_t *mod, char *err, size_t errlen)
{
	struct cpk_etcd_kvs kvs = { 0 };
	int rc;

	memset(p, 0, sizeof(*p));
	*mod = 0;
	if ((rc = cpk_etcd_get(e, key, false, 0, &kvs, err, errlen)) != CPK_ETCD_OK)
		return rc;
	rc = parse_doc(e, user, key, &kvs, p, mod, err, errlen);
	cpk_etcd_kvs_free(&kvs);
	return rc;
}

/*
 * put (or delete, when p is empty) if key is still at revision mod; else
 * read it in the same txn, for the next try.
 */
static int
write_doc(struct cpk_etcd *e, const char *user, const char *key, const struct cpk_pending *p,
	  int64_t mod, struct cpk_etcd_txn_result *r, char *err, size_t errlen)
{
	struct cpk_etcd_cmp cmp = { key, mod == 0 ? CPK_ETCD_CREATE_REVISION :
				    CPK_ETCD_MOD_REVISION, mod };
	struct cpk_etcd_op op = { p->n == 0 ? CPK_ETCD_DELETE : CPK_ETCD_PUT, key, NULL, 0, 0, NULL };
	struct cpk_etcd_op get = { CPK_ETCD_GET, key, NULL, 0, 0, NULL };
	struct cpk_etcd_txn t = { &cmp, 1, &op, 1, &get, 1 };
	char *text = NULL;
	int rc;

	if (p->n > 0) {
		if ((text = cpk_pending_render(user, p, false)) == NULL) {
			snprintf(err, errlen, "%s: out of memory", key);
			return CPK_ETCD_ERROR;
		}
		if (strlen(text) > CPK_ETCD_MAX_VALUE) {
			snprintf(err, errlen, "%s: the document would be %zu bytes, more than "
				 "the %d a host accepts; carry out or cancel the pending requests "
				 "first", key, strlen(text), CPK_ETCD_MAX_VALUE);
			free(text);
			return CPK_ETCD_ERROR;
		}
		op.value = text;
		op.value_len = strlen(text);
	}
	rc = cpk_etcd_txn(e, &t, r, err, errlen);
	free(text);
	return rc;
}

/*
 * fn's change to the document once more: on the first try to "absent" (a
 * flag is most often the user's first, and a wrong guess costs nothing:
 * the compare fails and brings the document along), after that to the
 * document the failed compare read.  A change fn refuses on the guess is
 * tried again on the document read for it.
 */
static int
change(struct cpk_etcd *e, const char *user, const char *key, cpk_fleet_change_fn fn, void *ctx,
       bool guessed, struct cpk_pending *p, int64_t *mod, char *err, size_t errlen)
{
	int rc;

	if (fn(ctx, p, err, errlen) == 0)
		return CPK_ETCD_OK;
	if (!guessed)
		return CPK_ETCD_ERROR;
	cpk_pending_free(p);
	if ((rc = read_doc(e, user, key, p, mod, err, errlen)) != CPK_ETCD_OK)
		return rc;
	return fn(ctx, p, err, errlen) == 0 ? CPK_ETCD_OK : CPK_ETCD_ERROR;
}

int
cpk_fleet_publish(struct cpk_etcd *e, const char *user, cpk_fleet_change_fn fn, void *ctx,
		  struct cpk_pending *after, char *err, size_t errlen)
{
	struct cpk_etcd_txn_result r = { 0 };
	char key[PENDING_KEY_LEN];
	int64_t mod = 0;
	int rc = CPK_ETCD_ERROR, tries;

	memset(after, 0, sizeof(*after));
	if (cpk_fleet_pending_key(user, key, sizeof(key)) < 0) {
		snprintf(err, errlen, "fleet: invalid user name");
		return CPK_ETCD_ERROR;
	}
	for (tries = 0; tries < CPK_FLEET_PUBLISH_TRIES; tries++) {
		if ((rc = change(e, user, key, fn, ctx, tries == 0, after, &mod,
				 err, errlen)) != CPK_ETCD_OK)
			goto out;
		rc = write_doc(e, user, key, after, mod, &r, err, errlen);
		if (rc != CPK_ETCD_OK)
			goto out;
		if (r.succeeded) {
			after->fleet_revision = r.revision;
			cpk_etcd_txn_result_free(&r);
			return CPK_ETCD_OK;
		}
		/* changed meanwhile (or not absent): the failure branch read it */
		cpk_pending_free(after);
		rc = parse_doc(e, user, key, &r.kvs, after, &mod, err, errlen);
		cpk_etcd_txn_result_free(&r);
		if (rc != CPK_ETCD_OK)
			goto out;
	}
	snprintf(err, errlen, "%s changed under us %d times in a row; nothing changed, try again",
		 key, CPK_FLEET_PUBLISH_TRIES);
	rc = CPK_ETCD_ERROR;
out:
	cpk_etcd_txn_result_free(&r);
	cpk_pending_free(after);
	return rc;
}
