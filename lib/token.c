/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The user's token cache: reading it (opened as the user), recognising its
 * format, the document in memory, and the root-only client secret file.
 * The access token's claims are token_claims.c's; refreshing and writing
 * back are token_refresh.c's; token_int.h is what the three share.
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
#include "token_int.h"
#include "privs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define DOC_MAX_DEPTH		32
#define SECRET_MAX_FILE		4096

const struct cpk_format_keys CPK_FORMAT_KEYS[] = {
	[CPK_TOKFMT_AUTH_RESULT] = { "AccessToken", "RefreshToken", "IdToken", "ExpiresIn" },
	[CPK_TOKFMT_INITIATE_AUTH] = { "AccessToken", "RefreshToken", "IdToken", "ExpiresIn" },
	[CPK_TOKFMT_OAUTH] = { "access_token", "refresh_token", "id_token", "expires_in" },
};

void
cpk_token_set_error(struct cpk_reply *reply, const char *code, const char *fmt, ...)
{
	va_list ap;

	memset(reply, 0, sizeof(*reply));
	snprintf(reply->code, sizeof(reply->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
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

void
cpk_token_wipe_member(json_object *obj, const char *key)
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

bool
cpk_b64url_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* Same rule as the client's: [A-Za-z0-9_=.-]+ (checked here too, so that
 * a bad file is refused when it is read, not later by the client). */
bool
cpk_token_chars_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (!cpk_b64url_char(*p) && *p != '.' && *p != '=')
			return false;
	return true;
}

/*
 * Strict JSON of exactly len bytes (trailing white space allowed), nesting
 * at most depth, valid UTF-8.  json-c's strict mode still lets a few
 * extensions through ('single-quoted' names, NaN, Infinity): harmless here,
 * the values that matter are type- and range-checked after parsing.
 * Returns the object, or NULL with a reason in why.
 */
json_object *
cpk_token_parse_json(const char *buf, size_t len, int depth, const char **why)
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

/* ---- the document ------------------------------------------------------ */

void
cpk_token_free(struct cpk_token_cache *tc)
{
	const struct cpk_format_keys *k;

	if (tc == NULL)
		return;
	if (tc->holder != NULL) {
		k = &CPK_FORMAT_KEYS[tc->format];
		cpk_token_wipe_member(tc->holder, k->access);
		cpk_token_wipe_member(tc->holder, k->refresh);
		cpk_token_wipe_member(tc->holder, k->id);
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
		cpk_token_set_error(reply, "unknown_format",
				    "the token cache is not a JSON object");
		return -1;
	}
	has_ar = json_object_object_get_ex(tc->doc, "AuthenticationResult", &ar);
	has_pascal = json_object_object_get_ex(tc->doc, "AccessToken", NULL);
	has_oauth = json_object_object_get_ex(tc->doc, "access_token", NULL);
	/* two token sets in one file: which one would we refresh? */
	if ((int)has_ar + (int)has_pascal + (int)has_oauth > 1) {
		cpk_token_set_error(reply, "unknown_format",
				    "the token cache holds more than one token set");
		return -1;
	}
	if (has_ar) {
		if (!json_object_is_type(ar, json_type_object)) {
			cpk_token_set_error(reply, "unknown_format",
					    "AuthenticationResult is not an object");
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
		cpk_token_set_error(reply, "unknown_format",
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
		cpk_token_set_error(reply, "unknown_format", "%s is missing", key);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		cpk_token_set_error(reply, "unknown_format", "%s is not a string", key);
		return -1;
	}
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || !cpk_token_chars_valid(s)) {
		cpk_token_set_error(reply, required ? "malformed_jwt" : "unknown_format",
				    "%s is not a well-formed token", key);
		return -1;
	}
	*out = strdup(s);
	if (*out == NULL) {
		cpk_token_set_error(reply, "unknown_format", "out of memory");
		return -1;
	}
	return 0;
}

static int
read_tokens(struct cpk_token_cache *tc, struct cpk_reply *reply)
{
	const struct cpk_format_keys *k = &CPK_FORMAT_KEYS[tc->format];

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
		cpk_token_set_error(reply, "too_large", "the token cache is larger than %d bytes",
				    CPK_TOKEN_MAX_FILE);
		return -1;
	}
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL) {
		cpk_token_set_error(reply, "malformed_json", "out of memory");
		return -1;
	}
	tc->doc = cpk_token_parse_json(buf, len, DOC_MAX_DEPTH, &why);
	if (tc->doc == NULL) {
		cpk_token_set_error(reply, "malformed_json",
				    "the token cache is not JSON: %s", why);
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
		cpk_token_set_error(reply, "not_found", "%s: %s", what, strerror(err));
		break;
	case ELOOP:
		cpk_token_set_error(reply, "symlink", "%s is a symbolic link (not followed)", what);
		break;
	case ENXIO:	/* a socket */
		cpk_token_set_error(reply, "not_regular_file", "%s is not a regular file", what);
		break;
	default:
		cpk_token_set_error(reply, "unreadable", "%s: %s", what, strerror(err));
		break;
	}
}

/* The rules on the open descriptor, before any read. */
static int
check_file(const struct stat *st, uid_t owner, off_t max, const char *what,
	   struct cpk_reply *reply)
{
	if (!S_ISREG(st->st_mode)) {
		cpk_token_set_error(reply, "not_regular_file", "%s is not a regular file", what);
		return -1;
	}
	if (st->st_uid != owner) {
		cpk_token_set_error(reply, "wrong_owner", "%s is owned by uid %lu, not %lu", what,
				    (unsigned long)st->st_uid, (unsigned long)owner);
		return -1;
	}
	if ((st->st_mode & 077) != 0) {
		cpk_token_set_error(reply, "mode_too_open",
				    "%s has mode %04o: group or others have access",
				    what, (unsigned int)(st->st_mode & 07777));
		return -1;
	}
	if (st->st_size > max) {
		cpk_token_set_error(reply, "too_large",
				    "%s is larger than %ld bytes", what, (long)max);
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
		cpk_token_set_error(reply, "too_large", "%s is larger than %zu bytes", what, max);
	else
		cpk_token_set_error(reply, "unreadable", "%s: %s", what, strerror(errno));
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
		cpk_token_set_error(reply, "unreadable", "%s: fstat: %s", what, strerror(errno));
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
		cpk_token_set_error(reply, "privilege_switch_failed",
				    "cannot switch to uid %lu: %s",
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
		cpk_token_set_error(reply, "privilege_switch_failed",
				    "cannot switch back from uid %lu",
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
		cpk_token_set_error(reply, "unreadable", "token_cache %s", err);
		return -1;
	}
	if (read_as_user(path, pw, &buf, &len, &st, reply) != 0)
		return -1;
	if (cpk_token_parse(buf, len, out, reply) != 0)
		goto out;
	(*out)->mode = st.st_mode & 0700;
	(*out)->path = strdup(path);
	if ((*out)->path == NULL) {
		cpk_token_set_error(reply, "unreadable", "out of memory");
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

/* ---- accessors -------------------------------------------------------- */

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
		cpk_token_set_error(reply, "unreadable",
				    "the client secret file must hold one line of printable characters");
		cpk_wipe(buf, SECRET_MAX_FILE + 2);
		free(buf);
		return -1;
	}
	*secret = buf;
	return 0;
}
