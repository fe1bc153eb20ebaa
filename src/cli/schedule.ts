// `mailcamp schedule <campaign.yaml|folder>...`: the foreground scheduler (src/schedule/runner.ts
// wired to the pipeline's runSend), and `--list`, which prints each campaign's next
// occurrences and the state of the last one. All the wording of the scheduler lives here.
//
// Consent: `schedule` sends unattended, so it never asks. A campaign that would reach an SMTP
// server needs `--yes` on the command line, as `send` does without a terminal; campaigns that
// write to the outbox do not. Without it the scheduler refuses to start (exit 2), and a
// campaign edited to use SMTP later is not scheduled (an error is logged).
//
// Exit codes: 0 stopped by SIGTERM/SIGINT with nothing cut short; 130 when a send in progress
// was interrupted (its journal is consistent; it resumes on the next start); 2 usage or
// nothing loadable at start.

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { displayPath, loadCampaign } from '../campaign/load.js';
import type { Campaign } from '../campaign/types.js';
import { runSend, type SendSummary } from '../pipeline/send.js';
import { listSchedules } from '../schedule/list.js';
import { occurrenceDirOf, occurrenceStamp, readOccurrenceState, type OccurrenceState } from '../schedule/occurrence.js';
import { type ScheduleEvent, ScheduleRunner } from '../schedule/runner.js';
import { localHuman, localIso, type Timetable } from '../schedule/timetable.js';
import { parseTransportUrl } from '../send/transport-url.js';
import { systemClock } from '../shared/clock.js';
import { formatDiagnostic, ValidationError } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { redact, redactUrl } from '../shared/secrets.js';
import { err, type Io, out, plural } from './io.js';
import { positiveInt } from './preview.js';
import { tuneForSending } from './v8-tuning.js';

interface ScheduleFlags {
  list?: boolean;
  count?: number;
  json?: boolean;
  yes?: boolean;
  state?: string;
}

/** How often campaign files are checked for changes, and a busy occurrence looked at again. */
const WATCH_MS = 2000;
const BUSY_RETRY_MS = 1000;

export function register(program: Command, io: Io, setExit: (n: number) => void): void {
  program
    .command('schedule')
    .description('run in the foreground and send each campaign when its schedule: is due (once per occurrence)')
    .argument('<campaign...>', 'campaign files, or folders whose *.yaml files have a schedule:')
    .option('--list', 'print the next occurrences of each campaign and the state of the last one, then exit')
    .option('--count <N>', 'with --list: how many next occurrences to show (default 3)', (v) => positiveInt(v, '--count'))
    .option('--json', 'with --list: print JSON on stdout')
    .option('-y, --yes', 'consent to sending through SMTP without asking (required for campaigns with an smtp transport)')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above each campaign)')
    .addHelpText(
      'after',
      `
Each occurrence is its own run: journal in .mailcamp/<name>/occurrences/<stamp>/, report in
reports/<name>/<stamp>.json. Two schedulers, or a scheduler and 'send --occurrence', never send
the same occurrence twice. SIGTERM/SIGINT: messages in flight finish, then it stops.`,
    )
    .action(async (args: string[], f: ScheduleFlags) => {
      const paths = args.map((a) => path.resolve(io.cwd, a));
      const stateOverride = f.state ? path.resolve(io.cwd, f.state) : undefined;
      if (f.list) return list(io, paths, f, stateOverride, setExit);
      if (f.count !== undefined || f.json) throw new MailcampError('USAGE', `${f.count !== undefined ? '--count' : '--json'} goes with --list`);
      setExit(await serve(io, paths, f, stateOverride));
    });
}

