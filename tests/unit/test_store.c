/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/store.c and lib/rate.c: state_dir checks, locks, atomic pending
 * files, corrupt files set aside, history lines, listing; the shared rate
 * cap across processes.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "rate.h"
#include "store.h"
#include "testutil.h"

static char base[64];
static char state[256];
static char err[CPK_ERR_LEN];

static void
setup(void)
{
	scratch_make(base, sizeof(base), "store");
	snprintf(state, sizeof(state), "%s/state", base);
	err[0] = '\0';
}

static void
teardown(void)
{
	scratch_remove(base);
}

static struct cpk_store *
open_store(void)
{
	struct cpk_store *st = NULL;

	ck_assert_msg(cpk_store_open(&st, state, CPK_STORE_CREATE, err, sizeof(err)) == 0,
		      "%s", err);
	return st;
}

static void
path_of(char *out, size_t len, const char *sub, const char *name)
{
	snprintf(out, len, "%s/%s/%s", state, sub, name);
}

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct cpk_request
ids_request(const char *a, const char *b)
{
	struct cpk_request r;

	ck_assert_int_eq(cpk_request_init(&r, CPK_SEL_IDS, "root"), 0);
	r.ids = calloc(2, sizeof(*r.ids));
	r.ids[r.n_ids++] = strdup(a);
	if (b != NULL)
		r.ids[r.n_ids++] = strdup(b);
	r.reason = strdup("lost \"laptop\"\n");
	return r;
}

/* ---- state_dir --------------------------------------------------------- */

