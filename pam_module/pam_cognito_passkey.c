/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * pam_cognito_passkey.c - carry out an administrator's pending passkey
 * revocations when a user opens a session or changes a password.
 *
 * The module does only the fast path: its arguments, the configuration
 * (every key checked, nothing copied: cpk_config_load_fast), and one
 * stat() of state_dir/pending/<user>.  When nothing is pending it returns
 * PAM_IGNORE without forking, without an NSS lookup, and without a line
 * to syslog unless `debug` asks for one.  Everything slow or risky (TLS, DNS,
 * JSON, the user's files) happens in cognito-passkey-helper, which is run
 * the way pam_unix runs unix_chkpwd (empty environment, sanitized
 * descriptors, SIGCHLD shielded from the host) and, unlike unix_chkpwd,
 * is killed at a hard deadline: a login is never held hostage.  Inside
 * set-uid callers (su, sudo, passwd typed by a user) the child first
 * becomes fully root and sheds the user's limits, priorities and signal
 * settings (lib/spawn.c), so that user can neither signal nor starve it.
 *
 * This file links libcpk_base only (no libcurl, no json-c) and exports
 * only the pam_sm_* entry points (pam_cognito_passkey.map).
 */
#include "audit.h"
#include "config.h"
#include "launch.h"
#include "report.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#ifndef CPK_HELPER_PATH
#error "CPK_HELPER_PATH must name the installed cognito-passkey-helper"
#endif

/* On top of `timeout`: the helper's start-up and its last audit lines. */
#define HELPER_GRACE_MS		2000
/* How much of a passkey's name the user is shown. */
#define NAME_SHOWN_MAX		64
/* The child's status when execve() failed (the helper never exits so). */
#define HELPER_EXEC_FAILED	127
/* ... and when it could not become root or shed the caller's attributes. */
#define HELPER_SETUP_FAILED	126

/* What came of a run, before fail=open|closed turns it into a PAM code. */
enum outcome {
	OUTCOME_NONE,		/* nothing pending, or nothing we may do */
	OUTCOME_DONE,		/* everything pending carried out */
	OUTCOME_FAILED,		/* a request failed for good; nothing stays pending for it */
	OUTCOME_PENDING,	/* something stays pending (service, token, deadline) */
	OUTCOME_SYSERR,		/* configuration, helper missing or crashed, ... */
};

struct module {
	pam_handle_t *pamh;
	const char *type;		/* "session" or "password": the helper's argv */
	bool silent;			/* PAM_SILENT: no messages to the user */
	enum cpk_fail_mode fail;	/* in force; from cfg once that is loaded */
	bool cfg_loaded;
	struct cpk_config cfg;		/* the whole configuration, once something is pending */
	struct cpk_log log;
	const char *user;		/* PAM_USER, validated */
	char service[65];		/* PAM_SERVICE, reduced to a safe token */
};


/*----------------------------------------------------------------------
 * Logging: every line goes through pam_syslog, which prefixes
 * "pam_cognito_passkey(<service>:<type>): " and uses facility authpriv.
 */

static void
emit_pam_syslog(void *ctx, int prio, const char *line)
{
	pam_syslog((const pam_handle_t *)ctx, prio, "%s", line);
}

/*
 * pam_syslog() names the service and the type itself: log.origin is filled
 * only when the helper is about to run (carry_out), so that the fast path
 * formats nothing.
 */
static void
log_init(struct module *m)
{
	m->log.emit = emit_pam_syslog;
	m->log.ctx = m->pamh;
	m->log.debug = false;
}

/*
 * PAM_SERVICE is chosen by the application: keep only what is safe in an
 * argv element and in the helper's syslog prefix.
 */
static void
get_service(struct module *m)
{
	const void *item = NULL;
	const char *s;
	size_t i;

	if (pam_get_item(m->pamh, PAM_SERVICE, &item) != PAM_SUCCESS || item == NULL ||
	    *(const char *)item == '\0')
		item = "unknown";
	s = item;
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(m->service); i++) {
		char c = s[i];

		m->service[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
				 c == '@' || c == '+') ? c : '_';
	}
	m->service[i] = '\0';
}

