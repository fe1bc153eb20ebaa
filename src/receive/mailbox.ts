// The Mailbox interface: what the bounce pipeline needs from a place that holds returned
// mail, whatever the protocol (style.md habit 6). IMAP, POP3 and a local folder implement
// it; tests can hand the pipeline their own.
//
// A message is named by an id that stays the same across sessions (IMAP
// `UIDVALIDITY:UID`, RFC 3501 §2.3.1.1; POP3 UIDL, RFC 1939 §7; a file name), so the
// processed-message store can recognise it next time. Deleting and moving come last, in
// one call, after everything learned from the messages has been recorded.

import type { Readable } from 'node:stream';
import type { MailboxConfig } from './config.js';
import { DirMailbox } from './dir.js';
import { ImapMailbox } from './imap.js';
import { Pop3Mailbox } from './pop3.js';

export interface MailboxMessage {
  id: string;
  /** How a person would name it: the file name, the IMAP UID, the POP3 UIDL. */
  source: string;
  /** Octets, when the server says (IMAP RFC822.SIZE, POP3 LIST, file size). */
  size?: number;
  /** IMAP INTERNALDATE or the file's mtime; the Date header is read from the message. */
  received?: Date;
}

/** A certificate the server showed and TLS refused, said alike for IMAP and POP3, with the way out. */
export function certificateProblem(code: string | undefined, message: string | undefined): { msg: string; hint: string } {
  const msg = `TLS certificate not trusted (${[code, message].filter(Boolean).join(': ')})`;
  const hint = /ALTNAME|does not match|Hostname/i.test(`${code} ${message}`)
    ? "the certificate is for another host name: put the name it was issued for in the url"
    : 'for a private CA add ca: to the mailbox file; for a test server add ?tls_verify=false to the url';
  return { msg, hint };
}

/** fetch() of a message that is no longer there (another client expunged it after the listing). */
export class MessageGone extends Error {}

export interface Mailbox {
  /** The mailbox without credentials, e.g. `imaps://bounces@imap.example.com:993/INBOX`. */
  readonly identity: string;
  /** Whether `move()` works here (POP3 has no folders). */
  readonly canMove: boolean;
  open(): Promise<void>;
  list(): Promise<MailboxMessage[]>;
  /**
   * The message's bytes; the caller reads the stream to its end before the next call. Throws
   * MessageGone when the message went away since list().
   */
  fetch(id: string): Promise<Readable>;
  /** Removes the messages (POP3: when the session ends, RFC 1939 §6 UPDATE state). */
  delete(ids: string[]): Promise<void>;
  move(ids: string[], folder: string): Promise<void>;
  /** Ends the session; pending POP3 deletions are committed by QUIT. */
  close(): Promise<void>;
  /** Drops the session after an error without committing anything (POP3: no QUIT). */
  abort?(): void;
}

export function openMailbox(c: MailboxConfig): Mailbox {
  const u = c.url;
  if (u.kind === 'dir') return new DirMailbox(u.path, c.urlPlace);
  if (u.kind === 'imap') return new ImapMailbox(u, { ca: c.ca });
  return new Pop3Mailbox(u, { ca: c.ca });
}
