// The one-line summary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from '../../src/report/summary.js';

const zero = { recipients: 0, pending: 0, sending: 0, sent: 0, failed: 0, deferred: 0, skipped: 0, unknown: 0 };

test('a finished run', () => {
  assert.equal(
    summarize({ ...zero, recipients: 100, sent: 98, failed: 1, skipped: 1 }),
    'sent 98, failed 1, deferred 0, unknown 0, skipped 1 of 100 recipients',
  );
});

test('one recipient is singular', () => {
  assert.equal(summarize({ ...zero, recipients: 1, sent: 1 }), 'sent 1, failed 0, deferred 0, unknown 0, skipped 0 of 1 recipient');
});

test('an interrupted run shows what is still pending or in flight', () => {
  assert.equal(
    summarize({ ...zero, recipients: 10, sent: 4, deferred: 1, unknown: 1, pending: 3, sending: 1 }),
    'sent 4, failed 0, deferred 1, unknown 1, skipped 0, pending 3, sending 1 of 10 recipients',
  );
});
