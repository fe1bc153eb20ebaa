// `mailcamp bounces` against a real Dovecot (test/helpers/dovecot.ts) over the four ways a
// provider offers a mailbox: IMAPS, IMAP+STARTTLS, POP3S, POP3+STLS, with a generated
// certificate trusted through the mailbox file's `ca:`. Each case gets its own mailbox
// (a Dovecot user), delivers the same six fixture messages (a hard bounce for two
// addresses, a soft one, a delayed one, an auto-reply, an unsubscribe reply, an ordinary
// mail), runs the CLI in-process, and checks the summary, the suppression list and what is
// left on the server for its `after:` mode; a second run must not count anything twice.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { type Dovecot, dovecotMissing, startDovecot } from '../helpers/dovecot.js';
import { makeUntrustedCert } from '../helpers/certs.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';
import { openSuppression } from '../../src/state/suppression.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bounces');
const MESSAGES = [
  'lhost-postfix-02.eml', // hard: filtered@example.co.jp, userunknown@example.co.jp
  'lhost-qmail-08.eml', // soft: shironeko@example.ad.jp (disk quota exceeded)
  'rfc3464-09.eml', // delayed
  'rfc3834-01.eml', // auto-reply
  'mailcamp/unsubscribe-01-reply.eml', // unsubscribe: tom@home.example
  'mailcamp/ordinary-03-colleague.eml', // unknown: stays
];
const UNKNOWN_SUBJECT = 'Delivery report for November?';
const CASES = ['imaps-keep', 'imap-move', 'imaps-delete', 'pop3s-delete', 'pop3-keep', 'tls', 'auth'];

const skip = dovecotMissing();

