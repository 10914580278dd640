/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/replace.c: the one atomic replace-a-file routine (pending files,
 * token caches): the new content or the old, never a temp file left
 * behind, the size cap, the owner check, the mode whatever the umask.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replace.h"
#include "testutil.h"

static char base[64];
static char err[256];
static int dfd = -1;

static void
setup(void)
{
	scratch_make(base, sizeof(base), "replace");
	dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	err[0] = '\0';
}

static void
teardown(void)
{
	close(dfd);
	scratch_remove(base);
}

/* Entries of the directory besides . and .. */
static int
entries(void)
{
	struct dirent *de;
	DIR *d = opendir(base);
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
content(const char *name, char *buf, size_t len)
{
	ssize_t n;
	int fd = openat(dfd, name, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, len - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
}

START_TEST(replaces_random_temp)
{
	struct cpk_replace how = { .mode = 0640, .owner = geteuid(), .max = 16, .newline = true };
	char buf[64];
	struct stat sb;
	mode_t old;

	ck_assert_int_eq(cpk_replace_file(dfd, "f", "one", 3, &how, err, sizeof(err)), 0);
	old = umask(0277);
	how.mode = 0600;
	ck_assert_msg(cpk_replace_file(dfd, "f", "second", 6, &how, err, sizeof(err)) == 0,
		      "%s", err);
	umask(old);
	content("f", buf, sizeof(buf));
	ck_assert_str_eq(buf, "second\n");
	ck_assert_int_eq(fstatat(dfd, "f", &sb, 0), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(cap_refuses_before_anything)
{
	struct cpk_replace how = { .mode = 0600, .owner = geteuid(), .max = 4, .newline = true };
	char buf[64];

	ck_assert_int_eq(cpk_replace_file(dfd, "f", "abc", 3, &how, err, sizeof(err)), 0);
	errno = 0;
	/* 4 bytes and the newline: one more than the cap */
	ck_assert_int_eq(cpk_replace_file(dfd, "f", "abcd", 4, &how, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EFBIG);
	how.newline = false;
	ck_assert_int_eq(cpk_replace_file(dfd, "f", "abcde", 5, &how, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EFBIG);
	content("f", buf, sizeof(buf));
	ck_assert_str_eq(buf, "abc\n");
	ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(wrong_owner_leaves_nothing)
{
	struct cpk_replace how = { .mode = 0600, .owner = geteuid() + 1, .max = 64 };

	errno = 0;
	ck_assert_int_eq(cpk_replace_file(dfd, "f", "abc", 3, &how, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_msg(strstr(err, "not owned by uid") != NULL, "%s", err);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

/* give: root hands the new file to a user (a summary), mode kept, content intact. */
START_TEST(gives_the_file_away)
{
	struct cpk_replace how = { .mode = 0400, .owner = geteuid(), .max = 64, .newline = true,
				   .give = true, .give_uid = 4321, .give_gid = 4322 };
	char buf[64];
	struct stat sb;

	if (geteuid() != 0)
		return;	/* fchown to another uid needs root */
	ck_assert_msg(cpk_replace_file(dfd, "f", "mine", 4, &how, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(fstatat(dfd, "f", &sb, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_uint_eq(sb.st_uid, 4321);
	ck_assert_uint_eq(sb.st_gid, 4322);
	ck_assert_uint_eq(sb.st_mode & 07777, 0400);
	content("f", buf, sizeof(buf));
	ck_assert_str_eq(buf, "mine\n");
	/* the next replace takes the user's file's place: a new inode, root's again first */
	ck_assert_msg(cpk_replace_file(dfd, "f", "again", 5, &how, err, sizeof(err)) == 0, "%s", err);
	content("f", buf, sizeof(buf));
	ck_assert_str_eq(buf, "again\n");
	ck_assert_int_eq(entries(), 1);
}
END_TEST

/* A fixed name is the caller's, under its lock: a leftover goes, a link is not followed. */
START_TEST(fixed_temp_leftover)
{
	struct cpk_replace how = { .tmp = ".tmp.f", .mode = 0600, .owner = geteuid(), .max = 64 };
	char buf[64];
	struct stat sb;
	int fd;

	fd = openat(dfd, ".tmp.f", O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "half", 4), 4);
	close(fd);
	ck_assert_int_eq(cpk_replace_file(dfd, "f", "whole", 5, &how, err, sizeof(err)), 0);
	content("f", buf, sizeof(buf));
	ck_assert_str_eq(buf, "whole");
	ck_assert_int_eq(entries(), 1);

	/* a symlink planted at the temp name: removed, its target untouched */
	ck_assert_int_eq(symlinkat("victim", dfd, ".tmp.f"), 0);
	fd = openat(dfd, "victim", O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(cpk_replace_file(dfd, "f", "again", 5, &how, err, sizeof(err)), 0);
	ck_assert_int_eq(fstatat(dfd, "victim", &sb, 0), 0);
	ck_assert_int_eq(sb.st_size, 0);
	ck_assert_int_eq(entries(), 2);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("replace");
	TCase *tc = tcase_create("replace");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, replaces_random_temp);
	tcase_add_test(tc, cap_refuses_before_anything);
	tcase_add_test(tc, wrong_owner_leaves_nothing);
	tcase_add_test(tc, fixed_temp_leftover);
	tcase_add_test(tc, gives_the_file_away);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
