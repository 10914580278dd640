/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/* Small helpers the C tests share (see testutil.h). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	return s;
}

void
cfg_set(struct cpk_config *cfg, const char *key, const char *value)
{
	char err[CPK_ERR_LEN];

	if (cpk_config_set(cfg, key, value, "test", err, sizeof(err)) != 0)
		ck_abort_msg("%s: %s", key, err);
}

struct cpk_config *
cfg_fresh(void)
{
	static struct cpk_config cfg;

	cpk_config_free(&cfg);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	return &cfg;
}

void
str_set(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
	ck_assert(v == NULL || *field != NULL);
}

int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void
scratch_make(char *dir, size_t len, const char *name)
{
	int n = snprintf(dir, len, "/tmp/cpk-test-%s-XXXXXX", name);

	ck_assert(n > 0 && (size_t)n < len);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

void
scratch_remove(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}
