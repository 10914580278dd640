/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The fleet's coordination in etcd (doc/DESIGN.md "Fleet (etcd)").
 *
 * The claim: before any Delete for a user, the host takes claims/<user>,
 * {host, pid, since}, bound to a lease whose TTL exceeds the run's deadline
 * and created only if absent (one txn).  A host that finds a live claim
 * leaves the request pending; a claim of a host that died expires with its
 * lease.  Releasing revokes the lease, which removes the key with it; a run
 * that writes its outcome releases it in the outcome's txn instead
 * (fleet_outcome.h), one request fewer.
 */
#ifndef CPK_FLEET_H
#define CPK_FLEET_H

#include <stdint.h>

#include "etcd.h"

/* A claim outlives the run's deadline by this much. */
#define CPK_FLEET_CLAIM_MARGIN	30

#define CPK_FLEET_CLAIMED	0	/* ours */
#define CPK_FLEET_HELD		1	/* another host's: holder says whose */

struct cpk_fleet_claim {
	int64_t lease;		/* 0: none held */
	int64_t revision;	/* the claim key's create_revision */
};

/* The TTL for a run whose deadline is deadline_s seconds. */
int64_t cpk_fleet_claim_ttl(unsigned int deadline_s);

/*
 * Take user's claim for host.  CPK_FLEET_CLAIMED (c holds it),
 * CPK_FLEET_HELD (holder: the holding host's name, escaped; "unknown" when
 * its claim is unreadable), or a CPK_ETCD_* error with err.
 */
int cpk_fleet_claim(struct cpk_etcd *e, const char *host, const char *user, int64_t ttl,
		    struct cpk_fleet_claim *c, char *holder, size_t holderlen,
		    char *err, size_t errlen);

/*
 * The same, and when the claim is ours, also (a key, e.g. "pending/alice")
 * read in the same txn into found (free with cpk_etcd_kvs_free): what the
 * fleet wants, as of the instant the claim was taken, in one request.
 */
int cpk_fleet_claim_read(struct cpk_etcd *e, const char *host, const char *user, int64_t ttl,
			 const char *also, struct cpk_etcd_kvs *found, struct cpk_fleet_claim *c,
			 char *holder, size_t holderlen, char *err, size_t errlen);

/* Give it back (revoke its lease).  CPK_ETCD_OK, or an error; c is cleared. */
int cpk_fleet_release(struct cpk_etcd *e, struct cpk_fleet_claim *c, char *err, size_t errlen);

#endif
