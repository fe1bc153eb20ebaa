// RecipientMatcher: a bounce names the address a message was forwarded to; the returned
// original's X-Mailcamp-Recipient token maps it back to the address we mailed, through the
// campaign's journal, and through its occurrences' journals for a scheduled campaign.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { recipientToken } from '../../src/compose/headers.js';
import { RecipientMatcher } from '../../src/receive/match.js';
import { OCCURRENCES_DIR } from '../../src/schedule/occurrence.js';
import { openJournal } from '../../src/state/journal.js';
import { tmpDir } from '../helpers/tmp.js';

function journalWith(dir: string, email: string): void {
  const j = openJournal(dir);
  j.startRun('r1', 'outbox');
  j.addPending({ key: email.toLowerCase(), row: 2, email, messageId: '<m@acme.example>' });
  j.close();
}

test('tokens map back through the campaign journal and its occurrences', () => {
  const state = tmpDir();
  journalWith(path.join(state, 'news'), 'ann@example.com');
  journalWith(path.join(state, 'digest', OCCURRENCES_DIR, '20261116T080000Z'), 'Dave@example.com');
  const m = new RecipientMatcher(state);
  assert.equal(m.addressFor('news', recipientToken('news', 'ann@example.com')), 'ann@example.com');
  assert.equal(m.addressFor('digest', recipientToken('digest', 'dave@example.com')), 'dave@example.com');
  assert.equal(m.addressFor('digest', recipientToken('digest', 'nobody@example.com')), undefined);
  assert.equal(m.addressFor('other', 'x'), undefined);
});
