// CLI behaviour through main(argv, io): validate reports every problem with its place and
// sends nothing; help describes every flag; exit codes follow design.md.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { simpleParser } from 'mailparser';
import { runCli } from '../helpers/cli.js';
import { CLI, ensureBuilt } from '../pipeline/delivery-fixture.js';
import { copyExample } from '../helpers/examples.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

function broken(): string {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: broken\nfrom: me@example.com\nsubjet: hi\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n',
    't.hbs': '<p>Hello {{name}}, your code is {{coupon}}</p>\n',
    'r.csv': 'email,name\nok@example.com,Ok\nnot-an-address,Bad\n',
  });
  return dir;
}

describe('validate', () => {
  test('per-recipient values of the campaign file: every failing one reported, each at its own line', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml':
        'name: x\nfrom: a@example.com\nsubject: "Hi {{recipient.zz}}"\ntemplate: t.hbs\nrecipients: r.csv\nheaders:\n  X-A: "a"\n  X-B: "{{campaign.zz}}"\n' +
        'unsubscribe:\n  mailto: u@example.com\n  url: "https://x.example/{{recipient.qq}}"\nattachments:\n  - path: t.hbs\n    filename: "{{recipient.ff}}.txt"\n',
      't.hbs': '<p>{{name}} {{formatNumber name}}</p>\n',
      'r.csv': 'email,name\na@example.com,X\n',
    });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    // A built-in's unknown key is found by the static check, with the keys it has.
    const has = (b: string) => (b === 'recipient' ? "'recipient' has recipient.email, recipient.row, recipient.name" : "'campaign' has campaign.name");
    assert.deepEqual(r.stderr.trim().split('\n').sort(), [
      '4 errors, 0 warnings; nothing was sent',
      `c.yaml:11:8: unknown variable 'recipient.qq': ${has('recipient')}`,
      `c.yaml:14:15: unknown variable 'recipient.ff': ${has('recipient')}`,
      `c.yaml:3:10: unknown variable 'recipient.zz': ${has('recipient')}`,
      `c.yaml:8:8: unknown variable 'campaign.zz': ${has('campaign')}`,
    ]);
    // Once those are right, the rows are rendered: every failing value, each at its line.
    writeFiles(dir, {
      'c.yaml':
        'name: x\nfrom: a@example.com\nsubject: "Hi {{formatNumber name}}"\ntemplate: t.hbs\nrecipients: r.csv\nheaders:\n  X-A: "a"\n  X-B: "{{formatDate name}}"\n',
    });
    const rows = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.deepEqual(rows.stderr.trim().split('\n').sort(), [
      '3 errors, 0 warnings; nothing was sent',
      'c.yaml:3:10: formatNumber: not a number: "X" (CSV line 2)',
      'c.yaml:8:8: formatDate: not a date: "X" (CSV line 2)',
      't.hbs:1:13: formatNumber: not a number: "X" (CSV line 2)',
    ]);
  });

  test('a syntax error is named at its column; a column name that needs [ ] says how to write it', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: x\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>hi</p>\n<p>{{金额(元)}}</p>\n',
      'r.csv': 'email,金额(元)\na@example.com,12\n',
    });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.stderr.split('\n')[0], "t.hbs:2:6: template syntax: Expecting 'ID', 'STRING', 'NUMBER', 'BOOLEAN', 'UNDEFINED', 'NULL', 'DATA', got 'INVALID'; a column name with spaces, brackets or other signs is written {{[金额(元)]}}");
    fs.writeFileSync(path.join(dir, 't.hbs'), '<p>hi</p>\n<p>{{[金额(元)]}}</p>\n');
    assert.equal((await runCli(['validate', 'c.yaml'], { cwd: dir })).code, 0);
    fs.writeFileSync(path.join(dir, 't.hbs'), '<p>hi</p>\n  <p>{{name}</p>\n');
    const unclosed = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.match(unclosed.stderr, /^t\.hbs:2:12: template syntax: Expecting .*got 'INVALID'\n/);
  });

  test('Ctrl-C stops validate (exit 130); a campaign path that is a device or folder is refused, not read forever', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: x\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>{{name}}</p>\n',
      'r.csv': 'email,name\n' + Array.from({ length: 100_000 }, (_, i) => `u${i}@example.com,N${i}\n`).join(''),
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('SIGINT')), 150);
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir, signal: ac.signal });
    assert.equal(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stderr, /interrupted while checking the recipients/);
    const dev = await runCli(['validate', '/dev/zero'], { cwd: dir });
    assert.equal(dev.code, 2);
    assert.match(dev.stderr, /^\/dev\/zero: is not a regular file$/m);
    const folder = await runCli(['validate', '.'], { cwd: dir });
    assert.equal(folder.code, 2);
    assert.match(folder.stderr, /is a folder, not a YAML file/);
  });

  test('a helper failing on a CSV value is named at its call in the template; a number with thousands separators says so', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: x\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>hi</p>\n<p>{{formatNumber amount}} {{formatDate since}}</p>\n',
      'r.csv': 'email,amount,since\na@example.com,"1,234.50",2026-01-02\nb@example.com,12,someday\n',
    });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      't.hbs:2:4: formatNumber: not a number: "1,234.50" (thousands separators: save the column as a plain number, like 1234.50) (CSV line 2)',
      't.hbs:2:28: formatDate: not a date: "someday" (CSV line 3)',
      '2 errors, 0 warnings; nothing was sent',
    ]);
  });

  test('duplicate rows are counted apart from skipped ones, as the report lists each address once', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: d\nfrom: a@example.com\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>Hello {{name}}</p>\n',
      'r.csv': 'email,name\nann@example.com,Ann\nANN@example.com,Ann again\nbob@example.com,Bob\nann@Example.com,Ann 3\n',
    });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: d: 2 messages would be sent, 2 duplicate rows left out \(2 warnings\)$/m);
  });

  test('group_by: a missing column is one error at group_by, an empty value one per row, the column named once', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: g\nfrom: a@example.com\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\ngroup_by: team\n',
      't.hbs': '<p>{{group}}</p>\n',
      'r.csv': 'email,name\na@example.com,A\nb@example.com,B\n',
    });
    const missing = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.deepEqual(missing.stderr.trim().split('\n'), ["c.yaml:6:11: group_by: no column 'team' (columns: email, name)", '1 error, 0 warnings; nothing was sent']);
    fs.writeFileSync(path.join(dir, 'r.csv'), 'email,team\na@example.com,\nb@example.com,x\n');
    const empty = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.deepEqual(empty.stderr.trim().split('\n'), ["r.csv:2: column 'team': empty group_by value", '1 error, 0 warnings; nothing was sent']);
  });

  test('a group message has List-Unsubscribe without the one-click POST (its URL names the group, not the person); a row message has both', async () => {
    const dir = writeFiles(tmpDir(), {
      'g.yaml': 'name: g\nfrom: a@example.com\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\ngroup_by: { column: team, bcc: true }\nunsubscribe: { url: "https://acme.example/u?team={{team}}" }\n',
      'p.yaml': 'name: p\nfrom: a@example.com\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\nunsubscribe: { url: "https://acme.example/u?e={{recipient.email}}" }\n',
      't.hbs': '<p>{{team}}</p>\n',
      'r.csv': 'email,team\na@example.com,x\nb@example.com,x\n',
    });
    for (const [file, oneClick] of [['g.yaml', false], ['p.yaml', true]] as const) {
      const r = await runCli(['send', file, '--dry-run', '--out', `out-${file}`], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      for (const f of fs.readdirSync(path.join(dir, `out-${file}`)).filter((n) => n.endsWith('.eml'))) {
        const raw = fs.readFileSync(path.join(dir, `out-${file}`, f), 'latin1');
        assert.match(raw, /^List-Unsubscribe: <https:\/\/acme\.example\/u\?/m);
        assert.equal(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m.test(raw), oneClick, `${file}: ${f}`);
      }
    }
  });

  test('errors in the campaign values do not hide those of the template and the list', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: Bad Name\nfrom: not an address\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\nconcurrency: abc\n',
      't.hbs': '<p>{{nmae}}</p>\n',
      'r.csv': 'email,name\nbad-address,X\n',
    });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    for (const want of [/^c\.yaml:1:7: name must match/, /^c\.yaml:2:7: from must be one address/, /^c\.yaml:6:14: concurrency/, /^t\.hbs:1:6: unknown variable 'nmae'/, /^r\.csv:2: column 'email'/]) {
      assert.ok(lines.some((l) => want.test(l)), `${want} in:\n${r.stderr}`);
    }
    assert.match(lines[lines.length - 1], /^5 errors, 0 warnings; nothing was sent$/);
  });

  test('typo key, unknown variable and bad address: all three with places, exit 2', async () => {
    const dir = broken();
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.includes("c.yaml:3:1: unknown key 'subjet'; did you mean 'subject'?"), r.stderr);
    assert.ok(lines.some((l) => /^t\.hbs:1:\d+: unknown variable 'coupon'/.test(l)), r.stderr);
    assert.ok(lines.some((l) => /^r\.csv:3: column 'email': invalid address "not-an-address"/.test(l)), r.stderr);
    assert.match(lines[lines.length - 1], /^3 errors, 0 warnings; nothing was sent$/);
  });

  test('send on the same campaign connects to nothing and exits 2', async () => {
    const dir = broken();
    const server = await startSmtpServer({ starttls: false });
    try {
      const r = await runCli(['send', 'c.yaml', '--transport', `smtp://127.0.0.1:${server.port}`, '--yes'], { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(server.connections, 0);
      assert.match(r.stderr, /nothing was sent/);
      assert.ok(!fs.existsSync(path.join(dir, '.mailcamp', 'broken')), 'no journal written');
    } finally {
      await server.close();
    }
  });

  test('send --json and status --json put the error on stdout as JSON too (exit 2)', async () => {
    const dir = broken();
    const r = await runCli(['send', 'c.yaml', '--json'], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    const j = JSON.parse(r.stdout) as { error: string; errors: string[]; exit_code: number };
    assert.equal(j.exit_code, 2);
    assert.equal(j.errors.length, 3);
    assert.equal(j.error, j.errors[0]);
    assert.ok(j.errors.includes("c.yaml:3:1: unknown key 'subjet'; did you mean 'subject'?"), r.stdout);
    const usage = await runCli(['send', 'c.yaml', '--json', '--limit', '0'], { cwd: dir });
    assert.equal(usage.code, 2);
    assert.match((JSON.parse(usage.stdout) as { error: string }).error, /--limit/);
    const missing = await runCli(['status', 'nope.yaml', '--json'], { cwd: dir });
    assert.deepEqual(JSON.parse(missing.stdout), { error: 'nope.yaml: no such file', errors: ['nope.yaml: no such file'], exit_code: 2 });
    const plain = await runCli(['send', 'c.yaml'], { cwd: dir });
    assert.equal(plain.stdout, '', 'without --json stdout stays empty');
  });

  test('status of a campaign that ran still reads its journal when its template or list is gone (never-run: exit 2)', async () => {
    const dir = writeFiles(tmpDir(), {
      'r.csv': 'email\na@example.com\nb@example.com\n',
      't.hbs': '<p>hi</p>\n',
      'c.yaml': 'name: gone\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n',
    });
    const never = await runCli(['status', 'c.yaml'], { cwd: dir });
    assert.equal(never.code, 0, never.stderr);
    assert.match(never.stdout, /never sent\n  pending 2/);
    const sent = await runCli(['send', 'c.yaml'], { cwd: dir });
    assert.equal(sent.code, 0, sent.stderr);
    fs.rmSync(path.join(dir, 't.hbs'));
    fs.rmSync(path.join(dir, 'r.csv'));
    const r = await runCli(['status', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sent 2 +failed 0/);
    assert.match(r.stderr, /^c\.yaml:4:11: warning: template not found: t\.hbs \(status shows the journal; send would refuse\)$/m);
    assert.match(r.stderr, /^c\.yaml:5:13: warning: recipient list not found: r\.csv/m);
    const j = await runCli(['status', 'c.yaml', '--json'], { cwd: dir });
    assert.equal(j.code, 0, j.stderr);
    assert.equal((JSON.parse(j.stdout) as { totals: { sent: number } }).totals.sent, 2);
    // Without a journal there is nothing to show but the list, and it is not there.
    fs.rmSync(path.join(dir, '.mailcamp'), { recursive: true });
    const none = await runCli(['status', 'c.yaml'], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /c\.yaml:4:11: template not found/);
  });

  test('a partial saved in another encoding is an error where a template uses it, not for every campaign of the folder', async () => {
    const dir = writeFiles(tmpDir(), {
      'partials/unused.hbs': iconv.encode('<p>页脚</p>\n', 'gbk'),
      'r.csv': 'email,name\na@example.com,A\n',
      't.hbs': '<p>{{name}}</p>\n',
      'u.hbs': '<p>{{name}}</p>{{> unused}}\n',
      'c.yaml': 'name: gp\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n',
      'u.yaml': 'name: gu\nfrom: a@example.com\nsubject: x\ntemplate: u.hbs\nrecipients: r.csv\n',
    });
    assert.equal((await runCli(['validate', 'c.yaml'], { cwd: dir })).code, 0);
    const used = await runCli(['validate', 'u.yaml'], { cwd: dir });
    assert.equal(used.code, 2);
    assert.match(used.stderr, /^partials\/unused\.hbs:1: invalid UTF-8 bytes on this line/m);
  });

  test('a partial linked to a file outside the template folder, and a .env that is a pipe, are one-line errors (no hang, nothing read)', async () => {
    const dir = writeFiles(tmpDir(), {
      'secret.txt': 'SMTP_PASS=S3cr3tPW\n',
      'l/r.csv': 'email,name\nann@example.com,Ann\n',
      't/m.hbs': '<p>Hi {{name}} {{> footer}}</p>\n',
      'c.yaml': 'name: pf\nfrom: "Acme <news@acme.example>"\nsubject: "hi"\ntemplate: t/m.hbs\nrecipients: l/r.csv\n',
    });
    fs.mkdirSync(path.join(dir, 't', 'partials'));
    fs.symlinkSync('../../secret.txt', path.join(dir, 't', 'partials', 'footer.hbs'));
    const linked = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(linked.code, 2);
    assert.match(linked.stderr, /^t\/partials\/footer\.hbs: the partial is a link to a file outside the template folder/m);
    fs.rmSync(path.join(dir, 't', 'partials', 'footer.hbs'));
    fs.writeFileSync(path.join(dir, 't', 'partials', 'footer.hbs'), '<b>f</b>\n');
    assert.equal(spawnSync('mkfifo', [path.join(dir, '.env')]).status, 0);
    const fifo = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(fifo.code, 2);
    assert.match(fifo.stderr, /\.env: not a regular file \(a pipe, device or socket\)/);
  });

  test("a variable that is not set names the .env that was looked in, beside the campaign, not the project's top", async () => {
    const dir = writeFiles(tmpDir(), {
      '.env': 'SMTP_PASS=at-the-top-is-not-read\n',
      'campaigns/c.yaml': 'name: ev\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\ntransport: smtp://u:${SMTP_PASS}@mail.example.com:587\n',
      'campaigns/t.hbs': '<p>x</p>\n',
      'campaigns/r.csv': 'email\na@example.com\n',
    });
    const r = await runCli(['validate', 'campaigns/c.yaml'], { cwd: dir, env: {} });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^campaigns\/c\.yaml:6:12: transport: environment variable SMTP_PASS is not set \(nor in campaigns\/\.env\)$/m);
  });

  test('an unknown variable in a list of many columns lists 40 of them, not a 34 KB line', async () => {
    const cols = Array.from({ length: 60 }, (_, i) => `c${i}`);
    const dir = writeFiles(tmpDir(), {
      'r.csv': `email,${cols.join(',')}\na@example.com,${cols.map(() => 'x').join(',')}\n`,
      't.hbs': '<p>{{nmae}}</p>\n',
      'c.yaml': 'name: wide\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n',
    });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown variable 'nmae'.*CSV columns: email, c0, .*c38, … and 21 more/);
  });

  test('--restart with --resend-unknown is a usage error (exit 2): one sends to everyone, the other only the unknown ones', async () => {
    const { dir, campaign } = copyExample('newsletter');
    const r = await runCli(['send', campaign, '--restart', '--resend-unknown'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--restart and --resend-unknown contradict each other/);
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')), 'nothing written');
  });

  test('a valid example validates with exit 0', async () => {
    const { dir, campaign } = copyExample('newsletter');
    const r = await runCli(['validate', campaign], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok: newsletter: 5 messages would be sent/);
  });
});

describe('inline images', () => {
  test('a missing image is named at the line:col of its src, in an .hbs and in an .mjml template', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'r.csv': 'email,name\na@example.com,A\n',
      't.hbs': '<p>hi</p>\n<p>\n  <img src="missing.png"></p>\n',
      't.mjml': '<mjml><mj-body><mj-section><mj-column>\n<mj-text>hi</mj-text>\n<mj-image src="nope.png" />\n</mj-column></mj-section></mj-body></mjml>\n',
      'c.yaml': 'name: im\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n',
      'c2.yaml': 'name: im\nfrom: a@example.com\nsubject: x\ntemplate: t.mjml\nrecipients: r.csv\n',
    });
    const hbs = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.match(hbs.stderr, /^t\.hbs:3:13: image not found: missing\.png \(looked in /);
    const mjml = await runCli(['validate', 'c2.yaml'], { cwd: dir });
    assert.match(mjml.stderr, /^t\.mjml:3:16: image not found: nope\.png \(looked in /);
  });
});

