/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * bench_pam.c - the PAM module's fast path, timed (tests/bench/run.sh).
 *
 *   bench_pam loop DIR SERVICE USER N     N x pam_open_session + pam_close_session on one handle
 *   bench_pam bare CONF USER N            the bare minimum the module must do, N times
 *   bench_pam lines CONF USER N           the same, visiting every line (memchr) as a parser must
 *   bench_pam hold DIR SERVICE USER K     RSS of K handles, each opened once
 *   bench_pam run [-s] CMD [ARG...]      run CMD: wall time, peak RSS, exit status
 *                                        (CMD's output goes to $BENCH_CHILD_OUT if set)
 *
 * loop, bare and lines print "ns_per_call=X calls=N first=PAM_CODE"; hold prints
 * "rss_kb_0=A rss_kb_1=B rss_kb_k=C handles=K"; run prints "wall_ms=T
 * maxrss_kb=M status=S" (M from wait4: the largest of CMD and the children
 * it reaped) and, with -s, "parent_hwm_kb=P child_hwm_kb=C parent_anon_kb=A
 * child_anon_kb=B children=N", sampled from /proc every 2 ms (VmHWM and the
 * largest RssAnon, private memory without the shared library pages, of CMD
 * and of each child of CMD).  Under valgrind --tool=callgrind
 * --instr-atstart=no only the timed loop is counted (after one warm-up
 * call, so dlopen and first-touch costs stay out).
 *
 * The bare minimum, a plain C function: open the configuration file, check
 * that root owns it (fstat: the module must refuse a file someone else
 * could write), read it to EOF, close it, find the last line that starts
 * with "state_dir" (strstr: no per-line work, no validation), build
 * state_dir/pending/USER with memcpy, stat it.  "lines" adds what any
 * parser that tells comments from settings must add: one memchr() per
 * line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#ifdef HAVE_CALLGRIND_H
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;	/* the fast path never talks */
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A "Key: N kB" line of /proc/PID/status, or -1. */
static long
status_kb(const char *path, const char *fmt)
{
	char line[256];
	long kb = -1;
	FILE *fp = fopen(path, "re");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, fmt, &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

static long
rss_kb(void)
{
	return status_kb("/proc/self/status", "VmRSS: %ld kB");
}

/* The parent pid of /proc/NAME, or -1. */
static long
ppid_of(const char *name)
{
	char path[300];

	snprintf(path, sizeof(path), "/proc/%s/status", name);
	return status_kb(path, "PPid: %ld");
}

/* Track VmHWM of pid and of its children; the children's pids, to count them. */
struct sample {
	long parent_hwm, child_hwm;
	long parent_anon, child_anon;	/* largest RssAnon seen */
	long seen[4096];
	size_t n_seen;
};

static void
sample_once(pid_t pid, struct sample *s)
{
	char path[300];
	struct dirent *e;
	DIR *d;
	long kb;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((kb = status_kb(path, "VmHWM: %ld kB")) > s->parent_hwm)
		s->parent_hwm = kb;
	if ((kb = status_kb(path, "RssAnon: %ld kB")) > s->parent_anon)
		s->parent_anon = kb;
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		long child;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || ppid_of(e->d_name) != (long)pid)
			continue;
		child = atol(e->d_name);
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((kb = status_kb(path, "VmHWM: %ld kB")) > s->child_hwm)
			s->child_hwm = kb;
		if ((kb = status_kb(path, "RssAnon: %ld kB")) > s->child_anon)
			s->child_anon = kb;
		for (i = 0; i < s->n_seen && s->seen[i] != child; i++)
			;
		if (i == s->n_seen && s->n_seen < sizeof(s->seen) / sizeof(s->seen[0]))
			s->seen[s->n_seen++] = child;
	}
	closedir(d);
}

