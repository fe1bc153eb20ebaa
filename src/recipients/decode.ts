// Bytes -> text for the recipients CSV, with the encoding checks that turn mojibake into an error
// with a line number instead of garbled names in thousands of sent messages.
//
// The stages (all streaming, nothing holds the whole file):
//   file bytes -> ByteCheck (BOMs, UTF-16 sniffing, UTF-8 validation) -> iconv-lite decodeStream
//              -> TextCheck (U+FFFD from iconv = bytes invalid in the declared legacy encoding)
// UTF-8 is validated on the raw bytes, not by looking for U+FFFD in the decoded text, because a
// UTF-8 file may legitimately contain U+FFFD (EF BF BD). The legacy encodings cannot carry U+FFFD
// in practice (only gb18030 and UTF-16 can encode it at all), so there the decoder's replacement
// character is a reliable sign of invalid bytes.
// Line numbers count LF, CRLF and lone CR as one break each, like an editor. The invalid-bytes
// error is reported once per file (a wrong encoding usually breaks every other line) and reading
// goes on, so the other problems of the file are still found; a UTF-16 file read as UTF-8, or a
// byte order mark contradicting the declared encoding, stops reading (MailcampError through the
// stream).

import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import iconv from 'iconv-lite';
import { MailcampError } from '../shared/errors.js';
import { firstInvalidUtf8 } from '../shared/text-file.js';
import type { Diagnostics } from '../shared/diagnostics.js';

export interface ResolvedEncoding {
  /** The name as the user wrote it (for messages), 'utf-8' when not given. */
  name: string;
  kind: 'utf8' | 'utf16le' | 'utf16be' | 'utf16' | 'legacy';
}

/** The encodings users of Excel exports meet most, for hints and suggestions. */
export const KNOWN_ENCODINGS = ['utf-8', 'gbk', 'gb18030', 'big5', 'shift_jis', 'euc-jp', 'euc-kr', 'latin1', 'windows-1252', 'utf-16le', 'utf-16be'];
const SUPPORTED_HINT = 'utf-8, gbk, gb18030, big5, shift_jis, euc-kr, latin1, windows-1252, utf-16le';

/** Validates the encoding name; an unknown one is a MailcampError naming it. */
export function resolveEncoding(name: string | undefined, file: string): ResolvedEncoding {
  const given = name === undefined || name.trim() === '' ? 'utf-8' : name.trim();
  const canon = given.toLowerCase().replace(/[^0-9a-z]/g, '');
  if (canon === 'utf8') return { name: given, kind: 'utf8' };
  if (!iconv.encodingExists(given)) {
    throw new MailcampError(
      'INPUT',
      `unknown encoding '${given}' in the recipients mapping (known: ${SUPPORTED_HINT}, …)`,
      { file },
    );
  }
  if (canon === 'utf16le' || canon === 'ucs2') return { name: given, kind: 'utf16le' };
  if (canon === 'utf16be') return { name: given, kind: 'utf16be' };
  if (canon === 'utf16') return { name: given, kind: 'utf16' };
  return { name: given, kind: 'legacy' };
}

/** The transforms that turn the file's bytes into checked text. */
export function decodeStages(enc: ResolvedEncoding, file: string, diag: Diagnostics, onGarbled: (line: number) => void = () => {}): NodeJS.ReadWriteStream[] {
  const stages: NodeJS.ReadWriteStream[] = [new ByteCheck(enc, file, diag, onGarbled)];
  // The UTF-8 BOM is removed by ByteCheck; let iconv remove the UTF-16 ones it understands.
  stages.push(iconv.decodeStream(enc.kind === 'utf8' ? 'utf8' : enc.name, { stripBOM: enc.kind !== 'utf8' }));
  if (enc.kind !== 'utf8') stages.push(new TextCheck(enc, file, diag, onGarbled));
  return stages;
}

/** Counts editor lines: LF, CRLF and a lone CR each end one line. */
export class LineCounter {
  line = 1;
  private afterCr = false;

