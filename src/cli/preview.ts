// `mailcamp preview <campaign.yaml> [--row N | --email ADDR] [--out DIR] [--open]`

import { spawn } from 'node:child_process';
import { type Command, InvalidArgumentError } from 'commander';
import { runPreview } from '../pipeline/preview.js';
import { err, type Io, out } from './io.js';

export function register(program: Command, io: Io): void {
  program
    .command('preview')
    .description('render one recipient (default: the first) to an .eml and an .html file')
    .argument('<campaign.yaml>', 'the campaign file')
    .option('--row <N>', 'the recipient on CSV line N (the header is line 1)', (v) => positiveInt(v, '--row'))
    .option('--email <addr>', 'the recipient with this address')
    .option('--out <dir>', 'where to write (default: preview/<name>/ beside the campaign)')
    .option('--open', 'open the .html in the default browser')
    .action(async (file: string, opts: { row?: number; email?: string; out?: string; open?: boolean }) => {
      const r = await runPreview({ file, cwd: io.cwd, env: io.env, row: opts.row, email: opts.email, out: opts.out });
      out(io, `line ${r.row}: ${r.email}`);
      out(io, `subject: ${r.subject}`);
      out(io, `wrote ${r.eml}`);
      out(io, `wrote ${r.html}`);
      if (opts.open) {
        const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
        await new Promise<void>((resolve) => {
          const child = spawn(cmd, [r.html], { detached: true, stdio: 'ignore' });
          child.once('spawn', () => {
            child.unref();
            resolve();
          });
          child.once('error', (e) => {
            err(io, `could not open a browser (${cmd}: ${e.message}); open ${r.html} yourself`);
            resolve();
          });
        });
      }
    });
}

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a whole number ≥ 1`);
  return n;
}
