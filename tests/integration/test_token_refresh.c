/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/token.c's refresh and write-back against the local emulator
 * (EMU_URL, EMU_CA; token_refresh.test starts it), as root in
 * tests/sandbox.sh: every cache format refreshed and written back with its
 * owner, mode and unknown fields, rotation, the write-back that fails, and
 * the refusals made before any request reaches the service.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cognito.h"
#include "config.h"
#include "privs.h"
#include "token.h"
#include "util.h"
#include "emuctl.h"
#include "testutil.h"
#include "tokfiles.h"

static const char *
member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static void
emu_setup(void)
{
	files_setup();
	emuctl_reset();
	emuctl_add_user("alice", 1);
	emuctl_add_user("bob", 0);
}

/* Mint an AuthenticationResult for alice with extra fields (JSON members). */
static json_object *
mint(const char *extra)
{
	char *body = xasprintf("{\"Username\":\"alice\"%s%s}", extra[0] ? "," : "", extra);
	json_object *j = emuctl_mint(body);

	free(body);
	return j;
}

/* The document a given format would hold, with unknown fields around. */
static char *
doc_in_format(json_object *ar, enum cpk_token_format f, bool pretty)
{
	json_object *doc = json_object_new_object(), *copy = NULL;
	char *s;

	switch (f) {
	case CPK_TOKFMT_AUTH_RESULT:
		json_object_deep_copy(ar, &copy, NULL);
		json_object_put(doc);
		doc = copy;
		json_object_object_add(doc, "x-tool", json_object_new_string("keep me"));
		break;
	case CPK_TOKFMT_INITIATE_AUTH:
		json_object_deep_copy(ar, &copy, NULL);
		json_object_object_add(doc, "ChallengeParameters", json_object_new_object());
		json_object_object_add(doc, "AuthenticationResult", copy);
		json_object_object_add(copy, "NewDeviceMetadata", json_object_new_string("keep"));
		break;
	case CPK_TOKFMT_OAUTH:
		json_object_object_add(doc, "access_token",
				       json_object_new_string(member(ar, "AccessToken")));
		json_object_object_add(doc, "id_token", json_object_new_string(member(ar, "IdToken")));
		json_object_object_add(doc, "refresh_token",
				       json_object_new_string(member(ar, "RefreshToken")));
		json_object_object_add(doc, "token_type", json_object_new_string("Bearer"));
		json_object_object_add(doc, "expires_in", json_object_new_int(3600));
		json_object_object_add(doc, "x-tool", json_object_new_string("keep me"));
		break;
	}
	s = xasprintf("%s%s", json_object_to_json_string_ext(doc, pretty ? JSON_C_TO_STRING_PRETTY
								   : JSON_C_TO_STRING_PLAIN),
		      pretty ? "\n" : "");
	json_object_put(doc);
	return s;
}

static struct cpk_config *
emu_cfg(const char *tmpl)
{
	struct cpk_config *cfg = calloc(1, sizeof(*cfg));

	ck_assert_int_eq(cpk_config_init(cfg), 0);
	cfg_set(cfg, "token_cache", tmpl);
	cfg_set(cfg, "endpoint_url", emuctl_url());
	cfg_set(cfg, "ca_file", emuctl_ca());
	cfg_set(cfg, "timeout", "20");
	return cfg;
}

static int
do_refresh(struct cpk_config *cfg, const struct passwd *pw, struct cpk_token_cache *tc,
	   struct cpk_reply *r)
{
	struct cpk_client *c = NULL;
	struct cpk_deadline dl;
	int rc;

	cpk_deadline_init_ms(&dl, 20000);
	ck_assert_int_eq(cpk_client_new(&c, cfg, cpk_token_claims(tc)->region, &dl, r), 0);
	rc = cpk_token_refresh(cfg, pw, tc, c, r);
	assert_root_again();
	cpk_client_free(c);
	return rc;
}

static json_object *
json_file(const char *path, struct stat *st)
{
	char *text = read_all(path);
	json_object *j = json_tokener_parse(text);

	ck_assert_msg(j != NULL, "%s is not JSON", path);
	ck_assert_int_eq(stat(path, st), 0);
	free(text);
	return j;
}

