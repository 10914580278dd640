/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * stub_helper.c - stands in for cognito-passkey-helper in the tests of
 * the module's launch contract (tests/e2e/launch.sh, deadline.sh, ...).
 * The tests bind-mount it over the compiled-in helper path inside their
 * private mount namespace; the module is not changed in any way.
 *
 * It first records, before anything else could open a descriptor, how the
 * module started it, then runs the test's behaviour script:
 *
 *   CONF.calls      one line per start: "call N pid=P uid=U euid=E"
 *   CONF.call-N     argv (one "arg ..." line each), "env ..." lines,
 *                   "fd N TARGET" lines, "sigblk HEX", "sigchld dfl|ign|handler"
 *   CONF.stub       /bin/sh script run next, with STUB_CALL=N STUB_CONF=CONF
 *                   (absent: exit 0)
 *
 * CONF is the module's conf= argument, the first of the settings.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *
find_conf(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strncmp(argv[i], "conf=", 5) == 0)
			return argv[i] + 5;
	return NULL;
}

static void
record_fds(FILE *out, int self)
{
	char link[64], target[4096];
	struct dirent *e;
	DIR *d;
	ssize_t n;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == dirfd(d) || fd == self)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		fprintf(out, "fd %d %s\n", fd, target);
	}
	closedir(d);
}

static void
record_signals(FILE *out)
{
	struct sigaction sa;
	sigset_t blocked;
	unsigned long bits = 0;
	int sig;

	sigprocmask(SIG_BLOCK, NULL, &blocked);
	for (sig = 1; sig < 64; sig++)
		if (sigismember(&blocked, sig) == 1)
			bits |= 1UL << (sig - 1);
	fprintf(out, "sigblk %lx\n", bits);
	sigaction(SIGCHLD, NULL, &sa);
	fprintf(out, "sigchld %s\n", sa.sa_handler == SIG_DFL ? "dfl" :
		sa.sa_handler == SIG_IGN ? "ign" : "handler");
}

/* The call number: lines in CONF.calls so far, plus one. */
static int
record_call(const char *conf, int argc, char **argv, char **envp)
{
	char path[4096], line[256];
	FILE *calls, *out;
	int n = 1, fd, i;

	snprintf(path, sizeof(path), "%s.calls", conf);
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || (calls = fdopen(fd, "a+")) == NULL)
		return -1;
	rewind(calls);
	while (fgets(line, sizeof(line), calls) != NULL)
		n++;
	fseek(calls, 0, SEEK_END);	/* a read, then a write: position in between */
	fprintf(calls, "call %d pid=%ld uid=%ld euid=%ld\n", n, (long)getpid(),
		(long)getuid(), (long)geteuid());
	fclose(calls);

	snprintf(path, sizeof(path), "%s.call-%d", conf, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (out = fdopen(fd, "w")) == NULL)
		return -1;
	for (i = 0; i < argc; i++)
		fprintf(out, "arg %s\n", argv[i]);
	for (i = 0; envp[i] != NULL; i++)
		fprintf(out, "env %s\n", envp[i]);
	record_fds(out, fd);
	record_signals(out);
	fclose(out);
	return n;
}

int
main(int argc, char **argv, char **envp)
{
	char script[4096], call[32], confvar[4200], sh[] = "sh";
	char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	const char *conf = find_conf(argc, argv);
	int n;

	if (conf == NULL || (n = record_call(conf, argc, argv, envp)) < 0)
		return 1;
	snprintf(script, sizeof(script), "%s.stub", conf);
	if (access(script, R_OK) < 0)
		return 0;
	snprintf(call, sizeof(call), "STUB_CALL=%d", n);
	snprintf(confvar, sizeof(confvar), "STUB_CONF=%s", conf);
	{
		char *const args[] = { sh, script, NULL };
		char *const env[] = { call, confvar, path, NULL };

		execve("/bin/sh", args, env);
	}
	return 1;
}
