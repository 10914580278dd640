/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/token.c and lib/privs.c.
 *
 * pure:   formats, JWT decoding, claim rules, absurd input (always run).
 * files:  the refusal cases created for real, as root, against files of
 *         the sandbox users (tests/sandbox.sh; SANDBOX set, alice and bob
 *         resolvable): run by token.test.
 * Refresh and write-back need the emulator: tests/integration/test_token_refresh.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "cognito.h"
#include "config.h"
#include "identity.h"
#include "privs.h"
#include "token.h"
#include "util.h"
#include "testutil.h"
#include "tokfiles.h"

#define ISS "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"
#define SCOPE "aws.cognito.signin.user.admin"

/* ====================================================================== */
/* helpers                                                                */

/* base64url without padding, of len bytes */
static char *
b64url_n(const void *data, size_t len)
{
	unsigned char *out = malloc(len / 3 * 4 + 8);
	char *p;
	int n;

	ck_assert_ptr_nonnull(out);
	n = EVP_EncodeBlock(out, data, (int)len);
	ck_assert_int_ge(n, 0);
	for (p = (char *)out; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
	return (char *)out;
}

static char *
b64url(const char *s)
{
	return b64url_n(s, strlen(s));
}

/* A JWS with the given payload text (signature: any base64url). */
static char *
jwt_of(const char *payload)
{
	char *h = b64url("{\"kid\":\"k1\",\"alg\":\"RS256\"}");
	char *p = b64url(payload);
	char *j = xasprintf("%s.%s.c2lnbmF0dXJl", h, p);

	free(h);
	free(p);
	return j;
}

/* Claims text; NULL members are left out. exp is a JSON literal. */
static char *
claims_text(const char *token_use, const char *scope, const char *iss, const char *exp,
	    const char *username)
{
	char *s = xasprintf("{\"sub\":\"9b1c\",\"client_id\":\"1example23456789emulatorab\""
			    "%s%s%s%s%s%s%s%s%s%s%s%s,\"iat\":1700000000,\"jti\":\"x\"}",
			    token_use ? ",\"token_use\":\"" : "", token_use ? token_use : "",
			    token_use ? "\"" : "",
			    scope ? ",\"scope\":\"" : "", scope ? scope : "", scope ? "\"" : "",
			    iss ? ",\"iss\":\"" : "", iss ? iss : "", iss ? "\"" : "",
			    username ? ",\"username\":\"" : "", username ? username : "",
			    username ? "\"" : "");
	char *t;

	/* append exp before the closing brace */
	t = xasprintf("%.*s,\"exp\":%s}", (int)(strlen(s) - 1), s, exp);
	free(s);
	return t;
}

static char *
future_exp(void)
{
	return xasprintf("%lld", (long long)(cpk_now() + 3600));
}

/* The access token of a standard, valid, unexpired token. */
static char *
good_jwt(void)
{
	char *exp = future_exp();
	char *c = claims_text("access", SCOPE, ISS, exp, "alice");
	char *j = jwt_of(c);

	free(exp);
	free(c);
	return j;
}

/* Parse, return the code ("" on success); *out kept when asked. */
static char code_buf[96];

static const char *
parse_code(const char *doc, struct cpk_token_cache **keep)
{
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	int rc;

	memset(&r, 'X', sizeof(r));
	rc = cpk_token_parse(doc, strlen(doc), &tc, &r);
	if (rc == 0) {
		ck_assert_ptr_nonnull(tc);
		ck_assert_str_eq(r.code, "");
		if (keep != NULL)
			*keep = tc;
		else
			cpk_token_free(tc);
	} else {
		ck_assert_ptr_null(tc);
		ck_assert_str_ne(r.code, "");
		ck_assert_str_ne(r.message, "");
	}
	snprintf(code_buf, sizeof(code_buf), "%s", rc == 0 ? "" : r.code);
	return code_buf;
}

static const char *
jwt_code(const char *jwt)
{
	struct cpk_claims c;
	struct cpk_reply r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = cpk_jwt_claims(jwt, &c, &r);
	if (rc == 0) {
		cpk_claims_free(&c);
		return "";
	}
	/* nothing left behind on failure */
	ck_assert_ptr_null(c.iss);
	ck_assert_int_eq(c.exp, 0);
	snprintf(code_buf, sizeof(code_buf), "%s", r.code);
	return code_buf;
}

static const char *
payload_code(const char *payload)
{
	char *j = jwt_of(payload);
	const char *c = jwt_code(j);

	free(j);
	return c;
}

static char alice_name[] = "alice", alice_dir[] = "/home/alice", alice_shell[] = "/bin/sh";
static struct passwd alice_pw = {
	.pw_name = alice_name, .pw_uid = 4001, .pw_gid = 4001,
	.pw_dir = alice_dir, .pw_shell = alice_shell,
};

/* cpk_token_check of a token with these claims under cfg. */
static const char *
check_code(struct cpk_config *cfg, const char *claims)
{
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	char *j = jwt_of(claims);
	char *doc = xasprintf("{\"AccessToken\":\"%s\"}", j);
	int rc;

	ck_assert_str_eq(parse_code(doc, &tc), "");
	rc = cpk_token_check(cfg, &alice_pw, tc, &r);
	snprintf(code_buf, sizeof(code_buf), "%s", rc == 0 ? "" : r.code);
	if (rc != 0)
		ck_assert_str_ne(r.message, "");
	cpk_token_free(tc);
	free(doc);
	free(j);
	return code_buf;
}

/* ====================================================================== */
/* pure                                                                   */

START_TEST(jwt_good)
{
	struct cpk_claims c;
	struct cpk_reply r;
	char *j = jwt_of("{\"iss\":\"" ISS "\",\"token_use\":\"access\",\"scope\":\"openid " SCOPE
			 "\",\"exp\":1900000000,\"iat\":1899996400,\"username\":\"alice\","
			 "\"client_id\":\"cid\",\"sub\":\"s\",\"cognito:groups\":[\"a\",{\"b\":[1]}]}");

	ck_assert_int_eq(cpk_jwt_claims(j, &c, &r), 0);
	ck_assert_str_eq(c.iss, ISS);
	ck_assert_str_eq(c.region, "eu-west-1");
	ck_assert_str_eq(c.pool_id, "eu-west-1_Example");
	ck_assert_str_eq(c.token_use, "access");
	ck_assert_str_eq(c.username, "alice");
	ck_assert_str_eq(c.client_id, "cid");
	ck_assert_str_eq(c.sub, "s");
	ck_assert_int_eq(c.exp, 1900000000);
	ck_assert_int_eq(c.iat, 1899996400);
	cpk_claims_free(&c);
	ck_assert_ptr_null(c.iss);
	free(j);

	/* a fractional NumericDate is allowed by RFC 7519 */
	ck_assert_str_eq(payload_code("{\"exp\":1900000000.5}"), "");
}
END_TEST

START_TEST(jwt_malformed)
{
	char *good = good_jwt(), *cut, *p;
	static const char *bad[] = {
		"", "a", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "..",
		"a.b$c.d", "a.b c.d", "a.b+c.d", "a.b/c.d", "a.b=.c", "a.b.c\n",
		"a.bbbbb.c",			/* 5 base64url chars: not a whole byte */
		"eyJ.eyJhIjoxfQ.c", "e30.e30.e30.e30.e30",	/* JWE-shaped */
	};
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(bad); i++)
		ck_assert_msg(strcmp(jwt_code(bad[i]), "malformed_jwt") == 0, "jwt %zu", i);

	/* truncated in the payload, and at the signature */
	cut = strdup(good);
	p = strchr(cut, '.');
	p[20] = '\0';
	ck_assert_str_eq(jwt_code(cut), "malformed_jwt");
	strcpy(cut, good);
	*(strrchr(cut, '.') + 1) = '\0';
	ck_assert_str_eq(jwt_code(cut), "malformed_jwt");
	/* the header and the payload each alone */
	strcpy(cut, good);
	*strchr(cut, '.') = '\0';
	ck_assert_str_eq(jwt_code(cut), "malformed_jwt");
	free(cut);

	/* payloads that are not a JSON object */
	ck_assert_str_eq(payload_code("[1,2]"), "malformed_jwt");
	ck_assert_str_eq(payload_code("\"exp\""), "malformed_jwt");
	ck_assert_str_eq(payload_code("123"), "malformed_jwt");
	ck_assert_str_eq(payload_code("{\"exp\":1900000000"), "malformed_jwt");
	ck_assert_str_eq(payload_code("{\"exp\":1900000000}x"), "malformed_jwt");
	ck_assert_str_eq(payload_code("{\"exp\":1900000000,}"), "malformed_jwt");
	ck_assert_str_eq(payload_code("{\"a\":\"\xff\xfe\",\"exp\":1900000000}"), "malformed_jwt");
	ck_assert_str_eq(payload_code("not json at all"), "malformed_jwt");
	/* a raw NUL byte inside the decoded payload */
	{
		static const char raw[] = "{\"exp\":1900000000}\0{}";
		char *enc = b64url_n(raw, sizeof(raw) - 1);
		char *j = xasprintf("e30.%s.c2ln", enc);

		ck_assert_str_eq(jwt_code(j), "malformed_jwt");
		free(j);
		free(enc);
	}
	/* the sane version passes: the failures above are about the bytes */
	ck_assert_str_eq(payload_code("{\"exp\":1900000000}"), "");
	free(good);
}
END_TEST