/*----------------------------------------------------------------------
 * Configuration.
 */

/*
 * The fail mode when the configuration could not be loaded: fail= from
 * the module arguments wins, else whatever the file said before the bad
 * line.  So `fail=closed` in /etc/pam.d holds even when the file is broken.
 */
static enum cpk_fail_mode
fallback_fail_mode(enum cpk_fail_mode partial, int argc, const char **argv)
{
	enum cpk_fail_mode mode = partial;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "fail=closed") == 0)
			mode = CPK_FAIL_CLOSED;
		else if (strcmp(argv[i], "fail=open") == 0)
			mode = CPK_FAIL_OPEN;
	}
	return mode;
}

/* Logs loudly (whatever `debug` says) why the configuration is refused. */
static void
config_refused(struct module *m, enum cpk_fail_mode partial, int argc, const char **argv,
	       const char *err)
{
	m->fail = fallback_fail_mode(partial, argc, argv);
	cpk_logmsg(&m->log, LOG_ALERT, "bad configuration, revocations cannot run: %s", err);
}

/*
 * What the fast path needs, every key and value of the file and the
 * arguments checked.  Returns 0, or -1 after logging loudly.
 */
static int
load_fast(struct module *m, struct cpk_config_fast *fast, int argc, const char **argv)
{
	char err[CPK_ERR_LEN];

	if (cpk_config_load_fast(fast, argc, argv, err, sizeof(err)) < 0) {
		config_refused(m, fast->fail, argc, argv, err);
		return -1;
	}
	m->fail = fast->fail;
	m->log.debug = fast->debug;
	return 0;
}

/*
 * The whole configuration, for the helper, once something is pending.
 * The file is read again: what it says now is what the helper is given.
 * Returns 0, or -1 after logging loudly.
 */
static int
load_full(struct module *m, int argc, const char **argv)
{
	char err[CPK_ERR_LEN];

	if (cpk_config_init(&m->cfg) < 0) {
		config_refused(m, m->fail, argc, argv, "out of memory");
		return -1;
	}
	m->cfg_loaded = true;
	if (cpk_config_load(&m->cfg, NULL, argc, argv, err, sizeof(err)) < 0) {
		config_refused(m, m->cfg.fail, argc, argv, err);
		return -1;
	}
	m->fail = m->cfg.fail;
	m->log.debug = m->cfg.debug;
	return 0;
}

/*----------------------------------------------------------------------
 * The fast path.
 */

/*
 * PAM_USER, never prompted for.  A name that could not be a key of the
 * state directory cannot have anything pending (passkey-revoke refuses
 * to flag it), and cpk_user_name_valid() keeps it inside state_dir.
 */
static bool
get_user(struct module *m)
{
	const void *item = NULL;

	if (pam_get_item(m->pamh, PAM_USER, &item) != PAM_SUCCESS || item == NULL) {
		cpk_logmsg(&m->log, LOG_DEBUG, "no PAM_USER: nothing to do");
		return false;
	}
	if (!cpk_user_name_valid(item)) {
		cpk_logmsg(&m->log, LOG_DEBUG, "user name not usable as a state key: nothing to do");
		return false;
	}
	m->user = item;
	return true;
}

/*
 * Whether NSS knows the user; asked only once something is pending, so
 * that the fast path stays one stat().  getpwnam_r with our own buffer,
 * not pam_modutil_getpwnam: that one keeps every answer as PAM data under
 * a new name, so a handle that opens sessions again and again grows and
 * each call walks all the earlier entries (quadratic; tests/bench).
 */
static bool
user_known(const struct module *m)
{
	char buf[16384];
	struct passwd pw, *found = NULL;

	if (getpwnam_r(m->user, &pw, buf, sizeof(buf), &found) == 0 && found != NULL)
		return true;
	cpk_logmsg(&m->log, LOG_DEBUG, "user %s unknown to NSS: nothing to do", m->user);
	return false;
}