describe('per-recipient attachments', () => {
  test("a file whose name starts with '..' is inside its folder; a filename: that renders empty is an error at the row and column", async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'files/invoices/A1.pdf': 'pdf\n',
      'files/invoices/..INV-7.pdf': 'pdf\n',
      't.hbs': '<p>x</p>\n',
      'r.csv': 'email,invoice,label\na@example.com,A1,Invoice A1\nb@example.com,..INV-7,Invoice 7\n',
      'c.yaml': 'name: inv\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\nattachments:\n  - path: "files/invoices/{{invoice}}.pdf"\n    filename: "{{label}}.pdf"\n',
    });
    const ok = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    fs.writeFileSync(path.join(dir, 'r.csv'), 'email,invoice,label\na@example.com,A1,Invoice A1\nb@example.com,A1,\n');
    fs.writeFileSync(path.join(dir, 'c.yaml'), fs.readFileSync(path.join(dir, 'c.yaml'), 'utf8').replace('"{{label}}.pdf"', '"{{label}}"'));
    const empty = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(empty.code, 2);
    assert.equal(empty.stderr.split('\n')[0], 'r.csv:3: column \'label\': attachment filename "{{label}}" is empty for this row');
  });
});

describe('files that are not UTF-8', () => {
  const yaml = 'name: y\nfrom: "财务部 <finance@example.cn>"\nsubject: "{{name}}，您好"\ntemplate: t.hbs\nrecipients: r.csv\n';
  test('a campaign file or template saved as GBK is an error at the line of its first such byte, not U+FFFD in every message', async () => {
    const gbk = (t: string) => iconv.encode(t, 'gbk');
    for (const [files, expected] of [
      [{ 'c.yaml': gbk(yaml), 't.hbs': '<p>{{name}}</p>\n' }, 'c.yaml:2: invalid UTF-8 bytes on this line: save the file as UTF-8 (it looks like another encoding, such as GBK)'],
      [{ 'c.yaml': yaml, 't.hbs': gbk('<p>\n尊敬的{{name}}</p>\n') }, 't.hbs:2: invalid UTF-8 bytes on this line: save the file as UTF-8 (it looks like another encoding, such as GBK)'],
    ] as const) {
      const dir = tmpDir();
      writeFiles(dir, { 'r.csv': 'email,name\na@example.com,张伟\n' });
      for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
      for (const cmd of ['validate', 'send']) {
        const r = await runCli([cmd, 'c.yaml'], { cwd: dir });
        assert.equal(r.code, 2, r.stdout);
        assert.equal(r.stderr.split('\n')[0], expected);
      }
      assert.ok(!fs.existsSync(path.join(dir, 'outbox')));
    }
  });

  test('a GBK list with Chinese headers read as UTF-8: one line naming the encoding, not a "no column" or "unknown variable" for each garbled header', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: y\nfrom: a@example.com\nsubject: "{{姓名}}"\ntemplate: t.hbs\nrecipients: { file: r.csv, email_column: 邮箱, name_column: 姓名 }\n',
      't.hbs': '<p>{{姓名}} {{城市}}</p>\n',
    });
    fs.writeFileSync(path.join(dir, 'r.csv'), iconv.encode('编号,姓名,邮箱,城市\r\n1,张伟,zhang@example.com,北京\r\n', 'gbk'));
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      'r.csv:1: invalid UTF-8 bytes on this line: the file is probably in another encoding; set it in the recipients mapping, e.g. `encoding: gbk` (or gb18030, big5, shift_jis, latin1)',
      '1 error, 0 warnings; nothing was sent',
    ]);
  });

  test('a template with a UTF-8 byte order mark: no BOM in the message, error columns as an editor shows them', async () => {
    const dir = tmpDir();
    writeFiles(dir, { 'c.yaml': yaml, 'r.csv': 'email,name\na@example.com,张伟\n' });
    fs.writeFileSync(path.join(dir, 't.hbs'), '\ufeff<p>{{nme}}</p>\n');
    const bad = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.match(bad.stderr, /^t\.hbs:1:6: unknown variable 'nme'/);
    fs.writeFileSync(path.join(dir, 't.hbs'), '\ufeff<p>{{name}}</p>\n');
    const r = await runCli(['send', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const [eml] = fs.readdirSync(path.join(dir, 'outbox', 'y'));
    const parsed = await simpleParser(fs.readFileSync(path.join(dir, 'outbox', 'y', eml)));
    assert.equal(parsed.html, '<p>张伟</p>\n');
    assert.ok(!(parsed.text ?? '').includes('\ufeff'));
  });
});

