/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The one place that formats audit lines:
 *   event=passkey_deleted user=alice credential=AbC name="YubiKey 5C" ...
 * The prefix "pam_cognito_passkey(sshd:session): " is added by the sink:
 * pam_syslog adds it in the module, the syslog sink in the helper and the
 * command.  Values with spaces, quotes or control bytes are quoted and
 * escaped so that one event is always one line.
 *
 * No libcurl or json-c here: the PAM module links this.
 */
#ifndef CPK_AUDIT_H
#define CPK_AUDIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define CPK_AUDIT_MAX 2048

struct cpk_log {
	/* Receives the line without prefix; prio is a syslog priority. */
	void (*emit)(void *ctx, int prio, const char *line);
	void *ctx;
	char origin[96];	/* "sshd:session" or "passkey-revoke" */
	bool debug;
};

/* Sink to syslog(3), facility authpriv, prefix pam_cognito_passkey(origin). */
void cpk_log_init_syslog(struct cpk_log *log, const char *ident, const char *origin,
			 bool debug);

/*
 * Format an event line: "event=EVENT user=USER" then key/value pairs,
 * terminated by a NULL key; a NULL value skips its key.  Truncates with
 * "..." rather than fail.
 */
void cpk_audit_vformat(char *buf, size_t len, const char *event, const char *user, va_list ap);
void cpk_audit_format(char *buf, size_t len, const char *event, const char *user, ...)
	__attribute__((sentinel));

/* Format and emit one event. */
void cpk_audit(const struct cpk_log *log, int prio, const char *event, const char *user, ...)
	__attribute__((sentinel));

/* A free-form diagnostic (configuration errors, debug); never a token. */
void cpk_logmsg(const struct cpk_log *log, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
