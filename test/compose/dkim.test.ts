// DKIM: a message signed with the campaign's key verifies against its public key
// (RFC 6376 relaxed/relaxed), checked here independently of the signer: body hash and
// the RSA signature over the canonicalized headers.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { loadCampaign } from '../../src/campaign/load.js';
import { compose, prepare } from '../../src/compose/index.js';
import { signed } from '../../src/pipeline/message.js';
import { compileCampaign } from '../../src/render/index.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { MailcampError } from '../../src/shared/errors.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const relaxedBody = (body: string): string => {
  let lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ +$/, ''));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.length ? lines.join('\r\n') + '\r\n' : '';
};
const relaxedHeader = (line: string): string => {
  const i = line.indexOf(':');
  return line.slice(0, i).toLowerCase().trim() + ':' + line.slice(i + 1).replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').trim();
};

async function setup(key: string) {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': 'name: d\nfrom: "Acme <news@acme.example>"\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\ndkim: { domain: acme.example, selector: s1, private_key: key.pem }\n' +
      'unsubscribe: { url: "https://acme.example/u?e={{email}}" }\n',
    't.hbs': '<p>Hello   {{name}}</p>\n',
    'r.csv': 'email,name\na@example.com,张伟\n',
    'key.pem': key,
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const cc = (await compileCampaign(c, ['email', 'name'], diag))!;
  return { dir, cc, diag };
}

test('messages are DKIM-signed and the signature verifies', async () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { cc } = await setup(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const p = prepare(cc);
  const rendered = cc.render({ row: 2, email: 'a@example.com', name: '张伟', fields: { email: 'a@example.com', name: '张伟' } }, new Date());
  const msg = compose(p, { to: [{ name: '张伟', address: 'a@example.com' }], rendered, messageId: '<x@acme.example>', date: new Date(), recipientToken: 't', attachments: [] });
  const raw = (await signed(p, msg)).raw.toString('latin1');
  // The SMTP transport's dot-stuffing relies on this (src/send/dot-stuff.ts).
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(raw), 'the signed message has CRLF line ends only');
  const [head, ...rest] = raw.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  const headerLines = head.split(/\r\n(?![ \t])/);
  const sigLine = headerLines.find((l) => /^DKIM-Signature:/i.test(l))!;
  assert.ok(sigLine, 'DKIM-Signature header present');
  const tags = Object.fromEntries(
    sigLine.slice(sigLine.indexOf(':') + 1).replace(/\r\n[ \t]/g, '').split(';').map((t) => t.trim()).filter(Boolean).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]),
  );
  assert.equal(tags.d, 'acme.example');
  assert.equal(tags.s, 's1');
  assert.equal(tags.c, 'relaxed/relaxed');
  // RFC 8058 §4: one-click unsubscribe needs both headers under the signature.
  assert.ok(String(tags.h).toLowerCase().split(':').includes('list-unsubscribe-post'), String(tags.h));
  assert.ok(String(tags.h).toLowerCase().split(':').includes('list-unsubscribe'), String(tags.h));
  assert.equal(tags.bh, crypto.createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64'));
  // Signed headers, last instance of each, then the signature header with b= empty.
  const used = new Map<string, number>();
  let data = '';
  for (const name of String(tags.h).split(':').map((h: string) => h.trim().toLowerCase())) {
    const all = headerLines.filter((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name);
    const n = used.get(name) ?? 0;
    const inst = all[all.length - 1 - n];
    used.set(name, n + 1);
    if (inst) data += relaxedHeader(inst) + '\r\n';
  }
  data += relaxedHeader(sigLine.replace(/b=[^;]*$/, 'b=').replace(/([;\s]b=)[A-Za-z0-9+/=\s]*(;|$)/, '$1$2'));
  const ok = crypto.verify('sha256', Buffer.from(data, 'latin1'), publicKey, Buffer.from(String(tags.b).replace(/\s+/g, ''), 'base64'));
  assert.ok(ok, 'RSA signature verifies');
});

test('a bad key is an error at dkim: that says what is wrong with it (not OpenSSL codes)', async () => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'xx' } });
  for (const [pem, why] of [
    ['not a key', /it holds no PEM private key/],
    [publicKey, /it is a public key; private_key needs the private key/],
    [privateKey, /it is encrypted with a passphrase/],
  ] as const) {
    const { cc } = await setup(pem);
    assert.throws(() => prepare(cc), (e: unknown) => e instanceof MailcampError && /c\.yaml:6:\d+: dkim\.private_key is not a usable private key: /.test(e.toString()) && why.test(e.toString()));
  }
});

test('an Ed25519 or EC key is an error at dkim: (nodemailer signs RSA only: unsigned mail, or a signature that cannot verify)', async () => {
  for (const [kind, opts] of [['ed25519', {}], ['ec', { namedCurve: 'prime256v1' }]] as const) {
    const { privateKey } = crypto.generateKeyPairSync(kind as 'ed25519', { ...opts, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as never) as unknown as { privateKey: string };
    const { cc } = await setup(privateKey);
    assert.throws(
      () => prepare(cc),
      (e: unknown) => e instanceof MailcampError && new RegExp(`c\\.yaml:6:\\d+: dkim\\.private_key is an ${kind} key; mailcamp signs with rsa-sha256 only`).test(e.toString()),
      kind,
    );
  }
});
