/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * options.c - passkey-revoke's command line: the options, the checks of
 * their arguments and the combinations doc/DESIGN.md's synopsis allows.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "report.h"
#include "util.h"

#define MAX_REASON	256
#define MAX_PATTERN	256
#define MAX_RP		253

enum {
	OPT_RP = 256, OPT_RUN_PENDING, OPT_RATE, OPT_HISTORY, OPT_JSON, OPT_CONFIG, OPT_DRY_RUN,
	OPT_DISCARD, OPT_SYNC, OPT_FOLLOW, OPT_LOCAL_ONLY,
};

static void
usage(FILE *fp)
{
	fprintf(fp,
		"Usage: " PROG " [-a | -c ID ... | -n GLOB | --rp RPID] [-r REASON] USER\n"
		"       " PROG " -d [-r REASON] USER\n"
		"       " PROG " -S [USER ...] | -S -A\n"
		"       " PROG " -x USER\n"
		"       " PROG " --run-pending [-j N] [--rate R]\n"
		"       " PROG " -L USER\n"
		"       " PROG " --history USER\n"
		"       " PROG " --discard-corrupt USER\n"
		"       " PROG " --sync [--follow]\n"
		"\n"
		"Flag, carry out and inspect the revocation of a user's Cognito passkeys.\n"
		"\n"
		"  -a, --all              revoke every passkey of USER\n"
		"  -c, --credential ID    revoke the passkey with this credential id (repeatable)\n"
		"  -n, --name GLOB        revoke passkeys whose friendly name matches GLOB\n"
		"      --rp RPID          revoke passkeys of this relying party\n"
		"  -r, --reason REASON    the reason, kept in the audit trail\n"
		"  -d, --cancel           cancel USER's pending revocations\n"
		"  -S, --status           status, one line a user (default: yourself)\n"
		"  -A, --all-users        with -S: every user with revocation state\n"
		"  -x, --run              carry out USER's pending revocations now\n"
		"      --run-pending      carry out every pending revocation now\n"
		"  -j, --jobs N           with --run-pending: N users at a time (default %d)\n"
		"      --rate R           with --run-pending: at most R Cognito requests a second\n"
		"  -L, --list             list USER's passkeys (through USER's cached token)\n"
		"      --history          USER's revocation history\n"
		"      --discard-corrupt  drop USER's corrupt pending file (after inspecting it)\n"
		"      --sync             fleet = etcd: mirror the fleet's pending requests here\n"
		"      --follow           with --sync: then follow the fleet's changes\n"
		"      --local-only       fleet = etcd: flag or cancel on this host alone\n"
		"      --json             machine-readable output\n"
		"      --config PATH      configuration file (default " CPK_DEFAULT_CONF ")\n"
		"      --dry-run          show what would be done, change nothing\n"
		"  -h, --help             this help\n"
		"  -V, --version          version\n"
		"\n"
		"Exit status: 0 done, 1 usage or permission error (or etcd unreachable),\n"
		"2 something stays pending, 3 a request failed.\n", DEFAULT_JOBS);
}

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " --help' for more information.\n", stderr);
	return CPK_USAGE;
}

int
fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static bool
printable_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

static bool
rp_id_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= MAX_RP &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:") == n;
}

static int
set_mode(struct options *o, enum mode m)
{
	if (o->mode != M_NONE && o->mode != m)
		return usage_error("only one of -d, -S, -x, -L, --history, --discard-corrupt, --sync and --run-pending may be given");
	o->mode = m;
	return 0;
}

static int
set_selector(struct options *o, enum cpk_selector sel)
{
	static const char *const flag[] = {
		[CPK_SEL_ALL] = "-a", [CPK_SEL_IDS] = "-c", [CPK_SEL_NAME] = "-n",
		[CPK_SEL_RP] = "--rp",
	};

	if (o->have_sel && o->sel == sel && sel != CPK_SEL_IDS)
		return usage_error("%s is given more than once", flag[sel]);
	if (o->have_sel && o->sel != sel)
		return usage_error("give one of -a, -c ID (repeatable), -n GLOB or --rp RPID");
	o->have_sel = true;
	o->sel = sel;
	return 0;
}

