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
//   `missed` says: leaving it half-sent is worse than either rule.
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
  const state = x.stateOf(latest);
  if (state === 'finished') return { kind: 'done', at: latest };
  const started = state === 'unfinished' || state === 'interrupted' || state === 'running';
  if (x.now - latest > spec.catchUpMs) return { kind: 'skip', at: latest, reason: started ? 'too-old-unfinished' : 'too-old' };
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
