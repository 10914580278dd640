/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * pam_loop.c - a long-lived PAM host: one process running many
 * pam_start / pam_open_session / pam_close_session / pam_end cycles, as
 * sshd or a display manager does over months, and measuring what it
 * keeps: open descriptors, resident memory, children.
 *
 *   pam_loop -d SERVICEDIR -n CYCLES [-w WARMUP] SERVICE USER
 *
 * The stack is read from SERVICEDIR with pam_start_confdir() (Linux-PAM
 * >= 1.4).  Like sshd, the host has its own SIGCHLD handler installed; the
 * module must neither fire nor replace it.  Descriptors and memory are
 * measured after WARMUP cycles (default 100: the allocator, libpam and
 * the dynamic loader settle) and again after the last one.  Output, one
 * line each, for tests/reliability/longlived.sh:
 *
 *   result open_session PAM_NAME COUNT      one line per distinct result
 *   result close_session PAM_NAME COUNT
 *   cycles N
 *   fds warm=N end=N
 *   rss_kb warm=N end=N
 *   vm_kb warm=N end=N                      total mapped (statm size)
 *   sigchld handler=kept|changed calls=N
 *   children zombie=N other=N reap=none|child
 *   elapsed_ms N
 *
 * Exit status: 0 when every cycle ran, 2 on usage or pam_start failure.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAX_CODE 64

static volatile sig_atomic_t sigchld_calls;

static const char *
code_name(int code)
{
	switch (code) {
	case PAM_SUCCESS: return "PAM_SUCCESS";
	case PAM_SESSION_ERR: return "PAM_SESSION_ERR";
	case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
	case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
	case PAM_IGNORE: return "PAM_IGNORE";
	case PAM_NO_MODULE_DATA: return "PAM_NO_MODULE_DATA";
	case PAM_BUF_ERR: return "PAM_BUF_ERR";
	case PAM_ABORT: return "PAM_ABORT";
	case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
	case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
	case PAM_MODULE_UNKNOWN: return "PAM_MODULE_UNKNOWN";
	default: return "PAM_OTHER";
	}
}

/* The module must never prompt; messages (notify) are accepted and dropped. */
static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r;
	int i;

	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_TEXT_INFO && msg[i]->msg_style != PAM_ERROR_MSG) {
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void
on_sigchld(int sig)
{
	sigchld_calls++;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

/* statm: size and resident, in pages -> KiB */
static void
memory_kb(long *vm, long *rss)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long size = -1, res = -1, page = sysconf(_SC_PAGESIZE) / 1024;

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			size = res = -1;
		fclose(f);
	}
	*vm = size < 0 ? -1 : size * page;
	*rss = res < 0 ? -1 : res * page;
}

/* Our children, from /proc (without reaping them): zombies and others. */
static void
count_children(int *zombie, int *other)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], buf[512], *p, state;
	int ppid;
	FILE *f;

	*zombie = *other = 0;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)getpid()) {
			if (state == 'Z')
				(*zombie)++;
			else
				(*other)++;
		}
		fclose(f);
	}
	closedir(d);
}

struct tally {
	int code[MAX_CODE];
	long count[MAX_CODE];
	int n;
};

static void
tally_add(struct tally *t, int code)
{
	int i;

	for (i = 0; i < t->n; i++) {
		if (t->code[i] == code) {
			t->count[i]++;
			return;
		}
	}
	if (t->n < MAX_CODE) {
		t->code[t->n] = code;
		t->count[t->n++] = 1;
	}
}

static void
tally_print(const struct tally *t, const char *op)
{
	int i;

	for (i = 0; i < t->n; i++)
		printf("result %s %s %ld\n", op, code_name(t->code[i]), t->count[i]);
}

static void
usage(void)
{
	fprintf(stderr, "usage: pam_loop -d SERVICEDIR -n CYCLES [-w WARMUP] SERVICE USER\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	struct tally opened = { .n = 0 }, closed = { .n = 0 };
	struct sigaction sa, cur;
	const char *dir = NULL;
	long cycles = 0, warmup = 100, i, t0;
	long vm_warm = -1, rss_warm = -1, vm_end, rss_end;
	int opt, fds_warm = -1, fds_end, zombie, other, status;
	pid_t reaped;

	while ((opt = getopt(argc, argv, "d:n:w:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'n': cycles = atol(optarg); break;
		case 'w': warmup = atol(optarg); break;
		default: usage();
		}
	}
	if (dir == NULL || cycles <= 0 || warmup < 0 || argc - optind != 2)
		usage();
	if (warmup >= cycles)
		warmup = cycles - 1;
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);

	t0 = now_ms();
	for (i = 0; i < cycles; i++) {
		pam_handle_t *pamh = NULL;
		int rc;

		if (i == warmup) {
			fds_warm = count_fds();
			memory_kb(&vm_warm, &rss_warm);
		}
		if (pam_start_confdir(argv[optind], argv[optind + 1], &pc, dir, &pamh) != PAM_SUCCESS) {
			fprintf(stderr, "pam_loop: pam_start_confdir failed at cycle %ld\n", i);
			return 2;
		}
		rc = pam_open_session(pamh, 0);
		tally_add(&opened, rc);
		rc = pam_close_session(pamh, 0);
		tally_add(&closed, rc);
		pam_end(pamh, rc);
	}
	fds_end = count_fds();
	memory_kb(&vm_end, &rss_end);

	tally_print(&opened, "open_session");
	tally_print(&closed, "close_session");
	printf("cycles %ld\n", cycles);
	printf("fds warm=%d end=%d\n", fds_warm, fds_end);
	printf("rss_kb warm=%ld end=%ld\n", rss_warm, rss_end);
	printf("vm_kb warm=%ld end=%ld\n", vm_warm, vm_end);
	sigaction(SIGCHLD, NULL, &cur);
	printf("sigchld handler=%s calls=%d\n", cur.sa_handler == on_sigchld ? "kept" : "changed",
	       (int)sigchld_calls);
	count_children(&zombie, &other);
	reaped = waitpid(-1, &status, WNOHANG);
	printf("children zombie=%d other=%d reap=%s\n", zombie, other,
	       reaped < 0 && errno == ECHILD ? "none" : "child");
	printf("elapsed_ms %ld\n", now_ms() - t0);
	return 0;
}
