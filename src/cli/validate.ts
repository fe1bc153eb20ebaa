// `mailcamp validate <campaign.yaml>`

import type { Command } from 'commander';
import type { Diagnostics } from '../shared/diagnostics.js';
import { formatDiagnostic } from '../shared/diagnostics.js';
import { runValidate } from '../pipeline/validate.js';
import { scheduleLines } from './schedule.js';
import { err, type Io, out, plural } from './io.js';

export function printDiagnostics(io: Io, d: Diagnostics): void {
  for (const x of d.errors) err(io, formatDiagnostic(x));
  if (d.errorCount > d.errors.length) err(io, `… and ${d.errorCount - d.errors.length} more errors`);
  for (const x of d.warnings) err(io, formatDiagnostic(x));
  if (d.warningCount > d.warnings.length) err(io, `… and ${d.warningCount - d.warnings.length} more warnings`);
}

export function register(program: Command, io: Io, setExit: (n: number) => void): void {
  program
    .command('validate')
    .description('check a campaign completely (YAML, templates, every CSV row, attachments); sends nothing')
    .argument('<campaign.yaml>', 'the campaign file')
    .option('--skip-invalid', 'treat invalid addresses as skipped rows (warnings) instead of errors')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the campaign)')
    .action(async (file: string, opts: { skipInvalid?: boolean; state?: string }) => {
      const r = await runValidate({ file, cwd: io.cwd, env: io.env, skipInvalid: opts.skipInvalid, state: opts.state, signal: io.signal });
      const d = r.diagnostics;
      printDiagnostics(io, d);
      if (!d.ok) {
        err(io, `${plural(d.errorCount, 'error')}, ${plural(d.warningCount, 'warning')}; nothing was sent`);
        setExit(2);
        return;
      }
      out(
        io,
        `ok: ${r.campaign}: ${plural(r.messages, 'message')} would be sent` +
          (r.skipped ? `, ${r.skipped} skipped` : '') +
          (r.duplicates ? `, ${plural(r.duplicates, 'duplicate row')} left out` : '') +
          (d.warningCount ? ` (${plural(d.warningCount, 'warning')})` : ''),
      );
      for (const line of r.suppressed) out(io, `  skipped ${line}`);
      const more = r.suppressedCount - r.suppressed.length;
      if (more > 0) out(io, `  … and ${more} more suppressed (mailcamp suppress list)`);
      if (r.schedule) for (const line of scheduleLines(r.schedule)) out(io, line);
      out(io, `next: mailcamp preview ${file}   or   mailcamp send ${file} --dry-run`);
    });
}
