// Templates compiled with marks (src/render/marks.ts): the marked render, with its runs put
// back, is exactly what the template renders without marks, and compose's encoder turns the
// marked render into exactly the bytes textPart() makes of the plain one. Random templates of
// static lines and real Handlebars constructs (blocks, whitespace control, standalone and
// indented partials, comments, inverse sections), random values (line breaks, non-Latin text,
// private-use characters and would-be marks among them). Seeded: a failure reproduces.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { textPart } from '../../src/compose/parts.js';
import { TextBodyEncoder } from '../../src/compose/text-body.js';
import { compileTemplate, createEnvironment } from '../../src/render/handlebars.js';
import { expandMarks, markAt, markFor } from '../../src/render/marks.js';
import { prng } from '../helpers/prng.js';

const STATIC = [
  '<td align="left" style="font-size:0px;padding:10px 25px;word-break:break-word;">',
  '  <div style="font-family:Helvetica, Arial, sans-serif;font-size:15px;line-height:22px;">Here is your update.</div>',
  '',
  '   ',
  '.leading dot',
  'From the editor',
  'Caf\u00e9 cr\u00e8me \u2014 \u201cquoted\u201d',
  '\u5f20\u4f1f\u7684\u65b0\u95fb\u7a3f\u3002\u4e0a\u6d77\u529e\u516c\u5ba4\u5f00\u5f20\u4e86\u3002',
  'trailing space ',
  'x'.repeat(77),
  'w '.repeat(60),
  '</html>',
];
const TAGS = [
  'Hello {{name}},',
  '{{name}}',
  '  {{city}} {{name}}  ',
  '{{#if flag}}',
  '{{/if}}',
  '  {{#if flag}}',
  '  {{else}}',
  '  {{/if}}',
  '{{~#if flag~}}',
  '{{~/if}}',
  '{{#each items}}',
  '{{/each}}',
  '{{#with obj}}{{a}}{{/with}}',
  '{{^flag}}',
  '{{/flag}}',
  '  {{> part}}',
  '{{> part}} after',
  '{{!-- a comment --}}',
  '{{~name~}}',
];
// Would-be marks: recipient data cannot hold a real one (it does not know the nonce).
const FAKE_MARK = '\ue000' + markFor(0).slice(1, -2) + '\ue1ff\ue200';
const VALUES = ['Tom', '\u5f20\u4f1f', 'a\nb', 'a\r\nb', ' ', 'end ', '', '.dot', 'From x', 'x'.repeat(90), '\ue000', FAKE_MARK, '\ue000\ue1ff', `\n${FAKE_MARK}\n`];

/** A template whose blocks are balanced: tags are added in open/close pairs around static lines. */
function template(rnd: () => number): string {
  const lines: string[] = [];
  const n = 1 + Math.floor(rnd() * 30);
  const stack: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.6) lines.push(STATIC[Math.floor(rnd() * STATIC.length)]);
    else if (r < 0.75) lines.push(['Hello {{name}},', '{{name}}', '  {{city}} {{name}}  ', '{{~name~}}', '{{!-- a comment --}}', '  {{> part}}', '{{> part}} after', '{{#with obj}}{{a}}{{/with}}'][Math.floor(rnd() * 8)]);
    else if (r < 0.9) {
      const open = [
        ['{{#if flag}}', '{{/if}}'],
        ['  {{#if flag}}', '  {{/if}}'],
        ['{{~#if flag~}}', '{{~/if}}'],
        ['{{#each items}}', '{{/each}}'],
        ['{{^flag}}', '{{/flag}}'],
        ['{{#unless flag}}', '{{/unless}}'],
      ][Math.floor(rnd() * 6)];
      lines.push(open[0]);
      stack.push(open[1]);
      if (rnd() < 0.3 && open[0].includes('if')) {
        lines.push(STATIC[Math.floor(rnd() * STATIC.length)]);
        lines.push('  {{else}}');
      }
    } else if (stack.length) lines.push(stack.pop()!);
  }
  while (stack.length) lines.push(stack.pop()!);
  void TAGS;
  return lines.join(rnd() < 0.1 ? '\r\n' : '\n') + (rnd() < 0.7 ? '\n' : '');
}

function context(rnd: () => number, depth = 0): Record<string, unknown> {
  const pick = () => VALUES[Math.floor(rnd() * VALUES.length)];
  const items = depth ? [] : Array.from({ length: Math.floor(rnd() * 3) }, () => context(rnd, depth + 1));
  return { name: pick(), city: pick(), flag: rnd() < 0.5, items, obj: { a: pick() } };
}

test('a template with marks renders what it renders without, and encodes to the same bytes', () => {
  const rnd = prng(20261123);
  const hb = createEnvironment();
  hb.registerPartial('part', `first line of the partial\n${STATIC[0]}\n${STATIC[1]}\n{{name}}\n${STATIC[6]}\n${STATIC[9]}\nlast\n`);
  let marked = 0;
  for (let t = 0; t < 1500; t++) {
    const source = template(rnd);
    const escape = rnd() < 0.5;
    const plain = compileTemplate(hb, source, { file: 't.hbs', escape });
    const withMarks = compileTemplate(hb, source, { file: 't.hbs', escape, mark: true });
    const enc = new TextBodyEncoder(source, withMarks.marks?.runs ?? []);
    if (withMarks.marks) marked++;
    for (let k = 0; k < 4; k++) {
      const ctx = context(rnd);
      const want = plain(ctx);
      assert.equal(withMarks(ctx), want, `plain render of\n${source}`);
      const m = withMarks.marks ? withMarks.marks.tpl(ctx) : want;
      if (withMarks.marks) assert.equal(expandMarks(m, withMarks.marks.runs), want);
      for (const subtype of ['plain', 'html'] as const) {
        assert.equal(enc.part(subtype, m), textPart(subtype, want), `${subtype} of\n${source}\nwith ${JSON.stringify(ctx)}`);
      }
    }
  }
  assert.ok(marked > 300, `${marked} of the templates had runs to mark`);
});

test('a mark is found only with this process\'s nonce; anything else starting with U+E000 is text', () => {
  const m = markFor(7);
  assert.equal(markAt(`x${m}`, 1), 7);
  assert.equal(markAt(m, 1), -1);
  assert.equal(markAt('\ue000abcdefg', 0), -1);
  assert.equal(markAt(m.slice(0, -1), 0), -1);
  assert.equal(expandMarks(`a\n${m}b\ue000\n`, ['', '', '', '', '', '', '', 'RUN\n']), 'a\nRUN\nb\ue000\n');
});
