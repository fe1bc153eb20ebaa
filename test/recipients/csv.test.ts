import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import iconv from 'iconv-lite';
import { readCsv } from '../../src/recipients/csv.js';
import { MailcampError } from '../../src/shared/errors.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { readAll, sourceFor } from './helpers.js';

const rowsOf = (r: { records: { row: number }[] }) => r.records.map((x) => x.row);

describe('encodings', () => {
  const chinese = 'email,name\nzhang@example.com,张伟\nli@example.com,李娜\n';

  test('a GBK file reads back with encoding: gbk', async () => {
    const r = await readAll(sourceFor(iconv.encode(chinese, 'gbk'), { encoding: 'gbk' }));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.header, ['email', 'name']);
    assert.deepEqual(
      r.records.map((x) => x.fields.name),
      ['张伟', '李娜'],
    );
    assert.deepEqual(rowsOf(r), [2, 3]);
  });

  test('the same GBK bytes read as UTF-8: an error naming the line and suggesting encoding: gbk', async () => {
    const r = await readAll(sourceFor(iconv.encode(chinese, 'gbk')));
    assert.equal(r.errors.length, 1, r.errors.join('\n'));
    assert.match(r.errors[0], /^lists\/list\.csv:2: invalid UTF-8 bytes.*recipients mapping.*`encoding: gbk`/);
  });

  test('the invalid-UTF-8 line is the line of the first bad byte, after CRLF and multi-line values', async () => {
    const text = 'email,note\r\na@example.com,"one\r\ntwo"\r\nb@example.com,ok\r\nc@example.com,Müller\r\n';
    const bytes = Buffer.concat([Buffer.from(text, 'utf8'), iconv.encode('d@example.com,Müller\r\n', 'latin1')]);
    const r = await readAll(sourceFor(bytes));
    assert.deepEqual(r.errors, [
      'lists/list.csv:6: invalid UTF-8 bytes on this line: the file is probably in another encoding; ' +
        'set it in the recipients mapping, e.g. `encoding: gbk` (or gb18030, big5, shift_jis, latin1)',
    ]);
    assert.deepEqual(rowsOf(r), [2, 4, 5, 6], 'reading goes on after the encoding error');
  });

  for (const [encoding, names] of [
    ['big5', ['陳大文', '黃小明']],
    ['shift_jis', ['山田太郎', 'ｶﾀｶﾅ']],
    ['latin1', ['José Müller', 'Zoë Ærø']],
    ['gb18030', ['张伟', '𠀀字']],
    ['euc-kr', ['김민준', '이서연']],
  ] as const) {
    test(`${encoding} round trip`, async () => {
      const text = `email,name\na@example.com,${names[0]}\nb@example.com,${names[1]}\n`;
      const r = await readAll(sourceFor(iconv.encode(text, encoding), { encoding }));
      assert.deepEqual(r.errors, []);
      assert.deepEqual(
        r.records.map((x) => x.fields.name),
        [...names],
      );
    });
  }

  test('bytes invalid in a legacy encoding are an error at their line', async () => {
    const bytes = Buffer.concat([
      iconv.encode('email,name\na@example.com,张伟\n', 'gbk'),
      Buffer.from([0x62, 0x40, 0x78, 0x2e, 0x63, 0x6f, 0x2c, 0xff, 0x0a]), // b@x.co,<0xFF>
    ]);
    const r = await readAll(sourceFor(bytes, { encoding: 'gbk' }));
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], /^lists\/list\.csv:3: bytes on this line are not valid gbk/);
  });

  test('a GB18030 file read as gbk (a character GBK lacks, like 𠮷) says to try gb18030, which reads it', async () => {
    const bytes = iconv.encode('email,name\na@example.com,张𠮷\n', 'gb18030');
    const r = await readAll(sourceFor(bytes, { encoding: 'gbk' }));
    assert.match(r.errors[0], /^lists\/list\.csv:2: bytes on this line are not valid gbk: .*\(try `encoding: gb18030`/);
    const ok = await readAll(sourceFor(bytes, { encoding: 'gb18030' }));
    assert.deepEqual(ok.errors, []);
  });

  test('a UTF-8 byte order mark is removed', async () => {
    const r = await readAll(sourceFor('\ufeffemail,name\na@example.com,Ann\n'));
    assert.deepEqual(r.header, ['email', 'name']);
    assert.deepEqual([...r.errors, ...r.warnings], []);
  });

  test('a UTF-16 file (BOM) read as UTF-8: a clear error, not "file is empty"', async () => {
    const bytes = iconv.encode('email,name\na@example.com,张伟\n', 'utf-16le', { addBOM: true });
    const r = await readAll(sourceFor(bytes));
    assert.equal(r.header, undefined);
    assert.equal(r.errors.length, 1, r.errors.join('\n'));
    assert.match(r.errors[0], /^lists\/list\.csv:1: the file is UTF-16LE .*UTF-8.*`encoding: utf-16le`/);
  });

  test('a UTF-16 file without BOM is recognised too', async () => {
    const r = await readAll(sourceFor(iconv.encode('email\na@example.com\n', 'utf-16le')));
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], /looks like UTF-16.*`encoding: utf-16le`/);
  });

  test('UTF-16LE with encoding: utf-16le reads, BOM or not', async () => {
    for (const addBOM of [true, false]) {
      const bytes = iconv.encode('email,name\r\na@example.com,李娜\r\n', 'utf-16le', { addBOM });
      const r = await readAll(sourceFor(bytes, { encoding: 'utf-16le' }));
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.header, ['email', 'name']);
      assert.deepEqual(r.records, [{ row: 2, fields: { email: 'a@example.com', name: '李娜' } }]);
    }
  });

  test('a UTF-8 BOM with another declared encoding is an error', async () => {
    const r = await readAll(sourceFor('\ufeffemail\na@example.com\n', { encoding: 'gbk' }));
    assert.match(r.errors[0] ?? '', /UTF-8 byte order mark.*gbk.*remove `encoding`/);
  });

  test('an unknown encoding is a MailcampError naming it', () => {
    const src = sourceFor('email\n', { encoding: 'klingon-8' });
    assert.throws(
      () => readCsv(src, new Diagnostics()),
      (e: unknown) => e instanceof MailcampError && e.code === 'INPUT' && /unknown encoding 'klingon-8'/.test(e.message),
    );
  });

  test('multi-byte characters cut by read-chunk boundaries are not errors', async () => {
    // ~700 KB: the 64 KiB read chunks split many 3-byte characters.
    let text = 'email,name\n';
    for (let i = 0; i < 20000; i++) text += `u${i}@example.com,张伟李娜${i}\n`;
    const r = await readAll(sourceFor(text));
    assert.deepEqual(r.errors, []);
    assert.equal(r.records.length, 20000);
    assert.equal(r.records[19999].fields.name, '张伟李娜19999');
    assert.equal(r.records[19999].row, 20001);
  });
});

