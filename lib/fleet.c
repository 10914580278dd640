/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The fleet's per-user claim in etcd: lease, then one txn that creates
 * claims/<user> only if absent and otherwise reads who holds it.
 */
#include "fleet.h"
#include "util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLAIM_KEY_LEN	320

int64_t
cpk_fleet_claim_ttl(unsigned int deadline_s)
{
	return (int64_t)deadline_s + CPK_FLEET_CLAIM_MARGIN;
}

static int
claim_key(const char *user, char *key, size_t len, char *err, size_t errlen)
{
	char shown[256];

	if (!cpk_user_name_valid(user) || cpk_snprintf(key, len, "claims/%s", user) < 0) {
		snprintf(err, errlen, "claim: invalid user name '%s'",
			 cpk_printable(shown, sizeof(shown), user));
		return -1;
	}
	return 0;
}

/* {"host": ..., "pid": ..., "since": ...}; NULL on ENOMEM. */
static char *
claim_value(const char *host)
{
	json_object *o = json_object_new_object();
	char *s = NULL;

	if (o == NULL ||
	    json_object_object_add(o, "host", json_object_new_string(host)) != 0 ||
	    json_object_object_add(o, "pid", json_object_new_int64((int64_t)getpid())) != 0 ||
	    json_object_object_add(o, "since", json_object_new_int64(cpk_now())) != 0)
		goto out;
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(o);
	return s;
}

/* The holder's host from its claim's value: untrusted, so checked. */
static void
holder_name(const struct cpk_etcd_kvs *kvs, char *holder, size_t len)
{
	json_object *o = NULL, *h;
	const char *host;

	snprintf(holder, len, "unknown");
	if (kvs->n != 1 || kvs->kv[0].value_len != strlen(kvs->kv[0].value))
		return;
	if ((o = json_tokener_parse(kvs->kv[0].value)) == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	if (!json_object_object_get_ex(o, "host", &h) || !json_object_is_type(h, json_type_string))
		goto out;
	host = json_object_get_string(h);
	if (cpk_host_name_valid(host))
		snprintf(holder, len, "%s", host);
out:
	json_object_put(o);
}

/* The claim; with also, that key read in the same txn when it succeeds. */
static int
claim_txn(struct cpk_etcd *e, const char *key, const char *value, int64_t lease,
	  const char *also, struct cpk_etcd_txn_result *r, char *err, size_t errlen)
{
	struct cpk_etcd_cmp cmp = { key, CPK_ETCD_CREATE_REVISION, 0 };
	struct cpk_etcd_op put[2] = { { CPK_ETCD_PUT, key, value, strlen(value), lease, NULL },
				      { CPK_ETCD_GET, also, NULL, 0, 0, NULL } };
	struct cpk_etcd_op get = { CPK_ETCD_GET, key, NULL, 0, 0, NULL };
	struct cpk_etcd_txn t = { &cmp, 1, put, also != NULL ? 2 : 1, &get, 1 };

	return cpk_etcd_txn(e, &t, r, err, errlen);
}

int
cpk_fleet_claim(struct cpk_etcd *e, const char *host, const char *user, int64_t ttl,
		struct cpk_fleet_claim *c, char *holder, size_t holderlen, char *err, size_t errlen)
{
	return cpk_fleet_claim_read(e, host, user, ttl, NULL, NULL, c, holder, holderlen,
				    err, errlen);
}

int
cpk_fleet_claim_read(struct cpk_etcd *e, const char *host, const char *user, int64_t ttl,
		     const char *also, struct cpk_etcd_kvs *found, struct cpk_fleet_claim *c,
		     char *holder, size_t holderlen, char *err, size_t errlen)
{
	struct cpk_etcd_txn_result r = { 0 };
	char key[CLAIM_KEY_LEN], ignored[CPK_ERR_LEN], *value = NULL;
	int64_t lease = 0;
	int rc = CPK_ETCD_ERROR;

	memset(c, 0, sizeof(*c));
	if (found != NULL)
		memset(found, 0, sizeof(*found));
	if (holderlen > 0)
		holder[0] = '\0';
	if (claim_key(user, key, sizeof(key), err, errlen) < 0)
		return CPK_ETCD_ERROR;
	if (!cpk_host_name_valid(host) || (value = claim_value(host)) == NULL) {
		snprintf(err, errlen, "claim %s: no usable host name, or out of memory", key);
		return CPK_ETCD_ERROR;
	}
	if ((rc = cpk_etcd_lease_grant(e, ttl, &lease, err, errlen)) != CPK_ETCD_OK)
		goto out;
	if ((rc = claim_txn(e, key, value, lease, also, &r, err, errlen)) != CPK_ETCD_OK)
		goto out;
	if (r.succeeded) {
		c->lease = lease;
		c->revision = r.revision;
		lease = 0;
		rc = CPK_FLEET_CLAIMED;
		if (found != NULL) {
			*found = r.kvs;
			memset(&r.kvs, 0, sizeof(r.kvs));
		}
	} else {
		holder_name(&r.kvs, holder, holderlen);
		rc = CPK_FLEET_HELD;
	}
out:
	/* a lease we did not bind would only expire: give it back now */
	if (lease != 0)
		(void)cpk_etcd_lease_revoke(e, lease, ignored, sizeof(ignored));
	cpk_etcd_txn_result_free(&r);
	free(value);
	return rc;
}

int
cpk_fleet_release(struct cpk_etcd *e, struct cpk_fleet_claim *c, char *err, size_t errlen)
{
	int rc = CPK_ETCD_OK;

	if (c->lease != 0)
		rc = cpk_etcd_lease_revoke(e, c->lease, err, errlen);
	memset(c, 0, sizeof(*c));
	return rc;
}