static void
refresh_format(enum cpk_token_format f, bool pretty, mode_t mode, bool rotate)
{
	struct passwd *alice = user("alice");
	struct cpk_config *cfg;
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	json_object *ar, *after, *holder;
	char *dir = xasprintf("%s/rf%d%d%d", alice->pw_dir, (int)f, (int)pretty, (int)rotate);
	char *tmpl = xasprintf("%%h/rf%d%d%d/tokens.json", (int)f, (int)pretty, (int)rotate);
	char *path = xasprintf("%s/tokens.json", dir), *doc, *text, *old_access, *old_refresh;
	const char *ak = f == CPK_TOKFMT_OAUTH ? "access_token" : "AccessToken";
	const char *rk = f == CPK_TOKFMT_OAUTH ? "refresh_token" : "RefreshToken";
	struct stat st;

	if (rotate)
		emuctl_config("{\"RotateRefreshTokens\":true}");
	mkdir_owned(dir, 4001, 0700);
	ar = mint("\"Ttl\":-120");
	old_access = strdup(member(ar, "AccessToken"));
	old_refresh = strdup(member(ar, "RefreshToken"));
	doc = doc_in_format(ar, f, pretty);
	put(path, doc, 4001, mode);

	cfg = emu_cfg(tmpl);
	ck_assert_str_eq(load_code(alice, tmpl, &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), f);
	ck_assert_int_eq(cpk_token_check(cfg, alice, tc, &r), 0);
	ck_assert(cpk_token_expiring(tc, cpk_now()));
	ck_assert_msg(do_refresh(cfg, alice, tc, &r) == 0, "refresh: %s %s", r.code, r.message);
	ck_assert_str_eq(r.code, "");
	ck_assert_str_eq(r.message, "");
	ck_assert(!cpk_token_expiring(tc, cpk_now()));
	ck_assert_str_ne(cpk_token_access(tc), old_access);

	/* the file: same owner, mode and format, new tokens, unknown fields kept */
	after = json_file(path, &st);
	ck_assert_int_eq(st.st_uid, 4001);
	ck_assert_int_eq(st.st_mode & 07777, mode);
	ck_assert(S_ISREG(st.st_mode));
	holder = after;
	if (f == CPK_TOKFMT_INITIATE_AUTH) {
		ck_assert(json_object_object_get_ex(after, "AuthenticationResult", &holder));
		ck_assert(json_object_object_get_ex(after, "ChallengeParameters", NULL));
		ck_assert_str_eq(member(holder, "NewDeviceMetadata"), "keep");
	} else {
		ck_assert_str_eq(member(after, "x-tool"), "keep me");
	}
	ck_assert_str_eq(member(holder, ak), cpk_token_access(tc));
	if (rotate)
		ck_assert_str_ne(member(holder, rk), old_refresh);
	else
		ck_assert_str_eq(member(holder, rk), old_refresh);
	text = read_all(path);
	ck_assert(strchr(text, '\n') != NULL || !pretty);
	ck_assert_int_eq(text[strlen(text) - 1] == '\n', pretty);
	ck_assert(strchr(text, '\n') == NULL || pretty);
	free(text);
	json_object_put(after);
	cpk_token_free(tc);

	/* the file loads again, and the stored refresh token is the live one */
	ck_assert_str_eq(load_code(alice, tmpl, &tc), "");
	ck_assert(!cpk_token_expiring(tc, cpk_now()));
	ck_assert_msg(do_refresh(cfg, alice, tc, &r) == 0, "second refresh: %s %s", r.code,
		      r.message);
	cpk_token_free(tc);
	/* no temp file left behind */
	text = xasprintf("ls -A %s | grep -c . | grep -qx 1", dir);
	ck_assert_int_eq(system(text), 0);
	free(text);

	cpk_config_free(cfg);
	free(cfg);
	json_object_put(ar);
	free(old_access);
	free(old_refresh);
	free(doc);
	free(path);
	free(tmpl);
	free(dir);
}

START_TEST(refresh_auth_result)
{
	refresh_format(CPK_TOKFMT_AUTH_RESULT, false, 0600, false);
}
END_TEST

START_TEST(refresh_initiate_auth_pretty)
{
	refresh_format(CPK_TOKFMT_INITIATE_AUTH, true, 0400, false);
}
END_TEST

START_TEST(refresh_oauth)
{
	refresh_format(CPK_TOKFMT_OAUTH, false, 0600, false);
}
END_TEST

START_TEST(refresh_rotated)
{
	refresh_format(CPK_TOKFMT_AUTH_RESULT, true, 0600, true);
	refresh_format(CPK_TOKFMT_OAUTH, false, 0400, true);
}
END_TEST

