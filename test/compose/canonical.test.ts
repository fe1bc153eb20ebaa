// What the SMTP transport's fast dot-stuffing relies on (src/send/dot-stuff.ts): every
// message compose() builds has CRLF line ends only — no bare CR or LF — and is 7-bit, however
// hostile the recipient's values (bare CR/LF, lines of dots, the end-of-data sequence).

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadCampaign } from '../../src/campaign/load.js';
import { compose, prepare } from '../../src/compose/index.js';
import { compileCampaign } from '../../src/render/index.js';
import { Diagnostics } from '../../src/shared/diagnostics.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const HOSTILE = ['a\nb', 'c\rd', '\r\n.\r\n', '.\n.\r.', 'x\r\n..\ny', '\n', '\r', 'Zoë\r\n.QUIT\r\n', '张伟\n.'];

test('composed messages are canonical CRLF and 7-bit whatever the values hold', async () => {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': [
      'name: canonical',
      'from: "Acme <news@acme.example>"',
      'subject: "Hello {{name}}"',
      'template: t.hbs',
      'text: t.txt.hbs',
      'recipients: r.csv',
      'attachments: [notes.txt]',
    ].join('\n'),
    't.hbs': '<p>Hello {{name}}</p>\n<pre>{{note}}</pre>\n.\n<p>{{{note}}}</p>\r\n.\r\n',
    't.txt.hbs': 'Hello {{name}}\n{{note}}\n.\n{{{note}}}\r.\r\n',
    'r.csv': 'email,name,note\na@example.com,Ann,x\n',
    'notes.txt': 'line one\n.\nbare cr\rend',
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {} }, diag);
  const compiled = await compileCampaign(c, ['email', 'name', 'note'], diag);
  assert.ok(compiled, JSON.stringify(diag.errors));
  const p = prepare(compiled);
  for (const note of HOSTILE) {
    const name = 'Ann';
    const rendered = compiled.render({ row: 2, email: 'a@example.com', name, fields: { email: 'a@example.com', name, note } }, new Date(0));
    const raw = compose(p, {
      to: [{ name, address: 'a@example.com' }],
      rendered,
      messageId: '<c.1@acme.example>',
      date: new Date(0),
      recipientToken: 't',
      attachments: [],
    }).raw;
    const s = raw.toString('latin1');
    assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(s), `bare CR or LF in the message for ${JSON.stringify(note)}`);
    assert.ok(!/[^\x00-\x7f]/.test(s), `8-bit byte in the message for ${JSON.stringify(note)}`);
  }
});
