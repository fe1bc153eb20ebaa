// Recipient address checks: one plain `local@domain` per CSV cell, or a precise reason why not.
//
// We accept a deliberately narrow subset of RFC 5322 §3.4.1 addr-spec, because every accepted
// address ends up in an SMTP envelope and a To: header:
// - local part: dot-atom only (RFC 5322 §3.2.3 atext with single dots between atoms), ASCII only.
//   Quoted local parts ("a b"@x) are legal but almost never real and are a classic header/SMTP
//   injection vector; non-ASCII local parts need SMTPUTF8 (RFC 6531), which we do not negotiate.
// - no display names, groups, comments or lists: those belong in other columns or other rows.
// - domain: a DNS host name (RFC 1035 §2.3.1 LDH labels, RFC 5321 §4.1.2), internationalized names
//   converted to A-labels with WHATWG/UTS #46 `domainToASCII`; IP literals (RFC 5321 §4.1.3) are
//   refused because bulk mail to them is a typo or an attack, never a newsletter recipient.
// - lengths from RFC 5321 §4.5.3.1: local part 64 octets, domain 255 (253 as text), path 256
//   including the angle brackets, hence 254 for the bare address.
// - a label that mixes scripts (Latin with Cyrillic, as in a lookalike 'pаypal') is refused, using
//   the "Highly Restrictive" profile of UTS #39 §5.2: one script per label, or Latin combined with
//   the CJK sets a real Chinese/Japanese/Korean name uses.
//
// The case of the local part is preserved (RFC 5321 §2.4 says it may matter), but the dedupe and
// suppression key lower-cases it, because in practice no mailbox provider distinguishes case.

import { domainToASCII, domainToUnicode } from 'node:url';

export type AddressCheck = { ok: true; address: string; key: string } | { ok: false; reason: string };

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;
const LDH_LABEL_CHAR = /^[A-Za-z0-9-]$/;
const DOT = /[.\u3002\uFF0E\uFF61]/; // UTS #46 maps the ideographic and full-width dots to '.'

