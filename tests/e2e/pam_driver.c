/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * pam_driver.c - drive a real PAM stack and print exactly what happened.
 *
 *   pam_driver -d SERVICEDIR [-s] [-I] [-c] [-f] SERVICE USER OP...
 *
 * OP is open_session, close_session, chauthtok, authenticate, acct_mgmt
 * or setcred.  The stack is read from SERVICEDIR with pam_start_confdir()
 * (Linux-PAM >= 1.4), so no file under /etc is needed.  Output, one line
 * each, for the shell tests to match:
 *
 *   result OP PAM_NAME MILLISECONDS
 *   info TEXT | error TEXT          what the conversation was given
 *   sigchld handler=kept|changed calls=N     (-c)
 *   fds leaked=N                    (-f) descriptors left open by the calls
 *   children none|running|zombie    helpers left behind by the calls
 *
 * -s passes PAM_SILENT.  -I: the test service files end the stack with
 * pam_debug.so returning PAM_NO_MODULE_DATA, reached only when the module
 * returned PAM_IGNORE (libpam never returns PAM_IGNORE itself); -I prints
 * that result as PAM_IGNORE.
 *
 * Exit status: 0 when every OP ran (whatever it returned), 2 on usage or
 * pam_start failure.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define DRIVER_MAX_FDS 1024

static volatile sig_atomic_t sigchld_calls;

static const struct {
	int code;
	const char *name;
} codes[] = {
	{ PAM_SUCCESS, "PAM_SUCCESS" }, { PAM_OPEN_ERR, "PAM_OPEN_ERR" },
	{ PAM_SYMBOL_ERR, "PAM_SYMBOL_ERR" }, { PAM_SERVICE_ERR, "PAM_SERVICE_ERR" },
	{ PAM_SYSTEM_ERR, "PAM_SYSTEM_ERR" }, { PAM_BUF_ERR, "PAM_BUF_ERR" },
	{ PAM_PERM_DENIED, "PAM_PERM_DENIED" }, { PAM_AUTH_ERR, "PAM_AUTH_ERR" },
	{ PAM_CRED_INSUFFICIENT, "PAM_CRED_INSUFFICIENT" },
	{ PAM_AUTHINFO_UNAVAIL, "PAM_AUTHINFO_UNAVAIL" }, { PAM_USER_UNKNOWN, "PAM_USER_UNKNOWN" },
	{ PAM_MAXTRIES, "PAM_MAXTRIES" }, { PAM_NEW_AUTHTOK_REQD, "PAM_NEW_AUTHTOK_REQD" },
	{ PAM_ACCT_EXPIRED, "PAM_ACCT_EXPIRED" }, { PAM_SESSION_ERR, "PAM_SESSION_ERR" },
	{ PAM_CRED_UNAVAIL, "PAM_CRED_UNAVAIL" }, { PAM_CRED_EXPIRED, "PAM_CRED_EXPIRED" },
	{ PAM_CRED_ERR, "PAM_CRED_ERR" }, { PAM_NO_MODULE_DATA, "PAM_NO_MODULE_DATA" },
	{ PAM_CONV_ERR, "PAM_CONV_ERR" }, { PAM_AUTHTOK_ERR, "PAM_AUTHTOK_ERR" },
	{ PAM_AUTHTOK_RECOVERY_ERR, "PAM_AUTHTOK_RECOVERY_ERR" },
	{ PAM_AUTHTOK_LOCK_BUSY, "PAM_AUTHTOK_LOCK_BUSY" },
	{ PAM_AUTHTOK_DISABLE_AGING, "PAM_AUTHTOK_DISABLE_AGING" },
	{ PAM_TRY_AGAIN, "PAM_TRY_AGAIN" }, { PAM_IGNORE, "PAM_IGNORE" }, { PAM_ABORT, "PAM_ABORT" },
	{ PAM_AUTHTOK_EXPIRED, "PAM_AUTHTOK_EXPIRED" }, { PAM_MODULE_UNKNOWN, "PAM_MODULE_UNKNOWN" },
	{ PAM_BAD_ITEM, "PAM_BAD_ITEM" }, { PAM_CONV_AGAIN, "PAM_CONV_AGAIN" },
	{ PAM_INCOMPLETE, "PAM_INCOMPLETE" },
};

