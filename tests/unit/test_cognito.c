/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/cognito.c, cognito_parse.c, http.c and retry.c: pure parser and
 * classification tests (always), and the client against the local emulator
 * over HTTPS with a throw-away CA (when EMU_URL and EMU_CA are set;
 * tests/unit/cognito.test starts the emulator).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cognito.h"
#include "http.h"
#include "quota.h"
#include "config.h"
#include "util.h"

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

static struct cpk_config *
cfg_new(void)
{
	static struct cpk_config cfg;

	cpk_config_free(&cfg);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	return &cfg;
}

static void
set(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
}

START_TEST(endpoint_resolution)
{
	struct cpk_config *cfg = cfg_new();
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
	set(&cfg->region, "us-east-1");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, "eu-west-1", url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.us-east-1.amazonaws.com/");
	cfg->use_fips = true;
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp-fips.us-east-1.amazonaws.com/");
	cfg->use_fips = false;
	set(&cfg->region, "cn-north-1");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.cn-north-1.amazonaws.com.cn/");
	set(&cfg->region, "us-gov-west-1");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://cognito-idp.us-gov-west-1.amazonaws.com/");
	/* endpoint_url verbatim */
	set(&cfg->endpoint_url, "https://vpce-1.cognito-idp.eu-west-1.vpce.amazonaws.com/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	ck_assert_str_eq(url, "https://vpce-1.cognito-idp.eu-west-1.vpce.amazonaws.com/");
	cfg->use_fips = true;
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	cfg->use_fips = false;
	set(&cfg->endpoint_url, "http://127.0.0.1:9229/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	set(&cfg->endpoint_url, "http://[::1]:9229/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), 0);
	set(&cfg->endpoint_url, "http://cognito-idp.eu-west-1.amazonaws.com/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	ck_assert_str_eq(r.code, "InvalidEndpoint");
	set(&cfg->endpoint_url, "http://10.0.0.1/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	set(&cfg->endpoint_url, "ftp://127.0.0.1/");
	ck_assert_int_eq(cpk_endpoint_resolve(cfg, NULL, url, sizeof(url), &r), -1);
	cpk_config_free(cfg);
}
END_TEST

/* http:// to a non-loopback host: refused by cpk_client_new, before curl. */
START_TEST(plain_http_refused_before_connecting)
{
	struct cpk_config *cfg = cfg_new();
	struct cpk_client *c = (struct cpk_client *)1;
	struct cpk_deadline dl;
	struct cpk_reply r;

	cpk_deadline_init_ms(&dl, 5000);
	set(&cfg->endpoint_url, "http://192.0.2.1/");
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
/* a one-shot plain-HTTP server on loopback, for answers the emulator      */
/* cannot give (no Content-Length, chunked, interim 1xx)                  */

struct one_shot {
	int lfd;
	const char *head;	/* status line and headers, with the blank line */
	size_t filler;		/* then this many 'x' bytes (0: none) */
	bool chunked;		/* filler in 64 KiB chunks */
	const char *tail;	/* then this, if not NULL */
	pthread_t th;
};

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;	/* the client gave up: fine */
		p += w;
		n -= (size_t)w;
	}
}

static void *
one_shot_serve(void *arg)
{
	struct one_shot *o = arg;
	char req[8192], chunk[65536], line[32];
	size_t got = 0, left;
	int fd = accept(o->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	/* read the request head (the body is small and follows it) */
	while (got < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
		ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = '\0';
	}
	write_all(fd, o->head, strlen(o->head));
	memset(chunk, 'x', sizeof(chunk));
	for (left = o->filler; left > 0;) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);

		if (o->chunked) {
			snprintf(line, sizeof(line), "%zx\r\n", n);
			write_all(fd, line, strlen(line));
		}
		write_all(fd, chunk, n);
		if (o->chunked)
			write_all(fd, "\r\n", 2);
		left -= n;
	}
	if (o->chunked)
		write_all(fd, "0\r\n\r\n", 5);
	if (o->tail != NULL)
		write_all(fd, o->tail, strlen(o->tail));
	shutdown(fd, SHUT_WR);
	/* drain until the client closes, so that it sees our bytes, not RST */
	while (recv(fd, req, sizeof(req), 0) > 0)
		;
	close(fd);
	return NULL;
}

/* Starts the server; returns a client for http://127.0.0.1:PORT/. */
static struct cpk_client *
one_shot_start(struct one_shot *o, struct cpk_config **cfgp, struct cpk_deadline *d)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct cpk_config *c = cfg_new();
	struct cpk_client *cli = NULL;
	struct cpk_reply r;
	char url[64];

	o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(o->lfd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(o->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(o->lfd, 4), 0);
	ck_assert_int_eq(getsockname(o->lfd, (struct sockaddr *)&a, &alen), 0);
	ck_assert_int_eq(pthread_create(&o->th, NULL, one_shot_serve, o), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned int)ntohs(a.sin_port));
	set(&c->endpoint_url, url);
	c->max_attempts = 1;
	cpk_deadline_init_ms(d, 10000);
	ck_assert_msg(cpk_client_new(&cli, c, NULL, d, &r) == 0, "%s: %s", r.code, r.message);
	*cfgp = c;
	return cli;
}

static void
one_shot_end(struct one_shot *o, struct cpk_client *cli, struct cpk_config *c)
{
	cpk_client_free(cli);	/* closes our side: the server's drain ends */
	pthread_join(o->th, NULL);
	close(o->lfd);
	cpk_config_free(c);
}

static struct cpk_reply
one_shot_list(struct one_shot *o)
{
	struct cpk_credential_list l = { NULL, 0 };
	struct cpk_config *c;
	struct cpk_deadline d;
	struct cpk_client *cli = one_shot_start(o, &c, &d);
	struct cpk_reply r;

	if (cpk_list_credentials(cli, "a.b.c", &l, &r) == 0) {
		cpk_credential_list_free(&l);
		memset(&r, 0, sizeof(r));
	}
	one_shot_end(o, cli, c);
	return r;
}

/* The 1 MiB cap holds when no Content-Length announces the size. */
START_TEST(oversized_without_length)
{
	struct one_shot o = { .head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
				      "Connection: close\r\n\r\n{\"Credentials\":[],\"P\":\"",
			      .filler = 2 * 1024 * 1024, .tail = "\"}" };
	struct cpk_reply r = one_shot_list(&o);

	ck_assert_str_eq(r.code, "BodyTooLarge");
	ck_assert(!r.retryable);
}
END_TEST

START_TEST(oversized_chunked)
{
	struct one_shot o = { .head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n",
			      .filler = 2 * 1024 * 1024, .chunked = true };
	struct cpk_reply r = one_shot_list(&o);

	ck_assert_str_eq(r.code, "BodyTooLarge");
}
END_TEST

/* Just under the cap is fine (and http:// to loopback works). */
START_TEST(large_but_allowed)
{
	struct one_shot o = { .head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n",
			      .filler = 0, .chunked = false };
	static char body[CPK_MAX_BODY - 64];
	char *chunked;
	struct cpk_reply r;
	size_t n;

	memset(body, ' ', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	memcpy(body, "{\"Credentials\":[{\"CredentialId\":\"Z\"}]", 37);
	body[sizeof(body) - 2] = '}';
	n = strlen(body);
	chunked = malloc(n + 64);
	snprintf(chunked, n + 64, "%zx\r\n%s\r\n0\r\n\r\n", n, body);
	o.tail = chunked;
	r = one_shot_list(&o);
	ck_assert_msg(r.code[0] == '\0', "%s: %s", r.code, r.message);
	free(chunked);
}
END_TEST

/* Headers of an interim 1xx answer are forgotten: the final one counts. */
START_TEST(interim_answer_headers)
{
	struct one_shot o = { .head = "HTTP/1.1 100 Continue\r\nx-amzn-RequestId: interim\r\n"
				      "x-amzn-ErrorType: ThrottlingException\r\n\r\n"
				      "HTTP/1.1 400 Bad Request\r\nContent-Length: 15\r\n"
				      "x-amzn-errortype:  NotAuthorizedException:http://internal.amazon.com/x/ \r\n"
				      "\r\n{\"message\":\"m\"}" };
	struct cpk_reply r = one_shot_list(&o);

	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_str_eq(r.request_id, "");	/* not the interim one */
	ck_assert_str_eq(r.message, "m");
	ck_assert_int_eq(r.http_status, 400);
	ck_assert(!r.retryable);
}
END_TEST

/* Throttled with only {"message":"Rate exceeded"} (amplify-js#6767). */
START_TEST(rate_exceeded_without_code)
{
	struct one_shot o = { .head = "HTTP/1.1 400 Bad Request\r\nContent-Length: 27\r\n\r\n"
				      "{\"message\":\"Rate exceeded\"}" };
	struct cpk_reply r = one_shot_list(&o);

	ck_assert_str_eq(r.code, "TooManyRequestsException");
	ck_assert(r.retryable);
}
END_TEST

/* ====================================================================== */
/* against the emulator                                                   */

static const char *emu_url, *emu_ca;

struct sink {
	char *p;
	size_t n;
};

static size_t
sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	char *p = realloc(s->p, s->n + n + 1);

	if (p == NULL)
		return 0;
	memcpy(p + s->n, ptr, n);
	s->p = p;
	s->n += n;
	s->p[s->n] = '\0';
	return n;
}

/* The emulator's control interface; asserts a 2xx answer. */
static struct json_object *
ctl(const char *method, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	struct sink s = { NULL, 0 };
	struct json_object *o;
	char url[1024];
	long status = 0;
	CURLcode rc;

	ck_assert_ptr_nonnull(h);
	snprintf(url, sizeof(url), "%s_emulator/%s", emu_url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, emu_ca);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 15L);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(h);
	ck_assert_msg(rc == CURLE_OK, "control %s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status / 100 == 2, "control %s %s: HTTP %ld %s", method, path, status,
		      s.p != NULL ? s.p : "");
	o = json_tokener_parse(s.p != NULL ? s.p : "null");
	ck_assert_ptr_nonnull(o);
	free(s.p);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return o;
}

