// Issue 2 acceptance: the example campaigns delivered to a real in-process smtp-server,
// over STARTTLS with AUTH (self-signed certificate trusted by the test) and over plaintext
// loopback, every received message parsed back with mailparser.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { makeCert } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { copyExample } from '../helpers/examples.js';
import { parse, startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir } from '../helpers/tmp.js';

const USER = 'news@acme.example';
const PASS = 'p4ss-w0rd-S3CRET';

describe('example campaigns over SMTP', () => {
  let tlsServer: TestSmtpServer;
  let plainServer: TestSmtpServer;
  let caFile: string;
  before(async () => {
    const cert = makeCert();
    caFile = path.join(tmpDir(), 'ca.pem');
    fs.writeFileSync(caFile, cert.ca);
    tlsServer = await startSmtpServer({ auth: { user: USER, pass: PASS }, tls: cert });
    plainServer = await startSmtpServer({ starttls: false });
  });
  after(async () => {
    await tlsServer.close();
    await plainServer.close();
  });

  test('newsletter over STARTTLS + AUTH: subjects, Chinese names, text/HTML, cid image, PDF bytes', async () => {
    const { dir, campaign } = copyExample('newsletter');
    const url = `smtp://${encodeURIComponent(USER)}:\${SMTP_PASS}@localhost:${tlsServer.port}?ca=${encodeURIComponent(caFile)}`;
    const r = await runCli(['send', campaign, '--transport', url, '--yes', '--json'], { cwd: dir, env: { SMTP_PASS: PASS } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(PASS) && !r.stderr.includes(PASS), 'password never printed');
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.totals.sent, 5);
    const got = tlsServer.messages.filter((m) => m.envelope.from === USER);
    assert.equal(got.length, 5);
    assert.ok(got.every((m) => m.secure && m.user === USER), 'sent over TLS, authenticated');
    const pdf = fs.readFileSync(path.join(dir, 'files', 'terms.pdf'));
    const logo = fs.readFileSync(path.join(dir, 'templates', 'logo.png'));
    const byAddr = new Map<string, Awaited<ReturnType<typeof parse>>>();
    for (const m of got) byAddr.set(m.envelope.to[0], await parse(m.raw));
    const zhang = byAddr.get('zhang.wei@example.com')!;
    assert.equal(zhang.subject, '张伟, your November update from Acme');
    const to = Array.isArray(zhang.to) ? zhang.to[0] : zhang.to!;
    assert.deepEqual(to.value, [{ address: 'zhang.wei@example.com', name: '张伟' }]);
    assert.match(zhang.text ?? '', /Hello 张伟,/);
    assert.match(zhang.text ?? '', /上海/);
    assert.match(zhang.html || '', /Hello 张伟,/);
    const img = zhang.attachments.find((a) => a.contentType === 'image/png')!;
    assert.ok(img.related && img.content.equals(logo), 'inline logo');
    assert.ok((zhang.html || '').includes(`data:image/png;base64,${logo.toString('base64')}`), 'cid link resolves');
    const att = zhang.attachments.find((a) => a.filename === 'terms.pdf')!;
    assert.ok(att.content.equals(pdf), 'PDF bytes identical');
    assert.equal(byAddr.get('ivan.petrov@example.org')!.subject, 'Иван Петров, your November update from Acme');
    assert.equal(byAddr.get('tom@example.com')!.subject, 'Tom & Jerry, your November update from Acme');
    assert.match(byAddr.get('tom@example.com')!.html || '', /Hello Tom &amp; Jerry,/);
    const yamada = byAddr.get('yamada@example.jp')!;
    const yto = Array.isArray(yamada.to) ? yamada.to[0] : yamada.to!;
    assert.equal(yto.value[0].name, '山田 太郎');
    for (const p of byAddr.values()) {
      assert.ok(p.messageId && p.date, 'Message-ID and Date');
      assert.match(String(p.headerLines.find((h) => h.key === 'list-unsubscribe')?.line), /https:\/\/acme\.example\/unsubscribe\?id=\d+/);
      assert.ok(p.headers.get('x-mailcamp-campaign'));
      assert.ok(!String(p.headers.get('x-mailcamp-recipient')).includes('@'), 'recipient id is opaque');
    }
    const report = JSON.parse(fs.readFileSync(summary.report, 'utf8'));
    assert.equal(report.campaign, 'newsletter');
    assert.ok(!JSON.stringify(report).includes(PASS));
    assert.equal(report.messages.length, 5);
    assert.deepEqual(report.messages.map((m: { row: number }) => m.row), [2, 3, 4, 5, 6]);
  });

  test('invoices (GBK CSV, per-recipient PDF) over plaintext loopback', async () => {
    const { dir, campaign } = copyExample('invoices');
    const r = await runCli(['send', campaign, '--transport', `smtp+plain://127.0.0.1:${plainServer.port}`, '--yes'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const got = plainServer.messages.filter((m) => m.envelope.from === 'billing@acme.example');
    assert.equal(got.length, 3);
    for (const m of got) {
      const p = await parse(m.raw);
      const to = Array.isArray(p.to) ? p.to[0] : p.to!;
      const inv = /INV-\d+/.exec(p.subject ?? '')![0];
      const att = p.attachments.find((a) => a.contentType === 'application/pdf')!;
      assert.equal(att.filename, `发票 ${inv}.pdf`);
      assert.ok(att.content.equals(fs.readFileSync(path.join(dir, 'files', 'invoices', `${inv}.pdf`))));
      assert.ok(['张伟', '李娜', '王芳'].includes(to.value[0].name), to.value[0].name);
      assert.match(p.text ?? '', new RegExp(`${to.value[0].name}，您好`));
    }
    // The CSV really is GBK (as Excel exports it), not UTF-8.
    const bytes = fs.readFileSync(path.join(dir, 'lists', 'customers.csv'));
    assert.ok(iconv.decode(bytes, 'gbk').includes('张伟') && !bytes.toString('utf8').includes('张伟'));
  });

  test('team-notice: one message per group to all its members', async () => {
    const { dir, campaign } = copyExample('team-notice');
    const r = await runCli(['send', campaign, '--transport', `smtp+plain://127.0.0.1:${plainServer.port}`, '--yes'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const got = plainServer.messages.filter((m) => m.envelope.from === 'it@acme.example');
    assert.equal(got.length, 3);
    const platform = got.find((m) => m.envelope.to.includes('ana@acme.example'))!;
    assert.deepEqual(platform.envelope.to.sort(), ['ana@acme.example', 'ben@acme.example']);
    const p = await parse(platform.raw);
    assert.equal(p.subject, '[platform] Maintenance window on Saturday 5 December 2026, 22:00–02:00 CET');
    assert.match(p.html || '', /Ana Souza \(SRE\)[\s\S]*Ben Okafor \(Engineer\)/);
    const data = await parse(got.find((m) => m.envelope.to.includes('dora@acme.example'))!.raw);
    const to = Array.isArray(data.to) ? data.to[0] : data.to!;
    assert.deepEqual(to.value.map((v) => v.name).sort(), ['Dora Müller', '陈杰']);
  });
});

describe('SMTP faults (issue 2 acceptance 5)', () => {
  test('451 on the first attempt is retried; 550 is failed once; the rest sent; exit 1', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 't.hbs'), '<p>Hi {{name}}</p>');
    fs.writeFileSync(path.join(dir, 'r.csv'), 'email,name\na@example.com,A\nslow@example.com,S\nbad@example.com,B\nc@example.com,C\n');
    fs.writeFileSync(
      path.join(dir, 'c.yaml'),
      'name: faults\nfrom: me@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\nretry: { attempts: 3, initial_delay: 50ms, max_delay: 200ms }\nconcurrency: 2\n',
    );
    const server = await startSmtpServer({
      starttls: false,
      script: (ctx) => {
        if (ctx.phase === 'rcpt' && ctx.address === 'slow@example.com' && ctx.attempt === 1) return { code: 451, message: '4.3.0 try again later' };
        if (ctx.phase === 'rcpt' && ctx.address === 'bad@example.com') return { code: 550, message: '5.1.1 no such user' };
        return undefined;
      },
    });
    try {
      const r = await runCli(['send', path.join(dir, 'c.yaml'), '--transport', `smtp://127.0.0.1:${server.port}`, '--yes', '--json'], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(server.deliveries('slow@example.com'), 1);
      assert.equal(server.deliveries('bad@example.com'), 0);
      assert.equal(server.deliveries('a@example.com'), 1);
      assert.equal(server.deliveries('c@example.com'), 1);
      const s = JSON.parse(r.stdout);
      assert.deepEqual([s.totals.sent, s.totals.failed, s.totals.deferred], [3, 1, 0]);
      const report = JSON.parse(fs.readFileSync(s.report, 'utf8'));
      const bad = report.messages.find((m: { email: string }) => m.email === 'bad@example.com');
      assert.equal(bad.status, 'failed');
      assert.equal(bad.attempts, 1);
      assert.match(bad.response, /550/);
      const slow = report.messages.find((m: { email: string }) => m.email === 'slow@example.com');
      assert.equal(slow.status, 'sent');
      assert.equal(slow.attempts, 2);
    } finally {
      await server.close();
    }
  });
});
