// IMAP through imapflow. imapflow is pinned at 2.1.2 in package.json: newer releases need a
// version of `@zone-eu/mailsplit` that this project's registry does not have (the same
// reason mailparser is held at 3.9.31).
//
// `imaps://` is implicit TLS (RFC 8314); `imap://` must upgrade with STARTTLS (RFC 3501
// §6.2.1) before the password is sent, and imapflow's `doSTARTTLS: true` refuses a server
// that does not offer it. Messages are named `UIDVALIDITY:UID` (RFC 3501 §2.3.1.1): a UID
// alone is only meaningful while the folder's UIDVALIDITY stays the same.
//
// The UID list is fetched first and the bodies one by one afterwards: imapflow cannot run a
// download while a FETCH iterator is still open on the same connection.

import type { Readable } from 'node:stream';
import { ImapFlow } from 'imapflow';
import { MailcampError } from '../shared/errors.js';
import { certificateProblem, type Mailbox, type MailboxMessage, MessageGone } from './mailbox.js';
import type { RemoteMailboxUrl } from './mailbox-url.js';

export class ImapMailbox implements Mailbox {
  readonly identity: string;
  readonly canMove = true;
  private client: ImapFlow | undefined;
  private release: (() => void) | undefined;
  private uidValidity = '';

  constructor(
    private readonly u: RemoteMailboxUrl,
    private readonly opts: { ca?: string } = {},
  ) {
    this.identity = u.shown;
  }

  private get where(): string {
    return `${this.u.host}:${this.u.port}`;
  }

  async open(): Promise<void> {
    const client = new ImapFlow({
      host: this.u.host,
      port: this.u.port,
      secure: this.u.secure,
      doSTARTTLS: this.u.secure ? undefined : true,
      auth: { user: this.u.user, pass: this.u.pass },
      tls: {
        rejectUnauthorized: this.u.tlsVerify,
        ...(this.opts.ca ? { ca: [this.opts.ca] } : {}),
      },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: this.u.timeoutMs,
      greetingTimeout: this.u.timeoutMs,
      socketTimeout: this.u.timeoutMs,
    });
    // imapflow reports socket trouble after connect() as an 'error' event; without a
    // listener it would crash the process instead of failing the current command.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (e) {
      client.close();
      throw this.transportError(e, 'cannot log in');
    }
    this.client = client;
    try {
      const lock = await client.getMailboxLock(this.u.folder);
      this.release = () => lock.release();
    } catch (e) {
      throw new MailcampError('INPUT', `cannot open folder '${this.u.folder}': ${messageOf(e)}`, { host: this.where });
    }
    const mb = client.mailbox;
    this.uidValidity = mb ? String(mb.uidValidity) : '0';
  }

  async list(): Promise<MailboxMessage[]> {
    const client = this.need();
    const mb = client.mailbox;
    if (!mb || mb.exists === 0) return [];
    const out: MailboxMessage[] = [];
    try {
      for await (const m of client.fetch('1:*', { uid: true, size: true, internalDate: true })) {
        out.push({
          id: `${this.uidValidity}:${m.uid}`,
          source: String(m.uid),
          size: m.size,
          received: m.internalDate instanceof Date ? m.internalDate : m.internalDate ? new Date(m.internalDate) : undefined,
        });
      }
    } catch (e) {
      throw this.transportError(e, 'cannot list messages');
    }
    return out.sort((a, b) => Number(a.id.split(':')[1]) - Number(b.id.split(':')[1]));
  }

  async fetch(id: string): Promise<Readable> {
    const client = this.need();
    try {
      const { content } = await client.download(this.uidOf(id), undefined, { uid: true });
      if (!content) throw new MessageGone(`message ${id} is no longer in the mailbox`);
      return content;
    } catch (e) {
      if (e instanceof MessageGone) throw e;
      throw this.transportError(e, `cannot fetch message ${id}`);
    }
  }

  async delete(ids: string[]): Promise<void> {
    if (!ids.length) return;
    const client = this.need();
    try {
      // UID STORE \Deleted + UID EXPUNGE (RFC 4315) when the server has UIDPLUS.
      await client.messageDelete(ids.map((id) => this.uidOf(id)).join(','), { uid: true });
    } catch (e) {
      throw this.transportError(e, 'cannot delete messages');
    }
  }

  async move(ids: string[], folder: string): Promise<void> {
    if (!ids.length) return;
    const client = this.need();
    try {
      await client.mailboxCreate(folder).catch((e: { serverResponseCode?: string }) => {
        if (e?.serverResponseCode !== 'ALREADYEXISTS') throw e;
      });
      // MOVE (RFC 6851), or COPY + delete where the server lacks it; imapflow chooses.
      await client.messageMove(ids.map((id) => this.uidOf(id)).join(','), folder, { uid: true });
    } catch (e) {
      throw this.transportError(e, `cannot move messages to '${folder}'`);
    }
  }

  async close(): Promise<void> {
    this.release?.();
    this.release = undefined;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      await client.logout();
    } catch {
      client.close();
    }
  }

  private need(): ImapFlow {
    if (!this.client) throw new Error('imap mailbox: not open');
    return this.client;
  }

  private uidOf(id: string): string {
    const [validity, uid] = id.split(':');
    if (validity !== this.uidValidity || !/^\d+$/.test(uid ?? '')) throw new Error(`imap mailbox: stale message id ${id}`);
    return uid;
  }

  private transportError(e: unknown, what: string): MailcampError {
    // (`what` says the step; a certificate problem is the connection's, not the login's.)
    if (e instanceof MailcampError) return e;
    const err = e as { authenticationFailed?: boolean; tlsFailed?: boolean; code?: string; responseText?: string; message?: string };
    let msg = messageOf(e);
    let hint: string | undefined;
    if (err.authenticationFailed || err.code === 'AUTHENTICATIONFAILED') msg = `authentication failed${err.responseText ? `: ${err.responseText}` : ''}`;
    else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i.test(err.code ?? '')) {
      ({ msg, hint } = certificateProblem(err.code, err.message));
      what = 'cannot connect';
    } else if (err.tlsFailed && /does not support STARTTLS/i.test(err.message ?? '')) {
      msg = 'the server does not offer STARTTLS; refusing to send the password in clear';
    } else if (err.tlsFailed) msg = `TLS failed: ${msg}`;
    return new MailcampError('TRANSPORT', `${what}: ${msg}`, { host: this.where }, hint);
  }
}

function messageOf(e: unknown): string {
  const err = e as { responseText?: string; message?: string; code?: string };
  return err?.responseText || err?.message || err?.code || String(e);
}
