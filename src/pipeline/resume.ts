// The run's life in the journal, apart from sending itself (design.md "What a run leaves
// behind"): refuse a finished run unless told otherwise, start a new run or resume the
// unfinished one, register every recipient before the first message goes out, and say why a
// run stopped. send.ts calls these in that order.
//
// Resume rules: `sent`, `failed` and `skipped` are never sent again; `deferred` go out when due;
// `sending` left by a dead process become `unknown` when their content had started going out
// (it may have reached the server, RFC 5321 §6.1, RFC 1047) and, like every `unknown`, are
// sent again only with --resend-unknown; those that had only their envelope out go back to
// `pending` (journal.ts, settleStaleSending); rows added to the CSV since are registered
// `pending` and sent; recipients the list no longer yields (row removed, suppressed since) are
// `skipped` once the rest is done (settleVanished).

import fs from 'node:fs';
import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import { messageIdFor } from '../compose/headers.js';
import { Diagnostics, formatDiagnostic } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { leavesFolder, realOr } from '../shared/paths.js';
import { journalExists, openJournal, type SqliteJournal, type StaleVerdict } from '../state/journal.js';
import type { JournalEntry, RunInfo } from '../state/types.js';
import { unitsOf } from './units.js';

export interface RunChoice {
  restart?: boolean;
  resendUnknown?: boolean;
}

/** The campaign file's real path: what a run records as its own (symlinks resolved). */
export function campaignFileOf(c: Campaign): string {
  return realOr(c.file);
}

/**
 * A journal is named by the campaign's `name:` (by default its file name), so two campaign files
 * of the same name under one state folder would share it: one would resume the other's run and
 * mark its recipients skipped as "no longer in the list". A run records its campaign file; a
 * send of another file that still exists is refused. (A file moved or renamed has no old path
 * left: that is the same campaign.)
 */
export function refuseOtherCampaign(current: RunInfo | undefined, c: Campaign, stateDir: string): void {
  const theirs = current?.campaignFile;
  if (!theirs || theirs === campaignFileOf(c) || !fs.existsSync(theirs)) return;
  // The same place in another project: a copy of the project, state folder and all. Renaming
  // this one would start a new journal and mail those the other copy reached again.
  const inProject = path.relative(path.dirname(stateDir), campaignFileOf(c));
  if (!leavesFolder(inProject) && theirs.endsWith(path.sep + inProject)) {
    throw new MailcampError(
      'STATE',
      `campaign '${c.name}': this state folder holds a run of ${theirs}, another copy of this campaign (a copied project?); ` +
        `send from there to resume it, or pass --state with a folder of this copy's own to start over (that sends to everyone again)`,
      { file: c.displayFile },
    );
  }
  throw new MailcampError(
    'STATE',
    `campaign name '${c.name}' is taken: its journal holds a run of ${theirs}; give one of the two files its own \`name:\``,
    { file: c.displayFile },
  );
}

/**
 * A campaign whose `name:` was changed while a run of it was unfinished would start a new,
 * empty journal under the new name and mail everyone again. Looked for only when this name has
 * no journal yet: another journal in the state folder whose unfinished run is of this file.
 */
export function refuseRenamedMidRun(stateDir: string, c: Campaign, o: RunChoice): void {
  if (o.restart) return;
  const mine = campaignFileOf(c);
  let names: string[];
  try {
    names = fs.readdirSync(stateDir, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== c.name).map((d) => d.name);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(stateDir, name);
    if (!journalExists(dir)) continue;
    let run: RunInfo | undefined;
    try {
      const j = openJournal(dir, { readonly: true });
      try {
        run = j.currentRun();
      } finally {
        j.close();
      }
    } catch {
      continue; // not readable: not ours to judge
    }
    if (run?.campaignFile === mine && run.state !== 'finished') {
      throw new MailcampError(
        'STATE',
        `this campaign file has an unfinished run under its earlier name '${name}' (run ${run.runId}): put back \`name: ${name}\` ` +
          `to resume it, or pass --restart to begin a new run as '${c.name}' (everyone is sent to again)`,
        { file: c.displayFile },
      );
    }
  }
}

