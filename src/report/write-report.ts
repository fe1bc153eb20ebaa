// The run report (design.md, "What a run leaves behind"): one JSON file and the same rows as
// CSV beside it, read from the journal, which is the only record of delivery state.
//
// Both files are streamed from a single pass over the entries (the journal's iterator can be
// consumed once, and a run may have a million recipients), chunk by chunk with backpressure,
// into temporary files that replace the targets only when both are complete (atomic-file.ts).
// JSON puts one message per line, so a large report stays greppable and diffable.
//
// Entries are reported as the journal has them: after an interrupted run `pending` and
// `sending` rows appear with that status. `totals` carries the six keys of the contract.
// Text from outside (SMTP replies) passes through redact(), and the transport through
// withoutCredentials(), so no credential reaches a report even if a caller forgot.

import fs from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { MailcampError } from '../shared/errors.js';
import { WRITE_FAILURES, writableFolder } from '../shared/folders.js';
import { realOr } from '../shared/paths.js';
import { redact, withoutCredentials } from '../shared/secrets.js';
import type { DeliveryStatus, JournalEntry, RunInfo, Totals } from '../state/types.js';
import { AtomicFile } from './atomic-file.js';
import { csvRow } from './csv-escape.js';

export interface ReportOptions {
  jsonPath: string;
  /** Default: jsonPath with `.json` replaced by `.csv`, or with `.csv` appended. */
  csvPath?: string;
  campaign: string;
  run: RunInfo;
  /** Transport URL; credentials are removed before writing. */
  transport: string;
  entries: Iterable<JournalEntry> | AsyncIterable<JournalEntry>;
  totals: Totals;
}

/** One element of the report's `messages`, and one CSV row. */
export interface ReportMessage {
  row: number;
  email: string;
  status: DeliveryStatus;
  message_id: string;
  attempts: number;
  response: string | null;
  /** ISO 8601 time of the entry's last change. */
  at: string | null;
}

export const CSV_COLUMNS = ['row', 'email', 'status', 'message_id', 'attempts', 'response', 'at'] as const;

/** `reports/x.json` → `reports/x.csv`; `reports/x` → `reports/x.csv`. */
export function defaultCsvPath(jsonPath: string): string {
  return /\.json$/i.test(jsonPath) ? jsonPath.replace(/\.json$/i, '.csv') : `${jsonPath}.csv`;
}

/**
 * Where `--report P` puts the two files: `x.json` → x.json + x.csv, `x` → x + x.csv, and
 * `x.csv` (the CSV named) → x.json + x.csv rather than JSON in x.csv and the CSV in x.csv.csv.
 */
export function reportPaths(p: string): { json: string; csv: string } {
  if (/\.csv$/i.test(p)) return { json: p.replace(/\.csv$/i, '.json'), csv: p };
  return { json: p, csv: defaultCsvPath(p) };
}

const REPORT_HEAD = { json: /^\s*\{\s*"campaign"\s*:/, csv: new RegExp(`^${CSV_COLUMNS.join(',')}\r?\n`) };

/**
 * Checked before anything is sent (`--report` or the default folder), since the report is
 * written after the messages went out: a report path that names one of the campaign's own files (`--report list.json` beside
 * list.csv), a folder, or any existing file that is not an earlier mailcamp report would
 * otherwise be destroyed, or fail after delivery. An existing report (or an empty file) may be
 * replaced. `inputs`: absolute paths of the files the campaign reads.
 */
export function checkReportDestination(report: string | undefined, defaultFolder: string, inputs: readonly string[]): void {
  if (!report) {
    writableFolder(defaultFolder, 'reports');
    return;
  }
  const targets = reportPaths(report);
  for (const f of new Set([path.dirname(targets.json), path.dirname(targets.csv)])) writableFolder(f, '--report');
  checkReportTargets(targets, inputs, '--report');
}

function checkReportTargets(targets: { json: string; csv: string }, inputs: readonly string[], what: string): void {
  const real = (p: string) => realOr(path.resolve(p));
  const read = new Set(inputs.map(real));
  for (const kind of ['json', 'csv'] as const) {
    const file = targets[kind];
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue; // a new file: its folder is checked by the caller
    }
    const refuse = (why: string): never => {
      throw new MailcampError('USAGE', `${what}: the ${kind.toUpperCase()} report would replace ${file}, ${why}; choose another path`);
    };
    if (st.isDirectory()) refuse('which is a folder');
    if (!st.isFile()) refuse('which is not a regular file');
    if (read.has(real(file))) refuse('a file this campaign reads');
    let head = '';
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(512);
        head = buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      refuse('which cannot be read');
    }
    if (head.length > 0 && !REPORT_HEAD[kind].test(head)) refuse('which is not a mailcamp report');
  }
}

