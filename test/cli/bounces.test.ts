// `mailcamp bounces`, `inbox` and `suppress` through main(argv) on local folders (`dir:`):
// a folder of .eml files and a Maildir, the summary and JSON lines, --dry-run, a
// campaign's mailbox: section, and the suppression list by hand. (IMAP and POP3 against
// Dovecot are in test/receive/dovecot.test.ts; the whole loop with send is bounces-e2e.)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bounces');

function project(files: Record<string, string>): string {
  const dir = writeFiles(tmpDir('mailcamp-cli-bounces-'), files);
  fs.mkdirSync(path.join(dir, '.mailcamp'));
  return dir;
}

function copy(dir: string, into: string, names: string[]): void {
  fs.mkdirSync(path.join(dir, into), { recursive: true });
  for (const n of names) fs.copyFileSync(path.join(fixtures, n), path.join(dir, into, path.basename(n)));
}

test('a folder of .eml files: summary, JSON lines, nothing counted twice, inbox marks what was processed', async () => {
  const dir = project({ 'mailbox.yaml': 'url: dir:returned\nunsubscribe_mailto: unsubscribe@acme.example\n' });
  copy(dir, 'returned', ['lhost-exim-01.eml', 'lhost-gmail-18.eml', 'rfc3834-03.eml', 'mailcamp/unsubscribe-02-mailto.eml', 'mailcamp/ordinary-02-newsletter.eml']);

  const dry = await runCli(['bounces', 'mailbox.yaml', '--dry-run'], { cwd: dir });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run, nothing recorded/);
  assert.equal(fs.existsSync(path.join(dir, '.mailcamp', 'suppression')), false);

  const r = await runCli(['bounces', 'mailbox.yaml', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((x) => [x.source, x.kind, x.recipients]),
    [
      ['lhost-exim-01.eml', 'soft', ['kijitora@example.ed.jp']],
      ['lhost-gmail-18.eml', 'hard', ['kijitora@example.or.jp']],
      ['ordinary-02-newsletter.eml', 'unknown', []],
      ['rfc3834-03.eml', 'auto_reply', ['kijitora@apple.example.com']],
      ['unsubscribe-02-mailto.eml', 'unsubscribe', ['maria.lopez@webmail.example']],
    ],
  );
  for (const x of rows) assert.deepEqual(Object.keys(x).slice(0, 6), ['source', 'message_id', 'kind', 'recipients', 'status', 'diagnostic']);
  assert.equal(rows[1].status, '5.1.1');
  assert.match(rows[1].diagnostic, /user unknown/i);
  assert.match(r.stderr, /bounces: hard 1, soft 1, delayed 0/);
  assert.match(r.stderr, /unsubscribes 1, complaints 0, auto-replies 1/);
  assert.match(r.stderr, /2 addresses added/);

  const again = await runCli(['bounces', 'mailbox.yaml'], { cwd: dir });
  assert.match(again.stdout, /read 0 of 5 messages \(5 processed before\)/);
  // A copy under another name: its kind is one of issue 5's seven, and it says it is a copy.
  fs.copyFileSync(path.join(dir, 'returned', 'lhost-exim-01.eml'), path.join(dir, 'returned', 'zz-copy.eml'));
  const dupe = await runCli(['bounces', 'mailbox.yaml', '--json'], { cwd: dir });
  const copied = dupe.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(copied.map((x) => [x.source, x.kind, x.duplicate, x.suppressed]), [['zz-copy.eml', 'soft', true, []]]);
  fs.rmSync(path.join(dir, 'returned', 'zz-copy.eml'));

  const inbox = await runCli(['inbox', 'mailbox.yaml'], { cwd: dir });
  assert.equal(inbox.code, 0, inbox.stderr);
  const lines = inbox.stdout.trim().split('\n');
  assert.equal(lines.length, 6);
  // Dates as the machine's clock shows them (TZ).
  const at = new Date(Date.parse('2010-10-01T10:15:00Z'));
  const p2 = (n: number) => String(n).padStart(2, '0');
  const local = `${at.getFullYear()}-${p2(at.getMonth() + 1)}-${p2(at.getDate())} ${p2(at.getHours())}:${p2(at.getMinutes())}`;
  assert.ok(lines[0].startsWith(`* ${local}  `), lines[0]);
  assert.match(lines[0], /^\* \d{4}-\d\d-\d\d \d\d:\d\d {2}mailer-daemon@e1\.example\.org {2}Mail delivery failed: .* {2}soft 5\.7\.0 kijitora@example\.ed\.jp {2}\(lhost-exim-01\.eml\)$/);
  assert.match(lines[2], /^\* .* {2}hello@othershop\.example +Our Black Friday deals are here +\d+B {2}unknown {2}\(ordinary-02-newsletter\.eml\)$/);
  assert.match(lines[5], /5 messages .*\* = processed/);
  // --limit N: the N newest by arrival (a folder's files by their time, not their names).
  const returned = path.join(dir, 'returned');
  for (const [i, f] of fs.readdirSync(returned).filter((n) => n.endsWith('.eml')).sort().entries()) {
    const t = new Date(Date.UTC(2026, 0, 1) + i * 60_000);
    fs.utimesSync(path.join(returned, f), t, t);
  }
  const old = new Date(Date.UTC(2020, 0, 1));
  fs.utimesSync(path.join(returned, 'unsubscribe-02-mailto.eml'), old, old); // last by name, oldest by time
  const json = await runCli(['inbox', 'mailbox.yaml', '--json', '--limit', '2'], { cwd: dir });
  const entries = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(entries.map((e) => [e.source, e.kind, e.processed]), [
    ['ordinary-02-newsletter.eml', 'unknown', true],
    ['rfc3834-03.eml', 'auto_reply', true],
  ]);

  const list = await runCli(['suppress', 'list'], { cwd: dir });
  assert.deepEqual(
    list.stdout.trim().split('\n').map((l) => l.split('\t')[0]),
    ['kijitora@example.or.jp', 'maria.lopez@webmail.example'],
  );
});

