/*
 * The user's token cache.
 *
 * The file lives in the user's home, under the user's control, and we run
 * as root: this is where PAM modules have been broken before (pam_u2f
 * CVE-2019-12209: a user-controlled path opened as root; Linux-PAM
 * CVE-2024-22365: a FIFO that blocked open()).  So the file is opened and
 * written with the user's file-system identity (privs.c), never follows a
 * final symlink, never blocks, and is judged on the open descriptor
 * before one byte is read.  Every refusal names the rule that failed in
 * reply->code, which becomes `event=token_rejected error=<code>`.
 *
 * Tokens are secrets: they never reach reply->message, and every copy
 * (ours, the read buffer, the strings inside the JSON document, the
 * serialised text) is wiped before it is freed.
 */
#include "token.h"
#include "identity.h"
#include "privs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#define ADMIN_SCOPE		"aws.cognito.signin.user.admin"
#define ISS_PREFIX		"https://cognito-idp."
#define ISS_HOST_SUFFIX		".amazonaws.com/"
#define DOC_MAX_DEPTH		32
#define CLAIMS_MAX_DEPTH	16
#define SECRET_MAX_FILE		4096
/* Plausible epoch seconds: after 1970, before the year 10000. */
#define TIME_MAX		INT64_C(253402300799)

struct cpk_token_cache {
	char *path;			/* NULL when parsed from a buffer */
	json_object *doc;		/* the whole document, unknown fields kept */
	json_object *holder;		/* doc, or its AuthenticationResult */
	enum cpk_token_format format;
	char *access;			/* secret */
	char *refresh;			/* secret, may be NULL */
	char *id;			/* secret, may be NULL */
	struct cpk_claims claims;	/* of the access token */
	mode_t mode;			/* permission bits of the file read */
	int json_flags;			/* how to write it back */
	bool trailing_newline;
};

/* Member names of each format. */
struct format_keys {
	const char *access, *refresh, *id, *expires_in;
};

static const struct format_keys FORMAT_KEYS[] = {
	[CPK_TOKFMT_AUTH_RESULT] = { "AccessToken", "RefreshToken", "IdToken", "ExpiresIn" },
	[CPK_TOKFMT_INITIATE_AUTH] = { "AccessToken", "RefreshToken", "IdToken", "ExpiresIn" },
	[CPK_TOKFMT_OAUTH] = { "access_token", "refresh_token", "id_token", "expires_in" },
};

static void set_error(struct cpk_reply *reply, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_error(struct cpk_reply *reply, const char *code, const char *fmt, ...)
{
	va_list ap;

	memset(reply, 0, sizeof(*reply));
	snprintf(reply->code, sizeof(reply->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
}

/* A file only an administrator can fix: the key and the file, named. */
static void
config_error(struct cpk_reply *reply, const char *key, const char *path)
{
	char detail[sizeof(reply->message)];

	snprintf(detail, sizeof(detail), "%s", reply->message);
	set_error(reply, "config_error", "%s %s: %s", key, path, detail);
}

/* Wipe the bytes of a json-c string in place (json-c frees without wiping). */
static void
wipe_json_string(json_object *s)
{
	const char *p;
	int n;

	if (s == NULL || !json_object_is_type(s, json_type_string))
		return;
	p = json_object_get_string(s);
	n = json_object_get_string_len(s);
	if (p != NULL && n > 0)
		cpk_wipe((void *)(uintptr_t)p, (size_t)n);
}

static void
wipe_member(json_object *obj, const char *key)
{
	json_object *v;

	if (obj != NULL && json_object_object_get_ex(obj, key, &v))
		wipe_json_string(v);
}

/* JSON white space (strchr would also match the NUL byte) */
static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool
b64url_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* Same rule as the client's: [A-Za-z0-9_=.-]+ (checked here too, so that
 * a bad file is refused when it is read, not later by the client). */
static bool
token_chars_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (!b64url_char(*p) && *p != '.' && *p != '=')
			return false;
	return true;
}

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

		if (!b64url_char(ch))
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

/*
 * Strict JSON of exactly len bytes (trailing white space allowed), nesting
 * at most depth, valid UTF-8.  json-c's strict mode still lets a few
 * extensions through ('single-quoted' names, NaN, Infinity): harmless here,
 * the values that matter are type- and range-checked after parsing.
 * Returns the object, or NULL with a reason in why.
 */
static json_object *
parse_json(const char *buf, size_t len, int depth, const char **why)
{
	json_tokener *tok;
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	size_t end;

	*why = "out of memory";
	if (len > INT_MAX)
		return NULL;
	if (memchr(buf, '\0', len) != NULL) {
		*why = "NUL byte in JSON";
		return NULL;
	}
	tok = json_tokener_new_ex(depth);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
				    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj == NULL || jerr != json_tokener_success) {
		*why = jerr == json_tokener_continue ? "truncated JSON" : json_tokener_error_desc(jerr);
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++) {
		if (!is_space(buf[end])) {
			*why = "garbage after the JSON document";
			json_object_put(obj);
			obj = NULL;
			goto out;
		}
	}
out:
	json_tokener_free(tok);
	return obj;
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
		set_error(reply, "malformed_jwt", "claim '%s' is not a string", key);
		return -1;
	}
	s = json_object_get_string(v);
	n = json_object_get_string_len(v);
	if (n < 0 || memchr(s, '\0', (size_t)n) != NULL) {
		set_error(reply, "malformed_jwt", "claim '%s' holds a NUL byte", key);
		return -1;
	}
	*out = strdup(s);
	if (*out == NULL) {
		set_error(reply, "malformed_jwt", "out of memory");
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
		set_error(reply, "malformed_jwt", "claim '%s' is missing", key);
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
		set_error(reply, "malformed_jwt", "claim '%s' is not a number", key);
		return -1;
	}
	if (*out < 1 || *out > TIME_MAX)
		goto range;
	return 0;
