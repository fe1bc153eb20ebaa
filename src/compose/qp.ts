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
//
// QpLineWriter does both for the lines with values, per message, into bytes (and qpFromSafe);
// encodeQp and wrapQp stay for the rest (the template's static lines, once; a last piece
// without a line break) and as the reference the writer is tested against.

const HEX = '0123456789ABCDEF';
/** "=XX" of each byte. */
const ESCAPED = Array.from({ length: 256 }, (_, b) => '=' + HEX[b >> 4] + HEX[b & 15]);
/** What encode() does with each ASCII code: 0 copies it, 1 escapes it, 2 (space, tab) escapes it before CR, LF or the end. */
const ASCII_KIND = new Uint8Array(128).fill(1);
for (let c = 0x21; c <= 0x7e; c++) ASCII_KIND[c] = 0;
ASCII_KIND[0x3d] = 1; // "="
ASCII_KIND[0x0a] = ASCII_KIND[0x0d] = 0;
ASCII_KIND[0x20] = ASCII_KIND[0x09] = 2;

/** nodemailer's qp encode() of `s` (the end of `s` is the end of the input). */
export function encodeQp(s: string): string {
  let out = '';
  let from = 0; // start of the literal run not yet copied
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      const kind = ASCII_KIND[c];
      if (kind === 0) continue; // the common case
      if (kind === 2) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : -1;
        if (next !== -1 && next !== 0x0a && next !== 0x0d) continue;
      }
      out += s.slice(from, i) + ESCAPED[c];
      from = i + 1;
      continue;
    }
    // The UTF-8 bytes of a character, each escaped; a lone surrogate is U+FFFD, as in Buffer.from.
    out += s.slice(from, i);
    let cp = c;
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else cp = 0xfffd;
    }
    if (cp < 0x800) out += ESCAPED[0xc0 | (cp >> 6)] + ESCAPED[0x80 | (cp & 63)];
    else if (cp < 0x10000) out += ESCAPED[0xe0 | (cp >> 12)] + ESCAPED[0x80 | ((cp >> 6) & 63)] + ESCAPED[0x80 | (cp & 63)];
    else out += ESCAPED[0xf0 | (cp >> 18)] + ESCAPED[0x80 | ((cp >> 12) & 63)] + ESCAPED[0x80 | ((cp >> 6) & 63)] + ESCAPED[0x80 | (cp & 63)];
    from = i + 1;
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

/**
 * qpFromSafe() of the encoding of `text`, without a look at it when that cannot change anything:
 * a line of the encoding can start with "From " only where `text` has "rom " (an escape writes
 * "=" and hex digits, a soft break "=" CRLF), and most lines of a body have none.
 */
export function qpFromSafeOf(text: string, encoded: string): string {
  return text.includes('rom ') ? qpFromSafe(encoded) : encoded;
}

const HEX_BYTES = Buffer.from(HEX, 'latin1');
/** QpLineWriter's buffers beyond this size (a line of ~20,000 characters) are not kept. */
const KEEP = 64 * 1024;

/** The value of a hex digit byte (either case). */
function hexValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x57;
}

/**
 * The quoted-printable lines of a text body that carry recipient data, written as bytes: each
 * line exactly as qpFromSafe(wrapQp(encodeQp(line + "\r\n"))) writes it, without the strings
 * in between. The escapes and the soft breaks go straight into a byte array, and a run of lines
 * becomes one string when taken. For the bench newsletter's ~30 lines with values a message,
 * the bodies' encoding went from ~29 to ~21 µs a message (issue 6). test/compose/qp.test.ts
 * compares the two on random lines. Buffers grown for a long line are let go after it.
 */
export class QpLineWriter {
  /** One line as UTF-8. */
  private raw = Buffer.allocUnsafeSlow(1024);
  /** One line encoded, its CRLF included. */
  private enc = Buffer.allocUnsafeSlow(1024);
  /** The lines written since the last take(). */
  private out = Buffer.allocUnsafeSlow(8192);
  private used = 0;

  /** Writes `line` (no CR or LF in it) and its CRLF. */
  line(line: string): void {
    const n = line.length;
    // The line as UTF-8 first: a UTF-16 unit is at most 3 bytes, each written "=XX" at most.
    if (this.raw.length < 3 * n) this.raw = Buffer.allocUnsafeSlow(Math.max(3 * n, 2 * this.raw.length));
    if (this.enc.length < 9 * n + 2) this.enc = Buffer.allocUnsafeSlow(Math.max(9 * n + 2, 2 * this.enc.length));
    const raw = this.raw;
    const m = raw.write(line, 0, 'utf8');
    // Then each byte, as encodeQp() does with the UTF-8 of its input (a lone surrogate is U+FFFD there too).
    const e = this.enc;
    let k = 0;
    for (let i = 0; i < m; i++) {
      const b = raw[i];
      // A space or tab is escaped only before the line's end.
      if (b < 0x80) {
        const kind = ASCII_KIND[b];
        if (kind === 0 || (kind === 2 && i + 1 < m)) {
          e[k++] = b;
          continue;
        }
      }
      e[k] = 0x3d;
      e[k + 1] = HEX_BYTES[b >> 4];
      e[k + 2] = HEX_BYTES[b & 15];
      k += 3;
    }
    e[k++] = 0x0d;
    e[k++] = 0x0a;
    this.wrap(k);
    if (this.raw.length > KEEP) {
      this.raw = Buffer.allocUnsafeSlow(1024);
      this.enc = Buffer.allocUnsafeSlow(1024);
    }
  }

