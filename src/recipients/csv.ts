// Streaming CSV reader for recipient lists: file -> decode.ts (encoding checks) -> csv-parse, one
// record at a time, each named by the line an editor shows where it starts (header = line 1).
//
// Why the start line is computed here rather than read from csv-parse's `info.lines`: that is the
// line where a record ends, csv-parse 7.0.3 counts a CRLF inside a quoted field as two lines (so
// every row after a multi-line value in a Windows file would be off), and `info: true` copies the
// info object twice per record (a quarter of the parse time). We count instead: blank lines are
// not skipped by the parser but come through as one empty field, so a record always starts one
// line after the previous one ended, and ends after as many line breaks as its values contain
// (only quoted values can hold them, and they hold them verbatim).
//
// Problems go to Diagnostics with their place and reading goes on where that makes sense: a ragged
// row is reported and dropped; a broken quote, an oversized record, an unreadable file or a
// UTF-16 file read as UTF-8 stop the reading (after them nothing can be trusted). Header names are
// trimmed (with a warning) and must be unique. The record size cap is csv-parse's
// max_record_size, applied to the decoded text: UTF-8 bytes of the value being read plus the
// characters of the values before it, i.e. roughly bytes of UTF-8.
//
// Shape: readCsv() returns { header, headerLine, records, close } rather than a bare iterable so
// that a caller can look at the columns (to check template variables) without reading the rows.

import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { Parser } from 'csv-parse';
import { MailcampError } from '../shared/errors.js';
import { printable } from '../shared/printable.js';
import type { Diagnostics } from '../shared/diagnostics.js';
import { READ_FAILURES } from '../shared/text-file.js';
import { decodeStages, resolveEncoding, type ResolvedEncoding } from './decode.js';
import type { CsvRecord, RecipientSource } from './types.js';

export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

export interface CsvReader {
  /**
   * The column names (trimmed; unnamed columns left out, a duplicate name once): exactly the keys
   * of every record's `fields`. Read on first access. Never rejects: undefined when the file has
   * no usable header (missing, unreadable, empty, wrong encoding); the reason is already in `diag`.
   */
  readonly header: Promise<string[] | undefined>;
  /** The line the header is on (1 unless blank lines precede it); 0 until `header` has resolved. */
  readonly headerLine: number;
  /**
   * The data records after the header, in file order. Single use. Ending the iteration early
   * (break, or `return()` on the iterator, even before the first `next()`) closes the file.
   */
  readonly records: AsyncIterable<CsvRecord>;
  /** Stops reading and closes the file; safe to call more than once. */
  close(): void;
  /**
   * The header line is not in the declared encoding (said in `diag`): its names are garbled, so
   * problems that follow from them (duplicate or missing columns) are not reported as well.
   */
  readonly garbled: boolean;
  /**
   * How many records the whole file likely holds, from the records in the part of it parsed so
   * far. Undefined until a megabyte is parsed.
   */
  estimateRecords(): number | undefined;
}

/**
 * Opens `src` for streaming. Throws a MailcampError at once for an unknown encoding (a mapping
 * error, not a file error); every problem inside the file goes to `diag`.
 */
export function readCsv(src: RecipientSource, diag: Diagnostics): CsvReader {
  const encoding = resolveEncoding(src.encoding, src.displayFile);
  return new Reader(src, diag, encoding);
}

/** Parsed bytes before estimateRecords() tells: enough rows for their average width. */
const ESTIMATE_AFTER_BYTES = 1024 * 1024;

type ParsedRecord = string[] | { error: Error };

/**
 * csv-parse fails its stream on a parse error, and a failed stream drops the records it had
 * already parsed but not yet delivered (a small file is parsed in one chunk). This subclass hands
 * the error over in order, as the last item, so every good record before it is still read.
 */
class OrderedErrorParser extends Parser {
  override _transform(chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    super._transform(chunk, encoding, (err?: Error | null) => {
      if (!err) return cb();
      this.push({ error: err });
      this.push(null);
      cb();
    });
  }

  override _flush(cb: (err?: Error | null) => void): void {
    super._flush((err?: Error | null) => {
      if (err) this.push({ error: err });
      cb();
    });
  }
}

