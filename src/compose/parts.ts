// MIME leaf parts: transfer encoding chosen per content the way nodemailer does (7bit for
// short ASCII lines, quoted-printable for mostly-Latin text, base64 for the rest), CRLF line
// ends, lines ≤ 76 columns (RFC 2045 §6.7, §6.8). Shared attachments and inline images are
// encoded once per campaign into a ready Buffer and spliced into every message.

import path from 'node:path';
import { wrap as b64wrap } from 'nodemailer/lib/base64';
import { buildHeaderParam } from 'nodemailer/lib/mime-funcs';
import { LOOKS_ENCODED } from './headers.js';
import { qpFromSafe } from './qp.js';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';

export function crlf(s: string): string {
  return s.replace(/\r\n|\r|\n/g, '\r\n');
}

function nonLatinRatio(s: string): number {
  let non = 0;
  let latin = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) non++;
    else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
  }
  return non / Math.max(1, non + latin);
}

/** A text/* part (headers + body), UTF-8. */
export function textPart(subtype: 'plain' | 'html', body: string): string {
  const text = crlf(body);
  let cte: string;
  let encoded: string;
  // eslint-disable-next-line no-control-regex
  if (/^[\x09\x0d\x0a\x20-\x7e]*$/.test(text) && !/[^\r\n]{78}/.test(text) && !/^\.|\r\n\.|^From |\r\nFrom /.test(text)) {
    cte = '7bit';
    encoded = text;
  } else if (nonLatinRatio(text) < 0.5) {
    cte = 'quoted-printable';
    encoded = qpFromSafe(qpWrap(qpEncode(text), 76));
  } else {
    cte = 'base64';
    encoded = b64wrap(Buffer.from(text, 'utf8').toString('base64'), 76);
  }
  if (!encoded.endsWith('\r\n')) encoded += '\r\n';
  return `Content-Type: text/${subtype}; charset=utf-8\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${encoded}`;
}

/** `filename` parameter: plain when 7-bit safe, RFC 2231 continuations otherwise. */
export function filenameParams(filename: string): string {
  return fileParams('filename', filename);
}

/**
 * A file-name parameter (Content-Disposition `filename`, Content-Type `name` for clients that
 * read only that one): plain when it is short 7-bit text, RFC 2231 sections otherwise. Never
 * RFC 2047 encoded words, which RFC 2047 §5 forbids inside a parameter and a quoted-string.
 */
function fileParams(key: 'filename' | 'name', filename: string): string {
  // Control characters (a tab) have no place in a parameter (RFC 2045 §5.1): spaces.
  const plain = filename.replace(/[\x00-\x1f\x7f]/g, ' ');
  // ASCII that reads as an encoded word: lenient readers would show it decoded; sent in
  // RFC 2231's own encoding, it reads back as written.
  if (LOOKS_ENCODED.test(plain)) return extendedSections(key, plain);
  const params = buildHeaderParam(key, plain, 50);
  // RFC 2231 §3: an extended section (`*0*=`, `*=`) is percent-encoded, a token already; any
  // other value is a token or a quoted-string (a long ASCII name with spaces comes in sections).
  // (`name` quoted as every client has always seen it written.)
  return params.map((p) => `${p.key}=${p.key.endsWith('*') ? p.value : key === 'name' ? quoted(p.value) : tokenOrQuoted(p.value)}`).join(';\r\n ');
}

/** `key*0*=utf-8''…; key*1*=…` (RFC 2231 §3–4), every character outside attribute-char percent-encoded. */
function extendedSections(key: string, value: string): string {
  const enc = [...Buffer.from(value, 'utf8')].map((b) => (/[A-Za-z0-9!#$&+.^_`|~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`));
  const sections: string[] = [];
  for (let i = 0, cur = ''; i <= enc.length; i++) {
    if (i === enc.length || cur.length + enc[i].length > 40) {
      sections.push(cur);
      cur = '';
      if (i === enc.length) break;
    }
    cur += enc[i];
  }
  return sections.map((v, i) => `${key}*${i}*=${i === 0 ? "utf-8''" : ''}${v}`).join(';\r\n ');
}

/**
 * A parameter value as a token (RFC 2045 §5.1) when it is one, else as a quoted-string. `*`, `'`
 * and `%` are token characters, but they mean RFC 2231 syntax to some parsers (Python reads
 * `filename=a*b.pdf` as `a`): quoted too.
 */
function tokenOrQuoted(v: string): string {
  return /^[A-Za-z0-9!#$&+.^_`{|}~-]+$/.test(v) ? v : quoted(v);
}

/** RFC 5322 §3.2.4 quoted-string: only `"` and `\` are escaped. */
function quoted(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

export interface BinaryPartOptions {
  contentType: string;
  filename: string;
  disposition: 'attachment' | 'inline';
  contentId?: string;
}

/** A base64 part, fully encoded (headers + body) — done once for shared content. */
export function binaryPart(content: Buffer, o: BinaryPartOptions): Buffer {
  // Folded like any header (RFC 5322 §2.2.3): a long non-ASCII name is many encoded words.
  const fn = filenameParams(o.filename);
  const disposition = `Content-Disposition: ${o.disposition}; ${fn}`;
  const name = fileParams('name', o.filename);
  const type = `Content-Type: ${o.contentType}; ${name}`;
  const head =
    `${name.includes('\r\n') || type.length > 76 ? `Content-Type: ${o.contentType};\r\n ${name}` : type}\r\n` +
    'Content-Transfer-Encoding: base64\r\n' +
    (o.contentId ? `Content-ID: <${o.contentId}>\r\n` : '') +
    `${fn.includes('\r\n') || disposition.length > 76 ? `Content-Disposition: ${o.disposition};\r\n ${fn}` : disposition}\r\n\r\n`;
  const b64 = content.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return Buffer.from(head + lines.join('\r\n') + (lines.length ? '\r\n' : ''), 'ascii');
}

export function basename(p: string): string {
  return path.basename(p);
}
