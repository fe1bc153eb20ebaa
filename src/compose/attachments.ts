// Attachments: shared ones are read and encoded once per campaign; per-recipient ones
// (a path rendered from recipient data) must resolve — symlinks followed — inside the
// folder that the path's literal part names (design.md), so a CSV cell can never make
// mailcamp read /etc/passwd or ../../secrets. Sizes are capped.

import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import type { AttachmentSpec, Campaign } from '../campaign/types.js';
import { MailcampError } from '../shared/errors.js';
import { contentTypeOf } from '../render/inline-images.js';
import { binaryPart } from './parts.js';
import { leavesFolder } from '../shared/paths.js';

export interface PreparedAttachment {
  filename: string;
  /** Encoded MIME part, ready to splice. */
  part: Buffer;
  size: number;
}

export function mimeTypeOf(file: string): string {
  const ext = path.extname(file).toLowerCase();
  const known: Record<string, string> = {
    '.pdf': 'application/pdf',
    '.txt': 'text/plain',
    '.csv': 'text/csv',
    '.ics': 'text/calendar',
    '.zip': 'application/zip',
    '.doc': 'application/msword',
    '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    '.json': 'application/json',
  };
  return known[ext] ?? contentTypeOf(file);
}

/** Reads and encodes a shared attachment (once per campaign). */
export function prepareShared(spec: Extract<AttachmentSpec, { kind: 'shared' }>, displayFile: string, filename?: string): PreparedAttachment {
  let content: Buffer;
  try {
    content = fs.readFileSync(spec.path);
  } catch (e) {
    throw new MailcampError('INPUT', `cannot read attachment ${spec.path}: ${(e as NodeJS.ErrnoException).code}`, {
      file: displayFile,
      line: spec.pos.line,
      col: spec.pos.col,
    });
  }
  const name = filename ?? path.basename(spec.path);
  return {
    filename: name,
    part: binaryPart(content, { contentType: typeWithCharset(spec.path, content), filename: name, disposition: 'attachment' }),
    size: content.length,
  };
}

export interface RecipientPlace {
  csvFile: string;
  row: number;
  /** The CSV column(s) the path was built from, for the error's place. */
  column?: string;
}

/** Resolves a per-recipient attachment path, refusing anything outside its base folder. */
export function resolveRecipientPath(
  c: Campaign,
  spec: Extract<AttachmentSpec, { kind: 'templated' }>,
  rendered: string,
  place: RecipientPlace,
): { file: string; size: number } {
  const where = { file: place.csvFile, line: place.row, column: place.column };
  if (rendered.includes('\0')) throw new MailcampError('INPUT', 'attachment path contains a NUL byte', where);
  const abs = path.resolve(c.dir, rendered);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    throw new MailcampError('INPUT', `attachment not found: ${rendered}`, where);
  }
  const rel = path.relative(spec.baseDir, real);
  if (!rel || leavesFolder(rel)) {
    throw new MailcampError('INPUT', `attachment path '${rendered}' leaves its folder ${shownDir(c, spec.baseDir)}`, where);
  }
  // Hidden files (.env, .git/, .mailcamp/) are nobody's invoice: the list does not attach them
  // (`..INV-7.pdf` is an odd name, not a hidden file).
  if (rel.split(path.sep).some((seg) => /^\.(?!\.)/.test(seg))) {
    throw new MailcampError('INPUT', `attachment path '${rendered}' names a hidden file or folder; the list attaches only visible files`, where);
  }
  const st = fs.statSync(real);
  if (!st.isFile()) throw new MailcampError('INPUT', `attachment is not a file: ${rendered}`, where);
  // Found by validate, not by the send of this message halfway through the list.
  try {
    fs.accessSync(real, fs.constants.R_OK);
  } catch {
    throw new MailcampError('INPUT', `cannot read attachment ${rendered}: permission denied`, where);
  }
  return { file: real, size: st.size };
}

/** Reads and encodes a per-recipient attachment (its size was checked when it was resolved). */
export function preparePerRecipient(file: string, filename: string | undefined): PreparedAttachment {
  let content: Buffer;
  try {
    content = fs.readFileSync(file);
  } catch (e) {
    // Readable when the list was checked, not now: this message fails, the run goes on.
    throw new MailcampError('INPUT', `cannot read attachment ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const name = filename ?? path.basename(file);
  return {
    filename: name,
    part: binaryPart(content, { contentType: typeWithCharset(file, content), filename: name, disposition: 'attachment' }),
    size: content.length,
  };
}

/**
 * A text attachment's charset: without one it is US-ASCII (RFC 2046 §4.1.2), and a UTF-8 CSV of
 * names reads as garbage. Said when the file is UTF-8 with non-ASCII in it; a file in another
 * encoding (a GBK export) is left without, as its encoding cannot be told for sure.
 */
function typeWithCharset(file: string, content: Buffer): string {
  const type = mimeTypeOf(file);
  if (!type.startsWith('text/') || /;\s*charset=/i.test(type)) return type;
  const body = content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf ? content.subarray(3) : content;
  return !/^[\x00-\x7f]*$/.test(body.toString('latin1')) && isUtf8(body) ? `${type}; charset=utf-8` : type;
}

/** The folder as the campaign's author wrote it (relative to the campaign file). */
function shownDir(c: Campaign, dir: string): string {
  const rel = path.relative(fs.realpathSync(c.dir), dir);
  if (rel === '') return '.' + path.sep;
  return (!leavesFolder(rel) ? rel : dir) + path.sep;
}
