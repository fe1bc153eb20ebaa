// The journal's SQLite schema and statements, apart from journal.ts so that file holds only
// the group-commit logic. Statements are prepared once per connection: the journal runs
// several per recipient, up to a million recipients.

import type BetterSqlite3 from 'better-sqlite3';
import type { Db } from './sqlite.js';
import type { DeliveryStatus, JournalEntry, RunInfo, RunState } from './types.js';

/**
 * 2: runs.reason (why a run stopped) and entries.delivered (group members already reached).
 * 3: entries.content_at (the message's content started going out) and runs.boot (the boot of
 *    the machine the run's process ran on): see SqliteJournal.settleStaleSending.
 * 4: the status index holds only pending and deferred entries (entries_due).
 */
export const SCHEMA_VERSION = 5;

export interface EntryRow {
  key: string;
  row: number;
  email: string;
  status: DeliveryStatus;
  attempts: number;
  response: string | null;
  message_id: string;
  next_attempt_at: number | null;
  updated_at: number;
  /** Absent in a version-1 file opened read-only. */
  delivered?: string | null;
  /** Absent in a file older than version 3 opened read-only. */
  content_at?: number | null;
}

export interface RunRow {
  run_id: string;
  started_at: number;
  finished_at: number | null;
  state: RunState;
  transport: string;
  reason?: string | null;
  boot?: string | null;
  campaign_file?: string | null;
}

