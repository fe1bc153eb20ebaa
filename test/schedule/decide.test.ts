// The rules for due and missed occurrences (decide.ts), without clocks or processes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ScheduleSpec } from '../../src/campaign/types.js';
import { decide } from '../../src/schedule/decide.js';
import type { OccurrenceStateName } from '../../src/schedule/occurrence.js';
import { timetable } from '../../src/schedule/timetable.js';

const H = 3_600_000;
const hourly = (s: Partial<ScheduleSpec> = {}): ScheduleSpec => ({ cron: '0 * * * *', timezone: 'UTC', missed: 'latest', catchUpMs: 6 * H, ...s });
const T = (hhmm: string) => Date.parse(`2026-05-04T${hhmm}:00Z`);
const none = (): OccurrenceStateName => 'never-run';

describe('decide', () => {
  test('the latest occurrence that has come is handled first; then wait for the next', () => {
    const s = hourly();
    const d = decide(timetable(s), s, { now: T('10:20'), since: T('10:10'), handledThrough: Number.NEGATIVE_INFINITY, stateOf: none });
    assert.deepEqual(d, { kind: 'run', at: T('10:00'), reason: 'catch-up', passedOver: 0 });
    const w = decide(timetable(s), s, { now: T('10:20'), since: T('10:10'), handledThrough: T('10:00'), stateOf: none });
    assert.deepEqual(w, { kind: 'wait', next: T('11:00') });
  });

  test('missed while down: latest sends only the most recent one, once; skip sends none', () => {
    const latest = hourly();
    const x = { now: T('10:30'), since: T('10:30'), handledThrough: Number.NEGATIVE_INFINITY, stateOf: none };
    assert.deepEqual(decide(timetable(latest), latest, x), { kind: 'run', at: T('10:00'), reason: 'catch-up', passedOver: 0 });
    const skip = hourly({ missed: 'skip' });
    assert.deepEqual(decide(timetable(skip), skip, x), { kind: 'skip', at: T('10:00'), reason: 'missed-skip' });
  });

  test('older than catch_up is skipped even under latest', () => {
    const s = hourly({ cron: '0 9 * * *', catchUpMs: 6 * H });
    const d = decide(timetable(s), s, { now: T('15:01'), since: T('15:01'), handledThrough: Number.NEGATIVE_INFINITY, stateOf: none });
    assert.deepEqual(d, { kind: 'skip', at: T('09:00'), reason: 'too-old' });
  });

  test('on time while watching, and what was passed over while busy is counted, not sent', () => {
    const s = hourly();
    const d = decide(timetable(s), s, { now: T('13:00'), since: T('08:00'), handledThrough: T('10:00'), stateOf: none });
    assert.deepEqual(d, { kind: 'run', at: T('13:00'), reason: 'on-time', passedOver: 2 });
  });

  test('finished is done; started-but-unfinished resumes even under skip', () => {
    const s = hourly({ missed: 'skip' });
    const base = { now: T('10:30'), since: T('10:30'), handledThrough: Number.NEGATIVE_INFINITY };
    assert.deepEqual(decide(timetable(s), s, { ...base, stateOf: () => 'finished' }), { kind: 'done', at: T('10:00') });
    assert.deepEqual(decide(timetable(s), s, { ...base, stateOf: (at) => (at === T('10:00') ? 'unfinished' : 'never-run') }), { kind: 'run', at: T('10:00'), reason: 'resume', passedOver: 0 });
    const old = { ...base, now: T('17:00'), since: T('17:00') };
    const s9 = hourly({ cron: '0 9 * * *' });
    assert.deepEqual(decide(timetable(s9), s9, { ...old, stateOf: () => 'interrupted' }), { kind: 'skip', at: T('09:00'), reason: 'too-old-unfinished' });
  });

  test('catch_up 0s: an occurrence that came while watching still runs when the timer fires late; one missed while down is skipped', () => {
    const s = hourly({ catchUpMs: 0 });
    const x = { now: T('10:00') + 15, since: T('09:30'), handledThrough: T('09:00'), stateOf: none };
    assert.deepEqual(decide(timetable(s), s, x), { kind: 'run', at: T('10:00'), reason: 'on-time', passedOver: 0 });
    assert.deepEqual(decide(timetable(s), s, { ...x, since: T('10:00') + 10 }), { kind: 'skip', at: T('10:00'), reason: 'too-old' });
  });

  test('an earlier occurrence left half-sent is finished first when a later one has come (within catch_up); then the latest as usual', () => {
    const s = hourly({ missed: 'skip' });
    const states = new Map<number, OccurrenceStateName>([[T('09:00'), 'interrupted']]);
    const x = { now: T('10:01'), since: T('10:01'), handledThrough: Number.NEGATIVE_INFINITY, stateOf: (at: number) => states.get(at) ?? 'never-run' };
    assert.deepEqual(decide(timetable(s), s, x), { kind: 'run', at: T('09:00'), reason: 'resume', passedOver: 0 });
    // Once it finished (handled through 09:00), 10:00 came while nobody watched: skip says skip.
    states.set(T('09:00'), 'finished');
    assert.deepEqual(decide(timetable(s), s, { ...x, handledThrough: T('09:00') }), { kind: 'skip', at: T('10:00'), reason: 'missed-skip' });
    // Not when another process is sending it, nor when it is older than catch_up.
    states.set(T('09:00'), 'running');
    assert.deepEqual(decide(timetable(s), s, x), { kind: 'skip', at: T('10:00'), reason: 'missed-skip' });
    states.set(T('09:00'), 'interrupted');
    assert.deepEqual(decide(timetable(s), s, { ...x, now: T('15:30'), since: T('15:30') }), { kind: 'skip', at: T('15:00'), reason: 'missed-skip' });
  });
});

test('an occurrence whose send stopped before its run began (server down) counts as started, not as never run', async () => {
  const { readOccurrenceState } = await import('../../src/schedule/occurrence.js');
  const { openJournal } = await import('../../src/state/journal.js');
  const { tmpDir } = await import('../helpers/tmp.js');
  const dir = tmpDir();
  assert.equal(readOccurrenceState(dir, 0).state, 'never-run');
  openJournal(dir).close(); // what a send leaves when the connection is refused: a journal, no run
  assert.equal(readOccurrenceState(dir, 0).state, 'unfinished');
});