static void
ctl0(const char *method, const char *path, const char *body)
{
	json_object_put(ctl(method, path, body));
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

static void
add_user(const char *name, int passkeys)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"Username\":\"%s\",\"Password\":\"pw-%s\",\"PasskeyCount\":%d}",
		 name, name, passkeys);
	ctl0("POST", "users", body);
}

/* A fresh access token (and refresh token) for name. */
static void
mint(const char *name, char **access, char **refresh)
{
	char body[256];
	struct json_object *o;

	snprintf(body, sizeof(body), "{\"Username\":\"%s\"}", name);
	o = ctl("POST", "tokens", body);
	*access = strdup(jstr(o, "AccessToken"));
	if (refresh != NULL)
		*refresh = strdup(jstr(o, "RefreshToken"));
	json_object_put(o);
}

static void
fault(const char *op, const char *faults_json)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"Operation\":\"%s\",\"Faults\":%s}", op, faults_json);
	ctl0("POST", "faults", body);
}

/* The service requests the emulator saw (the control calls are not logged). */
static struct json_object *
requests(void)
{
	struct json_object *o = ctl("GET", "requests", NULL), *arr, *ret;

	ck_assert(json_object_object_get_ex(o, "Requests", &arr));
	ret = json_object_get(arr);
	json_object_put(o);
	return ret;
}

