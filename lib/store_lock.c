/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The per-user lock (store.h): flock on lock/<user>, a file that is never
 * renamed over or removed, so every writer of a user's pending file and
 * history waits on the same inode.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>


int
cpk_store_lock(struct cpk_store *st, const char *user, long wait_ms,
	       char *err, size_t errlen)
{
	struct timespec pause = { 0, 10 * 1000000L };
	struct cpk_deadline dl;
	int fd;

	if (cpk_store_check_user(user, err, errlen) < 0 ||
	    cpk_store_need_sub(st, SUB_LOCK, err, errlen) < 0)
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

