import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenSet } from '../../src/recipients/dedupe.js';

describe('SeenSet', () => {
  test('add is true the first time and false after', () => {
    const s = new SeenSet();
    assert.equal(s.add('a@example.com'), true);
    assert.equal(s.add('b@example.com'), true);
    assert.equal(s.add('a@example.com'), false);
    assert.equal(s.has('b@example.com'), true);
    assert.equal(s.has('c@example.com'), false);
    assert.equal(s.size, 2);
  });

  test('keys are compared exactly (callers lower-case them)', () => {
    const s = new SeenSet();
    assert.equal(s.add('a@example.com'), true);
    assert.equal(s.add('A@example.com'), true);
  });

  test('100k distinct keys: no false duplicate, every repeat found, through many doublings', () => {
    const s = new SeenSet(16);
    for (let i = 0; i < 100_000; i++) assert.equal(s.add(`user${i}@example${i % 7}.com`), true, `key ${i}`);
    assert.equal(s.size, 100_000);
    for (let i = 0; i < 100_000; i += 7) assert.equal(s.add(`user${i}@example${i % 7}.com`), false, `repeat ${i}`);
    assert.equal(s.size, 100_000);
    // Keys that differ only in one character or in order must not collide either.
    assert.equal(s.add('user1@example2.com'), true);
    assert.equal(s.add('user2@example1.com'), true);
  });

  test('the empty string and non-ASCII keys are ordinary keys', () => {
    const s = new SeenSet();
    assert.equal(s.add(''), true);
    assert.equal(s.add(''), false);
    assert.equal(s.add('张伟@例子.中国'), true);
    assert.equal(s.add('张伟@例子.中国'), false);
  });

  test('1M keys stay under 20 MB', () => {
    const s = new SeenSet();
    for (let i = 0; i < 1_000_000; i++) s.add(`u${i}@d.com`);
    assert.equal(s.size, 1_000_000);
    assert.ok(s.byteLength < 20 * 1024 * 1024, `${s.byteLength} bytes`);
    assert.ok(s.byteLength >= 1_000_000 * 8, 'at least 8 bytes per key: the hashes are really stored');
  });

  test('told how many keys are coming: one table of that size and a tenth more, not one doubled past it', () => {
    let asked = 0;
    // As when a megabyte of the list is parsed: ~12,000 rows in the table.
    const s = new SeenSet(16_384, () => (asked++, 1_000_000));
    for (let i = 0; i < 1_000_000; i++) assert.equal(s.add(`u${i}@d.com`), true);
    assert.equal(asked, 1, 'asked once, when the first table was full');
    assert.ok(s.byteLength <= 11.8 * 1024 * 1024, `${s.byteLength} bytes (doubling: 16 MiB)`);
    for (let i = 0; i < 1_000_000; i += 9) assert.equal(s.add(`u${i}@d.com`), false, `repeat ${i}`);
  });

  test('an estimate far too high: the table grows at most 128 times at once', () => {
    const s = new SeenSet(16, () => 1e9);
    for (let i = 0; i < 13; i++) s.add(`k${i}`);
    assert.equal(s.byteLength, 16 * 128 * 8);
  });

  test('an estimate too low, or none yet: it grows on, and finds every key', () => {
    for (const expect of [() => 1000, () => undefined]) {
      const s = new SeenSet(16, expect);
      for (let i = 0; i < 100_000; i++) assert.equal(s.add(`k${i}`), true);
      for (let i = 0; i < 100_000; i += 3) assert.equal(s.add(`k${i}`), false);
      assert.equal(s.size, 100_000);
    }
  });
});
