// Reading the human part of a non-standard bounce: where the report ends and the returned
// message begins, which addresses in it are the failed recipients, and the lines about each.
//
// A report names the failed addresses but also the sender (it is addressed to us), the
// reporting system (postmaster@, MAILER-DAEMON@), a help address, and, below a marker, the
// whole original message. So the text is cut at the first marker of the returned message,
// and an address counts as a failed recipient when the report writes it the way MTAs write
// failed recipients:
//   an address alone on its line (qmail `<a@b>:`, Exim, Gmail),
//   an address that starts a reply line (`<a@b>: host ... said:`, `554 <a@b>... User unknown`),
//   an address after `RCPT TO:` or after "deliver(ing) ... to".
// Only when no address is written that way are the other addresses taken, leaving out the
// sender's, the system's, and the ones the returned original says are not recipients.

import { headerIn, type IncomingMail } from './parse-mail.js';

/** Lines that start the returned original in the reports of common MTAs. */
const ORIGINAL_MARKERS: RegExp[] = [
  /^[\s>|-]*-{2,}\s*(?:original message|original message follows|below this line is a copy of the message|this is a copy of the message|the original message|a copy of the original message|unsent message (?:below|follows)|undelivered message|returned message|message headers? follows?|original message headers?|headers of the original message|copy of the message|begin copy|the header of the original message)/im,
  /^\s*-{3,}\s*(?:original|forwarded) message\s*-{3,}/im,
  /^\s*(?:original message headers|message headers(?: follow)?|the header of the original message is following|original mail as follows)\s*[:.]?\s*$/im,
  /^(?:Return-Path|Received|DKIM-Signature|X-Mailcamp-Campaign):\s/m,
];

/** Where the returned original starts in a report's text (the text's length when it does not). */
function originalStart(text: string): number {
  let end = text.length;
  for (const re of ORIGINAL_MARKERS) {
    const m = re.exec(text);
    if (m && m.index < end && m.index > 0) end = m.index;
  }
  return end;
}

/** The report part of a bounce's text: everything before the returned original. */
export function reportSection(text: string): string {
  return text.slice(0, originalStart(text));
}

/** The header block of an original quoted inline below the report, if there is one. */
export function inlineOriginalHeaders(text: string): string | undefined {
  const rest = text.slice(originalStart(text));
  const i = rest.search(/^[ \t]*(?:Return-Path|Received|From|To|Subject|Date|Message-ID|X-Mailcamp-Campaign)[ \t]*:/im);
  if (i < 0) return undefined;
  const lines = rest.slice(i).split('\n');
  // Quoted originals are sometimes indented: drop the common indentation of the first line.
  const indent = /^[ \t]*/.exec(lines[0])![0];
  const out: string[] = [];
  for (const l of lines) {
    if (!l.trim()) break;
    out.push(l.startsWith(indent) ? l.slice(indent.length) : l);
  }
  return out.join('\n');
}

const SYSTEM_LOCAL = /^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|post_master|hostmaster|abuse|noc|root|double-bounce|bounces?|mdaemon|nobody|no-?reply|mailerdaemon|support|help)$/i;
const ADDR = `(?:"[^"\\r\\n]+"|[A-Za-z0-9!#$%&'*+/=?^_\`{|}~.-]+)@(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)`;
const ADDRESS = new RegExp(`<?(${ADDR})>?`, 'g');
/** `<a@b>:` or `a@b` alone on a line. */
const ALONE = new RegExp(
  `^\\s*(?:\\d\\.\\s*)?<?(${ADDR})>?\\s*:?\\s*(?:\\(.*\\)|\\s+on\\s+(?:mon|tue|wed|thu|fri|sat|sun|\\d).*)?\\s*$`,
  'i',
);
/** `<a@b>: host ...`, `554 <a@b>... reason`, `a@b: SMTP error ...`, `550 5.1.1 <a@b>: ...`. */
const LEADS = new RegExp(`^\\s*(?:[45]\\d\\d[ -]+(?:[45]\\.\\d{1,3}\\.\\d{1,3}\\s+)?)?<?(${ADDR})>?\\s*(?::|\\.\\.\\.|\\s-\\s|\\s+\\()`);
/** `RCPT TO:<a@b>`, "delivering your mail to <a@b>", "failed: a@b", "Recipient: a@b". */
const NAMED = new RegExp(
  `(?:rcpt to:?\\s*|deliver(?:ing|ed|y)?\\b[^<\\n@]{0,40}?\\bto:?\\s+|(?:recipient|address|addressee|user)(?:\\(es\\)|s)?(?: address)?\\s*:\\s*|failed(?: permanently)?:\\s*)<?(${ADDR})>?`,
  'gi',
);

