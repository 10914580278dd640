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
 *   common: --json, --config PATH, --dry-run, -h, -V
 *
 * Exit status: 0 done, 1 usage or permission error, 2 something stays
 * pending, 3 a request failed.
 *
 * -x and --run-pending run the engine (lib/revoke.c) in forked worker
 * processes, not threads: the engine switches file-system identity to
 * read each user's token, and that is per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "audit.h"
#include "config.h"
#include "rate.h"
#include "revoke.h"
#include "store.h"
#include "util.h"

#define PROG		"passkey-revoke"
#define MAX_JOBS	64
#define DEFAULT_JOBS	4
#define MAX_REASON	256
#define MAX_PATTERN	256
#define MAX_RP		253

/* printf("%s") of outside text through its printable copy (lib/util.h) */
#define SHOWN_MAX	1024
#define SHOWN(buf, s)	cpk_printable((buf), sizeof(buf), (s))

enum mode { M_NONE, M_FLAG, M_CANCEL, M_STATUS, M_RUN, M_RUN_PENDING, M_LIST, M_HISTORY,
	     M_DISCARD };

enum {
	OPT_RP = 256, OPT_RUN_PENDING, OPT_RATE, OPT_HISTORY, OPT_JSON, OPT_CONFIG, OPT_DRY_RUN,
	OPT_DISCARD,
};

struct options {
	enum mode mode;
	bool have_sel, all_users, json, dry_run;
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
	char actor[64];
	bool is_root;
};

/* ---- messages ------------------------------------------------------- */

static void
usage(FILE *fp)
{
	fprintf(fp,
		"Usage: " PROG " [-a | -c ID ... | -n GLOB | --rp RPID] [-r REASON] USER\n"
		"       " PROG " -d USER\n"
		"       " PROG " -S [USER ...] | -S -A\n"
		"       " PROG " -x USER\n"
		"       " PROG " --run-pending [-j N] [--rate R]\n"
		"       " PROG " -L USER\n"
		"       " PROG " --history USER\n"
		"       " PROG " --discard-corrupt USER\n"
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
		"      --json             machine-readable output\n"
		"      --config PATH      configuration file (default " CPK_DEFAULT_CONF ")\n"
		"      --dry-run          show what would be done, change nothing\n"
		"  -h, --help             this help\n"
		"  -V, --version          version\n"
		"\n"
		"Exit status: 0 done, 1 usage or permission error, 2 something stays pending,\n"
		"3 a request failed.\n", DEFAULT_JOBS);
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

static int
fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
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

static void
print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/*
 * A JSON string of outside text: its printable copy, so that the document
 * is valid UTF-8 and holds nothing a terminal would act on.
 */
static json_object *
jstr(const char *value)
{
	char *shown = cpk_printable_dup(value);
	json_object *v = shown != NULL ? json_object_new_string(shown) : NULL;

	free(shown);
	return v;
}

static void
jset_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, value != NULL ? jstr(value) : NULL);
}

/* A stored JSON value (a history line) rebuilt with printable strings only. */
static json_object *
jclean(json_object *v)
{
	json_object *out;
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_string:
		return jstr(json_object_get_string(v));
	case json_type_array:
		out = json_object_new_array();
		n = json_object_array_length(v);
		for (i = 0; out != NULL && i < n; i++)
			json_object_array_add(out, jclean(json_object_array_get_idx(v, i)));
		return out;
	case json_type_object:
		out = json_object_new_object();
		json_object_object_foreach(v, key, val) {
			char *k = cpk_printable_dup(key);

			if (out != NULL && k != NULL)
				json_object_object_add(out, k, jclean(val));
			free(k);
		}
		return out;
	default:
		return json_object_get(v);
	}
}


static void
jset_int(json_object *o, const char *key, int64_t value)
{
	json_object_object_add(o, key, json_object_new_int64(value));
}

static void
iso_time(int64_t t, char *buf, size_t len)
{
	cpk_format_time(t, buf, len);
}

/* "2026-11-29T10:02Z", as in the status line of passwd -S */
static void
short_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%MZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* ---- input checks ------------------------------------------------------ */

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

/* Credential ids are base64url (Cognito) or base64. */
static bool
credential_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CPK_MAX_CREDENTIAL_ID)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=") == n;
}

static bool
rp_id_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= MAX_RP &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:") == n;
}

static int
check_user(const char *user, bool must_exist)
{
	char shown[64];

	if (!cpk_user_name_valid(user))
		return fail(CPK_USAGE, "invalid user name '%s'", SHOWN(shown, user));
	if (must_exist && getpwnam(user) == NULL)
		return fail(CPK_USAGE, "user '%s' does not exist", user);
	return 0;
}

/* ---- options --------------------------------------------------------- */

static int
set_mode(struct options *o, enum mode m)
{
	if (o->mode != M_NONE && o->mode != m)
		return usage_error("only one of -d, -S, -x, -L, --history, --discard-corrupt and --run-pending may be given");
	o->mode = m;
	return 0;
}

static int
set_selector(struct options *o, enum cpk_selector sel)
{
	if (o->have_sel && (o->sel != sel || sel != CPK_SEL_IDS))
		return usage_error("give one of -a, -c ID (repeatable), -n GLOB or --rp RPID");
	o->have_sel = true;
	o->sel = sel;
	return 0;
}

