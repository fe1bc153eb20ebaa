// Builds a delivery status notification (RFC 3464 inside RFC 6522 multipart/report) the way
// Postfix writes one, returning the original message or only its headers
// (text/rfc822-headers), for tests that need a bounce of a message they just sent.

export interface DsnInput {
  /** Unique part of the report's Message-ID and boundary. */
  id: string;
  /** Who the report goes to: the original sender. */
  sentTo: string;
  finalRecipient: string;
  status: string;
  diagnostic: string;
  /** The original message as sent. */
  original: Buffer | string;
  headersOnly?: boolean;
  action?: 'failed' | 'delayed';
}

export function dsn(o: DsnInput): string {
  const original = o.original.toString().replace(/\r\n/g, '\n');
  const returned = o.headersOnly ? original.slice(0, original.indexOf('\n\n')) + '\n' : original;
  const b = `bnd-${o.id}`;
  return [
    'Return-Path: <>',
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    `To: ${o.sentTo}`,
    'Subject: Undelivered Mail Returned to Sender',
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    `Message-ID: <bounce-${o.id}@mx.example.net>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.example.net.',
    '',
    `<${o.finalRecipient}>: ${o.diagnostic}`,
    '',
    `--${b}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${o.finalRecipient}`,
    `Action: ${o.action ?? 'failed'}`,
    `Status: ${o.status}`,
    `Diagnostic-Code: smtp; ${o.diagnostic}`,
    '',
    `--${b}`,
    `Content-Type: ${o.headersOnly ? 'text/rfc822-headers' : 'message/rfc822'}`,
    '',
    returned,
    `--${b}--`,
    '',
  ].join('\n');
}
