// Text that came from outside (a mail's subject, a reason built from it) and is shown in a
// terminal or stored as one line: C0 and C1 control characters (and DEL) become spaces, so an
// ESC sequence, CR/LF or a tab cannot rewrite the screen or split a line a script reads.

import fs from 'node:fs';

export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

/**
 * An error message kept on one line (design.md: every error is one line): control characters
 * that came in with a value (`"files\newsletter.pdf"` in YAML is a newline) are shown escaped.
 */
export function oneLineMessage(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (ch) => JSON.stringify(ch).slice(1, -1));
}

/**
 * For "not found" errors about a path: one written Windows-style (`files\x.pdf`) is not found
 * on Linux or macOS, and in double quotes YAML reads `\n` in it as a line break.
 */
export function pathHint(p: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f]/.test(p)) return " (write paths with '/', not '\\')";
  // It is there, but not as a file: say what it is instead of "not found".
  try {
    const st = fs.statSync(p);
    if (st.isDirectory()) return ' (that is a folder, not a file)';
    if (!st.isFile()) return ' (that is not a regular file)';
  } catch {
    // not there at all
  }
  return '';
}
