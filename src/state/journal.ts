// The journal: the durable per-recipient delivery state of one campaign
// (`.mailcamp/<name>/journal.sqlite`), implementing the Journal interface of journal-api.ts.
//
// Why SQLite (better-sqlite3, WAL; see sqlite.ts):
// - Durability in the right order. A recipient is `sending` before its transaction's first
//   command (MAIL, and so DATA) goes out, and on disk before the first byte of its content:
//   once the server has the message, responsibility has passed to it (RFC 5321 §6.1), and if
//   the connection dies after the final dot we cannot tell whether it was accepted (RFC 1047).
//   A resume must therefore never re-send silently a `sending` entry whose content may have
//   gone out: it becomes `unknown` (settleStaleSending). "The promise resolved" means "on
//   disk" (fsynced).
// - Knowing which ones went out. Right before the content's first byte, markHandedOver
//   writes the entry's content mark (content-marks.ts: a slot of a small file beside the
//   journal, for that try of the entry; `content_at` in older journals and for keys too long
//   for a slot), not fsynced: that would put a second disk flush on every message's path. A
//   process that dies leaves its writes in the kernel, which writes them out, so on a resume
//   on the same boot (runs.boot, boot.ts) a `sending` entry without a content mark certainly
//   never had its content sent (only its envelope, or nothing: marked ahead, see
//   dispatcher.ts): it goes back to `pending`. After a reboot such a mark may be lost, so every
//   `sending` entry becomes `unknown`, as it does when the boot cannot be told (boot.ts).
// - Speed at a million recipients: one fsync per message would cap a run at a few hundred
//   messages a second, and a synchronous fsync freezes the event loop. See "Group commit".
// - Memory: recipients stay on disk; entries() pages through an index.
// - One row per recipient (a group message is one row) keeps status, attempts, the last reply,
//   the next retry time, the Message-ID and, for a group message partly delivered, who already
//   got it (`delivered`, so a retry goes to the rest only). Runs keep why they stopped (`reason`).
// - Crash safety: a write torn by a crash fails the WAL checksum and SQLite's recovery drops
//   it on the next open, so the file always holds a prefix of whole commits.
//
// Group commit. markResults / addPending / register append to a queue; the queue is
// committed in ONE transaction on the next setImmediate, or at once when it passes FLUSH_AT
// rows or a markSending joins it (a `sending` mark is committed before the call returns, so a
// process reading the journal sees it before the transaction's first command is written). The
// connection runs with synchronous=NORMAL, so a commit writes its WAL frames without waiting
// for the disk (~15 µs instead of ~150 µs of frozen event loop); the journal then fsyncs the
// WAL itself with fs.fdatasync on libuv's thread pool, and the promises of the writes it
// covers resolve only when that returns. An fdatasync covers every commit made before it
// began, so commits made while one runs share the next: results wait for the running one to
// end, a `sending` mark (a message's content waits for it) starts another at once, up to
// MAX_SYNCS. The main thread never waits for the disk, and the fdatasync of a `sending` mark
// runs while the envelope (MAIL, RCPT, DATA) is out. This gives what synchronous=FULL gives —
// a write is durable before its promise resolves, so a caller that awaits markSending before
// sending the content can never send an entry that is not `sending` on disk — because
// fdatasync of the WAL file makes every frame written before it durable, and SQLite in NORMAL
// mode still syncs the WAL before a checkpoint and the database after it. Run changes
// (startRun, endRun, resumeRun, settleStaleSending) and content marks are written directly
// and reach the disk with the next fdatasync or close(); no message is sent on the strength of
// them alone. Reads (get, entries, due, totals ...) commit the queue first, so they see every
// write made before them (visibility needs the commit, not the fsync). close() fsyncs
// synchronously. If a commit or an fsync fails (disk full), the journal refuses every later
// call: sending on without a journal would break the promises above.
//
// Results. A message's final result whose entry has a content mark (its content went out) is
// queued and committed with the next `sending` mark, or once LAZY_AT results wait, or LAZY_MS
// after the first: not on the next turn of the event loop. Until then the next content mark
// written carries its outcome in its slot (content-marks.ts: no write of its own; each in its
// own slot when they do not fit). A process killed before that commit leaves the outcome in a
// slot, and settleStaleSending records it: the message before this one on a
// connection is never left in doubt by the next one's content (markHandedOver). Until then
// get(), entries() and totals() show such an entry with its outcome (`status` beside a run, or
// after a crash); a status filter of entries() reads the stored status. Committing
// every result on its own turn took ~1 commit and fdatasync per two messages, and the WAL
// writes waited on those fdatasyncs (issue 6: send of 10,000 ~3.7 -> ~3.55 s). A result that
// has no slot or does not fit in one, and a deferral (its caller awaits it), is committed on
// the next turn and before the next content mark, as before.
//
// Why entries() pages instead of holding one `.iterate()` cursor: better-sqlite3 refuses any
// other statement on a connection while a cursor is open, so a caller that sends (and
// therefore writes) while walking the entries would fail, and an open read transaction pins a
// WAL snapshot, so the WAL could not be checkpointed during a long run. Each page is a short
// `.iterate()` over a keyset query (row, key) > (last row, last key), which streams just the
// same and visits each entry at most once.