static int
add_id(struct options *o, const char *id)
{
	char **grown;

	if (!credential_id_valid(id))
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
	if (errno != 0 || end == arg || *end != '\0' || n < 1 || n > MAX_JOBS)
		return usage_error("-j: '%s' is not a number of jobs (1..%d)", arg, MAX_JOBS);
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

/* The combinations DESIGN.md's synopsis allows. */
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
	switch (o->mode) {
	case M_STATUS:
		return 0;
	case M_RUN_PENDING:
		return o->n_users == 0 ? 0 : usage_error("--run-pending takes no user names");
	default:
		if (o->n_users != 1)
			return usage_error(o->n_users == 0 ? "a user name is required" :
					   "exactly one user name, please");
		return 0;
	}
}

static int
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

/* ---- state ----------------------------------------------------------- */

/* 0 open, 1 absent (and that is fine: missing_ok), -1 error (said). */
static int
open_store(struct cmd *c, int flags, struct cpk_store **st, bool missing_ok)
{
	char err[CPK_ERR_LEN];

	if (cpk_store_open(st, c->cfg.state_dir, flags, err, sizeof(err)) == 0)
		return 0;
	if (errno == ENOENT && missing_ok)
		return 1;
	/*
	 * state_dir is root's and 0700 (DESIGN.md), and this command is not
	 * set-uid: a user asking for their own status must ask root.
	 */
	if (errno == EACCES && !c->is_root)
		return fail(-1, "%s: the revocation state is readable by root only; "
			    "ask an administrator to run: passkey-revoke -S %s", err, c->actor);
	return fail(-1, "%s", err);
}

static int
lock_user(struct cmd *c, struct cpk_store *st, const char *user)
{
	char err[CPK_ERR_LEN];
	int fd = cpk_store_lock(st, user, (long)c->cfg.timeout * 1000, err, sizeof(err));

	if (fd < 0)
		fail(CPK_USAGE, "%s%s", err, errno == EWOULDBLOCK ? "; try again later" : "");
	return fd;
}

/*
 * Load under the lock.  A corrupt file is never written over (whatever it
 * flagged would be lost): nothing changes until an administrator fixes it
 * in place or drops it with --discard-corrupt.
 */
static int
load_pending(struct cpk_store *st, const char *user, struct cpk_pending *p)
{
	char err[CPK_ERR_LEN];

	if (cpk_pending_load(st, user, p, err, sizeof(err)) == 0)
		return 0;
	if (errno == EBADMSG)
		return fail(CPK_USAGE, "%s; nothing changed: fix it in place, or drop it with: "
			    PROG " --discard-corrupt %s", err, user);
	return fail(CPK_USAGE, "%s", err);
}

static json_object *
request_json(const struct cpk_request *r)
{
	json_object *o = json_object_new_object(), *ids;
	char t[32];
	size_t i;

	jset_str(o, "id", r->id);
	jset_str(o, "selector", cpk_selector_name(r->selector));
	if (r->selector == CPK_SEL_IDS) {
		ids = json_object_new_array();
		for (i = 0; i < r->n_ids; i++)
			json_object_array_add(ids, jstr(r->ids[i]));
		json_object_object_add(o, "ids", ids);
	}
	if (r->pattern != NULL)
		jset_str(o, r->selector == CPK_SEL_RP ? "rp" : "glob", r->pattern);
	jset_str(o, "reason", r->reason);
	jset_str(o, "actor", r->actor);
	iso_time(r->requested_at, t, sizeof(t));
	jset_str(o, "requested_at", t);
	jset_int(o, "attempts", r->attempts);
	jset_str(o, "last_error", r->last_error);
	jset_str(o, "last_detail", r->last_detail);
	return o;
}

static int
build_request(struct cmd *c, struct cpk_request *r)
{
	size_t i;

	if (cpk_request_init(r, c->o.sel, c->actor) < 0)
		return -1;
	if (c->o.reason != NULL && (r->reason = strdup(c->o.reason)) == NULL)
		return -1;
	if (c->o.pattern != NULL && (r->pattern = strdup(c->o.pattern)) == NULL)
		return -1;
	if (c->o.sel == CPK_SEL_IDS) {
		r->ids = calloc(c->o.n_ids, sizeof(*r->ids));
		if (r->ids == NULL)
			return -1;
		for (i = 0; i < c->o.n_ids; i++) {
			/* the same id twice is one deletion */
			size_t j;
			bool dup = false;

			for (j = 0; j < r->n_ids; j++)
				dup = dup || strcmp(r->ids[j], c->o.ids[i]) == 0;
			if (dup)
				continue;
			if ((r->ids[r->n_ids] = strdup(c->o.ids[i])) == NULL)
				return -1;
			r->n_ids++;
		}
	}
	return 0;
}

static void
describe_target(const struct cpk_request *r, char *buf, size_t len)
{
	switch (r->selector) {
	case CPK_SEL_ALL: snprintf(buf, len, "every passkey"); break;
	case CPK_SEL_IDS: snprintf(buf, len, "%zu passkey%s by id", r->n_ids,
				   r->n_ids == 1 ? "" : "s"); break;
	case CPK_SEL_NAME: snprintf(buf, len, "passkeys named like '%s'", r->pattern); break;
	case CPK_SEL_RP: snprintf(buf, len, "passkeys of relying party %s", r->pattern); break;
	}
}

