// One error class for everything a user can cause, with a stable code.
// The CLI maps codes to exit codes (design.md) and prints `where: message` without a stack;
// anything that is not a MailcampError is an internal bug and is printed with its stack.

import { oneLineMessage } from './printable.js';

export type ErrorCode =
  | 'USAGE' // bad command-line usage
  | 'INPUT' // invalid campaign, CSV, template, attachment ... (exit 2)
  | 'VALIDATION' // several input problems, collected (exit 2)
  | 'TRANSPORT' // fatal transport error: connection, TLS, authentication (exit 3)
  | 'STATE' // journal/lock refuses the operation (finished run, locked) (exit 2)
  | 'FATAL' // the journal cannot be written any more (disk full), messages may have gone out (exit 3)
  | 'INTERRUPTED'; // SIGINT/SIGTERM (exit 130)

export interface ErrorPlace {
  file?: string;
  line?: number;
  col?: number;
  /** CSV column name, printed as `column 'x':` */
  column?: string;
  /** SMTP host:port, printed as the place of a transport error */
  host?: string;
  responseCode?: number;
}

export class MailcampError extends Error {
  readonly code: ErrorCode;
  readonly place: ErrorPlace;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, place: ErrorPlace = {}, hint?: string) {
    super(message);
    this.name = 'MailcampError';
    this.code = code;
    this.place = place;
    this.hint = hint;
  }

  /** `file:line:col: column 'x': message` — the one-line form every user error prints in. */
  override toString(): string {
    return formatPlace(this.place) + oneLineMessage(this.message);
  }
}

export function formatPlace(p: ErrorPlace): string {
  let where = '';
  if (p.file) {
    where = p.file;
    if (p.line) where += `:${p.line}`;
    if (p.line && p.col) where += `:${p.col}`;
    where += ': ';
  } else if (p.host) {
    where = `${p.host}: `;
  }
  if (p.column !== undefined) where += `column '${p.column}': `;
  return where;
}

export function isMailcampError(e: unknown): e is MailcampError {
  return e instanceof MailcampError;
}

export const EXIT = {
  OK: 0,
  INCOMPLETE: 1,
  INPUT: 2,
  TRANSPORT: 3,
  INTERRUPTED: 130,
} as const;

export function exitCodeFor(e: MailcampError): number {
  switch (e.code) {
    case 'TRANSPORT':
    case 'FATAL':
      return EXIT.TRANSPORT;
    case 'INTERRUPTED':
      return EXIT.INTERRUPTED;
    default:
      return EXIT.INPUT;
  }
}
