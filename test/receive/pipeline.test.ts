// The bounces orchestrator (src/pipeline/bounces.ts) with a scripted Mailbox: the order of
// recording and deleting, what a failure in the middle leaves, soft-bounce counting to the
// limit, duplicates by Message-ID, dry runs, and entries that are already suppressed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { test } from 'node:test';
import { runBounces } from '../../src/pipeline/bounces.js';
import { type Mailbox, type MailboxMessage, MessageGone } from '../../src/receive/mailbox.js';
import { MailcampError } from '../../src/shared/errors.js';
import { recipientToken } from '../../src/compose/headers.js';
import { openJournal } from '../../src/state/journal.js';
import { tokenKey } from '../../src/state/token-key.js';
import { openProcessed } from '../../src/state/processed.js';
import { openSuppression } from '../../src/state/suppression.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';
import { dsn } from './make-dsn.js';

const ORIGINAL = 'From: news@acme.example\nTo: x@example.net\nSubject: hi\nMessage-ID: <orig@acme.example>\n\nhello\n';

function bounce(id: string, to: string, status = '5.1.1', diagnostic = '550 5.1.1 User unknown'): string {
  return dsn({ id, sentTo: 'news@acme.example', finalRecipient: to, status, diagnostic, original: ORIGINAL });
}

const ORDINARY = 'From: sam@acme.example\nTo: news@acme.example\nSubject: lunch?\nMessage-ID: <lunch@acme.example>\n\nLunch at noon?\n';

class FakeMailbox implements Mailbox {
  readonly identity: string;
  readonly canMove = true;
  ops: string[] = [];
  deleted: string[] = [];
  onDelete?: (ids: string[]) => void;
  failOn?: string;
  goneOn?: string;
  constructor(
    private readonly messages: Array<{ id: string; raw: string }>,
    identity = 'fake://box',
  ) {
    this.identity = identity;
  }
  async open() {
    this.ops.push('open');
  }
  async list(): Promise<MailboxMessage[]> {
    return this.messages.map((m) => ({ id: m.id, source: m.id, size: m.raw.length }));
  }
  async fetch(id: string) {
    this.ops.push(`fetch ${id}`);
    if (id === this.failOn) throw new MailcampError('TRANSPORT', 'connection lost', { host: 'fake:1' });
    if (id === this.goneOn) throw new MessageGone(`message ${id} is no longer in the mailbox`);
    return Readable.from([Buffer.from(this.messages.find((m) => m.id === id)!.raw)]);
  }
  async delete(ids: string[]) {
    this.onDelete?.(ids);
    this.ops.push(`delete ${ids.join(',')}`);
    this.deleted.push(...ids);
  }
  async move(ids: string[], folder: string) {
    this.ops.push(`move ${ids.join(',')} ${folder}`);
  }
  async close() {
    this.ops.push('close');
  }
  abort() {
    this.ops.push('abort');
  }
}

function project(yaml = 'url: dir:unused\nafter: delete\n'): { dir: string; state: string } {
  const dir = writeFiles(tmpDir('mailcamp-bounces-pipe-'), { 'mailbox.yaml': yaml });
  fs.mkdirSync(path.join(dir, '.mailcamp'));
  return { dir, state: path.join(dir, '.mailcamp') };
}

test('deletes only at the end, after every lesson is on disk; unknown mail is never deleted', async () => {
  const { dir, state } = project();
  const box = new FakeMailbox([
    { id: '1', raw: bounce('a', 'gone@example.net') },
    { id: '2', raw: ORDINARY },
    { id: '3', raw: bounce('b', 'gone2@example.net') },
  ]);
  box.onDelete = (ids) => {
    // A second connection sees what the run has committed so far.
    const p = openProcessed(state);
    const s = openSuppression(state);
    try {
      for (const id of ids) assert.ok(p.get('fake://box', id), `message ${id} recorded before it is deleted`);
      assert.ok(s.has('gone@example.net') && s.has('gone2@example.net'));
    } finally {
      p.close();
      s.close();
    }
  };
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.deepEqual(box.ops, ['open', 'fetch 1', 'fetch 2', 'fetch 3', 'delete 1,3', 'close']);
  assert.equal(s.counts.hard, 2);
  assert.equal(s.counts.unknown, 1);
  assert.equal(s.deleted, 2);
});

