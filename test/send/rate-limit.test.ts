// RateLimiter under a ManualClock: minutes and hours of simulated traffic in milliseconds.
// Each scenario is checked three ways: every sliding window of every limit holds at most its
// limit; grants come in call order; and each grant time equals what an independent reference
// model says a work-conserving FIFO sliding-log limiter must give (so throughput is the limit,
// not merely below it).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock } from '../../src/shared/clock.js';
import { RateLimiter, type RateLimits } from '../../src/send/rate-limit.js';

const WINDOW_MS: Record<keyof RateLimits, number> = { per_second: 1000, per_minute: 60_000, per_hour: 3_600_000 };

interface Grant {
  id: number;
  requested: number;
  at: number;
}

/** Deterministic pseudo-random numbers (Park-Miller), so a failure can be replayed. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

/**
 * Runs `initial` acquirers at time 0 and `bursts` later (times relative to start), advancing the
 * clock by `durationMs`. Returns grants in the order they happened, times relative to start.
 */
async function simulate(
  limits: RateLimits,
  initial: number,
  bursts: { at: number; n: number }[],
  durationMs: number,
): Promise<Grant[]> {
  const clock = new ManualClock();
  const t0 = clock.now();
  const limiter = new RateLimiter(limits, clock);
  const grants: Grant[] = [];
  let nextId = 0;
  const fire = (n: number) => {
    for (let i = 0; i < n; i++) {
      const g = { id: nextId++, requested: clock.now() - t0, at: -1 };
      void limiter.acquire().then(() => {
        g.at = clock.now() - t0;
        grants.push(g);
      });
    }
  };
  fire(initial);
  for (const b of bursts) void clock.sleep(b.at).then(() => fire(b.n));
  // ManualClock.advance() moves time before it first yields: let the grants made at time 0
  // record their time first.
  await new Promise((r) => setImmediate(r));
  await clock.advance(durationMs);
  return grants;
}

function assertSlidingWindows(grants: Grant[], limits: RateLimits): void {
  const times = grants.map((g) => g.at);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] >= times[i - 1], 'grant times go backwards');
  for (const [key, limit] of Object.entries(limits) as [keyof RateLimits, number][]) {
    const w = WINDOW_MS[key];
    for (let i = limit; i < times.length; i++) {
      // times[i-limit..i] are limit+1 grants; they must not fit in one [t, t+w).
      assert.ok(
        times[i] - times[i - limit] >= w,
        `${key} ${limit}: ${limit + 1} grants within ${times[i] - times[i - limit]} ms (from ${times[i - limit]})`,
      );
    }
  }
}

function assertFifo(grants: Grant[]): void {
  grants.forEach((g, i) => assert.equal(g.id, i, `grant ${i} went to acquirer ${g.id}`));
}

/** Grant i happens at max(its request, grant i-1, and for each window grant i-L + W). */
function assertWorkConserving(grants: Grant[], limits: RateLimits): void {
  const sorted = [...grants].sort((a, b) => a.id - b.id);
  const expected: number[] = [];
  sorted.forEach((g, i) => {
    let t = Math.max(g.requested, i ? expected[i - 1] : 0);
    for (const [key, limit] of Object.entries(limits) as [keyof RateLimits, number][]) {
      if (i >= limit) t = Math.max(t, expected[i - limit] + WINDOW_MS[key]);
    }
    expected.push(t);
    assert.equal(g.at, t, `acquirer ${g.id} (requested at ${g.requested}) granted at ${g.at}, expected ${t}`);
  });
}

function randomBursts(seed: number, count: number, spanMs: number, maxN: number): { at: number; n: number }[] {
  const rnd = lcg(seed);
  return Array.from({ length: count }, () => ({ at: Math.floor(rnd() * spanMs), n: 1 + Math.floor(rnd() * maxN) }));
}