function list(io: Io, paths: string[], f: ScheduleFlags, stateOverride: string | undefined, setExit: (n: number) => void): void {
  const now = Date.now();
  const rows = listSchedules({
    paths,
    now,
    count: f.count ?? 3,
    load: (file) => loadCampaign(file, { env: io.env, cwd: io.cwd, missingEnvIsEmpty: true }),
    dirOf: (c, at) => occurrenceDirOf(c, at, stateOverride),
  });
  if (rows.length === 0) {
    // Folders with nothing scheduled yet list nothing (`schedule` would watch them); campaign
    // files named one by one must have a schedule: key.
    if (!paths.every((p) => fs.statSync(p).isDirectory())) throw new MailcampError('USAGE', `no scheduled campaigns in ${paths.map((p) => displayPath(p, io.cwd)).join(', ')}`);
    out(io, f.json ? '[]' : `no scheduled campaigns in ${paths.map((p) => displayPath(p, io.cwd)).join(', ')} yet`);
    return;
  }
  let failed = false;
  if (f.json) {
    const json = rows.map((r) => {
      if (!r.ok) {
        failed = true;
        return { file: displayPath(r.file, io.cwd), error: errorLines(r.error).join('\n') };
      }
      const tz = r.timetable.timezone;
      const s = r.campaign.schedule!;
      return {
        campaign: r.campaign.name,
        file: r.campaign.displayFile,
        schedule: {
          [r.timetable.kind]: r.timetable.kind === 'cron' ? r.timetable.expression : s.at,
          timezone: tz,
          timezone_from_machine: r.timetable.zoneFromMachine,
          missed: s.missed,
          catch_up: duration(s.catchUpMs),
        },
        next: r.next.map((t) => localIso(t, tz)),
        last: r.last ? { at: localIso(r.last.at, tz), occurrence: occurrenceStamp(r.last.at), state: r.last.state, totals: r.last.totals ?? null, pid: r.last.lockedBy ?? null } : null,
      };
    });
    out(io, JSON.stringify(json, null, 2));
  } else {
    for (const r of rows) {
      if (!r.ok) {
        failed = true;
        for (const l of errorLines(r.error)) err(io, l);
        continue;
      }
      const tz = r.timetable.timezone;
      out(io, `${r.campaign.name}  ${r.campaign.displayFile}`);
      out(io, `  schedule  ${describe(r.timetable, r.campaign)}`);
      out(io, `  next      ${r.next.length ? r.next.map((t) => localHuman(t, tz)).join(', ') : 'none (every at: time has passed)'}`);
      out(io, `  last      ${r.last ? `${localHuman(r.last.at, tz)}: ${stateText(r.last, r.campaign, io)}` : 'none yet'}`);
    }
  }
  setExit(failed ? 2 : 0);
}

async function serve(io: Io, paths: string[], f: ScheduleFlags, stateOverride: string | undefined): Promise<number> {
  const log = (line: string) => err(io, `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} ${line}`);
  const needsYes = new Set<string>();
  const load = (file: string): Campaign => {
    const c = loadCampaign(file, { env: io.env, cwd: io.cwd });
    const transport = c.transport ?? 'outbox';
    if (!f.yes && parseTransportUrl(transport, c.dir).kind === 'smtp') {
      needsYes.add(file);
      throw new MailcampError(
        'USAGE',
        `'${c.name}' sends through ${redactUrl(transport)}; start schedule with --yes to let it send unattended`,
        { file: c.displayFile },
      );
    }
    needsYes.delete(file);
    return c;
  };
  let interrupted = false;
  const busySeen = new Set<string>();
  const runner = new ScheduleRunner<SendSummary>({
    paths,
    clock: systemClock,
    signal: io.signal,
    load,
    stateOf: (c, at) => readOccurrenceState(occurrenceDirOf(c, at, stateOverride), at),
    send: (req) =>
      runSend({
        file: req.file,
        cwd: io.cwd,
        env: io.env,
        state: f.state,
        occurrence: new Date(req.at),
        yes: f.yes,
        signal: req.signal,
        lockedAs: `schedule (pid ${process.pid}) sending ${displayPath(req.file, io.cwd)} --occurrence ${new Date(req.at).toISOString()}`,
        logger: { info: (m) => log(`${req.campaign.name}: ${m}`), warn: (m) => log(`${req.campaign.name}: warning: ${m}`), debug: () => {} },
        // Warnings and the notes of a resume (a lock taken over) when they come, stamped then.
        onNotice: (line) => log(`${req.campaign.name}: ${line}`),
        onSendingStarts: tuneForSending,
        onProgress: (p) => {
          if (p.event && (p.event.outcome === 'failed' || p.event.outcome === 'unknown')) {
            log(`${req.campaign.name}: line ${p.event.job.row}: ${p.event.job.email}: ${p.event.outcome}: ${p.event.result.response}`);
          }
        },
      }),
    onEvent: (e) => {
      if (e.type === 'interrupted') interrupted = true;
      // Another process sending the occurrence is looked at every second: say so once.
      if (e.type === 'busy' || (e.type === 'due' && e.reason === 'retry')) {
        const key = `${e.campaign.name}@${e.at}`;
        if (busySeen.has(key)) return;
        if (e.type === 'busy') busySeen.add(key);
      }
      for (const line of eventLines(e, io)) log(line);
    },
    watchMs: WATCH_MS,
    busyRetryMs: BUSY_RETRY_MS,
  });
  const watched = runner.start();
  // A folder is watched even while it has no scheduled campaign yet (a new file in it is added).
  const folders = paths.filter((p) => fs.statSync(p).isDirectory());
  if (watched.length === 0 && !folders.length) throw new MailcampError('USAGE', `no scheduled campaigns in ${paths.map((p) => displayPath(p, io.cwd)).join(', ')}`);
  if (needsYes.size) throw new MailcampError('USAGE', `not started: ${plural(needsYes.size, 'campaign')} would send through SMTP; pass --yes`);
  if (watched.length && !watched.some((w) => w.campaign)) throw new MailcampError('INPUT', 'not started: no campaign could be loaded (errors above)');
  if (watched.length === 0) log(`no scheduled campaigns in ${folders.map((p) => displayPath(p, io.cwd)).join(', ')} yet; watching for new ones`);
  log(`scheduler running (pid ${process.pid}); SIGTERM or Ctrl-C stops it`);
  await runner.run();
  log(interrupted ? 'stopped; the interrupted occurrence resumes on the next start' : 'stopped');
  return interrupted ? 130 : 0;
}

