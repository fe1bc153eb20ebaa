// Next-run calculation: a campaign's `schedule:` (cron in an IANA time zone, or a list of
// `at:` instants) turned into a Timetable of occurrences, each an exact instant (epoch ms).
//
// Cron expressions are parsed and walked by croner, which implements time zones and DST the
// way Vixie cron does. We pick its "no-wildcard" rule: a pattern whose seconds, minutes and
// hours are plain values or lists (`0 9 * * 1`, `30 2,14 * * *`) is a fixed-time job, so
// - a local time that does not exist (spring forward: 02:30 on the last Sunday of March in
//   Europe/Berlin) runs once, at the first valid instant after the gap (03:00 local);
// - a local time that happens twice (fall back: 02:30 on the last Sunday of October) runs
//   once, at its first occurrence.
// Interval patterns (`*/15 * * * *`) follow elapsed time instead: croner skips the times in
// a gap and would run on both passes of a repeated hour. The issue promises "runs once" for
// repeated local times whatever the pattern, so after() and latestAtOrBefore() drop the
// second pass of a wall-clock time we have already produced (see isSecondPass).

import { Cron } from 'croner';
import type { ScheduleSpec } from '../campaign/types.js';

export interface Timetable {
  /** The IANA zone occurrences are computed (cron) and shown (both) in. */
  readonly timezone: string;
  /** True when the campaign did not name a zone and the machine's is used. */
  readonly zoneFromMachine: boolean;
  /** `cron` or `at`, and the cron expression, or the `at:` times in the zone (ISO, with offsets). */
  readonly kind: 'cron' | 'at';
  readonly expression: string;
  /** Up to `n` occurrences strictly after `t`, in order. */
  after(t: number, n: number): number[];
  /** The latest occurrence at or before `t`. */
  latestAtOrBefore(t: number): number | undefined;
  /** Whether `t` is exactly one of the occurrences. */
  includes(t: number): boolean;
}

export function machineTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Builds the Timetable of a validated ScheduleSpec (see campaign/load.ts readSchedule). */
export function timetable(spec: ScheduleSpec): Timetable {
  const timezone = spec.timezone ?? machineTimeZone();
  const zoneFromMachine = spec.timezone === undefined;
  if (spec.cron !== undefined) return cronTimetable(spec.cron, timezone, zoneFromMachine);
  return atTimetable(spec.at ?? [], timezone, zoneFromMachine);
}

/**
 * What is wrong with a cron expression, or undefined when it is usable: croner's parse
 * error, or a pattern that matches no date at all (`0 0 30 2 *`).
 */
export function cronProblem(expr: string, timezone?: string, now = Date.now()): string | undefined {
  let c: Cron;
  try {
    c = makeCron(expr, timezone);
  } catch (e) {
    return `invalid cron expression '${expr}': ${String((e as Error).message).replace(/^CronPattern: /, '')}`;
  }
  try {
    if (!c.nextRun(new Date(now))) return `cron expression '${expr}' never runs after ${new Date(now).toISOString()}`;
  } catch (e) {
    return `cron expression '${expr}': ${(e as Error).message}`;
  }
  return undefined;
}

function makeCron(expr: string, timezone: string | undefined): Cron {
  // No callback: croner starts no timer, it only calculates. We do our own waiting with the
  // injected Clock (runner.ts), so tests can move time.
  return new Cron(expr, { timezone, paused: true, fixedTimeRule: 'no-wildcard' });
}

function cronTimetable(expr: string, timezone: string, zoneFromMachine: boolean): Timetable {
  const cron = makeCron(expr, timezone);
  const label = wallClock(timezone);
  const isSecondPass = (t: number): boolean => SHIFTS.some((d) => label(t - d) === label(t));
  const after = (t: number, n: number): number[] => {
    const out: number[] = [];
    let cursor = t;
    // The guard only matters for a pattern that fires only inside repeated hours.
    for (let i = 0; out.length < n && i < n + 1000; i++) {
      const next = cron.nextRun(new Date(cursor));
      if (!next) break;
      cursor = next.getTime();
      if (!isSecondPass(cursor)) out.push(cursor);
    }
    return out;
  };
  const latestAtOrBefore = (t: number): number | undefined => {
    // previousRuns() is strictly before its reference (to the second); +1 s makes `t` count.
    let ref = Math.floor(t / 1000) * 1000 + 1000;
    for (let i = 0; i < 1000; i++) {
      const [prev] = cron.previousRuns(1, new Date(ref));
      if (!prev) return undefined;
      if (!isSecondPass(prev.getTime())) return prev.getTime();
      ref = prev.getTime();
    }
    return undefined;
  };
  return {
    timezone,
    zoneFromMachine,
    kind: 'cron',
    expression: expr,
    after,
    latestAtOrBefore,
    includes: (t) => after(t - 1, 1)[0] === t,
  };
}

function atTimetable(at: string[], timezone: string, zoneFromMachine: boolean): Timetable {
  const times = [...new Set(at.map((s) => Date.parse(s)))].filter((t) => Number.isFinite(t)).sort((a, b) => a - b);
  return {
    timezone,
    zoneFromMachine,
    kind: 'at',
    expression: times.map((t) => localIso(t, timezone)).join(', '),
    after: (t, n) => times.filter((x) => x > t).slice(0, n),
    latestAtOrBefore: (t) => {
      let best: number | undefined;
      for (const x of times) if (x <= t) best = x;
      return best;
    },
    includes: (t) => times.includes(t),
  };
}

/** DST shifts that exist in the tz database (Lord Howe Island moves by 30 minutes). */
const SHIFTS = [30 * 60_000, 60 * 60_000, 2 * 60 * 60_000];

const formats = new Map<string, Intl.DateTimeFormat>();

function partsFormat(timezone: string): Intl.DateTimeFormat {
  let f = formats.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
      timeZoneName: 'longOffset',
    });
    formats.set(timezone, f);
  }
  return f;
}

interface LocalParts {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
  weekday: string;
  /** `+02:00`, `Z` never: UTC is `+00:00`. */
  offset: string;
}

function localParts(t: number, timezone: string): LocalParts {
  const p: Record<string, string> = {};
  for (const x of partsFormat(timezone).formatToParts(new Date(t))) p[x.type] = x.value;
  const off = (p.timeZoneName ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  return {
    year: p.year,
    month: p.month,
    day: p.day,
    hour: p.hour,
    minute: p.minute,
    second: p.second,
    weekday: p.weekday,
    offset: off.length === 3 ? `${off}:00` : off,
  };
}

/** The local wall-clock time of `t` in `timezone`, without the offset (to compare passes). */
function wallClock(timezone: string): (t: number) => string {
  return (t) => {
    const p = localParts(t, timezone);
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
  };
}

/** `2026-03-30T09:00:00+02:00`: the instant as the zone's clock shows it, with its offset. */
export function localIso(t: number, timezone: string): string {
  const p = localParts(t, timezone);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${p.offset}`;
}

/** `Mon 2026-03-30 09:00 +02:00`: for people (seconds shown only when not zero). */
export function localHuman(t: number, timezone: string): string {
  const p = localParts(t, timezone);
  const sec = p.second === '00' ? '' : `:${p.second}`;
  return `${p.weekday} ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${sec} ${p.offset}`;
}
