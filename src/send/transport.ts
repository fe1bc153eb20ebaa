// The Transport interface: how the dispatcher hands a composed message to the outside world
// (style.md habit 6). Implementations: outbox (writes .eml files) and SMTP (a pool of
// nodemailer SMTPConnections). A per-message outcome is a SendResult; a fault that makes
// every further send pointless (TLS, authentication, an unreachable server at start) is
// thrown as MailcampError('TRANSPORT') and ends the run with exit code 3.

import type { Composed } from '../compose/index.js';

export type SendStatus = 'sent' | 'failed' | 'deferred' | 'unknown';

export interface SendResult {
  status: SendStatus;
  /** The server's reply (or a description of the fault), for the journal and report. */
  response: string;
  code?: number;
  /** Envelope recipients the server refused while others were accepted (group messages). */
  rejected?: { address: string; response: string; code?: number }[];
}

export interface Transport {
  /** Credentials removed. */
  readonly description: string;
  /** Largest message the server accepts (SMTP SIZE), once known. */
  readonly maxMessageSize?: number;
  /** Checks that the transport is usable (connects and authenticates for SMTP). */
  open(): Promise<void>;
  /**
   * Delivers one message. `beforeData` is awaited once a connection is ready and before
   * anything of the message is sent: the journal makes `sending` durable there.
   */
  send(msg: Composed, beforeData: () => Promise<void>, signal?: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}