START_TEST(jwt_absurd_claims)
{
	static const char *bad[] = {
		"{}",					/* no exp */
		"{\"exp\":null}", "{\"exp\":-1}", "{\"exp\":0}", "{\"exp\":-9223372036854775808}",
		"{\"exp\":253402300800}", "{\"exp\":9223372036854775807}",
		"{\"exp\":99999999999999999999999999999}", "{\"exp\":1e300}", "{\"exp\":-1e300}",
		"{\"exp\":1.5e-300}", "{\"exp\":NaN}", "{\"exp\":Infinity}", "{\"exp\":-Infinity}",
		"{\"exp\":1e999}", "{\"exp\":\"1900000000\"}", "{\"exp\":true}",
		"{\"exp\":[1900000000]}", "{\"exp\":{\"v\":1900000000}}",
		"{\"exp\":1900000000,\"iat\":-5}", "{\"exp\":1900000000,\"iat\":\"now\"}",
		"{\"exp\":1900000000,\"iss\":5}", "{\"exp\":1900000000,\"iss\":[\"" ISS "\"]}",
		"{\"exp\":1900000000,\"username\":{}}", "{\"exp\":1900000000,\"scope\":[\"" SCOPE "\"]}",
		"{\"exp\":1900000000,\"token_use\":false}", "{\"exp\":1900000000,\"client_id\":1}",
		"{\"exp\":1900000000,\"sub\":1.5}",
		"{\"exp\":1900000000,\"username\":\"al\\u0000ice\"}",
	};
	size_t i;
	char *deep, *p;

	for (i = 0; i < CPK_ARRAY_SIZE(bad); i++)
		ck_assert_msg(strcmp(payload_code(bad[i]), "malformed_jwt") == 0, "claims %zu: %s",
			      i, bad[i]);

	/* nested garbage: 10000 levels deep, refused by the depth limit */
	deep = malloc(20100);
	p = deep;
	p += sprintf(p, "{\"exp\":1900000000,\"x\":");
	for (i = 0; i < 10000; i++)
		*p++ = '[';
	for (i = 0; i < 10000; i++)
		*p++ = ']';
	strcpy(p, "}");
	ck_assert_str_eq(payload_code(deep), "malformed_jwt");
	free(deep);

	/* unknown claims of any type are fine */
	ck_assert_str_eq(payload_code("{\"exp\":1900000000,\"x\":{\"y\":[null,true,1.5,\"z\"]}}"), "");
}
END_TEST