static size_t
request_count(void)
{
	struct json_object *r = requests();
	size_t n = json_object_array_length(r);

	json_object_put(r);
	return n;
}

/*
 * Wait (bounded) until the emulator has logged n service requests: a
 * request we gave up on (hang, latency) is logged only when the emulator
 * gets to it, and must not land in the next test's log.
 */
static void
wait_requests(size_t n)
{
	int i;

	for (i = 0; i < 100 && request_count() < n; i++)
		usleep(100 * 1000);
	ck_assert_uint_eq(request_count(), n);
}

/* The user's remaining passkey ids, as the emulator stores them. */
static struct json_object *
user_passkeys(const char *name)
{
	char path[128];
	struct json_object *o, *pk, *ret;

	snprintf(path, sizeof(path), "users/%s", name);
	o = ctl("GET", path, NULL);
	ck_assert(json_object_object_get_ex(o, "Passkeys", &pk));
	ret = json_object_get(pk);
	json_object_put(o);
	return ret;
}

static struct cpk_config *
emu_cfg(unsigned int timeout, unsigned int max_attempts)
{
	struct cpk_config *cfg = cfg_new();

	set(&cfg->endpoint_url, emu_url);
	set(&cfg->ca_file, emu_ca);
	cfg->timeout = timeout;
	cfg->max_attempts = max_attempts;
	return cfg;
}

static struct cpk_deadline dl;
static struct cpk_config *cfg;
static struct cpk_client *cl;

static struct cpk_client *
client(unsigned int timeout, unsigned int max_attempts)
{
	struct cpk_reply r;

	cfg = emu_cfg(timeout, max_attempts);
	cpk_deadline_init_ms(&dl, (long)timeout * 1000L);
	ck_assert_msg(cpk_client_new(&cl, cfg, NULL, &dl, &r) == 0, "%s: %s", r.code, r.message);
	return cl;
}

static void
emu_setup(void)
{
	ctl0("POST", "reset", "{}");
	cl = NULL;
}