function iso(ms: number | undefined): string | null {
  return ms !== undefined && Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

export function toReportMessage(e: JournalEntry): ReportMessage {
  return {
    row: e.row,
    email: e.email,
    status: e.status,
    message_id: e.messageId,
    attempts: e.attempts,
    response: e.response === undefined || e.response === null ? null : redact(e.response),
    at: iso(e.updatedAt),
  };
}

/** Writes the JSON and CSV reports atomically; resolves when both are durably in place. */
export async function writeReport(opts: ReportOptions): Promise<void> {
  const csvPath = opts.csvPath ?? defaultCsvPath(opts.jsonPath);
  if (path.resolve(csvPath) === path.resolve(opts.jsonPath)) {
    throw new Error(`report: the CSV path must differ from the JSON path (${opts.jsonPath})`);
  }
  let json: AtomicFile | undefined;
  let csv: AtomicFile | undefined;
  try {
    await mkdir(path.dirname(path.resolve(opts.jsonPath)), { recursive: true });
    await mkdir(path.dirname(path.resolve(csvPath)), { recursive: true });
    json = await AtomicFile.create(opts.jsonPath);
    csv = await AtomicFile.create(csvPath);
    const t = opts.totals;
    const head = {
      campaign: opts.campaign,
      run_id: opts.run.runId,
      started_at: iso(opts.run.startedAt),
      finished_at: iso(opts.run.finishedAt),
      transport: withoutCredentials(opts.transport),
      totals: {
        recipients: t.recipients,
        sent: t.sent,
        failed: t.failed,
        deferred: t.deferred,
        skipped: t.skipped,
        unknown: t.unknown,
      },
    };
    // The head is pretty-printed and left open after `totals` so the messages can follow.
    const headText = JSON.stringify(head, null, 2);
    json.write(headText.slice(0, headText.lastIndexOf('}')).trimEnd() + ',\n  "messages": [');
    csv.write(csvRow(CSV_COLUMNS));

    let first = true;
    /** Writes one row to both; whether they should be flushed now. */
    const put = (entry: JournalEntry): boolean => {
      const m = toReportMessage(entry);
      json!.write((first ? '\n    ' : ',\n    ') + JSON.stringify(m));
      csv!.write(csvRow([m.row, m.email, m.status, m.message_id, m.attempts, m.response, m.at]));
      first = false;
      return json!.full || csv!.full;
    };
    const flush = () => Promise.all([json!.flush(), csv!.flush()]);
    // The journal's entries are a plain iterable: read without a microtask per row.
    if (Symbol.iterator in opts.entries) {
      for (const entry of opts.entries) if (put(entry)) await flush();
    } else {
      for await (const entry of opts.entries) if (put(entry)) await flush();
    }
    json.write(first ? ']\n}\n' : '\n  ]\n}\n');

    await Promise.all([json.finish(), csv.finish()]);
    // CSV first: a reader that finds the new JSON can count on the CSV beside it being new too.
    await csv.rename();
    await json.rename();
  } catch (err) {
    await Promise.all([json?.discard(), csv?.discard()]);
    throw asUserError(err, opts.jsonPath, csvPath, csv?.tempPath);
  }
}

/**
 * writeReport once the messages went out: a report that cannot be written (checked before
 * sending, but the disk can fill up since) is returned as the reason, for the summary and exit
 * 1, instead of thrown, which would make the run exit 2 ("nothing sent").
 */
export async function writeReportAfterDelivery(opts: ReportOptions): Promise<string | undefined> {
  try {
    await writeReport(opts);
    return undefined;
  } catch (e) {
    if (!(e instanceof MailcampError)) throw e;
    return e.toString();
  }
}

/**
 * A file-system failure (folder not writable, disk full, a folder where the file should be) is
 * the user's to fix: it becomes a MailcampError naming the report file it concerns. Anything
 * else, such as a journal error from the entries, is passed on unchanged.
 */
function asUserError(err: unknown, jsonPath: string, csvPath: string, csvTemp?: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.syscall !== 'string' || typeof e.code !== 'string') return err;
  const about = e.path ? path.resolve(e.path) : '';
  const csvOnly = [path.resolve(csvPath), csvTemp && path.resolve(csvTemp)];
  const file = about && csvOnly.includes(about) ? csvPath : jsonPath;
  const reason = REASONS[e.code] ?? e.message;
  return new MailcampError('INPUT', `cannot write the report: ${reason} (${e.code})`, { file });
}

const REASONS: Record<string, string> = {
  ...WRITE_FAILURES,
  EISDIR: 'a folder is in the way',
  // mkdir -p reports a file where a folder should be as EEXIST, open() as ENOTDIR.
  EEXIST: 'a file is in the way of its folder',
  ENOTDIR: 'a file is in the way of its folder',
};
