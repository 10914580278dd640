/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/cognito.c, http.c and retry.c against servers: a one-shot plain-HTTP
 * server on loopback (answers the emulator cannot give), then the local
 * emulator over HTTPS with a throw-away CA (when EMU_URL and EMU_CA are
 * set; cognito.test starts it).  The parser tests without a network are
 * tests/unit/test_cognito.c.
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
#include "config.h"
#include "util.h"
#include "testutil.h"
#include "emuctl.h"


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
	struct cpk_config *c = cfg_fresh();
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
	str_set(&c->endpoint_url, url);
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

/* A fresh access token (and refresh token) for name. */
static void
mint(const char *name, char **access, char **refresh)
{
	char body[256];
	struct json_object *o;

	snprintf(body, sizeof(body), "{\"Username\":\"%s\"}", name);
	o = emuctl_mint(body);
	*access = strdup(emuctl_str(o, "AccessToken"));
	if (refresh != NULL)
		*refresh = strdup(emuctl_str(o, "RefreshToken"));
	json_object_put(o);
}

static struct cpk_config *
emu_cfg(unsigned int timeout, unsigned int max_attempts)
{
	struct cpk_config *cfg = cfg_fresh();

	str_set(&cfg->endpoint_url, emuctl_url());
	str_set(&cfg->ca_file, emuctl_ca());
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
	emuctl_reset();
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

	emuctl_add_user("alice", 3);
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
	pk = emuctl_passkeys("alice");
	for (i = 0; i < 3; i++) {
		e = json_object_array_get_idx(pk, i);
		ck_assert_str_eq(l.items[i].id, emuctl_str(e, "CredentialId"));
		ck_assert_str_eq(l.items[i].name, emuctl_str(e, "FriendlyCredentialName"));
		ck_assert_str_eq(l.items[i].rp_id, emuctl_str(e, "RelyingPartyId"));
		ck_assert_ptr_nonnull(l.items[i].transports[0]);
		ck_assert(l.items[i].created_at > 1.5e9);
	}
	json_object_put(pk);

	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[1].id, &r), 0);
	ck_assert_str_eq(r.code, "");
	ck_assert_uint_gt(strlen(r.request_id), 8);
	pk = emuctl_passkeys("alice");
	ck_assert_uint_eq(json_object_array_length(pk), 2);
	json_object_put(pk);
	cpk_credential_list_free(&l);

	/* {} as the success body of Delete is accepted too */
	emuctl_config("{\"EmptyOutput\":\"{}\"}");
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
	reqs = emuctl_requests();
	ck_assert_uint_eq(json_object_array_length(reqs), 8);
	for (i = 0; i < json_object_array_length(reqs); i++) {
		e = json_object_array_get_idx(reqs, i);
		ck_assert_str_eq(emuctl_str(e, "Method"), "POST");
		ck_assert_str_eq(emuctl_str(e, "Path"), "/");
		ck_assert_str_eq(emuctl_str(e, "ContentType"), "application/x-amz-json-1.1");
	}
	ck_assert_str_eq(emuctl_str(json_object_array_get_idx(reqs, 0), "Operation"), "GetUser");
	ck_assert_str_eq(emuctl_str(json_object_array_get_idx(reqs, 1), "Operation"), "ListWebAuthnCredentials");
	ck_assert_str_eq(emuctl_str(json_object_array_get_idx(reqs, 2), "Operation"), "DeleteWebAuthnCredential");
	ck_assert_str_eq(emuctl_str(json_object_array_get_idx(reqs, 5), "Operation"), "GetTokensFromRefreshToken");
	ck_assert_str_eq(emuctl_str(json_object_array_get_idx(reqs, 7), "Operation"), "InitiateAuth");
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

	emuctl_config("{\"ClientSecret\":\"s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3t\"}");
	emuctl_add_user("bob", 0);
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
	emuctl_config("{\"ClientSecret\":null,\"RotateRefreshTokens\":true}");
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

	emuctl_add_user("carol", 47);
	mint("carol", &at, NULL);
	client(10, 3);
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(l.n, 47);
	pk = emuctl_passkeys("carol");
	for (i = 0; i < 47; i++)
		ck_assert_str_eq(l.items[i].id, emuctl_str(json_object_array_get_idx(pk, i), "CredentialId"));
	json_object_put(pk);
	ck_assert_uint_eq(r.attempts, 3);
	reqs = emuctl_requests();
	ck_assert_uint_eq(json_object_array_length(reqs), 3);	/* 20 + 20 + 7 */
	json_object_put(reqs);
	cpk_credential_list_free(&l);

	/* a failing page fails the list and leaves nothing behind */
	emuctl_fault("ListWebAuthnCredentials", "[\"ok\",\"error:NotAuthorizedException\"]");
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

	emuctl_add_user("dave", 1);
	mint("dave", &at, NULL);
	snprintf(spec, sizeof(spec), "[\"%s:%s\"]", form, code);
	emuctl_fault("DeleteWebAuthnCredential", spec);
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

	emuctl_add_user("erin", 1);
	mint("erin", &at, NULL);
	{
		struct json_object *o = emuctl("POST", "tokens", "{\"Username\":\"erin\",\"Ttl\":-60}");

		expired = strdup(emuctl_str(o, "AccessToken"));
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

	emuctl_do("DELETE", "users/erin", NULL);
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "UserNotFoundException");

	/* refused before sending */
	ck_assert_uint_eq(emuctl_request_count(), 3);
	ck_assert_int_eq(cpk_delete_credential(cl, "not a token", "x", &r), -1);
	ck_assert_str_eq(r.code, "InvalidToken");
	ck_assert_uint_eq(r.attempts, 0);
	memset(id, 'A', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ck_assert_int_eq(cpk_delete_credential(cl, at, id, &r), -1);
	ck_assert_str_eq(r.code, "InvalidParameterException");
	ck_assert_uint_eq(r.attempts, 0);
	ck_assert_uint_eq(emuctl_request_count(), 3);
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

	emuctl_add_user("frank", 2);
	mint("frank", &at, NULL);
	client(10, 3);
	hook_calls = 0;
	cpk_client_set_before_request(cl, count_hook, NULL);
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(hook_calls, 1);

	emuctl_fault("DeleteWebAuthnCredential", "[\"throttle\",\"limit\"]");
	t0 = now_s();
	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[0].id, &r), 0);
	el = now_s() - t0;
	ck_assert_str_eq(r.code, "");
	ck_assert_uint_eq(r.attempts, 3);
	ck_assert_uint_eq(hook_calls, 4);
	/* backoff: at most 500 ms then 1000 ms of jitter */
	ck_assert_msg(el < 2.0, "took %.3f s", el);
	pk = emuctl_passkeys("frank");
	ck_assert_uint_eq(json_object_array_length(pk), 1);
	json_object_put(pk);

	/* three throttles with three attempts: the code is kept */
	emuctl_fault("DeleteWebAuthnCredential", "[\"throttle\",\"throttle\",\"throttle\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[1].id, &r), -1);
	ck_assert_str_eq(r.code, "TooManyRequestsException");
	ck_assert(r.retryable);
	ck_assert_uint_eq(r.attempts, 3);

	/* 5xx: InternalErrorException and an HTML 503 are retried */
	emuctl_fault("DeleteWebAuthnCredential", "[\"internal\",\"http:503\"]");
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

	emuctl_add_user("gina", 1);
	mint("gina", &at, NULL);
	client(10, 5);
	before = emuctl_request_count();
	emuctl_fault("DeleteWebAuthnCredential", "[\"error:NotAuthorizedException\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "NotAuthorizedException");
	ck_assert_uint_eq(r.attempts, 1);
	emuctl_fault("DeleteWebAuthnCredential", "[\"error:InvalidParameterException\"]");
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);
	ck_assert_str_eq(r.code, "InvalidParameterException");
	ck_assert_uint_eq(r.attempts, 1);
	ck_assert_int_eq(cpk_delete_credential(cl, at, "x", &r), -1);	/* the service's own answer */
	ck_assert_str_eq(r.code, "ResourceNotFoundException");
	ck_assert_uint_eq(r.attempts, 1);
	ck_assert_uint_eq(emuctl_request_count() - before, 3);
	free(at);
}
END_TEST