START_TEST(issuers)
{
	static const char *foreign[] = {
		"http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
		"https://cognito-idp.eu-west-1.amazonaws.com.evil.example/eu-west-1_Example",
		"https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_Example",
		"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example/x",
		"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_",
		"https://cognito-idp.eu-west-1.amazonaws.com/",
		"https://cognito-idp..amazonaws.com/_Example",
		"https://cognito-idp.EU-WEST-1.amazonaws.com/EU-WEST-1_Example",
		"https://evil.example/eu-west-1_Example",
		"https://login.microsoftonline.com/common/v2.0",
		"",
	};
	struct cpk_config cfg;
	char *exp = future_exp(), *c;
	size_t i;

	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	for (i = 0; i < CPK_ARRAY_SIZE(foreign); i++) {
		c = claims_text("access", SCOPE, foreign[i], exp, "alice");
		ck_assert_msg(strcmp(check_code(&cfg, c), "foreign_issuer") == 0, "iss %s", foreign[i]);
		free(c);
	}
	c = claims_text("access", SCOPE, NULL, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "foreign_issuer");
	free(c);
	c = claims_text("access", SCOPE, "https://cognito-idp.us-gov-west-1.amazonaws.com/"
			"us-gov-west-1_AbC123", exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "");
	free(c);
	free(exp);
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(claim_rules)
{
	struct cpk_config cfg;
	char *exp = future_exp(), *c;

	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	c = claims_text("access", SCOPE, ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "");
	free(c);

	c = claims_text("id", SCOPE, ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "not_access_token");
	free(c);
	c = claims_text(NULL, SCOPE, ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "not_access_token");
	free(c);
	c = claims_text("Access", SCOPE, ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "not_access_token");
	free(c);

	c = claims_text("access", NULL, ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "missing_scope");
	free(c);
	c = claims_text("access", "openid email", ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "missing_scope");
	free(c);
	c = claims_text("access", SCOPE "x", ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "missing_scope");
	free(c);
	c = claims_text("access", "x" SCOPE, ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "missing_scope");
	free(c);
	c = claims_text("access", "openid " SCOPE " email", ISS, exp, "alice");
	ck_assert_str_eq(check_code(&cfg, c), "");
	free(c);

	/* the default identity rule: the token names the account's user */
	c = claims_text("access", SCOPE, ISS, exp, "bob");
	ck_assert_str_eq(check_code(&cfg, c), "username_mismatch");
	free(c);
	/* opted out, and no pool: nothing proves whose token it is */
	c = claims_text("access", SCOPE, ISS, exp, "bob");
	cfg_set(&cfg, "expect_username", "none");
	ck_assert_str_eq(check_code(&cfg, c), "identity_unverified");
	cfg_set(&cfg, "user_pool_id", "eu-west-1_Example");
	ck_assert_str_eq(check_code(&cfg, c), "");
	free(c);
	cpk_config_free(&cfg);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);

	/* the configured pool and region */
	c = claims_text("access", SCOPE, ISS, exp, "alice");
	cfg_set(&cfg, "user_pool_id", "eu-west-1_Other");
	ck_assert_str_eq(check_code(&cfg, c), "foreign_pool");
	cfg_set(&cfg, "user_pool_id", "eu-west-1_Example");
	ck_assert_str_eq(check_code(&cfg, c), "");
	cfg_set(&cfg, "region", "us-east-1");
	ck_assert_str_eq(check_code(&cfg, c), "foreign_issuer");
	cfg_set(&cfg, "region", "eu-west-1");
	ck_assert_str_eq(check_code(&cfg, c), "");

	/* expect_username */
	cfg_set(&cfg, "expect_username", "%u");
	ck_assert_str_eq(check_code(&cfg, c), "");
	cfg_set(&cfg, "expect_username", "%u@example.com");
	ck_assert_str_eq(check_code(&cfg, c), "username_mismatch");
	free(c);
	c = claims_text("access", SCOPE, ISS, exp, "alice@example.com");
	ck_assert_str_eq(check_code(&cfg, c), "");
	free(c);
	c = claims_text("access", SCOPE, ISS, exp, "bob@example.com");
	ck_assert_str_eq(check_code(&cfg, c), "username_mismatch");
	free(c);
	c = claims_text("access", SCOPE, ISS, exp, NULL);
	ck_assert_str_eq(check_code(&cfg, c), "username_mismatch");
	free(c);
	cfg_set(&cfg, "expect_username", "u%U");
	c = claims_text("access", SCOPE, ISS, exp, "u4001");
	ck_assert_str_eq(check_code(&cfg, c), "");
	free(c);
	free(exp);
	cpk_config_free(&cfg);
}
END_TEST

