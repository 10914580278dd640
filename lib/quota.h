/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The retry quota of AWS "standard" retry mode (JS SDK v3, botocore),
 * shared by every worker of one passkey-revoke run: a bucket of 500
 * tokens; a retry takes 5 (10 after a timeout), and a success gives back
 * what its own retry took, or 1 when it needed none.  When the bucket
 * cannot pay for a retry, none is made: a throttled --run-pending of
 * thousands of users backs off instead of multiplying an outage.
 *
 * One anonymous MAP_SHARED page, updated with compare-and-swap (no lock a
 * killed worker could hold), like rate.h.  Create it before fork().
 */
#ifndef CPK_QUOTA_H
#define CPK_QUOTA_H

#include <stdbool.h>

#define CPK_QUOTA_INITIAL	500
#define CPK_QUOTA_RETRY_COST	5
#define CPK_QUOTA_TIMEOUT_COST	10
#define CPK_QUOTA_NO_RETRY_GIFT	1

struct cpk_retry_quota;

/* NULL on error (errno). */
struct cpk_retry_quota *cpk_retry_quota_new(void);
void cpk_retry_quota_free(struct cpk_retry_quota *q);

/*
 * Pay for one retry (after a timeout: the higher cost).  Returns the cost
 * paid, to hand back with cpk_retry_quota_success(), or 0 when the bucket
 * cannot pay: then do not retry.
 */
unsigned int cpk_retry_quota_take(struct cpk_retry_quota *q, bool after_timeout);
/* A request succeeded; paid: what its last retry cost (0: it needed none). */
void cpk_retry_quota_success(struct cpk_retry_quota *q, unsigned int paid);
/* Tokens left (tests, -v). */
unsigned int cpk_retry_quota_left(const struct cpk_retry_quota *q);

#endif
