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
  // Invisible format characters (U+200B, U+00AD, U+202E …) too: what the message quotes must not
  // look right when it is wrong, or read in another order.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\p{Cf}]/gu, (ch) => (ch < ' ' ? JSON.stringify(ch).slice(1, -1) : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
