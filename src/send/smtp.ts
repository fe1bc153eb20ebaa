// SMTP transport: a small pool of nodemailer SMTPConnections, connections kept open and
// reused. nodemailer connects, says EHLO, upgrades with STARTTLS and authenticates; when the
// server offers PIPELINING the transactions themselves are written by smtp-session.ts (fewer
// writes and event-loop turns per message than nodemailer's send(), same semantics), otherwise
// by nodemailer's send(), one message at a time per connection. With PIPELINING a second
// message may wait behind the one under way on a connection once every connection carries one:
// its envelope goes out with the first one's content (one round trip per message instead of
// two). The price: a server slow to answer one message's final dot holds the message behind it
// too (up to the timeout; its content never left, so it then goes on another connection).
//
// We drive SMTPConnection directly instead of nodemailer's SMTPPool because the pool silently
// re-queues a message whose connection dropped (`maxRequeues`) — after the final "." that
// duplicates mail — and because we need to know, for every fault, whether the final "." had
// been handed to the socket: before it, the message was not delivered (deferred); after it, it
// may have been (unknown; RFC 5321 §6.1, RFC 1047).
//
// The journal (transport.ts, Gate): on both paths the gate opens before the first command of
// the message's transaction, so `sending` is committed before MAIL and DATA go out and its
// fsync runs while the envelope is answered; the content waits for that fsync and for the
// server's 354 (nodemailer's path: a body stream that produces nothing until then;
// smtp-session.ts: its own wait), and gate.handOver() records it right before the first byte.
// A process killed while the envelope is being negotiated leaves the recipient `sending`
// without handOver's mark, which the resume puts back to `pending` (the server drops an
// unfinished transaction, RFC 5321 §4.1.1.4): only messages whose content was actually on its
// way can come back as `unknown`.
//
// Faults (classification in retry.ts):
// - 421 anywhere (RFC 5321 §3.8): the server closes the channel; the message is deferred and
//   no new connection is opened before a cool-down that doubles per consecutive 421.
// - Per-recipient 4yz, notably 452 "too many recipients" (RFC 5321 §4.5.3.1.10): the refused
//   recipients of a group message go out in a further transaction right after the accepted
//   ones; recipients refused with 5yz are reported and not tried again.
// - Timeouts: `?timeout=` (default 60 s) bounds connecting, the greeting and every wait for a
//   reply (socket inactivity), so a server that stops answering costs at most that long. RFC
//   5321 §4.5.3.2 allows servers minutes per command; a timeout shorter than the server's
//   final-dot processing turns deliveries into `unknown`, hence the generous default.
// - TLS and authentication failures are fatal: returned with `fatal` set, never retried.

import fs from 'node:fs';
import { Readable, type Transform } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Composed } from '../compose/index.js';
import { keep } from '../compose/message-memory.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { redact } from '../shared/secrets.js';
import { useFastDotStuffing } from './dot-stuff.js';
import { type Outcome, type SendInfo, type SmtpError, SmtpSession, smtpError } from './smtp-session.js';
import { classifySmtpError, needsReconnect } from './retry.js';
import type { TransportSpec } from './transport-url.js';
import type { Gate, SendResult, Transport } from './transport.js';

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
  clock?: Clock;
  /** Cool-down after a 421 before connecting again; doubles per consecutive 421 up to the max. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /**
   * Failed connection attempts in a row (refused, unreachable, a 4yz greeting) after which the
   * server counts as down: the run stops with a fatal error (exit 3) and resumes later. Default 5.
   */
  reconnectAttempts?: number;
}

type Conn = InstanceType<typeof SMTPConnection>;

/** After the pool was cut to the server's limit, how often one more connection is tried. */
const CAP_PROBE_MS = 30_000;

/** A pooled connection: nodemailer's, with our transaction writer on it when the server offers PIPELINING. */
interface Slot {
  conn: Conn;
  session?: SmtpSession;
  /** Messages it carries: one, or two when the second waits behind the first (smtp-session.ts). */
  load: number;
}

