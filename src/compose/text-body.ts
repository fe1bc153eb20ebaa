// Text bodies (text/plain, text/html) with the static lines of their template encoded once per
// campaign. The output is byte for byte what textPart() in parts.ts gives for the same body
// (test/compose/text-body.test.ts compares the two on thousands of random templates and values):
// this is only a faster way to the same bytes, because a 20 KB newsletter whose every line but a
// dozen is the same for everyone should not be quoted-printable encoded again for every recipient.
//
// Why splicing is exact. textPart() normalises line ends to CRLF, picks the transfer encoding
// from properties that are sums or conjunctions over lines (7-bit characters, no line of 78 or
// more, no line starting with "." or "From ", the ratio of non-Latin to Latin letters), and
// for quoted-printable runs nodemailer's encode() then wrap() (qp.ts writes the same bytes
// faster, for the lines encoded per message). Both work line by line across a CRLF: encode()
// looks ahead one byte only to decide whether a space or tab ends a line (the
// byte before a CRLF is never CR or LF's neighbour in another line), and wrap() never carries
// a soft break across a hard one: each of its steps stops at the first CRLF in its window and
// never ends between CR and LF. So the encoding of a text is the concatenation of the
// encodings of its CRLF-terminated lines, plus the last, unterminated piece, for which wrap()
// is run as it runs at the end of a longer input (its shortcut for inputs of at most 76
// characters applies to the whole text only). Base64 bodies are encoded whole.
//
// The body comes rendered with markers where the template's static lines are
// (render/marked.ts): each block of whole lines is encoded once, and a render is the lines
// around the values, which are encoded per message, and markers, whose encoding is spliced in.
// No line crosses a marker (a block starts after a line break and ends with one), so line ends
// are normalised per piece as the whole would be. The transfer encoding is chosen from the
// blocks' stats and the other lines'; those are counted only when the blocks leave the choice
// open (pass 2). chunks() hands the blocks' encodings to compose as the Buffers made once, so
// the bulk of a body is copied into the message rather than encoded into it again. A body
// without markers (rendered unmarked) is encoded line by line, to the same bytes.

import { wrap as b64wrap } from 'nodemailer/lib/base64';
import { expand, type StaticBlocks, walkMarked } from '../render/marked.js';
import { encodeQp, QpLineWriter, qpFromSafeOf, wrapQp } from './qp.js';

const LINE = 76;

/** What the choice of transfer encoding needs to know about some lines. */
interface Stats {
  /** Every character is TAB or printable ASCII. */
  ascii: boolean;
  /** Some line has 78 characters or more. */
  long: boolean;
  /** Some line starts with "." or "From ". */
  dotFrom: boolean;
  /** Characters ≥ U+0080, and ASCII letters (parts.ts nonLatinRatio). */
  non: number;
  latin: number;
}

interface Block {
  /** The lines with CRLF line ends (7bit body). */
  crlf: string;
  /** Quoted-printable encoding of `crlf`, as bytes (it is ASCII). */
  qp: Buffer;
  stats: Stats;
}

function statsOf(line: string): Stats {
  let ascii = true;
  let non = 0;
  let latin = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c >= 0x80) {
      non++;
      ascii = false;
    } else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
    else if ((c < 0x20 && c !== 0x09) || c === 0x7f) ascii = false;
  }
  const dotFrom = line.charCodeAt(0) === 0x2e || line.startsWith('From ');
  return { ascii, long: line.length >= 78, dotFrom, non, latin };
}

function add(a: Stats, b: Stats): void {
  a.ascii &&= b.ascii;
  a.long ||= b.long;
  a.dotFrom ||= b.dotFrom;
  a.non += b.non;
  a.latin += b.latin;
}

/** QP of one CRLF-terminated line (its "\r\n" included). */
function qpLine(line: string): string {
  return qpFromSafeOf(line, wrapQp(encodeQp(line + '\r\n')));
}

// wrap() of the last, unterminated piece as it goes at the end of a longer input: preceded by
// empty lines, which wrap() passes through unchanged (each step stops at their CRLF).
const EMPTY_LINES = '\r\n'.repeat(LINE / 2 + 1);

function qpTail(tail: string, before: number): string {
  const encoded = encodeQp(tail);
  if (before + encoded.length <= LINE) return qpFromSafeOf(tail, encoded); // the whole text fits: wrap() returns it as is
  return qpFromSafeOf(tail, wrapQp(EMPTY_LINES + encoded).slice(EMPTY_LINES.length));
}

const NO_BLOCKS: StaticBlocks = { open: '', blocks: [] };

export class TextBodyEncoder {
  private readonly blocks: Block[];
  private readonly writer = new QpLineWriter();