/* What GetUser answered, judged by the identity rule (identity.h). */
static const char *
confirm_code(struct cpk_config *cfg, const char *username, const char *sub, const char *pinned)
{
	struct cpk_reply r;
	int rc = cpk_identity_confirm(cfg, &alice_pw, username, sub, pinned, &r);

	snprintf(code_buf, sizeof(code_buf), "%s", rc == 0 ? "" : r.code);
	if (rc != 0)
		ck_assert_str_ne(r.message, "");
	return code_buf;
}

START_TEST(identity_rules)
{
	struct cpk_config cfg;
	struct cpk_reply r;

	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	ck_assert_int_eq(cpk_identity_configured(&cfg, &r), 0);
	ck_assert_str_eq(confirm_code(&cfg, "alice", "s-1", NULL), "");
	ck_assert_str_eq(confirm_code(&cfg, "alice", "s-1", "s-1"), "");
	ck_assert_str_eq(confirm_code(&cfg, "bob", "s-2", NULL), "username_mismatch");
	ck_assert_str_eq(confirm_code(&cfg, "Alice", "s-1", NULL), "username_mismatch");
	ck_assert_str_eq(confirm_code(&cfg, NULL, "s-1", NULL), "username_mismatch");
	ck_assert_str_eq(confirm_code(&cfg, "alice", NULL, NULL), "identity_unverified");
	ck_assert_str_eq(confirm_code(&cfg, "alice", "", NULL), "identity_unverified");
	/* another alice (another pool, a re-created user): not the one pinned */
	ck_assert_str_eq(confirm_code(&cfg, "alice", "s-9", "s-1"), "identity_mismatch");
	/* the detail never carries control bytes from the network */
	ck_assert_int_eq(cpk_identity_confirm(&cfg, &alice_pw, "b\033]0;x\007ob", "s", NULL, &r), -1);
	ck_assert_ptr_null(strchr(r.message, '\033'));
	ck_assert_ptr_null(strchr(r.message, '\007'));

	cfg_set(&cfg, "expect_username", "none");
	ck_assert_int_eq(cpk_identity_configured(&cfg, &r), -1);
	ck_assert_str_eq(r.code, "identity_unverified");
	ck_assert_str_eq(confirm_code(&cfg, "alice", "s-1", NULL), "identity_unverified");
	cfg_set(&cfg, "user_pool_id", "eu-west-1_Example");
	ck_assert_int_eq(cpk_identity_configured(&cfg, &r), 0);
	/* the pool alone: any of its users counts, but only the pinned one after */
	ck_assert_str_eq(confirm_code(&cfg, "bob", "s-2", NULL), "");
	ck_assert_str_eq(confirm_code(&cfg, "bob", "s-2", "s-1"), "identity_mismatch");
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(formats)
{
	struct cpk_token_cache *tc = NULL;
	char *j = good_jwt(), *doc;

	doc = xasprintf("{\"AccessToken\":\"%s\",\"ExpiresIn\":3600,\"TokenType\":\"Bearer\","
			"\"RefreshToken\":\"r.e.f\",\"IdToken\":\"i.d.t\"}", j);
	ck_assert_str_eq(parse_code(doc, &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), CPK_TOKFMT_AUTH_RESULT);
	ck_assert_str_eq(cpk_token_access(tc), j);
	ck_assert_str_eq(cpk_token_claims(tc)->username, "alice");
	ck_assert_ptr_null(cpk_token_path(tc));
	cpk_token_free(tc);
	free(doc);

	doc = xasprintf("{\n  \"ChallengeParameters\": {},\n  \"AuthenticationResult\": {\n"
			"    \"AccessToken\": \"%s\",\n    \"ExpiresIn\": 3600\n  }\n}\n", j);
	ck_assert_str_eq(parse_code(doc, &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), CPK_TOKFMT_INITIATE_AUTH);
	ck_assert_str_eq(cpk_token_access(tc), j);
	cpk_token_free(tc);
	free(doc);

	doc = xasprintf("{\"access_token\":\"%s\",\"refresh_token\":\"r.e.f\",\"id_token\":\"x\","
			"\"token_type\":\"Bearer\",\"expires_in\":3600}  \r\n\t", j);
	ck_assert_str_eq(parse_code(doc, &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), CPK_TOKFMT_OAUTH);
	ck_assert_str_eq(cpk_token_access(tc), j);
	cpk_token_free(tc);
	free(doc);

	/* not one of the formats */
	ck_assert_str_eq(parse_code("{}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("[]", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("\"AccessToken\"", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"accessToken\":\"a.b.c\"}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"ChallengeName\":\"SMS_MFA\",\"Session\":\"x\"}", NULL),
			 "unknown_format");
	ck_assert_str_eq(parse_code("{\"AuthenticationResult\":null}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"AuthenticationResult\":\"a.b.c\"}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"AuthenticationResult\":{}}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"AccessToken\":5}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"AccessToken\":null}", NULL), "unknown_format");
	ck_assert_str_eq(parse_code("{\"access_token\":[\"a.b.c\"]}", NULL), "unknown_format");
	doc = xasprintf("{\"AccessToken\":\"%s\",\"access_token\":\"%s\"}", j, j);
	ck_assert_str_eq(parse_code(doc, NULL), "unknown_format");
	free(doc);
	doc = xasprintf("{\"AccessToken\":\"%s\",\"RefreshToken\":7}", j);
	ck_assert_str_eq(parse_code(doc, NULL), "unknown_format");
	free(doc);
	doc = xasprintf("{\"AccessToken\":\"%s\",\"RefreshToken\":\"has space\"}", j);
	ck_assert_str_eq(parse_code(doc, NULL), "unknown_format");
	free(doc);
	/* a bad ID token is only carried, never used: accepted */
	doc = xasprintf("{\"AccessToken\":\"%s\",\"IdToken\":42}", j);
	ck_assert_str_eq(parse_code(doc, NULL), "");
	free(doc);
	/* access token present but no JWT */
	ck_assert_str_eq(parse_code("{\"AccessToken\":\"abc\"}", NULL), "malformed_jwt");
	ck_assert_str_eq(parse_code("{\"AccessToken\":\"\"}", NULL), "malformed_jwt");
	ck_assert_str_eq(parse_code("{\"AccessToken\":\"a b.c.d\"}", NULL), "malformed_jwt");
	ck_assert_str_eq(parse_code("{\"AccessToken\":\"a.b\\u0000.c\"}", NULL), "malformed_jwt");
	free(j);
}
END_TEST

START_TEST(malformed_json)
{
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	char *j = good_jwt(), *doc, *big;
	static const char *bad[] = {
		"", " ", "{", "{\"AccessToken\":", "{\"AccessToken\":\"a.b.c\"",
		"{\"AccessToken\":\"a.b.c\",}", "{'AccessToken':'a.b.c'}", "{AccessToken:1}",
		"{\"AccessToken\":\"a.b.c\"}}", "{\"AccessToken\":\"a.b.c\"} {}", "nul", "\xff\xfe{}",
		"{\"a\":\"\xc3\x28\"}", "{\"a\":01}", "/* c */ {}",
	};
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(bad); i++)
		ck_assert_msg(strcmp(parse_code(bad[i], NULL), "malformed_json") == 0, "doc %zu: %s",
			      i, bad[i]);
	/* an embedded NUL byte */
	doc = xasprintf("{\"AccessToken\":\"%s\"}", j);
	doc[1] = '\0';
	ck_assert_int_eq(cpk_token_parse(doc, strlen(j) + 17, &tc, &r), -1);
	ck_assert_str_eq(r.code, "malformed_json");
	free(doc);
	/* nested garbage */
	big = malloc(60001);
	memset(big, '[', 30000);
	memset(big + 30000, ']', 30000);
	big[60000] = '\0';
	ck_assert_str_eq(parse_code(big, NULL), "malformed_json");
	/* over the size limit, even when valid */
	memset(&r, 0, sizeof(r));
	free(big);
	big = malloc(CPK_TOKEN_MAX_FILE + 2);
	memset(big, ' ', CPK_TOKEN_MAX_FILE + 1);
	big[0] = '{';
	big[CPK_TOKEN_MAX_FILE] = '}';
	big[CPK_TOKEN_MAX_FILE + 1] = '\0';
	ck_assert_str_eq(parse_code(big, NULL), "too_large");
	free(big);
	free(j);
}
END_TEST

