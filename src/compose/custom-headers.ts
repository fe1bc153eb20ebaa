// The campaign's `headers:` values, written by their structure. Encoded words (RFC 2047) may
// stand only in unstructured text and in phrases (§5); a header that holds addresses, message
// ids or URLs keeps them as they are, in 7-bit (RFC 5322 §2.2), or is refused:
// - addresses (Sender, Disposition-Notification-To, …): checked like `from:`, the name encoded
//   as a phrase, an IDN domain as A-labels; a non-ASCII local part needs SMTPUTF8: refused;
// - message ids (In-Reply-To, References): ASCII only;
// - List-Id (RFC 2919): the phrase encoded, the id as A-labels;
// - the RFC 2369 URLs (List-Help, List-Post, …): `<url>` items, a non-ASCII URL
//   percent-encoded (RFC 3987 §3.1), as unsubscribe.url is;
// - Keywords (RFC 5322 §3.6.5): each comma-separated phrase encoded on its own;
// - anything else: unstructured text.

import { domainToASCII } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import type { MailAddress } from '../campaign/types.js';
import { checkAddress } from '../recipients/address.js';
import { MailcampError } from '../shared/errors.js';

export type HeaderShape = 'addresses' | 'msg-ids' | 'list-id' | 'urls' | 'phrases' | 'text';

const SHAPES: [RegExp, HeaderShape][] = [
  [/^(sender|disposition-notification-to|return-receipt-to|errors-to|mail-followup-to|mail-reply-to|resent-(from|sender|to|cc))$/i, 'addresses'],
  [/^(in-reply-to|references|resent-message-id)$/i, 'msg-ids'],
  [/^list-id$/i, 'list-id'],
  [/^list-(help|subscribe|post|owner|archive)$/i, 'urls'],
  [/^keywords$/i, 'phrases'],
];

export function headerShape(name: string): HeaderShape {
  for (const [re, shape] of SHAPES) if (re.test(name)) return shape;
  return 'text';
}

const ASCII = /^[\x00-\x7f]*$/;

function refuse(name: string, why: string): never {
  throw new MailcampError('INPUT', `headers.${name}: ${why}`);
}

/** The addresses of an address header, checked and with A-label domains. */
export function headerAddresses(name: string, value: string): MailAddress[] {
  const list = addressparser(value, { flatten: true }) as { name: string; address: string }[];
  if (!list.length || list.some((a) => !a.address)) refuse(name, `not a list of addresses like "Name <you@example.com>": ${JSON.stringify(value)}`);
  return list.map((a) => {
    const c = checkAddress(a.address);
    if (!c.ok) refuse(name, `invalid address "${a.address}": ${c.reason}`);
    return { name: a.name || undefined, address: c.address };
  });
}

/** `<id@host>` items, 7-bit. */
export function headerMsgIds(name: string, value: string): string {
  if (!ASCII.test(value)) refuse(name, `a message id is ASCII only (RFC 5322 §3.6.4): ${JSON.stringify(value)}`);
  return value;
}

/** `phrase <list-id>` (RFC 2919 §2): the phrase, and the id (with brackets) in A-labels. */
export function headerListId(name: string, value: string): { phrase: string; id: string } {
  const m = /^(.*?)\s*<([^<>\s]+)>\s*$/.exec(value);
  if (!m) {
    // Without brackets it is not a list id a client can read; written as it is, as before.
    if (ASCII.test(value)) return { phrase: '', id: value };
    refuse(name, `must be a list id in brackets, e.g. "Acme News <news.acme.example>": ${JSON.stringify(value)}`);
  }
  let id = m[2];
  if (!ASCII.test(id)) {
    id = domainToASCII(id);
    if (!id) refuse(name, `the list id <${m[2]}> is not a domain-like name (RFC 2919 §2)`);
  }
  return { phrase: m[1], id: `<${id}>` };
}

/** RFC 2369: `<url>, <url>` (or `NO` for List-Post), each URL in 7-bit. */
export function headerUrls(name: string, value: string): string {
  if (ASCII.test(value)) return value;
  const items = value.match(/<[^<>]*>/g);
  if (!items || value.replace(/<[^<>]*>/g, '').replace(/[\s,]/g, '') !== '') {
    refuse(name, `must be URLs in brackets, like <https://acme.example/help>: ${JSON.stringify(value)}`);
  }
  return items
    .map((item) => {
      const url = item.slice(1, -1).trim();
      if (ASCII.test(url)) return `<${url}>`;
      if (!URL.canParse(url)) refuse(name, `not a URL: ${JSON.stringify(url)}`);
      const href = new URL(url).href;
      if (!ASCII.test(href)) refuse(name, `cannot be written in ASCII: ${JSON.stringify(url)}`);
      return `<${href}>`;
    })
    .join(', ');
}
