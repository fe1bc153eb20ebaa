// `mailcamp status <campaign.yaml> [--json] [--all]`

import type { Command } from 'commander';
import { runStatus } from '../pipeline/status.js';
import { type Io, out } from './io.js';

export function register(program: Command, io: Io): void {
  program
    .command('status')
    .description('what the journal says: sent, failed, deferred, unknown, pending')
    .argument('<campaign.yaml>', 'the campaign file')
    .option('--json', 'print {campaign, run_id, state, totals, recipients} on stdout')
    .option('--all', 'list sent recipients too')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the campaign)')
    .action((file: string, f: { json?: boolean; all?: boolean; state?: string }) => {
      const s = runStatus({ file, cwd: io.cwd, env: io.env, state: f.state, all: f.all });
      const t = s.totals;
      const rows = s.recipients.map((e) => ({
        row: e.row,
        email: e.email,
        status: e.status,
        attempts: e.attempts,
        response: e.response ?? null,
      }));
      if (f.json) {
        out(
          io,
          JSON.stringify({
            campaign: s.campaign,
            run_id: s.run?.runId ?? null,
            state: s.state,
            totals: { recipients: t.recipients, sent: t.sent, failed: t.failed, deferred: t.deferred, skipped: t.skipped, unknown: t.unknown, pending: t.pending, sending: t.sending },
            recipients: rows,
          }),
        );
        return;
      }
      if (!s.run) {
        out(io, `${s.campaign}: never sent`);
        return;
      }
      const when = new Date(s.run.startedAt).toISOString();
      const fin = s.run.finishedAt ? `, ended ${new Date(s.run.finishedAt).toISOString()}` : '';
      out(io, `${s.campaign}: run ${s.run.runId} (${s.state}${s.lockedBy ? `, pid ${s.lockedBy}` : ''}), started ${when}${fin}`);
      out(io, `  transport ${s.run.transport}`);
      out(
        io,
        `  sent ${t.sent}  failed ${t.failed}  deferred ${t.deferred}  unknown ${t.unknown}  pending ${t.pending + t.sending}  skipped ${t.skipped}  (of ${t.recipients})`,
      );
      for (const r of rows) {
        out(io, `  line ${r.row}  ${r.email}  ${r.status}  attempts ${r.attempts}${r.response ? `  ${r.response}` : ''}`);
      }
      if (t.unknown) out(io, `next: check with the server whether the unknown ones arrived; mailcamp send --resend-unknown sends them again`);
      else if (s.state === 'unfinished' || s.state === 'interrupted') out(io, 'next: mailcamp send <campaign> resumes this run');
    });
}