test('a Maildir with after: move:Done — recognised mail moves to the .Done folder, the rest stays', async () => {
  const dir = project({ 'mailbox.yaml': 'url: dir:Maildir\nafter: move:Done\n' });
  for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, 'Maildir', d), { recursive: true });
  fs.copyFileSync(path.join(fixtures, 'lhost-qmail-11.eml'), path.join(dir, 'Maildir', 'new', '1700000000.M1P1.host'));
  fs.copyFileSync(path.join(fixtures, 'mailcamp/ordinary-01-question.eml'), path.join(dir, 'Maildir', 'cur', '1700000001.M2P1.host:2,S'));
  const r = await runCli(['bounces', 'mailbox.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1700000000\.M1P1\.host {2}hard 5\.4\.4 {2}neko@nyaan\.jp/);
  assert.match(r.stdout, /moved 1 message to Done/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'Maildir', '.Done', 'cur')), ['1700000000.M1P1.host']);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'Maildir', 'cur')), ['1700000001.M2P1.host:2,S']);
  // A client marks the kept message read: same id (the name up to ':'), still processed.
  fs.renameSync(path.join(dir, 'Maildir', 'cur', '1700000001.M2P1.host:2,S'), path.join(dir, 'Maildir', 'cur', '1700000001.M2P1.host:2,RS'));
  const again = await runCli(['bounces', 'mailbox.yaml'], { cwd: dir });
  assert.match(again.stdout, /read 0 of 1 message \(1 processed before\)/);
});

test("a campaign's mailbox: section shares the campaign's state folder and unsubscribe address", async () => {
  const dir = project({
    'campaigns/news.yaml': [
      'name: news',
      'from: news@acme.example',
      'subject: hi',
      'template: t.hbs',
      'recipients: list.csv',
      'unsubscribe: { mailto: unsubscribe@acme.example }',
      'mailbox: { url: "dir:../returned", after: delete }',
    ].join('\n'),
    'campaigns/t.hbs': '<p>hi {{name}}</p>',
    'campaigns/list.csv': 'email,name\nmaria.lopez@webmail.example,Maria\nok@example.com,Ok\n',
  });
  copy(dir, 'returned', ['mailcamp/unsubscribe-02-mailto.eml']);
  const r = await runCli(['bounces', 'campaigns/news.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /unsubscribes 1/);
  assert.match(r.stdout, /deleted 1 message/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'returned')), []);
  const v = await runCli(['validate', 'campaigns/news.yaml'], { cwd: dir });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /1 message would be sent, 1 skipped/);
});

