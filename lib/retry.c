/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * When to try an operation again, and how long to wait first: AWS
 * "standard" retry mode (botocore, JS SDK v3) for the transport in http.c.
 *
 * An answer is retried for throttling, transient codes and 5xx; a curl
 * failure for anything that can heal (not a TLS verification failure, not
 * our own setup).  The delay is full-jitter exponential backoff, or the
 * server's Retry-After / x-amz-retry-after when that is longer.
 */
#include "http.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#define BACKOFF_BASE_MS		100L	/* transient: JS SDK DEFAULT_RETRY_DELAY_BASE */
#define BACKOFF_THROTTLE_MS	500L	/* throttling: THROTTLING_RETRY_DELAY_BASE */
#define BACKOFF_CAP_MS		20000L	/* MAXIMUM_RETRY_DELAY */

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

long
cpk_retry_delay_ms(unsigned int attempt, const char *code)
{
	return cpk_backoff_ms(attempt, cpk_code_is_throttling(code), random_unit());
}

/* A server's hint is bounded: the deadline bounds it anyway, and a day is
 * no hint. */
#define HINT_MAX_MS	(24L * 3600 * 1000)

static long
digits_value(const char *s, long max)
{
	long v = 0;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -1;
	for (; *s != '\0'; s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return max;
	}
	return v;
}

long
cpk_retry_hint_ms(const char *retry_after, const char *amz_retry_after, time_t now)
{
	long v;
	time_t at;

	if (amz_retry_after != NULL && (v = digits_value(amz_retry_after, HINT_MAX_MS)) >= 0)
		return v;
	if (retry_after == NULL || *retry_after == '\0')
		return -1;
	if ((v = digits_value(retry_after, HINT_MAX_MS / 1000)) >= 0)
		return v * 1000;
	/* an HTTP date (RFC 9110 section 10.2.3), parsed by libcurl */
	at = curl_getdate(retry_after, &now);
	if (at == (time_t)-1)
		return -1;
	if (at <= now)
		return 0;
	return at - now > HINT_MAX_MS / 1000 ? HINT_MAX_MS : (long)(at - now) * 1000;
}

void
cpk_sleep_ms(long ms)
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

bool
cpk_curl_error_retryable(int code)
{
	switch ((CURLcode)code) {
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