describe('bounces over IMAP and POP3 against Dovecot', { skip, timeout: 120_000 }, () => {
  let d: Dovecot;
  before(async () => {
    d = await startDovecot({ users: CASES.map((c) => `${c}@acme.example`) });
  });
  after(async () => {
    await d?.stop();
  });

  /** A project folder with a mailbox file for one case's user; returns its path. */
  function project(name: string, scheme: string, port: number, afterMode: string, extra = ''): string {
    const dir = tmpDir(`mailcamp-dovecot-${name}-`);
    fs.mkdirSync(path.join(dir, '.mailcamp'));
    const folder = scheme.startsWith('imap') ? '/INBOX' : '';
    writeFiles(dir, {
      'ca.pem': d.ca,
      'mailbox.yaml': [
        `url: ${scheme}://${encodeURIComponent(`${name}@acme.example`)}:\${MAILBOX_PASS}@127.0.0.1:${port}${folder}`,
        `after: ${afterMode}`,
        'ca: ca.pem',
        'unsubscribe_mailto: unsubscribe@acme.example',
        extra,
      ].join('\n'),
    });
    return dir;
  }

  function deliverAll(user: string): void {
    for (const f of MESSAGES) d.deliver(fs.readFileSync(path.join(fixtures, f)), { user });
  }

  /** Subject lines of the messages left in a user's folder. */
  function subjects(user: string, folder?: string): string[] {
    const base = path.join(path.dirname(d.caFile), 'home', user, 'Maildir', folder ? `.${folder}` : '');
    return d
      .messages({ user, folder })
      .map((name) => {
        const file = ['cur', 'new'].map((s) => path.join(base, s, name)).find((p) => fs.existsSync(p))!;
        return /^Subject: (.*)$/m.exec(fs.readFileSync(file, 'latin1'))?.[1] ?? '';
      })
      .sort();
  }

  async function bounces(dir: string, ...flags: string[]) {
    return runCli(['bounces', 'mailbox.yaml', ...flags], { cwd: dir, env: { MAILBOX_PASS: d.pass } });
  }

  function checkFirstRun(r: { code: number; stdout: string; stderr: string }): void {
    assert.equal(r.code, 0, r.stderr + d.log());
    assert.match(r.stdout, /read 6 of 6 messages/);
    assert.match(r.stdout, /bounces: hard 1, soft 1, delayed 1/);
    assert.match(r.stdout, /unsubscribes 1, complaints 0, auto-replies 1/);
    assert.match(r.stdout, /unrecognised 1 \(kept in the mailbox\)/);
    assert.match(r.stdout, /3 addresses added to the suppression list/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(d.pass.replace(/[!]/g, '\\!')), 'the password is never printed');
  }

  function checkSuppression(dir: string): void {
    const list = openSuppression(path.join(dir, '.mailcamp'));
    try {
      assert.deepEqual(
        [...list.list()].map((e) => [e.address, e.kind]),
        [
          ['filtered@example.co.jp', 'hard'],
          ['tom@home.example', 'unsubscribe'],
          ['userunknown@example.co.jp', 'hard'],
        ],
      );
      assert.equal(list.softBounces('shironeko@example.ad.jp'), 1, 'one soft bounce counted, not yet suppressed');
    } finally {
      list.close();
    }
  }

  test('IMAPS, after: keep — everything stays, and a second run counts nothing twice', async () => {
    const user = 'imaps-keep@acme.example';
    deliverAll(user);
    const dir = project('imaps-keep', 'imaps', d.ports.imaps, 'keep');
    checkFirstRun(await bounces(dir));
    checkSuppression(dir);
    assert.equal(d.messages({ user }).length, 6, 'after: keep leaves all six');

    const again = await bounces(dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /read 0 of 6 messages \(6 processed before\)/);
    assert.match(again.stdout, /0 addresses added/);
    checkSuppression(dir); // the soft bounce still counts once

    const list = await runCli(['suppress', 'list', '--for', 'mailbox.yaml'], { cwd: dir });
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^filtered@example\.co\.jp\thard: hard bounce: 5\.2\.1 .*User Unknown\t\d{4}-\d\d-\d\dT/);
    assert.match(lines[1], /^tom@home\.example\tunsubscribe: /);
  });

  test('IMAP with STARTTLS, after: move:Processed — recognised mail moved, the ordinary one stays', async () => {
    const user = 'imap-move@acme.example';
    deliverAll(user);
    const dir = project('imap-move', 'imap', d.ports.imap, 'move:Processed');
    const r = await bounces(dir);
    checkFirstRun(r);
    assert.match(r.stdout, /moved 5 messages to Processed/);
    checkSuppression(dir);
    assert.deepEqual(subjects(user), [UNKNOWN_SUBJECT]);
    assert.equal(d.messages({ user, folder: 'Processed' }).length, 5);
    assert.match(d.log(), /imap-login: Info: Login: user=<imap-move@acme\.example>.*TLS/, 'logged in after STARTTLS');
  });

  test('IMAPS, after: delete — recognised mail deleted, the ordinary one stays', async () => {
    const user = 'imaps-delete@acme.example';
    deliverAll(user);
    const dir = project('imaps-delete', 'imaps', d.ports.imaps, 'delete');
    const r = await bounces(dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 6);
    const hard = rows.find((x) => x.kind === 'hard');
    assert.deepEqual(hard.recipients, ['filtered@example.co.jp', 'userunknown@example.co.jp']);
    assert.equal(hard.message_id, '<20140621183516.0A3541FB98@smtp.example.com>');
    assert.match(String(hard.source), /^\d+$/, 'source is the IMAP UID');
    assert.deepEqual(rows.map((x) => x.kind).sort(), ['auto_reply', 'delayed', 'hard', 'soft', 'unknown', 'unsubscribe']);
    assert.match(r.stderr, /deleted 5 messages from the mailbox/, 'the summary goes to stderr with --json');
    assert.deepEqual(subjects(user), [UNKNOWN_SUBJECT]);
    checkSuppression(dir);
  });

  test('POP3S, after: delete — DELE and QUIT remove recognised mail, the ordinary one stays', async () => {
    const user = 'pop3s-delete@acme.example';
    deliverAll(user);
    const dir = project('pop3s-delete', 'pop3s', d.ports.pop3s, 'delete');
    const r = await bounces(dir);
    checkFirstRun(r);
    assert.match(r.stdout, /deleted 5 messages/);
    assert.deepEqual(subjects(user), [UNKNOWN_SUBJECT]);
    checkSuppression(dir);
    const again = await bounces(dir);
    assert.match(again.stdout, /read 0 of 1 message \(1 processed before\)/);
  });

  test('POP3 with STLS, after: keep — everything stays; UIDLs are remembered', async () => {
    const user = 'pop3-keep@acme.example';
    deliverAll(user);
    const dir = project('pop3-keep', 'pop3', d.ports.pop3, 'keep');
    checkFirstRun(await bounces(dir));
    assert.equal(d.messages({ user }).length, 6);
    checkSuppression(dir);
    const again = await bounces(dir);
    assert.match(again.stdout, /read 0 of 6 messages \(6 processed before\)/);
    assert.match(d.log(), /pop3-login: Info: Login: user=<pop3-keep@acme\.example>.*TLS/, 'logged in after STLS');
  });

  test('an untrusted certificate is refused on every protocol: exit 3, nothing read', async () => {
    const user = 'tls@acme.example';
    d.deliver(fs.readFileSync(path.join(fixtures, 'lhost-postfix-02.eml')), { user });
    for (const [scheme, port] of [
      ['imaps', d.ports.imaps],
      ['imap', d.ports.imap],
      ['pop3s', d.ports.pop3s],
      ['pop3', d.ports.pop3],
    ] as const) {
      const dir = project('tls', scheme, port, 'delete');
      fs.writeFileSync(path.join(dir, 'ca.pem'), makeUntrustedCert().ca);
      const r = await bounces(dir);
      assert.equal(r.code, 3, `${scheme}: ${r.stdout}${r.stderr}`);
      // The same words for all four: the connection's problem, not the login's.
      assert.match(r.stderr, /^127\.0\.0\.1:\d+: cannot connect: TLS certificate not trusted \(/m, scheme);
      assert.match(r.stderr, /hint: .*ca:/, scheme);
      assert.equal(d.messages({ user }).length, 1, `${scheme}: nothing deleted`);
    }
  });

  test('a wrong password: exit 3 with the server’s answer, and the password never printed', async () => {
    for (const [scheme, port] of [
      ['imaps', d.ports.imaps],
      ['pop3s', d.ports.pop3s],
    ] as const) {
      const dir = project('auth', scheme, port, 'keep');
      const r = await runCli(['bounces', 'mailbox.yaml'], { cwd: dir, env: { MAILBOX_PASS: 'not-the-password' } });
      assert.equal(r.code, 3, `${scheme}: ${r.stderr}`);
      assert.match(r.stderr, /authentication failed/i, scheme);
      assert.doesNotMatch(r.stderr, /not-the-password/, scheme);
    }
  });
});
