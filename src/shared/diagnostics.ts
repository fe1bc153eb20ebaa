// Validation collects every problem with its place instead of stopping at the first
// (style.md habit 2). Errors and warnings are kept apart; past `cap` stored items only the
// count grows, so a million bad rows do not fill memory.

import { type ErrorPlace, formatPlace, MailcampError } from './errors.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic extends ErrorPlace {
  severity: Severity;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return formatPlace(d) + (d.severity === 'warning' ? 'warning: ' : '') + d.message;
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
