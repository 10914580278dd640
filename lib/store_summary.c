/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * state_dir/summary/<user>: what a user may read of their own revocation
 * state without any privilege (passkey-revoke -S run by the user; the
 * command is not set-uid).  One JSON document: the status -S shows, the
 * pending requests, and the last SUMMARY_EVENTS history events.  It never
 * holds a token or anything of another user.
 *
 * Who may read it (doc/DESIGN.md, "A user's own status"): the file is
 * owned by the user, mode 0400, and written only by root, through the
 * atomic replace (replace.c) in summary/, which is root's and 0711, as is
 * state_dir: the user can open their file by name, list nothing, and can
 * neither replace nor remove it (the directory is not theirs).  Owner
 * rather than group: a "private" group is only as private as the group
 * database is today, and a member added tomorrow would read it; the uid
 * is the one thing that names the user alone.  The user may chmod their
 * own file and write to it: that changes only what they themselves see,
 * because no root process ever reads a summary (root reads pending/ and
 * history/), and the next change replaces the whole file.
 *
 * Every store writer (store_pending.c, store_history.c) calls
 * cpk_summary_changed() after a change, so the summary follows the state
 * whichever writer made it: the command, the helper, the sync.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replace.h"

#define SUMMARY_EVENTS	20
#define SUMMARY_MAX	(256 * 1024)

/* ---- writing (root) ----------------------------------------------------- */

/* The last SUMMARY_EVENTS history lines, oldest first. */
struct tail {
	char *line[SUMMARY_EVENTS];
	size_t next, n;
};

static int
tail_add(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct tail *t = ctx;
	char *copy = strdup(json);

	(void)ev;
	if (copy == NULL)
		return -1;
	free(t->line[t->next]);
	t->line[t->next] = copy;
	t->next = (t->next + 1) % SUMMARY_EVENTS;
	if (t->n < SUMMARY_EVENTS)
		t->n++;
	return 0;
}

static void
tail_free(struct tail *t)
{
	size_t i;

	for (i = 0; i < SUMMARY_EVENTS; i++)
		free(t->line[i]);
}

