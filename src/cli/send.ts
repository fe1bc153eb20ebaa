// `mailcamp send <campaign.yaml>`: flags per design.md. Asks before real SMTP on a
// terminal; needs --yes without one. A progress bar on a terminal; a summary at the end,
// and what to do next.

import path from 'node:path';
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { loadCampaign } from '../campaign/load.js';
import type { Campaign } from '../campaign/types.js';
import { type ConfirmInfo, runSend, type SendSummary } from '../pipeline/send.js';
import { resolveOccurrence } from '../schedule/manual.js';
import { latestOccurrenceWithJournal } from '../schedule/occurrence.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { redact } from '../shared/secrets.js';
import { campaignStateDir, findStateDir } from '../state/folder.js';
import { err, type Io, out, plural } from './io.js';
import { positiveInt } from './preview.js';
import { tuneForSending } from './v8-tuning.js';

interface SendFlags {
  dryRun?: boolean;
  out?: string;
  transport?: string;
  limit?: number;
  to?: string;
  report?: string;
  yes?: boolean;
  restart?: boolean;
  resendUnknown?: boolean;
  json?: boolean;
  debugSmtp?: boolean;
  skipInvalid?: boolean;
  state?: string;
  occurrence?: string;
}

export function register(program: Command, io: Io, setExit: (n: number) => void): void {
  program
    .command('send')
    .description('send a campaign (validates everything first; resumes an unfinished run)')
    .argument('<campaign.yaml>', 'the campaign file')
    .option('--dry-run', 'render and write .eml files; connect to nothing; leave the journal untouched')
    .option('--out <dir>', 'where --dry-run and the outbox transport write (default: outbox/<name>/ beside the campaign)')
    .option('--transport <url>', "override the campaign's transport: outbox[:DIR], smtp://, smtps://, smtp+plain://")
    .option('--limit <N>', 'send at most N messages in this invocation (run send again to continue)', (v) => positiveInt(v, '--limit'))
    .option('--to <addr>', 'test send: render the first row(s) (see --limit, default 1) but deliver only to ADDR')
    .option('--report <file>', 'report path (.json; the CSV goes beside it with .csv) (default: reports/<name>/<run>.json)')
    .option('-y, --yes', 'do not ask for confirmation (required for SMTP when stdin is not a terminal)')
    .option('--restart', 'begin a new run of a campaign whose last run finished (sends to everyone again)')
    .option('--resend-unknown', 'also send recipients whose delivery is unknown (connection lost after the message was handed over)')
    .option('--skip-invalid', 'skip rows with invalid addresses (listed in the report) instead of refusing to send')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--debug-smtp', 'print the SMTP dialogue as it happens (AUTH secrets masked)')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the campaign)')
    .option('--occurrence <time>', "send one occurrence of the campaign's schedule: its time (ISO with offset, or a stamp such as 20261116T080000Z), or 'due' for the latest one not yet sent")
    .action(async (file: string, f: SendFlags) => {
      // One begins a new run for everyone, the other resends only the last run's unknown ones.
      if (f.restart && f.resendUnknown) throw new MailcampError('USAGE', '--restart and --resend-unknown contradict each other: --restart sends to everyone again, --resend-unknown only the unknown ones of the last run');
      let occurrence: Date | undefined;
      // A scheduled campaign is sent one occurrence at a time (issue 7: `schedule` and a
      // manual `send` must never both send one): a plain send sends the latest due occurrence,
      // as --occurrence due does. Dry runs and test sends (--to) touch no journal: as they are.
      // --restart and --resend-unknown act on the latest occurrence that ran.
      const scheduled = f.occurrence === undefined && !f.dryRun && f.to === undefined ? scheduledCampaign(file, io) : undefined;
      if (scheduled) {
        const dir = campaignStateDir(findStateDir(scheduled.dir, f.state ? path.resolve(io.cwd, f.state) : undefined), scheduled.name);
        const ran = f.restart || f.resendUnknown ? latestOccurrenceWithJournal(dir) : undefined;
        f.occurrence = ran ?? 'due';
        err(
          io,
          ran
            ? `this campaign has a schedule: ${f.restart ? '--restart' : '--resend-unknown'} applies to its latest occurrence, ${ran}`
            : 'this campaign has a schedule: sending its latest due occurrence (as --occurrence due does; `mailcamp schedule --list` shows them)',
        );
      }
      if (f.occurrence !== undefined) {
        const r = resolveOccurrence({ file, value: f.occurrence, now: Date.now(), cwd: io.cwd, env: io.env, state: f.state, campaign: scheduled, preview: !!f.dryRun || f.to !== undefined });
        if (r.kind === 'nothing') {
          err(io, `nothing to send: ${r.message}`);
          if (f.json) out(io, JSON.stringify({ nothing_to_send: r.message, exit_code: 0 }));
          setExit(0);
          return;
        }
        occurrence = new Date(r.at);
      }
      const tty = !!io.stderr.isTTY && !f.json;
      let lastDraw = 0;
      const summary = await runSend({
        file,
        cwd: io.cwd,
        env: io.env,
        transport: f.transport,
        dryRun: f.dryRun,
        out: f.out,
        limit: f.limit,
        to: f.to,
        report: f.report,
        restart: f.restart,
        resendUnknown: f.resendUnknown,
        skipInvalid: f.skipInvalid,
        state: f.state,
        occurrence,
        debugSmtp: f.debugSmtp,
        yes: f.yes,
        signal: io.signal,
        confirm: io.stdin.isTTY ? (info) => ask(io, info) : undefined,
        // Warnings and resume notes before the question and before a long run, not after it.
        onNotice: (line) => err(io, line),
        onSendingStarts: tuneForSending,
        logger: {
          info: (m) => err(io, m),
          warn: (m) => err(io, `warning: ${m}`),
          debug: (m) => (f.debugSmtp ? err(io, m) : undefined),
        },
        onProgress: (p) => {
          if (p.event && (p.event.outcome === 'failed' || p.event.outcome === 'unknown')) {
            if (tty) io.stderr.write('\r\x1b[K');
            err(io, `line ${p.event.job.row}: ${p.event.job.email}: ${p.event.outcome}: ${p.event.result.response}`);
          }
          if (!tty) return;
          const now = Date.now();
          if (now - lastDraw < 100 && p.done < p.total) return;
          lastDraw = now;
          io.stderr.write('\r\x1b[K' + bar(p.done, p.total));
        },
      });
      if (tty) io.stderr.write('\r\x1b[K');
      report(io, f, summary);
      setExit(summary.exitCode);
    });
}

