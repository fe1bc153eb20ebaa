// Registration (resume.ts, registerRecipients) reads the list itself, or, for a short list, takes
// the rows the validation pass kept (send.ts, LISTED_IN_MEMORY). Both must register the same
// entries: pending rows with their Message-IDs, and skipped rows (duplicates, suppressed,
// invalid with --skip-invalid) with why, in list order.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadCampaignPartial } from '../../src/campaign/load.js';
import { type ListedRow, listedSkip, registerRecipients } from '../../src/pipeline/resume.js';
import { unitsOf } from '../../src/pipeline/units.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { openJournal } from '../../src/state/journal.js';
import { makeCampaign } from './delivery-fixture.js';

test('registration from the validation pass\'s rows equals registration that reads the list', async () => {
  const f = makeCampaign({
    csv: 'email,name\na@example.com,A\nnot-an-address,B\nA@example.com,A again\nstop@example.com,S\n"Chen <chen@example.com>",陈\nb@example.com,B\n',
  });
  const c = loadCampaignPartial(f.campaign)!;
  const isSuppressed = (key: string) => (key === 'stop@example.com' ? 'unsubscribe: list-unsubscribe' : undefined);
  const o = { isSuppressed, skipInvalid: true, signal: new AbortController().signal, tokenKey: Buffer.alloc(32, 7) };

  const rows: ListedRow[] = [];
  for await (const u of unitsOf(c, new Diagnostics(), { isSuppressed, skipInvalid: true, onSkip: listedSkip((r) => rows.push(r)) })) {
    rows.push({ key: u.key, row: u.row, email: u.email });
  }

  const registered = async (dir: string, listed?: ListedRow[]) => {
    const j = openJournal(path.join(f.dir, dir));
    try {
      j.startRun('run1', 'outbox');
      await registerRecipients(j, c, 'run1', o, listed);
      return [...j.entries()].map((e) => [e.row, e.key, e.email, e.status, e.response ?? '', e.messageId]);
    } finally {
      j.close();
    }
  };
  const read = await registered('read');
  const kept = await registered('kept', rows);
  assert.deepEqual(kept, read);
  assert.deepEqual(
    read.map(([row, key, , status]) => [row, key, status]),
    [
      [2, 'a@example.com', 'pending'],
      [3, 'not-an-address', 'skipped'],
      // (row 4 repeats row 2's address: its skip has row 2's key, and row 2's entry stands)
      [5, 'stop@example.com', 'skipped'],
      [6, 'chen <chen@example.com>', 'skipped'], // a display name is not an address
      [7, 'b@example.com', 'pending'],
    ],
  );
  assert.match(String(read[2][4]), /^suppressed: unsubscribe/);
  assert.match(String(read[0][5]), /^<.+@example\.com>$/);
});
