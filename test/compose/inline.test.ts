// Inline images (design.md: relative <img src> become cid: parts): a message carries the ones
// its recipient's HTML shows, in a multipart/related, and none when it shows none, so no
// client lists an unused image as an attachment.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { loadCampaign } from '../../src/campaign/load.js';
import { compose, prepare } from '../../src/compose/index.js';
import { compileCampaign } from '../../src/render/index.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

/** A file an image check takes for a PNG: its signature, then `tag`. */
function png(tag: string): Buffer {
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from(tag)]);
}

test('an image inside {{#if}} is attached only to the messages that show it', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: i\nfrom: news@acme.example\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\n',
    't.hbs': '<p><img src="logo.png"> Hello {{name}}</p>\n{{#if vip}}<p><img src="gold.png"></p>{{/if}}\n{{#if plain}}<p>no images</p>{{/if}}\n',
    'r.csv': 'email,name,vip,plain\n',
    'logo.png': png('LOGO'),
    'gold.png': png('GOLD'),
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = (await compileCampaign(c, ['email', 'name', 'vip', 'plain'], diag))!;
  assert.ok(compiled, JSON.stringify(diag.errors));
  const p = prepare(compiled);
  const message = async (vip: string) => {
    const fields = { email: 'a@example.com', name: 'Ann', vip, plain: '' };
    const rendered = compiled.render({ row: 2, email: fields.email, name: 'Ann', fields }, new Date(0));
    const raw = compose(p, { to: [{ address: fields.email }], rendered, messageId: '<i.1@acme.example>', date: new Date(0), recipientToken: 't', attachments: [] }).raw;
    return { raw: raw.toString('latin1'), parsed: await simpleParser(raw) };
  };
  const vip = await message('yes');
  assert.deepEqual(vip.parsed.attachments.map((a) => [a.content.subarray(8).toString(), a.related]).sort(), [['GOLD', true], ['LOGO', true]]);
  const plain = await message('');
  assert.deepEqual(plain.parsed.attachments.map((a) => [a.content.subarray(8).toString(), a.related]), [['LOGO', true]]);
  assert.equal((plain.raw.match(/Content-ID:/g) ?? []).length, 1);
  assert.match(plain.raw, /multipart\/related/);
});

test('HTML that shows none of the images: no multipart/related at all', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: i\nfrom: news@acme.example\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\n',
    't.hbs': '<p>Hello {{name}}</p>{{#if vip}}<img src="gold.png">{{/if}}\n',
    'r.csv': 'email,name,vip\n',
    'gold.png': png('GOLD'),
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = (await compileCampaign(c, ['email', 'name', 'vip'], diag))!;
  const p = prepare(compiled);
  const fields = { email: 'a@example.com', name: 'Ann', vip: '' };
  const rendered = compiled.render({ row: 2, email: fields.email, name: 'Ann', fields }, new Date(0));
  const raw = compose(p, { to: [{ address: fields.email }], rendered, messageId: '<i.2@acme.example>', date: new Date(0), recipientToken: 't', attachments: [] }).raw.toString('latin1');
  assert.doesNotMatch(raw, /multipart\/related|Content-ID/);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.attachments.length, 0);
  assert.match(parsed.html as string, /Hello Ann/);
});

test('an unquoted src is inlined too; every missing image and every relative src built from recipient data is reported at once', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: i\nfrom: news@acme.example\nsubject: Hi\ntemplate: t.hbs\nrecipients: r.csv\n',
    't.hbs': '<p><img src=logo.png alt=x> Hello {{name}}</p>\n',
    'r.csv': 'email,name\n',
    'logo.png': png('LOGO'),
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = (await compileCampaign(c, ['email', 'name'], diag))!;
  assert.ok(compiled, JSON.stringify(diag.errors));
  assert.deepEqual(compiled.inlineImages.map((i) => i.filename), ['logo.png']);
  const raw = compose(prepare(compiled), {
    to: [{ address: 'a@example.com' }],
    rendered: compiled.render({ row: 2, email: 'a@example.com', name: 'Ann', fields: { email: 'a@example.com', name: 'Ann' } }, new Date(0)),
    messageId: '<i.3@acme.example>',
    date: new Date(0),
    recipientToken: 't',
    attachments: [],
  }).raw;
  const m = await simpleParser(raw);
  assert.equal(m.attachments.length, 1);
  // mailparser puts the linked part's bytes in place of its cid: the link holds.
  assert.match(m.html as string, new RegExp(`<img src="data:image/png;base64,${png('LOGO').toString('base64').replace(/[+/]/g, '\\$&')}" alt=x>`));

  writeFiles(dir, { 't.hbs': '<p><img src="a.png"></p>\n<p><img src=b.png></p>\n<p><img src="photos/{{name}}.png"></p>\n<p><img src="{{cdn}}/x.png"></p>\n' });
  const d2 = new Diagnostics();
  assert.equal(await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d2), ['email', 'name', 'cdn'], d2), undefined);
  assert.deepEqual(
    d2.errors.map((e) => `${e.line}:${e.col}: ${e.message.replace(/ \(looked in .*\)$/, '')}`),
    [
      '1:14: image not found: a.png',
      '2:13: image not found: b.png',
      '3:14: image photos/{{name}}.png: a relative image whose path depends on recipient data cannot be inlined (it would be a broken link); use one file for everyone, or an absolute https:// URL',
    ],
  );
});