describe('usage errors', () => {
  test('a misspelled command or option: one line with the suggestion, exit 2', async () => {
    for (const argv of [['sned', 'x.yaml'], ['send', 'x.yaml', '--dryrun']]) {
      const r = await runCli(argv, { cwd: tmpDir() });
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^error: unknown (command 'sned'|option '--dryrun'); did you mean (send|--dry-run)\?$/m);
    }
  });
});

describe('output to a pipe', () => {
  test('a real process writing 250+ KiB to a pipe exits only after all of it is out (status --all --json | jq)', () => {
    ensureBuilt();
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: big\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>{{name}}</p>\n',
      'r.csv': 'email,name\n' + Array.from({ length: 3000 }, (_, i) => `user${i}@example.com,Name ${i}\n`).join(''),
    });
    // Through a shell pipe: an OS pipe, as with `| jq` (Node's own child stdio is a socket pair).
    const r = spawnSync('sh', ['-c', '"$0" "$1" status c.yaml --all --json | cat', process.execPath, CLI], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 200_000, `${r.stdout.length} bytes`);
    assert.equal((JSON.parse(r.stdout) as { recipients: unknown[] }).recipients.length, 3000);
  });
});

describe('npm run mailcamp', () => {
  test('from a folder of the checkout: paths are taken from there (npm runs scripts in the package folder)', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const r = spawnSync('npm', ['run', '--silent', 'mailcamp', '--', 'validate', 'campaign.yaml'], { cwd: path.join(root, 'examples', 'newsletter'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ok: newsletter: 5 messages would be sent$/m);
  });
});

describe('help', () => {
  test('mailcamp --help lists every command', async () => {
    const r = await runCli(['--help'], { cwd: tmpDir() });
    assert.equal(r.code, 0);
    for (const c of ['validate', 'preview', 'send', 'status', 'dev-server', 'init']) assert.match(r.stdout, new RegExp(`\\n  ${c}\\b`));
    assert.match(r.stdout, /Exit codes/);
  });

  test('mailcamp send --help describes every flag', async () => {
    const r = await runCli(['send', '--help'], { cwd: tmpDir() });
    assert.equal(r.code, 0);
    for (const f of ['--dry-run', '--out', '--transport', '--limit', '--to', '--report', '--yes', '--restart', '--resend-unknown', '--json', '--debug-smtp', '--skip-invalid', '--state']) {
      assert.match(r.stdout, new RegExp(`${f}\\b[^\\n]*\\s{2,}\\S`), `flag ${f} has a description`);
    }
  });

  test('unknown command, no command and bad flag value: exit 2', async () => {
    assert.equal((await runCli(['sned'], { cwd: tmpDir() })).code, 2);
    const none = await runCli([], { cwd: tmpDir() });
    assert.equal(none.code, 2, 'no command is a usage error');
    assert.match(none.stderr, /Usage: mailcamp/, 'with the help on stderr');
    assert.equal((await runCli(['send', 'x.yaml', '--limit', 'zero'], { cwd: tmpDir() })).code, 2);
  });
});

describe('send to the outbox', () => {
  test('dry run writes one .eml per recipient, leaves the journal untouched, exit 0', async () => {
    const { dir, campaign } = copyExample('newsletter');
    const r = await runCli(['send', campaign, '--dry-run', '--out', 'dry'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readdirSync(path.join(dir, 'dry')).filter((f) => f.endsWith('.eml')).length, 5);
    assert.ok(!fs.existsSync(path.join(dir, '.mailcamp', 'newsletter')), 'journal untouched');
  });

  test('default outbox run, then a second send is refused until --restart', async () => {
    const { dir, campaign } = copyExample('team-notice');
    const r1 = await runCli(['send', campaign], { cwd: dir });
    assert.equal(r1.code, 0, r1.stderr);
    const out = path.join(dir, 'outbox', 'team-notice');
    assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.eml')).length, 3);
    const reports = fs.readdirSync(path.join(dir, 'reports', 'team-notice'));
    assert.ok(reports.some((f) => f.endsWith('.json')) && reports.some((f) => f.endsWith('.csv')));
    const r2 = await runCli(['send', campaign], { cwd: dir });
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /already ran .*--restart/);
    const r3 = await runCli(['send', campaign, '--restart'], { cwd: dir });
    assert.equal(r3.code, 0, r3.stderr);
  });

  test('SMTP without a terminal and without --yes is refused before connecting', async () => {
    const { dir, campaign } = copyExample('newsletter');
    const server = await startSmtpServer({ starttls: false });
    try {
      const r = await runCli(['send', campaign, '--transport', `smtp://127.0.0.1:${server.port}`], { cwd: dir });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--yes/);
      assert.equal(server.connections, 0);
    } finally {
      await server.close();
    }
  });
});

