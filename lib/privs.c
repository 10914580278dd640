/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * File-system identity switch, modelled on Linux-PAM's
 * libpam/pam_modutil_priv.c.  setfsuid() and setfsgid() do not report
 * failure: they return the previous value whatever happens.  So every
 * change is made twice; the second call returns the value in force, which
 * must be the one asked for ("Two setfsuid() calls in a row are necessary
 * to check whether setfsuid() succeeded").
 */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>

uid_t
cpk_privs_fsuid(void)
{
	/* an invalid id changes nothing and returns the current one */
	return (uid_t)setfsuid((uid_t)-1);
}

gid_t
cpk_privs_fsgid(void)
{
	return (gid_t)setfsgid((gid_t)-1);
}

/* Set the fsuid to uid; *save gets the previous one.  0 or -1. */
static int
change_fsuid(uid_t uid, uid_t *save)
{
	uid_t prev = (uid_t)setfsuid(uid);

	if (save != NULL)
		*save = prev;
	if ((uid_t)setfsuid(uid) != uid) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int
change_fsgid(gid_t gid, gid_t *save)
{
	gid_t prev = (gid_t)setfsgid(gid);

	if (save != NULL)
		*save = prev;
	if ((gid_t)setfsgid(gid) != gid) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* Keep a copy of the supplementary groups to put back on regain. */
static int
save_groups(struct cpk_privs *p)
{
	int n;

	n = getgroups(0, NULL);
	if (n < 0)
		return -1;
	p->groups = calloc((size_t)n + 1, sizeof(gid_t));
	if (p->groups == NULL)
		return -1;
	n = getgroups(n, p->groups);
	if (n < 0) {
		free(p->groups);
		p->groups = NULL;
		return -1;
	}
	p->ngroups = n;
	return 0;
}

static void
forget_groups(struct cpk_privs *p)
{
	free(p->groups);
	p->groups = NULL;
	p->ngroups = 0;
}

int
cpk_privs_drop(struct cpk_privs *p, const struct passwd *pw)
{
	int saved_errno;

	if (p->dropped) {
		/* a second drop would save the user's identity as "old" */
		errno = EALREADY;
		return -1;
	}
	p->groups = NULL;
	p->ngroups = 0;
	/* Not root: nothing to switch.  Switching to root: nothing to do. */
	if (geteuid() != 0 || pw->pw_uid == 0)
		return 0;

	if (save_groups(p) != 0)
		return -1;
	if (initgroups(pw->pw_name, pw->pw_gid) != 0)
		goto fail_groups;
	if (change_fsgid(pw->pw_gid, &p->old_fsgid) != 0)
		goto fail_gid;
	if (change_fsuid(pw->pw_uid, &p->old_fsuid) != 0)
		goto fail_uid;
	p->dropped = true;
	return 0;

fail_uid:
	saved_errno = errno;
	(void)change_fsuid(p->old_fsuid, NULL);
	errno = saved_errno;
fail_gid:
	saved_errno = errno;
	(void)change_fsgid(p->old_fsgid, NULL);
	errno = saved_errno;
fail_groups:
	saved_errno = errno;
	(void)setgroups((size_t)p->ngroups, p->groups);
	forget_groups(p);
	errno = saved_errno;
	return -1;
}

int
cpk_privs_regain(struct cpk_privs *p)
{
	int rc = 0;

	if (!p->dropped)
		return 0;
	/* the reverse order of the drop, as pam_modutil_regain_priv */
	if (change_fsuid(p->old_fsuid, NULL) != 0)
		rc = -1;
	if (change_fsgid(p->old_fsgid, NULL) != 0)
		rc = -1;
	if (setgroups((size_t)p->ngroups, p->groups) != 0)
		rc = -1;
	if (rc == 0) {
		forget_groups(p);
		p->dropped = false;
	}
	return rc;
}
