// The recipients stage: CSV records -> checked, deduplicated, unsuppressed Recipient values, in
// file order, streaming (a million rows never sit in memory at once).
//
// Decisions:
// - The address cell is trimmed of surrounding spaces and tabs (hand-written "a, b" CSVs put a
//   space after each comma); anything else checkAddress does not like is an error at the row,
//   or with `skipInvalid` a warning and an onSkip call.
// - A name goes into a header (To: "Name" <addr>), so CR, LF or NUL in it is always an error:
//   a line break there is header injection (RFC 5322 §2.2 forbids CR/LF in header bodies).
// - Duplicates are matched case-insensitively on the lower-cased address (see address.ts), keeping
//   the first. The seen-set keeps only 64-bit hashes (dedupe.ts), so the warning cannot name the
//   first line: "duplicate address (already on an earlier line)".
// - Every row that is read but not yielded, other than rows with errors, goes to onSkip with its
//   reason ('invalid address: …', 'duplicate address', 'suppressed: …') so the report can count it.
// - Duplicates are removed before suppression is asked, so a suppressed address listed twice is
//   reported once as suppressed and once as a duplicate.

import type { Diagnostics } from '../shared/diagnostics.js';
import { checkAddress } from './address.js';
import { type CsvReader, readCsv } from './csv.js';
import { SeenSet } from './dedupe.js';
import type { CsvRecord, Recipient, RecipientSource } from './types.js';

export { checkAddress, type AddressCheck } from './address.js';
export { readCsv, type CsvReader, DEFAULT_MAX_RECORD_BYTES } from './csv.js';
export { SeenSet } from './dedupe.js';
export type { CsvRecord, Recipient, RecipientSource } from './types.js';

export type SkippedRow = CsvRecord & { email: string };

export interface ReadRecipientsOptions {
  /** The reason an address (by key) is on the suppression list, or undefined when it is not. */
  isSuppressed?: (key: string) => string | undefined;
  /** Called for each row read but not yielded, except rows that are errors. */
  onSkip?: (r: SkippedRow, reason: string) => void;
  /** Invalid addresses become warnings and skipped rows instead of errors. */
  skipInvalid?: boolean;
  /**
   * Dedupe within the value of this column only (group_by: one person may be in two teams
   * and get both teams' messages, but not twice the same one).
   */
  dedupeWithin?: string;
  /** The list's reader, when it was opened already (send reads it ahead: prefetch.ts). */
  reader?: CsvReader;
}

export async function* readRecipients(
  src: RecipientSource,
  diag: Diagnostics,
  opts: ReadRecipientsOptions = {},
): AsyncGenerator<Recipient> {
  const reader = opts.reader ?? readCsv(src, diag);
  const file = src.displayFile;
  const errorsBefore = diag.errorCount;
  try {
    const columns = await reader.header;
    if (!columns) return;
    const headerLine = reader.headerLine;
    const emailColumn = src.emailColumn || 'email';
    if (!columns.includes(emailColumn)) {
      if (reader.garbled) return; // the encoding error is the one to fix
      diag.error(`no column '${emailColumn}' (columns: ${columns.join(', ')}); set recipients.email_column`, {
        file,
        line: headerLine,
      });
      return;
    }
    let nameColumn = src.nameColumn;
    if (nameColumn !== undefined && !columns.includes(nameColumn) && !reader.garbled) {
      diag.error(`no column '${nameColumn}' (columns: ${columns.join(', ')}); set recipients.name_column`, {
        file,
        line: headerLine,
      });
      nameColumn = undefined; // keep reading: the address problems are still worth reporting
    } else if (nameColumn === undefined && columns.includes('name')) {
      nameColumn = 'name';
    }

    const seen = new SeenSet(undefined, () => reader.estimateRecords());
    let rows = 0;
    for await (const rec of reader.records) {
      rows++;
      const cell = rec.fields[emailColumn];
      const place = { file, line: rec.row };
      let bad = false;

      const checked = checkAddress(cell.replace(/^[ \t]+|[ \t]+$/g, ''));
      if (!checked.ok) {
        const message = `invalid address ${quote(cell)}: ${checked.reason}`;
        if (opts.skipInvalid) {
          diag.warning(message, { ...place, column: emailColumn });
          opts.onSkip?.({ ...rec, email: cell }, `invalid address: ${checked.reason}`);
        } else {
          diag.error(message, { ...place, column: emailColumn });
        }
        bad = true;
      }

      let name: string | undefined;
      if (nameColumn !== undefined) {
        const value = rec.fields[nameColumn];
        if (/[\r\n\0]/.test(value)) {
          diag.error('line break or NUL in a value that goes into a header', { ...place, column: nameColumn });
          bad = true;
        }
        name = value.trim() || undefined;
      }
      if (bad || !checked.ok) continue;

      const dedupeKey = opts.dedupeWithin === undefined ? checked.key : `${rec.fields[opts.dedupeWithin] ?? ''}\0${checked.key}`;
      if (!seen.add(dedupeKey)) {
        diag.warning('duplicate address (already on an earlier line)', { ...place, column: emailColumn });
        opts.onSkip?.({ ...rec, email: checked.address }, 'duplicate address');
        continue;
      }
      const suppressed = opts.isSuppressed?.(checked.key);
      if (suppressed !== undefined) {
        opts.onSkip?.({ ...rec, email: checked.address }, `suppressed: ${suppressed}`);
        continue;
      }
      yield { row: rec.row, fields: rec.fields, email: checked.address, name, key: checked.key };
    }
    if (rows === 0 && diag.errorCount === errorsBefore) {
      diag.warning('no recipients: the file has a header but no rows', { file, line: headerLine });
    }
  } finally {
    reader.close();
  }
}

/** A cell value shown in a message: quoted, control characters escaped, long values cut. */
function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}…` : value;
  return JSON.stringify(shown);
}
