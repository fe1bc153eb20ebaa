// Text bodies (text/plain, text/html) with the static lines of their template encoded once per
// campaign. The output is byte for byte what textPart() in parts.ts gives for the same body
// (test/compose/text-body.test.ts compares the two on thousands of random bodies): this is
// only a faster way to the same bytes, because a 20 KB newsletter whose every line but a dozen
// is the same for everyone should not be quoted-printable encoded again for every recipient.
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
// The template's static lines are grouped into runs (consecutive lines without `{{`), each
// encoded once. Rendering a message then checks, at each line start, whether the next run
// (or a run whose first line this is) follows verbatim — a memory compare — and
// splices its encoding; anything else (values, lines changed by Handlebars' whitespace rules,
// conditional blocks) is encoded line by line. A run that does not match costs speed, never
// correctness. The transfer encoding is chosen from the stats of the runs and known lines;
// the lines with values are counted only when those leave the choice open (pass 2). chunks()
// hands the runs' encodings to compose as the Buffers made once, so the bulk of a body is
// copied into the message rather than encoded into it again.

import { wrap as b64wrap } from 'nodemailer/lib/base64';
import { encodeQp, qpFromSafe, wrapQp } from './qp.js';

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

interface Run {
  /** Lines joined and ended by "\n". */
  text: string;
  /** The same with CRLF line ends (7bit body). */
  crlf: string;
  /** Quoted-printable encoding of `crlf`, as bytes (it is ASCII). */
  qp: Buffer;
  stats: Stats;
}

/** A line of the template. */
interface KnownLine {
  /** Quoted-printable of the line and its CRLF, once needed. */
  qp?: string;
  stats: Stats;
  /** Runs that start with this line. */
  starts: number[];
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
  return qpFromSafe(wrapQp(encodeQp(line + '\r\n')));
}

// wrap() of the last, unterminated piece as it goes at the end of a longer input: preceded by
// empty lines, which wrap() passes through unchanged (each step stops at their CRLF).
const EMPTY_LINES = '\r\n'.repeat(LINE / 2 + 1);

function qpTail(tail: string, before: number): string {
  const encoded = encodeQp(tail);
  if (before + encoded.length <= LINE) return qpFromSafe(encoded); // the whole text fits: wrap() returns it as is
  return qpFromSafe(wrapQp(EMPTY_LINES + encoded).slice(EMPTY_LINES.length));
}

export class TextBodyEncoder {
  private readonly runs: Run[] = [];
  private readonly lines = new Map<string, KnownLine>();
  /** lengths[n] is 1 when some line of the template has n characters. */
  private lengths = new Uint8Array(0);

  /** `template`: the Handlebars source the bodies are rendered from. */
  constructor(template: string) {
    const src = template.replace(/\r\n|\r/g, '\n').split('\n');
    src.pop(); // the piece after the last "\n" is not a whole line
    let run: string[] = [];
    const close = () => {
      if (!run.length) return;
      const stats = statsOf(run[0]);
      for (let i = 1; i < run.length; i++) add(stats, statsOf(run[i]));
      const first = this.staticLine(run[0]);
      first.starts.push(this.runs.length);
      for (const l of run) this.staticLine(l);
      this.runs.push({ text: run.join('\n') + '\n', crlf: run.join('\r\n') + '\r\n', qp: Buffer.from(run.map(qpLine).join(''), 'latin1'), stats });
      run = [];
    };
    for (const line of src) {
      if (line.includes('{{')) close();
      else run.push(line);
    }
    close();
  }

