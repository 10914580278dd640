/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The engine with fleet = etcd, two simulated hosts (A and B: their own
 * config, state_dir and host_name) against one real etcd and one Cognito
 * emulator (engine.test starts both, inside tests/sandbox.sh).  Each case
 * has its own user; every credential must be deleted exactly once across
 * the two hosts, counted in the emulator's request log.
 *
 * Environment: ETCD_ENDPOINTS ETCD_CA ETCD_CERT ETCD_KEY ETCD_PID EMU_URL
 * EMU_CA FLEET_WORK.
 */
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "etcd.h"
#include "fleet.h"
#include "fleet_outcome.h"
#include "revoke.h"
#include "store.h"
#include "emuctl.h"
#include "fleetfix.h"

#define PREFIX	"/engine/"

static char audit_lines[65536];

/* ---- the emulator's request log ---------------------------------------- */

static void
deleted_once(const char *user, int first, int last)
{
	char id[64];
	int k;

	for (k = first; k <= last; k++) {
		snprintf(id, sizeof(id), "%sKey%d", user, k);
		ck_assert_msg(emuctl_deletes_of(id) == 1, "%s deleted %d times", id,
			      emuctl_deletes_of(id));
	}
}

/* ---- hosts ------------------------------------------------------------ */

static char *
state_dir(const char *host)
{
	static char path[2][400];
	int i = strcmp(host, "host-a") == 0 ? 0 : 1;

	snprintf(path[i], sizeof(path[i]), "%s/state-%s", env("FLEET_WORK"), host);
	mkdir(path[i], 0700);
	return path[i];
}

static void
host_cfg(struct cpk_config *cfg, const char *host)
{
	ck_assert_int_eq(cpk_config_init(cfg), 0);
	set(cfg, "state_dir", state_dir(host));
	set(cfg, "endpoint_url", emuctl_url());
	set(cfg, "ca_file", emuctl_ca());
	set(cfg, "timeout", "30");
	set(cfg, "fleet", "etcd");
	set(cfg, "etcd_endpoints", env("ETCD_ENDPOINTS"));
	set(cfg, "etcd_ca_file", env("ETCD_CA"));
	set(cfg, "etcd_cert_file", env("ETCD_CERT"));
	set(cfg, "etcd_key_file", env("ETCD_KEY"));
	set(cfg, "etcd_prefix", PREFIX);
	set(cfg, "etcd_timeout", "2");
	set(cfg, "host_name", host);
}

