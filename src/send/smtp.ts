// SMTP transport: a small pool of nodemailer SMTPConnections, one message at a time per
// connection, connections kept open and reused. We drive SMTPConnection directly instead
// of nodemailer's SMTPPool because the pool silently re-queues a message whose connection
// dropped (`maxRequeues`) — after the final "." that duplicates mail — and because we need
// to know, for every fault, whether the final "." had been handed to the socket:
// before it, the message was not delivered (deferred); after it, it may have been (unknown;
// RFC 5321 §6.1, RFC 1047).

import fs from 'node:fs';
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Composed } from '../compose/index.js';
import { MailcampError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { redact } from '../shared/secrets.js';
import { classifySmtpError } from './retry.js';
import type { TransportSpec } from './transport-url.js';
import type { SendResult, Transport } from './transport.js';

type SmtpSpec = Extract<TransportSpec, { kind: 'smtp' }>;

export interface SmtpOptions {
  poolSize: number;
  logger?: Logger;
  /** Print the SMTP dialogue (AUTH secrets masked). */
  debug?: boolean;
  /** Extra trusted CA (tests, private CAs). */
  ca?: string | Buffer;
  /** EHLO name; default the machine's host name. */
  name?: string;
}

type Conn = InstanceType<typeof SMTPConnection>;
interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

export class SmtpTransport implements Transport {
  readonly description: string;
  maxMessageSize?: number;
  private idle: Conn[] = [];
  private live = 0;
  private waiters: ((c: Conn | Error) => void)[] = [];
  private closed = false;
  private readonly where: string;

  constructor(
    private readonly spec: SmtpSpec,
    private opts: SmtpOptions,
  ) {
    this.description = spec.display;
    this.where = `${spec.host}:${spec.port}`;
    if (spec.caFile && !opts.ca) this.opts = { ...opts, ca: fs.readFileSync(spec.caFile) };
  }

  /** Connects once: an unreachable server, TLS or authentication failure here is fatal (exit 3). */
  async open(): Promise<void> {
    let c: Conn;
    try {
      c = await this.connect();
    } catch (e) {
      throw this.fatal(e as SmtpError);
    }
    this.release(c);
  }

  async send(msg: Composed, beforeData: () => Promise<void>, signal?: AbortSignal): Promise<SendResult> {
    let conn: Conn;
    try {
      conn = await this.acquire(signal);
    } catch (e) {
      if (e instanceof MailcampError) throw e;
      const err = e as SmtpError;
      const kind = classifySmtpError(err);
      if (kind === 'fatal') throw this.fatal(err);
      return { status: kind === 'failed' ? 'failed' : 'deferred', response: describe(err), code: err.responseCode };
    }
    if (this.maxMessageSize && msg.raw.length > this.maxMessageSize) {
      this.release(conn);
      return { status: 'failed', response: `message is ${msg.raw.length} bytes; the server accepts at most ${this.maxMessageSize} (SIZE)` };
    }
    try {
      await beforeData();
    } catch (e) {
      this.release(conn);
      throw e;
    }
    let dotHandedOver = false;
    const body = Readable.from([msg.raw], { objectMode: false });
    body.once('end', () => (dotHandedOver = true));
    return new Promise<SendResult>((resolve, reject) => {
      conn.send({ from: msg.envelope.from, to: msg.envelope.to, size: msg.raw.length } as never, body, (err, info) => {
        if (!err) {
          const i = info as { response?: string; rejectedErrors?: SmtpError[] };
          this.release(conn);
          resolve({
            status: 'sent',
            response: redact(i.response ?? '250'),
            code: 250,
            rejected: i.rejectedErrors?.map((r) => ({
              address: (r as { recipient?: string }).recipient ?? '',
              response: redact(r.response ?? r.message),
              code: r.responseCode,
            })),
          });
          return;
        }
        const e = err as SmtpError;
        // A reply with a code is a definite answer; silence after the final dot is not.
        const kind = classifySmtpError(e, { afterFinalDot: dotHandedOver && !e.responseCode });
        if (kind === 'fatal') {
          this.drop(conn);
          reject(this.fatal(e));
          return;
        }
        // The transaction ended in error; the connection is reusable only if it is still up
        // and a RSET goes through. 421 means the server is closing the channel.
        if (e.responseCode === 421 || !e.responseCode) this.drop(conn);
        else this.resetAndRelease(conn);
        resolve({
          status: kind,
          response: describe(e),
          code: e.responseCode,
          rejected: (e as { rejectedErrors?: SmtpError[] }).rejectedErrors?.map((r) => ({
            address: (r as { recipient?: string }).recipient ?? '',
            response: redact(r.response ?? r.message),
            code: r.responseCode,
          })),
        });
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(new MailcampError('INTERRUPTED', 'transport closed'));
    const conns = this.idle.splice(0);
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              c.close();
              resolve();
            }, 2000);
            c.once('end', () => {
              clearTimeout(t);
              resolve();
            });
            c.quit();
          }),
      ),
    );
  }

  private fatal(e: SmtpError): MailcampError {
    const code = e.code === 'EAUTH' ? 'authentication failed' : /TLS|CERT|SSL/i.test(`${e.code} ${e.message}`) ? 'TLS failed' : 'connection failed';
    return new MailcampError('TRANSPORT', `${code}: ${describe(e)}`, { host: this.where, responseCode: e.responseCode });
  }

  private async acquire(signal?: AbortSignal): Promise<Conn> {
    for (;;) {
      const c = this.idle.pop();
      if (!c) break;
      if (isUsable(c)) return c;
      this.drop(c);
    }
    if (this.live < this.opts.poolSize) return this.connect();
    return new Promise<Conn>((resolve, reject) => {
      const w = (c: Conn | Error) => (c instanceof Error ? reject(c) : resolve(c));
      this.waiters.push(w);
      signal?.addEventListener('abort', () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(signal.reason);
      });
    });
  }

  private release(c: Conn): void {
    if (this.closed || !isUsable(c)) {
      this.drop(c);
      return;
    }
    const w = this.waiters.shift();
    if (w) w(c);
    else this.idle.push(c);
  }

  private drop(c: Conn): void {
    if ((c as unknown as { _mcDropped?: boolean })._mcDropped) return;
    (c as unknown as { _mcDropped?: boolean })._mcDropped = true;
    this.live--;
    try {
      c.close();
    } catch {
      /* already closed */
    }
    // Someone waiting for a connection gets a fresh one.
    const w = this.waiters.shift();
    if (w) this.connect().then(w, w);
  }

  private resetAndRelease(c: Conn): void {
    c.reset((err) => (err ? this.drop(c) : this.release(c)));
  }

  private connect(): Promise<Conn> {
    const s = this.spec;
    this.live++;
    const logger = this.opts.debug && this.opts.logger ? debugLogger(this.opts.logger) : false;
    const conn = new SMTPConnection({
      host: s.host,
      port: s.port,
      secure: s.tls === 'implicit',
      requireTLS: s.requireTls,
      ignoreTLS: s.tls === 'none',
      opportunisticTLS: s.tls === 'starttls' && !s.requireTls,
      tls: { rejectUnauthorized: s.tlsVerify, ...(this.opts.ca ? { ca: this.opts.ca } : {}), servername: /^[\d.:]+$/.test(s.host) ? undefined : s.host },
      connectionTimeout: s.timeoutMs,
      greetingTimeout: Math.min(s.timeoutMs, 30_000),
      socketTimeout: s.timeoutMs,
      dnsTimeout: Math.min(s.timeoutMs, 30_000),
      name: this.opts.name,
      logger,
      debug: !!logger,
      transactionLog: !!logger,
      allowInternalNetworkInterfaces: true,
    } as never);
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        this.live--;
        (conn as unknown as { _mcDropped?: boolean })._mcDropped = true;
        conn.close();
        reject(err);
      };
      conn.once('error', fail);
      conn.connect(() => {
        const done = () => {
          if (settled) return;
          settled = true;
          conn.removeListener('error', fail);
          // Later socket errors surface through send()'s callback; keep the process alive.
          conn.on('error', () => {});
          const size = (conn as unknown as { _maxAllowedSize?: number })._maxAllowedSize;
          if (size) this.maxMessageSize = size;
          resolve(conn);
        };
        if (!s.user) return done();
        conn.login({ user: s.user, pass: s.pass ?? '' }, (err) => (err ? fail(err) : done()));
      });
    });
  }
}

function isUsable(c: Conn): boolean {
  const x = c as unknown as { _destroyed?: boolean; _closing?: boolean; destroyed?: boolean };
  return !x._destroyed && !x._closing && !x.destroyed;
}

function describe(e: SmtpError): string {
  const base = e.response ? e.response : `${e.code ?? 'error'}: ${e.message}`;
  return redact(base.replace(/\s+/g, ' ').trim());
}

/** nodemailer's bunyan-style logger → our Logger, for --debug-smtp. */
function debugLogger(log: Logger) {
  const line = (_meta: unknown, fmt: unknown, ...args: unknown[]) => {
    let s = String(fmt);
    for (const a of args) s = s.replace(/%[sd]/, String(a));
    // nodemailer already writes AUTH payloads as `/* secret */`; redact() catches the rest.
    log.debug(redact(s));
  };
  return { trace: line, debug: line, info: line, warn: line, error: line, fatal: line, level: () => {} };
}
