/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The Cognito user-pool operations we need, over the transport of http.c:
 * DeleteWebAuthnCredential, ListWebAuthnCredentials (every page), GetUser,
 * GetTokensFromRefreshToken and InitiateAuth REFRESH_TOKEN_AUTH; and where
 * Cognito is (the endpoint of a region or endpoint_url).
 *
 * Each operation checks its arguments, refusing locally what the service
 * would refuse anyway, builds its JSON request body, calls it, and hands
 * the answer to its parser (cognito_parse.c).
 *
 * Secrets: request bodies are built here (not by json-c) in a buffer that
 * is wiped after the request; the answer is wiped after parsing
 * (cpk_http_done).  Callers get a struct cpk_reply and never a token.
 */
#include "cognito.h"
#include "cognito_parse.h"
#include "http.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* A server that keeps paging forever is broken; the deadline would stop it
 * too, but this stops it without burning the whole login deadline. */
#define MAX_PAGES		1000
#define MAX_TOKEN_LEN		65536

/* ---------------------------------------------------------------------- */
/* endpoint                                                               */

/* DNS suffix of the region's partition (botocore partitions.json). */
static const char *
partition_suffix(const char *region)
{
	static const struct {
		const char *prefix;
		const char *suffix;
	} parts[] = {
		{ "cn-", "amazonaws.com.cn" },
		{ "us-isob-", "sc2s.sgov.gov" },
		{ "us-isof-", "csp.hci.ic.gov" },
		{ "us-iso-", "c2s.ic.gov" },
		{ "eu-isoe-", "cloud.adc-e.uk" },
		{ "eusc-", "amazonaws.eu" },
	};
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(parts); i++)
		if (strncmp(region, parts[i].prefix, strlen(parts[i].prefix)) == 0)
			return parts[i].suffix;
	return "amazonaws.com";
}

int
cpk_endpoint_resolve(const struct cpk_config *cfg, const char *token_region,
		     char *out, size_t len, struct cpk_reply *reply)
{
	char err[CPK_ERR_LEN];
	const char *region;

	memset(reply, 0, sizeof(*reply));
	if (cfg->endpoint_url != NULL) {
		/* As the SDKs' endpoint rules: a custom endpoint and FIPS
		 * contradict each other; refuse rather than guess. */
		if (cfg->use_fips) {
			cpk_reply_set(reply, "InvalidEndpoint", false,
				      "use_fips and endpoint_url cannot be combined");
			return -1;
		}
		if (cpk_endpoint_url_check(cfg->endpoint_url, err, sizeof(err)) < 0) {
			cpk_reply_set(reply, "InvalidEndpoint", false, "%s", err);
			return -1;
		}
		if (cpk_snprintf(out, len, "%s", cfg->endpoint_url) < 0) {
			cpk_reply_set(reply, "InvalidEndpoint", false, "endpoint_url is too long");
			return -1;
		}
		return 0;
	}
	region = cfg->region != NULL ? cfg->region : token_region;
	if (region == NULL || !cpk_region_valid(region)) {
		cpk_reply_set(reply, "InvalidEndpoint", false, "%s",
			      region == NULL ? "no region: set region or endpoint_url" :
			      cfg->region != NULL ? "region is not a valid AWS region" :
			      "the token's issuer names no valid AWS region");
		return -1;
	}
	if (cpk_snprintf(out, len, "https://cognito-idp%s.%s.%s/", cfg->use_fips ? "-fips" : "",
			 region, partition_suffix(region)) < 0) {
		cpk_reply_set(reply, "InvalidEndpoint", false, "endpoint URL too long");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* request bodies                                                         */

/* A JSON string literal.  Bytes >= 0x80 pass through (UTF-8). */
static int
buf_add_json_string(struct cpk_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u;

	if (cpk_buf_add(b, "\"", 1) < 0)
		return -1;
	for (u = (const unsigned char *)s; *u != '\0'; u++) {
		char esc[6] = { '\\', 'u', '0', '0', hex[*u >> 4], hex[*u & 0xf] };
		int rc;

		if (*u == '"' || *u == '\\') {
			esc[1] = (char)*u;
			rc = cpk_buf_add(b, esc, 2);
		} else if (*u < 0x20) {
			rc = cpk_buf_add(b, esc, 6);
		} else {
			rc = cpk_buf_add(b, (const char *)u, 1);
		}
		if (rc < 0)
			return -1;
	}
	return cpk_buf_add(b, "\"", 1);
}

/* ,"key":"value" (the leading comma unless first) */
static int
buf_add_member(struct cpk_buf *b, bool first, const char *key, const char *value)
{
	if ((!first && cpk_buf_add(b, ",", 1) < 0) || buf_add_json_string(b, key) < 0 ||
				   cpk_buf_add(b, ":", 1) < 0 || buf_add_json_string(b, value) < 0)
				   return -1;
	return 0;
}
bool
cpk_token_syntax_valid(const char *token)
{
	size_t n;

	if (token == NULL || token[0] == '\0')
		return false;
	for (n = 0; token[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)token[n];

		if (n >= MAX_TOKEN_LEN)
			return false;
		if (!isalnum(ch) && ch != '_' && ch != '=' && ch != '.' && ch != '-')
			return false;
	}
	return true;
}

char *
cpk_secret_hash(const char *secret, const char *username, const char *client_id)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct cpk_buf msg = CPK_BUF_INIT;
	char *out = NULL;

	if (secret == NULL || username == NULL || client_id == NULL || strlen(secret) > INT_MAX)
		return NULL;
	if (cpk_buf_adds(&msg, username) < 0 || cpk_buf_adds(&msg, client_id) < 0)
		goto out;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.p, msg.len,
		 mac, &maclen) == NULL)
		goto out;
	/* 4 * ceil(32 / 3) = 44 characters and a NUL */
	if ((out = malloc(4 * ((maclen + 2) / 3) + 1)) == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
out:
	cpk_wipe(mac, sizeof(mac));
	cpk_buf_free(&msg);
	return out;
}

