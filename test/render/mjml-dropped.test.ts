// MJML drops Handlebars tags that stand between its components; validate names each one where
// it was written (src/render/mjml-dropped.ts), and tags MJML keeps or moves are not named.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';
import { reportDroppedTags } from '../../src/render/mjml-dropped.js';
import { Diagnostics, formatDiagnostic } from '../../src/shared/diagnostics.js';

const body = (column: string) => `<mjml>
  <mj-head><mj-title>{{name}} news</mj-title><mj-preview>Hi {{name}}</mj-preview></mj-head>
  <mj-body>
    <mj-section>
      <mj-column>
${column}
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

test('validate names the {{#if}}, {{#each}} and {{> partial}} MJML dropped, at their lines; the same in <mj-raw> passes', async () => {
  const dir = writeFiles(tmpDir(), {
    'r.csv': 'email,name,note,team\na@example.com,A,hi,x\nb@example.com,B,,x\n',
    'partials/footer.hbs': '<p>footer</p>\n',
    'bad.mjml': body(`        <mj-text>Dear {{name}}:</mj-text>
        {{#if note}}
        <mj-text>Note: {{note}}</mj-text>
        {{/if}}
        <mj-button href="https://x.example/?n={{name}}">Go</mj-button>
        <mj-raw>{{#if note}}</mj-raw><mj-text>ok</mj-text><mj-raw>{{/if}}</mj-raw>
        {{> footer}}`),
    'good.mjml': body(`        <mj-text>Dear {{name}}:</mj-text>
        <mj-raw>{{#if note}}</mj-raw>
        <mj-text>Note: {{note}}</mj-text>
        <mj-raw>{{/if}}</mj-raw>
        <mj-image src="https://x.example/{{name}}.png" />
        <mj-raw>{{> footer}}</mj-raw>`),
    'bad.yaml': 'name: bad\nfrom: a@example.com\nsubject: x\ntemplate: bad.mjml\nrecipients: r.csv\n',
    'good.yaml': 'name: good\nfrom: a@example.com\nsubject: x\ntemplate: good.mjml\nrecipients: r.csv\n',
  });
  const bad = await runCli(['validate', 'bad.yaml'], { cwd: dir });
  assert.equal(bad.code, 2, bad.stderr);
  const named = bad.stderr.split('\n').filter((l) => l.includes('MJML drops it')).map((l) => l.split(' stands')[0]);
  assert.deepEqual(named, ["bad.mjml:7:9: '{{#if note}}'", "bad.mjml:9:9: '{{/if}}'", "bad.mjml:12:9: '{{> footer}}'"]);
  assert.match(bad.stderr, /wrap it in <mj-raw>…<\/mj-raw>/);
  assert.match(bad.stderr, /3 errors/);
  const good = await runCli(['validate', 'good.yaml'], { cwd: dir });
  assert.equal(good.code, 0, good.stderr);
  const preview = await runCli(['preview', 'good.yaml', '--row', '3', '--out', 'p'], { cwd: dir });
  assert.equal(preview.code, 0, preview.stderr);
});

test('a group template whose {{#each members}} MJML dropped is named in the source, not at a line of the compiled HTML', async () => {
  const dir = writeFiles(tmpDir(), {
    'r.csv': 'email,name,team\na@example.com,A,x\nb@example.com,B,x\n',
    't.mjml': body('        <mj-text>{{team}}:</mj-text>\n        {{#each members}}\n        <mj-text>{{name}}</mj-text>\n        {{/each}}').replace(/<mj-head>.*<\/mj-head>/, '<mj-head></mj-head>'),
    'c.yaml': 'name: g\nfrom: a@example.com\nsubject: x\ntemplate: t.mjml\nrecipients: r.csv\ngroup_by: team\n',
  });
  const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^t\.mjml:7:9: '\{\{#each members\}\}' stands between MJML components/m);
  assert.match(r.stderr, /^t\.mjml:9:9: '\{\{\/each\}\}'/m);
  assert.doesNotMatch(r.stderr, /unknown variable/);
});

test('tags kept, moved, re-spaced or written as entities by MJML are not named; a dropped one among copies is named where it was dropped', () => {
  const names = (source: string, html: string) => {
    const d = new Diagnostics();
    reportDroppedTags(source, html, 't.mjml', d);
    return d.errors.map(formatDiagnostic);
  };
  assert.deepEqual(names('{{a}} {{#if b}}x{{/if}} {{!-- gone --}}', '{{#if b}}x{{/if}}<title>{{ a }}</title>'), []);
  assert.deepEqual(names('<x href="{{formatDate d "long"}}">', '<a href="{{formatDate d &quot;long&quot;}}">'), []);
  assert.deepEqual(names('{{~#if b~}}', '{{#if b}}'), []);
  assert.deepEqual(names('{{#if a}}\n{{#if a}}\n{{/if}}\n{{/if}}', '{{#if a}}{{/if}}'), [
    "t.mjml:2:1: '{{#if a}}' stands between MJML components, and MJML drops it (it compiles the template before any row is filled in): wrap it in <mj-raw>…</mj-raw>, or move it inside an <mj-text>",
    "t.mjml:4:1: '{{/if}}' stands between MJML components, and MJML drops it (it compiles the template before any row is filled in): wrap it in <mj-raw>…</mj-raw>, or move it inside an <mj-text>",
  ]);
});
