// The campaign loader: every problem with its line:col, suggestions for unknown keys,
// ${VAR} from the environment and .env, paths relative to the campaign file.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadDotEnv } from '../../src/campaign/env.js';
import { loadCampaign } from '../../src/campaign/load.js';
import { Diagnostics, formatDiagnostic, ValidationError } from '../../src/shared/diagnostics.js';
import { parseTransportUrl } from '../../src/send/transport-url.js';
import { MailcampError } from '../../src/shared/errors.js';
import { redact } from '../../src/shared/secrets.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const BASE = {
  't.hbs': '<p>{{name}}</p>',
  'r.csv': 'email,name\na@example.com,A\n',
};

function project(yaml: string, extra: Record<string, string> = {}): string {
  const dir = tmpDir();
  writeFiles(dir, { ...BASE, ...extra, 'c.yaml': yaml });
  return path.join(dir, 'c.yaml');
}

function problems(file: string, env: Record<string, string> = {}): string[] {
  try {
    loadCampaign(file, { env, cwd: path.dirname(file) });
  } catch (e) {
    if (e instanceof ValidationError) return e.diagnostics.errors.map(formatDiagnostic);
    throw e;
  }
  return [];
}

const MIN = 'name: t\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n';

describe('loadCampaign', () => {
  test('a minimal campaign loads with defaults', () => {
    const c = loadCampaign(project(MIN), { env: {} });
    assert.equal(c.name, 't');
    assert.equal(c.from.address, 'a@example.com');
    assert.equal(c.template.kind, 'handlebars');
    assert.equal(c.recipients.encoding, 'utf-8');
    assert.equal(c.recipients.emailColumn, 'email');
    assert.equal(c.concurrency, 4);
    assert.deepEqual(c.retry, { attempts: 5, initialDelayMs: 2000, maxDelayMs: 300000 });
    assert.equal(c.transport, undefined);
  });

  test('suggestions: a swap of two letters is one edit; short (two-character Chinese) names get none that keeps nothing', async () => {
    const { suggest } = await import('../../src/campaign/suggest.js');
    assert.equal(suggest('nmae', ['name', 'email']), 'name');
    assert.equal(suggest('subjet', ['subject', 'from']), 'subject');
    assert.equal(suggest('concurency', ['concurrency']), 'concurrency');
    assert.equal(suggest('名字', ['编号', '姓名', '邮箱']), undefined);
    assert.equal(suggest('姓名', ['E-mail', 'Name', '团队']), undefined);
    assert.equal(suggest('客户名', ['客户名称', '邮箱']), '客户名称');
  });

  test('unknown key: error at its line:col with a suggestion', () => {
    const p = problems(project(MIN + 'subjet: x\n'));
    assert.deepEqual(p, ["c.yaml:6:1: unknown key 'subjet'; did you mean 'subject'?"]);
  });

  test('nested unknown key and wrong types, all reported at once', () => {
    const p = problems(project(MIN + 'rate: { per_secnd: 5, per_hour: -1 }\nconcurrency: two\nretry: { initial_delay: soon }\n'));
    assert.deepEqual(p, [
      "c.yaml:6:9: unknown key 'per_secnd' in rate; did you mean 'per_second'?",
      'c.yaml:6:33: rate.per_hour must be a positive number',
      'c.yaml:7:14: concurrency must be a positive whole number',
      'c.yaml:8:25: retry.initial_delay must be a duration like 500ms, 2s, 5m or 1h',
    ]);
  });

  test('YAML syntax error and duplicate key with their places', () => {
    assert.deepEqual(problems(project(MIN + 'name: again\n')), ["c.yaml:6:1: duplicate key 'name'"]);
    const p = problems(project('name: t\nfrom: [a@example.com\nsubject: x\n'));
    assert.equal(p.length >= 1, true);
    assert.match(p[0], /^c\.yaml:\d+:\d+: /);
  });

  test('alias bomb is refused quickly', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
    const t = Date.now();
    const p = problems(project(MIN + 'data:\n' + lines.map((l) => '  ' + l).join('\n') + '\n'));
    assert.ok(Date.now() - t < 2000);
    assert.match(p.join('\n'), /aliases/);
  });

  test('missing files are named at the key that points to them', () => {
    const p = problems(project('name: t\nfrom: a@example.com\nsubject: hi\ntemplate: nope.mjml\nrecipients: none.csv\n'));
    assert.deepEqual(p, ['c.yaml:4:11: template not found: nope.mjml', 'c.yaml:5:13: recipient list not found: none.csv']);
  });

  test('${VAR} from the environment, then .env; missing one named; secret registered', () => {
    const yaml = MIN + 'transport: smtp://u:${SMTP_PASS}@smtp.example.com:587\ndata: { who: "${WHO}" }\n';
    const file = project(yaml, { '.env': 'WHO=dotenv\nSMTP_PASS=fromdotenv\n' });
    const c = loadCampaign(file, { env: { SMTP_PASS: 's3cr3t-pass' } });
    assert.equal(c.transport, 'smtp://u:s3cr3t-pass@smtp.example.com:587');
    assert.equal(c.data.who, 'dotenv');
    assert.equal(redact('x s3cr3t-pass y'), 'x *** y');
    // A ${VAR} placeholder in a URL (the help's example) is no password: left as written.
    assert.equal(redact('use smtp://user:${SMTP_PASS}@smtp.example.com:587'), 'use smtp://user:${SMTP_PASS}@smtp.example.com:587');
    assert.equal(redact('use smtp://user:hunter2@smtp.example.com:587'), 'use smtp://user:***@smtp.example.com:587');
    const p = problems(project(MIN + 'data: { who: "${NOPE_NOT_SET}" }\n'));
    assert.deepEqual(p, ['c.yaml:6:14: data.who: environment variable NOPE_NOT_SET is not set (nor in .env)']);
    // A .env of megabytes is a mistake, not a file to read whole.
    const big = project(MIN, { '.env': `A=${'x'.repeat(2 * 1024 * 1024)}\n` });
    assert.throws(() => loadCampaign(big, { env: {} }), (e: unknown) => e instanceof MailcampError && /\.env: \d+ bytes: too large for this file/.test(e.toString()));
    // A quote that does not close: an error at its line, not a password with a quote in it.
    const open = project(MIN + 'transport: smtp://u:${SMTP_PASS}@smtp.example.com:587\n', { '.env': 'A=1\nSMTP_PASS="S3cr3tPW\n' });
    assert.throws(
      () => loadCampaign(open, { env: {} }),
      (e: unknown) => e instanceof MailcampError && /\.env:2: SMTP_PASS: the value opens a quote \("\) that does not close on this line$/.test(e.toString()) && !e.toString().includes('S3cr3tPW'),
    );
  });

  test('.env: quotes, a comment after a quoted or plain value, export, CRLF', () => {
    const env =
      'A="Hello there"   # a comment\r\nB=\'single # not a comment\'  # one\nexport C=plain value # note\nD="say \\"hi\\""\nE=ab#cd\n# F=commented\nG="p4ss\\"\n';
    const dir = path.dirname(project(MIN, { '.env': env }));
    assert.deepEqual(loadDotEnv(dir), { A: 'Hello there', B: 'single # not a comment', C: 'plain value', D: 'say "hi"', E: 'ab#cd', G: 'p4ss\\' });
  });

  test('${VAR} in every value: subject, unsubscribe url, attachment filename, numbers, durations, booleans', () => {
    const yaml =
      'name: t\nfrom: a@example.com\nsubject: "${SUBJ} for {{name}}: ${{amount}}"\ntemplate: t.hbs\nrecipients: r.csv\n' +
      'unsubscribe: { url: "https://${HOST}/u?id={{name}}" }\nattachments: [{ path: t.hbs, filename: "${AF}.html" }]\n' +
      'concurrency: ${CONC}\nretry: { attempts: "${TRIES}", initial_delay: "${DELAY}" }\ngroup_by: { column: name, bcc: "${BCC}" }\n';
    const env = { SUBJ: 'News', HOST: 'acme.example', AF: 'page', CONC: '3', TRIES: '4', DELAY: '250ms', BCC: 'true' };
    const c = loadCampaign(project(yaml), { env });
    assert.equal(c.subject, 'News for {{name}}: ${{amount}}', '`${{` is a dollar sign and a template');
    assert.equal(c.unsubscribe?.url, 'https://acme.example/u?id={{name}}');
    assert.equal(c.attachments[0].filename, 'page.html');
    assert.deepEqual([c.concurrency, c.retry.attempts, c.retry.initialDelayMs, c.bcc], [3, 4, 250, true]);
    assert.deepEqual(problems(project(yaml), { ...env, CONC: 'many' }), ['c.yaml:8:14: concurrency must be a positive whole number']);
    assert.deepEqual(problems(project(yaml), { ...env, SUBJ: undefined as unknown as string }), [
      'c.yaml:3:10: subject: environment variable SUBJ is not set (nor in .env)',
    ]);
  });

  test('an unknown recipients.encoding is named at its place in the campaign file, with a suggestion', () => {
    const p = problems(project('name: t\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: { file: r.csv, encoding: gbkk }\nconcurrency: -1\n'));
    assert.equal(p.length, 2, p.join('\n'));
    assert.match(p[0], /^c\.yaml:5:38: recipients\.encoding: unknown encoding 'gbkk'.*; did you mean 'gbk'\?$/);
    assert.match(p[1], /^c\.yaml:6:14: concurrency/);
  });

  test('bcc without group_by, and dkim domain and selector that are not DNS names, are errors at their place', () => {
    assert.deepEqual(problems(project(MIN + 'bcc: true\n')), ['c.yaml:6:6: bcc: only with group_by (each message goes to one recipient otherwise)']);
    assert.deepEqual(problems(project(MIN + 'group_by: name\nbcc: true\n')), []);
    const dkim = (d: string, sel: string) => problems(project(MIN + `dkim: { domain: "${d}", selector: "${sel}", private_key: k.pem }\n`, { 'k.pem': 'x' }));
    assert.match(dkim('bad domain', 's1')[0], /^c\.yaml:6:\d+: dkim\.domain must be a domain name/);
    assert.match(dkim('acme.example', 's 1;x=y')[0], /^c\.yaml:6:\d+: dkim\.selector must be DNS labels/);
    assert.deepEqual(dkim('acme.example', 'mail-2026.s1'), []);
  });

  test('a from: name with parentheses keeps them (RFC 5322 would read them as a comment)', () => {
    const c = loadCampaign(project(MIN.replace('from: a@example.com', 'from: Acme (News) <news@acme.example>')), { env: {} });
    assert.deepEqual(c.from, { name: 'Acme (News)', address: 'news@acme.example' });
  });

  test('YAML mistakes say what to do: unquoted {{…}}, an undefined alias, a second document; a duplicate key is named and the rest still checked', () => {
    assert.deepEqual(problems(project(MIN.replace('subject: hi', 'subject: {{name}}'))), ['c.yaml:3:10: a value that starts with {{ must be in quotes: "{{name}}"']);
    assert.deepEqual(problems(project(MIN.replace('subject: hi', 'subject: {{name}}, hello'))), ['c.yaml:3:10: a value that starts with {{ must be in quotes: "{{name}}, hello"']);
    assert.deepEqual(problems(project(MIN.replace('subject: hi', 'subject: *nope'))), [
      "c.yaml:3:10: alias '*nope' is not defined (an anchor &nope must come before it; to write a '*', put the value in quotes)",
    ]);
    assert.deepEqual(problems(project(`${MIN}---\nname: u\n`)), ["c.yaml:6:1: one campaign per file: a second document starts here ('---')"]);
    assert.deepEqual(problems(project(`${MIN}subject: again\nconcurrency: 0\nsubjet: x\n`)), [
      "c.yaml:6:1: duplicate key 'subject'",
      "c.yaml:8:1: unknown key 'subjet'; did you mean 'subject'?",
      'c.yaml:7:14: concurrency must be a positive whole number',
    ]);
  });

  test('a from: with a typo is an error, not read as something else; retry delays the wrong way round are an error', () => {
    for (const bad of ['Test <news@acme.example', 'Test <news@acme.example> trailing']) {
      assert.match(problems(project(MIN.replace('from: a@example.com', `from: "${bad}"`)))[0], /^c\.yaml:2:7: from must be one address like .*\(check the < >\)$/, bad);
    }
    assert.deepEqual(problems(project(`${MIN}retry: { initial_delay: 5m, max_delay: 1s }\n`)), [
      'c.yaml:6:25: retry.initial_delay is longer than retry.max_delay (the first wait would be cut to max_delay)',
    ]);
  });

  test('a .env that is there but cannot be read is an error naming it, not silently no variables', () => {
    const file = project(MIN);
    fs.mkdirSync(path.join(path.dirname(file), '.env'));
    assert.throws(() => loadCampaign(file, { env: {} }), /\.env: cannot read the file: EISDIR/);
  });

  test('name: with no value counts as no name: (the file name), not as a campaign called undefined', () => {
    for (const v of ['', ' ~', ' null']) {
      const c = loadCampaign(project(MIN.replace('name: t\n', `name:${v}\n`)), { env: {} });
      assert.equal(c.name, 'c', JSON.stringify(v));
    }
  });

  test("a from: name with ':' or ';' keeps every word (RFC 5322 would read a group), and goes out quoted", async () => {
    const { headerLine } = await import('../../src/compose/headers.js');
    for (const name of ['Acme: Billing', '财务部: 发票', 'Acme; Billing', 'IT: Service Desk (Tier 1)']) {
      const c = loadCampaign(project(MIN.replace('from: a@example.com', `from: ${JSON.stringify(`${name} <billing@acme.example>`)}`)), { env: {} });
      assert.deepEqual(c.from, { name, address: 'billing@acme.example' });
    }
    assert.equal(headerLine('From', { name: 'Acme: Billing', address: 'b@acme.example' }), 'From: "Acme: Billing" <b@acme.example>\r\n');
    // Still one address: two are refused, a quoted name is read as RFC 5322 says.
    assert.match(problems(project(MIN.replace('from: a@example.com', 'from: "x@acme.example, Bob <b@acme.example>"')))[0], /from must be one address/);
    const q = loadCampaign(project(MIN.replace('from: a@example.com', `from: '"Acme: Billing" <b@acme.example>'`)), { env: {} });
    assert.deepEqual(q.from, { name: 'Acme: Billing', address: 'b@acme.example' });
  });

  test('a Windows path: the error stays one line (YAML reads \\n in double quotes as a line break) and says to write /', () => {
    const got = problems(project(MIN + 'attachments:\n  - "files\\newsletter.pdf"\n  - files\\terms.pdf\n'));
    assert.deepEqual(got, [
      "c.yaml:7:5: attachment not found: files\\newsletter.pdf (write paths with '/', not '\\')",
      "c.yaml:8:5: attachment not found: files\\terms.pdf (write paths with '/', not '\\')",
    ]);
    for (const line of got) assert.ok(!line.includes('\n'));
    // There, but a folder: said so rather than "not found".
    const dir = path.dirname(project(MIN.replace('template: t.hbs', 'template: tpl.hbs')));
    fs.mkdirSync(path.join(dir, 'tpl.hbs'));
    assert.deepEqual(problems(path.join(dir, 'c.yaml')), ['c.yaml:4:11: template not found: tpl.hbs (that is a folder, not a file)']);
  });

  test('a campaign name taken from a file name that is not one says where it came from and what to add', () => {
    const dir = tmpDir();
    writeFiles(dir, { ...BASE, '十一月通知.yaml': MIN.replace('name: t\n', '') });
    assert.deepEqual(problems(path.join(dir, '十一月通知.yaml')), [
      "十一月通知.yaml:1:1: name must match [a-z0-9._-]+ and not be '.', '..' or 'suppression' (it names the journal folder); got '十一月通知' (taken from the file name: add a `name:` key, e.g. name: my-campaign)",
    ]);
  });

  test("a full-width '：' after a key is named at its place instead of the parser's complaint about another line", () => {
    assert.deepEqual(problems(project(MIN.replace('subject: hi', 'subject："你好"'))), ["c.yaml:3:8: full-width '：' after 'subject': write an ASCII ':'"]);
    assert.deepEqual(problems(project(MIN + 'retry:\n  attempts：3\n')), ["c.yaml:7:11: full-width '：' after 'attempts': write an ASCII ':'"]);
  });

  test('{{…}} in from: or reply_to: is an error (they are not templates; it would go out as written)', () => {
    assert.deepEqual(problems(project(MIN + 'reply_to: "{{team}}-lead@acme.example"\n')), [
      "c.yaml:6:11: reply_to is not a template: '{{team}}-lead@acme.example' would be sent as written; use one fixed address",
    ]);
  });

  test('full-width brackets around the address (a Chinese input method) are an error; in the name they are fine', () => {
    for (const from of ['财务部 ＜finance@example.cn＞', '财务部 《finance@example.cn》']) {
      assert.deepEqual(problems(project(MIN.replace('from: a@example.com', `from: ${from}`))), [
        `c.yaml:2:7: from: '${[...from][4]}' around the address: write "Name <you@example.com>" with ASCII < >`,
      ]);
    }
    assert.deepEqual(problems(project(MIN + 'reply_to: 客服 ＜help@example.cn＞\n')).map((l) => l.slice(0, 20)), ['c.yaml:6:11: reply_t']);
    const c = loadCampaign(project(MIN.replace('from: a@example.com', 'from: "《读者》杂志 <news@acme.example>"')), { env: {} });
    assert.deepEqual(c.from, { name: '《读者》杂志', address: 'news@acme.example' });
  });

  test('a ${VAR} password in the transport URL may hold @ / # ? %: it is percent-encoded there', () => {
    const pw = 'p@ss/w#rd?x%zz';
    const c = loadCampaign(project(MIN + 'transport: smtp://u%40acme.example:${PW}@smtp.example.com:587\n'), { env: { PW: pw } });
    assert.equal(c.transport, 'smtp://u%40acme.example:p%40ss%2Fw%23rd%3Fx%25zz@smtp.example.com:587');
    const spec = parseTransportUrl(c.transport!, process.cwd());
    assert.ok(spec.kind === 'smtp');
    assert.deepEqual([spec.host, spec.user, spec.pass], ['smtp.example.com', 'u@acme.example', pw]);
    assert.equal(redact(`x ${pw} y`), 'x *** y');
    // The whole user info in one variable; a user name someone percent-encoded already.
    const creds = loadCampaign(project(MIN + 'transport: smtp://${CREDS}@smtp.example.com\n'), { env: { CREDS: 'u@acme.example:p@ss' } });
    assert.equal(creds.transport, 'smtp://u%40acme.example:p%40ss@smtp.example.com');
    const user = loadCampaign(project(MIN + 'transport: smtp://${U}:${PW}@smtp.example.com\n'), { env: { U: 'u%40acme.example', PW: 'x' } });
    assert.equal(user.transport, 'smtp://u%40acme.example:x@smtp.example.com');
    // A password that looks percent-encoded is the password itself: `ab%2Fcd` is sent as written.
    for (const pw of ['ab%2Fcd', '100%25', 'p%40ss']) {
      const t = loadCampaign(project(MIN + 'transport: smtp://u:${PW}@smtp.example.com\n'), { env: { PW: pw } }).transport!;
      const parsed = parseTransportUrl(t, process.cwd());
      assert.ok(parsed.kind === 'smtp' && parsed.pass === pw, `${pw}: ${t}`);
    }
    // A variable that is a piece of the user name or password: a '#' or '@' in it does not end the user info.
    const piece = loadCampaign(project(MIN + 'transport: smtp://news-${TEAM}:pw-${PIN}@smtp.example.com\n'), { env: { TEAM: 'a#b', PIN: '1@2/3' } }).transport!;
    const p2 = parseTransportUrl(piece, process.cwd());
    assert.ok(p2.kind === 'smtp');
    assert.deepEqual([p2.host, p2.user, p2.pass], ['smtp.example.com', 'news-a#b', 'pw-1@2/3']);
  });

  test('transport URLs are checked', () => {
    assert.match(problems(project(MIN + 'transport: ftp://x\n'))[0], /unknown transport scheme 'ftp:'/);
    assert.match(problems(project(MIN + 'transport: smtp+plain://u:pw@mail.example.com\n'))[0], /clear text/);
    assert.deepEqual(problems(project(MIN + 'transport: smtps://mail.example.com?tls_verify=false\n')), []);
  });

  test('addresses and name are validated', () => {
    const p = problems(project('name: Bad Name\nfrom: not-an-address\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n'));
    assert.match(p[0], /^c\.yaml:1:7: name must match/);
    assert.match(p[1], /^c\.yaml:2:7: from/);
  });

  test('recipients mapping and templated attachments', () => {
    const c = loadCampaign(
      project(
        'name: t\nfrom: "Acme <a@example.com>"\nsubject: hi\ntemplate: t.hbs\n' +
          'recipients: { file: r.csv, encoding: GBK, delimiter: ";", email_column: mail }\n' +
          'attachments:\n  - path: "inv/{{id}}.pdf"\n    filename: "Invoice {{id}}.pdf"\n',
        { 'inv/.keep': '' },
      ),
      { env: {} },
    );
    assert.equal(c.from.name, 'Acme');
    assert.equal(c.recipients.encoding, 'gbk');
    assert.equal(c.recipients.delimiter, ';');
    assert.equal(c.recipients.emailColumn, 'mail');
    const a = c.attachments[0];
    assert.equal(a.kind, 'templated');
    assert.ok(a.kind === 'templated' && a.baseDir.endsWith(`${path.sep}inv`));
  });

  test('diagnostics keep going past the first error', () => {
    const d = new Diagnostics();
    assert.throws(() => loadCampaign(project('from: x\nsubjet: y\n'), { env: {} }, d));
    assert.ok(d.errorCount >= 3, d.errors.map(formatDiagnostic).join('\n'));
  });
});
