/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Switching the file-system identity to a user and back, as Linux-PAM's
 * pam_modutil_drop_priv does: supplementary groups (initgroups), setfsgid,
 * setfsuid, each verified.  Real and effective ids stay root, so a signal
 * or a crash never leaves a process that the user could control; only
 * file access (open, path walk, create, rename) is done with the user's
 * rights, and root's CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH/CAP_FOWNER
 * leave the effective set while the fsuid is not 0.
 *
 * setfsuid/setfsgid act on the calling thread only, but glibc's setgroups
 * changes every thread of the process: drop and regain from one thread of
 * a single-threaded process (the helper, the command's workers).
 */
#ifndef CPK_PRIVS_H
#define CPK_PRIVS_H

#include <pwd.h>
#include <stdbool.h>
#include <sys/types.h>

struct cpk_privs {
	bool dropped;		/* the identity was switched: regain must run */
	uid_t old_fsuid;
	gid_t old_fsgid;
	int ngroups;		/* saved supplementary groups */
	gid_t *groups;
};

/*
 * Switch file-system identity to pw.  When the process is not root, or
 * pw is root, there is nothing to switch and nothing is done (p->dropped
 * stays false; regain is then a no-op), as in pam_modutil_drop_priv.
 * Returns 0, or -1 with errno set and the process's identity unchanged.
 * p must be zeroed (or fresh from a previous regain) before the call.
 */
int cpk_privs_drop(struct cpk_privs *p, const struct passwd *pw);

/*
 * Back to the saved identity, verified.  Returns 0, or -1 when the switch
 * back did not take: the caller must then stop touching files and exit.
 */
int cpk_privs_regain(struct cpk_privs *p);

/* The current file-system uid/gid (setfsuid(-1) trick), for tests. */
uid_t cpk_privs_fsuid(void);
gid_t cpk_privs_fsgid(void);

#endif
