/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The user's token cache: opened as the user, never as root; formats
 * recognised by content; JWT claims checked before any request; refreshed
 * tokens written back atomically in the file's own format.
 */
#ifndef CPK_TOKEN_H
#define CPK_TOKEN_H

#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include "cognito.h"
#include "config.h"

#define CPK_TOKEN_MAX_FILE	(64 * 1024)
#define CPK_TOKEN_SKEW		60	/* seconds: refresh that long before exp */

enum cpk_token_format {
	CPK_TOKFMT_AUTH_RESULT,		/* {"AccessToken": ...} */
	CPK_TOKFMT_INITIATE_AUTH,	/* {"AuthenticationResult": {...}, ...} */
	CPK_TOKFMT_OAUTH,		/* {"access_token": ...} */
};

struct cpk_claims {
	char *iss;
	char *region;		/* from iss */
	char *pool_id;		/* from iss */
	char *client_id;
	char *token_use;
	char *scope;
	char *username;
	char *sub;
	int64_t exp;
	int64_t iat;
};

struct cpk_token_cache;		/* opaque: holds the parsed document */

/*
 * Why a token cache was refused: reply->code is a local rule
 * ("not_found", "not_regular_file", "wrong_owner", "mode_too_open",
 * "too_large", "symlink", "unreadable", "malformed_json",
 * "unknown_format", "malformed_jwt", "not_access_token", "missing_scope",
 * "foreign_issuer", "foreign_pool", "username_mismatch", "identity_unverified", "expired",
 * "write_back_failed", "privilege_switch_failed") and reply->message the detail.
 */

/*
 * Open, read as pw, parse.  Does not check claims.  The path is the
 * token_cache template expanded for pw; the file is opened with pw's
 * file-system identity (privs.h), O_NOFOLLOW|O_NONBLOCK, and judged on the
 * descriptor before any read: a regular file owned by pw, no group/other
 * permission bits, at most CPK_TOKEN_MAX_FILE bytes.  ENOENT/ENOTDIR give
 * "not_found", ELOOP "symlink", EACCES "unreadable".
 */
int cpk_token_load(const struct cpk_config *cfg, const struct passwd *pw,
		   struct cpk_token_cache **out, struct cpk_reply *reply);
/*
 * token_use, scope, iss/pool, expect_username (identity.h: refused as
 * "identity_unverified" when neither it nor user_pool_id is set).  Not expiry.
 */
int cpk_token_check(const struct cpk_config *cfg, const struct passwd *pw,
		    const struct cpk_token_cache *tc, struct cpk_reply *reply);
/* exp within CPK_TOKEN_SKEW of now */
bool cpk_token_expiring(const struct cpk_token_cache *tc, int64_t now);
const char *cpk_token_access(const struct cpk_token_cache *tc);
const struct cpk_claims *cpk_token_claims(const struct cpk_token_cache *tc);
enum cpk_token_format cpk_token_format(const struct cpk_token_cache *tc);
const char *cpk_token_path(const struct cpk_token_cache *tc);

/*
 * Refresh through c, check the new access token's claims, write the new
 * tokens back as pw (keeping the format and a rotated refresh token).  A
 * failed write-back does not fail the call: the new access token is used.
 * After a rotation the old refresh token is dead, so reply->code is then
 * "token_writeback_failed" (the user must sign in again: log it loudly);
 * without one, reply->message alone says what was not written.  A
 * client_secret_file that cannot be used gives "config_error".
 *
 * The cached token's claims are checked first (cpk_token_check): a token
 * that would be refused sends no request, not even a refresh.  Other local
 * refusals: "expired" (refresh = no, no refresh token, no client_id).
 * A service error leaves the client's reply (e.g. "NotAuthorizedException").
 */
int cpk_token_refresh(const struct cpk_config *cfg, const struct passwd *pw,
		      struct cpk_token_cache *tc, struct cpk_client *c,
		      struct cpk_reply *reply);

void cpk_token_free(struct cpk_token_cache *tc);	/* wipes */

/* Exposed for unit tests and fuzzing: parse a buffer (no file access). */
int cpk_token_parse(const char *buf, size_t len, struct cpk_token_cache **out,
		    struct cpk_reply *reply);
int cpk_jwt_claims(const char *jwt, struct cpk_claims *out, struct cpk_reply *reply);
void cpk_claims_free(struct cpk_claims *c);

/*
 * Root-only file with the app client secret (owner root, no group/other
 * bits, at most 4 KiB, one line of printable characters; trailing white
 * space dropped).  Opened as the caller (root), never through a symlink.
 * Codes as for the cache, "unreadable" for an empty or odd content.
 * *secret is malloc'd: free it with cpk_free_secret.
 */
int cpk_secret_file_read(const char *path, char **secret, struct cpk_reply *reply);

#endif
