// Header bytes of composed messages that the golden file does not reach: part headers of
// attachments with long non-ASCII names (folded, RFC 5322 §2.1.1 and §2.2.3), ASCII text that
// reads as an encoded word (RFC 2047: sent encoded, so clients show what the CSV holds), and
// List-Unsubscribe's mailto (rendered per recipient, internationalized domains as A-labels).
// Each message is parsed back with mailparser.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import libmime from 'libmime';
import { simpleParser } from 'mailparser';
import { loadCampaign } from '../../src/campaign/load.js';
import { compose, prepare } from '../../src/compose/index.js';
import { compileCampaign } from '../../src/render/index.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { MailcampError } from '../../src/shared/errors.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

async function build(yamlExtra: string, files: Record<string, string | Uint8Array>, fields: Record<string, string>) {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': `name: h\nfrom: "Acme <news@acme.example>"\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n${yamlExtra}`,
    't.hbs': '<p>Hello {{name}}</p>\n',
    'r.csv': `${Object.keys(fields).join(',')}\n${Object.values(fields).join(',')}\n`,
    ...files,
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = await compileCampaign(c, Object.keys(fields), diag);
  assert.ok(compiled, JSON.stringify(diag.errors));
  const p = prepare(compiled);
  const rendered = compiled.render({ row: 2, email: fields.email, name: fields.name, fields }, new Date(0));
  const raw = compose(p, {
    to: [{ name: fields.name, address: fields.email }],
    rendered,
    messageId: '<h.1@acme.example>',
    date: new Date(0),
    recipientToken: 't',
    attachments: [],
  }).raw.toString('latin1');
  return { raw, compiled, p };
}

function headLines(raw: string): string[] {
  return raw.split('\r\n');
}

test('an attachment with a long Chinese name: part headers folded, every line ≤ 78, the name recovered exactly', async () => {
  const long = '张伟的十一月发票和说明文件'.repeat(16) + '.txt'; // 208 characters
  const { raw } = await build(`attachments: [{ path: a.txt, filename: "${long}" }]\n`, { 'a.txt': 'x\n' }, { email: 'a@example.com', name: 'Ann' });
  assert.ok(!/[^\x00-\x7f]/.test(raw), '7-bit');
  const over = headLines(raw).filter((l) => l.length > 78);
  assert.deepEqual(over, [], 'no line over 78 characters');
  const m = await simpleParser(raw);
  assert.equal(m.attachments.length, 1);
  assert.equal(m.attachments[0].filename, long);
  assert.equal(m.attachments[0].content.toString(), 'x\n');
});

