// Shared by the recipients tests: a RecipientSource for a file in a temp folder, and a reader that
// collects everything (records, header, diagnostics as printed lines).

import path from 'node:path';
import { readCsv } from '../../src/recipients/csv.js';
import type { CsvRecord, RecipientSource } from '../../src/recipients/types.js';
import { Diagnostics, formatDiagnostic } from '../../src/shared/diagnostics.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

/** Writes `contents` to a fresh temp folder as `name` and describes it as a recipients source. */
export function sourceFor(
  contents: string | Uint8Array,
  extra: Partial<RecipientSource> = {},
  name = 'list.csv',
): RecipientSource {
  const dir = writeFiles(tmpDir('mailcamp-recipients-'), { [name]: contents });
  return {
    file: path.join(dir, name),
    displayFile: `lists/${name}`,
    encoding: 'utf-8',
    delimiter: ',',
    emailColumn: 'email',
    ...extra,
  };
}

export interface CsvResult {
  header: string[] | undefined;
  headerLine: number;
  records: CsvRecord[];
  errors: string[];
  warnings: string[];
  diag: Diagnostics;
}

export async function readAll(src: RecipientSource): Promise<CsvResult> {
  const diag = new Diagnostics();
  const reader = readCsv(src, diag);
  const header = await reader.header;
  const records: CsvRecord[] = [];
  for await (const r of reader.records) records.push(r);
  return { header, headerLine: reader.headerLine, records, ...printed(diag), diag };
}

/** Diagnostics as the CLI would print them. */
export function printed(diag: Diagnostics): { errors: string[]; warnings: string[] } {
  return { errors: diag.errors.map(formatDiagnostic), warnings: diag.warnings.map(formatDiagnostic) };
}