import path from 'node:path';
import fs from 'node:fs';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import type { Journal, NewEntry, ResultUpdate } from './journal-api.js';
import { type DeliveryStatus, type JournalEntry, REFUSED_MARK, type RunInfo, type RunState, type Totals } from './types.js';
import type { Statement } from 'better-sqlite3';
import { bootId } from './boot.js';
import { openDatabase, type Db } from './sqlite.js';
import { type Carried, ContentMarks, type SlotOutcome } from './content-marks.js';
import { migrate, prepareStatements, SCHEMA_VERSION, toEntry, toRun, type EntryRow, type RunRow } from './journal-schema.js';

export const JOURNAL_FILE = 'journal.sqlite';
/** The response given to entries found `sending` when a run is resumed. */
/** What a transport knows of a message left `sending` by a crash (settleStaleSending). */
export type StaleVerdict = { status: 'sent'; response: string } | { status: 'pending' };

export const INTERRUPTED_RESPONSE = 'interrupted while sending; delivery unknown';

/** Queued rows that force a commit without waiting for the event loop. */
const FLUSH_AT = 1000;
/**
 * Results kept in their content marks' slots are committed when this many are queued, or
 * LAZY_MS after the first of them, whichever comes first (see "Results" above).
 */
const LAZY_AT = 64;
const LAZY_MS = 20;
/** fdatasyncs of the WAL running at once (libuv's thread pool has 4 threads). */
const MAX_SYNCS = 3;
/** Entries read per page by entries(). */
const PAGE_SIZE = 500;

const STATUSES: readonly DeliveryStatus[] = ['pending', 'sending', 'sent', 'failed', 'deferred', 'unknown', 'skipped'];
const RESULTS: ReadonlySet<string> = new Set<ResultUpdate['status']>(['sent', 'failed', 'deferred', 'unknown', 'skipped']);

export interface JournalOptions {
  clock?: Clock;
  /** Opens an existing journal for reading only (e.g. `status` beside a running `send`). */
  readonly?: boolean;
}


/**
 * A queued write. `waiter` settles the promise of a markSending/markResults call; `missing`
 * lists the keys its UPDATE found no entry for (the call is then refused after the commit:
 * finding that out in the UPDATE costs nothing, a lookup first cost a query per call).
 */
type Op =
  | { kind: 'add'; entry: NewEntry; status: 'pending' | 'skipped'; response: string | null; at: number }
  | { kind: 'sending'; keys: string[]; at: number; waiter?: Waiter; missing?: string[] }
  | { kind: 'unsending'; keys: string[]; at: number; waiter?: Waiter }
  | { kind: 'results'; updates: ResultUpdate[]; at: number; waiter?: Waiter; missing?: string[]; lazy?: boolean };

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}


export function journalFile(dir: string): string {
  return path.join(dir, JOURNAL_FILE);
}

/** True when a journal has been written in `dir` (nothing sent yet otherwise). */
/** A journal file with something in it (a 0-byte one, left by a full disk, holds no run). */
export function journalExists(dir: string): boolean {
  try {
    return fs.statSync(journalFile(dir)).size > 0;
  } catch {
    return false;
  }
}

export function openJournal(dir: string, opts: JournalOptions = {}): SqliteJournal {
  return new SqliteJournal(dir, opts);
}

export class SqliteJournal implements Journal {
  readonly file: string;
  /** Transactions committed by the group commit, and fdatasyncs of the WAL (for tests and benchmarks). */
  commits = 0;
  syncs = 0;

