/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Whose token is it: the rule of identity.h, in one place, so that the
 * claims check before any request and the GetUser check after connecting
 * can never disagree on what "alice's token" means.
 */
#include "identity.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
set_error(struct cpk_reply *reply, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_error(struct cpk_reply *reply, const char *code, const char *fmt, ...)
{
	va_list ap;

	memset(reply, 0, sizeof(*reply));
	snprintf(reply->code, sizeof(reply->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
}

/* Network text in a detail line: printable ASCII only, bounded. */
static void
printable(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < len; i++)
		dst[i] = src[i] > 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

int
cpk_identity_expected(const struct cpk_config *cfg, const struct passwd *pw,
		      char *out, size_t len)
{
	const char *tmpl = cpk_config_expect_username(cfg);
	char piece[32];
	const char *add;
	size_t pos = 0, n;

	if (tmpl == NULL)
		return 0;
	for (; *tmpl != '\0'; tmpl++) {
		piece[0] = *tmpl;
		piece[1] = '\0';
		add = piece;
		if (*tmpl == '%') {
			switch (*++tmpl) {
			case 'u': add = pw->pw_name; break;
			case 'h': add = pw->pw_dir; break;
			case 'U': snprintf(piece, sizeof(piece), "%lu", (unsigned long)pw->pw_uid); break;
			case '%': break;
			default: return -1;
			}
		}
		n = strlen(add);
		if (pos + n >= len)
			return -1;
		memcpy(out + pos, add, n);
		pos += n;
	}
	out[pos] = '\0';
	return 1;
}

int
cpk_identity_configured(const struct cpk_config *cfg, struct cpk_reply *reply)
{
	if (cpk_config_expect_username(cfg) != NULL || cfg->user_pool_id != NULL)
		return 0;
	set_error(reply, "identity_unverified",
		  "expect_username = none and no user_pool_id: nothing proves whose token it is");
	return -1;
}

int
cpk_identity_confirm(const struct cpk_config *cfg, const struct passwd *pw,
		     const char *username, const char *sub, const char *pinned_sub,
		     struct cpk_reply *reply)
{
	char want[256], got[96], a[64], b[64];
	int rule;

	memset(reply, 0, sizeof(*reply));
	if (cpk_identity_configured(cfg, reply) < 0)
		return -1;
	rule = cpk_identity_expected(cfg, pw, want, sizeof(want));
	if (rule < 0) {
		set_error(reply, "username_mismatch", "expect_username does not expand");
		return -1;
	}
	if (rule == 1 && (username == NULL || strcmp(username, want) != 0)) {
		printable(got, sizeof(got), username);
		set_error(reply, "username_mismatch",
			  "Cognito says the token belongs to '%s', not '%.64s'", got, want);
		return -1;
	}
	if (sub == NULL || sub[0] == '\0') {
		set_error(reply, "identity_unverified", "GetUser answered no sub attribute");
		return -1;
	}
	if (pinned_sub != NULL && strcmp(pinned_sub, sub) != 0) {
		printable(a, sizeof(a), sub);
		printable(b, sizeof(b), pinned_sub);
		set_error(reply, "identity_mismatch",
			  "the token is Cognito user %s, this revocation began with %s", a, b);
		return -1;
	}
	return 0;
}
