/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/* The fleet C tests' shared fixture (see fleetfix.h). */
#include <stdio.h>
#include <stdlib.h>

#include "fleetfix.h"

char err[CPK_ERR_LEN];

const char *
env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && *v != '\0', "%s is not set (run etcd.test or engine.test)",
		      name);
	return v;
}

void
set(struct cpk_config *cfg, const char *key, const char *value)
{
	ck_assert_msg(cpk_config_set(cfg, key, value, "test", err, sizeof(err)) == 0, "%s: %s",
		      key, err);
}

struct cpk_etcd *
etcd_client(const char *endpoints, const char *prefix, const char *ca, bool cert)
{
	struct cpk_config cfg;
	struct cpk_etcd *e;

	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	set(&cfg, "fleet", "etcd");
	set(&cfg, "etcd_endpoints", endpoints);
	set(&cfg, "etcd_prefix", prefix);
	if (ca != NULL)
		set(&cfg, "etcd_ca_file", ca);
	if (cert) {
		set(&cfg, "etcd_cert_file", env("ETCD_CERT"));
		set(&cfg, "etcd_key_file", env("ETCD_KEY"));
	}
	e = cpk_etcd_open(&cfg, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	cpk_config_free(&cfg);
	return e;
}

int
on_delete(void *arg, const struct cpk_etcd_event *ev)
{
	(void)arg;
	return ev->type == CPK_ETCD_EV_DELETE ? 1 : 0;
}
