/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/fleet.c's claim against the real etcd that etcd.test starts:
 * once per user fleet-wide, the holder named, released by lease revoke or
 * by the outcome's txn (only if still ours), expired with a dead host's
 * lease, hostile claims not trusted; lib/fleet_publish.c's flag in one
 * request when the user has nothing pending.
 * Environment as test_etcd.c's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "config.h"
#include "etcd_int.h"
#include "fleet.h"
#include "fleet_outcome.h"
#include "fleet_publish.h"
#include "store.h"
#include "fleetfix.h"

static struct cpk_etcd *
client(const char *prefix)
{
	return etcd_client(env("ETCD_ENDPOINTS"), prefix, env("ETCD_CA"), true);
}

static int
claim(struct cpk_etcd *e, const char *host, const char *user, int64_t ttl,
      struct cpk_fleet_claim *c, char *holder, size_t len)
{
	return cpk_fleet_claim(e, host, user, ttl, c, holder, len, err, sizeof(err));
}

START_TEST(claimed_once)
{
	struct cpk_etcd *e = client("/f-once/");
	struct cpk_fleet_claim a, b;
	struct cpk_etcd_kvs kvs;
	json_object *o, *v;
	char holder[80];

	ck_assert_msg(claim(e, "host-a", "alice", 60, &a, holder, sizeof(holder)) == CPK_FLEET_CLAIMED,
		      "%s", err);
	ck_assert_int_ne(a.lease, 0);
	ck_assert_msg(claim(e, "host-b", "alice", 60, &b, holder, sizeof(holder)) == CPK_FLEET_HELD,
		      "%s", err);
	ck_assert_str_eq(holder, "host-a");
	ck_assert_int_eq(b.lease, 0);

	/* the key: {host, pid, since}, bound to the claim's lease */
	ck_assert_int_eq(cpk_etcd_get(e, "claims/alice", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_int_eq(kvs.kv[0].lease, a.lease);
	ck_assert_int_eq(kvs.kv[0].create_revision, a.revision);
	o = json_tokener_parse(kvs.kv[0].value);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "host", &v));
	ck_assert_str_eq(json_object_get_string(v), "host-a");
	ck_assert(json_object_object_get_ex(o, "pid", &v));
	ck_assert_int_eq(json_object_get_int64(v), getpid());
	ck_assert(json_object_object_get_ex(o, "since", &v));
	ck_assert_int_gt(json_object_get_int64(v), 0);
	json_object_put(o);
	cpk_etcd_kvs_free(&kvs);

	/* released: the key goes with the lease, and the next host may claim */
	ck_assert_msg(cpk_fleet_release(e, &a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(a.lease, 0);
	ck_assert_int_eq(cpk_etcd_get(e, "claims/alice", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 0);
	cpk_etcd_kvs_free(&kvs);
	ck_assert_msg(claim(e, "host-b", "alice", 60, &b, holder, sizeof(holder)) == CPK_FLEET_CLAIMED,
		      "%s", err);
	ck_assert_msg(cpk_fleet_release(e, &b, err, sizeof(err)) == 0, "%s", err);
	/* releasing twice is harmless */
	ck_assert_int_eq(cpk_fleet_release(e, &b, err, sizeof(err)), 0);
	cpk_etcd_close(e);
}
END_TEST

/* A host that died holding the claim: its lease expires, the next takes over. */
START_TEST(dead_host_claim_expires)
{
	struct cpk_etcd *e = client("/f-expire/");
	struct cpk_fleet_claim a, b;
	struct cpk_etcd_watch w = { .key = "claims/bob", .max_seconds = 60, .cb = on_delete };
	char holder[80];

	ck_assert_msg(claim(e, "host-a", "bob", 3, &a, holder, sizeof(holder)) == CPK_FLEET_CLAIMED,
		      "%s", err);
	ck_assert_int_eq(claim(e, "host-b", "bob", 60, &b, holder, sizeof(holder)), CPK_FLEET_HELD);
	/* the event: etcd deletes the key when the lease runs out */
	w.start_revision = a.revision + 1;
	ck_assert_msg(cpk_etcd_watch(e, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(claim(e, "host-b", "bob", 60, &b, holder, sizeof(holder)) == CPK_FLEET_CLAIMED,
		      "%s", err);
	ck_assert_int_eq(cpk_fleet_release(e, &b, err, sizeof(err)), 0);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(hostile_claims)
{
	const char *values[] = { "garbage", "{\"host\":\"../x\"}", "{\"host\":7}", "[]",
				 "{\"host\":\"a\\u001b[31m\"}" };
	struct cpk_etcd *e = client("/f-hostile/");
	struct cpk_fleet_claim c;
	struct cpk_etcd_kvs kvs;
	char holder[80];
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ck_assert_int_eq(cpk_etcd_put(e, "claims/carol", values[i], strlen(values[i]), 0, NULL,
					      err, sizeof(err)), 0);
		/* a claim we cannot read is still a claim: nothing is deleted */
		ck_assert_msg(claim(e, "host-a", "carol", 60, &c, holder, sizeof(holder)) ==
			      CPK_FLEET_HELD, "%s: %s", values[i], err);
		ck_assert_str_eq(holder, "unknown");
	}
	/* a user name that is not one is refused before etcd is asked */
	ck_assert_int_eq(claim(e, "host-a", "../x", 60, &c, holder, sizeof(holder)), CPK_ETCD_ERROR);
	ck_assert_msg(strstr(err, "invalid user name '../x'") != NULL, "%s", err);
	ck_assert_int_eq(claim(e, "host-a", "a\033b", 60, &c, holder, sizeof(holder)), CPK_ETCD_ERROR);
	ck_assert_msg(strstr(err, "\\x1b") != NULL, "%s", err);
	ck_assert_int_eq(claim(e, "bad host", "dave", 60, &c, holder, sizeof(holder)), CPK_ETCD_ERROR);
	ck_assert_int_eq(cpk_etcd_get(e, "claims/", true, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);	/* carol's hostile one only */
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(unreachable)
{
	struct cpk_etcd *e = etcd_client(env("ETCD_DEAD"), "/f-dead/", env("ETCD_CA"), true);
	struct cpk_fleet_claim c;
	char holder[80];

	ck_assert_int_eq(claim(e, "host-a", "erin", 60, &c, holder, sizeof(holder)),
			 CPK_ETCD_UNREACHABLE);
	ck_assert_int_eq(c.lease, 0);
	ck_assert_int_eq(cpk_fleet_claim_ttl(10), 10 + CPK_FLEET_CLAIM_MARGIN);
	cpk_etcd_close(e);
}
END_TEST

/* ---- lib/fleet_publish.c: compare-and-swap of pending/<user> ------------- */

struct race {
	struct cpk_etcd *other;		/* a second administrator */
	int calls;
	int interfere;			/* calls on which the other writes first */
	char other_id[CPK_REQUEST_ID_LEN];
};

/* The other administrator flags too, between our read and our write. */
static void
other_flags(struct race *r)
{
	struct cpk_pending p = { NULL, 0, 0 };
	struct cpk_request q;
	char *text;

	ck_assert_int_eq(cpk_request_init(&q, CPK_SEL_ALL, "other"), 0);
	snprintf(r->other_id, sizeof(r->other_id), "%s", q.id);
	ck_assert_int_eq(cpk_pending_add(&p, &q), 0);
	text = cpk_pending_render("alice", &p, false);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(cpk_etcd_put(r->other, "pending/alice", text, strlen(text), 0, NULL,
				      err, sizeof(err)), 0);
	free(text);
	cpk_pending_free(&p);
}

static int
add_one(void *ctx, struct cpk_pending *p, char *e, size_t len)
{
	struct race *r = ctx;
	struct cpk_request q;

	(void)e;
	(void)len;
	if (++r->calls <= r->interfere)
		other_flags(r);
	ck_assert_int_eq(cpk_request_init(&q, CPK_SEL_ALL, "root"), 0);
	ck_assert_int_eq(cpk_pending_add(p, &q), 0);
	return 0;
}

static int
drop_all(void *ctx, struct cpk_pending *p, char *e, size_t len)
{
	(void)ctx;
	(void)e;
	(void)len;
	cpk_pending_free(p);
	return 0;
}

START_TEST(publish_compare_and_swap)
{
	struct cpk_etcd *e = client("/f-pub/");
	struct race r = { .other = client("/f-pub/"), .interfere = 1 };
	struct cpk_pending after, doc;
	struct cpk_etcd_kvs kvs;
	size_t i;
	bool found = false;

	/* absent, then created; the other administrator's write in between
	 * fails our compare, and the retry keeps both requests */
	ck_assert_msg(cpk_fleet_publish(e, "alice", add_one, &r, &after, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(r.calls, 2);
	ck_assert_uint_eq(after.n, 2);
	for (i = 0; i < after.n; i++)
		found = found || strcmp(after.items[i].id, r.other_id) == 0;
	ck_assert_msg(found, "the other administrator's request was lost");
	ck_assert_int_eq(cpk_etcd_get(e, "pending/alice", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_int_eq(kvs.kv[0].mod_revision, after.fleet_revision);
	ck_assert_ptr_null(strstr(kvs.kv[0].value, "fleet_revision"));
	ck_assert_int_eq(cpk_store_parse_pending(kvs.kv[0].value, kvs.kv[0].value_len, "alice",
						 &doc), 0);
	ck_assert_uint_eq(doc.n, 2);
	cpk_pending_free(&doc);
	cpk_etcd_kvs_free(&kvs);
	cpk_pending_free(&after);

	/* a key that changes under every attempt: given up, said so */
	r.calls = 0;
	r.interfere = CPK_FLEET_PUBLISH_TRIES;
	ck_assert_int_eq(cpk_fleet_publish(e, "alice", add_one, &r, &after, err, sizeof(err)),
			 CPK_ETCD_ERROR);
	ck_assert_msg(strstr(err, "changed under us") != NULL, "%s", err);
	ck_assert_uint_eq(after.n, 0);

	/* emptied: the key goes */
	ck_assert_msg(cpk_fleet_publish(e, "alice", drop_all, NULL, &after, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(cpk_etcd_get(e, "pending/alice", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 0);
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(r.other);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(publish_refuses_corrupt)
{
	const char *values[] = { "garbage", "{\"version\":1,\"user\":\"bob\",\"requests\":[]}",
				 "{\"version\":1,\"user\":\"alice\",\"requests\":[{}]}" };
	struct cpk_etcd *e = client("/f-pubbad/");
	struct race r = { 0 };
	struct cpk_pending after;
	struct cpk_etcd_kvs kvs;
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ck_assert_int_eq(cpk_etcd_put(e, "pending/alice", values[i], strlen(values[i]), 0,
					      NULL, err, sizeof(err)), 0);
		r.calls = 0;
		ck_assert_int_eq(cpk_fleet_publish(e, "alice", add_one, &r, &after, err,
						   sizeof(err)), CPK_ETCD_ERROR);
		ck_assert_msg(strstr(err, "/f-pubbad/pending/alice does not hold") != NULL, "%s", err);
		/* the first change is made to "absent", before anything is read */
		ck_assert_int_eq(r.calls, 1);
		/* never written over */
		ck_assert_int_eq(cpk_etcd_get(e, "pending/alice", false, 0, &kvs, err, sizeof(err)), 0);
		ck_assert_str_eq(kvs.kv[0].value, values[i]);
		cpk_etcd_kvs_free(&kvs);
	}
	ck_assert_int_eq(cpk_fleet_publish(e, "../x", add_one, &r, &after, err, sizeof(err)),
			 CPK_ETCD_ERROR);
	cpk_etcd_close(e);
}
END_TEST

/* Absent: one txn, no read; present: one more txn, still no separate read. */
START_TEST(publish_requests)
{
	struct cpk_etcd *e = client("/f-pubn/");
	struct race r = { 0 };
	struct cpk_pending after;
	unsigned long before;

	before = e->requests;
	ck_assert_msg(cpk_fleet_publish(e, "alice", add_one, &r, &after, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(e->requests - before, 1);
	ck_assert_uint_eq(after.n, 1);
	cpk_pending_free(&after);

	before = e->requests;
	ck_assert_msg(cpk_fleet_publish(e, "alice", add_one, &r, &after, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(e->requests - before, 2);
	ck_assert_uint_eq(after.n, 2);
	cpk_pending_free(&after);

	/* cancel: the guess "absent" is wrong, the document comes with the failed compare */
	before = e->requests;
	ck_assert_msg(cpk_fleet_publish(e, "alice", drop_all, NULL, &after, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(e->requests - before, 2);
	ck_assert_uint_eq(after.n, 0);
	cpk_etcd_close(e);
}
END_TEST

/* ---- lib/fleet_outcome.c: the outcome's txn releases the claim ---------- */

static void
outcome_for(struct cpk_fleet_outcome *o, const char *user, int64_t base, int64_t claim_rev)
{
	char key[128];

	memset(o, 0, sizeof(*o));
	o->user = strdup(user);
	o->base_revision = base;
	o->claim_revision = claim_rev;
	o->hist = calloc(1, sizeof(*o->hist));
	ck_assert_ptr_nonnull(o->hist);
	snprintf(key, sizeof(key), "history/%s/00000000000000000001.host-a.0", user);
	o->hist[0].key = strdup(key);
	o->hist[0].value = strdup("{\"event\":\"completed\"}");
	o->n_hist = 1;
}

static int64_t
put_doc(struct cpk_etcd *e, const char *user)
{
	struct cpk_pending p = { NULL, 0, 0 };
	struct cpk_request q;
	char key[128], *text;
	int64_t rev;

	ck_assert_int_eq(cpk_request_init(&q, CPK_SEL_ALL, "root"), 0);
	ck_assert_int_eq(cpk_pending_add(&p, &q), 0);
	text = cpk_pending_render(user, &p, false);
	ck_assert_ptr_nonnull(text);
	snprintf(key, sizeof(key), "pending/%s", user);
	ck_assert_int_eq(cpk_etcd_put(e, key, text, strlen(text), 0, &rev, err, sizeof(err)), 0);
	free(text);
	cpk_pending_free(&p);
	return rev;
}

static size_t
keys_at(struct cpk_etcd *e, const char *key)
{
	struct cpk_etcd_kvs kvs;
	size_t n;

	ck_assert_msg(cpk_etcd_get(e, key, false, 0, &kvs, err, sizeof(err)) == 0, "%s", err);
	n = kvs.n;
	cpk_etcd_kvs_free(&kvs);
	return n;
}

START_TEST(outcome_releases_claim)
{
	struct cpk_etcd *e = client("/f-outc/");
	struct cpk_fleet_claim c, other;
	struct cpk_fleet_outcome o;
	char holder[80], *mirror = NULL;
	int64_t base, rev;
	unsigned long before;

	/* ours: the outcome's txn deletes it, in that one request */
	base = put_doc(e, "gina");
	ck_assert_int_eq(claim(e, "host-a", "gina", 60, &c, holder, sizeof(holder)),
			 CPK_FLEET_CLAIMED);
	outcome_for(&o, "gina", base, c.revision);
	before = e->requests;
	ck_assert_msg(cpk_fleet_outcome_write(e, &o, true, NULL, &rev, &mirror, err,
					      sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(e->requests - before, 1);
	ck_assert_uint_eq(keys_at(e, "claims/gina"), 0);
	ck_assert_uint_eq(keys_at(e, "pending/gina"), 0);
	ck_assert_ptr_null(mirror);
	cpk_fleet_outcome_free(&o);
	/* the next host claims at once, without waiting for the lease */
	ck_assert_int_eq(claim(e, "host-b", "gina", 60, &other, holder, sizeof(holder)),
			 CPK_FLEET_CLAIMED);

	/* another host's claim (ours expired meanwhile): left alone, outcome written */
	base = put_doc(e, "gina");
	outcome_for(&o, "gina", base, c.revision);
	ck_assert_msg(cpk_fleet_outcome_write(e, &o, true, NULL, &rev, &mirror, err,
					      sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(keys_at(e, "claims/gina"), 1);
	ck_assert_uint_eq(keys_at(e, "pending/gina"), 0);
	ck_assert_uint_eq(keys_at(e, "history/gina/00000000000000000001.host-a.0"), 1);
	cpk_fleet_outcome_free(&o);
	ck_assert_int_eq(cpk_fleet_release(e, &other, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_fleet_release(e, &c, err, sizeof(err)), 0);
	cpk_etcd_close(e);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc = tcase_create("claim");

	tcase_add_test(tc, claimed_once);
	tcase_add_test(tc, dead_host_claim_expires);
	tcase_add_test(tc, hostile_claims);
	tcase_add_test(tc, unreachable);
	suite_add_tcase(s, tc);
	tc = tcase_create("publish");
	tcase_add_test(tc, publish_compare_and_swap);
	tcase_add_test(tc, publish_refuses_corrupt);
	tcase_add_test(tc, publish_requests);
	tcase_add_test(tc, outcome_releases_claim);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
