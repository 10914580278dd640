/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the engine's run with fleet = etcd (revoke_run.h).
 * With fleet = none every hook returns at once and etcd is never opened.
 *
 *   begin      before the token: take the user's claim (TTL from the run's
 *              deadline).  Held by another host: every request stays
 *              pending, "claimed by HOST".  Ours: flush this user's queued
 *              outcomes, then refresh the local copy from pending/<user>
 *              so that nothing done elsewhere is done again.  etcd away:
 *              carry out the local copy all the same (under the local
 *              lock, which the run holds), and queue the outcome.
 *   note_*     what the run recorded (revoke.c), for the outcome.
 *   end        every path of the run: the outcome in one txn (or queued in
 *              state_dir/outbox/), then the claim released.
 *
 * Only what reached Cognito is an outcome: a run that left everything
 * pending (token rejected, throttled before any Delete) writes nothing to
 * etcd.  A local-only copy (fleet_revision 0: flagged --local-only, or not
 * synced yet) is carried out and recorded locally only.  A dry run never
 * talks to etcd.
 *
 * Why before the token and not just before the first Delete: the claim
 * must cover the read of the fleet's document that the identity check,
 * the selection and the deletions all act on.  Taken later, the
 * selection would be made on a copy the claim had not confirmed, and a
 * changed document would mean redoing identity and selection.
 */
#ifndef CPK_FLEET_RUN_H
#define CPK_FLEET_RUN_H

struct run;
struct choice;
struct cpk_request;
struct cpk_reply;

/* 0: go on; 1: nothing left to do (CPK_DONE); -1: *status is the run's. */
int cpk_fleet_run_begin(struct run *r, int *status);
void cpk_fleet_run_note_credential(struct run *r, const struct cpk_request *req,
				   const struct choice *c, const char *event,
				   const struct cpk_reply *reply);
void cpk_fleet_run_note_completed(struct run *r, const struct cpk_request *req,
				  const char *event, const char *selector);
void cpk_fleet_run_end(struct run *r);

#endif