static int
add_id(struct options *o, const char *id)
{
	char **grown;

	if (!cpk_credential_id_valid(id))
		return usage_error("-c: '%.40s' is not a credential id (base64url, at most %d bytes)",
				   id, CPK_MAX_CREDENTIAL_ID);
	if (o->n_ids >= CPK_STORE_MAX_IDS)
		return usage_error("-c: at most %d credential ids in one request", CPK_STORE_MAX_IDS);
	grown = realloc(o->ids, (o->n_ids + 1) * sizeof(*grown));
	if (grown == NULL)
		return fail(CPK_USAGE, "out of memory");
	o->ids = grown;
	o->ids[o->n_ids++] = (char *)(uintptr_t)id;
	return 0;
}

static int
parse_jobs(struct options *o, const char *arg)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < 1 || n > CPK_POOL_MAX_JOBS)
		return usage_error("-j: '%s' is not a number of jobs (1..%d)", arg, CPK_POOL_MAX_JOBS);
	o->jobs = (unsigned int)n;
	o->jobs_set = true;
	return 0;
}

static int
parse_rate(struct options *o, const char *arg)
{
	char *end;
	double r;

	errno = 0;
	r = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !isfinite(r) || r <= 0 || r > 10000)
		return usage_error("--rate: '%s' is not a rate (requests per second, 0 < R <= 10000)",
				   arg);
	o->rate = r;
	o->rate_set = true;
	return 0;
}