export class SmtpTransport implements Transport {
  readonly description: string;
  /** A session holds the content until its socket has written it; nodemailer's path keeps it. */
  readonly keepsNoContent = true;
  /** Largest message the server accepts (SMTP SIZE, RFC 1870), once known. */
  maxMessageSize?: number;
  private readonly slots = new Set<Slot>();
  private connecting = 0;
  private wakeups: (() => void)[] = [];
  /** In-flight transactions of nodemailer's own send: abort() settles them itself (its close() forgets them). */
  private readonly inFlight = new Map<Conn, (e: SmtpError) => void>();
  private closed = false;
  /** No new connection before this (epoch ms): the 421 cool-down. */
  private notBefore = 0;
  private closings = 0;
  /**
   * Connection attempts that failed in a row with no connection open, counted once per
   * cool-down: `round` goes up with each counted failure, and an attempt that began in an
   * earlier round (it was waiting for the same cool-down) is not counted again.
   */
  private connectFailures = 0;
  private round = 0;
  /** Transactions failed by the server in a row (a 421, a connection lost before the dot), once per cool-down. */
  private serverFaults = 0;
  private faultRound = 0;
  /**
   * Connections to keep: lowered when the server refuses one while others are open (its limit),
   * and raised by one again every CAP_PROBE_MS while messages go through (the limit may have
   * been someone else's connections, or a moment's).
   */
  private poolCap: number;
  private capChangedAt = 0;
  private capSaid = false;
  /** open() succeeded: later connection problems are reported as they happen. */
  private opened = false;
  private readonly where: string;
  private readonly clock: Clock;

  constructor(
    private readonly spec: SmtpSpec,
    private opts: SmtpOptions,
  ) {
    this.description = spec.display;
    this.where = `${spec.host}:${spec.port}`;
    this.clock = opts.clock ?? systemClock;
    this.poolCap = opts.poolSize;
    if (spec.caFile && !opts.ca) this.opts = { ...opts, ca: fs.readFileSync(spec.caFile) };
  }

  /**
   * Connects once: an unreachable server, TLS or authentication failure here is fatal (exit 3).
   * A 4yz greeting (421 busy) is not: sending starts after the cool-down.
   */
  async open(signal?: AbortSignal): Promise<void> {
    let s: Slot;
    try {
      s = await this.connect(signal);
    } catch (e) {
      const err = e as SmtpError;
      if (signal?.aborted) throw signal.reason;
      if (err.responseCode && err.responseCode >= 400 && err.responseCode < 500) {
        // A 4yz greeting (busy): connect() has set the cool-down; sending starts after it.
        this.opened = true;
        this.opts.logger?.warn(`${this.where}: ${describe(err)}; connecting again later`);
        return;
      }
      throw this.fatal(err);
    }
    this.opened = true;
    this.release(s);
  }

