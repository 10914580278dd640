/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/cognito.c, cognito_parse.c, http.c and retry.c without a network:
 * the parsers, the error and retry classification, endpoint resolution and
 * the refusals made before any connection.  The client against a server
 * (the emulator, a loopback one-shot server) is
 * tests/integration/test_cognito.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cognito.h"
#include "http.h"
#include "quota.h"
#include "config.h"
#include "util.h"
#include "testutil.h"

/* ====================================================================== */
/* pure                                                                   */

START_TEST(token_syntax)
{
	ck_assert(cpk_token_syntax_valid("eyJhbGciOi.eyJzdWIi.c2ln"));
	ck_assert(cpk_token_syntax_valid("abc-_=."));
	ck_assert(!cpk_token_syntax_valid(""));
	ck_assert(!cpk_token_syntax_valid(NULL));
	ck_assert(!cpk_token_syntax_valid("a b"));
	ck_assert(!cpk_token_syntax_valid("a/b"));
	ck_assert(!cpk_token_syntax_valid("a+b"));
	ck_assert(!cpk_token_syntax_valid("a:b"));
	ck_assert(!cpk_token_syntax_valid("a\"b"));
	ck_assert(!cpk_token_syntax_valid("a\nb"));
}
END_TEST

START_TEST(secret_hash_vector)
{
	/* python3: base64(hmac.new(secret, b"alice" + client_id, sha256).digest()) */
	char *h = cpk_secret_hash("abcdefghijklmnopqrstuvwxyz012345", "alice", "1example23456789");

	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(h, "UfzEbPL7wK+9hYooD4bl/yvJOJxNhkQMxdhmeH+s/q8=");
	free(h);
	h = cpk_secret_hash("k", "", "");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(h, "i7mQxAp9YcuXWXqUISUCW+UKyL63RDbjc1uYiTp/ZiA=");
	free(h);
	ck_assert_ptr_null(cpk_secret_hash(NULL, "a", "b"));
}
END_TEST

static void
perr(const char *body, const char *hdr, struct cpk_reply *r)
{
	memset(r, 'X', sizeof(*r));
	cpk_parse_error(body, body != NULL ? strlen(body) : 0, hdr, r);
}

START_TEST(parse_error_forms)
{
	struct cpk_reply r;

	perr("{\"__type\":\"NotAuthorizedException\",\"message\":\"Access Token has expired\"}", NULL, &r);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_str_eq(r.message, "Access Token has expired");

	perr("{\"__type\":\"com.amazonaws.cognitoidentityprovider#ResourceNotFoundException\","
	     "\"Message\":\"gone\"}", NULL, &r);
	ck_assert_str_eq(r.code, "ResourceNotFoundException");
	ck_assert_str_eq(r.message, "gone");

	perr("{\"__type\":\"aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/"
	     "com.amazon.coral.validate/\"}", NULL, &r);
	ck_assert_str_eq(r.code, "FooError");
	ck_assert_str_eq(r.message, "");

	perr("{\"__type\":\"FooError:http://internal.amazon.com/coral/x#y\"}", NULL, &r);
	ck_assert_str_eq(r.code, "FooError");

	/* "message" wins over "Message" */
	perr("{\"__type\":\"X\",\"message\":\"lower\",\"Message\":\"upper\"}", NULL, &r);
	ck_assert_str_eq(r.message, "lower");

	/* body code, any case, when __type is absent */
	perr("{\"code\":\"TooManyRequestsException\",\"message\":\"Rate exceeded\"}", NULL, &r);
	ck_assert_str_eq(r.code, "TooManyRequestsException");
	perr("{\"Code\":\"LimitExceededException\"}", "Other", &r);
	ck_assert_str_eq(r.code, "LimitExceededException");

	/* __type beats the header; the header is the last resort */
	perr("{\"__type\":\"A\"}", "B", &r);
	ck_assert_str_eq(r.code, "A");
	perr("{\"message\":\"m\"}", "ForbiddenException:http://internal.amazon.com/coral/x/", &r);
	ck_assert_str_eq(r.code, "ForbiddenException");
	ck_assert_str_eq(r.message, "m");
	perr("", "ns#UserNotFoundException", &r);
	ck_assert_str_eq(r.code, "UserNotFoundException");

	/* nothing usable */
	perr("", NULL, &r);
	ck_assert_str_eq(r.code, "");
	ck_assert_str_eq(r.message, "");
	perr("<html><body>503 Service Unavailable</body></html>", NULL, &r);
	ck_assert_str_eq(r.code, "");
	perr("[\"__type\"]", NULL, &r);
	ck_assert_str_eq(r.code, "");
	perr("{\"__type\":42}", NULL, &r);
	ck_assert_str_eq(r.code, "");
	perr("{\"__type\":\"A\"} trailing", NULL, &r);
	ck_assert_str_eq(r.code, "");

	/* control bytes never reach an audit line: cpk_printable's \xNN */
	perr("{\"__type\":\"Bad\\nCode\",\"message\":\"a\\u0001b\"}", NULL, &r);
	ck_assert_str_eq(r.code, "Bad\\x0aCode");
	ck_assert_str_eq(r.message, "a\\x01b");
	/* valid UTF-8 stays whole, a stray byte is escaped */
	perr("{\"__type\":\"X\",\"message\":\"Cl\xc3\xa9 \xff\"}", NULL, &r);
	ck_assert_str_eq(r.message, "Cl\xc3\xa9 \\xff");
}
END_TEST

