/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/store_summary.c: state_dir/summary/<user>, what a user may read of
 * their own state.  The store's writers keep it current; it is the user's,
 * 0400, in root's 0711 directories; the reader, as the user, accepts only
 * its own file under root's directories.  Needs root and a user "nobody"
 * (every Debian system has one); skipped otherwise.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "testutil.h"

static char base[64];
static char state[256], sum[300];
static char err[CPK_ERR_LEN];
static struct passwd user;

static void
setup(void)
{
	scratch_make(base, sizeof(base), "summary");
	ck_assert_int_eq(chmod(base, 0711), 0);
	snprintf(state, sizeof(state), "%s/state", base);
	snprintf(sum, sizeof(sum), "%s/summary/nobody", state);
	err[0] = '\0';
}

static void
teardown(void)
{
	scratch_remove(base);
}

static bool
can_run(void)
{
	struct passwd *pw = getpwnam("nobody");

	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0)
		return false;
	user = *pw;
	return true;
}

static struct cpk_store *
open_store(void)
{
	struct cpk_store *st = NULL;

	ck_assert_msg(cpk_store_open(&st, state, CPK_STORE_CREATE, err, sizeof(err)) == 0,
		      "%s", err);
	return st;
}

static void
flag(struct cpk_store *st, const char *name, const char *reason)
{
	struct cpk_pending p = { NULL, 0, 0 };
	struct cpk_request r;
	struct cpk_event ev = { .event = "requested", .deleted = -1, .absent = -1,
				.failed = -1, .attempts = -1 };

	ck_assert_int_eq(cpk_request_init(&r, CPK_SEL_ALL, "root"), 0);
	r.reason = strdup(reason);
	ev.time = r.requested_at;
	ev.request = r.id;
	ev.reason = reason;
	ev.actor = "root";
	ck_assert_int_eq(cpk_history_append(st, name, &ev, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_add(&p, &r), 0);
	ck_assert_msg(cpk_pending_save(st, name, &p, err, sizeof(err)) == 0, "%s", err);
	cpk_pending_free(&p);
}

static int
count_events(void *ctx, const char *json, const struct cpk_event *ev)
{
	(void)json;
	(void)ev;
	(*(int *)ctx)++;
	return 0;
}

/* In a child as nobody: 0 when the summary reads as pending with 1 request and 1 event. */
static int
read_as_user(void)
{
	struct cpk_summary s;
	int events = 0, rc;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgid(user.pw_gid) < 0 || setuid(user.pw_uid) < 0)
			_exit(10);
		rc = cpk_summary_read(state, "nobody", &s, count_events, &events, err, sizeof(err));
		if (rc != 1)
			_exit(rc == 0 ? 11 : 12);
		_exit(strcmp(s.status.state, "pending") == 0 && s.pending.n == 1 && events == 1 &&
		      strcmp(s.pending.items[0].reason, "lost laptop") == 0 ? 0 : 13);
	}
	ck_assert_int_eq(waitpid(pid, &rc, 0), pid);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 99;
}

START_TEST(test_written_by_every_change)
{
	struct cpk_store *st;
	struct stat sb;

	if (!can_run())
		return;
	st = open_store();
	/* state_dir as made: 0700, until the first summary needs the search bit */
	ck_assert_int_eq(stat(state, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	flag(st, "nobody", "lost laptop");
	ck_assert_int_eq(stat(sum, &sb), 0);
	ck_assert_uint_eq(sb.st_uid, user.pw_uid);
	ck_assert_uint_eq(sb.st_mode & 07777, 0400);
	ck_assert_int_eq(stat(state, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0711);
	snprintf(err, sizeof(err), "%s/summary", state);
	ck_assert_int_eq(stat(err, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0711);
	snprintf(err, sizeof(err), "%s/pending", state);
	ck_assert_int_eq(stat(err, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	cpk_store_close(st);
	/* a state_dir of 0711 opens again: search only is accepted there */
	cpk_store_close(open_store());
	ck_assert_int_eq(read_as_user(), 0);
}
END_TEST

START_TEST(test_reader_refuses)
{
	struct cpk_store *st;
	struct cpk_summary s;

	if (!can_run())
		return;
	st = open_store();
	flag(st, "nobody", "lost laptop");
	cpk_store_close(st);
	/* root is not nobody: the file is not its own */
	ck_assert_int_eq(cpk_summary_read(state, "nobody", &s, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not your summary") != NULL, "%s", err);
	/* a summary/ that others may write is not trusted */
	snprintf(err, sizeof(err), "%s/summary", state);
	ck_assert_int_eq(chmod(err, 0733), 0);
	ck_assert_int_eq(read_as_user(), 12);
	ck_assert_int_eq(chmod(err, 0711), 0);
	ck_assert_int_eq(read_as_user(), 0);
	/* nothing recorded: none, not an error */
	ck_assert_int_eq(cpk_summary_read(state, "daemon", &s, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(s.status.state, "none");
}
END_TEST

START_TEST(test_no_summary_for_unknown_or_root)
{
	struct cpk_store *st;
	char p[400];

	if (!can_run())
		return;
	st = open_store();
	flag(st, "cpk-nosuchuser", "gone");
	flag(st, "root", "root reads the state itself");
	snprintf(p, sizeof(p), "%s/summary/cpk-nosuchuser", state);
	ck_assert_int_eq(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/summary/root", state);
	ck_assert_int_eq(access(p, F_OK), -1);
	cpk_store_close(st);
}
END_TEST

START_TEST(test_fleet_mark)
{
	struct cpk_store *st = open_store();
	struct cpk_fleet_mark m;
	struct stat sb;

	ck_assert_int_eq(cpk_store_fleet_mark_read(st, &m), 0);
	ck_assert_int_eq(cpk_store_fleet_mark(st, 42, 1000, true, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_store_fleet_mark_read(st, &m), 1);
	ck_assert_int_eq(m.revision, 42);
	ck_assert_int_eq(m.time, 1000);
	ck_assert(m.follow);
	snprintf(err, sizeof(err), "%s/fleet-sync", state);
	ck_assert_int_eq(stat(err, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	cpk_store_close(st);
}
END_TEST

static Suite *
summary_suite(void)
{
	Suite *s = suite_create("summary");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_written_by_every_change);
	tcase_add_test(tc, test_reader_refuses);
	tcase_add_test(tc, test_no_summary_for_unknown_or_root);
	tcase_add_test(tc, test_fleet_mark);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(summary_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