static void
emu_teardown(void)
{
	cpk_client_free(cl);
	cl = NULL;
	if (cfg != NULL)
		cpk_config_free(cfg);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(success_paths)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	struct cpk_tokens t;
	struct json_object *pk, *reqs, *e;
	char *at, *rt, *name = NULL;
	size_t i;

	add_user("alice", 3);
	mint("alice", &at, &rt);
	client(10, 3);

	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), 0);
	ck_assert_str_eq(name, "alice");
	ck_assert_str_eq(r.code, "");
	ck_assert_int_eq(r.http_status, 200);
	ck_assert_uint_eq(r.attempts, 1);
	ck_assert_uint_gt(strlen(r.request_id), 8);
	free(name);

	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(l.n, 3);
	pk = user_passkeys("alice");
	for (i = 0; i < 3; i++) {
		e = json_object_array_get_idx(pk, i);
		ck_assert_str_eq(l.items[i].id, jstr(e, "CredentialId"));
		ck_assert_str_eq(l.items[i].name, jstr(e, "FriendlyCredentialName"));
		ck_assert_str_eq(l.items[i].rp_id, jstr(e, "RelyingPartyId"));
		ck_assert_ptr_nonnull(l.items[i].transports[0]);
		ck_assert(l.items[i].created_at > 1.5e9);
	}
	json_object_put(pk);

	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[1].id, &r), 0);
	ck_assert_str_eq(r.code, "");
	ck_assert_uint_gt(strlen(r.request_id), 8);
	pk = user_passkeys("alice");
	ck_assert_uint_eq(json_object_array_length(pk), 2);
	json_object_put(pk);
	cpk_credential_list_free(&l);

	/* {} as the success body of Delete is accepted too */
	ctl0("POST", "config", "{\"EmptyOutput\":\"{}\"}");
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[0].id, &r), 0);
	cpk_credential_list_free(&l);

	/* GetTokensFromRefreshToken, no rotation: no new refresh token */
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt, "1example23456789emulatorab",
				     NULL, NULL, &t, &r), 0);
	ck_assert(cpk_token_syntax_valid(t.access_token));
	ck_assert_ptr_null(t.refresh_token);
	ck_assert_ptr_nonnull(t.id_token);
	ck_assert_int_eq(t.expires_in, 3600);
	ck_assert_str_eq(t.token_type, "Bearer");
	/* and the new access token works */
	ck_assert_int_eq(cpk_get_user(cl, t.access_token, &name, &r), 0);
	free(name);
	cpk_tokens_free(&t);

	/* InitiateAuth REFRESH_TOKEN_AUTH without a secret */
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_INITIATE_AUTH, rt, "1example23456789emulatorab",
				     NULL, NULL, &t, &r), 0);
	ck_assert(cpk_token_syntax_valid(t.access_token));
	cpk_tokens_free(&t);

	/* the wire: POST /, the content type, the operation names */
	reqs = requests();
	ck_assert_uint_eq(json_object_array_length(reqs), 8);
	for (i = 0; i < json_object_array_length(reqs); i++) {
		e = json_object_array_get_idx(reqs, i);
		ck_assert_str_eq(jstr(e, "Method"), "POST");
		ck_assert_str_eq(jstr(e, "Path"), "/");
		ck_assert_str_eq(jstr(e, "ContentType"), "application/x-amz-json-1.1");
	}
	ck_assert_str_eq(jstr(json_object_array_get_idx(reqs, 0), "Operation"), "GetUser");
	ck_assert_str_eq(jstr(json_object_array_get_idx(reqs, 1), "Operation"), "ListWebAuthnCredentials");
	ck_assert_str_eq(jstr(json_object_array_get_idx(reqs, 2), "Operation"), "DeleteWebAuthnCredential");
	ck_assert_str_eq(jstr(json_object_array_get_idx(reqs, 5), "Operation"), "GetTokensFromRefreshToken");
	ck_assert_str_eq(jstr(json_object_array_get_idx(reqs, 7), "Operation"), "InitiateAuth");
	json_object_put(reqs);
	free(at);
	free(rt);
}
END_TEST