describe('folders the user names', () => {
  test('a --report, --out or --dir that cannot be written: one line, exit 2, nothing sent or written', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: f\nfrom: me@example.com\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>Hello {{name}}</p>\n',
      'r.csv': 'email,name\nok@example.com,Ok\n',
      afile: 'not a folder\n',
    });
    for (const args of [
      ['send', 'c.yaml', '--report', 'afile/r.json'],
      ['send', 'c.yaml', '--out', 'afile/x'],
      ['send', 'c.yaml', '--dry-run', '--out', 'afile/x'],
      ['preview', 'c.yaml', '--out', 'afile/x'],
      ['dev-server', '--dir', 'afile/x'],
    ]) {
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.deepEqual(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /cannot write to .*afile.*: a file is in the way/);
    }
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')), 'nothing sent to the default outbox');
  });

  test('--report never replaces a file the campaign reads, a folder or a file that is not a report; X.csv names the pair', async () => {
    const dir = tmpDir();
    writeFiles(dir, {
      'c.yaml': 'name: f\nfrom: me@example.com\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n',
      't.hbs': '<p>Hello {{name}}</p>\n',
      'r.csv': 'email,name\nok@example.com,Ok\n',
      'notes.txt': 'keep me\n',
      'dir.json/x': '',
    });
    const before = Object.fromEntries(['c.yaml', 't.hbs', 'r.csv', 'notes.txt'].map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
    for (const [report, why] of [
      ['r.json', /CSV report would replace .*r\.csv, a file this campaign reads/],
      ['c.yaml', /JSON report would replace .*c\.yaml, a file this campaign reads/],
      ['t.hbs', /JSON report would replace .*t\.hbs, a file this campaign reads/],
      ['notes.txt', /JSON report would replace .*notes\.txt, which is not a mailcamp report/],
      ['dir.json', /JSON report would replace .*dir\.json, which is a folder/],
    ] as const) {
      for (const extra of [[], ['--dry-run']]) {
        const r = await runCli(['send', 'c.yaml', '--report', report, ...extra], { cwd: dir });
        assert.equal(r.code, 2, `${report}: ${r.stderr}`);
        assert.match(r.stderr, why);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    }
    for (const [f, text] of Object.entries(before)) assert.equal(fs.readFileSync(path.join(dir, f), 'utf8'), text, `${f} unchanged`);
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')), 'nothing sent');

    // Naming the CSV gives the pair X.json + X.csv; running again replaces that earlier report.
    for (const extra of [[], ['--restart']]) {
      const r = await runCli(['send', 'c.yaml', '--report', 'out/run.csv', ...extra], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'out')).sort(), ['run.csv', 'run.json']);
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'out', 'run.json'), 'utf8')).totals.sent, 1);
    }
  });

  test('a report that cannot be written after the messages went out: the summary, the reason, exit 1 (not 2: mail was sent)', { timeout: 30_000 }, async () => {
    const server = await startSmtpServer({ starttls: false });
    try {
      const dir = tmpDir();
      writeFiles(dir, {
        'c.yaml': `name: f\nfrom: me@example.com\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\nconcurrency: 1\nrate: { per_second: 2 }\ntransport: smtp+plain://127.0.0.1:${server.port}\n`,
        't.hbs': '<p>Hello {{name}}</p>\n',
        'r.csv': 'email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\n',
      });
      const run = runCli(['send', 'c.yaml', '--yes', '--report', 'out/run.json'], { cwd: dir });
      // Once the run has started, a file takes the report folder's place.
      await server.waitForMessages(1, 10_000);
      fs.rmSync(path.join(dir, 'out'), { recursive: true, force: true });
      fs.writeFileSync(path.join(dir, 'out'), 'in the way\n');
      const r = await run;
      assert.equal(server.messages.length, 3);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /f: sent 3, failed 0/);
      assert.match(r.stderr, /report not written: .*out.*a file is in the way/);
      assert.match(r.stderr, /the messages went out/);
    } finally {
      await server.close();
    }
  });

  test('dev-server: a port out of range or an address that is not local is a usage error', async () => {
    const dir = tmpDir();
    const range = await runCli(['dev-server', '--port', '99999'], { cwd: dir });
    assert.equal(range.code, 2, range.stderr);
    assert.match(range.stderr, /--port must be a whole number from 1 to 65535/);
    const host = await runCli(['dev-server', '--host', '192.0.2.1', '--port', '2600', '--dir', 'm'], { cwd: dir });
    assert.equal(host.code, 2, host.stderr);
    assert.match(host.stderr, /^dev-server: cannot listen on 192\.0\.2\.1:2600: /);
  });
});