range:
	*out = 0;
	set_error(reply, "malformed_jwt", "claim '%s' is out of range", key);
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
		set_error(reply, "malformed_jwt", "out of memory");
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
		set_error(reply, "malformed_jwt", "access token is empty or too long");
		return -1;
	}
	/* header.payload.signature: three non-empty base64url segments */
	dot1 = strchr(jwt, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
	    dot1 == jwt || dot2 == dot1 + 1 || dot2[1] == '\0') {
		set_error(reply, "malformed_jwt", "access token is not a JWS (header.payload.signature)");
		return -1;
	}
	for (p = jwt; *p != '\0'; p++) {
		if (*p != '.' && !b64url_char((unsigned char)*p)) {
			set_error(reply, "malformed_jwt", "access token is not base64url");
			return -1;
		}
	}
	payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
	if (payload == NULL) {
		set_error(reply, "malformed_jwt", "access token payload is not valid base64url");
		goto out;
	}
	j = parse_json((const char *)payload, plen, CLAIMS_MAX_DEPTH, &why);
	if (j == NULL) {
		set_error(reply, "malformed_jwt", "access token payload: %s", why);
		goto out;
	}
	if (!json_object_is_type(j, json_type_object)) {
		set_error(reply, "malformed_jwt", "access token payload is not a JSON object");
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

/* ---- the document ------------------------------------------------------ */

void
cpk_token_free(struct cpk_token_cache *tc)
{
	const struct format_keys *k;

	if (tc == NULL)
		return;
	if (tc->holder != NULL) {
		k = &FORMAT_KEYS[tc->format];
		wipe_member(tc->holder, k->access);
		wipe_member(tc->holder, k->refresh);
		wipe_member(tc->holder, k->id);
	}
	json_object_put(tc->doc);
	cpk_free_secret(tc->access);
	cpk_free_secret(tc->refresh);
	cpk_free_secret(tc->id);
	cpk_claims_free(&tc->claims);
	free(tc->path);
	free(tc);
}

/* Which of the three formats, by content.  0, or -1 with reply set. */
static int
detect_format(struct cpk_token_cache *tc, struct cpk_reply *reply)
{
	json_object *ar = NULL;
	bool has_ar, has_pascal, has_oauth;

	if (!json_object_is_type(tc->doc, json_type_object)) {
		set_error(reply, "unknown_format", "the token cache is not a JSON object");
		return -1;
	}
	has_ar = json_object_object_get_ex(tc->doc, "AuthenticationResult", &ar);
	has_pascal = json_object_object_get_ex(tc->doc, "AccessToken", NULL);
	has_oauth = json_object_object_get_ex(tc->doc, "access_token", NULL);
	/* two token sets in one file: which one would we refresh? */
	if ((int)has_ar + (int)has_pascal + (int)has_oauth > 1) {
		set_error(reply, "unknown_format", "the token cache holds more than one token set");
		return -1;
	}
	if (has_ar) {
		if (!json_object_is_type(ar, json_type_object)) {
			set_error(reply, "unknown_format", "AuthenticationResult is not an object");
			return -1;
		}
		tc->format = CPK_TOKFMT_INITIATE_AUTH;
		tc->holder = ar;
	} else if (has_pascal) {
		tc->format = CPK_TOKFMT_AUTH_RESULT;
		tc->holder = tc->doc;
	} else if (has_oauth) {
		tc->format = CPK_TOKFMT_OAUTH;
		tc->holder = tc->doc;
	} else {
		set_error(reply, "unknown_format",
			  "no AccessToken, AuthenticationResult or access_token member");
		return -1;
	}
	return 0;
}

/* A token member: required or optional, a well-formed token string. */
static int
token_member(json_object *holder, const char *key, bool required, char **out,
	     struct cpk_reply *reply)
{
	json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(holder, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 0;
		set_error(reply, "unknown_format", "%s is missing", key);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		set_error(reply, "unknown_format", "%s is not a string", key);
		return -1;
	}
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || !token_chars_valid(s)) {
		set_error(reply, required ? "malformed_jwt" : "unknown_format",
			  "%s is not a well-formed token", key);
		return -1;
	}
	*out = strdup(s);
	if (*out == NULL) {
		set_error(reply, "unknown_format", "out of memory");
		return -1;
	}
	return 0;
}