static json_object *
status_json(const struct cpk_user_status *us)
{
	json_object *o = json_object_new_object();

	if (o == NULL || cpk_store_add_string(o, "state", us->state) < 0 ||
	    cpk_store_add_int(o, "requests", (int64_t)us->requests) < 0 ||
	    cpk_store_add_int(o, "since", us->since) < 0 ||
	    cpk_store_add_int(o, "attempts", us->attempts) < 0 ||
	    cpk_store_add_string(o, "last_error", us->last_error) < 0 ||
	    cpk_store_add_int(o, "at", us->at) < 0 ||
	    cpk_store_add_string(o, "corrupt", us->corrupt) < 0 ||
	    cpk_store_add_int(o, "deleted", us->deleted) < 0 ||
	    cpk_store_add_int(o, "absent", us->absent) < 0 ||
	    cpk_store_add_int(o, "failed", us->failed) < 0 ||
	    cpk_store_add_string(o, "last_failure", us->last_failure) < 0 ||
	    cpk_store_add_string(o, "warning", us->warning) < 0 ||
	    cpk_store_add_string(o, "claimed_by", us->claimed_by) < 0 ||
	    cpk_store_add_string(o, "done_on", us->done_on) < 0 ||
	    cpk_store_add_int(o, "any_history", us->any_history) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The document, with the newest `events` history lines of t; NULL: ENOMEM. */
static char *
render(const char *user, const struct cpk_user_status *us, const struct cpk_pending *p,
       const struct tail *t, size_t events)
{
	json_object *doc = json_object_new_object(), *hist = json_object_new_array(), *v;
	char *pending = NULL, *copy = NULL;
	const char *text;
	size_t i;

	if (doc == NULL || hist == NULL || (pending = cpk_pending_render(user, p, true)) == NULL)
		goto out;
	json_object_object_add(doc, "version", json_object_new_int(1));
	cpk_store_add_string(doc, "user", user);
	cpk_store_add_int(doc, "updated_at", cpk_now());
	json_object_object_add(doc, "status", status_json(us));
	json_object_object_add(doc, "pending", json_tokener_parse(pending));
	for (i = t->n - events; i < t->n; i++) {
		/* oldest first: the ring starts at next once it is full */
		size_t k = (t->n < SUMMARY_EVENTS ? 0 : t->next) + i;

		if ((v = json_tokener_parse(t->line[k % SUMMARY_EVENTS])) != NULL)
			json_object_array_add(hist, v);
	}
	json_object_object_add(doc, "history", hist);
	hist = NULL;
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL)
		copy = strdup(text);
out:
	json_object_put(hist);
	json_object_put(doc);
	free(pending);
	return copy;
}

/* Write the document, dropping the oldest events until it fits. */
static int
write_summary(int dfd, const struct passwd *pw, const struct cpk_user_status *us,
	      const struct cpk_pending *p, const struct tail *t, char *err, size_t errlen)
{
	const struct cpk_replace how = { .tmp = NULL, .mode = 0400, .owner = geteuid(),
					 .max = SUMMARY_MAX, .newline = true, .give = true,
					 .give_uid = pw->pw_uid, .give_gid = pw->pw_gid };
	size_t events = t->n;
	char *text;
	int rc;

	for (;;) {
		if ((text = render(pw->pw_name, us, p, t, events)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		rc = cpk_replace_file(dfd, pw->pw_name, text, strlen(text), &how, err, errlen);
		free(text);
		if (rc == 0 || errno != EFBIG || events == 0)
			return rc;
		events /= 2;
	}
}

int
cpk_summary_update(struct cpk_store *st, const char *user, char *err, size_t errlen)
{
	struct cpk_pending p = { NULL, 0, 0 };
	struct cpk_user_status us;
	struct tail t;
	struct passwd *pw;
	int dfd = -1, rc = -1;

	/* only root hands a file to a user; root reads the state itself */
	if (geteuid() != 0)
		return 0;
	memset(&t, 0, sizeof(t));
	pw = getpwnam(user);
	if (pw == NULL || pw->pw_uid == 0 || strcmp(pw->pw_name, user) != 0) {
		/* gone from passwd: nobody may read what is left (uid reuse) */
		dfd = cpk_store_summary_dir(st, false, err, errlen);
		if (dfd >= 0 && unlinkat(dfd, user, 0) < 0 && errno != ENOENT)
			goto out;
		rc = 0;
		goto out;
	}
	if (cpk_store_user_status(st, user, &us, &p, err, errlen) < 0 ||
	    cpk_history_read(st, user, tail_add, &t, err, errlen) < 0 ||
	    (dfd = cpk_store_summary_dir(st, true, err, errlen)) < 0)
		goto out;
	rc = write_summary(dfd, pw, &us, &p, &t, err, errlen);
out:
	if (dfd >= 0)
		close(dfd);
	tail_free(&t);
	cpk_pending_free(&p);
	return rc;
}

void
cpk_summary_changed(struct cpk_store *st, const char *user)
{
	char err[CPK_ERR_LEN];
	int e = errno;

	/*
	 * The change itself stands whatever happens here: the summary is a
	 * view, and its updated_at tells a reader how old it is.
	 */
	(void)cpk_summary_update(st, user, err, sizeof(err));
	errno = e;
}

/* ---- reading (the user, no privilege) --------------------------------- */

/* A directory on the way: root's, not a link, writable by nobody else. */
static int
open_root_dir(int at, const char *name, char *err, size_t errlen)
{
	struct stat sb;
	/* O_PATH: search permission is all a user has on these (0711) */
	int fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), e;

	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", name, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &sb) < 0 || sb.st_uid != 0 || (sb.st_mode & 022) != 0) {
		snprintf(err, errlen, "%s: not root's alone (refused)", name);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* The file's bytes into *buf (NUL-terminated); the caller's own file only. */
static int
read_own(int dfd, const char *user, char **buf, char *err, size_t errlen)
{
	struct stat sb;
	ssize_t got;
	int fd = openat(dfd, user, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int rc = -1, e;

	*buf = NULL;
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "summary/%s: %s", user, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != getuid() ||
	    sb.st_size > SUMMARY_MAX) {
		snprintf(err, errlen, "summary/%s: not your summary (refused)", user);
		errno = EPERM;
		goto out;
	}
	if ((*buf = malloc((size_t)sb.st_size + 1)) == NULL)
		goto out;
	got = read(fd, *buf, (size_t)sb.st_size);
	if (got < 0) {
		snprintf(err, errlen, "summary/%s: %s", user, strerror(errno));
		goto out;
	}
	(*buf)[got] = '\0';
	rc = 0;
out:
	e = errno;
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
	}
	close(fd);
	errno = e;
	return rc;
}

static void
get_str(json_object *o, const char *key, char *buf, size_t len)
{
	const char *s = NULL;

	if (cpk_store_get_string(o, key, false, &s) == 0 && s != NULL)
		snprintf(buf, len, "%s", s);
}

static int64_t
get_int(json_object *o, const char *key)
{
	int64_t v = 0;

	return cpk_store_get_int(o, key, &v) == 0 ? v : 0;
}

static void
parse_status(json_object *o, struct cpk_user_status *us)
{
	get_str(o, "state", us->state, sizeof(us->state));
	us->requests = (size_t)get_int(o, "requests");
	us->since = get_int(o, "since");
	us->attempts = (unsigned int)get_int(o, "attempts");
	get_str(o, "last_error", us->last_error, sizeof(us->last_error));
	us->at = get_int(o, "at");
	get_str(o, "corrupt", us->corrupt, sizeof(us->corrupt));
	us->deleted = (long)get_int(o, "deleted");
	us->absent = (long)get_int(o, "absent");
	us->failed = (long)get_int(o, "failed");
	get_str(o, "last_failure", us->last_failure, sizeof(us->last_failure));
	get_str(o, "warning", us->warning, sizeof(us->warning));
	get_str(o, "claimed_by", us->claimed_by, sizeof(us->claimed_by));
	get_str(o, "done_on", us->done_on, sizeof(us->done_on));
	us->any_history = get_int(o, "any_history") != 0;
}

/* The document's parts, through the store's own parsers. */
static int
parse_summary(const char *buf, const char *user, struct cpk_summary *s, cpk_history_fn fn,
	      void *ctx)
{
	json_object *doc = cpk_store_parse_json(buf, strlen(buf)), *v, *hist;
	const char *name = NULL, *text;
	size_t i, n;
	int rc = -1;

	if (doc == NULL || !json_object_is_type(doc, json_type_object) ||
	    cpk_store_get_string(doc, "user", true, &name) < 0 || strcmp(name, user) != 0 ||
	    !json_object_object_get_ex(doc, "status", &v) ||
	    !json_object_is_type(v, json_type_object))
		goto out;
	parse_status(v, &s->status);
	s->updated_at = get_int(doc, "updated_at");
	if (json_object_object_get_ex(doc, "pending", &v) && v != NULL &&
	    (text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)) != NULL &&
	    cpk_store_parse_pending(text, strlen(text), user, &s->pending) < 0)
		goto out;
	if (json_object_object_get_ex(doc, "history", &hist) &&
	    json_object_is_type(hist, json_type_array)) {
		n = json_object_array_length(hist);
		for (i = 0; i < n && fn != NULL; i++) {
			v = json_object_array_get_idx(hist, i);
			text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
			if (text != NULL && cpk_store_parse_history(text, strlen(text), fn, ctx) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	json_object_put(doc);
	return rc;
}

int
cpk_summary_read(const char *state_dir, const char *user, struct cpk_summary *s,
		 cpk_history_fn fn, void *ctx, char *err, size_t errlen)
{
	char *buf = NULL;
	int sfd = -1, dfd = -1, rc = -1;

	memset(s, 0, sizeof(*s));
	snprintf(s->status.state, sizeof(s->status.state), "none");
	if (state_dir == NULL || state_dir[0] != '/') {
		snprintf(err, errlen, "state_dir must be an absolute path");
		return -1;
	}
	if ((sfd = open_root_dir(AT_FDCWD, state_dir, err, errlen)) < 0 ||
	    (dfd = open_root_dir(sfd, "summary", err, errlen)) < 0 ||
	    read_own(dfd, user, &buf, err, errlen) < 0) {
		/* nothing was ever recorded for this user on this host */
		if (errno == ENOENT)
			rc = 0;
		goto out;
	}
	if (parse_summary(buf, user, s, fn, ctx) < 0) {
		snprintf(err, errlen, "%s/summary/%s: does not parse", state_dir, user);
		goto out;
	}
	s->found = true;
	rc = 1;
out:
	if (rc < 0)
		cpk_pending_free(&s->pending);
	free(buf);
	if (dfd >= 0)
		close(dfd);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
