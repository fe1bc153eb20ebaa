// TextBodyEncoder (the static lines of the template encoded once) must give exactly the bytes
// of textPart() — the plain implementation — for the text the template renders: templates of
// random lines (values, blocks, whitespace control, partials, CRLF files) rendered with markers
// (render/marked.ts) and with values that bring line breaks, trailing spaces, non-Latin text,
// long lines, dots and "From " at line starts, in all three transfer encodings. The marked
// render expands to exactly what the unmarked template renders. Random but seeded, so a
// failure reproduces.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { textPart } from '../../src/compose/parts.js';
import { TextBodyEncoder } from '../../src/compose/text-body.js';
import { compileTemplate, createEnvironment } from '../../src/render/handlebars.js';
import { CLOSE, expand, marker, markedIncludes, newBlocks } from '../../src/render/marked.js';
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
const DYNAMIC = [
  'Hello {{name}},',
  '{{name}}',
  '<a href="https://acme.example/u?id={{id}}">x</a>',
  '  {{city}} {{name}}  ',
  'x'.repeat(70) + '{{name}}',
  '{{#if vip}}',
  '{{else}}',
  '{{/if}}',
  '  {{~#if vip}} VIP {{/if~}}  ',
  '{{#each items}}',
  '- {{name}} {{@index}}',
  '{{/each}}',
  '{{> foot}}',
  '   {{> foot}}',
  '{{! a comment }}',
  '{{name~}}',
  '{{~city}}',
];
const VALUES = ['Tom', 'a From b', '\u00afrom x', 'x.From y', '\u5f20\u4f1f', '\u0418\u0432\u0430\u043d', 'a\nb', 'a\r\nb', 'a\rb', ' ', 'end ', '', '.dot', 'From x', 'x'.repeat(90), '\u00e9=\u00e9', '\t', '\ud83d\ude00', 'del\x7f', 'bell\x07', 'lone\ud83dx', 'x\ude00', 'nul\u0000', '=3D', 'tab\tend\t', '\r', '\n'];

