// The line-starting dots compose() records for SMTP's dot-stuffing: against a scan of the whole
// message, on random pieces (shared Buffers met again and again, fresh text, dots and line ends
// at their seams) and on real messages, which then go through SmtpTransport to a real
// smtp-server that removes the stuffing again.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadCampaign } from '../../src/campaign/load.js';
import { compose, prepare } from '../../src/compose/index.js';
import { LineDots, lineDotsOf } from '../../src/compose/line-dots.js';
import { compileCampaign } from '../../src/render/index.js';
import { SmtpTransport } from '../../src/send/smtp.js';
import { parseTransportUrl } from '../../src/send/transport-url.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { openGate } from '../helpers/gate.js';
import { prng } from '../helpers/prng.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

/** Every dot that starts a line: at 0, or after "\r\n". */
function scan(raw: Buffer): number[] {
  const out: number[] = [];
  for (let d = 0; d < raw.length; d++) {
    if (raw[d] === 0x2e && (d === 0 || (d >= 2 && raw[d - 2] === 0x0d && raw[d - 1] === 0x0a))) out.push(d);
  }
  return out;
}

test('the dots recorded while a message is written are the ones a scan of it finds', () => {
  const rnd = prng(11);
  const bits = ['.', '..', 'a', 'é', '张', '\r', '\n', '\r\n', '\r\n.', '.\r\n', 'x.y', '\r\n.\r\n', '='];
  const piece = (): string => {
    let s = '';
    const n = Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) s += bits[Math.floor(rnd() * bits.length)];
    return s;
  };
  const shared = Array.from({ length: 12 }, () => Buffer.from(piece()));
  let found = 0;
  for (let m = 0; m < 3000; m++) {
    const chunks: (string | Buffer)[] = [];
    const n = Math.floor(rnd() * 10);
    for (let i = 0; i < n; i++) chunks.push(rnd() < 0.5 ? shared[Math.floor(rnd() * shared.length)] : piece());
    const raw = Buffer.alloc(chunks.reduce<number>((k, x) => k + (typeof x === 'string' ? Buffer.byteLength(x) : x.length), 0));
    const dots = new LineDots(raw);
    let at = 0;
    for (const x of chunks) {
      const start = at;
      if (typeof x === 'string') {
        const latin1 = rnd() < 0.3;
        at += raw.write(x, at, latin1 ? 'latin1' : 'utf8');
        dots.text(start, at, x, latin1);
      } else {
        at += x.copy(raw, at);
        dots.shared(start, x);
      }
    }
    dots.record();
    const want = scan(raw);
    found += want.length;
    assert.deepEqual(lineDotsOf(raw), want, JSON.stringify(chunks.map(String)));
  }
  assert.ok(found > 1000, 'the random messages have dots to find');
  assert.equal(lineDotsOf(Buffer.from('.x')), undefined, 'no record for bytes compose() did not write');
});

test('composed messages with dots at line starts, in the template and in values, reach a real SMTP server intact', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': [
      'name: dots',
      'from: news@acme.example',
      'subject: "Dots for {{name}}"',
      'template: t.hbs',
      'recipients: r.csv',
      'attachments: [notes.txt]',
    ].join('\n'),
    't.hbs': ['.static first', '<p>{{name}}</p>', '{{name}}', '.', '..{{city}}', 'middle', '{{city}}', '. end', ''].join('\n'),
    'r.csv': 'email,name,city\na@example.com,.dotty,.here\nb@example.com,plain,there\n',
    'notes.txt': '.\n..\nnot a dot\n',
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = await compileCampaign(c, ['email', 'name', 'city'], diag);
  assert.ok(compiled, JSON.stringify(diag.errors));
  const p = prepare(compiled);
  const rows = [
    { email: 'a@example.com', name: '.dotty', city: '.here' },
    { email: 'b@example.com', name: 'plain', city: 'there' },
    { email: 'c@example.com', name: '..x', city: '\r\n.x\n.' },
  ];
  const messages = rows.map((fields, i) => {
    const rendered = compiled.render({ row: i + 2, email: fields.email, name: fields.name, fields }, new Date(Date.UTC(2026, 10, 22)));
    const msg = compose(p, {
      to: [{ name: '', address: fields.email }],
      rendered,
      messageId: `<dots.${i}@acme.example>`,
      date: new Date(Date.UTC(2026, 10, 22)),
      recipientToken: 't',
      attachments: [],
    });
    assert.deepEqual(lineDotsOf(msg.raw), scan(msg.raw));
    return msg;
  });
  assert.ok(messages.every((m) => scan(m.raw).length >= 2), 'each message has dots at line starts');

  const server = await startSmtpServer();
  const transport = new SmtpTransport(parseTransportUrl(`smtp+plain://127.0.0.1:${server.port}`, process.cwd()) as never, { poolSize: 1 });
  try {
    for (const msg of messages) {
      const r = await transport.send(msg, openGate());
      assert.equal(r.status, 'sent', r.response);
    }
    await server.waitForMessages(messages.length);
    for (let i = 0; i < messages.length; i++) {
      assert.equal(server.messages[i].raw.toString('latin1'), messages[i].raw.toString('latin1'), 'the server un-stuffs to the very bytes we composed');
    }
  } finally {
    await transport.close();
    await server.close();
  }
});
