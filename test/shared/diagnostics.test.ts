// Diagnostics: every problem once. The same template problem met on row after row (a helper
// that fails the same way for every recipient) is one error naming its first row and how many
// more; different values, or different places, stay apart.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Diagnostics, formatDiagnostic } from '../../src/shared/diagnostics.js';

test('one problem met on many rows is one error: first row and how many more', () => {
  const d = new Diagnostics();
  const at = { file: 't.hbs', line: 3, col: 5 };
  for (const row of [2, 3, 7]) d.error(`formatNumber: not a number: "x" (CSV line ${row})`, at);
  d.error('formatNumber: not a number: "y" (CSV line 4)', at);
  d.error('formatNumber: not a number: "x" (CSV line 9)', { file: 't.hbs', line: 8, col: 1 });
  assert.deepEqual(d.errors.map(formatDiagnostic), [
    't.hbs:3:5: formatNumber: not a number: "x" (CSV line 2 and 2 more)',
    't.hbs:3:5: formatNumber: not a number: "y" (CSV line 4)',
    't.hbs:8:1: formatNumber: not a number: "x" (CSV line 9)',
  ]);
  assert.equal(d.errorCount, 3);
});
