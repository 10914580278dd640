/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * memsample.c - private memory and PSS of a command and of every process
 * it forks, at their peak (tests/bench/run.sh, section memory).
 *
 *   memsample CMD [ARG...]
 *
 * prints "cmd_private_kb=A cmd_pss_kb=B child_private_kb=C child_pss_kb=D
 * total_private_kb=E children=N samples=S status=X", where private is
 * Private_Dirty of /proc/PID/smaps_rollup (the pages no other process
 * shares and that cannot be dropped: heap, stacks, written data; shared
 * library text is not in it), child_* is the largest of the children, and
 * total_private is the largest sum over the command and its children at
 * one sample.
 *
 * From outside, no hook in the product: CMD and its forks are traced
 * (ptrace with PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXIT only, so they run
 * untouched between events) and sampled every 2 ms, and once more at
 * PTRACE_EVENT_EXIT, when a process has stopped for good but its memory
 * is still mapped: the footprint it ended with is never missed, whatever
 * the sampling interval.  Threads are not traced (no TRACECLONE); they
 * share their process's memory anyway.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS	4096

struct proc {
	pid_t pid;
	bool live;
	long priv, pss;		/* last sample */
	long max_priv, max_pss;
};

static struct proc procs[MAX_PROCS];
static size_t n_procs;
static long samples;

static struct proc *
find(pid_t pid)
{
	size_t i;

	for (i = 0; i < n_procs; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	if (n_procs == MAX_PROCS)
		return NULL;
	procs[n_procs] = (struct proc){ .pid = pid, .live = true };
	return &procs[n_procs++];
}

static void
sample(struct proc *p)
{
	char path[64], line[256];
	long v, priv = -1, pss = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)p->pid);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
			priv = v;
		else if (sscanf(line, "Pss: %ld kB", &v) == 1)
			pss = v;
	}
	fclose(fp);
	if (priv < 0 || pss < 0)
		return;	/* gone, or a kernel thread */
	p->priv = priv;
	p->pss = pss;
	if (priv > p->max_priv)
		p->max_priv = priv;
	if (pss > p->max_pss)
		p->max_pss = pss;
}

static long max_total;

static void
sample_all(void)
{
	long total = 0;
	size_t i;

	for (i = 0; i < n_procs; i++) {
		if (!procs[i].live)
			continue;
		sample(&procs[i]);
		total += procs[i].priv;
	}
	if (total > max_total)
		max_total = total;
	samples++;
}

/* One ptrace stop of pid: note forks and exits, pass real signals on. */
static void
stopped(pid_t pid, int status)
{
	int sig = WSTOPSIG(status), event = status >> 16;
	unsigned long msg = 0;
	struct proc *p;

	if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
		if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &msg) == 0)
			find((pid_t)msg);
		sig = 0;
	} else if (event == PTRACE_EVENT_EXIT) {
		if ((p = find(pid)) != NULL) {
			sample(p);
			sample_all();
		}
		sig = 0;
	} else if (event != 0 || sig == SIGSTOP || sig == SIGTRAP) {
		/* a new child's first stop, exec's trap: not signals of the run */
		sig = 0;
	}
	ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
}

int
main(int argc, char **argv)
{
	struct timespec pause = { 0, 2000000 };
	int status = 0, exit_status = -1;
	long child_priv = 0, child_pss = 0;
	size_t i, children = 0;
	pid_t root, pid;

	if (argc < 2) {
		fprintf(stderr, "usage: memsample CMD [ARG...]\n");
		return 2;
	}
	if ((root = fork()) < 0)
		return 2;
	if (root == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (waitpid(root, &status, 0) != root || !WIFSTOPPED(status))
		return 2;
	ptrace(PTRACE_SETOPTIONS, root, NULL,
	       (void *)(long)(PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXIT |
			      PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL));
	find(root);
	ptrace(PTRACE_CONT, root, NULL, NULL);
	for (;;) {
		pid = waitpid(-1, &status, __WALL | WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;	/* ECHILD: every tracee is gone */
		if (pid == 0) {
			sample_all();
			nanosleep(&pause, NULL);
			continue;
		}
		if (WIFSTOPPED(status)) {
			stopped(pid, status);
			continue;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			struct proc *p = find(pid);

			if (p != NULL)
				p->live = false;
			if (pid == root)
				exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
								: 128 + WTERMSIG(status);
		}
	}
	for (i = 1; i < n_procs; i++) {
		children++;
		if (procs[i].max_priv > child_priv)
			child_priv = procs[i].max_priv;
		if (procs[i].max_pss > child_pss)
			child_pss = procs[i].max_pss;
	}
	printf("cmd_private_kb=%ld cmd_pss_kb=%ld child_private_kb=%ld child_pss_kb=%ld "
	       "total_private_kb=%ld children=%zu samples=%ld status=%d\n",
	       procs[0].max_priv, procs[0].max_pss, child_priv, child_pss, max_total, children,
	       samples, exit_status);
	return 0;
}