test('long ASCII attachment names with spaces, ; and quotes: RFC 2231 sections quoted (RFC 2045 §5.1), read back exactly', async () => {
  const names = ['Acme Terms and Conditions for Newsletter Subscribers 2026.pdf', 'Statement; November 2026 for Acme Corporation Customers (final).pdf', 'a "quoted" name.pdf', 'a*b.pdf'];
  const yaml = `attachments:\n${names.map((n) => `  - { path: a.txt, filename: ${JSON.stringify(n)} }\n`).join('')}`;
  const { raw } = await build(yaml, { 'a.txt': 'x\n' }, { email: 'a@example.com', name: 'Ann' });
  // Every section of a parameter that is not percent-encoded (`*N*=`) is a token or a quoted-string.
  const sections = [...raw.matchAll(/filename\*\d+=("(?:[^"\\]|\\.)*"|[^;\r\n]*)(;|\r\n)/g)];
  assert.ok(sections.length >= 4, 'the long names come in sections');
  for (const m of sections) assert.match(m[1], /^(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9!#$%&'*+.^_`{|}~-]+)$/, m[0]);
  assert.match(raw, /filename="a\*b\.pdf"/, 'a * is quoted: some parsers take it for RFC 2231 syntax');
  // A name that reads as an encoded word goes out in RFC 2231's encoding, or lenient clients show it decoded.
  const look = '=?utf-8?B?SGVsbG8=?=.pdf';
  const lookalike = (await build(`attachments:\n  - { path: a.txt, filename: "${look}" }\n`, { 'a.txt': 'x\n' }, { email: 'a@example.com', name: 'Ann' })).raw;
  assert.match(lookalike, /;\r\n name\*0\*=utf-8''%3D%3Futf-8%3FB%3FSGVsbG8%3D%3F%3D\.pdf\r\n/);
  assert.match(lookalike, /filename\*0\*=utf-8''%3D%3Futf-8%3FB%3FSGVsbG8%3D%3F%3D\.pdf\r\n/);
  // (mailparser decodes encoded words even inside an RFC 2231 value: no parser check here.)
  // No encoded word in any parameter (RFC 2047 §5): a non-ASCII or long name is in RFC 2231 sections.
  const cjk = (await build('attachments:\n  - { path: a.txt, filename: "发票 2026-11.pdf" }\n', { 'a.txt': 'x\n' }, { email: 'a@example.com', name: 'Ann' })).raw;
  assert.doesNotMatch(cjk + raw, /name="?=\?/i);
  assert.match(cjk, /Content-Type: text\/plain;(?: |\r\n )name\*0\*=utf-8''%E5%8F%91%E7%A5%A8%202026-11\.pdf\r\n/);
  assert.deepEqual((await simpleParser(cjk)).attachments.map((a) => a.filename), ['发票 2026-11.pdf']);
  const m = await simpleParser(raw);
  assert.deepEqual(m.attachments.map((a) => a.filename), names);
});

test('an attachment name of 1,000+ characters, ASCII or not: every part header line ≤ 998, the name read back exactly', async () => {
  const names = [`${'a'.repeat(1000)}.pdf`, `发票${'b'.repeat(1200)}.pdf`];
  const yaml = `attachments:\n${names.map((n) => `  - { path: a.txt, filename: ${JSON.stringify(n)} }\n`).join('')}`;
  const { raw } = await build(yaml, { 'a.txt': 'x\n' }, { email: 'a@example.com', name: 'Ann' });
  assert.deepEqual(raw.split('\r\n').filter((l) => l.length > 998).map((l) => l.slice(0, 40)), []);
  const m = await simpleParser(raw);
  assert.deepEqual(m.attachments.map((a) => a.filename), names);
});

test('a subject, name or custom header that is one token of 1,000+ characters: encoded words, every line ≤ 998 (RFC 5322 §2.1.1), read back exactly', async () => {
  const long = (c: string) => c.repeat(1100);
  const { raw } = await build('headers: { X-Ref: "{{ref}}" }\n', {}, { email: 'a@example.com', name: long('N'), ref: long('R') });
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  assert.deepEqual(head.split('\r\n').filter((l) => l.length > 998), [], 'no header line over 998');
  const m = await simpleParser(raw);
  assert.equal(m.subject, `Hi ${long('N')}`);
  assert.equal((Array.isArray(m.to) ? m.to[0] : m.to)!.value[0].name, long('N'));
  assert.equal(libmime.decodeWords(String(m.headers.get('x-ref'))), long('R')); // mailparser leaves X- headers as they are
});

test('a value whose first word does not fit after the name is not folded right after the colon', async () => {
  const { raw } = await build('headers: { X-Ref: "{{ref}}" }\n', {}, { email: 'a@example.com', name: 'N'.repeat(75), ref: 'a'.repeat(70) });
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
  assert.deepEqual(head.filter((l) => /^[A-Za-z-]+:$/.test(l)), [], 'no header name alone on its line');
  assert.ok(head.includes(`X-Ref: ${'a'.repeat(70)}`), head.join('\n'));
  assert.ok(head.includes(`To: ${'N'.repeat(75)}`), head.join('\n'));
});

test('a name or subject that reads as an encoded word is sent encoded and comes back as written', async () => {
  const name = '=?UTF-8?B?5byg5Lyf?= <x@evil.example>';
  const { raw } = await build('', {}, { email: 'a@example.com', name });
  const m = await simpleParser(raw);
  assert.equal(m.subject, `Hi ${name}`);
  const to = (Array.isArray(m.to) ? m.to[0] : m.to)!.value;
  assert.deepEqual(to.map((a) => [a.name, a.address]), [[name, 'a@example.com']]);
  assert.ok(!raw.slice(0, raw.indexOf('\r\n\r\n')).includes('=?UTF-8?B?5byg5Lyf?='), 'the look-alike is not in the headers as it was');
  // With a space inside: lenient decoders (mailparser) read it even in a quoted name.
  const spaced = '=?utf-8?Q?a b?=';
  const two = await simpleParser((await build('', {}, { email: 'a@example.com', name: spaced })).raw);
  assert.equal((Array.isArray(two.to) ? two.to[0] : two.to)!.value[0].name, spaced);
});

test('unsubscribe.mailto is rendered per recipient, and an internationalized domain goes out as A-labels', async () => {
  const { raw } = await build('unsubscribe: { mailto: "unsub+{{id}}@例子.中国" }\n', {}, { email: 'a@example.com', name: 'Ann', id: 'x&y%z' });
  assert.ok(!/[^\x00-\x7f]/.test(raw), '7-bit');
  const line = headLines(raw).find((l) => l.startsWith('List-Unsubscribe:'));
  assert.equal(line, 'List-Unsubscribe: <mailto:unsub+x%26y%25z@xn--fsqu00a.xn--fiqs8s?subject=unsubscribe>');
  assert.ok(!raw.includes('List-Unsubscribe-Post'), 'no one-click POST without an https URL');
});

test('a mailto that renders to no address is an error naming the campaign line and the CSV line', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: h\nfrom: news@acme.example\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\nunsubscribe:\n  mailto: "{{box}}@acme.example"\n',
    't.hbs': '<p>Hello</p>\n',
    'r.csv': 'email,box\na@example.com,two words\n',
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = (await compileCampaign(c, ['email', 'box'], diag))!;
  assert.ok(compiled, JSON.stringify(diag.errors));
  assert.throws(
    () => compiled.render({ row: 2, email: 'a@example.com', fields: { email: 'a@example.com', box: 'two words' } }, new Date(0)),
    (e: unknown) => e instanceof MailcampError && /c\.yaml:7:\d+: unsubscribe\.mailto renders to "two words@acme\.example": .* \(CSV line 2\)$/.test(e.toString()),
  );
});

test('unsubscribe.url: a {{value}} is one URL component, a {{{value}}} goes in as it is', async () => {
  const fields = { email: 'a@example.com', name: 'Ann', id: 'a&b c/张', token: 'x%2By' };
  const one = await build('unsubscribe: { url: "https://acme.example/u?id={{id}}&t={{{token}}}" }\n', {}, fields);
  assert.match(one.raw, /^List-Unsubscribe: <https:\/\/acme\.example\/u\?id=a%26b%20c%2F%E5%BC%A0&t=x%2By>\r$/m);
  assert.match(one.raw, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
});

test('an unsubscribe URL too long for one line is folded inside its brackets, and reads back whole', async () => {
  const fields = { email: 'a@example.com', name: 'Ann', id: '张伟'.repeat(150) };
  const { raw } = await build('unsubscribe: { url: "https://acme.example/u?id={{id}}" }\n', {}, fields);
  const lines = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
  assert.ok(lines.every((l) => l.length <= 998), 'no header line over 998 octets');
  const m = await simpleParser(raw);
  const list = m.headers.get('list') as { unsubscribe?: { url?: string } } | undefined;
  assert.equal(list?.unsubscribe?.url?.replace(/\s+/g, ''), `https://acme.example/u?id=${encodeURIComponent(fields.id)}`);
});

test('unsubscribe.url with {{#if}} … {{ else }}: blocks stay blocks, only values are encoded', async () => {
  const fields = { email: 'a@example.com', name: 'Ann', id: 'a b', vip: '' };
  const { raw } = await build('unsubscribe: { url: "https://acme.example/u?{{#if vip}}v={{id}}{{ else }}id={{id}}{{/if}}" }\n', {}, fields);
  assert.match(raw, /^List-Unsubscribe: <https:\/\/acme\.example\/u\?id=a%20b>\r$/m);
});

test('a List-Id with a non-ASCII description keeps its <list-id> outside the encoded words (RFC 2919, RFC 2047 §5)', async () => {
  for (const [value, id, phrase] of [
    ['Acmé Newsletter <news.acme.example>', 'news.acme.example', 'Acmé Newsletter'],
    ['财务部 通知 <fin.acme.example>', 'fin.acme.example', '财务部 通知'],
    ['<plain.acme.example>', 'plain.acme.example', undefined],
  ] as const) {
    const { raw } = await build(`headers:\n  List-Id: "${value}"\n`, {}, { email: 'a@example.com', name: 'Ann' });
    const list = (await simpleParser(raw)).headers.get('list') as unknown as { id: { id: string; name?: string } };
    assert.equal(list.id.id ?? list.id.name, id, value); // mailparser names a bare <id> 'name'
    // (mailparser leaves the phrase's encoded words as they are: decoded here.)
    if (phrase) assert.equal(libmime.decodeWords(list.id.name!), phrase, value);
    assert.match(raw, new RegExp(`<${id.replace(/\./g, '\\.')}>\\r\\n`));
  }
});

test('custom headers keep their structure in 7-bit: addresses (names as phrases, IDN as A-labels), List-Id ids, RFC 2369 URLs percent-encoded, Keywords phrase by phrase', async () => {
  const { raw } = await build(
    [
      'headers:',
      '  Sender: "Zoë <zoe@bücher.example>"',
      '  Disposition-Notification-To: "Zoë Support <support@acme.example>"',
      '  List-Id: "Bücher News <news.bücher.example>"',
      '  List-Help: "<https://acme.example/帮助>"',
      '  List-Post: "<mailto:投稿@acme.example>"',
      '  Keywords: "新闻, news"',
      '  In-Reply-To: "<x@acme.example>"',
      '',
    ].join('\n'),
    {},
    { email: 'a@example.com', name: 'Ann' },
  );
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  assert.ok(!/[^\x00-\x7f]/.test(head), 'every header byte 7-bit');
  const m = await simpleParser(raw);
  const addr = (k: string) => (m.headers.get(k) as { value: { name: string; address: string }[] }).value[0];
  assert.match(head, /^Sender: =\?UTF-8\?Q\?Zo=C3=AB\?= <zoe@xn--bcher-kva\.example>$/m);
  assert.equal(addr('sender').name, 'Zoë'); // (mailparser shows the domain in Unicode)
  assert.deepEqual(addr('disposition-notification-to'), { name: 'Zoë Support', address: 'support@acme.example' });
  const list = m.headers.get('list') as unknown as { id: { id: string }; help: { url: string } };
  assert.equal(list.id.id, 'news.xn--bcher-kva.example');
  assert.equal(list.help.url, 'https://acme.example/%E5%B8%AE%E5%8A%A9');
  assert.match(head, /^List-Post: <mailto:%E6%8A%95%E7%A8%BF@acme\.example>$/m);
  assert.match(head, /^Keywords: =\?UTF-8\?Q\?=E6=96=B0=E9=97=BB\?=, news$/m);
  assert.match(head, /^In-Reply-To: <x@acme\.example>$/m);
});

test('a custom header that cannot be written in 7-bit is an error before sending: at the CSV column when a row fills it, at the campaign line when written there', async () => {
  const dir = writeFiles(tmpDir(), {
    't.hbs': '<p>Hi {{name}}</p>\n',
    'r.csv': 'email,name,ref\na@example.com,Ann,<新@acme.example>\nb@example.com,Bob,<ok@acme.example>\n',
    'row.yaml': 'name: row\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\nheaders:\n  In-Reply-To: "{{ref}}"\n',
    'fixed.yaml': 'name: fixed\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\nheaders:\n  X-A: x\n  Sender: "Zoë <zoë@bücher.example>"\n  sender: a@acme.example\n  Cc: boss@acme.example\n',
  });
  const row = await runCli(['validate', 'row.yaml'], { cwd: dir });
  assert.equal(row.code, 2);
  assert.deepEqual(row.stderr.trim().split('\n'), [
    `r.csv:2: column 'ref': headers.In-Reply-To: a message id is ASCII only (RFC 5322 §3.6.4): "<新@acme.example>"`,
    '1 error, 0 warnings; nothing was sent',
  ]);
  const fixed = await runCli(['validate', 'fixed.yaml'], { cwd: dir });
  assert.equal(fixed.code, 2);
  assert.deepEqual(fixed.stderr.trim().split('\n'), [
    'fixed.yaml:8:11: headers.Sender: invalid address "zoë@bücher.example": non-ASCII local part needs SMTPUTF8, which mailcamp does not support',
    "fixed.yaml:9:11: headers: 'sender' repeats 'Sender' (header names are case-insensitive); give it once",
    "fixed.yaml:10:7: headers: 'Cc' is not supported: a campaign sends each message to its row (or group_by's members); put other people in the list",
    '3 errors, 0 warnings; nothing was sent',
  ]);
});

test('Message-IDs: the same for a campaign, run and recipient (a retry reuses it); another campaign due at the same minute, or another state folder, gets another', async () => {
  const { messageIdFor } = await import('../../src/compose/headers.js');
  const k1 = Buffer.alloc(32, 1);
  const k2 = Buffer.alloc(32, 2);
  const id = (key: Buffer, campaign: string) => messageIdFor(key, campaign, '20261123T0900Z', 'ann@example.com', 'acme.example');
  assert.equal(id(k1, 'weekly-digest'), id(k1, 'weekly-digest'));
  assert.notEqual(id(k1, 'weekly-digest'), id(k1, 'billing-reminder'));
  assert.notEqual(id(k1, 'weekly-digest'), id(k2, 'weekly-digest'));
  assert.match(id(k1, 'weekly-digest'), /^<[A-Za-z0-9_-]{22}\.20261123@acme\.example>$/);
});

test('a text attachment in UTF-8 says charset=utf-8 (RFC 2046 §4.1.2: without one it is US-ASCII); ASCII and other encodings say none', async () => {
  const gbk = Buffer.from([0xd5, 0xc5, 0xce, 0xb0, 0x0a]); // 张伟 in GBK
  const { raw } = await build(
    'attachments: [names.csv, plain.txt, old.csv]\n',
    { 'names.csv': 'Name,城市\n张伟,上海\n', 'plain.txt': 'hello\n', 'old.csv': gbk },
    { email: 'a@example.com', name: 'Ann' },
  );
  assert.match(raw, /^Content-Type: text\/csv; charset=utf-8; name="names\.csv"\r$/m);
  assert.match(raw, /^Content-Type: text\/plain; name="plain\.txt"\r$/m);
  assert.match(raw, /^Content-Type: text\/csv; name="old\.csv"\r$/m);
  const m = await simpleParser(raw);
  assert.equal(m.attachments.find((a) => a.filename === 'names.csv')!.content.toString('utf8'), 'Name,城市\n张伟,上海\n');
});

test('a body line starting with "From " is written =46rom in quoted-printable (RFC 2049 §3 (8)): an mbox store cannot turn it into ">From"', async () => {
  const { raw } = await build('', { 't.hbs': '<p>Hello {{name}}</p>\n<p>From now on, prices change.</p>\n<p>From {{name}} too</p>\n' }, { email: 'a@example.com', name: 'Ann' });
  assert.doesNotMatch(raw, /\r\nFrom /, 'no line starts with "From "');
  assert.match(raw, /\r\n=46rom now on, prices change\./);
  const m = await simpleParser(raw);
  assert.match(m.text!, /^From now on, prices change\.$/m);
  assert.match(m.text!, /^From Ann too$/m);
  assert.match(m.html as string, /<p>From now on, prices change\.<\/p>/);
});

test('a structured custom header a row leaves empty is left out (no "In-Reply-To: <>"); an empty text header stays', async () => {
  const { raw } = await build('headers:\n  In-Reply-To: "{{ref}}"\n  Sender: "{{ref}}"\n  X-Note: "{{ref}}"\n', {}, { email: 'a@example.com', name: 'Ann', ref: '' });
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  assert.doesNotMatch(head, /^(In-Reply-To|Sender):/m);
  assert.match(head, /^X-Note: ?$/m);
});
