// The long-running scheduler behind `mailcamp schedule`: watches campaign files, sleeps on
// the injected Clock until an occurrence is due, hands it to the injected `send` (the CLI
// passes the pipeline's runSend), and reports what happens as events (the CLI words them).
//
// - One loop per campaign file, so a slow or failing campaign never holds up another.
// - What to do at each wake is decide.ts; the occurrence journals are the truth about what
//   has been sent (style.md habit 8), so a restart, a second `schedule` process or a manual
//   `send --occurrence` are all seen the same way: the occurrence is finished, or its lock
//   is held by a live process (busy: look again soon), or it can be (re)sent.
// - A failed occurrence (server down, campaign broken) is tried again with a growing delay,
//   for as long as `catch_up` allows; a newer occurrence replaces it.
// - Files are polled for changes every `watchMs` of real time (campaign-files.ts): a changed
//   file is loaded again, a new one in a watched folder is added, a deleted one dropped.
// - Sleeps are at most `maxSleepMs`, so a wall clock that jumps (suspend, NTP) is noticed.
// - On abort (SIGTERM/SIGINT) sleeping loops end at once; a send in progress gets the same
//   signal, finishes the messages in flight and leaves a resumable journal; run() resolves
//   when every loop has ended.

import type { Campaign } from '../campaign/types.js';
import type { Clock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import { campaignFiles, campaignFilesNow, type WatchedFile } from './campaign-files.js';
import { decide, type DueReason, type SkipReason } from './decide.js';
import type { OccurrenceState } from './occurrence.js';
import { type Timetable, timetable } from './timetable.js';

export interface OccurrenceRequest {
  file: string;
  campaign: Campaign;
  at: number;
  reason: DueReason;
  signal: AbortSignal;
}

interface Subject {
  file: string;
  campaign: Campaign;
  timetable: Timetable;
}

export type ScheduleEvent<R> =
  | ({ type: 'watching'; reloaded: boolean } & Subject)
  | { type: 'load-failed'; file: string; error: unknown; reloaded: boolean }
  | { type: 'unwatched'; file: string; name?: string }
  | ({ type: 'next'; next: number | undefined } & Subject)
  | ({ type: 'due'; at: number; reason: DueReason | 'retry'; passedOver: number } & Subject)
  | ({ type: 'skipped'; at: number; reason: SkipReason } & Subject)
  /** Finished before we got to it (earlier run, another process, `send --occurrence`). */
  | ({ type: 'done'; at: number; state: OccurrenceState } & Subject)
  /** Another live process holds the occurrence's lock. */
  | ({ type: 'busy'; at: number; pid?: number; retryAt: number } & Subject)
  | ({ type: 'sent'; at: number; result: R; state: OccurrenceState } & Subject)
  /** Stopped by the signal mid-send; resumable. */
  | ({ type: 'interrupted'; at: number; result?: R } & Subject)
  /** retryAt undefined: given up (older than catch_up). */
  | ({ type: 'failed'; at: number; error?: unknown; result?: R; state?: OccurrenceState; retryAt?: number } & Subject);

export interface RunnerOptions<R> {
  /** Campaign files and folders (absolute paths). */
  paths: string[];
  clock: Clock;
  signal: AbortSignal;
  /** Loads (and validates) a campaign file; throws on errors. */
  load: (file: string) => Campaign;
  /** Sends one occurrence; may throw (then the journal is asked what happened). */
  send: (req: OccurrenceRequest) => Promise<R>;
  /** What the occurrence's journal and lock say. */
  stateOf: (c: Campaign, at: number) => OccurrenceState;
  onEvent?: (e: ScheduleEvent<R>) => void;
  /** Real-time interval for noticing changed files; 0 turns polling off (tests call reconcile()). */
  watchMs?: number;
  /** How soon to look again when another process is sending the occurrence. */
  busyRetryMs?: number;
  /** First delay after a failed send; doubles up to maxFailRetryMs. */
  failRetryMs?: number;
  maxFailRetryMs?: number;
  maxSleepMs?: number;
}

interface Watch {
  file: string;
  signature: string | undefined;
  campaign?: Campaign;
  tt?: Timetable;
  specKey?: string;
  since: number;
  handledThrough: number;
  retry?: { at: number; nextTry: number; delay: number };
  lastNext?: number | null;
  wake?: AbortController;
  dirty: boolean;
  removed: boolean;
  sleepingUntil?: number;
  loop?: Promise<void>;
}

export class ScheduleRunner<R> {
  private readonly watches = new Map<string, Watch>();
  /** Loops of removed files that may still be finishing a send. */
  private readonly dropped = new Set<Watch>();
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private started = false;
  private running = false;
  private readonly busyRetryMs: number;
  private readonly failRetryMs: number;
  private readonly maxFailRetryMs: number;
  private readonly maxSleepMs: number;

  constructor(private readonly o: RunnerOptions<R>) {
    this.busyRetryMs = o.busyRetryMs ?? 2000;
    this.failRetryMs = o.failRetryMs ?? 60_000;
    this.maxFailRetryMs = o.maxFailRetryMs ?? 30 * 60_000;
    this.maxSleepMs = o.maxSleepMs ?? 60_000;
  }

  /** The campaign files being watched, with their campaign when it loaded. */
  get watched(): { file: string; campaign?: Campaign; timetable?: Timetable }[] {
    return [...this.watches.values()].map((w) => ({ file: w.file, campaign: w.campaign, timetable: w.tt }));
  }

  /**
   * Looks at the files again: loads new and changed ones, drops deleted ones. The first call
   * (made by start()) throws a usage error for a path that does not exist.
   */
  reconcile(): void {
    const files = this.started ? campaignFilesNow(this.o.paths) : campaignFiles(this.o.paths);
    this.started = true;
    const seen = new Set<string>();
    for (const f of files) {
      seen.add(f.file);
      const w = this.watches.get(f.file);
      if (!w) this.add(f);
      else if (w.signature !== f.signature) {
        w.signature = f.signature;
        this.load(w, true);
        this.wake(w);
      }
    }
    for (const w of [...this.watches.values()]) {
      if (seen.has(w.file)) continue;
      w.removed = true;
      this.watches.delete(w.file);
      if (w.loop) this.dropped.add(w);
      void w.loop?.finally(() => this.dropped.delete(w));
      this.wake(w);
      this.emit({ type: 'unwatched', file: w.file, name: w.campaign?.name });
    }
  }

  /** Loads the files (nothing is sent before run()); returns what is watched. */
  start(): { file: string; campaign?: Campaign; timetable?: Timetable }[] {
    if (!this.started) this.reconcile();
    return this.watched;
  }

  /** Runs until the signal aborts and every send in progress has stopped. */
  async run(): Promise<void> {
    this.start();
    this.running = true;
    for (const w of this.watches.values()) this.startLoop(w);
    // Not unref'd: with no campaign (an empty folder, its last file removed) this timer is what
    // keeps the process up, watching for new files until the signal.
    const timer = this.o.watchMs ? setInterval(() => this.safeReconcile(), this.o.watchMs) : undefined;
    try {
      if (!this.o.signal.aborted) {
        await new Promise<void>((resolve) => this.o.signal.addEventListener('abort', () => resolve(), { once: true }));
      }
      for (const w of this.watches.values()) this.wake(w);
      await Promise.all([...this.watches.values(), ...this.dropped].map((w) => w.loop));
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  /** Resolves when every campaign loop is asleep (for tests driving a ManualClock). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** True while every campaign loop is asleep. */
  get isIdle(): boolean {
    return this.active === 0;
  }

  /** The earliest instant a sleeping loop will wake at. */
  nextWake(): number | undefined {
    let min: number | undefined;
    for (const w of this.watches.values()) {
      if (w.sleepingUntil !== undefined && (min === undefined || w.sleepingUntil < min)) min = w.sleepingUntil;
    }
    return min;
  }

  // ---- internals

  private safeReconcile(): void {
    try {
      this.reconcile();
    } catch (e) {
      this.emit({ type: 'load-failed', file: this.o.paths.join(', '), error: e, reloaded: true });
    }
  }

  private add(f: WatchedFile): void {
    const w: Watch = {
      file: f.file,
      signature: f.signature,
      since: this.o.clock.now(),
      handledThrough: Number.NEGATIVE_INFINITY,
      dirty: false,
      removed: false,
    };
    this.watches.set(f.file, w);
    this.load(w, false);
    if (this.running) this.startLoop(w);
  }

  private startLoop(w: Watch): void {
    if (w.loop) return;
    this.active++;
    w.loop = this.loop(w);
  }

  private load(w: Watch, reloaded: boolean): void {
    try {
      const c = this.o.load(w.file);
      if (!c.schedule) {
        throw new MailcampError('INPUT', "no schedule: key; add one (cron: or at:) to schedule this campaign", { file: c.displayFile });
      }
      // Two files with one name share one journal per occurrence: the second would find each
      // occurrence "already finished" by the first, and its recipients would never get mail.
      const twin = [...this.watches.values()].find((o) => o !== w && !o.removed && o.campaign?.name === c.name);
      if (twin) {
        throw new MailcampError(
          'INPUT',
          `name '${c.name}' is also the name of ${twin.campaign!.displayFile}, which is scheduled too: the two would share one journal and only one would be sent; give each campaign its own name:`,
          { file: c.displayFile },
        );
      }
      const tt = timetable(c.schedule);
      const key = JSON.stringify({ ...c.schedule, timezone: tt.timezone });
      const now = this.o.clock.now();
      if (w.campaign && w.campaign.name !== c.name) {
        // Another name is another journal: nothing of the old one applies.
        w.handledThrough = Number.NEGATIVE_INFINITY;
        w.since = now;
      } else if (w.specKey !== undefined && w.specKey !== key) {
        // Times of an edited schedule that have already passed were not watched: they count
        // as missed, so `missed:` decides, instead of sending them at once as if on time.
        w.since = now;
      }
      w.campaign = c;
      w.tt = tt;
      w.specKey = key;
      w.lastNext = undefined;
      w.retry = undefined;
      this.emit({ type: 'watching', reloaded, file: w.file, campaign: c, timetable: tt });
    } catch (e) {
      w.campaign = undefined;
      w.tt = undefined;
      this.emit({ type: 'load-failed', file: w.file, error: e, reloaded });
    }
  }

  private async loop(w: Watch): Promise<void> {
    try {
      while (!this.o.signal.aborted && !w.removed) {
        let ms: number;
        try {
          ms = await this.step(w);
        } catch (e) {
          // A bug in a step must not stop the other campaigns; report and slow down.
          const s = this.subject(w);
          if (s) this.emit({ type: 'failed', ...s, at: this.o.clock.now(), error: e });
          ms = this.failRetryMs;
        }
        if (ms > 0) await this.sleep(w, ms);
      }
    } finally {
      this.active--;
      this.checkIdle();
    }
  }

  /** One decision and its action; returns how long to sleep (0: decide again at once). */
  private async step(w: Watch): Promise<number> {
    const s = this.subject(w);
    if (!s) return this.maxSleepMs; // not loadable: wait for the file to change
    const { campaign: c, timetable: tt } = s;
    const spec = c.schedule!;
    const now = this.o.clock.now();
    const d = decide(tt, spec, {
      now,
      since: w.since,
      handledThrough: w.handledThrough,
      stateOf: (at) => this.o.stateOf(c, at).state,
    });
    switch (d.kind) {
      case 'wait': {
        if ((d.next ?? null) !== w.lastNext) {
          w.lastNext = d.next ?? null;
          this.emit({ type: 'next', ...s, next: d.next });
        }
        return d.next === undefined ? this.maxSleepMs : Math.min(Math.max(d.next - now, 1), this.maxSleepMs);
      }
      case 'skip':
        this.emit({ type: 'skipped', ...s, at: d.at, reason: d.reason });
        this.handled(w, d.at);
        return 0;
      case 'done':
        this.emit({ type: 'done', ...s, at: d.at, state: this.o.stateOf(c, d.at) });
        this.handled(w, d.at);
        return 0;
      case 'run': {
        const retry = w.retry?.at === d.at ? w.retry : undefined;
        if (retry && retry.nextTry > now) return Math.min(retry.nextTry - now, this.maxSleepMs);
        this.emit({ type: 'due', ...s, at: d.at, reason: retry ? 'retry' : d.reason, passedOver: d.passedOver });
        await this.send(w, s, d.at, d.reason);
        return 0;
      }
    }
  }

  private async send(w: Watch, s: Subject, at: number, reason: DueReason): Promise<void> {
    w.lastNext = undefined;
    let result: R | undefined;
    let error: unknown;
    try {
      result = await this.o.send({ file: w.file, campaign: s.campaign, at, reason, signal: this.o.signal });
    } catch (e) {
      error = e;
    }
    let state: OccurrenceState | undefined;
    try {
      state = this.o.stateOf(s.campaign, at);
    } catch (e) {
      error ??= e;
    }
    const now = this.o.clock.now();
    if (state?.state === 'finished') {
      // Refused because somebody else finished it in the meantime: that is done, not sent.
      if (error !== undefined || result === undefined) this.emit({ type: 'done', ...s, at, state });
      else this.emit({ type: 'sent', ...s, at, result, state });
      this.handled(w, at);
      return;
    }
    if (state?.state === 'running') {
      const retryAt = now + this.busyRetryMs;
      w.retry = { at, nextTry: retryAt, delay: w.retry?.at === at ? w.retry.delay : this.failRetryMs };
      this.emit({ type: 'busy', ...s, at, pid: state.lockedBy, retryAt });
      return;
    }
    if (this.o.signal.aborted) {
      this.emit({ type: 'interrupted', ...s, at, result });
      return;
    }
    const delay = w.retry?.at === at ? Math.min(w.retry.delay * 2, this.maxFailRetryMs) : this.failRetryMs;
    const nextTry = now + delay;
    if (nextTry - at > s.campaign.schedule!.catchUpMs) {
      this.emit({ type: 'failed', ...s, at, error, result, state });
      this.handled(w, at);
      return;
    }
    w.retry = { at, nextTry, delay };
    this.emit({ type: 'failed', ...s, at, error, result, state, retryAt: nextTry });
  }

  private handled(w: Watch, at: number): void {
    w.handledThrough = Math.max(w.handledThrough, at);
    if (w.retry && w.retry.at <= at) w.retry = undefined;
    w.lastNext = undefined;
  }

  private subject(w: Watch): Subject | undefined {
    return w.campaign && w.tt ? { file: w.file, campaign: w.campaign, timetable: w.tt } : undefined;
  }

  private async sleep(w: Watch, ms: number): Promise<void> {
    if (w.dirty) {
      w.dirty = false;
      return;
    }
    const ac = new AbortController();
    w.wake = ac;
    const stop = () => ac.abort();
    this.o.signal.addEventListener('abort', stop, { once: true });
    w.sleepingUntil = this.o.clock.now() + ms;
    this.active--;
    this.checkIdle();
    try {
      await this.o.clock.sleep(ms, ac.signal);
    } catch {
      // Woken early: a file changed, or we are stopping.
    } finally {
      this.active++;
      w.sleepingUntil = undefined;
      w.wake = undefined;
      w.dirty = false;
      this.o.signal.removeEventListener('abort', stop);
    }
  }

  private wake(w: Watch): void {
    if (w.wake) w.wake.abort();
    else w.dirty = true;
  }

  private checkIdle(): void {
    if (this.active !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of waiters) r();
  }

  private emit(e: ScheduleEvent<R>): void {
    this.o.onEvent?.(e);
  }
}
