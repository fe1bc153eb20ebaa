import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import iconv from 'iconv-lite';
import { decodeStages, LineCounter, resolveEncoding } from '../../src/recipients/decode.js';
import { firstInvalidUtf8 } from '../../src/shared/text-file.js';
import { Diagnostics, formatDiagnostic } from '../../src/shared/diagnostics.js';

/** Runs `bytes` through the decode stages in chunks of `size` bytes; returns the text and the errors. */
async function decode(bytes: Buffer, encoding: string, size: number): Promise<{ text: string; errors: string[] }> {
  const diag = new Diagnostics();
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  await pipeline([Readable.from(chunks, { objectMode: false }), ...decodeStages(resolveEncoding(encoding, 'f.csv'), 'f.csv', diag), sink]);
  return { text, errors: diag.errors.map(formatDiagnostic) };
}

describe('decode stages', () => {
  const sample = 'email,name\r\na@example.com,"张伟\r\n李娜"\rb@example.com,Ærø 𠀀\n';

  for (const size of [1, 2, 3, 5, 1024]) {
    test(`UTF-8 in ${size}-byte chunks decodes without false errors`, async () => {
      const r = await decode(Buffer.from(`\ufeff${sample}`), 'utf-8', size);
      assert.equal(r.text, sample);
      assert.deepEqual(r.errors, []);
    });

    test(`an invalid byte is found at its line in ${size}-byte chunks`, async () => {
      const bytes = Buffer.concat([Buffer.from(sample), Buffer.from([0x63, 0xe4, 0xbd, 0x0a])]); // "c" + cut 3-byte char
      const r = await decode(bytes, 'utf-8', size);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0], /^f\.csv:5: invalid UTF-8 bytes/);
    });

    test(`GBK in ${size}-byte chunks`, async () => {
      const r = await decode(iconv.encode(sample, 'gbk'), 'gbk', size);
      assert.equal(r.text, sample.replace('𠀀', '?').replace('Æ', '?').replace('ø', '?'));
      assert.deepEqual(r.errors.filter((e) => /UTF-8 text/.test(e)), []);
    });

    test(`a UTF-8 file declared gbk or latin1 is an error at its first non-ASCII line (${size}-byte chunks), not mojibake for everyone`, async () => {
      for (const enc of ['gbk', 'latin1']) {
        const r = await decode(Buffer.from(sample), enc, size);
        assert.deepEqual(r.errors, [
          `f.csv:2: this line is UTF-8 text, but the recipients encoding is ${enc}: remove \`encoding\` from the recipients mapping (UTF-8 is the default), or export the file again in the declared encoding`,
        ]);
      }
      const latin1 = await decode(Buffer.from('email,name\r\na@example.com,Jos\xe9 M\xfcller\r\n', 'latin1'), 'latin1', size);
      assert.deepEqual(latin1.errors, []);
      assert.match(latin1.text, /José Müller/);
    });
  }

  test('a sequence cut off at the end of the file is invalid', async () => {
    const r = await decode(Buffer.from([0x61, 0x0a, 0x62, 0xe5, 0xbc]), 'utf-8', 1);
    assert.deepEqual(r.errors.map((e) => e.slice(0, 8)), ['f.csv:2:']);
  });
});

describe('firstInvalidUtf8', () => {
  const cases: Array<[number[], number]> = [
    [[0x61, 0x62], 2],
    [[0xe4, 0xbd, 0xa0], 3], // 你
    [[0xf0, 0x9f, 0x98, 0x80], 4], // 😀
    [[0x61, 0xc0, 0x80], 1], // overlong NUL
    [[0x61, 0xe0, 0x80, 0x80], 1], // overlong 3-byte
    [[0xed, 0xa0, 0x80], 0], // UTF-16 surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
    [[0x61, 0x80], 1], // lone continuation byte
    [[0x61, 0xe4, 0xbd], 1], // truncated
    [[0xef, 0xbf, 0xbd], 3], // U+FFFD itself is valid
  ];
  for (const [bytes, expected] of cases) {
    test(Buffer.from(bytes).toString('hex'), () => assert.equal(firstInvalidUtf8(Uint8Array.from(bytes)), expected));
  }
});

describe('LineCounter', () => {
  test('LF, CRLF and lone CR each end one line, also across chunks', () => {
    const c = new LineCounter();
    c.text('a\r', 0, 2);
    c.text('\nb\rc\n', 0, 5);
    assert.equal(c.line, 4);
  });
  test('bytes(): the same count as text(), whatever the chunks and offsets', () => {
    const s = 'a\r\nb\rc\n\n\r\r\nd\re\r';
    for (let cut = 0; cut <= s.length; cut++) {
      const c = new LineCounter();
      const buf = Buffer.from(`xx${s}yy`, 'latin1');
      c.bytes(buf, 2, 2 + cut);
      c.bytes(buf, 2 + cut, 2 + s.length);
      const t = new LineCounter();
      t.text(s, 0, s.length);
      assert.equal(c.line, t.line, `cut at ${cut}`);
    }
    assert.equal(new LineCounter().line, 1);
  });
});
