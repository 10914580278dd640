/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Shared requests-per-second cap (GCRA, no burst); see rate.h.
 */
#include "rate.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct cpk_rate {
	int64_t next_ns;	/* CLOCK_MONOTONIC: earliest start of the next request */
	int64_t interval_ns;
};

/*
 * Slots are spaced 2% wider than 1/R.  The cap is judged where the
 * requests arrive, and the time from a slot to the request reaching
 * Cognito varies (a worker's first request waits for its TCP and TLS
 * handshake after taking the slot): with slots exactly 1/R apart, R+1
 * requests landed inside one second (tests/bench, --rate 50: 51, with
 * requests 50 slots apart arriving 987 ms apart).  2% leaves 20 ms of
 * such jitter absorbed at any R, and the rate stays within 2% of R.
 */
#define RATE_MARGIN	1.02

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
deadline_ns(const struct cpk_deadline *dl)
{
	return (int64_t)dl->end.tv_sec * 1000000000LL + dl->end.tv_nsec;
}

struct cpk_rate *
cpk_rate_new(double per_second)
{
	struct cpk_rate *r;

	if (!(per_second > 0.0) || per_second > 1e6) {
		errno = EINVAL;
		return NULL;
	}
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	r->interval_ns = (int64_t)(1e9 * RATE_MARGIN / per_second);
	if (r->interval_ns < 1)
		r->interval_ns = 1;
	__atomic_store_n(&r->next_ns, 0, __ATOMIC_SEQ_CST);
	return r;
}

void
cpk_rate_free(struct cpk_rate *r)
{
	if (r != NULL)
		munmap(r, sizeof(*r));
}

static void
sleep_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long
cpk_rate_wait(struct cpk_rate *r, const struct cpk_deadline *dl)
{
	int64_t old, slot, now;

	if (r == NULL)
		return 0;
	old = __atomic_load_n(&r->next_ns, __ATOMIC_SEQ_CST);
	for (;;) {
		now = mono_ns();
		slot = old > now ? old : now;
		if (dl != NULL && slot > deadline_ns(dl)) {
			/* our turn comes too late: do not take a slot from others */
			if (deadline_ns(dl) > now)
				sleep_ns(deadline_ns(dl) - now);
			return (long)((deadline_ns(dl) > now ? deadline_ns(dl) - now : 0) / 1000000);
		}
		if (__atomic_compare_exchange_n(&r->next_ns, &old, slot + r->interval_ns, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			break;
	}
	if (slot > now)
		sleep_ns(slot - now);
	return (long)((slot - now) / 1000000);
}

void
cpk_rate_before_request(void *ctx)
{
	struct cpk_rate_hook *hook = ctx;

	if (hook != NULL)
		cpk_rate_wait(hook->rate, hook->deadline);
}