START_TEST(expiring)
{
	struct cpk_token_cache *tc = NULL;
	char *c, *j, *doc, exp[32];
	int64_t now = cpk_now();
	struct { int64_t exp; bool expiring; } cases[] = {
		{ now + CPK_TOKEN_SKEW + 10, false }, { now + CPK_TOKEN_SKEW + 1, false },
		{ now + CPK_TOKEN_SKEW, true }, { now + 1, true }, { now - 100, true }, { 1, true },
	};
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(cases); i++) {
		snprintf(exp, sizeof(exp), "%lld", (long long)cases[i].exp);
		c = claims_text("access", SCOPE, ISS, exp, "alice");
		j = jwt_of(c);
		doc = xasprintf("{\"AccessToken\":\"%s\"}", j);
		ck_assert_str_eq(parse_code(doc, &tc), "");
		ck_assert_msg(cpk_token_expiring(tc, now) == cases[i].expiring, "case %zu", i);
		cpk_token_free(tc);
		free(doc);
		free(j);
		free(c);
	}
}
END_TEST

/* ====================================================================== */
/* files (root, sandbox users; the file helpers are tests/tokfiles.c)     */

/* A valid cache document (AuthenticationResult) for alice. */
static char *
good_doc(void)
{
	char *j = good_jwt();
	char *d = xasprintf("{\"AccessToken\":\"%s\",\"RefreshToken\":\"r.e.f\"}", j);

	free(j);
	return d;
}