/** Throws when the campaign's last run finished and nothing asks to send again. */
export function refuseFinishedRun(journal: SqliteJournal, name: string, o: RunChoice): RunInfo | undefined {
  const run = journal.currentRun();
  if (!run || run.state !== 'finished' || o.restart) return run;
  const t = journal.totals();
  if (o.resendUnknown && t.unknown > 0) return run;
  const when = run.finishedAt ? `${iso(run.startedAt)} to ${iso(run.finishedAt)}` : iso(run.startedAt);
  const unknown = t.unknown ? `, or --resend-unknown to send only the ${t.unknown} unknown one(s) again` : '';
  throw new MailcampError(
    'STATE',
    `campaign '${name}' already ran (run ${run.runId}, ${when}: sent ${t.sent}, failed ${t.failed}, ` +
      `unknown ${t.unknown}, skipped ${t.skipped} of ${t.recipients}); nothing sent: pass --restart to send it to everyone again${unknown}`,
  );
}

/** Starts a run (none yet, or --restart) or resumes the current one; notes say what happened. */
export function beginRun(
  journal: SqliteJournal,
  current: RunInfo | undefined,
  o: RunChoice & { newRunId: () => string; transport: string; campaignFile?: string; staleVerdict?: (e: JournalEntry) => StaleVerdict | undefined },
): { run: RunInfo; notes: string[]; abandoned?: string } {
  if (!current || o.restart) {
    // --restart of a run that never finished: say what is left behind, since its recipients
    // already reached get the message again (a plain `send` would have resumed it).
    let abandoned: string | undefined;
    if (current && current.state !== 'finished') {
      const t = journal.totals();
      if (t.sent + t.unknown + t.sending > 0) {
        abandoned =
          `--restart: run ${current.runId} (started ${iso(current.startedAt)}) had not finished; ${t.sent} of its ${t.recipients} recipient(s) ` +
          `were sent${t.unknown + t.sending ? ` and ${t.unknown + t.sending} maybe` : ''}, and get the message again in this new run (\`send\` without --restart resumes instead)`;
      }
    }
    return { run: journal.startRun(o.newRunId(), o.transport, o.campaignFile), notes: [], abandoned };
  }
  const notes: string[] = [];
  const stale = journal.settleStaleSending(o.staleVerdict); // in doubt: at most `concurrency` per crash
  const run = journal.resumeRun();
  notes.push(`resuming run ${run.runId} (started ${iso(run.startedAt)}${current.reason ? `; ${current.reason}` : ''})`);
  if (stale.unknown.length) {
    const n = stale.unknown.length;
    notes.push(`${n} recipient(s) were being sent when the last run stopped; delivery unknown, not sent again: ${listEntries(stale.unknown)}`);
  }
  if (stale.found.length) {
    const n = stale.found.length;
    notes.push(`${n} recipient(s) were being written when the last run stopped; their files are complete, recorded as sent: ${listEntries(stale.found)}`);
  }
  if (stale.requeued.length) {
    const n = stale.requeued.length;
    notes.push(`${n} recipient(s) were being sent (or next in line) when the last run stopped, but their content had not gone out; sending them now: ${listEntries(stale.requeued)}`);
  }
  return { run, notes };
}

/**
 * Adds every recipient not in the journal yet as `pending` (skipped rows as `skipped`), so
 * `status` counts the ones not reached; on a resume, these are the rows added since. The
 * Message-ID is the one buildMessage() gives the message: stable per run and recipient.
 */
export async function registerRecipients(
  journal: SqliteJournal,
  c: Campaign,
  runId: string,
  o: { isSuppressed: (key: string) => string | undefined; skipInvalid?: boolean; signal: AbortSignal; tokenKey: Buffer },
  listed?: ListedRow[],
): Promise<void> {
  const domain = c.from.address.split('@')[1];
  const add = (r: ListedRow) =>
    r.skipped === undefined
      ? journal.register({ key: r.key, row: r.row, email: r.email, messageId: messageIdFor(o.tokenKey, c.name, runId, r.key, domain) })
      : journal.register({ key: r.key, row: r.row, email: r.email, messageId: '' }, r.skipped);
  if (listed) {
    for (const r of listed) add(r);
    return;
  }
  for await (const u of unitsOf(c, new Diagnostics(0), { isSuppressed: o.isSuppressed, skipInvalid: o.skipInvalid, onSkip: listedSkip(add) })) {
    if (o.signal.aborted) break;
    add(u);
  }
}

