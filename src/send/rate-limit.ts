// The send rate limiter: `rate: { per_second, per_minute, per_hour }` from the campaign.
//
// Guarantee: for each configured window W with limit L, no interval [t, t + W) of the clock
// contains more than L grants, wherever it starts. Fixed buckets ("at most L per calendar
// second") would allow 2L around a bucket edge, which is exactly what providers' sliding
// limits punish. So each window keeps the times of its last L grants (a ring buffer in a
// Float64Array, so 5000/hour is 40 KB and no garbage per send), and the next grant waits until
// the oldest of them is W old. That is also the most that can be allowed: the limiter never
// waits when a grant would keep every window within its limit, so throughput reaches L per W.
//
// Waiters are served strictly first come, first served by one loop ("pump"); a later caller
// never overtakes an earlier one, so no sender starves. Time comes from the injected Clock
// (style.md habit 7), so tests run an hour of limits in milliseconds.

import type { Clock } from '../shared/clock.js';

export interface RateLimits {
  per_second?: number;
  per_minute?: number;
  per_hour?: number;
}

interface Window {
  ms: number;
  limit: number;
  /** Grant times, oldest at `head` once full. */
  times: Float64Array;
  head: number;
  count: number;
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** A wait this long is said (a per_minute or per_hour limit): a run that sits silent looks stuck. */
const LONG_WAIT_MS = 5000;

const WINDOWS: [keyof RateLimits, number][] = [
  ['per_second', 1000],
  ['per_minute', 60_000],
  ['per_hour', 3_600_000],
];

export class RateLimiter {
  private readonly windows: Window[] = [];
  private readonly queue: Waiter[] = [];
  private pumping = false;
  /** Cancels the pump's sleep when every waiter has gone, so no timer keeps the process up. */
  private pumpAbort?: AbortController;

  /**
   * `slackMs` widens every window by that much: a grant reaches the server a few ms later, and
   * not always equally late, so grants exactly W apart could arrive less than W apart.
   */
  constructor(
    limits: RateLimits,
    private readonly clock: Clock,
    private readonly slackMs = 0,
    /** Told when a long wait (LONG_WAIT_MS or more) begins: when the next grant is due. */
    private readonly onLongWait?: (until: number) => void,
  ) {
    for (const [key, ms] of WINDOWS) {
      const limit = limits[key];
      if (limit === undefined) continue;
      // The campaign schema reports user mistakes with their place; this guards callers.
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(`rate ${key} must be a positive integer, got ${limit}`);
      }
      this.windows.push({ ms, limit, times: new Float64Array(limit), head: 0, count: 0 });
    }
  }

  /**
   * Counts grants made before this limiter existed (an earlier `send` of the same run, from
   * the journal), so that `--limit` batches and resumes keep to the limits together.
   */
  seed(times: Iterable<number>): void {
    for (const t of [...times].sort((a, b) => a - b)) this.grant(t);
  }

  /** Whether any limit is configured; without one, acquire() never waits. */
  get limited(): boolean {
    return this.windows.length > 0;
  }

  /** How many callers are waiting. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves when one more send is allowed (and counts it as sent), in call order.
   * Rejects with the signal's reason if `signal` aborts first; an aborted caller uses no slot.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.windows.length) return Promise.resolve();
    if (!this.queue.length && this.waitMs(this.clock.now()) === 0) {
      this.grant(this.clock.now());
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal };
      if (signal) {
        w.onAbort = () => this.drop(w);
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      if (!this.pumping) void this.pump();
    });
  }

  /** Milliseconds until every window has room for one more grant at `now`. */
  private waitMs(now: number): number {
    let wait = 0;
    for (const w of this.windows) {
      if (w.count < w.limit) continue;
      // Capped at W: should the wall clock step backwards, the wait stays bounded.
      const until = Math.min(w.times[w.head] + w.ms + this.slackMs - now, w.ms + this.slackMs);
      if (until > wait) wait = until;
    }
    return wait;
  }

  private grant(now: number): void {
    for (const w of this.windows) {
      w.times[w.head] = now;
      w.head = (w.head + 1) % w.limit;
      if (w.count < w.limit) w.count++;
    }
  }

  private drop(w: Waiter): void {
    const i = this.queue.indexOf(w);
    if (i < 0) return;
    this.queue.splice(i, 1);
    w.reject(w.signal!.reason);
    if (!this.queue.length) this.pumpAbort?.abort();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length) {
        const wait = this.waitMs(this.clock.now());
        if (wait > 0) {
          if (wait >= LONG_WAIT_MS) this.onLongWait?.(this.clock.now() + wait);
          this.pumpAbort = new AbortController();
          try {
            await this.clock.sleep(wait, this.pumpAbort.signal);
          } catch {
            // Only the queue emptying aborts this sleep; the loop condition sees it.
          }
          this.pumpAbort = undefined;
          continue;
        }
        const w = this.queue.shift()!;
        if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
        this.grant(this.clock.now());
        w.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }
}
