/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * passkey-revoke: the administrator's passwd-style command.
 *
 *   passkey-revoke [-a | -c ID ... | -n GLOB | --rp RPID] [-r REASON] USER
 *   passkey-revoke -d USER
 *   passkey-revoke -S [USER ...]      (-A: every user with state)
 *   passkey-revoke -x USER
 *   passkey-revoke --run-pending [-j N] [--rate R]
 *   passkey-revoke -L USER
 *   passkey-revoke --history USER
 *   passkey-revoke --sync [--follow]   (fleet = etcd)
 *   common: --json, --config PATH, --dry-run, -h, -V
 *
 * Exit status (enum cpk_status): 0 done, 1 usage or permission error,
 * 2 something stays pending, 3 a request failed.
 *
 * main.c: who runs it, the configuration, and one function an action
 * that calls lib/ (admin.c, pool.c, revoke.c) and a printer (text.c or
 * json.c).  -x and --run-pending run the engine in forked workers
 * (lib/pool.c).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cmd.h"
#include "rate.h"
#include "revoke.h"
#include "util.h"

/* Audit lines go to syslog; the serious ones are echoed for the administrator. */
struct tee {
	struct cpk_log *inner;
	bool echo;
};

struct cmd {
	struct options o;
	struct cpk_config cfg;
	struct cpk_log syslog_log;
	struct tee tee;
	struct cpk_log log;
	struct cpk_admin admin;
	char actor[64];
	bool is_root;
};

static void
tee_emit(void *ctx, int prio, const char *line)
{
	struct tee *t = ctx;
	char shown[CPK_AUDIT_MAX * 4];

	t->inner->emit(t->inner->ctx, prio, line);
	/* free-text lines may quote a token's claims or a server's message */
	if (t->echo && prio <= LOG_ERR)
		fprintf(stderr, PROG ": %s\n", SHOWN(shown, line));
}

/* A history line not written: the change stands, the administrator is told. */
static void
warn(void *ctx, const char *msg)
{
	fprintf(stderr, PROG ": warning: %s\n", msg);
}

static int
check_user(const char *user, bool must_exist)
{
	char err[CPK_ERR_LEN];

	if (cpk_admin_check_user(user, must_exist, err, sizeof(err)) < 0)
		return fail(CPK_USAGE, "%s", err);
	return 0;
}

/* ---- changing the state --------------------------------------------------- */