START_TEST(privs_switch)
{
	struct passwd *alice = user("alice");
	struct cpk_privs p;
	char *path = xasprintf("%s/privs-root-only", getenv("SANDBOX"));
	gid_t g[NGROUPS_MAX];
	int n, fd;

	put(path, "root only", 0, 0600);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(cpk_privs_drop(&p, alice), 0);
	ck_assert(p.dropped);
	ck_assert_int_eq(cpk_privs_fsuid(), 4001);
	ck_assert_int_eq(cpk_privs_fsgid(), 4001);
	ck_assert_int_eq(geteuid(), 0);	/* real and effective ids untouched */
	n = getgroups(NGROUPS_MAX, g);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(g[0], 4001);
	/* root's file is out of reach now: CAP_DAC_OVERRIDE is gone */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, EACCES);
	/* a second drop is refused rather than saving alice as "old" */
	ck_assert_int_eq(cpk_privs_drop(&p, alice), -1);
	ck_assert_int_eq(errno, EALREADY);
	ck_assert_int_eq(cpk_privs_regain(&p), 0);
	ck_assert(!p.dropped);
	assert_root_again();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* regain without drop: nothing */
	ck_assert_int_eq(cpk_privs_regain(&p), 0);
	assert_root_again();
	unlink(path);
	free(path);
}
END_TEST

