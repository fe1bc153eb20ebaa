// The list read ahead while the templates compile (recipients/prefetch.ts): taken by
// readRecipients, it must give the same rows and the same diagnostics, in the same order and
// counted at the same moment, as reading the file then.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileSignature } from '../../src/shared/paths.js';
import { readRecipients } from '../../src/recipients/index.js';
import { prefetchList } from '../../src/recipients/prefetch.js';
import type { RecipientSource } from '../../src/recipients/types.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { printed, sourceFor } from './helpers.js';

async function read(src: RecipientSource, ahead: boolean, limit?: number) {
  const diag = new Diagnostics();
  diag.warning('loaded first', { file: 'c.yaml', line: 1 }); // (what loading the campaign said)
  const list = ahead ? prefetchList(src, limit) : undefined;
  if (list) await new Promise((r) => setTimeout(r, 50)); // the templates compile meanwhile
  const rows: string[] = [];
  for await (const r of readRecipients(src, diag, { reader: list?.take(diag) })) rows.push(`${r.row} ${r.key}`);
  return { rows, ...printed(diag), errorCount: diag.errorCount };
}

describe('prefetchList', () => {
  const csv =
    'email,name\n' +
    'a@example.com,A\n' +
    'not-an-address,B\n' +
    'a@example.com,A again\n' +
    'c@example.com,"C\nD"\n' +
    Array.from({ length: 40 }, (_, i) => `r${i}@example.com,R${i}\n`).join('') +
    'e@example.com,"unclosed\n';

  for (const limit of [undefined, 3]) {
    test(`the same rows and diagnostics, in order, as reading the file then${limit ? ` (only ${limit} read ahead)` : ''}`, async () => {
      const src = sourceFor(csv);
      const then = await read(src, false);
      const ahead = await read(src, true, limit);
      assert.deepEqual(ahead, then);
      assert.equal(then.rows.length, 41);
      assert.ok(then.errors.length >= 3, then.errors.join('\n'));
      assert.equal(then.warnings[0], 'c.yaml:1: warning: loaded first');
    });
  }

  test('a list whose every row is bad is not also "without rows"', async () => {
    const src = sourceFor('email\nnope\nnada\n');
    const ahead = await read(src, true);
    assert.deepEqual(ahead, await read(src, false));
    assert.equal(ahead.errorCount, 2);
    assert.ok(!ahead.warnings.some((w) => /no recipients/.test(w)), ahead.warnings.join('\n'));
  });

  test('its signature is the file\'s from before it was read: a row added meanwhile is seen as added (send, rowsAddedSince)', async () => {
    const src = sourceFor('email\na@example.com\n');
    const before = fileSignature(src.file);
    const list = prefetchList(src);
    await new Promise((r) => setTimeout(r, 20)); // read ahead
    fs.appendFileSync(src.file, 'late@example.com\n');
    assert.equal(list.signature, before);
    assert.notEqual(fileSignature(src.file), list.signature);
    list.close();
  });

  test('closed without being taken: nothing is reported', async () => {
    const list = prefetchList(sourceFor('email\nnope\n'));
    await new Promise((r) => setTimeout(r, 20));
    list.close();
  });
});
