// Header lines, 7-bit and folded (RFC 5322 §2.2.3): non-ASCII display names and subjects as
// RFC 2047 encoded words, through nodemailer's MimeNode/mime-funcs, which mail clients have
// been reading for a decade. A value that would carry CR, LF or NUL into a header is refused
// here, the last gate before bytes are written (header injection).

import crypto from 'node:crypto';
import { encodeWord, encodeWords, foldLines } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import type { MailAddress } from '../campaign/types.js';
import { MailcampError } from '../shared/errors.js';
import { headerAddresses, headerListId, headerMsgIds, headerShape, headerUrls } from './custom-headers.js';

const encoder = new MimeNode();

/**
 * ASCII text that reads as an RFC 2047 encoded word: a mail client would decode it and show
 * something other than what the CSV holds, so such text is itself sent encoded. Lenient
 * decoders (libmime, and so mailparser) also read words with spaces inside, even in a quoted
 * display name: `"=?utf-8?Q?a b?="` shows as `a b`.
 */
export const LOOKS_ENCODED = /=\?[^?\r\n]*\?[BbQq]\?[^?\r\n]*\?=/;

/**
 * A run without whitespace too long for one line: folding needs whitespace, and RFC 5322
 * §2.1.1 allows 998 octets at most. Sent as encoded words, which fold (a subject, a name or a
 * custom header that is one long token).
 */
const UNFOLDABLE = /\S{900}/;

/** Text that must go out as encoded words although it is ASCII. */
// (The length first: on a short value the regex still tries every position, ~2 µs a message.)
const mustEncode = (s: string): boolean => LOOKS_ENCODED.test(s) || (s.length >= 900 && UNFOLDABLE.test(s));

/** `Name: value` folded at 76 columns, CRLF-terminated. */
export function headerLine(name: string, value: string | MailAddress | MailAddress[]): string {
  let encoded: string;
  if (typeof value === 'string') {
    switch (headerShape(name)) {
      case 'addresses':
        return headerLine(name, headerAddresses(name, value));
      case 'msg-ids':
        encoded = encoder.encodeHeaderValue(name, headerMsgIds(name, value));
        break;
      case 'list-id': {
        // Only the phrase may be encoded words (RFC 2047 §5), or the list loses its identifier.
        const { phrase, id } = headerListId(name, value);
        encoded = phrase ? `${encodePhrase(phrase)} ${id}` : id;
        break;
      }
      case 'urls':
        encoded = headerUrls(name, value);
        break;
      case 'phrases':
        encoded = value.split(',').map((k) => encodePhrase(k.trim())).join(', ');
        break;
      default:
        encoded = mustEncode(value) ? encodeWord(value, 'B', 52) : encoder.encodeHeaderValue(name, value);
    }
  } else {
    // nodemailer formats addresses for the header names it knows; 'To' stands for any other.
    const list = Array.isArray(value) ? value : [value];
    encoded = list.some((a) => a.name && mustEncode(a.name))
      ? list.map((a) => (a.name && mustEncode(a.name) ? `${encodeWord(a.name, 'B', 52)} <${a.address}>` : encoder.encodeHeaderValue('To', [a] as never))).join(', ')
      : encoder.encodeHeaderValue('To', list as never);
  }
  // nodemailer folds right after the colon when the first word does not fit; it does not fit
  // on the next line either, and a value that starts with the fold reads back with a space.
  const line = foldLines(`${name}: ${encoded}`, 76).replace(/^([^:\r\n]+):\r\n /, '$1: ') + '\r\n';
  // The last gate: a byte over 0x7f would go out as an 8-bit header nobody declared.
  if (!ASCII_LINE.test(line)) throw new MailcampError('INPUT', `headers.${name}: cannot be written in 7-bit ASCII: ${JSON.stringify(value)}`);
  return line;
}

const ASCII_LINE = /^[\x00-\x7f]*$/;

/** A phrase as encoded words where it needs them (RFC 2047 §5 (3)). */
function encodePhrase(phrase: string): string {
  return mustEncode(phrase) ? encodeWord(phrase, 'B', 52) : encodeWords(phrase, 'Q', 52);
}

/** Throws when `value` holds a character that could end or inject a header. */
export function assertHeaderSafe(value: string, what: string): void {
  if (/[\r\n\0]/.test(value)) {
    throw new MailcampError('INPUT', `${what}: line break or NUL in a value that goes into a header`);
  }
}

/** RFC 5322 §3.3 date-time, in UTC: `Sun, 22 Nov 2026 04:18:05 +0000`. */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/**
 * Message-ID stable per run and recipient, so a retry reuses it (design.md). Unique across
 * campaigns (two scheduled ones due at the same minute have the same run id) and, keyed with
 * the state folder's secret, not a hash anyone could check a guessed address against.
 */
export function messageIdFor(secret: Buffer, campaign: string, runId: string, key: string, domain: string): string {
  const h = crypto.createHmac('sha256', secret).update(`${campaign}\0${runId}\0${key}`).digest('base64url').slice(0, 22);
  return `<${h}.${runId.slice(0, 8)}@${domain}>`;
}

/**
 * The opaque X-Mailcamp-Recipient id: not the address, but stable for a campaign and the state
 * folder's secret (state/token-key.ts), so that it cannot be checked against guessed addresses.
 */
export function recipientToken(secret: Buffer, campaign: string, key: string): string {
  return crypto.createHmac('sha256', secret).update(`${campaign}\0${key}`).digest('base64url').slice(0, 16);
}

/** The id as versions before the secret made it (a plain hash); still matched by bounces. */
export function unkeyedRecipientToken(campaign: string, key: string): string {
  return crypto.createHash('sha256').update(campaign).update('\0').update(key).digest('base64url').slice(0, 16);
}
