// Validation collects every problem with its place instead of stopping at the first
// (style.md habit 2). Errors and warnings are kept apart; past `cap` stored items only the
// count grows, so a million bad rows do not fill memory.

import { type ErrorPlace, formatPlace, MailcampError } from './errors.js';
import { oneLineMessage } from './printable.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic extends ErrorPlace {
  severity: Severity;
  message: string;
  /** A message that names a CSV line: the message without it, the line, and later rows with the same problem. */
  rowsOf?: string;
  firstRow?: number;
  moreRows?: number;
}

/** `… (CSV line 12)`, as render errors end (render/handlebars.ts). */
const PER_ROW = /^(.*) \(CSV line (\d+)\)$/s;

export function formatDiagnostic(d: Diagnostic): string {
  return formatPlace(d) + (d.severity === 'warning' ? 'warning: ' : '') + oneLineMessage(d.message);
}

export class Diagnostics {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  errorCount = 0;
  warningCount = 0;

  constructor(readonly cap = 50) {}

  error(message: string, place: ErrorPlace = {}): void {
    // The same problem found by two passes (header read, then the full read) is one problem.
    if (this.errors.some((d) => sameProblem(d, message, place))) return;
    // A template problem that every row runs into (an unknown variable inside a partial) is one
    // problem too: its first row is named, and how many more.
    const perRow = PER_ROW.exec(message);
    if (perRow) {
      const seen = this.errors.find((d) => d.rowsOf === perRow[1] && sameProblem(d, d.message, place));
      if (seen) {
        seen.moreRows = (seen.moreRows ?? 0) + 1;
        seen.message = `${perRow[1]} (CSV line ${seen.firstRow} and ${seen.moreRows} more)`;
        return;
      }
      this.errorCount++;
      if (this.errors.length < this.cap) this.errors.push({ severity: 'error', message, ...place, rowsOf: perRow[1], firstRow: Number(perRow[2]) });
      return;
    }
    this.errorCount++;
    if (this.errors.length < this.cap) this.errors.push({ severity: 'error', message, ...place });
  }

  warning(message: string, place: ErrorPlace = {}): void {
    if (this.warnings.some((d) => sameProblem(d, message, place))) return;
    this.warningCount++;
    if (this.warnings.length < this.cap) this.warnings.push({ severity: 'warning', message, ...place });
  }

  /** Adds a thrown MailcampError as an error; rethrows anything else (a bug). */
  capture(e: unknown): void {
    if (e instanceof ValidationError) {
      for (const d of e.diagnostics.errors) this.error(d.message, d);
      for (const d of e.diagnostics.warnings) this.warning(d.message, d);
      this.errorCount += e.diagnostics.errorCount - e.diagnostics.errors.length;
      this.warningCount += e.diagnostics.warningCount - e.diagnostics.warnings.length;
      return;
    }
    if (e instanceof MailcampError) {
      this.error(e.message, e.place);
      return;
    }
    throw e;
  }

  get ok(): boolean {
    return this.errorCount === 0;
  }

  /** Throws a ValidationError carrying everything collected, if any error was seen. */
  throwIfErrors(): void {
    if (!this.ok) throw new ValidationError(this);
  }
}

function sameProblem(d: Diagnostic, message: string, p: ErrorPlace): boolean {
  return d.message === message && d.file === p.file && d.line === p.line && d.col === p.col && d.column === p.column;
}

export class ValidationError extends MailcampError {
  constructor(readonly diagnostics: Diagnostics) {
    super(
      'VALIDATION',
      `${diagnostics.errorCount} error${diagnostics.errorCount === 1 ? '' : 's'} found`,
    );
  }
}
