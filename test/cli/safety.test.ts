// Issue 4: recipient data can never change a message's headers; secrets never appear in
// any output; --skip-invalid and suppress: lists skip rows with the reason in the report;
// thousands of bad rows print the first 50 and the total.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { runCli } from '../helpers/cli.js';
import { CLI, ensureBuilt } from '../pipeline/delivery-fixture.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const YAML = 'name: safe\nfrom: "Acme <news@acme.example>"\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n';

function project(csv: string, extra = ''): string {
  const dir = tmpDir();
  writeFiles(dir, { 'c.yaml': YAML + extra, 't.hbs': '<p>Hello {{name}}</p>\n', 'r.csv': csv });
  return dir;
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  }
  return out;
}

describe('header injection', () => {
  test('hostile but line-break-free names stay one display name: exactly one To, no Bcc', async () => {
    const dir = project('email,name\nann@example.com,"Evil <evil@x.example>, Bcc: boss@x.example"\nbob@example.com,"=?UTF-8?B?QmNjOiBldmls?="\n');
    const r = await runCli(['send', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    for (const f of fs.readdirSync(path.join(dir, 'outbox', 'safe'))) {
      const raw = fs.readFileSync(path.join(dir, 'outbox', 'safe', f));
      const head = raw.toString('latin1').split('\r\n\r\n')[0];
      assert.equal(head.match(/^To:/gim)?.length, 1, head);
      assert.ok(!/^(Bcc|Cc):/im.test(head), head);
      const p = await simpleParser(raw);
      const to = Array.isArray(p.to) ? p.to : [p.to!];
      assert.equal(to.length, 1);
      assert.equal(to[0].value.length, 1, JSON.stringify(to[0].value));
      assert.match(to[0].value[0].address!, /^(ann|bob)@example\.com$/);
    }
  });

  test('CR/LF in a value that reaches a header is refused with row and column; nothing written', async () => {
    const dir = project('email,name\nann@example.com,"Ann\r\nBcc: evil@x.example"\n');
    const r = await runCli(['send', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^r\.csv:2: column 'name': line break or NUL in a value that goes into a header$/m);
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')));
  });
});

describe('secrets', () => {
  const SECRET = 'Tr0ub4dor-and-3-horses';
  for (const good of [true, false]) {
    test(`a ${good ? 'succeeding' : 'failing (535)'} run prints the password nowhere`, async () => {
      const server = await startSmtpServer({ starttls: false, allowInsecureAuth: true, auth: { user: 'u@acme.example', pass: good ? SECRET : 'other' } });
      const dir = project('email,name\nann@example.com,Ann\n', 'transport: smtp+plain://u%40acme.example:${SMTP_PASS}@127.0.0.1:' + server.port + '\n');
      try {
        const outputs: string[] = [];
        for (const argv of [['send', 'c.yaml', '--yes', '--debug-smtp'], ['send', 'c.yaml', '--yes', '--json'], ['status', 'c.yaml'], ['status', 'c.yaml', '--json'], ['validate', 'c.yaml']]) {
          const r = await runCli(argv, { cwd: dir, env: { SMTP_PASS: SECRET } });
          outputs.push(r.stdout, r.stderr);
          if (argv[0] === 'send' && argv.includes('--debug-smtp')) assert.equal(r.code, good ? 0 : 3, r.stderr);
        }
        if (!good) assert.match(outputs.join('\n'), /127\.0\.0\.1:\d+: authentication failed: .*535/);
        for (const o of outputs) assert.ok(!o.includes(SECRET), `secret in output:\n${o}`);
        for (const f of allFiles(dir)) {
          if (f.endsWith('.env')) continue;
          assert.ok(!fs.readFileSync(f).includes(SECRET), `secret in ${f}`);
        }
        assert.equal(server.messages.length, good ? 1 : 0);
      } finally {
        await server.close();
      }
    });
  }
});

describe('secrets in URLs that do not parse', () => {
  // A literal password with an unencoded '/' or '@' makes the URL unparseable, so it is never
  // registered as a secret: the error about the URL must mask it all the same.
  const cases: [string, string][] = [
    ['slash', 'smtp+plain://u%40acme.example:Sl4sh/Pw-one@127.0.0.1:25'],
    ['at-in-user', 'smtp://u@acme.example:At-in-user-Pw@127.0.0.1:x'],
    ['no-scheme', 'u%40acme.example:No-scheme-Pw@127.0.0.1:25'],
    ['port-like', 'smtp://u:4321/Port-like-Pw@127.0.0.1:25'],
  ];
  const secretOf = (url: string): string[] => url.replace(/^[a-z+]+:\/\//, '').replace(/@[^@]*$/, '').split(/[:/]/).slice(1).filter(Boolean);

  for (const [label, url] of cases) {
    test(`${label}: validate, send, send --json, status --json, preview and --transport print '***', never the password`, async () => {
      const dir = project('email,name\nann@example.com,Ann\n', `transport: '${url}'\n`);
      const outputs: string[] = [];
      for (const argv of [['validate', 'c.yaml'], ['send', 'c.yaml', '--yes'], ['send', 'c.yaml', '--dry-run', '--json'], ['status', 'c.yaml', '--json'], ['preview', 'c.yaml']]) {
        const r = await runCli(argv, { cwd: dir });
        assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
        outputs.push(r.stdout, r.stderr);
      }
      const flag = await runCli(['send', 'c.yaml', '--transport', url, '--dry-run'], { cwd: project('email,name\nann@example.com,Ann\n') });
      assert.equal(flag.code, 2, flag.stderr);
      outputs.push(flag.stdout, flag.stderr);
      const all = outputs.join('\n');
      assert.match(all, label === 'port-like' ? /has a path, or a '\/' in its user name or password/ : /not a transport URL: '[^']*\*\*\*@127\.0\.0\.1:[^']*'.*write '\/' as %2F/);
      for (const piece of secretOf(url)) assert.ok(!all.includes(piece), `'${piece}' printed:\n${all}`);
    });
  }

  test('a mailbox url that does not parse, and URLs typed in the wrong place, are masked too', async () => {
    const dir = tmpDir();
    writeFiles(dir, { 'mailbox.yaml': "url: 'imaps://u:Mb0x/Secret-Pw@127.0.0.1:993/INBOX'\n" });
    const outputs: string[] = [];
    for (const argv of [
      ['bounces', 'mailbox.yaml'],
      ['inbox', 'mailbox.yaml'],
      ['smtp://u:Typed-Command-Pw@h:25'],
      ['send', 'c.yaml', '--limit', 'smtp://u:Typed-Limit-Pw@h:25'],
      ['send', 'c.yaml', '--limit', 'smtp://u:Typed-Json-Pw@h:25', '--json'],
    ]) {
      const r = await runCli(argv, { cwd: dir });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      outputs.push(r.stdout, r.stderr);
    }
    const all = outputs.join('\n');
    assert.match(all, /url: not a URL: 'imaps:\/\/\*\*\*@127\.0\.0\.1:993\/INBOX'/);
    assert.match(all, /unknown command 'smtp:\/\/u:\*\*\*@h:25'/);
    for (const piece of ['Mb0x', 'Secret-Pw', 'Typed-Command-Pw', 'Typed-Limit-Pw', 'Typed-Json-Pw']) assert.ok(!all.includes(piece), `'${piece}' printed:\n${all}`);
  });
});

describe('skipping rows', () => {
  test('--skip-invalid sends the rest and lists the skipped rows in the report', async () => {
    const dir = project('email,name\nann@example.com,Ann\nnot-an-address,Bad\nbob@example.com,Bob\n');
    const r = await runCli(['send', 'c.yaml', '--skip-invalid', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.totals.sent, 2);
    assert.equal(s.totals.skipped, 1);
    const report = JSON.parse(fs.readFileSync(s.report, 'utf8'));
    const bad = report.messages.find((m: { row: number }) => m.row === 3);
    assert.equal(bad.status, 'skipped');
    assert.match(bad.response, /invalid address: missing '@'/);
  });

  test('a suppress: list skips its addresses with the reason', async () => {
    const dir = project('email,name\nann@example.com,Ann\nBob@Example.com,Bob\n', 'suppress: optout.csv\n');
    fs.writeFileSync(path.join(dir, 'optout.csv'), 'email\nbob@example.com\n');
    // validate says who and why too.
    const v = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^ok: safe: 1 message would be sent, 1 skipped\n {2}skipped r\.csv:3: Bob@example\.com: suppressed: listed in optout\.csv/);
    const r = await runCli(['send', 'c.yaml', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual([s.totals.sent, s.totals.skipped], [1, 1]);
    const report = JSON.parse(fs.readFileSync(s.report, 'utf8'));
    assert.match(report.messages.find((m: { row: number }) => m.row === 3).response, /suppressed: listed in optout\.csv/);
  });

  test('thousands of bad rows: the first 50 and the total', async () => {
    const rows = ['email,name'];
    for (let i = 0; i < 3000; i++) rows.push(`bad${i}-at-example.com,X`);
    const dir = project(rows.join('\n') + '\n');
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.filter((l) => /^r\.csv:\d+: column 'email': invalid address/.test(l)).length, 50);
    assert.match(r.stderr, /… and 2950 more errors/);
    assert.match(lines[lines.length - 1], /^3000 errors, 0 warnings; nothing was sent$/);
  });
});

describe('the confirmation on a terminal', () => {
  test('--restart of an unfinished run says, before the question, that those reached get it again', async () => {
    const dir = project('email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\n');
    const server = await startSmtpServer({ starttls: false });
    try {
      const url = `smtp+plain://127.0.0.1:${server.port}`;
      assert.equal((await runCli(['send', 'c.yaml', '--transport', url, '--yes', '--limit', '2'], { cwd: dir })).code, 0);
      const no = await runCli(['send', 'c.yaml', '--transport', url, '--restart'], { cwd: dir, tty: true, input: 'n\n' });
      assert.equal(no.code, 2);
      const warning = no.stderr.search(/--restart: run \S+ had not finished, and 2 of its 3 recipient\(s\) were \(maybe\) reached: they get the message again/);
      const question = no.stderr.indexOf('Send 3 messages');
      assert.ok(warning >= 0 && question > warning, no.stderr);
      assert.equal(server.messages.length, 2);
    } finally {
      await server.close();
    }
  });

  test('a resume asks about what is left, and the warnings come before the question', async () => {
    const dir = project('email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\nd@example.com,D\nA@example.com,again\n');
    const server = await startSmtpServer({ starttls: false });
    try {
      const url = `smtp+plain://127.0.0.1:${server.port}`;
      const first = await runCli(['send', 'c.yaml', '--transport', url, '--yes', '--limit', '3'], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      assert.equal(server.messages.length, 3);
      const runId = JSON.parse((await runCli(['status', 'c.yaml', '--json'], { cwd: dir })).stdout).run_id;

      const no = await runCli(['send', 'c.yaml', '--transport', url], { cwd: dir, tty: true, input: 'n\n' });
      assert.equal(no.code, 2, no.stderr);
      const warning = no.stderr.indexOf('r.csv:6:');
      const question = no.stderr.indexOf(`Resume run ${runId} of 'safe' (3 done): send 1 more message through 127.0.0.1:${server.port}? [y/N]`);
      assert.ok(warning >= 0 && question > warning, no.stderr);
      assert.match(no.stderr, /not sent: confirmation declined/);
      assert.equal(server.messages.length, 3);

      // A new campaign still asks about the whole list.
      const fresh = project('email,name\na@example.com,A\nb@example.com,B\n');
      const ask = await runCli(['send', 'c.yaml', '--transport', url], { cwd: fresh, tty: true, input: 'n\n' });
      assert.match(ask.stderr, new RegExp(`Send 2 messages of 'safe' through 127\\.0\\.0\\.1:${server.port}\\? \\[y/N\\]`));

      // Answered yes: the notes about the resume come before the summary line too.
      const yes = await runCli(['send', 'c.yaml', '--transport', url], { cwd: dir, tty: true, input: 'y\n' });
      assert.equal(yes.code, 0, yes.stderr);
      assert.equal(server.messages.length, 4);
      assert.match(yes.stderr, new RegExp(`resuming run ${runId}`));
    } finally {
      await server.close();
    }
  });
});

describe('the confirmation on a real terminal (script(1))', () => {
  test('Ctrl-C or Ctrl-D at the question is a no: exit 2, nothing sent, no stack trace', async () => {
    ensureBuilt();
    const dir = writeFiles(tmpDir(), {
      'c.yaml': 'name: pc\nfrom: "Test <t@example.com>"\nsubject: "Hello {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\ntransport: smtp://127.0.0.1:9\n',
      't.hbs': '<p>Hi {{name}}</p>\n',
      'r.csv': 'email,name\na@example.com,A\n',
    });
    for (const key of ['\u0003', '\u0004']) {
      const child = spawn('script', ['-qec', `"${process.execPath}" "${CLI}" send c.yaml; echo "exit=$?"`, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('[y/N]') && !child.stdin.writableEnded) child.stdin.end(key);
      });
      await new Promise((resolve) => child.once('close', resolve));
      const text = out.replace(/\r/g, '').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      assert.match(text, /\[y\/N\] \n?not sent: confirmation declined\nexit=2/, JSON.stringify(text));
      assert.doesNotMatch(text, /internal error|AbortError/);
    }
  });
});

describe("the campaign's transport variables", () => {
  test('preview, --dry-run and send --transport do not need them; validate and send do', async () => {
    const server = await startSmtpServer({ starttls: false });
    try {
      const dir = project('email,name\nann@example.com,Ann\n', 'transport: smtps://u%40acme.example:${SMTP_PASS}@smtp.acme.example:465\n');
      for (const argv of [['preview', 'c.yaml'], ['send', 'c.yaml', '--dry-run'], ['send', 'c.yaml', '--transport', `smtp://127.0.0.1:${server.port}`, '--yes']]) {
        const r = await runCli(argv, { cwd: dir });
        assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      }
      assert.equal(server.messages.length, 1);
      for (const argv of [['validate', 'c.yaml'], ['send', 'c.yaml', '--yes', '--restart']]) {
        const r = await runCli(argv, { cwd: dir });
        assert.equal(r.code, 2, argv.join(' '));
        assert.match(r.stderr, /^c\.yaml:6:12: transport: environment variable SMTP_PASS is not set \(nor in \.env\)$/m);
      }
    } finally {
      await server.close();
    }
  });
});