  private readonly db: Db;
  private readonly clock: Clock;
  private readonly readonly: boolean;
  private queue: Op[] = [];
  private queuedRows = 0;
  /** Keys touched by queued ops: get() must commit before reading them, addPending sees them. */
  private queuedKeys = new Set<string>();
  private waiters: Waiter[] = [];
  private scheduled = false;
  /** Queued results each kept in its content mark's slot (LAZY_AT), and the timer that commits them (LAZY_MS). */
  private lazyQueued = 0;
  private lazyTimer: NodeJS.Timeout | undefined;
  /** Queued results not kept in a slot: committed before the next content mark. */
  private eagerResults = 0;
  /** Lazy results whose outcome no slot holds yet: the next content mark written carries them. */
  private unslotted: Carried[] = [];
  /** Writes committed, waiting for an fdatasync to begin. */
  private unsynced: Waiter[] = [];
  /** Some write in `unsynced` is a `sending` mark: a message's DATA is waiting for it. */
  private unsyncedUrgent = false;
  /** The writes each running fdatasync covers. */
  private readonly syncing = new Set<Waiter[]>();
  /** A `sending` mark is queued, not yet committed. */
  private urgent = false;
  /** The WAL file, for fdatasync; opened at the first sync (SQLite creates it at the first write). */
  private walFd: number | undefined;
  private closed = false;
  private broken: Error | undefined;
  private readonly onExit = () => {
    try {
      this.close();
    } catch {
      // Exiting anyway; what was committed stays, the rest resumes as `sending` -> `unknown`.
    }
  };

  private readonly st: ReturnType<typeof prepareStatements>;
  /** When this process marked each entry it has under way `sending` (what its content mark names). */
  private readonly sendingAt = new Map<string, number>();
  private readonly marks: ContentMarks;
  private readonly entriesStatements = new Map<number, Statement<unknown[]>>();
  private readonly commitOps: (ops: Op[]) => void;

  constructor(dir: string, opts: JournalOptions = {}) {
    this.file = journalFile(dir);
    this.marks = new ContentMarks(dir);
    this.clock = opts.clock ?? systemClock;
    this.readonly = !!opts.readonly;
    if (this.readonly && !fs.existsSync(this.file)) {
      throw new MailcampError('STATE', 'no journal yet: nothing has been sent for this campaign', { file: this.file });
    }
    // A journal (or its folder) this user may not write: said now, before anything connects.
    if (!this.readonly) {
      for (const p of [dir, this.file]) {
        try {
          fs.accessSync(p, fs.constants.W_OK);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw new MailcampError('STATE', `cannot write the journal: ${p === dir ? 'its folder' : 'the file'} is read-only for this user; send needs to record every delivery`, { file: p });
        }
      }
    }
    this.db = openDatabase(this.file, { readonly: this.readonly, version: SCHEMA_VERSION, migrate, synchronous: 'NORMAL', kind: { table: 'runs', what: 'journal' } });
    try {
      this.st = prepareStatements(this.db, this.readonly);
    } catch (e) {
      // A journal damaged by hand (a table or column gone): one line, not a stack trace.
      this.db.close();
      throw new MailcampError('STATE', `cannot use: ${(e as Error).message}`, { file: this.file });
    }
    const st = this.st;
    this.commitOps = this.db.transaction((ops: Op[]) => {
      for (const op of ops) {
        if (op.kind === 'add') {
          const e = op.entry;
          st.insert!.run(e.key, e.row, e.email, op.status, op.response, e.messageId, op.at);
        } else if (op.kind === 'sending') {
          for (const key of op.keys) if (st.sending!.run(op.at, key).changes === 0) (op.missing ??= []).push(key);
        } else if (op.kind === 'unsending') {
          for (const key of op.keys) st.requeueOne!.run(op.at, key);
        } else {
          for (const u of op.updates) {
            const next = u.status === 'deferred' ? (u.nextAttemptAt ?? null) : null;
            const delivered = u.delivered?.length ? u.delivered.join('\n') : null;
            const r = st.result!.run(u.status, u.response ?? null, next, u.attempts ?? null, delivered, op.at, u.key);
            if (r.changes === 0) (op.missing ??= []).push(u.key);
          }
        }
      }
    }).immediate;
    if (!this.readonly) process.on('exit', this.onExit);
  }

  // ---- runs

  currentRun(): RunInfo | undefined {
    this.usable();
    const r = this.st.currentRun.get() as RunRow | undefined;
    return r && toRun(r);
  }