static int
read_tokens(struct cpk_token_cache *tc, struct cpk_reply *reply)
{
	const struct format_keys *k = &FORMAT_KEYS[tc->format];

	if (token_member(tc->holder, k->access, true, &tc->access, reply) != 0 ||
	    token_member(tc->holder, k->refresh, false, &tc->refresh, reply) != 0)
		return -1;
	/* the ID token is only carried along; a bad one is not our problem */
	if (token_member(tc->holder, k->id, false, &tc->id, reply) != 0) {
		memset(reply, 0, sizeof(*reply));
		tc->id = NULL;
	}
	return cpk_jwt_claims(tc->access, &tc->claims, reply);
}

int
cpk_token_parse(const char *buf, size_t len, struct cpk_token_cache **out,
		struct cpk_reply *reply)
{
	struct cpk_token_cache *tc;
	const char *why;
	const char *nl;

	*out = NULL;
	memset(reply, 0, sizeof(*reply));
	if (len > CPK_TOKEN_MAX_FILE) {
		set_error(reply, "too_large", "the token cache is larger than %d bytes",
			  CPK_TOKEN_MAX_FILE);
		return -1;
	}
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL) {
		set_error(reply, "malformed_json", "out of memory");
		return -1;
	}
	tc->doc = parse_json(buf, len, DOC_MAX_DEPTH, &why);
	if (tc->doc == NULL) {
		set_error(reply, "malformed_json", "the token cache is not JSON: %s", why);
		goto fail;
	}
	if (detect_format(tc, reply) != 0 || read_tokens(tc, reply) != 0)
		goto fail;
	/* write it back the way it came: one line, or indented */
	nl = memchr(buf, '\n', len);
	tc->json_flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		(nl != NULL && (size_t)(nl - buf) + 1 < len ? JSON_C_TO_STRING_PRETTY
							    : JSON_C_TO_STRING_PLAIN);
	tc->trailing_newline = len > 0 && buf[len - 1] == '\n';
	tc->mode = 0600;
	*out = tc;
	return 0;
fail:
	cpk_token_free(tc);
	return -1;
}

/* ---- the file, as the user ---------------------------------------------- */

