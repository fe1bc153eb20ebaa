// src/compose/qp.ts must write exactly what nodemailer's qp encode() and wrap(…, 76) write. The
// random inputs are built from pieces that reach each branch of wrap(): escapes and UTF-8
// sequences across the 76th column, spaces and punctuation near it, trailing whitespace,
// lone CR and LF, CRLF at and around the window's end, runs longer than a line.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode, wrap } from 'nodemailer/lib/qp';
import { encodeQp, QpLineWriter, qpFromSafe, wrapQp } from '../../src/compose/qp.js';
import { prng } from '../helpers/prng.js';

const PIECES = [
  'a', 'Hello', ' ', '  ', '\t', '.', ',', '!', '?', '=', '==', '=3D', 'abc=def', '<a href="x">', 'x'.repeat(70), 'y'.repeat(75),
  'z'.repeat(76), 'w'.repeat(77), '\u00e9', '\u00e9\u00e8', '\u5f20\u4f1f', '\u2014', '\ud83d\ude00', '\ud83d', '\ude00', '\r', '\n',
  '\r\n', '\x00', '\x07', '\x7f', 'From ', 'AF', 'af', '9', '\u2028', '\u0418\u0432\u0430\u043d',
];

function randomText(rnd: () => number): string {
  const n = Math.floor(rnd() * 40);
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rnd() * PIECES.length)];
  return s;
}

test('encodeQp is nodemailer encode(), wrapQp is nodemailer wrap(…, 76)', () => {
  const rnd = prng(6);
  for (let i = 0; i < 40000; i++) {
    const s = randomText(rnd);
    const enc = encodeQp(s);
    assert.equal(enc, encode(s), `encode ${JSON.stringify(s)}`);
    assert.equal(wrapQp(enc), wrap(enc, 76), `wrap of the encoding of ${JSON.stringify(s)}`);
    // wrap() also takes text that is not an encoding (lone "=", lower-case hex, line breaks anywhere).
    assert.equal(wrapQp(s), wrap(s, 76), `wrap ${JSON.stringify(s)}`);
  }
});

test('wrapQp: the branches one by one', () => {
  const cases = [
    '', 'x'.repeat(76), 'x'.repeat(77), 'x'.repeat(75) + '=C3=A9tail', 'x'.repeat(74) + '=C3=A9tail', 'x'.repeat(73) + '=E4=B8=80' + 'y'.repeat(10),
    'x'.repeat(60) + ' ' + 'y'.repeat(30), 'x'.repeat(75) + '\r\n' + 'y'.repeat(80), 'x'.repeat(74) + '\r\n', 'x'.repeat(60) + '\n' + 'y'.repeat(30),
    '=3D'.repeat(40), '=E4'.repeat(30), 'x'.repeat(75) + '=', 'x'.repeat(74) + '=4', 'x'.repeat(70) + '=3d=3d' + 'q'.repeat(9),
    'x'.repeat(60) + '\n' + 'y'.repeat(5) + '\r' + 'z'.repeat(30), 'x'.repeat(60) + '\n' + 'y'.repeat(5) + '\u2028' + 'z'.repeat(30),
  ];
  for (const s of cases) assert.equal(wrapQp(s), wrap(s, 76), JSON.stringify(s));
});

test('QpLineWriter writes each line as qpFromSafe(wrapQp(encodeQp(line + CRLF))) does, a run of lines at a time', () => {
  const rnd = prng(7);
  const w = new QpLineWriter();
  // Lines as a text body has them (no CR or LF), with "From " and escapes ending in F ("=AF") near soft breaks.
  const extra = ['From ', 'rom ', '\u00afrom ', 'x'.repeat(71) + 'From x', 'x'.repeat(72) + '\u00afrom y', '.'.repeat(80)];
  for (let i = 0; i < 20000; i++) {
    const n = 1 + Math.floor(rnd() * 4);
    let expected = '';
    for (let j = 0; j < n; j++) {
      let line = randomText(rnd).replace(/[\r\n]/g, '');
      if (rnd() < 0.3) line = extra[Math.floor(rnd() * extra.length)] + line;
      expected += qpFromSafe(wrapQp(encodeQp(line + '\r\n')));
      w.line(line);
    }
    assert.equal(w.take(), expected);
  }
  // Longer than its first buffers, and long enough for them to be let go after it; then a short one.
  for (const long of ['\u5f20'.repeat(3000) + ' From ' + 'x='.repeat(5000), '\u5f20'.repeat(12000) + ' From ' + 'x='.repeat(20000), 'From a short one ']) {
    w.line(long);
    assert.equal(w.take(), qpFromSafe(wrapQp(encodeQp(long + '\r\n'))));
  }
});
