// preview, init and dev-server through main(argv, io).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { PACKAGE_ROOT } from '../../src/cli/init.js';
import { runCli } from '../helpers/cli.js';
import { freePort, waitForPort } from '../helpers/net.js';
import { copyExample } from '../helpers/examples.js';
import { tmpDir } from '../helpers/tmp.js';

describe('preview', () => {
  test('renders the first recipient by default, or --row N / --email, to .eml and .html', async () => {
    const { dir, campaign } = copyExample('newsletter');
    const r = await runCli(['preview', campaign, '--out', 'pv'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^line 2: zhang\.wei@example\.com$/m);
    const r2 = await runCli(['preview', campaign, '--row', '4', '--out', 'pv'], { cwd: dir });
    assert.match(r2.stdout, /^subject: José Álvarez, your November update from Acme$/m);
    const eml = path.join(dir, 'pv', 'newsletter-line4.eml');
    const p = await simpleParser(fs.readFileSync(eml));
    assert.equal(p.subject, 'José Álvarez, your November update from Acme');
    const html = fs.readFileSync(path.join(dir, 'pv', 'newsletter-line4.html'), 'utf8');
    assert.match(html, /Hello José Álvarez,/);
    assert.match(html, /src="file:\/\/[^"]*logo\.png"/, 'the browser copy shows the logo from its file');
    const r3 = await runCli(['preview', campaign, '--email', 'TOM@example.com', '--out', 'pv'], { cwd: dir });
    assert.match(r3.stdout, /^line 5: tom@example\.com$/m);
    const r4 = await runCli(['preview', campaign, '--row', '99'], { cwd: dir });
    assert.equal(r4.code, 2);
    assert.match(r4.stderr, /no recipient at line 99/);
    const r5 = await runCli(['preview', campaign, '--row', '1'], { cwd: dir });
    assert.match(r5.stderr, /no recipient at line 1 .*\(line 1 is the header; the first recipient is on line 2\)/);
  });

  test('--email finds an address with an internationalized domain as the list writes it', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'c.yaml'), 'name: p\nfrom: a@example.com\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n');
    fs.writeFileSync(path.join(dir, 't.hbs'), '<p>Hi {{name}}</p>\n');
    fs.writeFileSync(path.join(dir, 'r.csv'), 'email,name\nplain@example.com,P\nuser@例子.中国,IDN\n');
    const r = await runCli(['preview', 'c.yaml', '--email', 'user@例子.中国', '--out', 'pv'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^line 3: /m);
  });
});

