/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * HTTPS awsJson1_1 client for the Cognito user-pool operations we need.
 * Callers never see JSON: results are typed, errors are a struct cpk_reply.
 *
 * One client holds one curl easy handle for a whole run, so that K requests
 * cost one TCP+TLS handshake, and one deadline shared by all requests.
 */
#ifndef CPK_COGNITO_H
#define CPK_COGNITO_H

#include <stdbool.h>
#include <stddef.h>
#include "config.h"
#include "util.h"

#define CPK_MAX_BODY		(1024 * 1024)
#define CPK_LIST_PAGE		20

/*
 * The outcome of one operation (after retries).  code is empty on success.
 * On failure code is the Cognito error code (namespace and ":..." cut), or
 * a local one: "TransportError" (connection, TLS, protocol; message has
 * curl's text), "Timeout" (the shared deadline ran out), "BodyTooLarge"
 * (answer over CPK_MAX_BODY), "InvalidResponse" (a 2xx we cannot parse),
 * "InvalidToken" (token refused before sending), "InvalidEndpoint",
 * "HTTP<status>" (an error answer that names no code, e.g. an HTML 503).
 * Arguments the service would refuse anyway (CredentialId over 131072
 * bytes, a bad ClientId) are refused locally as "InvalidParameterException"
 * with http_status 0, so that callers treat them as the service's answer.
 * attempts counts every HTTP attempt of the operation (all pages).
 * retryable is true when the last failure is one that standard mode
 * retries (throttling, 5xx, network, Timeout), even if no attempt was left.
 */
struct cpk_reply {
	char code[96];
	char message[512];
	char request_id[96];	/* x-amzn-RequestId of the last attempt */
	long http_status;	/* 0 when no HTTP answer */
	bool retryable;		/* the code is one that standard mode retries */
	unsigned int attempts;
};

struct cpk_credential {
	char *id;
	char *name;		/* FriendlyCredentialName */
	char *rp_id;		/* RelyingPartyId */
	char *attachment;	/* may be NULL */
	char **transports;	/* NULL-terminated, may be empty */
	double created_at;	/* epoch seconds */
};

struct cpk_credential_list {
	struct cpk_credential *items;
	size_t n;
};

/* What a refresh answers.  Every string is a secret except token_type. */
struct cpk_tokens {
	char *access_token;
	char *id_token;		/* may be NULL */
	char *refresh_token;	/* NULL unless rotated */
	long expires_in;
	char *token_type;
};

/* Called before every HTTP request (rate limiting across workers). */
typedef void (*cpk_before_request_fn)(void *ctx);

struct cpk_client;

/*
 * Endpoint: cfg->endpoint_url, else https://cognito-idp[-fips].<region>...
 * with region = cfg->region, else token_region (from the token's iss).
 * http:// only for loopback addresses.  Returns 0 or -1 (reply->code
 * "InvalidEndpoint" and a message).
 */
int cpk_endpoint_resolve(const struct cpk_config *cfg, const char *token_region,
			 char *out, size_t len, struct cpk_reply *reply);

/*
 * libcurl's process-wide initialisation (curl_global_init), done once under
 * pthread_once; it also drops SSLKEYLOGFILE from the environment.
 * cpk_client_new calls it; a program that starts threads should call it
 * from main() before, because it touches the environment.  0 or -1.
 */
int cpk_client_global_init(void);

/* dl is kept by pointer and must outlive the client. */
int cpk_client_new(struct cpk_client **out, const struct cpk_config *cfg,
		   const char *token_region, const struct cpk_deadline *dl,
		   struct cpk_reply *reply);
void cpk_client_free(struct cpk_client *c);
/*
 * A client for the next run of a batch worker: *cp itself, keeping its
 * connection, when it reaches the same endpoint (its deadline set to dl,
 * its rate hook and retry quota cleared), else a new one (*cp NULL: as
 * cpk_client_new).  On failure *cp is freed and NULL.  0 or -1.
 */
int cpk_client_renew(struct cpk_client **cp, const struct cpk_config *cfg,
		     const char *token_region, const struct cpk_deadline *dl,
		     struct cpk_reply *reply);
void cpk_client_set_before_request(struct cpk_client *c, cpk_before_request_fn fn, void *ctx);
/* The run's shared retry quota (quota.h); NULL: retries bounded by max_attempts only. */
struct cpk_retry_quota;
void cpk_client_set_retry_quota(struct cpk_client *c, struct cpk_retry_quota *q);

/* Every page, MaxResults 20.  On failure *out is left empty. */
int cpk_list_credentials(struct cpk_client *c, const char *access_token,
			 struct cpk_credential_list *out, struct cpk_reply *reply);
int cpk_delete_credential(struct cpk_client *c, const char *access_token,
			  const char *credential_id, struct cpk_reply *reply);
/* Username of the token's user (malloc'd). */
int cpk_get_user(struct cpk_client *c, const char *access_token, char **username,
		 struct cpk_reply *reply);
/*
 * GetUser: what the pool itself says about the token (identity.h).
 * *username and, when sub is not NULL, *sub (the "sub" user attribute)
 * malloc'd.  An answer without either is "InvalidResponse".
 */
int cpk_get_user_identity(struct cpk_client *c, const char *access_token, char **username,
			  char **sub, struct cpk_reply *reply);
/*
 * GetTokensFromRefreshToken (ClientSecret when secret != NULL) or
 * InitiateAuth REFRESH_TOKEN_AUTH (SECRET_HASH from secret, username and
 * client_id).  username may be NULL when secret is NULL.
 */
int cpk_refresh(struct cpk_client *c, enum cpk_refresh_api api, const char *refresh_token,
		const char *client_id, const char *secret, const char *username,
		struct cpk_tokens *out, struct cpk_reply *reply);

void cpk_credential_list_free(struct cpk_credential_list *l);
void cpk_tokens_free(struct cpk_tokens *t);	/* wipes */

/* Parsers, exposed for unit tests and fuzzing. */
void cpk_parse_error(const char *body, size_t len, const char *error_type_header,
		     struct cpk_reply *reply);
/* Appends one page to l; *next_token malloc'd or NULL.  0 or -1. */
int cpk_parse_credential_page(const char *body, size_t len, struct cpk_credential_list *l,
			      char **next_token);
int cpk_parse_tokens(const char *body, size_t len, struct cpk_tokens *out);
/*
 * Retry classification (AWS "standard" mode), exposed for unit tests.
 * cpk_code_is_throttling: the 14 throttling codes of botocore/JS.
 * cpk_answer_retryable: an HTTP answer with this (sanitized) code and
 * status is worth another attempt: throttling, transient codes, 429, 500,
 * 502, 503, 504.  Never NotAuthorized, ResourceNotFound, InvalidParameter.
 */
bool cpk_code_is_throttling(const char *code);
bool cpk_answer_retryable(const char *code, long http_status);
/*
 * Full-jitter backoff before attempt `attempt`+1, in milliseconds:
 * r * min(base * 2^(attempt-1), 20 s), r in [0,1), base 100 ms for
 * transient errors and 500 ms for throttling (the pre-2026 JS SDK values).
 */
long cpk_backoff_ms(unsigned int attempt, bool throttling, double r);
/* New TCP connections the client has opened so far (for tests, bench). */
unsigned int cpk_client_connections(const struct cpk_client *c);

/* Valid AccessToken / RefreshToken on the wire: [A-Za-z0-9_=.-]+ */
bool cpk_token_syntax_valid(const char *token);
/* Base64(HMAC-SHA256(secret, username + client_id)), malloc'd. */
char *cpk_secret_hash(const char *secret, const char *username, const char *client_id);

#endif
