// The dispatcher: delivers jobs through a Transport with bounded concurrency, the rate limit and
// retries with backoff, recording every step in the journal: `sending` before the message's
// transaction starts (durable before its content), the content handed over right before its
// first byte, the result after the server's reply. Back-pressure:
// submit() waits while `concurrency` messages are in flight (and `markAhead` more wait in
// line), so memory does not grow with the list; a job waiting for its retry holds the
// recipient (a build() closure), not the bytes.
//
// Marking ahead (`markAhead`): the `sending` mark of a message must be on disk before its
// content, and one commit and fdatasync per message costs the main thread about a tenth of a
// fast run (issue 6). With markAhead > 0, jobs whose entry is `pending` wait in a short line
// and are marked `sending` together, ahead of their turn: one commit and one fdatasync for a
// batch, and no message waits for an fdatasync of its own. A job marked ahead that never
// starts (the run stops first) goes back to `pending` before the run ends; after a crash the
// resume finds it `sending` without the content mark, like a message whose envelope only went
// out: sent again on the same boot, `unknown` after a reboot (see journal.ts).
//
// Building ahead (`prebuild`): a job waiting in line may have its message built before its
// turn, one at a time, when the event loop has nothing else to do (setImmediate, after I/O).
// While every connection waits for the server, the main thread would otherwise sit idle and
// then build the next message only once a reply came (issue 6: in the first ~0.7 s of a
// 10,000-message send to smtp-sink it was idle ~20% of the time; send 2.71 -> 2.63 s). At most
// `prebuild` messages, and at most PREBUILT_BYTES of them, wait built; a retry builds anew.
//
// How a run stops, and what each way leaves in the journal (design.md exit codes):
// - signal (SIGINT/SIGTERM): no new work; messages in flight finish, for at most `graceMs`,
//   after which their connections are dropped (deferred before the final dot, unknown after);
//   retries not yet due stay `deferred` for the next run. Exit 130.
// - fatal transport error (TLS, authentication): no new work and no further message content:
//   a message waiting for its turn to send content is abandoned unsent (`deferred`, due at
//   once). Exit 3.
// - error budget spent (error-budget.ts): like a signal, with the reason said. Exit 3.
// - the journal failing (disk full): like fatal; the error is rethrown by drain().

import { setMaxListeners } from 'node:events';
import type { Composed } from '../compose/index.js';
import { give } from '../compose/message-memory.js';
import type { Clock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import type { Journal } from '../state/journal-api.js';
import { REFUSED_MARK } from '../state/types.js';
import type { ErrorBudget } from './error-budget.js';
import type { RateLimiter } from './rate-limit.js';
import type { RetryPolicy } from './retry.js';
import type { Gate, SendResult, Transport } from './transport.js';

export interface Job {
  key: string;
  row: number;
  email: string;
  /** Builds the message; called for every attempt. */
  build: () => Promise<Composed>;
  /** Attempts made before this one (from the journal). */
  attempts: number;
  /**
   * Envelope recipients (lower case) already delivered or refused for good by an earlier
   * attempt of this job: a group message partly delivered is retried for the rest only.
   */
  done?: string[];
  /** Members refused for good by an attempt of this process, `addr (reply)`: named when the message is sent. */
  refused?: string[];
  /** Tries of this process that failed because of the server (not attempts): their backoff. */
  serverFaults?: number;
  /**
   * The journal has it `pending` (not deferred, not unknown): its `sending` mark may be taken
   * ahead of its turn, and undone (back to `pending`) if the run stops before it starts.
   */
  pending?: boolean;
}

/** A job submitted and waiting for a connection slot. */
interface Waiting {
  job: Job;
  /** Its `sending` mark, taken ahead (markAhead). */
  marked?: Promise<void>;
  /** Its message, built ahead (prebuild). */
  built?: Promise<Composed>;
  /** The size of that message, once built. */
  builtBytes?: number;
}

/** Built messages waiting in line, in bytes at most (a list with large attachments builds few ahead). */
const PREBUILT_BYTES = 4 * 1024 * 1024;

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
  budget?: ErrorBudget;
  /** After the signal: how long messages in flight may take before their connections are dropped. */
  graceMs?: number;
  /**
   * How many submitted jobs may wait beyond those in flight, their `sending` marks taken ahead
   * in batches (see the top of the file). 0 (the default): submit() waits for a slot.
   */
  markAhead?: number;
  /** How many jobs in line may have their message built ahead (see the top of the file); 0: none. */
  prebuild?: number;
  onEvent?: (e: DispatchEvent) => void;
  /** Nothing in flight, `pending` retries waiting, the first due at `until`. */
  onWait?: (until: number, pending: number) => void;
}

/** How often at most the dispatcher says it is waiting for retries. */
const WAIT_NOTE_MS = 10_000;

