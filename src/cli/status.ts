// `mailcamp status <campaign.yaml> [--json] [--all]`: the journal's counts per state, then the
// recipients that need attention (unknown, deferred, failed; in flight while a send runs), and
// what to do next. `--json` prints design.md's {campaign, run_id, state, totals, recipients}.

import type { Command } from 'commander';
import { NOT_SENT, runStatus } from '../pipeline/status.js';
import type { DeliveryStatus, JournalEntry } from '../state/types.js';
import { formatDiagnostic } from '../shared/diagnostics.js';
import { err, type Io, out, plural } from './io.js';

/** Listed in the text view, at most SHOWN of each unless --all. */
const ATTENTION: DeliveryStatus[] = ['sending', 'unknown', 'deferred', 'failed'];
const SHOWN = 20;
const ALL: DeliveryStatus[] = ['pending', 'sending', 'sent', 'failed', 'deferred', 'unknown', 'skipped'];

const HEADINGS: Record<DeliveryStatus, string> = {
  sending: 'being sent',
  unknown: 'unknown: the connection was lost after the message was handed over; it may have arrived',
  deferred: 'deferred: the server said try later; retried when due',
  failed: 'failed: refused for good, not retried',
  pending: 'pending',
  skipped: 'skipped',
  sent: 'sent',
};

export function register(program: Command, io: Io): void {
  program
    .command('status')
    .description('what the journal says: sent, failed, deferred, unknown, pending')
    .argument('<campaign.yaml>', 'the campaign file')
    .option('--json', 'print {campaign, run_id, state, totals, recipients} on stdout')
    .option('--all', 'list every recipient (sent ones too)')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the campaign)')
    .action(async (file: string, f: { json?: boolean; all?: boolean; state?: string }) => {
      const s = await runStatus({
        file,
        cwd: io.cwd,
        env: io.env,
        state: f.state,
        list: f.all ? ALL : f.json ? NOT_SENT : ATTENTION,
        limitPerStatus: f.json || f.all ? undefined : SHOWN,
      });
      const t = s.totals;
      // What is wrong with the campaign now did not stop status, but a send would stop on it.
      for (const d of s.problems ?? []) err(io, `${formatDiagnostic({ ...d, severity: 'warning' })} (status shows the journal; send would refuse)`);
      if (f.json) {
        out(
          io,
          JSON.stringify({
            campaign: s.campaign,
            run_id: s.run?.runId ?? null,
            state: s.state,
            started_at: s.run ? new Date(s.run.startedAt).toISOString() : null,
            finished_at: s.run?.finishedAt ? new Date(s.run.finishedAt).toISOString() : null,
            reason: s.run?.reason ?? null,
            ...(s.occurrence ? { occurrence: s.occurrence } : {}),
            ...(s.listErrors ? { list_errors: s.listErrors } : {}),
            totals: { recipients: t.recipients, sent: t.sent, failed: t.failed, deferred: t.deferred, skipped: t.skipped, unknown: t.unknown, pending: t.pending, sending: t.sending },
            recipients: s.recipients.map((e) => ({
              row: e.row,
              email: e.email,
              status: e.status,
              attempts: e.attempts,
              response: e.response ?? null,
              ...(e.status === 'deferred' && e.nextAttemptAt !== undefined ? { next_attempt_at: new Date(e.nextAttemptAt).toISOString() } : {}),
            })),
          }),
        );
        return;
      }
      if (!s.run) {
        out(io, `${s.campaign}: never sent`);
        out(io, `  pending ${t.pending}  skipped ${t.skipped}  (of ${t.recipients} in the list)`);
        if (s.listErrors) out(io, `  the list has ${plural(s.listErrors, 'problem')}, not counted above: \`mailcamp validate\` names them`);
        return;
      }
      const run = s.run;
      const state = s.state === 'running' ? `running, pid ${s.lockedBy}` : s.state === 'unfinished' ? 'unfinished: no process is sending it' : s.state;
      const ended = run.finishedAt ? `, ended ${iso(run.finishedAt)}` : '';
      const what = s.occurrence ? `latest occurrence ${run.runId}` : `run ${run.runId}`;
      out(io, `${s.campaign}: ${what} (${state}), started ${iso(run.startedAt)}${ended}`);
      if (s.occurrence) out(io, '  (a scheduled campaign; `mailcamp schedule --list` shows its other occurrences)');
      if (run.reason) out(io, `  ${run.reason}`);
      out(io, `  transport ${run.transport}`);
      out(
        io,
        `  sent ${t.sent}  failed ${t.failed}  deferred ${t.deferred}  unknown ${t.unknown}  pending ${t.pending}` +
          (t.sending ? `  sending ${t.sending}` : '') +
          `  skipped ${t.skipped}  (of ${t.recipients})`,
      );
      if (s.partial?.length) {
        out(io, 'sent, but members refused for good:');
        for (const e of s.partial) out(io, `  ${line(e)}`);
      }
      const shownStatuses = f.all ? (['sent', 'pending', 'skipped', ...ATTENTION] as DeliveryStatus[]) : ATTENTION;
      for (const status of shownStatuses) {
        const rows = s.recipients.filter((e) => e.status === status && (f.all || status !== 'sent'));
        if (!rows.length) continue;
        const stopped = status === 'sending' && s.state !== 'running';
        const heading = stopped ? 'being sent (or next in line) when the run stopped: unknown once resumed if their content was on its way' : HEADINGS[status];
        out(io, `${heading}:`);
        for (const e of rows) out(io, `  ${line(e)}${stopped ? (e.contentAt !== undefined ? '  (content on its way)' : '  (content not out)') : ''}`);
        const more = t[status] - rows.length;
        if (more > 0) out(io, `  … and ${more} more (--json or --all lists them)`);
      }
      if (s.state === 'running') return;
      if (t.unknown) {
        out(io, 'next: check with the server whether the unknown ones arrived; `mailcamp send --resend-unknown` sends them again');
      }
      if (s.occurrence) {
        if (s.state === 'unfinished' || s.state === 'interrupted') out(io, `next: \`mailcamp send --occurrence ${s.occurrence}\` resumes this occurrence`);
      } else if (s.state === 'unfinished' || s.state === 'interrupted') out(io, 'next: `mailcamp send` resumes this run');
      else if (s.state === 'finished') out(io, 'the run is finished; `mailcamp send --restart` would send to everyone again');
    });
}

function line(e: JournalEntry): string {
  const next = e.status === 'deferred' && e.nextAttemptAt !== undefined ? `  next try ${iso(e.nextAttemptAt)}` : '';
  return `line ${e.row}  ${e.email}  attempts ${e.attempts}${next}${e.response ? `  ${e.response}` : ''}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
