// The outbox transport: every message becomes an .eml file (RFC 5322 bytes, exactly what an
// SMTP server would receive) in a folder. The default when a campaign names no transport,
// and what dry runs write. Files are written atomically (temp + rename).

import fs from 'node:fs';
import path from 'node:path';
import type { Composed } from '../compose/index.js';
import { MailcampError } from '../shared/errors.js';
import { removeDeadTemps } from '../shared/dead-temps.js';
import { WRITE_FAILURES, writableFolder } from '../shared/folders.js';
import type { StaleVerdict } from '../state/journal.js';
import type { JournalEntry } from '../state/types.js';
import type { Gate, SendResult, Transport } from './transport.js';

export function emlName(row: number, key: string): string {
  // Letters and digits of any script stay (two teams 研发部 and 市场部 must not both be
  // `group-___.eml`); what a file system or a shell treats specially does not.
  const safe = [...key.replace(/^group:/, 'group-').normalize('NFC').replace(/[^\p{L}\p{N}\p{M}@._+-]/gu, '_')].slice(0, 80).join('');
  return `${String(row).padStart(6, '0')}-${safe}.eml`;
}

/**
 * After a crash, what became of the messages that were being written to `dir` (the run's own
 * outbox): a complete file carrying the entry's Message-ID was delivered; a temporary file
 * left by the dead process, and no complete one, means it was not. Those temporary files are
 * removed. Anything else (the file moved away by whatever picks the outbox up, say) stays
 * `unknown`.
 */
export function outboxVerdicts(dir: string, campaign: string): (e: JournalEntry) => StaleVerdict | undefined {
  const TEMP = /^(\d{6,}-.*\.eml)\.tmp-(\d+)$/;
  const leftBehind = new Set(removeDeadTemps(dir, (name) => {
    const m = TEMP.exec(name);
    return m ? Number(m[2]) : undefined;
  }).map((name) => suffixOf(TEMP.exec(name)![1])));
  // Delivered files by the part of their name after the row (the row may have moved since).
  const bySuffix = new Map<string, string[]>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    // no folder: nothing was written
  }
  for (const name of names) {
    if (!/^\d{6,}-.*\.eml$/.test(name)) continue;
    const k = suffixOf(name);
    bySuffix.set(k, [...(bySuffix.get(k) ?? []), name]);
  }
  return (e) => {
    // Its own name, or the one it gets in an outbox another campaign writes to (theirsAside).
    const own = suffixOf(emlName(0, e.key));
    const suffixes = [own, own.replace(/\.eml$/, `.${campaign}.eml`)];
    for (const suffix of suffixes) {
      for (const name of bySuffix.get(suffix) ?? []) {
        if (messageIdIn(path.join(dir, name)) === e.messageId) return { status: 'sent', response: `written ${name}` };
      }
    }
    return suffixes.some((x) => leftBehind.has(x)) ? { status: 'pending' } : undefined;
  };
}

/** The part of an outbox file name after its row (rows past 999,999 have more digits). */
const suffixOf = (name: string): string => name.replace(/^\d+-/, '');

const CAMPAIGN_HEADER = /^X-Mailcamp-Campaign:[ \t]*([^\r\n]*)/im;

/**
 * Where a message goes in the outbox: its own name, unless another campaign's message has it
 * (two campaigns writing to one `outbox:DIR`, a pickup folder): then the name gets this
 * campaign's name too, and neither replaces the other.
 */
function theirsAside(file: string, raw: Buffer): string {
  if (!fs.existsSync(file)) return file;
  const ours = CAMPAIGN_HEADER.exec(raw.toString('latin1', 0, Math.min(raw.length, 16 * 1024)))?.[1];
  const theirs = headerIn(file, CAMPAIGN_HEADER);
  if (!ours || theirs === undefined || theirs === ours) return file;
  return file.replace(/\.eml$/, `.${ours}.eml`);
}

function messageIdIn(file: string): string | undefined {
  return headerIn(file, /^Message-ID:[ \t]*(<[^>\r\n]*>)/im);
}

/** A header of an .eml file (its first 16 KiB), or undefined. */
function headerIn(file: string, re: RegExp): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(16 * 1024);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return re.exec(head.toString('latin1', 0, n))?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export class OutboxTransport implements Transport {
  readonly description: string;
  /** The file is written before send() resolves. */
  readonly keepsNoContent = true;
  private made = false;

  constructor(
    readonly dir: string,
    private readonly nameFor: (msg: Composed) => string,
  ) {
    this.description = `outbox:${dir}`;
  }

  async open(): Promise<void> {
    writableFolder(this.dir, 'outbox');
    this.made = true;
  }

  async send(msg: Composed, gate: Gate): Promise<SendResult> {
    if (!this.made) await this.open();
    try {
      await gate.ready();
      await gate.open();
      gate.handOver();
    } catch (e) {
      return { status: 'deferred', response: `not written: ${(e as Error).message}`, notTried: true };
    }
    const file = theirsAside(path.join(this.dir, this.nameFor(msg)), msg.raw);
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      await fs.promises.writeFile(tmp, msg.raw);
      await fs.promises.rename(tmp, file);
    } catch (e) {
      // The disk filled up, the folder went away: the file is not there, so the message was not
      // delivered (it is tried again on resume), and writing more is pointless (exit 3).
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'the folder is gone' : (WRITE_FAILURES[err.code ?? ''] ?? err.message);
      return {
        status: 'deferred',
        response: `not written: ${why}`,
        notTried: true,
        fatal: new MailcampError('TRANSPORT', `cannot write to the outbox: ${why}${err.code ? ` (${err.code})` : ''}`, { file: this.dir }),
      };
    }
    return { status: 'sent', response: `written ${path.basename(file)}` };
  }

  async close(): Promise<void> {}

  abort(): void {}
}
