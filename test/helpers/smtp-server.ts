// An in-process SMTP server for integration tests: the npm `smtp-server` package listening on
// 127.0.0.1 with a kernel-chosen port, recording every message it accepts and able to misbehave
// on cue. Real sockets, real TLS, real AUTH: the sender under test cannot tell it from a relay.
//
// Faults are scripted by one function, `script(ctx)`, asked at MAIL FROM, at each RCPT TO and at
// DATA. It sees how often the same address (or, for DATA, the same recipient set) was tried
// before, so "451 on the first attempt, then accept" is one line. Replies follow RFC 5321
// section 4.2 (a 4yz is transient, a 5yz permanent; 421 also closes the connection, which
// smtp-server does by itself). Enhanced status codes (RFC 3463) go in the message text, since
// smtp-server hides its own by default: `{ code: 451, message: '4.3.0 try later' }`.
//
// Why DATA is asked once, when the DATA command arrives, and not after the final dot: the
// 'reset-before-dot' fault must drop the connection before the client can have sent the dot.
// It is done before the 354 reply goes out, so the client never starts the message body; this
// is the only moment at which "the message was not handed over" is certain whatever its size.
// Every other DATA reply is applied after the whole message has been read, i.e. after the dot.

import { Buffer } from 'node:buffer';
import type { AddressInfo } from 'node:net';
import mailparser from 'mailparser';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { makeCert } from './certs.js';

export type ScriptPhase = 'mail' | 'rcpt' | 'data';

export interface ScriptContext {
  phase: ScriptPhase;
  /** MAIL FROM address ('mail'), the recipient ('rcpt'); undefined for 'data'. */
  address?: string;
  /** Recipients accepted so far in this transaction ('data': all of them). */
  recipients: string[];
  /**
   * 1-based count of tries, this one included, over the server's lifetime and all connections:
   * 'mail' per sender address, 'rcpt' per recipient address (case-insensitive), 'data' per
   * recipient set (so a retried message to the same recipients counts up).
   */
  attempt: number;
  /** 1-based number of the connection this command came on, in order of connection. */
  connection: number;
  session: SMTPServerSession;
}

/**
 * What a scripted command gets instead of its normal reply.
 * - `{code, message}`: an SMTP error reply (400..599). 421 closes the connection afterwards.
 * - `reset`: destroy the socket without a reply. At 'data' this happens after the whole message
 *   (final dot included) was read: the client cannot know whether it was delivered.
 * - `reset-before-dot`: at 'data', destroy the socket when the DATA command arrives, before 354,
 *   so no part of the message was sent. Elsewhere the same as `reset`.
 * - `hang`: never answer (at 'data', after reading the message). The client has to time out.
 * - `{ delay }`: the normal reply, `delay` ms late (at 'data': after the message was read), to
 *   widen the windows a crash test aims at.
 */
export type ScriptReply =
  | { code: number; message?: string }
  | { action: 'reset' | 'reset-before-dot' | 'hang' }
  | { delay: number };

export interface TestSmtpServerOptions {
  /** Implicit TLS from the first byte (port 465 style, RFC 8314). Default false. */
  secure?: boolean;
  /** Offer STARTTLS (RFC 3207) on a plaintext server. Default true. */
  starttls?: boolean;
  /** Certificate for TLS; default makeCert(). */
  tls?: { key: string; cert: string };
  /** When set, AUTH PLAIN/LOGIN is required before MAIL; wrong credentials get 535. */
  auth?: { user: string; pass: string };
  /** Allow AUTH without TLS (smtp-server refuses it by default, as RFC 4954 section 4 advises). */
  allowInsecureAuth?: boolean;
  /** SIZE to advertise (RFC 1870); a larger message is answered 552 and not recorded. */
  size?: number;
  /** RCPTs past this many in one transaction get `452 4.5.3 Too many recipients` (RFC 5321 4.5.3.1.10). */
  maxRecipientsPerMessage?: number;
  /** Scripted faults; return undefined for the normal reply. */
  script?: (ctx: ScriptContext) => ScriptReply | undefined;
  /** Server-side idle timeout in ms (smtp-server's default is 60 s). */
  socketTimeout?: number;
  /** Offer PIPELINING (RFC 2920) in the EHLO reply. Default true. */
  pipelining?: boolean;
  /** Port to listen on (a server coming back where an earlier one was); default any free one. */
  port?: number;
  /** Connections at once; one more is greeted `421 Too many connected clients` (smtp-server's maxClients). */
  maxClients?: number;
}

