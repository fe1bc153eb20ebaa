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
import { checkAddress } from '../recipients/address.js';
import { MailcampError } from '../shared/errors.js';
import { type PreparedAttachment, prepareShared } from './attachments.js';
import { dkimSigner, type Signer } from './dkim.js';
import { headerShape } from './custom-headers.js';
import { assertHeaderSafe, headerLine, rfc5322Date } from './headers.js';
import { binaryPart } from './parts.js';
import { markedIncludes } from '../render/marked.js';
import { LineDots } from './line-dots.js';
import { lend } from './message-memory.js';
import { TextBodyEncoder } from './text-body.js';

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
  /**
   * A test send (send --to): rendered for a real row, so its List-Unsubscribe names that
   * recipient; no RFC 8058 one-click header, which a mail provider's button or a link scanner
   * would POST without anyone seeing the page.
   */
  testSend?: boolean;
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
  /** The HTML and text bodies, with their templates' static lines encoded once. */
  htmlBody: TextBodyEncoder;
  textBody: TextBodyEncoder;
  /** From and Reply-To, encoded once. */
  fromLines: string;
  /** Header lines by name and value: `headers:` values are mostly the same for everyone. */
  headerLines: Map<string, string>;
}

const MAX_HEADER_LINES = 256;

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
  return {
    compiled,
    shared,
    inlineParts,
    sharedBytes,
    sign: dkimSigner(c),
    htmlBody: new TextBodyEncoder(compiled.htmlBlocks),
    textBody: new TextBodyEncoder(compiled.textBlocks),
    fromLines: headerLine('From', c.from) + (c.replyTo ? headerLine('Reply-To', c.replyTo) : ''),
    headerLines: new Map(),
  };
}

const CRLF = '\r\n';

export function boundaryFor(messageId: string, level: number): string {
  return boundaryWith(boundaryToken(messageId), level);
}

function boundaryToken(messageId: string): string {
  return crypto.hash('sha1', messageId, 'hex').slice(0, 20);
}

function boundaryWith(token: string, level: number): string {
  return `----=_Part_${level}_${token}`;
}

/** headerLine(), remembered for values seen before. */
function customHeaderLine(p: PreparedCampaign, name: string, value: string): string {
  const key = `${name}\0${value}`;
  let line = p.headerLines.get(key);
  if (line === undefined) {
    line = headerLine(name, value);
    if (p.headerLines.size < MAX_HEADER_LINES) p.headerLines.set(key, line);
  }
  return line;
}

export function compose(p: PreparedCampaign, input: ComposeInput): Composed {
  const c: Campaign = p.compiled.campaign;
  const r = input.rendered;
  // The last gate before bytes: no value may end a header line early (header injection).
  assertHeaderSafe(r.subject, 'subject');
  for (const a of input.to) if (a.name) assertHeaderSafe(a.name, 'name');
  for (const [k, v] of r.headers) assertHeaderSafe(v, `headers.${k}`);

  let head = p.fromLines;
  head += input.bcc ? 'To: undisclosed-recipients:;\r\n' : headerLine('To', input.to);
  head += headerLine('Subject', r.subject);
  head += `Date: ${rfc5322Date(input.date)}${CRLF}`;
  head += `Message-ID: ${input.messageId}${CRLF}`;
  // One-click (RFC 8058 §3.1) needs a URL that names the one recipient who pressed it: not a
  // test copy (it would act on the real row), nor a group message (its URL names the group).
  head += listUnsubscribe(c, r, !input.testSend && !c.groupBy);
  head += `X-Mailcamp-Campaign: ${c.name}${CRLF}`;
  head += `X-Mailcamp-Recipient: ${input.recipientToken}${CRLF}`;
  // A structured header a row leaves empty (an optional In-Reply-To column) is left out: `<>` is no message id.
  for (const [k, v] of r.headers) if (v.trim() || headerShape(k) === 'text') head += customHeaderLine(p, k, v);
  head += `MIME-Version: 1.0${CRLF}`;

  // Text goes into `text` until a ready-made part (a Buffer) comes, then both into `chunks`;
  // the message is then written into one Buffer of its exact size (no intermediate copies:
  // at thousands of messages a second, allocations are what the garbage collector pays for).
  const chunks: (string | Buffer)[] = [head];
  let text = '';
  const splice = (part: Buffer): void => {
    chunks.push(text, part);
    text = '';
  };
  // A text part: its static runs arrive as ready-made bytes (text-body.ts).
  const body = (pieces: (string | Buffer)[]): void => {
    for (const x of pieces) {
      if (typeof x === 'string') text += x;
      else splice(x);
    }
  };
  const attachments = [...sharedWithNames(p, r), ...input.attachments];
  const token = boundaryToken(input.messageId);
  const alt = boundaryWith(token, 1);
  const altBody = (): void => {
    text += `Content-Type: multipart/alternative;${CRLF} boundary="${alt}"${CRLF}${CRLF}`;
    text += `--${alt}${CRLF}`;
    body(p.textBody.chunks('plain', r.text));
    text += `--${alt}${CRLF}`;
    const inline = inlinePartsUsed(p, r.html);
    if (inline.length) {
      const rel = boundaryWith(token, 2);
      text += `Content-Type: multipart/related; type="text/html";${CRLF} boundary="${rel}"${CRLF}${CRLF}`;
      text += `--${rel}${CRLF}`;
      body(p.htmlBody.chunks('html', r.html));
      for (const part of inline) {
        text += `--${rel}${CRLF}`;
        splice(part);
      }
      text += `--${rel}--${CRLF}`;
    } else body(p.htmlBody.chunks('html', r.html));
    text += `--${alt}--${CRLF}`;
  };
  if (attachments.length) {
    const mixed = boundaryWith(token, 0);
    text += `Content-Type: multipart/mixed;${CRLF} boundary="${mixed}"${CRLF}${CRLF}`;
    text += `--${mixed}${CRLF}`;
    altBody();
    for (const a of attachments) {
      text += `--${mixed}${CRLF}`;
      splice(a.part);
    }
    text += `--${mixed}--${CRLF}`;
  } else altBody();
  chunks.push(text);

  // The head as before in 'ascii' (for a string: latin1), the rest as UTF-8.
  let size = 0;
  for (let i = 0; i < chunks.length; i++) {
    const x = chunks[i];
    size += typeof x !== 'string' ? x.length : i === 0 ? x.length : Buffer.byteLength(x, 'utf8');
  }
  const raw = lend(size);
  const dots = new LineDots(raw);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    const x = chunks[i];
    const start = at;
    if (typeof x !== 'string') {
      at += x.copy(raw, at);
      dots.shared(start, x);
    } else {
      at += raw.write(x, at, i === 0 ? 'latin1' : 'utf8');
      dots.text(start, at, x, i === 0);
    }
  }
  if (at !== size) throw new Error('bug: message size');
  dots.record();
  return {
    envelope: { from: c.from.address, to: input.to.map((a) => a.address) },
    raw,
    messageId: input.messageId,
  };
}

