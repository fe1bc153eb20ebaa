// TextBodyEncoder (static lines of the template encoded once) must give exactly the bytes of
// textPart() — the plain implementation — for any body: rendered from its template or not,
// with values that bring line breaks, trailing spaces, non-Latin text, long lines, dots and
// "From " at line starts, in all three transfer encodings. Random but seeded, so a failure
// reproduces.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { textPart } from '../../src/compose/parts.js';
import { TextBodyEncoder } from '../../src/compose/text-body.js';
import { prng } from '../helpers/prng.js';


const STATIC = [
  '<td align="left" style="font-size:0px;padding:10px 25px;word-break:break-word;">',
  '  <div style="font-family:Helvetica, Arial, sans-serif;font-size:15px;line-height:22px;text-align:left;color:#333333;">Here is your update.</div>',
  '',
  '   ',
  '.leading dot',
  'From the editor',
  'Caf\u00e9 cr\u00e8me \u2014 \u201cquoted\u201d',
  '\u5f20\u4f1f\u7684\u65b0\u95fb\u7a3f\u3002\u4e0a\u6d77\u529e\u516c\u5ba4\u5f00\u5f20\u4e86\u3002',
  'trailing space ',
  'trailing tab\t',
  'a=b=c ==',
  'x'.repeat(75),
  'y'.repeat(76),
  'z'.repeat(77),
  'w '.repeat(60),
  '\u00e9'.repeat(30),
  '</html>',
];
const DYNAMIC = ['Hello {{name}},', '{{name}}', '<a href="https://acme.example/u?id={{id}}">x</a>', '  {{city}} {{name}}  ', 'x'.repeat(70) + '{{name}}'];
const VALUES = ['Tom', '\u5f20\u4f1f', '\u0418\u0432\u0430\u043d', 'a\nb', 'a\r\nb', 'a\rb', ' ', 'end ', '', '.dot', 'From x', 'x'.repeat(90), '\u00e9=\u00e9', '\t', '\ud83d\ude00', 'del\x7f', 'bell\x07', 'lone\ud83dx', 'x\ude00', 'nul\u0000', '=3D', 'tab\tend\t'];

function template(rnd: () => number): string {
  const n = 1 + Math.floor(rnd() * 25);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const pool = rnd() < 0.75 ? STATIC : DYNAMIC;
    lines.push(pool[Math.floor(rnd() * pool.length)]);
  }
  return lines.join(rnd() < 0.1 ? '\r\n' : '\n') + (rnd() < 0.7 ? '\n' : '');
}

function render(tpl: string, rnd: () => number): string {
  let lines = tpl.split('\n');
  // Conditional blocks and whitespace control: lines dropped, or changed.
  if (rnd() < 0.3) lines = lines.filter(() => rnd() < 0.8);
  if (rnd() < 0.2) lines = lines.map((l) => (rnd() < 0.2 ? l.trimEnd() : l));
  const pick = () => VALUES[Math.floor(rnd() * VALUES.length)];
  return lines.join('\n').replace(/\{\{(\w+)\}\}/g, () => pick());
}

test('text bodies: TextBodyEncoder gives exactly the bytes of textPart', () => {
  const rnd = prng(20261122);
  const ctes = new Set<string>();
  for (let t = 0; t < 3000; t++) {
    const tpl = template(rnd);
    const enc = new TextBodyEncoder(tpl);
    for (let k = 0; k < 4; k++) {
      const body = k === 3 ? template(rnd) : render(tpl, rnd);
      for (const subtype of ['plain', 'html'] as const) {
        const want = textPart(subtype, body);
        assert.equal(enc.part(subtype, body), want, `template ${JSON.stringify(tpl)}\nbody ${JSON.stringify(body)}`);
        ctes.add(/Content-Transfer-Encoding: (\S+)/.exec(want)![1]);
      }
    }
  }
  // The random bodies exercised every encoding.
  assert.deepEqual([...ctes].sort(), ['7bit', 'base64', 'quoted-printable']);
});

test('text bodies: a newsletter-sized body splices its static runs', () => {
  const lines = Array.from({ length: 400 }, (_, i) => (i % 40 === 7 ? `<p>Hello {{name}}, line ${i}</p>` : `<td style="padding:10px 25px">static line ${i} \u2014 caf\u00e9</td>`));
  const tpl = lines.join('\n') + '\n';
  const enc = new TextBodyEncoder(tpl);
  for (const name of ['Tom', '\u5f20\u4f1f', 'Jos\u00e9 \u00c1lvarez', 'x'.repeat(200)]) {
    const body = tpl.replace(/\{\{name\}\}/g, name);
    assert.equal(enc.part('html', body), textPart('html', body));
  }
  assert.equal(enc.part('html', ''), textPart('html', ''));
});
