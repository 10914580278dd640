/*
 * Revocation state under state_dir: pending requests, history, per-user
 * locks.  See store.h for the layout and the crash-safety rules.
 */
#include "store.h"
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#define PENDING_VERSION	1
#define HISTORY_MAX_LINE (1024 * 1024)

enum { SUB_PENDING, SUB_HISTORY, SUB_LOCK, SUB_COUNT };
static const char *const sub_names[SUB_COUNT] = { "pending", "history", "lock" };

struct cpk_store {
	char *path;
	int dirfd;
	int sub[SUB_COUNT];	/* -1 when absent and not creatable */
};

/* ---- directories ---------------------------------------------------- */

/*
 * A state directory must be ours alone: a directory (opened with
 * O_NOFOLLOW, so not a symlink), owned by root or by whoever runs us (tests
 * run without root), with no access for group or others.
 */
static int
check_dir(int fd, const char *what, char *err, size_t errlen)
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
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o is too open, must be 0700 (chmod 0700 %s)",
			 what, (unsigned int)(sb.st_mode & 07777), what);
		errno = EPERM;
		return -1;
	}
	return 0;
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
	return check_dir(st->dirfd, st->path, err, errlen);
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

static int
need_sub(const struct cpk_store *st, int sub, char *err, size_t errlen)
{
	if (st->sub[sub] >= 0)
		return 0;
	snprintf(err, errlen, "%s/%s: missing or not accessible", st->path, sub_names[sub]);
	errno = EACCES;
	return -1;
}

static int
check_user(const char *user, char *err, size_t errlen)
{
	if (cpk_user_name_valid(user))
		return 0;
	snprintf(err, errlen, "invalid user name");
	errno = EINVAL;
	return -1;
}

/* ---- lock ----------------------------------------------------------- */

int
cpk_store_lock(struct cpk_store *st, const char *user, long wait_ms,
	       char *err, size_t errlen)
{
	struct timespec pause = { 0, 10 * 1000000L };
	struct cpk_deadline dl;
	int fd;

	if (check_user(user, err, errlen) < 0 || need_sub(st, SUB_LOCK, err, errlen) < 0)
		return -1;
	fd = openat(st->sub[SUB_LOCK], user,
		    O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s/lock/%s: %s", st->path, user, strerror(errno));
		return -1;
	}
	cpk_deadline_init_ms(&dl, wait_ms > 0 ? wait_ms : 0);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "%s/lock/%s: %s", st->path, user, strerror(errno));
			break;
		}
		if (cpk_deadline_expired(&dl)) {
			snprintf(err, errlen, "another run holds the lock for %s", user);
			close(fd);
			errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	close(fd);
	return -1;
}

void
cpk_store_unlock(int lockfd)
{
	if (lockfd >= 0)
		close(lockfd);	/* releases the flock */
}

/* ---- requests ------------------------------------------------------- */

const char *
cpk_selector_name(enum cpk_selector sel)
{
	switch (sel) {
	case CPK_SEL_ALL: return "all";
	case CPK_SEL_IDS: return "ids";
	case CPK_SEL_NAME: return "name";
	case CPK_SEL_RP: return "rp";
	}
	return "?";
}

static int
selector_parse(const char *s, enum cpk_selector *sel)
{
	static const enum cpk_selector all[] = { CPK_SEL_ALL, CPK_SEL_IDS, CPK_SEL_NAME, CPK_SEL_RP };
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(all); i++) {
		if (strcmp(s, cpk_selector_name(all[i])) == 0) {
			*sel = all[i];
			return 0;
		}
	}
	return -1;
}

void
cpk_selector_describe(const struct cpk_request *r, char *buf, size_t len)
{
	switch (r->selector) {
	case CPK_SEL_NAME:
	case CPK_SEL_RP:
		snprintf(buf, len, "%s:%s", cpk_selector_name(r->selector),
			 r->pattern != NULL ? r->pattern : "");
		break;
	default:
		snprintf(buf, len, "%s", cpk_selector_name(r->selector));
		break;
	}
}

