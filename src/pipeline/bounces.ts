// `mailcamp bounces` and `mailcamp inbox`, top to bottom like the diagram in design.md:
//   mailbox (IMAP/POP3/dir) ─► receive (parse DSN / replies) ─► state: suppression list
//
// For each message not processed before: fetch, classify, write what it taught to the
// suppression list (durable on return), then mark it processed (durable), and only after
// both, at the end, delete or move it as `after:` says. Unrecognised mail is never deleted
// or moved: a person should read it. A crash at any point leaves the mailbox holding every
// message whose lesson is not on disk.
//
// Suppression rules: a hard bounce, an unsubscribe request or a complaint suppresses the
// address at once; soft bounces are counted and suppress at `soft_bounce_limit`; delayed
// reports and auto-replies are reported only. An address already suppressed keeps its
// first entry (an unsubscribe stays an unsubscribe when a bounce follows).

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { classifyMessage, type Classification, type MessageKind } from '../receive/classify.js';
import { loadMailboxConfig, type MailboxConfig } from '../receive/config.js';
import { type Mailbox, type MailboxMessage, MessageGone, openMailbox } from '../receive/mailbox.js';
import { RecipientMatcher } from '../receive/match.js';
import type { Env } from '../campaign/env.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import { ensureStateDir, findStateDir } from '../state/folder.js';
import { acquireLock } from '../state/lock.js';
import { openProcessed, type ProcessedStore, processedFile } from '../state/processed.js';
import { openSuppression, suppressionFile, type SuppressionList } from '../state/suppression.js';

export interface BouncesOptions {
  file: string;
  cwd?: string;
  env?: Env;
  /** Classify only: record nothing, delete or move nothing. */
  dryRun?: boolean;
  state?: string;
  clock?: Clock;
  signal?: AbortSignal;
  /** Called once per message read (not for ones processed before). */
  onMessage?: (m: MessageResult) => void;
  /** Opens the mailbox; tests pass their own. */
  mailbox?: (c: MailboxConfig) => Mailbox;
}

export interface MessageResult {
  source: string;
  messageId?: string;
  kind: MessageKind | 'duplicate';
  classification: Classification;
  /** Addresses added to the suppression list because of this message. */
  suppressed: string[];
}

export interface BouncesSummary {
  mailbox: string;
  mailboxFile: string;
  dryRun: boolean;
  /** Messages in the mailbox. */
  total: number;
  read: number;
  /** Processed by an earlier run, not read again. */
  seenBefore: number;
  /** A copy of a message processed before (another mailbox, a new UID). */
  duplicates: number;
  /** Listed, then gone before it was read (expunged by another client). */
  vanished: number;
  counts: Record<MessageKind, number>;
  /** Addresses newly on the suppression list. */
  suppressed: number;
  deleted: number;
  moved: number;
  movedTo?: string;
  interrupted: boolean;
}

const ACTIONABLE: ReadonlySet<string> = new Set(['hard', 'soft', 'delayed', 'auto_reply', 'unsubscribe', 'complaint', 'duplicate']);
/** `.mailcamp/suppression-receive/lock`; campaign names starting `suppression` are refused, so no journal folder collides. */
const RECEIVE_LOCK_DIR = 'suppression-receive';

