/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The HTTPS awsJson1_1 transport of the Cognito client (http.h): one curl
 * easy handle per client, kept for a whole run so that K requests cost one
 * TCP+TLS handshake; TLS always verified (ca_file checked up front); fixed
 * headers and no SigV4 (these operations are authorised by the token in
 * the body alone, reference/cognito-wire-protocol.md); answers capped at
 * CPK_MAX_BODY; failures mapped to a struct cpk_reply; retries with
 * backoff (retry.c) inside the run's deadline; the rate hook (--rate)
 * called once per request, just before it is sent.
 *
 * curl_global_init must run once, before any thread uses curl (not
 * thread-safe on older libcurl).  Only the helper and passkey-revoke use
 * this file (never the PAM module), so cpk_client_new() calls it itself,
 * once per process, under pthread_once; never curl_global_cleanup.
 *
 * Nothing here logs: callers get a struct cpk_reply and never a token.
 */
#include "http.h"
#include "curl_setup.h"
#include "quota.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#define TARGET_PREFIX		"AWSCognitoIdentityProviderService."
/* A retry needs at least this much of the deadline left after its delay. */
#define RETRY_MIN_LEFT_MS	100L

struct cpk_client {
	CURL *curl;
	const struct cpk_deadline *dl;
	char url[512];
	long connect_ms;
	unsigned int max_attempts;
	unsigned int connections;
	cpk_before_request_fn before;
	void *before_ctx;
	/* the answer being received */
	struct cpk_buf resp;
	bool too_large;
	bool no_slot;		/* the rate wait ran into the deadline */
	char hdr_request_id[96];
	char hdr_error_type[256];	/* "Code:http://internal.amazon.com/..." */
	char hdr_retry_after[64];	/* Retry-After: seconds or an HTTP date */
	char hdr_amz_retry_after[32];	/* x-amz-retry-after: milliseconds */
	struct cpk_retry_quota *quota;	/* shared by a run's workers; may be NULL */
	char errbuf[CURL_ERROR_SIZE];
};

/* ---------------------------------------------------------------------- */
/* replies                                                                */

static void
reply_reset_attempt(struct cpk_reply *r)
{
	unsigned int attempts = r->attempts;

	memset(r, 0, sizeof(*r));
	r->attempts = attempts;
}