export class Dispatcher {
  private inFlight = 0;
  /** Jobs submitted, waiting for a slot (at most markAhead once `concurrency` are in flight). */
  private waiting: Waiting[] = [];
  /** How many in `waiting` are marked ahead. */
  private markedAhead = 0;
  /** How many in `waiting` have their message built (or being built) ahead, and its bytes. */
  private prebuilt = 0;
  private prebuiltBytes = 0;
  private prebuildScheduled = false;
  /** submit() calls waiting for room. */
  private roomWaiters: (() => void)[] = [];
  /** Jobs waiting for a retry, with when it is due. */
  private retries = new Map<Promise<void>, number>();
  private running = new Set<Promise<void>>();
  /** Final results queued in the journal's group commit but not yet on disk. */
  private committing = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  private fatalError: MailcampError | undefined;
  private crashError: unknown;
  private pauseReason: string | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Aborted when the run stops for any reason: waits for the rate limit and retries end. */
  private readonly stop = new AbortController();

  constructor(private readonly o: DispatcherOptions) {
    // Every retry waiting for its time listens on `stop`: hundreds are normal (greylisting).
    setMaxListeners(0, this.stop.signal);
    const onSignal = () => {
      this.halt();
      // Cleared by drain(); it must keep the process alive meanwhile, the hung message may not.
      this.graceTimer = setTimeout(() => o.transport.abort(), o.graceMs ?? 5000);
    };
    if (o.signal.aborted) onSignal();
    else o.signal.addEventListener('abort', onSignal, { once: true });
  }

  /** The fatal transport error that stopped the run. */
  get fatal(): MailcampError | undefined {
    return this.fatalError;
  }

  /** Why the error budget paused the run. */
  get paused(): string | undefined {
    return this.pauseReason;
  }

