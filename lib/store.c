/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The store's own rooms (store.h has the layout and the crash-safety
 * rules): opening state_dir and its subdirectories, refusing them when
 * they are not ours alone, the checks and JSON helpers the other store
 * files share (store_int.h), and the listing of users.  The files
 * themselves live in store_pending.c (pending/<user>), store_history.c
 * (history/<user>) and store_lock.c (lock/<user>); store_request.c holds a
 * request in memory and store_status.c what passkey-revoke -S shows.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const sub_names[SUB_COUNT] = { "pending", "history", "lock" };

/* ---- directories ---------------------------------------------------- */

/*
 * A state directory must be ours alone: a directory (opened with
 * O_NOFOLLOW, so not a symlink), owned by root or by whoever runs us (tests
 * run without root), with no access for group or others.
 */
static int
check_dir_mode(int fd, const char *what, bool searchable, char *err, size_t errlen)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", what);
		errno = ENOTDIR;
		return -1;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %lu, must be owned by root",
			 what, (unsigned long)sb.st_uid);
		errno = EPERM;
		return -1;
	}
	/* searchable: 0711 as well, so that a user can reach summary/<user> */
	if ((sb.st_mode & 077) != 0 && !(searchable && (sb.st_mode & 077) == 011)) {
		snprintf(err, errlen, "%s: mode %04o is too open, must be 0700%s (chmod 0700 %s)",
			 what, (unsigned int)(sb.st_mode & 07777), searchable ? " or 0711" : "",
			 what);
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int
check_dir(int fd, const char *what, char *err, size_t errlen)
{
	return check_dir_mode(fd, what, false, err, errlen);
}

static int
open_dir_at(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* mkdir 0700 whatever the umask; an existing directory is fine. */
static int
make_dir_at(int at, const char *name)
{
	int fd;

	if (mkdirat(at, name, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	fd = open_dir_at(at, name);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0700) < 0) {
		close(fd);
		return -1;
	}
	fsync(at);
	close(fd);
	return 0;
}

static int
open_state_dir(struct cpk_store *st, int flags, char *err, size_t errlen)
{
	if ((flags & CPK_STORE_CREATE) && make_dir_at(AT_FDCWD, st->path) < 0) {
		snprintf(err, errlen, "cannot create state_dir %s: %s", st->path, strerror(errno));
		return -1;
	}
	st->dirfd = open_dir_at(AT_FDCWD, st->path);
	if (st->dirfd < 0) {
		int e = errno;
		struct stat sb;

		if (e == ELOOP || (e == ENOTDIR && lstat(st->path, &sb) == 0 && S_ISLNK(sb.st_mode)))
			snprintf(err, errlen, "state_dir %s: is a symlink (refused)", st->path);
		else
			snprintf(err, errlen, "state_dir %s: %s", st->path, strerror(e));
		errno = e;
		return -1;
	}
	return check_dir_mode(st->dirfd, st->path, true, err, errlen);
}

static int
open_subdirs(struct cpk_store *st, char *err, size_t errlen)
{
	char what[PATH_MAX];
	int i;

	for (i = 0; i < SUB_COUNT; i++) {
		snprintf(what, sizeof(what), "%s/%s", st->path, sub_names[i]);
		/* a reader without write access just sees no subdirectory */
		if (make_dir_at(st->dirfd, sub_names[i]) < 0 && errno != EACCES) {
			snprintf(err, errlen, "cannot create %s: %s", what, strerror(errno));
			return -1;
		}
		st->sub[i] = open_dir_at(st->dirfd, sub_names[i]);
		if (st->sub[i] < 0) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "%s: %s", what, strerror(errno));
			return -1;
		}
		if (check_dir(st->sub[i], what, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int
cpk_store_open(struct cpk_store **out, const char *state_dir, int flags,
	       char *err, size_t errlen)
{
	struct cpk_store *st;
	int i, e;

	*out = NULL;
	if (state_dir == NULL || state_dir[0] != '/') {
		snprintf(err, errlen, "state_dir must be an absolute path");
		errno = EINVAL;
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->path = strdup(state_dir)) == NULL) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->dirfd = -1;
	for (i = 0; i < SUB_COUNT; i++)
		st->sub[i] = -1;
	if (open_state_dir(st, flags, err, errlen) < 0 ||
	    open_subdirs(st, err, errlen) < 0) {
		e = errno;
		cpk_store_close(st);
		errno = e;
		return -1;
	}
	*out = st;
	return 0;
}

/*
 * state_dir/outbox (fleet = etcd only, so it is made on first use and not
 * by cpk_store_open: fleet = none keeps today's state_dir exactly).  The
 * same rules as every other subdirectory: O_NOFOLLOW, ours, 0700.
 */
int
cpk_store_outbox(struct cpk_store *st, bool create, char *err, size_t errlen)
{
	char what[PATH_MAX];
	int fd;

	snprintf(what, sizeof(what), "%s/outbox", st->path);
	if (create && make_dir_at(st->dirfd, "outbox") < 0) {
		snprintf(err, errlen, "cannot create %s: %s", what, strerror(errno));
		return -1;
	}
	if ((fd = open_dir_at(st->dirfd, "outbox")) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", what, strerror(e));
		errno = e;
		return -1;
	}
	if (check_dir(fd, what, err, errlen) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
cpk_store_close(struct cpk_store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < SUB_COUNT; i++)
		if (st->sub[i] >= 0)
			close(st->sub[i]);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->path);
	free(st);
}

const char *
cpk_store_path(const struct cpk_store *st)
{
	return st->path;
}

int
cpk_store_need_sub(const struct cpk_store *st, int sub, char *err, size_t errlen)
{
	if (st->sub[sub] >= 0)
		return 0;
	snprintf(err, errlen, "%s/%s: missing or not accessible", st->path, sub_names[sub]);
	errno = EACCES;
	return -1;
}

int
cpk_store_check_user(const char *user, char *err, size_t errlen)
{
	if (cpk_user_name_valid(user))
		return 0;
	snprintf(err, errlen, "invalid user name");
	errno = EINVAL;
	return -1;
}

/* ---- JSON helpers (store_int.h) -------------------------------------- */

json_object *
cpk_store_parse_json(const char *buf, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;
	size_t end;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(16);
	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++) {
		if (buf[end] != ' ' && buf[end] != '\n' && buf[end] != '\t' && buf[end] != '\r') {
			json_object_put(obj);
			obj = NULL;
			break;
		}
	}
out:
	json_tokener_free(tok);
	return obj;
}

int
cpk_store_get_string(json_object *o, const char *key, bool required, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return required ? -1 : 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	if (strlen(*out) != (size_t)json_object_get_string_len(v))
		return -1;
	return 0;
}

int
cpk_store_dup_string(json_object *o, const char *key, bool required, char **out)
{
	const char *s;

	if (cpk_store_get_string(o, key, required, &s) < 0)
		return -1;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return -1;
	return 0;
}

int
cpk_store_get_int(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return *out < 0 ? -1 : 0;
}

int
cpk_store_add_string(json_object *o, const char *key, const char *value)
{
	json_object *v;

	if (value == NULL)
		return 0;
	v = json_object_new_string(value);
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

int
cpk_store_add_int(json_object *o, const char *key, int64_t value)
{
	json_object *v = json_object_new_int64(value);

	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* ---- listing -------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
contains(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Add the valid user names of one directory to *v. */
static int
collect(int dirfd, char ***v, size_t *n)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (dirfd < 0)
		return 0;
	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!cpk_user_name_valid(de->d_name) || contains(*v, *n, de->d_name))
			continue;
		if (cpk_strv_push(v, n, de->d_name) < 0)
			goto fail;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	return -1;
}

int
cpk_store_users(struct cpk_store *st, char ***users, char *err, size_t errlen)
{
	size_t n = 0;
	char **v = calloc(1, sizeof(*v));

	*users = NULL;
	if (v == NULL || collect(st->sub[SUB_PENDING], &v, &n) < 0 ||
	    collect(st->sub[SUB_HISTORY], &v, &n) < 0) {
		snprintf(err, errlen, "%s: cannot list: %s", st->path, strerror(errno));
		cpk_argv_free(v);
		return -1;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	*users = v;
	return 0;
}


int
cpk_store_pending_users(struct cpk_store *st, char ***users, char *err, size_t errlen)
{
	size_t i, k = 0, n = 0;
	char **v = calloc(1, sizeof(*v));

	*users = NULL;
	/* only pending/ can name one: history-only users have no pending file */
	if (v == NULL || collect(st->sub[SUB_PENDING], &v, &n) < 0) {
		snprintf(err, errlen, "%s/pending: cannot list: %s", st->path, strerror(errno));
		cpk_argv_free(v);
		return -1;
	}
	/* what the module's fast path would see: pending/<user> exists (any type) */
	for (i = 0; i < n; i++) {
		if (cpk_pending_exists(st, v[i]) == 1)
			v[k++] = v[i];
		else
			free(v[i]);
	}
	v[k] = NULL;
	qsort(v, k, sizeof(*v), cmp_str);
	*users = v;
	return (int)k;
}

/*
 * state_dir/summary (store_summary.c), made on first use like outbox/.
 * It and state_dir itself are 0711: search without read, so that a user
 * reaches summary/<user> by its name and lists nothing; every other
 * subdirectory stays 0700.  Making it widens a 0700 state_dir to 0711
 * (the search bit only).
 */
int
cpk_store_summary_dir(struct cpk_store *st, bool create, char *err, size_t errlen)
{
	char what[PATH_MAX];
	struct stat sb;
	int fd = -1, e;

	snprintf(what, sizeof(what), "%s/summary", st->path);
	if (create && (make_dir_at(st->dirfd, "summary") < 0 ||
		       fstat(st->dirfd, &sb) < 0 ||
		       ((sb.st_mode & 07777) != 0711 && fchmod(st->dirfd, 0711) < 0))) {
		snprintf(err, errlen, "cannot create %s: %s", what, strerror(errno));
		return -1;
	}
	if ((fd = open_dir_at(st->dirfd, "summary")) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", what, strerror(e));
		errno = e;
		return -1;
	}
	if (create && fchmod(fd, 0711) < 0)
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
	else if (check_dir_mode(fd, what, true, err, errlen) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}