static const char page1[] =
	"{\"Credentials\":["
	"{\"CredentialId\":\"AAA\",\"FriendlyCredentialName\":\"YubiKey 5C\","
	"\"RelyingPartyId\":\"example.com\",\"AuthenticatorAttachment\":\"cross-platform\","
	"\"AuthenticatorTransports\":[\"usb\",\"nfc\"],\"CreatedAt\":1.7E9},"
	"{\"CredentialId\":\"BBB\",\"FriendlyCredentialName\":\"Cl\\u00e9\","
	"\"RelyingPartyId\":\"example.com\",\"AuthenticatorTransports\":[],\"CreatedAt\":1659377625}"
	"],\"NextToken\":\"next-1\"}";

#define PAGE(s, want) ck_assert_int_eq(cpk_parse_credential_page(s, strlen(s), &l, &next), want)

START_TEST(parse_page)
{
	struct cpk_credential_list l = { NULL, 0 };
	char *next = NULL;

	ck_assert_int_eq(cpk_parse_credential_page(page1, strlen(page1), &l, &next), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(next, "next-1");
	free(next);
	ck_assert_str_eq(l.items[0].id, "AAA");
	ck_assert_str_eq(l.items[0].name, "YubiKey 5C");
	ck_assert_str_eq(l.items[0].rp_id, "example.com");
	ck_assert_str_eq(l.items[0].attachment, "cross-platform");
	ck_assert_str_eq(l.items[0].transports[0], "usb");
	ck_assert_str_eq(l.items[0].transports[1], "nfc");
	ck_assert_ptr_null(l.items[0].transports[2]);
	ck_assert(l.items[0].created_at == 1.7e9);
	ck_assert_str_eq(l.items[1].name, "Cl\xc3\xa9");
	ck_assert_ptr_null(l.items[1].attachment);
	ck_assert_ptr_null(l.items[1].transports[0]);
	ck_assert(l.items[1].created_at == 1659377625.0);

	/* a second page appends; no NextToken ends */
	PAGE("{\"Credentials\":[{\"CredentialId\":\"CCC\"}]}", 0);
	ck_assert_ptr_null(next);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.items[2].id, "CCC");
	ck_assert_str_eq(l.items[2].name, "");
	ck_assert_str_eq(l.items[0].id, "AAA");

	/* failures leave the list as it was */
#define BAD(s) do { \
		ck_assert_int_eq(cpk_parse_credential_page(s, strlen(s), &l, &next), -1); \
		ck_assert_ptr_null(next); \
		ck_assert_uint_eq(l.n, 3); \
	} while (0)
	BAD("");
	BAD("{}");
	BAD("{\"Credentials\":{}}");
	BAD("{\"Credentials\":[{\"CredentialId\":\"D\"},{\"FriendlyCredentialName\":\"no id\"}]}");
	BAD("{\"Credentials\":[{\"CredentialId\":7}]}");
	/* an id outside the one rule (util.h) would be stored, then refused on reading */
	BAD("{\"Credentials\":[{\"CredentialId\":\"a b\"}]}");
	BAD("{\"Credentials\":[{\"CredentialId\":\"\"}]}");
	BAD("{\"Credentials\":[{\"CredentialId\":\"D\",\"CreatedAt\":\"yesterday\"}]}");
	BAD("{\"Credentials\":[{\"CredentialId\":\"D\",\"AuthenticatorTransports\":[\"usb\",1]}]}");
	BAD("{\"Credentials\":[],\"NextToken\":5}");
	BAD("{\"Credentials\":[]} {}");
	BAD("<html>");
