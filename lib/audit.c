/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The one place that formats audit lines.  Every value that an attacker
 * may influence (user names, credential names from Cognito, error text)
 * passes through quote_value(), so one event is always exactly one
 * greppable line.
 */
#include "audit.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

struct buf {
	char *p;
	size_t len, pos;
	bool full;
};

/* Append n bytes, or end the line with "..." when they do not fit. */
static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->full || b->len < 4)
		return;
	/* invariant: pos + 4 <= len, so "..." always fits */
	if (b->pos + n + 4 > b->len) {
		memcpy(b->p + b->pos, "...", 4);
		b->full = true;
		return;
	}
	memcpy(b->p + b->pos, s, n);
	b->pos += n;
	b->p[b->pos] = '\0';
}

static bool
needs_quotes(const char *v)
{
	if (*v == '\0')
		return true;
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c >= 0x7f)
			return true;
	}
	return false;
}

/* Quote and escape; bytes outside printable ASCII become \xNN. */
static void
put_value(struct buf *b, const char *v)
{
	char esc[8];

	if (!needs_quotes(v)) {
		put(b, v, strlen(v));
		return;
	}
	put(b, "\"", 1);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(b, esc, 2);
		} else if (c < ' ' || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			put(b, esc, 4);
		} else {
			put(b, (const char *)&c, 1);
		}
	}
	put(b, "\"", 1);
}

static void
put_pair(struct buf *b, const char *key, const char *value)
{
	if (b->pos > 0)
		put(b, " ", 1);
	put(b, key, strlen(key));
	put(b, "=", 1);
	put_value(b, value);
}

void
cpk_audit_vformat(char *out, size_t len, const char *event, const char *user, va_list ap)
{
	struct buf b = { out, len, 0, false };
	const char *key, *value;

	if (len == 0)
		return;
	out[0] = '\0';
	put_pair(&b, "event", event);
	if (user != NULL)
		put_pair(&b, "user", user);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value != NULL)
			put_pair(&b, key, value);
	}
}

void
cpk_audit_format(char *out, size_t len, const char *event, const char *user, ...)
{
	va_list ap;

	va_start(ap, user);
	cpk_audit_vformat(out, len, event, user, ap);
	va_end(ap);
}

void
cpk_audit(const struct cpk_log *log, int prio, const char *event, const char *user, ...)
{
	char line[CPK_AUDIT_MAX];
	va_list ap;

	if (log == NULL || log->emit == NULL)
		return;
	va_start(ap, user);
	cpk_audit_vformat(line, sizeof(line), event, user, ap);
	va_end(ap);
	log->emit(log->ctx, prio, line);
}

void
cpk_logmsg(const struct cpk_log *log, int prio, const char *fmt, ...)
{
	char line[CPK_AUDIT_MAX];
	va_list ap;

	if (log == NULL || log->emit == NULL || (prio == LOG_DEBUG && !log->debug))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* free text may carry a newline from a file: keep one line */
	line[strcspn(line, "\r\n")] = '\0';
	log->emit(log->ctx, prio, line);
}

static void
emit_syslog(void *ctx, int prio, const char *line)
{
	const struct cpk_log *log = ctx;

	syslog(LOG_AUTHPRIV | prio, "%s(%s): %s", CPK_PACKAGE, log->origin, line);
}

void
cpk_log_init_syslog(struct cpk_log *log, const char *ident, const char *origin, bool debug)
{
	memset(log, 0, sizeof(*log));
	snprintf(log->origin, sizeof(log->origin), "%s", origin);
	log->debug = debug;
	log->emit = emit_syslog;
	log->ctx = log;
	openlog(ident, LOG_PID, LOG_AUTHPRIV);
}
