/*
 * HTTPS awsJson1_1 client for the Cognito user-pool operations we need:
 * DeleteWebAuthnCredential, ListWebAuthnCredentials, GetUser,
 * GetTokensFromRefreshToken and InitiateAuth REFRESH_TOKEN_AUTH.
 *
 * Wire format (reference/cognito-wire-protocol.md): POST /, Content-Type
 * application/x-amz-json-1.1, X-Amz-Target
 * AWSCognitoIdentityProviderService.<Op>, a JSON body, no SigV4: these
 * operations are authorised by the token in the body alone.
 *
 * Secrets: request bodies are built here (not by json-c) in a buffer that is
 * wiped after the request; answer bodies are wiped after parsing, and so are
 * the json-c strings and the parser's scratch buffer that held a token.
 * Nothing here logs: callers get a struct cpk_reply and never a token.
 *
 * curl_global_init: libcurl wants it called once, before any thread uses
 * curl, and it is not thread-safe on older libcurl.  The only users of this
 * file are the helper and passkey-revoke (never the PAM module, which must
 * not link libcurl), so cpk_client_new() calls
 * curl_global_init(CURL_GLOBAL_DEFAULT) itself, exactly once per process,
 * under pthread_once.  We never call curl_global_cleanup: the process exits.
 */
#include "cognito.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509_vfy.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

#define TARGET_PREFIX		"AWSCognitoIdentityProviderService."
#define BACKOFF_BASE_MS		100L	/* transient: JS SDK DEFAULT_RETRY_DELAY_BASE */
#define BACKOFF_THROTTLE_MS	500L	/* throttling: THROTTLING_RETRY_DELAY_BASE */
#define BACKOFF_CAP_MS		20000L	/* MAXIMUM_RETRY_DELAY */
/* A retry needs at least this much of the deadline left after its delay. */
#define RETRY_MIN_LEFT_MS	100L
/* A server that keeps paging forever is broken; the deadline would stop it
 * too, but this stops it without burning the whole login deadline. */
#define MAX_PAGES		1000
#define MAX_TOKEN_LEN		65536

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

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
	struct buf resp;
	bool too_large;
	bool no_slot;		/* the rate wait ran into the deadline */
	char hdr_request_id[96];
	char hdr_error_type[256];	/* "Code:http://internal.amazon.com/..." */
	char errbuf[CURL_ERROR_SIZE];
};

/* ---------------------------------------------------------------------- */
/* buffers that may hold secrets: never realloc (it would leave a copy)    */

