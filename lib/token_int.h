/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Inside the token cache (token*.c only; the rest of the program uses
 * token.h): the handle, the member names of each format, and the helpers
 * reading, claims and refresh share.
 */
#ifndef CPK_TOKEN_INT_H
#define CPK_TOKEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "token.h"

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

/* Member names of each format, indexed by enum cpk_token_format. */
struct cpk_format_keys {
	const char *access, *refresh, *id, *expires_in;
};
extern const struct cpk_format_keys CPK_FORMAT_KEYS[];

/* reply emptied, then code and the formatted message set. */
void cpk_token_set_error(struct cpk_reply *reply, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Wipe the string member key of obj in place (json-c frees without wiping). */
void cpk_token_wipe_member(json_object *obj, const char *key);
/* [A-Za-z0-9_-] */
bool cpk_b64url_char(unsigned char ch);
/* The client's rule for a token: [A-Za-z0-9_=.-]+ */
bool cpk_token_chars_valid(const char *s);
/*
 * Strict JSON of exactly len bytes (trailing white space allowed), nesting
 * at most depth, valid UTF-8.  The object, or NULL with a reason in why.
 */
json_object *cpk_token_parse_json(const char *buf, size_t len, int depth, const char **why);

#endif
