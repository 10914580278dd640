/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Token-cache files as the sandbox users (tests/sandbox.sh), for the unit
 * tests of lib/token.c and the refresh tests against the emulator: the
 * same files, owners and identity checks in both (see tokfiles.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config.h"
#include "privs.h"
#include "token.h"
#include "util.h"
#include "testutil.h"
#include "tokfiles.h"

/* A copy of the sandbox user (kept for the process: getpwnam reuses its buffer). */
struct passwd *
user(const char *name)
{
	static struct passwd copies[4];
	static size_t n;
	struct passwd *pw;
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(copies[i].pw_name, name) == 0)
			return &copies[i];
	pw = getpwnam(name);
	ck_assert_msg(pw != NULL, "no user %s (run inside tests/sandbox.sh)", name);
	ck_assert_uint_lt(n, CPK_ARRAY_SIZE(copies));
	copies[n].pw_name = strdup(pw->pw_name);
	copies[n].pw_dir = strdup(pw->pw_dir);
	copies[n].pw_shell = strdup(pw->pw_shell);
	copies[n].pw_uid = pw->pw_uid;
	copies[n].pw_gid = pw->pw_gid;
	return &copies[n++];
}

void
put_file(const char *path, const char *content, size_t len, uid_t uid, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	ck_assert_int_eq(fchown(fd, uid, uid), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

void
put(const char *path, const char *content, uid_t uid, mode_t mode)
{
	put_file(path, content, strlen(content), uid, mode);
}

void
mkdir_owned(const char *path, uid_t uid, mode_t mode)
{
	ck_assert_msg(mkdir(path, mode) == 0 || errno == EEXIST, "mkdir %s", path);
	ck_assert_int_eq(chown(path, uid, uid), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

char *
read_all(const char *path)
{
	char *buf = calloc(1, CPK_TOKEN_MAX_FILE + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, CPK_TOKEN_MAX_FILE);
	ck_assert_int_ge(n, 0);
	close(fd);
	return buf;
}

/* Our identity must be back to root after every call. */
static gid_t groups_before[NGROUPS_MAX];
static int ngroups_before;

void
assert_root_again(void)
{
	gid_t g[NGROUPS_MAX];
	int n = getgroups(NGROUPS_MAX, g);

	ck_assert_int_eq(cpk_privs_fsuid(), 0);
	ck_assert_int_eq(cpk_privs_fsgid(), 0);
	ck_assert_int_eq(geteuid(), 0);
	ck_assert_int_eq(n, ngroups_before);
	ck_assert(memcmp(g, groups_before, (size_t)n * sizeof(gid_t)) == 0);
}

void
files_setup(void)
{
	ngroups_before = getgroups(NGROUPS_MAX, groups_before);
}

/* Load pw's cache at tmpl (a template); return the code, "" on success. */
const char *
load_code(const struct passwd *pw, const char *tmpl, struct cpk_token_cache **keep)
{
	struct cpk_config cfg;
	struct cpk_token_cache *tc = NULL;
	struct cpk_reply r;
	static char code_buf[96];
	int rc;

	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	cfg_set(&cfg, "token_cache", tmpl);
	memset(&r, 'X', sizeof(r));
	rc = cpk_token_load(&cfg, pw, &tc, &r);
	assert_root_again();
	if (rc == 0) {
		ck_assert_str_eq(r.code, "");
		if (keep != NULL)
			*keep = tc;
		else
			cpk_token_free(tc);
	} else {
		ck_assert_ptr_null(tc);
		ck_assert_str_ne(r.message, "");
	}
	snprintf(code_buf, sizeof(code_buf), "%s", rc == 0 ? "" : r.code);
	cpk_config_free(&cfg);
	return code_buf;
}


bool
in_sandbox(void)
{
	return geteuid() == 0 && getenv("SANDBOX") != NULL && getpwnam("alice") != NULL &&
	       getpwnam("bob") != NULL;
}