  startRun(runId: string, transport: string, campaignFile?: string): RunInfo {
    this.writable();
    this.flushNow();
    const startedAt = this.clock.now();
    this.marks.clear();
    this.db
      .transaction(() => {
        this.st.deleteEntries!.run();
        this.st.insertRun!.run(runId, startedAt, 'running', transport, bootId() ?? null, campaignFile ?? null);
      })
      .immediate();
    return { runId, startedAt, state: 'running', transport, ...(campaignFile ? { campaignFile } : {}) };
  }

  endRun(state: 'finished' | 'interrupted', reason?: string, at?: number): void {
    this.setRunState(state, at ?? this.clock.now(), reason ?? null);
  }

  /**
   * Marks the current run running again (a resume of an interrupted run), by this process on
   * this boot. Call settleStaleSending first: it reads the boot the last process ran on.
   */
  resumeRun(): RunInfo {
    const run = this.setRunState('running', null, null);
    this.st.setRunBoot!.run(bootId() ?? null, run.runId);
    return run;
  }

  private setRunState(state: RunState, finishedAt: number | null, reason: string | null): RunInfo {
    this.writable();
    this.flushNow();
    const r = this.st.currentRun.get() as RunRow | undefined;
    if (!r) throw new Error('journal: no run has been started');
    this.st.setRunState!.run(state, finishedAt, reason, r.run_id);
    return toRun({ ...r, state, finished_at: finishedAt, reason });
  }

  // ---- writes (group commit)

  addPending(entry: NewEntry): boolean {
    this.writable();
    if (this.queuedKeys.has(entry.key) || this.st.exists.get(entry.key) !== undefined) return false;
    this.enqueue({ kind: 'add', entry, status: 'pending', response: null, at: this.clock.now() }, [entry.key]);
    return true;
  }

  /**
   * Registration's add (resume.ts, registerRecipients): `pending`, or `skipped` with `reason`,
   * when the key is new. Without addPending's lookup (~5 µs a row, ~50 ms at 10,000 rows):
   * the insert itself leaves a key already present, committed or queued before, as it is.
   */
  register(entry: NewEntry, skipped?: string): void {
    this.writable();
    this.enqueue({ kind: 'add', entry, status: skipped === undefined ? 'pending' : 'skipped', response: skipped ?? null, at: this.clock.now() }, [entry.key]);
  }

  /** Records a recipient that will not be sent. A key already present is left as it is. */
  addSkipped(entry: NewEntry, reason: string): void {
    this.register(entry, reason);
  }

  markSending(keys: string[]): Promise<void> {
    try {
      this.writable();
    } catch (e) {
      return Promise.reject(e);
    }
    this.urgent = true;
    const at = this.clock.now();
    for (const k of keys) this.sendingAt.set(k, at);
    const durable = this.enqueueAndWait({ kind: 'sending', keys: [...keys], at }, keys);
    try {
      this.flushNow();
    } catch {
      // The failed commit has rejected `durable` with the others.
    }
    return durable;
  }