START_TEST(test_create_modes)
{
	struct cpk_store *st = open_store();
	struct stat sb;
	char p[300];
	const char *subs[] = { "pending", "history", "lock" };
	size_t i;

	ck_assert_int_eq(stat(state, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	ck_assert_uint_eq(sb.st_uid, geteuid());
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", state, subs[i]);
		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	}
	cpk_store_close(st);
}
END_TEST

START_TEST(test_missing_without_create)
{
	struct cpk_store *st = NULL;

	ck_assert_int_eq(cpk_store_open(&st, state, 0, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(access(state, F_OK), -1);	/* not created */
}
END_TEST

START_TEST(test_loose_mode_refused)
{
	struct cpk_store *st = NULL;
	mode_t modes[] = { 0755, 0750, 0701, 0777, 0710 };
	size_t i;

	ck_assert_int_eq(mkdir(state, 0700), 0);
	for (i = 0; i < CPK_ARRAY_SIZE(modes); i++) {
		ck_assert_int_eq(chmod(state, modes[i]), 0);
		ck_assert_int_eq(cpk_store_open(&st, state, CPK_STORE_CREATE, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "too open") != NULL, "%s", err);
		ck_assert_msg(strstr(err, state) != NULL, "%s", err);
	}
	/* a loose subdirectory too */
	ck_assert_int_eq(chmod(state, 0700), 0);
	cpk_store_close(open_store());
	snprintf(err, sizeof(err), "%s/pending", state);
	ck_assert_int_eq(chmod(err, 0755), 0);
	ck_assert_int_eq(cpk_store_open(&st, state, 0, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "pending: mode 0755 is too open") != NULL, "%s", err);
}
END_TEST

START_TEST(test_wrong_owner_refused)
{
	struct cpk_store *st = NULL;

	if (geteuid() != 0)
		return;	/* cannot give a directory away without root */
	ck_assert_int_eq(mkdir(state, 0700), 0);
	ck_assert_int_eq(chown(state, 4001, 4001), 0);
	ck_assert_int_eq(cpk_store_open(&st, state, CPK_STORE_CREATE, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "owned by uid 4001") != NULL, "%s", err);
}
END_TEST

START_TEST(test_symlink_refused)
{
	struct cpk_store *st = NULL;
	char real[300];

	snprintf(real, sizeof(real), "%s/real", base);
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink(real, state), 0);
	ck_assert_int_eq(cpk_store_open(&st, state, CPK_STORE_CREATE, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "symlink") != NULL, "%s", err);
	ck_assert_int_eq(cpk_store_open(&st, "relative/path", 0, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_bad_user_names)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p;
	const char *bad[] = { "../etc", "..", ".", "", "a/b", "-x", ".hidden", "x\n",
			      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(bad); i++) {
		ck_assert_int_eq(cpk_pending_load(st, bad[i], &p, err, sizeof(err)), -1);
		ck_assert_int_eq(cpk_pending_save(st, bad[i], &p, err, sizeof(err)), -1);
		ck_assert_int_eq(cpk_store_lock(st, bad[i], 0, err, sizeof(err)), -1);
		ck_assert_int_eq(cpk_pending_exists(st, bad[i]), -1);
	}
	cpk_store_close(st);
}
END_TEST

/* ---- pending ------------------------------------------------------------ */

/* The local copy remembers the fleet revision it mirrors; the document the
 * fleet stores (fleet false) never carries it. */
START_TEST(test_pending_fleet_revision)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p = { NULL, 0, 0 }, q;
	struct cpk_request r = ids_request("AAA", "BBB");
	char *text;

	ck_assert_int_eq(cpk_pending_add(&p, &r), 0);
	p.fleet_revision = 42;
	ck_assert_int_eq(cpk_pending_save(st, "alice", &p, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_load(st, "alice", &q, err, sizeof(err)), 0);
	ck_assert_int_eq(q.fleet_revision, 42);
	cpk_pending_free(&q);

	text = cpk_pending_render("alice", &p, false);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "fleet_revision"));
	ck_assert_int_eq(cpk_store_parse_pending(text, strlen(text), "alice", &q), 0);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_int_eq(q.fleet_revision, 0);
	cpk_pending_free(&q);
	free(text);

	/* a negative or non-integer revision is not ours: the file is refused */
	text = strdup("{\"version\": 1, \"user\": \"alice\", \"fleet_revision\": -1, \"requests\": []}");
	ck_assert_int_eq(cpk_store_parse_pending(text, strlen(text), "alice", &q), -1);
	free(text);
	cpk_pending_free(&p);
	cpk_store_close(st);
}
END_TEST

START_TEST(test_pending_roundtrip)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p = { NULL, 0, 0 }, q;
	struct cpk_request r = ids_request("AAA", "BBB"), s;
	char path[300], sel[64];
	struct stat sb;

	ck_assert_int_eq(cpk_pending_exists(st, "alice"), 0);
	ck_assert_int_eq(cpk_pending_load(st, "alice", &q, err, sizeof(err)), 0);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_int_eq(cpk_pending_add(&p, &r), 0);
	ck_assert_int_eq(cpk_request_init(&s, CPK_SEL_NAME, "root"), 0);
	s.pattern = strdup("Yubi*");
	ck_assert_int_eq(cpk_request_defer(&s, "NotAuthorizedException", "expired", 1234), 0);
	ck_assert_int_eq(cpk_pending_add(&p, &s), 0);
	ck_assert_int_eq(cpk_pending_save(st, "alice", &p, err, sizeof(err)), 0);

	path_of(path, sizeof(path), "pending", "alice");
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(cpk_pending_exists(st, "alice"), 1);
	path_of(path, sizeof(path), "pending", ".tmp.alice");
	ck_assert_int_eq(access(path, F_OK), -1);	/* renamed, not left over */

	ck_assert_int_eq(cpk_pending_load(st, "alice", &q, err, sizeof(err)), 0);
	ck_assert_uint_eq(q.n, 2);
	ck_assert_str_eq(q.items[0].id, p.items[0].id);
	ck_assert_int_eq(q.items[0].selector, CPK_SEL_IDS);
	ck_assert_uint_eq(q.items[0].n_ids, 2);
	ck_assert_str_eq(q.items[0].ids[1], "BBB");
	ck_assert_str_eq(q.items[0].reason, "lost \"laptop\"\n");
	ck_assert_str_eq(q.items[0].actor, "root");
	ck_assert_int_eq(q.items[1].selector, CPK_SEL_NAME);
	ck_assert_str_eq(q.items[1].pattern, "Yubi*");
	ck_assert_uint_eq(q.items[1].attempts, 1);
	ck_assert_int_eq(q.items[1].last_attempt_at, 1234);
	ck_assert_str_eq(q.items[1].last_error, "NotAuthorizedException");
	cpk_selector_describe(&q.items[1], sel, sizeof(sel));
	ck_assert_str_eq(sel, "name:Yubi*");

	cpk_request_drop_id(&q.items[0], 0);
	ck_assert_uint_eq(q.items[0].n_ids, 1);
	ck_assert_str_eq(q.items[0].ids[0], "BBB");
	cpk_pending_remove(&q, 1);
	ck_assert_uint_eq(q.n, 1);

	/* empty: the file goes, so the module's fast path is a failed stat */
	cpk_pending_free(&q);
	ck_assert_int_eq(cpk_pending_save(st, "alice", &q, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_exists(st, "alice"), 0);
	cpk_pending_free(&p);
	cpk_store_close(st);
}
END_TEST

START_TEST(test_request_ids_unique)
{
	struct cpk_request a, b;

	ck_assert_int_eq(cpk_request_init(&a, CPK_SEL_ALL, "root"), 0);
	ck_assert_int_eq(cpk_request_init(&b, CPK_SEL_ALL, "root"), 0);
	ck_assert_str_ne(a.id, b.id);
	ck_assert_int_eq(strncmp(a.id, "r-", 2), 0);
	cpk_request_free(&a);
	cpk_request_free(&b);
}
END_TEST

/* Every malformed document is refused and left where it is (no reader renames). */
START_TEST(test_corrupt_set_aside)
{
	const char *docs[] = {
		"", "{", "not json", "[]", "{\"version\":1}",
		"{\"version\":2,\"user\":\"alice\",\"requests\":[]}",
		"{\"version\":1,\"user\":\"bob\",\"requests\":[]}",
		"{\"version\":1,\"user\":\"alice\",\"requests\":[{\"id\":\"r\",\"selector\":\"all\"}]}",
		"{\"version\":1,\"user\":\"alice\",\"requests\":[{\"id\":\"r\",\"selector\":\"x\",\"actor\":\"root\"}]}",
		"{\"version\":1,\"user\":\"alice\",\"requests\":[{\"id\":\"r\",\"selector\":\"ids\",\"actor\":\"root\",\"ids\":[1]}]}",
		"{\"version\":1,\"user\":\"alice\",\"requests\":[{\"id\":\"r\",\"selector\":\"name\",\"actor\":\"root\"}]}",
		"{\"version\":1,\"user\":\"alice\",\"requests\":[]} trailing",
		"{\"version\":1,\"user\":\"alice\",\"requests\":[{\"id\":\"r\",\"selector\":\"all\",\"actor\":\"ro\\u0000ot\"}]}",
	};
	struct cpk_store *st;
	struct cpk_pending p;
	char path[300], aside[300];
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(docs); i++) {
		st = open_store();
		path_of(path, sizeof(path), "pending", "alice");
		write_text(path, docs[i]);
		ck_assert_int_eq(cpk_pending_load(st, "alice", &p, err, sizeof(err)), -1);
		ck_assert_int_eq(errno, EBADMSG);
		ck_assert_uint_eq(p.n, 0);
		ck_assert_msg(strstr(err, "is corrupt") != NULL, "doc %zu: %s", i, err);
		ck_assert_int_eq(access(path, F_OK), 0);
		ck_assert_int_eq(cpk_store_corrupt_file(st, "alice", aside, sizeof(aside)), 0);
		/* the administrator's discard removes it, once */
		ck_assert_int_eq(cpk_store_discard_corrupt(st, "alice", aside, sizeof(aside),
							   err, sizeof(err)), 1);
		ck_assert_str_eq(aside, path);
		ck_assert_int_eq(access(path, F_OK), -1);
		ck_assert_int_eq(cpk_store_discard_corrupt(st, "alice", aside, sizeof(aside),
							   err, sizeof(err)), 0);
		cpk_store_close(st);
	}
}
END_TEST

