/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Refreshing the access token and writing the new tokens back to the
 * user's cache, as the user, in the file's own format, atomically
 * (cpk_replace_file).  A rotated refresh token is stored before anything
 * else: the old one is dead once Cognito answered.
 */
#include "token_int.h"
#include "privs.h"
#include "replace.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A file only an administrator can fix: the key and the file, named. */
static void
config_error(struct cpk_reply *reply, const char *key, const char *path)
{
	char detail[sizeof(reply->message)];

	snprintf(detail, sizeof(detail), "%s", reply->message);
	cpk_token_set_error(reply, "config_error", "%s %s: %s", key, path, detail);
}

/* ---- write-back ----------------------------------------------------------- */

/*
 * Replace the cache at path with text, with the caller's identity (the
 * user's, from write_back).  A random temp name: nothing keeps two of the
 * user's sessions from refreshing at once.  At most what the reader takes.
 */
static int
replace_cache(const char *path, uid_t owner, mode_t mode, const char *text, size_t len,
	      bool newline, char *err, size_t errlen)
{
	const struct cpk_replace how = {
		.tmp = NULL, .mode = mode, .owner = owner,
		.max = CPK_TOKEN_MAX_FILE, .newline = newline,
	};
	char dir[PATH_MAX];
	const char *slash;
	size_t dlen;
	int dfd, rc;

	slash = strrchr(path, '/');
	if (slash == NULL || slash[1] == '\0' || (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "bad path");
		return -1;
	}
	dlen = slash == path ? 1 : (size_t)(slash - path);	/* "/x": the root */
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "directory: %s", strerror(errno));
		return -1;
	}
	rc = cpk_replace_file(dfd, slash + 1, text, len, &how, err, errlen);
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
	rc = replace_cache(tc->path, pw->pw_uid, tc->mode != 0 ? tc->mode : 0600, text, len,
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

	cpk_token_wipe_member(holder, key);
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
	const struct cpk_format_keys *k = &CPK_FORMAT_KEYS[tc->format];
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

/*
 * Whether tc may be refreshed at all, and with which client_id (NULL: no,
 * reply says why).  A token we would refuse gets no request either, not
 * even a refresh.
 */
static const char *
refresh_client_id(const struct cpk_config *cfg, const struct passwd *pw,
		  const struct cpk_token_cache *tc, struct cpk_reply *reply)
{
	const char *client_id;

	if (cpk_token_check(cfg, pw, tc, reply) != 0)
		return NULL;
	if (!cfg->refresh) {
		cpk_token_set_error(reply, "expired",
				    "the access token has expired and refresh = no");
		return NULL;
	}
	if (tc->refresh == NULL) {
		cpk_token_set_error(reply, "expired",
				    "the access token has expired and the cache has no refresh token");
		return NULL;
	}
	client_id = cfg->client_id != NULL ? cfg->client_id : tc->claims.client_id;
	if (client_id == NULL)
		cpk_token_set_error(reply, "expired",
				    "no client_id (configuration or token claim) to refresh with");
	return client_id;
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
	client_id = refresh_client_id(cfg, pw, tc, reply);
	if (client_id == NULL)
		return -1;
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
	access_ok = nt.access_token != NULL && cpk_token_chars_valid(nt.access_token) &&
		    cpk_jwt_claims(nt.access_token, &nc, &jwt_reply) == 0;
	if (!access_ok && !rotated) {
		cpk_token_set_error(reply, "malformed_jwt",
				    "the refresh answered an unusable access token");
		goto out;
	}
	/*
	 * The old refresh token is dead once a new one came back: store it
	 * before anything else, even when the access token is unusable.
	 */
	if (doc_update(tc, &nt, access_ok, rotated) != 0) {
		cpk_token_set_error(reply, rotated ? "write_back_failed" : "malformed_json",
				    "out of memory");
		goto out;
	}
	if (write_back(pw, tc, err, sizeof(err)) != 0) {
		/*
		 * Say so, and go on: after a rotation the old refresh token is
		 * dead whatever we do, and the new access token still lets this
		 * run carry the revocation out instead of stranding it.
		 */
		cpk_token_set_error(reply, rotated ? "token_writeback_failed" : "",
				    rotated ? "the rotated refresh token could not be stored in %s "
					      "(the user must sign in again): %s"
					    : "refreshed tokens not written back to %s: %s",
				    tc->path != NULL ? tc->path : "(none)", err);
	}
	if (!access_ok) {
		cpk_token_set_error(reply, "malformed_jwt",
				    "the refresh answered an unusable access token");
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
