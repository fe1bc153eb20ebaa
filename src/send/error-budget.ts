// The error budget: a run that keeps failing pauses itself instead of burning through the
// whole list (a blocklisted sending IP, a relay that refuses the sender, a template that
// every server now rejects). Campaign key `error_budget: { failures: 20%, window: 100 }`:
// the run pauses as soon as `failures` of the last `window` final outcomes were failures.
//
// Counted: the final outcome of a delivery, `failed` (5yz, or retries used up) and `unknown`
// (the connection died after the message was handed over) as failures, `sent` as success.
// Deferrals are not final: retries handle them, and they count once they end one way or the
// other. The threshold is a count within the window (20% of 100 = 20), so a run whose first
// twenty messages all fail pauses after those twenty rather than after a hundred.

export interface ErrorBudgetSpec {
  /** Failures allowed in the window before pausing: a count, or a fraction of `window`. */
  failures: number;
  /** True when `failures` is a fraction (written as a percentage). */
  fraction: boolean;
  window: number;
}

export const DEFAULT_ERROR_BUDGET: ErrorBudgetSpec = { failures: 0.2, fraction: true, window: 100 };

export class ErrorBudget {
  /** Failures within the window that pause the run. */
  readonly limit: number;
  private readonly ring: Uint8Array;
  private head = 0;
  private count = 0;
  private failures = 0;

  constructor(readonly spec: ErrorBudgetSpec) {
    this.ring = new Uint8Array(spec.window);
    this.limit = Math.max(1, spec.fraction ? Math.ceil(spec.failures * spec.window - 1e-9) : spec.failures);
  }

  /** Records a final outcome; returns the reason to pause once the budget is spent. */
  record(failed: boolean): string | undefined {
    const w = this.spec.window;
    if (this.count === w) this.failures -= this.ring[this.head];
    else this.count++;
    this.ring[this.head] = failed ? 1 : 0;
    this.head = (this.head + 1) % w;
    if (failed) this.failures++;
    return this.failures >= this.limit ? this.describe() : undefined;
  }

  describe(): string {
    const of = this.count < this.spec.window ? `the ${this.count} messages so far` : `the last ${this.spec.window} messages`;
    const budget = this.spec.fraction ? `${Math.round(this.spec.failures * 1000) / 10}% of ${this.spec.window}` : `${this.spec.failures} of ${this.spec.window}`;
    return `${this.failures} of ${of} failed (error_budget: ${budget})`;
  }
}
