// CSV cells for the report: RFC 4180 quoting, plus protection against formula injection.
//
// RFC 4180 section 2: a field holding a comma, a double quote, CR or LF is enclosed in double
// quotes, and a double quote inside is doubled; records end with CRLF.
//
// Formula injection (CWE-1236): a spreadsheet opening the report runs any cell that starts with
// `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(...)` in a recipient's name or an SMTP reply
// text is enough), and a leading tab or CR can hide such a start. Following the OWASP "CSV
// Injection" recommendation, such a cell gets a single quote in front, which spreadsheets take
// as "this is text" and display without it. Only text cells are escaped: numbers the report
// writes itself (row, attempts) are not user data, and "-1" must stay a number.

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** `'=1+1` for `=1+1`; other text unchanged. */
export function escapeFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** RFC 4180 quoting, only when the field needs it. */
export function quoteField(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One cell: text is formula-escaped then quoted; numbers as they are; null/undefined empty. */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  return quoteField(escapeFormula(value));
}

/** One record, CRLF-terminated (RFC 4180 section 2.1). */
export function csvRow(cells: readonly (string | number | null | undefined)[]): string {
  return cells.map(csvCell).join(',') + '\r\n';
}