  get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  /**
   * Hands over `job`; resolves once it has a slot, or a place in line (markAhead), not when it
   * is delivered. False once stopped.
   */
  async submit(job: Job): Promise<boolean> {
    while (!this.stopped && this.inFlight + this.waiting.length >= this.o.concurrency + (this.o.markAhead ?? 0)) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
    }
    if (this.stopped) return false;
    this.waiting.push({ job });
    this.pump();
    this.schedulePrebuild();
    return true;
  }

  /** Builds the next job in line ahead of its turn, once the event loop is otherwise idle. */
  private schedulePrebuild(): void {
    const room = () => this.prebuilt < (this.o.prebuild ?? 0) && this.prebuiltBytes < PREBUILT_BYTES && !this.stopped;
    if (this.prebuildScheduled || !room() || !this.waiting.some((w) => !w.built)) return;
    this.prebuildScheduled = true;
    setImmediate(() => {
      this.prebuildScheduled = false;
      const w = room() ? this.waiting.find((x) => !x.built) : undefined;
      if (!w) return;
      this.prebuilt++;
      w.built = w.job.build();
      w.built.then(
        (m) => {
          w.builtBytes = m.raw.length;
          if (this.waiting.includes(w)) this.prebuiltBytes += w.builtBytes;
        },
        () => {}, // its own failure, when its turn comes
      );
      this.schedulePrebuild();
    });
  }

  /** Starts waiting jobs while there are free slots. */
  private pump(): void {
    while (this.inFlight < this.o.concurrency && this.waiting.length && !this.stopped) {
      const w = this.waiting.shift()!;
      if (w.marked) this.markedAhead--;
      if (w.built) {
        this.prebuilt--;
        this.prebuiltBytes -= w.builtBytes ?? 0;
      }
      this.inFlight++;
      const p: Promise<void> = this.deliver(w)
        .catch((e) => this.crash(e))
        .finally(() => {
          this.running.delete(p);
          this.inFlight--;
          this.pump();
          this.changed();
        });
      this.running.add(p);
    }
    for (const r of this.roomWaiters.splice(0)) r();
  }

  /**
   * Marks `sending`, in one commit, `first` (when given) and every waiting job not yet marked
   * whose entry is pending. The promise is `first`'s.
   */
  private markBatch(first?: Job): Promise<void> {
    const ahead = (this.o.markAhead ?? 0) > 0 ? this.waiting.filter((w) => !w.marked && w.job.pending) : [];
    const keys = [...(first ? [first.key] : []), ...ahead.map((w) => w.job.key)];
    if (!keys.length) return Promise.resolve();
    const durable = this.o.journal.markSending(keys);
    for (const w of ahead) {
      // Each waiting job's gate returns it (a failure is its own, when it starts).
      w.marked = durable;
      durable.catch(() => {});
    }
    this.markedAhead += ahead.length;
    return durable;
  }

  /** Keeps at least `concurrency` marked jobs in line, so that none waits for an fdatasync. */
  private topUp(): void {
    if (this.markedAhead < this.o.concurrency && !this.stopped) this.markBatch();
  }

  /** Delivers `job` at `at` (a deferred recipient not yet due), unless the run stops first. */
  later(job: Job, at: number): void {
    job.pending = false; // deferred now: marked when its turn comes, not ahead
    const p: Promise<void> = (async () => {
      try {
        await this.o.clock.sleep(at - this.o.clock.now(), this.stop.signal);
      } catch {
        return; // stopped: it stays deferred in the journal for the next run
      }
      await this.submit(job);
    })()
      .catch((e) => this.crash(e))
      .finally(() => {
        this.retries.delete(p);
        this.changed();
      });
    this.retries.set(p, at);
  }

  /** Waits until every message, retries included, has an outcome or the run stopped. */
  async drain(): Promise<void> {
    let told: number | undefined;
    let toldAt = -Infinity;
    let recheck: NodeJS.Timeout | undefined;
    while (this.running.size || this.waiting.length || this.retries.size || this.committing.size) {
      if (!this.running.size && this.retries.size && this.o.onWait) {
        let next = Infinity;
        for (const at of this.retries.values()) if (at < next) next = at;
        // Said again when the wait changes, but not more than every WAIT_NOTE_MS (retries of
        // many recipients come one after another); a change held back is said when that is up.
        const since = this.o.clock.now() - toldAt;
        if (next !== told && since >= WAIT_NOTE_MS) {
          this.o.onWait(next, this.retries.size);
          told = next;
          toldAt = this.o.clock.now();
        } else if (next !== told && !recheck) {
          recheck = setTimeout(() => {
            recheck = undefined;
            this.changed();
          }, WAIT_NOTE_MS - since);
          recheck.unref();
        }
      }
      await new Promise<void>((r) => (this.wake = r));
    }
    clearTimeout(recheck);
    clearTimeout(this.graceTimer);
    if (this.crashError) throw this.crashError;
  }

  private changed(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Stops taking new work (the caller failed); drain() still waits for what is in flight. */
  stopRun(): void {
    this.halt();
  }

  private halt(): void {
    if (this.stop.signal.aborted) return;
    this.stop.abort(new MailcampError('INTERRUPTED', 'the run stopped'));
    // Jobs still in line never start: those marked ahead go back to `pending` (the try they
    // were counted for not made), committed before drain() returns.
    const left = this.waiting.splice(0);
    this.markedAhead = 0;
    this.prebuilt = this.prebuiltBytes = 0;
    const marked = left.filter((w) => w.marked).map((w) => w.job.key);
    if (marked.length) this.track(this.o.journal.unmarkSending(marked));
    for (const r of this.roomWaiters.splice(0)) r();
    this.changed();
  }

  private crash(e: unknown): void {
    if (this.crashError === undefined) this.crashError = e;
    this.halt();
  }

  private async deliver(w: Waiting): Promise<void> {
    const { journal, transport, clock, retry } = this.o;
    const job = w.job;
    if (this.stopped) return;
    let msg: Composed;
    try {
      msg = withoutDone(await (w.built ?? job.build()), job.done);
    } catch (e) {
      // Validated before the run; a file changed since. This recipient fails, the run goes on.
      if (!(e instanceof MailcampError)) throw e;
      job.attempts++;
      await this.finish(job, 'failed', { status: 'failed', response: e.toString() });
      return;
    }
    if (!msg.envelope.to.length) {
      // A group message whose every recipient an earlier attempt reached or refused.
      give(msg.raw);
      await this.finish(job, 'sent', { status: 'sent', response: 'every recipient was reached (or refused) by an earlier attempt' });
      return;
    }
    // The gate of the message (transport.ts): closed once the run failed (fatal, journal), open
    // for messages already under way when a signal or the error budget stops the run. One
    // `sending` per message, however many transactions or connections it takes.
    let durable: Promise<void> | undefined;
    let handedOver = false;
    let paced: Promise<void> | undefined;
    let rateStopped = false;
    const stopped = () => {
      if (this.fatalError || this.crashError !== undefined) throw new Error('the run stopped');
    };
    const gate: Gate = {
      // The rate limit counts a message when its transaction can start (it holds a
      // connection): taken earlier, a connection still being opened would hold granted
      // messages back and let them out together with later ones, over the limit.
      ready: () =>
        (paced ??= this.o.rate
          ? this.o.rate.acquire(this.stop.signal).catch((e: unknown) => {
              rateStopped = true;
              throw e;
            })
          : Promise.resolve()),
      open: () => {
        if (durable) return durable;
        stopped();
        if (w.marked) {
          // Marked ahead; a later attempt of this job (a retry) is marked anew.
          durable = w.marked;
          w.marked = undefined;
          this.topUp();
          return durable;
        }
        return (durable = this.markBatch(job));
      },
      stillWanted: () => !this.stopped,
      handOver: () => {
        stopped();
        if (handedOver) return;
        journal.markHandedOver([job.key]);
        handedOver = true;
      },
    };
    const result = await transport.send(msg, gate, this.stop.signal);
    // Its memory, to be written over by a later message (a retry builds the message anew).
    if (transport.keepsNoContent) give(msg.raw);
    if (rateStopped && result.notTried) {
      // Stopped while waiting for the rate limit: still pending/deferred (a mark taken ahead undone).
      if (w.marked) this.track(journal.unmarkSending([job.key]));
      return;
    }
    if (result.fatal && !this.fatalError) {
      this.fatalError = result.fatal;
      this.halt();
    }
    if (!result.notTried && !result.serverFault) job.attempts++;
    const settled = [...(result.delivered ?? []), ...(result.rejected ?? []).map((r) => r.address)].map((a) => a.toLowerCase());
    if (settled.length) job.done = [...(job.done ?? []), ...settled];
    if (result.rejected?.length) job.refused = [...(job.refused ?? []), ...result.rejected.map((r) => `${r.address} (${r.response})`)];

    if (result.status === 'deferred') {
      if (result.notTried && job.pending) {
        // Never left (the run stopped first): `pending` again, the try not counted.
        this.track(journal.unmarkSending([job.key]));
        return;
      }
      if (result.fatal || result.notTried) {
        // Not the recipient's fault: due as soon as the run is resumed.
        await this.record(job, 'deferred', result, clock.now());
        return;
      }
      if (result.serverFault) {
        // Not the recipient's fault either: no attempt used, but a backoff of its own, or a
        // 421 aimed at this message would be tried again at once on every other open connection.
        job.serverFaults = (job.serverFaults ?? 0) + 1;
        const at = clock.now() + retry.delayFor(job.serverFaults);
        await this.record(job, 'deferred', result, at);
        this.o.onEvent?.({ job, outcome: 'deferred', result, retryAt: at });
        if (!this.stopped) this.later(job, at);
        return;
      }
      if (retry.shouldRetry(job.attempts)) {
        const at = clock.now() + retry.delayFor(job.attempts);
        await this.record(job, 'deferred', result, at);
        this.o.onEvent?.({ job, outcome: 'deferred', result, retryAt: at });
        if (!this.stopped) this.later(job, at);
        return;
      }
      const tries = `${job.attempts} attempt${job.attempts === 1 ? '' : 's'}`;
      // A group message some members already got (or refused for good): say who is left.
      const rest = job.done?.length ? ` for ${msg.envelope.to.filter((a) => !job.done!.includes(a.toLowerCase())).join(', ')}` : '';
      const reached = job.done?.length ? `; earlier attempts settled ${job.done.join(', ')}` : '';
      await this.finish(job, 'failed', { ...result, response: `gave up after ${tries}${rest}: ${result.response}${reached}` });
      return;
    }
    let response = result.response;
    if (result.status === 'sent' && job.refused?.length) response += `${REFUSED_MARK}${job.refused.join(', ')}`;
    await this.finish(job, result.status, { ...result, response });
  }

  /** A final outcome: journal, event, error budget. */
  private async finish(job: Job, outcome: Exclude<Outcome, 'deferred'>, result: SendResult): Promise<void> {
    // The slot is not held until the result is on disk: only `sending` must be durable before
    // a message's content. The result is kept in the content mark's slot and committed a few at
    // a time, or committed before the next content mark (journal.ts, "Results") — a connection
    // never has more than one message whose delivery a crash could leave unknown. drain()
    // waits for these commits.
    this.track(this.record(job, outcome, result));
    this.o.onEvent?.({ job, outcome, result });
    const reason = this.o.budget?.record(outcome !== 'sent');
    if (reason && !this.pauseReason) {
      this.pauseReason = reason;
      this.halt();
    }
  }

  /** A journal write drain() waits for; its failure stops the run. */
  private track(write: Promise<void>): void {
    const p: Promise<void> = write
      .catch((e) => this.crash(e))
      .finally(() => {
        this.committing.delete(p);
        this.changed();
      });
    this.committing.add(p);
  }

  private record(job: Job, status: Outcome, result: SendResult, nextAttemptAt?: number): Promise<void> {
    return this.o.journal.markResults([
      { key: job.key, status, response: result.response, nextAttemptAt, attempts: job.attempts, delivered: job.done },
    ]);
  }
}

/** The message minus the envelope recipients an earlier attempt settled. */
function withoutDone(msg: Composed, done: string[] | undefined): Composed {
  if (!done?.length) return msg;
  const skip = new Set(done);
  return { ...msg, envelope: { ...msg.envelope, to: msg.envelope.to.filter((a) => !skip.has(a.toLowerCase())) } };
}
