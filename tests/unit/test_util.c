/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/util.c: user names that come from PAM, path templates, deadlines.
 */
#include <check.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "report.h"
#include "util.h"
#include "testutil.h"

static char alice_name[] = "alice", alice_home[] = "/home/alice";
static struct passwd alice = {
	.pw_name = alice_name, .pw_uid = 4001, .pw_gid = 4001, .pw_dir = alice_home,
};

START_TEST(user_names)
{
	ck_assert(cpk_user_name_valid("alice"));
	ck_assert(cpk_user_name_valid("a.b-c_d9"));
	ck_assert(!cpk_user_name_valid(NULL));
	ck_assert(!cpk_user_name_valid(""));
	ck_assert(!cpk_user_name_valid("."));
	ck_assert(!cpk_user_name_valid(".."));
	ck_assert(!cpk_user_name_valid("../etc"));
	ck_assert(!cpk_user_name_valid("a/b"));
	ck_assert(!cpk_user_name_valid("-rf"));
	ck_assert(!cpk_user_name_valid("al ice"));
	ck_assert(!cpk_user_name_valid("alice\n"));
	ck_assert(!cpk_user_name_valid("ålice"));
	ck_assert(!cpk_user_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));	/* 33 */
}
END_TEST

START_TEST(templates)
{
	char out[64], err[128];

	ck_assert_int_eq(cpk_expand_template("%h/.cache/cognito/tokens.json", &alice, out,
					     sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, "/home/alice/.cache/cognito/tokens.json");
	ck_assert_int_eq(cpk_expand_template("/var/cache/%u/%U-100%%", &alice, out, sizeof(out),
					     err, sizeof(err)), 0);
	ck_assert_str_eq(out, "/var/cache/alice/4001-100%");
	ck_assert_int_eq(cpk_expand_template("rel/%u", &alice, out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "relative"));
	ck_assert_int_eq(cpk_expand_template("/x/%z", &alice, out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_int_eq(cpk_expand_template("/x/%", &alice, out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_int_eq(cpk_expand_template("/%h%h%h%h%h%h%h%h%h%h%h%h", &alice, out, sizeof(out),
					     err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "too long"));
}
END_TEST

START_TEST(state_paths)
{
	char out[64];

	ck_assert_int_eq(cpk_state_path("/var/lib/x", "pending", "alice", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/var/lib/x/pending/alice");
	ck_assert_int_eq(cpk_state_path("/var/lib/x", "pending", "../etc", out, sizeof(out)), -1);
	ck_assert_int_eq(cpk_state_path("/var/lib/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
					"pending", "alice", out, sizeof(out)), -1);
}
END_TEST

START_TEST(deadlines)
{
	struct cpk_deadline dl;
	long left;

	cpk_deadline_init_ms(&dl, 1500);
	left = cpk_deadline_remaining_ms(&dl);
	ck_assert_int_gt(left, 1000);
	ck_assert_int_le(left, 1500);
	ck_assert(!cpk_deadline_expired(&dl));
	cpk_deadline_init_ms(&dl, 0);
	ck_assert(cpk_deadline_expired(&dl));
	ck_assert_int_eq(cpk_deadline_remaining_ms(&dl), 0);
}
END_TEST

START_TEST(times)
{
	char buf[32];

	cpk_format_time(1795946520, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-29T10:02:00Z");
}
END_TEST

START_TEST(string_vectors)
{
	char **v = NULL;
	size_t n = 0;

	ck_assert_int_eq(cpk_strv_push(&v, &n, "a"), 0);
	ck_assert_int_eq(cpk_strv_push(&v, &n, "bc"), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0], "a");
	ck_assert_str_eq(v[1], "bc");
	ck_assert_ptr_null(v[2]);
	cpk_argv_free(v);
}
END_TEST

START_TEST(standard_descriptors)
{
	struct stat st, null;

	/* in the forked test: close stderr, and it comes back on /dev/null */
	close(2);
	ck_assert_int_eq(cpk_standard_fds(), 0);
	ck_assert_int_eq(fstat(2, &st), 0);
	ck_assert_int_eq(stat("/dev/null", &null), 0);
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev);
}
END_TEST

START_TEST(wiping)
{
	char *s = strdup("secret");
	char buf[4] = "abc";

	cpk_free_secret(s);
	cpk_free_secret(NULL);
	cpk_wipe(buf, sizeof(buf));
	ck_assert_int_eq(buf[0] | buf[1] | buf[2], 0);
}
END_TEST

START_TEST(credential_ids)
{
	char *big = malloc(CPK_MAX_CREDENTIAL_ID + 2);

	ck_assert(cpk_credential_id_valid("AbC-_09"));
	ck_assert(cpk_credential_id_valid("YWJj+/=="));
	ck_assert(!cpk_credential_id_valid(NULL));
	ck_assert(!cpk_credential_id_valid(""));
	ck_assert(!cpk_credential_id_valid("ab c"));
	ck_assert(!cpk_credential_id_valid("ab\tc"));
	ck_assert(!cpk_credential_id_valid("ab\xc3\xa9"));
	ck_assert_ptr_nonnull(big);
	memset(big, 'A', CPK_MAX_CREDENTIAL_ID);
	big[CPK_MAX_CREDENTIAL_ID] = '\0';
	ck_assert(cpk_credential_id_valid(big));
	big[CPK_MAX_CREDENTIAL_ID] = 'A';
	big[CPK_MAX_CREDENTIAL_ID + 1] = '\0';
	ck_assert(!cpk_credential_id_valid(big));
	free(big);
}
END_TEST

/* What the writer writes, the parser reads back; tabs and controls never split a line. */
START_TEST(report_lines)
{
	struct cpk_report_result in = { .status = CPK_PENDING, .deleted = 1, .absent = 2,
					.failed = 3, .pending = 4, .would_delete = 5,
					.completed = 6, .last_error = "Throttling\nx" };
	struct cpk_report_result out;
	struct cpk_report_line l;
	char buf[512], *line, *save = NULL;
	FILE *fp = fmemopen(buf, sizeof(buf), "w");

	ck_assert_ptr_nonnull(fp);
	cpk_report_write(fp, "deleted", "my\tkey\n", "Y3JlZA", NULL);
	cpk_report_write(fp, "failed", "", "aWQ", "InvalidParameterException");
	cpk_report_write(fp, "pending", "TooManyRequestsException", "slow down", NULL);
	cpk_report_write_result(fp, &in);
	cpk_report_write(NULL, "deleted", "x", "y", NULL);
	fclose(fp);

	line = strtok_r(buf, "\n", &save);
	ck_assert_int_eq(cpk_report_parse(line, &l), 0);
	ck_assert_int_eq(l.outcome, CPK_OUT_DELETED);
	/* a tab or newline cannot split the line: escaped as cpk_printable does */
	ck_assert_str_eq(l.name, "my\\x09key\\x0a");
	ck_assert_str_eq(l.id, "Y3JlZA");
	ck_assert_ptr_null(l.error);

	line = strtok_r(NULL, "\n", &save);
	ck_assert_int_eq(cpk_report_parse(line, &l), 0);
	ck_assert_int_eq(l.outcome, CPK_OUT_FAILED);
	ck_assert_str_eq(l.name, "");
	ck_assert_str_eq(l.error, "InvalidParameterException");

	line = strtok_r(NULL, "\n", &save);
	ck_assert_int_eq(cpk_report_parse(line, &l), 0);
	ck_assert_int_eq(l.outcome, CPK_OUT_PENDING);
	ck_assert_str_eq(l.error, "TooManyRequestsException");
	ck_assert_str_eq(l.detail, "slow down");

	line = strtok_r(NULL, "\n", &save);
	ck_assert(cpk_report_parse_result(line, &out));
	ck_assert_int_eq(out.status, CPK_PENDING);
	ck_assert_uint_eq(out.deleted + out.absent + out.failed, 6);
	ck_assert_uint_eq(out.pending, 4);
	ck_assert_uint_eq(out.would_delete, 5);
	ck_assert_uint_eq(out.completed, 6);
	ck_assert_str_eq(out.last_error, "Throttling");
	ck_assert_ptr_null(strtok_r(NULL, "\n", &save));

	ck_assert(!cpk_report_parse_result("deleted\tx\ty", &out));
	strcpy(buf, "garbage");
	ck_assert_int_eq(cpk_report_parse(buf, &l), -1);
	strcpy(buf, "odd\tthing");
	ck_assert_int_eq(cpk_report_parse(buf, &l), 0);
	ck_assert_int_eq(l.outcome, CPK_OUT_UNKNOWN);
	ck_assert_str_eq(cpk_status_word(CPK_FAILED), "failed");
	ck_assert_str_eq(cpk_status_word(CPK_USAGE), "error");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, user_names);
	tcase_add_test(tc, templates);
	tcase_add_test(tc, state_paths);
	tcase_add_test(tc, deadlines);
	tcase_add_test(tc, times);
	tcase_add_test(tc, string_vectors);
	tcase_add_test(tc, standard_descriptors);
	tcase_add_test(tc, wiping);
	tcase_add_test(tc, credential_ids);
	tcase_add_test(tc, report_lines);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
