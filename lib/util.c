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

int
cpk_state_path(const char *state_dir, const char *sub, const char *user,
	       char *out, size_t len)
{
	if (!cpk_user_name_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	return cpk_snprintf(out, len, "%s/%s/%s", state_dir, sub, user);
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