  unmarkSending(keys: string[]): Promise<void> {
    try {
      this.writable();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.settled(keys, this.enqueueAndWait({ kind: 'unsending', keys: [...keys], at: this.clock.now() }, keys));
  }

  /**
   * The content of these `sending` entries is about to go out: writes their content marks
   * before returning (see "Knowing which ones went out" above; content-marks.ts). Throws if the
   * journal cannot record them; the caller must then not send the content.
   */
  markHandedOver(keys: string[]): void {
    this.writable();
    const at = this.clock.now();
    try {
      // The message before this one on its connection (its 250 came with this one's 354) must
      // not be left in doubt with it: its result is in its content mark's slot, or committed now.
      if (this.eagerResults) this.flushNow();
      for (const k of keys) {
        const sendingAt = this.sendingAt.get(k);
        // The outcomes not committed yet ride in this mark's slot, or each in its own.
        if (this.unslotted.length) {
          if (sendingAt !== undefined && this.marks.mark(k, sendingAt, at, this.unslotted)) {
            this.unslotted = [];
            continue;
          }
          this.settleUnslotted();
        }
        // Marked `sending` by this process (else there is nothing to mark: the statement below
        // changes nothing either); a key too long for a slot has its mark committed here.
        if (sendingAt !== undefined && this.marks.mark(k, sendingAt, at)) continue;
        this.st.handedOver!.run(at, k);
        this.commits++;
      }
    } catch (e) {
      this.fail([], `journal write failed: ${(e as Error).message}`);
      throw this.broken;
    }
  }

  markResults(updates: ResultUpdate[]): Promise<void> {
    try {
      this.writable();
      for (const u of updates) {
        if (!RESULTS.has(u.status)) {
          throw new Error(`journal: '${u.status}' is not a result`);
        }
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const copy = updates.map((u) => ({ ...u, delivered: u.delivered && [...u.delivered] }));
    const keys = copy.map((u) => u.key);
    const at = this.clock.now();
    // Lazy: every entry has its content mark in a slot of this process (the next mark written
    // carries the outcome, markHandedOver). A deferral is awaited by its caller (its retry is
    // scheduled once it is on disk): committed at once.
    const lazy = copy.every((u) => u.status !== 'deferred' && this.marks.holds(u.key, this.sendingAt.get(u.key) ?? NaN));
    if (lazy) {
      for (const { key, ...outcome } of copy) this.unslotted.push({ key, sendingAt: this.sendingAt.get(key)!, outcome: { ...outcome, at } });
    }
    return this.settled(keys, this.enqueueAndWait({ kind: 'results', updates: copy, at, lazy }, keys));
  }

  /** Writes each outcome not committed yet into its own message's slot; commits those that do not fit. */
  private settleUnslotted(): void {
    const rest = this.unslotted.filter((u) => !this.marks.settle(u.key, u.sendingAt, u.outcome));
    this.unslotted = [];
    if (rest.length) this.flushNow();
  }

  /** Once the next state of these entries is on disk, their content marks are no longer needed. */
  private settled(keys: string[], durable: Promise<void>): Promise<void> {
    const tries = keys.map((k) => this.sendingAt.get(k));
    for (const k of keys) this.sendingAt.delete(k);
    return durable.then(() => {
      keys.forEach((k, i) => this.marks.release(k, tries[i]));
    });
  }

  /**
   * An entry as read, with the content mark of a `sending` one (content-marks.ts). A `sending`
   * entry whose slot holds its outcome (not committed yet: another process reads, or the
   * process died) is shown with that outcome, unless `asStored`.
   */
  private entry(r: EntryRow, asStored = false): JournalEntry {
    const e = toEntry(r);
    if (e.status === 'sending' && e.contentAt === undefined) {
      const slot = this.marks.slot(e.key, e.updatedAt);
      if (slot?.outcome && !asStored) return withOutcome(e, slot.outcome);
      if (slot?.contentAt !== undefined) e.contentAt = slot.contentAt;
    }
    return e;
  }

  flush(): Promise<void> {
    try {
      this.usable();
      this.flushNow();
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.unsynced.length && !this.syncing.size) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.unsynced.push({ resolve, reject });
      this.startSync();
    });
  }

  /**
   * Entries left `sending` by a process that died. One whose result the process had (kept in
   * its content mark's slot, not yet committed) gets that result. Those whose content had started going out
   * may or may not have reached the server (RFC 5321 §6.1, RFC 1047): they become `unknown`,
   * re-sent only when the user says so. Those that had sent only their envelope go back to
   * `pending` (the server drops an unfinished transaction, RFC 5321 §4.1.1.4), but only when
   * the last run's process ran on this boot of this machine: after a reboot, a `content_at`
   * commit may have been lost, and every `sending` entry becomes `unknown`. Call it when
   * resuming, before resumeRun, while holding the campaign's lock (another live process's
   * `sending` entries are genuinely in flight). Returns the entries in each case.
   */
  settleStaleSending(verdict?: (e: JournalEntry) => StaleVerdict | undefined): {
    unknown: JournalEntry[];
    requeued: JournalEntry[];
    found: JournalEntry[];
    recorded: JournalEntry[];
  } {
    this.writable();
    this.flushNow();
    const stale = [...this.walk(['sending'], true)]; // a few per crash
    const out = { unknown: [] as JournalEntry[], requeued: [] as JournalEntry[], found: [] as JournalEntry[], recorded: [] as JournalEntry[] };
    if (!stale.length) return out;
    const run = this.st.currentRun.get() as RunRow | undefined;
    const boot = bootId();
    const sameBoot = boot !== undefined && run?.boot === boot;
    const now = this.clock.now();
    // The outcome the server gave, kept in the content mark's slot and not yet committed when
    // the process died (see "Results" above), is recorded as it was. Then a transport that can
    // tell what became of a message (the outbox: its file is there or not) decides; the rest as above.
    const outcomes = new Map(stale.map((e) => [e.key, this.marks.outcome(e.key, e.updatedAt)] as const));
    const decided = new Map(stale.map((e) => [e.key, outcomes.get(e.key) ? undefined : verdict?.(e)] as const));
    this.db
      .transaction(() => {
        for (const e of stale) {
          const o = outcomes.get(e.key);
          if (o) {
            const next = o.status === 'deferred' ? (o.nextAttemptAt ?? null) : null;
            this.st.result!.run(o.status, o.response ?? null, next, o.attempts ?? null, o.delivered?.length ? o.delivered.join('\n') : null, o.at, e.key);
            continue;
          }
          const v = decided.get(e.key);
          if (v?.status === 'sent') this.st.result!.run('sent', v.response, null, null, null, now, e.key);
          else if (v?.status === 'pending' || (sameBoot && e.contentAt === undefined)) this.st.requeueOne!.run(now, e.key);
        }
        this.st.staleSending!.run(INTERRUPTED_RESPONSE, now);
      })
      .immediate();
    this.marks.clear(); // every one of them is settled now
    for (const e of stale) {
      if (outcomes.get(e.key)) {
        out.recorded.push(e);
        continue;
      }
      const v = decided.get(e.key);
      (v?.status === 'sent' ? out.found : v?.status === 'pending' || (sameBoot && e.contentAt === undefined) ? out.requeued : out.unknown).push(e);
    }
    return out;
  }

  // ---- reads (each commits the queue first)

  /** Group messages sent with members refused for good (REFUSED_MARK in their response). */
  partlyRefused(): JournalEntry[] {
    return [...this.entries(['sent'])].filter((e) => e.response?.includes(REFUSED_MARK));
  }

  /** When entries that were tried (sent or not) last changed, since `since` (epoch ms): for the rate limit. */
  triedSince(since: number): number[] {
    this.usable();
    this.flushNow();
    return this.db
      .prepare(`SELECT updated_at FROM entries WHERE attempts > 0 AND status NOT IN ('pending', 'skipped') AND updated_at >= ?`)
      .pluck()
      .all(since) as number[];
  }

  get(key: string): JournalEntry | undefined {
    this.usable();
    if (this.queuedKeys.has(key)) this.flushNow();
    const r = this.st.get.get(key) as EntryRow | undefined;
    return r && this.entry(r);
  }

  /**
   * The entry a message with this Message-ID was sent for (a reply names it in In-Reply-To).
   * Not indexed: a scan, for the few replies a `bounces` run reads.
   */
  byMessageId(messageId: string): JournalEntry | undefined {
    this.usable();
    this.flushNow();
    const r = this.db.prepare('SELECT * FROM entries WHERE message_id = ? LIMIT 1').get(messageId) as EntryRow | undefined;
    return r && this.entry(r);
  }

  *entries(statuses?: DeliveryStatus[]): Generator<JournalEntry, void, undefined> {
    yield* this.walk(statuses, false);
  }

  /** entries(); `asStored`: without the outcomes kept in slots (see entry()). */
  private *walk(statuses: DeliveryStatus[] | undefined, asStored: boolean): Generator<JournalEntry, void, undefined> {
    const wanted = statuses ? [...new Set(statuses)] : undefined;
    if (wanted && wanted.length === 0) return;
    let lastRow = Number.MIN_SAFE_INTEGER;
    let lastKey = '';
    for (;;) {
      this.usable();
      this.flushNow();
      const stmt = this.entriesStatement(wanted?.length ?? 0);
      const page: JournalEntry[] = [];
      for (const r of stmt.iterate(...[...(wanted ?? []), lastRow, lastKey]) as IterableIterator<EntryRow>) {
        page.push(this.entry(r, asStored));
      }
      // (An entry shown with the outcome in its slot has left the statuses asked for.)
      for (const e of page) if (!wanted || wanted.includes(e.status)) yield e;
      if (page.length < PAGE_SIZE) return;
      lastRow = page[page.length - 1].row;
      lastKey = page[page.length - 1].key;
    }
  }

  due(now: number, limit: number): JournalEntry[] {
    this.usable();
    this.flushNow();
    if (limit <= 0) return [];
    // Two index-ordered reads merged here, rather than one query with OR that SQLite would
    // have to sort in full on every call.
    const pending = this.st.duePending.all(limit) as EntryRow[];
    const deferred = this.st.dueDeferred.all(now, limit) as EntryRow[];
    const out: JournalEntry[] = [];
    let i = 0;
    let j = 0;
    while (out.length < limit && (i < pending.length || j < deferred.length)) {
      const a = pending[i];
      const b = deferred[j];
      if (b === undefined || (a !== undefined && (a.row < b.row || (a.row === b.row && a.key < b.key)))) {
        out.push(this.entry(a));
        i++;
      } else {
        out.push(this.entry(b));
        j++;
      }
    }
    return out;
  }

  nextDeferredAt(): number | undefined {
    this.usable();
    this.flushNow();
    const v = this.st.nextDeferred.get() as number | null | undefined;
    return v ?? undefined;
  }

  totals(): Totals {
    this.usable();
    this.flushNow();
    const t = { recipients: 0 } as Totals;
    for (const s of STATUSES) t[s] = 0;
    for (const r of this.st.totals.all() as { status: DeliveryStatus; n: number }[]) {
      t[r.status] = r.n;
      t.recipients += r.n;
    }
    // Outcomes kept in slots, not committed yet, as entries() shows them.
    if (t.sending) {
      for (const e of this.walk(['sending'], true)) {
        const o = this.marks.outcome(e.key, e.updatedAt);
        if (o) {
          t.sending--;
          t[o.status]++;
        }
      }
    }
    return t;
  }

  /** Commits what is queued and closes the file. Calling it again does nothing. */
  close(): void {
    if (this.closed) return;
    process.removeListener('exit', this.onExit);
    let failure: unknown;
    try {
      if (!this.broken) {
        this.flushNow();
        this.syncNow();
      }
    } catch (e) {
      failure = e;
    }
    this.closed = true;
    this.marks.close();
    // An fdatasync still running closes the file itself when it returns.
    if (this.walFd !== undefined && !this.syncing.size) fs.closeSync(this.walFd);
    this.db.close();
    if (failure) throw failure;
  }

  // ---- internals

  private usable(): void {
    if (this.broken) throw this.broken;
    if (this.closed) throw new Error('journal: used after close()');
  }

  private writable(): void {
    this.usable();
    if (this.readonly) throw new Error('journal: opened read-only');
  }

  private enqueue(op: Op, keys: string[]): void {
    this.queue.push(op);
    for (const k of keys) this.queuedKeys.add(k);
    this.queuedRows += Math.max(1, keys.length);
    const lazy = op.kind === 'results' && op.lazy;
    if (op.kind === 'results' && !lazy) this.eagerResults++;
    if (lazy) this.lazyQueued += keys.length;
    if (op.kind === 'sending') return; // committed by markSending before it returns
    if (this.queuedRows >= FLUSH_AT) {
      this.flushNow();
    } else if (lazy && this.lazyQueued < LAZY_AT) {
      this.lazyTimer ??= setTimeout(() => {
        this.lazyTimer = undefined;
        if (this.closed || this.broken) return;
        try {
          this.flushNow();
        } catch {
          // Already handed to the waiters and kept in this.broken for every later call.
        }
      }, LAZY_MS);
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.closed || this.broken) return;
        try {
          this.flushNow();
        } catch {
          // Already handed to the waiters and kept in this.broken for every later call.
        }
      });
    }
  }

  private enqueueAndWait(op: Extract<Op, { waiter?: Waiter }>, keys: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      op.waiter = { resolve, reject };
      this.waiters.push(op.waiter);
      try {
        this.enqueue(op, keys);
      } catch {
        // The failed commit has rejected this promise with the others.
      }
    });
  }

  /** Commits the queue in one transaction; its promises resolve once an fdatasync covers it. */
  private flushNow(): void {
    if (this.queue.length === 0 && this.waiters.length === 0) return;
    const ops = this.queue;
    const waiters = this.waiters;
    this.queue = [];
    this.waiters = [];
    this.queuedKeys = new Set();
    this.queuedRows = 0;
    this.lazyQueued = 0;
    this.eagerResults = 0;
    this.unslotted = [];
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    if (ops.length > 0) {
      try {
        this.commitOps(ops);
        this.commits++;
      } catch (e) {
        this.fail(waiters, `journal write failed: ${(e as Error).message}`);
        throw this.broken;
      }
    }
    let refused: Set<Waiter> | undefined;
    for (const op of ops) {
      if ((op.kind === 'sending' || op.kind === 'results') && op.missing && op.waiter) {
        op.waiter.reject(new Error(`journal: no entry for '${op.missing[0]}'`));
        (refused ??= new Set()).add(op.waiter);
      }
    }
    this.unsynced.push(...(refused ? waiters.filter((w) => !refused.has(w)) : waiters));
    this.unsyncedUrgent ||= this.urgent;
    this.urgent = false;
    this.startSync();
  }

  /**
   * One fdatasync of the WAL on the thread pool, for every commit made before it starts. A
   * `sending` mark does not wait for a running fdatasync to end (it started before its
   * commit, so it does not cover it): up to MAX_SYNCS run at once, and the file system merges
   * them into as few disk flushes as it can. Results alone wait for the running one.
   */
  private startSync(): void {
    if (!this.unsynced.length || this.broken) return;
    if (this.syncing.size >= (this.unsyncedUrgent ? MAX_SYNCS : 1)) return;
    const batch = this.unsynced;
    this.unsynced = [];
    this.unsyncedUrgent = false;
    let fd: number;
    try {
      fd = this.wal();
    } catch (e) {
      this.fail(batch, `journal write failed: cannot open the WAL: ${(e as Error).message}`);
      return;
    }
    this.syncing.add(batch);
    fs.fdatasync(fd, (err) => {
      this.syncing.delete(batch);
      if (this.closed) {
        if (!this.syncing.size) fs.close(fd, () => {});
        if (!err) for (const w of batch) w.resolve(); // close() synced them already
        return;
      }
      if (err) return this.fail(batch, `journal write failed: ${err.message}`);
      this.syncs++;
      for (const w of batch) w.resolve();
      this.startSync();
    });
  }

  /** fsyncs now, on this thread (close, exit), and settles every write waiting for it. */
  private syncNow(): void {
    const waiting = [...[...this.syncing].flat(), ...this.unsynced];
    this.unsynced = [];
    if (this.walFd === undefined && !waiting.length) return;
    try {
      fs.fdatasyncSync(this.wal());
      this.syncs++;
    } catch (e) {
      this.fail(waiting, `journal write failed: ${(e as Error).message}`);
      throw this.broken;
    }
    for (const w of waiting) w.resolve();
  }

  private wal(): number {
    this.walFd ??= fs.openSync(`${this.file}-wal`, 'r+');
    return this.walFd;
  }

  /** A failed commit or fsync: the journal refuses every later call (see the top of the file). */
  private fail(waiters: Waiter[], message: string): void {
    // Exit 3, not 2 ("nothing sent"): messages may have gone out before it; the journal holds
    // every commit before the failure, so a send after freeing space resumes.
    this.broken ??= new MailcampError('FATAL', `${message}; what was sent before is recorded: free space and run send again to resume`, { file: this.file });
    // Writes waiting for a later fsync will not get one either.
    for (const w of [...waiters, ...this.unsynced.splice(0), ...this.waiters.splice(0)]) w.reject(this.broken);
  }

  private entriesStatement(nStatuses: number): Statement<unknown[]> {
    let s = this.entriesStatements.get(nStatuses);
    if (!s) {
      // The row index delivers the order; the status is a filter on it (the status index only
      // holds pending and deferred entries, for due()). `+status` keeps SQLite from picking that
      // index and sorting every page.
      const filter =
        nStatuses === 0
          ? ''
          : nStatuses === 1
            ? 'status = ? AND'
            : `+status IN (${new Array(nStatuses).fill('?').join(', ')}) AND`;
      s = this.db.prepare(
        `SELECT * FROM entries WHERE ${filter} (row, key) > (?, ?) ORDER BY row, key LIMIT ${PAGE_SIZE}`,
      );
      this.entriesStatements.set(nStatuses, s);
    }
    return s;
  }
}

/** A `sending` entry as its outcome, kept in its content mark's slot, makes it. */
function withOutcome(e: JournalEntry, o: SlotOutcome): JournalEntry {
  const out: JournalEntry = { ...e, status: o.status, attempts: o.attempts ?? e.attempts, updatedAt: o.at };
  delete out.contentAt;
  if (o.response !== undefined) out.response = o.response;
  else delete out.response;
  if (o.status === 'deferred' && o.nextAttemptAt !== undefined) out.nextAttemptAt = o.nextAttemptAt;
  else delete out.nextAttemptAt;
  if (o.delivered?.length) out.delivered = o.delivered;
  return out;
}
