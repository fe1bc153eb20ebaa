// A composed message compared byte for byte with a golden file (pinned boundary — derived
// from the Message-ID —, date and Message-ID), and parsed back with mailparser to check the
// structure the golden file encodes. Regenerate deliberately with UPDATE_GOLDEN=1.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { loadCampaign } from '../../src/campaign/load.js';
import { compose, prepare } from '../../src/compose/index.js';
import { compileCampaign } from '../../src/render/index.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const GOLDEN = path.join(here, 'fixtures', 'golden.eml');
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082', 'hex');

async function build(): Promise<Buffer> {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': [
      'name: golden',
      'from: "Acme 新闻 <news@acme.example>"',
      'reply_to: help@acme.example',
      'subject: "{{name}}, your {{month}} update — Tom & Jerry"',
      'template: t.hbs',
      'recipients: r.csv',
      'data: { month: November }',
      'attachments: [terms.txt]',
      'headers: { X-Campaign: nov }',
      'unsubscribe: { url: "https://acme.example/u?id={{id}}", mailto: unsub@acme.example }',
    ].join('\n'),
    't.hbs': '<p>Hello {{name}} &amp; welcome</p><img src="logo.png"><p>{{city}}</p>',
    'r.csv': 'id,email,name,city\n7,zhang@example.com,张伟,上海\n',
    'terms.txt': 'Terms: be nice.\n',
  });
  fs.writeFileSync(path.join(dir, 'logo.png'), PNG);
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = await compileCampaign(c, ['id', 'email', 'name', 'city'], diag);
  assert.ok(compiled, JSON.stringify(diag.errors));
  const p = prepare(compiled);
  const rendered = compiled.render(
    { row: 2, email: 'zhang@example.com', name: '张伟', fields: { id: '7', email: 'zhang@example.com', name: '张伟', city: '上海' } },
    new Date(Date.UTC(2026, 10, 22, 9, 0, 0)),
  );
  return compose(p, {
    to: [{ name: '张伟', address: 'zhang@example.com' }],
    rendered,
    messageId: '<golden.1@acme.example>',
    date: new Date(Date.UTC(2026, 10, 22, 9, 0, 0)),
    recipientToken: 'tok123',
    attachments: [],
  }).raw;
}

test('composed message matches the golden file byte for byte', async () => {
  const raw = await build();
  if (process.env.UPDATE_GOLDEN) fs.writeFileSync(GOLDEN, raw);
  const golden = fs.readFileSync(GOLDEN);
  assert.equal(raw.toString('latin1'), golden.toString('latin1'));
  // Composing twice gives the same bytes (nothing random leaks in).
  assert.ok((await build()).equals(raw));
});

test('golden message: 7-bit headers, CRLF, short lines, and the client structure', async () => {
  const raw = await build();
  const text = raw.toString('latin1');
  const [head] = text.split('\r\n\r\n');
  assert.match(head, /^[\x09\x0a\x0d\x20-\x7e]*$/, 'headers are 7-bit');
  assert.ok(!/[^\r]\n/.test(text), 'every line ends in CRLF');
  for (const line of text.split('\r\n')) assert.ok(line.length <= 998, 'no line over 998 octets');
  assert.match(head, /^Content-Type: multipart\/mixed;/m);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.subject, '张伟, your November update — Tom & Jerry');
  assert.deepEqual(parsed.from?.value, [{ name: 'Acme 新闻', address: 'news@acme.example' }]);
  const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
  assert.deepEqual(to?.value, [{ name: '张伟', address: 'zhang@example.com' }]);
  assert.equal(parsed.messageId, '<golden.1@acme.example>');
  assert.equal(parsed.date?.toISOString(), '2026-11-22T09:00:00.000Z');
  assert.match(parsed.html || '', /Hello 张伟 &amp; welcome/);
  assert.match(parsed.text || '', /Hello 张伟 & welcome/);
  assert.equal(parsed.headerLines.find((h) => h.key === 'list-unsubscribe-post')?.line, 'List-Unsubscribe-Post: List-Unsubscribe=One-Click');
  assert.match(parsed.headerLines.find((h) => h.key === 'list-unsubscribe')?.line ?? '', /<https:\/\/acme\.example\/u\?id=7>,\r\n <mailto:unsub@acme\.example\?subject=unsubscribe>/);
  assert.match(String(parsed.headers.get('x-mailcamp-recipient')), /tok123/);
  const inline = parsed.attachments.find((a) => a.contentType === 'image/png');
  assert.ok(inline, 'inline image present');
  assert.ok(inline.content.equals(PNG));
  // mailparser swaps a cid: link for the part it names: proof the link resolves.
  assert.ok(inline.related, 'image is part of multipart/related');
  assert.ok((parsed.html || '').includes(`src="data:image/png;base64,${PNG.toString('base64')}"`));
  const att = parsed.attachments.find((a) => a.filename === 'terms.txt');
  assert.equal(att?.content.toString(), 'Terms: be nice.\n');
  // Order: text/plain before text/html inside multipart/alternative, related around html.
  const iPlain = text.indexOf('Content-Type: text/plain');
  const iRelated = text.indexOf('Content-Type: multipart/related');
  const iHtml = text.indexOf('Content-Type: text/html');
  const iAtt = text.indexOf('filename=terms.txt');
  assert.ok(iPlain > 0 && iPlain < iRelated && iRelated < iHtml && iHtml < iAtt);
});
