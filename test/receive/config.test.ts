// The mailbox file and mailbox URLs: what is accepted, and errors with their place.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadMailboxConfig } from '../../src/receive/config.js';
import { parseMailboxUrl } from '../../src/receive/mailbox-url.js';
import { formatDiagnostic, ValidationError } from '../../src/shared/diagnostics.js';
import { redact } from '../../src/shared/secrets.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

function errors(e: unknown): string[] {
  assert.ok(e instanceof ValidationError, String(e));
  return e.diagnostics.errors.map(formatDiagnostic);
}

test('mailbox URLs: defaults, folders, STARTTLS by scheme, credentials kept out of the shown form', () => {
  const a = parseMailboxUrl('imaps://bounces%40acme.example:s3cr%3At@imap.acme.example/Bounces%20In', '/x');
  assert.ok(a.kind === 'imap');
  {
    assert.deepEqual([a.secure, a.port, a.user, a.pass, a.folder, a.tlsVerify], [true, 993, 'bounces@acme.example', 's3cr:t', 'Bounces In', true]);
    assert.equal(a.shown, 'imaps://bounces%40acme.example@imap.acme.example:993/Bounces%20In');
  }
  const b = parseMailboxUrl('imap://u:p@h', '/x');
  assert.ok(b.kind === 'imap' && !b.secure && b.port === 143 && b.folder === 'INBOX');
  const c = parseMailboxUrl('pop3s://u:p@h?timeout=5s&tls_verify=false', '/x');
  assert.ok(c.kind === 'pop3' && c.secure && c.port === 995 && c.timeoutMs === 5000 && !c.tlsVerify);
  const d = parseMailboxUrl('pop3://u:p@h:1110', '/x');
  assert.ok(d.kind === 'pop3' && !d.secure && d.port === 1110);
  const e = parseMailboxUrl('dir:exports/bounces', '/base');
  assert.deepEqual(e, { kind: 'dir', path: path.resolve('/base/exports/bounces'), shown: `dir:${path.resolve('/base/exports/bounces')}` });
  for (const [bad, why] of [
    ['http://h', /unsupported scheme 'http:'/],
    ['imaps://h', /no user name/],
    ['pop3s://u:p@h/INBOX', /POP3 has no folders/],
    ['imaps://u:p@h?verify=no', /unknown parameter 'verify'/],
    ['dir:', /needs a folder/],
  ] as const) {
    assert.throws(() => parseMailboxUrl(bad, '/x'), why, bad);
  }
  assert.equal(redact('password s3cr:t'), 'password ***', 'the URL password is registered as a secret');
});

