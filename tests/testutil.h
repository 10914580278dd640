/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Small helpers the C tests share (tests/libcpktest.la).  Each asserts
 * (Check): a test never goes on with a half-made setup.
 */
#ifndef CPK_TESTS_TESTUTIL_H
#define CPK_TESTS_TESTUTIL_H

#include <check.h>
#include <stddef.h>

struct cpk_config;

char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* key = value through the configuration parser, or the test fails. */
void cfg_set(struct cpk_config *cfg, const char *key, const char *value);
/* The one scratch configuration, freed and set to the defaults again. */
struct cpk_config *cfg_fresh(void);
/* *field = a copy of v (NULL: none), the old value freed. */
void str_set(char **field, const char *v);
/* A fresh /tmp/cpk-test-NAME-XXXXXX into dir (at least 64 bytes). */
void scratch_make(char *dir, size_t len, const char *name);
/* The scratch directory and everything in it gone. */
void scratch_remove(const char *dir);
/* Runs the suite (CK_RUN_CASE picks a case); EXIT_SUCCESS when all passed. */
int run_suite(Suite *s);

#endif
