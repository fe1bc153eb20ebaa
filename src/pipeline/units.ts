// Recipients → units of sending: one per recipient, or one per group (group_by). Groups
// need the whole list before the first message, so they are collected in memory; group
// notifications are small (teams, not customers).

import type { Campaign } from '../campaign/types.js';
import { type CsvReader, readRecipients } from '../recipients/index.js';
import type { Recipient } from '../recipients/types.js';
import type { Diagnostics } from '../shared/diagnostics.js';
import { type Unit, unitForGroup, unitForRecipient } from './message.js';

export interface UnitOptions {
  isSuppressed?: (key: string) => string | undefined;
  /** The list's reader, when it was opened already (readRecipients). */
  reader?: CsvReader;
  onSkip?: (row: number, email: string, reason: string) => void;
  skipInvalid?: boolean;
}

export async function* unitsOf(c: Campaign, diag: Diagnostics, o: UnitOptions = {}): AsyncGenerator<Unit> {
  const recipients = readRecipients(c.recipients, diag, {
    isSuppressed: o.isSuppressed,
    skipInvalid: o.skipInvalid,
    dedupeWithin: c.groupBy,
    reader: o.reader,
    onSkip: o.onSkip ? (r, reason) => o.onSkip!(r.row, r.email, reason) : undefined,
  });
  if (!c.groupBy) {
    for await (const r of recipients) yield unitForRecipient(r);
    return;
  }
  const groups = new Map<string, Recipient[]>();
  for await (const r of recipients) {
    const raw = r.fields[c.groupBy];
    // No such column at all: reported once, at group_by in the campaign file (context.ts).
    if (raw === undefined) continue;
    const v = raw.trim();
    if (!v) {
      diag.error('empty group_by value', { file: c.recipients.displayFile, line: r.row, column: c.groupBy });
      continue;
    }
    let g = groups.get(v);
    if (!g) groups.set(v, (g = []));
    g.push(r);
  }
  for (const [v, members] of groups) yield unitForGroup(v, members);
}
