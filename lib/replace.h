/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Replace a file atomically: the one routine for every file we rewrite
 * (pending/<user> under state_dir, a user's token cache).
 */
#ifndef CPK_REPLACE_H
#define CPK_REPLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cpk_replace {
	/*
	 * The temp file's name.  NULL: a fresh random one (".cpk-<16 hex>.tmp"),
	 * for a directory where another writer may be at work at the same
	 * time (two sessions of a user refreshing one token cache).  Given:
	 * the caller holds a lock that excludes every other writer, so a file
	 * of that name is a killed run's leftover, and it is removed first
	 * (killed runs then leave at most one temp file behind, not one each).
	 */
	const char *tmp;
	mode_t mode;		/* the new file's permission bits (fchmod: no umask) */
	uid_t owner;		/* the temp file must come out owned by this uid */
	size_t max;		/* more bytes than this: EFBIG, nothing touched */
	bool newline;		/* write "\n" after the data (counted in max) */
	/*
	 * Hand the new file to give_uid:give_gid (fchown) before the rename:
	 * root writing a file that one user alone may read (a user's summary,
	 * store_summary.c).  The directory stays the caller's, so the new
	 * owner can neither replace nor remove the file.
	 */
	bool give;
	uid_t give_uid;
	gid_t give_gid;
};

/*
 * Write data to a temp file beside dirfd/name (O_CREAT|O_EXCL|O_NOFOLLOW,
 * never through a link, never over a file it did not create), check its
 * owner, set its mode, fsync it, rename it over name and fsync the
 * directory: a crash at any instant leaves the old file or the new one.
 * Runs with the caller's identity.  The temp file is removed on failure.
 * 0, or -1 with errno and the failing step in err ("rename: ...").
 */
int cpk_replace_file(int dirfd, const char *name, const void *data, size_t len,
		     const struct cpk_replace *how, char *err, size_t errlen);

#endif