/** The lines `validate` prints for a scheduled campaign. */
export function scheduleLines(s: { kind: 'cron' | 'at'; expression: string; timezone: string; zoneFromMachine: boolean; next: number[] }): string[] {
  const what = s.kind === 'cron' ? `cron '${s.expression}'` : `at ${s.expression}`;
  return [
    `schedule: ${what}, ${zoneText(s.timezone, s.zoneFromMachine)}`,
    `next runs: ${s.next.length ? s.next.map((t) => localHuman(t, s.timezone)).join(', ') : 'none (every at: time has passed)'}`,
  ];
}

function zoneText(tz: string, fromMachine: boolean): string {
  return fromMachine ? `time zone ${tz} (the machine's; set schedule.timezone to fix one)` : `time zone ${tz}`;
}

function describe(tt: Timetable, c: Campaign): string {
  const s = c.schedule!;
  const what = tt.kind === 'cron' ? `cron '${tt.expression}'` : `at ${tt.expression}`;
  return `${what}, ${zoneText(tt.timezone, tt.zoneFromMachine)}; missed: ${s.missed}, catch_up ${duration(s.catchUpMs)}`;
}

function stateText(st: OccurrenceState, c: Campaign, io: Io): string {
  const t = st.totals;
  const left = t ? t.pending + t.sending + t.deferred : 0;
  const counts = t ? `sent ${t.sent}, failed ${t.failed}, unknown ${t.unknown}${left ? `, not yet sent ${left}` : ''} of ${t.recipients}` : '';
  // Named by the run: the stamp, or the stamp and a suffix after a `send --restart` of it.
  const report = displayPath(path.join(c.dir, 'reports', c.name, `${st.run?.runId ?? occurrenceStamp(st.at)}.json`), io.cwd);
  switch (st.state) {
    case 'never-run':
      return 'not sent';
    case 'running':
      return `being sent by process ${st.lockedBy}${counts ? `: ${counts}` : ''}`;
    case 'finished':
      return `finished: ${counts}; report ${report}`;
    default:
      return `${st.state}: ${counts}; it resumes when due, or by hand: mailcamp send ${c.displayFile} --occurrence ${occurrenceStamp(st.at)}`;
  }
}

