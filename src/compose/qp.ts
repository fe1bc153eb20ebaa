// Quoted-printable (RFC 2045 §6.7) exactly as nodemailer's `encode()` then `wrap(…, 76)` write it,
// for the lines of a text body that carry recipient data (text-body.ts encodes the template's
// static lines once). The same bytes, 3–4× faster: nodemailer converts each line to a Buffer
// and back and runs a substr and several regular expressions per 76-character window, which was
// ~40% of render + compose for the bench newsletter (issue 6). test/compose/qp.test.ts compares
// both on random lines built to hit every branch below.
//
// encode: every UTF-8 byte that is not TAB, CR, LF or printable ASCII other than "=" becomes
// =XX (upper-case hex), and so does a space or tab before CR, LF or the end of the input.
// wrap: nodemailer's algorithm, step for step (see wrapQp), with index arithmetic instead of
// substr() and regular expressions.

const HEX = '0123456789ABCDEF';

/** nodemailer's qp encode() of `s` (the end of `s` is the end of the input). */
export function encodeQp(s: string): string {
  let out = '';
  let from = 0; // start of the literal run not yet copied
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x3d && c !== 0x20) continue; // the common case
    if (c === 0x0a || c === 0x0d) continue;
    if (c === 0x20 || c === 0x09) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : -1;
      if (next !== -1 && next !== 0x0a && next !== 0x0d) continue;
      out += s.slice(from, i) + (c === 0x20 ? '=20' : '=09');
      from = i + 1;
      continue;
    }
    out += s.slice(from, i);
    if (c < 0x80) {
      out += '=' + HEX[c >> 4] + HEX[c & 15];
      from = i + 1;
      continue;
    }
    // A run of non-ASCII characters: its UTF-8 bytes (lone surrogates become U+FFFD, as in
    // Buffer.from), each escaped.
    let j = i + 1;
    while (j < n && s.charCodeAt(j) >= 0x80) j++;
    const bytes = Buffer.from(s.slice(i, j), 'utf8');
    for (let k = 0; k < bytes.length; k++) out += '=' + HEX[bytes[k] >> 4] + HEX[bytes[k] & 15];
    from = j;
    i = j - 1;
  }
  return from === 0 ? s : out + s.slice(from);
}

const LINE = 76;
const MARGIN = Math.floor(LINE / 3);

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** `str[a, b)` ends with "=XX" (hex, either case), like /[=][\da-f]{2}$/i. */
function endsWithEscape(str: string, a: number, b: number): boolean {
  return b - a >= 3 && str.charCodeAt(b - 3) === 0x3d && isHex(str.charCodeAt(b - 2)) && isHex(str.charCodeAt(b - 1));
}

/** `str[a, b)` is one to four "=XX" and nothing else, like /^(?:=[\da-f]{2}){1,4}$/i. */
function onlyEscapes(str: string, a: number, b: number): boolean {
  const n = b - a;
  if (n < 3 || n > 12 || n % 3) return false;
  for (let i = a; i < b; i += 3) if (!endsWithEscape(str, i, i + 3)) return false;
  return true;
}

/** A character that `.` in a regular expression does not match. */
function isTerminator(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;
}

/** nodemailer's qp wrap(str, 76): soft line breaks ("=" CRLF) so that no line passes 76 characters. */
export function wrapQp(str: string): string {
  const len = str.length;
  if (len <= LINE) return str;
  let pos = 0;
  let result = '';
  // The first CRLF at or after pos, searched for again only once pos has passed it, not from
  // every window (which scans the rest of a long line each time).
  let crlf = str.indexOf('\r\n');
  while (pos < len) {
    const end = Math.min(pos + LINE, len); // the window: line = str.substr(pos, 76)
    if (crlf !== -1 && crlf < pos) crlf = str.indexOf('\r\n', pos);
    // A hard line break inside the window: the line ends there.
    if (crlf !== -1 && crlf + 2 <= end) {
      result += str.slice(pos, crlf + 2);
      pos = crlf + 2;
      continue;
    }
    if (str.charCodeAt(end - 1) === 0x0a) {
      result += str.slice(pos, end);
      pos = end;
      continue;
    }
    // /\n.*?$/ on the window's last 25 characters: the first LF with no line terminator after it.
    const tailFrom = Math.max(pos, end - MARGIN);
    let lf = -1;
    for (let i = end - 1; i >= tailFrom; i--) {
      const c = str.charCodeAt(i);
      if (c === 0x0a) {
        lf = i;
        break;
      }
      if (isTerminator(c)) break;
    }
    if (lf !== -1) {
      result += str.slice(pos, lf + 1);
      pos = lf + 1;
      continue;
    }
    let cut = end; // the line is str[pos, cut)
    let brokeAtSpace = false;
    if (end - pos > LINE - MARGIN) {
      // /[ \t.,!?][^ \t.,!?]*$/ on the last 25 characters: break after the last such character.
      for (let i = end - 1; i >= end - MARGIN; i--) {
        const c = str.charCodeAt(i);
        if (c === 0x20 || c === 0x09 || c === 0x2e || c === 0x2c || c === 0x21 || c === 0x3f) {
          cut = i + 1;
          brokeAtSpace = true;
          break;
        }
      }
    }
    if (!brokeAtSpace && endsWithPartialEscape(str, pos, cut)) {
      // An "=" or "=X" at the end goes to the next line.
      if (str.charCodeAt(cut - 1) === 0x3d) cut -= 1;
      else if (cut - pos >= 2 && str.charCodeAt(cut - 2) === 0x3d && isHex(str.charCodeAt(cut - 1))) cut -= 2;
      // And so do the bytes of a UTF-8 sequence that the break would split.
      while (cut - pos > 3 && cut - pos < len - pos && !onlyEscapes(str, pos, cut) && endsWithEscape(str, pos, cut)) {
        const code = parseInt(str.slice(cut - 2, cut), 16);
        if (code < 128) break;
        cut -= 3;
        if (code >= 0xc0) break;
      }
    }
    if (cut === pos) cut = end; // emptied by the trimming: take the window as it is
    if (cut < len && str.charCodeAt(cut - 1) !== 0x0a) {
      if (cut - pos === LINE && endsWithEscape(str, pos, cut)) cut -= 3;
      else if (cut - pos === LINE) cut -= 1;
      result += str.slice(pos, cut) + '=\r\n';
    } else {
      result += str.slice(pos, cut);
    }
    pos = cut;
  }
  return result;
}

/** /[=][\da-f]{0,2}$/i on str[a, b): one of the last three characters is "=" and only hex follows it. */
function endsWithPartialEscape(str: string, a: number, b: number): boolean {
  for (let k = 1; k <= 3 && b - k >= a; k++) {
    if (str.charCodeAt(b - k) === 0x3d) return true;
    if (!isHex(str.charCodeAt(b - k))) return false;
  }
  return false;
}

/**
 * Quoted-printable lines that start with "From " get their F written `=46` (RFC 2049 §3 (8)): an
 * mbox store rewrites such a line as ">From ", which changes the text and breaks a DKIM body
 * hash. (The text made the part quoted-printable for it; without this the line went out as is.)
 */
export function qpFromSafe(encoded: string): string {
  return encoded.includes('From ') ? encoded.replace(/(^|\r\n)From /g, '$1=46rom ') : encoded;
}
