// The scheduler on an injected ManualClock, sending through the real pipeline to the outbox:
// weekly schedules across a DST change fire at the right instants (Europe/Berlin) and keep
// their UTC instant where there is no DST (Asia/Shanghai); a missed occurrence is caught up
// once under `missed: latest` and not under `skip`; every occurrence is its own run with its
// own journal and report; lists and templates are read again at each occurrence; one failing
// campaign does not stop another; two runners never send an occurrence twice.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/shared/clock.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';
import { type Logged, makeRunner, outboxOf, project, runUntil, settle } from './drive.js';

const H = 3_600_000;
const D = 24 * H;
const T = (s: string) => Date.parse(s);
const utc = (t: number) => new Date(t).toISOString();
const of = (log: Logged[], type: Logged['type'], name?: string) =>
  log.filter((e) => e.type === type && (!name || ('campaign' in e && e.campaign.name === name)));

describe('scheduler on a manual clock', () => {
  test('weekly Monday 09:00 in Europe/Berlin and Asia/Shanghai across the March DST change', async () => {
    const dir = project(tmpDir(), {
      'berlin.yaml': 'schedule: { cron: "0 9 * * 1", timezone: Europe/Berlin }\n',
      'shanghai.yaml': 'schedule: { cron: "0 9 * * 1", timezone: Asia/Shanghai }\n',
    });
    // Wednesday 18 March 2026: the Monday before is days old, beyond catch_up.
    const clock = new ManualClock(T('2026-03-18T00:00:00Z'));
    const log: Logged[] = [];
    const { runner, stop } = makeRunner(dir, ['.'], clock, log);
    const done = runner.run();
    await runUntil(clock, [runner], T('2026-04-07T00:00:00Z'));
    stop.abort();
    await done;

    const fired = (name: string) => of(log, 'due', name).map((e) => ({ at: utc((e as { at: number }).at), now: utc(e.now) }));
    // Berlin: 09:00 CET = 08:00Z, then 09:00 CEST = 07:00Z after 29 March.
    assert.deepEqual(fired('berlin'), [
      { at: '2026-03-23T08:00:00.000Z', now: '2026-03-23T08:00:00.000Z' },
      { at: '2026-03-30T07:00:00.000Z', now: '2026-03-30T07:00:00.000Z' },
      { at: '2026-04-06T07:00:00.000Z', now: '2026-04-06T07:00:00.000Z' },
    ]);
    // Shanghai has no DST: always 01:00Z.
    assert.deepEqual(fired('shanghai'), [
      { at: '2026-03-23T01:00:00.000Z', now: '2026-03-23T01:00:00.000Z' },
      { at: '2026-03-30T01:00:00.000Z', now: '2026-03-30T01:00:00.000Z' },
      { at: '2026-04-06T01:00:00.000Z', now: '2026-04-06T01:00:00.000Z' },
    ]);
    // The Monday before the start was too old to catch up.
    assert.deepEqual(of(log, 'skipped', 'berlin').map((e) => [(e as { at: number }).at, (e as { reason: string }).reason]), [[T('2026-03-16T08:00:00Z'), 'too-old']]);
    assert.equal(of(log, 'sent').length, 6);
    assert.equal(of(log, 'failed').length, 0);

    // Each occurrence: its own journal, report and outbox folder, and `occurrence` in the template.
    for (const stamp of ['20260323T080000Z', '20260330T070000Z', '20260406T070000Z']) {
      assert.ok(fs.existsSync(path.join(dir, '.mailcamp', 'berlin', 'occurrences', stamp, 'journal.sqlite')), stamp);
      const report = JSON.parse(fs.readFileSync(path.join(dir, 'reports', 'berlin', `${stamp}.json`), 'utf8'));
      assert.equal(report.run_id, stamp);
      assert.equal(report.totals.sent, 2);
      assert.deepEqual(outboxOf(dir, 'berlin', stamp).length, 2);
    }
    const eml = fs.readFileSync(path.join(dir, 'outbox', 'berlin', '20260330T070000Z', outboxOf(dir, 'berlin', '20260330T070000Z')[0]), 'utf8');
    assert.match(eml, /this is the issue of March 30, 2026/);
    // The runner logged the next due time after each send.
    const nexts = of(log, 'next', 'berlin').map((e) => (e as { next?: number }).next);
    assert.deepEqual(nexts.slice(0, 2), [T('2026-03-23T08:00:00Z'), T('2026-03-30T07:00:00Z')]);
  });

  test('weekly Sunday 02:30 in Berlin across both DST changes runs once each Sunday', async () => {
    const dir = project(tmpDir(), { 'night.yaml': 'schedule: { cron: "30 2 * * 0", timezone: Europe/Berlin, missed: skip }\n' });
    const log: Logged[] = [];
    // One week around each change (a scheduler started for each, so the summer is not simulated).
    for (const [from, to] of [
      ['2026-03-23T00:00:00Z', '2026-03-30T00:00:00Z'],
      ['2026-10-20T00:00:00Z', '2026-10-26T00:00:00Z'],
    ]) {
      const clock = new ManualClock(T(from));
      const { runner, stop } = makeRunner(dir, ['night.yaml'], clock, log);
      const done = runner.run();
      await runUntil(clock, [runner], T(to));
      stop.abort();
      await done;
    }
    const at = of(log, 'due').map((e) => [utc((e as { at: number }).at), utc(e.now)]);
    // 29 March: 02:30 does not exist; it runs once at 03:00 CEST (01:00Z).
    // 25 October: 02:30 happens twice; it runs once, at the first (CEST, 00:30Z), not at 01:30Z.
    assert.deepEqual(at, [
      ['2026-03-29T01:00:00.000Z', '2026-03-29T01:00:00.000Z'],
      ['2026-10-25T00:30:00.000Z', '2026-10-25T00:30:00.000Z'],
    ]);
    assert.equal(of(log, 'sent').length, 2);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'outbox', 'night')), ['20260329T010000Z', '20261025T003000Z']);
  });

  test('missed: latest catches up the most recent missed occurrence once; a restart does not send it again', async () => {
    const dir = project(tmpDir(), { 'hourly.yaml': 'schedule: { cron: "0 * * * *", timezone: UTC }\n' });
    // Down since long before; started at 10:30: 10:00 was missed (and 09:00, 08:00 ...).
    const clock = new ManualClock(T('2026-05-04T10:30:00Z'));
    const log: Logged[] = [];
    const first = makeRunner(dir, ['hourly.yaml'], clock, log);
    const done = first.runner.run();
    await runUntil(clock, [first.runner], T('2026-05-04T10:45:00Z'));
    first.stop.abort();
    await done;
    assert.deepEqual(of(log, 'due').map((e) => [utc((e as { at: number }).at), (e as { reason: string }).reason, utc(e.now)]), [
      ['2026-05-04T10:00:00.000Z', 'catch-up', '2026-05-04T10:30:00.000Z'],
    ]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'outbox', 'hourly')), ['20260504T100000Z']);

    // Restarted at 10:50: 10:00 is finished (the journal says so); nothing is sent.
    const log2: Logged[] = [];
    const second = makeRunner(dir, ['hourly.yaml'], clock, log2);
    const done2 = second.runner.run();
    await runUntil(clock, [second.runner], T('2026-05-04T10:50:00Z'));
    second.stop.abort();
    await done2;
    assert.equal(of(log2, 'due').length, 0);
    assert.deepEqual(of(log2, 'done').map((e) => (e as { at: number }).at), [T('2026-05-04T10:00:00Z')]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'outbox', 'hourly')), ['20260504T100000Z']);
  });

  test('missed: skip does not catch up; the next occurrence goes out on time', async () => {
    const dir = project(tmpDir(), { 'hourly.yaml': 'schedule: { cron: "0 * * * *", timezone: UTC, missed: skip }\n' });
    const clock = new ManualClock(T('2026-05-04T10:30:00Z'));
    const log: Logged[] = [];
    const { runner, stop } = makeRunner(dir, ['hourly.yaml'], clock, log);
    const done = runner.run();
    await runUntil(clock, [runner], T('2026-05-04T11:30:00Z'));
    stop.abort();
    await done;
    assert.deepEqual(of(log, 'skipped').map((e) => [utc((e as { at: number }).at), (e as { reason: string }).reason]), [['2026-05-04T10:00:00.000Z', 'missed-skip']]);
    assert.deepEqual(of(log, 'due').map((e) => utc((e as { at: number }).at)), ['2026-05-04T11:00:00.000Z']);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'outbox', 'hourly')), ['20260504T110000Z']);
  });

  test('the list and templates are read again at each occurrence; an edited schedule is reloaded', async () => {
    const dir = project(tmpDir(), { 'daily.yaml': 'schedule: { cron: "0 9 * * *", timezone: UTC }\n' });
    const clock = new ManualClock(T('2026-05-04T08:00:00Z'));
    const log: Logged[] = [];
    const { runner, stop } = makeRunner(dir, ['daily.yaml'], clock, log);
    const done = runner.run();
    await runUntil(clock, [runner], T('2026-05-04T12:00:00Z'));
    assert.equal(outboxOf(dir, 'daily', '20260504T090000Z').length, 2);

    fs.appendFileSync(path.join(dir, 'r.csv'), 'cy@example.com,Cy\n');
    writeFiles(dir, { 't.hbs': '<p>New look, {{name}}: {{formatDate occurrence "long" timeZone="UTC"}}</p>\n' });
    await runUntil(clock, [runner], T('2026-05-05T12:00:00Z'));
    const second = outboxOf(dir, 'daily', '20260505T090000Z');
    assert.equal(second.length, 3, 'the new row is picked up');
    assert.match(fs.readFileSync(path.join(dir, 'outbox', 'daily', '20260505T090000Z', second[0]), 'utf8'), /New look, Ada: May 5, 2026/);

    // Edit the campaign file: 18:00 instead of 09:00. The runner notices (reconcile) at once.
    const file = path.join(dir, 'daily.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('0 9 * * *', '0 18 * * *'));
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    runner.reconcile();
    await runUntil(clock, [runner], T('2026-05-05T19:00:00Z'));
    assert.ok(of(log, 'watching').some((e) => (e as { reloaded: boolean }).reloaded));
    assert.deepEqual(of(log, 'due').map((e) => utc((e as { at: number }).at)), [
      '2026-05-04T09:00:00.000Z',
      '2026-05-05T09:00:00.000Z',
      '2026-05-05T18:00:00.000Z',
    ]);
    stop.abort();
    await done;
  });

  test('a failing campaign does not stop another, and is tried again until it works', async () => {
    const dir = project(tmpDir(), {
      'good.yaml': 'schedule: { cron: "0 9 * * *", timezone: UTC }\n',
      'bad.yaml': 'schedule: { cron: "0 9 * * *", timezone: UTC }\n',
    });
    // bad's template uses a variable that does not exist: its send is refused before anything goes out.
    writeFiles(dir, { 'bad.hbs': '<p>{{nope}}</p>\n' });
    fs.writeFileSync(path.join(dir, 'bad.yaml'), fs.readFileSync(path.join(dir, 'bad.yaml'), 'utf8').replace('template: t.hbs', 'template: bad.hbs'));
    const clock = new ManualClock(T('2026-05-04T08:00:00Z'));
    const log: Logged[] = [];
    const { runner, stop } = makeRunner(dir, ['.'], clock, log);
    const done = runner.run();
    await runUntil(clock, [runner], T('2026-05-04T09:00:30Z'));
    assert.equal(of(log, 'sent', 'good').length, 1);
    const failed = of(log, 'failed', 'bad') as Extract<Logged, { type: 'failed' }>[];
    assert.equal(failed.length, 1);
    assert.equal(failed[0].retryAt, T('2026-05-04T09:01:00Z'));
    assert.match(String((failed[0].error as Error).message), /error/);

    writeFiles(dir, { 'bad.hbs': '<p>fixed {{name}}</p>\n' });
    await runUntil(clock, [runner], T('2026-05-04T09:05:00Z'));
    stop.abort();
    await done;
    assert.deepEqual(of(log, 'due', 'bad').map((e) => [utc(e.now), (e as { reason: string }).reason]), [
      ['2026-05-04T09:00:00.000Z', 'on-time'],
      ['2026-05-04T09:01:00.000Z', 'retry'],
    ]);
    assert.equal(of(log, 'sent', 'bad').length, 1);
    assert.equal(outboxOf(dir, 'bad', '20260504T090000Z').length, 2);
  });

  test('two runners on the same campaign: the occurrence is sent once', async () => {
    const dir = project(tmpDir(), { 'daily.yaml': 'schedule: { cron: "0 9 * * *", timezone: UTC }\n' });
    const clock = new ManualClock(T('2026-05-04T08:00:00Z'));
    const log1: Logged[] = [];
    const log2: Logged[] = [];
    const a = makeRunner(dir, ['daily.yaml'], clock, log1);
    const b = makeRunner(dir, ['daily.yaml'], clock, log2);
    const done = Promise.all([a.runner.run(), b.runner.run()]);
    await runUntil(clock, [a.runner, b.runner], T('2026-05-04T09:10:00Z'));
    a.stop.abort();
    b.stop.abort();
    await done;
    const sent = [...of(log1, 'sent'), ...of(log2, 'sent')];
    const done2 = [...of(log1, 'done'), ...of(log2, 'done')];
    assert.equal(sent.length, 1, 'one runner sent it');
    assert.equal(done2.length, 1, 'the other found it finished');
    assert.equal(outboxOf(dir, 'daily', '20260504T090000Z').length, 2);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'reports', 'daily', '20260504T090000Z.json'), 'utf8'));
    assert.equal(report.totals.sent, 2);
  });

  test('stopping while asleep ends run() at once', async () => {
    const dir = project(tmpDir(), { 'daily.yaml': 'schedule: { cron: "0 9 * * *", timezone: UTC }\n' });
    const clock = new ManualClock(T('2026-05-04T10:00:00Z'));
    const log: Logged[] = [];
    const { runner, stop } = makeRunner(dir, ['daily.yaml'], clock, log, { maxSleepMs: 7 * D });
    const done = runner.run();
    await settle([runner]);
    stop.abort();
    await done;
    assert.equal(clock.pending, 0, 'no sleeper left behind');
  });
});
