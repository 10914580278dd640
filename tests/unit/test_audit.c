/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/audit.c: one event is one greppable key=value line, whatever bytes
 * an attacker puts in a user name, a passkey name or an error message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "audit.h"
#include "testutil.h"

struct capture {
	int prio;
	char line[CPK_AUDIT_MAX];
	int calls;
};

static void
capture_emit(void *ctx, int prio, const char *line)
{
	struct capture *c = ctx;

	c->prio = prio;
	snprintf(c->line, sizeof(c->line), "%s", line);
	c->calls++;
}

START_TEST(design_examples)
{
	char buf[512];

	cpk_audit_format(buf, sizeof(buf), "passkey_deleted", "alice",
			 "credential", "AbC", "name", "YubiKey 5C", "request", "7e1c",
			 "actor", "root", "reason", "lost laptop", NULL);
	ck_assert_str_eq(buf, "event=passkey_deleted user=alice credential=AbC name=\"YubiKey 5C\" "
			 "request=7e1c actor=root reason=\"lost laptop\"");
	cpk_audit_format(buf, sizeof(buf), "revocation_deferred", "alice",
			 "error", "NotAuthorizedException", "detail", "Access Token has expired",
			 "attempts", "2", NULL);
	ck_assert_str_eq(buf, "event=revocation_deferred user=alice error=NotAuthorizedException "
			 "detail=\"Access Token has expired\" attempts=2");
}
END_TEST

START_TEST(null_values_are_skipped)
{
	char buf[256];

	cpk_audit_format(buf, sizeof(buf), "revocation_completed", "bob",
			 "request", NULL, "deleted", "3", NULL);
	ck_assert_str_eq(buf, "event=revocation_completed user=bob deleted=3");
	cpk_audit_format(buf, sizeof(buf), "token_rejected", NULL, "error", "", NULL);
	ck_assert_str_eq(buf, "event=token_rejected error=\"\"");
}
END_TEST

START_TEST(hostile_bytes_stay_on_one_line)
{
	char buf[512];

	cpk_audit_format(buf, sizeof(buf), "passkey_deleted", "alice",
			 "name", "evil\nevent=passkey_deleted user=root \"x\"\\\x01\xff", NULL);
	ck_assert_ptr_null(strchr(buf, '\n'));
	ck_assert_str_eq(buf, "event=passkey_deleted user=alice name=\"evil\\x0aevent=passkey_deleted "
			 "user=root \\\"x\\\"\\\\\\x01\\xff\"");
	/* a value with '=' is quoted so that key=value splitting stays unambiguous */
	cpk_audit_format(buf, sizeof(buf), "e", NULL, "detail", "a=b", NULL);
	ck_assert_str_eq(buf, "event=e detail=\"a=b\"");
}
END_TEST

START_TEST(truncation_is_marked)
{
	char buf[32];
	char big[200];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cpk_audit_format(buf, sizeof(buf), "passkey_deleted", "alice", "credential", big, NULL);
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_str_eq(buf + strlen(buf) - 3, "...");
	ck_assert(strncmp(buf, "event=passkey_deleted user=", 27) == 0);
}
END_TEST

START_TEST(sink_receives_line)
{
	struct capture c = { 0 };
	struct cpk_log log = { capture_emit, &c, "sshd:session", false };

	cpk_audit(&log, LOG_ERR, "revocation_deferred", "alice", "error", "Timeout", NULL);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.prio, LOG_ERR);
	ck_assert_str_eq(c.line, "event=revocation_deferred user=alice error=Timeout");
	cpk_logmsg(&log, LOG_DEBUG, "not shown without debug");
	ck_assert_int_eq(c.calls, 1);
	log.debug = true;
	cpk_logmsg(&log, LOG_DEBUG, "shown %d\nsecond line", 1);
	ck_assert_int_eq(c.calls, 2);
	ck_assert_str_eq(c.line, "shown 1");
	cpk_audit(NULL, LOG_ERR, "x", NULL, NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");

	tcase_add_test(tc, design_examples);
	tcase_add_test(tc, null_values_are_skipped);
	tcase_add_test(tc, hostile_bytes_stay_on_one_line);
	tcase_add_test(tc, truncation_is_marked);
	tcase_add_test(tc, sink_receives_line);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