/** Lines of the pools; blocks opened are closed at the end, so that it parses. */
function template(rnd: () => number): string {
  const n = 1 + Math.floor(rnd() * 25);
  const lines: string[] = [];
  const open: string[] = [];
  for (let i = 0; i < n; i++) {
    const pool = rnd() < 0.65 ? STATIC : DYNAMIC;
    let line = pool[Math.floor(rnd() * pool.length)];
    if (/\{\{#(if|each)/.test(line) && !line.includes('{{/')) open.push(line.includes('each') ? '{{/each}}' : '{{/if}}');
    else if (/^\{\{\/(if|each)\}\}$/.test(line)) line = open.pop()?.replace(' ', '') ?? '{{name}}';
    else if (line === '{{else}}') {
      if (open[open.length - 1] === '{{/if}}') open[open.length - 1] = '{{/if }}'; // one {{else}} per block
      else line = '{{city}}';
    }
    else if (line.includes('@index') && !open.includes('{{/each}}')) line = '- {{id}}';
    lines.push(line);
  }
  while (open.length) lines.push(open.pop()!.replace(' ', ''));
  return lines.join(rnd() < 0.1 ? '\r\n' : '\n') + (rnd() < 0.7 ? '\n' : '');
}

const hb = createEnvironment();
hb.registerPartial('foot', 'Acme Ltd\nStatic street 1\n{{city}}\n');

function data(rnd: () => number, depth = 0): Record<string, unknown> {
  const pick = () => VALUES[Math.floor(rnd() * VALUES.length)];
  const items = depth ? [] : Array.from({ length: Math.floor(rnd() * 3) }, () => data(rnd, 1));
  return { name: pick(), id: pick(), city: pick(), vip: rnd() < 0.5, items };
}

test('text bodies: TextBodyEncoder gives exactly the bytes of textPart', () => {
  const rnd = prng(20261122);
  const ctes = new Set<string>();
  let blocks = 0;
  for (let t = 0; t < 3000; t++) {
    const tpl = template(rnd);
    for (const escape of [true, false]) {
      const plain = compileTemplate(hb, tpl, { file: 't', escape });
      const marks = newBlocks();
      const marked = compileTemplate(hb, tpl, { file: 't', escape, marks });
      blocks += marks.blocks.length;
      const enc = new TextBodyEncoder(marks);
      for (let k = 0; k < 2; k++) {
        const ctx = data(rnd);
        const body = marked(ctx);
        const want = plain(ctx);
        assert.equal(expand(marks, body), want, `template ${JSON.stringify(tpl)}`);
        const subtype = escape ? 'html' : 'plain';
        const part = textPart(subtype, want);
        assert.equal(enc.part(subtype, body), part, `template ${JSON.stringify(tpl)}\nbody ${JSON.stringify(want)}`);
        // Unmarked, the same bytes (compose of a body rendered without markers).
        assert.equal(enc.part(subtype, want), part);
        ctes.add(/Content-Transfer-Encoding: (\S+)/.exec(part)![1]);
      }
    }
  }
  // The random bodies exercised every encoding, and there were blocks to splice.
  assert.deepEqual([...ctes].sort(), ['7bit', 'base64', 'quoted-printable']);
  assert.ok(blocks > 3000, `${blocks} blocks`);
});

test('text bodies: a newsletter-sized body splices its static lines', () => {
  const lines = Array.from({ length: 400 }, (_, i) => (i % 40 === 7 ? `<p>Hello {{name}}, line ${i}</p>` : `<td style="padding:10px 25px">static line ${i} \u2014 caf\u00e9</td>`));
  const tpl = lines.join('\n') + '\n';
  const marks = newBlocks();
  const marked = compileTemplate(hb, tpl, { file: 't', escape: true, marks });
  assert.equal(marks.blocks.length, 11);
  const enc = new TextBodyEncoder(marks);
  for (const name of ['Tom', '\u5f20\u4f1f', 'Jos\u00e9 \u00c1lvarez', 'x'.repeat(200)]) {
    const body = marked({ name });
    assert.ok(body.length < tpl.length / 4, 'the static lines are markers');
    const whole = tpl.replace(/\{\{name\}\}/g, name.replace(/&/g, '&amp;'));
    assert.equal(expand(marks, body), whole);
    assert.equal(enc.part('html', body), textPart('html', whole));
    const pieces = enc.chunks('html', body);
    assert.ok(pieces.filter((p) => Buffer.isBuffer(p)).length === 11, 'the blocks go out as the Buffers encoded once');
  }
  assert.equal(enc.part('html', ''), textPart('html', ''));
});

test('marked renders: a value cannot pass for a marker, and needles are found in blocks', () => {
  const marks = newBlocks();
  const tpl = compileTemplate(hb, 'x {{v}}\n<img src="cid:logo">\n{{w}}\n', { file: 't', escape: false, marks });
  // Without the nonce a value that looks like a marker is text; with it (impossible from outside), no block is trusted.
  const fake = `\uFDD0zz:0${CLOSE}`;
  const out = tpl({ v: fake, w: '' });
  assert.equal(expand(marks, out), `x ${fake}\n<img src="cid:logo">\n\n`);
  assert.equal(new TextBodyEncoder(marks).part('plain', out), textPart('plain', expand(marks, out)));
  assert.ok(markedIncludes(marks, out, 'cid:logo'));
  assert.ok(!markedIncludes(marks, tpl({ v: '', w: '' }).replace(marker(marks, 0), ''), 'cid:logo'));
  assert.ok(markedIncludes(marks, tpl({ v: 'cid:x', w: '' }), 'cid:x'));
});

test('marked renders: inline partials and partial blocks, indented where they stand, expand to the unmarked text', () => {
  const templates = [
    '{{#*inline "box"}}\nline one\nline two {{name}}\nline three\nline four\n{{/inline}}\nhead\n  {{> box}}\ntail\n',
    '  {{#> missing}}\nfallback {{name}}\nfallback two\nfallback three\n{{/missing}}\n',
    '{{#> missing}}\nfallback one\nfallback two\n{{/missing}}\nafter\n',
    'a\n{{#each items}}\n  item line\n  {{name}}\n  more\n{{/each}}\nz\n',
    '{{#if vip}}\r\nvip one\r\nvip two\r\n{{else}}\r\nplain one\r\nplain two\r\n{{/if}}\r\n',
  ];
  for (const src of templates) {
    const marks = newBlocks();
    const marked = compileTemplate(hb, src, { file: 't', escape: false, marks });
    const plain = compileTemplate(hb, src, { file: 't', escape: false });
    for (const ctx of [{ name: 'Tom', city: 'X', vip: true, items: [{ name: 'a' }, { name: 'b' }] }, { name: '', city: '', vip: false, items: [] }]) {
      const body = marked(ctx);
      assert.equal(expand(marks, body), plain(ctx), src);
      assert.equal(new TextBodyEncoder(marks).part('plain', body), textPart('plain', plain(ctx)), src);
    }
  }
});