export function migrate(db: Db): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS runs (
      run_id      TEXT PRIMARY KEY,
      started_at  INTEGER NOT NULL,
      finished_at INTEGER,
      state       TEXT NOT NULL,
      transport   TEXT NOT NULL,
      reason      TEXT,
      boot        TEXT
    );
    CREATE TABLE IF NOT EXISTS entries (
      key             TEXT PRIMARY KEY,
      row             INTEGER NOT NULL,
      email           TEXT NOT NULL,
      status          TEXT NOT NULL,
      attempts        INTEGER NOT NULL DEFAULT 0,
      response        TEXT,
      message_id      TEXT NOT NULL,
      next_attempt_at INTEGER,
      updated_at      INTEGER NOT NULL,
      delivered       TEXT,
      content_at      INTEGER
    );
    -- (row, key) is the order everything is read in. (status, row, key) for the entries still
    -- to send serves due() in that order without sorting; it holds only pending and deferred
    -- entries, so a message's sending -> sent changes no index page and each commit of the
    -- send loop writes fewer (version 4; sends measured ~3% faster). Other filtered reads
    -- (status, a resume's sending entries, totals) walk the row index: ~0.1-0.2 s at 1M.
    CREATE INDEX IF NOT EXISTS entries_row ON entries (row, key);
    DROP INDEX IF EXISTS entries_status;
    CREATE INDEX IF NOT EXISTS entries_due ON entries (status, row, key) WHERE status IN ('pending', 'deferred');
  `);
  // Older files: the tables exist without the columns added since.
  addColumn(db, 'runs', 'reason', 'TEXT');
  addColumn(db, 'entries', 'delivered', 'TEXT');
  addColumn(db, 'runs', 'boot', 'TEXT');
  addColumn(db, 'entries', 'content_at', 'INTEGER');
  // Version 5: the campaign file a run belongs to (two files of the same name share a journal).
  addColumn(db, 'runs', 'campaign_file', 'TEXT');
}

function addColumn(db: Db, table: string, column: string, type: string): void {
  const cols = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
  if (!cols.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
}

type Stmt = BetterSqlite3.Statement<unknown[]>;
type ReadKeys = 'currentRun' | 'exists' | 'get' | 'duePending' | 'dueDeferred' | 'nextDeferred' | 'totals';
type WriteKeys =
  | 'insertRun'
  | 'setRunState'
  | 'setRunBoot'
  | 'deleteEntries'
  | 'insert'
  | 'sending'
  | 'handedOver'
  | 'result'
  | 'requeueOne'
  | 'staleSending';
export type Statements = Record<ReadKeys, Stmt> & Record<WriteKeys, Stmt | undefined>;

export function prepareStatements(db: Db, readonly: boolean): Statements {
  const write = <T>(f: () => T): T | undefined => (readonly ? undefined : f());
  return {
    currentRun: db.prepare('SELECT * FROM runs ORDER BY rowid DESC LIMIT 1'),
    exists: db.prepare('SELECT 1 FROM entries WHERE key = ?').pluck(),
    get: db.prepare('SELECT * FROM entries WHERE key = ?'),
    duePending: db.prepare(`SELECT * FROM entries WHERE status = 'pending' ORDER BY row, key LIMIT ?`),
    dueDeferred: db.prepare(
      `SELECT * FROM entries WHERE status = 'deferred' AND next_attempt_at <= ? ORDER BY row, key LIMIT ?`,
    ),
    nextDeferred: db.prepare(`SELECT MIN(next_attempt_at) FROM entries WHERE status = 'deferred'`).pluck(),
    totals: db.prepare('SELECT status, COUNT(*) AS n FROM entries GROUP BY status'),
    insertRun: write(() =>
      db.prepare('INSERT INTO runs (run_id, started_at, finished_at, state, transport, boot, campaign_file) VALUES (?, ?, NULL, ?, ?, ?, ?)'),
    ),
    setRunState: write(() => db.prepare('UPDATE runs SET state = ?, finished_at = ?, reason = ? WHERE run_id = ?')),
    setRunBoot: write(() => db.prepare('UPDATE runs SET boot = ? WHERE run_id = ?')),
    deleteEntries: write(() => db.prepare('DELETE FROM entries')),
    insert: write(() =>
      db.prepare(
        `INSERT OR IGNORE INTO entries (key, row, email, status, attempts, response, message_id, next_attempt_at, updated_at)
         VALUES (?, ?, ?, ?, 0, ?, ?, NULL, ?)`,
      ),
    ),
    sending: write(() =>
      db.prepare(`UPDATE entries SET status = 'sending', attempts = attempts + 1, content_at = NULL, updated_at = ? WHERE key = ?`),
    ),
    handedOver: write(() => db.prepare(`UPDATE entries SET content_at = ? WHERE key = ? AND status = 'sending'`)),
    result: write(() =>
      db.prepare(
        `UPDATE entries SET status = ?, response = ?, next_attempt_at = ?, attempts = COALESCE(?, attempts),
         delivered = COALESCE(?, delivered), updated_at = ? WHERE key = ?`,
      ),
    ),
    // A `sending` whose content never started: back to pending, and the try it began not counted.
    requeueOne: write(() =>
      db.prepare(
        `UPDATE entries SET status = 'pending', attempts = MAX(attempts - 1, 0), content_at = NULL, updated_at = ? WHERE key = ? AND status = 'sending'`,
      ),
    ),
    staleSending: write(() =>
      db.prepare(`UPDATE entries SET status = 'unknown', response = ?, updated_at = ? WHERE status = 'sending'`),
    ),
  };
}

export function toEntry(r: EntryRow): JournalEntry {
  const e: JournalEntry = {
    key: r.key,
    row: r.row,
    email: r.email,
    status: r.status,
    attempts: r.attempts,
    messageId: r.message_id,
    updatedAt: r.updated_at,
  };
  if (r.response !== null) e.response = r.response;
  if (r.next_attempt_at !== null) e.nextAttemptAt = r.next_attempt_at;
  if (r.delivered) e.delivered = r.delivered.split('\n');
  if (r.status === 'sending' && r.content_at != null) e.contentAt = r.content_at;
  return e;
}

export function toRun(r: RunRow): RunInfo {
  const run: RunInfo = { runId: r.run_id, startedAt: r.started_at, state: r.state, transport: r.transport };
  if (r.finished_at !== null) run.finishedAt = r.finished_at;
  if (r.reason) run.reason = r.reason;
  if (r.campaign_file) run.campaignFile = r.campaign_file;
  return run;
}
