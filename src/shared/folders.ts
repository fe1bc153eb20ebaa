// Output folders the user names (--out, --report, --dir): made, and checked writable, before
// anything is sent, so a typo ends the command with one line and exit 2 instead of a stack
// trace, or a report that cannot be written after the messages went out.

import fs from 'node:fs';
import { MailcampError } from './errors.js';

/** Creates `dir` (and its parents) if needed and checks that files can be written in it. */
export function writableFolder(dir: string, what: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOTDIR' || err.code === 'EEXIST' ? 'a file is in the way (not a folder)' : (WRITE_FAILURES[err.code ?? ''] ?? err.message);
    throw new MailcampError('USAGE', `${what}: cannot write to ${dir}: ${why}`);
  }
  return dir;
}

/** Why writing a file failed, in words, for the codes a user can do something about. */
export const WRITE_FAILURES: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
};