describe('row numbers', () => {
  test('CRLF file with multi-line quoted values and blank lines', async () => {
    const text = [
      'email,note', // 1
      'a@example.com,"one', // 2
      'two', // 3
      'three"', // 4
      'b@example.com,plain', // 5
      '', // 6
      'c@example.com,"x\ny"', // 7-8 (LF inside a CRLF file)
      '   ', // 9: a line of spaces is a blank line
      'd@example.com,z', // 10
      '',
    ].join('\r\n');
    const r = await readAll(sourceFor(text));
    assert.deepEqual([...r.errors, ...r.warnings], []);
    assert.deepEqual(rowsOf(r), [2, 5, 7, 10]);
    assert.equal(r.records[0].fields.note, 'one\r\ntwo\r\nthree');
  });

  test('the same with LF line ends and without a final line end', async () => {
    const r = await readAll(sourceFor('email,note\na@example.com,"1\n2\n3"\n\n\nb@example.com,"4\n5"\nc@example.com,6'));
    assert.deepEqual(rowsOf(r), [2, 7, 9]);
  });

  test('old Mac CR-only line ends', async () => {
    const r = await readAll(sourceFor('email,note\ra@example.com,"1\r2"\rb@example.com,3\r'));
    assert.deepEqual(rowsOf(r), [2, 4]);
  });

  test('records of empty cells (Excel writes ,,, for formatted empty rows) are blank lines; a row with any value is not', async () => {
    const r = await readAll(sourceFor('email,name,city\r\na@example.com,A,X\r\n,,\r\n , ,\r\n,,,,\r\nb@example.com,B,Y\r\n,,\r\n,,\r\n'));
    assert.deepEqual([...r.errors, ...r.warnings], []);
    assert.deepEqual(rowsOf(r), [2, 6]);
    const half = await readAll(sourceFor('email,name\n,Ann\n'));
    assert.deepEqual(rowsOf(half), [2], 'a row with a name but no address still reaches the address check');
  });

  test('blank lines before the header', async () => {
    const r = await readAll(sourceFor('\n\nemail\na@example.com\n'));
    assert.equal(r.headerLine, 3);
    assert.deepEqual(rowsOf(r), [4]);
  });
});

