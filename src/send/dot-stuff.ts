// Dot-stuffing for SMTP DATA (RFC 5321 §4.5.2) with Buffer.indexOf instead of nodemailer's
// byte-by-byte DataStream transform, which costs ~75 µs per 37 KB message — a fifth of the
// main thread's time per message at full speed (issue 6).
//
// It relies on what compose/ guarantees for every message it builds: line ends are CRLF and
// there is no bare CR or LF anywhere (headers are refused or encoded when they hold CR/LF,
// bodies are quoted-printable or base64). Under that guarantee the only thing left to do is
// to double a dot that starts a line, i.e. one that follows "\r\n" (or opens the message),
// so a line holding a single "." cannot end the data early. nodemailer's DataStream also
// turns bare CR/LF into CRLF — the defence against SMTP smuggling — which is exactly the
// case compose/ rules out.
//
// The stream object, its final "\r\n.\r\n" (_flush) and its byte counters stay nodemailer's:
// only the per-chunk transform is replaced.

import type { Transform, TransformCallback } from 'node:stream';

const CRLF_DOT = Buffer.from('\r\n.');
const DOT = Buffer.from('.');

interface DataStreamState {
  inByteCount: number;
  outByteCount: number;
  /** Last byte of the previous chunk; false before the first. */
  lastByte: number | false;
}

/** The chunk with every dot that starts a line doubled; `lastByte` is the byte before it. */
export function stuffDots(chunk: Buffer, lastByte: number | false): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  // A line start at the chunk boundary: "\r\n" | "." or "\r" | "\n.".
  if (chunk[0] === 0x2e && (lastByte === false || lastByte === 0x0a)) parts.push(DOT);
  else if (lastByte === 0x0d && chunk[0] === 0x0a && chunk[1] === 0x2e) {
    parts.push(chunk.subarray(0, 1), DOT);
    from = 1;
  }
  let i = chunk.indexOf(CRLF_DOT, from);
  while (i !== -1) {
    parts.push(chunk.subarray(from, i + 2), DOT);
    from = i + 2;
    i = chunk.indexOf(CRLF_DOT, from);
  }
  if (!parts.length) return chunk;
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}

/**
 * `raw` in pieces with a dot doubled at each of `dots`, the offsets of its line-starting dots in
 * order (compose/line-dots.ts records them): stuffDots() without the scan and without a copy.
 */
export function stuffedAt(raw: Buffer, dots: readonly number[]): Buffer[] {
  if (!dots.length) return [raw];
  const out: Buffer[] = [];
  let from = 0;
  for (const d of dots) {
    if (d > from) out.push(raw.subarray(from, d));
    out.push(DOT);
    from = d;
  }
  out.push(raw.subarray(from));
  return out;
}

/** Replaces the transform of one of nodemailer's DataStreams (see above for when that is right). */
export function useFastDotStuffing(stream: Transform): void {
  const s = stream as Transform & DataStreamState;
  s._transform = function (chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!b.length) return done();
    const out = stuffDots(b, s.lastByte);
    s.inByteCount += b.length;
    s.outByteCount += out.length;
    s.lastByte = b[b.length - 1];
    done(null, out);
  };
}
