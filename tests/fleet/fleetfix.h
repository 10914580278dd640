/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * What the fleet's C tests share (test_etcd, test_fleet, test_fleet_run):
 * the environment etcd.test and engine.test set, config keys that must
 * take, a client of the test etcd (the Check runner: tests/testutil.c).  Each helper
 * asserts, so a test never goes on with a half-made setup.
 */
#ifndef CPK_TESTS_FLEETFIX_H
#define CPK_TESTS_FLEETFIX_H

#include <check.h>
#include <stdbool.h>

#include "config.h"
#include "etcd.h"
#include "testutil.h"

/* The last library error, for assertion messages. */
extern char err[CPK_ERR_LEN];

/* The variable name, set and not empty (etcd.test or engine.test sets it). */
const char *env(const char *name);
/* key = value in cfg, or the test fails with the parser's reason. */
void set(struct cpk_config *cfg, const char *key, const char *value);
/*
 * A client of endpoints under prefix; ca: the CA file (NULL: the system's),
 * cert: present the test's client certificate (ETCD_CERT, ETCD_KEY).
 */
struct cpk_etcd *etcd_client(const char *endpoints, const char *prefix, const char *ca,
			     bool cert);
/* A watch callback that stops at the first delete. */
int on_delete(void *arg, const struct cpk_etcd_event *ev);

#endif
