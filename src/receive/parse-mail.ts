// One received message, parsed once with mailparser into the few things the classifiers
// look at: top-level headers, the readable text, the delivery-status and feedback-report
// parts (RFC 3464, RFC 5965), and the headers of the returned original message
// (`message/rfc822` or `text/rfc822-headers`, RFC 6522 §3), which carry our
// X-Mailcamp-Campaign / X-Mailcamp-Recipient and Message-ID.
//
// mailparser is pinned at 3.9.31 (package.json): newer releases need a version of
// `@zone-eu/mailsplit` that this project's registry does not have. `keepDeliveryStatus`
// keeps `message/delivery-status` as a part of its own; by default mailparser folds it
// into the text and the field groups would be lost.

import { PassThrough, type Readable } from 'node:stream';
import { type AddressObject, simpleParser } from 'mailparser';
import { printable } from '../shared/printable.js';

export interface IncomingMail {
  messageId?: string;
  subject: string;
  date?: Date;
  /** Addresses of From, lower-cased. */
  from: string[];
  fromName: string;
  to: string[];
  /** Raw value of every top-level header, names lower-cased; repeated headers joined by '\n'. */
  header(name: string): string | undefined;
  contentType: string;
  reportType?: string;
  /** Plain text of the message (from the HTML when there is no text part). */
  text: string;
  /** Bodies of `message/delivery-status` / `message/global-delivery-status` parts. */
  deliveryStatus: string[];
  /** Bodies of `message/feedback-report` parts (RFC 5965). */
  feedbackReport: string[];
  /** Header blocks of returned originals, raw. */
  originalHeaders: string[];
  /** Text of other text-like parts (a report sent as an attachment, for instance). */
  otherText: string[];
  /** An attached message that is itself a report (gateways that wrap the bounce they got). */
  nested?: IncomingMail;
}

const MAX_PART_TEXT = 256 * 1024;
const REPORT_HEADERS = /^content-type:\s*multipart\/report|^from:.*(?:mailer-daemon|postmaster|mail delivery)/im;
const REPORT_BODY = /^(?:final-recipient|original-recipient)\s*:|-{3,} ?(?:the following addresses had|transcript of session)/im;

export async function parseMail(input: Buffer | Readable, depth = 0): Promise<IncomingMail> {
  // The first bytes are kept for reports whose MIME structure is broken beyond what the
  // parser recovers (a multipart without its boundaries): their body is read as text.
  let head: Buffer;
  let source: Buffer | Readable;
  if (Buffer.isBuffer(input)) {
    head = input.subarray(0, MAX_PART_TEXT);
    source = input;
  } else {
    const chunks: Buffer[] = [];
    let kept = 0;
    const tee = new PassThrough();
    tee.on('data', (c: Buffer) => {
      if (kept < MAX_PART_TEXT) {
        chunks.push(c);
        kept += c.length;
      }
    });
    input.on('error', (e) => tee.destroy(e));
    source = input.pipe(tee);
    head = Buffer.alloc(0);
    tee.on('end', () => (head = Buffer.concat(chunks).subarray(0, MAX_PART_TEXT)));
  }
  const m = await simpleParser(source, {
    keepDeliveryStatus: true,
    skipImageLinks: true,
    skipTextLinks: true,
    skipTextToHtml: true,
    maxHtmlLengthToParse: 2 * 1024 * 1024,
  });
  const raw = new Map<string, string>();
  for (const h of m.headerLines) {
    const value = h.line.slice(h.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
    const prev = raw.get(h.key);
    raw.set(h.key, prev === undefined ? value : `${prev}\n${value}`);
  }
  const ct = m.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  const out: IncomingMail = {
    messageId: m.messageId,
    // Shown in a terminal and stored in suppression reasons (a decoded subject can hold ESC
    // sequences, CR/LF, tabs).
    subject: printable(m.subject ?? ''),
    date: m.date,
    from: addressesOf(m.from),
    fromName: nameOf(m.from),
    to: addressesOf(m.to),
    header: (name) => raw.get(name.toLowerCase()),
    contentType: (ct?.value ?? 'text/plain').toLowerCase(),
    reportType: ct?.params?.['report-type']?.toLowerCase(),
    text: m.text ?? '',
    deliveryStatus: [],
    feedbackReport: [],
    originalHeaders: [],
    otherText: [],
  };
  if (!out.text.trim() && !m.html && !m.attachments.length && out.contentType.startsWith('multipart/')) {
    const start = head.toString('latin1');
    const body = /\r?\n\r?\n/.exec(start);
    if (body) out.text = start.slice(body.index + body[0].length).replace(/\r\n/g, '\n');
  }
  for (const a of m.attachments) {
    const type = a.contentType.toLowerCase();
    const body = a.content.subarray(0, MAX_PART_TEXT).toString(type.includes('global') ? 'utf8' : 'latin1');
    if (type === 'message/delivery-status' || type === 'message/global-delivery-status') out.deliveryStatus.push(body);
    else if (type === 'message/feedback-report') out.feedbackReport.push(body);
    else if (type === 'message/rfc822' || type === 'message/global' || type === 'text/rfc822-headers' || type === 'message/rfc822-headers') {
      const block = headerBlock(body);
      out.originalHeaders.push(block);
      if (depth === 0 && !out.nested && type !== 'text/rfc822-headers' && (REPORT_HEADERS.test(block) || REPORT_BODY.test(body))) {
        out.nested = await parseMail(a.content, depth + 1);
      }
    } else if (type.startsWith('text/') && a.content.length) out.otherText.push(body);
  }
  return out;
}

/** The header block of a raw message: everything before the first empty line. */
export function headerBlock(raw: string): string {
  const m = /\r?\n\r?\n/.exec(raw);
  return m ? raw.slice(0, m.index) : raw;
}

/** Value of `name` in a raw header block (unfolded), or undefined. */
export function headerIn(block: string, name: string): string | undefined {
  const re = new RegExp(`^${name.replace(/-/g, '\\-')}[ \\t]*:[ \\t]*(.*(?:\\r?\\n[ \\t]+.*)*)`, 'im');
  const m = re.exec(block);
  return m ? m[1].replace(/\r?\n[ \t]+/g, ' ').trim() : undefined;
}

function list(a: AddressObject | AddressObject[] | undefined): AddressObject[] {
  return a ? (Array.isArray(a) ? a : [a]) : [];
}

function addressesOf(a: AddressObject | AddressObject[] | undefined): string[] {
  const out: string[] = [];
  const walk = (items: AddressObject['value']) => {
    for (const v of items) {
      if (v.address) out.push(v.address.toLowerCase());
      if (v.group) walk(v.group);
    }
  };
  for (const o of list(a)) walk(o.value);
  return out;
}

function nameOf(a: AddressObject | AddressObject[] | undefined): string {
  return list(a)[0]?.value[0]?.name ?? '';
}