#undef BAD
	ck_assert_str_eq(l.items[2].id, "CCC");
	cpk_credential_list_free(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.items);
	cpk_credential_list_free(&l);	/* twice is fine */

	/* an empty NextToken is no NextToken */
	PAGE("{\"Credentials\":[],\"NextToken\":\"\"}", 0);
	ck_assert_ptr_null(next);
	cpk_credential_list_free(&l);
}
END_TEST

START_TEST(parse_tokens)
{
	struct cpk_tokens t;
	const char *full = "{\"AuthenticationResult\":{\"AccessToken\":\"a.b.c\",\"ExpiresIn\":3600,"
			   "\"TokenType\":\"Bearer\",\"IdToken\":\"i.d.t\",\"RefreshToken\":\"r.e.f\"},"
			   "\"ChallengeParameters\":{}}";
	const char *bare = "{\"AccessToken\":\"a.b.c\",\"ExpiresIn\":60}";

	ck_assert_int_eq(cpk_parse_tokens(full, strlen(full), &t), 0);
	ck_assert_str_eq(t.access_token, "a.b.c");
	ck_assert_str_eq(t.id_token, "i.d.t");
	ck_assert_str_eq(t.refresh_token, "r.e.f");
	ck_assert_str_eq(t.token_type, "Bearer");
	ck_assert_int_eq(t.expires_in, 3600);
	cpk_tokens_free(&t);
	ck_assert_ptr_null(t.access_token);

	ck_assert_int_eq(cpk_parse_tokens(bare, strlen(bare), &t), 0);
	ck_assert_str_eq(t.access_token, "a.b.c");
	ck_assert_ptr_null(t.refresh_token);
	ck_assert_ptr_null(t.id_token);
	cpk_tokens_free(&t);

#define BAD(s) do { \
		ck_assert_int_eq(cpk_parse_tokens(s, strlen(s), &t), -1); \
		ck_assert_ptr_null(t.access_token); \
	} while (0)
	BAD("");
	BAD("{}");
	BAD("{\"ChallengeName\":\"SMS_MFA\",\"Session\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}");
	BAD("{\"AuthenticationResult\":{\"AccessToken\":\"has space\"}}");
	BAD("{\"AuthenticationResult\":{\"AccessToken\":\"a\",\"RefreshToken\":\"r/x\"}}");
	BAD("{\"AuthenticationResult\":{\"AccessToken\":\"a\",\"ExpiresIn\":\"soon\"}}");
	BAD("{\"AuthenticationResult\":\"a\"}");
#undef BAD
}
END_TEST

