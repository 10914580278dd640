/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * sync.c - passkey-revoke --sync [--follow] (fleet = etcd): the fleet's
 * pending requests mirrored into state_dir (lib/fleet_sync.c), a summary
 * line, and with --follow the watch until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd.h"
#include "fleet_publish.h"
#include "util.h"

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* No SA_RESTART: a signal cuts the watch's wait short. */
static void
catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void
report(void *ctx, const char *msg)
{
	char shown[CPK_ERR_LEN * 4];

	(void)ctx;
	fprintf(stderr, PROG ": %s\n", SHOWN(shown, msg));
}

static void
summary(const struct cpk_fleet_sync_stats *st, bool json)
{
	json_object *o;

	if (!json) {
		printf("synced at revision %lld: %lu added, %lu updated, %lu removed, "
		       "%lu errors\n", (long long)st->revision, st->added, st->updated,
		       st->removed, st->errors);
		fflush(stdout);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "revision", json_object_new_int64(st->revision));
	json_object_object_add(o, "added", json_object_new_int64((int64_t)st->added));
	json_object_object_add(o, "updated", json_object_new_int64((int64_t)st->updated));
	json_object_object_add(o, "removed", json_object_new_int64((int64_t)st->removed));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)st->errors));
	jdoc_print(o);
	fflush(stdout);
	json_object_put(o);
}

int
cmd_sync(const struct cpk_config *cfg, const struct cpk_log *log, bool follow, bool json)
{
	struct cpk_fleet_sync s = { .cfg = cfg, .log = log, .report = report,
				    .stop = &stop_requested };
	struct cpk_fleet_sync_stats stats;
	struct cpk_etcd *e = NULL;
	char err[CPK_ERR_LEN], shown[CPK_ERR_LEN * 4];
	int status = CPK_USAGE, rc;

	if (cfg->fleet != CPK_FLEET_ETCD) {
		/* the timer's unit runs --sync on every host: a no-op without a fleet */
		if (!json)
			printf("fleet = none: nothing to sync\n");
		return CPK_DONE;
	}
	if (follow)
		catch_stop_signals();
	if (cpk_store_open(&s.st, cfg->state_dir, CPK_STORE_CREATE, err, sizeof(err)) < 0 ||
	    (e = cpk_etcd_open(cfg, err, sizeof(err))) == NULL) {
		fail(CPK_USAGE, "%s", SHOWN(shown, err));
		goto out;
	}
	rc = cpk_fleet_sync_once(&s, e, &stats, err, sizeof(err));
	if (rc != CPK_ETCD_OK) {
		fail(CPK_USAGE, "%s%s%s: %s", rc == CPK_ETCD_UNREACHABLE ?
		     "etcd cannot be reached (etcd_endpoints " : "sync failed",
		     rc == CPK_ETCD_UNREACHABLE ? cfg->etcd_endpoints : "",
		     rc == CPK_ETCD_UNREACHABLE ? ")" : "", SHOWN(shown, err));
		goto out;
	}
	summary(&stats, json);
	if (follow && cpk_fleet_follow(&s, e, &stats, err, sizeof(err)) != CPK_ETCD_OK) {
		fail(CPK_USAGE, "%s", SHOWN(shown, err));
		goto out;
	}
	if (follow)
		summary(&stats, json);
	status = CPK_DONE;
out:
	cpk_etcd_close(e);
	cpk_store_close(s.st);
	return status;
}
