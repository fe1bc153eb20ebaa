// The dispatcher: takes composed messages and delivers them through a Transport with
// bounded concurrency, the rate limit, and retries with backoff, recording every step in
// the journal. `sending` is made durable (beforeData) before the message leaves; the
// result after the server's reply. Back-pressure: submit() waits while `concurrency`
// messages are in flight, so memory does not grow with the list.

import type { Composed } from '../compose/index.js';
import type { Clock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import type { Journal } from '../state/journal-api.js';
import type { RateLimiter } from './rate-limit.js';
import type { RetryPolicy } from './retry.js';
import type { SendResult, Transport } from './transport.js';

export interface Job {
  key: string;
  row: number;
  email: string;
  composed: Composed;
  /** Attempts made before this one (from the journal). */
  attempts: number;
}

export type Outcome = 'sent' | 'failed' | 'deferred' | 'unknown';

export interface DispatchEvent {
  job: Job;
  outcome: Outcome;
  result: SendResult;
  /** For deferred: when the next attempt is due. */
  retryAt?: number;
}

export interface DispatcherOptions {
  transport: Transport;
  journal: Journal;
  concurrency: number;
  rate?: RateLimiter;
  retry: RetryPolicy;
  clock: Clock;
  signal: AbortSignal;
  onEvent?: (e: DispatchEvent) => void;
  /** Called when a retry is scheduled (for progress output). */
  onWait?: (until: number, pending: number) => void;
}

export class Dispatcher {
  private inFlight = 0;
  private slotWaiters: (() => void)[] = [];
  private retries = new Set<Promise<void>>();
  private running = new Set<Promise<void>>();
  private fatalError: MailcampError | undefined;
  readonly fatalAbort = new AbortController();

  constructor(private readonly o: DispatcherOptions) {}

  get fatal(): MailcampError | undefined {
    return this.fatalError;
  }

  private get stopped(): boolean {
    return this.o.signal.aborted || this.fatalAbort.signal.aborted;
  }

  /** Starts delivering `job`; resolves once it has a slot (not when it is delivered). */
  async submit(job: Job): Promise<boolean> {
    await this.slot();
    if (this.stopped) {
      this.freeSlot();
      return false;
    }
    const p = this.deliver(job).finally(() => {
      this.running.delete(p);
      this.freeSlot();
    });
    this.running.add(p);
    return true;
  }

  /** Waits until every message, including scheduled retries, has an outcome (or we stop). */
  async drain(): Promise<void> {
    while (this.running.size || this.retries.size) {
      await Promise.race([...this.running, ...this.retries]);
    }
    if (this.fatalError) throw this.fatalError;
  }

  private async slot(): Promise<void> {
    if (this.inFlight < this.o.concurrency) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((r) => this.slotWaiters.push(r));
  }

  private freeSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.inFlight--;
  }

  private async deliver(job: Job): Promise<void> {
    const { journal, transport, clock } = this.o;
    if (this.o.rate) {
      try {
        await this.o.rate.acquire(anySignal(this.o.signal, this.fatalAbort.signal));
      } catch {
        return; // interrupted while waiting for the rate limit: still pending/deferred
      }
    }
    if (this.stopped) return;
    let result: SendResult;
    try {
      result = await transport.send(job.composed, () => journal.markSending([job.key]), this.fatalAbort.signal);
    } catch (e) {
      if (e instanceof MailcampError && e.code === 'TRANSPORT') {
        if (!this.fatalError) this.fatalError = e;
        this.fatalAbort.abort(e);
        // If `sending` was recorded, nothing of the message was sent: fatal errors come from
        // connecting/authenticating, before DATA.
        const entry = journal.get(job.key);
        if (entry?.status === 'sending') {
          await journal.markResults([{ key: job.key, status: 'deferred', response: `not sent: ${e.message}`, nextAttemptAt: clock.now() }]);
        }
        return;
      }
      if (this.stopped) return;
      throw e;
    }
    job.attempts++;
    if (result.status === 'deferred' && this.o.retry.shouldRetry(job.attempts) && !this.stopped) {
      const at = clock.now() + this.o.retry.delayFor(job.attempts);
      await journal.markResults([{ key: job.key, status: 'deferred', response: result.response, nextAttemptAt: at }]);
      this.o.onEvent?.({ job, outcome: 'deferred', result, retryAt: at });
      this.scheduleRetry(job, at);
      return;
    }
    let outcome: Outcome = result.status;
    let response = result.response;
    if (outcome === 'deferred' && !this.stopped) {
      outcome = 'failed';
      response = `gave up after ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}: ${response}`;
    }
    if (result.rejected?.length && outcome === 'sent') {
      response += `; refused: ${result.rejected.map((r) => `${r.address} (${r.response})`).join(', ')}`;
    }
    await journal.markResults([
      { key: job.key, status: outcome, response, nextAttemptAt: outcome === 'deferred' ? clock.now() : undefined },
    ]);
    this.o.onEvent?.({ job, outcome, result: { ...result, response } });
  }

  private scheduleRetry(job: Job, at: number): void {
    const p: Promise<void> = (async () => {
      try {
        this.o.onWait?.(at, this.retries.size + 1);
        await this.o.clock.sleep(at - this.o.clock.now(), anySignal(this.o.signal, this.fatalAbort.signal));
      } catch {
        return; // interrupted: it stays deferred in the journal for the next run
      }
      await this.submit(job);
    })().finally(() => this.retries.delete(p));
    this.retries.add(p);
  }
}

function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  return AbortSignal.any([a, b]);
}
