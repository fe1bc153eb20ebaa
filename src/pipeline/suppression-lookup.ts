// How `send` (and validate, and status before a run) asks "is this recipient suppressed?" for
// every row of its passes over the CSV (validate, register, send).

import type { Campaign } from '../campaign/types.js';
import type { Diagnostics } from '../shared/diagnostics.js';
import { suppressionKey, type SuppressionList } from '../state/suppression.js';
import { loadSuppressFilesAsync } from './suppress-files.js';

/** A list this long or shorter is held in memory: the CSV passes look up every row. */
const SUPPRESSION_IN_MEMORY = 50_000;
/** How often the in-memory copy checks for changes made by another process. */
const SUPPRESSION_RECHECK_MS = 200;

/**
 * Why a recipient is suppressed, or undefined. A short list (the usual case) is held in memory,
 * so the three passes over the CSV (validate, register, send) cost no query per row; it is
 * read again when another process has changed the file (SQLite's data_version, checked every
 * 200 ms), so an unsubscribe that `bounces` records during a long send still stops the
 * messages not yet sent. A long list is queried per row.
 */
export function suppressionLookup(list: SuppressionList | undefined): (key: string) => string | undefined {
  if (!list) return () => undefined;
  const perRow = (key: string) => {
    const e = list.get(key);
    return e && `${e.kind}: ${e.reason}`;
  };
  let why: Map<string, string> | undefined;
  let version = 0;
  let checkedAt = 0;
  const load = () => {
    version = list.version();
    checkedAt = Date.now();
    why = undefined;
    if (list.count() > SUPPRESSION_IN_MEMORY) return;
    why = new Map();
    for (const e of list.list()) why.set(e.address, `${e.kind}: ${e.reason}`);
  };
  load();
  return (key) => {
    if (Date.now() - checkedAt >= SUPPRESSION_RECHECK_MS) {
      checkedAt = Date.now();
      if (list.version() !== version) load();
    }
    if (!why) return perRow(key);
    return why.size ? why.get(suppressionKey(key)) : undefined;
  };
}

/** Why a recipient is suppressed: by the state folder's list, else by the campaign's `suppress:` files. */
export async function suppressedBy(c: Campaign, list: SuppressionList | undefined, diag: Diagnostics): Promise<(key: string) => string | undefined> {
  const extra = await loadSuppressFilesAsync(c, diag);
  const listed = suppressionLookup(list);
  return (key) => listed(key) ?? extra.get(key);
}