static void
buf_wipe(struct buf *b)
{
	cpk_wipe(b->p, b->cap);
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

static void
buf_free(struct buf *b)
{
	cpk_wipe(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX / 2 - b->len)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap > 0 ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	if ((p = malloc(cap)) == NULL)
		return -1;
	if (b->len > 0)
		memcpy(p, b->p, b->len);
	p[b->len] = '\0';
	cpk_wipe(b->p, b->cap);
	free(b->p);
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
buf_add(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* A JSON string literal.  Bytes >= 0x80 pass through (UTF-8). */
static int
buf_add_json_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u;

	if (buf_add(b, "\"", 1) < 0)
		return -1;
	for (u = (const unsigned char *)s; *u != '\0'; u++) {
		char esc[6] = { '\\', 'u', '0', '0', hex[*u >> 4], hex[*u & 0xf] };
		int rc;

		if (*u == '"' || *u == '\\') {
			esc[1] = (char)*u;
			rc = buf_add(b, esc, 2);
		} else if (*u < 0x20) {
			rc = buf_add(b, esc, 6);
		} else {
			rc = buf_add(b, (const char *)u, 1);
		}
		if (rc < 0)
			return -1;
	}
	return buf_add(b, "\"", 1);
}

/* ,"key":"value" (the leading comma unless first) */
static int
buf_add_member(struct buf *b, bool first, const char *key, const char *value)
{
	if ((!first && buf_add(b, ",", 1) < 0) || buf_add_json_string(b, key) < 0 ||
	    buf_add(b, ":", 1) < 0 || buf_add_json_string(b, value) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* replies                                                                */

static void
reply_reset_attempt(struct cpk_reply *r)
{
	unsigned int attempts = r->attempts;

	memset(r, 0, sizeof(*r));
	r->attempts = attempts;
}

static void
reply_set(struct cpk_reply *r, const char *code, bool retryable, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
reply_set(struct cpk_reply *r, const char *code, bool retryable, const char *fmt, ...)
{
	va_list ap;

	snprintf(r->code, sizeof(r->code), "%s", code);
	r->retryable = retryable;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

/* Keep printable ASCII only: codes and messages end up in audit lines. */
static void
copy_printable(char *dst, size_t len, const char *src, size_t n)
{
	size_t i, o = 0;

	if (len == 0)
		return;
	for (i = 0; i < n && src[i] != '\0' && o + 1 < len; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[o] = '\0';
}

/* ---------------------------------------------------------------------- */
/* classification and backoff                                             */

static const char *const throttling_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException",
	"RequestThrottledException", "TooManyRequestsException",
	"ProvisionedThroughputExceededException", "TransactionInProgressException",
	"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException",
	"RequestThrottled", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
};

/* botocore TransientRetryableChecker, plus InternalErrorException, which
 * Cognito sends with a 500 (we do not want to depend on the status). */
static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
	"InternalErrorException",
};

/* Never retried, whatever status they come with. */
static const char *const final_codes[] = {
	"NotAuthorizedException", "ResourceNotFoundException", "InvalidParameterException",
};

static bool
in_list(const char *code, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

bool
cpk_code_is_throttling(const char *code)
{
	return code != NULL && in_list(code, throttling_codes, CPK_ARRAY_SIZE(throttling_codes));
}

bool
cpk_answer_retryable(const char *code, long http_status)
{
	if (code == NULL)
		code = "";
	if (in_list(code, final_codes, CPK_ARRAY_SIZE(final_codes)))
		return false;
	if (cpk_code_is_throttling(code) || in_list(code, transient_codes, CPK_ARRAY_SIZE(transient_codes)))
		return true;
	return http_status == 429 || http_status == 500 || http_status == 502 ||
	       http_status == 503 || http_status == 504;
}

long
cpk_backoff_ms(unsigned int attempt, bool throttling, double r)
{
	long base = throttling ? BACKOFF_THROTTLE_MS : BACKOFF_BASE_MS;
	long ceiling = base;
	unsigned int i;

	if (attempt == 0)
		attempt = 1;
	for (i = 1; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	if (!(r >= 0.0))	/* also NaN */
		r = 0.0;
	if (r >= 1.0)
		r = 0.999999;
	return (long)(r * (double)ceiling);
}

/* Jitter needs no cryptographic quality, only independence across hosts. */
static double
random_unit(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
	}
	return (double)v / 4294967296.0;
}

static void
sleep_ms(long ms)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
		;
}

/* ---------------------------------------------------------------------- */
/* endpoint                                                               */

/* DNS suffix of the region's partition (botocore partitions.json). */
static const char *
partition_suffix(const char *region)
{
	static const struct {
		const char *prefix;
		const char *suffix;
	} parts[] = {
		{ "cn-", "amazonaws.com.cn" },
		{ "us-isob-", "sc2s.sgov.gov" },
		{ "us-isof-", "csp.hci.ic.gov" },
		{ "us-iso-", "c2s.ic.gov" },
		{ "eu-isoe-", "cloud.adc-e.uk" },
		{ "eusc-", "amazonaws.eu" },
	};
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(parts); i++)
		if (strncmp(region, parts[i].prefix, strlen(parts[i].prefix)) == 0)
			return parts[i].suffix;
	return "amazonaws.com";
}

int
cpk_endpoint_resolve(const struct cpk_config *cfg, const char *token_region,
		     char *out, size_t len, struct cpk_reply *reply)
{
	char err[CPK_ERR_LEN];
	const char *region;

	memset(reply, 0, sizeof(*reply));
	if (cfg->endpoint_url != NULL) {
		/* As the SDKs' endpoint rules: a custom endpoint and FIPS
		 * contradict each other; refuse rather than guess. */
		if (cfg->use_fips) {
			reply_set(reply, "InvalidEndpoint", false,
				  "use_fips and endpoint_url cannot be combined");
			return -1;
		}
		if (cpk_endpoint_url_check(cfg->endpoint_url, err, sizeof(err)) < 0) {
			reply_set(reply, "InvalidEndpoint", false, "%s", err);
			return -1;
		}
		if (cpk_snprintf(out, len, "%s", cfg->endpoint_url) < 0) {
			reply_set(reply, "InvalidEndpoint", false, "endpoint_url is too long");
			return -1;
		}
		return 0;
	}
	region = cfg->region != NULL ? cfg->region : token_region;
	if (region == NULL || !cpk_region_valid(region)) {
		reply_set(reply, "InvalidEndpoint", false, "%s",
			  region == NULL ? "no region: set region or endpoint_url" :
			  cfg->region != NULL ? "region is not a valid AWS region" :
			  "the token's issuer names no valid AWS region");
		return -1;
	}
	if (cpk_snprintf(out, len, "https://cognito-idp%s.%s.%s/", cfg->use_fips ? "-fips" : "",
			 region, partition_suffix(region)) < 0) {
		reply_set(reply, "InvalidEndpoint", false, "endpoint URL too long");
		return -1;
	}
	return 0;
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
	if (buf_add(&c->resp, ptr, n) < 0)
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
	copy_printable(out, len, v, end);
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
		return n;
	}
	if (!header_value(ptr, n, "x-amzn-RequestId", c->hdr_request_id, sizeof(c->hdr_request_id)))
		header_value(ptr, n, "x-amzn-ErrorType", c->hdr_error_type, sizeof(c->hdr_error_type));
	return n;
}

static bool
url_is_plain_http(const char *url)
{
	return strncmp(url, "http://", 7) == 0;
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
	const char *proto = url_is_plain_http(c->url) ? "http" : "https";
	/* Plain http is only ever to loopback: never through a proxy, where
	 * the token would leave the machine in clear text. */
	const char *proxy = (cfg->proxy != NULL && !url_is_plain_http(c->url)) ? cfg->proxy : "";
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_URL, c->url);
	SET(CURLOPT_PROTOCOLS_STR, proto);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, proto);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cfg->ca_file != NULL)
		SET(CURLOPT_CAINFO, cfg->ca_file);
	/* "" disables the proxy environment variables (https_proxy, ...);
	 * NOPROXY "" makes a configured proxy apply to every host whatever
	 * no_proxy says, "*" makes sure no proxy is used at all. */
	SET(CURLOPT_PROXY, proxy);
	SET(CURLOPT_NOPROXY, proxy[0] != '\0' ? "" : "*");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_USERAGENT, CPK_PACKAGE "/" PACKAGE_VERSION);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CPK_MAX_BODY);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
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
		reply_set(reply, "config_error", false, "ca_file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		reply_set(reply, "config_error", false, "ca_file %s: not a regular file", path);
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL) {
		reply_set(reply, "TransportError", false, "out of memory");
		goto out;
	}
	if (X509_STORE_load_file(store, path) != 1) {
		reply_set(reply, "config_error", false,
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
		reply_set(reply, "TransportError", false, "out of memory");
		goto out;
	}
	/* Refused here, before curl exists: no connection can be attempted. */
	if (cpk_endpoint_resolve(cfg, token_region, c->url, sizeof(c->url), reply) < 0)
		goto out;
	if (cfg->ca_file != NULL && check_ca_file(cfg->ca_file, reply) < 0)
		goto out;
	if (cpk_client_global_init() < 0) {
		reply_set(reply, "TransportError", false, "curl_global_init: %s",
			  curl_easy_strerror(curl_init_rc));
		goto out;
	}
	if ((c->curl = curl_easy_init()) == NULL) {
		reply_set(reply, "TransportError", false, "curl_easy_init failed");
		goto out;
	}
	c->dl = dl;
	c->connect_ms = (long)(cfg->connect_timeout > 0 ? cfg->connect_timeout : 3) * 1000L;
	c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 1;
	if ((rc = client_setopts(c, cfg)) != CURLE_OK) {
		reply_set(reply, "TransportError", false, "curl setup: %s", curl_easy_strerror(rc));
		goto out;
	}
	*out = c;
	c = NULL;
	ret = 0;
out:
	cpk_client_free(c);
	return ret;
}