/* Turn an open(2) failure into a rule. */
static void
open_error(int err, const char *what, struct cpk_reply *reply)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		set_error(reply, "not_found", "%s: %s", what, strerror(err));
		break;
	case ELOOP:
		set_error(reply, "symlink", "%s is a symbolic link (not followed)", what);
		break;
	case ENXIO:	/* a socket */
		set_error(reply, "not_regular_file", "%s is not a regular file", what);
		break;
	default:
		set_error(reply, "unreadable", "%s: %s", what, strerror(err));
		break;
	}
}

/* The rules on the open descriptor, before any read. */
static int
check_file(const struct stat *st, uid_t owner, off_t max, const char *what,
	   struct cpk_reply *reply)
{
	if (!S_ISREG(st->st_mode)) {
		set_error(reply, "not_regular_file", "%s is not a regular file", what);
		return -1;
	}
	if (st->st_uid != owner) {
		set_error(reply, "wrong_owner", "%s is owned by uid %lu, not %lu", what,
			  (unsigned long)st->st_uid, (unsigned long)owner);
		return -1;
	}
	if ((st->st_mode & 077) != 0) {
		set_error(reply, "mode_too_open", "%s has mode %04o: group or others have access",
			  what, (unsigned int)(st->st_mode & 07777));
		return -1;
	}
	if (st->st_size > max) {
		set_error(reply, "too_large", "%s is larger than %ld bytes", what, (long)max);
		return -1;
	}
	return 0;
}

/* Read at most max bytes (a file that grew since fstat is still caught). */
static int
read_capped(int fd, size_t max, const char *what, char **bufp, size_t *lenp,
	    struct cpk_reply *reply)
{
	if (cpk_read_capped(fd, max, bufp, lenp) == 0)
		return 0;
	if (errno == EFBIG)
		set_error(reply, "too_large", "%s is larger than %zu bytes", what, max);
	else
		set_error(reply, "unreadable", "%s: %s", what, strerror(errno));
	return -1;
}

/* Open without following, without blocking, check, read.  No privilege change. */
static int
open_check_read(const char *path, uid_t owner, size_t max, const char *what,
		char **bufp, size_t *lenp, struct stat *st, struct cpk_reply *reply)
{
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		open_error(errno, what, reply);
		return -1;
	}
	if (fstat(fd, st) != 0) {
		set_error(reply, "unreadable", "%s: fstat: %s", what, strerror(errno));
		goto out;
	}
	if (check_file(st, owner, (off_t)max, what, reply) != 0)
		goto out;
	rc = read_capped(fd, max, what, bufp, lenp, reply);
out:
	close(fd);
	return rc;
}

static int
read_as_user(const char *path, const struct passwd *pw, char **bufp, size_t *lenp,
	     struct stat *st, struct cpk_reply *reply)
{
	struct cpk_privs privs;
	char what[PATH_MAX + 32];
	int rc;

	/* the expanded path: "not_found" must say where we looked */
	snprintf(what, sizeof(what), "the token cache %s", path);
	memset(&privs, 0, sizeof(privs));
	if (cpk_privs_drop(&privs, pw) != 0) {
		set_error(reply, "privilege_switch_failed", "cannot switch to uid %lu: %s",
			  (unsigned long)pw->pw_uid, strerror(errno));
		return -1;
	}
	rc = open_check_read(path, pw->pw_uid, CPK_TOKEN_MAX_FILE, what, bufp, lenp, st, reply);
	if (cpk_privs_regain(&privs) != 0) {
		if (rc == 0) {
			cpk_wipe(*bufp, *lenp);
			free(*bufp);
			*bufp = NULL;
		}
		set_error(reply, "privilege_switch_failed", "cannot switch back from uid %lu",
			  (unsigned long)pw->pw_uid);
		return -1;
	}
	return rc;
}

int
cpk_token_load(const struct cpk_config *cfg, const struct passwd *pw,
	       struct cpk_token_cache **out, struct cpk_reply *reply)
{
	char path[PATH_MAX], err[CPK_ERR_LEN];
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int rc = -1;

