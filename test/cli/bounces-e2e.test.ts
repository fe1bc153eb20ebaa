// Issue 5 acceptance 3, end to end: a campaign is sent to an in-process SMTP server that
// accepts every recipient; two of them "bounce later": a delivery status notification
// (RFC 3464) is generated for each from the message the server received, and delivered into
// a real Dovecot mailbox. `mailcamp bounces` reads it over IMAPS, and `send --restart`
// skips those two with the reason in the report, while the others are sent again.
//
// One report names the address we mailed; the other names only the address the mail was
// forwarded to, so the recipient is found through the X-Mailcamp-Recipient token of the
// returned headers and the campaign's journal.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { type Dovecot, dovecotMissing, startDovecot } from '../helpers/dovecot.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';
import { dsn } from '../receive/make-dsn.js';

const skip = dovecotMissing();

describe('bounces → suppression → send --restart', { skip, timeout: 120_000 }, () => {
  let d: Dovecot;
  let smtp: TestSmtpServer;
  before(async () => {
    d = await startDovecot({ users: ['news-bounces@acme.example'] });
    smtp = await startSmtpServer({ starttls: false });
  });
  after(async () => {
    await smtp?.close();
    await d?.stop();
  });

  test('the two bounced recipients are skipped with the reason in the report', async () => {
    const dir = writeFiles(tmpDir('mailcamp-e2e-bounces-'), {
      'campaign.yaml': [
        'name: winter-news',
        'from: "Acme News <news@acme.example>"',
        'subject: "{{name}}, winter news"',
        'template: news.hbs',
        'recipients: list.csv',
        `transport: smtp+plain://127.0.0.1:${smtp.port}`,
      ].join('\n'),
      'news.hbs': '<p>Hello {{name}}, here is the winter news.</p>\n',
      'list.csv': 'email,name\nalice@example.net,Alice\nbob@example.net,Bob\ncarol@example.net,Carol\ndave@example.net,Dave\n',
      'mailbox.yaml': [
        `url: imaps://${encodeURIComponent(d.user)}:\${MAILBOX_PASS}@127.0.0.1:${d.ports.imaps}/INBOX`,
        'after: move:Processed',
        'ca: ca.pem',
      ].join('\n'),
      'ca.pem': d.ca,
    });
    fs.mkdirSync(path.join(dir, '.mailcamp'));

    const first = await runCli(['send', 'campaign.yaml', '--yes', '--json'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).totals.sent, 4);
    assert.equal(smtp.messages.length, 4, 'the server accepted all four');

    const sentTo = (addr: string) => smtp.messages.find((m) => m.envelope.to[0] === addr)!.raw;
    d.deliver(
      dsn({ id: 'bob', sentTo: 'news@acme.example', finalRecipient: 'bob.b@forward.example', status: '5.1.1', diagnostic: '550 5.1.1 <bob.b@forward.example>: Recipient address rejected: User unknown', original: sentTo('bob@example.net'), headersOnly: true }),
    );
    d.deliver(
      dsn({ id: 'dave', sentTo: 'news@acme.example', finalRecipient: 'dave@example.net', status: '5.1.1', diagnostic: '550 5.1.1 <dave@example.net>: Recipient address rejected: User unknown in virtual mailbox table', original: sentTo('dave@example.net') }),
    );

    const b = await runCli(['bounces', 'mailbox.yaml', '--json'], { cwd: dir, env: { MAILBOX_PASS: d.pass } });
    assert.equal(b.code, 0, b.stderr + d.log());
    const rows = b.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.kind, r.recipients, r.status, r.campaign]), [
      ['hard', ['bob@example.net'], '5.1.1', 'winter-news'],
      ['hard', ['dave@example.net'], '5.1.1', 'winter-news'],
    ]);
    assert.match(b.stderr, /2 addresses added to the suppression list/);
    assert.equal(d.messages().length, 0, 'both reports moved out of INBOX');
    assert.equal(d.messages({ folder: 'Processed' }).length, 2);

    const before = smtp.messages.length;
    const again = await runCli(['send', 'campaign.yaml', '--restart', '--yes', '--json'], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout);
    assert.equal(summary.totals.sent, 2);
    assert.equal(summary.totals.skipped, 2);
    const resent = smtp.messages.slice(before).map((m) => m.envelope.to[0]).sort();
    assert.deepEqual(resent, ['alice@example.net', 'carol@example.net']);
    const report = JSON.parse(fs.readFileSync(summary.report, 'utf8'));
    const skipped = report.messages.filter((m: { status: string }) => m.status === 'skipped');
    assert.deepEqual(skipped.map((m: { email: string }) => m.email).sort(), ['bob@example.net', 'dave@example.net']);
    for (const m of skipped) {
      console.log(`send --restart report: ${m.email} ${m.status}: ${m.response}`);
      assert.match(m.response, /^suppressed: hard: hard bounce: 5\.1\.1 550 5\.1\.1 .*User unknown/, m.email);
    }
    const csv = fs.readFileSync(summary.report.replace(/\.json$/, '.csv'), 'utf8');
    assert.match(csv, /bob@example\.net,skipped,.*suppressed: hard/);
  });
});
