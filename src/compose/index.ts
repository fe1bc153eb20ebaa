// Compose stage: one message's MIME bytes. The structure is the one mail clients build:
//
//   multipart/mixed                      (only when there are attachments)
//   ├─ multipart/alternative
//   │  ├─ text/plain
//   │  └─ multipart/related              (only when the HTML has inline images)
//   │     ├─ text/html
//   │     └─ image/* (Content-ID)
//   └─ attachments
//
// Everything that is the same for every recipient (inline images, shared attachments) is
// encoded once in prepare() and spliced in as bytes. Boundaries derive from the
// Message-ID, so given a pinned Message-ID and date the output is byte-for-byte stable.

import crypto from 'node:crypto';
import type { Campaign, MailAddress } from '../campaign/types.js';
import type { CompiledCampaign, Rendered } from '../render/index.js';
import { MailcampError } from '../shared/errors.js';
import { type PreparedAttachment, prepareShared } from './attachments.js';
import { dkimSigner, type Signer } from './dkim.js';
import { assertHeaderSafe, headerLine, rfc5322Date } from './headers.js';
import { binaryPart, textPart } from './parts.js';

export interface ComposeInput {
  to: MailAddress[];
  /** Group messages with `bcc: true`: members go only in the envelope. */
  bcc?: boolean;
  rendered: Rendered;
  messageId: string;
  date: Date;
  /** Opaque X-Mailcamp-Recipient value. */
  recipientToken: string;
  /** Per-recipient attachments, already resolved and encoded. */
  attachments: PreparedAttachment[];
}

export interface Composed {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  messageId: string;
  /** A file name for the outbox (set by the pipeline). */
  label?: string;
}

export interface PreparedCampaign {
  compiled: CompiledCampaign;
  /** DKIM signer, when the campaign has a `dkim:` key. */
  sign?: Signer;
  shared: PreparedAttachment[];
  inlineParts: Buffer[];
  sharedBytes: number;
}

/** Encodes once what every message shares. */
export function prepare(compiled: CompiledCampaign): PreparedCampaign {
  const c = compiled.campaign;
  const shared: PreparedAttachment[] = [];
  for (const a of c.attachments) {
    if (a.kind === 'shared') shared.push(prepareShared(a, c.displayFile, a.filename && !a.filename.includes('{{') ? a.filename : undefined));
  }
  const sharedBytes = shared.reduce((n, a) => n + a.size, 0);
  if (sharedBytes > c.maxAttachmentBytes) {
    throw new MailcampError('INPUT', `attachments total ${sharedBytes} bytes; the limit is ${c.maxAttachmentBytes} (max_attachment_size)`, {
      file: c.displayFile,
      line: c.pos.attachments?.line,
    });
  }
  const inlineParts = compiled.inlineImages.map((img) =>
    binaryPart(img.content, { contentType: img.contentType, filename: img.filename, disposition: 'inline', contentId: img.cid }),
  );
  return { compiled, shared, inlineParts, sharedBytes, sign: dkimSigner(c) };
}

const CRLF = '\r\n';

export function boundaryFor(messageId: string, level: number): string {
  const token = crypto.createHash('sha1').update(messageId).digest('hex').slice(0, 20);
  return `----=_Part_${level}_${token}`;
}

