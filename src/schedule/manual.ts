// `mailcamp send <campaign> --occurrence <time|due>`: which occurrence a hand-started (or
// cron/systemd-timer-started) send is for. The send itself is the pipeline's runSend with
// SendOptions.occurrence, so the same journal and lock guard it as under `schedule`.
//
// - `<time>`: an ISO date-time with an offset (`2026-03-30T09:00:00+02:00`) or a stamp
//   (`20260330T070000Z`); it must be one of the schedule's occurrences, so a typo cannot
//   invent a new run and mail everyone again, and one that has come (or comes within 5
//   minutes): a future one is only rendered, with --dry-run or --to.
// - `due`: the latest occurrence that has come, if it is at most `catch_up` old and not yet
//   finished. Meant for a crontab line that runs every few minutes: when nothing is due it
//   says so and the command exits 0.

import path from 'node:path';
import type { Env } from '../campaign/env.js';
import { loadCampaign } from '../campaign/load.js';
import type { Campaign } from '../campaign/types.js';
import { MailcampError } from '../shared/errors.js';
import { occurrenceDirOf, occurrenceStamp, parseOccurrence, readOccurrenceState } from './occurrence.js';
import { localIso, timetable } from './timetable.js';

export type ManualOccurrence =
  | { kind: 'send'; at: number }
  /** `due` found nothing to send; `message` says why. */
  | { kind: 'nothing'; message: string };

export interface ResolveOptions {
  file: string;
  value: string;
  now: number;
  cwd?: string;
  env?: Env;
  state?: string;
  /** The campaign, when the caller has loaded it already. */
  campaign?: Campaign;
  /** A dry run or test send: an occurrence still to come may be rendered ahead of time. */
  preview?: boolean;
}

/** How early a hand-started send of an occurrence may be (a cron job a little ahead of the clock). */
const EARLY_MS = 5 * 60_000;
/** How late `due` still counts an occurrence as on time under `missed: skip` (a cron job every 5 minutes). */
const SKIP_GRACE_MS = 5 * 60_000;

export function resolveOccurrence(o: ResolveOptions): ManualOccurrence {
  // Only the schedule is needed here; runSend loads and checks everything afterwards.
  const c = o.campaign ?? loadCampaign(o.file, { env: o.env, cwd: o.cwd, missingEnvIsEmpty: true });
  if (!c.schedule) {
    throw new MailcampError('USAGE', `--occurrence: campaign '${c.name}' has no schedule: key`, { file: c.displayFile });
  }
  const tt = timetable(c.schedule);
  const show = (t: number) => `${localIso(t, tt.timezone)} (${tt.timezone})`;
  const stateOverride = o.state ? path.resolve(o.cwd ?? process.cwd(), o.state) : undefined;

  if (o.value.trim().toLowerCase() === 'due') {
    const at = tt.latestAtOrBefore(o.now);
    if (at === undefined) {
      const next = tt.after(o.now, 1)[0];
      return { kind: 'nothing', message: `${c.name}: no occurrence has come yet${next !== undefined ? `; the next is ${show(next)}` : ''}` };
    }
    if (o.now - at > c.schedule.catchUpMs) {
      return {
        kind: 'nothing',
        message:
          `${c.name}: the latest occurrence, ${show(at)}, is older than catch_up (${hours(c.schedule.catchUpMs)}); ` +
          `send it explicitly with --occurrence ${occurrenceStamp(at)} if you still want it`,
      };
    }
    const st = readOccurrenceState(occurrenceDirOf(c, at, stateOverride), at);
    if (st.state === 'finished') return { kind: 'nothing', message: `${c.name}: occurrence ${show(at)} was already sent` };
    // `missed: skip`: an occurrence nobody started at its time is not sent late by a cron job
    // (or a plain send) either; one that was started is finished, as the scheduler does.
    if (c.schedule.missed === 'skip' && st.state === 'never-run' && o.now - at > SKIP_GRACE_MS) {
      return {
        kind: 'nothing',
        message:
          `${c.name}: the latest occurrence, ${show(at)}, was not sent at its time and the campaign says missed: skip; ` +
          `send it explicitly with --occurrence ${occurrenceStamp(at)} if you still want it`,
      };
    }
    return { kind: 'send', at };
  }

  const at = parseOccurrence(o.value);
  if (at === undefined) {
    throw new MailcampError(
      'USAGE',
      `--occurrence: '${o.value}' is not a time; use 'due', an ISO date-time with an offset (2026-03-30T09:00:00+02:00) or a stamp (20260330T070000Z)`,
    );
  }
  if (!tt.includes(at)) {
    const before = tt.latestAtOrBefore(at);
    const after = tt.after(at, 1)[0];
    const near = [before, after].filter((t): t is number => t !== undefined).map(show);
    throw new MailcampError(
      'USAGE',
      `--occurrence: ${show(at)} is not an occurrence of ${tt.kind === 'cron' ? `cron '${tt.expression}'` : 'the at: list'}` +
        (near.length ? `; nearest: ${near.join(', ')}` : ''),
      { file: c.displayFile, line: c.pos.schedule?.line, col: c.pos.schedule?.col },
    );
  }
  // A typo of the week must not send next Monday's issue today.
  if (at - o.now > EARLY_MS && !o.preview) {
    throw new MailcampError(
      'USAGE',
      `--occurrence: ${show(at)} has not come yet; it is sent then (by \`mailcamp schedule\`, or this command at that time); --dry-run renders it now`,
      { file: c.displayFile, line: c.pos.schedule?.line, col: c.pos.schedule?.col },
    );
  }
  return { kind: 'send', at };
}

function hours(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${Math.round(ms / 60_000)}m`;
}