test('a connection lost half-way: nothing deleted, what was read stays recorded, the session is dropped', async () => {
  const { dir, state } = project();
  const box = new FakeMailbox([
    { id: '1', raw: bounce('a', 'gone@example.net') },
    { id: '2', raw: bounce('b', 'gone2@example.net') },
    { id: '3', raw: bounce('c', 'gone3@example.net') },
  ]);
  box.failOn = '3';
  await assert.rejects(runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box }), /connection lost/);
  assert.deepEqual(box.deleted, []);
  assert.equal(box.ops.at(-1), 'abort', 'no QUIT: a POP3 server would delete nothing');
  const p = openProcessed(state);
  try {
    assert.ok(p.get('fake://box', '1') && p.get('fake://box', '2'));
    assert.equal(p.get('fake://box', '3'), undefined);
  } finally {
    p.close();
  }
  // The next run reads only message 3, and deletes all three.
  box.failOn = undefined;
  const again = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.equal(again.read, 1);
  assert.equal(again.seenBefore, 2);
  assert.deepEqual(box.deleted.sort(), ['1', '2', '3']);
});

test('soft bounces count toward soft_bounce_limit; the limit-th one suppresses', async () => {
  const { dir, state } = project('url: dir:unused\nsoft_bounce_limit: 2\n');
  const full = (id: string) => bounce(id, 'full@example.net', '4.2.2', '452 4.2.2 Mailbox full');
  const box1 = new FakeMailbox([{ id: '1', raw: full('s1') }]);
  await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box1 });
  let list = openSuppression(state);
  assert.equal(list.has('full@example.net'), false);
  assert.equal(list.softBounces('full@example.net'), 1);
  list.close();
  const box2 = new FakeMailbox([
    { id: '1', raw: full('s1') },
    { id: '2', raw: full('s2') },
  ]);
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box2 });
  assert.equal(s.read, 1, 'message 1 is not counted again');
  assert.equal(s.suppressed, 1);
  list = openSuppression(state);
  const e = list.get('full@example.net')!;
  list.close();
  assert.equal(e.kind, 'soft');
  assert.match(e.reason, /^2 soft bounces; last: 4\.2\.2 452 4\.2\.2 Mailbox full/);
  assert.match(e.source ?? '', /<bounce-s2@mx\.example\.net> in fake:\/\/box/);
});

test('the same message in another mailbox (same Message-ID) is a duplicate and teaches nothing twice', async () => {
  const { dir, state } = project('url: dir:unused\n');
  const raw = bounce('dup', 'full@example.net', '4.2.2', '452 4.2.2 Mailbox full');
  await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id: '7', raw }], 'fake://one') });
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id: '9', raw }], 'fake://two') });
  assert.equal(s.duplicates, 1);
  assert.equal(s.counts.soft, 0);
  const list = openSuppression(state);
  assert.equal(list.softBounces('full@example.net'), 1);
  list.close();
});

test('a report without a Message-ID read again under a new UID or from another mailbox is a duplicate: one soft bounce counts once', async () => {
  const { dir, state } = project('url: dir:unused\nsoft_bounce_limit: 2\n');
  const raw = bounce('x', 'full@example.net', '4.2.2', '452 4.2.2 Mailbox full').replace(/^Message-ID:.*\r?\n/im, '');
  assert.doesNotMatch(raw.slice(0, raw.search(/\r?\n\r?\n/)), /^Message-ID:/im, 'no Message-ID of its own');
  for (const [id, box] of [['1', 'fake://one'], ['2', 'fake://one'], ['1', 'fake://two']]) {
    await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id, raw }], box) });
  }
  const list = openSuppression(state);
  assert.equal(list.softBounces('full@example.net'), 1);
  assert.equal(list.has('full@example.net'), false);
  list.close();
});

test('a different report that reuses a Message-ID is learned from, not taken for a copy (nor deleted unread)', async () => {
  const { dir, state } = project('url: dir:unused\nafter: delete\n');
  const first = bounce('same', 'first@example.net');
  const second = bounce('same', 'second@example.net');
  const box = new FakeMailbox([
    { id: '1', raw: first },
    { id: '2', raw: second },
  ]);
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.equal(s.duplicates, 0);
  assert.equal(s.counts.hard, 2);
  const list = openSuppression(state);
  assert.ok(list.has('first@example.net') && list.has('second@example.net'));
  list.close();
});