/* Rotation on, the directory not writable by alice (root could write it). */
START_TEST(refresh_rotated_write_back_fails)
{
	struct passwd *alice = user("alice");
	struct cpk_config *cfg = emu_cfg("%h/wbf/tokens.json");
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	char *dir = xasprintf("%s/wbf", alice->pw_dir), *path = xasprintf("%s/tokens.json", dir);
	char *doc, *before, *after;
	json_object *ar;

	emuctl_config("{\"RotateRefreshTokens\":true}");
	mkdir_owned(dir, 4001, 0700);
	ar = mint("\"Ttl\":-120");
	doc = doc_in_format(ar, CPK_TOKFMT_AUTH_RESULT, false);
	put(path, doc, 4001, 0600);
	ck_assert_int_eq(chmod(dir, 0500), 0);
	before = read_all(path);

	ck_assert_str_eq(load_code(alice, "%h/wbf/tokens.json", &tc), "");
	/* the new access token is used all the same: the old refresh token is dead */
	ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), 0);
	ck_assert_str_eq(r.code, "token_writeback_failed");
	ck_assert_msg(strstr(r.message, "Permission denied") != NULL, "%s", r.message);
	ck_assert_ptr_nonnull(strstr(r.message, path));
	ck_assert_int_eq(cpk_token_expiring(tc, cpk_now()), false);
	after = read_all(path);
	ck_assert_str_eq(before, after);	/* the old file is intact */
	cpk_token_free(tc);
	free(after);

	/* without rotation the run goes on, with a note in the message */
	emuctl_config("{\"RotateRefreshTokens\":false}");
	json_object_put(ar);
	ar = mint("\"Ttl\":-120");
	free(doc);
	doc = doc_in_format(ar, CPK_TOKFMT_AUTH_RESULT, false);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	put(path, doc, 4001, 0600);
	ck_assert_int_eq(chmod(dir, 0500), 0);
	ck_assert_str_eq(load_code(alice, "%h/wbf/tokens.json", &tc), "");
	ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), 0);
	ck_assert_str_eq(r.code, "");
	ck_assert_msg(strstr(r.message, "not written back") != NULL, "%s", r.message);
	ck_assert(!cpk_token_expiring(tc, cpk_now()));
	cpk_token_free(tc);

	json_object_put(ar);
	free(before);
	free(doc);
	free(path);
	free(dir);
	cpk_config_free(cfg);
	free(cfg);
}
END_TEST

/* A dead refresh token, refresh = no, no refresh token: clean refusals. */
START_TEST(refresh_refusals)
{
	struct passwd *alice = user("alice");
	struct cpk_config *cfg = emu_cfg("%h/rr/tokens.json");
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	char *dir = xasprintf("%s/rr", alice->pw_dir), *path = xasprintf("%s/tokens.json", dir);
	char *doc, *before, *after;
	json_object *ar = mint("\"Ttl\":-120");

	mkdir_owned(dir, 4001, 0700);
	doc = doc_in_format(ar, CPK_TOKFMT_AUTH_RESULT, false);
	put(path, doc, 4001, 0600);
	before = read_all(path);

	emuctl_do("POST", "users/alice/signout", NULL);
	ck_assert_str_eq(load_code(alice, "%h/rr/tokens.json", &tc), "");
	ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	after = read_all(path);
	ck_assert_str_eq(before, after);
	free(after);

	cfg_set(cfg, "refresh", "no");
	ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), -1);
	ck_assert_str_eq(r.code, "expired");
	cpk_token_free(tc);

	cfg_set(cfg, "refresh", "yes");
	json_object_object_del(ar, "RefreshToken");
	free(doc);
	doc = doc_in_format(ar, CPK_TOKFMT_AUTH_RESULT, false);
	put(path, doc, 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/rr/tokens.json", &tc), "");
	ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), -1);
	ck_assert_str_eq(r.code, "expired");
	cpk_token_free(tc);

	json_object_put(ar);
	free(before);
	free(doc);
	free(path);
	free(dir);
	cpk_config_free(cfg);
	free(cfg);
}
END_TEST

/* Confidential client: ClientSecret (GetTokens) and SECRET_HASH (InitiateAuth). */
START_TEST(refresh_client_secret)
{
	static const char *secret = "abcdefghijklmnopqrstuvwxyz012345";
	struct passwd *alice = user("alice");
	struct cpk_config *cfg = emu_cfg("%h/cs/tokens.json");
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	char *dir = xasprintf("%s/cs", alice->pw_dir), *path = xasprintf("%s/tokens.json", dir);
	char *sfile = xasprintf("%s/secret", getenv("SANDBOX")), *body, *doc;
	json_object *ar;
	int api;

	body = xasprintf("{\"ClientSecret\":\"%s\"}", secret);
	emuctl_config(body);
	free(body);
	mkdir_owned(dir, 4001, 0700);
	for (api = 0; api < 2; api++) {
		cfg_set(cfg, "refresh_api", api == 0 ? "get_tokens" : "initiate_auth");
		ar = mint("\"Ttl\":-120");
		doc = doc_in_format(ar, CPK_TOKFMT_AUTH_RESULT, false);

		/* no secret file configured: the service refuses */
		put(path, doc, 4001, 0600);
		ck_assert_str_eq(load_code(alice, "%h/cs/tokens.json", &tc), "");
		ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), -1);
		ck_assert_str_eq(r.code, "NotAuthorizedException");
		cpk_token_free(tc);

		/* a secret file that is too open: refused before any request */
		cfg_set(cfg, "client_secret_file", sfile);
		put(sfile, secret, 0, 0644);
		ck_assert_str_eq(load_code(alice, "%h/cs/tokens.json", &tc), "");
		emuctl_do("DELETE", "requests", NULL);
		ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), -1);
		/* the administrator's file, named with its key: not the user's token */
		ck_assert_str_eq(r.code, "config_error");
		ck_assert_msg(strncmp(r.message, "client_secret_file ", 19) == 0 &&
			      strstr(r.message, sfile) != NULL, "%s", r.message);
		ck_assert_uint_eq(emuctl_request_count(), 0);

		put(sfile, secret, 0, 0600);
		ck_assert_msg(do_refresh(cfg, alice, tc, &r) == 0, "api %d: %s %s", api, r.code,
			      r.message);
		cpk_token_free(tc);
		free(cfg->client_secret_file);
		cfg->client_secret_file = NULL;
		json_object_put(ar);
		free(doc);
	}
	unlink(sfile);
	free(sfile);
	free(path);
	free(dir);
	cpk_config_free(cfg);
	free(cfg);
}
END_TEST

