/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * state_dir/fleet-sync (fleet = etcd): the revision the last sync of this
 * host mirrored and when, so that -S can say how fresh the local mirror
 * is and say plainly when it is stale (no sync, no --follow heartbeat).
 * One small JSON document, root's, 0600, replaced atomically.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replace.h"

#define MARK_NAME	"fleet-sync"
#define MARK_MAX	4096

int
cpk_store_fleet_mark(struct cpk_store *st, int64_t revision, int64_t at, bool follow,
		     char *err, size_t errlen)
{
	const struct cpk_replace how = { .tmp = NULL, .mode = 0600, .owner = geteuid(),
					 .max = MARK_MAX, .newline = true };
	char text[160], why[CPK_ERR_LEN];

	snprintf(text, sizeof(text), "{\"version\":1,\"revision\":%lld,\"time\":%lld,"
		 "\"follow\":%s}", (long long)revision, (long long)at, follow ? "true" : "false");
	/* random temp name: the timer's --sync and --follow may both write */
	if (cpk_replace_file(st->dirfd, MARK_NAME, text, strlen(text), &how, why,
			     sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot write %s/" MARK_NAME ": %s", st->path, why);
		return -1;
	}
	return 0;
}

int
cpk_store_fleet_mark_read(struct cpk_store *st, struct cpk_fleet_mark *m)
{
	char buf[MARK_MAX + 1];
	json_object *doc = NULL, *v;
	struct stat sb;
	ssize_t got;
	int fd, rc = -1;

	memset(m, 0, sizeof(*m));
	fd = openat(st->dirfd, MARK_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > MARK_MAX)
		goto out;
	if ((got = read(fd, buf, MARK_MAX)) < 0)
		goto out;
	buf[got] = '\0';
	doc = cpk_store_parse_json(buf, (size_t)got);
	if (doc == NULL || cpk_store_get_int(doc, "revision", &m->revision) < 0 ||
	    cpk_store_get_int(doc, "time", &m->time) < 0)
		goto out;
	m->follow = json_object_object_get_ex(doc, "follow", &v) && json_object_get_boolean(v);
	rc = m->time > 0 ? 1 : -1;
out:
	json_object_put(doc);
	close(fd);
	return rc;
}