/* ---------------------------------------------------------------------- */
/* operations                                                             */

static void
reply_begin(struct cpk_reply *r)
{
	memset(r, 0, sizeof(*r));
}

static int
refuse_token(const char *token, const char *what, struct cpk_reply *r)
{
	if (cpk_token_syntax_valid(token))
		return 0;
	cpk_reply_set(r, "InvalidToken", false,
		      "the %s is not a valid token (refused before sending)", what);
	return -1;
}

static bool
client_id_valid(const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '+')
			return false;
	return n >= 1 && n <= 128;
}

int
cpk_delete_credential(struct cpk_client *c, const char *access_token,
		      const char *credential_id, struct cpk_reply *reply)
{
	struct cpk_buf req = CPK_BUF_INIT;
	const char *body;
	size_t len;
	int ret = -1;

	reply_begin(reply);
	if (refuse_token(access_token, "access token", reply) < 0)
		goto out;
	if (credential_id == NULL || strlen(credential_id) > CPK_MAX_CREDENTIAL_ID) {
		cpk_reply_set(reply, "InvalidParameterException", false,
			      "CredentialId longer than %d bytes (refused before sending)", CPK_MAX_CREDENTIAL_ID);
		goto out;
	}
	if (cpk_buf_adds(&req, "{") < 0 || buf_add_member(&req, true, "AccessToken", access_token) < 0 ||
	    buf_add_member(&req, false, "CredentialId", credential_id) < 0 ||
	    cpk_buf_adds(&req, "}") < 0) {
		cpk_reply_oom(reply);
		goto out;
	}
	if (cpk_http_call(c, "DeleteWebAuthnCredential", &req, reply) < 0)
		goto out;
	body = cpk_http_body(c, &len);
	if (!cpk_parse_empty_output(body, len)) {
		cpk_reply_set(reply, "InvalidResponse", false,
			      "DeleteWebAuthnCredential answered 2xx with a body that is not JSON");
		goto out;
	}
	ret = 0;
out:
	cpk_buf_free(&req);
	cpk_http_done(c);
	return ret;
}

static int
list_page_request(struct cpk_buf *req, const char *access_token, const char *next_token)
{
	char max[32];

	snprintf(max, sizeof(max), ",\"MaxResults\":%d", CPK_LIST_PAGE);
	cpk_buf_wipe(req);
	if (cpk_buf_adds(req, "{") < 0 || buf_add_member(req, true, "AccessToken", access_token) < 0 ||
	    cpk_buf_adds(req, max) < 0 ||
	    (next_token != NULL && buf_add_member(req, false, "NextToken", next_token) < 0) ||
	    cpk_buf_adds(req, "}") < 0)
		return -1;
	return 0;
}

int
cpk_list_credentials(struct cpk_client *c, const char *access_token,
		     struct cpk_credential_list *out, struct cpk_reply *reply)
{
	struct cpk_buf req = CPK_BUF_INIT;
	char *next = NULL, *prev = NULL;
	const char *body;
	size_t len;
	unsigned int pages;
	int ret = -1;

	reply_begin(reply);
	out->items = NULL;
	out->n = 0;
	if (refuse_token(access_token, "access token", reply) < 0)
		goto out;
	for (pages = 0;; pages++) {
		if (pages >= MAX_PAGES) {
			cpk_reply_set(reply, "InvalidResponse", false, "more than %d pages", MAX_PAGES);
			goto out;
		}
		if (list_page_request(&req, access_token, prev) < 0) {
			cpk_reply_oom(reply);
			goto out;
		}
		if (cpk_http_call(c, "ListWebAuthnCredentials", &req, reply) < 0)
			goto out;
		body = cpk_http_body(c, &len);
		if (cpk_parse_credential_page(body, len, out, &next) < 0) {
			cpk_reply_set(reply, "InvalidResponse", false,
				      "ListWebAuthnCredentials answer is not a credential list (or holds an invalid CredentialId)");
			goto out;
		}
		cpk_http_done(c);
		if (next == NULL)
			break;
		if (prev != NULL && strcmp(prev, next) == 0) {
			cpk_reply_set(reply, "InvalidResponse", false, "the same NextToken came back twice");
			goto out;
		}
		free(prev);
		prev = next;
		next = NULL;
	}
	ret = 0;
out:
	if (ret < 0)
		cpk_credential_list_free(out);
	free(prev);
	free(next);
	cpk_buf_free(&req);
	cpk_http_done(c);
	return ret;
}

