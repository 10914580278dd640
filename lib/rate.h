/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * A requests-per-second cap shared by forked worker processes
 * (passkey-revoke --run-pending -j N --rate R): Cognito's quotas are per
 * account, so the cap is on the sum of all workers.
 *
 * GCRA with no burst: one anonymous MAP_SHARED page holds the time at
 * which the next request may start (CLOCK_MONOTONIC, which every process
 * on the host shares).  A request reserves its slot with a compare-and-swap
 * and then sleeps until it.  No lock, so a worker killed mid-wait cannot
 * wedge the others.  Create it before fork(); children inherit the page.
 */
#ifndef CPK_RATE_H
#define CPK_RATE_H

#include "util.h"

struct cpk_rate;

/* per_second > 0 (fractions allowed, e.g. 0.5).  NULL on error (errno). */
struct cpk_rate *cpk_rate_new(double per_second);
void cpk_rate_free(struct cpk_rate *r);

/*
 * Wait for this process's next slot.  When the slot lies beyond dl (may
 * be NULL), reserve nothing and sleep until dl instead: the request that
 * follows then fails with the deadline, as it would have anyway.
 * Returns the milliseconds slept.
 */
long cpk_rate_wait(struct cpk_rate *r, const struct cpk_deadline *dl);

/* Adapter for cpk_client_set_before_request(): ctx is a struct cpk_rate_hook. */
struct cpk_rate_hook {
	struct cpk_rate *rate;
	const struct cpk_deadline *deadline;	/* may be NULL */
};
void cpk_rate_before_request(void *ctx);

#endif