export async function runBounces(o: BouncesOptions): Promise<BouncesSummary> {
  const clock = o.clock ?? systemClock;
  const cwd = o.cwd ?? process.cwd();
  const cfg = loadMailboxConfig(o.file, { cwd, env: o.env });
  const stateDir = findStateDir(cfg.dir, o.state ? path.resolve(cwd, o.state) : undefined);
  // Two runs reading mailboxes into one state folder at once could both count a message
  // found in two mailboxes; one at a time. A dry run writes nothing and needs no lock.
  const lock = o.dryRun ? undefined : acquireLock(path.join(ensureStateDir(stateDir), RECEIVE_LOCK_DIR), `bounces ${cfg.displayFile}`);
  let stores: Stores;
  try {
    stores = openStores(stateDir, !!o.dryRun);
  } catch (e) {
    lock?.release();
    throw e;
  }
  const mailbox = (o.mailbox ?? openMailbox)(cfg);
  const matcher = new RecipientMatcher(stateDir);
  const summary: BouncesSummary = {
    mailbox: mailbox.identity,
    mailboxFile: cfg.displayFile,
    dryRun: !!o.dryRun,
    total: 0,
    read: 0,
    seenBefore: 0,
    duplicates: 0,
    vanished: 0,
    counts: { hard: 0, soft: 0, delayed: 0, auto_reply: 0, unsubscribe: 0, complaint: 0, unknown: 0 },
    suppressed: 0,
    deleted: 0,
    moved: 0,
    interrupted: false,
  };
  let opened = false;
  try {
    if (cfg.after.kind === 'move' && !mailbox.canMove) throw new MailcampError('INPUT', `after: move is not possible with ${mailbox.identity}`, { file: cfg.displayFile });
    await mailbox.open();
    opened = true;
    const messages = await mailbox.list();
    summary.total = messages.length;
    const done: string[] = [];
    for (const msg of messages) {
      if (o.signal?.aborted) {
        summary.interrupted = true;
        break;
      }
      const before = stores.processed?.get(mailbox.identity, msg.id);
      if (before) {
        summary.seenBefore++;
        // Recorded, but the delete/move did not happen (a crash, a lost POP3 QUIT): do it now.
        if (ACTIONABLE.has(before.kind)) done.push(msg.id);
        continue;
      }
      let result: MessageResult;
      try {
        result = await readOne(mailbox, msg, cfg, stores, matcher, clock, o.dryRun);
      } catch (e) {
        // Expunged by another client since the listing (the mailbox is open in a mail client
        // too): gone, nothing to learn from it; the run goes on.
        if (!(e instanceof MessageGone)) throw e;
        summary.vanished++;
        continue;
      }
      summary.read++;
      if (result.kind === 'duplicate') summary.duplicates++;
      else summary.counts[result.kind]++;
      summary.suppressed += result.suppressed.length;
      if (ACTIONABLE.has(result.kind)) done.push(msg.id);
      o.onMessage?.(result);
    }
    if (!o.dryRun && done.length && cfg.after.kind !== 'keep') {
      if (cfg.after.kind === 'delete') {
        await mailbox.delete(done);
        summary.deleted = done.length;
      } else {
        await mailbox.move(done, cfg.after.folder);
        summary.moved = done.length;
        summary.movedTo = cfg.after.folder;
      }
    }
    await mailbox.close();
    opened = false;
    return summary;
  } finally {
    if (opened) {
      // An error after login: drop the session without committing POP3 deletions.
      if (mailbox.abort) mailbox.abort();
      else await mailbox.close().catch(() => {});
    }
    stores.suppression?.close();
    stores.processed?.close();
    lock?.release();
  }
}

interface Stores {
  suppression?: SuppressionList;
  processed?: ProcessedStore;
}

function openStores(stateDir: string, dryRun: boolean): Stores {
  if (!dryRun) {
    ensureStateDir(stateDir);
    return { suppression: openSuppression(stateDir), processed: openProcessed(stateDir) };
  }
  // A dry run creates nothing, but still knows what earlier runs processed.
  return {
    suppression: fs.existsSync(suppressionFile(stateDir)) ? openSuppression(stateDir) : undefined,
    processed: fs.existsSync(processedFile(stateDir)) ? openProcessed(stateDir) : undefined,
  };
}

