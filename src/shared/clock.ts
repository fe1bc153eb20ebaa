// Time is injected (style.md habit 7): the rate limiter, retry backoff, journal timestamps
// and the scheduler take a Clock, so tests of long waits run in milliseconds.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A clock that only moves when told to; sleeps resolve as time passes them. */
export class ManualClock implements Clock {
  private t: number;
  private sleepers: { until: number; resolve: () => void }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const s = { until: this.t + ms, resolve };
      this.sleepers.push(s);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((x) => x !== s);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Moves time forward, waking sleepers in order; yields to the event loop between wakes. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.until - b.until);
      const next = this.sleepers[0];
      if (!next || next.until > end) break;
      this.sleepers.shift();
      this.t = Math.max(this.t, next.until);
      next.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }

  /** Runs until no sleeper is left (or `limitMs` of virtual time passes). */
  async runAll(limitMs = 365 * 24 * 3600_000): Promise<void> {
    const stop = this.t + limitMs;
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    while (this.sleepers.length && this.t < stop) {
      this.sleepers.sort((a, b) => a.until - b.until);
      await this.advance(this.sleepers[0].until - this.t);
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    }
  }

  get pending(): number {
    return this.sleepers.length;
  }
}