static int
run(int argc, char **argv)
{
	static struct sample s;
	struct rusage ru;
	struct timespec pause = { 0, 2000000 };
	bool sampling = argc > 0 && strcmp(argv[0], "-s") == 0;
	double t0, t1;
	int status = 0;
	pid_t pid, r;

	if (sampling) {
		argv++;
		argc--;
	}
	if (argc < 1)
		return 2;
	t0 = now_ns();
	if ((pid = fork()) < 0)
		return 2;
	if (pid == 0) {
		const char *out = getenv("BENCH_CHILD_OUT");
		int fd;

		if (out != NULL && (fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		r = sampling ? wait4(pid, &status, WNOHANG, &ru) : wait4(pid, &status, 0, &ru);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (sampling) {
			sample_once(pid, &s);
			nanosleep(&pause, NULL);
		}
	}
	t1 = now_ns();
	printf("wall_ms=%.3f maxrss_kb=%ld status=%d", (t1 - t0) / 1e6, ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (sampling)
		printf(" parent_hwm_kb=%ld child_hwm_kb=%ld parent_anon_kb=%ld child_anon_kb=%ld"
		       " children=%zu", s.parent_hwm, s.child_hwm, s.parent_anon, s.child_anon,
		       s.n_seen);
	printf("\n");
	return 0;
}

static pam_handle_t *
start(const char *dir, const char *service, const char *user)
{
	static struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	int rc = pam_start_confdir(service, user, &pc, dir, &pamh);

	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir: %d\n", rc);
		exit(2);
	}
	return pamh;
}

static int
loop(const char *dir, const char *service, const char *user, long n)
{
	pam_handle_t *pamh = start(dir, service, user);
	double t0, t1;
	int first, rc = PAM_SUCCESS;
	long i;

	first = pam_open_session(pamh, 0);	/* warm-up: loads the stack */
	pam_close_session(pamh, 0);
	CALLGRIND_START_INSTRUMENTATION;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		rc |= pam_open_session(pamh, 0) != first;
		pam_close_session(pamh, 0);
	}
	t1 = now_ns();
	CALLGRIND_STOP_INSTRUMENTATION;
	pam_end(pamh, PAM_SUCCESS);
	printf("ns_per_call=%.1f calls=%ld first=%s changed=%d\n", (t1 - t0) / (double)n, n,
	       first == PAM_SUCCESS ? "PAM_SUCCESS" : pam_strerror(NULL, first), rc);
	return rc;
}

/* The value of the last "state_dir = X" line in buf (NUL-terminated), or NULL. */
static const char *
state_dir_of(const char *buf, size_t len, size_t *vlen)
{
	static const char key[] = "\nstate_dir";
	const char *p = buf, *hit = NULL, *v, *nl;

	/* strstr, not memmem: glibc's strstr is vectorised, its memmem is not */
	while ((p = strstr(p, key)) != NULL)
		hit = ++p;
	if (hit == NULL || (v = memchr(hit, '=', len - (size_t)(hit - buf))) == NULL)
		return NULL;
	for (v++; *v == ' ' || *v == '\t'; v++)
		;
	if ((nl = memchr(v, '\n', len - (size_t)(v - buf))) == NULL)
		nl = buf + len;
	while (nl > v && (nl[-1] == ' ' || nl[-1] == '\t'))
		nl--;
	*vlen = (size_t)(nl - v);
	return v;
}

/* One memchr() per line: the least a parser that sees every line does. */
static size_t
visit_lines(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;
	size_t settings = 0;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		settings += nl > p && *p != '#';
	}
	return settings;
}

static int
bare_once(const char *conf, const char *user, bool lines)
{
	static char buf[65536];
	char path[PATH_MAX];
	const char *dir;
	struct stat st;
	size_t len = 0, dl, ul = strlen(user);
	ssize_t r;
	int fd = open(conf, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0) {
		close(fd);
		return -1;
	}
	while ((r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	if (lines && visit_lines(buf, len) == 0)
		return -1;
	if ((dir = state_dir_of(buf, len, &dl)) == NULL || dl + ul + 10 >= sizeof(path))
		return -1;
	memcpy(path, dir, dl);
	memcpy(path + dl, "/pending/", 9);
	memcpy(path + dl + 9, user, ul + 1);
	return stat(path, &st) == 0 ? 1 : errno == ENOENT ? 0 : -1;
}

static int
bare(const char *conf, const char *user, long n, bool lines)
{
	double t0, t1;
	int first, changed = 0;
	long i;

	first = bare_once(conf, user, lines);
	CALLGRIND_START_INSTRUMENTATION;
	t0 = now_ns();
	for (i = 0; i < n; i++)
		changed |= bare_once(conf, user, lines) != first;
	t1 = now_ns();
	CALLGRIND_STOP_INSTRUMENTATION;
	printf("ns_per_call=%.1f calls=%ld first=%s changed=%d\n", (t1 - t0) / (double)n, n,
	       first == 0 ? "nothing_pending" : first == 1 ? "pending" : "error", changed);
	return first != 0 || changed;
}

static int
hold(const char *dir, const char *service, const char *user, long k)
{
	pam_handle_t **h = calloc((size_t)k, sizeof(*h));
	long i, r0, r1 = -1, rk;

	if (h == NULL)
		return 2;
	r0 = rss_kb();
	for (i = 0; i < k; i++) {
		h[i] = start(dir, service, user);
		pam_open_session(h[i], 0);
		if (i == 0)
			r1 = rss_kb();
	}
	rk = rss_kb();
	printf("rss_kb_0=%ld rss_kb_1=%ld rss_kb_k=%ld handles=%ld\n", r0, r1, rk, k);
	for (i = 0; i < k; i++)
		pam_end(h[i], PAM_SUCCESS);
	free(h);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "loop") == 0)
		return loop(argv[2], argv[3], argv[4], atol(argv[5]));
	if (argc == 5 && strcmp(argv[1], "bare") == 0)
		return bare(argv[2], argv[3], atol(argv[4]), false);
	if (argc == 5 && strcmp(argv[1], "lines") == 0)
		return bare(argv[2], argv[3], atol(argv[4]), true);
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], argv[3], argv[4], atol(argv[5]));
	if (argc >= 3 && strcmp(argv[1], "run") == 0)
		return run(argc - 2, argv + 2);
	fprintf(stderr, "usage: bench_pam loop DIR SERVICE USER N | bare|lines CONF USER N | "
		"hold DIR SERVICE USER K | run [-s] CMD [ARG...]\n");
	return 2;
}