static int
cmd_flag(struct cmd *c, const char *user)
{
	struct cpk_pending p = { NULL, 0 };
	struct cpk_store *st = NULL;
	struct cpk_request r;
	struct cpk_event ev;
	char err[CPK_ERR_LEN], sel[300], what[300];
	int lockfd = -1, status = CPK_USAGE;
	json_object *o;

	memset(&r, 0, sizeof(r));
	if (build_request(c, &r) < 0) {
		fail(CPK_USAGE, "out of memory");
		goto out;
	}
	cpk_selector_describe(&r, sel, sizeof(sel));
	describe_target(&r, what, sizeof(what));
	if (c->o.dry_run) {
		printf("would flag the revocation of %s of %s\n", what, user);
		status = CPK_DONE;
		goto out;
	}
	if (open_store(c, CPK_STORE_CREATE, &st, false) != 0 ||
	    (lockfd = lock_user(c, st, user)) < 0 || load_pending(st, user, &p) != 0)
		goto out;
	if (cpk_pending_add(&p, &r) < 0) {
		fail(CPK_USAGE, "%s has %d pending requests already: run or cancel them first",
		     user, CPK_STORE_MAX_REQUESTS);
		goto out;
	}
	if (cpk_pending_save(st, user, &p, err, sizeof(err)) < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	ev = (struct cpk_event){ .time = p.items[p.n - 1].requested_at, .event = "requested",
				 .request = p.items[p.n - 1].id, .actor = c->actor,
				 .reason = c->o.reason, .selector = sel,
				 .deleted = -1, .absent = -1, .failed = -1, .attempts = -1 };
	if (cpk_history_append(st, user, &ev, err, sizeof(err)) < 0)
		fprintf(stderr, PROG ": warning: %s\n", err);
	cpk_audit(&c->log, LOG_NOTICE, "revocation_requested", user, "selector", sel,
		  "actor", c->actor, "reason", c->o.reason, "revocation", p.items[p.n - 1].id,
		  (const char *)NULL);
	if (c->o.json) {
		o = json_object_new_object();
		jset_str(o, "user", user);
		json_object_object_add(o, "request", request_json(&p.items[p.n - 1]));
		print_json(o);
		json_object_put(o);
	} else {
		printf("%s: revocation of %s flagged (%s); it runs at %s's next session, "
		       "or now with: " PROG " -x %s\n", user, what, p.items[p.n - 1].id, user, user);
	}
	status = CPK_DONE;
out:
	cpk_request_free(&r);
	cpk_pending_free(&p);
	cpk_store_unlock(lockfd);
	cpk_store_close(st);
	return status;
}

static int
cmd_cancel(struct cmd *c, const char *user)
{
	struct cpk_pending p = { NULL, 0 }, none = { NULL, 0 };
	struct cpk_store *st = NULL;
	struct cpk_event ev;
	char err[CPK_ERR_LEN], sel[300];
	int lockfd = -1, status = CPK_USAGE, rc;
	size_t i;

	rc = open_store(c, 0, &st, true);
	if (rc != 0) {
		status = rc == 1 ? CPK_DONE : CPK_USAGE;
		if (rc == 1)
			printf("%s: nothing pending\n", user);
		goto out;
	}
	if ((lockfd = lock_user(c, st, user)) < 0 || load_pending(st, user, &p) != 0)
		goto out;
	if (p.n == 0 || c->o.dry_run) {
		printf("%s: %s\n", user, p.n == 0 ? "nothing pending" :
		       "would cancel the pending revocations");
		status = CPK_DONE;
		goto out;
	}
	if (cpk_pending_save(st, user, &none, err, sizeof(err)) < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	for (i = 0; i < p.n; i++) {
		cpk_selector_describe(&p.items[i], sel, sizeof(sel));
		ev = (struct cpk_event){ .time = cpk_now(), .event = "cancelled",
					 .request = p.items[i].id, .actor = c->actor,
					 .reason = c->o.reason, .selector = sel,
					 .deleted = -1, .absent = -1, .failed = -1, .attempts = -1 };
		if (cpk_history_append(st, user, &ev, err, sizeof(err)) < 0)
			fprintf(stderr, PROG ": warning: %s\n", err);
		cpk_audit(&c->log, LOG_NOTICE, "revocation_cancelled", user, "selector", sel,
			  "actor", c->actor, "reason", c->o.reason, "revocation", p.items[i].id,
			  (const char *)NULL);
	}
	printf("%s: %zu pending revocation%s cancelled\n", user, p.n, p.n == 1 ? "" : "s");
	status = CPK_DONE;
out:
	cpk_pending_free(&p);
	cpk_store_unlock(lockfd);
	cpk_store_close(st);
	return status;
}

/* ---- status and history ------------------------------------------------ */

static void
status_line(const char *user, const struct cpk_user_status *us)
{
	char t[32], a[SHOWN_MAX], b[PATH_MAX * 4];

	printf("%s %s", user, us->state);
	if (strcmp(us->state, "pending") == 0) {
		short_time(us->since, t, sizeof(t));
		printf(" %zu request%s since %s", us->requests, us->requests == 1 ? "" : "s", t);
		if (us->last_error[0] != '\0')
			printf(" last_error=%s", SHOWN(a, us->last_error));
		if (us->attempts > 0)
			printf(" attempts=%u", us->attempts);
	} else if (strcmp(us->state, "corrupt") == 0) {
		printf(" kept=%s", SHOWN(b, us->corrupt));
	} else if (strcmp(us->state, "none") != 0) {
		short_time(us->at, t, sizeof(t));
		printf(" %s", t);
	}
	if (us->any_history && strcmp(us->state, "pending") != 0)
		printf(" deleted=%ld absent=%ld failed=%ld", us->deleted, us->absent,
		       us->failed);
	if (strcmp(us->state, "failed") == 0 && us->last_failure[0] != '\0')
		printf(" last_error=%s", SHOWN(a, us->last_failure));
	if (strcmp(us->state, "pending") != 0 && us->warning[0] != '\0')
		printf(" warning=%s", SHOWN(a, us->warning));
	putchar('\n');
}

static json_object *
status_json(const char *user, const struct cpk_user_status *us, const struct cpk_pending *p)
{
	json_object *o = json_object_new_object(), *arr;
	char t[32];
	size_t i;

	jset_str(o, "user", user);
	jset_str(o, "state", us->state);
	if (p->n > 0) {
		iso_time(us->since, t, sizeof(t));
		jset_str(o, "since", t);
		jset_int(o, "attempts", us->attempts);
		jset_str(o, "last_error", us->last_error[0] != '\0' ? us->last_error : NULL);
		arr = json_object_new_array();
		for (i = 0; i < p->n; i++)
			json_object_array_add(arr, request_json(&p->items[i]));
		json_object_object_add(o, "requests", arr);
	} else if (us->at > 0) {
		iso_time(us->at, t, sizeof(t));
		jset_str(o, "at", t);
	}
	if (us->corrupt[0] != '\0')
		jset_str(o, "corrupt_file", us->corrupt);
	if (p->n == 0 && us->warning[0] != '\0')
		jset_str(o, "warning", us->warning);
	jset_int(o, "deleted", us->deleted);
	jset_int(o, "absent", us->absent);
	jset_int(o, "failed", us->failed);
	return o;
}

/* One user's status; 0, or CPK_USAGE. */
static int
user_status(struct cmd *c, struct cpk_store *st, const char *user, json_object *arr)
{
	struct cpk_pending p = { NULL, 0 };
	struct cpk_user_status us;
	char err[CPK_ERR_LEN];
	int rc = CPK_USAGE;

	if (cpk_store_user_status(st, user, &us, &p, err, sizeof(err)) < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (arr != NULL)
		json_object_array_add(arr, status_json(user, &us, &p));
	else
		status_line(user, &us);
	rc = 0;
out:
	cpk_pending_free(&p);
	return rc;
}

static int
cmd_status(struct cmd *c)
{
	json_object *arr = c->o.json ? json_object_new_array() : NULL;
	struct cpk_store *st = NULL;
	char **all = NULL, err[CPK_ERR_LEN], *self[2] = { NULL, NULL };
	char **users = c->o.users;
	struct passwd *pw;
	int n = c->o.n_users, i, rc, status = CPK_DONE;

	if (c->o.all_users && !c->is_root)
		return fail(CPK_USAGE, "permission denied: only root may see the status of "
			    "every user");
	if (n == 0 && !c->o.all_users) {
		pw = getpwuid(getuid());
		if (pw == NULL || (self[0] = strdup(pw->pw_name)) == NULL)
			return fail(CPK_USAGE, "who are you?");
		users = self;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		if (check_user(users[i], false) != 0) {
			status = CPK_USAGE;
			goto out;
		}
		if (!c->is_root && strcmp(users[i], c->actor) != 0) {
			status = fail(CPK_USAGE, "permission denied: only root may see the status of "
				      "other users");
			goto out;
		}
	}
	rc = open_store(c, 0, &st, true);
	if (rc < 0) {
		status = CPK_USAGE;
		goto out;
	}
	if (c->o.all_users && st != NULL) {
		if (cpk_store_users(st, &all, err, sizeof(err)) < 0) {
			status = fail(CPK_USAGE, "%s", err);
			goto out;
		}
		users = all;
		for (n = 0; all[n] != NULL; n++)
			;
	}
	for (i = 0; i < n && !c->o.all_users; i++) {
		/* a user that has gone from passwd may still have state */
		if (getpwnam(users[i]) == NULL && !cpk_store_has_state(st, users[i])) {
			status = fail(CPK_USAGE, "user '%s' does not exist", users[i]);
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (user_status(c, st, users[i], arr) != 0)
			status = CPK_USAGE;
	if (arr != NULL)
		print_json(arr);
out:
	json_object_put(arr);
	cpk_argv_free(all);
	free(self[0]);
	cpk_store_close(st);
	return status;
}

struct hist_ctx {
	json_object *arr;
	size_t n;
};

static void
num(char *buf, size_t len, long v)
{
	if (v < 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%ld", v);
}

static int
history_line(void *ctx, const char *json, const struct cpk_event *ev)
{
	char t[32], line[CPK_AUDIT_MAX], d[24], a[24], f[24], n[24];
	struct hist_ctx *h = ctx;

	h->n++;
	if (h->arr != NULL) {
		json_object *raw = json_tokener_parse(json);

		/* the stored line may hold invalid UTF-8 or controls from a name */
		json_object_array_add(h->arr, jclean(raw));
		json_object_put(raw);
		return 0;
	}
	iso_time(ev->time, t, sizeof(t));
	num(d, sizeof(d), ev->deleted);
	num(a, sizeof(a), ev->absent);
	num(f, sizeof(f), ev->failed);
	num(n, sizeof(n), ev->attempts);
	cpk_audit_format(line, sizeof(line), ev->event, NULL,
			 "credential", ev->credential, "name", ev->name,
			 "request", ev->cognito_request, "selector", ev->selector,
			 "deleted", d[0] != '\0' ? d : NULL, "absent", a[0] != '\0' ? a : NULL,
			 "failed", f[0] != '\0' ? f : NULL, "attempts", n[0] != '\0' ? n : NULL,
			 "error", ev->error, "detail", ev->detail,
			 "actor", ev->actor, "reason", ev->reason, "run_by", ev->run_by,
			 "revocation", ev->request, (const char *)NULL);
	printf("%s %s\n", t, line);
	return 0;
}

static int
cmd_history(struct cmd *c, const char *user)
{
	struct hist_ctx h = { c->o.json ? json_object_new_array() : NULL, 0 };
	struct cpk_store *st = NULL;
	char err[CPK_ERR_LEN];
	int rc, status = CPK_USAGE;

	if (check_user(user, false) != 0)
		goto out;
	if (!c->is_root && strcmp(user, c->actor) != 0) {
		fail(CPK_USAGE, "permission denied: only root may read the history of other users");
		goto out;
	}
	rc = open_store(c, 0, &st, true);
	if (rc < 0)
		goto out;
	if (getpwnam(user) == NULL && !cpk_store_has_state(st, user)) {
		fail(CPK_USAGE, "user '%s' does not exist", user);
		goto out;
	}
	if (st != NULL && cpk_history_read(st, user, history_line, &h, err, sizeof(err)) < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (h.arr != NULL)
		print_json(h.arr);
	else if (h.n == 0)
		printf("%s: no history\n", user);
	status = CPK_DONE;
out:
	json_object_put(h.arr);
	cpk_store_close(st);
	return status;
}

/* ---- corrupt state ------------------------------------------------------- */

/*
 * The administrator's resolution of corrupt state: each corrupt file of
 * the user is removed under the lock, with a history event and an audit
 * line, so the record says who dropped what.
 */
static int
cmd_discard(struct cmd *c, const char *user)
{
	struct cpk_store *st = NULL;
	struct cpk_event ev;
	char err[CPK_ERR_LEN], path[PATH_MAX];
	int lockfd = -1, status = CPK_USAGE, rc, n = 0;

	rc = open_store(c, 0, &st, true);
	if (rc != 0) {
		if (rc == 1)
			printf("%s: no corrupt state\n", user);
		status = rc == 1 ? CPK_DONE : CPK_USAGE;
		goto out;
	}
	if ((lockfd = lock_user(c, st, user)) < 0)
		goto out;
	while (!c->o.dry_run &&
	       (rc = cpk_store_discard_corrupt(st, user, path, sizeof(path), err, sizeof(err))) == 1) {
		n++;
		ev = (struct cpk_event){ .time = cpk_now(), .event = "discarded", .actor = c->actor,
					 .error = "corrupt_state", .detail = path,
					 .deleted = -1, .absent = -1, .failed = -1, .attempts = -1 };
		if (cpk_history_append(st, user, &ev, err, sizeof(err)) < 0)
			fprintf(stderr, PROG ": warning: %s\n", err);
		cpk_audit(&c->log, LOG_ALERT, "state_corrupt", user, "action", "discarded",
			  "file", path, "actor", c->actor, (const char *)NULL);
		printf("%s: discarded %s\n", user, path);
	}
	if (rc < 0) {
		fail(CPK_USAGE, "%s", err);
		goto out;
	}
	if (n == 0)
		printf("%s: %s\n", user, c->o.dry_run ? "dry run: nothing discarded" :
		       "no corrupt state");
	status = CPK_DONE;
out:
	cpk_store_unlock(lockfd);
	cpk_store_close(st);
	return status;
}

/* ---- list --------------------------------------------------------------- */

static void
list_print(const char *user, const struct cpk_credential_list *l, bool json)
{
	json_object *arr = NULL, *o, *tr;
	char line[CPK_AUDIT_MAX], t[32];
	size_t i, k;

	if (json)
		arr = json_object_new_array();
	for (i = 0; i < l->n; i++) {
		const struct cpk_credential *cr = &l->items[i];

		iso_time((int64_t)cr->created_at, t, sizeof(t));
		if (!json) {
			cpk_audit_format(line, sizeof(line), "passkey", NULL, "id", cr->id,
					 "name", cr->name, "rp", cr->rp_id, "created", t,
					 "attachment", cr->attachment, (const char *)NULL);
			/* "event=passkey id=..." reads better without the event key */
			printf("%s\n", line + strlen("event=passkey "));
			continue;
		}
		o = json_object_new_object();
		jset_str(o, "credential_id", cr->id);
		jset_str(o, "name", cr->name);
		jset_str(o, "rp_id", cr->rp_id);
		jset_str(o, "created_at", t);
		jset_str(o, "attachment", cr->attachment);
		tr = json_object_new_array();
		for (k = 0; cr->transports != NULL && cr->transports[k] != NULL; k++)
			json_object_array_add(tr, jstr(cr->transports[k]));
		json_object_object_add(o, "transports", tr);
		json_object_array_add(arr, o);
	}
	if (json) {
		o = json_object_new_object();
		jset_str(o, "user", user);
		json_object_object_add(o, "passkeys", arr);
		print_json(o);
		json_object_put(o);
	} else if (l->n == 0) {
		printf("%s: no passkeys\n", user);
	}
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
	list_print(user, &l, c->o.json);
	cpk_credential_list_free(&l);
	return CPK_DONE;
}

/* ---- running: forked workers ------------------------------------------- */

struct result {
	char *user;
	int status;
	bool complete;		/* the worker sent its result line */
	unsigned int deleted, absent, failed, pending, would, completed;
	char last_error[96];
	char **lines;		/* the engine's report lines */
	size_t n_lines;
};

struct worker {
	pid_t pid;
	int fd;
	struct result *res;
	char *buf;
	size_t len;
};

struct runner {
	struct cmd *c;
	struct cpk_rate *rate;
	bool progress;
	size_t total, finished, n_done, n_pending, n_failed;
	json_object *arr;
};

static void
parse_result_line(struct result *r, const char *line)
{
	char err[96] = "";
	int st;

	if (sscanf(line, "result\t%d\t%u\t%u\t%u\t%u\t%u\t%u\t%95[^\n]", &st, &r->deleted,
		   &r->absent, &r->failed, &r->pending, &r->would, &r->completed, err) >= 7) {
		r->status = st;
		r->complete = true;
		snprintf(r->last_error, sizeof(r->last_error), "%s", err);
	}
}

static void
take_line(struct result *r, const char *line)
{
	if (strncmp(line, "result\t", 7) == 0)
		parse_result_line(r, line);
	else
		cpk_strv_push(&r->lines, &r->n_lines, line);
}

/* The child: one engine run, its report on the pipe. */
static void __attribute__((noreturn))
worker_main(struct runner *rn, const char *user, int fd)
{
	struct cpk_run_result res;
	struct cpk_rate_hook hook;
	struct cpk_run_opts opts;
	struct cpk_deadline dl;
	FILE *fp;
	int status;

	signal(SIGPIPE, SIG_IGN);
	fp = fdopen(fd, "w");
	if (fp == NULL)
		_exit(CPK_USAGE);
	cpk_deadline_init_ms(&dl, (long)rn->c->cfg.timeout * 1000);
	memset(&opts, 0, sizeof(opts));
	opts.actor = rn->c->actor;
	opts.dry_run = rn->c->o.dry_run;
	opts.deadline = &dl;
	opts.report = fp;
	hook.rate = rn->rate;
	hook.deadline = &dl;
	if (rn->rate != NULL) {
		opts.before_request = cpk_rate_before_request;
		opts.before_request_ctx = &hook;
	}
	status = cpk_revoke_user(&rn->c->cfg, &rn->c->log, user, &opts, &res);
	fprintf(fp, "result\t%d\t%u\t%u\t%u\t%u\t%u\t%u\t%s\n", status, res.deleted, res.absent,
		res.failed, res.pending, res.would_delete, res.completed, res.last_error);
	fclose(fp);
	closelog();
	_exit(status);
}

static int
spawn(struct runner *rn, struct worker *w, struct result *res, struct worker *all, size_t n)
{
	int p[2];
	size_t i;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	w->pid = fork();
	if (w->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (w->pid == 0) {
		close(p[0]);
		for (i = 0; i < n; i++)
			if (all[i].pid > 0 && all[i].fd >= 0)
				close(all[i].fd);
		worker_main(rn, res->user, p[1]);
	}
	close(p[1]);
	w->fd = p[0];
	w->res = res;
	w->len = 0;
	return 0;
}

static const char *
status_word(int status)
{
	switch (status) {
	case CPK_DONE: return "done";
	case CPK_PENDING: return "pending";
	case CPK_FAILED: return "failed";
	default: return "error";
	}
}

static void
progress(struct runner *rn, bool final)
{
	if (!rn->progress)
		return;
	fprintf(stderr, "\r\033[K" PROG ": %zu/%zu users, %zu done, %zu pending, %zu failed%s",
		rn->finished, rn->total, rn->n_done, rn->n_pending, rn->n_failed,
		final ? "\n" : "");
	fflush(stderr);
}

/* A report line of revoke.h: up to four tab-separated fields, in place. */
static void
split_report(char *line, char *f[4])
{
	char *tok = line;
	int i;

	for (i = 0; i < 4; i++)
		f[i] = NULL;
	for (i = 0; tok != NULL && i < 4; i++) {
		f[i] = tok;
		tok = strchr(tok, '\t');
		if (tok != NULL)
			*tok++ = '\0';
	}
}

static void
print_outcome(const char *user, char *line)
{
	char *f[4], shown[4][SHOWN_MAX];
	int i;

	split_report(line, f);
	if (f[1] == NULL)
		return;
	/* names and error codes come from Cognito */
	for (i = 0; i < 4; i++)
		if (f[i] != NULL)
			f[i] = SHOWN(shown[i], f[i]);
	if (strcmp(f[0], "pending") == 0)
		printf("%s: stays pending: %s%s%s\n", user, f[1],
		       f[2] != NULL && f[2][0] != '\0' ? ": " : "", f[2] != NULL ? f[2] : "");
	else if (strcmp(f[0], "failed") == 0)
		printf("%s: failed \"%s\" (%s): %s\n", user, f[1], f[2] ? f[2] : "",
		       f[3] ? f[3] : "");
	else if (strcmp(f[0], "would_delete") == 0)
		printf("%s: would delete \"%s\" (%s)\n", user, f[1], f[2] ? f[2] : "");
	else if (strcmp(f[0], "absent") == 0)
		printf("%s: already gone \"%s\" (%s)\n", user, f[1], f[2] ? f[2] : "");
	else
		printf("%s: %s \"%s\" (%s)\n", user, f[0], f[1], f[2] ? f[2] : "");
}

static void
print_human(const struct result *r, bool dry_run)
{
	char last[SHOWN_MAX];
	size_t i;

	SHOWN(last, r->last_error);
	for (i = 0; i < r->n_lines; i++)
		print_outcome(r->user, r->lines[i]);
	if (r->status == CPK_USAGE)
		printf("%s: not carried out%s%s\n", r->user,
		       r->last_error[0] != '\0' ? ": " : "", last);
	else if (dry_run && r->status == CPK_DONE && r->pending > 0)
		printf("%s: dry run: %u passkey%s would be deleted\n", r->user, r->would,
		       r->would == 1 ? "" : "s");
	else if (r->status == CPK_DONE && r->n_lines == 0 && r->completed == 0)
		printf("%s: nothing pending\n", r->user);
	else
		printf("%s: %s: %u deleted, %u already gone, %u failed, %u request%s pending%s%s\n",
		       r->user, status_word(r->status), r->deleted, r->absent, r->failed,
		       r->pending, r->pending == 1 ? "" : "s",
		       r->last_error[0] != '\0' ? ", last error " : "", last);
}

static json_object *
result_json(const struct result *r)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array(), *x;
	size_t i;

	jset_str(o, "user", r->user);
	jset_str(o, "status", status_word(r->status));
	jset_int(o, "exit", r->status);
	jset_int(o, "deleted", r->deleted);
	jset_int(o, "absent", r->absent);
	jset_int(o, "failed", r->failed);
	jset_int(o, "pending_requests", r->pending);
	jset_int(o, "completed_requests", r->completed);
	if (r->would > 0)
		jset_int(o, "would_delete", r->would);
	jset_str(o, "last_error", r->last_error[0] != '\0' ? r->last_error : NULL);
	for (i = 0; i < r->n_lines; i++) {
		char *copy = strdup(r->lines[i]), *f[4];

		if (copy == NULL)
			continue;
		split_report(copy, f);
		x = json_object_new_object();
		jset_str(x, "outcome", f[0]);
		if (strcmp(f[0], "pending") == 0) {
			jset_str(x, "error", f[1]);
			jset_str(x, "detail", f[2]);
		} else {
			jset_str(x, "name", f[1]);
			jset_str(x, "credential_id", f[2]);
			jset_str(x, "error", f[3]);
		}
		json_object_array_add(arr, x);
		free(copy);
	}
	json_object_object_add(o, "outcomes", arr);
	return o;
}

static void
finished(struct runner *rn, struct worker *w)
{
	struct result *r = w->res;
	int wstatus = 0;

	close(w->fd);
	w->fd = -1;
	while (waitpid(w->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	if (!r->complete) {
		/* a worker that died leaves the state as it was: still pending */
		r->status = CPK_PENDING;
		snprintf(r->last_error, sizeof(r->last_error), "worker_%s",
			 WIFSIGNALED(wstatus) ? "killed" : "crashed");
	}
	rn->finished++;
	if (r->status == CPK_DONE)
		rn->n_done++;
	else if (r->status == CPK_FAILED)
		rn->n_failed++;
	else
		rn->n_pending++;
	if (rn->progress)
		fprintf(stderr, "\r\033[K");
	if (rn->arr != NULL)
		json_object_array_add(rn->arr, result_json(r));
	else
		print_human(r, rn->c->o.dry_run);
	fflush(stdout);
	progress(rn, false);
}

/* Read what a worker wrote; true at EOF. */
static bool
drain(struct worker *w)
{
	char chunk[4096], *nl, *grown;
	ssize_t n;

	n = read(w->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0)
		return true;
	grown = realloc(w->buf, w->len + (size_t)n + 1);
	if (grown == NULL)
		return true;
	w->buf = grown;
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	while ((nl = memchr(w->buf, '\n', w->len)) != NULL) {
		*nl = '\0';
		take_line(w->res, w->buf);
		w->len -= (size_t)(nl + 1 - w->buf);
		memmove(w->buf, nl + 1, w->len + 1);
	}
	return false;
}

static int
run_users(struct runner *rn, struct result *res, size_t n, unsigned int jobs)
{
	struct worker *w = calloc(jobs, sizeof(*w));
	struct pollfd pfd[MAX_JOBS];
	size_t next = 0, running = 0, i;
	int k, np;

	if (w == NULL)
		return -1;
	for (i = 0; i < jobs; i++)
		w[i].fd = -1;
	progress(rn, false);
	while (next < n || running > 0) {
		for (i = 0; i < jobs && next < n; i++) {
			if (w[i].pid != 0)
				continue;
			if (spawn(rn, &w[i], &res[next], w, jobs) < 0) {
				res[next].status = CPK_USAGE;
				snprintf(res[next].last_error, sizeof(res[next].last_error),
					 "fork_failed");
				res[next].complete = true;
				next++;
				continue;
			}
			next++;
			running++;
		}
		for (i = 0, np = 0; i < jobs; i++) {
			if (w[i].pid == 0)
				continue;
			pfd[np].fd = w[i].fd;
			pfd[np].events = POLLIN;
			np++;
		}
		if (np == 0)
			continue;
		if (poll(pfd, (nfds_t)np, -1) < 0 && errno != EINTR)
			break;
		for (i = 0, k = 0; i < jobs; i++) {
			if (w[i].pid == 0)
				continue;
			if ((pfd[k++].revents & (POLLIN | POLLHUP | POLLERR)) && drain(&w[i])) {
				finished(rn, &w[i]);
				running--;
			}
		}
	}
	for (i = 0; i < jobs; i++)
		free(w[i].buf);
	free(w);
	progress(rn, true);
	return 0;
}

/* Every user with a pending file, sorted. */
static int
pending_users(struct cmd *c, char ***out, size_t *n)
{
	struct cpk_store *st = NULL;
	char **all = NULL, err[CPK_ERR_LEN];
	size_t i, k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = open_store(c, 0, &st, true);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	if (cpk_store_users(st, &all, err, sizeof(err)) < 0) {
		cpk_store_close(st);
		return fail(-1, "%s", err);
	}
	for (i = 0; all[i] != NULL; i++) {
		if (cpk_pending_exists(st, all[i]) == 1)
			all[k++] = all[i];
		else
			free(all[i]);
	}
	all[k] = NULL;
	cpk_store_close(st);
	*out = all;
	*n = k;
	return 0;
}

static int
aggregate(const struct result *res, size_t n)
{
	bool pending = false, failed = false;
	size_t i;

	for (i = 0; i < n; i++) {
		pending = pending || res[i].status == CPK_PENDING || res[i].status == CPK_USAGE;
		failed = failed || res[i].status == CPK_FAILED;
	}
	return pending ? CPK_PENDING : failed ? CPK_FAILED : CPK_DONE;
}

static int
cmd_run(struct cmd *c, char **users, size_t n, bool many)
{
	struct runner rn;
	struct result *res;
	size_t i, k;
	int status;
	json_object *o;

	memset(&rn, 0, sizeof(rn));
	rn.c = c;
	rn.total = n;
	rn.progress = many && isatty(STDERR_FILENO);
	rn.arr = c->o.json ? json_object_new_array() : NULL;
	if (many && c->o.rate_set && (rn.rate = cpk_rate_new(c->o.rate)) == NULL)
		return fail(CPK_USAGE, "cannot set up the rate limit: %s", strerror(errno));
	res = calloc(n > 0 ? n : 1, sizeof(*res));
	if (res == NULL)
		return fail(CPK_USAGE, "out of memory");
	for (i = 0; i < n; i++) {
		res[i].user = users[i];
		res[i].status = CPK_USAGE;
	}
	if (many && n == 0 && rn.arr == NULL)
		printf("nothing pending\n");
	run_users(&rn, res, n, many ? c->o.jobs : 1);
	status = aggregate(res, n);
	if (rn.arr != NULL) {
		if (many) {
			o = json_object_new_object();
			json_object_object_add(o, "users", json_object_get(rn.arr));
			jset_int(o, "exit", status);
			print_json(o);
			json_object_put(o);
		} else if (json_object_array_length(rn.arr) == 1) {
			print_json(json_object_array_get_idx(rn.arr, 0));
		}
	}
	if (!many && n == 1)
		status = res[0].status;
	for (i = 0; i < n; i++) {
		for (k = 0; k < res[i].n_lines; k++)
			free(res[i].lines[k]);
		free(res[i].lines);
	}
	free(res);
	json_object_put(rn.arr);
	cpk_rate_free(rn.rate);
	return status;
}

static int
cmd_run_pending(struct cmd *c)
{
	char **users;
	size_t n;
	int status;

	if (pending_users(c, &users, &n) < 0)
		return CPK_USAGE;
	status = cmd_run(c, users, n, true);
	cpk_argv_free(users);
	return status;
}

/* ---- main ---------------------------------------------------------------- */

static int
set_actor(struct cmd *c)
{
	struct passwd *pw = getpwuid(getuid());

	c->is_root = getuid() == 0 && geteuid() == 0;
	if (pw != NULL && cpk_user_name_valid(pw->pw_name))
		snprintf(c->actor, sizeof(c->actor), "%s", pw->pw_name);
	else
		snprintf(c->actor, sizeof(c->actor), "uid:%lu", (unsigned long)getuid());
	return 0;
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
	case M_STATUS: return cmd_status(c);
	case M_RUN: return check_user(u[0], true) ?: cmd_run(c, u, 1, false);
	case M_RUN_PENDING: return cmd_run_pending(c);
	case M_LIST: return check_user(u[0], true) ?: cmd_list(c, u[0]);
	case M_HISTORY: return cmd_history(c, u[0]);
	case M_DISCARD: return check_user(u[0], false) ?: cmd_discard(c, u[0]);
	default: return CPK_USAGE;
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
			  c.o.mode == M_FLAG ? "flag revocations" :
			  c.o.mode == M_CANCEL ? "cancel revocations" :
			  c.o.mode == M_LIST ? "list another user's passkeys" :
			  c.o.mode == M_DISCARD ? "discard revocation state" :
			  "carry out revocations");
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
	rc = dispatch(&c);
	closelog();
out:
	free(c.o.ids);
	cpk_config_free(&c.cfg);
	if (rc < 0)
		rc = CPK_DONE;	/* -h, -V */
	return rc;
}
