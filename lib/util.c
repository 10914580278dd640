/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Small helpers shared by every part of pam_cognito_passkey.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
cpk_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

void
cpk_free_secret(char *s)
{
	if (s == NULL)
		return;
	cpk_wipe(s, strlen(s));
	free(s);
}

bool
cpk_user_name_valid(const char *name)
{
	size_t i, len;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len == 0 || len > 32 || name[0] == '-' || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

bool
cpk_credential_id_valid(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	n = strlen(id);
	if (n == 0 || n > CPK_MAX_CREDENTIAL_ID)
		return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=") == n;
}

int
cpk_snprintf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Append s to out at *pos; false when it does not fit. */
static bool
append(char *out, size_t len, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	if (*pos + n >= len)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return true;
}

int
cpk_expand_template(const char *tmpl, const struct passwd *pw,
		    char *out, size_t len, char *err, size_t errlen)
{
	char num[24], one[2] = { 0, 0 };
	const char *p, *piece;
	size_t pos = 0;

	if (len == 0)
		return -1;
	out[0] = '\0';
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '%') {
			one[0] = *p;
			piece = one;
		} else {
			switch (*++p) {
			case 'h': piece = pw->pw_dir; break;
			case 'u': piece = pw->pw_name; break;
			case 'U':
				snprintf(num, sizeof(num), "%lu", (unsigned long)pw->pw_uid);
				piece = num;
				break;
			case '%': piece = "%"; break;
			default:
				snprintf(err, errlen, "'%s': unknown escape '%%%c' (use %%h, %%u, %%U or %%%%)",
					 tmpl, *p == '\0' ? ' ' : *p);
				return -1;
			}
		}
		if (!append(out, len, &pos, piece)) {
			snprintf(err, errlen, "'%s': expanded path too long", tmpl);
			return -1;
		}
	}
	if (out[0] != '/') {
		snprintf(err, errlen, "'%s': expands to a relative path", tmpl);
		return -1;
	}
	return 0;
}

/* a/b/c into out, as cpk_snprintf does "%s/%s/%s": -1 (ENAMETOOLONG) if it does not fit. */
static int
join3(char *out, size_t len, const char *a, const char *b, const char *c)
{
	size_t na = strlen(a), nb = strlen(b), nc = strlen(c);

	if (len == 0 || na + nb + nc + 2 >= len) {
		if (len > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, a, na);
	out[na] = '/';
	memcpy(out + na + 1, b, nb);
	out[na + 1 + nb] = '/';
	memcpy(out + na + nb + 2, c, nc + 1);
	return 0;
}

int
cpk_state_path(const char *state_dir, const char *sub, const char *user,
	       char *out, size_t len)
{
	if (!cpk_user_name_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	/* memcpy, not snprintf: the PAM module's fast path builds one per login */
	return join3(out, len, state_dir, sub, user);
}

int
cpk_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
cpk_read_capped(int fd, size_t max, char **out, size_t *outlen)
{
	size_t len = 0;
	ssize_t n;
	char *buf;
	int e;

	if ((buf = malloc(max + 2)) == NULL)
		return -1;
	while (len <= max) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		errno = EFBIG;
		goto fail;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
fail:
	e = errno;
	cpk_wipe(buf, max + 2);
	free(buf);
	errno = e;
	return -1;
}

int
cpk_strv_push(char ***v, size_t *n, const char *s)
{
	char **grown, *copy;

	if ((copy = strdup(s)) == NULL)
		return -1;
	grown = realloc(*v, (*n + 2) * sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		return -1;
	}
	grown[(*n)++] = copy;
	grown[*n] = NULL;
	*v = grown;
	return 0;
}

int
cpk_standard_fds(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			return -1;
	}
	return 0;
}

void
cpk_deadline_init_ms(struct cpk_deadline *dl, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &dl->end);
	dl->end.tv_sec += ms / 1000;
	dl->end.tv_nsec += (ms % 1000) * 1000000L;
	if (dl->end.tv_nsec >= 1000000000L) {
		dl->end.tv_sec++;
		dl->end.tv_nsec -= 1000000000L;
	}
}

long
cpk_deadline_remaining_ms(const struct cpk_deadline *dl)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(dl->end.tv_sec - now.tv_sec) * 1000L +
	     (dl->end.tv_nsec - now.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 0;
}

bool
cpk_deadline_expired(const struct cpk_deadline *dl)
{
	return cpk_deadline_remaining_ms(dl) == 0;
}

int64_t
cpk_now(void)
{
	return (int64_t)time(NULL);
}

void
cpk_format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/*
 * Length of the valid UTF-8 sequence at s (shortest form, no surrogates,
 * at most U+10FFFF) with its code point in *cp, or 0 when s does not
 * start one.
 */
static size_t
utf8_seq(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Characters a terminal would act on rather than show. */
static bool
control_char(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
	       c == 0x061c || (c >= 0x200e && c <= 0x200f) ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Bytes of the next piece of in, escaped (4 a byte) or as it is. */
static size_t
next_piece(const unsigned char *in, size_t *consumed, bool *escape)
{
	uint32_t c = 0;
	size_t n = utf8_seq(in, &c);

	if (n == 0) {
		*consumed = 1;
		*escape = true;
		return 4;
	}
	*consumed = n;
	*escape = control_char(c);
	return *escape ? 4 * n : n;
}

char *
cpk_printable(char *out, size_t len, const char *in)
{
	const unsigned char *p = (const unsigned char *)(in != NULL ? in : "");
	size_t o = 0, n, need, i;
	bool esc;

	if (len == 0)
		return out;
	while (*p != '\0') {
		need = next_piece(p, &n, &esc);
		if (o + need + 1 > len)
			break;	/* never half a character or half an escape */
		for (i = 0; i < n; i++) {
			if (esc)
				snprintf(out + o + 4 * i, 5, "\\x%02x", p[i]);
			else
				out[o + i] = (char)p[i];
		}
		o += need;
		p += n;
	}
	out[o] = '\0';
	return out;
}

size_t
cpk_printable_size(const char *in)
{
	const unsigned char *p = (const unsigned char *)(in != NULL ? in : "");
	size_t total = 1, n;
	bool esc;

	while (*p != '\0') {
		total += next_piece(p, &n, &esc);
		p += n;
	}
	return total;
}

char *
cpk_printable_dup(const char *in)
{
	size_t len = cpk_printable_size(in);
	char *out = malloc(len);

	return out != NULL ? cpk_printable(out, len, in) : NULL;
}
