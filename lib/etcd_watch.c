/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The watch: POST /v3/watch with a create_request, then a stream of JSON
 * messages, {"result": WatchResponse} or {"error": ...}, each parsed as it
 * is complete.  One message may not exceed CPK_ETCD_MAX_REPLY.
 *
 * One stream stays open for as long as max_seconds allows (a transfer cut
 * by its timeout closes its connection, so each slice is a new TLS
 * connection): *w->stop is looked at by curl's progress callback, which
 * curl calls about once a second even while the stream is idle, and
 * after a signal cut its wait short; TCP keepalive notices a peer that
 * went away without closing the connection.
 */
#include "etcd_int.h"
#include "util.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stream {
	struct cpk_etcd *e;
	struct cpk_etcd_watch *w;
	char *buf;
	size_t len;
	/*
	 * The message at the head of buf, parsed as it arrives: the tokener
	 * has seen buf[0, fed).  Each byte is parsed once, not once per
	 * chunk: a 4 MiB message in curl's 16 KiB pieces, or a hostile one
	 * a byte at a time, would otherwise be re-read from its start.
	 */
	json_tokener *tok;
	size_t fed;
	bool created;		/* etcd accepted the watch */
	int outcome;		/* set when the stream is to stop */
	bool stop;
	char *err;
	size_t errlen;
};

static json_object *
watch_request(const struct cpk_etcd *e, const struct cpk_etcd_watch *w)
{
	json_object *req = json_object_new_object(), *create = json_object_new_object();
	char rev[24];

	if (req == NULL || create == NULL || json_object_object_add(req, "create_request", create) != 0) {
		json_object_put(create);
		goto bad;
	}
	snprintf(rev, sizeof(rev), "%" PRId64, w->start_revision);
	if (cpk_etcd__add_key(e, create, w->key, w->prefix) < 0 ||
	    (w->start_revision > 0 &&
	     json_object_object_add(create, "start_revision", json_object_new_string(rev)) != 0) ||
	    json_object_object_add(create, "progress_notify", json_object_new_boolean(1)) != 0)
		goto bad;
	return req;
bad:
	json_object_put(req);
	return NULL;
}

static void
stream_stop(struct stream *s, int outcome)
{
	s->stop = true;
	s->outcome = outcome;
}

/* One event of a WatchResponse. */
static int
on_event(struct stream *s, json_object *ev)
{
	struct cpk_etcd_event event;
	struct cpk_etcd_kv kv;
	json_object *type = NULL, *o;
	int rc;

	if (!json_object_is_type(ev, json_type_object) || !json_object_object_get_ex(ev, "kv", &o)) {
		snprintf(s->err, s->errlen, "etcd watch: an event without kv");
		return -1;
	}
	/* proto3 leaves the default, PUT, out */
	event.type = CPK_ETCD_EV_PUT;
	if (json_object_object_get_ex(ev, "type", &type)) {
		if (json_object_is_type(type, json_type_string) &&
		    strcmp(json_object_get_string(type), "DELETE") == 0)
			event.type = CPK_ETCD_EV_DELETE;
		else if (!json_object_is_type(type, json_type_string) ||
			 strcmp(json_object_get_string(type), "PUT") != 0) {
			snprintf(s->err, s->errlen, "etcd watch: an event of unknown type");
			return -1;
		}
	}
	if (cpk_etcd__parse_kv(s->e, o, &kv, s->err, s->errlen) < 0)
		return -1;
	event.kv = &kv;
	if (kv.mod_revision > s->w->last_revision)
		s->w->last_revision = kv.mod_revision;
	rc = s->w->cb(s->w->arg, &event);
	cpk_etcd__kv_free(&kv);
	return rc;
}

static void
watch_error(struct stream *s, json_object *error)
{
	json_object *m = NULL;
	char shown[256] = "no message";

	if (json_object_is_type(error, json_type_object) &&
	    json_object_object_get_ex(error, "message", &m) && json_object_is_type(m, json_type_string))
		cpk_printable(shown, sizeof(shown), json_object_get_string(m));
	snprintf(s->err, s->errlen, "etcd watch: %s", shown);
	stream_stop(s, CPK_ETCD_ERROR);
}