  /** The lines written since the last call, as one string. */
  take(): string {
    if (!this.used) return '';
    const s = this.out.toString('latin1', 0, this.used);
    this.used = 0;
    if (this.out.length > 4 * KEEP) this.out = Buffer.allocUnsafeSlow(8192);
    return s;
  }

  /**
   * wrapQp() of enc[0, len), into `out`, step for step (see there); its only CRLF is the last
   * two bytes. Each line put out that starts with "From " gets its F written "=46" (qpFromSafe).
   */
  private wrap(len: number): void {
    // The line, with a soft break ("=" CRLF) and an "=46" for every 76 bytes, at most.
    if (this.out.length < this.used + 2 * len + 8) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.used + 2 * len + 8, 2 * this.out.length));
      this.out.copy(grown, 0, 0, this.used);
      this.out = grown;
    }
    const e = this.enc;
    if (len <= LINE) {
      this.put(0, len, false);
      return;
    }
    const crlf = len - 2;
    let pos = 0;
    while (pos < len) {
      const end = Math.min(pos + LINE, len);
      if (crlf + 2 <= end) {
        this.put(pos, crlf + 2, false);
        pos = crlf + 2;
        continue;
      }
      // (No LF before the last byte: the window's last byte, or one in its last 25, is not one.)
      let cut = end;
      let brokeAtSpace = false;
      if (end - pos > LINE - MARGIN) {
        for (let i = end - 1; i >= end - MARGIN; i--) {
          const c = e[i];
          if (c === 0x20 || c === 0x09 || c === 0x2e || c === 0x2c || c === 0x21 || c === 0x3f) {
            cut = i + 1;
            brokeAtSpace = true;
            break;
          }
        }
      }
      if (!brokeAtSpace && bytesEndWithPartialEscape(e, pos, cut)) {
        if (e[cut - 1] === 0x3d) cut -= 1;
        else if (cut - pos >= 2 && e[cut - 2] === 0x3d && isHex(e[cut - 1])) cut -= 2;
        while (cut - pos > 3 && cut - pos < len - pos && !bytesOnlyEscapes(e, pos, cut) && bytesEndWithEscape(e, pos, cut)) {
          const code = hexValue(e[cut - 2]) * 16 + hexValue(e[cut - 1]);
          if (code < 128) break;
          cut -= 3;
          if (code >= 0xc0) break;
        }
      }
      if (cut === pos) cut = end;
      if (cut < len && e[cut - 1] !== 0x0a) {
        if (cut - pos === LINE && bytesEndWithEscape(e, pos, cut)) cut -= 3;
        else if (cut - pos === LINE) cut -= 1;
        this.put(pos, cut, true);
      } else {
        this.put(pos, cut, false);
      }
      pos = cut;
    }
  }

  /** enc[a, b) as a line of the output (a soft break after it when `soft`). */
  private put(a: number, b: number, soft: boolean): void {
    const e = this.enc;
    const o = this.out;
    let u = this.used;
    if (b - a >= 5 && e[a] === 0x46 && e[a + 1] === 0x72 && e[a + 2] === 0x6f && e[a + 3] === 0x6d && e[a + 4] === 0x20) {
      o[u++] = 0x3d; // "From " -> "=46rom "
      o[u++] = 0x34;
      o[u++] = 0x36;
      a++;
    }
    if (b - a < 16) for (let i = a; i < b; i++) o[u++] = e[i];
    else u += e.copy(o, u, a, b);
    if (soft) {
      o[u++] = 0x3d;
      o[u++] = 0x0d;
      o[u++] = 0x0a;
    }
    this.used = u;
  }
}

/** endsWithEscape() on bytes. */
function bytesEndWithEscape(e: Buffer, a: number, b: number): boolean {
  return b - a >= 3 && e[b - 3] === 0x3d && isHex(e[b - 2]) && isHex(e[b - 1]);
}

/** onlyEscapes() on bytes. */
function bytesOnlyEscapes(e: Buffer, a: number, b: number): boolean {
  const n = b - a;
  if (n < 3 || n > 12 || n % 3) return false;
  for (let i = a; i < b; i += 3) if (!bytesEndWithEscape(e, i, i + 3)) return false;
  return true;
}

/** endsWithPartialEscape() on bytes. */
function bytesEndWithPartialEscape(e: Buffer, a: number, b: number): boolean {
  for (let k = 1; k <= 3 && b - k >= a; k++) {
    if (e[b - k] === 0x3d) return true;
    if (!isHex(e[b - k])) return false;
  }
  return false;
}