test('records of the first format (Message-ID, no fingerprint) still make a copy a duplicate', async () => {
  const { dir, state } = project('url: dir:unused\n');
  const raw = bounce('old', 'full@example.net', '4.2.2', '452 4.2.2 Mailbox full');
  const db = new Database(path.join(state, 'suppression-processed'));
  db.exec('CREATE TABLE processed (mailbox TEXT NOT NULL, id TEXT NOT NULL, message_id TEXT, kind TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (mailbox, id)) WITHOUT ROWID; PRAGMA user_version = 1');
  db.prepare('INSERT INTO processed VALUES (?, ?, ?, ?, ?)').run('fake://old', '3', '<bounce-old@mx.example.net>', 'soft', 1);
  db.close();
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id: '9', raw }], 'fake://new') });
  assert.equal(s.duplicates, 1);
});

test('a message another client expunged after the listing is skipped as gone; the run goes on and finishes', async () => {
  const { dir, state } = project('url: dir:unused\nafter: delete\n');
  const box = new FakeMailbox([
    { id: '1', raw: bounce('g1', 'one@example.net') },
    { id: '2', raw: bounce('g2', 'two@example.net') },
    { id: '3', raw: bounce('g3', 'three@example.net') },
  ]);
  box.goneOn = '2';
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.deepEqual([s.read, s.vanished, s.counts.hard], [2, 1, 2]);
  assert.deepEqual(box.deleted, ['1', '3']);
  const list = openSuppression(state);
  assert.ok(list.has('one@example.net') && list.has('three@example.net'));
  list.close();
});

test('--dry-run classifies but creates, records and deletes nothing', async () => {
  const dir = writeFiles(tmpDir('mailcamp-bounces-dry-'), { 'mailbox.yaml': 'url: dir:unused\nafter: delete\n' });
  const box = new FakeMailbox([{ id: '1', raw: bounce('a', 'gone@example.net') }]);
  const seen: string[] = [];
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, dryRun: true, mailbox: () => box, onMessage: (m) => seen.push(m.kind) });
  assert.deepEqual(seen, ['hard']);
  assert.equal(s.counts.hard, 1);
  assert.deepEqual(box.deleted, []);
  assert.equal(fs.existsSync(path.join(dir, '.mailcamp')), false, 'no state folder created');
});

test('an address already on the list keeps its entry (an unsubscribe stays an unsubscribe)', async () => {
  const { dir, state } = project('url: dir:unused\n');
  const list = openSuppression(state);
  list.add({ address: 'gone@example.net', kind: 'unsubscribe', reason: 'asked by phone' });
  list.close();
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id: '1', raw: bounce('a', 'gone@example.net') }]) });
  assert.equal(s.counts.hard, 1);
  assert.equal(s.suppressed, 0);
  const after = openSuppression(state);
  assert.equal(after.get('gone@example.net')!.kind, 'unsubscribe');
  after.close();
});

test('an interrupt stops between messages; what was read is recorded and still deleted', async () => {
  const { dir } = project();
  const ac = new AbortController();
  const box = new FakeMailbox([
    { id: '1', raw: bounce('a', 'gone@example.net') },
    { id: '2', raw: bounce('b', 'gone2@example.net') },
  ]);
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box, signal: ac.signal, onMessage: () => ac.abort() });
  assert.equal(s.interrupted, true);
  assert.equal(s.read, 1);
  assert.deepEqual(box.deleted, ['1']);
});

test('a copy of a message left for a person (unknown) is left too, not deleted as a duplicate', async () => {
  const { dir } = project();
  const box = new FakeMailbox([
    { id: '1', raw: ORDINARY },
    { id: '2', raw: ORDINARY },
    { id: '3', raw: bounce('a', 'gone@example.net') },
    { id: '4', raw: bounce('a', 'gone@example.net') },
  ]);
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.deepEqual(box.deleted.sort(), ['3', '4'], 'the bounce and its copy go, both copies of the person’s mail stay');
  assert.deepEqual([s.counts.unknown, s.counts.hard, s.duplicates], [2, 1, 1]);
  // And on the next run too.
  const again = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.equal(again.seenBefore, 4);
  assert.deepEqual(box.deleted.sort(), ['3', '3', '4', '4']);
});