START_TEST(endpoint_resolution)
{
	struct cpk_config *cfg = cfg_fresh();
	struct cpk_reply r;
	char url[512];

	/* no region anywhere */
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	/* the token's region */
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, "eu-west-1", url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.eu-west-1.amazonaws.com/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, "eu-west-1.evil.com/x", url, sizeof(url), &r), -1);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, "", url, sizeof(url), &r), -1);
	/* the configured region wins */
	str_set(&cfg->region, "us-east-1");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, "eu-west-1", url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.us-east-1.amazonaws.com/");
	cfg->use_fips = true;
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp-fips.us-east-1.amazonaws.com/");
	cfg->use_fips = false;
	str_set(&cfg->region, "cn-north-1");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.cn-north-1.amazonaws.com.cn/");
	str_set(&cfg->region, "us-gov-west-1");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.us-gov-west-1.amazonaws.com/");
	/* endpoint_url verbatim */
	str_set(&cfg->endpoint_url, "https://vpce-1.cognito-idp.eu-west-1.vpce.amazonaws.com/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://vpce-1.cognito-idp.eu-west-1.vpce.amazonaws.com/");
	cfg->use_fips = true;
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	cfg->use_fips = false;
	str_set(&cfg->endpoint_url, "http://127.0.0.1:9229/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	str_set(&cfg->endpoint_url, "http://[::1]:9229/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	str_set(&cfg->endpoint_url, "http://cognito-idp.eu-west-1.amazonaws.com/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	str_set(&cfg->endpoint_url, "http://10.0.0.1/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	str_set(&cfg->endpoint_url, "ftp://127.0.0.1/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	cpk_config_free(cfg);
}
END_TEST

/* http:// to a non-loopback host: refused by cpk_client_new, before curl. */
START_TEST(plain_http_refused_before_connecting)
{
	struct cpk_config *cfg = cfg_fresh();
	struct cpk_client *c = (struct cpk_client *)1;
	struct cpk_deadline dl;
	struct cpk_reply r;

	cpk_deadline_init_ms(&dl, 5000);
	str_set(&cfg->endpoint_url, "http://192.0.2.1/");
	ck_assert_int_eq(cpk_client_new(&c, cfg, NULL, &dl, &r), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	ck_assert_uint_eq(r.attempts, 0);
	ck_assert_ptr_nonnull(strstr(r.message, "loopback"));
	cpk_config_free(cfg);
}
END_TEST

START_TEST(retry_classification)
{
	static const char *const throttling[] = {
		"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
		"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
		"EC2ThrottledException",
	};
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(throttling); i++) {
		ck_assert_msg(cpk_code_is_throttling(throttling[i]), "%s", throttling[i]);
		ck_assert(cpk_answer_retryable(throttling[i], 400));
	}
	ck_assert(!cpk_code_is_throttling("NotAuthorizedException"));
	ck_assert(!cpk_code_is_throttling(""));
	ck_assert(!cpk_code_is_throttling(NULL));
	ck_assert(cpk_answer_retryable("InternalErrorException", 500));
	ck_assert(cpk_answer_retryable("InternalErrorException", 400));
	ck_assert(cpk_answer_retryable("RequestTimeoutException", 400));
	ck_assert(cpk_answer_retryable("HTTP503", 503));
	ck_assert(cpk_answer_retryable("HTTP502", 502));
	ck_assert(cpk_answer_retryable("HTTP504", 504));
	ck_assert(cpk_answer_retryable("HTTP500", 500));
	ck_assert(cpk_answer_retryable("Whatever", 429));
	ck_assert(!cpk_answer_retryable("HTTP501", 501));
	ck_assert(!cpk_answer_retryable("HTTP400", 400));
	/* never, whatever the status */
	ck_assert(!cpk_answer_retryable("NotAuthorizedException", 400));
	ck_assert(!cpk_answer_retryable("NotAuthorizedException", 503));
	ck_assert(!cpk_answer_retryable("ResourceNotFoundException", 500));
	ck_assert(!cpk_answer_retryable("InvalidParameterException", 429));
	ck_assert(!cpk_answer_retryable("ForbiddenException", 400));
	ck_assert(!cpk_answer_retryable("PasswordResetRequiredException", 400));
}
END_TEST

/* A server's wait: x-amz-retry-after (ms) first, Retry-After in seconds or
 * as an HTTP date; nonsense is no hint; a day at most. */