static int
cmd_flag(struct cmd *c, const char *user)
{
	const struct cpk_flag_args f = { .sel = c->o.sel, .ids = c->o.ids, .n_ids = c->o.n_ids,
					 .pattern = c->o.pattern, .reason = c->o.reason };
	struct cpk_pending after = { NULL, 0, 0 };
	struct cpk_request r;
	char err[CPK_ERR_LEN];
	int status = CPK_USAGE;

	memset(&r, 0, sizeof(r));
	if (c->o.dry_run) {
		if (cpk_admin_build_request(&c->admin, &f, &r) < 0) {
			fail(CPK_USAGE, "out of memory");
			goto out;
		}
		text_would_flag(user, &r);
		status = CPK_DONE;
		goto out;
	}
	if (cpk_admin_flag(&c->admin, user, &f, &after, err, sizeof(err)) < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (c->o.json)
		jdoc_flagged(user, &after.items[after.n - 1]);
	else
		text_flagged(user, &after.items[after.n - 1]);
	status = CPK_DONE;
out:
	cpk_request_free(&r);
	cpk_pending_free(&after);
	return status;
}

/* pending/<user> exists in state_dir (read only: nothing is created). */
static bool
pending_for(struct cmd *c, const char *user)
{
	struct cpk_store *st = NULL;
	char err[CPK_ERR_LEN];
	bool found;

	if (cpk_admin_open(&c->admin, 0, true, &st, err, sizeof(err)) != 0)
		return false;
	found = cpk_pending_exists(st, user) == 1;
	cpk_store_close(st);
	return found;
}

static int
cmd_cancel(struct cmd *c, const char *user)
{
	char err[CPK_ERR_LEN];
	size_t n;

	/*
	 * A user removed from this host may still have something pending (an
	 * off-boarding): that can be cancelled.  A name that is neither a user
	 * nor in the state is a typo: say so, and create nothing (no lock file).
	 */
	if (getpwnam(user) == NULL && c->cfg.fleet != CPK_FLEET_ETCD && !pending_for(c, user))
		return fail(CPK_USAGE, "user '%s' does not exist, and nothing is pending for them",
			    user);
	if (cpk_admin_cancel(&c->admin, user, c->o.reason, c->o.dry_run, &n, err,
			     sizeof(err)) < 0)
		return fail(CPK_USAGE, "%s", err);
	if (c->o.json)
		jdoc_cancelled(user, n, c->o.dry_run);
	else if (n == 0 || c->o.dry_run)
		printf("%s: %s\n", user, n == 0 ? "nothing pending" :
		       "would cancel the pending revocations");
	else
		printf("%s: %zu pending revocation%s cancelled\n", user, n, n == 1 ? "" : "s");
	return CPK_DONE;
}

static void
discarded(void *ctx, const char *path)
{
	printf("%s: discarded %s\n", (const char *)ctx, path);
}

static int
cmd_discard(struct cmd *c, const char *user)
{
	char err[CPK_ERR_LEN];
	size_t n;
	int rc;

	rc = cpk_admin_discard(&c->admin, user, c->o.dry_run, discarded, (void *)(uintptr_t)user,
			       &n, err, sizeof(err));
	if (rc < 0)
		return fail(CPK_USAGE, "%s", err);
	if (n == 0)
		printf("%s: %s\n", user, rc == 0 && c->o.dry_run ? "dry run: nothing discarded" :
		       "no corrupt state");
	return CPK_DONE;
}

/* ---- reading the state ---------------------------------------------------- */

struct hist_ctx {
	struct json_object *arr;
	size_t n;
};

static int
history_line(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct hist_ctx *h = ctx;

	h->n++;
	if (h->arr != NULL)
		jdoc_history_add(h->arr, json);
	else
		text_history_event(ev);
	return 0;
}


/* fleet = etcd: state_dir/fleet-sync, as -S shows it. */
static void
fleet_view(const struct cmd *c, struct cpk_store *st, struct fleet_view *fv)
{
	struct cpk_fleet_mark m;
	int rc;

	memset(fv, 0, sizeof(*fv));
	fv->on = c->cfg.fleet == CPK_FLEET_ETCD;
	if (!fv->on)
		return;
	fv->root = true;
	rc = st != NULL ? cpk_store_fleet_mark_read(st, &m) : 0;
	fv->synced = rc == 1;
	if (fv->synced) {
		fv->revision = m.revision;
		fv->age = cpk_now() - m.time;
		if (fv->age < 0)
			fv->age = 0;
		fv->follow = m.follow;
	}
	fv->stale = !fv->synced || fv->age > CPK_FLEET_STALE_AFTER;
}

/* One user's status; 0, or CPK_USAGE. */
static int
user_status(struct cmd *c, struct cpk_store *st, const char *user, struct json_object *arr,
	    const struct fleet_view *fv)
{
	struct cpk_pending p = { NULL, 0, 0 };
	struct cpk_user_status us;
	char err[CPK_ERR_LEN];
	int rc = CPK_USAGE;

	if (cpk_store_user_status(st, user, &us, &p, err, sizeof(err)) < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (arr != NULL)
		jdoc_status_add(arr, user, &us, &p, fv);
	else
		text_status(user, &us);
	rc = 0;
out:
	cpk_pending_free(&p);
	return rc;
}

static int
cmd_status(struct cmd *c)
{
	struct json_object *arr = c->o.json ? jdoc_array() : NULL;
	struct cpk_store *st = NULL;
	struct fleet_view fv;
	char **users = NULL, err[CPK_ERR_LEN];
	int status = CPK_DONE;
	size_t i;

	if (cpk_admin_status_users(&c->admin, c->o.users, (size_t)c->o.n_users, c->o.all_users,
				   &users, &st, err, sizeof(err)) < 0) {
		status = fail(CPK_USAGE, "%s", err);
		goto out;
	}
	fleet_view(c, st, &fv);
	for (i = 0; users != NULL && users[i] != NULL; i++)
		if (user_status(c, st, users[i], arr, &fv) != 0)
			status = CPK_USAGE;
	if (arr != NULL)
		jdoc_print(arr);
	else
		text_fleet(&fv);
out:
	jdoc_free(arr);
	cpk_argv_free(users);
	cpk_store_close(st);
	return status;
}

static int
cmd_history(struct cmd *c, const char *user)
{
	struct hist_ctx h = { c->o.json ? jdoc_array() : NULL, 0 };
	struct cpk_store *st = NULL;
	char err[CPK_ERR_LEN];
	int status = CPK_USAGE;

	if (!c->is_root) {
		jdoc_free(h.arr);
		return cmd_own(&c->cfg, &c->admin, &c->o, user, false);
	}
	if (cpk_admin_check_reader(&c->admin, user, "read the history", err, sizeof(err)) < 0 ||
	    cpk_admin_open(&c->admin, 0, true, &st, err, sizeof(err)) < 0 ||
	    cpk_admin_check_known(st, user, err, sizeof(err)) < 0 ||
	    (st != NULL && cpk_history_read(st, user, history_line, &h, err, sizeof(err)) < 0)) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (h.arr != NULL)
		jdoc_print(h.arr);
	else if (h.n == 0)
		printf("%s: no history\n", user);
	status = CPK_DONE;
out:
	jdoc_free(h.arr);
	cpk_store_close(st);
	return status;
}

static int
cmd_list(struct cmd *c, const char *user)
{
	struct cpk_credential_list l = { NULL, 0 };
	struct cpk_run_opts opts;
	struct cpk_deadline dl;
	struct cpk_reply why;
	char code[SHOWN_MAX], msg[SHOWN_MAX];

	cpk_deadline_init_ms(&dl, (long)c->cfg.timeout * 1000);
	memset(&opts, 0, sizeof(opts));
	opts.actor = c->actor;
	opts.deadline = &dl;
	if (cpk_revoke_list(&c->cfg, &c->log, user, &opts, &l, &why) < 0)
		/* both may quote the token's claims or the server's message */
		return fail(CPK_USAGE, "cannot list the passkeys of %s: %s%s%s", user,
			    SHOWN(code, why.code), why.message[0] != '\0' ? ": " : "",
			    SHOWN(msg, why.message));
	if (c->o.json)
		jdoc_list(user, &l);
	else
		text_list(user, &l);
	cpk_credential_list_free(&l);
	return CPK_DONE;
}

/* ---- running ------------------------------------------------------------- */

struct runner {
	struct cmd *c;
	bool progress;
	struct tally tally;
	struct json_object *arr;
};

static void
run_finished(void *ctx, const struct cpk_pool_result *r)
{
	struct runner *rn = ctx;

	rn->tally.finished++;
	if (r->r.status == CPK_DONE)
		rn->tally.done++;
	else if (r->r.status == CPK_FAILED)
		rn->tally.failed++;
	else
		rn->tally.pending++;
	if (rn->progress)
		text_progress_clear();
	if (rn->arr != NULL)
		jdoc_result_add(rn->arr, r);
	else
		text_result(r, rn->c->o.dry_run);
	fflush(stdout);
	if (rn->progress)
		text_progress(&rn->tally, false);
}

static int
cmd_run(struct cmd *c, char **users, size_t n, bool many)
{
	struct runner rn = { .c = c, .tally = { .total = n } };
	struct cpk_pool_totals totals = { 0, 0 };
	struct cpk_pool pool = { .cfg = &c->cfg, .log = &c->log, .actor = c->actor,
				 .dry_run = c->o.dry_run, .jobs = many ? c->o.jobs : 1,
				 .finished = run_finished, .ctx = &rn, .totals = &totals };
	struct cpk_pool_result *res;
	int status;

	rn.progress = many && isatty(STDERR_FILENO);
	rn.arr = c->o.json ? jdoc_array() : NULL;
	if (many && c->o.rate_set && (pool.rate = cpk_rate_new(c->o.rate)) == NULL)
		return fail(CPK_USAGE, "cannot set up the rate limit: %s", strerror(errno));
	res = calloc(n > 0 ? n : 1, sizeof(*res));
	if (res == NULL) {
		cpk_rate_free(pool.rate);
		return fail(CPK_USAGE, "out of memory");
	}
	cpk_pool_results_init(res, users, n);
	if (many && n == 0 && rn.arr == NULL)
		printf("nothing pending\n");
	if (rn.progress)
		text_progress(&rn.tally, false);
	cpk_pool_run(&pool, res, n);
	if (rn.progress)
		text_progress(&rn.tally, true);
	status = cpk_pool_status(res, n);
	if (rn.arr != NULL)
		jdoc_run(rn.arr, many, status, &totals);
	if (!many && n == 1)
		status = res[0].r.status;
	cpk_pool_results_free(res, n);
	free(res);
	jdoc_free(rn.arr);
	cpk_rate_free(pool.rate);
	return status;
}

static int
cmd_run_pending(struct cmd *c)
{
	char **users, err[CPK_ERR_LEN];
	size_t n;
	int status;

	if (cpk_admin_pending_users(&c->admin, &users, &n, err, sizeof(err)) < 0)
		return fail(CPK_USAGE, "%s", err);
	status = cmd_run(c, users, n, true);
	cpk_argv_free(users);
	return status;
}

/* ---- main ---------------------------------------------------------------- */

static void
set_actor(struct cmd *c)
{
	struct passwd *pw = getpwuid(getuid());

	c->is_root = getuid() == 0 && geteuid() == 0;
	if (pw != NULL && cpk_user_name_valid(pw->pw_name))
		snprintf(c->actor, sizeof(c->actor), "%s", pw->pw_name);
	else
		snprintf(c->actor, sizeof(c->actor), "uid:%lu", (unsigned long)getuid());
}

static bool
root_only(enum mode m)
{
	return m != M_STATUS && m != M_HISTORY;
}

static int
load_config(struct cmd *c)
{
	char err[CPK_ERR_LEN];

	if (cpk_config_init(&c->cfg) < 0)
		return fail(CPK_USAGE, "out of memory");
	if (cpk_config_load(&c->cfg, c->o.config, 0, NULL, err, sizeof(err)) < 0)
		return fail(CPK_USAGE, "configuration: %s", err);
	if (c->o.dry_run)
		c->cfg.dry_run = true;
	return 0;
}

static int
dispatch(struct cmd *c)
{
	char **u = c->o.users;

	switch (c->o.mode) {
	case M_FLAG: return check_user(u[0], true) ?: cmd_flag(c, u[0]);
	case M_CANCEL: return check_user(u[0], false) ?: cmd_cancel(c, u[0]);
	case M_STATUS: return c->is_root ? cmd_status(c) : cmd_own(&c->cfg, &c->admin, &c->o,
								     c->actor, true);
	case M_RUN: return check_user(u[0], true) ?: cmd_run(c, u, 1, false);
	case M_RUN_PENDING: return cmd_run_pending(c);
	case M_LIST: return check_user(u[0], true) ?: cmd_list(c, u[0]);
	case M_HISTORY: return cmd_history(c, u[0]);
	case M_DISCARD: return check_user(u[0], false) ?: cmd_discard(c, u[0]);
	case M_SYNC: return cmd_sync(&c->cfg, &c->log, c->o.follow, c->o.json);
	default: return CPK_USAGE;
	}
}

static const char *
denied_action(enum mode m)
{
	switch (m) {
	case M_FLAG: return "flag revocations";
	case M_CANCEL: return "cancel revocations";
	case M_LIST: return "list another user's passkeys";
	case M_DISCARD: return "discard revocation state";
	case M_SYNC: return "mirror the fleet's revocation state";
	default: return "carry out revocations";
	}
}

int
main(int argc, char **argv)
{
	struct cmd c;
	int rc;

	umask(077);
	/* -x and -L hold users' tokens in memory: no core dumps */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (cpk_standard_fds() < 0)
		return CPK_USAGE;
	memset(&c, 0, sizeof(c));
	rc = parse_args(&c.o, argc, argv);
	if (rc != 0)
		goto out;
	set_actor(&c);
	if (root_only(c.o.mode) && !c.is_root) {
		rc = fail(CPK_USAGE, "permission denied: only root may %s",
			  denied_action(c.o.mode));
		goto out;
	}
	rc = load_config(&c);
	if (rc != 0)
		goto out;
	cpk_log_init_syslog(&c.syslog_log, PROG, PROG, c.cfg.debug);
	c.tee.inner = &c.syslog_log;
	c.tee.echo = true;
	c.log = c.syslog_log;
	c.log.emit = tee_emit;
	c.log.ctx = &c.tee;
	c.admin = (struct cpk_admin){ .cfg = &c.cfg, .log = &c.log, .actor = c.actor,
				      .is_root = c.is_root, .local_only = c.o.local_only,
				      .warn = warn };
	rc = dispatch(&c);
	closelog();
out:
	free(c.o.ids);
	cpk_config_free(&c.cfg);
	if (rc < 0)
		rc = CPK_DONE;	/* -h, -V */
	return rc;
}
