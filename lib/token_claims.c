/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The access token's claims: the JWT payload decoded, and the rules a
 * cached token must pass before any request is made with it
 * (cpk_token_check).  No signature is checked here, so the claims are
 * unverified: they only decide that no request is sent for a token that
 * names someone else; whose token it is, Cognito says (identity.h).
 * Every decoded copy of the token is wiped.
 */
#include "token_int.h"
#include "identity.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define ADMIN_SCOPE		"aws.cognito.signin.user.admin"
#define ISS_PREFIX		"https://cognito-idp."
#define ISS_HOST_SUFFIX		".amazonaws.com/"
#define CLAIMS_MAX_DEPTH	16
/* Plausible epoch seconds: after 1970, before the year 10000. */
#define TIME_MAX		INT64_C(253402300799)

/* ---- base64url ---------------------------------------------------------- */

/*
 * base64url without padding (RFC 7515) -> bytes, NUL-terminated.  The
 * decoding itself is libcrypto's: translate to the standard alphabet, pad.
 */
static unsigned char *
b64url_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char *tmp = NULL, *out = NULL;
	size_t i, pad;
	int n;

	if (len == 0 || len % 4 == 1 || len > CPK_TOKEN_MAX_FILE)
		return NULL;
	pad = (4 - len % 4) % 4;
	tmp = malloc(len + pad + 1);
	out = malloc((len + pad) / 4 * 3 + 1);
	if (tmp == NULL || out == NULL)
		goto fail;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (!cpk_b64url_char(ch))
			goto fail;
		tmp[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
	}
	memset(tmp + len, '=', pad);
	tmp[len + pad] = '\0';
	n = EVP_DecodeBlock(out, tmp, (int)(len + pad));
	if (n < 0 || (size_t)n < pad)
		goto fail;
	*outlen = (size_t)n - pad;
	out[*outlen] = '\0';
	cpk_wipe(tmp, len + pad);
	free(tmp);
	return out;
fail:
	if (tmp != NULL)
		cpk_wipe(tmp, len + pad);
	free(tmp);
	free(out);
	return NULL;
}

/* ---- JWT claims ------------------------------------------------------- */

void
cpk_claims_free(struct cpk_claims *c)
{
	if (c == NULL)
		return;
	free(c->iss);
	free(c->region);
	free(c->pool_id);
	free(c->client_id);
	free(c->token_use);
	free(c->scope);
	free(c->username);
	free(c->sub);
	memset(c, 0, sizeof(*c));
}