/**
 * The inline images this recipient's HTML shows: one the template uses only inside an
 * `{{#if}}` that is false for them would be an unused part, which clients list as an attachment.
 * (`html` as rendered, with or without the markers of its static lines.)
 */
function inlinePartsUsed(p: PreparedCampaign, html: string): Buffer[] {
  if (!p.inlineParts.length) return p.inlineParts;
  const images = p.compiled.inlineImages;
  let used: Buffer[] | undefined;
  for (let i = 0; i < images.length; i++) {
    if (markedIncludes(p.compiled.htmlBlocks, html, `cid:${images[i].cid}`)) used?.push(p.inlineParts[i]);
    else used ??= p.inlineParts.slice(0, i);
  }
  return used ?? p.inlineParts;
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
function listUnsubscribe(c: Campaign, r: Rendered, oneClick: boolean): string {
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
  if (r.unsubscribeMailto) items.push(`<${mailtoUri(r.unsubscribeMailto)}?subject=unsubscribe>`);
  // A line may not pass 998 octets (RFC 5322 §2.1.1). RFC 2369 §2 has clients ignore
  // whitespace inside the brackets, so a URL that long is folded there; shorter ones are left
  // whole, as some unsubscribe handlers do not expect folding.
  const folded = items.map((u) => (u.length > 900 ? u.match(/[^]{1,76}/g)!.join(`${CRLF} `) : u));
  let out = `List-Unsubscribe: ${folded.join(`,${CRLF} `)}${CRLF}`;
  if (https && oneClick) out += `List-Unsubscribe-Post: List-Unsubscribe=One-Click${CRLF}`;
  return out;
}

/**
 * `mailto:` URI of an address (RFC 6068): the domain as A-labels (a header is 7-bit), and in
 * the local part the characters a mailto URI cannot carry as they are percent-encoded.
 */
function mailtoUri(raw: string): string {
  // Most campaigns have one address for every message: worked out once (issue 6).
  if (raw === lastMailto.raw) return lastMailto.uri;
  const uri = mailtoUriOf(raw);
  lastMailto = { raw, uri };
  return uri;
}

let lastMailto: { raw?: string; uri: string } = { uri: '' };

function mailtoUriOf(raw: string): string {
  const chk = checkAddress(raw.replace(/^mailto:/i, ''));
  if (!chk.ok) throw new MailcampError('INPUT', `unsubscribe.mailto: ${JSON.stringify(raw)}: ${chk.reason}`);
  const at = chk.address.lastIndexOf('@');
  const local = chk.address.slice(0, at).replace(/[^A-Za-z0-9\-._~!$'()*+,;:@]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `mailto:${local}@${chk.address.slice(at + 1)}`;
}

export { rfc5322Date };
