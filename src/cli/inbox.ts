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
  const date = e.date && !Number.isNaN(e.date.getTime()) ? localMinute(e.date) : '(no date)'.padEnd(16);
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

/** `2026-11-24 10:00` on this machine's clock (TZ), as a mail client shows it. */
function localMinute(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Terminal columns: East Asian wide and fullwidth characters and emoji take two, combining marks none. */
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
const ZERO = /[\u0300-\u036f\u200b-\u200f\ufe00-\ufe0f]/u;

function columns(ch: string): number {
  return ZERO.test(ch) ? 0 : WIDE.test(ch) ? 2 : 1;
}

/** `s` cut or padded to exactly `width` columns. */
function fit(s: string, width: number): string {
  let used = 0;
  let out = '';
  const chars = [...s];
  const total = chars.reduce((n, ch) => n + columns(ch), 0);
  if (total <= width) return s + ' '.repeat(width - total);
  for (const ch of chars) {
    const w = columns(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + '…' + ' '.repeat(width - 1 - used);
}

function size(n: number | undefined): string {
  if (n === undefined) return '?';
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}K`;
  return `${(n / 1024 / 1024).toFixed(1)}M`;
}