START_TEST(refresh_with_secret_and_rotation)
{
	static const char secret[] = "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3t";
	const char *client_id = "1example23456789emulatorab";
	struct cpk_reply r;
	struct cpk_tokens t;
	char *at, *rt, *rt2;

	ctl0("POST", "config", "{\"ClientSecret\":\"s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3t\"}");
	add_user("bob", 0);
	mint("bob", &at, &rt);
	client(10, 1);

	/* InitiateAuth: SECRET_HASH of the user name */
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_INITIATE_AUTH, rt, client_id, secret, "bob", &t, &r), 0);
	cpk_tokens_free(&t);
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_INITIATE_AUTH, rt, client_id, secret, "mallory", &t, &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_ptr_null(t.access_token);
	/* no user name: refused locally, nothing sent */
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_INITIATE_AUTH, rt, client_id, secret, NULL, &t, &r), -1);
	ck_assert_str_eq(r.code, "InvalidParameterException");
	ck_assert_uint_eq(r.attempts, 0);
	/* GetTokensFromRefreshToken sends the raw secret */
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt, client_id, secret, NULL, &t, &r), 0);
	cpk_tokens_free(&t);
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt, client_id, NULL, NULL, &t, &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");

	/* rotation: a new refresh token comes back, the old one is dead */
	ctl0("POST", "config", "{\"ClientSecret\":null,\"RotateRefreshTokens\":true}");
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt, client_id, NULL, NULL, &t, &r), 0);
	ck_assert_ptr_nonnull(t.refresh_token);
	ck_assert_str_ne(t.refresh_token, rt);
	rt2 = strdup(t.refresh_token);
	cpk_tokens_free(&t);
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt, client_id, NULL, NULL, &t, &r), -1);
	ck_assert_str_eq(r.code, "RefreshTokenReuseException");
	ck_assert(!r.retryable);
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt2, client_id, NULL, NULL, &t, &r), 0);
	cpk_tokens_free(&t);
	/* bad client id: refused locally */
	ck_assert_int_eq(cpk_refresh(cl, CPK_REFRESH_GET_TOKENS, rt2, "bad id", NULL, NULL, &t, &r), -1);
	ck_assert_str_eq(r.code, "InvalidParameterException");
	ck_assert_uint_eq(r.attempts, 0);
	free(at);
	free(rt);
	free(rt2);
}
END_TEST

START_TEST(pagination_over_25)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	struct json_object *pk, *reqs;
	char *at;
	size_t i;

	add_user("carol", 47);
	mint("carol", &at, NULL);
	client(10, 3);
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(l.n, 47);
	pk = user_passkeys("carol");
	for (i = 0; i < 47; i++)
		ck_assert_str_eq(l.items[i].id, jstr(json_object_array_get_idx(pk, i), "CredentialId"));
	json_object_put(pk);
	ck_assert_uint_eq(r.attempts, 3);
	reqs = requests();
	ck_assert_uint_eq(json_object_array_length(reqs), 3);	/* 20 + 20 + 7 */
	json_object_put(reqs);
	cpk_credential_list_free(&l);

	/* a failing page fails the list and leaves nothing behind */
	fault("ListWebAuthnCredentials", "[\"ok\",\"error:NotAuthorizedException\"]");
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.items);
	free(at);
}
END_TEST

static const char *const delete_errors[] = {
	"ForbiddenException", "InternalErrorException", "InvalidParameterException",
	"TooManyRequestsException", "LimitExceededException", "PasswordResetRequiredException",
	"NotAuthorizedException", "ResourceNotFoundException", "OperationNotEnabledException",
};
static const char *const error_forms[] = { "error", "namespaced", "headeronly", "codefield" };

START_TEST(delete_error_codes)
{
	const char *code = delete_errors[_i / CPK_ARRAY_SIZE(error_forms)];
	const char *form = error_forms[_i % CPK_ARRAY_SIZE(error_forms)];
	bool retryable = strcmp(code, "InternalErrorException") == 0 ||
			 strcmp(code, "TooManyRequestsException") == 0 ||
			 strcmp(code, "LimitExceededException") == 0;
	struct cpk_reply r;
	char *at, spec[128];

	add_user("dave", 1);
	mint("dave", &at, NULL);
	snprintf(spec, sizeof(spec), "[\"%s:%s\"]", form, code);
	fault("DeleteWebAuthnCredential", spec);
	client(10, 1);
	ck_assert_int_eq(cpk_delete_credential(cl, at, "some-id", &r), -1);
	ck_assert_msg(strcmp(r.code, code) == 0, "%s:%s -> %s", form, code, r.code);
	ck_assert_uint_gt(strlen(r.message), 3);
	ck_assert_uint_gt(strlen(r.request_id), 8);
	ck_assert_int_eq(r.http_status, strcmp(code, "InternalErrorException") == 0 ? 500 : 400);
	ck_assert_msg(r.retryable == retryable, "%s retryable=%d", code, r.retryable);
	ck_assert_uint_eq(r.attempts, 1);
	free(at);
}
END_TEST

