#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""tests/bench/simulate.py: a discrete-event simulation of the fleet (issue 13).

    tests/bench/simulate.py [--seed N] [--flags N]

Time from flag to revocation and the requests wasted on the way, for a flag
honoured only where it was raised (fleet = none, or --local-only) against the
fleet (fleet = etcd) with a sync interval of 1 s (--sync --follow) or 15 min
(the timer's --sync alone).  Deterministic: the same seed prints the same
table.  Prints a Markdown table (tests/bench/RESULTS.md, "Fleet").

The model (every rate is a parameter below):
- 500 hosts: 5 administrators' bastions (no user logs in there, no token
  cache there) and 495 ordinary hosts.  10,000 users; user u works on k_u
  ordinary hosts, k_u = 1 + Poisson(2) (mean 3, at most 20), drawn uniformly;
  u has a usable token cache on each of them (logged in within the refresh
  token's validity), nowhere else.
- Logins: per user a Poisson process of 6 logins a day (mean gap 4 h), each on
  one of the user's hosts chosen uniformly; no daily rhythm.  A login runs the
  helper (the PAM session), which carries out a mirrored request.
- Timer: on every host passkey-revoke.timer fires every 15 min plus a uniform
  0-2 min (RandomizedDelaySec=2min), random phase; its run is --sync (fleet)
  then --run-pending, which carries out every mirrored request whose user has
  a token cache on that host.
- Flags: 1,000 flags over 5 days (uniform times, distinct random users), each
  raised on (a) one of the bastions, chosen uniformly, or (b) one of the
  user's own hosts; simulated to day 7 (later is "never").
- Sync: follow = a host mirrors a change U(0, 1 s) after it (the bench
  measures ~0.1 s); timer only = at the host's next timer run.  The host that
  raised the flag mirrors it at once.
- A run takes D = 1 s from claim to outcome (token, list, Deletes, outcome
  txn).  A run that finds the claim held loses it (lease grant, claim txn,
  lease revoke: 3 requests).  A run that takes the claim but finds the
  request gone (done elsewhere, this host's mirror stale) costs 3 requests.
  A completed run costs 3 (grant, claim txn with the read, outcome txn that
  also deletes the claim); a flag 1 (a txn that assumes the key absent):
  the figures tests/bench/fleet.sh measures.
- Partitions: each ordinary host loses etcd (not Cognito) now and then:
  online for Exp(mean 3 days), offline for Exp(mean 30 min), independent
  (about 0.7 % of the time).  An offline host carries out its mirror under a
  local claim and queues the outcome; the outbox is flushed (1 request) when
  it is back (follow: at once; timer only: at its next timer run).  Until
  then other hosts may carry the request out again: their Deletes answer
  ResourceNotFoundException (2 passkeys per user: 2 wasted Deletes a run).
- Requests counted per flag: flag, runs, lost claims, stale runs, outbox
  flushes; "sync reads": with the timer's --sync each host reads a changed
  key once (the listing is keys only); a watch delivers the value, no read.
  Background (no flags): the timer's keys-only listing on every host, and
  with --follow the watch, which passkey-revoke holds open and re-opens every
  WATCH_SLICE = 300 s (lib/fleet_sync.c).
The last two rows: the timer's --run-pending off (its --sync still runs):
only logins carry requests out.
Not modelled: etcd outages as a whole, leader elections, Cognito throttling,
a daily rhythm, users without a token cache on their own hosts.
"""
import bisect
import heapq
import math
import random
import sys

HOSTS, ADMINS, USERS = 500, 5, 10000
LOGINS_PER_DAY = 6.0
TIMER, TIMER_JITTER = 900.0, 120.0
DAY = 86400.0
FLAG_WINDOW, HORIZON = 5 * DAY, 7 * DAY
RUN = 1.0
CREDS = 2
UP_MEAN, DOWN_MEAN = 3 * DAY, 1800.0
WATCH_REOPEN = 300.0
REQ_FLAG, REQ_RUN, REQ_LOST, REQ_STALE, REQ_FLUSH = 1, 3, 3, 3, 1


def poisson(rng, lam):
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


class World:
    """Everything the scenarios share (common random numbers)."""

    def __init__(self, seed, nflags):
        rng = random.Random(seed)
        ordinary = list(range(ADMINS, HOSTS))
        self.user_hosts = [rng.sample(ordinary, min(20, 1 + poisson(rng, 2.0)))
                           for _ in range(USERS)]
        self.ticks = []
        for _ in range(HOSTS):
            t, v = rng.uniform(0, TIMER + TIMER_JITTER), []
            while t < HORIZON + DAY:
                v.append(t)
                t += TIMER + rng.uniform(0, TIMER_JITTER)
            self.ticks.append(v)
        self.down = [[] for _ in range(HOSTS)]	# sorted (start, end)
        for h in ordinary:
            t = rng.expovariate(1 / UP_MEAN)
            while t < HORIZON:
                d = rng.expovariate(1 / DOWN_MEAN)
                self.down[h].append((t, t + d))
                t += d + rng.expovariate(1 / UP_MEAN)
        self.flags = []
        for i, u in enumerate(rng.sample(range(USERS), nflags)):
            self.flags.append((rng.uniform(0, FLAG_WINDOW), u,
                               rng.choice(range(ADMINS)), rng.choice(self.user_hosts[u]),
                               seed * 1000003 + i))

    def offline(self, h, t):
        """The end of h's partition at t, or None when h reaches etcd."""
        v = self.down[h]
        i = bisect.bisect_right(v, (t, math.inf)) - 1
        return v[i][1] if i >= 0 and v[i][0] <= t < v[i][1] else None

    def next_tick(self, h, t):
        v = self.ticks[h]
        i = bisect.bisect_left(v, t)
        return v[i] if i < len(v) else math.inf


def simulate_flag(w, flag, mode, where, tick_runs=True):
    """One flag: (time to revocation or inf, counters)."""
    tf, u, admin, own, seed = flag
    f = admin if where == "bastion" else own
    hosts = w.user_hosts[u]
    lrng = random.Random(seed)		# the user's logins: the same in every scenario
    srng = random.Random(seed + 7)	# sync delays
    c = dict(lost=0, stale=0, dup=0, req=REQ_FLAG if mode != "local" else 0, runs=0)
    ev = []				# (time, seq, kind, host)
    seq = 0

    def push(t, kind, h):
        nonlocal seq
        if t <= HORIZON:
            seq += 1
            heapq.heappush(ev, (t, seq, kind, h))

    t = tf
    while True:
        t += lrng.expovariate(LOGINS_PER_DAY / DAY)
        if t > HORIZON:
            break
        push(t, "login", lrng.choice(hosts))
    involved = set(hosts) | {f}
    for h in involved:
        push(w.next_tick(h, tf), "tick", h)
    copy = {f}				# hosts with the mirrored request
    fleet_pending = mode != "local"
    busy_until = -1.0			# the fleet claim's holder runs until then
    deleted_at = None			# the passkeys are gone from then on
    queued = {}				# host -> its outbox holds the outcome
    if mode == "follow":
        for h in involved - {f}:
            d = tf + srng.uniform(0, 1.0)
            end = w.offline(h, d)
            push(end if end is not None else d, "visible", h)

    def learn_done(t0):
        """The fleet's request went at t0: the mirrors go with the sync."""
        for h in involved:
            if mode == "follow":
                d = t0 + srng.uniform(0, 1.0)
                end = w.offline(h, d)
                push(end if end is not None else d, "gone", h)
            # timer only: the next tick's --sync removes it (handled at "tick")

    def run(h, t):
        nonlocal busy_until, deleted_at, fleet_pending
        if h not in copy or h not in hosts:
            return
        c["runs"] += 1
        if mode == "local":
            copy.discard(h)
            deleted_at = deleted_at if deleted_at is not None else t + RUN
            return
        end = w.offline(h, t)
        if end is not None:			# under a local claim, outcome queued
            copy.discard(h)
            if deleted_at is not None and deleted_at <= t + RUN:
                c["dup"] += 1
            deleted_at = t + RUN if deleted_at is None else min(deleted_at, t + RUN)
            queued[h] = True
            push(end if mode == "follow" else w.next_tick(h, end), "flush", h)
            return
        if t < busy_until:
            c["lost"] += 1
            c["req"] += REQ_LOST
            return
        if not fleet_pending:
            c["stale"] += 1
            c["req"] += REQ_STALE
            copy.discard(h)
            return
        busy_until = t + RUN
        c["req"] += REQ_RUN
        copy.discard(h)
        if deleted_at is not None and deleted_at <= t + RUN:
            c["dup"] += 1
        deleted_at = t + RUN if deleted_at is None else min(deleted_at, t + RUN)
        fleet_pending = False
        learn_done(t + RUN)

    while ev:
        t, _, kind, h = heapq.heappop(ev)
        if kind == "login":
            run(h, t)
        elif kind == "tick":
            if mode == "timer" and w.offline(h, t) is None:
                if fleet_pending:
                    copy.add(h)
                else:
                    copy.discard(h)
            if tick_runs:
                run(h, t)
            push(w.next_tick(h, t + 1e-6), "tick", h)
        elif kind == "visible":
            if fleet_pending:
                copy.add(h)
        elif kind == "gone":
            copy.discard(h)
        elif kind == "flush":
            queued.pop(h, None)
            c["req"] += REQ_FLUSH
            if fleet_pending:
                fleet_pending = False
                learn_done(t)
        if deleted_at is not None and not fleet_pending and not copy and not queued:
            break
        if deleted_at is not None and mode == "local":
            break
    return (deleted_at - tf if deleted_at is not None else math.inf), c


def pct(v, p):
    v = sorted(v)
    x = v[min(len(v) - 1, int(p * len(v)))]
    return x


def shown(s):
    if math.isinf(s):
        return "never"
    if s < 120:
        return "%.1f s" % s
    if s < 7200:
        return "%.1f min" % (s / 60)
    return "%.1f h" % (s / 3600)


def main(argv):
    seed, nflags = 13, 1000
    i = 0
    while i < len(argv):
        if argv[i] == "--seed":
            seed = int(argv[i + 1])
        elif argv[i] == "--flags":
            nflags = int(argv[i + 1])
        else:
            sys.stderr.write(__doc__)
            return 2
        i += 2
    w = World(seed, nflags)
    mean_k = sum(len(h) for h in w.user_hosts) / USERS
    down = sum(e - s for v in w.down for s, e in v) / ((HOSTS - ADMINS) * HORIZON)
    print("# seed %d: %d hosts (%d bastions), %d users on %.2f hosts each (mean), "
          "%g logins/user/day, timer %d+U(0,%d) s, %d flags over %g days, horizon %g days, "
          "hosts offline from etcd %.2f %% of the time"
          % (seed, HOSTS, ADMINS, USERS, mean_k, LOGINS_PER_DAY, TIMER, TIMER_JITTER,
             nflags, FLAG_WINDOW / DAY, HORIZON / DAY, 100 * down))
    print()
    print("| flag raised on | honoured | revoked by day 7 | median | p90 | p99 "
          "| lost claims | stale runs | duplicate-Delete runs | etcd requests "
          "| sync reads (fleet-wide) | background etcd req/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    timer_bg = HOSTS / (TIMER + TIMER_JITTER / 2)
    rows = [(where, mode, label, True) for where in ("bastion", "own host")
            for mode, label in (("local", "local only"), ("follow", "fleet, follow (1 s)"),
                                ("timer", "fleet, timer (15 min)"))]
    rows += [("bastion", mode, label + ", logins only", False)
             for mode, label in (("follow", "fleet, follow (1 s)"),
                                 ("timer", "fleet, timer (15 min)"))]
    for where, mode, label, tick_runs in rows:
        if True:
            times, tot = [], dict(lost=0, stale=0, dup=0, req=0)
            for fl in w.flags:
                dt, c = simulate_flag(w, fl, mode, where, tick_runs)
                times.append(dt)
                for k in tot:
                    tot[k] += c[k]
            n = len(times)
            done = sum(1 for x in times if not math.isinf(x))
            reads = {"local": "-", "follow": "0", "timer": "%d" % HOSTS}[mode]
            bg = {"local": "0", "follow": "%.2f + %.2f" % (HOSTS / WATCH_REOPEN, timer_bg),
                  "timer": "%.2f" % timer_bg}[mode]
            print("| %s | %s | %.1f %% | %s | %s | %s | %.3f | %.3f | %.3f | %.2f | %s | %s |"
                  % (where, label, 100.0 * done / n, shown(pct(times, .5)),
                     shown(pct(times, .9)), shown(pct(times, .99)),
                     tot["lost"] / n, tot["stale"] / n, tot["dup"] / n, tot["req"] / n,
                     reads, bg))
    print()
    print("# per flag: lost claims, stale runs (claim taken, request gone), runs whose "
          "Deletes met passkeys already deleted (%d wasted Deletes each), etcd requests "
          "of flag + runs + flushes; sync reads: one range per host per changed key; "
          "background: watch re-opens + the timer's keys-only listings, 500 hosts" % CREDS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
