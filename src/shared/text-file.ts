// Text files the user writes (the campaign YAML, templates, partials, mj-include files) are
// UTF-8. One saved as GBK ("ANSI" in Notepad on Chinese Windows) or Latin-1 used to be read
// with U+FFFD in place of every non-ASCII character, and went out like that without a word: it
// is an error at the line of its first invalid byte. A leading UTF-8 byte order mark is
// dropped, so it reaches neither the message nor the column numbers of errors.

import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import { MailcampError } from './errors.js';

/** Reads `file` as UTF-8 (without a BOM); `display` names it in the error. */
export function readTextFile(file: string, display: string): string {
  assertRegularFile(file, display);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw new MailcampError('INPUT', READ_FAILURES[code] ?? `cannot read the file: ${(e as Error).message}`, { file: display });
  }
  const body = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? buf.subarray(3) : buf;
  if (!isUtf8(body)) {
    const bad = firstInvalidUtf8(body);
    let line = 1;
    for (let i = body.indexOf(10); i >= 0 && i < bad; i = body.indexOf(10, i + 1)) line++;
    throw new MailcampError('INPUT', 'invalid UTF-8 bytes on this line: save the file as UTF-8 (it looks like another encoding, such as GBK)', { file: display, line });
  }
  return body.toString('utf8');
}

/**
 * Throws unless `file` (symlinks followed) is a regular file: a FIFO would hang the read, a
 * device like /dev/zero never end it. A missing file is left to the read that follows.
 */
export function assertRegularFile(file: string, display: string, maxBytes?: number): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return;
  }
  if (!st.isFile() && !st.isDirectory()) throw new MailcampError('INPUT', 'not a regular file (a pipe, device or socket)', { file: display });
  if (maxBytes !== undefined && st.size > maxBytes) throw new MailcampError('INPUT', `${st.size} bytes: too large for this file (at most ${maxBytes})`, { file: display });
}

/** Why a file could not be read, in words (an error names the file). */
export const READ_FAILURES: Record<string, string> = {
  ENOENT: 'file not found',
  EACCES: 'permission denied reading the file',
  EPERM: 'permission denied reading the file',
  EISDIR: 'is a folder, not a file',
};

/** Index of the first byte that does not start a well-formed UTF-8 sequence (Unicode §3.9, table 3-7). */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) len = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    if (i + len > n) return i;
    const b1 = buf[i + 1];
    if (b1 < lo || b1 > hi) return i;
    for (let j = 2; j < len; j++) if ((buf[i + j] & 0xc0) !== 0x80) return i;
    i += len;
  }
  return n;
}
