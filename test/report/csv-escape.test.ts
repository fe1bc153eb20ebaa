// CSV cell escaping: RFC 4180 quoting and the OWASP formula-injection prefix.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseCsv } from 'csv-parse/sync';
import { csvCell, csvRow, escapeFormula, quoteField } from '../../src/report/csv-escape.js';

describe('escapeFormula', () => {
  const table: [string, string][] = [
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\t=1', "'\t=1"],
    ['\r=1', "'\r=1"],
    ['=HYPERLINK("http://evil.example","x")', `'=HYPERLINK("http://evil.example","x")`],
    ['ann@example.test', 'ann@example.test'],
    ['a=b', 'a=b'],
    [' =1', ' =1'],
    ["'already", "'already"],
    ['', ''],
    ['550 5.1.1 unknown', '550 5.1.1 unknown'],
    ['Zoë <zoe@example.test>', 'Zoë <zoe@example.test>'],
  ];
  for (const [input, expected] of table) {
    test(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(escapeFormula(input), expected));
  }
});

describe('quoteField / csvCell / csvRow', () => {
  test('quotes only when RFC 4180 requires it', () => {
    assert.equal(quoteField('plain'), 'plain');
    assert.equal(quoteField('a,b'), '"a,b"');
    assert.equal(quoteField('say "hi"'), '"say ""hi"""');
    assert.equal(quoteField('line\nbreak'), '"line\nbreak"');
    assert.equal(quoteField('cr\rhere'), '"cr\rhere"');
  });

  test('numbers are left alone, text is escaped then quoted, null is empty', () => {
    assert.equal(csvCell(-1), '-1');
    assert.equal(csvCell(42), '42');
    assert.equal(csvCell('-1'), "'-1");
    assert.equal(csvCell('=1,2'), `"'=1,2"`);
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(undefined), '');
  });

  test('a row ends in CRLF and reads back cell for cell', () => {
    const cells = [7, '=cmd|" /C calc"!A0', 'a,b', 'multi\r\nline', '"quoted"', null, '+', 'ok'];
    const line = csvRow(cells);
    assert.ok(line.endsWith('\r\n'), JSON.stringify(line));
    const [back] = parseCsv(line) as string[][];
    assert.deepEqual(back, ['7', `'=cmd|" /C calc"!A0`, 'a,b', 'multi\r\nline', '"quoted"', '', "'+", 'ok']);
  });
});
