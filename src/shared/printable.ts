// Text that came from outside (a mail's subject, a reason built from it) and is shown in a
// terminal or stored as one line: C0 and C1 control characters (and DEL) become spaces, so an
// ESC sequence, CR/LF or a tab cannot rewrite the screen or split a line a script reads.

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