static const struct option long_options[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "credential", required_argument, NULL, 'c' },
	{ "name", required_argument, NULL, 'n' },
	{ "rp", required_argument, NULL, OPT_RP },
	{ "reason", required_argument, NULL, 'r' },
	{ "cancel", no_argument, NULL, 'd' },
	{ "status", no_argument, NULL, 'S' },
	{ "all-users", no_argument, NULL, 'A' },
	{ "run", no_argument, NULL, 'x' },
	{ "run-pending", no_argument, NULL, OPT_RUN_PENDING },
	{ "jobs", required_argument, NULL, 'j' },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "list", no_argument, NULL, 'L' },
	{ "history", no_argument, NULL, OPT_HISTORY },
	{ "discard-corrupt", no_argument, NULL, OPT_DISCARD },
	{ "sync", no_argument, NULL, OPT_SYNC },
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ "local-only", no_argument, NULL, OPT_LOCAL_ONLY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* One option; 0, a status to exit with, or -1 for "exit 0 now" (-h, -V). */
static int
parse_one(struct options *o, int ch, const char *arg)
{
	switch (ch) {
	case 'a': return set_selector(o, CPK_SEL_ALL);
	case 'c': return set_selector(o, CPK_SEL_IDS) ?: add_id(o, arg);
	case 'n':
		if (set_selector(o, CPK_SEL_NAME) != 0 || o->pattern != NULL)
			return o->pattern != NULL ? usage_error("-n given twice") : CPK_USAGE;
		if (!printable_text(arg, MAX_PATTERN))
			return usage_error("-n: the pattern must be 1..%d printable characters",
					   MAX_PATTERN);
		o->pattern = arg;
		return 0;
	case OPT_RP:
		if (set_selector(o, CPK_SEL_RP) != 0 || o->pattern != NULL)
			return o->pattern != NULL ? usage_error("--rp given twice") : CPK_USAGE;
		if (!rp_id_valid(arg))
			return usage_error("--rp: '%.60s' is not a relying party id", arg);
		o->pattern = arg;
		return 0;
	case 'r':
		if (o->reason != NULL)
			return usage_error("-r given twice");
		if (arg[0] == '\0')
			return usage_error("-r: the reason must not be empty");
		if (!printable_text(arg, MAX_REASON))
			return usage_error("-r: the reason must be at most %d printable characters",
					   MAX_REASON);
		o->reason = arg;
		return 0;
	case 'd': return set_mode(o, M_CANCEL);
	case 'S': return set_mode(o, M_STATUS);
	case 'A': o->all_users = true; return 0;
	case 'x': return set_mode(o, M_RUN);
	case OPT_RUN_PENDING: return set_mode(o, M_RUN_PENDING);
	case 'j': return parse_jobs(o, arg);
	case OPT_RATE: return parse_rate(o, arg);
	case 'L': return set_mode(o, M_LIST);
	case OPT_HISTORY: return set_mode(o, M_HISTORY);
	case OPT_DISCARD: return set_mode(o, M_DISCARD);
	case OPT_SYNC: return set_mode(o, M_SYNC);
	case OPT_FOLLOW: o->follow = true; return 0;
	case OPT_LOCAL_ONLY: o->local_only = true; return 0;
	case OPT_JSON: o->json = true; return 0;
	case OPT_CONFIG:
		if (arg[0] != '/')
			return usage_error("--config: '%s' is not an absolute path", arg);
		o->config = arg;
		return 0;
	case OPT_DRY_RUN: o->dry_run = true; return 0;
	case 'h': usage(stdout); return -1;
	case 'V': printf(PROG " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION); return -1;
	default: return usage_error("unknown option");
	}
}

/* The combinations doc/DESIGN.md's synopsis allows. */
static int
check_combination(struct options *o)
{
	if (o->all_users) {
		if (o->mode != M_NONE && o->mode != M_STATUS)
			return usage_error("-A goes with -S");
		o->mode = M_STATUS;
		if (o->n_users > 0)
			return usage_error("-A takes no user names");
	}
	if (o->have_sel) {
		if (o->mode != M_NONE)
			return usage_error("-a, -c, -n and --rp flag a revocation; "
					   "they do not combine with -d, -S, -x, -L, --history or --run-pending");
		o->mode = M_FLAG;
	}
	if (o->mode == M_NONE) {
		if (o->n_users > 0)
			return usage_error("what should be revoked? give -a, -c ID, -n GLOB or --rp RPID");
		return usage_error("no action given");
	}
	if (o->reason != NULL && o->mode != M_FLAG && o->mode != M_CANCEL)
		return usage_error("-r goes with flagging or -d");
	if ((o->jobs_set || o->rate_set) && o->mode != M_RUN_PENDING)
		return usage_error("-j and --rate go with --run-pending");
	if (o->follow && o->mode != M_SYNC)
		return usage_error("--follow goes with --sync");
	if (o->local_only && o->mode != M_FLAG && o->mode != M_CANCEL)
		return usage_error("--local-only goes with flagging or -d");
	switch (o->mode) {
	case M_STATUS:
		return 0;
	case M_SYNC:
		return o->n_users == 0 ? 0 : usage_error("--sync takes no user names");
	case M_RUN_PENDING:
		return o->n_users == 0 ? 0 : usage_error("--run-pending takes no user names");
	default:
		if (o->n_users != 1)
			return usage_error(o->n_users == 0 ? "a user name is required" :
					   "exactly one user name, please");
		return 0;
	}
}

int
parse_args(struct options *o, int argc, char **argv)
{
	int ch, rc;

	memset(o, 0, sizeof(*o));
	o->jobs = DEFAULT_JOBS;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":ac:n:r:dSAxj:LhV", long_options, NULL)) != -1) {
		if (ch == '?') {
			if (optopt != 0)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
		if (ch == ':')
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		rc = parse_one(o, ch, optarg);
		if (rc != 0)
			return rc;
	}
	o->users = argv + optind;
	o->n_users = argc - optind;
	return check_combination(o);
}
