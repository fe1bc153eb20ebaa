// One occurrence of a scheduled campaign: its identity (the scheduled instant), where its
// journal and lock live, and what that journal says about it.
//
// Each occurrence is its own run with its own journal: `.mailcamp/<name>/occurrences/<stamp>/`
// holding `journal.sqlite` and `lock`, where <stamp> is the instant in UTC
// (`20260330T070000Z`, no colons, so it is a valid file name everywhere). The report goes to
// `reports/<name>/<stamp>.json`. "Exactly once per occurrence" is the journal's rule applied
// to that folder: whoever sends an occurrence (a `schedule` process, another one, or
// `send --occurrence`) holds its lock while sending, and a finished run is never sent again.

import fs from 'node:fs';
import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import { MailcampError } from '../shared/errors.js';
import { campaignStateDir, findStateDir } from '../state/folder.js';
import { journalExists, openJournal } from '../state/journal.js';
import { holderAlive, LOCK_FILE, readLock } from '../state/lock.js';
import type { RunInfo, Totals } from '../state/types.js';

export const OCCURRENCES_DIR = 'occurrences';

/** `20260330T070000Z` (milliseconds are never part of an occurrence). */
export function occurrenceStamp(t: number): string {
  return new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Reads a stamp (`20260330T070000Z`) or an ISO date-time with an offset; undefined if neither. */
export function parseOccurrence(s: string): number | undefined {
  const v = s.trim();
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(v);
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([zZ]|[+-]\d\d:?\d\d)$/.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** `<campaign state dir>/occurrences/<stamp>/`: the occurrence's journal and lock. */
export function occurrenceDir(campaignDir: string, t: number): string {
  return path.join(campaignDir, OCCURRENCES_DIR, occurrenceStamp(t));
}

/** The occurrence folder of campaign `c`, with `--state` applied like every command does. */
export function occurrenceDirOf(c: Campaign, t: number, stateOverride?: string): string {
  return occurrenceDir(campaignStateDir(findStateDir(c.dir, stateOverride), c.name), t);
}

/** The latest occurrence of a campaign that has a journal (its stamp), if any: stamps sort by time. */
export function latestOccurrenceWithJournal(campaignDir: string): string | undefined {
  let stamps: string[];
  try {
    stamps = fs.readdirSync(path.join(campaignDir, OCCURRENCES_DIR));
  } catch {
    return undefined;
  }
  return stamps
    .filter((s) => /^\d{8}T\d{6}Z$/.test(s) && journalExists(path.join(campaignDir, OCCURRENCES_DIR, s)))
    .sort()
    .pop();
}

export type OccurrenceStateName =
  /** No journal: nobody has started sending it. */
  | 'never-run'
  /** A live process holds its lock right now. */
  | 'running'
  /** Started, not finished, nobody sending: the next send resumes it. */
  | 'unfinished'
  | 'interrupted'
  | 'finished';

export interface OccurrenceState {
  at: number;
  state: OccurrenceStateName;
  run?: RunInfo;
  totals?: Totals;
  /** The lock holder's pid when `running`. */
  lockedBy?: number;
}

/** What the occurrence's journal and lock say, read-only (safe beside a running send). */
export function readOccurrenceState(dir: string, at: number): OccurrenceState {
  const lock = readLock(dir);
  const live = lock && holderAlive(lock, path.join(dir, LOCK_FILE)) ? lock : undefined;
  if (!fs.existsSync(dir) || !journalExists(dir)) {
    return live ? { at, state: 'running', lockedBy: live.pid } : { at, state: 'never-run' };
  }
  let run: RunInfo | undefined;
  let totals: Totals | undefined;
  try {
    const j = openJournal(dir, { readonly: true });
    try {
      run = j.currentRun();
      totals = j.totals();
    } finally {
      j.close();
    }
  } catch (e) {
    // A journal being created this very moment by another process; it holds the lock.
    if (live) return { at, state: 'running', lockedBy: live.pid };
    if (e instanceof MailcampError) throw e;
    throw new MailcampError('STATE', `cannot read the occurrence journal: ${(e as Error).message}`, { file: dir });
  }
  // A finished run stays finished even while a late second process holds the lock to look.
  if (run?.state === 'finished') return { at, state: 'finished', run, totals };
  if (live) return { at, state: 'running', run, totals, lockedBy: live.pid };
  // A journal without a run: a send that stopped before its run began (the server refused the
  // connection). That occurrence was started: a restarted scheduler resumes it, whatever
  // `missed:` says, rather than take it for one missed while nothing ran.
  if (!run) return { at, state: 'unfinished', totals };
  return { at, state: run.state === 'interrupted' ? 'interrupted' : 'unfinished', run, totals };
}