  private staticLine(line: string): KnownLine {
    let s = this.lines.get(line);
    if (!s) this.lines.set(line, (s = { stats: statsOf(line), starts: [] }));
    if (line.length >= this.lengths.length) {
      const grown = new Uint8Array(line.length + 1);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    this.lengths[line.length] = 1;
    return s;
  }

  /** Exactly textPart(subtype, body) of parts.ts. */
  part(subtype: 'plain' | 'html', body: string): string {
    return this.chunks(subtype, body)
      .map((c) => (typeof c === 'string' ? c : c.toString('latin1')))
      .join('');
  }

  /**
   * The same bytes in pieces: the quoted-printable encodings of the template's static runs as
   * the Buffers made once per campaign, everything else as text, so that compose copies the
   * bulk of the body instead of encoding it again.
   */
  chunks(subtype: 'plain' | 'html', body: string): (string | Buffer)[] {
    const text = body.includes('\r') ? body.replace(/\r\n|\r/g, '\n') : body;
    // Pass 1: cut the text into runs of the template and single lines, summing the stats of
    // what the template knows; lines it does not know (values in them) are counted in pass 2,
    // and only when the known part leaves the choice of encoding open.
    const segs: (Run | string)[] = [];
    const lineInfo: (KnownLine | undefined)[] = [];
    const stats: Stats = { ascii: true, long: false, dotFrom: false, non: 0, latin: 0 };
    let unknownChars = 0;
    let next = 0;
    let pos = 0;
    let tail = '';
    outer: while (pos < text.length) {
      const expected = this.runs[next];
      if (expected && follows(text, pos, expected.text)) {
        segs.push(expected);
        lineInfo.push(undefined);
        add(stats, expected.stats);
        pos += expected.text.length;
        next++;
        continue;
      }
      const end = text.indexOf('\n', pos);
      if (end < 0) {
        tail = text.slice(pos);
        unknownChars += tail.length;
        break;
      }
      const line = text.slice(pos, end);
      // Hashing a long line for the lookup costs a pass over it: skip lengths no template line has.
      const known = line.length < this.lengths.length && this.lengths[line.length] ? this.lines.get(line) : undefined;
      if (known) {
        for (const j of known.starts) {
          const r = this.runs[j];
          if (follows(text, pos, r.text)) {
            segs.push(r);
            lineInfo.push(undefined);
            add(stats, r.stats);
            pos += r.text.length;
            next = j + 1;
            continue outer;
          }
        }
        add(stats, known.stats);
      } else unknownChars += line.length;
      segs.push(line);
      lineInfo.push(known);
      pos = end + 1;
    }

    // Pass 2: the transfer encoding textPart() would choose, and the body in it. 7bit needs
    // every line ASCII, shorter than 78 and not starting with "." or "From "; base64 needs at
    // least as many non-ASCII characters as ASCII letters. The unknown lines decide only when
    // the rest leaves it open: they cannot undo a known line's disqualification from 7bit, and
    // they cannot bring in more non-ASCII characters than they have characters.
    const open7bit = stats.ascii && !stats.long && !stats.dotFrom;
    if (unknownChars && (open7bit || stats.non + unknownChars >= stats.latin)) {
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i];
        if (typeof s === 'string' && !lineInfo[i]) add(stats, statsOf(s));
      }
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
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (typeof s !== 'string') {
        out.push(pending, s.qp);
        pending = '';
        length += s.qp.length;
        lastByte = s.qp[s.qp.length - 1];
      } else {
        // Lines of the template are encoded once; others (values in them) every time.
        const known = lineInfo[i];
        const line = known ? (known.qp ??= qpLine(s)) : qpLine(s);
        pending += line;
        length += line.length;
        if (line.length) lastByte = line.charCodeAt(line.length - 1);
      }
    }
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

/**
 * text.startsWith(s, pos), fast: V8's startsWith compares character by character (~2 ns
 * each), while a slice (which shares the characters) and === compare memory.
 */
function follows(text: string, pos: number, s: string): boolean {
  return text.length - pos >= s.length && text.slice(pos, pos + s.length) === s;
}

function crlfOf(segs: (Run | string)[]): string {
  let s = '';
  for (const x of segs) s += typeof x === 'string' ? x + '\r\n' : x.crlf;
  return s;
}
