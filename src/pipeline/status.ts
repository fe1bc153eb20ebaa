// `mailcamp status`: what the journal says (style.md habit 8: the journal is the truth). It
// opens the journal read-only, so it works beside a running `send` (SQLite WAL readers never
// block the writer) and after a crash (the last whole commit is what it shows). Before the
// first run there is no journal: the list says who a send would reach, all pending (the
// suppressed ones skipped, duplicates counted once), and nothing is written.

import fs from 'node:fs';
import path from 'node:path';
import { loadCampaignPartial } from '../campaign/load.js';
import type { Env } from '../campaign/env.js';
import type { Campaign } from '../campaign/types.js';
import { type Diagnostic, Diagnostics } from '../shared/diagnostics.js';
import { latestOccurrenceWithJournal, OCCURRENCES_DIR } from '../schedule/occurrence.js';
import { campaignStateDir, findStateDir } from '../state/folder.js';
import { journalExists, openJournal } from '../state/journal.js';
import { liveLock } from '../state/lock.js';
import { openSuppression, suppressionFile } from '../state/suppression.js';
import type { DeliveryStatus, JournalEntry, RunInfo, Totals } from '../state/types.js';
import { suppressedBy } from './suppression-lookup.js';
import { unitsOf } from './units.js';

export interface StatusOptions {
  file: string;
  cwd?: string;
  env?: Env;
  state?: string;
  /** Which recipients to list, in CSV order. Default: every one not sent. */
  list?: DeliveryStatus[];
  /** At most this many per status (the text view); default all. */
  limitPerStatus?: number;
}

export interface StatusResult {
  campaign: string;
  run?: RunInfo;
  /**
   * running (a live process holds the lock), unfinished (no process: it crashed or stopped at
   * --limit), interrupted (run.reason says why), finished, or never-run
   */
  state: string;
  totals: Totals;
  /** The listed recipients, in CSV order (each status cut at limitPerStatus). */
  recipients: JournalEntry[];
  lockedBy?: number;
  /** A scheduled campaign: the stamp of the occurrence shown. */
  occurrence?: string;
  /** Before the first run: problems in the list (its rows with them are not counted). */
  listErrors?: number;
  /** Group messages sent with members refused for good (their response names them). */
  partial?: JournalEntry[];
  /**
   * Problems of the campaign as it is now (a template or list moved away, a key mistyped since)
   * that did not stop status: it showed the journal, which needs none of them.
   */
  problems?: Diagnostic[];
}

export const NOT_SENT: DeliveryStatus[] = ['pending', 'sending', 'failed', 'deferred', 'unknown', 'skipped'];

export async function runStatus(o: StatusOptions): Promise<StatusResult> {
  // The journal needs only the campaign's name (and schedule, group_by): a template or list
  // that is missing now stops the count of a campaign that never ran, not the journal's.
  const diag = new Diagnostics();
  const c = loadCampaignPartial(o.file, { env: o.env, cwd: o.cwd, missingEnvIsEmpty: true, journalOnly: true }, diag);
  if (!c) {
    diag.throwIfErrors();
    throw new Error('campaign not loaded, yet no problem recorded');
  }
  const stateDir = findStateDir(c.dir, o.state ? path.resolve(o.cwd ?? process.cwd(), o.state) : undefined);
  let dir = campaignStateDir(stateDir, c.name);
  // A scheduled campaign's runs are its occurrences (`.mailcamp/<name>/occurrences/<stamp>/`):
  // status shows the latest one that has a journal (schedule --list shows the others).
  let occurrence: string | undefined;
  if (c.schedule) {
    const latest = latestOccurrenceWithJournal(dir);
    if (latest) {
      occurrence = latest;
      dir = path.join(dir, OCCURRENCES_DIR, latest);
    }
  }
  const neverRun = async (): Promise<StatusResult> => {
    diag.throwIfErrors();
    return { campaign: c.name, state: 'never-run', ...(await fromList(c, stateDir, o)) };
  };
  if (!fs.existsSync(dir) || !journalExists(dir)) return neverRun();
  const j = openJournal(dir, { readonly: true });
  try {
    const run = j.currentRun();
    // A journal without a run: a send that stopped before its run began (refused connection).
    if (!run && !liveLock(dir)) return neverRun();
    const lock = liveLock(dir);
    const totals = j.totals();
    const list = o.list ?? NOT_SENT;
    let recipients: JournalEntry[];
    if (o.limitPerStatus === undefined) recipients = [...j.entries(list)];
    else {
      recipients = [];
      for (const s of list) {
        let n = 0;
        for (const e of j.entries([s])) {
          if (n++ >= o.limitPerStatus) break;
          recipients.push(e);
        }
      }
      recipients.sort((a, b) => a.row - b.row || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    let state = run ? (run.state === 'running' ? 'unfinished' : run.state) : 'never-run';
    if (lock) state = 'running';
    // A group message that went out with members refused for good was not sent to everyone.
    const partial = c.groupBy ? j.partlyRefused() : [];
    if (partial.length && !list.includes('sent')) {
      recipients.push(...partial);
      recipients.sort((a, b) => a.row - b.row || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    const problems = diag.ok ? undefined : diag.errors;
    return { campaign: c.name, run, state, totals, recipients, lockedBy: lock?.pid, occurrence, partial, problems };
  } finally {
    j.close();
  }
}

/** No run yet: every recipient of the list is pending, or skipped (suppressed, invalid), as a run would register them. */
async function fromList(c: Campaign, stateDir: string, o: StatusOptions): Promise<{ totals: Totals; recipients: JournalEntry[]; listErrors: number }> {
  const totals: Totals = { recipients: 0, pending: 0, sending: 0, sent: 0, failed: 0, deferred: 0, unknown: 0, skipped: 0 };
  const list = o.list ?? NOT_SENT;
  const recipients: JournalEntry[] = [];
  const add = (e: { key: string; row: number; email: string }, status: 'pending' | 'skipped', response?: string) => {
    totals.recipients++;
    totals[status]++;
    if (list.includes(status) && (o.limitPerStatus === undefined || totals[status] <= o.limitPerStatus)) {
      recipients.push({ ...e, status, attempts: 0, response, messageId: '', updatedAt: 0 });
    }
  };
  let listErrors = 0;
  const suppression = fs.existsSync(suppressionFile(stateDir)) ? openSuppression(stateDir) : undefined;
  try {
    // Problems in the list are validate's and send's to report; status shows the rows it can read.
    const diag = new Diagnostics(0);
    const isSuppressed = await suppressedBy(c, suppression, diag);
    // As a run registers them (resume.ts): one journal entry per key, so a duplicate row is not
    // one more recipient. Without group_by its address is already an entry (pending or
    // skipped); with group_by the first skipped row of an address is its entry.
    const skippedKeys = new Set<string>();
    const onSkip = (row: number, email: string, reason: string) => {
      const key = email.trim().toLowerCase();
      if (skippedKeys.has(key) || (!c.groupBy && reason.startsWith('duplicate'))) return;
      if (c.groupBy) skippedKeys.add(key);
      add({ key, row, email }, 'skipped', reason);
    };
    for await (const u of unitsOf(c, diag, { isSuppressed, onSkip })) add(u, 'pending');
    listErrors = diag.errorCount;
  } finally {
    suppression?.close();
  }
  recipients.sort((a, b) => a.row - b.row || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { totals, recipients, listErrors };
}