describe('init', () => {
  test('scaffolds a project whose campaign validates and sends to the outbox', async () => {
    const dir = tmpDir();
    const r = await runCli(['init', 'proj'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['campaigns/welcome.yaml', 'campaigns/welcome.csv', 'templates/welcome.mjml', 'templates/logo.png', '.mailcamp']) {
      assert.ok(fs.existsSync(path.join(dir, 'proj', f)), f);
    }
    const v = await runCli(['validate', 'proj/campaigns/welcome.yaml'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
    const s = await runCli(['send', 'proj/campaigns/welcome.yaml'], { cwd: dir });
    assert.equal(s.code, 0, s.stderr);
    assert.equal(fs.readdirSync(path.join(dir, 'proj', 'campaigns', 'outbox', 'welcome')).length, 2);
    assert.ok(fs.existsSync(path.join(dir, 'proj', '.mailcamp', 'welcome')), 'state in the project top .mailcamp/');
    // What runs leave, and secrets, stay out of git.
    const ignored = fs.readFileSync(path.join(dir, 'proj', '.gitignore'), 'utf8').split('\n');
    for (const p of ['.env', '.mailcamp/', 'outbox/', 'reports/']) assert.ok(ignored.includes(p), p);
    const again = await runCli(['init', 'proj'], { cwd: dir });
    assert.equal(again.code, 2, 'does not overwrite');
  });

  test('copies only the scaffold, not what running the example in the checkout left beside it; a file in the way is one line, exit 2', async () => {
    const leftover = path.join(PACKAGE_ROOT, 'campaigns', '.mailcamp', `init-test-${process.pid}`);
    fs.mkdirSync(leftover, { recursive: true });
    fs.writeFileSync(path.join(leftover, 'journal.sqlite'), 'not yours');
    try {
      const dir = tmpDir();
      const r = await runCli(['init', 'proj'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const files: string[] = [];
      const walk = (d: string, rel: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk(path.join(d, e.name), `${rel}${e.name}/`) : files.push(rel + e.name));
      };
      walk(path.join(dir, 'proj'), '');
      assert.deepEqual(files.sort(), ['.gitignore', 'campaigns/welcome.csv', 'campaigns/welcome.yaml', 'templates/logo.png', 'templates/welcome.mjml']);
      fs.writeFileSync(path.join(dir, 'afile'), 'x');
      const onFile = await runCli(['init', 'afile'], { cwd: dir });
      assert.equal(onFile.code, 2);
      assert.equal(onFile.stderr.trim().split('\n').length, 1, onFile.stderr);
      assert.match(onFile.stderr, /afile is a file, not a folder/);
    } finally {
      fs.rmSync(leftover, { recursive: true, force: true });
      try {
        fs.rmdirSync(path.join(PACKAGE_ROOT, 'campaigns', '.mailcamp')); // only when this test made it (it is empty)
      } catch {
        /* a real one from running the example: left as it was */
      }
    }
  });
});

describe('dev-server', () => {
  test('captures a message to its folder and prints a line', async () => {
    const dir = tmpDir();
    const port = await freePort();
    const ac = new AbortController();
    const running = runCli(['dev-server', '--port', String(port), '--dir', 'mail'], { cwd: dir, signal: ac.signal });
    await waitForPort(port, { what: 'dev-server' });
    const c = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true });
    await new Promise<void>((res, rej) => {
      c.once('error', rej);
      c.connect(() => res());
    });
    const raw = 'From: a@example.com\r\nTo: b@example.com\r\nSubject: dev test\r\n\r\nhello\r\n';
    await new Promise<void>((res, rej) => c.send({ from: 'a@example.com', to: ['b@example.com'] }, raw, (e) => (e ? rej(e) : res())));
    c.quit();
    ac.abort();
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /a@example\.com → b@example\.com {2}dev test/);
    const files = fs.readdirSync(path.join(dir, 'mail'));
    assert.equal(files.length, 1);
    assert.match(fs.readFileSync(path.join(dir, 'mail', files[0]), 'utf8'), /Subject: dev test/);

    // Started again on the same folder: numbered on, nothing overwritten; the subject decoded in the log.
    const ac2 = new AbortController();
    const again = runCli(['dev-server', '--port', String(port), '--dir', 'mail'], { cwd: dir, signal: ac2.signal });
    await waitForPort(port, { what: 'dev-server' });
    const c2 = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true });
    await new Promise<void>((res, rej) => {
      c2.once('error', rej);
      c2.connect(() => res());
    });
    // An ESC sequence in the (encoded) subject reaches the log as spaces, not the terminal.
    const raw2 = `From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?5byg5Lyf?= again=?UTF-8?B?${Buffer.from('\x1b[31m').toString('base64')}?=\r\n\r\nhello\r\n`;
    await new Promise<void>((res, rej) => c2.send({ from: 'a@example.com', to: ['b@example.com'] }, raw2, (e) => (e ? rej(e) : res())));
    c2.quit();
    ac2.abort();
    const r2 = await again;
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /b@example\.com {2}张伟 again \[31m/);
    assert.ok(!r2.stdout.includes('\x1b'), 'no ESC in the log');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'mail')).sort(), [files[0], '000002-b@example.com.eml']);
    assert.match(fs.readFileSync(path.join(dir, 'mail', files[0]), 'utf8'), /Subject: dev test/, 'the first message is still there');
  });
});