int
cpk_get_user_identity(struct cpk_client *c, const char *access_token, char **username,
		      char **sub, struct cpk_reply *reply)
{
	struct cpk_buf req = CPK_BUF_INIT;
	const char *body;
	size_t len;
	int ret = -1, rc;

	reply_begin(reply);
	*username = NULL;
	if (sub != NULL)
		*sub = NULL;
	if (refuse_token(access_token, "access token", reply) < 0)
		goto out;
	if (cpk_buf_adds(&req, "{") < 0 || buf_add_member(&req, true, "AccessToken", access_token) < 0 ||
	    cpk_buf_adds(&req, "}") < 0) {
		cpk_reply_oom(reply);
		goto out;
	}
	if (cpk_http_call(c, "GetUser", &req, reply) < 0)
		goto out;
	body = cpk_http_body(c, &len);
	rc = cpk_parse_user(body, len, username, sub);
	if (rc < 0) {
		cpk_reply_set(reply, "InvalidResponse", false, "GetUser answer has no %s",
			      rc == -1 ? "Username" : "sub attribute");
		goto out;
	}
	ret = 0;
out:
	cpk_buf_free(&req);
	cpk_http_done(c);
	return ret;
}

int
cpk_get_user(struct cpk_client *c, const char *access_token, char **username,
	     struct cpk_reply *reply)
{
	return cpk_get_user_identity(c, access_token, username, NULL, reply);
}

static int
refresh_request(struct cpk_buf *req, enum cpk_refresh_api api, const char *refresh_token,
		const char *client_id, const char *secret, const char *username,
		struct cpk_reply *r)
{
	char *hash = NULL;
	int ret = -1;

	if (api == CPK_REFRESH_GET_TOKENS) {
		if (cpk_buf_adds(req, "{") < 0 || buf_add_member(req, true, "RefreshToken", refresh_token) < 0 ||
		    buf_add_member(req, false, "ClientId", client_id) < 0 ||
		    (secret != NULL && buf_add_member(req, false, "ClientSecret", secret) < 0) ||
		    cpk_buf_adds(req, "}") < 0)
			goto oom;
		return 0;
	}
	if (secret != NULL) {
		if (username == NULL || username[0] == '\0') {
			cpk_reply_set(r, "InvalidParameterException", false,
				      "SECRET_HASH needs the user name (refused before sending)");
			return -1;
		}
		if ((hash = cpk_secret_hash(secret, username, client_id)) == NULL)
			goto oom;
	}
	if (cpk_buf_adds(req, "{") < 0 ||
	    buf_add_member(req, true, "AuthFlow", "REFRESH_TOKEN_AUTH") < 0 ||
	    buf_add_member(req, false, "ClientId", client_id) < 0 ||
	    cpk_buf_adds(req, ",\"AuthParameters\":{") < 0 ||
	    buf_add_member(req, true, "REFRESH_TOKEN", refresh_token) < 0 ||
	    (hash != NULL && buf_add_member(req, false, "SECRET_HASH", hash) < 0) ||
	    cpk_buf_adds(req, "}}") < 0)
		goto oom;
	ret = 0;
	goto out;
oom:
	cpk_reply_oom(r);
out:
	cpk_free_secret(hash);
	return ret;
}

int
cpk_refresh(struct cpk_client *c, enum cpk_refresh_api api, const char *refresh_token,
	    const char *client_id, const char *secret, const char *username,
	    struct cpk_tokens *out, struct cpk_reply *reply)
{
	struct cpk_buf req = CPK_BUF_INIT;
	const char *op = api == CPK_REFRESH_GET_TOKENS ? "GetTokensFromRefreshToken" : "InitiateAuth";
	const char *body;
	size_t len;
	int ret = -1;

	reply_begin(reply);
	memset(out, 0, sizeof(*out));
	if (refuse_token(refresh_token, "refresh token", reply) < 0)
		goto out;
	if (!client_id_valid(client_id)) {
		cpk_reply_set(reply, "InvalidParameterException", false,
			      "ClientId must be 1 to 128 of [A-Za-z0-9_+] (refused before sending)");
		goto out;
	}
	if (refresh_request(&req, api, refresh_token, client_id, secret, username, reply) < 0)
		goto out;
	if (cpk_http_call(c, op, &req, reply) < 0)
		goto out;
	body = cpk_http_body(c, &len);
	if (cpk_parse_tokens(body, len, out) < 0) {
		cpk_reply_set(reply, "InvalidResponse", false,
			      "%s answer has no usable AuthenticationResult", op);
		goto out;
	}
	ret = 0;
out:
	cpk_buf_free(&req);
	cpk_http_done(c);
	return ret;
}
