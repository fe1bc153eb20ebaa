// Opening the SQLite files of the state folder (journal, suppression list) with the settings
// their durability depends on, in one place so both get them right.
//
// - journal_mode=WAL: a commit appends to the write-ahead log, readers (a `status` running
//   beside a `send`) never block the writer, and a write torn by a crash fails the WAL frame
//   checksum and is discarded on the next open: the file is always a prefix of commits.
// - synchronous=FULL: the WAL is fsynced at every commit, so "committed" means "on disk".
//   (NORMAL would let the last commits vanish on power loss.) The journal asks for NORMAL
//   and fsyncs the WAL itself, off the main thread, before it says a write is on disk
//   (journal.ts, "Group commit"): same guarantee, without blocking the event loop.
// - busy_timeout: two mailcamp processes may share a file (a `bounces` writing the
//   suppression list while a `send` reads it); wait for the other's write instead of failing.
// - user_version holds the schema version, so an older mailcamp refuses a newer file instead
//   of misreading it.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MailcampError } from '../shared/errors.js';

export type Db = Database.Database;

const BUSY_TIMEOUT_MS = 10_000;

export interface OpenOptions {
  readonly?: boolean;
  /** Schema version this code writes; a file with a higher one is refused. */
  version: number;
  /** Creates tables/indexes (idempotent: `IF NOT EXISTS`); run when the file is older. */
  migrate: (db: Db) => void;
  /** NORMAL only for a caller that fsyncs the WAL itself before relying on a commit (the journal). */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * A table every written file of this kind has, and what the file is: another SQLite file in
   * its place (the suppression list copied over a journal) is refused, not migrated into one.
   */
  kind: { table: string; what: string };
}

export function openDatabase(file: string, opts: OpenOptions): Db {
  let db: Db;
  try {
    if (!opts.readonly) fs.mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly, timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    throw new MailcampError('STATE', `cannot open: ${(e as Error).message}`, { file });
  }
  try {
    if (!opts.readonly) {
      setWal(db);
    }
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    const found = db.pragma('user_version', { simple: true }) as number;
    if (found > opts.version) {
      throw new MailcampError(
        'STATE',
        `written by a newer mailcamp (format ${found}, this one reads up to ${opts.version})`,
        { file },
        'upgrade mailcamp',
      );
    }
    const hasTable = () => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(opts.kind.table);
    const anyTable = () => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").get();
    if ((found > 0 || anyTable()) && !hasTable()) {
      throw new MailcampError('STATE', `not a mailcamp ${opts.kind.what} (it has no '${opts.kind.table}' table); move it away`, { file });
    }
    if (opts.readonly && found === 0) {
      // Created but never written (the disk filled up as it was made): nothing recorded in it.
      throw new MailcampError('STATE', `an empty ${opts.kind.what}: nothing was recorded in it (a full disk when it was made?); move it away`, { file });
    }
    if (!opts.readonly && found < opts.version) {
      db.transaction(() => {
        opts.migrate(db);
        db.pragma(`user_version = ${opts.version}`);
      }).immediate();
    }
    return db;
  } catch (e) {
    db.close();
    if (e instanceof MailcampError) throw e;
    // SQLITE_NOTADB and friends: somebody put another file here, or it is damaged.
    throw new MailcampError('STATE', `cannot use: ${(e as Error).message}`, { file });
  }
}

/**
 * Switching a new file to WAL needs an exclusive lock, and when two processes open the same
 * new file at once (two `schedule` processes reaching the suppression list together) SQLite
 * answers SQLITE_BUSY at once, without calling the busy handler: try again for a while.
 */
function setWal(db: Db): void {
  const end = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > end) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}