describe('RateLimiter', () => {
  test('no limits: resolves at once, without touching the clock', async () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter({}, clock);
    assert.equal(limiter.limited, false);
    const all = Promise.all(Array.from({ length: 1000 }, () => limiter.acquire()));
    const first = await Promise.race([all.then(() => 'resolved'), new Promise((r) => setImmediate(() => r('pending')))]);
    assert.equal(first, 'resolved');
    assert.equal(clock.pending, 0);
  });

  test('per_second 5 over 60 s, saturated with bursts: exactly 5 each second, never 6 in any second', async () => {
    const limits = { per_second: 5 };
    const grants = await simulate(limits, 300, randomBursts(1, 40, 60_000, 10), 60_000 - 1);
    assert.equal(grants.length, 300, 'throughput below 5/s');
    assertSlidingWindows(grants, limits);
    assertFifo(grants);
    assertWorkConserving(grants, limits);
    for (let s = 0; s < 60; s++) {
      assert.equal(grants.filter((g) => g.at === s * 1000).length, 5, `second ${s}`);
    }
  });

  test('per_second 5, bursty traffic at odd times: sliding windows hold, nobody waits needlessly', async () => {
    const limits = { per_second: 5 };
    const bursts = randomBursts(42, 120, 120_000, 6);
    const grants = await simulate(limits, 7, bursts, 240_000);
    const demand = 7 + bursts.reduce((a, b) => a + b.n, 0);
    assert.equal(grants.length, demand, 'not everyone was served');
    assertSlidingWindows(grants, limits);
    assertFifo(grants);
    assertWorkConserving(grants, limits);
    // The check is meaningful only if some windows were not aligned to the first grant.
    assert.ok(grants.some((g) => g.at % 1000 !== 0), 'all grants fell on whole seconds');
    assert.ok(grants.some((g) => g.at > g.requested), 'the limit never bit');
  });

  test('per_hour 100 across 3 simulated hours (sliding 3600 s windows)', async () => {
    const limits = { per_hour: 100 };
    const grants = await simulate(limits, 150, randomBursts(7, 60, 3 * 3_600_000, 12), 3 * 3_600_000 - 1);
    assert.equal(grants.length, 300);
    assertSlidingWindows(grants, limits);
    assertFifo(grants);
    assertWorkConserving(grants, limits);

    const bursty = await simulate(limits, 0, randomBursts(8, 50, 3 * 3_600_000, 5), 6 * 3_600_000);
    assertSlidingWindows(bursty, limits);
    assertWorkConserving(bursty, limits);
  });

  test('per_second 5 and per_hour 100 together: the hour caps the burst, the second paces it', async () => {
    const limits = { per_second: 5, per_hour: 100 };
    const grants = await simulate(limits, 250, randomBursts(3, 30, 7_200_000, 10), 2 * 3_600_000 - 1);
    assert.equal(grants.length, 200);
    assertSlidingWindows(grants, limits);
    assertFifo(grants);
    assertWorkConserving(grants, limits);
    assert.equal(grants[99].at, 19_000, 'first hundred should take 20 s at 5/s');
    assert.equal(grants[100].at, 3_600_000, 'the 101st waits for the first to leave the hour');
  });

  test('per_minute with per_second', async () => {
    const limits = { per_second: 3, per_minute: 20 };
    const grants = await simulate(limits, 50, randomBursts(5, 20, 180_000, 4), 240_000);
    assertSlidingWindows(grants, limits);
    assertWorkConserving(grants, limits);
  });

  test('abort: a waiting acquirer rejects with the reason and uses no slot; the rest keep their order', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const limiter = new RateLimiter({ per_second: 1 }, clock);
    await limiter.acquire();
    const ac = new AbortController();
    const order: string[] = [];
    const aborted = limiter.acquire(ac.signal).then(
      () => order.push('aborted one granted'),
      (e: unknown) => order.push(`rejected: ${String(e)}`),
    );
    const next = limiter.acquire().then(() => order.push(`next at ${clock.now() - t0}`));
    const last = limiter.acquire().then(() => order.push(`last at ${clock.now() - t0}`));
    assert.equal(limiter.waiting, 3);
    await clock.advance(300);
    ac.abort('stop');
    await aborted;
    assert.equal(limiter.waiting, 2);
    await clock.advance(5000);
    await Promise.all([next, last]);
    assert.deepEqual(order, ['rejected: stop', 'next at 1000', 'last at 2000']);
  });

  test('abort: an already aborted signal rejects at once; aborting the only waiter stops the timer', async () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter({ per_hour: 1 }, clock);
    await assert.rejects(limiter.acquire(AbortSignal.abort(new Error('gone'))), /gone/);
    await limiter.acquire();
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    await new Promise((r) => setImmediate(r));
    assert.equal(clock.pending, 1, 'the pump should be sleeping');
    ac.abort(new Error('cancelled'));
    await assert.rejects(waiting, /cancelled/);
    await new Promise((r) => setImmediate(r));
    assert.equal(clock.pending, 0, 'a sleeping timer would keep a real process alive');
    // The slot the aborted caller waited for is still free after the hour.
    await clock.advance(3_600_000);
    await limiter.acquire();
  });

  test('slackMs widens each window: the 6th grant of per_second 5 waits 1000 + slack ms', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const limiter = new RateLimiter({ per_second: 5 }, clock, 25);
    const at: number[] = [];
    for (let i = 0; i < 7; i++) void limiter.acquire().then(() => at.push(clock.now() - t0));
    await clock.advance(0);
    assert.deepEqual(at, [0, 0, 0, 0, 0]);
    await clock.advance(1024);
    assert.equal(at.length, 5, 'not yet at 1024 ms');
    await clock.advance(1);
    assert.deepEqual(at, [0, 0, 0, 0, 0, 1025, 1025]);
  });

  test('rejects limits that are not positive integers', () => {
    const clock = new ManualClock();
    assert.throws(() => new RateLimiter({ per_second: 0 }, clock), RangeError);
    assert.throws(() => new RateLimiter({ per_minute: 2.5 }, clock), RangeError);
    assert.throws(() => new RateLimiter({ per_hour: -1 }, clock), RangeError);
  });

  test('with the system clock: the 21st send of 20/s waits about a second', async () => {
    const limiter = new RateLimiter({ per_second: 20 }, systemClock);
    const start = Date.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 21 }, () => limiter.acquire().then(() => times.push(Date.now() - start))));
    assert.ok(times[19] < 500, `first 20 took ${times[19]} ms`);
    assert.ok(times[20] >= 1000 && times[20] < 2500, `21st at ${times[20]} ms`);
  });
});
