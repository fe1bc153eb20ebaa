// Next-run calculation: cron in IANA zones across DST changes (a local time that does not
// exist, or happens twice, runs once), `at:` lists, bad expressions, occurrence stamps.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ScheduleSpec } from '../../src/campaign/types.js';
import { occurrenceStamp, parseOccurrence } from '../../src/schedule/occurrence.js';
import { cronProblem, localIso, timetable } from '../../src/schedule/timetable.js';

const spec = (s: Partial<ScheduleSpec>): ScheduleSpec => ({ missed: 'latest', catchUpMs: 6 * 3_600_000, ...s });
const iso = (xs: number[]) => xs.map((t) => new Date(t).toISOString());
const at = (s: string) => Date.parse(s);

describe('cron timetable', () => {
  test('Monday 09:00 Europe/Berlin keeps 09:00 local across both DST changes of 2026', () => {
    const tt = timetable(spec({ cron: '0 9 * * 1', timezone: 'Europe/Berlin' }));
    // CET (+01:00) until 29 March, CEST (+02:00) until 25 October, CET again after.
    assert.deepEqual(iso(tt.after(at('2026-03-20T00:00:00Z'), 3)), ['2026-03-23T08:00:00.000Z', '2026-03-30T07:00:00.000Z', '2026-04-06T07:00:00.000Z']);
    assert.deepEqual(iso(tt.after(at('2026-10-17T00:00:00Z'), 3)), ['2026-10-19T07:00:00.000Z', '2026-10-26T08:00:00.000Z', '2026-11-02T08:00:00.000Z']);
    assert.equal(tt.zoneFromMachine, false);
    assert.equal(localIso(at('2026-03-30T07:00:00Z'), 'Europe/Berlin'), '2026-03-30T09:00:00+02:00');
  });

  test('Monday 09:00 Asia/Shanghai is 01:00 UTC all year (no DST), whatever Berlin does', () => {
    const tt = timetable(spec({ cron: '0 9 * * 1', timezone: 'Asia/Shanghai' }));
    const runs = tt.after(at('2026-03-20T00:00:00Z'), 33);
    assert.equal(runs.length, 33);
    for (const r of runs) assert.equal(new Date(r).toISOString().slice(11), '01:00:00.000Z');
    assert.equal(new Date(runs[0]).getUTCDay(), 1);
    assert.ok(runs.every((r, i) => i === 0 || r - runs[i - 1] === 7 * 86_400_000), 'exactly a week apart');
  });

  test('a local time that does not exist (spring forward) runs once, right after the gap', () => {
    // 29 March 2026: Berlin clocks jump from 02:00 to 03:00; 02:30 does not exist that day.
    const tt = timetable(spec({ cron: '30 2 * * 0', timezone: 'Europe/Berlin' }));
    assert.deepEqual(iso(tt.after(at('2026-03-21T00:00:00Z'), 3)), [
      '2026-03-22T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first instant after the gap
      '2026-04-05T00:30:00.000Z', // 02:30 CEST
    ]);
    assert.equal(tt.latestAtOrBefore(at('2026-03-29T01:59:00Z')), at('2026-03-29T01:00:00Z'));
    assert.ok(tt.includes(at('2026-03-29T01:00:00Z')));
  });

  test('a local time that happens twice (fall back) runs once, at its first occurrence', () => {
    // 25 October 2026: Berlin clocks go from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    const tt = timetable(spec({ cron: '30 2 * * 0', timezone: 'Europe/Berlin' }));
    assert.deepEqual(iso(tt.after(at('2026-10-24T00:00:00Z'), 2)), ['2026-10-25T00:30:00.000Z', '2026-11-01T01:30:00.000Z']);
    // Lists count as fixed times too.
    const list = timetable(spec({ cron: '0,30 2 * * 0', timezone: 'Europe/Berlin' }));
    assert.deepEqual(iso(list.after(at('2026-10-24T00:00:00Z'), 3)), ['2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-11-01T01:00:00.000Z']);
  });

  test('interval patterns do not repeat the wall-clock times of the repeated hour', () => {
    const tt = timetable(spec({ cron: '*/30 * * * *', timezone: 'Europe/Berlin' }));
    const runs = tt.after(at('2026-10-24T23:50:00Z'), 5).map((t) => localIso(t, 'Europe/Berlin'));
    assert.deepEqual(runs, [
      '2026-10-25T02:00:00+02:00',
      '2026-10-25T02:30:00+02:00',
      '2026-10-25T03:00:00+01:00',
      '2026-10-25T03:30:00+01:00',
      '2026-10-25T04:00:00+01:00',
    ]);
    // The second 02:30 (01:30Z) is not an occurrence; the latest one before it is the first 02:30.
    assert.equal(tt.latestAtOrBefore(at('2026-10-25T01:45:00Z')), at('2026-10-25T00:30:00Z'));
    assert.equal(tt.includes(at('2026-10-25T01:30:00Z')), false);
  });

  test('latestAtOrBefore counts the instant itself', () => {
    const tt = timetable(spec({ cron: '0 9 * * 1', timezone: 'Europe/Berlin' }));
    assert.equal(tt.latestAtOrBefore(at('2026-03-30T07:00:00Z')), at('2026-03-30T07:00:00Z'));
    assert.equal(tt.latestAtOrBefore(at('2026-03-30T06:59:59Z')), at('2026-03-23T08:00:00Z'));
  });

  test('without timezone: the machine zone, and it says so', () => {
    const tt = timetable(spec({ cron: '0 9 * * 1' }));
    assert.equal(tt.zoneFromMachine, true);
    assert.equal(tt.timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
  });
});

describe('at timetable', () => {
  test('a list of instants, in order, duplicates once', () => {
    const tt = timetable(spec({ at: ['2026-12-01T09:00:00+08:00', '2026-11-01T09:00:00Z', '2026-12-01T01:00:00Z'], timezone: 'Asia/Shanghai' }));
    assert.deepEqual(iso(tt.after(0, 10)), ['2026-11-01T09:00:00.000Z', '2026-12-01T01:00:00.000Z']);
    assert.equal(tt.latestAtOrBefore(at('2026-11-15T00:00:00Z')), at('2026-11-01T09:00:00Z'));
    assert.equal(tt.latestAtOrBefore(at('2026-10-15T00:00:00Z')), undefined);
    assert.deepEqual(tt.after(at('2026-12-01T01:00:00Z'), 1), []);
    assert.equal(tt.expression, '2026-11-01T17:00:00+08:00, 2026-12-01T09:00:00+08:00');
  });
});

describe('cron problems', () => {
  test('bad expressions are explained; never-matching ones too', () => {
    assert.match(cronProblem('0 9 * * 8') ?? '', /invalid cron expression '0 9 \* \* 8': Invalid value for dayOfWeek: 8/);
    assert.match(cronProblem('every monday') ?? '', /invalid cron expression/);
    assert.match(cronProblem('0 9 * *') ?? '', /five, six, or seven/);
    assert.match(cronProblem('0 0 30 2 *') ?? '', /never runs/);
    assert.equal(cronProblem('0 9 * * 1'), undefined);
    assert.equal(cronProblem('@weekly'), undefined);
  });
});

describe('occurrence identity', () => {
  test('stamp round-trips; ISO with offset accepted; no offset refused', () => {
    const t = at('2026-03-30T07:00:00Z');
    assert.equal(occurrenceStamp(t), '20260330T070000Z');
    assert.equal(parseOccurrence('20260330T070000Z'), t);
    assert.equal(parseOccurrence('2026-03-30T09:00:00+02:00'), t);
    assert.equal(parseOccurrence('2026-03-30T09:00+0200'), t);
    assert.equal(parseOccurrence('2026-03-30T09:00:00'), undefined);
    assert.equal(parseOccurrence('monday'), undefined);
  });
});