describe('structure errors', () => {
  test('a ragged row is an error at its line and is not yielded', async () => {
    const r = await readAll(
      sourceFor('email,name,team\na@example.com,A,x\nb@example.com,B,x,extra\nc@example.com,C\nd@example.com,D,y\n'),
    );
    assert.deepEqual(r.errors, [
      "lists/list.csv:3: expected 3 fields, got 4 (a value that contains ',' must be quoted)",
      'lists/list.csv:4: expected 3 fields, got 2',
    ]);
    assert.deepEqual(rowsOf(r), [2, 5]);
  });

  test('an unclosed quote: error at the line where it opened, rows before it kept, reading stops', async () => {
    const text = 'email,name\r\na@example.com,A\r\nb@example.com,"Bob\r\nc@example.com,C\r\nd@example.com,D\r\n';
    const r = await readAll(sourceFor(text));
    assert.deepEqual(r.errors, [
      "lists/list.csv:3: column 'name': unclosed quote: the quoted value that starts on this line runs to the end of the file",
    ]);
    assert.deepEqual(rowsOf(r), [2]);
  });

  test('an unclosed quote after a multi-line value in the same record', async () => {
    const text = 'email,note,name\na@example.com,"multi\nline","Ann\nb@example.com,x,y\n';
    const r = await readAll(sourceFor(text));
    assert.deepEqual(r.errors.map((e) => e.split(': unclosed')[0]), ["lists/list.csv:3: column 'name'"]);
  });

  test('a quote inside an unquoted value', async () => {
    const r = await readAll(sourceFor('email,name\na@example.com,A\nb@example.com,O"Brien\n'));
    assert.match(r.errors[0] ?? '', /^lists\/list\.csv:3: column 'name': quote inside an unquoted value: .*; reading stopped here, so the rows after it are not checked yet$/);
    assert.deepEqual(rowsOf(r), [2]);
  });

  test('text after a closing quote', async () => {
    const r = await readAll(sourceFor('email,name\na@example.com,"Ann" Lee\n'));
    assert.match(r.errors[0] ?? '', /^lists\/list\.csv:2: column 'name': a closing quote must be followed by the delimiter .*; reading stopped here, so the rows after it are not checked yet$/);
  });

  test('an empty file', async () => {
    for (const contents of ['', '\ufeff', '\n\n  \n']) {
      const r = await readAll(sourceFor(contents));
      assert.equal(r.header, undefined);
      assert.deepEqual(r.errors, ['lists/list.csv: file is empty'], JSON.stringify(contents));
    }
  });

  test('a missing file', async () => {
    const src = sourceFor('email\n');
    const r = await readAll({ ...src, file: `${src.file}.nope` });
    assert.deepEqual(r.errors, ['lists/list.csv: file not found']);
  });

  test('header names with stray spaces are trimmed, with a warning', async () => {
    const r = await readAll(sourceFor(' email ,name\na@example.com,A\n'));
    assert.deepEqual(r.warnings, ["lists/list.csv:1: warning: header ' email ' has stray spaces; using 'email'"]);
    assert.deepEqual(r.header, ['email', 'name']);
    assert.deepEqual(r.records[0].fields, { email: 'a@example.com', name: 'A' });
  });

  test('duplicate header names are an error', async () => {
    const r = await readAll(sourceFor('email,name,Name,name\na@example.com,A,B,C\n'));
    assert.deepEqual(r.errors, ["lists/list.csv:1: duplicate header 'name' (columns 2 and 4)"]);
  });

  test('a column without a name is ignored with a warning', async () => {
    const r = await readAll(sourceFor('email,name,\na@example.com,A,\n'));
    assert.deepEqual(r.header, ['email', 'name']);
    assert.deepEqual(r.warnings, ['lists/list.csv:1: warning: column 3 has no header name; its values are ignored']);
    assert.deepEqual(r.records[0].fields, { email: 'a@example.com', name: 'A' });
  });

  test('a record over maxRecordBytes is an error at its line', async () => {
    const text = `email,note\na@example.com,short\nb@example.com,"${'x'.repeat(300)}"\nc@example.com,ok\n`;
    const r = await readAll(sourceFor(text, { maxRecordBytes: 200 }));
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], /^lists\/list\.csv:3: record larger than 200 bytes/);
    assert.deepEqual(rowsOf(r), [2]);
    const ok = await readAll(sourceFor(text));
    assert.deepEqual(ok.errors, [], 'the 1 MiB default lets it through');
    assert.equal(ok.records.length, 3);
  });

  test('the 1 MiB default cap stops a runaway record', async () => {
    const text = `email,note\na@example.com,"${'x'.repeat(1100 * 1024)}"\n`;
    const r = await readAll(sourceFor(text));
    assert.match(r.errors[0] ?? '', /^lists\/list\.csv:2: record larger than 1 MiB/);
  });
});

