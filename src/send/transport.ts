// The Transport interface: how the dispatcher hands a composed message to the outside world
// (style.md habit 6). Implementations: outbox (writes .eml files) and SMTP (a pool of
// nodemailer SMTPConnections).
//
// send() never throws for a delivery problem: every outcome, the fatal ones included, comes
// back as a SendResult, because even a fatal error has a definite meaning for the message it
// happened to (not sent, or unknown when it broke after the final dot). A fault that makes
// every further send pointless (TLS, authentication) is carried in `fatal`; the dispatcher
// stops the run with it (exit code 3). open() throws that same kind of error when the
// transport cannot be used at all.

import type { Composed } from '../compose/index.js';
import type { MailcampError } from '../shared/errors.js';

export type SendStatus = 'sent' | 'failed' | 'deferred' | 'unknown';

export interface SendResult {
  status: SendStatus;
  /** The server's reply (or a description of the fault), for the journal and report. */
  response: string;
  code?: number;
  /**
   * Envelope recipients the server accepted in a transaction that completed (a 250 after the
   * final dot). For a group message that ends deferred, these must not be sent to again.
   */
  delivered?: string[];
  /** Envelope recipients refused for good (5yz) while others were accepted (group messages). */
  rejected?: { address: string; response: string; code?: number }[];
  /** Set when nothing more can be sent until the user changes something (exit code 3). */
  fatal?: MailcampError;
  /** The message never left: the run stopped before it could be tried (not an attempt). */
  notTried?: boolean;
  /**
   * Deferred because of the server, not the recipient (a 421, the connection lost before the
   * final dot): not an attempt; tried again as soon as the transport has a connection.
   */
  serverFault?: boolean;
}

/**
 * The dispatcher's hold on a message's way out: its pace (ready) and the journal (design.md:
 * `sending` before DATA):
 * - open() before the first command of the message's first transaction (MAIL; the envelope
 *   ends with DATA): `sending` is committed when it returns, and its promise resolves once
 *   that is on disk. It throws when the message must not go out (the run stopped). Calling it
 *   again (the message moved to another connection before anything was executed) returns the
 *   same promise.
 * - handOver() after that promise resolved and the server answered DATA with 354, right before
 *   the first byte of the content: records that the content is on its way. Throwing abandons
 *   the message unsent.
 * A rejected promise or a throw abandons the message before any byte of its content went out.
 */
export interface Gate {
  /**
   * Awaited once the transport holds what it needs to start the message (a connection) and
   * before open(): the rate limit. Rejecting it leaves the message unsent (`notTried`). Calling
   * it again returns the same promise.
   */
  ready(): Promise<void>;
  open(): Promise<void>;
  handOver(): void;
  /**
   * False once the run has stopped: a message opened but not started yet (waiting behind
   * another on a connection, its envelope not written) is then left unsent (`notTried`).
   */
  stillWanted?(): boolean;
}

export interface Transport {
  /** Credentials removed. */
  readonly description: string;
  /** Checks that the transport is usable (connects and authenticates for SMTP). */
  open(signal?: AbortSignal): Promise<void>;
  /** Delivers one message; see Gate. `signal` abandons waiting for a connection. */
  send(msg: Composed, gate: Gate, signal?: AbortSignal): Promise<SendResult>;
  /**
   * True when nothing of the transport reads `msg.raw` once send() has resolved, unless it said
   * so with hold() (compose/message-memory.ts): the message's memory is then written over by a
   * later message. Left out (a script's own transport, which may keep what it was given): each
   * message keeps memory of its own.
   */
  readonly keepsNoContent?: boolean;
  /** Closes idle connections politely (QUIT) once in-flight messages are done. */
  close(): Promise<void>;
  /**
   * Drops every connection now, messages in flight included (the bounded wait after a signal
   * ran out): their send() resolves as deferred (before the final dot) or unknown (after).
   */
  abort(): void;
}
