/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Growable buffers for request and answer bodies (http.h), which may hold
 * secrets (a token in a request or an answer): they never realloc, which
 * would leave a copy behind in freed memory; every old block is wiped
 * before it is freed.
 */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void
cpk_buf_wipe(struct cpk_buf *b)
{
	cpk_wipe(b->p, b->cap);
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
cpk_buf_free(struct cpk_buf *b)
{
	cpk_wipe(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int
cpk_buf_reserve(struct cpk_buf *b, size_t extra)
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

int
cpk_buf_add(struct cpk_buf *b, const char *s, size_t n)
{
	if (cpk_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
cpk_buf_adds(struct cpk_buf *b, const char *s)
{
	return cpk_buf_add(b, s, strlen(s));
}