static struct cpk_etcd *
etcd(void)
{
	struct cpk_config cfg;
	struct cpk_etcd *e;

	host_cfg(&cfg, "host-test");
	e = cpk_etcd_open(&cfg, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	cpk_config_free(&cfg);
	return e;
}

static void
emit(void *ctx, int prio, const char *line)
{
	(void)ctx;
	(void)prio;
	strncat(audit_lines, line, sizeof(audit_lines) - strlen(audit_lines) - 2);
	strcat(audit_lines, "\n");
}

static int
run_on(const char *host, const char *user, struct cpk_run_result *res,
       cpk_before_request_fn hook)
{
	struct cpk_log log = { .emit = emit };
	struct cpk_run_opts opts = { .actor = "test", .before_request = hook };
	struct cpk_config cfg;
	int status;

	audit_lines[0] = '\0';
	host_cfg(&cfg, host);
	status = cpk_revoke_user(&cfg, &log, user, &opts, res);
	cpk_config_free(&cfg);
	return status;
}

/* The host's local copy of user's pending requests. */
static void
local_pending(const char *host, const char *user, struct cpk_pending *p)
{
	struct cpk_store *st;

	ck_assert_msg(cpk_store_open(&st, state_dir(host), CPK_STORE_CREATE, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(cpk_pending_load(st, user, p, err, sizeof(err)) == 0, "%s", err);
	cpk_store_close(st);
}

static void
save_local(const char *host, const char *user, const struct cpk_pending *p)
{
	struct cpk_store *st;
	int fd;

	ck_assert_msg(cpk_store_open(&st, state_dir(host), CPK_STORE_CREATE, err, sizeof(err)) == 0,
		      "%s", err);
	fd = cpk_store_lock(st, user, 5000, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_msg(cpk_pending_save(st, user, p, err, sizeof(err)) == 0, "%s", err);
	cpk_store_unlock(fd);
	cpk_store_close(st);
}

/* The document in etcd; its mod_revision (0: absent). */
static int64_t
fleet_doc(struct cpk_etcd *e, const char *user, struct cpk_pending *p)
{
	struct cpk_etcd_kvs kvs;
	char key[128];
	int64_t rev = 0;

	snprintf(key, sizeof(key), "pending/%s", user);
	ck_assert_msg(cpk_etcd_get(e, key, false, 0, &kvs, err, sizeof(err)) == 0, "%s", err);
	memset(p, 0, sizeof(*p));
	if (kvs.n == 1) {
		ck_assert_int_eq(cpk_store_parse_pending(kvs.kv[0].value, kvs.kv[0].value_len, user, p), 0);
		rev = kvs.kv[0].mod_revision;
	}
	cpk_etcd_kvs_free(&kvs);
	return rev;
}

static int64_t
put_doc(struct cpk_etcd *e, const char *user, const struct cpk_pending *p)
{
	char key[128], *doc = cpk_pending_render(user, p, false);
	int64_t rev = 0;

	ck_assert_ptr_nonnull(doc);
	snprintf(key, sizeof(key), "pending/%s", user);
	ck_assert_msg(cpk_etcd_put(e, key, doc, strlen(doc), 0, &rev, err, sizeof(err)) == 0, "%s",
		      err);
	free(doc);
	return rev;
}

static void
add_request(struct cpk_pending *p, enum cpk_selector sel, const char *id, char *req_id)
{
	struct cpk_request r;

	ck_assert_int_eq(cpk_request_init(&r, sel, "admin"), 0);
	if (id != NULL)
		ck_assert_int_eq(cpk_strv_push(&r.ids, &r.n_ids, id), 0);
	if (req_id != NULL)
		snprintf(req_id, CPK_REQUEST_ID_LEN, "%s", r.id);
	ck_assert_int_eq(cpk_pending_add(p, &r), 0);
}

/* A request in etcd, mirrored on both hosts (fleet_revision set). */
static void
flag(struct cpk_etcd *e, const char *user, enum cpk_selector sel, const char *id, char *req_id)
{
	struct cpk_pending p = { 0 };

	add_request(&p, sel, id, req_id);
	p.fleet_revision = put_doc(e, user, &p);
	save_local("host-a", user, &p);
	save_local("host-b", user, &p);
	cpk_pending_free(&p);
}

/* history/<user>/ events, as one JSON array text, and how many. */
static size_t
fleet_history(struct cpk_etcd *e, const char *user, char *buf, size_t len)
{
	struct cpk_etcd_kvs kvs;
	char key[128];
	size_t i, n;

	snprintf(key, sizeof(key), "history/%s/", user);
	ck_assert_msg(cpk_etcd_get(e, key, true, 0, &kvs, err, sizeof(err)) == 0, "%s", err);
	buf[0] = '\0';
	for (i = 0; i < kvs.n; i++) {
		strncat(buf, kvs.kv[i].value, len - strlen(buf) - 2);
		strcat(buf, "\n");
	}
	n = kvs.n;
	cpk_etcd_kvs_free(&kvs);
	return n;
}

static bool
claim_present(struct cpk_etcd *e, const char *user)
{
	struct cpk_etcd_kvs kvs;
	char key[128];
	bool present;

	snprintf(key, sizeof(key), "claims/%s", user);
	ck_assert_msg(cpk_etcd_get(e, key, false, 0, &kvs, err, sizeof(err)) == 0, "%s", err);
	present = kvs.n > 0;
	cpk_etcd_kvs_free(&kvs);
	return present;
}

/* ---- cases ------------------------------------------------------------ */

/* Flagged in etcd, mirrored on A and B: A carries it out, B does nothing. */
START_TEST(done_on_a_once)
{
	struct cpk_etcd *e = etcd();
	struct cpk_run_result res;
	struct cpk_pending p;
	char hist[16384], req[CPK_REQUEST_ID_LEN];

	flag(e, "alice", CPK_SEL_ALL, NULL, req);
	ck_assert_int_eq(run_on("host-a", "alice", &res, NULL), CPK_DONE);
	ck_assert_uint_eq(res.deleted, 3);
	ck_assert_int_eq(fleet_doc(e, "alice", &p), 0);
	ck_assert_uint_ge(fleet_history(e, "alice", hist, sizeof(hist)), 4);
	ck_assert_msg(strstr(hist, "\"event\":\"completed\"") != NULL, "%s", hist);
	ck_assert_msg(strstr(hist, "\"host\":\"host-a\"") != NULL, "%s", hist);
	ck_assert_msg(strstr(hist, req) != NULL, "%s", hist);
	ck_assert_msg(strstr(hist, "\"credentials\":[\"aliceKey1\",\"aliceKey2\",\"aliceKey3\"]") != NULL,
		      "%s", hist);
	ck_assert_msg(strstr(hist, "\"cognito_requests\":[\"") != NULL, "%s", hist);
	ck_assert_msg(strstr(hist, "host-b") == NULL, "%s", hist);
	local_pending("host-a", "alice", &p);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_msg(!claim_present(e, "alice"), "the claim outlived the run");

	/* B's copy is stale: under its claim it sees the key gone and deletes nothing */
	ck_assert_int_eq(run_on("host-b", "alice", &res, NULL), CPK_DONE);
	ck_assert_uint_eq(res.deleted + res.absent, 0);
	local_pending("host-b", "alice", &p);
	ck_assert_uint_eq(p.n, 0);
	deleted_once("alice", 1, 3);
	cpk_etcd_close(e);
}
END_TEST

/* B's claim: A leaves everything pending; B's lease expires: A carries it out. */
START_TEST(claimed_by_b)
{
	struct cpk_etcd *e = etcd();
	struct cpk_etcd_watch w = { .key = "claims/bob", .max_seconds = 60, .cb = on_delete };
	struct cpk_fleet_claim c;
	struct cpk_run_result res;
	struct cpk_pending p;
	char holder[80];

	flag(e, "bob", CPK_SEL_ALL, NULL, NULL);
	ck_assert_int_eq(cpk_fleet_claim(e, "host-b", "bob", 60, &c, holder, sizeof(holder), err,
					 sizeof(err)), CPK_FLEET_CLAIMED);
	ck_assert_int_eq(run_on("host-a", "bob", &res, NULL), CPK_PENDING);
	ck_assert_str_eq(res.last_error, "claimed");
	ck_assert_msg(strstr(audit_lines, "event=revocation_deferred user=bob error=claimed "
			     "detail=\"claimed by host-b\"") != NULL, "%s", audit_lines);
	local_pending("host-a", "bob", &p);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_str_eq(p.items[0].last_error, "claimed");
	ck_assert_str_eq(p.items[0].last_detail, "claimed by host-b");
	ck_assert_int_ne(p.fleet_revision, 0);
	cpk_pending_free(&p);
	ck_assert_int_eq(emuctl_deletes_of("bobKey1"), 0);
	ck_assert_int_eq(cpk_fleet_release(e, &c, err, sizeof(err)), 0);

	/* a claim of a host that died: its short lease runs out, etcd deletes it */
	ck_assert_int_eq(cpk_fleet_claim(e, "host-b", "bob", 2, &c, holder, sizeof(holder), err,
					 sizeof(err)), CPK_FLEET_CLAIMED);
	ck_assert_int_eq(run_on("host-a", "bob", &res, NULL), CPK_PENDING);
	ck_assert_int_eq(emuctl_deletes_of("bobKey1"), 0);
	w.start_revision = c.revision + 1;
	ck_assert_msg(cpk_etcd_watch(e, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(run_on("host-a", "bob", &res, NULL), CPK_DONE);
	ck_assert_uint_eq(res.deleted, 3);
	ck_assert_int_eq(fleet_doc(e, "bob", &p), 0);
	deleted_once("bob", 1, 3);
	cpk_etcd_close(e);
}
END_TEST

static int
outbox_files(const char *host, char *first, size_t len)
{
	char path[900];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "%s/outbox", state_dir(host));
	if ((dir = opendir(path)) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (n++ == 0 && first != NULL)
			snprintf(first, len, "%s/%s", path, d->d_name);
	}
	closedir(dir);
	return n;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(buf, 1, (1 << 20) - 1, f), 0);
	fclose(f);
	return buf;
}

static void
put_back(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
flush(struct cpk_etcd *e, const char *host, unsigned int *flushed)
{
	struct cpk_log log = { .emit = emit };
	struct cpk_store *st;
	int left;

	ck_assert_msg(cpk_store_open(&st, state_dir(host), 0, err, sizeof(err)) == 0, "%s", err);
	left = cpk_fleet_outbox_flush(e, st, NULL, &log, flushed, err, sizeof(err));
	cpk_store_close(st);
	return left;
}

/* etcd away: A deletes all the same and queues; the flush writes it, once. */
START_TEST(etcd_away)
{
	pid_t etcd_pid = (pid_t)atol(env("ETCD_PID"));
	struct cpk_etcd *e = etcd();
	struct cpk_run_result res;
	struct cpk_pending p;
	char file[1200], hist[16384], *queued;
	unsigned int flushed;

	flag(e, "carol", CPK_SEL_ALL, NULL, NULL);
	ck_assert_int_eq(kill(etcd_pid, SIGSTOP), 0);
	ck_assert_int_eq(run_on("host-a", "carol", &res, NULL), CPK_DONE);
	ck_assert_int_eq(kill(etcd_pid, SIGCONT), 0);
	ck_assert_uint_eq(res.deleted, 3);
	ck_assert_msg(strstr(audit_lines, "event=fleet_outcome_queued user=carol") != NULL, "%s",
		      audit_lines);
	ck_assert_int_eq(outbox_files("host-a", file, sizeof(file)), 1);
	queued = slurp(file);
	ck_assert_int_ne(fleet_doc(e, "carol", &p), 0);	/* not yet recorded */
	cpk_pending_free(&p);

	ck_assert_int_eq(flush(e, "host-a", &flushed), 0);
	ck_assert_uint_eq(flushed, 1);
	ck_assert_int_eq(outbox_files("host-a", NULL, 0), 0);
	ck_assert_int_eq(fleet_doc(e, "carol", &p), 0);
	ck_assert_uint_ge(fleet_history(e, "carol", hist, sizeof(hist)), 4);
	ck_assert_msg(strstr(hist, "\"host\":\"host-a\"") != NULL, "%s", hist);

	/* queued twice: the replay edits etcd only, the same keys again */
	put_back(file, queued);
	ck_assert_int_eq(flush(e, "host-a", &flushed), 0);
	ck_assert_uint_eq(flushed, 1);
	ck_assert_uint_eq(fleet_history(e, "carol", hist, sizeof(hist)), 4);
	ck_assert_int_eq(fleet_doc(e, "carol", &p), 0);
	free(queued);

	ck_assert_int_eq(run_on("host-b", "carol", &res, NULL), CPK_DONE);
	ck_assert_uint_eq(res.deleted + res.absent, 0);
	deleted_once("carol", 1, 3);
	cpk_etcd_close(e);
}
END_TEST

/* A request flagged in etcd while A's run is under way is not lost. */
static char new_req[CPK_REQUEST_ID_LEN];
static int hook_calls;

static void
flag_meanwhile(void *ctx)
{
	struct cpk_etcd *e;
	struct cpk_pending p;

	(void)ctx;
	if (hook_calls++ != 0)
		return;
	e = etcd();
	ck_assert_int_ne(fleet_doc(e, "mallory", &p), 0);
	add_request(&p, CPK_SEL_IDS, "malloryKey2", new_req);
	put_doc(e, "mallory", &p);
	cpk_pending_free(&p);
	cpk_etcd_close(e);
}

START_TEST(flagged_during_the_run)
{
	struct cpk_etcd *e = etcd();
	struct cpk_run_result res;
	struct cpk_pending p, local;
	int64_t rev;

	flag(e, "mallory", CPK_SEL_IDS, "malloryKey1", NULL);
	hook_calls = 0;
	ck_assert_int_eq(run_on("host-a", "mallory", &res, flag_meanwhile), CPK_DONE);
	ck_assert_int_gt(hook_calls, 0);
	ck_assert_uint_eq(res.deleted, 1);
	rev = fleet_doc(e, "mallory", &p);
	ck_assert_int_ne(rev, 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_str_eq(p.items[0].id, new_req);
	ck_assert_uint_eq(p.items[0].n_ids, 1);
	ck_assert_str_eq(p.items[0].ids[0], "malloryKey2");
	cpk_pending_free(&p);
	/* A's copy mirrors what is in etcd now */
	local_pending("host-a", "mallory", &local);
	ck_assert_uint_eq(local.n, 1);
	ck_assert_str_eq(local.items[0].id, new_req);
	ck_assert_int_eq(local.fleet_revision, rev);
	cpk_pending_free(&local);
	ck_assert_int_eq(emuctl_deletes_of("malloryKey2"), 0);

	ck_assert_int_eq(run_on("host-a", "mallory", &res, NULL), CPK_DONE);
	ck_assert_uint_eq(res.deleted, 1);
	ck_assert_int_eq(fleet_doc(e, "mallory", &p), 0);
	/* B's copy is stale and empty of the new one: it deletes nothing */
	ck_assert_int_eq(run_on("host-b", "mallory", &res, NULL), CPK_DONE);
	ck_assert_uint_eq(res.deleted + res.absent, 0);
	deleted_once("mallory", 1, 2);
	ck_assert_int_eq(emuctl_deletes_of("malloryKey3"), 0);
	cpk_etcd_close(e);
}
END_TEST

static void
garbage_meanwhile(void *ctx)
{
	struct cpk_etcd *e;

	(void)ctx;
	if (hook_calls++ != 0)
		return;
	e = etcd();
	ck_assert_int_eq(cpk_etcd_put(e, "pending/alice", "garbage", 7, 0, NULL, err, sizeof(err)), 0);
	cpk_etcd_close(e);
}

/* A fleet document that does not parse is named, left as it is, the outcome queued. */
START_TEST(unparseable_fleet_document)
{
	struct cpk_etcd *e = etcd();
	struct cpk_run_result res;
	struct cpk_etcd_kvs kvs;
	unsigned int flushed;

	emuctl_add_passkey("alice", "aliceKey4");
	flag(e, "alice", CPK_SEL_IDS, "aliceKey4", NULL);
	hook_calls = 0;
	ck_assert_int_eq(run_on("host-a", "alice", &res, garbage_meanwhile), CPK_DONE);
	ck_assert_uint_eq(res.deleted, 1);
	ck_assert_msg(strstr(audit_lines, "etcd key pending/alice does not parse") != NULL, "%s",
		      audit_lines);
	ck_assert_msg(strstr(audit_lines, "event=fleet_outcome_queued user=alice error=etcd_refused")
		      != NULL, "%s", audit_lines);
	ck_assert_int_eq(cpk_etcd_get(e, "pending/alice", false, 0, &kvs, err, sizeof(err)), 0);
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_str_eq(kvs.kv[0].value, "garbage");
	cpk_etcd_kvs_free(&kvs);
	ck_assert_int_eq(outbox_files("host-a", NULL, 0), 1);
	/* still garbage: the flush keeps it queued */
	ck_assert_int_eq(flush(e, "host-a", &flushed), 1);
	ck_assert_uint_eq(flushed, 0);
	ck_assert_int_eq(outbox_files("host-a", NULL, 0), 1);
	deleted_once("alice", 4, 4);
	cpk_etcd_close(e);
}
END_TEST

/* Left flagged for engine.test's passkey-revoke -x on host A (bob's fourth passkey). */
START_TEST(flag_for_the_command)
{
	struct cpk_etcd *e = etcd();

	emuctl_add_passkey("bob", "bobKey4");
	flag(e, "bob", CPK_SEL_IDS, "bobKey4", NULL);
	cpk_etcd_close(e);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fleet_run");
	TCase *tc = tcase_create("engine");

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tcase_add_test(tc, done_on_a_once);
	tcase_add_test(tc, claimed_by_b);
	tcase_add_test(tc, etcd_away);
	tcase_add_test(tc, flagged_during_the_run);
	tcase_add_test(tc, unparseable_fleet_document);
	tcase_add_test(tc, flag_for_the_command);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
