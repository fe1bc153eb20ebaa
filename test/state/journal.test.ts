import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../src/shared/clock.js';
import { exitCodeFor, MailcampError } from '../../src/shared/errors.js';
import { bootId } from '../../src/state/boot.js';
import {
  INTERRUPTED_RESPONSE,
  JOURNAL_FILE,
  journalExists,
  openJournal,
  type SqliteJournal,
} from '../../src/state/journal.js';
import type { NewEntry } from '../../src/state/journal-api.js';
import { CONTENT_MARKS_FILE, ContentMarks } from '../../src/state/content-marks.js';

let dir: string;
let open: SqliteJournal[];
let clock: ManualClock;

function journal(): SqliteJournal {
  const j = openJournal(dir, { clock });
  open.push(j);
  return j;
}

function entry(i: number, row = i + 2): NewEntry {
  return { key: `user${i}@example.com`, row, email: `User${i}@example.com`, messageId: `<m${i}@mailcamp>` };
}

/** What another process would read from the file right now. */
function onDisk(sql: string, ...params: unknown[]): unknown {
  const db = new Database(path.join(dir, JOURNAL_FILE), { readonly: true });
  try {
    return db.prepare(sql).pluck().get(...params);
  } finally {
    db.close();
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-journal-'));
  open = [];
  clock = new ManualClock(Date.UTC(2026, 10, 1));
});