void
cpk_client_free(struct cpk_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	buf_free(&c->resp);
	cpk_wipe(c, sizeof(*c));
	free(c);
}

void
cpk_client_set_before_request(struct cpk_client *c, cpk_before_request_fn fn, void *ctx)
{
	c->before = fn;
	c->before_ctx = ctx;
}

unsigned int
cpk_client_connections(const struct cpk_client *c)
{
	return c->connections;
}

/* ---------------------------------------------------------------------- */
/* one HTTP attempt, then the retry loop                                  */

static bool
curl_error_retryable(CURLcode rc)
{
	switch (rc) {
	/* TLS verification: a wrong CA or a wrong host never heals. */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	/* our own setup or our own callbacks */
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_WRITE_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_FILESIZE_EXCEEDED:
		return false;
	default:
		return true;
	}
}

static void
transport_error(struct cpk_client *c, CURLcode rc, struct cpk_reply *r)
{
	if (c->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		reply_set(r, "BodyTooLarge", false, "answer larger than %d bytes", CPK_MAX_BODY);
		return;
	}
	if (c->no_slot) {
		reply_set(r, "Timeout", true, "deadline reached waiting for a --rate slot");
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && cpk_deadline_remaining_ms(c->dl) < RETRY_MIN_LEFT_MS) {
		reply_set(r, "Timeout", true, "deadline reached: %s",
			  c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
		return;
	}
	if (rc == CURLE_SSL_CACERT_BADFILE) {
		/* replaced or broken since cpk_client_new() checked it */
		reply_set(r, "config_error", false, "ca_file: %s",
			  c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
		return;
	}
	reply_set(r, "TransportError", curl_error_retryable(rc), "%s",
		  c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
}

/*
 * An error answer: the code per DESIGN.md, else "HTTP<status>".  Real
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

static void
oom(struct cpk_reply *r)
{
	reply_set(r, "TransportError", false, "out of memory");
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
attempt(struct cpk_client *c, const char *op, const struct buf *req, struct cpk_reply *r)
{
	struct curl_slist *hdrs = NULL;
	long left, status = 0, nconn = 0;
	CURLcode rc;
	int ret = -1;

	buf_wipe(&c->resp);
	c->too_large = false;
	c->no_slot = false;
	c->hdr_request_id[0] = c->hdr_error_type[0] = c->errbuf[0] = '\0';
	if ((hdrs = request_headers(op)) == NULL) {
		oom(r);
		goto out;
	}
	left = cpk_deadline_remaining_ms(c->dl);
	if (left <= 0) {
		reply_set(r, "Timeout", true, "deadline reached before the request");
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
 * AWS standard retry mode inside the shared deadline.  When the next delay
 * would leave less than RETRY_MIN_LEFT_MS, stop and report the last error
 * as it was (its code kept), so that the caller sees e.g. "throttled", not
 * a bare "Timeout".
 */
static int
call(struct cpk_client *c, const char *op, const struct buf *req, struct cpk_reply *r)
{
	unsigned int n;
	long delay;

	for (n = 1;; n++) {
		if (cpk_deadline_expired(c->dl)) {
			if (n == 1)
				reply_set(r, "Timeout", true, "deadline reached before the request");
			return -1;
		}
		reply_reset_attempt(r);
		if (attempt(c, op, req, r) == 0)
			return 0;
		if (!r->retryable || n >= c->max_attempts)
			return -1;
		delay = cpk_backoff_ms(n, cpk_code_is_throttling(r->code), random_unit());
		if (cpk_deadline_remaining_ms(c->dl) - delay < RETRY_MIN_LEFT_MS)
			return -1;
		if (delay > 0)
			sleep_ms(delay);
	}
}

/* ---------------------------------------------------------------------- */
/* JSON answers                                                           */

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
	copy_printable(dst, len, src, n);
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
		copy_printable(reply->message, sizeof(reply->message), msg, strlen(msg));
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
cpk_token_syntax_valid(const char *token)
{
	size_t n;

	if (token == NULL || token[0] == '\0')
		return false;
	for (n = 0; token[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)token[n];

		if (n >= MAX_TOKEN_LEN)
			return false;
		if (!isalnum(ch) && ch != '_' && ch != '=' && ch != '.' && ch != '-')
			return false;
	}
	return true;
}

char *
cpk_secret_hash(const char *secret, const char *username, const char *client_id)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct buf msg = { NULL, 0, 0 };
	char *out = NULL;

	if (secret == NULL || username == NULL || client_id == NULL || strlen(secret) > INT_MAX)
		return NULL;
	if (buf_adds(&msg, username) < 0 || buf_adds(&msg, client_id) < 0)
		goto out;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.p, msg.len,
		 mac, &maclen) == NULL)
		goto out;
	/* 4 * ceil(32 / 3) = 44 characters and a NUL */
	if ((out = malloc(4 * ((maclen + 2) / 3) + 1)) == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
out:
	cpk_wipe(mac, sizeof(mac));
	buf_free(&msg);
	return out;
}

/* ---------------------------------------------------------------------- */
/* operations                                                             */

static void
reply_begin(struct cpk_reply *r)
{
	memset(r, 0, sizeof(*r));
}

static int
refuse_token(const char *token, const char *what, struct cpk_reply *r)
{
	if (cpk_token_syntax_valid(token))
		return 0;
	reply_set(r, "InvalidToken", false, "the %s is not a valid token (refused before sending)", what);
	return -1;
}

static bool
client_id_valid(const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '+')
			return false;
	return n >= 1 && n <= 128;
}