  async send(msg: Composed, firstGate: Gate, signal?: AbortSignal): Promise<SendResult> {
    const delivered: string[] = [];
    const rejected: NonNullable<SendResult['rejected']> = [];
    /** Members refused with a 4yz other than 452: tried again later, with backoff. */
    const later: SmtpError[] = [];
    let todo = [...msg.envelope.to];
    let gate: Gate | undefined = firstGate;
    let slot: Slot | undefined;
    for (;;) {
      if (!slot) {
        try {
          slot = await this.acquire(signal);
        } catch (e) {
          if (signal?.aborted || e instanceof MailcampError) return { status: 'deferred', response: 'not sent: the run stopped', delivered, notTried: !delivered.length };
          const err = e as SmtpError;
          if (classifySmtpError(err) === 'fatal') return this.failure(err, false, delivered, rejected);
          // No connection (refused, unreachable, a 4yz greeting): nothing of this message went
          // out, so it costs its recipient no attempt; connect() has set a cool-down, and the
          // message waits for the next connection. A server that stays away stops the run
          // (exit 3) with the message still to be sent: `send` again resumes it.
          if (this.gaveUp()) return { status: 'deferred', response: `not sent: ${describe(err)}`, delivered, notTried: !delivered.length, fatal: this.giveUp(err) };
          continue;
        }
        if (this.maxMessageSize && msg.raw.length > this.maxMessageSize) {
          this.release(slot);
          return { status: 'failed', response: `message is ${msg.raw.length} bytes; the server accepts at most ${this.maxMessageSize} (SIZE)` };
        }
        if (gate) {
          try {
            await gate.ready(); // the rate limit, with the connection in hand
          } catch (e) {
            this.release(slot);
            const why = e instanceof Error ? e.message : String(e);
            return { status: 'deferred', response: `not sent: ${redact(why)}`, delivered, notTried: !delivered.length };
          }
        }
      }
      const round = this.faultRound;
      const pending = this.transaction(slot, msg, todo, gate);
      // A message may now wait behind this one (smtp-session.ts): one waiting for a connection can.
      if (slot.load === 1 && slot.session?.canQueue) this.wakeOne();
      const r = await pending;
      if (!r.ok && r.notSent) {
        // A 421 ended the connection before the server executed any of it: another one takes it.
        if (r.err.responseCode === 421) this.coolDown();
        this.release(slot);
        slot = undefined;
        continue;
      }
      if (!r.ok && r.refusedAtGate !== undefined) {
        // Stopped (or the journal failed) before any byte of the message went out. A session
        // the refusal did not break (nothing was written) still carries the message before it.
        if (slot.session && !slot.session.broken) this.release(slot);
        else this.forget(slot);
        const why = r.refusedAtGate instanceof Error ? r.refusedAtGate.message : String(r.refusedAtGate);
        return { status: 'deferred', response: `not sent: ${redact(why)}`, delivered, notTried: !delivered.length };
      }
      gate = undefined; // one `sending` per message, however many transactions it takes
      if (!r.ok) {
        const e = r.err;
        for (const x of e.rejectedErrors ?? []) if ((x.responseCode ?? 0) >= 500) rejected.push(refusal(x));
        // A rejection of every recipient leaves the session usable; anything else, not.
        if (slot.session ? slot.session.broken : e.responseCode === 421 || !e.responseCode) this.forget(slot);
        else this.resetAndRelease(slot);
        const result = this.failure(e, r.dotHandedOver, delivered, rejected);
        // Somebody got the message in an earlier transaction, the rest were refused for good.
        if (delivered.length && result.status === 'failed') return { ...result, status: 'sent' };
        // The server, not the recipient: a 421 (RFC 5321 §3.8: the service is closing), the
        // connection lost or silent before the final dot. Like a server that cannot be reached,
        // it costs the recipient no attempt (a passing outage must not turn into `failed`);
        // it counts towards giving up on the server (once per cool-down), and a server that
        // keeps doing it stops the run, exit 3, with the message still to send.
        if (result.status === 'deferred' && !result.fatal && needsReconnect(e)) {
          this.serverFaulted(e, round);
          if (this.gaveUp()) return { ...result, serverFault: true, fatal: this.giveUp(e, 'the server failed') };
          return { ...result, serverFault: true };
        }
        return result;
      }
      this.closings = 0;
      this.connectFailures = 0; // the server is there (a limit on connections may refuse one more)
      this.serverFaults = 0;
      if (this.poolCap < this.opts.poolSize && this.clock.now() - this.capChangedAt >= CAP_PROBE_MS) {
        this.poolCap++;
        this.capChangedAt = this.clock.now();
      }
      const accepted = r.info.accepted ?? todo;
      delivered.push(...accepted);
      const again: string[] = [];
      for (const x of r.info.rejectedErrors ?? []) {
        if ((x.responseCode ?? 0) >= 500 || !x.recipient) rejected.push(refusal(x));
        else if (x.responseCode === 452) again.push(x.recipient);
        else later.push(x);
      }
      // 452 for some recipients (too many in one transaction): they go in another one at once
      // (RFC 5321 §4.5.3.1.10). Progress is certain: this transaction accepted at least one.
      if (again.length && accepted.length) {
        todo = again;
        continue;
      }
      this.release(slot);
      // Another 4yz for some members (451 greylisting, a full mailbox): a retry with backoff
      // for them, as for any recipient's 4yz; those reached are not sent to again.
      if (later.length) {
        const first = later[0];
        return { status: 'deferred', response: `${describe(first)} (for ${later.map((x) => x.recipient).join(', ')})`, code: first.responseCode, delivered, rejected: rejected.length ? rejected : undefined };
      }
      return { status: 'sent', response: redact(r.info.response ?? '250'), code: 250, delivered, rejected: rejected.length ? rejected : undefined };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.wakeups.splice(0)) w();
    const idle = [...this.slots].filter((s) => !s.load && isUsable(s));
    for (const s of this.slots) if (!idle.includes(s)) this.abortOne(s);
    await Promise.all(
      idle.map(
        (s) =>
          new Promise<void>((resolve) => {
            this.slots.delete(s);
            const c = s.conn;
            if (s.session && !s.session.detach()) {
              c.close();
              resolve();
              return;
            }
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

  abort(): void {
    this.closed = true;
    for (const w of this.wakeups.splice(0)) w();
    for (const s of [...this.slots]) this.abortOne(s);
  }

  // ---- one transaction

  private transaction(slot: Slot, msg: Composed, to: string[], gate: Gate | undefined): Promise<Outcome> {
    if (slot.session) return slot.session.transaction({ from: msg.envelope.from, to, raw: msg.raw, gate });
    const conn = slot.conn;
    let durable = Promise.resolve();
    if (gate) {
      try {
        durable = gate.open();
      } catch (e) {
        const err = smtpError(e instanceof Error ? e.message : String(e), 'ESTREAM', undefined, 'API');
        return Promise.resolve({ ok: false, err, dotHandedOver: false, refusedAtGate: e ?? new Error('refused') });
      }
      durable.catch(() => {}); // handled when nodemailer asks for the content
    }
    return new Promise<Outcome>((resolve) => {
      let dotHandedOver = false;
      let refusedAtGate: unknown;
      let settled = false;
      let started = false;
      const raw = msg.raw;
      // nodemailer's connection does not say when its socket has written the content.
      keep(raw);
      const body = new Readable({
        read() {
          if (started) return;
          started = true;
          durable.then(
            () => {
              try {
                gate?.handOver();
              } catch (e) {
                refusedAtGate = e ?? new Error('refused');
                this.destroy(e instanceof Error ? e : new Error(String(e)));
                return;
              }
              this.push(raw);
              this.push(null);
            },
            (e: unknown) => {
              refusedAtGate = e ?? new Error('refused');
              this.destroy(e instanceof Error ? e : new Error(String(e)));
            },
          );
        },
      });
      // Registered before nodemailer pipes the body, so it runs before the final dot is written.
      body.once('end', () => (dotHandedOver = true));
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(conn);
        resolve(o);
      };
      this.inFlight.set(conn, (err) => settle({ ok: false, err, dotHandedOver, refusedAtGate }));
      conn.send({ from: msg.envelope.from, to, size: raw.length } as never, body, (err, info) => {
        if (err) settle({ ok: false, err: err as SmtpError, dotHandedOver, refusedAtGate });
        else settle({ ok: true, info: info as SendInfo });
      });
    });
  }

  /** The SendResult for an error; `delivered` lists recipients of earlier transactions. */
  private failure(e: SmtpError, dotHandedOver: boolean, delivered: string[], rejected: NonNullable<SendResult['rejected']> = []): SendResult {
    // A reply with a code is a definite answer; silence after the final dot is not.
    const kind = classifySmtpError(e, { afterFinalDot: dotHandedOver && !e.responseCode });
    if (e.responseCode === 421) this.coolDown();
    const base = { response: describe(e), code: e.responseCode, delivered, rejected: rejected.length ? rejected : undefined };
    if (kind === 'fatal') {
      return { ...base, status: dotHandedOver && !e.responseCode ? 'unknown' : 'deferred', response: `not sent: ${base.response}`, fatal: this.fatal(e) };
    }
    return { ...base, status: kind };
  }

  private fatal(e: SmtpError): MailcampError {
    const what =
      e.code === 'EAUTH' || [530, 534, 535, 538].includes(e.responseCode ?? 0)
        ? 'authentication failed'
        : /TLS|CERT|SSL/i.test(`${e.code} ${e.originalCode} ${e.message}`)
          ? 'TLS failed'
          : 'connection failed';
    // smtp:// requires STARTTLS (design.md); a server that refuses the command does not offer it.
    if (what === 'TLS failed' && e.command === 'STARTTLS' && (e.responseCode ?? 0) >= 500) {
      return new MailcampError(
        'TRANSPORT',
        `TLS failed: the server does not offer STARTTLS (${describe(e)}); smtp:// requires it except to a loopback address`,
        { host: this.where, responseCode: e.responseCode },
        'use smtps:// for a server with implicit TLS, or smtp+plain:// to send without TLS on a network you trust',
      );
    }
    // A certificate the machine does not trust: say the ways out, as the mailbox readers do.
    const certificate = what === 'TLS failed' && /certificate|self.signed|CERT_|issuer/i.test(`${e.code} ${e.message}`);
    return new MailcampError(
      'TRANSPORT',
      `${what}: ${describe(e)}`,
      { host: this.where, responseCode: e.responseCode },
      certificate ? "for a server whose certificate comes from a private CA add ?ca=FILE (its PEM) to the URL; for a test server, ?tls_verify=false" : undefined,
    );
  }

  /**
   * A transaction failed because of the server (needsReconnect): counted once per cool-down,
   * like a failed connection attempt, but apart from those (the connections themselves succeed
   * against a server that answers every MAIL with 421); a delivered message resets it.
   */
  private serverFaulted(e: SmtpError, round: number): void {
    if (round !== this.faultRound) return; // the same cool-down: counted already
    this.faultRound++;
    this.serverFaults++;
    if (e.responseCode !== 421) this.coolDown(); // failure() cooled down for a 421
  }

  /** Whether the server failed `retry.attempts` times in a row: time to stop the run. */
  private gaveUp(): boolean {
    const limit = this.opts.reconnectAttempts ?? 5;
    return this.connectFailures >= limit || this.serverFaults >= limit;
  }

  private giveUp(err: SmtpError, what = 'connection failed'): MailcampError {
    return new MailcampError(
      'TRANSPORT',
      `${what} ${this.opts.reconnectAttempts ?? 5} times in a row: ${describe(err)}`,
      { host: this.where, responseCode: err.responseCode },
      'the run stopped with the rest still to send; run the same command again once the server is back',
    );
  }

  private coolDown(): void {
    const base = this.opts.reconnectDelayMs ?? 1000;
    const max = this.opts.maxReconnectDelayMs ?? 60_000;
    const wait = Math.min(max, base * 2 ** Math.min(this.closings, 20));
    this.closings++;
    this.notBefore = Math.max(this.notBefore, this.clock.now() + wait);
  }

  /**
   * A connection attempt failed (TLS and authentication failures are fatal at once, elsewhere).
   * With other connections open, the server is there and has refused one more than it allows:
   * the pool keeps to the ones it has. With none, it counts towards giving up (once per
   * cool-down) and sets the next cool-down.
   */
  private connectFailed(e: SmtpError, round: number): void {
    if (classifySmtpError(e) === 'fatal') return;
    if (this.slots.size > 0) {
      // Those still being opened may well succeed (this attempt is one of `connecting`).
      const cap = Math.max(1, this.slots.size + this.connecting - 1);
      if (cap < this.poolCap) {
        this.poolCap = cap;
        this.capChangedAt = this.clock.now();
        if (!this.capSaid) this.opts.logger?.warn(`${this.where}: a connection was refused while ${this.slots.size} were open (${describe(e)}); going on with ${cap}`);
        this.capSaid = true;
      }
      return;
    }
    if (round !== this.round) return;
    this.round++;
    this.connectFailures++;
    this.coolDown();
    if (this.opened && this.connectFailures < (this.opts.reconnectAttempts ?? 5)) {
      this.opts.logger?.warn(`${this.where}: ${describe(e)}; connecting again later (at ${new Date(this.notBefore).toISOString().replace(/\.\d+Z$/, 'Z')})`);
    }
  }

  // ---- the pool

  private async acquire(signal?: AbortSignal): Promise<Slot> {
    for (;;) {
      if (this.closed) throw new MailcampError('INTERRUPTED', 'transport closed');
      if (signal?.aborted) throw signal.reason;
      let idle: Slot | undefined;
      let behind: Slot | undefined;
      for (const s of [...this.slots]) {
        if (s.load) {
          if (s.load === 1 && s.session?.canQueue) behind ??= s;
          continue;
        }
        if (!isUsable(s)) this.forget(s);
        else idle ??= s;
      }
      if (idle) {
        idle.load = 1;
        return idle;
      }
      if (this.slots.size + this.connecting < this.poolCap) {
        return await this.connect(signal);
      }
      // Every connection carries a message: wait behind one whose server pipelines.
      if (behind) {
        behind.load = 2;
        return behind;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake);
          this.wakeups = this.wakeups.filter((w) => w !== wake);
          resolve();
        };
        this.wakeups.push(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  private wakeOne(): void {
    this.wakeups.shift()?.();
  }

  private release(s: Slot): void {
    s.load = Math.max(0, s.load - 1);
    if (s.load) return this.wakeOne(); // the message behind goes on (and the slot may take another)
    if (this.closed || !isUsable(s)) {
      this.forget(s);
      return;
    }
    this.wakeOne();
  }

  private forget(s: Slot): void {
    s.load = Math.max(0, s.load - 1);
    if (this.slots.delete(s)) {
      try {
        s.conn.close();
      } catch {
        /* already closed */
      }
    }
    this.wakeOne();
  }

  private abortOne(s: Slot): void {
    const fail = this.inFlight.get(s.conn);
    this.slots.delete(s);
    const err = Object.assign(new Error('connection dropped: the run was stopped'), { code: 'EABORT' });
    try {
      s.session?.abort(err);
      (s.conn as unknown as { _socket?: { destroy(): void } })._socket?.destroy();
      s.conn.close();
    } catch {
      /* already closed */
    }
    fail?.(err);
  }

  private resetAndRelease(s: Slot): void {
    // The session resets by itself (RSET before its next MAIL) after a transaction without content.
    if (s.session) return this.release(s);
    s.conn.reset((err) => (err ? this.forget(s) : this.release(s)));
  }

  private async connect(signal?: AbortSignal): Promise<Slot> {
    this.connecting++;
    try {
      const wait = this.notBefore - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait, signal);
      const round = this.round;
      let c: Conn;
      try {
        c = await this.dial(signal);
      } catch (e) {
        if (signal?.aborted) throw signal.reason; // given up for an interrupt, not a server fault
        this.connectFailed(e as SmtpError, round);
        throw e;
      }
      this.connectFailures = 0;
      if (this.slots.size === 0) this.poolCap = this.opts.poolSize; // a fresh start after losing every connection
      if (this.closed) {
        c.close();
        throw new MailcampError('INTERRUPTED', 'transport closed');
      }
      const log = this.opts.debug && this.opts.logger ? this.opts.logger : undefined;
      const session = SmtpSession.attach(c, log ? (line) => log.debug(redact(line)) : undefined);
      const s: Slot = { conn: c, session, load: 1 }; // handed to the caller: a waiter woken meanwhile must not take it
      this.slots.add(s);
      return s;
    } finally {
      this.connecting--;
      // A failed attempt frees its place in the pool for someone waiting.
      this.wakeOne();
    }
  }

  /** A connection, greeted (and logged in); an interrupt abandons the attempt at once. */
  private dial(signal?: AbortSignal): Promise<Conn> {
    const s = this.spec;
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
    fastData(conn);
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      const onAbort = () => fail(signal!.reason instanceof Error ? signal!.reason : new Error('interrupted'));
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        conn.close();
        reject(err);
      };
      if (signal?.aborted) return fail(signal.reason instanceof Error ? signal.reason : new Error('interrupted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.once('error', fail);
      conn.connect(() => {
        const done = () => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
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

/**
 * Our messages are canonical CRLF (compose/), so the DATA stream only needs its dots doubled:
 * dot-stuff.ts does that with indexOf. nodemailer creates that stream in an internal method;
 * should a later version rename it, its own (slower) transform simply stays in place.
 */
function fastData(conn: Conn): void {
  const c = conn as unknown as { _createSendStream?: (cb: unknown) => Transform };
  const create = c._createSendStream;
  if (typeof create !== 'function') return;
  c._createSendStream = function (this: unknown, cb: unknown) {
    const stream = create.call(this, cb);
    useFastDotStuffing(stream);
    return stream;
  };
}

function isUsable(s: Slot): boolean {
  const x = s.conn as unknown as { _destroyed?: boolean; _closing?: boolean; destroyed?: boolean };
  return !x._destroyed && !x._closing && !x.destroyed && !s.session?.broken;
}

function refusal(x: SmtpError): { address: string; response: string; code?: number } {
  return { address: x.recipient ?? '', response: redact(x.response ?? x.message), code: x.responseCode };
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