/* A string claim (absent or null: *out NULL).  0, or -1 with reply set. */
static int
claim_string(json_object *claims, const char *key, char **out, struct cpk_reply *reply)
{
	json_object *v;
	const char *s;
	int n;

	*out = NULL;
	if (!json_object_object_get_ex(claims, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		cpk_token_set_error(reply, "malformed_jwt", "claim '%s' is not a string", key);
		return -1;
	}
	s = json_object_get_string(v);
	n = json_object_get_string_len(v);
	if (n < 0 || memchr(s, '\0', (size_t)n) != NULL) {
		cpk_token_set_error(reply, "malformed_jwt", "claim '%s' holds a NUL byte", key);
		return -1;
	}
	*out = strdup(s);
	if (*out == NULL) {
		cpk_token_set_error(reply, "malformed_jwt", "out of memory");
		return -1;
	}
	return 0;
}

/* A NumericDate claim in 1..TIME_MAX.  Absent: 0 unless required. */
static int
claim_time(json_object *claims, const char *key, bool required, int64_t *out,
	   struct cpk_reply *reply)
{
	json_object *v;
	double d;

	*out = 0;
	if (!json_object_object_get_ex(claims, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 0;
		cpk_token_set_error(reply, "malformed_jwt", "claim '%s' is missing", key);
		return -1;
	}
	if (json_object_is_type(v, json_type_int)) {
		/* json-c saturates what does not fit in int64: caught by the range */
		*out = json_object_get_int64(v);
	} else if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		if (!isfinite(d) || d < 1.0 || d > (double)TIME_MAX)
			goto range;
		*out = (int64_t)d;
	} else {
		cpk_token_set_error(reply, "malformed_jwt", "claim '%s' is not a number", key);
		return -1;
	}
	if (*out < 1 || *out > TIME_MAX)
		goto range;
	return 0;
range:
	*out = 0;
	cpk_token_set_error(reply, "malformed_jwt", "claim '%s' is out of range", key);
	return -1;
}

/*
 * iss = https://cognito-idp.<region>.amazonaws.com/<pool>, pool being
 * <region>_<id>: fill region and pool_id; anything else leaves them NULL
 * (cpk_token_check refuses it as foreign_issuer).
 */
static int
split_issuer(struct cpk_claims *c)
{
	const char *p, *host_end, *pool;
	size_t rlen;

	if (c->iss == NULL || strncmp(c->iss, ISS_PREFIX, strlen(ISS_PREFIX)) != 0)
		return 0;
	p = c->iss + strlen(ISS_PREFIX);
	host_end = strstr(p, ISS_HOST_SUFFIX);
	if (host_end == NULL)
		return 0;
	rlen = (size_t)(host_end - p);
	pool = host_end + strlen(ISS_HOST_SUFFIX);
	if (rlen == 0 || rlen > 32 || strncmp(pool, p, rlen) != 0 || pool[rlen] != '_')
		return 0;
	c->region = strndup(p, rlen);
	c->pool_id = strdup(pool);
	if (c->region == NULL || c->pool_id == NULL)
		return -1;
	if (!cpk_region_valid(c->region) || !cpk_user_pool_id_valid(c->pool_id)) {
		free(c->region);
		free(c->pool_id);
		c->region = c->pool_id = NULL;
	}
	return 0;
}

static int
claims_from_json(json_object *j, struct cpk_claims *out, struct cpk_reply *reply)
{
	if (claim_string(j, "iss", &out->iss, reply) != 0 ||
	    claim_string(j, "client_id", &out->client_id, reply) != 0 ||
	    claim_string(j, "token_use", &out->token_use, reply) != 0 ||
	    claim_string(j, "scope", &out->scope, reply) != 0 ||
	    claim_string(j, "username", &out->username, reply) != 0 ||
	    claim_string(j, "sub", &out->sub, reply) != 0 ||
	    claim_time(j, "exp", true, &out->exp, reply) != 0 ||
	    claim_time(j, "iat", false, &out->iat, reply) != 0)
		return -1;
	if (split_issuer(out) != 0) {
		cpk_token_set_error(reply, "malformed_jwt", "out of memory");
		return -1;
	}
	return 0;
}

int
cpk_jwt_claims(const char *jwt, struct cpk_claims *out, struct cpk_reply *reply)
{
	const char *dot1, *dot2, *p;
	unsigned char *payload = NULL;
	json_object *j = NULL;
	const char *why;
	size_t len, plen = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	len = strnlen(jwt, CPK_TOKEN_MAX_FILE + 1);
	if (len == 0 || len > CPK_TOKEN_MAX_FILE) {
		cpk_token_set_error(reply, "malformed_jwt", "access token is empty or too long");
		return -1;
	}
	/* header.payload.signature: three non-empty base64url segments */
	dot1 = strchr(jwt, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
	    dot1 == jwt || dot2 == dot1 + 1 || dot2[1] == '\0') {
		cpk_token_set_error(reply, "malformed_jwt",
				    "access token is not a JWS (header.payload.signature)");
		return -1;
	}
	for (p = jwt; *p != '\0'; p++) {
		if (*p != '.' && !cpk_b64url_char((unsigned char)*p)) {
			cpk_token_set_error(reply, "malformed_jwt",
					    "access token is not base64url");
			return -1;
		}
	}
	payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
	if (payload == NULL) {
		cpk_token_set_error(reply, "malformed_jwt",
				    "access token payload is not valid base64url");
		goto out;
	}
	j = cpk_token_parse_json((const char *)payload, plen, CLAIMS_MAX_DEPTH, &why);
	if (j == NULL) {
		cpk_token_set_error(reply, "malformed_jwt", "access token payload: %s", why);
		goto out;
	}
	if (!json_object_is_type(j, json_type_object)) {
		cpk_token_set_error(reply, "malformed_jwt",
				    "access token payload is not a JSON object");
		goto out;
	}
	if (claims_from_json(j, out, reply) != 0)
		goto out;
	rc = 0;
out:
	if (payload != NULL)
		cpk_wipe(payload, plen);
	free(payload);
	json_object_put(j);
	if (rc != 0)
		cpk_claims_free(out);
	return rc;
}

/* ---- the rules a cached token must pass -------------------------------- */

static bool
scope_has(const char *scope, const char *want)
{
	size_t n = strlen(want);
	const char *p = scope;

	if (scope == NULL)
		return false;
	while ((p = strstr(p, want)) != NULL) {
		if ((p == scope || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

int
cpk_token_check(const struct cpk_config *cfg, const struct passwd *pw,
		const struct cpk_token_cache *tc, struct cpk_reply *reply)
{
	const struct cpk_claims *c = &tc->claims;
	char want[256];
	int rule;

	memset(reply, 0, sizeof(*reply));
	if (c->token_use == NULL || strcmp(c->token_use, "access") != 0) {
		cpk_token_set_error(reply, "not_access_token", "token_use is '%.32s', not 'access'",
				    c->token_use != NULL ? c->token_use : "");
		return -1;
	}
	if (!scope_has(c->scope, ADMIN_SCOPE)) {
		cpk_token_set_error(reply, "missing_scope", "scope lacks " ADMIN_SCOPE);
		return -1;
	}
	if (c->region == NULL) {
		cpk_token_set_error(reply, "foreign_issuer",
				    "issuer '%.128s' is not a Cognito user pool",
				    c->iss != NULL ? c->iss : "");
		return -1;
	}
	if (cfg->region != NULL && strcmp(cfg->region, c->region) != 0) {
		cpk_token_set_error(reply, "foreign_issuer",
				    "token issued in region %s, configured region is %s",
				    c->region, cfg->region);
		return -1;
	}
	if (cfg->user_pool_id != NULL && strcmp(cfg->user_pool_id, c->pool_id) != 0) {
		cpk_token_set_error(reply, "foreign_pool",
				    "token issued by pool %s, configured pool is %s",
				    c->pool_id, cfg->user_pool_id);
		return -1;
	}
	/* the claim first (no request for a token that names someone else);
	 * the revocation engine then asks Cognito itself (identity.h) */
	if (cpk_identity_configured(cfg, reply) < 0)
		return -1;
	rule = cpk_identity_expected(cfg, pw, want, sizeof(want));
	if (rule < 0) {
		cpk_token_set_error(reply, "username_mismatch", "expect_username does not expand");
		return -1;
	}
	if (rule == 1 && (c->username == NULL || strcmp(c->username, want) != 0)) {
		cpk_token_set_error(reply, "username_mismatch",
				    "token username '%.64s' is not '%.64s'",
				    c->username != NULL ? c->username : "", want);
		return -1;
	}
	return 0;
}

bool
cpk_token_expiring(const struct cpk_token_cache *tc, int64_t now)
{
	return tc->claims.exp - CPK_TOKEN_SKEW <= now;
}
