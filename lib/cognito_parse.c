/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The parsers of Cognito's answers: error bodies (the code and message of
 * a struct cpk_reply), ListWebAuthnCredentials pages, the AuthenticationResult
 * of a refresh, GetUser, and the empty answer of a deletion.
 *
 * Secrets: json-c's strings that held a token and the tokener's scratch
 * buffer (it has seen every string of the body) are wiped before they are
 * freed.  Outside text kept in a reply is escaped (cpk_reply_text).
 */
#include "cognito.h"
#include "cognito_parse.h"
#include "http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

/* Wipe a json-c string in place: it held a token. */
static void
wipe_json_string(struct json_object *o)
{
	const char *s;
	int n;

	if (o == NULL || !json_object_is_type(o, json_type_string))
		return;
	s = json_object_get_string(o);
	n = json_object_get_string_len(o);
	if (s != NULL && n > 0)
		cpk_wipe((void *)(uintptr_t)s, (size_t)n);
}

/*
 * Parse a whole body as one JSON value.  The tokener's scratch buffer has
 * seen every string of the body (tokens too): wipe it before freeing.
 */
static struct json_object *
parse_json(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;

	if (body == NULL || len == 0 || len > CPK_MAX_BODY)
		return NULL;
	if ((tok = json_tokener_new_ex(32)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL) {
		/* one value; only whitespace may follow it */
		size_t i = json_tokener_get_parse_end(tok);

		while (i < len && isspace((unsigned char)body[i]))
			i++;
		if (i < len) {
			json_object_put(o);
			o = NULL;
		}
	}
	if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
		cpk_wipe(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

static const char *
get_string(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Sanitize an error code: cut at the first ':', keep what follows '#'. */
static void
sanitize_code(char *dst, size_t len, const char *src)
{
	size_t n = strcspn(src, ":");
	const char *hash = memchr(src, '#', n);

	if (hash != NULL) {
		n -= (size_t)(hash + 1 - src);
		src = hash + 1;
	}
	while (n > 0 && isspace((unsigned char)*src)) {
		src++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)src[n - 1]))
		n--;
	cpk_reply_text(dst, len, src, n);
}

void
cpk_parse_error(const char *body, size_t len, const char *error_type_header,
		struct cpk_reply *reply)
{
	struct json_object *o = parse_json(body, len);
	const char *code = NULL, *msg = NULL;

	reply->code[0] = reply->message[0] = '\0';
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		code = get_string(o, "__type");
		if (code == NULL || code[0] == '\0') {
			/* JS SDK: a key matching /^code$/i */
			json_object_object_foreach(o, key, val) {
				if (strcasecmp(key, "code") == 0 && json_object_is_type(val, json_type_string)) {
					code = json_object_get_string(val);
					break;
				}
			}
		}
		msg = get_string(o, "message");
		if (msg == NULL)
			msg = get_string(o, "Message");
	}
	if ((code == NULL || code[0] == '\0') && error_type_header != NULL)
		code = error_type_header;
	if (code != NULL)
		sanitize_code(reply->code, sizeof(reply->code), code);
	if (msg != NULL)
		cpk_reply_text(reply->message, sizeof(reply->message), msg, strlen(msg));
	json_object_put(o);
}

static void
credential_free(struct cpk_credential *cr)
{
	char **t;

	free(cr->id);
	free(cr->name);
	free(cr->rp_id);
	free(cr->attachment);
	for (t = cr->transports; t != NULL && *t != NULL; t++)
		free(*t);
	free(cr->transports);
	memset(cr, 0, sizeof(*cr));
}

void
cpk_credential_list_free(struct cpk_credential_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		credential_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* A string member; NULL (absent) is fine unless required. */
static int
dup_member(struct json_object *obj, const char *key, bool required, char **out)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return required ? -1 : 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	if ((*out = strdup(json_object_get_string(v))) == NULL)
		return -1;
	return 0;
}

static int
parse_transports(struct json_object *obj, char ***out)
{
	struct json_object *arr;
	size_t i, n = 0;

	if (json_object_object_get_ex(obj, "AuthenticatorTransports", &arr) &&
	    !json_object_is_type(arr, json_type_null)) {
		if (!json_object_is_type(arr, json_type_array))
			return -1;
		n = json_object_array_length(arr);
	}
	if ((*out = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(t, json_type_string) ||
		    ((*out)[i] = strdup(json_object_get_string(t))) == NULL)
			return -1;	/* the caller frees the partial vector */
	}
	return 0;
}

/* CreatedAt: epoch seconds as a JSON number, maybe 1.7E9; 0 if absent. */
static int
parse_created_at(struct json_object *obj, double *out)
{
	struct json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(obj, "CreatedAt", &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_double(v);
	return 0;
}

/*
 * One WebAuthnCredentialDescription.  Only CredentialId is needed to act;
 * the other members the model calls required are tolerated when missing
 * (an empty string), so that one odd entry cannot block a revocation.
 */
static int
parse_credential(struct json_object *o, struct cpk_credential *cr)
{
	memset(cr, 0, sizeof(*cr));
	if (!json_object_is_type(o, json_type_object) ||
	    dup_member(o, "CredentialId", true, &cr->id) < 0 ||
	    dup_member(o, "FriendlyCredentialName", false, &cr->name) < 0 ||
	    dup_member(o, "RelyingPartyId", false, &cr->rp_id) < 0 ||
	    dup_member(o, "AuthenticatorAttachment", false, &cr->attachment) < 0 ||
	    parse_transports(o, &cr->transports) < 0 ||
	    parse_created_at(o, &cr->created_at) < 0)
		goto fail;
	/*
	 * The one rule for a credential id (util.h): the engine saves the ids
	 * it chose in pending/<user>, whose reader applies the same rule, so
	 * an id Cognito would never send is refused here, not stored.
	 */
	if (!cpk_credential_id_valid(cr->id))
		goto fail;
	if ((cr->name == NULL && (cr->name = strdup("")) == NULL) ||
	    (cr->rp_id == NULL && (cr->rp_id = strdup("")) == NULL))
		goto fail;
	return 0;
fail:
	credential_free(cr);
	return -1;
}

int
cpk_parse_credential_page(const char *body, size_t len, struct cpk_credential_list *l,
			  char **next_token)
{
	struct json_object *o = parse_json(body, len), *arr, *nt;
	struct cpk_credential *items = NULL;
	size_t i, n, added = 0;
	int ret = -1;

	*next_token = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "Credentials", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		goto out;
	n = json_object_array_length(arr);
	if (n > SIZE_MAX / sizeof(*items) - l->n - 1)
		goto out;
	if ((items = malloc((l->n + n + 1) * sizeof(*items))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (parse_credential(json_object_array_get_idx(arr, i), &items[l->n + i]) < 0)
			goto out;
		added++;
	}
	if (json_object_object_get_ex(o, "NextToken", &nt) && !json_object_is_type(nt, json_type_null)) {
		if (!json_object_is_type(nt, json_type_string))
			goto out;
		if (json_object_get_string_len(nt) > 0 &&
		    (*next_token = strdup(json_object_get_string(nt))) == NULL)
			goto out;
	}
	/* Commit: the old items move into the new array. */
	if (l->n > 0)
		memcpy(items, l->items, l->n * sizeof(*items));
	free(l->items);
	l->items = items;
	l->n += n;
	items = NULL;
	ret = 0;
out:
	if (items != NULL) {
		for (i = 0; i < added; i++)
			credential_free(&items[l->n + i]);
		free(items);
	}
	if (ret < 0) {
		free(*next_token);
		*next_token = NULL;
	}
	json_object_put(o);
	return ret;
}

void
cpk_tokens_free(struct cpk_tokens *t)
{
	if (t == NULL)
		return;
	cpk_free_secret(t->access_token);
	cpk_free_secret(t->id_token);
	cpk_free_secret(t->refresh_token);
	free(t->token_type);
	memset(t, 0, sizeof(*t));
}

/* A token member: wire syntax checked, copied, and wiped in json-c. */
static int
take_token(struct json_object *obj, const char *key, bool required, char **out)
{
	struct json_object *v;
	int ret = -1;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return required ? -1 : 0;
	if (json_object_is_type(v, json_type_string) && cpk_token_syntax_valid(json_object_get_string(v)) &&
	    (*out = strdup(json_object_get_string(v))) != NULL)
		ret = 0;
	wipe_json_string(v);
	return ret;
}

static void
wipe_member(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj != NULL && json_object_object_get_ex(obj, key, &v))
		wipe_json_string(v);
}

/*
 * {"AuthenticationResult": {...}}, the answer of both refresh operations.
 * A bare AuthenticationResult object is accepted too.
 */
int
cpk_parse_tokens(const char *body, size_t len, struct cpk_tokens *out)
{
	struct json_object *o = parse_json(body, len), *ar = NULL, *v;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	if (!json_object_object_get_ex(o, "AuthenticationResult", &ar))
		ar = o;
	if (!json_object_is_type(ar, json_type_object))
		goto out;
	if (take_token(ar, "AccessToken", true, &out->access_token) < 0 ||
	    take_token(ar, "IdToken", false, &out->id_token) < 0 ||
	    take_token(ar, "RefreshToken", false, &out->refresh_token) < 0 ||
	    dup_member(ar, "TokenType", false, &out->token_type) < 0)
		goto out;
	if (json_object_object_get_ex(ar, "ExpiresIn", &v)) {
		if (!json_object_is_type(v, json_type_int))
			goto out;
		out->expires_in = (long)json_object_get_int64(v);
	}
	ret = 0;
out:
	if (ar != NULL && json_object_is_type(ar, json_type_object)) {
		wipe_member(ar, "AccessToken");
		wipe_member(ar, "IdToken");
		wipe_member(ar, "RefreshToken");
	}
	if (ret < 0)
		cpk_tokens_free(out);
	json_object_put(o);
	return ret;
}

bool
cpk_parse_empty_output(const char *body, size_t len)
{
	struct json_object *o;
	size_t i;
	bool ok;

	for (i = 0; i < len && isspace((unsigned char)body[i]); i++)
		;
	if (i == len)
		return true;
	o = parse_json(body, len);
	ok = o != NULL && json_object_is_type(o, json_type_object);
	json_object_put(o);
	return ok;
}

/* The value of the "sub" entry of GetUser's UserAttributes, malloc'd. */
static int
user_sub(struct json_object *o, char **sub)
{
	struct json_object *attrs, *a;
	char *name = NULL;
	size_t i, n;

	*sub = NULL;
	if (!json_object_object_get_ex(o, "UserAttributes", &attrs) ||
	    !json_object_is_type(attrs, json_type_array))
		return -1;
	n = json_object_array_length(attrs);
	for (i = 0; i < n && *sub == NULL; i++) {
		a = json_object_array_get_idx(attrs, i);
		if (!json_object_is_type(a, json_type_object) || dup_member(a, "Name", true, &name) < 0)
			return -1;
		if (strcmp(name, "sub") == 0 && (dup_member(a, "Value", true, sub) < 0 || (*sub)[0] == '\0')) {
			free(name);
			free(*sub);
			*sub = NULL;
			return -1;
		}
		free(name);
		name = NULL;
	}
	return *sub != NULL ? 0 : -1;
}

int
cpk_parse_user(const char *body, size_t len, char **username, char **sub)
{
	struct json_object *o = parse_json(body, len);
	int ret = -1;

	*username = NULL;
	if (sub != NULL)
		*sub = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    dup_member(o, "Username", true, username) < 0 || (*username)[0] == '\0')
		goto out;
	if (sub != NULL && user_sub(o, sub) < 0) {
		ret = -2;
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		free(*username);
		*username = NULL;
	}
	json_object_put(o);
	return ret;
}
