// The outbox transport: every message becomes an .eml file (RFC 5322 bytes, exactly what an
// SMTP server would receive) in a folder. The default when a campaign names no transport,
// and what dry runs write. Files are written atomically (temp + rename).

import fs from 'node:fs';
import path from 'node:path';
import type { Composed } from '../compose/index.js';
import { MailcampError } from '../shared/errors.js';
import { WRITE_FAILURES, writableFolder } from '../shared/folders.js';
import type { Gate, SendResult, Transport } from './transport.js';

export function emlName(row: number, key: string): string {
  // Letters and digits of any script stay (two teams 研发部 and 市场部 must not both be
  // `group-___.eml`); what a file system or a shell treats specially does not.
  const safe = [...key.replace(/^group:/, 'group-').normalize('NFC').replace(/[^\p{L}\p{N}\p{M}@._+-]/gu, '_')].slice(0, 80).join('');
  return `${String(row).padStart(6, '0')}-${safe}.eml`;
}

export class OutboxTransport implements Transport {
  readonly description: string;
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
    const file = path.join(this.dir, this.nameFor(msg));
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
