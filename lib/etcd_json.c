/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * What etcd's JSON gateway sends and wants: base64 keys and values, int64
 * as decimal strings, mvccpb.KeyValue objects.  Everything parsed here
 * comes from the network and is checked for type, length and range
 * before anything else sees it.
 */
#include "etcd_int.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH	16

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
cpk_etcd__b64_encode(const void *p, size_t n)
{
	const unsigned char *in = p;
	size_t i, o = 0;
	char *out;

	if (n > SIZE_MAX / 2 || (out = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = b64_alphabet[in[i] >> 2];
		out[o++] = b64_alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = b64_alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = b64_alphabet[in[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = b64_alphabet[in[i] >> 2];
		if (i + 1 < n) {
			out[o++] = b64_alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			out[o++] = b64_alphabet[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = b64_alphabet[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

static int
b64_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - b64_alphabet);
}

/* Strict: padded, standard alphabet, nothing else (that is what Go's encoding/json writes). */
int
cpk_etcd__b64_decode(const char *s, size_t slen, size_t max, char **out, size_t *outlen)
{
	size_t i, o = 0, pad = 0, n;
	uint32_t acc;
	char *buf = NULL;
	int v, j, rc = -1;

	*out = NULL;
	*outlen = 0;
	if (slen % 4 != 0)
		goto out;
	if (slen > 0 && s[slen - 1] == '=')
		pad = (slen > 1 && s[slen - 2] == '=') ? 2 : 1;
	n = slen / 4 * 3 - pad;
	if (n > max) {
		rc = -2;
		goto out;
	}
	if ((buf = malloc(n + 1)) == NULL)
		goto out;
	for (i = 0; i < slen; i += 4) {
		acc = 0;
		for (j = 0; j < 4; j++) {
			bool last_group = i + 4 == slen;

			if (last_group && j >= 4 - (int)pad) {
				acc <<= 6;
				continue;
			}
			if ((v = b64_value(s[i + (size_t)j])) < 0)
				goto out;
			acc = (acc << 6) | (uint32_t)v;
		}
		if (o < n)
			buf[o++] = (char)(acc >> 16);
		if (o < n)
			buf[o++] = (char)(acc >> 8);
		if (o < n)
			buf[o++] = (char)acc;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

json_object *
cpk_etcd__parse(const char *buf, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	json_object *o = NULL;
	size_t end;

	if (tok == NULL || len > INT32_MAX)
		goto out;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto bad;
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (buf[end] != ' ' && buf[end] != '\n' && buf[end] != '\r' && buf[end] != '\t')
			goto bad;
	if (!json_object_is_type(o, json_type_object))
		goto bad;
	goto out;
bad:
	json_object_put(o);
	o = NULL;
out:
	if (tok != NULL)
		json_tokener_free(tok);
	return o;
}

int
cpk_etcd__int64(json_object *o, const char *field, int64_t *out)
{
	json_object *v;
	const char *s;
	char *end;
	long long n;

	*out = 0;
	if (!json_object_object_get_ex(o, field, &v) || v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		errno = 0;
		*out = json_object_get_int64(v);
		return errno == 0 ? 0 : -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (json_object_get_string_len(v) > 20 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		return -1;
	*out = (int64_t)n;
	return 0;
}

void
cpk_etcd__name(const struct cpk_etcd *e, const char *key, char *out, size_t len)
{
	char raw[CPK_ETCD_MAX_KEY + 200];

	snprintf(raw, sizeof(raw), "%s%s", e->prefix, key);
	cpk_printable(out, len, raw);
}

/* The first key after every key that starts with p[0..n): etcd's range_end. */
static size_t
prefix_end(char *p, size_t n)
{
	while (n > 0) {
		if ((unsigned char)p[n - 1] < 0xff) {
			p[n - 1]++;
			return n;
		}
		n--;
	}
	p[0] = '\0';	/* every key: "\0" */
	return 1;
}

int
cpk_etcd__add_key(const struct cpk_etcd *e, json_object *obj, const char *key, bool prefix)
{
	char full[CPK_ETCD_MAX_KEY + 200], *b64;
	size_t n;
	int rc = -1;

	n = (size_t)snprintf(full, sizeof(full), "%s%s", e->prefix, key);
	if (n >= CPK_ETCD_MAX_KEY)
		return -1;
	if ((b64 = cpk_etcd__b64_encode(full, n)) == NULL)
		return -1;
	if (json_object_object_add(obj, "key", json_object_new_string(b64)) != 0)
		goto out;
	if (prefix) {
		free(b64);
		n = prefix_end(full, n);
		if ((b64 = cpk_etcd__b64_encode(full, n)) == NULL)
			return -1;
		if (json_object_object_add(obj, "range_end", json_object_new_string(b64)) != 0)
			goto out;
	}
	rc = 0;
out:
	free(b64);
	return rc;
}

int
cpk_etcd__revision(json_object *reply, int64_t *rev)
{
	json_object *h;

	*rev = 0;
	if (!json_object_object_get_ex(reply, "header", &h) || !json_object_is_type(h, json_type_object))
		return -1;
	if (cpk_etcd__int64(h, "revision", rev) < 0 || *rev < 0)
		return -1;
	return 0;
}

void
cpk_etcd__kv_free(struct cpk_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

/* A base64 string field; absent is empty (proto3 leaves out empty bytes). */
static int
b64_field(json_object *o, const char *field, size_t max, char **out, size_t *len)
{
	json_object *v;

	if (!json_object_object_get_ex(o, field, &v) || v == NULL) {
		*len = 0;
		return (*out = strdup("")) != NULL ? 0 : -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	return cpk_etcd__b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				    max, out, len);
}

/* The key, checked to be below etcd_prefix, without NUL, and stripped. */
static int
parse_key(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kv *kv, char *err, size_t errlen)
{
	char shown[CPK_ETCD_MAX_KEY * 4 + 1], *full = NULL;
	size_t len;
	int rc = -1;

	if (b64_field(o, "key", CPK_ETCD_MAX_KEY, &full, &len) != 0) {
		snprintf(err, errlen, "etcd answered a key that is not base64 of at most %d bytes",
			 CPK_ETCD_MAX_KEY);
		goto out;
	}
	if (memchr(full, '\0', len) != NULL || len < e->prefix_len ||
	    memcmp(full, e->prefix, e->prefix_len) != 0) {
		cpk_printable(shown, sizeof(shown), full);
		snprintf(err, errlen, "etcd key %s: not below %s", shown, e->prefix);
		goto out;
	}
	if ((kv->key = strdup(full + e->prefix_len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(full);
	return rc;
}

int
cpk_etcd__parse_kv(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kv *kv,
		   char *err, size_t errlen)
{
	char name[CPK_ETCD_MAX_KEY * 4 + 1];
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "etcd answered a key-value that is not an object");
		return -1;
	}
	if (parse_key(e, o, kv, err, errlen) < 0)
		return -1;
	cpk_etcd__name(e, kv->key, name, sizeof(name));
	if (cpk_etcd__int64(o, "create_revision", &kv->create_revision) < 0 ||
	    cpk_etcd__int64(o, "mod_revision", &kv->mod_revision) < 0 ||
	    cpk_etcd__int64(o, "version", &kv->version) < 0 ||
	    cpk_etcd__int64(o, "lease", &kv->lease) < 0 ||
	    kv->create_revision < 0 || kv->mod_revision < 0 || kv->version < 0) {
		snprintf(err, errlen, "etcd key %s: a revision, version or lease that is not an int64",
			 name);
		goto bad;
	}
	rc = b64_field(o, "value", CPK_ETCD_MAX_VALUE, &kv->value, &kv->value_len);
	if (rc == -2) {
		snprintf(err, errlen, "etcd key %s: value larger than %d bytes", name, CPK_ETCD_MAX_VALUE);
		goto bad;
	}
	if (rc != 0) {
		snprintf(err, errlen, "etcd key %s: value is not base64", name);
		goto bad;
	}
	return 0;
bad:
	cpk_etcd__kv_free(kv);
	return -1;
}

int
cpk_etcd__parse_kvs(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kvs *out,
		    char *err, size_t errlen)
{
	struct cpk_etcd_kv *grown;
	json_object *arr;
	size_t i, n;

	if (!json_object_object_get_ex(o, "kvs", &arr) || arr == NULL)
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "etcd answered kvs that is not an array");
		return -1;
	}
	n = json_object_array_length(arr);
	if (n > CPK_ETCD_MAX_KVS) {
		snprintf(err, errlen, "etcd answered more than %d keys at once", CPK_ETCD_MAX_KVS);
		return -1;
	}
	if (out->n + n > CPK_ETCD_MAX_LIST) {
		snprintf(err, errlen, "etcd holds more than %d keys in one listing", CPK_ETCD_MAX_LIST);
		return -1;
	}
	if (n == 0)
		return 0;
	if ((grown = realloc(out->kv, (out->n + n) * sizeof(*grown))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	out->kv = grown;
	for (i = 0; i < n; i++) {
		if (cpk_etcd__parse_kv(e, json_object_array_get_idx(arr, i), &out->kv[out->n],
				       err, errlen) < 0)
			return -1;
		out->n++;
	}
	return 0;
}

void
cpk_etcd_kvs_free(struct cpk_etcd_kvs *kvs)
{
	size_t i;

	if (kvs == NULL)
		return;
	for (i = 0; i < kvs->n; i++)
		cpk_etcd__kv_free(&kvs->kv[i]);
	free(kvs->kv);
	memset(kvs, 0, sizeof(*kvs));
}

void
cpk_etcd_txn_result_free(struct cpk_etcd_txn_result *r)
{
	if (r == NULL)
		return;
	cpk_etcd_kvs_free(&r->kvs);
	memset(r, 0, sizeof(*r));
}