export function compose(p: PreparedCampaign, input: ComposeInput): Composed {
  const c: Campaign = p.compiled.campaign;
  const r = input.rendered;
  // The last gate before bytes: no value may end a header line early (header injection).
  assertHeaderSafe(r.subject, 'subject');
  for (const a of input.to) if (a.name) assertHeaderSafe(a.name, 'name');
  for (const [k, v] of r.headers) assertHeaderSafe(v, `headers.${k}`);

  let head = '';
  head += headerLine('From', c.from);
  if (c.replyTo) head += headerLine('Reply-To', c.replyTo);
  head += input.bcc ? 'To: undisclosed-recipients:;\r\n' : headerLine('To', input.to);
  head += headerLine('Subject', r.subject);
  head += `Date: ${rfc5322Date(input.date)}${CRLF}`;
  head += `Message-ID: ${input.messageId}${CRLF}`;
  head += listUnsubscribe(c, r);
  head += `X-Mailcamp-Campaign: ${c.name}${CRLF}`;
  head += `X-Mailcamp-Recipient: ${input.recipientToken}${CRLF}`;
  for (const [k, v] of r.headers) head += headerLine(k, v);
  head += `MIME-Version: 1.0${CRLF}`;

  const chunks: (string | Buffer)[] = [];
  const attachments = [...sharedWithNames(p, r), ...input.attachments];
  const alt = boundaryFor(input.messageId, 1);
  const altBody = (): void => {
    chunks.push(`Content-Type: multipart/alternative;${CRLF} boundary="${alt}"${CRLF}${CRLF}`);
    chunks.push(`--${alt}${CRLF}`, textPart('plain', r.text));
    chunks.push(`--${alt}${CRLF}`);
    if (p.inlineParts.length) {
      const rel = boundaryFor(input.messageId, 2);
      chunks.push(`Content-Type: multipart/related; type="text/html";${CRLF} boundary="${rel}"${CRLF}${CRLF}`);
      chunks.push(`--${rel}${CRLF}`, textPart('html', r.html));
      for (const part of p.inlineParts) chunks.push(`--${rel}${CRLF}`, part);
      chunks.push(`--${rel}--${CRLF}`);
    } else chunks.push(textPart('html', r.html));
    chunks.push(`--${alt}--${CRLF}`);
  };
  if (attachments.length) {
    const mixed = boundaryFor(input.messageId, 0);
    chunks.push(`Content-Type: multipart/mixed;${CRLF} boundary="${mixed}"${CRLF}${CRLF}`);
    chunks.push(`--${mixed}${CRLF}`);
    altBody();
    for (const a of attachments) chunks.push(`--${mixed}${CRLF}`, a.part);
    chunks.push(`--${mixed}--${CRLF}`);
  } else altBody();

  const raw = Buffer.concat([Buffer.from(head, 'ascii'), ...chunks.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x))]);
  return {
    envelope: { from: c.from.address, to: input.to.map((a) => a.address) },
    raw,
    messageId: input.messageId,
  };
}

/** Shared attachments, with a per-recipient `filename:` rendered where it is templated. */
function sharedWithNames(p: PreparedCampaign, r: Rendered): PreparedAttachment[] {
  if (!r.sharedAttachmentNames.some((n, i) => n !== undefined && n !== p.shared[i]?.filename)) return p.shared;
  return p.shared.map((a, i) => {
    const name = r.sharedAttachmentNames[i];
    if (name === undefined || name === a.filename) return a;
    // Rare: a templated name on a shared file. Re-encode just the headers' part.
    const specs = p.compiled.campaign.attachments.filter((x) => x.kind === 'shared');
    return prepareShared(specs[i] as Extract<(typeof specs)[number], { kind: 'shared' }>, p.compiled.campaign.displayFile, name);
  });
}

/** RFC 2369 List-Unsubscribe, and RFC 8058 one-click POST for https URLs. */
function listUnsubscribe(c: Campaign, r: Rendered): string {
  if (!c.unsubscribe) return '';
  const items: string[] = [];
  let https = false;
  if (r.unsubscribeUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(r.unsubscribeUrl);
    } catch {
      throw new MailcampError('INPUT', `unsubscribe.url renders to an invalid URL: ${r.unsubscribeUrl}`);
    }
    https = u.protocol === 'https:';
    items.push(`<${u.href}>`);
  }
  if (c.unsubscribe.mailto) items.push(`<mailto:${c.unsubscribe.mailto}?subject=unsubscribe>`);
  let out = `List-Unsubscribe: ${items.join(`,${CRLF} `)}${CRLF}`;
  if (https) out += `List-Unsubscribe-Post: List-Unsubscribe=One-Click${CRLF}`;
  return out;
}

export { rfc5322Date };
