// Is this message a bounce, and for whom? Standard reports first: RFC 3464
// `multipart/report; report-type=delivery-status` (RFC 6522) give Final-Recipient, Action,
// Status and Diagnostic-Code per recipient. Then the common non-standard forms, by the
// parts they are recognised by:
//   - Exim and Gmail put the failed addresses in `X-Failed-Recipients`;
//   - qmail, Exim, older Sendmail, Exchange, Gmail, Yahoo ... write a human report in which
//     each failed address is followed by the server's reply ("<a@b>: 550 5.1.1 ...",
//     "a@b\n    SMTP error from remote mail server after RCPT TO: ...");
// such a report is only read when the message also looks like one (a MAILER-DAEMON or
// postmaster sender, an empty Return-Path, a bounce subject), so ordinary mail that happens
// to contain addresses and numbers is never taken for a bounce.

import { deliveryStatusInText, type DsnRecipient, parseDeliveryStatus, statusCodeIn } from './dsn.js';
import type { IncomingMail } from './parse-mail.js';
import { type Severity, severityOf } from './severity.js';
import { contextOf, failedIn, inlineOriginalHeaders, originalRecipients, originalSenders, reportSection } from './report-text.js';

export interface BounceRecipient {
  address: string;
  original?: string;
  severity: Severity;
  status?: string;
  action?: string;
  diagnostic?: string;
}

export interface Bounce {
  recipients: BounceRecipient[];
  /** How it was recognised, for `inbox` and debugging. */
  via: 'dsn' | 'dsn-text' | 'x-failed-recipients' | 'report-text';
}

const BOUNCE_SENDER = /^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|mdaemon|mail[-_.]?delivery[-_.\w]*|bounces?|nobody|.*[-_.]nondelivery|ndr|maildelivery)(?:[-+=._][^@]*)?@/i;
const BOUNCE_NAME = /\b(?:mail delivery (?:system|subsystem|service)|mailer[- ]daemon|postmaster|delivery (?:status|subsystem|notification)|mail administrator|microsoft outlook|mail system)\b/i;
const BOUNCE_SUBJECT =
  /undeliver|undelivered|not delivered|could not be delivered|delivery (?:status notification|failure|has failed|failed|problem|report|notification|incomplete)|returned mail|return(?:ed)? to sender|failure notice|mail delivery (?:failed|failure|system|error)|non[- ]?delivery|nondeliverable|message not delivered|mail system error|could not send|delayed mail|warning: message|error sending|delivery error|rejected|unzustellbar|nicht zustellbar|non remis|erreur|no entregado|不能|未送达|退信|配信不能|エラー|unable to deliver|failed delivery|delivery notification/i;

/** True when headers say "this was written by a mail system about a delivery". */
export function looksLikeBounce(mail: IncomingMail): boolean {
  if (mail.header('x-failed-recipients')) return true;
  if (mail.contentType === 'multipart/report' && /delivery-status/.test(mail.reportType ?? '')) return true;
  if (mail.deliveryStatus.length) return true;
  const returnPath = mail.header('return-path');
  const nullSender = returnPath !== undefined && /^<\s*>$/.test(returnPath.trim());
  const daemon = mail.from.some((a) => BOUNCE_SENDER.test(a)) || BOUNCE_NAME.test(mail.fromName);
  const subject = BOUNCE_SUBJECT.test(mail.subject);
  return daemon || (nullSender && subject) || (subject && /\b[45]\.\d{1,3}\.\d{1,3}\b|\b[45]\d\d[ -]/.test(mail.text));
}