describe('reading', () => {
  test('other delimiters', async () => {
    const semi = await readAll(sourceFor('email;name\na@example.com;"A; B"\n', { delimiter: ';' }));
    assert.deepEqual(semi.records[0].fields, { email: 'a@example.com', name: 'A; B' });
    const tab = await readAll(sourceFor('email\tname\na@example.com\tA, B\n', { delimiter: '\t' }));
    assert.deepEqual(tab.records[0].fields, { email: 'a@example.com', name: 'A, B' });
  });

  test('a header named __proto__ is an ordinary own field', async () => {
    const r = await readAll(sourceFor('email,__proto__\na@example.com,x\n'));
    assert.equal(Object.getPrototypeOf(r.records[0].fields), Object.prototype);
    assert.deepEqual(Object.keys(r.records[0].fields), ['email', '__proto__']);
    assert.equal(Object.getOwnPropertyDescriptor(r.records[0].fields, '__proto__')?.value, 'x');
  });

  test('reading only the header, then returning the records iterator, finishes', async () => {
    const reader = readCsv(sourceFor('email,name\na@example.com,A\n'), new Diagnostics());
    assert.deepEqual(await reader.header, ['email', 'name']);
    const it = reader.records[Symbol.asyncIterator]();
    assert.deepEqual(await it.return?.(), { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });
});

describe('estimateRecords', () => {
  test('from the share of the file parsed: close to the number of rows, and nothing before a megabyte', async () => {
    const rows = 60_000;
    let text = 'email,name,city\n';
    for (let i = 0; i < rows; i++) text += `user${i}@example.com,${i % 3 ? 'Anna Berg' : '张伟'},${'Stockholm'.slice(0, 3 + (i % 7))}\n`;
    const reader = readCsv(sourceFor(text), new Diagnostics());
    await reader.header;
    assert.equal(reader.estimateRecords(), undefined, 'too little parsed to tell');
    let n = 0;
    let estimate: number | undefined;
    for await (const _ of reader.records) {
      if (++n === 40_000) estimate = reader.estimateRecords();
    }
    assert.equal(n, rows);
    assert.ok(estimate !== undefined && Math.abs(estimate - rows) < rows * 0.05, `estimate ${estimate} for ${rows} rows`);
  });
});