async function readOne(
  mailbox: Mailbox,
  msg: MailboxMessage,
  cfg: MailboxConfig,
  stores: Stores,
  matcher: RecipientMatcher,
  clock: Clock,
  dryRun?: boolean,
): Promise<MessageResult> {
  const c = await fetchAndClassify(mailbox, msg, cfg);
  // Before the mapping, which depends on the journals there are now.
  const print = fingerprint(c);
  mapToMailedAddress(c, matcher);
  const result: MessageResult = { source: msg.source, messageId: c.messageId, kind: c.kind, classification: c, suppressed: [] };
  const earlier = stores.processed?.earlierCopy(print, c.messageId);
  // A copy of a message already handled is a duplicate (deleted or moved with it by `after:`);
  // a copy of one left for a person (unknown) stays, as that one did.
  if (earlier && ACTIONABLE.has(earlier.kind)) result.kind = 'duplicate';
  if (dryRun) return result;

  const source = `${c.messageId ?? msg.source} in ${mailbox.identity}`;
  if (!earlier) result.suppressed = learn(c, stores.suppression!, cfg, source, clock);
  stores.processed!.record({ mailbox: mailbox.identity, id: msg.id, messageId: c.messageId, fingerprint: print, kind: result.kind, at: clock.now() });
  return result;
}

/**
 * What a message says, as one hash: the same for every copy of it (read again under a new UID,
 * through another URL, from another mailbox), different for another report, also one that
 * reuses a Message-ID (some appliances write a fixed one) or has none (qmail, GMX): its Date,
 * kind, recipients and their status and diagnostic tell two reports apart.
 */
function fingerprint(c: Classification): string {
  const h = crypto.createHash('sha256');
  // The returned original (its Message-ID, our recipient token) tells apart two reports of one
  // server, in one second, about two messages to one address.
  for (const part of [c.messageId ?? '', c.dateHeader ?? '', c.kind, c.from ?? '', c.subject, c.status ?? '', c.diagnostic ?? '', c.originalMessageId ?? '', c.campaign ?? '', c.recipientToken ?? '']) {
    h.update(part).update('\0');
  }
  for (const r of c.recipients) h.update(`${r.address}\0${r.kind}\0${r.status ?? ''}\0${r.diagnostic ?? ''}\0`);
  return h.digest('base64url');
}

/**
 * Reads and classifies one message. A message the parser cannot make sense of is
 * `unknown` (left for a person); a connection that fails while it is read is a transport
 * error, and the message stays unprocessed for the next run.
 */
async function fetchAndClassify(mailbox: Mailbox, msg: MailboxMessage, cfg: MailboxConfig): Promise<Classification> {
  const stream = await mailbox.fetch(msg.id);
  let broken: Error | undefined;
  stream.once('error', (e) => (broken = e));
  try {
    return await classifyMessage(stream, { unsubscribeAddresses: cfg.unsubscribeAddresses });
  } catch (e) {
    if (e instanceof MailcampError) throw e;
    if (broken) throw new MailcampError('TRANSPORT', `reading message ${msg.source}: ${broken.message}`, { host: mailbox.identity });
    stream.destroy();
    return { kind: 'unknown', recipients: [], subject: '', diagnostic: `unreadable: ${(e as Error).message}` };
  }
}

/**
 * When the returned original names our recipient, that address is the one to act on. A report
 * that names nobody (a feedback loop that redacts the complainer) is about that recipient; with
 * no returned original either, it teaches nothing and is left for a person (`unknown`).
 */
function mapToMailedAddress(c: Classification, matcher: RecipientMatcher): void {
  // A reply asking to unsubscribe, from another address than the one the message it answers
  // went to: both stop getting mail.
  if (c.kind === 'unsubscribe' && c.answers?.length) {
    const mailed = matcher.addressForMessageId(c.answers);
    if (mailed && !c.recipients.some((r) => r.address === mailed)) c.recipients.push({ address: mailed, kind: 'unsubscribe', original: c.recipients[0]?.address });
    return;
  }
  if (c.kind !== 'hard' && c.kind !== 'soft' && c.kind !== 'delayed' && c.kind !== 'complaint') return;
  const mailed = matcher.addressFor(c.campaign, c.recipientToken);
  if (c.recipients.length === 0) {
    if (mailed) c.recipients.push({ address: mailed, kind: c.kind, status: c.status, diagnostic: c.diagnostic });
    else {
      c.diagnostic = `${c.diagnostic ? `${c.diagnostic}; ` : ''}names no recipient`;
      c.kind = 'unknown';
    }
    return;
  }
  if (c.recipients.length !== 1) return;
  const r = c.recipients[0];
  if (mailed && mailed !== r.address) {
    r.original = r.address;
    r.address = mailed;
  }
}

