// The Journal interface: the one source of truth for delivery state (style.md habit 8).
// Send writes it; resume, status and the report read it. The SQLite implementation is in
// journal.ts.

import type { DeliveryStatus, JournalEntry, RunInfo, Totals } from './types.js';

export interface NewEntry {
  key: string;
  row: number;
  email: string;
  messageId: string;
}

export interface ResultUpdate {
  key: string;
  status: Exclude<DeliveryStatus, 'pending' | 'sending'>;
  response?: string;
  /** For deferred: when it may be tried again (epoch ms). */
  nextAttemptAt?: number;
  /** Tries made so far, when the caller counts them (markSending counts every transaction begun). */
  attempts?: number;
  /** Group messages: envelope recipients reached or refused for good so far (kept across runs). */
  delivered?: string[];
}

export interface Journal {
  /** The latest run of this campaign, if any. */
  currentRun(): RunInfo | undefined;
  /** Starts a new run (after --restart or the first time): entries of older runs are dropped. */
  startRun(runId: string, transport: string): RunInfo;
  /** Marks the current run finished or interrupted, with why it stopped (at `at`, default now). */
  endRun(state: 'finished' | 'interrupted', reason?: string, at?: number): void;

  get(key: string): JournalEntry | undefined;
  /** Adds entries as `pending` when the key is new; returns false for a key already present. */
  addPending(entry: NewEntry): boolean;
  /** Adds entries as `skipped` with a reason (suppressed, invalid with --skip-invalid ...). */
  addSkipped(entry: NewEntry, reason: string): void;
  /**
   * `sending`, attempts+1: committed (visible to other processes) when the call returns, before
   * the transaction's first command goes out; durably on disk (fsynced) when the returned
   * promise resolves, and the caller sends the content only after that. Marks share fsyncs.
   */
  markSending(keys: string[]): Promise<void>;
  /**
   * `sending` entries whose transaction never started (marked ahead, and the run stopped
   * first) back to `pending`, the try not counted. Committed when the call returns; durable
   * when the promise resolves.
   */
  unmarkSending(keys: string[]): Promise<void>;
  /**
   * Right before the first byte of the content of these `sending` entries: committed when the
   * call returns (not fsynced), so a resume knows which ones may have reached the server.
   */
  markHandedOver(keys: string[]): void;
  /** Records results; durable by the time the returned promise resolves (group commit). */
  markResults(updates: ResultUpdate[]): Promise<void>;
  /** Forces every buffered write to disk now. */
  flush(): Promise<void>;

  /** Streams entries in row order; `statuses` filters. Does not load all of them into memory. */
  entries(statuses?: DeliveryStatus[]): IterableIterator<JournalEntry>;
  /** Keys in `deferred` whose nextAttemptAt <= now, and `pending` ones, in row order. */
  due(now: number, limit: number): JournalEntry[];
  /** Earliest nextAttemptAt among deferred entries, or undefined. */
  nextDeferredAt(): number | undefined;
  totals(): Totals;
  close(): void;
}
