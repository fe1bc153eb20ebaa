// Message memory lent and given back (src/compose/message-memory.ts): written over by a later
// message only once every reader has let go, and only memory that was lent.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { give, hold, keep, lend } from '../../src/compose/message-memory.js';

// Sizes no other test in this process lends, so that what is idle is this test's own.
const SIZE = 300_001;

test('lend: the exact size, not zeroed; given back, the next message of about that size writes over the same memory', () => {
  const a = lend(SIZE);
  assert.equal(a.length, SIZE);
  a.fill(0x61);
  give(a);
  const b = lend(SIZE - 100);
  assert.equal(b.length, SIZE - 100);
  assert.equal(b.buffer, a.buffer, 'the memory given back is reused');
  assert.equal(b[0], 0x61, 'not zeroed: compose() writes every byte');
  const c = lend(SIZE);
  assert.notEqual(c.buffer, b.buffer, 'memory still lent is never lent twice');
  give(b);
  give(c);
});

test('a size of another class does not take the memory', () => {
  const a = lend(SIZE + 20_000);
  give(a);
  const b = lend(SIZE - 50_000);
  assert.notEqual(b.buffer, a.buffer);
  give(b);
  const c = lend(SIZE + 20_000);
  assert.equal(c.buffer, a.buffer);
  give(c);
});

test('hold: the memory is reused only after the last reader gave it back', () => {
  const a = lend(SIZE + 40_000);
  hold(a); // the socket, writing it
  give(a); // the dispatcher, done with the message
  const b = lend(SIZE + 40_000);
  assert.notEqual(b.buffer, a.buffer, 'still read by the socket');
  give(a); // the socket's write is done
  const c = lend(SIZE + 40_000);
  assert.equal(c.buffer, a.buffer);
  give(b);
  give(c);
});

test('given back twice, kept, or never lent: never reused', () => {
  const a = lend(SIZE + 60_000);
  give(a);
  give(a); // a second give of the same message does not put it back twice
  const b = lend(SIZE + 60_000);
  const c = lend(SIZE + 60_000);
  assert.equal(b.buffer, a.buffer);
  assert.notEqual(c.buffer, b.buffer, 'the memory went back once');
  give(c);
  give(b);

  const d = lend(SIZE + 80_000);
  keep(d); // a reader that cannot say when it is done
  give(d);
  assert.notEqual(lend(SIZE + 80_000).buffer, d.buffer);

  const own = Buffer.allocUnsafeSlow(SIZE + 100_000);
  give(own);
  assert.notEqual(lend(SIZE + 100_000).buffer, own.buffer, 'memory that was not lent is not taken');
});

test('large messages get memory of their own', () => {
  const a = lend(2 * 1024 * 1024);
  assert.equal(a.length, 2 * 1024 * 1024);
  give(a);
  assert.notEqual(lend(2 * 1024 * 1024).buffer, a.buffer);
  assert.equal(lend(0).length, 0);
});