test('a mailbox file: ${VAR} from .env, after:, limits, unsubscribe addresses, ca:', () => {
  const dir = writeFiles(tmpDir('mailcamp-mbcfg-'), {
    'mailbox.yaml': [
      'url: imaps://bounces%40acme.example:${IMAP_PASS}@imap.acme.example:993/INBOX',
      'after: move:Done/2026',
      'soft_bounce_limit: 5',
      'unsubscribe_mailto: [ "mailto:unsubscribe@acme.example?subject=unsubscribe", Leave@Acme.example ]',
      'ca: certs/ca.pem',
    ].join('\n'),
    '.env': 'IMAP_PASS=from-dotenv\n',
    'certs/ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  });
  const c = loadMailboxConfig('mailbox.yaml', { cwd: dir, env: {} });
  assert.ok(c.url.kind === 'imap' && c.url.pass === 'from-dotenv');
  assert.deepEqual(c.after, { kind: 'move', folder: 'Done/2026' });
  assert.equal(c.softBounceLimit, 5);
  assert.deepEqual(c.unsubscribeAddresses, ['unsubscribe@acme.example', 'leave@acme.example']);
  assert.match(c.ca ?? '', /BEGIN CERTIFICATE/);
  assert.equal(c.campaign, undefined);
});

test('every problem is reported at once with its line and column', () => {
  const dir = writeFiles(tmpDir('mailcamp-mbcfg-'), {
    'mailbox.yaml': ['url: pop3s://u:${NOPE}@pop.example.com', 'after: move:Old', 'soft_bounce_limit: 0', 'afterr: keep', 'ca: missing.pem'].join('\n'),
  });
  let caught: unknown;
  try {
    loadMailboxConfig('mailbox.yaml', { cwd: dir, env: {} });
  } catch (e) {
    caught = e;
  }
  const got = errors(caught);
  assert.ok(got.some((l) => /^mailbox\.yaml:1:6: url: environment variable NOPE is not set/.test(l)), got.join('\n'));
  assert.ok(got.some((l) => /^mailbox\.yaml:3:20: soft_bounce_limit must be a positive whole number/.test(l)), got.join('\n'));
  assert.ok(got.some((l) => /^mailbox\.yaml:4:1: .*afterr.*did you mean 'after'/.test(l)), got.join('\n'));
  assert.ok(got.some((l) => /^mailbox\.yaml:5:5: ca: cannot read missing\.pem/.test(l)), got.join('\n'));

  const pop = writeFiles(tmpDir('mailcamp-mbcfg-'), { 'mailbox.yaml': 'url: pop3s://u:p@pop.example.com\nafter: move:Old\n' });
  assert.ok(errors(catchIt(() => loadMailboxConfig('mailbox.yaml', { cwd: pop }))).some((l) => /^mailbox\.yaml:2:8: after: POP3 has no folders/.test(l)));
  for (const [url, folder] of [['imaps://u:p@imap.example.com/INBOX', 'inbox'], ['imaps://u:p@imap.example.com', 'INBOX'], ['imaps://u:p@imap.example.com/Bounces', 'Bounces']]) {
    const same = writeFiles(tmpDir('mailcamp-mbcfg-'), { 'mailbox.yaml': `url: ${url}\nafter: move:${folder}\n` });
    assert.ok(errors(catchIt(() => loadMailboxConfig('mailbox.yaml', { cwd: same }))).some((l) => new RegExp(`^mailbox\\.yaml:2:8: after: move:${folder} is the folder being read`).test(l)), url);
  }
  const bad = writeFiles(tmpDir('mailcamp-mbcfg-'), { 'mailbox.yaml': 'url: dir:x\nafter: archive\n' });
  assert.ok(errors(catchIt(() => loadMailboxConfig('mailbox.yaml', { cwd: bad }))).some((l) => /^mailbox\.yaml:2:8: after must be keep, delete or move:FOLDER/.test(l)));
  const none = writeFiles(tmpDir('mailcamp-mbcfg-'), { 'mailbox.yaml': 'after: keep\n' });
  assert.ok(errors(catchIt(() => loadMailboxConfig('mailbox.yaml', { cwd: none }))).some((l) => /missing required key 'url'/.test(l)));
});

test("a campaign's mailbox: section, with its unsubscribe mailto", () => {
  const dir = writeFiles(tmpDir('mailcamp-mbcfg-'), {
    'news.yaml': [
      'name: nov-news',
      'from: news@acme.example',
      'subject: hi',
      'template: t.hbs',
      'recipients: r.csv',
      'unsubscribe: { mailto: "unsubscribe@acme.example" }',
      'mailbox:',
      '  url: dir:returned',
      '  after: delete',
      '  urll: x',
    ].join('\n'),
  });
  assert.ok(errors(catchIt(() => loadMailboxConfig('news.yaml', { cwd: dir }))).some((l) => /^news\.yaml:10:3: unknown key 'urll' in mailbox; did you mean 'url'/.test(l)));
  writeFiles(dir, { 'news.yaml': fs.readFileSync(path.join(dir, 'news.yaml'), 'utf8').replace('  urll: x', '') });
  const c = loadMailboxConfig('news.yaml', { cwd: dir });
  assert.equal(c.campaign, 'nov-news');
  assert.deepEqual(c.after, { kind: 'delete' });
  assert.deepEqual(c.unsubscribeAddresses, ['unsubscribe@acme.example']);
  assert.ok(c.url.kind === 'dir' && c.url.path === path.join(dir, 'returned'));
});

function catchIt(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}


test("a campaign's mailbox: section is checked by validate too; a campaign without one is one line for bounces", async () => {
  const { runCli } = await import('../helpers/cli.js');
  const base = 'name: m\nfrom: a@example.com\nsubject: x\ntemplate: t.hbs\nrecipients: r.csv\n';
  const dir = writeFiles(tmpDir(), {
    't.hbs': '<p>x</p>\n',
    'r.csv': 'email\na@example.com\n',
    'bad.yaml': `${base}mailbox:\n  url: ftp://x\n  sof_bounce_limit: 2\n`,
    'good.yaml': `${base}mailbox:\n  url: imaps://u:\${IMAP_PASS}@127.0.0.1:993/INBOX\n  after: delete\n`,
    'none.yaml': base,
  });
  const bad = await runCli(['validate', 'bad.yaml'], { cwd: dir, env: {} });
  assert.equal(bad.code, 2);
  assert.deepEqual(bad.stderr.trim().split('\n'), [
    "bad.yaml:8:3: unknown key 'sof_bounce_limit' in mailbox; did you mean 'soft_bounce_limit'?",
    "bad.yaml:7:8: mailbox.url: unsupported scheme 'ftp:' (use imaps://, imap://, pop3s://, pop3:// or dir:PATH)",
    '2 errors, 0 warnings; nothing was sent',
  ]);
  // send and preview agree with validate: nothing is sent from a file with errors in it.
  for (const args of [['send', 'bad.yaml', '--dry-run'], ['preview', 'bad.yaml']]) {
    const r = await runCli(args, { cwd: dir, env: {} });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /unsupported scheme 'ftp:'/);
  }
  // Its password variable is bounces's business: validate of the campaign does not need it.
  const good = await runCli(['validate', 'good.yaml'], { cwd: dir, env: {} });
  assert.equal(good.code, 0, good.stderr);
  assert.equal((await runCli(['send', 'good.yaml', '--dry-run'], { cwd: dir, env: {} })).code, 0);
  const none = await runCli(['bounces', 'none.yaml'], { cwd: dir, env: {} });
  assert.equal(none.code, 2);
  assert.equal(none.stderr, 'none.yaml: a campaign file with no mailbox: section; add one (mailbox: { url: imaps://…, after: keep }) or give a mailbox file\n');
});
