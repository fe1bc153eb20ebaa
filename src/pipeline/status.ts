// `mailcamp status`: what the journal says (style.md habit 8: the journal is the truth).

import fs from 'node:fs';
import path from 'node:path';
import { loadCampaign } from '../campaign/load.js';
import type { Env } from '../campaign/env.js';
import { campaignStateDir, findStateDir } from '../state/folder.js';
import { journalExists, openJournal } from '../state/journal.js';
import { readLock } from '../state/lock.js';
import type { DeliveryStatus, JournalEntry, RunInfo, Totals } from '../state/types.js';

export interface StatusOptions {
  file: string;
  cwd?: string;
  env?: Env;
  state?: string;
  all?: boolean;
}

export interface StatusResult {
  campaign: string;
  run?: RunInfo;
  /** running (a process holds the lock), unfinished, finished, interrupted, or never-run */
  state: string;
  totals: Totals;
  recipients: JournalEntry[];
  lockedBy?: number;
}

const NOT_SENT: DeliveryStatus[] = ['pending', 'sending', 'failed', 'deferred', 'unknown', 'skipped'];

export function runStatus(o: StatusOptions): StatusResult {
  const c = loadCampaign(o.file, { env: o.env, cwd: o.cwd, missingEnvIsEmpty: true });
  const stateDir = findStateDir(c.dir, o.state ? path.resolve(o.cwd ?? process.cwd(), o.state) : undefined);
  const dir = campaignStateDir(stateDir, c.name);
  const empty: Totals = { recipients: 0, pending: 0, sending: 0, sent: 0, failed: 0, deferred: 0, unknown: 0, skipped: 0 };
  if (!fs.existsSync(dir) || !journalExists(dir)) return { campaign: c.name, state: 'never-run', totals: empty, recipients: [] };
  const j = openJournal(dir, { readonly: true });
  try {
    const run = j.currentRun();
    const lock = readLock(dir);
    const totals = j.totals();
    const recipients = [...j.entries(o.all ? undefined : NOT_SENT)];
    let state = run ? (run.state === 'running' ? 'unfinished' : run.state) : 'never-run';
    if (lock) state = 'running';
    return { campaign: c.name, run, state, totals, recipients, lockedBy: lock?.pid };
  } finally {
    j.close();
  }
}

