/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The administrator's side of the fleet (doc/DESIGN.md "Fleet (etcd)"):
 * a flag or a cancel changes pending/<user> in etcd first, in
 * one transaction that compares the key's mod_revision, and only then is
 * mirrored locally (lib/admin.c); passkey-revoke --sync [--follow]
 * mirrors the fleet's pending/ into state_dir (lib/fleet_sync.c).
 *
 * Everything read from etcd is untrusted: a document that does not parse
 * is refused naming its key, and never written over.
 */
#ifndef CPK_FLEET_PUBLISH_H
#define CPK_FLEET_PUBLISH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "etcd.h"
#include "store.h"

/* Compare-and-swap attempts before a busy key is given up on. */
#define CPK_FLEET_PUBLISH_TRIES	5

/*
 * Change p, the fleet's document of the user as read (p->n == 0: absent),
 * into the one to store; called again on every retry with a fresh read.
 * The first call is on an empty p before anything was read (absent is
 * the common case): fn must not assume p is what etcd holds until the
 * write succeeded.  0, or -1 with err (on that first call: fn is called
 * again on the document read).
 */
typedef int (*cpk_fleet_change_fn)(void *ctx, struct cpk_pending *p, char *err, size_t errlen);

/*
 * Let fn change pending/<user> and write it back (delete it when it is
 * left empty) only if nobody changed it meanwhile; retry a few times if
 * someone did.  One request when the key is absent; one more per retry.  CPK_ETCD_OK with *after the document now in etcd and
 * after->fleet_revision the transaction's revision, or a CPK_ETCD_* error
 * with err (CPK_ETCD_UNREACHABLE: no endpoint answered).
 */
int cpk_fleet_publish(struct cpk_etcd *e, const char *user, cpk_fleet_change_fn fn, void *ctx,
		      struct cpk_pending *after, char *err, size_t errlen);

/* Append copies of items (n of them) to p, skipping ids p has.  0, or -1 (ENOMEM, full). */
int cpk_fleet_copy_requests(const char *user, struct cpk_pending *p,
			    const struct cpk_request *items, size_t n);

/* "pending/<user>" into key; -1 when user is not a valid name. */
int cpk_fleet_pending_key(const char *user, char *key, size_t len);

/* --sync's counts. */
struct cpk_fleet_sync_stats {
	unsigned long added, updated, removed, errors;
	int64_t revision;	/* the store's revision the sync saw */
};

struct cpk_fleet_sync {
	const struct cpk_config *cfg;
	const struct cpk_log *log;
	struct cpk_store *st;
	/* an entry refused or not applied: the message names the etcd key */
	void (*report)(void *ctx, const char *msg);
	void *ctx;
	volatile sig_atomic_t *stop;	/* --follow ends when *stop is set */
};

/*
 * Mirror pending/ once.  CPK_ETCD_OK (entries refused are counted in
 * errors and reported, and do not stop the others), or a CPK_ETCD_* error
 * with err.
 */
int cpk_fleet_sync_once(const struct cpk_fleet_sync *s, struct cpk_etcd *e,
			struct cpk_fleet_sync_stats *stats, char *err, size_t errlen);

/*
 * After a sync that saw stats->revision, follow pending/ with a watch and
 * apply each event the same way; resume after a disconnect from the last
 * revision seen, re-sync in full after a compaction.  Returns CPK_ETCD_OK
 * when *stop is set.
 */
int cpk_fleet_follow(const struct cpk_fleet_sync *s, struct cpk_etcd *e,
		     struct cpk_fleet_sync_stats *stats, char *err, size_t errlen);

#endif