	*out = NULL;
	memset(reply, 0, sizeof(*reply));
	if (cpk_expand_template(cfg->token_cache != NULL ? cfg->token_cache
							 : CPK_DEFAULT_TOKEN_CACHE,
				pw, path, sizeof(path), err, sizeof(err)) != 0) {
		set_error(reply, "unreadable", "token_cache %s", err);
		return -1;
	}
	if (read_as_user(path, pw, &buf, &len, &st, reply) != 0)
		return -1;
	if (cpk_token_parse(buf, len, out, reply) != 0)
		goto out;
	(*out)->mode = st.st_mode & 0700;
	(*out)->path = strdup(path);
	if ((*out)->path == NULL) {
		set_error(reply, "unreadable", "out of memory");
		cpk_token_free(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	cpk_wipe(buf, len);
	free(buf);
	return rc;
}

/* ---- claims ----------------------------------------------------------- */

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
		set_error(reply, "not_access_token", "token_use is '%.32s', not 'access'",
			  c->token_use != NULL ? c->token_use : "");
		return -1;
	}
	if (!scope_has(c->scope, ADMIN_SCOPE)) {
		set_error(reply, "missing_scope", "scope lacks " ADMIN_SCOPE);
		return -1;
	}
	if (c->region == NULL) {
		set_error(reply, "foreign_issuer", "issuer '%.128s' is not a Cognito user pool",
			  c->iss != NULL ? c->iss : "");
		return -1;
	}
	if (cfg->region != NULL && strcmp(cfg->region, c->region) != 0) {
		set_error(reply, "foreign_issuer", "token issued in region %s, configured region is %s",
			  c->region, cfg->region);
		return -1;
	}
	if (cfg->user_pool_id != NULL && strcmp(cfg->user_pool_id, c->pool_id) != 0) {
		set_error(reply, "foreign_pool", "token issued by pool %s, configured pool is %s",
			  c->pool_id, cfg->user_pool_id);
		return -1;
	}
	/* the claim first (no request for a token that names someone else);
	 * the revocation engine then asks Cognito itself (identity.h) */
	if (cpk_identity_configured(cfg, reply) < 0)
		return -1;
	rule = cpk_identity_expected(cfg, pw, want, sizeof(want));
	if (rule < 0) {
		set_error(reply, "username_mismatch", "expect_username does not expand");
		return -1;
	}
	if (rule == 1 && (c->username == NULL || strcmp(c->username, want) != 0)) {
		set_error(reply, "username_mismatch", "token username '%.64s' is not '%.64s'",
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

const char *
cpk_token_access(const struct cpk_token_cache *tc)
{
	return tc->access;
}

const struct cpk_claims *
cpk_token_claims(const struct cpk_token_cache *tc)
{
	return &tc->claims;
}

enum cpk_token_format
cpk_token_format(const struct cpk_token_cache *tc)
{
	return tc->format;
}

const char *
cpk_token_path(const struct cpk_token_cache *tc)
{
	return tc->path;
}

/* ---- write-back ----------------------------------------------------------- */

/* A temp file beside the cache: O_EXCL, never through a link, mode 0600. */
static int
create_temp(int dfd, char *name, size_t len)
{
	unsigned char rnd[8];
	int fd, tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		snprintf(name, len, ".cpk-%02x%02x%02x%02x%02x%02x%02x%02x.tmp", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			    0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/*
 * Temp file, write, fsync, rename over the cache, fsync the directory:
 * a crash leaves the old file or the new one.  Runs with the caller's
 * identity (the user's, from write_back).
 */
static int
replace_file(const char *path, uid_t owner, mode_t mode, const char *text, size_t len,
	     bool newline, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[64];
	const char *base, *slash;
	struct stat st;
	size_t dlen;
	int dfd = -1, fd = -1, rc = -1;
	bool created = false;

	slash = strrchr(path, '/');
	if (slash == NULL || slash[1] == '\0' || (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "bad path");
		return -1;
	}
	base = slash + 1;
	dlen = slash == path ? 1 : (size_t)(slash - path);	/* "/x": the root */
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "directory: %s", strerror(errno));
		goto out;
	}
	fd = create_temp(dfd, tmp, sizeof(tmp));
	if (fd < 0) {
		snprintf(err, errlen, "temporary file: %s", strerror(errno));
		goto out;
	}
	created = true;
	/* not the user's file (we could not switch identity): do not leave it */
	if (fstat(fd, &st) != 0 || st.st_uid != owner) {
		snprintf(err, errlen, "temporary file is not owned by uid %lu", (unsigned long)owner);
		goto out;
	}
	if (fchmod(fd, mode) != 0 || cpk_write_all(fd, text, len) != 0 ||
	    (newline && cpk_write_all(fd, "\n", 1) != 0) || fsync(fd) != 0) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "close: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, base) != 0) {
		snprintf(err, errlen, "rename: %s", strerror(errno));
		goto out;
	}
	created = false;
	if (fsync(dfd) != 0) {
		snprintf(err, errlen, "fsync of the directory: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		(void)unlinkat(dfd, tmp, 0);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Serialise the document and replace the file, as the user.  0 or -1 (err). */
static int
write_back(const struct passwd *pw, struct cpk_token_cache *tc, char *err, size_t errlen)
{
	struct cpk_privs privs;
	const char *text;
	size_t len;
	int rc = -1;

	if (tc->path == NULL) {
		snprintf(err, errlen, "no file to write");
		return -1;
	}
	text = json_object_to_json_string_length(tc->doc, tc->json_flags, &len);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(&privs, 0, sizeof(privs));
	if (cpk_privs_drop(&privs, pw) != 0) {
		snprintf(err, errlen, "cannot switch to uid %lu: %s", (unsigned long)pw->pw_uid,
			 strerror(errno));
		goto out;
	}
	rc = replace_file(tc->path, pw->pw_uid, tc->mode != 0 ? tc->mode : 0600, text, len,
			  tc->trailing_newline, err, errlen);
	if (cpk_privs_regain(&privs) != 0) {
		snprintf(err, errlen, "cannot switch back from uid %lu", (unsigned long)pw->pw_uid);
		rc = -1;
	}
out:
	/* the serialised text lives in the document's print buffer */
	cpk_wipe((void *)(uintptr_t)text, len);
	return rc;
}

/* Replace a member's string, wiping the old one. */
static int
doc_set_string(json_object *holder, const char *key, const char *value)
{
	json_object *nv;

	wipe_member(holder, key);
	nv = json_object_new_string(value);
	if (nv == NULL)
		return -1;
	if (json_object_object_add(holder, key, nv) != 0) {
		json_object_put(nv);
		return -1;
	}
	return 0;
}

/* Put what the refresh answered into the document. */
static int
doc_update(struct cpk_token_cache *tc, const struct cpk_tokens *nt, bool access_ok,
	   bool rotated)
{
	const struct format_keys *k = &FORMAT_KEYS[tc->format];
	json_object *n;

	if (access_ok) {
		if (doc_set_string(tc->holder, k->access, nt->access_token) != 0)
			return -1;
		if (nt->id_token != NULL && doc_set_string(tc->holder, k->id, nt->id_token) != 0)
			return -1;
		if (nt->expires_in > 0) {
			n = json_object_new_int64(nt->expires_in);
			if (n == NULL || json_object_object_add(tc->holder, k->expires_in, n) != 0) {
				json_object_put(n);
				return -1;
			}
		}
	}
	if (rotated && doc_set_string(tc->holder, k->refresh, nt->refresh_token) != 0)
		return -1;
	return 0;
}

/* Take over the new tokens and claims in memory (nt and nc are emptied). */
static void
adopt(struct cpk_token_cache *tc, struct cpk_tokens *nt, struct cpk_claims *nc, bool rotated)
{
	cpk_free_secret(tc->access);
	tc->access = nt->access_token;
	nt->access_token = NULL;
	if (nt->id_token != NULL) {
		cpk_free_secret(tc->id);
		tc->id = nt->id_token;
		nt->id_token = NULL;
	}
	if (rotated) {
		cpk_free_secret(tc->refresh);
		tc->refresh = nt->refresh_token;
		nt->refresh_token = NULL;
	}
	cpk_claims_free(&tc->claims);
	tc->claims = *nc;
	memset(nc, 0, sizeof(*nc));
}

int
cpk_token_refresh(const struct cpk_config *cfg, const struct passwd *pw,
		  struct cpk_token_cache *tc, struct cpk_client *c,
		  struct cpk_reply *reply)
{
	struct cpk_tokens nt;
	struct cpk_claims nc;
	struct cpk_reply jwt_reply;
	char *secret = NULL, err[256];
	const char *client_id;
	bool rotated, access_ok;
	int rc = -1;

	memset(&nt, 0, sizeof(nt));
	memset(&nc, 0, sizeof(nc));
	memset(&jwt_reply, 0, sizeof(jwt_reply));
	/* a token we would refuse gets no request either, not even a refresh */
	if (cpk_token_check(cfg, pw, tc, reply) != 0)
		return -1;
	if (!cfg->refresh) {
		set_error(reply, "expired", "the access token has expired and refresh = no");
		return -1;
	}
	if (tc->refresh == NULL) {
		set_error(reply, "expired", "the access token has expired and the cache has no refresh token");
		return -1;
	}
	client_id = cfg->client_id != NULL ? cfg->client_id : tc->claims.client_id;
	if (client_id == NULL) {
		set_error(reply, "expired", "no client_id (configuration or token claim) to refresh with");
		return -1;
	}
	if (cfg->client_secret_file != NULL &&
	    cpk_secret_file_read(cfg->client_secret_file, &secret, reply) != 0) {
		/* only an administrator can fix root's file: not the user's token */
		config_error(reply, "client_secret_file", cfg->client_secret_file);
		return -1;
	}
	if (cpk_refresh(c, cfg->refresh_api, tc->refresh, client_id, secret, tc->claims.username,
			&nt, reply) != 0)
		goto out;

	rotated = nt.refresh_token != NULL && strcmp(nt.refresh_token, tc->refresh) != 0;
	access_ok = nt.access_token != NULL && token_chars_valid(nt.access_token) &&
		    cpk_jwt_claims(nt.access_token, &nc, &jwt_reply) == 0;
	if (!access_ok && !rotated) {
		set_error(reply, "malformed_jwt", "the refresh answered an unusable access token");
		goto out;
	}
	/*
	 * The old refresh token is dead once a new one came back: store it
	 * before anything else, even when the access token is unusable.
	 */
	if (doc_update(tc, &nt, access_ok, rotated) != 0) {
		set_error(reply, rotated ? "write_back_failed" : "malformed_json", "out of memory");
		goto out;
	}
	if (write_back(pw, tc, err, sizeof(err)) != 0) {
		/*
		 * Say so, and go on: after a rotation the old refresh token is
		 * dead whatever we do, and the new access token still lets this
		 * run carry the revocation out instead of stranding it.
		 */
		set_error(reply, rotated ? "token_writeback_failed" : "",
			  rotated ? "the rotated refresh token could not be stored in %s (the user "
				    "must sign in again): %s"
				  : "refreshed tokens not written back to %s: %s",
			  tc->path != NULL ? tc->path : "(none)", err);
	}
	if (!access_ok) {
		set_error(reply, "malformed_jwt", "the refresh answered an unusable access token");
		goto out;
	}
	adopt(tc, &nt, &nc, rotated);
	rc = 0;
	if (cpk_token_check(cfg, pw, tc, &jwt_reply) != 0) {
		*reply = jwt_reply;
		rc = -1;
	}
out:
	cpk_tokens_free(&nt);
	cpk_claims_free(&nc);
	cpk_free_secret(secret);
	return rc;
}

/* ---- the client secret -------------------------------------------------- */

int
cpk_secret_file_read(const char *path, char **secret, struct cpk_reply *reply)
{
	char *buf = NULL;
	size_t len = 0, i;
	struct stat st;

	*secret = NULL;
	memset(reply, 0, sizeof(*reply));
	/* root's own file: no identity switch, the same rules with owner root */
	if (open_check_read(path, 0, SECRET_MAX_FILE, "the client secret file", &buf, &len, &st,
			    reply) != 0)
		return -1;
	while (len > 0 && is_space(buf[len - 1]))
		len--;
	buf[len] = '\0';
	for (i = 0; i < len; i++) {
		if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f)
			break;
	}
	if (len == 0 || i < len) {
		set_error(reply, "unreadable",
			  "the client secret file must hold one line of printable characters");
		cpk_wipe(buf, SECRET_MAX_FILE + 2);
		free(buf);
		return -1;
	}
	*secret = buf;
	return 0;
}
