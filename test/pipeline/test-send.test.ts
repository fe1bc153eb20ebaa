// `send --to ADDR` (design.md: a test send renders for the first rows but delivers only to
// ADDR), with the real CLI against an in-process smtp-server: exit 0, one message (or --limit
// of them) to ADDR only, the journal untouched, and the message's X-Mailcamp-Recipient not
// the row's recipient's, so a bounce or unsubscribe of the test copy cannot suppress them.
// A bad ADDR is a usage error before anything is sent.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { address as A, ensureBuilt, makeCampaign } from './delivery-fixture.js';

const header = (raw: Buffer, name: string): string | undefined => new RegExp(`^${name}: (.*)$`, 'im').exec(raw.toString('latin1'))?.[1];

describe('send --to (test send)', () => {
  before(ensureBuilt);

  test('one message to ADDR, exit 0, no journal, and a recipient id of its own', async () => {
    const f = makeCampaign({ n: 3, extra: 'unsubscribe: { url: "https://acme.example/u?e={{email}}" }\n' });
    const server = await startSmtpServer({ starttls: false });
    try {
      const url = `smtp+plain://127.0.0.1:${server.port}`;
      const r = await runCli(['send', f.campaign, '--transport', url, '--yes', '--to', 'Tester@Me.example'], { cwd: f.dir });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /--limit/);
      assert.equal(server.messages.length, 1);
      const test = server.messages[0];
      assert.deepEqual(test.envelope.to, ['Tester@me.example']);
      assert.equal(header(test.raw, 'To'), 'Tester@me.example');
      assert.match(header(test.raw, 'Subject')!, /Person 1/, 'rendered for the first row');
      assert.ok(!fs.existsSync(path.join(f.dir, '.mailcamp', 'faults', 'journal.sqlite')), 'the journal is untouched');

      const two = await runCli(['send', f.campaign, '--transport', url, '--yes', '--to', 'tester@me.example', '--limit', '2'], { cwd: f.dir });
      assert.equal(two.code, 0, two.stderr);
      assert.equal(server.messages.length, 3);
      // The summary and the report are about the two copies sent to ADDR, not about rows 2-3
      // (not mailed) and row 4 (not "not yet sent" either).
      assert.match(two.stdout, /^faults: test send to tester@me\.example: sent 2, failed 0, deferred 0, unknown 0 of 2 test messages$/m);
      const report = JSON.parse(fs.readFileSync(/^report: (.*)$/m.exec(two.stdout)![1], 'utf8'));
      assert.deepEqual(report.totals, { recipients: 2, sent: 2, failed: 0, deferred: 0, skipped: 0, unknown: 0 });
      assert.deepEqual(report.messages.map((m: { row: number; email: string; status: string }) => [m.row, m.email, m.status]), [
        [2, 'tester@me.example', 'sent'],
        [3, 'tester@me.example', 'sent'],
      ]);
      assert.ok(report.finished_at);

      // The real send: row 2's message carries a recipient id the test copy did not.
      const real = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir });
      assert.equal(real.code, 0, real.stderr);
      const first = server.messages.find((m) => m.envelope.to[0] === A(1))!;
      assert.ok(header(first.raw, 'X-Mailcamp-Recipient'));
      assert.notEqual(header(test.raw, 'X-Mailcamp-Recipient'), header(first.raw, 'X-Mailcamp-Recipient'));
      // The test copy shows the row's List-Unsubscribe, but no one-click POST that a provider's
      // button or a link scanner could fire at the real recipient's URL.
      assert.equal(header(test.raw, 'List-Unsubscribe'), `<https://acme.example/u?e=${A(1).replace('@', '%40')}>`);
      assert.equal(header(test.raw, 'List-Unsubscribe-Post'), undefined);
      assert.equal(header(first.raw, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
      // The id is an HMAC under the state folder's secret, which the real send made.
      const { recipientToken, unkeyedRecipientToken } = await import('../../src/compose/headers.js');
      const secret = fs.readFileSync(path.join(f.dir, '.mailcamp', 'recipient-token.key'));
      assert.equal(header(first.raw, 'X-Mailcamp-Recipient'), recipientToken(secret, 'faults', A(1)));
      assert.notEqual(header(first.raw, 'X-Mailcamp-Recipient'), unkeyedRecipientToken('faults', A(1)));
    } finally {
      await server.close();
    }
  });

  test('an ADDR that is not one address is a usage error: exit 2, nothing sent', async () => {
    const f = makeCampaign({ n: 2 });
    for (const bad of ['notanemail', 'a@x.example, b@y.example']) {
      const r = await runCli(['send', f.campaign, '--dry-run', '--to', bad], { cwd: f.dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /--to/);
      assert.ok(!fs.existsSync(path.join(f.dir, 'outbox')), 'nothing written');
    }
    // In words that fit a flag, not the list's ("put one address per row").
    const named = await runCli(['send', f.campaign, '--dry-run', '--to', 'Me <me@x.example>'], { cwd: f.dir });
    assert.equal(named.stderr.trim(), '--to "Me <me@x.example>": give the bare address only, like you@example.com');
    const two = await runCli(['send', f.campaign, '--dry-run', '--to', 'a@x.example;b@x.example'], { cwd: f.dir });
    assert.equal(two.stderr.trim(), '--to "a@x.example;b@x.example": give one address (a test send goes to one)');
  });

  test('to the outbox transport: the test copy is a file of its own, next to the delivered ones', async () => {
    const f = makeCampaign({ n: 2 });
    const sent = await runCli(['send', f.campaign, '--transport', 'outbox:box'], { cwd: f.dir });
    assert.equal(sent.code, 0, sent.stderr);
    const delivered = fs.readdirSync(path.join(f.dir, 'box')).sort();
    assert.equal(delivered.length, 2);
    const before = delivered.map((n) => fs.readFileSync(path.join(f.dir, 'box', n), 'utf8'));
    const test = await runCli(['send', f.campaign, '--transport', 'outbox:box', '--to', 'tester@me.example'], { cwd: f.dir });
    assert.equal(test.code, 0, test.stderr);
    const now = fs.readdirSync(path.join(f.dir, 'box')).sort();
    assert.deepEqual(now, [...delivered, `test-${delivered[0]}`].sort());
    assert.deepEqual(delivered.map((n) => fs.readFileSync(path.join(f.dir, 'box', n), 'utf8')), before, 'the delivered files are untouched');
    assert.match(fs.readFileSync(path.join(f.dir, 'box', `test-${delivered[0]}`), 'utf8'), /^To: tester@me\.example\r$/m);
  });

  test('a test send of a list whose every row is suppressed says why nothing went out', async () => {
    const f = makeCampaign({ n: 2 });
    for (const e of f.emails) assert.equal((await runCli(['suppress', 'add', e, '--state', '.mailcamp'], { cwd: f.dir })).code, 0);
    const r = await runCli(['send', f.campaign, '--to', 'tester@me.example'], { cwd: f.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no test message: the list has no row to render one for \(every row is suppressed or skipped\)/);
  });

  test("a dry run beside the outbox's delivered messages writes dry-run-… files and replaces none of them", async () => {
    const f = makeCampaign({ n: 3 });
    const box = path.join(f.dir, 'outbox', 'faults');
    const one = await runCli(['send', f.campaign, '--limit', '1'], { cwd: f.dir });
    assert.equal(one.code, 0, one.stderr);
    const delivered = fs.readdirSync(box);
    assert.equal(delivered.length, 1);
    const bytes = fs.readFileSync(path.join(box, delivered[0]));
    const dry = await runCli(['send', f.campaign, '--dry-run'], { cwd: f.dir });
    assert.equal(dry.code, 0, dry.stderr);
    const now = fs.readdirSync(box).sort();
    assert.deepEqual(now, [...delivered, ...['000002', '000003', '000004'].map((r, i) => `dry-run-${r}-${A(i + 1)}.eml`)].sort());
    assert.deepEqual(fs.readFileSync(path.join(box, delivered[0])), bytes, 'the delivered message is untouched');
    // Into a folder of its own (--out), the names are the plain ones.
    const out = await runCli(['send', f.campaign, '--dry-run', '--out', 'rehearsal'], { cwd: f.dir });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(fs.readdirSync(path.join(f.dir, 'rehearsal')).filter((n) => /^\d{6}-/.test(n)).length, 3);
  });
});