  /** `marks`: the static lines of the template the bodies are rendered from. */
  constructor(private readonly marks: StaticBlocks = NO_BLOCKS) {
    this.blocks = marks.blocks.map((text) => {
      const lines = text.replace(/\r\n|\r/g, '\n').split('\n');
      lines.pop(); // the block ends with a line break
      const stats = statsOf(lines[0]);
      for (let i = 1; i < lines.length; i++) add(stats, statsOf(lines[i]));
      return { crlf: lines.join('\r\n') + '\r\n', qp: Buffer.from(lines.map(qpLine).join(''), 'latin1'), stats };
    });
  }

  /** Exactly textPart(subtype, expand(marks, body)) of parts.ts. */
  part(subtype: 'plain' | 'html', body: string): string {
    return this.chunks(subtype, body)
      .map((c) => (typeof c === 'string' ? c : c.toString('latin1')))
      .join('');
  }

  /**
   * The same bytes in pieces: the quoted-printable encodings of the template's static blocks as
   * the Buffers made once per campaign, everything else as text, so that compose copies the
   * bulk of the body instead of encoding it again.
   */
  chunks(subtype: 'plain' | 'html', body: string): (string | Buffer)[] {
    // Pass 1: the blocks, and the other lines, with the stats of the blocks summed; the other
    // lines (values in them) are counted in pass 2, and only when the blocks leave the choice
    // of encoding open.
    const segs: (Block | string)[] = [];
    const stats: Stats = { ascii: true, long: false, dotFrom: false, non: 0, latin: 0 };
    let unknownChars = 0;
    let tail = '';
    let whole = true;
    const lines = (piece: string, last: boolean): void => {
      const text = piece.includes('\r') ? piece.replace(/\r\n|\r/g, '\n') : piece;
      let pos = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', pos)) {
        segs.push(text.slice(pos, end));
        unknownChars += end - pos;
        pos = end + 1;
      }
      if (pos === text.length) return;
      // Only the last piece may end inside a line: a block starts a line.
      if (!last) whole = false;
      tail = text.slice(pos);
      unknownChars += tail.length;
    };
    const ok = !this.blocks.length
      ? (lines(body, true), true)
      : walkMarked(this.marks, body, lines, (i) => {
          const b = this.blocks[i];
          segs.push(b);
          add(stats, b.stats);
        });
    // Not a render of this template's blocks: encoded whole, line by line (the same bytes, slower).
    if (!ok || !whole) return PLAIN.chunks(subtype, expand(this.marks, body));

    // Pass 2: the transfer encoding textPart() would choose, and the body in it. 7bit needs
    // every line ASCII, shorter than 78 and not starting with "." or "From "; base64 needs at
    // least as many non-ASCII characters as ASCII letters. The other lines decide only when
    // the blocks leave it open: they cannot undo a block's disqualification from 7bit, and
    // they cannot bring in more non-ASCII characters than they have characters.
    const open7bit = stats.ascii && !stats.long && !stats.dotFrom;
    if (unknownChars && (open7bit || stats.non + unknownChars >= stats.latin)) {
      for (const s of segs) if (typeof s === 'string') add(stats, statsOf(s));
      if (tail) add(stats, statsOf(tail));
    }
    const head = (cte: string) => `Content-Type: text/${subtype}; charset=utf-8\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n`;
    const ended = (s: string) => (s.endsWith('\r\n') ? s : `${s}\r\n`);
    if (stats.ascii && !stats.long && !stats.dotFrom) return [head('7bit') + ended(crlfOf(segs) + tail)];
    if (stats.non / Math.max(1, stats.non + stats.latin) >= 0.5) {
      return [head('base64') + ended(b64wrap(Buffer.from(crlfOf(segs) + tail, 'utf8').toString('base64'), LINE))];
    }
    const out: (string | Buffer)[] = [];
    let pending = head('quoted-printable');
    // What the steps below need to know of the encoding so far: its length (qpTail's "the whole
    // text fits" shortcut) and whether it ends in CRLF (its last byte is LF; 0 while empty).
    let length = 0;
    let lastByte = 0;
    // The lines with values go through the writer, a run of them at a time.
    const writer = this.writer;
    const flush = () => {
      const run = writer.take();
      pending += run;
      length += run.length;
    };
    writer.take(); // (empty, unless a call before this one threw)
    for (const s of segs) {
      if (typeof s !== 'string') {
        flush();
        out.push(pending, s.qp);
        pending = '';
        length += s.qp.length;
        lastByte = s.qp[s.qp.length - 1];
      } else {
        writer.line(s);
        lastByte = 0x0a;
      }
    }
    flush();
    if (tail) {
      const t = qpTail(tail, length);
      pending += t;
      length += t.length;
      if (t.length) lastByte = t.charCodeAt(t.length - 1);
    }
    if (lastByte !== 0x0a) pending += '\r\n';
    out.push(pending);
    return out;
  }
}

/** Without blocks: every line encoded per message. */
const PLAIN = new TextBodyEncoder();

function crlfOf(segs: (Block | string)[]): string {
  let s = '';
  for (const x of segs) s += typeof x === 'string' ? x + '\r\n' : x.crlf;
  return s;
}