/*
 * Success of an operation without output: an empty body (what the API
 * reference says) or a JSON object ({}, what Smithy requires clients to
 * accept).  Anything else means we are not talking to Cognito.
 */
static bool
empty_output_valid(const char *body, size_t len)
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

int
cpk_delete_credential(struct cpk_client *c, const char *access_token,
		      const char *credential_id, struct cpk_reply *reply)
{
	struct buf req = { NULL, 0, 0 };
	int ret = -1;

	reply_begin(reply);
	if (refuse_token(access_token, "access token", reply) < 0)
		goto out;
	if (credential_id == NULL || strlen(credential_id) > CPK_MAX_CREDENTIAL_ID) {
		reply_set(reply, "InvalidParameterException", false,
			  "CredentialId longer than %d bytes (refused before sending)", CPK_MAX_CREDENTIAL_ID);
		goto out;
	}
	if (buf_adds(&req, "{") < 0 || buf_add_member(&req, true, "AccessToken", access_token) < 0 ||
	    buf_add_member(&req, false, "CredentialId", credential_id) < 0 || buf_adds(&req, "}") < 0) {
		oom(reply);
		goto out;
	}
	if (call(c, "DeleteWebAuthnCredential", &req, reply) < 0)
		goto out;
	if (!empty_output_valid(c->resp.p, c->resp.len)) {
		reply_set(reply, "InvalidResponse", false,
			  "DeleteWebAuthnCredential answered 2xx with a body that is not JSON");
		goto out;
	}
	ret = 0;
out:
	buf_free(&req);
	buf_wipe(&c->resp);
	return ret;
}