int
cpk_request_init(struct cpk_request *r, enum cpk_selector sel, const char *actor)
{
	unsigned char rnd[8];
	int64_t now = cpk_now();

	memset(r, 0, sizeof(*r));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	snprintf(r->id, sizeof(r->id), "r-%" PRId64 "-%02x%02x%02x%02x%02x%02x%02x%02x", now,
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	r->selector = sel;
	r->requested_at = now;
	r->actor = strdup(actor != NULL ? actor : "unknown");
	return r->actor != NULL ? 0 : -1;
}

void
cpk_request_free(struct cpk_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_ids; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r->pattern);
	free(r->reason);
	free(r->actor);
	free(r->last_error);
	free(r->last_detail);
	free(r->sub);
	memset(r, 0, sizeof(*r));
}

void
cpk_request_drop_id(struct cpk_request *r, size_t i)
{
	if (i >= r->n_ids)
		return;
	free(r->ids[i]);
	memmove(&r->ids[i], &r->ids[i + 1], (r->n_ids - i - 1) * sizeof(*r->ids));
	r->n_ids--;
}

static int
replace_string(char **dst, const char *src)
{
	char *copy = NULL;

	if (src != NULL && (copy = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

int
cpk_request_defer(struct cpk_request *r, const char *error, const char *detail, int64_t now)
{
	r->attempts++;
	r->last_attempt_at = now;
	if (replace_string(&r->last_error, error) < 0 ||
	    replace_string(&r->last_detail, detail) < 0)
		return -1;
	return 0;
}

int
cpk_pending_add(struct cpk_pending *p, struct cpk_request *r)
{
	struct cpk_request *items;

	if (p->n >= CPK_STORE_MAX_REQUESTS) {
		errno = ENOSPC;
		return -1;
	}
	items = realloc(p->items, (p->n + 1) * sizeof(*items));
	if (items == NULL)
		return -1;
	p->items = items;
	p->items[p->n++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

void
cpk_pending_remove(struct cpk_pending *p, size_t i)
{
	if (i >= p->n)
		return;
	cpk_request_free(&p->items[i]);
	memmove(&p->items[i], &p->items[i + 1], (p->n - i - 1) * sizeof(*p->items));
	p->n--;
}

void
cpk_pending_free(struct cpk_pending *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		cpk_request_free(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

/* ---- JSON helpers ----------------------------------------------------- */

/* A whole buffer as one JSON value; trailing white space only. */
static json_object *
parse_exact(const char *buf, size_t len)
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

/* A string member without embedded NUL; NULL when absent or null. */
static int
get_string(json_object *o, const char *key, bool required, const char **out)
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

static int
dup_string(json_object *o, const char *key, bool required, char **out)
{
	const char *s;

	if (get_string(o, key, required, &s) < 0)
		return -1;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return -1;
	return 0;
}

static int
get_int(json_object *o, const char *key, int64_t *out)
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

static int
add_string(json_object *o, const char *key, const char *value)
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

static int
add_int(json_object *o, const char *key, int64_t value)
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

/* ---- pending: parse and render ---------------------------------------- */

static int
parse_ids(json_object *o, struct cpk_request *r)
{
	json_object *arr, *v;
	size_t i, n;

	if (!json_object_object_get_ex(o, "ids", &arr) || !json_object_is_type(arr, json_type_array))
		return -1;
	n = json_object_array_length(arr);
	if (n > CPK_STORE_MAX_IDS)
		return -1;
	r->ids = calloc(n > 0 ? n : 1, sizeof(*r->ids));
	if (r->ids == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0 ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return -1;
		if ((r->ids[i] = strdup(json_object_get_string(v))) == NULL)
			return -1;
		r->n_ids++;
	}
	return 0;
}

static int
parse_request(json_object *o, struct cpk_request *r)
{
	const char *id, *sel;
	int64_t n;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object) ||
	    get_string(o, "id", true, &id) < 0 || strlen(id) >= sizeof(r->id) ||
	    get_string(o, "selector", true, &sel) < 0 || selector_parse(sel, &r->selector) < 0)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	/* other selectors hold the ids a run chose but has not recorded yet */
	if ((r->selector == CPK_SEL_IDS || json_object_object_get_ex(o, "ids", NULL)) &&
	    parse_ids(o, r) < 0)
		return -1;
	if ((r->selector == CPK_SEL_NAME || r->selector == CPK_SEL_RP) &&
	    (dup_string(o, "pattern", true, &r->pattern) < 0 || r->pattern[0] == '\0'))
		return -1;
	if (dup_string(o, "actor", true, &r->actor) < 0 ||
	    dup_string(o, "reason", false, &r->reason) < 0 ||
	    dup_string(o, "last_error", false, &r->last_error) < 0 ||
	    dup_string(o, "last_detail", false, &r->last_detail) < 0 ||
	    dup_string(o, "sub", false, &r->sub) < 0 ||
	    get_int(o, "requested_at", &r->requested_at) < 0 ||
	    get_int(o, "last_attempt_at", &r->last_attempt_at) < 0 ||
	    get_int(o, "attempts", &n) < 0 || n > UINT32_MAX)
		return -1;
	r->attempts = (unsigned int)n;
	return 0;
}

static int
parse_pending(const char *buf, size_t len, const char *user, struct cpk_pending *p)
{
	json_object *doc, *reqs;
	struct cpk_request r;
	const char *owner;
	int64_t version;
	size_t i, n;
	int rc = -1;

	doc = parse_exact(buf, len);
	if (doc == NULL || !json_object_is_type(doc, json_type_object))
		goto out;
	if (get_int(doc, "version", &version) < 0 || version != PENDING_VERSION ||
	    get_string(doc, "user", true, &owner) < 0 || strcmp(owner, user) != 0 ||
	    !json_object_object_get_ex(doc, "requests", &reqs) ||
	    !json_object_is_type(reqs, json_type_array))
		goto out;
	n = json_object_array_length(reqs);
	if (n > CPK_STORE_MAX_REQUESTS)
		goto out;
	for (i = 0; i < n; i++) {
		if (parse_request(json_object_array_get_idx(reqs, i), &r) < 0 ||
		    cpk_pending_add(p, &r) < 0) {
			cpk_request_free(&r);
			goto out;
		}
	}
	rc = 0;
out:
	json_object_put(doc);
	if (rc < 0)
		cpk_pending_free(p);
	return rc;
}

static json_object *
render_request(const struct cpk_request *r)
{
	json_object *o = json_object_new_object(), *arr;
	size_t i;

	if (o == NULL)
		return NULL;
	if (add_string(o, "id", r->id) < 0 ||
	    add_string(o, "selector", cpk_selector_name(r->selector)) < 0)
		goto fail;
	if (r->selector == CPK_SEL_IDS || r->n_ids > 0) {
		if ((arr = json_object_new_array()) == NULL)
			goto fail;
		json_object_object_add(o, "ids", arr);
		for (i = 0; i < r->n_ids; i++)
			if (json_object_array_add(arr, json_object_new_string(r->ids[i])) < 0)
				goto fail;
	}
	if (add_string(o, "pattern", r->pattern) < 0 ||
	    add_string(o, "reason", r->reason) < 0 ||
	    add_string(o, "actor", r->actor) < 0 ||
	    add_int(o, "requested_at", r->requested_at) < 0 ||
	    add_int(o, "attempts", r->attempts) < 0 ||
	    (r->last_attempt_at > 0 && add_int(o, "last_attempt_at", r->last_attempt_at) < 0) ||
	    add_string(o, "last_error", r->last_error) < 0 ||
	    add_string(o, "last_detail", r->last_detail) < 0 ||
	    add_string(o, "sub", r->sub) < 0)
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static json_object *
render_pending(const char *user, const struct cpk_pending *p)
{
	json_object *doc = json_object_new_object(), *arr, *r;
	size_t i;

	if (doc == NULL)
		return NULL;
	if (add_int(doc, "version", PENDING_VERSION) < 0 || add_string(doc, "user", user) < 0 ||
	    (arr = json_object_new_array()) == NULL)
		goto fail;
	json_object_object_add(doc, "requests", arr);
	for (i = 0; i < p->n; i++) {
		if ((r = render_request(&p->items[i])) == NULL)
			goto fail;
		if (json_object_array_add(arr, r) < 0) {
			json_object_put(r);
			goto fail;
		}
	}
	return doc;
fail:
	json_object_put(doc);
	return NULL;
}

/* ---- pending: files ------------------------------------------------- */

/* A regular file of at most max bytes; EBADMSG when it is not one. */
static int
read_all(int fd, size_t max, char **out, size_t *outlen)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -1;
	if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
		errno = EBADMSG;
		return -1;
	}
	if (cpk_read_capped(fd, max, out, outlen) < 0) {
		if (errno == EFBIG)
			errno = EBADMSG;
		return -1;
	}
	return 0;
}

int
cpk_pending_load(struct cpk_store *st, const char *user, struct cpk_pending *p,
		 char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = -1;

	memset(p, 0, sizeof(*p));
	if (check_user(user, err, errlen) < 0)
		return -1;
	if (st->sub[SUB_PENDING] < 0)
		return 0;	/* no pending directory: nothing pending */
	fd = openat(st->sub[SUB_PENDING], user,
		    O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ELOOP) {
			snprintf(err, errlen, "%s/pending/%s: %s", st->path, user, strerror(errno));
			return -1;
		}
	} else if (read_all(fd, CPK_STORE_MAX_FILE, &buf, &len) < 0 && errno != EBADMSG) {
		snprintf(err, errlen, "%s/pending/%s: %s", st->path, user, strerror(errno));
		goto out;
	}
	if (buf == NULL || parse_pending(buf, len, user, p) < 0) {
		/*
		 * Never renamed here: a reader without the lock must not change
		 * state, and the file must stay where the module's fast path
		 * sees it, so that the user stays a system error until an
		 * administrator resolves it (passkey-revoke --discard-corrupt).
		 */
		snprintf(err, errlen, "%s/pending/%s is corrupt (does not parse, or is not a "
			 "regular file of at most %d bytes)", st->path, user, CPK_STORE_MAX_FILE);
		errno = EBADMSG;
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int
cpk_pending_exists(struct cpk_store *st, const char *user)
{
	struct stat sb;

	if (!cpk_user_name_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	if (st->sub[SUB_PENDING] < 0)
		return 0;
	if (fstatat(st->sub[SUB_PENDING], user, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* Write text to dir/.tmp.<user>, fsync, rename over dir/<user>, fsync dir. */
static int
replace_file(int dir, const char *user, const char *text, size_t len)
{
	char tmp[64];
	int fd, e;

	snprintf(tmp, sizeof(tmp), ".tmp.%s", user);
	/* the lock is held: a leftover temp file is from a killed run */
	if (unlinkat(dir, tmp, 0) < 0 && errno != ENOENT)
		return -1;
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (cpk_write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlinkat(dir, tmp, 0);
		errno = e;
		return -1;
	}
	if (close(fd) < 0 || renameat(dir, tmp, dir, user) < 0) {
		e = errno;
		unlinkat(dir, tmp, 0);
		errno = e;
		return -1;
	}
	return fsync(dir);
}

int
cpk_pending_save(struct cpk_store *st, const char *user, const struct cpk_pending *p,
		 char *err, size_t errlen)
{
	json_object *doc = NULL;
	const char *text;
	char *line = NULL;
	int rc = -1;

	if (check_user(user, err, errlen) < 0 || need_sub(st, SUB_PENDING, err, errlen) < 0)
		return -1;
	if (p->n == 0) {
		if (unlinkat(st->sub[SUB_PENDING], user, 0) < 0 && errno != ENOENT)
			goto fail;
		if (fsync(st->sub[SUB_PENDING]) < 0)
			goto fail;
		return 0;
	}
	doc = render_pending(user, p);
	if (doc == NULL)
		goto fail;
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL || asprintf(&line, "%s\n", text) < 0) {
		line = NULL;
		goto fail;
	}
	if (strlen(line) > CPK_STORE_MAX_FILE) {
		/* what the reader would call corrupt must never be written */
		snprintf(err, errlen, "refused: %s/pending/%s would be %zu bytes, more than the "
			 "%d a reader accepts; carry out or cancel the pending requests first",
			 st->path, user, strlen(line), CPK_STORE_MAX_FILE);
		errno = EFBIG;
		goto out;
	}
	if (replace_file(st->sub[SUB_PENDING], user, line, strlen(line)) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "cannot write %s/pending/%s: %s", st->path, user, strerror(errno));
out:
	free(line);
	json_object_put(doc);
	return rc;
}

/* ---- history -------------------------------------------------------- */

static json_object *
render_event(const struct cpk_event *ev)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (add_int(o, "time", ev->time) < 0 ||
	    add_string(o, "event", ev->event) < 0 ||
	    add_string(o, "request", ev->request) < 0 ||
	    add_string(o, "actor", ev->actor) < 0 ||
	    add_string(o, "run_by", ev->run_by) < 0 ||
	    add_string(o, "reason", ev->reason) < 0 ||
	    add_string(o, "selector", ev->selector) < 0 ||
	    add_string(o, "credential", ev->credential) < 0 ||
	    add_string(o, "name", ev->name) < 0 ||
	    add_string(o, "cognito_request", ev->cognito_request) < 0 ||
	    add_string(o, "error", ev->error) < 0 ||
	    add_string(o, "detail", ev->detail) < 0 ||
	    (ev->deleted >= 0 && add_int(o, "deleted", ev->deleted) < 0) ||
	    (ev->absent >= 0 && add_int(o, "absent", ev->absent) < 0) ||
	    (ev->failed >= 0 && add_int(o, "failed", ev->failed) < 0) ||
	    (ev->attempts >= 0 && add_int(o, "attempts", ev->attempts) < 0)) {
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

	if (check_user(user, err, errlen) < 0 || need_sub(st, SUB_HISTORY, err, errlen) < 0)
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

	if (!json_object_object_get_ex(o, key, &x) || get_int(o, key, &v) < 0)
		return -1;
	return v > LONG_MAX ? LONG_MAX : (long)v;
}

static int
parse_event(json_object *o, struct cpk_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!json_object_is_type(o, json_type_object) ||
	    get_int(o, "time", &ev->time) < 0 ||
	    get_string(o, "event", true, &ev->event) < 0 ||
	    get_string(o, "request", false, &ev->request) < 0 ||
	    get_string(o, "actor", false, &ev->actor) < 0 ||
	    get_string(o, "run_by", false, &ev->run_by) < 0 ||
	    get_string(o, "reason", false, &ev->reason) < 0 ||
	    get_string(o, "selector", false, &ev->selector) < 0 ||
	    get_string(o, "credential", false, &ev->credential) < 0 ||
	    get_string(o, "name", false, &ev->name) < 0 ||
	    get_string(o, "cognito_request", false, &ev->cognito_request) < 0 ||
	    get_string(o, "error", false, &ev->error) < 0 ||
	    get_string(o, "detail", false, &ev->detail) < 0)
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
	o = parse_exact(line, n);
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

	if (check_user(user, err, errlen) < 0)
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

/* ---- parsing from memory (tests/fuzz) ------------------------------ */

int
cpk_store_parse_pending(const char *buf, size_t len, const char *user, struct cpk_pending *p)
{
	memset(p, 0, sizeof(*p));
	return parse_pending(buf, len, user, p);
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
cpk_store_corrupt_file(struct cpk_store *st, const char *user, char *buf, size_t len)
{
	char prefix[64];
	struct dirent *de;
	int64_t best = -1, t, k, best_k = -1;
	size_t plen;
	char *end;
	DIR *d;
	int fd;

	if (!cpk_user_name_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	if (st->sub[SUB_PENDING] < 0)
		return 0;
	snprintf(prefix, sizeof(prefix), ".corrupt.%s.", user);
	plen = strlen(prefix);
	fd = fcntl(st->sub[SUB_PENDING], F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		errno = 0;
		t = strtoll(de->d_name + plen, &end, 10);
		k = 0;
		if (errno == 0 && *end == '.')
			k = strtoll(end + 1, &end, 10);
		if (errno != 0 || *end != '\0' || t < best || (t == best && k <= best_k))
			continue;
		best = t;
		best_k = k;
		snprintf(buf, len, "%s/pending/%s", st->path, de->d_name);
	}
	closedir(d);
	return best >= 0 ? 1 : 0;
}

/* ---- status: what passkey-revoke -S shows ------------------------------- */

/* cpk_history_fn: counts per credential, and the last terminal event. */
static int
summarize(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct cpk_user_status *us = ctx;

	us->any_history = true;
	if (ev->credential != NULL) {
		if (strcmp(ev->event, "deleted") == 0) {
			us->deleted++;
		} else if (strcmp(ev->event, "absent") == 0) {
			us->absent++;
		} else if (strcmp(ev->event, "failed") == 0) {
			us->failed++;
			snprintf(us->last_failure, sizeof(us->last_failure), "%s",
				 ev->error != NULL ? ev->error : "");
		}
		return 0;
	}
	if (strcmp(ev->event, "completed") == 0 || strcmp(ev->event, "failed") == 0 ||
	    strcmp(ev->event, "cancelled") == 0) {
		snprintf(us->state, sizeof(us->state), "%s",
			 strcmp(ev->event, "completed") == 0 ? "done" : ev->event);
		us->at = ev->time;
		/* e.g. token_writeback_failed: done, but the user must sign in again */
		snprintf(us->warning, sizeof(us->warning), "%s",
			 ev->error != NULL ? ev->error : "");
	}
	return 0;
}

static void
summarize_pending(const struct cpk_pending *p, struct cpk_user_status *us)
{
	int64_t latest = -1;
	size_t i;

	snprintf(us->state, sizeof(us->state), "pending");
	us->requests = p->n;
	us->since = p->items[0].requested_at;
	for (i = 0; i < p->n; i++) {
		const struct cpk_request *r = &p->items[i];

		if (r->requested_at < us->since)
			us->since = r->requested_at;
		if (r->attempts > us->attempts)
			us->attempts = r->attempts;
		if (r->last_error != NULL && r->last_attempt_at > latest) {
			latest = r->last_attempt_at;
			snprintf(us->last_error, sizeof(us->last_error), "%s", r->last_error);
		}
	}
}

int
cpk_store_user_status(struct cpk_store *st, const char *user, struct cpk_user_status *us,
		      struct cpk_pending *p, char *err, size_t errlen)
{
	struct cpk_pending own = { NULL, 0 }, *pend = p != NULL ? p : &own;
	bool in_place = false;
	int rc = -1;

	memset(us, 0, sizeof(*us));
	snprintf(us->state, sizeof(us->state), "none");
	if (st == NULL)
		return 0;
	if (cpk_pending_exists(st, user) == 1 &&
	    cpk_pending_load(st, user, pend, err, errlen) < 0) {
		if (errno != EBADMSG)
			goto out;
		in_place = true;
	}
	if (cpk_history_read(st, user, summarize, us, err, errlen) < 0)
		goto out;
	if (in_place)
		snprintf(us->corrupt, sizeof(us->corrupt), "%s/pending/%s", st->path, user);
	else if (cpk_store_corrupt_file(st, user, us->corrupt, sizeof(us->corrupt)) != 1)
		us->corrupt[0] = '\0';
	if (pend->n > 0)
		summarize_pending(pend, us);
	/* corrupt state stays visible until an administrator resolves it */
	if (us->corrupt[0] != '\0')
		snprintf(us->state, sizeof(us->state), "corrupt");
	rc = 0;
out:
	cpk_pending_free(&own);
	return rc;
}

bool
cpk_store_has_state(struct cpk_store *st, const char *user)
{
	struct cpk_user_status us;
	char err[CPK_ERR_LEN];

	if (st == NULL)
		return false;
	if (cpk_pending_exists(st, user) == 1)
		return true;
	memset(&us, 0, sizeof(us));
	return cpk_history_read(st, user, summarize, &us, err, sizeof(err)) == 0 && us.any_history;
}

int
cpk_store_discard_corrupt(struct cpk_store *st, const char *user, char *path, size_t len,
			  char *err, size_t errlen)
{
	struct cpk_pending p = { NULL, 0 };
	const char *name;
	int rc;

	if (check_user(user, err, errlen) < 0 || need_sub(st, SUB_PENDING, err, errlen) < 0)
		return -1;
	/* the file in place first: it is what keeps the module failing */
	if (cpk_pending_exists(st, user) == 1 &&
	    cpk_pending_load(st, user, &p, err, errlen) < 0) {
		if (errno != EBADMSG)
			return -1;
		name = user;
		snprintf(path, len, "%s/pending/%s", st->path, user);
	} else {
		cpk_pending_free(&p);
		rc = cpk_store_corrupt_file(st, user, path, len);
		if (rc <= 0) {
			if (rc < 0)
				snprintf(err, errlen, "%s/pending: %s", st->path, strerror(errno));
			return rc;
		}
		name = strrchr(path, '/') + 1;
	}
	if (unlinkat(st->sub[SUB_PENDING], name, 0) < 0 || fsync(st->sub[SUB_PENDING]) < 0) {
		snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 1;
}
