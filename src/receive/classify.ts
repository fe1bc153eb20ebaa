// What one received message means, as a plain value: the kind (hard / soft / delayed bounce,
// auto-reply, unsubscribe, complaint, or unknown), the recipients it is about with their
// RFC 3463 status, and which of our campaigns and recipients it answers (from the
// X-Mailcamp-Campaign / X-Mailcamp-Recipient headers of the returned original).
//
// The order of the questions matters: a complaint report and a bounce are both
// machine-written replies that carry `Auto-Submitted`, so they are asked for before
// RFC 3834 auto-replies; an auto-reply ("I am away, please remove me from the cc") must not
// read as an unsubscribe, so it is asked for before unsubscribes.

import type { Readable } from 'node:stream';
import { isAutoReply } from './autoreply.js';
import { findBounce, type BounceRecipient } from './bounce.js';
import { findComplaint } from './complaint.js';
import { headerIn, type IncomingMail, parseMail } from './parse-mail.js';
import { unsubscribeRequest } from './unsubscribe.js';

export type MessageKind = 'hard' | 'soft' | 'delayed' | 'auto_reply' | 'unsubscribe' | 'complaint' | 'unknown';

export interface RecipientVerdict {
  address: string;
  kind: Exclude<MessageKind, 'unknown'>;
  /** Original-Recipient when it differs from the failed address. */
  original?: string;
  status?: string;
  diagnostic?: string;
}

export interface Classification {
  kind: MessageKind;
  /** Why: `dsn`, `x-failed-recipients`, `report-text`, `auto-submitted`, `unsubscribe`, `arf` ... */
  via?: string;
  recipients: RecipientVerdict[];
  /** Status and diagnostic of the recipient that decided the kind. */
  status?: string;
  diagnostic?: string;
  messageId?: string;
  subject: string;
  from?: string;
  date?: Date;
  /** Message-IDs a reply answers (In-Reply-To, References): unsubscribe requests. */
  answers?: string[];
  /** The Date header as written (`date` is the time of reading when it does not parse). */
  dateHeader?: string;
  /** From the returned original, when the report includes its headers. */
  campaign?: string;
  recipientToken?: string;
  originalMessageId?: string;
}

export interface ClassifyOptions {
  /** Addresses whose incoming mail is an unsubscribe request (the campaigns' `mailto:`). */
  unsubscribeAddresses?: readonly string[];
}

const RANK: Record<string, number> = { hard: 3, soft: 2, delayed: 1 };

export async function classifyMessage(input: Buffer | Readable, opts: ClassifyOptions = {}): Promise<Classification> {
  return classifyMail(await parseMail(input), opts);
}

export function classifyMail(mail: IncomingMail, opts: ClassifyOptions = {}): Classification {
  const base: Classification = {
    kind: 'unknown',
    recipients: [],
    messageId: mail.messageId,
    subject: mail.subject,
    from: mail.from[0],
    date: mail.date,
    dateHeader: mail.header('date'),
    ...ours(mail),
  };

  const complaint = findComplaint(mail);
  // RFC 6650 `not-spam`: the opposite of a complaint; RFC 6591 `auth-failure` (our DKIM/SPF
  // failed at the receiver) and `virus` are reports about the message, not the recipient
  // asking to be left alone: left for a person, nobody suppressed.
  if (complaint && ['not-spam', 'auth-failure', 'virus'].includes(complaint.feedbackType)) {
    return { ...base, via: 'arf', diagnostic: `feedback-type ${complaint.feedbackType}` };
  }
  if (complaint) {
    return {
      ...base,
      kind: 'complaint',
      via: 'arf',
      diagnostic: `feedback-type ${complaint.feedbackType}`,
      recipients: complaint.recipients.map((address) => ({ address, kind: 'complaint' })),
    };
  }

  const found = findBounce(mail);
  // An address with a control character or a space in it (a NUL from a broken report) is no
  // address to suppress: a report naming only such ones is left for a person.
  const bounce = found && { ...found, recipients: found.recipients.filter((r) => /^[^\s\x00-\x1f\x7f<>]+@[^\s\x00-\x1f\x7f<>]+$/.test(r.address)) };
  if (bounce && !bounce.recipients.length) return { ...base, via: found.via, diagnostic: 'a delivery report whose recipients are not addresses' };
  if (bounce) {
    const recipients = bounce.recipients.map(verdictOf);
    const worst = bounce.recipients.reduce((a, b) => (RANK[b.severity] > RANK[a.severity] ? b : a));
    return { ...base, kind: worst.severity, via: bounce.via, recipients, status: worst.status, diagnostic: worst.diagnostic };
  }

  // A delivery report that names no recipient is not an auto-reply, even with `Auto-Submitted`:
  // nothing can be learned from it, so it stays in the mailbox for a person.
  if ((mail.contentType === 'multipart/report' && /delivery-status/.test(mail.reportType ?? '')) || mail.deliveryStatus.length) {
    return { ...base, via: 'dsn', diagnostic: 'a delivery report that names no recipient' };
  }

  if (isAutoReply(mail)) {
    return { ...base, kind: 'auto_reply', via: 'rfc3834', recipients: base.from ? [{ address: base.from, kind: 'auto_reply' }] : [] };
  }

  const unsub = unsubscribeRequest(mail, opts.unsubscribeAddresses ?? []);
  if (unsub) {
    // A reply names the message it answers: ours, sent to the address to unsubscribe (the
    // sender may write from another one: an alias, a forward).
    const replyTo = `${mail.header('in-reply-to') ?? ''} ${mail.header('references') ?? ''}`.match(/<[^<>\s]+>/g) ?? [];
    return { ...base, kind: 'unsubscribe', via: `unsubscribe-${unsub.via}`, recipients: [{ address: unsub.address, kind: 'unsubscribe' }], answers: [...new Set(replyTo)] };
  }

  return base;
}

function verdictOf(r: BounceRecipient): RecipientVerdict {
  const v: RecipientVerdict = { address: r.address, kind: r.severity };
  if (r.original) v.original = r.original;
  if (r.status) v.status = r.status;
  if (r.diagnostic) v.diagnostic = r.diagnostic;
  return v;
}

/** Campaign, recipient token and Message-ID of the returned original, if it came back. */
function ours(mail: IncomingMail): Pick<Classification, 'campaign' | 'recipientToken' | 'originalMessageId'> {
  const out: Pick<Classification, 'campaign' | 'recipientToken' | 'originalMessageId'> = {};
  // Attached headers first; then the text, where qmail, Gmail and others quote the original.
  const sources = [...mail.originalHeaders, ...mail.otherText, mail.text];
  for (const s of sources) {
    out.campaign ??= token(headerIn(s, 'X-Mailcamp-Campaign'));
    out.recipientToken ??= token(headerIn(s, 'X-Mailcamp-Recipient'));
    if (mail.originalHeaders.includes(s)) out.originalMessageId ??= headerIn(s, 'Message-ID')?.split(/\s+/)[0];
  }
  for (const k of Object.keys(out) as Array<keyof typeof out>) if (out[k] === undefined) delete out[k];
  return out;
}

function token(v: string | undefined): string | undefined {
  const t = v?.trim().split(/\s+/)[0];
  return t && /^[A-Za-z0-9._-]{1,200}$/.test(t) ? t : undefined;
}