/** Writes what a message teaches to the suppression list; returns the addresses added. */
function learn(c: Classification, list: SuppressionList, cfg: MailboxConfig, source: string, clock: Clock): string[] {
  const added: string[] = [];
  const add = (address: string, kind: 'hard' | 'soft' | 'unsubscribe' | 'complaint', reason: string) => {
    if (list.has(address)) return;
    list.add({ address, kind, reason: reason.slice(0, 300), source, at: clock.now() });
    added.push(address);
  };
  for (const r of c.recipients) {
    const why = [r.status, r.diagnostic].filter(Boolean).join(' ');
    switch (r.kind) {
      case 'hard':
        add(r.address, 'hard', `hard bounce${why ? `: ${why}` : ''}`);
        break;
      case 'soft': {
        const n = list.recordSoftBounce(r.address, source);
        if (n >= cfg.softBounceLimit) add(r.address, 'soft', `${n} soft bounces${why ? `; last: ${why}` : ''}`);
        break;
      }
      case 'unsubscribe':
        add(r.address, 'unsubscribe', `asked to unsubscribe by mail${c.subject ? ` ("${c.subject.slice(0, 80)}")` : ''}`);
        break;
      case 'complaint':
        add(r.address, 'complaint', `spam complaint${c.diagnostic ? ` (${c.diagnostic})` : ''}`);
        break;
      default:
        break;
    }
  }
  return added;
}

export interface InboxEntry {
  source: string;
  size?: number;
  date?: Date;
  from?: string;
  subject: string;
  classification: Classification;
  /** Processed by an earlier `bounces` run. */
  processed: boolean;
}

/** `mailcamp inbox`: every message with our classification; records and changes nothing. */
export async function runInbox(o: { file: string; cwd?: string; env?: Env; state?: string; limit?: number; mailbox?: (c: MailboxConfig) => Mailbox; onEntry?: (e: InboxEntry) => void }): Promise<{ mailbox: string; total: number; listed: number }> {
  const cwd = o.cwd ?? process.cwd();
  const cfg = loadMailboxConfig(o.file, { cwd, env: o.env });
  const stateDir = findStateDir(cfg.dir, o.state ? path.resolve(cwd, o.state) : undefined);
  const processed = fs.existsSync(processedFile(stateDir)) ? openProcessed(stateDir) : undefined;
  const mailbox = (o.mailbox ?? openMailbox)(cfg);
  try {
    await mailbox.open();
    let messages = await mailbox.list();
    const total = messages.length;
    // The newest ones, as a mail client shows them first: by arrival when the mailbox knows it
    // (a folder's files by their time, not their names), else in the mailbox's own order.
    if (o.limit !== undefined) {
      if (messages.every((m) => m.received)) messages = [...messages].sort((a, b) => a.received!.getTime() - b.received!.getTime());
      messages = messages.slice(-o.limit);
    }
    for (const m of messages) {
      const c = await fetchAndClassify(mailbox, m, cfg);
      o.onEntry?.({ source: m.source, size: m.size, date: c.date ?? m.received, from: c.from, subject: c.subject, classification: c, processed: !!processed?.get(mailbox.identity, m.id) });
    }
    return { mailbox: mailbox.identity, total, listed: messages.length };
  } finally {
    await mailbox.close().catch(() => {});
    processed?.close();
  }
}