START_TEST(file_formats_ok)
{
	struct passwd *alice = user("alice");
	struct cpk_token_cache *tc = NULL;
	char *dir = xasprintf("%s/ok", alice->pw_dir), *path, *j = good_jwt(), *doc;

	mkdir_owned(dir, 4001, 0700);
	path = xasprintf("%s/tokens.json", dir);

	doc = xasprintf("{\"AccessToken\":\"%s\",\"ExpiresIn\":3600}", j);
	put(path, doc, 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/ok/tokens.json", &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), CPK_TOKFMT_AUTH_RESULT);
	ck_assert_str_eq(cpk_token_path(tc), path);
	ck_assert_str_eq(cpk_token_access(tc), j);
	cpk_token_free(tc);
	free(doc);

	doc = xasprintf("{\"AuthenticationResult\":{\"AccessToken\":\"%s\"},"
			"\"ChallengeParameters\":{}}", j);
	put(path, doc, 4001, 0400);	/* stricter than 0600 is fine */
	ck_assert_str_eq(load_code(alice, "%h/ok/tokens.json", &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), CPK_TOKFMT_INITIATE_AUTH);
	cpk_token_free(tc);
	free(doc);

	doc = xasprintf("{\"access_token\":\"%s\",\"token_type\":\"Bearer\"}\n", j);
	put(path, doc, 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/ok/tokens.json", &tc), "");
	ck_assert_int_eq(cpk_token_format(tc), CPK_TOKFMT_OAUTH);
	cpk_token_free(tc);
	free(doc);

	/* the other templates */
	ck_assert_str_eq(load_code(alice, "%h/ok/tok%%ens.json", NULL), "not_found");
	put(path, "", 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/ok/tokens.json", NULL), "malformed_json");
	ck_assert_str_eq(load_code(alice, "%h/nonexistent/tokens.json", NULL), "not_found");
	ck_assert_str_eq(load_code(alice, "%h/ok/tokens.json/x", NULL), "not_found");
	free(j);
	free(path);
	free(dir);
}
END_TEST

/*
 * Every refused target holds a valid token document and, where the rule
 * is about the user's rights, is readable by root alone: had the file
 * been opened as root or read before the checks, the load would have
 * succeeded or failed on content; the code names the rule instead.
 */
START_TEST(refuse_symlinks)
{
	struct passwd *alice = user("alice");
	char *dir = xasprintf("%s/sym", alice->pw_dir), *path, *target, *doc = good_doc();

	mkdir_owned(dir, 4001, 0700);
	path = xasprintf("%s/tokens.json", dir);
	target = xasprintf("%s/root-only.json", getenv("SANDBOX"));
	put(target, doc, 0, 0600);

	unlink(path);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(lchown(path, 4001, 4001), 0);
	ck_assert_str_eq(load_code(alice, "%h/sym/tokens.json", NULL), "symlink");

	/* the same link to a file alice owns: still refused (O_NOFOLLOW) */
	put(target, doc, 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/sym/tokens.json", NULL), "symlink");

	/* /dev/zero behind a symlink: refused at open, nothing read */
	unlink(path);
	ck_assert_int_eq(symlink("/dev/zero", path), 0);
	ck_assert_str_eq(load_code(alice, "%h/sym/tokens.json", NULL), "symlink");
	/* and /dev/zero named directly: not a regular file, never read */
	ck_assert_str_eq(load_code(alice, "/dev/zero", NULL), "not_regular_file");

	/* a dangling link */
	unlink(path);
	ck_assert_int_eq(symlink("/nonexistent/x", path), 0);
	ck_assert_str_eq(load_code(alice, "%h/sym/tokens.json", NULL), "symlink");
	unlink(path);
	unlink(target);
	free(target);
	free(path);
	free(dir);
	free(doc);
}
END_TEST

START_TEST(refuse_fifo_dir_size)
{
	struct passwd *alice = user("alice");
	char *dir = xasprintf("%s/special", alice->pw_dir), *path;
	int fd;

	mkdir_owned(dir, 4001, 0700);
	path = xasprintf("%s/tokens.json", dir);

	/* a FIFO with no writer: a blocking open would hang here (tcase timeout) */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(chown(path, 4001, 4001), 0);
	ck_assert_str_eq(load_code(alice, "%h/special/tokens.json", NULL), "not_regular_file");
	unlink(path);

	/* a directory */
	mkdir_owned(path, 4001, 0700);
	ck_assert_str_eq(load_code(alice, "%h/special/tokens.json", NULL), "not_regular_file");
	rmdir(path);

	/* 10 MiB, owned by alice, mode 0600: refused on its size */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 10 * 1024 * 1024), 0);
	ck_assert_int_eq(fchown(fd, 4001, 4001), 0);
	close(fd);
	ck_assert_str_eq(load_code(alice, "%h/special/tokens.json", NULL), "too_large");
	/* one byte over the limit */
	ck_assert_int_eq(truncate(path, CPK_TOKEN_MAX_FILE + 1), 0);
	ck_assert_str_eq(load_code(alice, "%h/special/tokens.json", NULL), "too_large");
	/* exactly the limit is read (and is not JSON) */
	ck_assert_int_eq(truncate(path, CPK_TOKEN_MAX_FILE), 0);
	ck_assert_str_eq(load_code(alice, "%h/special/tokens.json", NULL), "malformed_json");
	unlink(path);
	free(path);
	free(dir);
}
END_TEST

START_TEST(refuse_owner_mode)
{
	struct passwd *alice = user("alice");
	char *dir = xasprintf("%s/own", alice->pw_dir), *path, *doc = good_doc();
	static const mode_t too_open[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666, 0644 };
	size_t i;

	mkdir_owned(dir, 4001, 0700);
	path = xasprintf("%s/tokens.json", dir);

	/* bob's file in alice's directory, readable by alice: wrong owner */
	put(path, doc, 4002, 0644);
	ck_assert_str_eq(load_code(alice, "%h/own/tokens.json", NULL), "wrong_owner");
	/* bob's file, 0600: alice cannot even open it (root could) */
	put(path, doc, 4002, 0600);
	ck_assert_str_eq(load_code(alice, "%h/own/tokens.json", NULL), "unreadable");
	/* root's file */
	put(path, doc, 0, 0644);
	ck_assert_str_eq(load_code(alice, "%h/own/tokens.json", NULL), "wrong_owner");

	for (i = 0; i < CPK_ARRAY_SIZE(too_open); i++) {
		put(path, doc, 4001, too_open[i]);
		ck_assert_msg(strcmp(load_code(alice, "%h/own/tokens.json", NULL),
				     "mode_too_open") == 0, "mode %o", too_open[i]);
	}
	/* the control: the same document with 0600 loads */
	put(path, doc, 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/own/tokens.json", NULL), "");
	unlink(path);
	free(path);
	free(dir);
	free(doc);
}
END_TEST

START_TEST(refuse_hard_link)
{
	struct passwd *alice = user("alice"), *bob = user("bob");
	char *dir = xasprintf("%s/hl", alice->pw_dir), *path, *bobs, *doc = good_doc();

	mkdir_owned(dir, 4001, 0700);
	path = xasprintf("%s/tokens.json", dir);
	bobs = xasprintf("%s/tokens.json", bob->pw_dir);
	put(bobs, doc, 4002, 0600);
	/* bob's own load works */
	ck_assert_str_eq(load_code(bob, "%h/tokens.json", NULL), "");

	/* a hard link in alice's directory to bob's 0600 file */
	unlink(path);
	ck_assert_int_eq(link(bobs, path), 0);
	ck_assert_str_eq(load_code(alice, "%h/hl/tokens.json", NULL), "unreadable");
	/* bob's file made readable: the link opens, the owner rule refuses */
	ck_assert_int_eq(chmod(bobs, 0644), 0);
	ck_assert_str_eq(load_code(alice, "%h/hl/tokens.json", NULL), "wrong_owner");
	unlink(path);
	unlink(bobs);
	free(bobs);
	free(path);
	free(dir);
	free(doc);
}
END_TEST

START_TEST(refuse_unenterable_dir)
{
	struct passwd *alice = user("alice");
	char *locked = xasprintf("%s/locked", alice->pw_dir), *path, *doc = good_doc();
	char *rootdir = xasprintf("%s/rootdir", getenv("SANDBOX")), *rpath, *link;

	/* alice's own valid file, in a root-only directory inside her home */
	mkdir_owned(locked, 0, 0700);
	path = xasprintf("%s/tokens.json", locked);
	put(path, doc, 4001, 0600);
	ck_assert_str_eq(load_code(alice, "%h/locked/tokens.json", NULL), "unreadable");
	/* the control: the directory opened to her, the same file loads */
	ck_assert_int_eq(chown(locked, 4001, 4001), 0);
	ck_assert_str_eq(load_code(alice, "%h/locked/tokens.json", NULL), "");
	/* search permission without read is enough to walk through */
	ck_assert_int_eq(chown(locked, 0, 0), 0);
	ck_assert_int_eq(chmod(locked, 0711), 0);
	ck_assert_str_eq(load_code(alice, "%h/locked/tokens.json", NULL), "");

	/* through a symlinked directory component into a root-only place */
	mkdir_owned(rootdir, 0, 0700);
	rpath = xasprintf("%s/tokens.json", rootdir);
	put(rpath, doc, 4001, 0600);
	link = xasprintf("%s/cache", alice->pw_dir);
	unlink(link);
	ck_assert_int_eq(symlink(rootdir, link), 0);
	ck_assert_str_eq(load_code(alice, "%h/cache/tokens.json", NULL), "unreadable");
	/* as root (no switch for uid 0) the same path would have been read */
	ck_assert_int_eq(access(rpath, R_OK), 0);

	unlink(link);
	unlink(rpath);
	rmdir(rootdir);
	unlink(path);
	rmdir(locked);
	free(link);
	free(rpath);
	free(rootdir);
	free(path);
	free(locked);
	free(doc);
}
END_TEST

START_TEST(secret_file)
{
	char *dir = getenv("SANDBOX"), *path = xasprintf("%s/client-secret", dir), *s = NULL;
	char *lnk = xasprintf("%s/client-secret-link", dir);
	struct cpk_reply r;

	put(path, "abcdefghijklmnopqrstuvwxyz012345\n", 0, 0600);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), 0);
	ck_assert_str_eq(s, "abcdefghijklmnopqrstuvwxyz012345");
	cpk_free_secret(s);
	put(path, "abcdefghijklmnopqrstuvwxyz012345", 0, 0400);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), 0);
	cpk_free_secret(s);

	put(path, "abcdefghijklmnopqrstuvwxyz012345\n", 0, 0640);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), -1);
	ck_assert_str_eq(r.code, "mode_too_open");
	ck_assert_ptr_null(s);
	put(path, "abcdefghijklmnopqrstuvwxyz012345\n", 4001, 0600);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), -1);
	ck_assert_str_eq(r.code, "wrong_owner");
	put(path, "two words\n", 0, 0600);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), -1);
	ck_assert_str_eq(r.code, "unreadable");
	put(path, "\n", 0, 0600);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), -1);
	ck_assert_str_eq(r.code, "unreadable");
	put_file(path, "abcdefghijklmnop\0qrstuvwxyz012345\n", 34, 0, 0600);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), -1);
	ck_assert_str_eq(r.code, "unreadable");
	put_file(path, "abcdefghijklmnopqrstuvwxyz012345\0\n", 34, 0, 0600);
	ck_assert_int_eq(cpk_secret_file_read(path, &s, &r), -1);
	ck_assert_str_eq(r.code, "unreadable");
	put(path, "abcdefghijklmnopqrstuvwxyz012345\n", 0, 0600);
	unlink(lnk);
	ck_assert_int_eq(symlink(path, lnk), 0);
	ck_assert_int_eq(cpk_secret_file_read(lnk, &s, &r), -1);
	ck_assert_str_eq(r.code, "symlink");
	ck_assert_int_eq(cpk_secret_file_read("/nonexistent/secret", &s, &r), -1);
	ck_assert_str_eq(r.code, "not_found");
	unlink(lnk);
	unlink(path);
	free(lnk);
	free(path);
}
END_TEST

