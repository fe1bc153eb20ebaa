// The run report: JSON shape and values, CSV round trip through csv-parse, atomic replacement,
// and streaming of large journals.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { CSV_COLUMNS, defaultCsvPath, writeReport, type ReportOptions } from '../../src/report/write-report.js';
import { MailcampError } from '../../src/shared/errors.js';
import { registerSecret } from '../../src/shared/secrets.js';
import type { JournalEntry, RunInfo, Totals } from '../../src/state/types.js';
import { tmpDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 10, 3, 9, 0, 0);

const run: RunInfo = {
  runId: 'r-20261103-0900',
  startedAt: T0,
  finishedAt: T0 + 90_000,
  state: 'finished',
  transport: 'smtp://news%40acme.example@smtp.acme.example:587',
};

const totals: Totals = {
  recipients: 6,
  pending: 0,
  sending: 0,
  sent: 2,
  failed: 1,
  deferred: 1,
  skipped: 1,
  unknown: 1,
};

const entries: JournalEntry[] = [
  { key: 'ann@example.test', row: 2, email: 'ann@example.test', status: 'sent', attempts: 1, response: '250 OK: queued as 1', messageId: '<a1@acme.example>', updatedAt: T0 + 1000 },
  { key: 'bob@example.test', row: 3, email: 'bob@example.test', status: 'failed', attempts: 1, response: '550 5.1.1 "bob" unknown, sorry', messageId: '<b2@acme.example>', updatedAt: T0 + 2000 },
  { key: 'cy@example.test', row: 5, email: 'cy@example.test', status: 'deferred', attempts: 3, response: '451 4.3.0 try later\r\nsecond line', messageId: '<c3@acme.example>', nextAttemptAt: T0 + 60_000, updatedAt: T0 + 3000 },
  { key: 'group:sales', row: 7, email: 'dan@example.test,eve@example.test', status: 'sent', attempts: 2, response: '250 2.0.0 Ok', messageId: '<d4@acme.example>', updatedAt: T0 + 4000 },
  { key: '=cmd@example.test', row: 9, email: '=cmd|"/c calc"!A1@example.test', status: 'skipped', attempts: 0, response: '-suppressed: unsubscribed', messageId: '<e5@acme.example>', updatedAt: T0 + 5000 },
  { key: 'fay@example.test', row: 12, email: 'fay@example.test', status: 'unknown', attempts: 1, messageId: '<f6@acme.example>', updatedAt: T0 + 6000 },
];

function options(dir: string, over: Partial<ReportOptions> = {}): ReportOptions {
  return {
    jsonPath: path.join(dir, 'report.json'),
    campaign: 'november-news',
    run,
    transport: 'smtp://news%40acme.example:hunter2pass@smtp.acme.example:587',
    entries,
    totals,
    ...over,
  };
}

function* many(n: number, onEach?: (i: number) => void): Generator<JournalEntry> {
  for (let i = 0; i < n; i++) {
    onEach?.(i);
    yield {
      key: `user${i}@example.test`,
      row: i + 2,
      email: `user${i}@example.test`,
      status: i % 10 === 0 ? 'deferred' : 'sent',
      attempts: 1 + (i % 3),
      response: i % 10 === 0 ? '451 4.7.1 Greylisted, please try again' : '250 2.0.0 Ok: queued',
      messageId: `<${i}.r-20261103@acme.example>`,
      updatedAt: T0 + i,
    };
  }
}

