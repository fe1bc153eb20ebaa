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
}

/**
 * Called once per message when the server is ready for its content (after the 354 reply to
 * DATA, before the first byte of the message): the journal makes `sending` durable there.
 * Rejecting it (the run was stopped, the journal failed) abandons the message unsent.
 */
export type BeforeData = () => Promise<void>;

export interface Transport {
  /** Credentials removed. */
  readonly description: string;
  /** Checks that the transport is usable (connects and authenticates for SMTP). */
  open(signal?: AbortSignal): Promise<void>;
  /** Delivers one message; see BeforeData. `signal` abandons waiting for a connection. */
  send(msg: Composed, beforeData: BeforeData, signal?: AbortSignal): Promise<SendResult>;
  /** Closes idle connections politely (QUIT) once in-flight messages are done. */
  close(): Promise<void>;
  /**
   * Drops every connection now, messages in flight included (the bounded wait after a signal
   * ran out): their send() resolves as deferred (before the final dot) or unknown (after).
   */
  abort(): void;
}