static int
list_page_request(struct buf *req, const char *access_token, const char *next_token)
{
	char max[32];

	snprintf(max, sizeof(max), ",\"MaxResults\":%d", CPK_LIST_PAGE);
	buf_wipe(req);
	if (buf_adds(req, "{") < 0 || buf_add_member(req, true, "AccessToken", access_token) < 0 ||
	    buf_adds(req, max) < 0 ||
	    (next_token != NULL && buf_add_member(req, false, "NextToken", next_token) < 0) ||
	    buf_adds(req, "}") < 0)
		return -1;
	return 0;
}

int
cpk_list_credentials(struct cpk_client *c, const char *access_token,
		     struct cpk_credential_list *out, struct cpk_reply *reply)
{
	struct buf req = { NULL, 0, 0 };
	char *next = NULL, *prev = NULL;
	unsigned int pages;
	int ret = -1;

	reply_begin(reply);
	out->items = NULL;
	out->n = 0;
	if (refuse_token(access_token, "access token", reply) < 0)
		goto out;
	for (pages = 0;; pages++) {
		if (pages >= MAX_PAGES) {
			reply_set(reply, "InvalidResponse", false, "more than %d pages", MAX_PAGES);
			goto out;
		}
		if (list_page_request(&req, access_token, prev) < 0) {
			oom(reply);
			goto out;
		}
		if (call(c, "ListWebAuthnCredentials", &req, reply) < 0)
			goto out;
		if (cpk_parse_credential_page(c->resp.p, c->resp.len, out, &next) < 0) {
			reply_set(reply, "InvalidResponse", false,
				  "ListWebAuthnCredentials answer is not a credential list");
			goto out;
		}
		buf_wipe(&c->resp);
		if (next == NULL)
			break;
		if (prev != NULL && strcmp(prev, next) == 0) {
			reply_set(reply, "InvalidResponse", false, "the same NextToken came back twice");
			goto out;
		}
		free(prev);
		prev = next;
		next = NULL;
	}
	ret = 0;
out:
	if (ret < 0)
		cpk_credential_list_free(out);
	free(prev);
	free(next);
	buf_free(&req);
	buf_wipe(&c->resp);
	return ret;
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
cpk_get_user_identity(struct cpk_client *c, const char *access_token, char **username,
		      char **sub, struct cpk_reply *reply)
{
	struct buf req = { NULL, 0, 0 };
	struct json_object *o = NULL;
	int ret = -1;

	reply_begin(reply);
	*username = NULL;
	if (sub != NULL)
		*sub = NULL;
	if (refuse_token(access_token, "access token", reply) < 0)
		goto out;
	if (buf_adds(&req, "{") < 0 || buf_add_member(&req, true, "AccessToken", access_token) < 0 ||
	    buf_adds(&req, "}") < 0) {
		oom(reply);
		goto out;
	}
	if (call(c, "GetUser", &req, reply) < 0)
		goto out;
	o = parse_json(c->resp.p, c->resp.len);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    dup_member(o, "Username", true, username) < 0 || (*username)[0] == '\0') {
		free(*username);
		*username = NULL;
		reply_set(reply, "InvalidResponse", false, "GetUser answer has no Username");
		goto out;
	}
	if (sub != NULL && user_sub(o, sub) < 0) {
		free(*username);
		*username = NULL;
		reply_set(reply, "InvalidResponse", false, "GetUser answer has no sub attribute");
		goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	buf_free(&req);
	buf_wipe(&c->resp);
	return ret;
}

int
cpk_get_user(struct cpk_client *c, const char *access_token, char **username,
	     struct cpk_reply *reply)
{
	return cpk_get_user_identity(c, access_token, username, NULL, reply);
}

static int
refresh_request(struct buf *req, enum cpk_refresh_api api, const char *refresh_token,
		const char *client_id, const char *secret, const char *username,
		struct cpk_reply *r)
{
	char *hash = NULL;
	int ret = -1;

