/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The configuration file and the module arguments, split into settings
 * for cpk_config_apply (config.c), which checks and keeps each one.
 *
 * faillock.conf style: "key = value", full-line '#' comments, bare boolean
 * keys ("debug").  The PAM module parses the file on every session open,
 * so the usual line, a comment, costs one strchrnul() and a few compares:
 * the file is read with read(2) into a buffer on the stack, the search for
 * the end of a line also finds a NUL byte, and "file:line" is formatted
 * only when there is an error to report (tests/bench/RESULTS.md).
 */
#include "config.h"
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_SIZE	(64 * 1024)
/* The shipped file, fully commented, is about 5 KiB. */
#define CONF_STACK_SIZE	(8 * 1024)

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One line of the file, [p, p + n), neither blank nor a comment. */
static int
parse_line(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *p, size_t n,
	   const struct cpk_conf_origin *o, char *err, size_t errlen)
{
	char line[CPK_CONF_MAX_LINE + 1];
	char *eq, *key, *value = NULL;

	memcpy(line, p, n);
	line[n] = '\0';
	key = trim(line);
	eq = strchr(key, '=');
	if (eq != NULL) {
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (*value == '\0')
			return cpk_conf_refuse(err, errlen, o, "%s: missing value", key);
	}
	return cpk_config_apply(cfg, fast, key, value, o, err, errlen);
}

/*
 * The file is root's: refuse one that another user could have written,
 * since it decides where tokens are sent.
 */
static int
check_conf_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: must be owned by root and not writable by group or others", path);
		return -1;
	}
	if (st.st_size > CONF_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CONF_MAX_SIZE);
		return -1;
	}
	return 0;
}

/* Blank or comment: what parse_line() would skip, without copying it. */
static bool
skippable(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p == end || *p == '#';
}

/*
 * Read fd to EOF, into stack (CONF_STACK_SIZE bytes) while the file fits,
 * else into *heap, up to CONF_MAX_SIZE; either is NUL-terminated.  0 with
 * *out and *outlen, or -1 with errno (EFBIG: too large).
 */