void
cpk_reply_set(struct cpk_reply *r, const char *code, bool retryable, const char *fmt, ...)
{
	va_list ap;

	snprintf(r->code, sizeof(r->code), "%s", code);
	r->retryable = retryable;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

void
cpk_reply_oom(struct cpk_reply *r)
{
	cpk_reply_set(r, "TransportError", false, "out of memory");
}

/*
 * cpk_printable() wants a NUL-terminated string; src is a counted one (a
 * header line, a cut error code).  Only the first len - 1 bytes can show
 * (every byte shows as one byte or more), and a character the cut splits
 * never fits, so copying that much first changes nothing.
 */
void
cpk_reply_text(char *dst, size_t len, const char *src, size_t n)
{
	char tmp[sizeof(((struct cpk_reply *)NULL)->message)];

	if (len == 0)
		return;
	if (len > sizeof(tmp))
		len = sizeof(tmp);
	if (n > len - 1)
		n = len - 1;
	memcpy(tmp, src, n);
	tmp[n] = '\0';
	cpk_printable(dst, len, tmp);
	cpk_wipe(tmp, sizeof(tmp));
}

/* ---------------------------------------------------------------------- */
/* client                                                                 */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/*
 * SSLKEYLOGFILE makes libcurl's OpenSSL backend write the TLS session keys
 * to a file, read once in curl_global_init: anyone holding that file could
 * read the tokens we send.  Neither the helper (empty environment) nor
 * passkey-revoke has a use for it, so it is dropped before curl sees it.
 */
static void
curl_init_once(void)
{
	if (getenv("SSLKEYLOGFILE") != NULL)
		unsetenv("SSLKEYLOGFILE");
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
cpk_client_global_init(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_init_rc == CURLE_OK ? 0 : -1;
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct cpk_client *c = ud;
	size_t n = size * nmemb;

	if (n > CPK_MAX_BODY || c->resp.len + n > CPK_MAX_BODY) {
		c->too_large = true;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (cpk_buf_add(&c->resp, ptr, n) < 0)
		return 0;
	return n;
}

/* "Name: value" -> value trimmed, when Name matches (case-insensitive). */
static bool
header_value(const char *line, size_t n, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name), end;
	const char *v;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return false;
	v = line + nl + 1;
	end = n - nl - 1;
	while (end > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		end--;
	}
	while (end > 0 && isspace((unsigned char)v[end - 1]))
		end--;
	cpk_reply_text(out, len, v, end);
	return true;
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct cpk_client *c = ud;
	size_t n = size * nmemb;

	/* A new status line (after a 1xx): forget what came before. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		c->hdr_request_id[0] = '\0';
		c->hdr_error_type[0] = '\0';
		c->hdr_retry_after[0] = '\0';
		c->hdr_amz_retry_after[0] = '\0';
		return n;
	}
	if (!header_value(ptr, n, "x-amzn-RequestId", c->hdr_request_id, sizeof(c->hdr_request_id)) &&
	    !header_value(ptr, n, "x-amzn-ErrorType", c->hdr_error_type, sizeof(c->hdr_error_type)) &&
	    !header_value(ptr, n, "Retry-After", c->hdr_retry_after, sizeof(c->hdr_retry_after)))
		header_value(ptr, n, "x-amz-retry-after", c->hdr_amz_retry_after,
			     sizeof(c->hdr_amz_retry_after));
	return n;
}

/* Every option that does not change between requests. */
/*
 * The rate hook runs here, once the connection (and its TLS handshake) is
 * up and just before the request is sent: a slot taken before connecting
 * would let the handshake's jitter push requests out of the one-second
 * window the cap promises.  A request whose wait ran into the deadline is
 * not sent at all.
 */
static int
on_connected(void *ctx, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct cpk_client *c = ctx;

	if (c->before == NULL)
		return CURL_PREREQFUNC_OK;
	c->before(c->before_ctx);
	if (cpk_deadline_expired(c->dl)) {
		c->no_slot = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

static CURLcode
client_setopts(struct cpk_client *c, const struct cpk_config *cfg)
{
	CURL *h = c->curl;
	/* Plain http is only ever to loopback: never through a proxy, where
	 * the token would leave the machine in clear text. */
	const char *proxy = (cfg->proxy != NULL && !cpk_url_is_plain_http(c->url)) ? cfg->proxy : "";
	CURLcode rc;

	rc = cpk_curl_setup(h, c->url, cfg->ca_file, c->errbuf);
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	/* "" disables the proxy environment variables (https_proxy, ...);
	 * NOPROXY "" makes a configured proxy apply to every host whatever
	 * no_proxy says, "*" makes sure no proxy is used at all. */
	SET(CURLOPT_PROXY, proxy);
	SET(CURLOPT_NOPROXY, proxy[0] != '\0' ? "" : "*");
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CPK_MAX_BODY);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_PREREQFUNCTION, on_connected);
	SET(CURLOPT_PREREQDATA, c);
#undef SET
	return rc;
}

/*
 * A ca_file that cannot be loaded is the administrator's mistake, not an
 * outage: load it as curl's OpenSSL back end will, and say which file.
 * (A CA that loads but does not match the server stays a TLS error.)
 */
static int
check_ca_file(const char *path, struct cpk_reply *reply)
{
	X509_STORE *store = NULL;
	struct stat st;
	int ret = -1;

	if (stat(path, &st) != 0) {
		cpk_reply_set(reply, "config_error", false, "ca_file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cpk_reply_set(reply, "config_error", false, "ca_file %s: not a regular file", path);
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL) {
		cpk_reply_set(reply, "TransportError", false, "out of memory");
		goto out;
	}
	if (X509_STORE_load_file(store, path) != 1) {
		cpk_reply_set(reply, "config_error", false,
			      "ca_file %s: no PEM certificate could be loaded from it", path);
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	X509_STORE_free(store);
	return ret;
}

int
cpk_client_new(struct cpk_client **out, const struct cpk_config *cfg,
	       const char *token_region, const struct cpk_deadline *dl,
	       struct cpk_reply *reply)
{
	struct cpk_client *c = NULL;
	CURLcode rc;
	int ret = -1;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		memset(reply, 0, sizeof(*reply));
		cpk_reply_set(reply, "TransportError", false, "out of memory");
		goto out;
	}
	/* Refused here, before curl exists: no connection can be attempted. */
	if (cpk_endpoint_resolve(cfg, token_region, c->url, sizeof(c->url), reply) < 0)
		goto out;
	if (cfg->ca_file != NULL && check_ca_file(cfg->ca_file, reply) < 0)
		goto out;
	if (cpk_client_global_init() < 0) {
		cpk_reply_set(reply, "TransportError", false, "curl_global_init: %s",
			      curl_easy_strerror(curl_init_rc));
		goto out;
	}
	if ((c->curl = curl_easy_init()) == NULL) {
		cpk_reply_set(reply, "TransportError", false, "curl_easy_init failed");
		goto out;
	}
	c->dl = dl;
	c->connect_ms = (long)(cfg->connect_timeout > 0 ? cfg->connect_timeout : 3) * 1000L;
	c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 1;
	if ((rc = client_setopts(c, cfg)) != CURLE_OK) {
		cpk_reply_set(reply, "TransportError", false, "curl setup: %s", curl_easy_strerror(rc));
		goto out;
	}
	*out = c;
	c = NULL;
	ret = 0;
out:
	cpk_client_free(c);
	return ret;
}

/*
 * A batch worker serves many users one after the other with one client,
 * so that they share one connection and TLS session: the handshake is
 * paid once a worker, not once a user.  Nothing of one user's run stays
 * in the client for the next: the answer and its headers are wiped after
 * every request, curl keeps no cookies or credentials (none are set), and
 * the deadline, rate hook and retry quota are the new run's.  Every run
 * still checks ca_file as cpk_client_new() does.
 */
int
cpk_client_renew(struct cpk_client **cp, const struct cpk_config *cfg,
		 const char *token_region, const struct cpk_deadline *dl,
		 struct cpk_reply *reply)
{
	struct cpk_client *c = *cp;
	char url[sizeof(c->url)];

	if (c == NULL)
		return cpk_client_new(cp, cfg, token_region, dl, reply);
	if (cpk_endpoint_resolve(cfg, token_region, url, sizeof(url), reply) < 0 ||
	    (cfg->ca_file != NULL && check_ca_file(cfg->ca_file, reply) < 0)) {
		cpk_client_free(c);
		*cp = NULL;
		return -1;
	}
	if (strcmp(url, c->url) != 0) {
		/* another region's endpoint: another connection */
		cpk_client_free(c);
		*cp = NULL;
		return cpk_client_new(cp, cfg, token_region, dl, reply);
	}
	c->dl = dl;
	c->before = NULL;
	c->before_ctx = NULL;
	c->quota = NULL;
	cpk_buf_wipe(&c->resp);
	c->hdr_request_id[0] = c->hdr_error_type[0] = '\0';
	c->hdr_retry_after[0] = c->hdr_amz_retry_after[0] = '\0';
	return 0;
}

void
cpk_client_free(struct cpk_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	cpk_buf_free(&c->resp);
	cpk_wipe(c, sizeof(*c));
	free(c);
}

void
cpk_client_set_before_request(struct cpk_client *c, cpk_before_request_fn fn, void *ctx)
{
	c->before = fn;
	c->before_ctx = ctx;
}

void
cpk_client_set_retry_quota(struct cpk_client *c, struct cpk_retry_quota *q)
{
	c->quota = q;
}

unsigned int
cpk_client_connections(const struct cpk_client *c)
{
	return c->connections;
}

/* ---------------------------------------------------------------------- */
/* one HTTP attempt, then the retry loop                                  */

static void
transport_error(struct cpk_client *c, CURLcode rc, struct cpk_reply *r)
{
	if (c->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		cpk_reply_set(r, "BodyTooLarge", false, "answer larger than %d bytes", CPK_MAX_BODY);
		return;
	}
	if (c->no_slot) {
		cpk_reply_set(r, "Timeout", true, "deadline reached waiting for a --rate slot");
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && cpk_deadline_remaining_ms(c->dl) < RETRY_MIN_LEFT_MS) {
		cpk_reply_set(r, "Timeout", true, "deadline reached: %s",
			      c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
		return;
	}
	if (rc == CURLE_SSL_CACERT_BADFILE) {
		/* replaced or broken since cpk_client_new() checked it */
		cpk_reply_set(r, "config_error", false, "ca_file: %s",
			      c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
		return;
	}
	cpk_reply_set(r, "TransportError", cpk_curl_error_retryable((int)rc), "%s",
		      c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
}

/*
 * An error answer: the code per doc/DESIGN.md, else "HTTP<status>".  Real
 * Cognito has been seen throttling with only {"message":"Rate exceeded"}
 * (aws-amplify/amplify-js#6767): name that what it is.
 */
static void
answer_error(struct cpk_client *c, long status, struct cpk_reply *r)
{
	cpk_parse_error(c->resp.p != NULL ? c->resp.p : "", c->resp.len,
			c->hdr_error_type[0] != '\0' ? c->hdr_error_type : NULL, r);
	if (r->code[0] == '\0' && strcmp(r->message, "Rate exceeded") == 0) {
		snprintf(r->code, sizeof(r->code), "TooManyRequestsException");
	} else if (r->code[0] == '\0') {
		snprintf(r->code, sizeof(r->code), "HTTP%ld", status);
		if (r->message[0] == '\0')
			snprintf(r->message, sizeof(r->message),
				 "HTTP %ld without an error code (%zu-byte body)", status, c->resp.len);
	}
	r->http_status = status;
	r->retryable = cpk_answer_retryable(r->code, status);
}

/* "Expect:" stops curl waiting for a 100-continue on larger bodies. */
static struct curl_slist *
request_headers(const char *op)
{
	const char *fixed[] = { "Content-Type: application/x-amz-json-1.1", "Expect:" };
	struct curl_slist *l = NULL, *t;
	char target[128];
	size_t i;

	snprintf(target, sizeof(target), "X-Amz-Target: " TARGET_PREFIX "%s", op);
	if ((l = curl_slist_append(NULL, target)) == NULL)
		return NULL;
	for (i = 0; i < CPK_ARRAY_SIZE(fixed); i++) {
		if ((t = curl_slist_append(l, fixed[i])) == NULL) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = t;
	}
	return l;
}

/* 0: a 2xx answer is in c->resp; -1: *r says what went wrong. */
static int
attempt(struct cpk_client *c, const char *op, const struct cpk_buf *req, struct cpk_reply *r)
{
	struct curl_slist *hdrs = NULL;
	long left, status = 0, nconn = 0;
	CURLcode rc;
	int ret = -1;

	cpk_buf_wipe(&c->resp);
	c->too_large = false;
	c->no_slot = false;
	c->hdr_request_id[0] = c->hdr_error_type[0] = c->errbuf[0] = '\0';
	if ((hdrs = request_headers(op)) == NULL) {
		cpk_reply_oom(r);
		goto out;
	}
	left = cpk_deadline_remaining_ms(c->dl);
	if (left <= 0) {
		cpk_reply_set(r, "Timeout", true, "deadline reached before the request");
		goto out;
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req->p);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, left);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms < left ? c->connect_ms : left);
	r->attempts++;
	rc = curl_easy_perform(c->curl);
	if (curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
		c->connections += (unsigned int)nconn;
	snprintf(r->request_id, sizeof(r->request_id), "%s", c->hdr_request_id);
	if (rc != CURLE_OK) {
		transport_error(c, rc, r);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	r->http_status = status;
	if (status >= 200 && status < 300) {
		ret = 0;
		goto out;
	}
	answer_error(c, status, r);
out:
	/* curl keeps these pointers: do not leave them dangling. */
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	return ret;
}

/*
 * The wait before another attempt: the backoff, or the server's own
 * Retry-After / x-amz-retry-after when it asks for longer.  -1: no retry,
 * because the deadline would not leave RETRY_MIN_LEFT_MS after the wait
 * (a hint beyond the deadline is never waited for) or the run's retry
 * quota cannot pay for it.  *paid is what the quota took.
 */
static long
retry_wait(struct cpk_client *c, unsigned int n, struct cpk_reply *r, unsigned int *paid)
{
	long delay = cpk_retry_delay_ms(n, r->code);
	long hint = cpk_retry_hint_ms(c->hdr_retry_after, c->hdr_amz_retry_after, time(NULL));

	if (hint > delay)
		delay = hint;
	if (cpk_deadline_remaining_ms(c->dl) - delay < RETRY_MIN_LEFT_MS)
		return -1;
	if (c->quota != NULL &&
	    (*paid = cpk_retry_quota_take(c->quota, strcmp(r->code, "Timeout") == 0)) == 0) {
		char last[sizeof(r->message)];

		snprintf(last, sizeof(last), "%s", r->message);
		cpk_reply_set(r, "retry_quota_exhausted", true,
			      "the run's retry quota is spent (last error %s: %.300s)", r->code, last);
		return -1;
	}
	return delay;
}

/*
 * AWS standard retry mode inside the shared deadline.  When no retry is
 * made (retry_wait), report the last error as it was (its code kept), so
 * that the caller sees e.g. "throttled", not a bare "Timeout".
 */
int
cpk_http_call(struct cpk_client *c, const char *op, const struct cpk_buf *req, struct cpk_reply *r)
{
	unsigned int n, paid = 0;
	long delay;

	for (n = 1;; n++) {
		if (cpk_deadline_expired(c->dl)) {
			if (n == 1)
				cpk_reply_set(r, "Timeout", true, "deadline reached before the request");
			return -1;
		}
		reply_reset_attempt(r);
		if (attempt(c, op, req, r) == 0) {
			if (c->quota != NULL)
				cpk_retry_quota_success(c->quota, paid);
			return 0;
		}
		if (!r->retryable || n >= c->max_attempts)
			return -1;
		if ((delay = retry_wait(c, n, r, &paid)) < 0)
			return -1;
		if (delay > 0)
			cpk_sleep_ms(delay);
	}
}

const char *
cpk_http_body(const struct cpk_client *c, size_t *len)
{
	*len = c->resp.len;
	return c->resp.p;
}

void
cpk_http_done(struct cpk_client *c)
{
	cpk_buf_wipe(&c->resp);
}
