/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The shared retry quota of AWS standard retry mode; see quota.h.
 */
#include "quota.h"

#include <stddef.h>
#include <sys/mman.h>

struct cpk_retry_quota {
	unsigned int tokens;
};

struct cpk_retry_quota *
cpk_retry_quota_new(void)
{
	struct cpk_retry_quota *q;

	q = mmap(NULL, sizeof(*q), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return NULL;
	__atomic_store_n(&q->tokens, CPK_QUOTA_INITIAL, __ATOMIC_SEQ_CST);
	return q;
}

void
cpk_retry_quota_free(struct cpk_retry_quota *q)
{
	if (q != NULL)
		munmap(q, sizeof(*q));
}

unsigned int
cpk_retry_quota_take(struct cpk_retry_quota *q, bool after_timeout)
{
	unsigned int cost = after_timeout ? CPK_QUOTA_TIMEOUT_COST : CPK_QUOTA_RETRY_COST;
	unsigned int have = __atomic_load_n(&q->tokens, __ATOMIC_SEQ_CST);

	do {
		if (have < cost)
			return 0;
	} while (!__atomic_compare_exchange_n(&q->tokens, &have, have - cost, false,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return cost;
}

void
cpk_retry_quota_success(struct cpk_retry_quota *q, unsigned int paid)
{
	unsigned int gift = paid > 0 ? paid : CPK_QUOTA_NO_RETRY_GIFT;
	unsigned int have = __atomic_load_n(&q->tokens, __ATOMIC_SEQ_CST), want;

	do {
		want = have + gift > CPK_QUOTA_INITIAL ? CPK_QUOTA_INITIAL : have + gift;
		if (want == have)
			return;
	} while (!__atomic_compare_exchange_n(&q->tokens, &have, want, false,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
}

unsigned int
cpk_retry_quota_left(const struct cpk_retry_quota *q)
{
	return __atomic_load_n(&q->tokens, __ATOMIC_SEQ_CST);
}
