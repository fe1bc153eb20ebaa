import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../src/shared/clock.js';
import { MailcampError } from '../../src/shared/errors.js';
import { openSuppression, suppressionKey, type SuppressionList } from '../../src/state/suppression.js';

let stateDir: string;
let clock: ManualClock;
let lists: SuppressionList[];

function open(): SuppressionList {
  const s = openSuppression(stateDir, { clock });
  lists.push(s);
  return s;
}

beforeEach(() => {
  stateDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-supp-')), '.mailcamp');
  clock = new ManualClock(Date.UTC(2026, 10, 1));
  lists = [];
});

afterEach(() => {
  for (const s of lists) s.close();
  fs.rmSync(path.dirname(stateDir), { recursive: true, force: true });
});

describe('suppression list', () => {
  test('lives in <state>/suppression, created with its folder', () => {
    const s = open();
    assert.equal(s.file, path.join(stateDir, 'suppression'));
    assert.ok(fs.statSync(s.file).isFile());
  });

  test('add, get, has and remove, case-insensitively', () => {
    const s = open();
    assert.equal(s.has('Ann@Example.com'), false);
    s.add({ address: ' Ann@Example.COM ', reason: '550 5.1.1 user unknown', source: 'bounces.yaml', kind: 'hard' });
    assert.equal(s.has('ann@example.com'), true);
    assert.equal(s.has('ANN@EXAMPLE.COM'), true);
    assert.equal(s.has('bob@example.com'), false);
    assert.deepEqual(s.get('ann@example.com'), {
      address: 'ann@example.com',
      reason: '550 5.1.1 user unknown',
      source: 'bounces.yaml',
      kind: 'hard',
      at: clock.now(),
    });

    s.add({ address: 'bob@example.com', reason: 'asked by phone' });
    assert.deepEqual(s.get('bob@example.com'), {
      address: 'bob@example.com',
      reason: 'asked by phone',
      kind: 'manual',
      at: clock.now(),
    });

    assert.equal(s.remove('ANN@example.com'), true);
    assert.equal(s.remove('ann@example.com'), false);
    assert.equal(s.has('ann@example.com'), false);
    assert.equal(s.get('ann@example.com'), undefined);
    assert.equal(s.count(), 1);
  });

  test('a second add updates reason, kind and date', async () => {
    const s = open();
    s.add({ address: 'ann@example.com', reason: 'soft bounces', kind: 'soft', source: 'a' });
    await clock.advance(86_400_000);
    s.add({ address: 'ANN@example.com', reason: 'unsubscribed', kind: 'unsubscribe', source: 'b' });
    assert.deepEqual(s.get('ann@example.com'), {
      address: 'ann@example.com',
      reason: 'unsubscribed',
      source: 'b',
      kind: 'unsubscribe',
      at: clock.now(),
    });
    assert.equal(s.count(), 1);
    s.add({ address: 'ann@example.com', reason: 'dated', at: 42 });
    assert.equal(s.get('ann@example.com')!.at, 42);
  });

  test('internationalized domains match their ASCII form', () => {
    assert.equal(suppressionKey('Jörg@Bücher.Example'), 'jörg@xn--bcher-kva.example');
    const s = open();
    s.add({ address: 'user@bücher.example', reason: 'x' });
    assert.equal(s.has('USER@xn--bcher-kva.example'), true);
  });

  test('list() is ordered by address and pages through large lists', () => {
    const s = open();
    const n = 1234;
    s.addAll(Array.from({ length: n }, (_, i) => ({ address: `u${String(n - i).padStart(5, '0')}@x.example`, reason: 'r' })));
    const got = [...s.list()].map((e) => e.address);
    assert.equal(got.length, n);
    assert.deepEqual(got, [...got].sort());
    assert.equal(got[0], 'u00001@x.example');
    // Writing while listing works (no cursor holds the connection).
    for (const e of s.list()) {
      if (e.address.endsWith('7@x.example')) s.remove(e.address);
    }
    assert.equal(s.count(), n - 123);
  });

  test('soft bounces are counted per address, apart from the list', () => {
    const s = open();
    assert.equal(s.softBounces('ann@example.com'), 0);
    assert.equal(s.recordSoftBounce('ann@example.com', 'mbox1'), 1);
    assert.equal(s.recordSoftBounce('ANN@example.com', 'mbox2'), 2);
    assert.equal(s.recordSoftBounce('bob@example.com', 'mbox1'), 1);
    assert.equal(s.softBounces('ann@example.com'), 2);
    assert.equal(s.has('ann@example.com'), false, 'counting does not suppress');
    s.add({ address: 'ann@example.com', reason: '3 soft bounces', kind: 'soft' });
    s.remove('ann@example.com');
    assert.equal(s.softBounces('ann@example.com'), 0, 'removing forgets the count');
    assert.equal(s.softBounces('bob@example.com'), 1);
  });

  test('persists across reopening, and two handles on one folder share it', () => {
    const a = open();
    a.add({ address: 'ann@example.com', reason: 'hard', kind: 'hard' });
    a.recordSoftBounce('bob@example.com', 'm');
    const b = open(); // e.g. a mailbox file and a campaign in the same project
    assert.equal(b.has('ann@example.com'), true);
    b.add({ address: 'carl@example.com', reason: 'complaint', kind: 'complaint' });
    assert.equal(a.has('carl@example.com'), true);
    a.close();
    b.close();

    const c = open();
    assert.deepEqual(
      [...c.list()].map((e) => [e.address, e.kind]),
      [
        ['ann@example.com', 'hard'],
        ['carl@example.com', 'complaint'],
      ],
    );
    assert.equal(c.softBounces('bob@example.com'), 1);
  });

  test('each add is committed when it returns', () => {
    const s = open();
    s.add({ address: 'ann@example.com', reason: 'r' });
    const db = new Database(s.file, { readonly: true });
    try {
      assert.equal(db.prepare('SELECT reason FROM suppressed WHERE address = ?').pluck().get('ann@example.com'), 'r');
    } finally {
      db.close();
    }
  });

  test('empty addresses and unknown kinds are refused', () => {
    const s = open();
    assert.throws(() => s.add({ address: '  ', reason: 'r' }), MailcampError);
    assert.throws(() => s.add({ address: 'a@b', reason: 'r', kind: 'bogus' as 'hard' }), /unknown suppression kind/);
    assert.throws(
      () => s.addAll([{ address: 'ok@b', reason: 'r' }, { address: '', reason: 'r' }]),
      MailcampError,
    );
    assert.equal(s.has('ok@b'), false, 'addAll is all or nothing');
    s.close();
    assert.throws(() => s.has('a@b'), /after close/);
  });
});