START_TEST(retry_hint)
{
	time_t now = 1700000000;	/* Tue, 14 Nov 2023 22:13:20 GMT */

	ck_assert_int_eq(cpk_retry_hint_ms("", "", now), -1);
	ck_assert_int_eq(cpk_retry_hint_ms("2", "", now), 2000);
	ck_assert_int_eq(cpk_retry_hint_ms("2", "1500", now), 1500);
	ck_assert_int_eq(cpk_retry_hint_ms("", "250", now), 250);
	ck_assert_int_eq(cpk_retry_hint_ms("Tue, 14 Nov 2023 22:13:25 GMT", "", now), 5000);
	ck_assert_int_eq(cpk_retry_hint_ms("Tue, 14 Nov 2023 22:13:00 GMT", "", now), 0);
	ck_assert_int_eq(cpk_retry_hint_ms("soon", "", now), -1);
	ck_assert_int_eq(cpk_retry_hint_ms("-3", "x", now), -1);
	ck_assert_int_eq(cpk_retry_hint_ms("99999999999999999999", "", now), 24L * 3600 * 1000);
}
END_TEST

/* 500 tokens, 5 a retry, 10 after a timeout; a success gives back what its
 * retry took, or 1, never above 500; an empty bucket pays for nothing. */
START_TEST(retry_quota)
{
	struct cpk_retry_quota *q = cpk_retry_quota_new();
	unsigned int i, paid = 0;

	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(cpk_retry_quota_left(q), 500);
	cpk_retry_quota_success(q, 0);
	ck_assert_uint_eq(cpk_retry_quota_left(q), 500);
	ck_assert_uint_eq(cpk_retry_quota_take(q, true), 10);
	ck_assert_uint_eq(cpk_retry_quota_left(q), 490);
	cpk_retry_quota_success(q, 10);
	ck_assert_uint_eq(cpk_retry_quota_left(q), 500);
	for (i = 0; i < 100; i++)
		paid += cpk_retry_quota_take(q, false);
	ck_assert_uint_eq(paid, 500);
	ck_assert_uint_eq(cpk_retry_quota_take(q, false), 0);
	cpk_retry_quota_success(q, 0);
	ck_assert_uint_eq(cpk_retry_quota_left(q), 1);
	ck_assert_uint_eq(cpk_retry_quota_take(q, false), 0);
	cpk_retry_quota_free(q);
}
END_TEST

START_TEST(backoff)
{
	unsigned int a;

	ck_assert_int_eq(cpk_backoff_ms(1, false, 0.0), 0);
	ck_assert_int_eq(cpk_backoff_ms(1, false, 0.5), 50);
	ck_assert_int_eq(cpk_backoff_ms(2, false, 0.5), 100);
	ck_assert_int_eq(cpk_backoff_ms(3, false, 0.5), 200);
	ck_assert_int_eq(cpk_backoff_ms(1, true, 0.5), 250);
	ck_assert_int_eq(cpk_backoff_ms(2, true, 0.5), 500);
	ck_assert_int_lt(cpk_backoff_ms(1, false, 1.0), 100);
	ck_assert_int_lt(cpk_backoff_ms(1, false, 7.0), 100);
	ck_assert_int_eq(cpk_backoff_ms(1, false, -1.0), 0);
	for (a = 1; a < 100; a++) {
		ck_assert_int_le(cpk_backoff_ms(a, true, 0.9999), 20000);
		ck_assert_int_le(cpk_backoff_ms(a, false, 0.9999), 20000);
	}
	ck_assert_int_eq(cpk_backoff_ms(64, true, 0.5), 10000);
	ck_assert_int_eq(cpk_backoff_ms(UINT32_MAX, false, 0.5), 10000);
}
END_TEST

/* ====================================================================== */

static Suite *
cognito_suite(void)
{
	Suite *s = suite_create("cognito");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, token_syntax);
	tcase_add_test(tc, retry_hint);
	tcase_add_test(tc, retry_quota);
	tcase_add_test(tc, secret_hash_vector);
	tcase_add_test(tc, parse_error_forms);
	tcase_add_test(tc, parse_page);
	tcase_add_test(tc, parse_tokens);
	tcase_add_test(tc, endpoint_resolution);
	tcase_add_test(tc, plain_http_refused_before_connecting);
	tcase_add_test(tc, retry_classification);
	tcase_add_test(tc, backoff);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(cognito_suite());
}
