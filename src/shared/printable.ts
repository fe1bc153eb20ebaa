// Text that came from outside (a mail's subject, a reason built from it) and is shown in a
// terminal or stored as one line: C0 and C1 control characters (and DEL) become spaces, so an
// ESC sequence, CR/LF or a tab cannot rewrite the screen or split a line a script reads.

export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
