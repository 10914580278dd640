/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * pending/<user> (store.h): the document's parser and renderer, loading
 * it (a corrupt file stays where it is), saving it atomically under the
 * user's lock (cpk_replace_file), and the corrupt files an administrator
 * resolves.
 */
#include "store_int.h"
#include "replace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PENDING_VERSION	1

/* ---- parse and render ------------------------------------------------ */

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
		/* the command's rule for an id it accepts (util.h): a file that
		 * holds anything else was not written by us */
		if (!json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v) ||
		    !cpk_credential_id_valid(json_object_get_string(v)))
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
	    cpk_store_get_string(o, "id", true, &id) < 0 || strlen(id) >= sizeof(r->id) ||
	    cpk_store_get_string(o, "selector", true, &sel) < 0 ||
	    selector_parse(sel, &r->selector) < 0)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	/* other selectors hold the ids a run chose but has not recorded yet */
	if ((r->selector == CPK_SEL_IDS || json_object_object_get_ex(o, "ids", NULL)) &&
	    parse_ids(o, r) < 0)
		return -1;
	if ((r->selector == CPK_SEL_NAME || r->selector == CPK_SEL_RP) &&
	    (cpk_store_dup_string(o, "pattern", true, &r->pattern) < 0 || r->pattern[0] == '\0'))
		return -1;
	if (cpk_store_dup_string(o, "actor", true, &r->actor) < 0 ||
	    cpk_store_dup_string(o, "reason", false, &r->reason) < 0 ||
	    cpk_store_dup_string(o, "last_error", false, &r->last_error) < 0 ||
	    cpk_store_dup_string(o, "last_detail", false, &r->last_detail) < 0 ||
	    cpk_store_dup_string(o, "sub", false, &r->sub) < 0 ||
	    cpk_store_get_int(o, "requested_at", &r->requested_at) < 0 ||
	    cpk_store_get_int(o, "last_attempt_at", &r->last_attempt_at) < 0 ||
	    cpk_store_get_int(o, "attempts", &n) < 0 || n > UINT32_MAX)
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

	doc = cpk_store_parse_json(buf, len);
	if (doc == NULL || !json_object_is_type(doc, json_type_object))
		goto out;
	if (cpk_store_get_int(doc, "version", &version) < 0 || version != PENDING_VERSION ||
	    cpk_store_get_string(doc, "user", true, &owner) < 0 || strcmp(owner, user) != 0 ||
	    !json_object_object_get_ex(doc, "requests", &reqs) ||
	    !json_object_is_type(reqs, json_type_array) ||
	    cpk_store_get_int(doc, "fleet_revision", &p->fleet_revision) < 0)
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

/* the same parser on a buffer, with no file involved (tests/fuzz) */
int
cpk_store_parse_pending(const char *buf, size_t len, const char *user, struct cpk_pending *p)
{
	memset(p, 0, sizeof(*p));
	return parse_pending(buf, len, user, p);
}

