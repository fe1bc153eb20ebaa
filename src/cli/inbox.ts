// `mailcamp inbox <mailbox.yaml> [--limit N] [--json]`: what is in the mailbox, one line per
// message like a tiny mail client (date, from, subject, size) with mailcamp's reading of
// it, so a user can see what `bounces` would do before it does anything. Changes nothing.

import type { Command } from 'commander';
import { type InboxEntry, runInbox } from '../pipeline/bounces.js';
import { type Io, out, plural } from './io.js';
import { positiveInt } from './preview.js';

export function register(program: Command, io: Io): void {
  program
    .command('inbox')
    .description('list the messages in a mailbox with their classification (changes nothing)')
    .argument('<mailbox.yaml>', 'a mailbox file, or a campaign with a mailbox: section')
    .option('--limit <N>', 'only the N newest messages', (v) => positiveInt(v, '--limit'))
    .option('--json', 'one JSON object per message on stdout')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the mailbox file)')
    .action(async (file: string, f: { limit?: number; json?: boolean; state?: string }) => {
      const r = await runInbox({
        file,
        cwd: io.cwd,
        env: io.env,
        state: f.state,
        limit: f.limit,
        onEntry: (e) => out(io, f.json ? JSON.stringify(jsonOf(e)) : lineOf(e)),
      });
      if (!f.json) {
        out(io, `${r.mailbox}: ${plural(r.total, 'message')}${r.listed < r.total ? `, the newest ${r.listed} shown` : ''} (* = processed by an earlier bounces run)`);
      }
    });
}

function jsonOf(e: InboxEntry): Record<string, unknown> {
  const c = e.classification;
  return {
    source: e.source,
    date: e.date?.toISOString() ?? null,
    from: e.from ?? null,
    subject: e.subject,
    size: e.size ?? null,
    kind: c.kind,
    recipients: c.recipients.map((r) => r.address),
    status: c.status ?? null,
    processed: e.processed,
  };
}

function lineOf(e: InboxEntry): string {
  const c = e.classification;
  const date = e.date ? e.date.toISOString().slice(0, 16).replace('T', ' ') : '????-??-?? ??:??';
  const about = c.recipients.length ? ` ${c.recipients.map((r) => r.address).join(', ')}` : '';
  const kind = `${c.kind}${c.status ? ` ${c.status}` : ''}${about}`;
  return [
    `${e.processed ? '*' : ' '} ${date}`,
    fit(e.from ?? '', 28),
    fit(e.subject.replace(/\s+/g, ' '), 40),
    size(e.size).padStart(5),
    `${kind}  (${e.source})`,
  ].join('  ');
}

function fit(s: string, width: number): string {
  return s.length > width ? s.slice(0, width - 1) + '…' : s.padEnd(width);
}

function size(n: number | undefined): string {
  if (n === undefined) return '?';
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}K`;
  return `${(n / 1024 / 1024).toFixed(1)}M`;
}
