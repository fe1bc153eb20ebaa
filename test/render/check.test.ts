// Validation renders a body template whole only until it has rendered for one row; for the
// other rows it runs the template's check (Tpl.check: its tags other than plain {{names}}). The
// errors must be the same, row for row, as rendering every row whole.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadCampaign } from '../../src/campaign/load.js';
import { type Bodies, compileCampaign } from '../../src/render/index.js';
import { Diagnostics, formatDiagnostic, ValidationError } from '../../src/shared/diagnostics.js';
import { MailcampError } from '../../src/shared/errors.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const COLUMNS = ['email', 'name', 'points', 'day'];

async function compile(files: Record<string, string>, extra = '') {
  const dir = tmpDir();
  writeFiles(dir, {
    'c.yaml': `name: t\nfrom: a@example.com\nsubject: "Hi {{name}}"\ntemplate: ${files.tpl}\nrecipients: r.csv\n${extra}`,
    'r.csv': COLUMNS.join(',') + '\n',
    ...files,
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {}, cwd: dir }, diag);
  const cc = await compileCampaign(c, COLUMNS, diag, dir);
  assert.ok(cc, diag.errors.map(formatDiagnostic).join('\n'));
  return cc;
}

function outcome(e: unknown): string {
  if (e instanceof ValidationError) return e.diagnostics.errors.map(formatDiagnostic).join(' | ');
  if (e instanceof MailcampError) return `${e.message} @ ${JSON.stringify(e.place)}`;
  throw e;
}

const ROWS: Record<string, string>[] = [
  { points: '12', day: '2026-11-22' },
  { points: 'many', day: '2026-11-22' },
  { points: '1,234.50', day: 'soon' },
  { points: '7', day: '2026-02-30' },
  { points: '', day: '' },
  { points: '3.5', day: 'Nov 22, 2026' },
];

const TEMPLATES: Record<string, string>[] = [
  { tpl: 't.hbs', 't.hbs': '<p>Hi {{name}}</p>\n<p>{{formatNumber points}} points</p>\n<p>on {{formatDate day}}</p>\n' },
  { tpl: 't.hbs', 't.hbs': '<p>Hi {{name}} {{email}}</p>\n<p>only names</p>\n' },
  { tpl: 't.hbs', 't.hbs': '{{#if points}}<p>{{formatNumber points}}</p>{{/if}}\n<p>{{formatDate day style="long"}}</p>\n' },
  { tpl: 't.hbs', 't.hbs': '<p>{{lookup . "points"}} {{upper name}} {{formatNumber points locale="de-DE"}}</p>\n{{{name}}}\n' },
  { tpl: 't.hbs', 't.hbs': '<p>{{formatDate day}}</p>\n', 'x.txt': 'Points: {{formatNumber points}}\nDay: {{formatDate day}}\n' },
  {
    tpl: 't.mjml',
    't.mjml': '<mjml><mj-body><mj-section><mj-column>\n<mj-text>Hi {{name}}, {{formatNumber points}} points</mj-text>\n<mj-text>{{formatDate day}}</mj-text>\n</mj-column></mj-section></mj-body></mjml>\n',
  },
];

test('validation: a body checked by its check fails exactly where rendering it whole does, row for row', async () => {
  let failures = 0;
  for (const files of TEMPLATES) {
    const extra = files['x.txt'] ? 'text: x.txt\n' : '';
    // Every order of the rows' first one: whether the first row renders or not.
    for (let first = 0; first < ROWS.length; first++) {
      const rows = [...ROWS.slice(first), ...ROWS.slice(0, first)];
      const got: Record<Bodies, string[]> = { plain: [], marked: [], check: [] };
      for (const mode of ['plain', 'check'] as const) {
        const cc = await compile(files, extra);
        rows.forEach((r, i) => {
          const fields = { email: `u${i}@example.com`, name: `N${i}`, ...r };
          try {
            cc.render({ row: i + 2, email: fields.email, name: fields.name, fields }, new Date(0), undefined, mode);
            got[mode].push('ok');
          } catch (e) {
            got[mode].push(outcome(e));
          }
        });
      }
      assert.deepEqual(got.check, got.plain, `${JSON.stringify(files)} from row ${first}`);
      failures += got.plain.filter((x) => x !== 'ok').length;
    }
  }
  assert.ok(failures > 50, `the rows failed ${failures} times`);
});

test('validation: a check leaves the bodies empty, and renders them whole while no row has rendered', async () => {
  const cc = await compile(TEMPLATES[0]);
  const fields = (points: string) => ({ email: 'a@example.com', name: 'Ann', points, day: '2026-11-22' });
  const r1 = cc.render({ row: 2, email: 'a@example.com', name: 'Ann', fields: fields('5') }, new Date(0), undefined, 'check');
  assert.equal(r1.html, '');
  assert.equal(r1.subject, 'Hi Ann');
  assert.throws(() => cc.render({ row: 3, email: 'a@example.com', name: 'Ann', fields: fields('x') }, new Date(0), undefined, 'check'), /formatNumber: not a number: "x" \(CSV line 3\)/);
  assert.match(cc.render({ row: 4, email: 'a@example.com', name: 'Ann', fields: fields('5') }, new Date(0)).html, /<p>5 points<\/p>/);
});
