/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/etcd*.c against a real etcd (started by etcd.test with TLS and
 * client-certificate auth) and against a hostile fake gateway.
 *
 * Environment: ETCD_ENDPOINTS, ETCD_CA, ETCD_CERT, ETCD_KEY, ETCD_WRONG_CA,
 * ETCD_DEAD (a URL nothing listens on), ETCD_FAKE (fake_etcd.py),
 * ETCDCTL (an etcdctl command line for the same cluster).
 * CK_RUN_CASE=cluster runs the case for a 3-member cluster whose first
 * member is down.
 */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "etcd.h"
#include "etcd_int.h"
#include "fleetfix.h"

static struct cpk_etcd *
client(const char *prefix)
{
	return etcd_client(env("ETCD_ENDPOINTS"), prefix, env("ETCD_CA"), true);
}

static int64_t
put(struct cpk_etcd *e, const char *key, const char *value, int64_t lease)
{
	int64_t rev = 0;

	ck_assert_msg(cpk_etcd_put(e, key, value, strlen(value), lease, &rev, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_gt(rev, 0);
	return rev;
}

START_TEST(put_get_delete)
{
	struct cpk_etcd *e = client("/t-put/");
	struct cpk_etcd_kvs kvs;
	const char bin[] = { 'a', '\0', 'b', '\xff' };
	int64_t rev, n = 0;

	rev = put(e, "pending/alice", "{\"x\":1}", 0);
	ck_assert_int_eq(cpk_etcd_put(e, "pending/bob", bin, sizeof(bin), 0, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_etcd_get(e, "pending/alice", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_str_eq(kvs.kv[0].key, "pending/alice");
	ck_assert_str_eq(kvs.kv[0].value, "{\"x\":1}");
	ck_assert_int_eq(kvs.kv[0].create_revision, rev);
	ck_assert_int_eq(kvs.kv[0].mod_revision, rev);
	ck_assert_int_eq(kvs.kv[0].version, 1);
	ck_assert_int_ge(kvs.revision, rev);
	cpk_etcd_kvs_free(&kvs);

	ck_assert_int_eq(cpk_etcd_get(e, "pending/", true, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 2);
	ck_assert_str_eq(kvs.kv[1].key, "pending/bob");
	ck_assert_uint_eq(kvs.kv[1].value_len, sizeof(bin));
	ck_assert(memcmp(kvs.kv[1].value, bin, sizeof(bin)) == 0);
	cpk_etcd_kvs_free(&kvs);

	ck_assert_int_eq(cpk_etcd_get(e, "pending/", true, 1, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert(kvs.more);
	cpk_etcd_kvs_free(&kvs);

	ck_assert_int_eq(cpk_etcd_get(e, "pending/carol", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 0);
	cpk_etcd_kvs_free(&kvs);

	ck_assert_int_eq(cpk_etcd_delete(e, "pending/", true, &n, err, sizeof(err)), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(cpk_etcd_get(e, "", true, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 0);
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);
}
END_TEST

/* The claim's shape: create if absent; the loser learns the holder. */
static int
claim(struct cpk_etcd *e, const char *key, const char *who, struct cpk_etcd_txn_result *r)
{
	struct cpk_etcd_cmp cmp = { key, CPK_ETCD_CREATE_REVISION, 0 };
	struct cpk_etcd_op ok = { CPK_ETCD_PUT, key, who, strlen(who), 0, NULL };
	struct cpk_etcd_op ko = { CPK_ETCD_GET, key, NULL, 0, 0, NULL };
	struct cpk_etcd_txn t = { &cmp, 1, &ok, 1, &ko, 1 };

	return cpk_etcd_txn(e, &t, r, err, sizeof(err));
}

START_TEST(txn_create_if_absent)
{
	struct cpk_etcd *e = client("/t-txn/");
	struct cpk_etcd_txn_result r;

	ck_assert_msg(claim(e, "claims/alice", "host-a", &r) == 0, "%s", err);
	ck_assert(r.succeeded);
	ck_assert_uint_eq(r.kvs.n, 0);
	cpk_etcd_txn_result_free(&r);

	ck_assert_msg(claim(e, "claims/alice", "host-b", &r) == 0, "%s", err);
	ck_assert(!r.succeeded);
	ck_assert_uint_eq(r.kvs.n, 1);
	ck_assert_str_eq(r.kvs.kv[0].value, "host-a");
	cpk_etcd_txn_result_free(&r);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(txn_mod_revision)
{
	struct cpk_etcd *e = client("/t-mod/");
	struct cpk_etcd_txn_result r;
	struct cpk_etcd_cmp cmp = { "pending/bob", CPK_ETCD_MOD_REVISION, 0 };
	struct cpk_etcd_op del = { CPK_ETCD_DELETE, "pending/bob", NULL, 0, 0, NULL };
	struct cpk_etcd_op hist = { CPK_ETCD_PUT, "history/bob/1", "done", 4, 0, NULL };
	struct cpk_etcd_op ops[2] = { del, hist };
	struct cpk_etcd_txn t = { &cmp, 1, ops, 2, NULL, 0 };
	struct cpk_etcd_kvs kvs;
	int64_t old;

	old = put(e, "pending/bob", "v1", 0);
	cmp.revision = put(e, "pending/bob", "v2", 0);	/* changed meanwhile */
	ck_assert_int_gt(cmp.revision, old);

	/* the outcome of the old request must not remove the new one */
	cmp.revision = old;
	ck_assert_msg(cpk_etcd_txn(e, &t, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert(!r.succeeded);
	cpk_etcd_txn_result_free(&r);
	ck_assert_int_eq(cpk_etcd_get(e, "pending/bob", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	cmp.revision = kvs.kv[0].mod_revision;
	cpk_etcd_kvs_free(&kvs);

	ck_assert_msg(cpk_etcd_txn(e, &t, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert(r.succeeded);
	cpk_etcd_txn_result_free(&r);
	ck_assert_int_eq(cpk_etcd_get(e, "", true, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_str_eq(kvs.kv[0].key, "history/bob/1");
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(lease_binds_key)
{
	struct cpk_etcd *e = client("/t-lease/");
	struct cpk_etcd_kvs kvs;
	int64_t id = 0;

	ck_assert_msg(cpk_etcd_lease_grant(e, 60, &id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ne(id, 0);
	put(e, "claims/carol", "{\"host\":\"a\"}", id);
	ck_assert_int_eq(cpk_etcd_get(e, "claims/carol", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_int_eq(kvs.kv[0].lease, id);
	cpk_etcd_kvs_free(&kvs);

	ck_assert_msg(cpk_etcd_lease_revoke(e, id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(cpk_etcd_get(e, "claims/carol", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 0);
	cpk_etcd_kvs_free(&kvs);

	/* a lease that is gone: etcd says so, and a put bound to it fails */
	ck_assert_int_eq(cpk_etcd_lease_revoke(e, id, err, sizeof(err)), CPK_ETCD_ERROR);
	ck_assert_int_eq(cpk_etcd_put(e, "claims/carol", "x", 1, id, NULL, err, sizeof(err)),
			 CPK_ETCD_ERROR);
	ck_assert_msg(strstr(err, "/t-lease/claims/carol") != NULL, "%s", err);
	cpk_etcd_close(e);
}
END_TEST

struct seen {
	int n, stop_at;
	char keys[8][64];
	enum cpk_etcd_event_type types[8];
	int64_t revs[8];
};

static int
on_event(void *arg, const struct cpk_etcd_event *ev)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", ev->kv->key);
		s->types[s->n] = ev->type;
		s->revs[s->n] = ev->kv->mod_revision;
	}
	s->n++;
	return s->n >= s->stop_at ? 1 : 0;
}

static void
watch_from(struct cpk_etcd *e, int64_t from, struct seen *s, int want)
{
	struct cpk_etcd_watch w = { .key = "pending/", .prefix = true, .start_revision = from,
				    .max_seconds = 30, .cb = on_event, .arg = s };

	memset(s, 0, sizeof(*s));
	s->stop_at = want;
	ck_assert_msg(cpk_etcd_watch(e, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(s->n, want);
	ck_assert_int_eq(w.last_revision, s->revs[want - 1]);
}

START_TEST(watch_from_revision)
{
	struct cpk_etcd *e = client("/t-watch/");
	struct seen s;
	int64_t first, n;

	first = put(e, "pending/alice", "1", 0);
	put(e, "other/x", "not watched", 0);
	put(e, "pending/bob", "2", 0);
	ck_assert_int_eq(cpk_etcd_delete(e, "pending/alice", false, &n, err, sizeof(err)), 0);

	watch_from(e, first, &s, 3);
	ck_assert_str_eq(s.keys[0], "pending/alice");
	ck_assert_int_eq(s.types[0], CPK_ETCD_EV_PUT);
	ck_assert_int_eq(s.revs[0], first);
	ck_assert_str_eq(s.keys[1], "pending/bob");
	ck_assert_str_eq(s.keys[2], "pending/alice");
	ck_assert_int_eq(s.types[2], CPK_ETCD_EV_DELETE);

	/* resuming after the second event sees the third only */
	watch_from(e, s.revs[1] + 1, &s, 1);
	ck_assert_str_eq(s.keys[0], "pending/alice");
	ck_assert_int_eq(s.types[0], CPK_ETCD_EV_DELETE);
	cpk_etcd_close(e);
}
END_TEST

static volatile sig_atomic_t stop_watch;

static void
on_alarm(int sig)
{
	(void)sig;
	stop_watch = 1;
}

/*
 * An idle watch is one stream, held open, which a signal (without
 * SA_RESTART, as passkey-revoke's) ends through *stop long before its
 * slice: the check's timeout fails the case if it does not.
 */
START_TEST(watch_idle_stops_on_signal)
{
	struct cpk_etcd *e = client("/t-idle/");
	struct seen s = { .stop_at = 1 };
	struct cpk_etcd_watch w = { .key = "pending/", .prefix = true, .max_seconds = 600,
				    .cb = on_event, .arg = &s, .stop = &stop_watch };
	struct sigaction sa;
	unsigned long before;
	time_t t0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	before = e->requests;
	t0 = time(NULL);
	alarm(2);
	ck_assert_msg(cpk_etcd_watch(e, &w, err, sizeof(err)) == CPK_ETCD_OK, "%s", err);
	ck_assert_int_lt(time(NULL) - t0, 60);
	ck_assert_uint_eq(e->requests - before, 1);
	ck_assert_int_eq(s.n, 0);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(watch_compacted)
{
	struct cpk_etcd *e = client("/t-compact/");
	struct seen s = { .stop_at = 1 };
	struct cpk_etcd_watch w = { .key = "pending/", .prefix = true, .max_seconds = 30,
				    .cb = on_event, .arg = &s };
	char cmd[4096];
	int64_t first, last;

	first = put(e, "pending/a", "1", 0);
	last = put(e, "pending/a", "2", 0);
	snprintf(cmd, sizeof(cmd), "%s compact %" PRId64 " >/dev/null", env("ETCDCTL"), last);
	ck_assert_int_eq(system(cmd), 0);
	w.start_revision = first;
	ck_assert_int_eq(cpk_etcd_watch(e, &w, err, sizeof(err)), CPK_ETCD_COMPACTED);
	ck_assert_int_eq(w.compact_revision, last);
	ck_assert_msg(strstr(err, "compacted") != NULL, "%s", err);
	ck_assert_int_eq(s.n, 0);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(fail_over)
{
	char eps[1024];
	struct cpk_etcd *e;
	struct cpk_etcd_kvs kvs;
	struct seen s;
	int64_t rev;

	snprintf(eps, sizeof(eps), "%s,%s", env("ETCD_DEAD"), env("ETCD_ENDPOINTS"));
	e = etcd_client(eps, "/t-failover/", env("ETCD_CA"), true);
	rev = put(e, "pending/dave", "x", 0);
	ck_assert_int_eq(cpk_etcd_get(e, "pending/dave", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);

	/* the watch too, on a fresh client that starts with the dead one */
	e = etcd_client(eps, "/t-failover/", env("ETCD_CA"), true);
	watch_from(e, rev, &s, 1);
	ck_assert_str_eq(s.keys[0], "pending/dave");
	cpk_etcd_close(e);

	/* nothing answers: unreachable, and the error says which endpoint */
	e = etcd_client(env("ETCD_DEAD"), "/t-failover/", env("ETCD_CA"), true);
	ck_assert_int_eq(cpk_etcd_get(e, "pending/dave", false, 0, &kvs, err, sizeof(err)),
			 CPK_ETCD_UNREACHABLE);
	ck_assert_msg(strstr(err, env("ETCD_DEAD")) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "/t-failover/pending/dave") != NULL, "%s", err);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(tls_is_verified)
{
	struct cpk_etcd *e;
	struct cpk_etcd_kvs kvs;

	/* a CA of the same name but another key */
	e = etcd_client(env("ETCD_ENDPOINTS"), "/t-tls/", env("ETCD_WRONG_CA"), true);
	ck_assert_int_eq(cpk_etcd_get(e, "k", false, 0, &kvs, err, sizeof(err)), CPK_ETCD_UNREACHABLE);
	ck_assert_msg(strstr(err, "certificate") != NULL || strstr(err, "SSL") != NULL, "%s", err);
	cpk_etcd_close(e);
	/* the system store does not know the test CA either */
	e = etcd_client(env("ETCD_ENDPOINTS"), "/t-tls/", NULL, true);
	ck_assert_int_eq(cpk_etcd_get(e, "k", false, 0, &kvs, err, sizeof(err)), CPK_ETCD_UNREACHABLE);
	cpk_etcd_close(e);
	/* without a client certificate etcd refuses us */
	e = etcd_client(env("ETCD_ENDPOINTS"), "/t-tls/", env("ETCD_CA"), false);
	ck_assert_int_ne(cpk_etcd_get(e, "k", false, 0, &kvs, err, sizeof(err)), CPK_ETCD_OK);
	cpk_etcd_close(e);
}
END_TEST

/* The fake gateway answers MODE; the call must fail with want in err. */
static void
hostile(const char *mode, const char *want)
{
	char url[512];
	struct cpk_etcd *e;
	struct cpk_etcd_kvs kvs;
	int rc;

	snprintf(url, sizeof(url), "%s/%s", env("ETCD_FAKE"), mode);
	e = etcd_client(url, "/fake/", NULL, false);
	err[0] = '\0';
	rc = cpk_etcd_get(e, "k", true, 0, &kvs, err, sizeof(err));
	ck_assert_msg(rc == CPK_ETCD_ERROR, "%s: rc %d: %s", mode, rc, err);
	ck_assert_msg(strstr(err, want) != NULL, "%s: '%s' not in '%s'", mode, want, err);
	ck_assert_uint_eq(kvs.n, 0);
	ck_assert_ptr_null(kvs.kv);
	cpk_etcd_close(e);
}

START_TEST(hostile_answers)
{
	hostile("garbage", "not a JSON object");
	hostile("nonobject", "not a JSON object");
	hostile("trailing", "not a JSON object");
	hostile("huge", "larger than");
	hostile("outside", "not below /fake/");
	hostile("badb64", "etcd key /fake/k: value is not base64");
	hostile("bigvalue", "etcd key /fake/big: value larger than");
	hostile("badrev", "etcd key /fake/k: a revision");
	hostile("noheader", "header.revision");
	hostile("kvsobject", "not an array");
	hostile("nulkey", "not below");
	hostile("denied", "HTTP 403");
	hostile("denied", "\\x1b[31m");	/* outside bytes escaped */
}
END_TEST

/* A listing past one page: all of it, in order, in pages, at one revision. */
START_TEST(listing_in_pages)
{
	struct cpk_etcd *e = client("/t-pages/");
	struct cpk_etcd_op ops[100];
	struct cpk_etcd_txn t = { NULL, 0, ops, 100, NULL, 0 };
	struct cpk_etcd_txn_result r;
	struct cpk_etcd_kvs kvs;
	char keys[100][32], want[32];
	unsigned long before;
	int64_t last = 0;
	size_t i, j, n = CPK_ETCD_PAGE * 5 / 2;

	for (i = 0; i < n; i += 100) {
		for (j = 0; j < 100; j++) {
			snprintf(keys[j], sizeof(keys[j]), "pending/u%05zu", i + j);
			ops[j] = (struct cpk_etcd_op){ CPK_ETCD_PUT, keys[j], "x", 1, 0, NULL };
		}
		ck_assert_msg(cpk_etcd_txn(e, &t, &r, err, sizeof(err)) == 0, "%s", err);
		last = r.revision;
		cpk_etcd_txn_result_free(&r);
	}
	put(e, "pendingz", "not below pending/", 0);
	before = e->requests;
	ck_assert_msg(cpk_etcd_get_keys(e, "pending/", true, &kvs, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(e->requests - before, 3);
	ck_assert_uint_eq(kvs.n, n);
	ck_assert(!kvs.more);
	ck_assert_int_gt(kvs.revision, last);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "pending/u%05zu", i);
		ck_assert_str_eq(kvs.kv[i].key, want);
		ck_assert_str_eq(kvs.kv[i].value, "");
	}
	cpk_etcd_kvs_free(&kvs);
	ck_assert_msg(cpk_etcd_get(e, "pending/", true, 0, &kvs, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(kvs.n, n);
	ck_assert_str_eq(kvs.kv[n - 1].value, "x");
	cpk_etcd_kvs_free(&kvs);
	/* an explicit limit is one answer, as before */
	ck_assert_int_eq(cpk_etcd_get(e, "pending/", true, 10, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 10);
	ck_assert(kvs.more);
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);
}
END_TEST

/* The fake's listing of two pages: the second at the first's revision. */
static void
fake_pages(const char *mode, int64_t want_rev)
{
	char url[512];
	struct cpk_etcd *e;
	struct cpk_etcd_kvs kvs;

	snprintf(url, sizeof(url), "%s/%s", env("ETCD_FAKE"), mode);
	e = etcd_client(url, "/fake/", NULL, false);
	ck_assert_msg(cpk_etcd_get_keys(e, "", true, &kvs, err, sizeof(err)) == 0, "%s: %s", mode, err);
	ck_assert_uint_eq(kvs.n, 2);
	ck_assert_str_eq(kvs.kv[0].key, "k1");
	ck_assert_str_eq(kvs.kv[1].key, "k2");
	ck_assert_int_eq(kvs.revision, want_rev);
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);
}

START_TEST(pages_at_one_revision)
{
	fake_pages("pages", 7);
	/* compacted between pages: listed again from the start, at a newer revision */
	fake_pages("compactonce", 9);
	hostile("compacted", "required revision has been compacted");
	hostile("endless", "does not move on");
}
END_TEST

START_TEST(fail_over_on_5xx)
{
	char eps[1024];
	struct cpk_etcd *e;
	struct cpk_etcd_kvs kvs;

	snprintf(eps, sizeof(eps), "%s/unavailable,%s", env("ETCD_FAKE"), env("ETCD_ENDPOINTS"));
	e = etcd_client(eps, "/t-5xx/", env("ETCD_CA"), true);
	put(e, "k", "v", 0);
	ck_assert_int_eq(cpk_etcd_get(e, "k", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	cpk_etcd_kvs_free(&kvs);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(watch_garbage)
{
	char url[512];
	struct cpk_etcd *e;
	struct seen s = { .stop_at = 1 };
	struct cpk_etcd_watch w = { .key = "pending/", .prefix = true, .max_seconds = 30,
				    .cb = on_event, .arg = &s };

	snprintf(url, sizeof(url), "%s/watchgarbage", env("ETCD_FAKE"));
	e = etcd_client(url, "/fake/", NULL, false);
	ck_assert_int_eq(cpk_etcd_watch(e, &w, err, sizeof(err)), CPK_ETCD_ERROR);
	ck_assert_msg(strstr(err, "not a JSON object") != NULL, "%s", err);
	ck_assert_int_eq(s.n, 0);
	cpk_etcd_close(e);
}
END_TEST

START_TEST(base64_rules)
{
	const char *cases[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	char *enc, *dec;
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enc = cpk_etcd__b64_encode(cases[i], strlen(cases[i]));
		ck_assert_ptr_nonnull(enc);
		ck_assert_int_eq(cpk_etcd__b64_decode(enc, strlen(enc), 100, &dec, &len), 0);
		ck_assert_uint_eq(len, strlen(cases[i]));
		ck_assert_str_eq(dec, cases[i]);
		free(enc);
		free(dec);
	}
	ck_assert_int_eq(cpk_etcd__b64_decode("Zm9vYmFy", 8, 100, &dec, &len), 0);
	ck_assert_str_eq(dec, "foobar");
	free(dec);
	ck_assert_int_eq(cpk_etcd__b64_decode("Zm9", 3, 100, &dec, &len), -1);
	ck_assert_int_eq(cpk_etcd__b64_decode("Zm=v", 4, 100, &dec, &len), -1);
	ck_assert_int_eq(cpk_etcd__b64_decode("Zm9v\nYmFy", 9, 100, &dec, &len), -1);
	ck_assert_int_eq(cpk_etcd__b64_decode("Zm9-", 4, 100, &dec, &len), -1);
	ck_assert_int_eq(cpk_etcd__b64_decode("Zm9vYmFy", 8, 5, &dec, &len), -2);
	ck_assert_ptr_null(dec);
}
END_TEST

/* 3 members, the first stopped: every call goes to the others. */
START_TEST(cluster_member_down)
{
	struct cpk_etcd *e = client("/t-cluster/");
	struct cpk_etcd_txn_result r;
	struct seen s;
	int64_t rev;

	rev = put(e, "pending/erin", "x", 0);
	ck_assert_msg(claim(e, "claims/erin", "host-a", &r) == 0, "%s", err);
	ck_assert(r.succeeded);
	cpk_etcd_txn_result_free(&r);
	ck_assert_msg(claim(e, "claims/erin", "host-b", &r) == 0, "%s", err);
	ck_assert(!r.succeeded);
	cpk_etcd_txn_result_free(&r);
	watch_from(e, rev, &s, 1);
	ck_assert_str_eq(s.keys[0], "pending/erin");
	cpk_etcd_close(e);
}
END_TEST

static Suite *
etcd_suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *tc = tcase_create("single");
	TCase *cl = tcase_create("cluster");

	tcase_add_test(tc, base64_rules);
	tcase_add_test(tc, put_get_delete);
	tcase_add_test(tc, txn_create_if_absent);
	tcase_add_test(tc, txn_mod_revision);
	tcase_add_test(tc, lease_binds_key);
	tcase_add_test(tc, watch_from_revision);
	tcase_add_test(tc, watch_compacted);
	tcase_add_test(tc, watch_idle_stops_on_signal);
	tcase_add_test(tc, fail_over);
	tcase_add_test(tc, fail_over_on_5xx);
	tcase_add_test(tc, tls_is_verified);
	tcase_add_test(tc, hostile_answers);
	tcase_add_test(tc, watch_garbage);
	tcase_add_test(tc, listing_in_pages);
	tcase_add_test(tc, pages_at_one_revision);
	suite_add_tcase(s, tc);
	tcase_add_test(cl, cluster_member_down);
	suite_add_tcase(s, cl);
	return s;
}

int
main(void)
{
	return run_suite(etcd_suite());
}
