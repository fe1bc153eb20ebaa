// The campaign's own `suppress:` lists: CSV files of addresses (an `email` column, or the
// first column) that this campaign must not mail, on top of the shared suppression list.
// They are small (people who asked not to be mailed), so they are held in a Map.

import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import { checkAddress } from '../recipients/address.js';
import { readCsv } from '../recipients/csv.js';
import { Diagnostics } from '../shared/diagnostics.js';

export function loadSuppressFilesAsync(c: Campaign, diag: Diagnostics): Promise<Map<string, string>> {
  return (async () => {
    const out = new Map<string, string>();
    for (const file of c.suppress) {
      const display = path.relative(process.cwd(), file) || file;
      const src = { ...c.recipients, file, displayFile: display, encoding: 'utf-8', delimiter: ',' };
      const local = new Diagnostics();
      const reader = readCsv(src, local);
      const cols = (await reader.header) ?? [];
      const col = cols.find((x) => x.toLowerCase() === 'email') ?? cols[0];
      for await (const rec of reader.records) {
        const v = (rec.fields[col] ?? '').trim();
        if (!v) continue;
        const a = checkAddress(v);
        out.set(a.ok ? a.key : v.toLowerCase(), `listed in ${path.basename(file)}`);
      }
      for (const d of local.errors) diag.error(d.message, d);
    }
    return out;
  })();
}