/** A row of the list as registration needs it: a unit, or a row skipped (with why). */
export interface ListedRow {
  key: string;
  row: number;
  email: string;
  skipped?: string;
}

/** unitsOf's onSkip, as a ListedRow. */
export function listedSkip(into: (r: ListedRow) => void): (row: number, email: string, reason: string) => void {
  return (row, email, reason) => into({ key: email.trim().toLowerCase(), row, email, skipped: reason });
}

/**
 * After a full walk of the list with every message settled, an entry still pending or deferred
 * is one the list no longer yields. It becomes `skipped`, with why, when a second whole read of
 * the list, without errors, does not yield it either (a file being saved or replaced during the
 * walk must not look like rows removed); a list that cannot be read leaves everything as it is.
 */
export async function settleVanished(
  journal: SqliteJournal,
  c: Campaign,
  isSuppressed: (key: string) => string | undefined,
  walk: Diagnostics,
  skipInvalid: boolean | undefined,
): Promise<{ skipped: JournalEntry[]; unreadable?: string; stillListed: number }> {
  const left = [...journal.entries(['pending', 'deferred'])];
  if (!left.length) return { skipped: [], stillListed: 0 };
  if (walk.errorCount) return { skipped: [], unreadable: formatDiagnostic(walk.errors[0]), stillListed: left.length };
  const keys = new Set(left.map((e) => e.key));
  const still = new Set<string>();
  const why = new Map<string, string>();
  const diag = new Diagnostics(1);
  const onSkip = (_row: number, email: string, reason: string) => {
    const key = email.trim().toLowerCase();
    if (keys.has(key)) why.set(key, reason);
  };
  for await (const u of unitsOf(c, diag, { isSuppressed, skipInvalid, onSkip })) if (keys.has(u.key)) still.add(u.key);
  if (diag.errorCount) return { skipped: [], unreadable: formatDiagnostic(diag.errors[0]), stillListed: left.length };
  const csv = c.recipients.displayFile;
  const gone = left.filter((e) => !still.has(e.key));
  if (gone.length) {
    await journal.markResults(
      gone.map((e) => ({
        key: e.key,
        status: 'skipped' as const,
        response: why.get(e.key) ?? (e.key.startsWith('group:') ? `no group '${e.key.slice(6)}' in ${csv} any more (its rows removed or skipped)` : `no longer in ${csv}`),
      })),
    );
  }
  return { skipped: gone, stillListed: still.size };
}

/**
 * Rows of the list as it is now that have no journal entry: added (or an address corrected in
 * place) after the run registered its recipients. Their count, and the first ten.
 */
export async function rowsAddedSince(
  journal: SqliteJournal,
  c: Campaign,
  isSuppressed: (key: string) => string | undefined,
  skipInvalid: boolean | undefined,
): Promise<{ count: number; shown: JournalEntry[] }> {
  const shown: JournalEntry[] = [];
  let count = 0;
  for await (const u of unitsOf(c, new Diagnostics(0), { isSuppressed, skipInvalid })) {
    if (journal.get(u.key)) continue;
    if (count++ < 10) shown.push({ key: u.key, row: u.row, email: u.email, status: 'pending', attempts: 0, messageId: '', updatedAt: 0 });
  }
  return { count, shown };
}

/** Why the run stopped early, as the journal keeps it and `status` shows it; undefined when it did not. */
export function stopReason(s: { fatal?: MailcampError; paused?: string; signal: AbortSignal }): string | undefined {
  if (s.fatal) return `stopped: ${s.fatal.toString()}`;
  if (s.paused) return `paused: ${s.paused}`;
  if (!s.signal.aborted) return undefined;
  const r = s.signal.reason;
  if (r instanceof Error && r.message === 'output closed') return 'interrupted: its output was closed (a pipe reader went away)';
  return `interrupted${r instanceof Error && /^SIG/.test(r.message) ? ` by ${r.message}` : ''}`;
}

/** `line 4 a@example.com, line 9 b@example.com, … and 3 more` (ten at most). */
export function listEntries(entries: JournalEntry[], total = entries.length): string {
  const shown = entries.slice(0, 10).map((e) => `line ${e.row} ${e.email}`);
  return shown.join(', ') + (total > shown.length ? `, … and ${total - shown.length} more (mailcamp status lists them)` : '');
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

