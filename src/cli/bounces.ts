// `mailcamp bounces <mailbox.yaml> [--dry-run] [--json] [--state DIR]`: reads the mailbox,
// records bounces and unsubscribes in the suppression list, and says what it found.

import type { Command } from 'commander';
import { type BouncesSummary, type MessageResult, runBounces } from '../pipeline/bounces.js';
import { err, type Io, out, plural } from './io.js';

interface BouncesFlags {
  dryRun?: boolean;
  json?: boolean;
  state?: string;
}

export function register(program: Command, io: Io, setExit: (n: number) => void): void {
  program
    .command('bounces')
    .description('read a mailbox (IMAP, POP3 or a folder) and record bounces, unsubscribes and complaints in the suppression list')
    .argument('<mailbox.yaml>', 'a mailbox file (url:, after:, soft_bounce_limit:), or a campaign with a mailbox: section')
    .option('--dry-run', 'classify the messages; record nothing, delete or move nothing')
    .option('--json', 'one JSON object per message on stdout (the summary goes to stderr)')
    .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the mailbox file)')
    .addHelpText(
      'after',
      `
Kinds: hard (suppressed now), soft (suppressed after soft_bounce_limit, default 3), delayed,
auto_reply (reported only), unsubscribe, complaint (suppressed now), unknown (left in the mailbox).`,
    )
    .action(async (file: string, f: BouncesFlags) => {
      const s = await runBounces({
        file,
        cwd: io.cwd,
        env: io.env,
        dryRun: f.dryRun,
        state: f.state,
        signal: io.signal,
        onMessage: (m) => (f.json ? out(io, JSON.stringify(jsonOf(m))) : out(io, lineOf(m))),
      });
      for (const line of summaryLines(s)) (f.json ? err : out)(io, line);
      setExit(s.interrupted ? 130 : 0);
    });
}

function jsonOf(m: MessageResult): Record<string, unknown> {
  const c = m.classification;
  return {
    source: m.source,
    message_id: m.messageId ?? null,
    // One of issue 5's seven kinds: a copy of a message read before says what it is, and that it is a copy.
    kind: m.kind === 'duplicate' ? c.kind : m.kind,
    recipients: c.recipients.map((r) => r.address),
    status: c.status ?? null,
    diagnostic: c.diagnostic ?? null,
    campaign: c.campaign ?? null,
    subject: c.subject,
    suppressed: m.suppressed,
    ...(m.kind === 'duplicate' ? { duplicate: true } : {}),
  };
}

function lineOf(m: MessageResult): string {
  const c = m.classification;
  const who = c.recipients.map((r) => r.address).join(', ');
  const status = c.status ? ` ${c.status}` : '';
  const what = m.kind === 'unknown' ? `"${c.subject.slice(0, 60)}"${c.from ? ` from ${c.from}` : ''}` : who;
  const added = m.suppressed.length ? `  → suppressed ${m.suppressed.join(', ')}` : '';
  return `  ${m.source}  ${m.kind}${status}  ${what}${added}`;
}

export function summaryLines(s: BouncesSummary): string[] {
  const c = s.counts;
  const lines = [
    `${s.mailbox} (${s.mailboxFile})${s.dryRun ? ' — dry run, nothing recorded' : ''}`,
    `  read ${s.read} of ${plural(s.total, 'message')}${s.seenBefore ? ` (${s.seenBefore} processed before)` : ''}${s.duplicates ? `, ${plural(s.duplicates, 'duplicate')}` : ''}${s.vanished ? `, ${s.vanished} gone before they were read (removed by another client)` : ''}`,
    `  bounces: hard ${c.hard}, soft ${c.soft}, delayed ${c.delayed}`,
    `  unsubscribes ${c.unsubscribe}, complaints ${c.complaint}, auto-replies ${c.auto_reply}`,
    `  unrecognised ${c.unknown} (kept in the mailbox)`,
  ];
  if (!s.dryRun) lines.push(`  ${s.suppressed} address${s.suppressed === 1 ? '' : 'es'} added to the suppression list`);
  if (s.deleted) lines.push(`  deleted ${plural(s.deleted, 'message')} from the mailbox`);
  if (s.moved) lines.push(`  moved ${plural(s.moved, 'message')} to ${s.movedTo}`);
  if (s.interrupted) lines.push('interrupted: what was read is recorded; run bounces again to continue');
  else if (s.dryRun) lines.push(`next: mailcamp bounces ${s.mailboxFile} (without --dry-run) records them`);
  else lines.push('next: mailcamp suppress list shows the suppression list; send and validate skip those addresses');
  return lines;
}
