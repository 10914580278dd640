/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Inside lib/etcd*.c only: the handle, the transport and the JSON helpers
 * shared by the key-value calls and the watch.
 */
#ifndef CPK_ETCD_INT_H
#define CPK_ETCD_INT_H

#include <curl/curl.h>
#include <json-c/json.h>

#include "etcd.h"

struct cpk_etcd {
	CURL *curl;
	struct cpk_endpoints eps;
	size_t current;			/* the endpoint that answered last */
	char prefix[160];
	size_t prefix_len;
	long timeout_ms;
	char *ca_file, *cert_file, *key_file;
	char errbuf[CURL_ERROR_SIZE];
	unsigned long requests;		/* HTTP requests sent: what the tests count */
	/* the answer of a unary call */
	char *body;
	size_t len;
	bool too_large;
};

/* "claims/alice" as it may appear in a message: prefixed, escaped. */
void cpk_etcd__name(const struct cpk_etcd *e, const char *key, char *out, size_t len);

/*
 * POST req to path on the endpoints in turn; *reply is the parsed object of
 * a 200 answer.  what names the key in errors.
 */
int cpk_etcd__call(struct cpk_etcd *e, const char *path, json_object *req,
		   json_object **reply, const char *what, char *err, size_t errlen);

/* Options shared by the calls and the watch, for the endpoint at url. */
CURLcode cpk_etcd__setopts(struct cpk_etcd *e, const char *url);

/* A message that must be one JSON object, all of buf: NULL when not. */
json_object *cpk_etcd__parse(const char *buf, size_t len);

char *cpk_etcd__b64_encode(const void *p, size_t n);
/* 0, -1 not base64, -2 more than max bytes decoded. */
int cpk_etcd__b64_decode(const char *s, size_t slen, size_t max, char **out, size_t *outlen);

/* An int64 field, a decimal string or a number; absent: 0.  0 or -1. */
int cpk_etcd__int64(json_object *o, const char *field, int64_t *out);

/* "key" (and "range_end" for a prefix) of etcd_prefix + key into obj. */
int cpk_etcd__add_key(const struct cpk_etcd *e, json_object *obj, const char *key, bool prefix);

/* header.revision of an answer. */
int cpk_etcd__revision(json_object *reply, int64_t *rev);

/* One mvccpb.KeyValue; the key must be below etcd_prefix. */
int cpk_etcd__parse_kv(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kv *kv,
		       char *err, size_t errlen);
/* Append the kvs array (absent: none) of o to out. */
int cpk_etcd__parse_kvs(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kvs *out,
			char *err, size_t errlen);
void cpk_etcd__kv_free(struct cpk_etcd_kv *kv);

/*
 * The answers' parsers, apart from the transport (and for tests/fuzz): a
 * RangeResponse (alone, or inside a txn) appended to out; a TxnResponse,
 * whose GETs' kvs go to r->kvs (name: the key, for errors).
 */
int cpk_etcd__parse_range(const struct cpk_etcd *e, json_object *o, struct cpk_etcd_kvs *out,
			  char *err, size_t errlen);
int cpk_etcd__parse_txn(const struct cpk_etcd *e, json_object *reply, struct cpk_etcd_txn_result *r,
			const char *name, char *err, size_t errlen);
/*
 * A watch stream's bytes, in the n chunks curl would hand over, through
 * the same framing, caps and callbacks as cpk_etcd_watch (tests/fuzz).
 * The stream's outcome, or CPK_ETCD_OK when it did not stop.
 */
int cpk_etcd__watch_feed(struct cpk_etcd *e, struct cpk_etcd_watch *w, const char *const *chunk,
			 const size_t *len, size_t n, char *err, size_t errlen);

#endif