/* The service's own answers, not injected ones. */
START_TEST(delete_real_errors)
{
	struct cpk_reply r;
	char *at, *expired;
	char id[CPK_MAX_CREDENTIAL_ID + 2];

	add_user("erin", 1);
	mint("erin", &at, NULL);
	{
		struct json_object *o = ctl("POST", "tokens", "{\"Username\":\"erin\",\"Ttl\":-60}");

		expired = strdup(jstr(o, "AccessToken"));
		json_object_put(o);
	}
	client(10, 3);
	ck_assert_int_eq(cpk_delete_credential(cl, at, "no-such-credential", &r), -1);
	ck_assert_str_eq(r.code, "ResourceNotFoundException");
	ck_assert_str_eq(r.message, "Credential not found");
	ck_assert(!r.retryable);
	ck_assert_uint_eq(r.attempts, 1);

	ck_assert_int_eq(cpk_delete_credential(cl, expired, "x", &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_str_eq(r.message, "Access Token has expired");
	ck_assert_uint_eq(r.attempts, 1);

	ctl0("DELETE", "users/erin", NULL);
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "UserNotFoundException");

	/* refused before sending */
	ck_assert_uint_eq(request_count(), 3);
	ck_assert_int_eq(cpk_delete_credential(cl, "not a token", "x", &r), -1);
	ck_assert_str_eq(r.code, "InvalidToken");
	ck_assert_uint_eq(r.attempts, 0);
	memset(id, 'A', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ck_assert_int_eq(cpk_delete_credential(cl, at, id, &r), -1);
	ck_assert_str_eq(r.code, "InvalidParameterException");
	ck_assert_uint_eq(r.attempts, 0);
	ck_assert_uint_eq(request_count(), 3);
	free(at);
	free(expired);
}
END_TEST

static unsigned int hook_calls;

static void
count_hook(void *ctx)
{
	(void)ctx;
	hook_calls++;
}

START_TEST(throttled_twice_then_success)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	struct json_object *pk;
	char *at;
	double t0, el;

	add_user("frank", 2);
	mint("frank", &at, NULL);
	client(10, 3);
	hook_calls = 0;
	cpk_client_set_before_request(cl, count_hook, NULL);
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(hook_calls, 1);

	fault("DeleteWebAuthnCredential", "[\"throttle\",\"limit\"]");
	t0 = now_s();
	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[0].id, &r), 0);
	el = now_s() - t0;
	ck_assert_str_eq(r.code, "");
	ck_assert_uint_eq(r.attempts, 3);
	ck_assert_uint_eq(hook_calls, 4);
	/* backoff: at most 500 ms then 1000 ms of jitter */
	ck_assert_msg(el < 2.0, "took %.3f s", el);
	pk = user_passkeys("frank");
	ck_assert_uint_eq(json_object_array_length(pk), 1);
	json_object_put(pk);

	/* three throttles with three attempts: the code is kept */
	fault("DeleteWebAuthnCredential", "[\"throttle\",\"throttle\",\"throttle\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[1].id, &r), -1);
	ck_assert_str_eq(r.code, "TooManyRequestsException");
	ck_assert(r.retryable);
	ck_assert_uint_eq(r.attempts, 3);

	/* 5xx: InternalErrorException and an HTML 503 are retried */
	fault("DeleteWebAuthnCredential", "[\"internal\",\"http:503\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[1].id, &r), 0);
	ck_assert_uint_eq(r.attempts, 3);
	cpk_credential_list_free(&l);
	free(at);
}
END_TEST

START_TEST(never_retried)
{
	struct cpk_reply r;
	char *at;
	size_t before;

	add_user("gina", 1);
	mint("gina", &at, NULL);
	client(10, 5);
	before = request_count();
	fault("DeleteWebAuthnCredential", "[\"error:NotAuthorizedException\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_uint_eq(r.attempts, 1);
	fault("DeleteWebAuthnCredential", "[\"error:InvalidParameterException\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "InvalidParameterException");
	ck_assert_uint_eq(r.attempts, 1);
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);	/* the service's own answer */
	ck_assert_str_eq(r.code, "ResourceNotFoundException");
	ck_assert_uint_eq(r.attempts, 1);
	ck_assert_uint_eq(request_count() - before, 3);
	free(at);
}
END_TEST

START_TEST(hanging_server_deadline)
{
	struct cpk_reply r;
	char *at;
	double t0, el;

	add_user("hank", 1);
	mint("hank", &at, NULL);
	fault("DeleteWebAuthnCredential", "[\"hang:3\"]");
	client(2, 3);
	t0 = now_s();
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	el = now_s() - t0;
	ck_assert_str_eq(r.code, "Timeout");
	ck_assert_msg(el >= 1.8 && el < 2.5, "returned after %.3f s for a 2 s deadline", el);
	/* the deadline is spent: the next call returns at once */
	t0 = now_s();
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "Timeout");
	ck_assert_double_lt(now_s() - t0, 0.2);
	wait_requests(1);
	free(at);
}
END_TEST

/* One deadline for the whole run: each request gets what is left. */
START_TEST(shared_deadline)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	char *at;
	double t0, el;
	int i, ok = 0;

	add_user("ida", 6);
	mint("ida", &at, NULL);
	client(2, 3);
	t0 = now_s();
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ctl0("POST", "latency", "{\"Milliseconds\":700}");
	for (i = 0; i < 5; i++)
		if (cpk_delete_credential(cl, at, l.items[i].id, &r) == 0)
			ok++;
	el = now_s() - t0;
	ck_assert_int_ge(ok, 1);
	ck_assert_int_le(ok, 2);
	ck_assert_str_eq(r.code, "Timeout");
	ck_assert_msg(el < 2.5, "five deletes took %.3f s for a 2 s deadline", el);
	wait_requests(1 + (size_t)ok + 1);	/* the list, the deletes, the one cut short */
	cpk_credential_list_free(&l);
	free(at);
}
END_TEST