test('two campaigns writing to one outbox:DIR (a pickup folder) do not replace each other\'s messages', async () => {
  const dir = writeFiles(tmpDir(), {
    't.hbs': '<p>Hi {{name}}</p>\n',
    'r.csv': 'email,name\na@example.com,A\nb@example.com,B\n',
    'news.yaml': 'name: news\nfrom: t@example.com\nsubject: "news for {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\ntransport: outbox:out\n',
    'promo.yaml': 'name: promo\nfrom: t@example.com\nsubject: "promo for {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\ntransport: outbox:out\n',
  });
  for (const f of ['news.yaml', 'promo.yaml']) assert.equal((await runCli(['send', f], { cwd: dir })).code, 0);
  const subjects = fs.readdirSync(path.join(dir, 'out')).map((n) => /^Subject: (.*)\r$/m.exec(fs.readFileSync(path.join(dir, 'out', n), 'utf8'))![1]).sort();
  assert.deepEqual(subjects, ['news for A', 'news for B', 'promo for A', 'promo for B']);
  // A run of the same campaign again (--restart) writes its own files anew, as before.
  assert.equal((await runCli(['send', 'news.yaml', '--restart'], { cwd: dir })).code, 0);
  assert.equal(fs.readdirSync(path.join(dir, 'out')).length, 4);
});

