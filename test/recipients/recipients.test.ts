import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { readRecipients, type ReadRecipientsOptions, type SkippedRow } from '../../src/recipients/index.js';
import type { Recipient, RecipientSource } from '../../src/recipients/types.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { printed, sourceFor } from './helpers.js';

async function collect(src: RecipientSource, opts: ReadRecipientsOptions = {}) {
  const diag = new Diagnostics();
  const recipients: Recipient[] = [];
  for await (const r of readRecipients(src, diag, opts)) recipients.push(r);
  return { recipients, ...printed(diag) };
}

describe('readRecipients', () => {
  test('yields checked recipients in file order', async () => {
    const r = await collect(
      sourceFor('email,name,team\n Ann@Example.COM ,  Ann Lee ,a\nbob@例子.中国,,b\n"carl@example.org","Carl ""C"" Doe",c\n'),
    );
    assert.deepEqual([...r.errors, ...r.warnings], []);
    assert.deepEqual(r.recipients, [
      {
        row: 2,
        fields: { email: ' Ann@Example.COM ', name: '  Ann Lee ', team: 'a' },
        email: 'Ann@example.com',
        name: 'Ann Lee',
        key: 'ann@example.com',
      },
      { row: 3, fields: { email: 'bob@例子.中国', name: '', team: 'b' }, email: 'bob@xn--fsqu00a.xn--fiqs8s', name: undefined, key: 'bob@xn--fsqu00a.xn--fiqs8s' },
      { row: 4, fields: { email: 'carl@example.org', name: 'Carl "C" Doe', team: 'c' }, email: 'carl@example.org', name: 'Carl "C" Doe', key: 'carl@example.org' },
    ]);
  });

  test('custom email and name columns; no name column means no names', async () => {
    const custom = await collect(sourceFor('mail,who\na@example.com,Ann\n', { emailColumn: 'mail', nameColumn: 'who' }));
    assert.equal(custom.recipients[0].email, 'a@example.com');
    assert.equal(custom.recipients[0].name, 'Ann');
    const none = await collect(sourceFor('email,who\na@example.com,Ann\n'));
    assert.equal(none.recipients[0].name, undefined);
  });

  test('a missing email column lists the columns that exist', async () => {
    const r = await collect(sourceFor('name,mail,team\nAnn,a@example.com,x\n'));
    assert.deepEqual(r.errors, ["lists/list.csv:1: no column 'email' (columns: name, mail, team); set recipients.email_column"]);
    assert.deepEqual(r.recipients, []);
  });

  test('a missing name column is an error, and the addresses are still checked', async () => {
    const r = await collect(sourceFor('email\nnot-an-address\n', { nameColumn: 'full_name' }));
    assert.deepEqual(r.errors, [
      "lists/list.csv:1: no column 'full_name' (columns: email); set recipients.name_column",
      `lists/list.csv:2: column 'email': invalid address "not-an-address": missing '@'`,
    ]);
  });

  test('an invalid address is an error at its row and column, and is not yielded', async () => {
    const skipped: string[] = [];
    const r = await collect(sourceFor('email,name\nBob <bob@example.com>,Bob\n,Empty\nok@example.com,Ok\n'), {
      onSkip: (row, reason) => skipped.push(`${row.row} ${reason}`),
    });
    assert.deepEqual(r.errors, [
      `lists/list.csv:2: column 'email': invalid address "Bob <bob@example.com>": display-name form ('Name <address>'): put only the address here and the name in the name column`,
      `lists/list.csv:3: column 'email': invalid address "": empty`,
    ]);
    assert.deepEqual(skipped, [], 'errors are not skips');
    assert.deepEqual(
      r.recipients.map((x) => x.row),
      [4],
    );
  });

  test('skipInvalid turns invalid addresses into warnings and onSkip calls', async () => {
    const skipped: Array<[SkippedRow, string]> = [];
    const r = await collect(sourceFor('email,name\na@x@example.com,A\nb@example.com,B\n'), {
      skipInvalid: true,
      onSkip: (row, reason) => skipped.push([row, reason]),
    });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, [
      `lists/list.csv:2: column 'email': warning: invalid address "a@x@example.com": more than one '@'`,
    ]);
    assert.deepEqual(skipped, [
      [{ row: 2, fields: { email: 'a@x@example.com', name: 'A' }, email: 'a@x@example.com' }, "invalid address: more than one '@'"],
    ]);
    assert.deepEqual(
      r.recipients.map((x) => x.email),
      ['b@example.com'],
    );
  });

  test('a line break or NUL in the name column is an error naming row and column', async () => {
    const r = await collect(sourceFor('email,name\na@example.com,"Ann\r\nBcc: x@evil.example"\nb@example.com,"B\0"\nc@example.com,C\n'));
    assert.deepEqual(r.errors, [
      "lists/list.csv:2: column 'name': line break or NUL in a value that goes into a header",
      "lists/list.csv:4: column 'name': NUL byte in the value (a binary file, or a broken export?)",
    ]);
    assert.deepEqual(
      r.recipients.map((x) => x.row),
      [5],
    );
  });

  test('duplicates are found case-insensitively; the first is kept', async () => {
    const skipped: string[] = [];
    const r = await collect(sourceFor('email\nann@example.com\nbob@example.com\nANN@Example.com\n Ann@EXAMPLE.COM\n'), {
      onSkip: (row, reason) => skipped.push(`${row.row} ${row.email} ${reason}`),
    });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, [
      "lists/list.csv:4: column 'email': warning: duplicate address (already on an earlier line)",
      "lists/list.csv:5: column 'email': warning: duplicate address (already on an earlier line)",
    ]);
    assert.deepEqual(skipped, ['4 ANN@example.com duplicate address', '5 Ann@example.com duplicate address']);
    assert.deepEqual(
      r.recipients.map((x) => `${x.row} ${x.email}`),
      ['2 ann@example.com', '3 bob@example.com'],
    );
  });

  test('suppressed addresses are skipped with the reason, asked by lower-cased key', async () => {
    const asked: string[] = [];
    const skipped: string[] = [];
    const r = await collect(sourceFor('email\nGone@Example.com\nkeep@example.com\n'), {
      isSuppressed: (key) => {
        asked.push(key);
        return key === 'gone@example.com' ? 'bounced 2026-01-02' : undefined;
      },
      onSkip: (row, reason) => skipped.push(`${row.row} ${row.email} ${reason}`),
    });
    assert.deepEqual(asked, ['gone@example.com', 'keep@example.com']);
    assert.deepEqual(skipped, ['2 Gone@example.com suppressed: bounced 2026-01-02']);
    assert.deepEqual(
      r.recipients.map((x) => x.email),
      ['keep@example.com'],
    );
    assert.deepEqual([...r.errors, ...r.warnings], []);
  });

  test('a header without rows is a warning', async () => {
    const r = await collect(sourceFor('email,name\n'));
    assert.deepEqual(r.warnings, ['lists/list.csv:1: warning: no recipients: the file has a header but no rows']);
  });

  test('file problems come through as errors, with nothing yielded', async () => {
    const r = await collect(sourceFor(''));
    assert.deepEqual(r.errors, ['lists/list.csv: file is empty']);
  });

  test('stopping early closes the reader', async () => {
    const src = sourceFor('email\na@example.com\nb@example.com\n');
    const diag = new Diagnostics();
    const gen = readRecipients(src, diag);
    assert.equal((await gen.next()).value?.email, 'a@example.com');
    assert.deepEqual(await gen.return(undefined), { done: true, value: undefined });
  });

  test('200k rows stream without the heap growing', async () => {
    const src = sourceFor('');
    const out = fs.openSync(src.file, 'w');
    fs.writeSync(out, 'email,name,team\n');
    let chunk = '';
    for (let i = 0; i < 200_000; i++) {
      chunk += `user${i}@example${i % 97}.com,User Number ${i},team-${i % 13}\n`;
      if (chunk.length > 1 << 16) {
        fs.writeSync(out, chunk);
        chunk = '';
      }
    }
    fs.writeSync(out, chunk);
    fs.closeSync(out);

    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    // Typed arrays (the dedupe table) live outside the JS heap: count them too.
    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const start = used();
    let peak = 0;
    let n = 0;
    const diag = new Diagnostics();
    for await (const r of readRecipients(src, diag)) {
      n++;
      if (n % 25_000 === 0) {
        gc();
        peak = Math.max(peak, used() - start);
      }
      if (n === 200_000) assert.equal(r.email, 'user199999@example82.com');
    }
    assert.equal(n, 200_000);
    assert.equal(diag.errorCount + diag.warningCount, 0);
    // The file is ~10 MB and 200k Recipient objects would be ~60 MB; streaming keeps ~6 MB
    // (the 2^19-slot dedupe table is 4 MiB of it).
    assert.ok(peak < 30 * 1024 * 1024, `heap grew by ${(peak / 1048576).toFixed(1)} MB`);
  });
});
