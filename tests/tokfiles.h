/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Helpers for the token-cache tests that run as root in tests/sandbox.sh
 * (users alice 4001 and bob 4002): files created for real with the owner
 * and mode a case needs, and the check that every library call gave our
 * identity back.  Each call asserts (Check).
 */
#ifndef CPK_TESTS_TOKFILES_H
#define CPK_TESTS_TOKFILES_H

#include <pwd.h>
#include <stdbool.h>
#include <sys/types.h>

struct cpk_token_cache;

/* Root in the sandbox, alice and bob resolvable. */
bool in_sandbox(void);
/* A copy of the sandbox user (kept for the process). */
struct passwd *user(const char *name);
void put_file(const char *path, const char *content, size_t len, uid_t uid, mode_t mode);
void put(const char *path, const char *content, uid_t uid, mode_t mode);
void mkdir_owned(const char *path, uid_t uid, mode_t mode);
char *read_all(const char *path);

/* files_setup (a fixture) notes our groups; assert_root_again compares. */
void files_setup(void);
void assert_root_again(void);
/* Load pw's cache at tmpl; the reply code, "" on success (*keep: the cache). */
const char *load_code(const struct passwd *pw, const char *tmpl, struct cpk_token_cache **keep);

#endif
