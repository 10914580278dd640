/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * passkey-revoke's own pieces: its options (options.c), the command
 * itself (main.c), a user's own view without privilege (own.c) and its
 * two presentations, text (text.c) and --json
 * (json.c).  The logic it runs is in lib/: admin.c, pool.c, revoke.c.
 */
#ifndef PASSKEY_REVOKE_CMD_H
#define PASSKEY_REVOKE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "admin.h"
#include "audit.h"
#include "cognito.h"
#include "config.h"
#include "pool.h"
#include "store.h"

#define PROG		"passkey-revoke"
#define DEFAULT_JOBS	4

/* printf("%s") of outside text through its printable copy (lib/util.h) */
#define SHOWN_MAX	1024
#define SHOWN(buf, s)	cpk_printable((buf), sizeof(buf), (s))

enum mode { M_NONE, M_FLAG, M_CANCEL, M_STATUS, M_RUN, M_RUN_PENDING, M_LIST, M_HISTORY,
	     M_DISCARD, M_SYNC };

struct options {
	enum mode mode;
	bool have_sel, all_users, json, dry_run, follow, local_only;
	enum cpk_selector sel;
	char **ids;
	size_t n_ids;
	const char *pattern;
	const char *reason;
	const char *config;
	unsigned int jobs;
	double rate;
	bool jobs_set, rate_set;
	char **users;
	int n_users;
};

/* options.c */
/* 0, a status to exit with, or -1 for "exit 0 now" (-h, -V). */
int parse_args(struct options *o, int argc, char **argv);
/* "passkey-revoke: <message>" on stderr; returns status. */
int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --run-pending's running count, for the progress line. */
struct tally {
	size_t total, finished, done, pending, failed;
};

/*
 * own.c: -S (status) or --history USER run by a user who is not root,
 * from state_dir/summary/<actor>; others refused.  A status to exit with.
 */
int cmd_own(const struct cpk_config *cfg, const struct cpk_admin *a, const struct options *o,
	    const char *user, bool status);

/* sync.c: --sync [--follow]; a status to exit with. */
int cmd_sync(const struct cpk_config *cfg, const struct cpk_log *log, bool follow, bool json);

/* -S with fleet = etcd: how fresh this host's mirror is (state_dir/fleet-sync). */
struct fleet_view {
	bool on;		/* fleet = etcd */
	bool root;		/* the mark was readable (root's view) */
	bool synced;		/* a sync ever ran here */
	int64_t revision, age;	/* its revision, seconds since */
	bool stale;		/* age > CPK_FLEET_STALE_AFTER, or never synced */
	bool follow;
};

/* text.c */
void text_would_flag(const char *user, const struct cpk_request *r);
void text_flagged(const char *user, const struct cpk_request *r);
void text_status(const char *user, const struct cpk_user_status *us);
void text_fleet(const struct fleet_view *fv);
void text_history_event(const struct cpk_event *ev);
void text_list(const char *user, const struct cpk_credential_list *l);
void text_result(const struct cpk_pool_result *r, bool dry_run);
/* On a terminal: "\r" and the running count; final ends the line. */
void text_progress(const struct tally *t, bool final);
void text_progress_clear(void);

/* json.c: each prints one document on stdout, or adds one to an array. */
struct json_object;
void jdoc_print(struct json_object *o);
void jdoc_flagged(const char *user, const struct cpk_request *r);
void jdoc_cancelled(const char *user, size_t n, bool dry_run);
void jdoc_status_add(struct json_object *arr, const char *user,
		     const struct cpk_user_status *us, const struct cpk_pending *p,
		     const struct fleet_view *fv);
void jdoc_history_add(struct json_object *arr, const char *stored_line);
/* A user's own -S: the history (consumed) and the summary's host and age on arr's last object. */
void jdoc_own_history(struct json_object *arr, struct json_object *history, const char *host,
		      int64_t updated_at);
void jdoc_list(const char *user, const struct cpk_credential_list *l);
void jdoc_result_add(struct json_object *arr, const struct cpk_pool_result *r);
/* -x: the user's object alone; --run-pending: {"users": [...], "exit": N}. */
/* totals: --run-pending's workers and connections (many only). */
void jdoc_run(struct json_object *arr, bool many, int status, const struct cpk_pool_totals *totals);
struct json_object *jdoc_array(void);
void jdoc_free(struct json_object *o);

#endif