/** The campaign when it has a schedule: key (a file that does not load is runSend's to report). */
function scheduledCampaign(file: string, io: Io): Campaign | undefined {
  try {
    const c = loadCampaign(file, { env: io.env, cwd: io.cwd, missingEnvIsEmpty: true }, new Diagnostics(0));
    return c.schedule ? c : undefined;
  } catch {
    return undefined;
  }
}

function bar(done: number, total: number): string {
  const width = 30;
  const frac = total ? Math.min(1, done / total) : 1;
  const fill = Math.round(frac * width);
  return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total}`;
}

async function ask(io: Io, info: ConfirmInfo): Promise<boolean> {
  const rl = readline.createInterface({ input: io.stdin, output: io.stderr });
  try {
    if (info.restartAgain) {
      const r = info.restartAgain;
      err(io, `--restart: run ${r.runId} had not finished, and ${r.sent} of its ${r.recipients} recipient(s) were (maybe) reached: they get the message again (\`send\` without --restart resumes instead)`);
    }
    const what = info.resume
      ? `Resume run ${info.resume.runId} of '${info.campaign}' (${info.resume.done} done): send ${plural(info.recipients, 'more message')}`
      : `Send ${plural(info.recipients, 'message')} of '${info.campaign}'`;
    let a: string;
    try {
      a = await rl.question(`${what} through ${info.server}? [y/N] `);
    } catch (e) {
      // Ctrl-C or Ctrl-D at the question (readline's AbortError): a no.
      if ((e as Error).name === 'AbortError') {
        io.stderr.write('\n');
        return false;
      }
      throw e;
    }
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

function report(io: Io, f: SendFlags, s: SendSummary): void {
  for (const w of s.warnings) err(io, w); // as validate prints them: `file:line: warning: …`
  for (const n of s.notes) err(io, n);
  const t = s.totals;
  if (f.json) {
    out(
      io,
      JSON.stringify({
        campaign: s.campaign,
        run_id: s.runId,
        transport: s.transport,
        dry_run: s.dryRun,
        interrupted: s.interrupted,
        error: s.fatal ? redact(s.fatal.toString()) : undefined,
        paused: s.paused,
        totals: { recipients: t.recipients, sent: t.sent, failed: t.failed, deferred: t.deferred, skipped: t.skipped, unknown: t.unknown, pending: t.pending + t.sending },
        // Group messages among `sent` that some members did not get (refused for good).
        ...(s.partlyRefused ? { sent_with_members_refused: s.partlyRefused } : {}),
        report: s.reportError ? null : s.reportPath,
        report_csv: s.reportError ? null : s.csvPath,
        report_error: s.reportError,
        out_dir: s.outDir,
        exit_code: s.exitCode,
      }),
    );
  } else {
    if (s.fatal) err(io, s.fatal.toString());
    if (s.paused) err(io, `paused: ${s.paused}`);
    const verb = s.dryRun ? 'rendered' : s.transport.startsWith('outbox:') ? 'written' : 'sent';
    if (s.testTo) {
      out(io, `${s.campaign}: test send to ${s.testTo}: ${verb} ${t.sent}, failed ${t.failed}, deferred ${t.deferred}, unknown ${t.unknown} of ${plural(t.recipients, 'test message')}`);
    } else {
      out(
        io,
        `${s.campaign}: ${verb} ${t.sent}, failed ${t.failed}, deferred ${t.deferred}, unknown ${t.unknown}, skipped ${t.skipped} of ${plural(t.recipients, 'recipient')}` +
          (t.pending + t.sending ? `, ${t.pending + t.sending} not yet sent` : ''),
      );
    }
    if (s.outDir) out(io, `messages: ${s.outDir}`);
    if (s.reportError) err(io, `report not written: ${s.reportError}`);
    else out(io, `report: ${s.reportPath}`);
  }
  // What to do next.
  if (!f.json) {
    if (s.fatal) err(io, 'next: fix the transport problem above, then run the same command again to resume');
    else if (s.paused) err(io, 'next: find out why so many failed (mailcamp status <campaign>), then run the same command again to resume');
    else if (s.interrupted) err(io, 'interrupted; run the same command again to resume');
    else if (s.reportError) err(io, 'next: the messages went out; mailcamp status <campaign> --all shows every result');
    else if (s.dryRun) err(io, 'next: look at the .eml files, then send without --dry-run');
    else if (s.exitCode === 1) err(io, `next: mailcamp status <campaign> to see who was not reached`);
  }
}