static const char *
code_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "PAM_UNKNOWN_CODE";
}

/* Print messages; answer no prompt (the module must never prompt). */
static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r;
	int i;

	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_TEXT_INFO:
			printf("info %s\n", msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			printf("error %s\n", msg[i]->msg);
			break;
		default:
			printf("prompt %s\n", msg[i]->msg);
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int
run_op(pam_handle_t *pamh, const char *op, int flags)
{
	if (strcmp(op, "open_session") == 0)
		return pam_open_session(pamh, flags);
	if (strcmp(op, "close_session") == 0)
		return pam_close_session(pamh, flags);
	if (strcmp(op, "chauthtok") == 0)
		return pam_chauthtok(pamh, flags);
	if (strcmp(op, "authenticate") == 0)
		return pam_authenticate(pamh, flags);
	if (strcmp(op, "acct_mgmt") == 0)
		return pam_acct_mgmt(pamh, flags);
	if (strcmp(op, "setcred") == 0)
		return pam_setcred(pamh, flags | PAM_ESTABLISH_CRED);
	return -1;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
on_sigchld(int sig)
{
	sigchld_calls++;
}

/* Which descriptors are open, as a bitmap of the first DRIVER_MAX_FDS. */
static void
open_fds(bool *open)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	memset(open, 0, DRIVER_MAX_FDS * sizeof(*open));
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < DRIVER_MAX_FDS)
			open[fd] = true;
	}
	closedir(d);
}

static const char *
children_left(void)
{
	int status;
	pid_t r = waitpid(-1, &status, WNOHANG);

	if (r < 0 && errno == ECHILD)
		return "none";
	return r == 0 ? "running" : "zombie";
}

static void
usage(void)
{
	fprintf(stderr, "usage: pam_driver -d SERVICEDIR [-s] [-I] [-c] [-f] SERVICE USER OP...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static bool before[DRIVER_MAX_FDS], after[DRIVER_MAX_FDS];
	struct pam_conv pc = { conv, NULL };
	struct sigaction sa, cur;
	const char *dir = NULL;
	bool ignore_sentinel = false, check_sigchld = false, check_fds = false;
	pam_handle_t *pamh = NULL;
	int opt, flags = 0, rc = PAM_SUCCESS, i, leaked = 0;

	while ((opt = getopt(argc, argv, "d:sIcf")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 's': flags |= PAM_SILENT; break;
		case 'I': ignore_sentinel = true; break;
		case 'c': check_sigchld = true; break;
		case 'f': check_fds = true; break;
		default: usage();
		}
	}
	if (dir == NULL || argc - optind < 3)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (check_sigchld) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigchld;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGCHLD, &sa, NULL);
	}
	if (pam_start_confdir(argv[optind], argv[optind + 1], &pc, dir, &pamh) != PAM_SUCCESS) {
		fprintf(stderr, "pam_driver: pam_start_confdir failed\n");
		return 2;
	}
	if (check_fds)
		open_fds(before);
	for (i = optind + 2; i < argc; i++) {
		long t0 = now_ms();

		rc = run_op(pamh, argv[i], flags);
		if (rc < 0) {
			fprintf(stderr, "pam_driver: unknown operation %s\n", argv[i]);
			pam_end(pamh, PAM_ABORT);
			return 2;
		}
		if (ignore_sentinel && rc == PAM_NO_MODULE_DATA)
			printf("result %s PAM_IGNORE %ld\n", argv[i], now_ms() - t0);
		else
			printf("result %s %s %ld\n", argv[i], code_name(rc), now_ms() - t0);
	}
	if (check_fds) {
		open_fds(after);
		for (i = 0; i < DRIVER_MAX_FDS; i++)
			if (after[i] && !before[i])
				leaked++;
		printf("fds leaked=%d\n", leaked);
	}
	if (check_sigchld) {
		sigaction(SIGCHLD, NULL, &cur);
		printf("sigchld handler=%s calls=%d\n",
		       cur.sa_handler == on_sigchld ? "kept" : "changed", (int)sigchld_calls);
	}
	printf("children %s\n", children_left());
	pam_end(pamh, rc);
	return 0;
}