static int
read_conf(int fd, char *stack, char **heap, char **out, size_t *outlen)
{
	char *buf = stack;
	size_t len = 0, cap = CONF_STACK_SIZE - 1;	/* room for the NUL */
	ssize_t n;

	for (;;) {
		if (len == cap) {
			if (buf != stack) {
				errno = EFBIG;
				return -1;
			}
			if ((*heap = malloc(CONF_MAX_SIZE + 2)) == NULL)
				return -1;
			memcpy(*heap, stack, len);
			buf = *heap;
			cap = CONF_MAX_SIZE + 1;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_MAX_SIZE) {
		errno = EFBIG;
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/*
 * A line too long, or with a NUL byte (p..nl stopped at one): the length
 * is judged first, on the whole line.
 */
static int
line_refused(const char *p, const char *nl, const char *end, const struct cpk_conf_origin *o,
	     char *err, size_t errlen)
{
	const char *eol = memchr(nl, '\n', (size_t)(end - nl));

	if ((size_t)((eol != NULL ? eol : end) - p) > CPK_CONF_MAX_LINE)
		return cpk_conf_refuse(err, errlen, o, "line longer than %d bytes", CPK_CONF_MAX_LINE);
	return cpk_conf_refuse(err, errlen, o, "NUL byte in line");
}

/* The lines of buf[0..len), which buf[len] == '\0' ends. */
static int
parse_lines(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *buf, size_t len,
	    const char *path, char *err, size_t errlen)
{
	struct cpk_conf_origin o = { .file = path };
	const char *p, *nl, *end = buf + len;
	unsigned int line = 0;
	size_t n;

	for (p = buf; p < end; p = nl + 1) {
		/* stops at a NUL byte too: the line that holds one is refused */
		nl = strchrnul(p, '\n');
		n = (size_t)(nl - p);
		line++;
		if (n > CPK_CONF_MAX_LINE || (*nl == '\0' && nl < end)) {
			o.line = line;
			return line_refused(p, nl, end, &o, err, errlen);
		}
		/* the usual line, a comment at column 0, in as few compares as may be */
		if (*p == '#' || n == 0 || skippable(p, nl))
			continue;
		o.line = line;
		if (parse_line(cfg, fast, p, n, &o, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Returns 0, 1 when the file is absent (ENOENT), -1 on error. */
static int
read_file(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *path,
	  char *err, size_t errlen)
{
	char stack[CONF_STACK_SIZE], *heap = NULL, *buf;
	size_t len;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (check_conf_file(fd, path, err, errlen) < 0)
		goto out;
	if (read_conf(fd, stack, &heap, &buf, &len) < 0) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: larger than %d bytes", path, CONF_MAX_SIZE);
		else
			snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	rc = parse_lines(cfg, fast, buf, len, path, err, errlen);
out:
	free(heap);
	close(fd);
	return rc;
}

/* Split "key=value" (or a bare "key") and apply it. */
static int
apply_argument(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *arg,
	       char *err, size_t errlen)
{
	struct cpk_conf_origin o = { .argument = arg };
	const char *eq = strchr(arg, '=');
	size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	char key[64];

	if (n == 0 || n >= sizeof(key))
		return cpk_conf_refuse(err, errlen, &o, "unknown key");
	memcpy(key, arg, n);
	key[n] = '\0';
	if (eq != NULL && eq[1] == '\0')
		return cpk_conf_refuse(err, errlen, &o, "%s: missing value", key);
	return cpk_config_apply(cfg, fast, key, eq != NULL ? eq + 1 : NULL, &o, err, errlen);
}

/* The file a `conf=` argument names, else path, else the default. */
static const char *
conf_file(const char *path, int argc, const char **argv, bool *explicit)
{
	const char *file = path;
	int i;

	*explicit = path != NULL;
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "conf=", 5) == 0) {
			file = argv[i] + 5;
			*explicit = true;
		}
	}
	return file != NULL ? file : CPK_DEFAULT_CONF;
}

/*
 * The one parse behind both loaders: the file, then the arguments on top.
 * cfg NULL: keep only what fast keeps.  *file is the file read.
 */
static int
parse_all(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *path,
	  int argc, const char **argv, const char **file, char *err, size_t errlen)
{
	bool explicit;
	char *copy;
	int i, rc;

	*file = conf_file(path, argc, argv, &explicit);
	if ((*file)[0] != '/') {
		snprintf(err, errlen, "conf: '%s' is not an absolute path", *file);
		return -1;
	}
	if (cfg != NULL) {
		if ((copy = strdup(*file)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(cfg->conf_path);
		cfg->conf_path = copy;
	}
	rc = read_file(cfg, fast, *file, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 1 && explicit) {
		snprintf(err, errlen, "%s: cannot open: %s", *file, strerror(ENOENT));
		return -1;
	}
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "conf=", 5) == 0)
			continue;
		if (apply_argument(cfg, fast, argv[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int
cpk_config_load(struct cpk_config *cfg, const char *path, int argc, const char **argv,
		char *err, size_t errlen)
{
	struct cpk_config_fast scratch;
	struct cpk_config_keys keys;
	const char *file;

	if (parse_all(cfg, &scratch, path, argc, argv, &file, err, errlen) < 0)
		return -1;
	/* cfg may hold settings from before (cpk_config_init's host_name) */
	cpk_config_keys_of(cfg, &keys);
	return cpk_config_check_keys(&keys, file, err, errlen);
}

int
cpk_config_load_fast(struct cpk_config_fast *fast, int argc, const char **argv,
		     char *err, size_t errlen)
{
	const char *file;

	/* the defaults of cpk_config_init that the fast path reads */
	memcpy(fast->state_dir, CPK_DEFAULT_STATE_DIR, sizeof(CPK_DEFAULT_STATE_DIR));
	fast->fail = CPK_FAIL_OPEN;
	fast->debug = false;
	memset(&fast->keys, 0, sizeof(fast->keys));
	fast->keys.fleet = CPK_FLEET_NONE;
	if (parse_all(NULL, fast, NULL, argc, argv, &file, err, errlen) < 0)
		return -1;
	return cpk_config_check_keys(&fast->keys, file, err, errlen);
}