	if (api == CPK_REFRESH_GET_TOKENS) {
		if (buf_adds(req, "{") < 0 || buf_add_member(req, true, "RefreshToken", refresh_token) < 0 ||
		    buf_add_member(req, false, "ClientId", client_id) < 0 ||
		    (secret != NULL && buf_add_member(req, false, "ClientSecret", secret) < 0) ||
		    buf_adds(req, "}") < 0)
			goto oom;
		return 0;
	}
	if (secret != NULL) {
		if (username == NULL || username[0] == '\0') {
			reply_set(r, "InvalidParameterException", false,
				  "SECRET_HASH needs the user name (refused before sending)");
			return -1;
		}
		if ((hash = cpk_secret_hash(secret, username, client_id)) == NULL)
			goto oom;
	}
	if (buf_adds(req, "{") < 0 || buf_add_member(req, true, "AuthFlow", "REFRESH_TOKEN_AUTH") < 0 ||
	    buf_add_member(req, false, "ClientId", client_id) < 0 ||
	    buf_adds(req, ",\"AuthParameters\":{") < 0 ||
	    buf_add_member(req, true, "REFRESH_TOKEN", refresh_token) < 0 ||
	    (hash != NULL && buf_add_member(req, false, "SECRET_HASH", hash) < 0) ||
	    buf_adds(req, "}}") < 0)
		goto oom;
	ret = 0;
	goto out;
oom:
	oom(r);
out:
	cpk_free_secret(hash);
	return ret;
}

int
cpk_refresh(struct cpk_client *c, enum cpk_refresh_api api, const char *refresh_token,
	    const char *client_id, const char *secret, const char *username,
	    struct cpk_tokens *out, struct cpk_reply *reply)
{
	struct buf req = { NULL, 0, 0 };
	const char *op = api == CPK_REFRESH_GET_TOKENS ? "GetTokensFromRefreshToken" : "InitiateAuth";
	int ret = -1;

	reply_begin(reply);
	memset(out, 0, sizeof(*out));
	if (refuse_token(refresh_token, "refresh token", reply) < 0)
		goto out;
	if (!client_id_valid(client_id)) {
		reply_set(reply, "InvalidParameterException", false,
			  "ClientId must be 1 to 128 of [A-Za-z0-9_+] (refused before sending)");
		goto out;
	}
	if (refresh_request(&req, api, refresh_token, client_id, secret, username, reply) < 0)
		goto out;
	if (call(c, op, &req, reply) < 0)
		goto out;
	if (cpk_parse_tokens(c->resp.p, c->resp.len, out) < 0) {
		reply_set(reply, "InvalidResponse", false, "%s answer has no usable AuthenticationResult", op);
		goto out;
	}
	ret = 0;
out:
	buf_free(&req);
	buf_wipe(&c->resp);
	return ret;
}
