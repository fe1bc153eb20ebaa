// POP3 as a Mailbox, over the client in pop3-client.ts. Messages are named by their UIDL
// (RFC 1939 §7), which stays the same across sessions while message numbers do not.
// Deletion is DELE, which the server carries out only at QUIT (RFC 1939 §6): a session that
// breaks before QUIT deletes nothing, and the next run, finding those UIDLs already
// processed, deletes them then.

import type { Readable } from 'node:stream';
import { MailcampError } from '../shared/errors.js';
import { certificateProblem, type Mailbox, type MailboxMessage } from './mailbox.js';
import type { RemoteMailboxUrl } from './mailbox-url.js';
import { Pop3Client, Pop3Error } from './pop3-client.js';

export class Pop3Mailbox implements Mailbox {
  readonly identity: string;
  readonly canMove = false;
  private client: Pop3Client | undefined;
  private numbers = new Map<string, number>();

  constructor(
    private readonly u: RemoteMailboxUrl,
    private readonly opts: { ca?: string } = {},
  ) {
    this.identity = u.shown;
  }

  async open(): Promise<void> {
    try {
      this.client = await Pop3Client.connect({
        host: this.u.host,
        port: this.u.port,
        secure: this.u.secure,
        user: this.u.user,
        pass: this.u.pass,
        tlsVerify: this.u.tlsVerify,
        ca: this.opts.ca,
        timeoutMs: this.u.timeoutMs,
      });
    } catch (e) {
      throw this.error(e, 'cannot log in');
    }
  }

  async list(): Promise<MailboxMessage[]> {
    const c = this.need();
    try {
      const uids = await c.uidl();
      const sizes = new Map((await c.list()).map((x) => [x.n, x.size]));
      this.numbers = new Map(uids.map((x) => [x.uid, x.n]));
      return uids.map((x) => ({ id: x.uid, source: x.uid, size: sizes.get(x.n) }));
    } catch (e) {
      throw this.error(e, 'cannot list messages');
    }
  }

  async fetch(id: string): Promise<Readable> {
    try {
      return await this.need().retr(this.numberOf(id));
    } catch (e) {
      throw this.error(e, `cannot fetch message ${id}`);
    }
  }

  async delete(ids: string[]): Promise<void> {
    const c = this.need();
    try {
      for (const id of ids) await c.dele(this.numberOf(id));
    } catch (e) {
      throw this.error(e, 'cannot delete messages');
    }
  }

  async move(): Promise<void> {
    throw new MailcampError('INPUT', 'POP3 has no folders to move messages to; use after: keep or delete', { host: this.where });
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    try {
      await c.quit();
    } catch (e) {
      c.destroy();
      throw this.error(e, 'QUIT failed; deletions were not carried out');
    }
  }

  /** Drops the session without QUIT (after an error): the server deletes nothing. */
  abort(): void {
    this.client?.destroy();
    this.client = undefined;
  }

  private get where(): string {
    return `${this.u.host}:${this.u.port}`;
  }

  private need(): Pop3Client {
    if (!this.client) throw new Error('pop3 mailbox: not open');
    return this.client;
  }

  private numberOf(id: string): number {
    const n = this.numbers.get(id);
    if (n === undefined) throw new Error(`pop3 mailbox: unknown UIDL ${id}`);
    return n;
  }

  private error(e: unknown, what: string): MailcampError {
    if (e instanceof MailcampError) return e;
    if (e instanceof Pop3Error) {
      if (e.kind === 'tls' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i.test(`${e.code} ${e.message}`)) {
        const { msg, hint } = certificateProblem(e.code, e.message);
        return new MailcampError('TRANSPORT', `cannot connect: ${msg}`, { host: this.where }, hint);
      }
      const msg = e.kind === 'auth' ? `authentication failed: ${e.message.replace(/^(USER|PASS):\s*/, '')}` : e.message;
      return new MailcampError('TRANSPORT', `${what}: ${msg}`, { host: this.where });
    }
    throw e;
  }
}
