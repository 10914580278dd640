/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * history/<user> (store.h): append-only JSON lines, one event each.  A
 * crash may cut the last line: the next append starts on a line of its
 * own and readers skip what does not parse.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HISTORY_MAX_LINE (1024 * 1024)

static json_object *
render_event(const struct cpk_event *ev)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (cpk_store_add_int(o, "time", ev->time) < 0 ||
	    cpk_store_add_string(o, "event", ev->event) < 0 ||
	    cpk_store_add_string(o, "request", ev->request) < 0 ||
	    cpk_store_add_string(o, "actor", ev->actor) < 0 ||
	    cpk_store_add_string(o, "run_by", ev->run_by) < 0 ||
	    cpk_store_add_string(o, "reason", ev->reason) < 0 ||
	    cpk_store_add_string(o, "selector", ev->selector) < 0 ||
	    cpk_store_add_string(o, "credential", ev->credential) < 0 ||
	    cpk_store_add_string(o, "name", ev->name) < 0 ||
	    cpk_store_add_string(o, "cognito_request", ev->cognito_request) < 0 ||
	    cpk_store_add_string(o, "error", ev->error) < 0 ||
	    cpk_store_add_string(o, "detail", ev->detail) < 0 ||
	    cpk_store_add_string(o, "host", ev->host) < 0 ||
	    (ev->deleted >= 0 && cpk_store_add_int(o, "deleted", ev->deleted) < 0) ||
	    (ev->absent >= 0 && cpk_store_add_int(o, "absent", ev->absent) < 0) ||
	    (ev->failed >= 0 && cpk_store_add_int(o, "failed", ev->failed) < 0) ||
	    (ev->attempts >= 0 && cpk_store_add_int(o, "attempts", ev->attempts) < 0)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* A crash may have cut the last line: start ours on a line of its own. */
static bool
ends_mid_line(int fd)
{
	struct stat sb;
	char last;

	if (fstat(fd, &sb) < 0 || sb.st_size == 0)
		return false;
	return pread(fd, &last, 1, sb.st_size - 1) == 1 && last != '\n';
}

int
cpk_history_append(struct cpk_store *st, const char *user, const struct cpk_event *ev,
		   char *err, size_t errlen)
{
	json_object *o = NULL;
	const char *text;
	char *line = NULL;
	struct stat sb;
	int fd = -1, rc = -1;

	if (cpk_store_check_user(user, err, errlen) < 0 ||
	    cpk_store_need_sub(st, SUB_HISTORY, err, errlen) < 0)
		return -1;
	o = render_event(ev);
	text = o != NULL ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	if (text == NULL)
		goto fail;
	fd = openat(st->sub[SUB_HISTORY], user,
		    O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
		    0600);	/* RDWR: ends_mid_line() reads the last byte */
	if (fd < 0)
		goto fail;
	if (fstat(fd, &sb) < 0)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		errno = EBADF;
		goto fail;
	}
	if (asprintf(&line, "%s%s\n", ends_mid_line(fd) ? "\n" : "", text) < 0) {
		line = NULL;
		goto fail;
	}
	if (cpk_write_all(fd, line, strlen(line)) < 0 || fsync(fd) < 0)
		goto fail;
	rc = 0;
	cpk_summary_changed(st, user);
	goto out;
fail:
	snprintf(err, errlen, "cannot append to %s/history/%s: %s", st->path, user,
		 strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(line);
	json_object_put(o);
	return rc;
}

static long
get_count(json_object *o, const char *key)
{
	int64_t v;
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || cpk_store_get_int(o, key, &v) < 0)
		return -1;
	return v > LONG_MAX ? LONG_MAX : (long)v;
}

static int
parse_event(json_object *o, struct cpk_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!json_object_is_type(o, json_type_object) ||
	    cpk_store_get_int(o, "time", &ev->time) < 0 ||
	    cpk_store_get_string(o, "event", true, &ev->event) < 0 ||
	    cpk_store_get_string(o, "request", false, &ev->request) < 0 ||
	    cpk_store_get_string(o, "actor", false, &ev->actor) < 0 ||
	    cpk_store_get_string(o, "run_by", false, &ev->run_by) < 0 ||
	    cpk_store_get_string(o, "reason", false, &ev->reason) < 0 ||
	    cpk_store_get_string(o, "selector", false, &ev->selector) < 0 ||
	    cpk_store_get_string(o, "credential", false, &ev->credential) < 0 ||
	    cpk_store_get_string(o, "name", false, &ev->name) < 0 ||
	    cpk_store_get_string(o, "cognito_request", false, &ev->cognito_request) < 0 ||
	    cpk_store_get_string(o, "error", false, &ev->error) < 0 ||
	    cpk_store_get_string(o, "detail", false, &ev->detail) < 0 ||
	    cpk_store_get_string(o, "host", false, &ev->host) < 0)
		return -1;
	ev->deleted = get_count(o, "deleted");
	ev->absent = get_count(o, "absent");
	ev->failed = get_count(o, "failed");
	ev->attempts = get_count(o, "attempts");
	return 0;
}

/*
 * One history line of n bytes (its newline, if any, included): fn is
 * called when it is a well-formed event.  Returns 1 when fn asks to stop.
 */
static int
history_line(char *line, size_t n, cpk_history_fn fn, void *ctx)
{
	struct cpk_event ev;
	json_object *o;
	int stop = 0;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0 || n > HISTORY_MAX_LINE || strlen(line) != n)
		return 0;
	o = cpk_store_parse_json(line, n);
	if (o == NULL)
		return 0;
	if (parse_event(o, &ev) == 0 && fn(ctx, line, &ev) != 0)
		stop = 1;
	json_object_put(o);
	return stop;
}

int
cpk_history_read(struct cpk_store *st, const char *user, cpk_history_fn fn, void *ctx,
		 char *err, size_t errlen)
{
	FILE *fp = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int fd, rc = -1;

	if (cpk_store_check_user(user, err, errlen) < 0)
		return -1;
	if (st->sub[SUB_HISTORY] < 0)
		return 0;
	fd = openat(st->sub[SUB_HISTORY], user,
		    O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		goto fail;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		goto fail;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		if (history_line(line, (size_t)n, fn, ctx))
			break;
	}
	if (ferror(fp))
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "%s/history/%s: %s", st->path, user, strerror(errno));
out:
	if (fp != NULL)
		fclose(fp);
	free(line);
	return rc;
}

int
cpk_store_parse_history(const char *buf, size_t len, cpk_history_fn fn, void *ctx)
{
	const char *at = buf, *end = buf + len, *nl;
	char *line;
	size_t n;
	int stop;

	while (at < end) {
		nl = memchr(at, '\n', (size_t)(end - at));
		n = nl != NULL ? (size_t)(nl - at) : (size_t)(end - at);
		if ((line = malloc(n + 1)) == NULL)
			return -1;
		memcpy(line, at, n);
		line[n] = '\0';
		stop = history_line(line, n, fn, ctx);
		free(line);
		if (stop || nl == NULL)
			break;
		at = nl + 1;
	}
	return 0;
}