test('{{members}} of a group message is an error naming the loop to write ({{#each members}}), not "[object Object],…"', async () => {
  const dir = writeFiles(tmpDir(), {
    'r.csv': 'email,team\na@example.com,x\n',
    't.hbs': '<p>{{members}}</p>\n',
    'c.yaml': 'name: g\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\ngroup_by: team\n',
  });
  const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^t\.hbs:1:6: 'members' is a mapping or a list, which has no text: .*\{\{#each members\}\}/m);
});

test('preview --row of a line inside a multi-line record names the line the record starts on', async () => {
  const dir = writeFiles(tmpDir(), {
    'r.csv': 'email,name,note\na@example.com,A,"line one\nline two\nline three"\nb@example.com,B,x\n',
    't.hbs': '<p>{{name}}</p>\n',
    'c.yaml': 'name: ml\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n',
  });
  const inside = await runCli(['preview', 'c.yaml', '--row', '3', '--out', 'p'], { cwd: dir });
  assert.equal(inside.code, 2);
  assert.equal(inside.stderr.trim(), 'no recipient at line 3 in r.csv (line 3 is inside the record that starts on line 2, a@example.com: use --row 2)');
  assert.equal((await runCli(['preview', 'c.yaml', '--row', '5', '--out', 'p'], { cwd: dir })).code, 0);
});
