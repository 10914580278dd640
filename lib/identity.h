/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Whose token is it (doc/DESIGN.md, "Identity: whose token is it (revised)").
 *
 * A token in alice's cache is alice's only once proven, because anyone who
 * can write her cache (alice herself at off-boarding, or whoever holds her
 * shell) can put another Cognito user's valid token there: its listing has
 * none of alice's passkeys and every ResourceNotFoundException would read
 * as "already gone".  The rule:
 *
 *   - expect_username (default "%u") names the Cognito user the account
 *     belongs to.  Before any request the token's username claim must
 *     equal it (cpk_token_check); after connecting, Cognito's own GetUser
 *     answer must too: the claim is what the token says, GetUser is what
 *     the pool says about that token.
 *   - "expect_username = none" is the deliberate opt-out: then only
 *     user_pool_id says anything, and any user of that pool counts.  With
 *     neither, nothing is proven: a run refuses before any request with
 *     "identity_unverified" and everything stays pending.
 *   - The sub Cognito answered at the first verified run is kept with the
 *     user's pending requests (store.h); a later run's token must have the
 *     same sub ("identity_mismatch"), so that a token swapped in between
 *     runs cannot finish a revocation that another user's token began.
 *
 * No libcurl, no json-c: GetUser itself is cpk_get_user_identity().
 */
#ifndef CPK_IDENTITY_H
#define CPK_IDENTITY_H

#include <pwd.h>
#include <stddef.h>
#include "cognito.h"
#include "config.h"

/*
 * The Cognito user name pw's token must carry, expect_username expanded
 * (%u user name, %U uid, %h home, %% a percent) into out.  1: a rule is
 * in force, 0: "expect_username = none", -1: it does not expand (too long).
 */
int cpk_identity_expected(const struct cpk_config *cfg, const struct passwd *pw,
			  char *out, size_t len);

/*
 * Before any request: -1 with reply->code "identity_unverified" when
 * neither an expect_username rule nor user_pool_id is configured, else 0.
 */
int cpk_identity_configured(const struct cpk_config *cfg, struct cpk_reply *reply);

/*
 * After GetUser answered username and sub for the token: 0 when the
 * identity is verified, -1 with reply->code "username_mismatch" (Cognito
 * says the token is someone else's), "identity_unverified" (no sub in the
 * answer, or no rule configured) or "identity_mismatch" (pinned_sub, the
 * sub an earlier run saw, differs).  pinned_sub may be NULL.
 */
int cpk_identity_confirm(const struct cpk_config *cfg, const struct passwd *pw,
			 const char *username, const char *sub, const char *pinned_sub,
			 struct cpk_reply *reply);

#endif