START_TEST(transport_faults)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	char *at;

	add_user("jack", 2);
	mint("jack", &at, NULL);
	client(10, 1);
#define EXPECT(op_fault, want, retry) do { \
		fault("ListWebAuthnCredentials", "[\"" op_fault "\"]"); \
		ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), -1); \
		ck_assert_msg(strcmp(r.code, want) == 0, "%s -> %s (%s)", op_fault, r.code, r.message); \
		ck_assert_msg(r.retryable == (retry), "%s retryable=%d", op_fault, r.retryable); \
		ck_assert_uint_eq(l.n, 0); \
		ck_assert_uint_eq(r.attempts, 1); \
	} while (0)
	EXPECT("reset", "TransportError", true);
	EXPECT("close", "TransportError", true);
	EXPECT("hang:0:reset", "TransportError", true);
	EXPECT("truncate", "TransportError", true);
	EXPECT("garbage", "InvalidResponse", false);
	EXPECT("garbage:400", "HTTP400", false);
	EXPECT("garbage:502", "HTTP502", true);
	EXPECT("http:504", "HTTP504", true);
	EXPECT("oversize", "BodyTooLarge", false);
#undef EXPECT
	/* a garbage 200 to a Delete is not taken for a deletion */
	fault("DeleteWebAuthnCredential", "[\"garbage\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "InvalidResponse");
	/* and the client still works afterwards */
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(l.n, 2);
	cpk_credential_list_free(&l);
	cpk_client_free(cl);

	/* with attempts left, a reset connection is retried on a new one */
	cl = NULL;
	client(10, 3);
	fault("ListWebAuthnCredentials", "[\"reset\"]");
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(r.attempts, 2);
	ck_assert_uint_eq(cpk_client_connections(cl), 2);
	cpk_credential_list_free(&l);
	free(at);
}
END_TEST

START_TEST(one_connection)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	struct json_object *reqs;
	char *at;
	int conn = -1;
	size_t i;

	add_user("kate", 7);
	mint("kate", &at, NULL);
	client(10, 3);
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(l.n, 7);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[i].id, &r), 0);
	reqs = requests();
	ck_assert_uint_eq(json_object_array_length(reqs), 6);
	for (i = 0; i < 6; i++) {
		struct json_object *e = json_object_array_get_idx(reqs, i), *v;

		ck_assert(json_object_object_get_ex(e, "Connection", &v));
		if (i == 0)
			conn = json_object_get_int(v);
		ck_assert_int_eq(json_object_get_int(v), conn);
	}
	json_object_put(reqs);
	ck_assert_uint_eq(cpk_client_connections(cl), 1);
	cpk_credential_list_free(&l);
	free(at);
}
END_TEST