export interface RecordedMessage {
  envelope: { from: string; to: string[] };
  /** The message as received, dot-unstuffed, without the final `.`. */
  raw: Buffer;
  /** Epoch ms (wall clock) when the message was fully received. */
  at: number;
  /** Whether the session was under TLS (implicit or after STARTTLS). */
  secure: boolean;
  /** The authenticated user, if any. */
  user?: string;
  connection: number;
}

export interface TestSmtpServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /**
   * `smtps://` for a secure server, else `smtp://`, with `user:pass@` when auth is set. Trust
   * makeCert().ca or add `?tls_verify=false` for mailcamp transports.
   */
  readonly url: string;
  /** Messages answered 250, in order of acceptance. */
  readonly messages: RecordedMessage[];
  /** Messages read in full but then refused, dropped by a scripted `reset` or left hanging. */
  readonly dropped: RecordedMessage[];
  /** Connections that reached the SMTP session (after the TLS handshake for implicit TLS). */
  readonly connections: number;
  /** Connections open right now, and the most that were open at once. */
  readonly openConnections: number;
  readonly peakConnections: number;
  /** Errors the server emitted (socket resets show up here); kept for inspection, never thrown. */
  readonly errors: Error[];
  /** How many accepted messages had `addr` (case-insensitive) among their envelope recipients. */
  deliveries(addr: string): number;
  /** Resolves once `count` messages were accepted, rejects after `timeoutMs`. */
  waitForMessages(count: number, timeoutMs?: number): Promise<void>;
  /** Destroys open connections and stops listening. */
  close(): Promise<void>;
  /** The underlying smtp-server, for anything not covered here. */
  readonly server: SMTPServer;
}

/** Re-export of mailparser's simpleParser, to read a recorded `raw` in assertions. */
export const parse = (raw: Buffer | string): Promise<mailparser.ParsedMail> => mailparser.simpleParser(raw);

class ReplyError extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

function defaultMessage(code: number): string {
  if (code === 421) return '4.3.2 Service shutting down (scripted)';
  return code < 500 ? '4.3.0 Temporary failure (scripted)' : '5.0.0 Rejected (scripted)';
}

function replyError(reply: { code: number; message?: string }): ReplyError {
  if (!Number.isInteger(reply.code) || reply.code < 400 || reply.code > 599) {
    throw new TypeError(`scripted reply code must be 400..599, got ${reply.code}`);
  }
  return new ReplyError(reply.code, reply.message ?? defaultMessage(reply.code));
}

function bump(counts: Map<string, number>, key: string): number {
  const n = (counts.get(key) ?? 0) + 1;
  counts.set(key, n);
  return n;
}