static json_object *
render_request(const struct cpk_request *r)
{
	json_object *o = json_object_new_object(), *arr;
	size_t i;

	if (o == NULL)
		return NULL;
	if (cpk_store_add_string(o, "id", r->id) < 0 ||
	    cpk_store_add_string(o, "selector", cpk_selector_name(r->selector)) < 0)
		goto fail;
	if (r->selector == CPK_SEL_IDS || r->n_ids > 0) {
		if ((arr = json_object_new_array()) == NULL)
			goto fail;
		json_object_object_add(o, "ids", arr);
		for (i = 0; i < r->n_ids; i++)
			if (json_object_array_add(arr, json_object_new_string(r->ids[i])) < 0)
				goto fail;
	}
	if (cpk_store_add_string(o, "pattern", r->pattern) < 0 ||
	    cpk_store_add_string(o, "reason", r->reason) < 0 ||
	    cpk_store_add_string(o, "actor", r->actor) < 0 ||
	    cpk_store_add_int(o, "requested_at", r->requested_at) < 0 ||
	    cpk_store_add_int(o, "attempts", r->attempts) < 0 ||
	    (r->last_attempt_at > 0 &&
	     cpk_store_add_int(o, "last_attempt_at", r->last_attempt_at) < 0) ||
	    cpk_store_add_string(o, "last_error", r->last_error) < 0 ||
	    cpk_store_add_string(o, "last_detail", r->last_detail) < 0 ||
	    cpk_store_add_string(o, "sub", r->sub) < 0)
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static json_object *
render_pending(const char *user, const struct cpk_pending *p, bool fleet)
{
	json_object *doc = json_object_new_object(), *arr, *r;
	size_t i;

	if (doc == NULL)
		return NULL;
	if (cpk_store_add_int(doc, "version", PENDING_VERSION) < 0 ||
	    cpk_store_add_string(doc, "user", user) < 0 ||
	    (fleet && p->fleet_revision > 0 &&
	     cpk_store_add_int(doc, "fleet_revision", p->fleet_revision) < 0) ||
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

/* ---- the file ------------------------------------------------------ */

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
	if (cpk_store_check_user(user, err, errlen) < 0)
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

/* No request left: the file goes, so the module's fast path is a failed stat. */
static int
remove_pending(struct cpk_store *st, const char *user, char *err, size_t errlen)
{
	if ((unlinkat(st->sub[SUB_PENDING], user, 0) < 0 && errno != ENOENT) ||
	    fsync(st->sub[SUB_PENDING]) < 0) {
		snprintf(err, errlen, "cannot write %s/pending/%s: %s", st->path, user,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Under the user's lock, so the temp file can have a fixed name: one a
 * killed run left behind is removed by the next, instead of piling up.
 */
static int
write_pending(struct cpk_store *st, const char *user, const char *text, char *err,
	      size_t errlen)
{
	char tmp[64], why[CPK_ERR_LEN];
	struct cpk_replace how = {
		.tmp = tmp, .mode = 0600, .owner = geteuid(),
		.max = CPK_STORE_MAX_FILE, .newline = true,
	};
	int e;

	snprintf(tmp, sizeof(tmp), ".tmp.%s", user);
	if (cpk_replace_file(st->sub[SUB_PENDING], user, text, strlen(text), &how, why,
			     sizeof(why)) == 0)
		return 0;
	e = errno;
	if (e == EFBIG)
		/* what the reader would call corrupt must never be written */
		snprintf(err, errlen, "refused: %s/pending/%s would be %zu bytes, more than the "
			 "%d a reader accepts; carry out or cancel the pending requests first",
			 st->path, user, strlen(text) + 1, CPK_STORE_MAX_FILE);
	else
		snprintf(err, errlen, "cannot write %s/pending/%s: %s", st->path, user, why);
	errno = e;
	return -1;
}

int
cpk_pending_save(struct cpk_store *st, const char *user, const struct cpk_pending *p,
		 char *err, size_t errlen)
{
	char *text;
	int rc;

	if (cpk_store_check_user(user, err, errlen) < 0 ||
	    cpk_store_need_sub(st, SUB_PENDING, err, errlen) < 0)
		return -1;
	if (p->n == 0) {
		rc = remove_pending(st, user, err, errlen);
		goto out;
	}
	if ((text = cpk_pending_render(user, p, true)) == NULL) {
		snprintf(err, errlen, "cannot write %s/pending/%s: %s", st->path, user,
			 strerror(errno));
		return -1;
	}
	rc = write_pending(st, user, text, err, errlen);
	free(text);
out:
	if (rc == 0)
		cpk_summary_changed(st, user);
	return rc;
}

char *
cpk_pending_render(const char *user, const struct cpk_pending *p, bool fleet)
{
	json_object *doc = render_pending(user, p, fleet);
	const char *text;
	char *copy = NULL;

	if (doc == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL || (copy = strdup(text)) == NULL)
		errno = ENOMEM;
	json_object_put(doc);
	return copy;
}

/* ---- corrupt files ------------------------------------------------- */

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

int
cpk_store_discard_corrupt(struct cpk_store *st, const char *user, char *path, size_t len,
			  char *err, size_t errlen)
{
	struct cpk_pending p = { NULL, 0, 0 };
	const char *name;
	int rc;

	if (cpk_store_check_user(user, err, errlen) < 0 ||
	    cpk_store_need_sub(st, SUB_PENDING, err, errlen) < 0)
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
	cpk_summary_changed(st, user);
	return 1;
}