function eventLines(e: ScheduleEvent<SendSummary>, io: Io): string[] {
  if (e.type === 'load-failed') {
    const lines = errorLines(e.error);
    if (e.reloaded) lines.push(`${displayPath(e.file, io.cwd)}: not scheduled until the file is fixed`);
    return lines;
  }
  if (e.type === 'unwatched') return [`${e.name ?? displayPath(e.file, io.cwd)}: ${displayPath(e.file, io.cwd)} is gone; no longer scheduled`];
  const name = e.campaign.name;
  const tz = e.timetable.timezone;
  const when = (t: number) => `${localHuman(t, tz)} (${tz})`;
  switch (e.type) {
    case 'watching':
      return [`${name}: ${e.reloaded ? 'reloaded' : 'watching'} ${e.campaign.displayFile}: ${describe(e.timetable, e.campaign)}`];
    case 'next':
      if (e.next === undefined) return [`${name}: no further occurrences`];
      return [`${name}: next occurrence ${when(e.next)}, in ${duration(Math.max(0, e.next - Date.now()))}`];
    case 'due': {
      const why = {
        'on-time': 'due',
        'catch-up': 'missed while not running; catching up once (missed: latest)',
        resume: 'started earlier but not finished; resuming',
        retry: 'trying again',
      }[e.reason];
      const passed = e.passedOver ? `; ${plural(e.passedOver, 'earlier occurrence')} passed while busy, not sent` : '';
      return [`${name}: occurrence ${when(e.at)}: ${why}${passed}; sending`];
    }
    case 'skipped': {
      const why = {
        'missed-skip': 'missed while not running; skipped (missed: skip)',
        'too-old': `more than catch_up (${duration(e.campaign.schedule!.catchUpMs)}) ago; skipped`,
        'too-old-unfinished':
          `started but not finished, and more than catch_up ago; finish it by hand: mailcamp send ${e.campaign.displayFile} --occurrence ${occurrenceStamp(e.at)}`,
      }[e.reason];
      return [`${name}: occurrence ${when(e.at)}: ${why}`];
    }
    case 'done':
      return [`${name}: occurrence ${when(e.at)}: already ${stateText(e.state, e.campaign, io)}`];
    case 'busy':
      return [`${name}: occurrence ${when(e.at)}: being sent by process ${e.pid ?? '?'}; waiting for it`];
    case 'sent': {
      const s = e.result;
      const t = s.totals;
      return [
        ...s.warnings.map((w) => `${name}: ${w}`),
        ...s.notes.map((n) => `${name}: ${n}`),
        `${name}: occurrence ${when(e.at)}: sent ${t.sent}, failed ${t.failed}, deferred ${t.deferred}, unknown ${t.unknown}, skipped ${t.skipped} of ${plural(t.recipients, 'recipient')}; report ${displayPath(s.reportPath, io.cwd)}`,
      ];
    }
    case 'interrupted':
      return [`${name}: occurrence ${when(e.at)}: interrupted; it resumes on the next start (within catch_up), or: mailcamp send ${e.campaign.displayFile} --occurrence ${occurrenceStamp(e.at)}`];
    case 'failed': {
      const lines = e.error !== undefined ? errorLines(e.error).map((l) => `${name}: ${l}`) : [];
      if (e.result) {
        const t = e.result.totals;
        lines.push(`${name}: sent ${t.sent}, failed ${t.failed}, deferred ${t.deferred}, unknown ${t.unknown}, not yet sent ${t.pending + t.sending} of ${t.recipients}`);
        if (e.result.fatal) lines.push(`${name}: ${e.result.fatal.toString()}`);
      }
      const then = e.retryAt !== undefined ? `trying again at ${when(e.retryAt)}` : 'giving up: it is older than catch_up';
      lines.push(`${name}: occurrence ${when(e.at)}: not finished; ${then}`);
      return lines;
    }
  }
}

function errorLines(e: unknown): string[] {
  if (e instanceof ValidationError) {
    const d = e.diagnostics;
    const lines = d.errors.map(formatDiagnostic);
    if (d.errorCount > d.errors.length) lines.push(`… and ${d.errorCount - d.errors.length} more errors`);
    return lines;
  }
  if (e instanceof MailcampError) return [e.toString(), ...(e.hint ? [`hint: ${e.hint}`] : [])];
  return ['internal error: this is a bug in mailcamp; please report it', redact((e as Error)?.stack ?? String(e))];
}

function duration(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))}s`;
  const d = Math.floor(m / 1440);
  const h = Math.floor((m % 1440) / 60);
  const min = m % 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', min ? `${min}m` : ''].filter(Boolean).join(' ') || '0m';
}
