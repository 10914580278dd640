/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * A run's outcome in the fleet (doc/DESIGN.md "Fleet (etcd)"): what
 * one engine run did to a user's passkeys, written to etcd in ONE txn, or
 * queued in state_dir/outbox/ when etcd cannot take it.
 *
 * The txn compares mod_revision(pending/<user>) with the revision the
 * local copy mirrored, and on success puts the new pending document (or
 * deletes the key when nothing is left) and history/<user>/<suffix>, one
 * event each, and, with claim_revision, releases the run's claim (a nested
 * txn deletes claims/<user> if its create_revision is still ours: a claim
 * another host took after ours expired is not touched).  A compare that fails (an administrator changed the fleet's
 * document meanwhile) re-reads it and merges: requests we completed are
 * removed, ids we deleted leave their ids requests, anything new is kept.
 *
 * History keys are history/<user>/<20-digit ns>.<host>.<n>: unique per
 * host, sorting by time, and chosen before the txn.  Not the revision:
 * the revision is known only once the txn committed, and a queued outcome
 * replayed twice must write the very same keys again (idempotent).
 */
#ifndef CPK_FLEET_OUTCOME_H
#define CPK_FLEET_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "etcd.h"
#include "store.h"

struct cpk_fleet_history {
	char *key;		/* below etcd_prefix */
	char *value;		/* one JSON event */
};

struct cpk_fleet_outcome {
	char *user;
	int64_t base_revision;		/* what the local copy mirrored; 0: nothing */
	char **completed;		/* request ids that left pending */
	size_t n_completed;
	char **deleted;			/* credential ids with a final outcome */
	size_t n_deleted;
	struct cpk_fleet_history *hist;
	size_t n_hist;
	/*
	 * Our claim's create_revision: the txn also deletes claims/<user>
	 * if it is still that claim (ours), so that no lease revoke follows.
	 * 0: the claim is not touched.  Never queued: a replay holds none.
	 */
	int64_t claim_revision;
};

void cpk_fleet_outcome_free(struct cpk_fleet_outcome *o);

/*
 * Record o in etcd.  have_local: local_doc is the user's pending document
 * after the run (NULL: nothing left, the key goes), put as it is when the
 * fleet's still has base_revision; else (a replay) the fleet's document
 * is read first and merged.
 * On CPK_ETCD_OK, *revision is the txn's and *mirror (malloc'd, NULL when
 * nothing is left pending) the document now in etcd, for the local copy.
 * CPK_ETCD_UNREACHABLE / CPK_ETCD_ERROR (err names the key): queue it.
 */
int cpk_fleet_outcome_write(struct cpk_etcd *e, const struct cpk_fleet_outcome *o,
			    bool have_local, const char *local_doc, int64_t *revision, char **mirror,
			    char *err, size_t errlen);

/* state_dir/outbox/<user>.<ns>-<pid>.json (0600, atomic).  0 or -1 + err. */
int cpk_fleet_outbox_queue(struct cpk_store *st, const struct cpk_fleet_outcome *o,
			   char *err, size_t errlen);

/*
 * A queue file's text for user (untrusted, as anything read back: checked
 * whole; history keys must be below history/<user>/).  0, or -1 with o
 * emptied.  Free with cpk_fleet_outcome_free.  For the flush and tests/fuzz.
 */
int cpk_fleet_outcome_parse(const char *buf, const char *user, struct cpk_fleet_outcome *o);

/*
 * Replay every queued outcome (only user's, when user is not NULL), oldest
 * first, as cpk_fleet_outcome_write does, and remove each file only after
 * etcd accepted it.  Replaying edits etcd state only (never Cognito) and
 * is idempotent: an outcome replayed twice removes nothing twice and puts
 * the same history keys again.
 *
 * passkey-revoke --sync must call this BEFORE it mirrors pending/ into
 * state_dir: a mirror taken first would bring back locally a request this
 * host already carried out while etcd was away.
 *
 * Returns how many outcomes are still queued (0: all flushed), or -1 on a
 * local error (err).  *flushed counts those written now (may be NULL).
 * Each refusal is logged through log with the file named.
 */
int cpk_fleet_outbox_flush(struct cpk_etcd *e, struct cpk_store *st, const char *user,
			   const struct cpk_log *log, unsigned int *flushed,
			   char *err, size_t errlen);

#endif
