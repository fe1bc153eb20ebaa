// Journal schema versions 2 (runs.reason, entries.delivered, attempts set by results), 3
// (entries.content_at, runs.boot) and 4 (the status index only over pending and deferred): a
// journal written by version 1 is upgraded in place when a send opens it, and `status` can
// still read one read-only without upgrading it.

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { JOURNAL_FILE, openJournal } from '../../src/state/journal.js';
import { SCHEMA_VERSION } from '../../src/state/journal-schema.js';
import { tmpDir } from '../helpers/tmp.js';

function writeV1(dir: string): void {
  const db = new Database(path.join(dir, JOURNAL_FILE));
  db.exec(`
    CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, finished_at INTEGER, state TEXT NOT NULL, transport TEXT NOT NULL);
    CREATE TABLE entries (key TEXT PRIMARY KEY, row INTEGER NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, response TEXT, message_id TEXT NOT NULL, next_attempt_at INTEGER, updated_at INTEGER NOT NULL);
    INSERT INTO runs VALUES ('r1', 1000, NULL, 'running', 'smtp://x');
    INSERT INTO entries VALUES ('a@example.com', 2, 'a@example.com', 'sent', 1, '250 ok', '<a>', NULL, 1000);
    INSERT INTO entries VALUES ('b@example.com', 3, 'b@example.com', 'sending', 1, NULL, '<b>', NULL, 1000);
  `);
  db.pragma('user_version = 1');
  db.close();
}

describe('journal schema upgrade', () => {
  test('a version-1 journal reads read-only as it is, and is upgraded in place by a writer', async () => {
    assert.equal(SCHEMA_VERSION, 5);
    const dir = tmpDir('mailcamp-journal-v1-');
    writeV1(dir);
    const ro = openJournal(dir, { readonly: true });
    assert.deepEqual(ro.currentRun(), { runId: 'r1', startedAt: 1000, state: 'running', transport: 'smtp://x' });
    assert.deepEqual([...ro.entries()].map((e) => [e.key, e.status]), [['a@example.com', 'sent'], ['b@example.com', 'sending']]);
    ro.close();

    const j = openJournal(dir);
    // Written before content_at and runs.boot existed: in doubt, whatever boot it was.
    assert.deepEqual(j.settleStaleSending().unknown.map((e) => e.key), ['b@example.com']);
    await j.markResults([{ key: 'b@example.com', status: 'deferred', response: '451', nextAttemptAt: 5000, attempts: 3, delivered: ['x@example.com'] }]);
    j.endRun('interrupted', 'interrupted by SIGTERM');
    const b = j.get('b@example.com')!;
    assert.deepEqual([b.status, b.attempts, b.delivered], ['deferred', 3, ['x@example.com']]);
    assert.equal(j.currentRun()!.reason, 'interrupted by SIGTERM');
    j.close();
    const db = new Database(path.join(dir, JOURNAL_FILE), { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 5);
    const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'entries_%' ORDER BY name`).pluck().all();
    assert.deepEqual(indexes, ['entries_due', 'entries_row']);
    db.close();
  });
});

describe('a file in the journal\'s place that is not one', () => {
  test('another SQLite file (the suppression list copied over it, or anything with tables) is refused read-only and read-write, not migrated into a journal', async () => {
    const { openSuppression } = await import('../../src/state/suppression.js');
    const state = tmpDir();
    const list = openSuppression(state);
    list.add({ address: 'z@example.com', reason: 'manual' });
    list.close();
    const other = tmpDir();
    const db = new Database(path.join(other, JOURNAL_FILE));
    db.exec('CREATE TABLE foo (a)');
    db.close();
    for (const dir of [other]) {
      for (const readonly of [true, false]) {
        assert.throws(() => openJournal(dir, { readonly }), /not a mailcamp journal \(it has no 'runs' table\); move it away/);
      }
    }
    const copied = tmpDir();
    const fs = await import('node:fs');
    fs.copyFileSync(path.join(state, 'suppression'), path.join(copied, JOURNAL_FILE));
    for (const readonly of [true, false]) assert.throws(() => openJournal(copied, { readonly }), /not a mailcamp journal/);
    const check = new Database(path.join(copied, JOURNAL_FILE), { readonly: true });
    assert.equal((check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'runs'").get() as { n: number }).n, 0, 'not migrated');
    check.close();
  });

  test('a 0-byte journal (a full disk as it was made) is no journal: status lists the CSV instead of crashing', async () => {
    const { journalExists } = await import('../../src/state/journal.js');
    const fs = await import('node:fs');
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, JOURNAL_FILE), '');
    assert.equal(journalExists(dir), false);
    const empty = tmpDir();
    new Database(path.join(empty, JOURNAL_FILE)).exec('PRAGMA user_version = 0; VACUUM');
    if (fs.statSync(path.join(empty, JOURNAL_FILE)).size > 0) assert.throws(() => openJournal(empty, { readonly: true }), /an empty journal: nothing was recorded in it/);
  });
});
