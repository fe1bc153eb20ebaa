// Where the lines of a composed message start with ".": the places SMTP's dot-stuffing (RFC 5321
// §4.5.2) doubles. Finding them is a scan of every byte of the message (~6 µs of a 38 KB
// newsletter, a few percent of the main thread's time per message at full speed, issue 6),
// although nearly all of those bytes are the campaign's shared parts, the same Buffers in every
// message. compose() records the places as it writes the message: the shared parts' own are
// found once per Buffer and remembered, and only the text made for this message (headers, the
// lines with values) and the seams between pieces are looked at.
//
// The record is kept by the message's Buffer itself: a message whose bytes are replaced (a
// DKIM signature put in front) has no record, and is scanned whole.

const CRLF_DOT = Buffer.from('\r\n.');

/** Offsets of the line-starting dots of a shared Buffer past its first two bytes (those two depend on what comes before it). */
const inner = new WeakMap<Buffer, number[]>();

const recorded = new WeakMap<Buffer, readonly number[]>();

/** Offsets `d` in `buf` where buf[d] is "." and follows "\r\n" within `buf` (so d ≥ 2). */
function dotsIn(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = buf.indexOf(CRLF_DOT); i !== -1; i = buf.indexOf(CRLF_DOT, i + 2)) out.push(i + 2);
  return out;
}

/**
 * Collects the line-starting dots of a message as its pieces are written into it, in order:
 * shared() for a Buffer that is the same in many messages, text() for text made for this one.
 */
export class LineDots {
  readonly dots: number[] = [];

  constructor(private readonly raw: Buffer) {}

  /** A dot at `d`, start or start + 1 of a piece, that starts a line because of the bytes before the piece. */
  private seam(d: number): void {
    const r = this.raw;
    if (d >= r.length || r[d] !== 0x2e) return;
    if (d === 0 || (d >= 2 && r[d - 2] === 0x0d && r[d - 1] === 0x0a)) this.dots.push(d);
  }

  /** A Buffer that many messages share, just copied to `start`. */
  shared(start: number, piece: Buffer): void {
    if (!piece.length) return;
    this.seam(start);
    if (piece.length > 1) this.seam(start + 1);
    let own = inner.get(piece);
    if (own === undefined) {
      own = dotsIn(piece);
      inner.set(piece, own);
    }
    for (const d of own) this.dots.push(start + d);
  }

  /**
   * Text just written to [start, end) for this message alone, as UTF-8 or (`latin1`) one byte a
   * character. In UTF-8 the bytes "\r\n." come only from those characters, so the text is
   * searched as a string, and a dot's byte offset worked out when one is found; a latin1 write
   * keeps only the low byte of a character, so that text is searched as the bytes it became.
   */
  text(start: number, end: number, s: string, latin1: boolean): void {
    if (end <= start) return;
    this.seam(start);
    if (end - start > 1) this.seam(start + 1);
    if (latin1) {
      for (const d of dotsIn(this.raw.subarray(start, end))) this.dots.push(start + d);
      return;
    }
    for (let i = s.indexOf('\r\n.'); i !== -1; i = s.indexOf('\r\n.', i + 2)) this.dots.push(start + Buffer.byteLength(s.slice(0, i + 2)));
  }

  /** Keeps the record with the message's bytes, for lineDotsOf(). */
  record(): void {
    recorded.set(this.raw, this.dots);
  }
}

/** The line-starting dots of a message compose() wrote (undefined for any other Buffer), in order. */
export function lineDotsOf(raw: Buffer): readonly number[] | undefined {
  return recorded.get(raw);
}