/** `inner`: the message came attached to a report, so it is read as one whatever its headers. */
export function findBounce(mail: IncomingMail, inner = false): Bounce | undefined {
  const text = [mail.text, ...mail.otherText].join('\n\n');
  const report = reportSection(text);
  const inline = inlineOriginalHeaders(text);
  const originals = inline ? [...mail.originalHeaders, inline] : mail.originalHeaders;
  const named = () => failedIn(report, originalSenders(mail, originals), originalRecipients(originals));

  // 1. Structured reports.
  const dsn = mail.deliveryStatus.flatMap((b) => parseDeliveryStatus(b).recipients);
  if (dsn.length) return finish(mail, repairAddresses(dsn, named), 'dsn');
  if (!inner && !looksLikeBounce(mail)) return undefined;

  // 2. Delivery-status fields flattened into the text (broken MIME, forwarded reports).
  for (const t of [mail.text, ...mail.otherText]) {
    const ds = deliveryStatusInText(t);
    if (ds) return finish(mail, repairAddresses(ds.recipients, named), 'dsn-text');
  }

  // 3. Non-standard reports.
  const failed = (mail.header('x-failed-recipients') ?? '')
    .split(/[\s,]+/)
    .map((a) => a.replace(/^<|>$/g, '').toLowerCase())
    .filter((a) => a.includes('@'));
  let via: Bounce['via'] = 'x-failed-recipients';
  let found = failed.map((address) => ({ address, context: contextOf(report, address) }));
  if (!found.length) {
    via = 'report-text';
    found = named();
  }
  if (!found.length) {
    // A report about a report: some gateways return the bounce they got as an attachment.
    return mail.nested ? findBounce(mail.nested, true) : undefined;
  }
  const permanentHint = /\bpermanent(?:ly)?\b|\bfatal\b|\bunrecoverable\b|\bgave up\b|\bgiven up\b|\bgiving up\b/i.test(report);
  const transientHint = /\btemporar|\bwill (?:retry|try again|continue)|\bstill trying\b|\bdelayed\b|\bhas not yet been delivered\b|\bnot been delivered yet\b/i.test(report);
  // A gateway that wraps the report it got: the inner report knows more about each address.
  const wrapped = mail.nested ? findBounce(mail.nested, true) : undefined;
  const recipients = found.map(({ address, context }): DsnRecipient => {
    const known = wrapped?.recipients.find((r) => r.address === address);
    if (known) return { address, action: known.action, status: known.status, diagnostic: known.diagnostic };
    const about = context || report;
    let status = statusCodeIn(about);
    if (!status) {
      const smtp = /(?:^|[\s(])([45])\d\d(?=[\s-]|$)/m.exec(about);
      if (smtp) status = `${smtp[1]}.0.0`;
      else if (transientHint && !permanentHint) status = '4.0.0';
      else status = '5.0.0';
    }
    const action = status.startsWith('4') && transientHint && !permanentHint ? 'delayed' : 'failed';
    return { address, action, status, diagnostic: concise(context || about, address) };
  });
  return finish(mail, recipients, via);
}

/**
 * DSN recipients whose address is unusable (`rfc822; @mx.example.org`, seen from Sendmail)
 * are given the addresses the report text names, in order.
 */
function repairAddresses(dsn: DsnRecipient[], named: () => Array<{ address: string }>): DsnRecipient[] {
  if (dsn.every((r) => /^[^@\s]+@[^@\s]+$/.test(r.address))) return dsn;
  const spare = named().map((c) => c.address).filter((a) => !dsn.some((r) => r.address.toLowerCase() === a));
  return dsn.map((r) => (/^[^@\s]+@[^@\s]+$/.test(r.address) || !spare.length ? r : { ...r, address: spare.shift()! }));
}

function finish(mail: IncomingMail, recipients: DsnRecipient[], via: Bounce['via']): Bounce | undefined {
  const report = reportSection([mail.text, ...mail.otherText].join('\n\n'));
  const out: BounceRecipient[] = [];
  const seen = new Set<string>();
  for (const r of recipients) {
    const address = r.address.toLowerCase();
    if (!address.includes('@') || seen.has(address)) continue;
    // Delivered, relayed and expanded recipients are success notices (RFC 3464 §2.3.3).
    if (r.action && !['failed', 'delayed', 'failure', 'fail', 'expired'].includes(r.action)) continue;
    seen.add(address);
    // A prose report about one recipient is all about it; with several, or beside a DSN
    // whose Diagnostic-Code speaks for itself, only the lines naming the address count.
    const context = recipients.length === 1 && via !== 'dsn' && via !== 'dsn-text' ? report : contextOf(report, address);
    const status = bestStatus(r.status, r.diagnostic) ?? statusCodeIn(context);
    const action = r.action === 'delayed' ? 'delayed' : r.action ? 'failed' : undefined;
    const b: BounceRecipient = {
      address,
      severity: severityOf(action, status, r.diagnostic, context, address),
      action,
    };
    if (r.original && r.original.toLowerCase() !== address) b.original = r.original.toLowerCase();
    if (status) b.status = status;
    const diagnostic = squeeze(r.diagnostic ?? context);
    if (diagnostic) b.diagnostic = diagnostic;
    out.push(b);
  }
  return out.length ? { recipients: out, via } : undefined;
}

/** The DSN's Status, unless it is generic and the diagnostic names a precise code of the same class. */
function bestStatus(status: string | undefined, diagnostic: string | undefined): string | undefined {
  const fromText = statusCodeIn(diagnostic);
  if (!status) return fromText;
  if (fromText && fromText[0] === status[0] && /\.0\.0$/.test(status) && !/\.0\.0$/.test(fromText)) return fromText;
  return status;
}

/**
 * The server's reply out of a prose report ("... the other server returned was: 550 5.1.1
 * user unknown"): from the SMTP code on, or else the lines without the address itself.
 */
function concise(text: string, address: string): string | undefined {
  const flat = text.replace(/\s+/g, ' ').trim();
  const reply = /(?:^|[\s:(<>])([45]\d\d(?:[ -]+[45]\.\d{1,3}\.\d{1,3})?[ -].*)$/.exec(flat);
  if (reply) return squeeze(reply[1]);
  const lower = address.toLowerCase();
  return squeeze(flat.split(/\s+/).filter((w) => !w.toLowerCase().includes(lower)).join(' ').replace(/^[\s:.,-]+/, ''));
}

function squeeze(s: string | undefined): string | undefined {
  const t = s?.replace(/\s+/g, ' ').trim();
  return t ? (t.length > 500 ? t.slice(0, 497) + '...' : t) : undefined;
}
