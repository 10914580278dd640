/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Small helpers shared by every part of pam_cognito_passkey: secret
 * wiping, user-name and path hygiene, and the run deadline.
 *
 * This file and util.c must not depend on libcurl or json-c: the PAM
 * module links them.
 */
#ifndef CPK_UTIL_H
#define CPK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <pwd.h>

#define CPK_PACKAGE "pam_cognito_passkey"
#define CPK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Overwrite a secret; the compiler may not elide it. */
void cpk_wipe(void *p, size_t n);
/* Wipe a NUL-terminated secret and free it; NULL is fine. */
void cpk_free_secret(char *s);

/*
 * A user name that is safe as a single path component under state_dir:
 * 1..32 bytes of [A-Za-z0-9._-], not starting with '-' or '.'.  Stricter
 * than shadow's rules on purpose: the name comes from PAM_USER.
 */
bool cpk_user_name_valid(const char *name);

/* The longest CredentialId we send (Cognito documents no limit). */
#define CPK_MAX_CREDENTIAL_ID	131072

/*
 * The one rule for a credential id, from a command line or a state file:
 * 1..CPK_MAX_CREDENTIAL_ID bytes of base64url (Cognito) or base64.
 */
bool cpk_credential_id_valid(const char *id);

/* snprintf into out that fails (-1, errno ENAMETOOLONG) instead of truncating. */
int cpk_snprintf(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Expand a path template: %h home, %u user name, %U uid, %% a percent.
 * The result must be absolute.  Returns 0, or -1 with a reason in err.
 */
int cpk_expand_template(const char *tmpl, const struct passwd *pw,
			char *out, size_t len, char *err, size_t errlen);

/*
 * state_dir/<sub>/<user>, e.g. the pending file the module's fast path
 * looks for.  The user name must pass cpk_user_name_valid().  0 or -1.
 */
int cpk_state_path(const char *state_dir, const char *sub, const char *user,
		   char *out, size_t len);

/* write(2) until done, through EINTR.  0, or -1 with errno. */
int cpk_write_all(int fd, const void *buf, size_t len);
/*
 * Read to EOF, at most max bytes, into a NUL-terminated malloc'd buffer
 * (a file that grew since fstat is still caught).  0, or -1 with errno
 * (EFBIG when there was more than max); a failed buffer is wiped, since
 * callers read secrets with it.
 */
int cpk_read_capped(int fd, size_t max, char **out, size_t *outlen);

/*
 * Append a copy of s to the string vector *v of *n entries, keeping it
 * NULL-terminated (free with cpk_argv_free).  0, or -1 on ENOMEM with *v
 * unchanged.
 */
int cpk_strv_push(char ***v, size_t *n, const char *s);

/*
 * Make sure descriptors 0, 1 and 2 are open (on /dev/null when not), so
 * that no file a program opens becomes someone's stdout.  0 or -1.
 */
int cpk_standard_fds(void);

/*
 * The one printable copy of outside text (a token's claims, a network
 * reply, a state file) for a terminal or a JSON document: valid UTF-8
 * characters that are printable pass; C0 controls, DEL, C1 controls
 * (U+0080..U+009F), bidirectional overrides and every byte that is not
 * part of a valid, shortest-form UTF-8 sequence become \xNN (the bytes),
 * so nothing can move the cursor, set a title or make invalid JSON.
 * Truncation keeps whole characters and whole escapes.  out gets at most
 * len - 1 bytes and is always NUL-terminated (len > 0).  Returns out.
 */
char *cpk_printable(char *out, size_t len, const char *in);
/* The size cpk_printable() needs to copy all of in. */
size_t cpk_printable_size(const char *in);
/* A malloc'd printable copy of all of in; NULL on ENOMEM. */
char *cpk_printable_dup(const char *in);

/* Monotonic deadline for all the network work of one run. */
struct cpk_deadline {
	struct timespec end;	/* CLOCK_MONOTONIC */
};
void cpk_deadline_init_ms(struct cpk_deadline *dl, long ms);
/* Milliseconds left, 0 when expired. */
long cpk_deadline_remaining_ms(const struct cpk_deadline *dl);
bool cpk_deadline_expired(const struct cpk_deadline *dl);

/* Wall clock, seconds since the epoch. */
int64_t cpk_now(void);
/* "2026-11-29T10:02:11Z" into buf (at least 21 bytes). */
void cpk_format_time(int64_t t, char *buf, size_t len);

#endif
