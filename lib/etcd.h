/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * A small etcd v3 client over its JSON gateway (POST /v3/...), with the
 * libcurl and json-c that libcpk links already: no gRPC, no new
 * dependency.  Used by the helper and passkey-revoke with fleet = etcd;
 * never by the PAM module.
 *
 * Keys are given and returned below etcd_prefix ("claims/alice"); the
 * prefix is added on the way out and checked and stripped on the way in.
 * Every answer is untrusted: sizes are capped, types and lengths checked,
 * and errors name the etcd key, escaped.
 *
 * Each call has a deadline of etcd_timeout per endpoint and fails over to
 * the next endpoint of etcd_endpoints when one cannot be reached or answers
 * 5xx (no leader, ...).  TLS verification is always on.
 *
 * Return values: CPK_ETCD_OK, CPK_ETCD_ERROR (etcd said no, or we refused
 * what it said), CPK_ETCD_UNREACHABLE (no endpoint answered),
 * CPK_ETCD_COMPACTED (watch only).  err says why, naming the key.
 */
#ifndef CPK_ETCD_H
#define CPK_ETCD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CPK_ETCD_OK		0
#define CPK_ETCD_ERROR		(-1)
#define CPK_ETCD_UNREACHABLE	(-2)
#define CPK_ETCD_COMPACTED	(-3)

#define CPK_ETCD_MAX_REPLY	(4 * 1024 * 1024)	/* one answer or watch message */
#define CPK_ETCD_MAX_VALUE	(256 * 1024)		/* one value, decoded */
#define CPK_ETCD_MAX_KEY	1024			/* one key, decoded */
#define CPK_ETCD_MAX_KVS	10000			/* kvs in one answer */
#define CPK_ETCD_PAGE		1000			/* kvs asked for per page of a listing */
#define CPK_ETCD_MAX_LIST	1000000			/* kvs in one paged listing */

struct cpk_etcd;

struct cpk_etcd_kv {
	char *key;		/* below etcd_prefix; no NUL inside */
	char *value;		/* value_len bytes, NUL-terminated */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

struct cpk_etcd_kvs {
	struct cpk_etcd_kv *kv;
	size_t n;
	int64_t revision;	/* the store's revision when it answered */
	bool more;		/* a limit left some out */
};

enum cpk_etcd_target { CPK_ETCD_CREATE_REVISION, CPK_ETCD_MOD_REVISION };

/* key's create_revision or mod_revision EQUAL revision (0: absent). */
struct cpk_etcd_cmp {
	const char *key;
	enum cpk_etcd_target target;
	int64_t revision;
};

/* CPK_ETCD_TXN: a nested txn (etcd >= 3.3), for an op under its own compare. */
enum cpk_etcd_op_type { CPK_ETCD_PUT, CPK_ETCD_DELETE, CPK_ETCD_GET, CPK_ETCD_TXN };

struct cpk_etcd_txn;

struct cpk_etcd_op {
	enum cpk_etcd_op_type type;
	const char *key;
	const char *value;	/* PUT */
	size_t value_len;
	int64_t lease;		/* PUT, 0: none */
	const struct cpk_etcd_txn *txn;	/* TXN; its GETs' answers are not returned */
};

struct cpk_etcd_txn {
	const struct cpk_etcd_cmp *cmp;
	size_t ncmp;
	const struct cpk_etcd_op *success;
	size_t nsuccess;
	const struct cpk_etcd_op *failure;
	size_t nfailure;
};

struct cpk_etcd_txn_result {
	bool succeeded;
	int64_t revision;
	struct cpk_etcd_kvs kvs;	/* what the branch's GETs found, in order */
};

enum cpk_etcd_event_type { CPK_ETCD_EV_PUT, CPK_ETCD_EV_DELETE };

struct cpk_etcd_event {
	enum cpk_etcd_event_type type;
	const struct cpk_etcd_kv *kv;	/* a DELETE has key and mod_revision */
};

/* 0: go on; 1: stop the watch (it returns CPK_ETCD_OK); -1: stop, error. */
typedef int (*cpk_etcd_watch_cb)(void *arg, const struct cpk_etcd_event *ev);

struct cpk_etcd_watch {
	const char *key;
	bool prefix;			/* every key that starts with key */
	int64_t start_revision;		/* 0: from now */
	unsigned int max_seconds;	/* 0: until the callback stops it */
	cpk_etcd_watch_cb cb;
	void *arg;
	/* set (by a signal handler): the watch ends within about a second,
	 * idle or not, with CPK_ETCD_OK; NULL: never */
	volatile sig_atomic_t *stop;
	/* out */
	int64_t last_revision;		/* resume from last_revision + 1 */
	int64_t compact_revision;	/* with CPK_ETCD_COMPACTED */
};

/* From cfg's etcd_* keys; the key file is checked again here.  NULL + err. */
struct cpk_etcd *cpk_etcd_open(const struct cpk_config *cfg, char *err, size_t errlen);
void cpk_etcd_close(struct cpk_etcd *e);

/*
 * One key, or (prefix) every key that starts with it; limit 0: no limit.
 * A prefix without a limit is read in pages of CPK_ETCD_PAGE, every page
 * at the first one's revision (out->revision): one consistent snapshot of
 * up to CPK_ETCD_MAX_LIST keys.  A compaction between pages starts it again.
 */
int cpk_etcd_get(struct cpk_etcd *e, const char *key, bool prefix, int64_t limit,
		 struct cpk_etcd_kvs *out, char *err, size_t errlen);
/*
 * The same without the values (keys_only; each value ""): a listing that
 * one oversized value cannot break.
 */
int cpk_etcd_get_keys(struct cpk_etcd *e, const char *key, bool prefix, struct cpk_etcd_kvs *out,
		      char *err, size_t errlen);
int cpk_etcd_put(struct cpk_etcd *e, const char *key, const char *value, size_t len,
		 int64_t lease, int64_t *revision, char *err, size_t errlen);
int cpk_etcd_delete(struct cpk_etcd *e, const char *key, bool prefix, int64_t *deleted,
		    char *err, size_t errlen);
int cpk_etcd_txn(struct cpk_etcd *e, const struct cpk_etcd_txn *t,
		 struct cpk_etcd_txn_result *r, char *err, size_t errlen);
int cpk_etcd_lease_grant(struct cpk_etcd *e, int64_t ttl, int64_t *id, char *err, size_t errlen);
int cpk_etcd_lease_revoke(struct cpk_etcd *e, int64_t id, char *err, size_t errlen);

/*
 * Stream events of w->key from w->start_revision, one callback each, until
 * the callback stops, max_seconds pass (CPK_ETCD_OK), the stream breaks
 * (CPK_ETCD_UNREACHABLE: call again from last_revision + 1) or the start
 * revision was compacted (CPK_ETCD_COMPACTED: read afresh).
 */
int cpk_etcd_watch(struct cpk_etcd *e, struct cpk_etcd_watch *w, char *err, size_t errlen);

void cpk_etcd_kvs_free(struct cpk_etcd_kvs *kvs);
void cpk_etcd_txn_result_free(struct cpk_etcd_txn_result *r);

#endif
