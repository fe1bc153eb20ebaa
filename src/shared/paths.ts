// Small path helpers shared by the stages: containment, real paths, and what to say about a
// path that is not the file it should be.

import fs from 'node:fs';
import path from 'node:path';

/** Whether a path.relative() result leaves its folder: `..` and `../x` do, `..x.pdf` does not. */
export function leavesFolder(rel: string): boolean {
  return rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
}

/** The real path (symlinks resolved), or `p` itself when it does not exist (yet). */
export function realOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * For "not found" errors about a path: one written Windows-style (`files\x.pdf`) is not found
 * on Linux or macOS, and in double quotes YAML reads `\n` in it as a line break; one that is
 * there as a folder or device is not missing.
 */
export function pathHint(p: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f]/.test(p)) return " (write paths with '/', not '\\')";
  try {
    const st = fs.statSync(p);
    if (st.isDirectory()) return ' (that is a folder, not a file)';
    if (!st.isFile()) return ' (that is not a regular file)';
  } catch {
    // not there at all
  }
  return '';
}

/**
 * A file's size, modification time and inode, to tell whether it changed since it was last
 * looked at (a campaign file the scheduler watches, a list edited during a run); undefined
 * when it cannot be read.
 */
export function fileSignature(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** A file's size in bytes; Infinity when it cannot be read. */
export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return Infinity;
  }
}