const PENDING = Symbol('pending');

interface RawRow {
  values: string[];
  line: number;
}

class Reader implements CsvReader {
  private parser: Parser | undefined;
  private streamError: unknown;
  private streamEnded = false;
  private headerPromise: Promise<string[] | undefined> | undefined;
  private line0 = 0;
  private columns: Array<[index: number, name: string]> = [];
  private headerNames: string[] = [];
  private width = 0;
  private prevEnd = 0; // the line the last record read ended on
  private finished = false;
  private failed = false;
  /** The line of the first encoding error the decode stages reported. */
  private garbledAt: number | undefined;
  private readonly maxRecordBytes: number;
  private fileSize = 0;

  constructor(
    private readonly src: RecipientSource,
    private readonly diag: Diagnostics,
    private readonly encoding: ResolvedEncoding,
  ) {
    this.maxRecordBytes = src.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  get header(): Promise<string[] | undefined> {
    this.headerPromise ??= this.readHeader();
    return this.headerPromise;
  }

  get headerLine(): number {
    return this.line0;
  }

  readonly records: AsyncIterable<CsvRecord> = {
    [Symbol.asyncIterator]: (): AsyncIterator<CsvRecord> => {
      const gen = this.iterate();
      // A generator's return() before its first next() skips its finally; close explicitly.
      return {
        next: () => gen.next(),
        return: (value?: unknown) => {
          this.close();
          return gen.return(value as undefined);
        },
        throw: (e?: unknown) => {
          this.close();
          return gen.throw(e);
        },
      };
    },
  };

  get garbled(): boolean {
    return this.line0 > 0 && this.garbledBy(this.line0);
  }

  private garbledBy(headerLine: number): boolean {
    return this.garbledAt !== undefined && this.garbledAt <= headerLine;
  }

  estimateRecords(): number | undefined {
    const info = this.parser?.info;
    if (!info || info.bytes < ESTIMATE_AFTER_BYTES || !this.fileSize) return undefined;
    return Math.ceil((info.records * this.fileSize) / info.bytes);
  }

  close(): void {
    this.finished = true;
    this.parser?.destroy();
  }

  private open(): void {
    const parser = new OrderedErrorParser({
      delimiter: this.src.delimiter || ',',
      relax_column_count: true, // ragged rows are reported by us, with the row, and reading goes on
      skip_empty_lines: false, // blank lines must reach us to be counted (isBlankLine skips them)
      bom: false, // handled in decode.ts, for every encoding
      max_record_size: this.maxRecordBytes,
    });
    const file = createReadStream(this.src.file);
    try {
      this.fileSize = statSync(this.src.file).size;
    } catch {
      // The stream reports it.
    }
    pipeline([file, ...decodeStages(this.encoding, this.src.displayFile, this.diag, (line) => (this.garbledAt ??= line)), parser], () => {
      // Errors reach us through the parser's 'error' event below.
    });
    // Records are taken with read() while the parser has them buffered, and only awaited when it
    // has none: a promise per record (an async iterator) triples the time under async hooks.
    parser.on('error', (e) => (this.streamError ??= e));
    parser.on('end', () => (this.streamEnded = true));
    this.parser = parser;
  }

  /** The next raw record, PENDING when the parser has none buffered, undefined at the end. */
  private readNow(): RawRow | undefined | typeof PENDING {
    const parser = this.parser;
    if (this.finished || !parser) return undefined;
    try {
      const value = parser.read() as ParsedRecord | null;
      if (value === null) {
        if (this.streamError !== undefined) throw this.streamError;
        if (this.streamEnded || parser.destroyed) {
          this.finished = true;
          return undefined;
        }
        return PENDING;
      }
      if (!Array.isArray(value)) throw value.error;
      const line = this.prevEnd + 1;
      this.prevEnd = line + countBreaks(value);
      return { values: value, line };
    } catch (e) {
      this.finished = true;
      this.failed = true;
      this.report(e);
      return undefined;
    }
  }

  /** Resolves when the parser may have more to read (or has ended, failed or closed). */
  private readable(): Promise<void> {
    const parser = this.parser!;
    return new Promise((resolve) => {
      const done = () => {
        for (const ev of ['readable', 'end', 'error', 'close']) parser.off(ev, done);
        resolve();
      };
      for (const ev of ['readable', 'end', 'error', 'close']) parser.on(ev, done);
    });
  }

  /** The next raw record with its start line, or undefined at the end or after a fatal error. */
  private async next(): Promise<RawRow | undefined> {
    for (;;) {
      const row = this.readNow();
      if (row !== PENDING) return row;
      await this.readable();
    }
  }

  private async readHeader(): Promise<string[] | undefined> {
    this.open();
    let row: RawRow | undefined;
    while ((row = await this.next()) && isBlankLine(row.values)) {
      // lines of spaces before the header
    }
    if (!row) {
      if (!this.failed) this.diag.error('file is empty', { file: this.src.displayFile });
      return undefined;
    }
    const place = { file: this.src.displayFile, line: row.line };
    const seen = new Map<string, number>();
    const names = row.values.map((raw, i) => {
      const name = raw.trim();
      if (name !== raw) this.diag.warning(`header '${raw}' has stray spaces; using '${name}'`, place);
      if (name === '') {
        this.diag.warning(`column ${i + 1} has no header name; its values are ignored`, place);
      } else if (seen.has(name)) {
        if (!this.garbledBy(row.line)) this.diag.error(`duplicate header '${name}' (columns ${seen.get(name)! + 1} and ${i + 1})`, place);
      } else {
        seen.set(name, i);
        this.columns.push([i, name]);
      }
      return name;
    });
    this.headerNames = names;
    this.width = names.length;
    this.line0 = row.line;
    // A list that is not what it was taken for gets that one error, not a "no column" and an
    // "unknown variable" for every name the template uses.
    const misread = this.misreadHeader(names);
    if (misread) {
      this.diag.error(misread, place);
      this.garbledAt ??= row.line;
    }
    return this.columns.map(([, name]) => name);
  }

  private misreadHeader(names: string[]): string | undefined {
    if (names[0]?.startsWith('PK\u0003\u0004')) {
      return "this is a ZIP file (an Excel .xlsx workbook?), not CSV: in Excel, use Save As › 'CSV UTF-8 (Comma delimited)'";
    }
    // One column whose name holds another separator: Excel in many locales saves with ';'.
    if (this.columns.length !== 1) return undefined;
    const used = this.src.delimiter || ',';
    const sep = [';', '\t', '|', ','].find((d) => d !== used && names[0].includes(d));
    if (!sep) return undefined;
    const shown = sep === '\t' ? 'tab' : `'${sep}'`;
    return `the header is one column ('${printable(names[0])}'): the list looks ${shown}-separated; set recipients: { file: ${this.src.displayFile}, delimiter: "${sep === '\t' ? '\\t' : sep}" }`;
  }

  private async *iterate(): AsyncGenerator<CsvRecord> {
    try {
      if (!(await this.header)) return;
      for (;;) {
        let row = this.readNow();
        if (row === PENDING) row = await this.next();
        if (!row) break;
        if (isEmptyRecord(row.values)) continue;
        if (row.values.length !== this.width) {
          const n = row.values.length;
          const hint = n > this.width ? ` (a value that contains ${delimiterName(this.src.delimiter)} must be quoted)` : '';
          this.diag.error(`expected ${this.width} fields, got ${n}${hint}`, {
            file: this.src.displayFile,
            line: row.line,
          });
          continue;
        }
        // A NUL byte has no place in mail text (RFC 5322 §2.3, RFC 2045 §2.7): not even a body.
        const nul = row.values.findIndex((v) => v.includes('\0'));
        if (nul >= 0) {
          const column = this.columns.find(([i]) => i === nul)?.[1];
          this.diag.error('NUL byte in the value (a binary file, or a broken export?)', { file: this.src.displayFile, line: row.line, column });
          continue;
        }
        yield { row: row.line, fields: this.toFields(row.values) };
      }
    } finally {
      this.close();
    }
  }

  private toFields(values: string[]): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const [i, name] of this.columns) {
      if (name === '__proto__') {
        Object.defineProperty(fields, name, { value: values[i], enumerable: true, writable: true, configurable: true });
      } else {
        fields[name] = values[i];
      }
    }
    return fields;
  }

  private report(e: unknown): void {
    const file = this.src.displayFile;
    if (e instanceof MailcampError) {
      this.diag.capture(e);
      return;
    }
    const err = e as { code?: unknown; message?: string; column?: unknown };
    const code = typeof err.code === 'string' ? err.code : '';
    if (/^(CSV_|INVALID_)/.test(code)) {
      this.reportCsvError(code, err);
      return;
    }
    const io = IO_ERRORS[code];
    if (io) {
      this.diag.error(io, { file });
      return;
    }
    if (code.startsWith('E') && err.message) {
      this.diag.error(`cannot read the file: ${err.message}`, { file });
      return;
    }
    throw e;
  }

  private reportCsvError(code: string, err: { column?: unknown; message?: string }): void {
    // The broken record starts where the next one would have; the quote that opened the field in
    // trouble is after the line breaks of the fields of that record already complete. Those are in
    // the parser's `state.record` (public on csv-parse's Parser, though not in its typings); if a
    // future version hides it we fall back to the record's first line.
    const start = this.prevEnd + 1;
    const done = (this.parser as unknown as { state?: { record?: unknown } } | undefined)?.state?.record;
    const fieldLine = start + (Array.isArray(done) ? countBreaks(done.filter((v) => typeof v === 'string')) : 0);
    const column =
      typeof err.column === 'number' && this.headerNames[err.column] ? this.headerNames[err.column] : undefined;
    const at = (line: number) => ({ file: this.src.displayFile, line, ...(column ? { column } : {}) });
    switch (code) {
      case 'CSV_QUOTE_NOT_CLOSED':
        this.diag.error('unclosed quote: the quoted value that starts on this line runs to the end of the file',
          at(fieldLine));
        return;
      case 'CSV_MAX_RECORD_SIZE':
        this.diag.error(
          `record larger than ${formatBytes(this.maxRecordBytes)}; reading stopped ` +
            '(a quote that is never closed makes the rest of the file one record)',
          { file: this.src.displayFile, line: start },
        );
        return;
      case 'INVALID_OPENING_QUOTE':
        this.diag.error(
          'quote inside an unquoted value: quote the whole value and double the quotes in it ("say ""hi""");' +
            ' reading stopped here, so the rows after it are not checked yet',
          at(fieldLine),
        );
        return;
      case 'CSV_INVALID_CLOSING_QUOTE':
        this.diag.error(
          'a closing quote must be followed by the delimiter or the end of the line ' +
            '(inside a quoted value, write a quote as ""); reading stopped here, so the rows after it are not checked yet',
          at(fieldLine),
        );
        return;
      default:
        this.diag.error(`cannot parse the CSV: ${err.message ?? code}; reading stopped here`, { file: this.src.displayFile, line: start });
    }
  }
}

const IO_ERRORS: Record<string, string> = { ...READ_FAILURES, EISDIR: 'is a folder, not a CSV file' };

/**
 * A record of empty cells is a blank line to a person: `,,,` (Excel writes them for rows that
 * were formatted but never filled), like a line of spaces.
 */
function isEmptyRecord(values: string[]): boolean {
  return values[0].trim() === '' && values.every((v) => v.trim() === '');
}

/** A line of spaces (or a lone `""`) is a blank line to a person, whatever the parser says. */
function isBlankLine(values: string[]): boolean {
  return values.length === 1 && values[0].trim() === '';
}

function countBreaks(values: string[]): number {
  let n = 0;
  for (const v of values) {
    if (v.indexOf('\n') < 0 && v.indexOf('\r') < 0) continue;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c === 10 || (c === 13 && v.charCodeAt(i + 1) !== 10)) n++;
    }
  }
  return n;
}

function delimiterName(d: string): string {
  if (!d || d === ',') return "','";
  return d === '\t' ? 'a tab' : JSON.stringify(d).replace(/^"|"$/g, "'");
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