// The common case, decided by one regular expression: an all-ASCII dot-atom at an LDH host name
// whose labels are not A-labels (those need the lookalike check). Anything else takes the slow
// path, which gives the precise reason. Both paths accept exactly the same ASCII addresses.
const PLAIN =
  /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*@(?:(?!xn--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?!xn--)[A-Za-z]{2,63}$/i;

/**
 * A reason of checkAddress in words for an address given on the command line: the list's
 * ("put only the address here and the name in the name column", "one address per row") do
 * not fit a flag or an argument.
 */
export function reasonForArgument(reason: string, several: string): string {
  if (/display-name form/.test(reason)) return 'give the bare address only, like you@example.com';
  if (/several addresses|group syntax/.test(reason)) return several;
  return reason;
}

export function checkAddress(raw: string): AddressCheck {
  const s = raw;
  if (s.length <= 254 && PLAIN.test(s)) {
    const at = s.indexOf('@');
    if (at <= 64) {
      const address = s.slice(0, at + 1) + s.slice(at + 1).toLowerCase();
      return { ok: true, address, key: address.toLowerCase() };
    }
  }
  return checkAddressSlowPath(s);
}

/** checkAddress without the fast path; exported so tests can prove both paths agree. */
export function checkAddressSlowPath(s: string): AddressCheck {
  if (s === '') return fail('empty');
  if (/[\r\n\0]/.test(s)) return fail('line break or NUL in address');
  if (/[\x00-\x1f\x7f]/.test(s)) return fail('control character in address');
  if (/^mailto:/i.test(s)) return fail("remove the 'mailto:' prefix");
  // Invisible characters (zero-width space, soft hyphen, direction marks) come from copying out
  // of web pages and documents, or from spoofing; IDNA would drop some from a domain without a word.
  const invisible = /\p{Cf}/u.exec(s);
  if (invisible) return fail(`invisible character U+${invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} in the address (copied from a web page or document?): remove it`);
  // Typed with a Chinese or Japanese input method: say which character, not "missing '@'".
  const wide = /[＠，；．＜＞　]/.exec(s);
  if (wide) return fail(`full-width '${wide[0] === '　' ? 'space' : wide[0]}' in the address: write it in ASCII`);
  if (s.includes('<') || s.includes('>')) {
    return fail("display-name form ('Name <address>'): put only the address here and the name in the name column");
  }
  if (/^[^@"]*:/.test(s) && s.includes(';')) return fail("group syntax ('name: addresses;'): put one address per row");
  if (/[,;]/.test(s)) return fail("several addresses (separated by ',' or ';'): put one address per row");
  if (s.split(/\s+/).filter((p) => p.includes('@')).length > 1) {
    return fail('several addresses (separated by spaces): put one address per row');
  }
  if (s.includes('(') || s.includes(')')) return fail("comment '(…)' in address");
  if (s.startsWith('"')) return fail('quoted local part ("…"@) is not accepted');
  if (/\s/u.test(s)) return fail('whitespace in address');

  const at = s.indexOf('@');
  if (at < 0) return fail("missing '@'");
  if (s.indexOf('@', at + 1) >= 0) return fail("more than one '@'");
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);

  const localProblem = checkLocal(local);
  if (localProblem) return fail(localProblem);
  const d = checkDomain(domain);
  if (!d.ok) return d;

  const address = `${local}@${d.ascii}`;
  if (address.length > 254) return fail(`address longer than 254 characters (${address.length})`);
  return { ok: true, address, key: address.toLowerCase() };
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function checkLocal(local: string): string | undefined {
  if (local === '') return "missing local part before '@'";
  if (/[^\x00-\x7f]/.test(local)) {
    return 'non-ASCII local part needs SMTPUTF8, which mailcamp does not support';
  }
  if (local.length > 64) return `local part longer than 64 characters (${local.length})`;
  if (local.startsWith('.')) return 'local part starts with a dot';
  if (local.endsWith('.')) return 'local part ends with a dot';
  if (local.includes('..')) return 'consecutive dots in local part';
  for (const ch of local) {
    if (ch !== '.' && !ATEXT.test(ch)) return `invalid character '${ch}' in local part`;
  }
  return undefined;
}

function checkDomain(domain: string): { ok: true; ascii: string } | { ok: false; reason: string } {
  if (domain === '') return fail("missing domain after '@'");
  if (domain.startsWith('[')) return fail('IP-address literal domain ([…]) is not accepted');
  if (/^\d+(\.\d+){3}$/.test(domain)) return fail('IP address instead of a domain name');
  for (const ch of domain) {
    if (ch.charCodeAt(0) < 0x80 && ch !== '.' && !LDH_LABEL_CHAR.test(ch)) {
      return fail(`invalid character '${ch}' in domain`);
    }
  }
  const labels = domain.split(DOT);
  if (labels[0] === '') return fail('domain starts with a dot');
  if (labels[labels.length - 1] === '') return fail('domain ends with a dot');
  if (labels.includes('')) return fail('consecutive dots in domain');
  if (labels.length < 2) return fail('domain has no dot (no top-level domain)');
  if (/^\d/.test(labels[labels.length - 1])) return fail('top-level domain starts with a digit');

  for (const label of labels) {
    // A label already in A-label form can hide a lookalike just as well as its Unicode form.
    const unicode = /^xn--/i.test(label) ? domainToUnicode(label) : label;
    if (unicode === '') return fail(`invalid punycode label '${label}'`);
    if (hasMixedScripts(unicode)) return fail('mixed scripts in domain label (lookalike)');
  }

  const ascii = domainToASCII(domain);
  if (ascii === '') return fail('invalid internationalized domain name');
  for (const label of ascii.split('.')) {
    if (label.length > 63) return fail(`domain label longer than 63 characters (${label.length})`);
    if (label.startsWith('-')) return fail(`domain label '${label}' starts with a hyphen`);
    if (label.endsWith('-')) return fail(`domain label '${label}' ends with a hyphen`);
  }
  if (ascii.length > 253) return fail(`domain longer than 253 characters (${ascii.length})`);
  const tld = ascii.slice(ascii.lastIndexOf('.') + 1);
  if (!/^(?:[a-z]{2,}|xn--[a-z0-9-]+)$/.test(tld)) return fail(`invalid top-level domain '${tld}'`);
  return { ok: true, ascii };
}

// Scripts we can name. A character in none of them counts as "other": a label written entirely in
// an unlisted script passes, one mixing it with Latin does not, which is the direction that matters.
const SCRIPTS = [
  'Latin', 'Cyrillic', 'Greek', 'Armenian', 'Georgian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana',
  'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada',
  'Malayalam', 'Sinhala', 'Thai', 'Lao', 'Tibetan', 'Myanmar', 'Khmer', 'Mongolian', 'Ethiopic',
  'Cherokee', 'Han', 'Hiragana', 'Katakana', 'Bopomofo', 'Hangul',
].map((name) => ({ name, re: new RegExp(`^\\p{Script=${name}}$`, 'u') }));
const NEUTRAL = /^[\p{Script=Common}\p{Script=Inherited}]$/u;

// UTS #39 §5.2 "Highly Restrictive": sets of scripts that may share one label.
const ALLOWED_MIXES = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

export function hasMixedScripts(label: string): boolean {
  if (/^[\x00-\x7f]*$/.test(label)) return false;
  const found = new Set<string>();
  for (const ch of label) {
    if (NEUTRAL.test(ch)) continue;
    found.add(SCRIPTS.find((s) => s.re.test(ch))?.name ?? 'other');
  }
  if (found.size <= 1) return false;
  return !ALLOWED_MIXES.some((mix) => [...found].every((s) => mix.has(s)));
}