/*
 * One stat() of state_dir/pending/<user>.  Returns OUTCOME_PENDING when
 * the file exists (the helper must run), OUTCOME_NONE when it does not
 * or when a non-root caller cannot see it, OUTCOME_SYSERR otherwise.
 */
static enum outcome
check_pending(struct module *m, const char *state_dir)
{
	char path[PATH_MAX];
	struct stat st;

	if (cpk_state_path(state_dir, "pending", m->user, path, sizeof(path)) < 0) {
		cpk_logmsg(&m->log, LOG_ERR, "state_dir %s: path too long", state_dir);
		return OUTCOME_SYSERR;
	}
	if (stat(path, &st) == 0) {
		if (geteuid() != 0) {
			/* screen lockers and the like: the next root session does it */
			cpk_logmsg(&m->log, LOG_DEBUG, "revocation pending for %s, "
				   "but not running as root: left for a later session", m->user);
			return OUTCOME_NONE;
		}
		return OUTCOME_PENDING;
	}
	if (errno == ENOENT || errno == ENOTDIR) {
		cpk_logmsg(&m->log, LOG_DEBUG, "nothing pending for %s", m->user);
		return OUTCOME_NONE;
	}
	if (errno == EACCES && geteuid() != 0) {
		cpk_logmsg(&m->log, LOG_DEBUG, "state not readable by uid %u: nothing to do",
			   (unsigned int)geteuid());
		return OUTCOME_NONE;
	}
	cpk_logmsg(&m->log, LOG_ERR, "%s: %s", path, strerror(errno));
	return OUTCOME_SYSERR;
}

/*----------------------------------------------------------------------
 * Running the helper.
 */

/*
 * In the child, between fork() and execve(): only async-signal-safe
 * calls (the host may be threaded).  The child starts with every signal
 * blocked (cpk_launch_start), becomes fully root with the calling user's
 * limits, priorities, signal settings, session and cwd left behind
 * (cpk_spawn_reset, which ends with an empty mask), then stdout is the
 * pipe, stdin and stderr /dev/null, every other descriptor closed, and
 * the environment empty: the helper takes nothing from the host but its
 * argv.
 */
struct child {
	pam_handle_t *pamh;
	char **argv;
};

static void __attribute__((noreturn))
child_main(void *ctx, int out)
{
	static char *const envp[] = { NULL };
	const struct child *ch = ctx;

	if (cpk_spawn_reset() < 0)
		_exit(HELPER_SETUP_FAILED);
	if (out == STDOUT_FILENO) {
		/* dup2 onto itself would keep O_CLOEXEC */
		if (fcntl(out, F_SETFD, 0) < 0)
			_exit(HELPER_EXEC_FAILED);
	} else if (dup2(out, STDOUT_FILENO) < 0) {
		_exit(HELPER_EXEC_FAILED);
	}
	/* after the limits are reset: libpam closes up to RLIMIT_NOFILE's hard value */
	if (pam_modutil_sanitize_helper_fds(ch->pamh, PAM_MODUTIL_NULL_FD, PAM_MODUTIL_IGNORE_FD,
					    PAM_MODUTIL_NULL_FD) < 0 ||
	    cpk_spawn_close_from(STDERR_FILENO + 1) < 0)
		_exit(HELPER_EXEC_FAILED);
	execve(CPK_HELPER_PATH, ch->argv, envp);
	_exit(HELPER_EXEC_FAILED);
}

/*
 * Run the helper under a SIGCHLD disposition of SIG_DFL, so that the
 * host's handler neither fires nor reaps our child (pam_unix does the
 * same around unix_chkpwd), and restore the host's handler afterwards.
 * Returns 0 with run->status (or run->killed), -1 when it could not start.
 */