/* Compaction or cancellation: the stream ends here. */
static bool
on_canceled(struct stream *s, json_object *res)
{
	json_object *c = NULL;
	int64_t compact = 0;

	if (cpk_etcd__int64(res, "compact_revision", &compact) == 0 && compact > 0) {
		s->w->compact_revision = compact;
		snprintf(s->err, s->errlen, "etcd watch: revision %" PRId64 " was compacted (now %" PRId64 ")",
			 s->w->start_revision, compact);
		stream_stop(s, CPK_ETCD_COMPACTED);
		return true;
	}
	if (json_object_object_get_ex(res, "canceled", &c) && json_object_get_boolean(c)) {
		snprintf(s->err, s->errlen, "etcd watch: canceled by etcd");
		stream_stop(s, CPK_ETCD_ERROR);
		return true;
	}
	return false;
}

static void
on_message(struct stream *s, json_object *msg)
{
	json_object *res, *events = NULL, *created = NULL;
	int64_t rev;
	size_t i, n;
	int rc;

	if (json_object_object_get_ex(msg, "error", &res)) {
		watch_error(s, res);
		return;
	}
	if (!json_object_object_get_ex(msg, "result", &res) || !json_object_is_type(res, json_type_object)) {
		snprintf(s->err, s->errlen, "etcd watch: a message without result");
		stream_stop(s, CPK_ETCD_ERROR);
		return;
	}
	if (on_canceled(s, res))
		return;
	if (json_object_object_get_ex(res, "created", &created) && json_object_get_boolean(created)) {
		s->created = true;
		return;
	}
	if (json_object_object_get_ex(res, "events", &events) && !json_object_is_type(events, json_type_array)) {
		snprintf(s->err, s->errlen, "etcd watch: events that are not an array");
		stream_stop(s, CPK_ETCD_ERROR);
		return;
	}
	n = events != NULL ? json_object_array_length(events) : 0;
	/* a progress notification: everything up to its revision was sent */
	if (n == 0 && cpk_etcd__revision(res, &rev) == 0 && rev > s->w->last_revision)
		s->w->last_revision = rev;
	for (i = 0; i < n && !s->stop; i++) {
		rc = on_event(s, json_object_array_get_idx(events, i));
		if (rc != 0)
			stream_stop(s, rc > 0 ? CPK_ETCD_OK : CPK_ETCD_ERROR);
	}
}

static bool
blank(char c)
{
	return c == ' ' || c == '\r' || c == '\n' || c == '\t';
}

/* The first n bytes of buf are done with. */
static void
consume(struct stream *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
}

/* Parse every complete message at the head of the buffer. */
static int
drain(struct stream *s)
{
	json_object *msg;
	size_t skip, end;

	while (!s->stop) {
		if (s->fed == 0) {
			/* between messages */
			for (skip = 0; skip < s->len && blank(s->buf[skip]); skip++)
				;
			consume(s, skip);
		}
		if (s->fed == s->len)
			break;
		if (s->tok == NULL && (s->tok = json_tokener_new_ex(16)) == NULL)
			return -1;
		msg = json_tokener_parse_ex(s->tok, s->buf + s->fed, (int)(s->len - s->fed));
		if (msg == NULL && json_tokener_get_error(s->tok) == json_tokener_continue) {
			s->fed = s->len;
			break;
		}
		end = s->fed + json_tokener_get_parse_end(s->tok);
		json_tokener_reset(s->tok);
		s->fed = 0;
		if (msg == NULL || !json_object_is_type(msg, json_type_object)) {
			json_object_put(msg);
			snprintf(s->err, s->errlen, "etcd watch: a message that is not a JSON object");
			stream_stop(s, CPK_ETCD_ERROR);
			break;
		}
		on_message(s, msg);
		json_object_put(msg);
		consume(s, end);
	}
	return 0;
}

/* What a stream leaves behind. */
static void
stream_free(struct stream *s)
{
	free(s->buf);
	if (s->tok != NULL)
		json_tokener_free(s->tok);
}