test('suppress add, list, remove by hand; send skips a suppressed address with the reason', async () => {
  const dir = project({
    'news.yaml': ['name: hand', 'from: news@acme.example', 'subject: hi', 'template: t.hbs', 'recipients: list.csv'].join('\n'),
    't.hbs': '<p>hi</p>',
    'list.csv': 'email\nphone@example.com\nok@example.com\n',
  });
  const add = await runCli(['suppress', 'add', 'Phone@Example.com', 'x@example.org', '--reason', 'asked by phone'], { cwd: dir });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /suppressed 2 addresses/);
  const bad = await runCli(['suppress', 'add', 'not an address'], { cwd: dir });
  assert.equal(bad.code, 2);
  // In words for an argument, not the list's ("the name column", "one address per row").
  const named = await runCli(['suppress', 'add', 'Bob <bob@x.example>', 'a@x.example,b@x.example'], { cwd: dir });
  assert.equal(named.stderr.trim(), "'Bob <bob@x.example>': give the bare address only, like you@example.com; 'a@x.example,b@x.example': give each address as an argument of its own");
  const again = await runCli(['suppress', 'add', 'x@example.org', '--reason', 'asked by phone'], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^x@example\.org was already suppressed \(manual: asked by phone\); that entry is replaced$/m);
  const list = await runCli(['suppress', 'list'], { cwd: dir });
  assert.match(list.stdout, /^phone@example\.com\tmanual: asked by phone\t\d{4}-\d\d-\d\dT[\d:.]+Z$/m);
  const listJson = await runCli(['suppress', 'list', '--json', '--for', 'news.yaml'], { cwd: dir });
  assert.equal(JSON.parse(listJson.stdout.split('\n')[0]).kind, 'manual');

  const send = await runCli(['send', 'news.yaml', '--json'], { cwd: dir });
  assert.equal(send.code, 0, send.stderr);
  const report = JSON.parse(fs.readFileSync(JSON.parse(send.stdout).report, 'utf8'));
  const skipped = report.messages.find((m: { email: string }) => m.email === 'phone@example.com');
  assert.equal(skipped.status, 'skipped');
  assert.match(skipped.response, /suppressed: manual: asked by phone/);

  const rm = await runCli(['suppress', 'remove', 'phone@example.com', 'nobody@example.com'], { cwd: dir });
  assert.equal(rm.code, 1, 'one of them was not on the list');
  assert.match(rm.stdout, /removed phone@example\.com\nnot on the list: nobody@example\.com/);
  const after = await runCli(['suppress', 'list'], { cwd: dir });
  assert.equal(after.stdout.trim(), 'x@example.org\tmanual: asked by phone\t' + after.stdout.trim().split('\t')[2]);
});

test('a broken mailbox file is a usage error naming the place; nothing is read', async () => {
  const dir = project({ 'mailbox.yaml': 'url: pop3s://u:p@pop.example.com\nafter: move:Archive\n' });
  const r = await runCli(['bounces', 'mailbox.yaml'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^mailbox\.yaml:2:8: after: POP3 has no folders to move to; use keep or delete$/m);
  assert.match(r.stderr, /^1 error, 0 warnings; nothing was read or changed$/m);
  const missing = await runCli(['bounces', 'nope.yaml'], { cwd: dir });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml: no such file/);
  fs.writeFileSync(path.join(dir, 'gone.yaml'), 'after: keep\nurl: dir:returned\n');
  const folder = await runCli(['bounces', 'gone.yaml'], { cwd: dir });
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /^gone\.yaml:2:6: url: no such folder: .*returned$/m);
});

test('inbox: columns line up with wide (CJK, emoji) subjects and senders, and dates on the machine\'s clock', async () => {
  const dir = project({
    'mailbox.yaml': 'url: dir:box\n',
    'box/a.eml': 'From: a@example.com\nSubject: plain subject\nDate: Tue, 24 Nov 2026 10:00:00 +0000\nMessage-ID: <a@x>\n\nhi\n',
    'box/b.eml': `From: =?UTF-8?B?${Buffer.from('张伟').toString('base64')}?= <zw@example.com>\nSubject: =?UTF-8?B?${Buffer.from('你好世界'.repeat(6) + ' 🎉').toString('base64')}?=\nDate: Tue, 24 Nov 2026 10:00:00 +0000\nMessage-ID: <b@x>\n\nhi\n`,
    'box/c.eml': 'From: c@example.com\nSubject: no date here\nMessage-ID: <c@x>\n\nhi\n',
  });
  const r = await runCli(['inbox', 'mailbox.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').slice(0, 3);
  const width = (t: string) => [...t].reduce((n, ch) => n + (/[\u4e00-\u9fff\u{1f300}-\u{1faff}]/u.test(ch) ? 2 : 1), 0);
  // The size column ends at the same terminal column on every line.
  const ends = lines.map((l) => width(l.slice(0, l.search(/\d+B {2}/) + l.match(/\d+B {2}/)![0].length)));
  assert.equal(new Set(ends).size, 1, lines.join('\n'));
  assert.match(lines[1], /…/, 'the long subject is cut');
});