test('only images are inlined: a file that is not one, or an absolute path, is an error at its src; same bytes under names that clean up alike get a cid each', async () => {
  const dir = tmpDir();
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  writeFiles(dir, {
    'c.yaml': 'name: i\nfrom: news@acme.example\nsubject: Hi\ntemplate: t/t.hbs\nrecipients: r.csv\n',
    't/t.hbs': '<p><img src="../secret.txt"></p>\n<p><img src="/etc/hostname"></p>\n<p><img src="logo"></p>\n',
    't/logo': png,
    'secret.txt': 'SMTP_PASS=x\n',
    'r.csv': 'email,name\n',
  });
  const d = new Diagnostics();
  assert.equal(await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d), ['email', 'name'], d), undefined);
  assert.deepEqual(
    d.errors.map((e) => `${e.line}:${e.col}: ${e.message}`),
    ['1:14: image ../secret.txt is not an image file (.png, .jpg, .gif, .webp, .svg, .bmp)', '2:14: image /etc/hostname: an absolute path; write it relative to the template, or as an https:// URL'],
  );

  // A name can lie: a text file called y.png, a link x.png to the campaign's secrets.
  writeFiles(dir, { 't/t.hbs': '<p><img src="y.png"><img src="x.png"></p>\n', 't/y.png': 'not an image\n', '.env': 'SMTP_PASS=x\n' });
  fs.symlinkSync('../.env', path.join(dir, 't', 'x.png'));
  const d1 = new Diagnostics();
  assert.equal(await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d1), ['email', 'name'], d1), undefined);
  assert.deepEqual(
    d1.errors.map((e) => e.message),
    ['image y.png is not an image file (.png, .jpg, .gif, .webp, .svg, .bmp)', 'image x.png is not an image file (.png, .jpg, .gif, .webp, .svg, .bmp)'],
  );

  writeFiles(dir, { 't/t.hbs': '<p><img src="图标.png"> <img src="图像.png"> <img src="logo"></p>\n', 't/图标.png': png, 't/图像.png': png });
  const d2 = new Diagnostics();
  const compiled = (await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d2), ['email', 'name'], d2))!;
  assert.ok(compiled, JSON.stringify(d2.errors));
  const cids = compiled.inlineImages.map((i) => i.cid);
  assert.equal(new Set(cids).size, 3, cids.join(' '));
  assert.deepEqual(compiled.inlineImages.map((i) => i.contentType), ['image/png', 'image/png', 'image/png']);
});

test('a relative background image (MJML background-url, CSS url()) is a warning at its place: it is not inlined, and no client can load it', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: i\nfrom: news@acme.example\nsubject: Hi\ntemplate: t.mjml\nrecipients: r.csv\n',
    't.mjml':
      '<mjml><mj-body>\n<mj-section background-url="bg.png"><mj-column><mj-text>Hi {{name}}</mj-text></mj-column></mj-section>\n' +
      '<mj-section background-url="https://cdn.example/bg.png"><mj-column><mj-raw><div style="background-image:url(\'tile.png\')">x</div></mj-raw></mj-column></mj-section>\n</mj-body></mjml>\n',
    'r.csv': 'email,name\n',
    'bg.png': 'PNG',
  });
  const d = new Diagnostics();
  const compiled = await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d), ['email', 'name'], d);
  assert.ok(compiled, JSON.stringify(d.errors));
  assert.deepEqual(
    d.warnings.map((w) => `${w.line}:${w.col}: ${w.message.split(':')[0]}`),
    ['2:29: background image bg.png is relative', '3:110: background image tile.png is relative'],
  );
});

test("an <img src> in a partial the HTML uses is inlined like one in the template (relative to the template's folder); a missing one is named in the partial", async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: i\nfrom: news@acme.example\nsubject: Hi\ntemplate: t/t.hbs\nrecipients: r.csv\n',
    't/t.hbs': '{{> hdr}}<p><img src="../images/logo.png"> Hello {{name}}</p>\n',
    't/partials/hdr.hbs': '<div><img src="../images/logo.png"><img src="../images/badge.png"></div>\n',
    'images/logo.png': png('LOGO'),
    'images/badge.png': png('BADGE'),
    'r.csv': 'email,name\n',
  });
  const d = new Diagnostics();
  const compiled = (await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d), ['email', 'name'], d))!;
  assert.ok(compiled, JSON.stringify(d.errors));
  assert.deepEqual(compiled.inlineImages.map((i) => i.filename).sort(), ['badge.png', 'logo.png']);
  const raw = compose(prepare(compiled), {
    to: [{ address: 'a@example.com' }],
    rendered: compiled.render({ row: 2, email: 'a@example.com', name: 'Ann', fields: { email: 'a@example.com', name: 'Ann' } }, new Date(0)),
    messageId: '<i.4@acme.example>',
    date: new Date(0),
    recipientToken: 't',
    attachments: [],
  }).raw.toString('latin1');
  assert.doesNotMatch(raw, /src="\.\.\/images/, 'no relative link left');
  assert.equal((raw.match(/^Content-ID:/gm) ?? []).length, 2, 'one part per image');
  writeFiles(dir, { 't/partials/hdr.hbs': '<div>\n<img src="nope.png"></div>\n' });
  const d2 = new Diagnostics();
  assert.equal(await compileCampaign(loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, d2), ['email', 'name'], d2), undefined);
  assert.deepEqual(d2.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message.replace(/ \(looked in .*\)$/, '')}`), [`${path.join(dir, 't', 'partials', 'hdr.hbs')}:2:11: image not found: nope.png`]);
});