/* ====================================================================== */
static Suite *
token_suite(bool files)
{
	Suite *s = suite_create("token");
	TCase *tc;

	tc = tcase_create("pure");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, jwt_good);
	tcase_add_test(tc, jwt_malformed);
	tcase_add_test(tc, jwt_absurd_claims);
	tcase_add_test(tc, issuers);
	tcase_add_test(tc, claim_rules);
	tcase_add_test(tc, identity_rules);
	tcase_add_test(tc, formats);
	tcase_add_test(tc, malformed_json);
	tcase_add_test(tc, expiring);
	suite_add_tcase(s, tc);

	if (files) {
		tc = tcase_create("files");
		/* short: a FIFO that blocked would hit it */
		tcase_set_timeout(tc, 10);
		tcase_add_checked_fixture(tc, files_setup, NULL);
		tcase_add_test(tc, privs_switch);
		tcase_add_test(tc, file_formats_ok);
		tcase_add_test(tc, refuse_symlinks);
		tcase_add_test(tc, refuse_fifo_dir_size);
		tcase_add_test(tc, refuse_owner_mode);
		tcase_add_test(tc, refuse_hard_link);
		tcase_add_test(tc, refuse_unenterable_dir);
		tcase_add_test(tc, secret_file);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	bool files = in_sandbox();

	if (!files)
		fprintf(stderr, "test_token: not root in tests/sandbox.sh: file tests not run\n");
	return run_suite(token_suite(files));
}