static size_t
on_stream(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct stream *s = ud;
	size_t n = size * nmemb;
	char *grown;

	if (s->stop)
		return 0;
	if (n > CPK_ETCD_MAX_REPLY - s->len) {
		snprintf(s->err, s->errlen, "etcd watch: a message larger than %d bytes", CPK_ETCD_MAX_REPLY);
		stream_stop(s, CPK_ETCD_ERROR);
		return 0;
	}
	if ((grown = realloc(s->buf, s->len + n + 1)) == NULL) {
		stream_stop(s, CPK_ETCD_ERROR);
		return 0;
	}
	s->buf = grown;
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	if (drain(s) < 0)
		stream_stop(s, CPK_ETCD_ERROR);
	return s->stop ? 0 : n;
}

int
cpk_etcd__watch_feed(struct cpk_etcd *e, struct cpk_etcd_watch *w, const char *const *chunk,
		     const size_t *len, size_t n, char *err, size_t errlen)
{
	struct stream s = { .e = e, .w = w, .err = err, .errlen = errlen };
	size_t i;

	for (i = 0; i < n && !s.stop; i++)
		(void)on_stream((char *)(uintptr_t)chunk[i], 1, len[i], &s);
	stream_free(&s);
	return s.stop ? s.outcome : CPK_ETCD_OK;
}

/* curl's progress callback: the way out of an idle stream when *stop is set. */
static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	    curl_off_t ulnow)
{
	struct stream *s = ud;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (s->w->stop == NULL || !*s->w->stop)
		return 0;
	stream_stop(s, CPK_ETCD_OK);
	return 1;
}

/* Seconds of silence before the first keepalive probe, and between probes. */
#define KEEPALIVE_IDLE	30L
#define KEEPALIVE_INTVL	10L

/* One endpoint: 1 when it could not be reached (try the next), else done. */
static int
watch_one(struct stream *s, const char *url, const char *body)
{
	struct cpk_etcd *e = s->e;
	long status = 0;
	CURLcode rc;

	rc = cpk_etcd__setopts(e, url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_TIMEOUT, (long)s->w->max_seconds);
	if (rc == CURLE_OK)
		/* a stream has no total size: each message is capped in on_stream */
		rc = curl_easy_setopt(e->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_stream);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPIDLE, KEEPALIVE_IDLE);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPINTVL, KEEPALIVE_INTVL);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(e->curl);
	if (s->stop)
		return 0;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OPERATION_TIMEDOUT && s->created && s->w->max_seconds > 0) {
		stream_stop(s, CPK_ETCD_OK);
		return 0;
	}
	if (rc != CURLE_OK)
		snprintf(s->err, s->errlen, "etcd watch: %s: %s", url,
			 e->errbuf[0] != '\0' ? e->errbuf : curl_easy_strerror(rc));
	else
		snprintf(s->err, s->errlen, "etcd watch: %s: the stream ended (HTTP %ld)", url, status);
	if (!s->created && (rc != CURLE_OK || status >= 500))
		return 1;
	stream_stop(s, s->created ? CPK_ETCD_UNREACHABLE : CPK_ETCD_ERROR);
	return 0;
}

int
cpk_etcd_watch(struct cpk_etcd *e, struct cpk_etcd_watch *w, char *err, size_t errlen)
{
	struct stream s = { .e = e, .w = w, .err = err, .errlen = errlen };
	char url[CPK_URL_MAX + 16];
	json_object *req;
	const char *body;
	size_t i, ep;

	w->last_revision = w->start_revision > 0 ? w->start_revision - 1 : 0;
	w->compact_revision = 0;
	if ((req = watch_request(e, w)) == NULL ||
	    (body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN)) == NULL) {
		snprintf(err, errlen, "etcd watch: key too long, or out of memory");
		json_object_put(req);
		return CPK_ETCD_ERROR;
	}
	s.outcome = CPK_ETCD_UNREACHABLE;
	for (i = 0; i < e->eps.n; i++) {
		ep = (e->current + i) % e->eps.n;
		snprintf(url, sizeof(url), "%s/v3/watch", e->eps.url[ep]);
		/* nothing of another endpoint's stream is carried over */
		s.len = 0;
		s.fed = 0;
		if (s.tok != NULL)
			json_tokener_reset(s.tok);
		if (watch_one(&s, url, body) == 0) {
			e->current = ep;
			break;
		}
	}
	stream_free(&s);
	json_object_put(req);
	return s.outcome;
}
