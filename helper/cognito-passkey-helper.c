/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * cognito-passkey-helper.c - the worker pam_cognito_passkey runs when a
 * revocation is pending for the user opening a session (like pam_unix's
 * unix_chkpwd).  Its interface is private to the module:
 *
 *   cognito-passkey-helper USER SERVICE session|password [key=value ...]
 *
 * The settings are the module's configuration as rendered by
 * cpk_config_to_argv() ("conf=PATH" first, then every key).  Outcomes go
 * to stdout, one line each (the report lines of lib/report.h), for the
 * module's notify; audit lines go to syslog (authpriv) with the same
 * "pam_cognito_passkey(<service>:<type>)" prefix as the module's.  The exit
 * status is an enum cpk_status (lib/report.h): 0 done, 1 system error,
 * 2 something stays pending, 3 a request failed.
 *
 * The module starts it with an empty environment and only stdin, stdout
 * and stderr open; it must be root (the state is root's and the user's
 * token cache is read as the user), and it holds tokens, so it never
 * dumps core.  Inside set-uid callers (su, sudo, passwd typed by a user)
 * the module's child becomes fully root before execve (lib/spawn.c), so
 * the check below holds there too; a real uid other than 0 here means
 * someone else started it.
 */
#include "audit.h"
#include "config.h"
#include "revoke.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define HELPER_IDENT	"cognito-passkey-helper"
#define SERVICE_MAX	64

/* No core file, no ptrace by other users, no reading of /proc/PID/mem. */
static int
harden(void)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &none) < 0)
		return -1;
	umask(077);
	/* a write to a closed stdout must be an error, not a death */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* PAM_SERVICE as the module passes it: a short safe token. */
static bool
service_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SERVICE_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@+") == n;
}

/*
 * The management group as pam_syslog names it, so that the module's and
 * the helper's lines carry the same prefix: pam_syslog says "chauthtok"
 * for the password stack.
 */
static const char *
pam_type_name(const char *type)
{
	if (strcmp(type, "session") == 0)
		return "session";
	if (strcmp(type, "password") == 0)
		return "chauthtok";
	return NULL;
}

static void
usage_log(const char *msg)
{
	openlog(HELPER_IDENT, LOG_PID, LOG_AUTHPRIV);
	syslog(LOG_AUTHPRIV | LOG_ERR, "%s", msg);
	fprintf(stderr, "%s: %s\n", HELPER_IDENT, msg);
}

int
main(int argc, char **argv)
{
	struct cpk_config cfg;
	struct cpk_log log;
	struct cpk_run_opts opts;
	struct cpk_run_result res;
	struct cpk_deadline dl;
	char origin[SERVICE_MAX + 16], actor[SERVICE_MAX + 8], err[CPK_ERR_LEN];
	const char *user, *service, *type, **settings;
	int status = CPK_USAGE;

	if (harden() < 0 || cpk_standard_fds() < 0) {
		usage_log("cannot protect the process (core dumps, descriptors)");
		return CPK_USAGE;
	}
	if (getuid() != 0 || geteuid() != 0) {
		usage_log("must be run by root (pam_cognito_passkey runs it)");
		return CPK_USAGE;
	}
	if (argc < 4 || !cpk_user_name_valid(argv[1]) || !service_valid(argv[2]) ||
	    pam_type_name(argv[3]) == NULL) {
		usage_log("usage: " HELPER_IDENT " USER SERVICE session|password [key=value ...]"
			  " (private to pam_cognito_passkey)");
		return CPK_USAGE;
	}
	user = argv[1];
	service = argv[2];
	type = argv[3];
	snprintf(origin, sizeof(origin), "%s:%s", service, pam_type_name(type));
	snprintf(actor, sizeof(actor), "pam:%s", service);

	if (cpk_config_init(&cfg) < 0) {
		usage_log("out of memory");
		return CPK_USAGE;
	}
	settings = (const char **)(void *)(argv + 4);
	if (cpk_config_load(&cfg, NULL, argc - 4, settings, err, sizeof(err)) < 0) {
		cpk_log_init_syslog(&log, HELPER_IDENT, origin, false);
		cpk_logmsg(&log, LOG_ALERT, "bad configuration, revocation for %s cannot run: %s",
			   user, err);
		goto out;
	}
	cpk_log_init_syslog(&log, HELPER_IDENT, origin, cfg.debug);

	/* the outcomes must reach the module even if we are killed later */
	setvbuf(stdout, NULL, _IOLBF, 0);
	cpk_deadline_init_ms(&dl, (long)cfg.timeout * 1000);
	memset(&opts, 0, sizeof(opts));
	opts.actor = actor;
	opts.dry_run = cfg.dry_run;
	opts.deadline = &dl;
	opts.report = stdout;
	memset(&res, 0, sizeof(res));
	status = cpk_revoke_user(&cfg, &log, user, &opts, &res);
	if (status < CPK_DONE || status > CPK_FAILED)
		status = CPK_USAGE;
	if (fflush(stdout) != 0 && status == CPK_DONE)
		cpk_logmsg(&log, LOG_DEBUG, "report not delivered: %s", strerror(errno));
out:
	cpk_config_free(&cfg);
	closelog();
	return status;
}