  bytes(buf: Uint8Array, from: number, to: number): void {
    // Every byte of the file passes here: find the line breaks natively (memchr) instead of
    // looking at each byte in JavaScript. Same rule as unit(): CR counts, LF counts unless
    // it follows a CR.
    if (to <= from) return;
    const b = Buffer.from(buf.buffer, buf.byteOffset + from, to - from);
    let n = 0;
    for (let i = b.indexOf(13); i >= 0; i = b.indexOf(13, i + 1)) n++;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) {
      if (!(i > 0 ? b[i - 1] === 13 : this.afterCr)) n++;
    }
    this.line += n;
    this.afterCr = b[b.length - 1] === 13;
  }

  text(s: string, from: number, to: number): void {
    for (let i = from; i < to; i++) this.unit(s.charCodeAt(i));
  }

  private unit(c: number): void {
    if (c === 10) {
      if (!this.afterCr) this.line++;
      this.afterCr = false;
    } else if (c === 13) {
      this.line++;
      this.afterCr = true;
    } else {
      this.afterCr = false;
    }
  }
}

function utf16Advice(enc: ResolvedEncoding, what: string, suggested: string): string {
  return (
    `${what}, but the recipients encoding is ${enc.name}: re-export the file as UTF-8 ` +
    `(in Excel: "CSV UTF-8") or set \`encoding: ${suggested}\` in the recipients mapping`
  );
}

class ByteCheck extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0); // bytes kept until the BOM can be judged
  private tail: Buffer = Buffer.alloc(0); // an incomplete UTF-8 sequence cut by the chunk boundary
  private lines = new LineCounter();
  private validating: boolean;
  /** Legacy encodings: looking for the first non-ASCII bytes (sniffUtf8), and those gathered so far. */
  private sniffing: boolean;
  private sample: Buffer | undefined;

  constructor(
    private readonly enc: ResolvedEncoding,
    private readonly file: string,
    private readonly diag: Diagnostics,
    private readonly onGarbled: (line: number) => void,
  ) {
    super();
    this.validating = enc.kind === 'utf8';
    this.sniffing = enc.kind === 'legacy';
  }

  /**
   * A legacy encoding declared (gbk, latin1, …) for a file that is really UTF-8 decodes without
   * a single invalid byte (UTF-8 Chinese is mostly valid GBK) and would mail everyone
   * mojibake. The first non-ASCII bytes decide (up to 256 of them, gathered across chunks):
   * real GBK or Latin-1 text is almost never well-formed UTF-8, a re-exported UTF-8 file always is.
   */
  private sniffUtf8(chunk: Buffer, end: boolean): void {
    if (!this.sample) {
      let i = 0;
      while (i < chunk.length && chunk[i] < 0x80) i++;
      this.lines.bytes(chunk, 0, i);
      if (i === chunk.length) {
        if (end) this.sniffing = false;
        return;
      }
      this.sample = Buffer.from(chunk.subarray(i, i + SNIFF_BYTES));
    } else {
      this.sample = Buffer.concat([this.sample, chunk.subarray(0, SNIFF_BYTES - this.sample.length)]);
    }
    if (this.sample.length < SNIFF_BYTES && !end) return;
    this.sniffing = false;
    const whole = this.sample.subarray(0, end && this.sample.length < SNIFF_BYTES ? this.sample.length : incompleteTailStart(this.sample));
    if (whole.length >= 2 && isUtf8(whole)) {
      this.onGarbled(this.lines.line);
      this.diag.error(
        `this line is UTF-8 text, but the recipients encoding is ${this.enc.name}: remove \`encoding\` from the recipients mapping ` +
          '(UTF-8 is the default), or export the file again in the declared encoding',
        { file: this.file, line: this.lines.line },
      );
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (this.head !== undefined) {
        this.head = Buffer.concat([this.head, chunk]);
        if (this.head.length < 4) return cb();
        chunk = this.start(this.head);
        this.head = undefined;
      }
      this.pass(chunk, false);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.head !== undefined) {
        const rest = this.start(this.head);
        this.head = undefined;
        this.pass(rest, true);
      } else {
        this.pass(Buffer.alloc(0), true);
      }
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  /** Judges the first bytes; returns them without a UTF-8 BOM, or throws. */
  private start(buf: Buffer): Buffer {
    const { enc, file } = this;
    const utf16 = enc.kind !== 'utf8' && enc.kind !== 'legacy';
    if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
      if (enc.kind === 'utf8') return buf.subarray(3);
      throw new MailcampError(
        'INPUT',
        `the file starts with a UTF-8 byte order mark, but the recipients encoding is ${enc.name}: ` +
          'remove `encoding` from the recipients mapping (UTF-8 is the default)',
        { file, line: 1 },
      );
    }
    const le = buf[0] === 0xff && buf[1] === 0xfe;
    const be = buf[0] === 0xfe && buf[1] === 0xff;
    if (le || be) {
      if (enc.kind === 'utf16' || (le && enc.kind === 'utf16le') || (be && enc.kind === 'utf16be')) return buf;
      throw new MailcampError(
        'INPUT',
        utf16Advice(enc, `the file is UTF-16${le ? 'LE' : 'BE'} (byte order mark ${le ? 'FF FE' : 'FE FF'})`,
          le ? 'utf-16le' : 'utf-16be'),
        { file, line: 1 },
      );
    }
    // No BOM: "e\0m\0a\0..." is UTF-16LE text; no CSV in an ASCII-based encoding starts with NUL.
    if (!utf16 && buf.length >= 2 && (buf[0] === 0) !== (buf[1] === 0)) {
      const suggested = buf[1] === 0 ? 'utf-16le' : 'utf-16be';
      throw new MailcampError('INPUT', utf16Advice(enc, 'the file looks like UTF-16 (NUL bytes between letters)', suggested),
        { file, line: 1 });
    }
    return buf;
  }

  private pass(chunk: Buffer, end: boolean): void {
    if (this.sniffing) this.sniffUtf8(chunk, end);
    if (!this.validating) {
      if (chunk.length) this.push(chunk);
      return;
    }
    let buf = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const cut = end ? buf.length : incompleteTailStart(buf);
    this.tail = Buffer.from(buf.subarray(cut));
    buf = buf.subarray(0, cut);
    if (!isUtf8(buf)) {
      const bad = firstInvalidUtf8(buf);
      this.lines.bytes(buf, 0, bad);
      this.onGarbled(this.lines.line);
      this.diag.error(
        'invalid UTF-8 bytes on this line: the file is probably in another encoding; ' +
          'set it in the recipients mapping, e.g. `encoding: gbk` (or gb18030, big5, shift_jis, latin1)',
        { file: this.file, line: this.lines.line },
      );
      this.validating = false;
      this.push(Buffer.concat([buf, this.tail]));
      this.tail = Buffer.alloc(0);
      return;
    }
    this.lines.bytes(buf, 0, buf.length);
    if (buf.length) this.push(buf);
  }
}