test('a soft bounce whose record was lost (the run died in between) is not counted twice', async () => {
  const { dir, state } = project('url: dir:unused\nsoft_bounce_limit: 3\n');
  const raw = bounce('once', 'full@example.net', '4.2.2', '452 4.2.2 Mailbox full');
  await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id: '1', raw }]) });
  // What a crash between the two writes leaves: the count, but no record of the message.
  const db = new Database(path.join(state, 'suppression-processed'));
  db.prepare('DELETE FROM processed').run();
  db.close();
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => new FakeMailbox([{ id: '1', raw }]) });
  assert.equal(s.read, 1);
  const list = openSuppression(state);
  assert.equal(list.softBounces('full@example.net'), 1);
  list.close();
});

/** An RFC 5965 feedback report; `rcpt` undefined: the complainer redacted, as many feedback loops do. */
function arf(id: string, o: { rcpt?: string; type?: string; original: string }): string {
  const b = `arf-${id}`;
  return [
    'From: fbl@isp.example',
    'To: abuse@acme.example',
    'Subject: complaint about message',
    `Message-ID: <arf-${id}@isp.example>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=feedback-report; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    `--${b}`,
    'Content-Type: message/feedback-report',
    '',
    `Feedback-Type: ${o.type ?? 'abuse'}`,
    'User-Agent: FBL/1.0',
    'Version: 1',
    ...(o.rcpt ? [`Original-Rcpt-To: ${o.rcpt}`] : []),
    '',
    `--${b}`,
    'Content-Type: text/rfc822-headers',
    '',
    o.original.slice(0, o.original.indexOf('\n\n')),
    '',
    `--${b}--`,
    '',
  ].join('\n');
}

test('a complaint or report that names nobody: mapped through the returned X-Mailcamp-Recipient, else left in the mailbox (unknown)', async () => {
  const { dir, state } = project();
  const j = openJournal(path.join(state, 'news'));
  j.startRun('r1', 'outbox');
  j.addPending({ key: 'zoe@example.com', row: 2, email: 'zoe@example.com', messageId: '<m@acme.example>' });
  j.close();
  const ours = `From: news@acme.example\nTo: redacted@isp.example\nSubject: hi\nMessage-ID: <z@acme.example>\nX-Mailcamp-Campaign: news\nX-Mailcamp-Recipient: ${recipientToken(tokenKey(state, { create: true }), 'news', 'zoe@example.com')}\n\nhello\n`;
  const noFinal = bounce('nf', 'x@example.net').replace(/^Final-Recipient:.*\n/im, '').replace(/^Original-Recipient:.*\n/im, '');
  assert.doesNotMatch(noFinal, /Final-Recipient/i);
  const box = new FakeMailbox([
    { id: '1', raw: arf('a', { original: ours }) },
    { id: '2', raw: arf('b', { original: ORIGINAL.replace('To: x@example.net', 'To: undisclosed-recipients:;') }) },
    { id: '3', raw: noFinal.replace(/<x@example\.net>: 550 5\.1\.1 User unknown/, 'something went wrong') },
    { id: '4', raw: arf('c', { rcpt: 'kim@example.com', type: 'not-spam', original: ORIGINAL }) },
    { id: '5', raw: arf('d', { rcpt: 'lee@example.com', type: 'auth-failure', original: ORIGINAL }) },
    { id: '6', raw: arf('e', { rcpt: 'max@example.com', type: 'virus', original: ORIGINAL }) },
  ]);
  const seen: Array<[string, string, string[]]> = [];
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box, onMessage: (m) => seen.push([m.source, m.kind, m.suppressed]) });
  assert.deepEqual(seen, [
    ['1', 'complaint', ['zoe@example.com']],
    ['2', 'unknown', []],
    ['3', 'unknown', []],
    ['4', 'unknown', []],
    ['5', 'unknown', []],
    ['6', 'unknown', []],
  ]);
  assert.deepEqual(box.deleted, ['1'], 'only the message that taught something is deleted');
  assert.equal(s.deleted, 1);
  const list = openSuppression(state);
  try {
    assert.ok(list.has('zoe@example.com'));
    assert.ok(!list.has('kim@example.com'), 'not-spam is not a complaint');
    assert.ok(!list.has('lee@example.com') && !list.has('max@example.com'), 'auth-failure (RFC 6591) and virus reports are not the recipient complaining');
  } finally {
    list.close();
  }
});

test('a subject with control characters stays one line in the suppression list', async () => {
  const { dir, state } = project('url: dir:unused\nafter: keep\n');
  const subject = `=?UTF-8?B?${Buffer.from('unsubscribe\nfake@injected.example\tmanual: by hand\x1b]0;title\x07').toString('base64')}?=`;
  const box = new FakeMailbox([{ id: '1', raw: `From: u@b.example\nTo: news@acme.example\nSubject: ${subject}\nMessage-ID: <u@b.example>\n\nplease\n` }]);
  const seen: string[][] = [];
  await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box, onMessage: (m) => seen.push(m.suppressed) });
  assert.deepEqual(seen, [['u@b.example']]);
  const list = openSuppression(state);
  try {
    const [entry] = [...list.list()];
    assert.match(entry.reason, /^asked to unsubscribe by mail \("unsubscribe fake@injected\.example manual: by hand ]0;title "\)$/);
  } finally {
    list.close();
  }
});

test('an unsubscribe reply from another address than the one mailed (an alias, a forward): the address its In-Reply-To was sent to is suppressed too', async () => {
  const { dir, state } = project('url: dir:unused\n');
  const j = openJournal(path.join(state, 'news'));
  j.startRun('r1', 'outbox');
  j.addPending({ key: 'jdoe@corp.example', row: 2, email: 'jdoe@corp.example', messageId: '<sent-to-jdoe.20261122@acme.example>' });
  j.close();
  const reply = (inReplyTo: string) =>
    `From: John <john.doe@corp.example>\nTo: news@acme.example\nSubject: Re: Hi John\nIn-Reply-To: ${inReplyTo}\nReferences: ${inReplyTo}\nMessage-ID: <r-${inReplyTo.length}@corp.example>\n\nUnsubscribe\n\n> Hi John\n`;
  const seen: string[][] = [];
  await runBounces({
    file: 'mailbox.yaml',
    cwd: dir,
    mailbox: () => new FakeMailbox([{ id: '1', raw: reply('<sent-to-jdoe.20261122@acme.example>') }, { id: '2', raw: reply('<someone-else@other.example>') }]),
    onMessage: (m) => seen.push(m.suppressed),
  });
  assert.deepEqual(seen, [['john.doe@corp.example', 'jdoe@corp.example'], []]);
});

test('a report whose recipient is not an address (a NUL in it) suppresses nobody and stays for a person', async () => {
  const { dir, state } = project('url: dir:unused\nafter: delete\n');
  const raw = bounce('nul', 'm4@exa\0mple.com');
  const box = new FakeMailbox([{ id: '1', raw }]);
  const seen: Array<[string, string[]]> = [];
  await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box, onMessage: (m) => seen.push([m.kind, m.suppressed]) });
  assert.deepEqual(seen, [['unknown', []]]);
  assert.deepEqual(box.deleted, []);
  const list = openSuppression(state);
  assert.equal(list.count(), 0);
  list.close();
});

test('two reports without a Message-ID or Date of their own, about two different messages to one address, count twice', async () => {
  const { dir, state } = project('url: dir:unused\nsoft_bounce_limit: 5\n');
  const strip = (raw: string) => {
    const i = raw.search(/\r?\n\r?\n/);
    return raw.slice(0, i).split(/\r?\n/).filter((l) => !/^(Message-ID|Date):/i.test(l)).join('\n') + raw.slice(i);
  };
  const about = (id: string) => strip(dsn({ id: 'same', sentTo: 'news@acme.example', finalRecipient: 'full@example.net', status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full', original: ORIGINAL.replace('<orig@acme.example>', `<${id}@acme.example>`) }));
  const box = new FakeMailbox([
    { id: '1', raw: about('first') },
    { id: '2', raw: about('second') },
    { id: '3', raw: about('first') }, // a copy of the first
  ]);
  const s = await runBounces({ file: 'mailbox.yaml', cwd: dir, mailbox: () => box });
  assert.deepEqual([s.counts.soft, s.duplicates], [2, 1]);
  const list = openSuppression(state);
  assert.equal(list.softBounces('full@example.net'), 2);
  list.close();
});