START_TEST(hanging_server_deadline)
{
	struct cpk_reply r;
	char *at;
	double t0, el;

	emuctl_add_user("hank", 1);
	mint("hank", &at, NULL);
	emuctl_fault("DeleteWebAuthnCredential", "[\"hang:3\"]");
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
	emuctl_wait_requests(1);
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

	emuctl_add_user("ida", 6);
	mint("ida", &at, NULL);
	client(2, 3);
	t0 = now_s();
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	emuctl_do("POST", "latency", "{\"Milliseconds\":700}");
	for (i = 0; i < 5; i++)
		if (cpk_delete_credential(cl, at, l.items[i].id, &r) == 0)
			ok++;
	el = now_s() - t0;
	ck_assert_int_ge(ok, 1);
	ck_assert_int_le(ok, 2);
	ck_assert_str_eq(r.code, "Timeout");
	ck_assert_msg(el < 2.5, "five deletes took %.3f s for a 2 s deadline", el);
	emuctl_wait_requests(1 + (size_t)ok + 1);	/* the list, the deletes, the one cut short */
	cpk_credential_list_free(&l);
	free(at);
}
END_TEST

START_TEST(transport_faults)
{
	struct cpk_credential_list l;
	struct cpk_reply r;
	char *at;

	emuctl_add_user("jack", 2);
	mint("jack", &at, NULL);
	client(10, 1);
#define EXPECT(op_fault, want, retry) do { \
		emuctl_fault("ListWebAuthnCredentials", "[\"" op_fault "\"]"); \
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
	emuctl_fault("DeleteWebAuthnCredential", "[\"garbage\"]");
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
	emuctl_fault("ListWebAuthnCredentials", "[\"reset\"]");
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

	emuctl_add_user("kate", 7);
	mint("kate", &at, NULL);
	client(10, 3);
	ck_assert_int_eq(cpk_list_credentials(cl, at, &l, &r), 0);
	ck_assert_uint_eq(l.n, 7);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(cpk_delete_credential(cl, at, l.items[i].id, &r), 0);
	reqs = emuctl_requests();
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
	emuctl_add_user("liam", 1);
	mint("liam", &at, NULL);
	cfg = emu_cfg(10, 3);
	str_set(&cfg->ca_file, wrong);
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
	str_set(&cfg->ca_file, NULL);
	ck_assert_int_eq(cpk_client_new(&cl, cfg, NULL, &dl, &r), 0);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), -1);
	ck_assert_str_eq(r.code, "TransportError");
	ck_assert_uint_eq(emuctl_request_count(), 0);
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

	emuctl_add_user("mia", 0);
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
	str_set(&cfg->proxy, "http://127.0.0.1:9");
	ck_assert_int_eq(cpk_client_new(&cl, cfg, NULL, &dl, &r), 0);
	ck_assert_int_eq(cpk_get_user(cl, at, &name, &r), -1);
	ck_assert_str_eq(r.code, "TransportError");
	ck_assert_uint_eq(emuctl_request_count(), 1);
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
	emuctl_reset();
	emuctl_add_user("nora", 0);
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
	TCase *tc = tcase_create("loopback");

	tcase_add_test(tc, oversized_without_length);
	tcase_add_test(tc, oversized_chunked);
	tcase_add_test(tc, large_but_allowed);
	tcase_add_test(tc, interim_answer_headers);
	tcase_add_test(tc, rate_exceeded_without_code);
	suite_add_tcase(s, tc);

	if (emuctl_present()) {
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
		fprintf(stderr, "test_cognito: EMU_URL/EMU_CA not set: loopback tests only\n");
	}
	return s;
}

int
main(void)
{
	return run_suite(cognito_suite());
}