/** How many bytes from the first non-ASCII one decide whether a legacy-declared file is UTF-8. */
const SNIFF_BYTES = 256;

/** Index where a UTF-8 sequence that is cut off at the end of `buf` starts (buf.length if none). */
function incompleteTailStart(buf: Uint8Array): number {
  for (let k = 1; k <= 3 && k <= buf.length; k++) {
    const b = buf[buf.length - k];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > k ? buf.length - k : buf.length;
  }
  return buf.length;
}

class TextCheck extends Transform {
  private lines = new LineCounter();
  private checking = true;

  constructor(
    private readonly enc: ResolvedEncoding,
    private readonly file: string,
    private readonly diag: Diagnostics,
    private readonly onGarbled: (line: number) => void,
  ) {
    super({ decodeStrings: false });
  }

  override _transform(chunk: string | Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (this.checking) {
      const bad = s.indexOf('\uFFFD');
      if (bad < 0) {
        this.lines.text(s, 0, s.length);
      } else {
        this.lines.text(s, 0, bad);
        this.onGarbled(this.lines.line);
        this.diag.error(
          `bytes on this line are not valid ${this.enc.name}: check the encoding in the recipients mapping ` +
            // GB18030 is GBK's superset (what newer Excel writes): a rare character like 𠮷 is only in it.
            (/^(gbk|gb2312|cp936)$/i.test(this.enc.name) ? '(try `encoding: gb18030`, which also has the characters GBK lacks; if the file is UTF-8, remove `encoding`)' : '(if the file is UTF-8, remove `encoding`)'),
          { file: this.file, line: this.lines.line },
        );
        this.checking = false;
      }
    }
    cb(null, s);
  }
}
