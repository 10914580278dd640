/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the HTTPS awsJson1_1 transport under the Cognito
 * operations of cognito.c.  One POST of a JSON body to the client's
 * endpoint with X-Amz-Target, retried in AWS standard mode inside the
 * run's deadline; a 2xx answer's body is left in the client for the
 * caller to parse, every failure is a struct cpk_reply (cognito.h).
 *
 * The buffers here may hold secrets (tokens in a request, in an answer):
 * they never realloc, which would leave a copy behind, and are wiped.
 */
#ifndef CPK_HTTP_H
#define CPK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "cognito.h"

struct cpk_buf {
	char *p;
	size_t len;
	size_t cap;
};

#define CPK_BUF_INIT { NULL, 0, 0 }

/* Room for extra more bytes and a NUL.  0 or -1. */
int cpk_buf_reserve(struct cpk_buf *b, size_t extra);
int cpk_buf_add(struct cpk_buf *b, const char *s, size_t n);
int cpk_buf_adds(struct cpk_buf *b, const char *s);
/* Empty it, wiped, keeping the memory. */
void cpk_buf_wipe(struct cpk_buf *b);
void cpk_buf_free(struct cpk_buf *b);

void cpk_reply_set(struct cpk_reply *r, const char *code, bool retryable, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "TransportError", "out of memory". */
void cpk_reply_oom(struct cpk_reply *r);
/*
 * Outside text (a header, an error code or message) into a reply field:
 * the first n bytes of src, up to a NUL, as cpk_printable() escapes them,
 * since these fields end up in audit lines and on terminals.
 */
void cpk_reply_text(char *dst, size_t len, const char *src, size_t n);

/*
 * Operation op (e.g. "GetUser") with body req, retries and all.  0: a 2xx
 * answer, read it with cpk_http_body(); -1: *r says what went wrong.
 * Either way the caller ends with cpk_http_done(), which wipes the answer.
 */
int cpk_http_call(struct cpk_client *c, const char *op, const struct cpk_buf *req,
		  struct cpk_reply *r);
/* The last answer's body (NUL-terminated, maybe NULL when empty). */
const char *cpk_http_body(const struct cpk_client *c, size_t *len);
void cpk_http_done(struct cpk_client *c);

/* retry.c: the delay before attempt+1 (full jitter, cognito.h) and the wait. */
long cpk_retry_delay_ms(unsigned int attempt, const char *code);
/*
 * The wait a server asked for: x-amz-retry-after (milliseconds) first,
 * else Retry-After (delay-seconds, or an HTTP date relative to now).
 * Either may be "" (absent).  -1 when neither says anything usable.
 */
long cpk_retry_hint_ms(const char *retry_after, const char *amz_retry_after, time_t now);
void cpk_sleep_ms(long ms);
/* A curl failure (a CURLcode) that another attempt could get past. */
bool cpk_curl_error_retryable(int code);

#endif