/*
 * Scope-less, foreign-pool and non-access tokens (expired, with a live
 * refresh token): refused by the checks, and the refresh refuses them too,
 * without sending anything.
 */
START_TEST(refuse_before_any_request)
{
	static const struct { const char *mint, *code, *pool; } cases[] = {
		{ "\"Ttl\":-120,\"Scope\":null", "missing_scope", NULL },
		{ "\"Ttl\":-120,\"Scope\":\"openid email\"", "missing_scope", NULL },
		{ "\"Ttl\":-120,\"UserPoolId\":\"eu-west-1_Foreign\"", "foreign_pool",
		  "eu-west-1_Example" },
		{ "\"Ttl\":-120,\"Issuer\":\"https://issuer.example/eu-west-1_Example\"",
		  "foreign_issuer", NULL },
		{ "\"Ttl\":-120,\"TokenUse\":\"id\"", "not_access_token", NULL },
		{ "\"Ttl\":3600,\"Username\":\"bob\"", "username_mismatch", NULL },
	};
	struct passwd *alice = user("alice");
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	char *dir = xasprintf("%s/rb", alice->pw_dir), *path = xasprintf("%s/tokens.json", dir);
	size_t i;

	mkdir_owned(dir, 4001, 0700);
	for (i = 0; i < CPK_ARRAY_SIZE(cases); i++) {
		struct cpk_config *cfg = emu_cfg("%h/rb/tokens.json");
		json_object *ar;
		char *doc;

		if (cases[i].pool != NULL)
			cfg_set(cfg, "user_pool_id", cases[i].pool);
		cfg_set(cfg, "expect_username", "%u");
		if (strstr(cases[i].mint, "bob") != NULL) {
			char *body = xasprintf("{%s}", cases[i].mint);

			ar = emuctl_mint(body);
			free(body);
		} else {
			ar = mint(cases[i].mint);
		}
		doc = doc_in_format(ar, CPK_TOKFMT_AUTH_RESULT, false);
		put(path, doc, 4001, 0600);
		emuctl_do("DELETE", "requests", NULL);
		ck_assert_str_eq(load_code(alice, "%h/rb/tokens.json", &tc), "");
		ck_assert_int_eq(cpk_token_check(cfg, alice, tc, &r), -1);
		ck_assert_msg(strcmp(r.code, cases[i].code) == 0, "case %zu: %s", i, r.code);
		ck_assert_int_eq(do_refresh(cfg, alice, tc, &r), -1);
		ck_assert_msg(strcmp(r.code, cases[i].code) == 0, "refresh %zu: %s", i, r.code);
		ck_assert_uint_eq(emuctl_request_count(), 0);
		cpk_token_free(tc);
		json_object_put(ar);
		free(doc);
		cpk_config_free(cfg);
		free(cfg);
	}
	free(path);
	free(dir);
}
END_TEST

static Suite *
refresh_suite(void)
{
	Suite *s = suite_create("token_refresh");
	TCase *tc = tcase_create("refresh");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, emu_setup, NULL);
	tcase_add_test(tc, refresh_auth_result);
	tcase_add_test(tc, refresh_initiate_auth_pretty);
	tcase_add_test(tc, refresh_oauth);
	tcase_add_test(tc, refresh_rotated);
	tcase_add_test(tc, refresh_rotated_write_back_fails);
	tcase_add_test(tc, refresh_refusals);
	tcase_add_test(tc, refresh_client_secret);
	tcase_add_test(tc, refuse_before_any_request);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc;

	if (!in_sandbox() || !emuctl_present()) {
		fprintf(stderr, "test_token_refresh: needs root in tests/sandbox.sh and the emulator "
			"(EMU_URL, EMU_CA)\n");
		return 77;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = run_suite(refresh_suite());
	curl_global_cleanup();
	return rc;
}