describe('writeReport', () => {
  test('JSON has the contract shape and values', async () => {
    const dir = tmpDir('mc-report-');
    await writeReport(options(dir));
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
    assert.deepEqual(Object.keys(r), ['campaign', 'run_id', 'started_at', 'finished_at', 'transport', 'totals', 'messages']);
    assert.equal(r.campaign, 'november-news');
    assert.equal(r.run_id, 'r-20261103-0900');
    assert.equal(r.started_at, '2026-11-03T09:00:00.000Z');
    assert.equal(r.finished_at, '2026-11-03T09:01:30.000Z');
    assert.equal(r.transport, 'smtp://smtp.acme.example:587', 'credentials removed, user name included');
    assert.deepEqual(r.totals, { recipients: 6, sent: 2, failed: 1, deferred: 1, skipped: 1, unknown: 1 });
    assert.equal(r.messages.length, entries.length);
    assert.deepEqual(r.messages[0], {
      row: 2,
      email: 'ann@example.test',
      status: 'sent',
      message_id: '<a1@acme.example>',
      attempts: 1,
      response: '250 OK: queued as 1',
      at: '2026-11-03T09:00:01.000Z',
    });
    assert.equal(r.messages[2].response, '451 4.3.0 try later\r\nsecond line');
    assert.equal(r.messages[4].email, '=cmd|"/c calc"!A1@example.test', 'JSON is not formula-escaped');
    assert.equal(r.messages[5].response, null);
    assert.deepEqual(
      r.messages.map((m: { row: number }) => m.row),
      entries.map((e) => e.row),
    );
  });

  test('CSV sits beside the JSON and round-trips through csv-parse', async () => {
    const dir = tmpDir('mc-report-');
    await writeReport(options(dir));
    const text = fs.readFileSync(path.join(dir, 'report.csv'), 'utf8');
    assert.ok(text.startsWith('row,email,status,message_id,attempts,response,at\r\n'), text.slice(0, 80));
    const rows: Record<string, string>[] = parseCsv(text, { columns: true });
    assert.deepEqual(Object.keys(rows[0]), [...CSV_COLUMNS]);
    assert.equal(rows.length, entries.length);
    assert.deepEqual(rows[1], {
      row: '3',
      email: 'bob@example.test',
      status: 'failed',
      message_id: '<b2@acme.example>',
      attempts: '1',
      response: '550 5.1.1 "bob" unknown, sorry',
      at: '2026-11-03T09:00:02.000Z',
    });
    assert.equal(rows[2].response, '451 4.3.0 try later\r\nsecond line');
    assert.equal(rows[3].email, 'dan@example.test,eve@example.test');
    assert.equal(rows[4].email, `'=cmd|"/c calc"!A1@example.test`);
    assert.equal(rows[4].response, `'-suppressed: unsubscribed`);
    assert.equal(rows[5].response, '');
  });

  test('no entries: valid JSON with an empty list, CSV with only the header', async () => {
    const dir = tmpDir('mc-report-');
    await writeReport(options(dir, { entries: [], totals: { ...totals, recipients: 0, sent: 0, failed: 0, deferred: 0, skipped: 0, unknown: 0 } }));
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
    assert.deepEqual(r.messages, []);
    assert.equal(fs.readFileSync(path.join(dir, 'report.csv'), 'utf8'), 'row,email,status,message_id,attempts,response,at\r\n');
  });

  test('an interrupted run: pending and sending rows as they are, finished_at null', async () => {
    const dir = tmpDir('mc-report-');
    const interrupted: JournalEntry[] = [
      { ...entries[0] },
      { key: 'p@example.test', row: 3, email: 'p@example.test', status: 'sending', attempts: 1, messageId: '<p@x>', updatedAt: T0 },
      { key: 'q@example.test', row: 4, email: 'q@example.test', status: 'pending', attempts: 0, messageId: '<q@x>', updatedAt: T0 },
    ];
    await writeReport(options(dir, { run: { ...run, finishedAt: undefined, state: 'interrupted' }, entries: interrupted }));
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
    assert.equal(r.finished_at, null);
    assert.deepEqual(r.messages.map((m: { status: string }) => m.status), ['sent', 'sending', 'pending']);
  });

  test('accepts an async iterable, explicit csvPath, and creates missing folders', async () => {
    const dir = tmpDir('mc-report-');
    async function* gen() {
      yield* entries;
    }
    const jsonPath = path.join(dir, 'reports', 'nested', 'run');
    const csvPath = path.join(dir, 'elsewhere', 'rows.csv');
    await writeReport(options(dir, { jsonPath, csvPath, entries: gen() }));
    assert.equal(JSON.parse(fs.readFileSync(jsonPath, 'utf8')).messages.length, entries.length);
    assert.equal(parseCsv(fs.readFileSync(csvPath, 'utf8'), { columns: true }).length, entries.length);
  });

  test('registered secrets are removed from responses', async () => {
    const dir = tmpDir('mc-report-');
    registerSecret('tok-9f8e7d6c');
    const leaky: JournalEntry[] = [{ ...entries[1], response: '535 5.7.8 bad credentials for tok-9f8e7d6c' }];
    await writeReport(options(dir, { entries: leaky }));
    for (const f of ['report.json', 'report.csv']) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      assert.doesNotMatch(text, /tok-9f8e7d6c/, f);
      assert.doesNotMatch(text, /hunter2pass/, f);
    }
  });

  test('atomic: the old report stays in place until the new one is complete, no temp file left', async () => {
    const dir = tmpDir('mc-report-');
    const jsonPath = path.join(dir, 'report.json');
    const csvPath = path.join(dir, 'report.csv');
    fs.writeFileSync(jsonPath, 'OLD JSON');
    fs.writeFileSync(csvPath, 'OLD CSV');
    let checked = false;
    const stream = many(50_000, (i) => {
      if (i !== 40_000) return;
      // Well past the first flushed chunks: the data is on disk, but only in temporary files.
      assert.equal(fs.readFileSync(jsonPath, 'utf8'), 'OLD JSON');
      assert.equal(fs.readFileSync(csvPath, 'utf8'), 'OLD CSV');
      const temps = fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
      assert.equal(temps.length, 2, `temporary files: ${temps.join(', ')}`);
      for (const t of temps) assert.ok(fs.statSync(path.join(dir, t)).size > 100_000, `${t} is not being streamed`);
      checked = true;
    });
    await writeReport(options(dir, { entries: stream }));
    assert.ok(checked, 'the mid-write check did not run');
    assert.equal(JSON.parse(fs.readFileSync(jsonPath, 'utf8')).messages.length, 50_000);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['report.csv', 'report.json']);
  });

  test('a failure mid-way leaves the old report untouched and removes the temporary files', async () => {
    const dir = tmpDir('mc-report-');
    const jsonPath = path.join(dir, 'report.json');
    fs.writeFileSync(jsonPath, 'OLD JSON');
    const broken = many(30_000, (i) => {
      if (i === 20_000) throw new Error('journal went away');
    });
    await assert.rejects(writeReport(options(dir, { entries: broken })), /journal went away/);
    assert.equal(fs.readFileSync(jsonPath, 'utf8'), 'OLD JSON');
    assert.deepEqual(fs.readdirSync(dir), ['report.json']);
  });

  test('an unwritable place is a MailcampError naming the file', async () => {
    const dir = tmpDir('mc-report-');
    fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
    const jsonPath = path.join(dir, 'not-a-folder', 'report.json');
    await assert.rejects(writeReport(options(dir, { jsonPath })), (err: unknown) => {
      assert.ok(err instanceof MailcampError, String(err));
      assert.equal(err.code, 'INPUT');
      assert.equal(err.place.file, jsonPath);
      assert.match(err.message, /^cannot write the report: a file is in the way of its folder \((EEXIST|ENOTDIR)\)$/);
      return true;
    });
  });

  test('100k entries stream through without trouble', async () => {
    const dir = tmpDir('mc-report-');
    const started = Date.now();
    await writeReport(options(dir, { entries: many(100_000) }));
    const elapsed = Date.now() - started;
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
    assert.equal(r.messages.length, 100_000);
    assert.equal(r.messages[99_999].email, 'user99999@example.test');
    const csv = fs.readFileSync(path.join(dir, 'report.csv'), 'utf8');
    assert.equal(csv.split('\r\n').length, 100_000 + 2, 'header + rows + the empty string after the last CRLF');
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  });
});

describe('defaultCsvPath', () => {
  test('.json becomes .csv, anything else gets .csv appended', () => {
    assert.equal(defaultCsvPath('reports/x.json'), 'reports/x.csv');
    assert.equal(defaultCsvPath('reports/X.JSON'), 'reports/X.csv');
    assert.equal(defaultCsvPath('reports/x'), 'reports/x.csv');
    assert.equal(defaultCsvPath('reports/x.json.bak'), 'reports/x.json.bak.csv');
  });
});
