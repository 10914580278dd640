/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Inside the store (store*.c only; the rest of the program uses store.h):
 * the handle, the directory checks every file shares, and the JSON
 * helpers the pending and history files are written and read with.
 */
#ifndef CPK_STORE_INT_H
#define CPK_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json.h>

#include "config.h"	/* CPK_ERR_LEN, cpk_argv_free */
#include "store.h"

enum { SUB_PENDING, SUB_HISTORY, SUB_LOCK, SUB_COUNT };

struct cpk_store {
	char *path;
	int dirfd;
	int sub[SUB_COUNT];	/* -1 when absent and not creatable */
};

/* The subdirectory is open, else -1 with err and errno EACCES. */
int cpk_store_need_sub(const struct cpk_store *st, int sub, char *err, size_t errlen);
/* user is a valid file name under state_dir, else -1 with err, EINVAL. */
int cpk_store_check_user(const char *user, char *err, size_t errlen);

/* After a change of user's state: rewrite summary/<user>; errors ignored. */
void cpk_summary_changed(struct cpk_store *st, const char *user);

/* A whole buffer as one JSON value; trailing white space only.  NULL: not. */
json_object *cpk_store_parse_json(const char *buf, size_t len);
/* A string member without embedded NUL; *out NULL when absent or null. */
int cpk_store_get_string(json_object *o, const char *key, bool required, const char **out);
/* The same, strdup'd into *out (left alone when absent). */
int cpk_store_dup_string(json_object *o, const char *key, bool required, char **out);
/* A non-negative integer member; 0 when absent. */
int cpk_store_get_int(json_object *o, const char *key, int64_t *out);
/* Add a member; a NULL value adds nothing.  0 or -1. */
int cpk_store_add_string(json_object *o, const char *key, const char *value);
int cpk_store_add_int(json_object *o, const char *key, int64_t value);

#endif