START_TEST(wrong_ca)
{
	const char *wrong = getenv("EMU_WRONG_CA");
	struct cpk_reply r;
	char *at, *name = NULL;

	ck_assert_msg(wrong != NULL, "EMU_WRONG_CA is not set");
	add_user("liam", 1);
	mint("liam", &at, NULL);
	cfg = emu_cfg(10, 3);
	set(&cfg->ca_file, wrong);
	cpk_deadline_init_ms(&dl, 10000);
	ck_assert_int_eq(cpk_client_new(&cl, cfg, NULL, &dl, &r), 0);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), -1);
	ck_assert_ptr_null(name);
	ck_assert_str_eq(r.code, "TransportError");
	ck_assert(!r.retryable);
	ck_assert_uint_eq(r.attempts, 1);	/* never retried */
	ck_assert_int_eq(r.http_status, 0);
	cpk_client_free(cl);
	cl = NULL;
	/* the system store does not know the test CA either */
	set(&cfg->ca_file, NULL);
	ck_assert_int_eq(cpk_client_new(&cl, cfg, NULL, &dl, &r), 0);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), -1);
	ck_assert_str_eq(r.code, "TransportError");
	ck_assert_uint_eq(request_count(), 0);
	free(at);
}
END_TEST

/* Proxy environment variables change nothing; the proxy key does. */
START_TEST(proxy_environment_ignored)
{
	static const char *const vars[] = {
		"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY",
	};
	struct cpk_reply r;
	char *at, *name = NULL;
	size_t i;

	add_user("mia", 0);
	mint("mia", &at, NULL);
	for (i = 0; i < CPK_ARRAY_SIZE(vars); i++)
		setenv(vars[i], "http://127.0.0.1:9", 1);
	setenv("no_proxy", "", 1);
	setenv("NO_PROXY", "", 1);
	client(10, 1);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), 0);
	ck_assert_str_eq(name, "mia");
	free(name);
	cpk_client_free(cl);
	cl = NULL;

	/* the configured proxy is used (and here, refuses: port 9) */
	set(&cfg->proxy, "http://127.0.0.1:9");
	ck_assert_int_eq(cpk_client_new(&cl, cfg, NULL, &dl, &r), 0);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), -1);
	ck_assert_str_eq(r.code, "TransportError");
	ck_assert_uint_eq(request_count(), 1);
	free(at);
}
END_TEST

/* SSLKEYLOGFILE would write the TLS keys that protect the tokens. */
START_TEST(no_tls_key_log)
{
	char path[] = "/tmp/cpk-keylog-XXXXXX", *at, *name = NULL;
	struct cpk_reply r;
	struct stat st;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	/* No fixture here: libcurl must not have been initialised yet in this
	 * (forked) process, so our client is the first to see the variable. */
	setenv("SSLKEYLOGFILE", path, 1);
	client(10, 1);
	ck_assert_ptr_null(getenv("SSLKEYLOGFILE"));
	ctl0("POST", "reset", "{}");
	add_user("nora", 0);
	mint("nora", &at, NULL);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), 0);
	free(name);
	ck_assert_msg(stat(path, &st) != 0, "%s was written", path);
	free(at);
	emu_teardown();
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

	tc = tcase_create("loopback");
	tcase_add_test(tc, oversized_without_length);
	tcase_add_test(tc, oversized_chunked);
	tcase_add_test(tc, large_but_allowed);
	tcase_add_test(tc, interim_answer_headers);
	tcase_add_test(tc, rate_exceeded_without_code);
	suite_add_tcase(s, tc);

	emu_url = getenv("EMU_URL");
	emu_ca = getenv("EMU_CA");
	if (emu_url != NULL && emu_ca != NULL) {
		tc = tcase_create("emulator");
		tcase_add_checked_fixture(tc, emu_setup, emu_teardown);
		tcase_set_timeout(tc, 30);
		tcase_add_test(tc, success_paths);
		tcase_add_test(tc, refresh_with_secret_and_rotation);
		tcase_add_test(tc, pagination_over_25);
		tcase_add_loop_test(tc, delete_error_codes, 0,
				    (int)(CPK_ARRAY_SIZE(delete_errors) * CPK_ARRAY_SIZE(error_forms)));
		tcase_add_test(tc, delete_real_errors);
		tcase_add_test(tc, throttled_twice_then_success);
		tcase_add_test(tc, never_retried);
		tcase_add_test(tc, hanging_server_deadline);
		tcase_add_test(tc, shared_deadline);
		tcase_add_test(tc, transport_faults);
		tcase_add_test(tc, one_connection);
		tcase_add_test(tc, wrong_ca);
		tcase_add_test(tc, proxy_environment_ignored);
		suite_add_tcase(s, tc);
		tc = tcase_create("keylog");
		tcase_add_test(tc, no_tls_key_log);
		suite_add_tcase(s, tc);
	} else {
		fprintf(stderr, "test_cognito: EMU_URL/EMU_CA not set: parser tests only\n");
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cognito_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
