// What to do about a campaign's schedule right now: a pure function of the time, the
// timetable, what has been dealt with, and what the occurrence journals say, so the rules can
// be tested without processes or clocks.
//
// The rules (issue 7, README "Scheduled campaigns"):
// - Only the latest occurrence that has come is ever considered: never several at once.
// - Nothing older than `catch_up` (default 6 h) is sent: that is how late an occurrence may be.
// - It came while this process was watching (at >= since): it is due, even if we are late
//   because this campaign's previous send was still going.
// - It came while nobody was watching (the process was down): `missed: skip` skips it;
//   `missed: latest` sends it once.
// - An occurrence that was started and not finished (a crash, a kill) is resumed whatever
//   `missed` says: leaving it half-sent is worse than either rule. That holds for an earlier
//   one too, when a later occurrence has come since (an hourly send stopped at 09:59 during
//   the 09:00 run and started again at 10:01): within catch_up it is finished first, then the
//   latest is decided as above. Finishing a started run is not sending several.
// - A finished occurrence is done, whoever sent it (another `schedule`, `send --occurrence`).

import type { ScheduleSpec } from '../campaign/types.js';
import type { OccurrenceStateName } from './occurrence.js';
import type { Timetable } from './timetable.js';

export type DueReason = 'on-time' | 'catch-up' | 'resume';
export type SkipReason = 'missed-skip' | 'too-old' | 'too-old-unfinished';

export type Decision =
  /** Nothing has come: sleep until `next` (undefined: no occurrence will ever come). */
  | { kind: 'wait'; next: number | undefined }
  | { kind: 'run'; at: number; reason: DueReason; /** Occurrences passed over since the last one handled. */ passedOver: number }
  | { kind: 'skip'; at: number; reason: SkipReason }
  | { kind: 'done'; at: number };

export interface DecideInput {
  now: number;
  /** Since when this process has been watching this schedule. */
  since: number;
  /** Every occurrence at or before this instant has been dealt with (-Infinity: none yet). */
  handledThrough: number;
  stateOf: (at: number) => OccurrenceStateName;
}

export function decide(tt: Timetable, spec: ScheduleSpec, x: DecideInput): Decision {
  const latest = tt.latestAtOrBefore(x.now);
  if (latest === undefined || latest <= x.handledThrough) {
    return { kind: 'wait', next: tt.after(Math.max(x.now, x.handledThrough), 1)[0] };
  }
  const earlier = unfinishedBefore(tt, spec, x, latest);
  if (earlier !== undefined) return { kind: 'run', at: earlier, reason: 'resume', passedOver: 0 };
  const state = x.stateOf(latest);
  if (state === 'finished') return { kind: 'done', at: latest };
  const started = state === 'unfinished' || state === 'interrupted' || state === 'running';
  // A timer fires some ms late: an occurrence that came while watching is not "missed" for that,
  // whatever small catch_up (even 0s) the file sets.
  const catchUp = latest >= x.since ? Math.max(spec.catchUpMs, ON_TIME_GRACE_MS) : spec.catchUpMs;
  if (x.now - latest > catchUp) return { kind: 'skip', at: latest, reason: started ? 'too-old-unfinished' : 'too-old' };
  if (latest >= x.since) return { kind: 'run', at: latest, reason: 'on-time', passedOver: passedOver(tt, x.handledThrough, latest) };
  if (started) return { kind: 'run', at: latest, reason: 'resume', passedOver: 0 };
  if (spec.missed === 'skip') return { kind: 'skip', at: latest, reason: 'missed-skip' };
  return { kind: 'run', at: latest, reason: 'catch-up', passedOver: 0 };
}

/** How many occurrences lie strictly between the last one handled and `at` (capped). */
function passedOver(tt: Timetable, handledThrough: number, at: number): number {
  if (!Number.isFinite(handledThrough)) return 0;
  return tt.after(handledThrough, 1000).filter((t) => t < at).length;
}

/** How late an occurrence that came while this process watched may still start. */
const ON_TIME_GRACE_MS = 60_000;

/** Occurrences looked at before the latest one: a per-minute cron has 360 in 6 hours. */
const MAX_EARLIER = 1000;

/**
 * The oldest occurrence before `latest`, not yet handled and within catch_up, that was started
 * and did not finish (and is not being sent by another process right now).
 */
function unfinishedBefore(tt: Timetable, spec: ScheduleSpec, x: DecideInput, latest: number): number | undefined {
  let t = Math.max(x.handledThrough, x.now - spec.catchUpMs - 1);
  for (let i = 0; i < MAX_EARLIER; i++) {
    const at = tt.after(t, 1)[0];
    if (at === undefined || at >= latest) return undefined;
    const state = x.stateOf(at);
    if (state === 'unfinished' || state === 'interrupted') return at;
    t = at;
  }
  return undefined;
}
