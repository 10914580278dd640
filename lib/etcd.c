/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The etcd client's transport: one curl handle, the endpoints in turn,
 * TLS always verified (etcd_ca_file, client certificate), answers capped
 * and parsed as untrusted JSON.
 *
 * Fail-over: an endpoint that cannot be reached, times out or answers 5xx
 * (etcd without a leader answers 503) is left for the next, starting from
 * the one that answered last.  A request may so reach two members; every
 * write this product makes is either idempotent or guarded by a txn
 * compare, and a lease granted twice expires by its TTL.
 */
#include "etcd_int.h"
#include "cognito.h"	/* cpk_client_global_init: curl's once-per-process init */
#include "curl_setup.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	return (*dst = strdup(src)) != NULL ? 0 : -1;
}

struct cpk_etcd *
cpk_etcd_open(const struct cpk_config *cfg, char *err, size_t errlen)
{
	struct cpk_etcd *e = NULL;
	char why[CPK_ERR_LEN];

	if (cfg->etcd_endpoints == NULL) {
		snprintf(err, errlen, "etcd_endpoints is not set");
		goto bad;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	if (cpk_endpoint_list_parse(cfg->etcd_endpoints, &e->eps, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "etcd_endpoints: %s", why);
		goto bad;
	}
	/* checked again at the time of use: the file may have changed since */
	if (cfg->etcd_key_file != NULL && cpk_key_file_check(cfg->etcd_key_file, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "etcd_key_file: %s", why);
		goto bad;
	}
	if (cfg->etcd_prefix == NULL || strlen(cfg->etcd_prefix) >= sizeof(e->prefix)) {
		snprintf(err, errlen, "etcd_prefix is not set");
		goto bad;
	}
	snprintf(e->prefix, sizeof(e->prefix), "%s", cfg->etcd_prefix);
	e->prefix_len = strlen(e->prefix);
	e->timeout_ms = (long)cfg->etcd_timeout * 1000;
	if (e->timeout_ms <= 0)
		e->timeout_ms = 5000;
	if (dup_opt(&e->ca_file, cfg->etcd_ca_file) < 0 || dup_opt(&e->cert_file, cfg->etcd_cert_file) < 0 ||
	    dup_opt(&e->key_file, cfg->etcd_key_file) < 0) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	if (cpk_client_global_init() < 0 || (e->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto bad;
	}
	return e;
bad:
	cpk_etcd_close(e);
	return NULL;
}

void
cpk_etcd_close(struct cpk_etcd *e)
{
	if (e == NULL)
		return;
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e->body);
	free(e);
}

CURLcode
cpk_etcd__setopts(struct cpk_etcd *e, const char *url)
{
	CURL *h = e->curl;
	CURLcode rc;

	curl_easy_reset(h);
	e->requests++;
	rc = cpk_curl_setup(h, url, e->ca_file, e->errbuf);
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	if (e->cert_file != NULL) {
		SET(CURLOPT_SSLCERT, e->cert_file);
		SET(CURLOPT_SSLKEY, e->key_file);
	}
	/* etcd is never reached through a proxy, whatever the environment says */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
#undef SET
	e->errbuf[0] = '\0';
	return rc;
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct cpk_etcd *e = ud;
	size_t n = size * nmemb;
	char *grown;

	if (n > CPK_ETCD_MAX_REPLY - e->len) {
		e->too_large = true;
		return 0;
	}
	if ((grown = realloc(e->body, e->len + n + 1)) == NULL)
		return 0;
	e->body = grown;
	memcpy(e->body + e->len, ptr, n);
	e->len += n;
	e->body[e->len] = '\0';
	return n;
}

/*
 * The gateway's error object: {"error": "...", "code": N, "message": "..."}.
 * Some refusals are plain text instead (etcd 3.4's gateway with auth on and
 * a client certificate: "CommonName of client ... will be ignored"): then
 * the first line of the body, escaped, so that the administrator sees why.
 */
static void
answer_error(struct cpk_etcd *e, long status, const char *url, const char *what,
	     char *err, size_t errlen)
{
	json_object *o = cpk_etcd__parse(e->body != NULL ? e->body : "", e->len), *m = NULL;
	char shown[256] = "no message", line[200];

	if (o != NULL && json_object_object_get_ex(o, "message", &m) &&
	    json_object_is_type(m, json_type_string)) {
		cpk_printable(shown, sizeof(shown), json_object_get_string(m));
	} else if (o == NULL && e->body != NULL && e->body[0] != '\0') {
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(e->body, "\r\n"), e->body);
		if (line[0] != '\0')
			cpk_printable(shown, sizeof(shown), line);
	}
	snprintf(err, errlen, "%s: %s: etcd answered HTTP %ld: %s", what, url, status, shown);
	json_object_put(o);
}

enum attempt { ATTEMPT_DONE, ATTEMPT_NEXT, ATTEMPT_FATAL };

/* One POST to one endpoint. */
static enum attempt
attempt(struct cpk_etcd *e, const char *url, const char *body, json_object **reply,
	const char *what, char *err, size_t errlen)
{
	long status = 0;
	CURLcode rc;

	free(e->body);
	e->body = NULL;
	e->len = 0;
	e->too_large = false;
	rc = cpk_etcd__setopts(e, url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, e->timeout_ms);
	/* an answer that declares more than the cap is refused before its body */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_MAXFILESIZE_LARGE,
				      (curl_off_t)CPK_ETCD_MAX_REPLY);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(e->curl);
	if (e->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "%s: %s: etcd's answer is larger than %d bytes", what, url,
			 CPK_ETCD_MAX_REPLY);
		return ATTEMPT_FATAL;
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s: %s", what, url,
			 e->errbuf[0] != '\0' ? e->errbuf : curl_easy_strerror(rc));
		return ATTEMPT_NEXT;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		answer_error(e, status, url, what, err, errlen);
		return status >= 500 ? ATTEMPT_NEXT : ATTEMPT_FATAL;
	}
	if ((*reply = cpk_etcd__parse(e->body != NULL ? e->body : "", e->len)) == NULL) {
		snprintf(err, errlen, "%s: %s: etcd's answer is not a JSON object", what, url);
		return ATTEMPT_FATAL;
	}
	return ATTEMPT_DONE;
}

int
cpk_etcd__call(struct cpk_etcd *e, const char *path, json_object *req, json_object **reply,
	       const char *what, char *err, size_t errlen)
{
	char url[CPK_URL_MAX + 64];
	const char *body;
	size_t i, ep;
	int rc = CPK_ETCD_UNREACHABLE;

	*reply = NULL;
	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (body == NULL) {
		snprintf(err, errlen, "%s: out of memory", what);
		return CPK_ETCD_ERROR;
	}
	for (i = 0; i < e->eps.n; i++) {
		ep = (e->current + i) % e->eps.n;
		snprintf(url, sizeof(url), "%s%s", e->eps.url[ep], path);
		switch (attempt(e, url, body, reply, what, err, errlen)) {
		case ATTEMPT_DONE:
			e->current = ep;
			rc = CPK_ETCD_OK;
			goto out;
		case ATTEMPT_FATAL:
			rc = CPK_ETCD_ERROR;
			goto out;
		case ATTEMPT_NEXT:
			break;
		}
	}
	if (e->eps.n > 1) {
		char last[CPK_ERR_LEN];

		snprintf(last, sizeof(last), "%s", err);
		snprintf(err, errlen, "no etcd endpoint answered (of %zu); the last: %s", e->eps.n, last);
	}
out:
	free(e->body);
	e->body = NULL;
	e->len = 0;
	return rc;
}