static int
run_helper(struct module *m, struct cpk_launch *run)
{
	struct sigaction dfl, saved;
	struct cpk_deadline dl;
	struct child child;
	char **argv;
	int rc = -1;

	if ((argv = cpk_launch_argv(CPK_HELPER_PATH, m->user, m->service, m->type,
				    &m->cfg)) == NULL) {
		cpk_logmsg(&m->log, LOG_CRIT, "out of memory");
		return -1;
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &saved);

	cpk_deadline_init_ms(&dl, (long)m->cfg.timeout * 1000 + HELPER_GRACE_MS);
	child.pamh = m->pamh;
	child.argv = argv;
	if (cpk_launch_start(run, child_main, &child, &m->log) < 0)
		goto out;
	cpk_launch_wait(run, &dl);
	rc = 0;
out:
	sigaction(SIGCHLD, &saved, NULL);
	cpk_argv_free(argv);
	return rc;
}

/*----------------------------------------------------------------------
 * Results.
 */

/*
 * One message per revoked passkey, from the helper's "deleted" report
 * lines (lib/report.h).  A nameless passkey is shown by (the start of)
 * its id.
 */
static void
notify_one(struct module *m, const struct cpk_report_line *l)
{
	char shown[NAME_SHOWN_MAX + 1];
	const char *name = l->name;

	if (name == NULL || (name[0] == '\0' && l->id != NULL))
		name = l->id != NULL ? l->id : "";
	/* the name comes from Cognito; the user's terminal is ours */
	cpk_printable(shown, sizeof(shown), name);
	pam_info(m->pamh, "Your passkey \"%s\" was revoked by your administrator.", shown);
}

/* report is cut in place, line by line. */
static void
notify_user(struct module *m, char *report)
{
	struct cpk_report_line l;
	char *line, *end;

	for (line = report; *line != '\0'; line = end) {
		end = line + strcspn(line, "\n");
		if (*end == '\n')
			*end++ = '\0';
		if (cpk_report_parse(line, &l) == 0 && l.outcome == CPK_OUT_DELETED)
			notify_one(m, &l);
	}
}

/* What the helper's end means; logs what the helper could not log itself. */
static enum outcome
judge_helper(struct module *m, const struct cpk_launch *run)
{
	char detail[64];
	int code;

	if (run->killed) {
		snprintf(detail, sizeof(detail), "helper killed after %u s + %u ms",
			 m->cfg.timeout, (unsigned int)HELPER_GRACE_MS);
		cpk_audit(&m->log, LOG_ERR, "revocation_deferred", m->user,
			  "error", "deadline", "detail", detail, NULL);
		return OUTCOME_PENDING;
	}
	if (run->status == -1 || !WIFEXITED(run->status)) {
		if (run->status != -1 && WIFSIGNALED(run->status))
			snprintf(detail, sizeof(detail), "helper killed by signal %d",
				 WTERMSIG(run->status));
		else
			snprintf(detail, sizeof(detail), "helper lost (reaped elsewhere)");
		cpk_audit(&m->log, LOG_ERR, "revocation_deferred", m->user,
			  "error", "helper_crashed", "detail", detail, NULL);
		return OUTCOME_SYSERR;
	}
	code = WEXITSTATUS(run->status);
	switch (code) {
	case CPK_DONE:
		return OUTCOME_DONE;
	case CPK_PENDING:
		return OUTCOME_PENDING;
	case CPK_FAILED:
		return OUTCOME_FAILED;
	case CPK_USAGE:
		/* the helper has logged why (configuration, privileges, ...) */
		return OUTCOME_SYSERR;
	case HELPER_SETUP_FAILED:
		cpk_audit(&m->log, LOG_ERR, "revocation_deferred", m->user, "error", "helper_exec",
			  "detail", "cannot make the helper a clean root process", NULL);
		return OUTCOME_SYSERR;
	default:
		snprintf(detail, sizeof(detail), "%s exit status %d",
			 code == HELPER_EXEC_FAILED ? "cannot execute helper," : "helper", code);
		cpk_audit(&m->log, LOG_ERR, "revocation_deferred", m->user,
			  "error", code == HELPER_EXEC_FAILED ? "helper_exec" : "helper_status",
			  "detail", detail, NULL);
		return OUTCOME_SYSERR;
	}
}