START_TEST(test_accepts_own_json)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p;
	char path[300];

	path_of(path, sizeof(path), "pending", "alice");
	write_text(path, "{\"version\":1,\"user\":\"alice\",\"requests\":[{\"id\":\"r-1-ab\","
		   "\"selector\":\"rp\",\"pattern\":\"example.com\",\"actor\":\"root\","
		   "\"requested_at\":5,\"attempts\":0}]}\n");
	ck_assert_int_eq(cpk_pending_load(st, "alice", &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_int_eq(p.items[0].selector, CPK_SEL_RP);
	ck_assert_str_eq(p.items[0].pattern, "example.com");
	cpk_pending_free(&p);
	cpk_store_close(st);
}
END_TEST

/* ---- lock --------------------------------------------------------------- */

START_TEST(test_lock_excludes)
{
	struct cpk_store *st = open_store();
	struct timespec a, b;
	int fd, fd2, status, go[2];
	char c;
	pid_t pid;
	long ms;

	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = cpk_store_lock(st, "alice", 1000, err, sizeof(err));
		if (write(go[1], "x", 1) != 1)
			_exit(2);
		usleep(300 * 1000);
		cpk_store_unlock(fd);
		_exit(fd >= 0 ? 0 : 1);
	}
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	/* held by the child: a short wait gives up */
	fd = cpk_store_lock(st, "alice", 50, err, sizeof(err));
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	ck_assert_msg(strstr(err, "another run holds the lock") != NULL, "%s", err);
	/* another user is not blocked */
	fd2 = cpk_store_lock(st, "bob", 0, err, sizeof(err));
	ck_assert_int_ge(fd2, 0);
	cpk_store_unlock(fd2);
	/* a longer wait gets it once the child lets go */
	clock_gettime(CLOCK_MONOTONIC, &a);
	fd = cpk_store_lock(st, "alice", 3000, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_int_ge(fd, 0);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_int_lt(ms, 2000);
	cpk_store_unlock(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cpk_store_close(st);
}
END_TEST

/* ---- history ----------------------------------------------------------- */

struct seen {
	int n;
	char events[8][16];
	char names[8][32];
	long deleted;
};

static int
collect(void *ctx, const char *json, const struct cpk_event *ev)
{
	struct seen *s = ctx;

	ck_assert_ptr_nonnull(strchr(json, '{'));
	if (s->n < 8) {
		snprintf(s->events[s->n], sizeof(s->events[0]), "%s", ev->event);
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", ev->name ? ev->name : "");
		if (ev->deleted >= 0)
			s->deleted = ev->deleted;
	}
	s->n++;
	return 0;
}

START_TEST(test_history)
{
	struct cpk_store *st = open_store();
	struct cpk_event ev = { .time = 1, .event = "deleted", .credential = "AAA",
				.name = "Yubi\nKey \"5\"", .cognito_request = "req-1",
				.deleted = -1, .absent = -1, .failed = -1, .attempts = -1 };
	struct seen s;
	char path[300];
	int fd;

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(cpk_history_read(st, "alice", collect, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(cpk_history_append(st, "alice", &ev, err, sizeof(err)), 0);
	/* a crash cut a line: the next event still starts on its own line */
	path_of(path, sizeof(path), "history", "alice");
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "{\"time\":2,\"ev", 13), 13);
	close(fd);
	ev.event = "completed";
	ev.name = NULL;
	ev.deleted = 1;
	ck_assert_int_eq(cpk_history_append(st, "alice", &ev, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_history_read(st, "alice", collect, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.events[0], "deleted");
	ck_assert_str_eq(s.names[0], "Yubi\nKey \"5\"");
	ck_assert_str_eq(s.events[1], "completed");
	ck_assert_int_eq(s.deleted, 1);
	cpk_store_close(st);
}
END_TEST

START_TEST(test_users_listing)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p = { NULL, 0, 0 };
	struct cpk_request r = ids_request("A", NULL);
	struct cpk_event ev = { .time = 1, .event = "requested",
				.deleted = -1, .absent = -1, .failed = -1, .attempts = -1 };
	char **users = NULL, path[300];

	ck_assert_int_eq(cpk_pending_add(&p, &r), 0);
	ck_assert_int_eq(cpk_pending_save(st, "carol", &p, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_save(st, "alice", &p, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_history_append(st, "alice", &ev, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_history_append(st, "bob", &ev, err, sizeof(err)), 0);
	path_of(path, sizeof(path), "pending", ".corrupt.dave.1");
	write_text(path, "x");
	ck_assert_int_eq(cpk_store_users(st, &users, err, sizeof(err)), 0);
	ck_assert_str_eq(users[0], "alice");
	ck_assert_str_eq(users[1], "bob");
	ck_assert_str_eq(users[2], "carol");
	ck_assert_ptr_null(users[3]);
	cpk_argv_free(users);
	cpk_pending_free(&p);
	cpk_store_close(st);
}
END_TEST

/*
 * The users a run over everything pending visits: a pending file of any
 * content (a corrupt one too, as the module's fast path sees it), not
 * history alone, not temp or kept-aside files, not a file saved empty.
 */
START_TEST(test_pending_users)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p = { NULL, 0, 0 }, none = { NULL, 0, 0 };
	struct cpk_request r = ids_request("A", NULL);
	struct cpk_event ev = { .time = 1, .event = "requested",
				.deleted = -1, .absent = -1, .failed = -1, .attempts = -1 };
	char **users = NULL, path[300];

	ck_assert_int_eq(cpk_store_pending_users(st, &users, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(users);
	ck_assert_ptr_null(users[0]);
	cpk_argv_free(users);

	ck_assert_int_eq(cpk_pending_add(&p, &r), 0);
	ck_assert_int_eq(cpk_pending_save(st, "carol", &p, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_save(st, "alice", &p, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_save(st, "frank", &p, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_pending_save(st, "frank", &none, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_history_append(st, "alice", &ev, err, sizeof(err)), 0);
	ck_assert_int_eq(cpk_history_append(st, "bob", &ev, err, sizeof(err)), 0);
	path_of(path, sizeof(path), "pending", "erin");
	write_text(path, "not json");
	path_of(path, sizeof(path), "pending", ".corrupt.dave.1");
	write_text(path, "x");
	path_of(path, sizeof(path), "pending", ".tmp.gina");
	write_text(path, "x");
	path_of(path, sizeof(path), "pending", "-bad");
	write_text(path, "x");

	ck_assert_int_eq(cpk_store_pending_users(st, &users, err, sizeof(err)), 3);
	ck_assert_str_eq(users[0], "alice");
	ck_assert_str_eq(users[1], "carol");
	ck_assert_str_eq(users[2], "erin");
	ck_assert_ptr_null(users[3]);
	cpk_argv_free(users);
	cpk_pending_free(&p);
	cpk_store_close(st);
}
END_TEST

/* A killed run's temp file is removed by the next save; a too big one is refused. */
START_TEST(test_save_leftover_and_cap)
{
	struct cpk_store *st = open_store();
	struct cpk_pending p = { NULL, 0, 0 }, q;
	struct cpk_request r = ids_request("A", NULL);
	char path[300];
	struct stat sb;
	mode_t old;

	path_of(path, sizeof(path), "pending", ".tmp.alice");
	write_text(path, "half a document");
	ck_assert_int_eq(cpk_pending_add(&p, &r), 0);
	old = umask(0277);	/* the mode is set, not left to the umask */
	ck_assert_msg(cpk_pending_save(st, "alice", &p, err, sizeof(err)) == 0, "%s", err);
	umask(old);
	ck_assert_int_eq(access(path, F_OK), -1);
	path_of(path, sizeof(path), "pending", "alice");
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);

	/* one reason of a little over 4 MiB: what the reader would refuse */
	free(p.items[0].reason);
	p.items[0].reason = malloc(CPK_STORE_MAX_FILE + 1);
	ck_assert_ptr_nonnull(p.items[0].reason);
	memset(p.items[0].reason, 'x', CPK_STORE_MAX_FILE);
	p.items[0].reason[CPK_STORE_MAX_FILE] = '\0';
	errno = 0;
	ck_assert_int_eq(cpk_pending_save(st, "alice", &p, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_msg(strstr(err, "a reader accepts") != NULL, "%s", err);
	path_of(path, sizeof(path), "pending", ".tmp.alice");
	ck_assert_int_eq(access(path, F_OK), -1);
	/* nothing changed: the old document is still there */
	ck_assert_int_eq(cpk_pending_load(st, "alice", &q, err, sizeof(err)), 0);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_str_eq(q.items[0].reason, "lost \"laptop\"\n");
	cpk_pending_free(&q);
	cpk_pending_free(&p);
	cpk_store_close(st);
}
END_TEST

/* ---- rate --------------------------------------------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 4 processes x 5 requests at 20/s: the 20 starts span >= 19/20 s. */
START_TEST(test_rate_shared)
{
	struct cpk_rate *r = cpk_rate_new(20.0);
	double *starts, first = 1e18, last = 0;
	pid_t pids[4];
	int i, k, status;

	ck_assert_ptr_nonnull(r);
	starts = mmap(NULL, 20 * sizeof(double), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(starts, MAP_FAILED);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			for (k = 0; k < 5; k++) {
				cpk_rate_wait(r, NULL);
				starts[i * 5 + k] = now_s();
			}
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (i = 0; i < 20; i++) {
		first = starts[i] < first ? starts[i] : first;
		last = starts[i] > last ? starts[i] : last;
	}
	ck_assert_msg(last - first >= 0.94, "20 requests in %.3f s at 20/s", last - first);
	ck_assert_msg(last - first < 2.0, "too slow: %.3f s", last - first);
	cpk_rate_free(r);
}
END_TEST

/* A slot past the deadline is not taken: the wait ends at the deadline. */
START_TEST(test_rate_deadline)
{
	struct cpk_rate *r = cpk_rate_new(1.0);
	struct cpk_deadline dl;
	double t;

	ck_assert_ptr_null(cpk_rate_new(0));
	ck_assert_ptr_null(cpk_rate_new(-1));
	ck_assert_int_eq(cpk_rate_wait(r, NULL), 0);	/* first slot: now */
	cpk_deadline_init_ms(&dl, 200);
	t = now_s();
	cpk_rate_wait(r, &dl);	/* next slot in 1 s, deadline in 0.2 s */
	t = now_s() - t;
	ck_assert_msg(t >= 0.15 && t < 0.6, "waited %.3f s", t);
	cpk_rate_free(r);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_create_modes);
	tcase_add_test(tc, test_pending_fleet_revision);
	tcase_add_test(tc, test_missing_without_create);
	tcase_add_test(tc, test_loose_mode_refused);
	tcase_add_test(tc, test_wrong_owner_refused);
	tcase_add_test(tc, test_symlink_refused);
	tcase_add_test(tc, test_bad_user_names);
	tcase_add_test(tc, test_pending_roundtrip);
	tcase_add_test(tc, test_request_ids_unique);
	tcase_add_test(tc, test_corrupt_set_aside);
	tcase_add_test(tc, test_accepts_own_json);
	tcase_add_test(tc, test_lock_excludes);
	tcase_add_test(tc, test_history);
	tcase_add_test(tc, test_users_listing);
	tcase_add_test(tc, test_pending_users);
	tcase_add_test(tc, test_save_leftover_and_cap);
	suite_add_tcase(s, tc);
	tc = tcase_create("rate");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rate_shared);
	tcase_add_test(tc, test_rate_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(store_suite());
}