afterEach(() => {
  for (const j of open) {
    try {
      j.close();
    } catch {
      // a test may have closed it already or broken it on purpose
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('journal', () => {
  test('an entry moves pending -> sending -> deferred -> sending -> sent', async () => {
    const j = journal();
    j.startRun('run1', 'smtp://smtp.example.com:587');
    assert.equal(j.addPending(entry(1)), true);
    let e = j.get('user1@example.com');
    assert.deepEqual(e, {
      key: 'user1@example.com',
      row: 3,
      email: 'User1@example.com',
      status: 'pending',
      attempts: 0,
      messageId: '<m1@mailcamp>',
      updatedAt: clock.now(),
    });

    await clock.advance(1000);
    await j.markSending(['user1@example.com']);
    e = j.get('user1@example.com')!;
    assert.equal(e.status, 'sending');
    assert.equal(e.attempts, 1);
    assert.equal(e.updatedAt, clock.now());

    const retryAt = clock.now() + 60_000;
    await j.markResults([{ key: 'user1@example.com', status: 'deferred', response: '451 4.7.1 try later', nextAttemptAt: retryAt }]);
    e = j.get('user1@example.com')!;
    assert.equal(e.status, 'deferred');
    assert.equal(e.response, '451 4.7.1 try later');
    assert.equal(e.nextAttemptAt, retryAt);
    assert.equal(j.nextDeferredAt(), retryAt);

    await j.markSending(['user1@example.com']);
    await j.markResults([{ key: 'user1@example.com', status: 'sent', response: '250 2.0.0 queued' }]);
    e = j.get('user1@example.com')!;
    assert.equal(e.status, 'sent');
    assert.equal(e.attempts, 2);
    assert.equal(e.response, '250 2.0.0 queued');
    assert.equal(e.nextAttemptAt, undefined, 'a sent entry has no retry time');
    assert.equal(j.nextDeferredAt(), undefined);
  });

  test('markSending commits before it returns (results queued before it go in the same commit) and resolves once on disk', async () => {
    const j = journal();
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 3; i++) j.addPending(entry(i));
    await j.flush();
    const before = j.commits;

    const result = j.markResults([{ key: 'user2@example.com', status: 'sent', response: '250 ok' }]);
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', 'user2@example.com'), 'pending', 'a result waits for the group commit');
    const promises = [0, 1].map((i) => j.markSending([`user${i}@example.com`]));
    // Visible to another process at once: the transaction's first command may follow.
    for (let i = 0; i < 2; i++) assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', `user${i}@example.com`), 'sending');
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', 'user2@example.com'), 'sent', 'the queued result went with the first mark');
    assert.equal(j.commits - before, 2, 'one commit per mark, the queued result in the first');
    let resolved = 0;
    for (const p of promises) void p.then(() => resolved++);
    await Promise.resolve();
    assert.equal(resolved, 0, 'no markSending promise resolves before an fdatasync');
    await Promise.all([...promises, result]);
  });

  test('markHandedOver leaves a content mark that another process sees at once; it speaks for that try only', async () => {
    const key = 'user1@example.com';
    const j = journal();
    j.startRun('run1', 'outbox');
    j.addPending(entry(1));
    await j.markSending([key]);
    assert.equal(j.get(key)!.contentAt, undefined);
    await clock.advance(5);
    j.markHandedOver([key]);
    const other = openJournal(dir, { readonly: true });
    assert.equal(other.get(key)!.contentAt, clock.now(), 'read from the content marks by another process');
    other.close();
    assert.equal(j.get(key)!.contentAt, clock.now());
    await j.markResults([{ key, status: 'deferred', response: '451', nextAttemptAt: clock.now() }]);
    assert.equal(j.get(key)!.contentAt, undefined, 'only a sending entry shows it');
    await clock.advance(1000);
    await j.markSending([key]);
    assert.equal(j.get(key)!.contentAt, undefined, 'a new try starts without it');
  });

  test('a content mark keeps its slot until the entry\'s next state is on disk; a key too long for a slot is marked in the journal', async () => {
    const j = journal();
    j.startRun('run1', 'outbox');
    const long = `group:${'x'.repeat(600)}`;
    for (let i = 0; i < 3; i++) j.addPending(entry(i));
    j.addPending({ key: long, row: 9, email: 'a@example.com, b@example.com', messageId: '<g@mailcamp>' });
    await j.markSending(['user0@example.com']);
    const at0 = clock.now();
    j.markHandedOver(['user0@example.com']);
    // user0's result is queued, not on disk: a crash now must still find user0's mark.
    const result = j.markResults([{ key: 'user0@example.com', status: 'sent', response: '250' }]);
    await clock.advance(1);
    const marked = j.markSending(['user1@example.com', long]);
    j.markHandedOver(['user1@example.com']);
    const marks = new ContentMarks(dir);
    assert.equal(marks.find('user0@example.com', at0), at0, "user1's mark took another slot");
    await Promise.all([result, marked]);
    j.markHandedOver([long]);
    assert.equal(onDisk('SELECT content_at FROM entries WHERE key = ?', long), clock.now());
    assert.equal(j.get(long)!.contentAt, clock.now());
    // Its slot free again, user0's is the one the next mark takes.
    await j.markSending(['user2@example.com']);
    j.markHandedOver(['user2@example.com']);
    assert.equal(new ContentMarks(dir).find('user0@example.com', at0), undefined);
    assert.equal(new ContentMarks(dir).find('user2@example.com', clock.now()), clock.now());
    assert.equal(fs.statSync(path.join(dir, CONTENT_MARKS_FILE)).size, 2 * 512, 'two slots');
  });

  test('a write resolves only after an fdatasync of the WAL that began after its commit', async () => {
    const j = journal();
    j.startRun('run1', 'outbox');
    j.addPending(entry(1));
    j.addPending(entry(2));
    await j.flush();
    const syncs = j.syncs;
    const first = j.markSending(['user1@example.com']);
    // Committed (visible) at once, durable a little later.
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', 'user1@example.com'), 'sending');
    // Written after that fdatasync began (it may still run): it needs one of its own.
    const second = j.markSending(['user2@example.com']);
    await first;
    assert.ok(j.syncs > syncs, 'first: an fdatasync completed');
    await second;
    assert.ok(j.syncs - syncs >= 2, 'second: covered by another fdatasync');
    // flush() waits for the disk too.
    void j.markResults([{ key: 'user1@example.com', status: 'sent', response: '250 ok' }]);
    const beforeFlush = j.syncs;
    await j.flush();
    assert.ok(j.syncs > beforeFlush);
  });

  test('a failing fdatasync rejects the writes waiting for it and every later call', async () => {
    const j = journal();
    j.startRun('run1', 'outbox');
    j.addPending(entry(1));
    await j.markSending(['user1@example.com']);
    // Pull the WAL's descriptor from under the journal: its next fdatasync fails (EBADF).
    const fd = (j as unknown as { walFd: number }).walFd;
    fs.closeSync(fd);
    await assert.rejects(j.markResults([{ key: 'user1@example.com', status: 'sent' }]), /journal write failed/);
    assert.throws(() => j.get('user1@example.com'), /journal write failed/);
    await assert.rejects(j.markSending(['user1@example.com']), /journal write failed/);
    // Exit 3 (fatal, resumable), not 2 ("invalid input, nothing sent"): messages may have gone out.
    await assert.rejects(j.markSending(['user1@example.com']), (e: unknown) => e instanceof MailcampError && exitCodeFor(e) === 3 && /run send again to resume/.test(e.message));
    (j as unknown as { walFd: undefined }).walFd = undefined;
  });

  test('a large batch commits at once, without waiting for the event loop', () => {
    const j = journal();
    for (let i = 0; i < 1500; i++) j.addPending(entry(i));
    // FLUSH_AT is 1000: the first thousand are on disk already, synchronously.
    assert.ok((onDisk('SELECT COUNT(*) FROM entries') as number) >= 1000);
  });

  test('addPending returns false for a key already present, flushed or not', async () => {
    const j = journal();
    assert.equal(j.addPending(entry(1)), true);
    assert.equal(j.addPending(entry(1)), false, 'still queued');
    assert.equal(j.addPending({ ...entry(1), row: 99 }), false);
    await j.flush();
    assert.equal(j.addPending(entry(1)), false, 'committed');
    assert.equal(j.get('user1@example.com')!.row, 3, 'the first row is kept');
    j.close();
    const again = journal();
    assert.equal(again.addPending(entry(1)), false, 'after reopening');
    assert.equal(again.addPending(entry(2)), true);
  });

  test('register (without a lookup) adds pending or skipped, and leaves a key already present, queued or committed, as it is', async () => {
    const j = journal();
    j.register(entry(1));
    j.register({ ...entry(1), row: 99 }, 'duplicate of row 3');
    j.register(entry(2), 'suppressed: hard bounce');
    await j.flush();
    j.register({ ...entry(2), row: 50 });
    const a = j.get('user1@example.com')!;
    assert.deepEqual([a.status, a.row, a.response], ['pending', 3, undefined], 'the first registration stands (queued)');
    const b = j.get('user2@example.com')!;
    assert.deepEqual([b.status, b.row, b.response], ['skipped', 4, 'suppressed: hard bounce'], 'the first registration stands (committed)');
    assert.equal(j.totals().recipients, 2);
  });

  test('addSkipped records the reason and never replaces an existing entry', async () => {
    const j = journal();
    j.addPending(entry(1));
    j.addSkipped(entry(1), 'duplicate');
    j.addSkipped(entry(2), 'suppressed: hard bounce');
    assert.equal(j.addPending(entry(2)), false, 'a skipped key is present');
    assert.equal(j.get('user1@example.com')!.status, 'pending');
    const s = j.get('user2@example.com')!;
    assert.equal(s.status, 'skipped');
    assert.equal(s.response, 'suppressed: hard bounce');
  });

  test('close() commits what is queued; reopening keeps entries and the run', async () => {
    const j = journal();
    const run = j.startRun('run1', 'smtp://smtp.example.com:587');
    j.addPending(entry(1));
    j.addPending(entry(2));
    void j.markSending(['user1@example.com']);
    j.close();
    assert.throws(() => j.get('user1@example.com'), /after close/);

    const again = journal();
    assert.deepEqual(again.currentRun(), run);
    assert.equal(again.get('user1@example.com')!.status, 'sending');
    assert.equal(again.get('user2@example.com')!.status, 'pending');
  });

  test('startRun drops the previous run entries; endRun and resumeRun set its state', async () => {
    const j = journal();
    assert.equal(j.currentRun(), undefined);
    j.startRun('run1', 'outbox');
    j.addPending(entry(1));
    await clock.advance(5000);
    j.endRun('finished');
    assert.deepEqual(j.currentRun(), {
      runId: 'run1',
      startedAt: Date.UTC(2026, 10, 1),
      finishedAt: Date.UTC(2026, 10, 1) + 5000,
      state: 'finished',
      transport: 'outbox',
    });

    const run2 = j.startRun('run2', 'smtp://h:25');
    assert.equal(j.currentRun()!.runId, 'run2');
    assert.equal(j.get('user1@example.com'), undefined);
    assert.equal(j.totals().recipients, 0);
    assert.equal(j.addPending(entry(1)), true);

    j.endRun('interrupted');
    assert.equal(j.currentRun()!.state, 'interrupted');
    assert.deepEqual(j.resumeRun(), { ...run2, state: 'running' });
    assert.deepEqual(j.currentRun(), { ...run2, state: 'running' });
  });

  test('totals count every status and all recipients', async () => {
    const j = journal();
    for (let i = 0; i < 8; i++) j.addPending(entry(i));
    j.addSkipped(entry(8), 'suppressed');
    const k = (i: number) => `user${i}@example.com`;
    await j.markSending([k(0), k(1), k(2), k(3), k(4), k(5)]);
    await j.markResults([
      { key: k(0), status: 'sent' },
      { key: k(1), status: 'sent' },
      { key: k(2), status: 'failed', response: '550 5.1.1 no such user' },
      { key: k(3), status: 'deferred', nextAttemptAt: clock.now() + 1000 },
      { key: k(4), status: 'unknown', response: 'connection lost after DATA' },
    ]);
    assert.deepEqual(j.totals(), {
      recipients: 9,
      pending: 2,
      sending: 1,
      sent: 2,
      failed: 1,
      deferred: 1,
      unknown: 1,
      skipped: 1,
    });
  });

  test('entries() streams in row order then key, filters by status, and allows writes while it runs', async () => {
    const j = journal();
    // Rows added out of order, across several pages (500 per page), some sharing a row.
    const n = 1203;
    for (let i = n - 1; i >= 0; i--) j.addPending(entry(i, 2 + Math.floor(i / 2)));
    const rows: [number, string][] = [];
    for (const e of j.entries()) {
      rows.push([e.row, e.key]);
      if (rows.length % 300 === 0) await j.markSending([e.key]); // the connection stays usable
    }
    assert.equal(rows.length, n);
    const sorted = [...rows].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    assert.deepEqual(rows, sorted);
    assert.deepEqual(rows.slice(0, 2), [
      [2, 'user0@example.com'],
      [2, 'user1@example.com'],
    ]);

    const sending = [...j.entries(['sending'])].map((e) => e.key);
    assert.equal(sending.length, 4);
    await j.markResults([{ key: sending[0], status: 'failed' }]);
    const twoKinds = [...j.entries(['failed', 'sending'])];
    assert.deepEqual(
      twoKinds.map((e) => e.status),
      ['failed', 'sending', 'sending', 'sending'],
    );
    assert.equal([...j.entries(['pending'])].length, n - 4);
    assert.equal([...j.entries([])].length, 0);
    assert.equal([...j.entries(['sent'])].length, 0);
  });

  test('entries() does not hand out everything at once', () => {
    const j = journal();
    for (let i = 0; i < 1200; i++) j.addPending(entry(i));
    const it = j.entries();
    const first = it.next();
    assert.equal(first.done, false);
    assert.equal(first.value!.key, 'user0@example.com');
    it.return!(undefined);
  });

  test('due() lists pending and deferred entries whose time has come, in row order, up to the limit', async () => {
    const j = journal();
    for (let i = 0; i < 6; i++) j.addPending(entry(i));
    const k = (i: number) => `user${i}@example.com`;
    await j.markSending([k(0), k(1), k(2), k(3)]);
    const now = clock.now();
    await j.markResults([
      { key: k(0), status: 'deferred', nextAttemptAt: now - 1 },
      { key: k(1), status: 'deferred', nextAttemptAt: now + 60_000 },
      { key: k(2), status: 'deferred', nextAttemptAt: now },
      { key: k(3), status: 'sent' },
    ]);
    assert.deepEqual(
      j.due(now, 10).map((e) => e.key),
      [k(0), k(2), k(4), k(5)],
    );
    assert.deepEqual(
      j.due(now, 2).map((e) => e.key),
      [k(0), k(2)],
    );
    assert.deepEqual(
      j.due(now + 60_000, 10).map((e) => e.key),
      [k(0), k(1), k(2), k(4), k(5)],
    );
    assert.deepEqual(j.due(now, 0), []);
    assert.equal(j.nextDeferredAt(), now - 1);
  });

  test('settleStaleSending: content on its way → unknown; only the envelope out → pending again, on the same boot', async () => {
    const j = journal();
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 5; i++) j.addPending(entry(i));
    await j.markSending(['user0@example.com', 'user1@example.com', 'user2@example.com', 'user4@example.com']);
    j.markHandedOver(['user0@example.com', 'user1@example.com']);
    await j.markResults([{ key: 'user1@example.com', status: 'sent' }]);
    j.close(); // the process "dies": user0's content on its way, user2 and user4 had their envelopes out

    const again = journal();
    await clock.advance(1000);
    const stale = again.settleStaleSending();
    assert.deepEqual([stale.unknown.map((e) => e.key), stale.requeued.map((e) => e.key)], [['user0@example.com'], ['user2@example.com', 'user4@example.com']]);
    const e0 = again.get('user0@example.com')!;
    assert.deepEqual([e0.status, e0.response, e0.attempts, e0.updatedAt], ['unknown', INTERRUPTED_RESPONSE, 1, clock.now()]);
    for (const key of ['user2@example.com', 'user4@example.com']) {
      const e = again.get(key)!;
      assert.deepEqual([e.status, e.attempts, e.updatedAt], ['pending', 0, clock.now()], key);
    }
    assert.equal(again.get('user1@example.com')!.status, 'sent');
    assert.equal(again.get('user3@example.com')!.status, 'pending');
    assert.deepEqual(again.settleStaleSending(), { unknown: [], requeued: [], found: [], recorded: [] });
    again.close();
  });

  test('a result is kept in its content mark\'s slot and committed a few at a time; a process killed before the commit leaves it to the resume, not in doubt', async () => {
    const [u0, u1, u2] = ['user0@example.com', 'user1@example.com', 'user2@example.com'];
    const j = journal();
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 3; i++) j.addPending(entry(i));
    await j.markSending([u0, u1, u2]);
    const markedAt = clock.now();
    await clock.advance(5);
    j.markHandedOver([u0]);
    const result = j.markResults([{ key: u0, status: 'sent', response: '250 2.0.0 queued as A1', attempts: 1 }]);
    const commits = j.commits;
    // The next message's content (on the same connection, say): u0's result is not committed
    // for it, and not needed on disk: u1's mark carries it.
    j.markHandedOver([u1]);
    assert.equal(j.commits, commits, 'no commit for the content mark');
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u0), 'sending');
    assert.deepEqual(new ContentMarks(dir).outcome(u0, markedAt), { status: 'sent', response: '250 2.0.0 queued as A1', attempts: 1, at: clock.now() });
    // A SIGKILL now: what another process finds is the files as they are (a copy of them).
    const dead = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-journal-dead-'));
    try {
      for (const f of fs.readdirSync(dir)) if (!f.endsWith('-shm')) fs.copyFileSync(path.join(dir, f), path.join(dead, f));
      // `status` before the resume: u0 shows its outcome, and is not counted as being sent.
      const reader = openJournal(dead, { readonly: true });
      assert.deepEqual([reader.get(u0)!.status, reader.get(u0)!.contentAt, reader.get(u1)!.status], ['sent', undefined, 'sending']);
      assert.deepEqual([...reader.entries(['sending'])].map((e) => e.key), [u1, u2]);
      assert.deepEqual([...reader.entries(['sent'])].map((e) => e.key), [], 'a status filter reads the stored status');
      assert.deepEqual([reader.totals().sending, reader.totals().sent, reader.totals().recipients], [2, 1, 3]);
      reader.close();
      const again = openJournal(dead, { clock });
      const stale = again.settleStaleSending();
      assert.deepEqual(
        [stale.recorded.map((e) => e.key), stale.unknown.map((e) => e.key), stale.requeued.map((e) => e.key)],
        [[u0], [u1], [u2]],
        "u0's outcome recorded; u1 (content out, no answer) unknown; u2 (no content) pending",
      );
      const e0 = again.get(u0)!;
      assert.deepEqual([e0.status, e0.response, e0.attempts, e0.updatedAt], ['sent', '250 2.0.0 queued as A1', 1, clock.now()]);
      again.close();
    } finally {
      fs.rmSync(dead, { recursive: true, force: true });
    }
    // In the live process the result is committed within LAZY_MS, then made durable.
    await result;
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u0), 'sent');
  });

  test('the next content mark carries the outcomes not committed yet; those too long for it go into their own slots, one too long for a slot is committed', async () => {
    const [u0, u1, u2, u3] = ['user0@example.com', 'user1@example.com', 'user2@example.com', 'user3@example.com'];
    const j = journal();
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 4; i++) j.addPending(entry(i));
    await j.markSending([u0, u1, u2, u3]);
    const markedAt = clock.now();
    j.markHandedOver([u0, u1]);
    const size = () => fs.statSync(path.join(dir, CONTENT_MARKS_FILE)).size;
    const long = `250 2.0.0 ${'x'.repeat(300)}`;
    const results = [j.markResults([{ key: u0, status: 'sent', response: long }]), j.markResults([{ key: u1, status: 'sent', response: long }])];
    j.markHandedOver([u2]); // both outcomes together do not fit in u2's slot: each goes into its own
    const marks = new ContentMarks(dir);
    assert.deepEqual([marks.outcome(u0, markedAt)?.response, marks.outcome(u1, markedAt)?.response, marks.find(u2, markedAt)], [long, long, clock.now()]);
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u0), 'sending', 'not committed for it');
    results.push(j.markResults([{ key: u2, status: 'sent', response: `250 ${'y'.repeat(600)}` }]));
    j.markHandedOver([u3]); // too long for any slot: committed before u3's content
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u2), 'sent');
    assert.equal(size(), 4 * 512, 'a slot each, none for the outcomes');
    await Promise.all(results);
  });

  test('a try marked again (a group\'s follow-up transaction) keeps its first mark and what its slot carries', async () => {
    const [u0, u1, g] = ['user0@example.com', 'user1@example.com', 'group:team'];
    const j = journal();
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 2; i++) j.addPending(entry(i));
    j.addPending({ key: g, row: 9, email: 'a@example.com, b@example.com', messageId: '<g@mailcamp>' });
    await j.markSending([u0, u1, g]);
    const markedAt = clock.now();
    j.markHandedOver([u0, u1]);
    const results = [j.markResults([{ key: u0, status: 'sent', response: '250 first' }])];
    j.markHandedOver([g]); // carries u0's outcome
    const firstMark = clock.now();
    await clock.advance(5);
    j.markHandedOver([g]); // the follow-up transaction: nothing new to carry
    results.push(j.markResults([{ key: u1, status: 'failed', response: '554 no' }]));
    j.markHandedOver([g]); // carries u1's outcome too
    const marks = new ContentMarks(dir);
    assert.deepEqual(
      [marks.outcome(u0, markedAt)?.response, marks.outcome(u1, markedAt)?.response, marks.find(g, markedAt)],
      ['250 first', '554 no', firstMark],
    );
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u0), 'sending', 'neither committed yet');
    await Promise.all(results);
  });

  test('a slot that carries outcomes keeps them when its own outcome is written into it (a review\'s repro)', async () => {
    const keys = ['x', 'a', 'c', 'd', 'e', 'f', 'g'].map((k) => `${k}@example.com`);
    const [X, A, C, D, E, F, G] = keys;
    const j = journal();
    j.startRun('run1', 'outbox');
    keys.forEach((k, i) => j.addPending({ key: k, row: i + 2, email: k, messageId: `<${i}@m>` }));
    await j.markSending(keys);
    const markedAt = clock.now();
    const response = '250 2.0.0 Ok: queued as 4Xk9pL2mQZz1 (a reply of the usual length)';
    j.markHandedOver([X]);
    const results = [j.markResults([{ key: X, status: 'sent', response }])];
    j.markHandedOver([A]); // carries X's outcome
    for (const k of [C, D, E, F]) j.markHandedOver([k]);
    for (const k of [A, C, D, E, F]) results.push(j.markResults([{ key: k, status: 'sent', response }]));
    j.markHandedOver([G]); // five outcomes do not fit in G's slot: each goes into its own, A's keeps X's
    const marks = new ContentMarks(dir);
    assert.deepEqual([X, A, C, D, E, F].map((k) => marks.outcome(k, markedAt)?.status), ['sent', 'sent', 'sent', 'sent', 'sent', 'sent']);
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', X), 'sending');
    await Promise.all(results);
  });

  test('a result without a content mark (refused before its content), or a deferral, is committed before the next content mark', async () => {
    const [u0, u1, u2] = ['user0@example.com', 'user1@example.com', 'user2@example.com'];
    const j = journal();
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 3; i++) j.addPending(entry(i));
    await j.markSending([u0, u1, u2]);
    const refused = j.markResults([{ key: u0, status: 'failed', response: '550 5.1.1 no such user' }]);
    j.markHandedOver([u1]);
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u0), 'failed');
    const deferred = j.markResults([{ key: u1, status: 'deferred', response: '451 4.3.0 later', nextAttemptAt: clock.now() + 1000 }]);
    j.markHandedOver([u2]);
    assert.equal(onDisk('SELECT status FROM entries WHERE key = ?', u1), 'deferred');
    await Promise.all([refused, deferred]);
  });

  test('settleStaleSending after a reboot (or without a boot id): every sending entry becomes unknown', async () => {
    const j = openJournal(dir, { clock });
    j.startRun('run1', 'outbox');
    for (let i = 0; i < 3; i++) j.addPending(entry(i));
    await j.markSending(['user0@example.com', 'user1@example.com']);
    j.markHandedOver(['user0@example.com']);
    j.close();
    for (const boot of ['another-boot', null]) {
      const db = new Database(path.join(dir, JOURNAL_FILE));
      db.prepare('UPDATE runs SET boot = ?').run(boot);
      db.prepare(`UPDATE entries SET status = 'sending' WHERE key IN ('user0@example.com', 'user1@example.com')`).run();
      db.close();
      const again = openJournal(dir, { clock });
      const stale = again.settleStaleSending();
      assert.deepEqual([stale.unknown.map((e) => e.key), stale.requeued.length], [['user0@example.com', 'user1@example.com'], 0], String(boot));
      assert.equal(again.get('user1@example.com')!.status, 'unknown');
      again.close();
    }
  });

  test('resumeRun records the boot it runs on', () => {
    const j = openJournal(dir, { clock });
    j.startRun('run1', 'outbox');
    j.endRun('interrupted', 'x');
    j.close();
    const db = new Database(path.join(dir, JOURNAL_FILE));
    const started = db.prepare('SELECT boot FROM runs').pluck().get();
    db.prepare('UPDATE runs SET boot = NULL').run();
    db.close();
    assert.equal(started, bootId() ?? null, 'startRun records it');
    const again = openJournal(dir, { clock });
    again.resumeRun();
    again.close();
    const db2 = new Database(path.join(dir, JOURNAL_FILE), { readonly: true });
    assert.equal(db2.prepare('SELECT boot FROM runs').pluck().get(), bootId() ?? null);
    db2.close();
  });

  test('unknown keys and non-result statuses are refused', async () => {
    const j = journal();
    j.addPending(entry(1));
    await assert.rejects(j.markSending(['nobody@example.com']), /no entry for 'nobody@example.com'/);
    await assert.rejects(
      j.markResults([{ key: 'user1@example.com', status: 'pending' as 'sent' }]),
      /'pending' is not a result/,
    );
    assert.equal(j.get('user1@example.com')!.status, 'pending');
  });

  test('20,000 recipients through pending, sending and their results', async () => {
    const j = journal();
    j.startRun('big', 'outbox');
    const n = 20_000;
    for (let i = 0; i < n; i++) assert.equal(j.addPending(entry(i)), true);
    for (let s = 0; s < n; s += 700) {
      const keys = Array.from({ length: Math.min(700, n - s) }, (_, x) => `user${s + x}@example.com`);
      await j.markSending(keys);
      await j.markResults(
        keys.map((key, x) => ({ key, status: (s + x) % 100 === 0 ? ('failed' as const) : ('sent' as const) })),
      );
    }
    const t = j.totals();
    assert.equal(t.recipients, n);
    assert.equal(t.failed, n / 100);
    assert.equal(t.sent, n - n / 100);
    assert.equal(t.pending + t.sending, 0);
    assert.equal(onDisk(`SELECT COUNT(*) FROM entries WHERE status = 'sent' AND attempts = 1`), n - n / 100);
    let count = 0;
    let lastRow = 0;
    for (const e of j.entries(['failed'])) {
      assert.ok(e.row > lastRow);
      lastRow = e.row;
      count++;
    }
    assert.equal(count, n / 100);
  });

  test('read-only opening reads an existing journal and refuses a missing one', async () => {
    assert.equal(journalExists(dir), false);
    assert.throws(
      () => openJournal(dir, { readonly: true }),
      (e: unknown) => e instanceof MailcampError && e.code === 'STATE' && e.place.file === path.join(dir, JOURNAL_FILE),
    );
    const j = journal();
    j.addPending(entry(1));
    await j.flush();
    assert.equal(journalExists(dir), true);
    const r = openJournal(dir, { readonly: true });
    open.push(r);
    assert.equal(r.get('user1@example.com')!.status, 'pending');
    assert.throws(() => r.addPending(entry(2)), /read-only/);
  });

  test('a file that is not a journal is a STATE error naming it', () => {
    fs.writeFileSync(path.join(dir, JOURNAL_FILE), 'this is not sqlite, just some text that is long enough'.repeat(20));
    assert.throws(
      () => openJournal(dir),
      (e: unknown) => e instanceof MailcampError && e.code === 'STATE' && e.place.file === path.join(dir, JOURNAL_FILE),
    );
  });
});
