/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Atomic replacement of a file (replace.h).  The store and the token
 * cache each had their own copy; this one keeps the stricter rule of each:
 * O_EXCL temp file never reached through a link, its owner checked, its
 * mode set whatever the umask, a size cap, fsync of the file and of the
 * directory, every close checked, the temp file removed on failure.
 */
#include "replace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util.h"

#define TEMP_FLAGS	(O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)

/* err gets "<step>: <strerror>"; errno is kept for the caller. */
static void
step_error(char *err, size_t errlen, const char *step)
{
	int e = errno;

	snprintf(err, errlen, "%s: %s", step, strerror(e));
	errno = e;
}

/* A random name beside the file: O_EXCL, retried on a collision. */
static int
create_random(int dfd, char *name, size_t len)
{
	unsigned char rnd[8];
	int fd, tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		snprintf(name, len, ".cpk-%02x%02x%02x%02x%02x%02x%02x%02x.tmp", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		fd = openat(dfd, name, TEMP_FLAGS, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/* The caller's fixed name, under its lock: a leftover is a killed run's. */
static int
create_fixed(int dfd, const char *tmp, char *name, size_t len)
{
	if (cpk_snprintf(name, len, "%s", tmp) < 0)
		return -1;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -1;
	return openat(dfd, name, TEMP_FLAGS, 0600);
}

/* Fill the open temp file and make it durable. */
static int
fill(int fd, const void *data, size_t len, const struct cpk_replace *how, char *err,
     size_t errlen)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0) {
		step_error(err, errlen, "temporary file");
		return -1;
	}
	/* e.g. we could not take the user's identity: do not leave it */
	if (sb.st_uid != how->owner) {
		snprintf(err, errlen, "temporary file is not owned by uid %lu",
			 (unsigned long)how->owner);
		errno = EPERM;
		return -1;
	}
	if (fchmod(fd, how->mode) < 0 || cpk_write_all(fd, data, len) < 0 ||
	    (how->newline && cpk_write_all(fd, "\n", 1) < 0)) {
		step_error(err, errlen, "write");
		return -1;
	}
	/* after the write: the fd was opened by us, the mode is already set */
	if (how->give && fchown(fd, how->give_uid, how->give_gid) < 0) {
		step_error(err, errlen, "chown");
		return -1;
	}
	if (fsync(fd) < 0) {
		step_error(err, errlen, "write");
		return -1;
	}
	return 0;
}

int
cpk_replace_file(int dirfd, const char *name, const void *data, size_t len,
		 const struct cpk_replace *how, char *err, size_t errlen)
{
	char tmp[NAME_MAX + 1];
	bool created = false;
	int fd, rc = -1, e;

	/* what the reader would refuse must never be written */
	if (len > how->max || (how->newline && len == how->max)) {
		snprintf(err, errlen, "%zu bytes, more than %zu", len + how->newline, how->max);
		errno = EFBIG;
		return -1;
	}
	fd = how->tmp != NULL ? create_fixed(dirfd, how->tmp, tmp, sizeof(tmp))
			      : create_random(dirfd, tmp, sizeof(tmp));
	if (fd < 0) {
		step_error(err, errlen, "temporary file");
		return -1;
	}
	created = true;
	if (fill(fd, data, len, how, err, errlen) < 0)
		goto out;
	e = close(fd);
	fd = -1;
	if (e < 0) {
		step_error(err, errlen, "close");
		goto out;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		step_error(err, errlen, "rename");
		goto out;
	}
	created = false;
	if (fsync(dirfd) < 0) {
		step_error(err, errlen, "fsync of the directory");
		goto out;
	}
	rc = 0;
out:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (created)
		(void)unlinkat(dirfd, tmp, 0);
	errno = e;
	return rc;
}
