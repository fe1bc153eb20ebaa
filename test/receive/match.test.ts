// RecipientMatcher: a bounce names the address a message was forwarded to; the returned
// original's X-Mailcamp-Recipient token maps it back to the address we mailed, through the
// campaign's journal, and through its occurrences' journals for a scheduled campaign.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { recipientToken, unkeyedRecipientToken } from '../../src/compose/headers.js';
import { RecipientMatcher } from '../../src/receive/match.js';
import { OCCURRENCES_DIR } from '../../src/schedule/occurrence.js';
import { openJournal } from '../../src/state/journal.js';
import { tokenKey } from '../../src/state/token-key.js';
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
  const key = tokenKey(state, { create: true });
  const m = new RecipientMatcher(state);
  assert.equal(m.addressFor('news', recipientToken(key, 'news', 'ann@example.com')), 'ann@example.com');
  assert.equal(m.addressFor('digest', recipientToken(key, 'digest', 'dave@example.com')), 'dave@example.com');
  assert.equal(m.addressFor('digest', recipientToken(key, 'digest', 'nobody@example.com')), undefined);
  assert.equal(m.addressFor('other', 'x'), undefined);
  // Messages sent before the secret existed carry the plain hash: still matched.
  assert.equal(m.addressFor('news', unkeyedRecipientToken('news', 'ann@example.com')), 'ann@example.com');
  // Another state folder's secret does not match.
  assert.equal(new RecipientMatcher(state).addressFor('news', recipientToken(Buffer.alloc(32, 1), 'news', 'ann@example.com')), undefined);
});

test('the token cannot be checked against guessed addresses without the state folder (an HMAC under its secret)', () => {
  const a = tmpDir();
  const b = tmpDir();
  const ka = tokenKey(a, { create: true });
  assert.equal(ka.length, 32);
  assert.deepEqual(tokenKey(a, { create: true }), ka, 'made once, then read');
  assert.equal(fs.statSync(path.join(a, 'recipient-token.key')).mode & 0o777, 0o600);
  const kb = tokenKey(b, { create: true });
  assert.notEqual(recipientToken(ka, 'news', 'ann@example.com'), recipientToken(kb, 'news', 'ann@example.com'));
  assert.notEqual(recipientToken(ka, 'news', 'ann@example.com'), unkeyedRecipientToken('news', 'ann@example.com'));
  assert.match(recipientToken(ka, 'news', 'ann@example.com'), /^[A-Za-z0-9_-]{16}$/);
  // Without create, a folder without a key gets a throwaway one and nothing is written.
  const c = tmpDir();
  assert.equal(tokenKey(c, { create: false }).length, 32);
  assert.equal(fs.existsSync(path.join(c, 'recipient-token.key')), false);
  // A file that is not a key is an error that names it, not a silent new secret.
  fs.writeFileSync(path.join(c, 'recipient-token.key'), 'hello');
  assert.throws(() => tokenKey(c, { create: true }), /recipient-token\.key is not a mailcamp key \(5 bytes, expected 32\)/);
});