export interface Candidate {
  address: string;
  /** The lines about this address. */
  context: string;
}

/** Addresses that are not failed recipients: the sender of the original and of the report. */
export function originalSenders(mail: IncomingMail, originals: string[]): Set<string> {
  const out = new Set<string>([...mail.to, ...mail.from]);
  for (const block of originals) {
    for (const h of ['from', 'sender', 'return-path', 'reply-to']) {
      const v = headerIn(block, h);
      if (v) for (const m of v.matchAll(ADDRESS)) out.add(clean(m[1]));
    }
  }
  return out;
}

/** To and Cc of the returned originals. */
export function originalRecipients(originals: string[]): Set<string> {
  const out = new Set<string>();
  for (const block of originals) {
    for (const h of ['to', 'cc']) {
      const v = headerIn(block, h);
      if (v) for (const m of v.matchAll(ADDRESS)) out.add(clean(m[1]));
    }
  }
  return out;
}

/** The failed recipients a report names, in order of appearance, with the lines about each. */
export function failedIn(report: string, senders: Set<string>, recipients: Set<string>): Candidate[] {
  const lines = report.split('\n');
  const strong: string[] = [];
  const weak: string[] = [];
  const add = (list: string[], a: string) => {
    if (!list.includes(a)) list.push(a);
  };
  for (const line of lines) {
    const alone = ALONE.exec(line) ?? LEADS.exec(line);
    if (alone) add(strong, clean(alone[1]));
    for (const m of line.matchAll(NAMED)) add(strong, clean(m[1]));
    for (const m of line.matchAll(ADDRESS)) {
      const before = line.slice(0, m.index ?? 0);
      // `Message-ID: <x@y>` and `id <x@y>` are not addresses.
      if (/(?:message-id|in-reply-to|references|\bid)\s*[:=]?\s*<?$/i.test(before)) continue;
      add(weak, clean(m[1]));
    }
  }
  const isSystem = (a: string) => SYSTEM_LOCAL.test(a.slice(0, a.lastIndexOf('@')));
  // Strong candidates may be the report's own To in anonymised or self-addressed reports;
  // only the report's sender and system addresses are left out of them.
  let chosen = strong.filter((a) => !isSystem(a) || recipients.has(a));
  if (!chosen.length) {
    chosen = weak.filter((a) => !senders.has(a) && !isSystem(a));
    const named = chosen.filter((a) => recipients.has(a));
    if (named.length) chosen = named;
  }
  return chosen.map((address) => ({ address, context: contextOf(report, address) }));
}

/**
 * The lines about `address`: for each line naming it, that line and its continuation
 * (indented lines below it; or, when the address stands alone, the paragraph that follows).
 */
export function contextOf(report: string, address: string): string {
  const lines = report.split('\n');
  const lower = address.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].toLowerCase().includes(lower)) continue;
    out.push(lines[i]);
    let j = i + 1;
    if (ALONE.test(lines[i])) {
      while (j < lines.length && !lines[j].trim() && j < i + 3) j++;
      for (let n = 0; j < lines.length && lines[j].trim() && n < 8; j++, n++) {
        if (ALONE.test(lines[j])) break;
        out.push(lines[j]);
      }
    } else {
      for (let n = 0; j < lines.length && /^[ \t]+\S/.test(lines[j]) && n < 6; j++, n++) {
        if (ALONE.test(lines[j])) break;
        out.push(lines[j]);
      }
    }
    i = j - 1;
  }
  return out.join('\n');
}

function clean(a: string): string {
  return a.replace(/^"|"$/g, '').replace(/\.$/, '').toLowerCase();
}