static enum outcome
carry_out(struct module *m, int argc, const char **argv)
{
	struct cpk_launch run = { .pid = -1, .fd = -1 };
	enum outcome o;

	if (load_full(m, argc, argv) < 0)
		return OUTCOME_SYSERR;
	get_service(m);
	snprintf(m->log.origin, sizeof(m->log.origin), "%s:%s", m->service, m->type);
	if (access(CPK_HELPER_PATH, X_OK) < 0) {
		cpk_logmsg(&m->log, LOG_ALERT, "%s: %s: revocation for %s cannot run",
			   CPK_HELPER_PATH, strerror(errno), m->user);
		return OUTCOME_SYSERR;
	}
	cpk_logmsg(&m->log, LOG_DEBUG, "revocation pending for %s: running %s",
		   m->user, CPK_HELPER_PATH);
	if (run_helper(m, &run) < 0) {
		free(run.report);
		return OUTCOME_SYSERR;
	}
	o = judge_helper(m, &run);
	if (run.report != NULL && m->cfg.notify && !m->silent)
		notify_user(m, run.report);
	free(run.report);
	return o;
}

/* fail=open|closed decides; doc/DESIGN.md "PAM entry points". */
static int
pam_code(const struct module *m, enum outcome o)
{
	bool closed = m->fail == CPK_FAIL_CLOSED;
	const char *who = m->user != NULL ? m->user : "?";

	switch (o) {
	case OUTCOME_DONE:
		return PAM_SUCCESS;
	case OUTCOME_NONE:
		return PAM_IGNORE;
	case OUTCOME_FAILED:
		cpk_logmsg(&m->log, LOG_ERR, "user %s: a revocation request failed for good "
			   "(see passkey-revoke -S); continuing", who);
		return PAM_IGNORE;
	case OUTCOME_PENDING:
		cpk_logmsg(&m->log, LOG_ERR, "user %s: revocation still pending; %s (fail=%s)",
			   who, closed ? "refused" : "continuing", closed ? "closed" : "open");
		if (!closed)
			return PAM_IGNORE;
		return strcmp(m->type, "password") == 0 ? PAM_AUTHTOK_ERR : PAM_SESSION_ERR;
	case OUTCOME_SYSERR:
		cpk_logmsg(&m->log, LOG_ERR, "user %s: system error; %s (fail=%s)", who,
			   closed ? "refused" : "continuing", closed ? "closed" : "open");
		return closed ? PAM_SYSTEM_ERR : PAM_IGNORE;
	}
	return closed ? PAM_SYSTEM_ERR : PAM_IGNORE;
}

static int
run_module(pam_handle_t *pamh, int flags, int argc, const char **argv, const char *type)
{
	struct cpk_config_fast fast;	/* not zeroed: PATH_MAX bytes the parser sets */
	struct module m;
	enum outcome o;
	int rc;

	memset(&m, 0, sizeof(m));
	m.pamh = pamh;
	m.type = type;
	m.silent = (flags & PAM_SILENT) != 0;
	log_init(&m);

	if (load_fast(&m, &fast, argc, argv) < 0) {
		/* the line that says so names the user when PAM knows one */
		get_user(&m);
		o = OUTCOME_SYSERR;
	} else if (!get_user(&m))
		o = OUTCOME_NONE;
	else if ((o = check_pending(&m, fast.state_dir)) == OUTCOME_PENDING)
		o = user_known(&m) ? carry_out(&m, argc, argv) : OUTCOME_NONE;
	rc = pam_code(&m, o);
	if (m.cfg_loaded)
		cpk_config_free(&m.cfg);
	return rc;
}

/*----------------------------------------------------------------------
 * Entry points.
 */

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return run_module(pamh, flags, argc, argv, "session");
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}

/* The password stack runs twice: act in the update phase only. */
PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	if ((flags & PAM_PRELIM_CHECK) || !(flags & PAM_UPDATE_AUTHTOK))
		return PAM_IGNORE;
	return run_module(pamh, flags, argc, argv, "password");
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}