export async function startSmtpServer(opts: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const cert = opts.tls ?? makeCert();
  const messages: RecordedMessage[] = [];
  const dropped: RecordedMessage[] = [];
  const errors: Error[] = [];
  const connectionOf = new Map<string, number>();
  const mailAttempts = new Map<string, number>();
  const rcptAttempts = new Map<string, number>();
  const dataAttempts = new Map<string, number>();
  const waiters: { count: number; resolve: () => void }[] = [];
  let connections = 0;
  let open = 0;
  let peak = 0;

  const disabled: string[] = [];
  if (!opts.auth) disabled.push('AUTH');
  if (opts.starttls === false && !opts.secure) disabled.push('STARTTLS');

  // Drops the client without a reply. The SMTPConnection object is only reachable through the
  // server's connection set; its `_socket` is the TLS socket after STARTTLS, which takes the
  // TCP socket down with it.
  const destroy = (session: SMTPServerSession): void => {
    for (const conn of server.connections) {
      if (conn.session === session) conn._socket.destroy();
    }
  };

  const ask = (ctx: Omit<ScriptContext, 'connection'>): ScriptReply | undefined =>
    opts.script?.({ ...ctx, connection: connectionOf.get(ctx.session.id) ?? 0 });

  // MAIL and RCPT: an error reply, a dropped connection, silence, or the normal acceptance.
  const apply = (
    reply: ScriptReply | undefined,
    session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ): void => {
    if (!reply) return callback();
    if ('delay' in reply) return void setTimeout(() => callback(), reply.delay);
    if ('code' in reply) return callback(replyError(reply));
    if (reply.action === 'hang') return;
    destroy(session);
  };

  const record = (session: SMTPServerSession, raw: Buffer): RecordedMessage => ({
    envelope: {
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      to: session.envelope.rcptTo.map((r) => r.address),
    },
    raw,
    at: Date.now(),
    secure: session.secure,
    user: typeof session.user === 'string' ? session.user : undefined,
    connection: connectionOf.get(session.id) ?? 0,
  });

  const options: SMTPServerOptions = {
    secure: !!opts.secure,
    key: cert.key,
    cert: cert.cert,
    name: 'localhost',
    banner: 'mailcamp test server',
    ...(opts.maxClients ? { maxClients: opts.maxClients } : {}),
    logger: false,
    disableReverseLookup: true,
    disabledCommands: disabled,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !opts.auth,
    allowInsecureAuth: !!opts.allowInsecureAuth,
    size: opts.size,
    socketTimeout: opts.socketTimeout,
    hidePIPELINING: opts.pipelining === false,
    closeTimeout: 200,
    // Scripts decide about retries; smtp-server's own cap would answer first and hide them.
    maxAllowedUnauthenticatedCommands: false,

    onConnect(session, callback) {
      connections++;
      connectionOf.set(session.id, connections);
      open++;
      peak = Math.max(peak, open);
      callback();
    },

    onClose(session) {
      if (connectionOf.has(session.id)) open--;
    },

    onAuth(auth, _session, callback) {
      const ok = !!opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass;
      if (ok) return callback(null, { user: auth.username });
      callback(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 });
    },

    onMailFrom(address, session, callback) {
      const attempt = bump(mailAttempts, address.address.toLowerCase());
      apply(ask({ phase: 'mail', address: address.address, recipients: [], attempt, session }), session, callback);
    },

    onRcptTo(address, session, callback) {
      const key = address.address.toLowerCase();
      const attempt = bump(rcptAttempts, key);
      const accepted = session.envelope.rcptTo.map((r) => r.address);
      const max = opts.maxRecipientsPerMessage;
      if (max !== undefined && accepted.length >= max && !accepted.some((a) => a.toLowerCase() === key)) {
        return callback(new ReplyError(452, '4.5.3 Too many recipients'));
      }
      apply(ask({ phase: 'rcpt', address: address.address, recipients: accepted, attempt, session }), session, callback);
    },

    onData(stream, session, callback) {
      const recipients = session.envelope.rcptTo.map((r) => r.address);
      const setKey = recipients.map((a) => a.toLowerCase()).sort().join(',');
      const reply = ask({ phase: 'data', recipients, attempt: bump(dataAttempts, setKey), session });
      if (reply && 'action' in reply && reply.action === 'reset-before-dot') {
        destroy(session);
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const msg = record(session, Buffer.concat(chunks));
        if (stream.sizeExceeded) {
          dropped.push(msg);
          return callback(new ReplyError(552, '5.3.4 Message size exceeds fixed maximum message size'));
        }
        if (reply && 'delay' in reply) {
          setTimeout(() => {
            messages.push(msg);
            callback(null, `OK: queued as ${messages.length}`);
            for (const w of waiters.filter((x) => messages.length >= x.count)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve();
            }
          }, reply.delay);
          return;
        }
        if (!reply) {
          messages.push(msg);
          callback(null, `OK: queued as ${messages.length}`);
          for (const w of waiters.filter((x) => messages.length >= x.count)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
          return;
        }
        dropped.push(msg);
        if ('code' in reply) return callback(replyError(reply));
        if (reply.action === 'hang') return;
        destroy(session);
      });
    },
  };

  const server = new SMTPServer(options);
  server.on('error', (err) => errors.push(err));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  const cred = opts.auth ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.pass)}@` : '';
  const url = `${opts.secure ? 'smtps' : 'smtp'}://${cred}127.0.0.1:${port}`;

  return {
    host: '127.0.0.1',
    port,
    url,
    messages,
    dropped,
    errors,
    server,
    get connections() {
      return connections;
    },
    get openConnections() {
      return open;
    },
    get peakConnections() {
      return peak;
    },
    deliveries(addr: string): number {
      const a = addr.toLowerCase();
      return messages.filter((m) => m.envelope.to.some((t) => t.toLowerCase() === a)).length;
    },
    waitForMessages(count: number, timeoutMs = 5000): Promise<void> {
      if (messages.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`waitForMessages: ${messages.length} of ${count} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close(): Promise<void> {
      for (const conn of server.connections) conn._socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
