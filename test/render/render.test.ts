// Render stage: strict Handlebars, the static variable check, helpers, MJML compiled once,
// subject/text without HTML escaping, hardening against prototype access.

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadCampaign } from '../../src/campaign/load.js';
import { compileCampaign } from '../../src/render/index.js';
import { Diagnostics, formatDiagnostic, ValidationError } from '../../src/shared/diagnostics.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

async function compiled(files: Record<string, string>, yamlExtra = '', columns = ['email', 'name', 'city']) {
  const dir = tmpDir();
  const { subject, tpl, ...rest } = files;
  writeFiles(dir, {
    'c.yaml': `name: t\nfrom: a@example.com\nsubject: "${subject ?? 'Hi {{name}}'}"\ntemplate: ${tpl ?? 't.hbs'}\nrecipients: r.csv\n${yamlExtra}`,
    'r.csv': columns.join(',') + '\n',
    ...rest,
  });
  const diag = new Diagnostics();
  const c = loadCampaign(path.join(dir, 'c.yaml'), { env: {}, cwd: dir }, diag);
  const cc = await compileCampaign(c, columns, diag, dir);
  return { cc, diag, errors: diag.errors.map(formatDiagnostic) };
}

const row = (fields: Record<string, string>) => ({ row: 2, email: fields.email ?? 'a@example.com', name: fields.name, fields });

describe('render', () => {
  test('unknown variable in the template: error at template:line:col with the columns listed', async () => {
    const { errors } = await compiled({ 't.hbs': '<p>Hi</p>\n<p>{{nmae}}</p>' });
    assert.deepEqual(errors, ["t.hbs:2:6: unknown variable 'nmae': not defined (CSV columns: email, name, city); did you mean 'name'?"]);
  });

  test("a built-in's unknown key ({{recipient.emial}}, {{now.year}}) is named at its place in the source, MJML and partials included", async () => {
    const mjml = `<mjml>\n<mj-body>\n<mj-section><mj-column>\n<mj-text>Hi {{recipient.emial}} {{campaign.name}} {{recipient.row}}</mj-text>\n<mj-text>{{> foot}}</mj-text>\n</mj-column></mj-section>\n</mj-body>\n</mjml>\n`;
    const { errors } = await compiled({ 't.mjml': mjml, 'partials/foot.hbs': '<p>ok</p>\n<p>{{now.year}}</p>', tpl: 't.mjml' });
    assert.deepEqual(errors, [
      "t.mjml:4:15: unknown variable 'recipient.emial': 'recipient' has recipient.email, recipient.row, recipient.name; did you mean 'recipient.email'?",
      "partials/foot.hbs:2:6: unknown variable 'now.year': 'now' has no keys (it is a date: format it with formatDate)",
    ]);
  });

  test('a key of a text value ({{city.x}}) and a helper given nothing ({{formatDate}}, {{#if}}) are named at their place, not as JavaScript errors per row', async () => {
    const { errors } = await compiled({ 't.hbs': '<p>{{city.x}}</p>\n<p>{{formatDate}} {{#if}}x{{/if}} {{month.y}}</p>\n{{recipient.email.x}}\n{{#with city}}{{this}} {{zzz}}{{/with}}' }, 'data: { month: November }\n');
    assert.deepEqual(errors, [
      "t.hbs:1:6: unknown variable 'city.x': 'city' is text, it has no keys; write {{city}}",
      't.hbs:2:6: formatDate needs a value: write {{formatDate something}}',
      't.hbs:2:22: if needs a value: write {{#if something}}',
      "t.hbs:2:37: unknown variable 'month.y': 'month' is text, it has no keys; write {{month}}",
      "t.hbs:3:3: unknown variable 'recipient.email.x': 'recipient.email' is text, it has no keys; write {{recipient.email}}",
      "t.hbs:4:26: unknown variable 'city.zzz': 'city' is text, it has no keys; write {{city}}",
    ]);
  });

  test('{{constructor}}, {{__proto__}} and {{#if missing}} are errors like any unknown variable', async () => {
    const { errors } = await compiled({ 't.hbs': '{{constructor}} {{__proto__}} {{name.constructor.constructor}} {{#if missing}}x{{/if}}' });
    assert.equal(errors.length, 4, errors.join('\n'));
    assert.match(errors[0], /t\.hbs:1:3: unknown variable 'constructor': not allowed/);
    assert.match(errors[1], /unknown variable '__proto__': not allowed/);
    assert.match(errors[2], /unknown variable 'name.constructor.constructor': not allowed/);
    assert.match(errors[3], /t\.hbs:1:\d+: unknown variable 'missing'/);
  });

  test('data: mappings and lists: a typo inside one is named at its place; printing one is an error, statically or when rendered', async () => {
    const data = 'data:\n  info: { city: Berlin }\n  links:\n    - { title: A, url: "https://a.example" }\n';
    const typo = await compiled({ 't.hbs': '<p>{{info.city}}</p>\n{{#each links}}<a href="{{url}}">{{titel}}</a>{{/each}}' }, data);
    assert.deepEqual(typo.errors, []);
    assert.throws(() => typo.cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date()), (e: Error & { place?: { file?: string; line?: number; col?: number } }) => {
      assert.equal(e.message, "unknown variable 'titel' (CSV line 2)");
      assert.deepEqual([e.place?.file, e.place?.line, e.place?.col], ['t.hbs', 2, 36]);
      return true;
    });
    const printed = await compiled({ 't.hbs': '<p>{{info}}</p>', subject: 'Hi {{links}}' }, data);
    assert.deepEqual([...printed.errors].sort(), [
      "c.yaml:3:10: 'links' is a mapping or a list, which has no text: print one of its keys ({{links.key}}) or loop over it ({{#each links}})",
      "t.hbs:1:6: 'info' is a mapping or a list, which has no text: print one of its keys ({{info.key}}) or loop over it ({{#each info}})",
    ]);
    // A list of plain values prints as Handlebars prints it.
    const plainList = await compiled({ 't.hbs': '<p>{{tags}}</p>' }, 'data:\n  tags: [a, b]\n');
    assert.deepEqual(plainList.errors, []);
    assert.match(plainList.cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date()).html, /<p>a,b<\/p>/);
    // Inside a loop the static check cannot know; the render says it.
    const inLoop = await compiled({ 't.hbs': '{{#each links}}{{this}}{{/each}}' }, data);
    assert.deepEqual(inLoop.errors, []);
    assert.throws(() => inLoop.cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date()), /a value of data: that is a mapping or a list is printed as text .*\(CSV line 2\)$/);
  });

  test('partials: a missing one is an error, except a partial block (its fallback) and inline partials; an unused broken file does not matter', async () => {
    const ok = await compiled({
      't.hbs': '<p>Hi {{name}}</p>\n{{#> maybe}}<p>default footer</p>{{/maybe}}\n{{#* inline "sig"}}Acme{{/inline}}{{> sig}}\n{{> foot}}',
      'partials/foot.hbs': '<p>bye {{name}}</p>',
      'partials/wip.hbs': '{{#if name}}unfinished',
    });
    assert.deepEqual(ok.errors, []);
    const html = ok.cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date()).html;
    assert.match(html, /<p>default footer<\/p>\nAcme\n<p>bye Ann<\/p>/);
    const missing = await compiled({ 't.hbs': '<p>Hi {{name}}</p>\n{{> fot}}', 'partials/foot.hbs': 'bye' });
    assert.deepEqual(missing.errors, ["t.hbs:2:5: unknown partial 'fot': no partials/fot.hbs (or .html) in the template's folder"]);
    const broken = await compiled({ 't.hbs': '{{> foot}}', 'partials/foot.hbs': 'a\n{{> inner}}', 'partials/inner.hbs': '{{#if name}}x{{/iff}}' });
    assert.deepEqual(broken.errors, ["partials/inner.hbs:1:4: template syntax: if doesn't match iff - 1:3"]);
  });

  test('mj-include: a problem in an included file (or one it includes) is named at its own line; inside a block it is left to the render', async () => {
    const main = (inc: string) => `<mjml>\n<mj-body>\n<mj-section><mj-column>\n${inc}\n</mj-column></mj-section>\n</mj-body>\n</mjml>\n`;
    const unknown = await compiled({ 't.mjml': main('<mj-include path="inc/a.mjml" />'), 'inc/a.mjml': '<mj-text>{{name}}</mj-text>\n<mj-include path="b.mjml" />', 'inc/b.mjml': '<mj-text>\n{{nme}}</mj-text>', tpl: 't.mjml' });
    assert.deepEqual(unknown.errors, ["inc/b.mjml:2:3: unknown variable 'nme': not defined (CSV columns: email, name, city); did you mean 'name'?"]);
    const syntax = await compiled({ 't.mjml': main('<mj-include path="inc/a.mjml" />'), 'inc/a.mjml': '<mj-text>{{#if name}}x{{/iff}}</mj-text>', tpl: 't.mjml' });
    assert.deepEqual(syntax.errors, ["inc/a.mjml:1:13: template syntax: if doesn't match iff - 1:12"]);
    // In a loop the included file sees other names (here a list of data): not checked statically.
    const loop = await compiled(
      { 't.mjml': main('<mj-raw>{{#each links}}</mj-raw>\n<mj-include path="inc/link.mjml" />\n<mj-raw>{{/each}}</mj-raw>'), 'inc/link.mjml': '<mj-text>{{title}}</mj-text>', tpl: 't.mjml' },
      'data:\n  links:\n    - { title: A }\n',
    );
    assert.deepEqual(loop.errors, []);
    assert.match(loop.cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date()).html, />\s*A\s*</);
    // Not errors: a file included (through another) inside a loop, one in an HTML comment, and a
    // block that opens in one included file and closes in the next.
    const fine = await compiled(
      {
        't.mjml': main('<mj-raw>{{#each links}}</mj-raw>\n<mj-include path="inc/outer.mjml" />\n<mj-raw>{{/each}}</mj-raw>\n<!-- <mj-include path="inc/old.mjml" /> -->\n<mj-include path="inc/open.mjml" />\n<mj-include path="inc/close.mjml" />'),
        'inc/outer.mjml': '<mj-include path="link.mjml" />',
        'inc/link.mjml': '<mj-text>{{title}}</mj-text>',
        'inc/old.mjml': '<mj-text>{{gone}}</mj-text>',
        'inc/open.mjml': '<mj-raw>{{#if name}}</mj-raw>\n<mj-text>Hi {{name}}</mj-text>',
        'inc/close.mjml': '<mj-raw>{{/if}}</mj-raw>',
        tpl: 't.mjml',
      },
      'data:\n  links:\n    - { title: A }\n',
    );
    assert.deepEqual(fine.errors, []);
    assert.match(fine.cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date()).html, /Hi Ann/);
  });

  test('unregistered helper is an error; built-in log helper is gone', async () => {
    const { errors } = await compiled({ 't.hbs': '{{shout name}} {{log name}}' });
    assert.equal(errors.length, 2, errors.join('\n'));
  });

  test('a {{{value}}} holding HTML is HTML in the HTML part and text in the derived text part', async () => {
    const { cc, errors } = await compiled({ 't.hbs': '<p>Hi {{name}}</p>\n<div>{{{city}}}</div>\n' });
    assert.deepEqual(errors, []);
    const r = cc!.render(row({ email: 'a@example.com', name: 'Ann', city: '<b>Paris</b> &amp; <a href="https://x.example/p">more</a>' }), new Date());
    assert.match(r.html, /<div><b>Paris<\/b> &amp; <a href="https:\/\/x\.example\/p">more<\/a><\/div>/);
    assert.match(r.text, /^Paris & more \[https:\/\/x\.example\/p\]$/m);
    assert.doesNotMatch(r.text, /<b>|&amp;/);
    // A value with no tags (a URL, plain text) goes in as it is: no entity decoding of &region.
    const url = cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'https://shop.example/p?id=7&region=eu' }), new Date());
    assert.match(url.text, /^https:\/\/shop\.example\/p\?id=7&region=eu$/m);
  });

  test('HTML with images only: a warning that the derived text part is empty', async () => {
    const { cc, diag } = await compiled({ 't.hbs': '<p><img src="https://x.example/a.png" alt=""></p>\n' });
    assert.ok(cc);
    assert.deepEqual(diag.warnings.map(formatDiagnostic), ['t.hbs: warning: the text part derived from the HTML is empty (no text outside images); add a `text:` template']);
  });

  test('{{campaign}} is the campaign name, like {{campaign.name}}', async () => {
    const { cc, errors } = await compiled({ 't.hbs': '<p>{{campaign}} / {{campaign.name}}</p>', subject: '{{campaign}}: hi' });
    assert.deepEqual(errors, []);
    const r = cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date());
    assert.equal(r.subject, 't: hi');
    assert.match(r.html, /<p>t \/ t<\/p>/);
    assert.match(r.text, /t \/ t/);
  });

  test('{{recipient}} is the address, like {{recipient.email}} (not "[object Object]")', async () => {
    const { cc, errors } = await compiled({ 't.hbs': '<p>{{recipient}} / {{recipient.email}}</p>', subject: 'for {{recipient}}' });
    assert.deepEqual(errors, []);
    const r = cc!.render(row({ email: 'a@example.com', name: 'Ann', city: 'x' }), new Date());
    assert.equal(r.subject, 'for a@example.com');
    assert.match(r.html, /<p>a@example\.com \/ a@example\.com<\/p>/);
  });

  test('subject and text are not HTML-escaped; HTML is', async () => {
    const { cc } = await compiled({ 't.hbs': '<p>{{name}}</p>', subject: '{{name}} news' });
    const r = cc!.render(row({ email: 'a@example.com', name: 'Tom & Jerry <3', city: 'x' }), new Date());
    assert.equal(r.subject, 'Tom & Jerry <3 news');
    assert.equal(r.html, '<p>Tom &amp; Jerry &lt;3</p>');
    assert.match(r.text, /Tom & Jerry <3/);
  });

  test('helpers: formatDate, formatNumber, default, eq', async () => {
    const { cc, errors } = await compiled({
      't.hbs':
        '{{formatDate since "long" locale="zh-CN" timeZone="UTC"}}|{{formatNumber amount locale="de-DE" currency="EUR"}}|{{default city "n/a"}}|{{#if (eq name "A")}}yes{{/if}}',
    }, '', ['email', 'name', 'city', 'since', 'amount']);
    assert.deepEqual(errors, []);
    const r = cc!.render(row({ email: 'a@x.com', name: 'A', city: '', since: '2024-03-05', amount: '1234.5' }), new Date());
    assert.equal(r.html, '2024年3月5日|1.234,50\u00a0€|n/a|yes');
  });

  test('formatNumber: each call formats its own value with its own options (the last result is reused only for the same both)', async () => {
    const { cc, errors } = await compiled({
      't.hbs': '{{formatNumber amount}}|{{formatNumber amount}}|{{formatNumber amount decimals=2}}|{{formatNumber amount}}|{{formatNumber city}}|{{formatNumber amount locale="de-DE"}}|{{formatNumber neg}}|{{formatNumber zero}}',
    }, '', ['email', 'name', 'city', 'amount', 'neg', 'zero']);
    assert.deepEqual(errors, []);
    const a = cc!.render(row({ email: 'a@x.com', name: 'A', city: '7', amount: '1234.5', neg: '-0', zero: '0' }), new Date());
    assert.equal(a.html, '1,234.5|1,234.5|1,234.50|1,234.5|7|1.234,5|-0|0');
    const b = cc!.render(row({ email: 'b@x.com', name: 'B', city: '7', amount: '99', neg: '-0', zero: '0' }), new Date());
    assert.equal(b.html, '99|99|99.00|99|7|99|-0|0');
  });

  test('a helper option Intl refuses (locale="en_US", a misspelt zone or currency) is named in our words at the call, not in Intl\'s', async () => {
    for (const [tpl, want] of [
      ['{{formatNumber 3 locale="en_US"}}', /^formatNumber: an option Intl does not know: locale="en_US" \(a language tag is written with '-': en-US\)/],
      ['{{formatNumber 3 currency="EURO"}}', /^formatNumber: an option Intl does not know: currency="EURO"/],
      ['{{formatDate "2026-11-22T10:00:00Z" timeZone="Asia/Beijing"}}', /^formatDate: an option Intl does not know: timeZone="Asia\/Beijing"/],
    ] as const) {
      const { cc, errors } = await compiled({ 't.hbs': tpl });
      assert.deepEqual(errors, []);
      assert.throws(() => cc!.render(row({ email: 'a@x.com', name: 'A', city: '' }), new Date()), (e: unknown) => want.test((e as Error).message) || assert.fail((e as Error).message));
    }
  });

  test('lookup is strict like every variable: a key that is not there is an error, one that is gives its value', async () => {
    const { cc, errors } = await compiled({ 't.hbs': '{{lookup . "name"}}|{{lookup . "nmae"}}' });
    assert.deepEqual(errors, []);
    assert.throws(() => cc!.render(row({ email: 'a@x.com', name: 'A', city: '' }), new Date()), /lookup: no 'nmae' \(there are: email, name, city/);
    const ok = await compiled({ 't.hbs': '{{lookup . "name"}}' });
    assert.equal(ok.cc!.render(row({ email: 'a@x.com', name: 'A', city: '' }), new Date()).html, 'A');
  });

  test('formatDate of a day without a time (2026-11-22, 2026/11/22) prints that day in any zone and with any timeZone=', async () => {
    const { cc, errors } = await compiled({
      't.hbs': '{{formatDate since "long"}}|{{formatDate since "long" timeZone="America/Los_Angeles"}}|{{formatDate since "long" timeZone="Asia/Shanghai"}}',
    }, '', ['email', 'name', 'city', 'since']);
    assert.deepEqual(errors, []);
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      for (const since of ['2026-11-22', '2026/11/22', '2026.11.22', ' 2026-11-22 ', 'Nov 22, 2026']) {
        const r = cc!.render(row({ email: 'a@x.com', name: 'A', city: '', since }), new Date());
        assert.equal(r.html, 'November 22, 2026|November 22, 2026|November 22, 2026', since);
      }
      // An instant is still shown in the zone asked for.
      const r = cc!.render(row({ email: 'a@x.com', name: 'A', city: '', since: '2026-11-22T03:00:00Z' }), new Date());
      assert.equal(r.html.split('|')[1], 'November 21, 2026');
      assert.throws(() => cc!.render(row({ email: 'a@x.com', name: 'A', city: '', since: '2026-02-30' }), new Date()), /not a date: "2026-02-30"/);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  test('MJML is compiled once; recipient data never goes through it', async () => {
    const mjml = '<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{name}}</mj-text></mj-column></mj-section></mj-body></mjml>';
    const { cc, errors } = await compiled({ 't.mjml': mjml, tpl: 't.mjml' });
    assert.deepEqual(errors, []);
    assert.match(cc!.htmlSource, /Hello \{\{name\}\}/);
    const r = cc!.render(row({ email: 'a@x.com', name: '<mj-raw>x</mj-raw>', city: '' }), new Date());
    assert.match(r.html, /Hello &lt;mj-raw&gt;x&lt;\/mj-raw&gt;/);
  });

  test("a helper's failure in an MJML template is named at the call in the MJML source", async () => {
    const mjml = '<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text>Total: {{formatNumber city}}</mj-text>\n</mj-column>\n</mj-section>\n</mj-body>\n</mjml>\n';
    const { cc, errors } = await compiled({ 't.mjml': mjml, tpl: 't.mjml' });
    assert.deepEqual(errors, []);
    assert.throws(
      () => cc!.render(row({ email: 'a@x.com', name: 'A', city: 'Paris' }), new Date()),
      (e: unknown) => {
        const all = e instanceof ValidationError ? e.diagnostics.errors.map(formatDiagnostic) : [String(e)];
        assert.ok(all.some((l) => l.startsWith('t.mjml:5:17: formatNumber: not a number: "Paris"')), all.join('\n'));
        return true;
      },
    );
  });

  test('a template without HTML markup is a warning: its line breaks would be lost', async () => {
    const plain = await compiled({ 't.hbs': 'Hi {{name}},\n\nyour invoice is attached.\n' });
    assert.deepEqual(plain.errors, []);
    assert.deepEqual(plain.diag.warnings.map(formatDiagnostic), [
      't.hbs: warning: the template has no HTML markup: mail clients show it as one paragraph (its line breaks are lost); write it in HTML (<p>, <br>), and put a plain-text version in text:',
    ]);
    assert.deepEqual((await compiled({ 't.hbs': 'Hi {{name}},<br>\nyour invoice is attached.\n' })).diag.warnings, []);
  });

  test('MJML errors are reported with line and tag', async () => {
    const mjml = '<mjml>\n<mj-body>\n<mj-section>\n<mj-colum><mj-text>x</mj-text></mj-colum>\n</mj-section></mj-body></mjml>';
    const { errors } = await compiled({ 't.mjml': mjml, tpl: 't.mjml' });
    assert.match(errors[0], /^t\.mjml:4: MJML <mj-colum>: /);
    // Every one at once, in the order of the file, not the first and "(and 4 more)".
    const many = '<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-txt>Hello</mj-txt>\n<mj-text colr="red">Hi</mj-text>\n<mj-image src="https://x.example/a.png" widht="10px" />\n</mj-column>\n<mj-text>outside</mj-text>\n</mj-section>\n</mj-body>\n</mjml>\n';
    const all = (await compiled({ 't.mjml': many, tpl: 't.mjml' })).errors;
    assert.ok(all.length >= 4, all.join('\n'));
    assert.deepEqual(all.map((e) => Number(/^t\.mjml:(\d+):/.exec(e)![1])), [...all.map((e) => Number(/^t\.mjml:(\d+):/.exec(e)![1]))].sort((a, b) => a - b));
    for (const [line, what] of [[5, 'mj-txt'], [6, 'colr'], [7, 'widht'], [9, 'mj-text']] as const) {
      assert.ok(all.some((e) => e.startsWith(`t.mjml:${line}: MJML`) && e.includes(what)), `${line} ${what}: ${all.join('\n')}`);
    }
  });

  test('a Handlebars syntax error in an MJML template names the line of the MJML source', async () => {
    const mjml = '<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text>Hello {{name</mj-text>\n</mj-column>\n</mj-section>\n</mj-body>\n</mjml>\n';
    const { errors } = await compiled({ 't.mjml': mjml, tpl: 't.mjml' });
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /^t\.mjml:5:18: template syntax: Expecting 'ID', .*got 'INVALID'$/);
  });

  test('mj-include outside the template folder is refused', async () => {
    const mjml = '<mjml><mj-body><mj-include path="../secret.mjml" /></mj-body></mjml>';
    const dir = tmpDir();
    writeFiles(dir, { 'secret.mjml': '<mj-section><mj-column><mj-text>secret</mj-text></mj-column></mj-section>' });
    const { errors, cc } = await compiled({ 'tpl/t.mjml': mjml, tpl: 'tpl/t.mjml', 'secret.mjml': '<mj-section><mj-column><mj-text>SECRET</mj-text></mj-column></mj-section>' });
    assert.ok(errors.length > 0 || !cc!.htmlSource.includes('SECRET'), 'include outside the folder must not be read');
    assert.ok(errors.some((e) => /mj-include/.test(e)), errors.join('\n'));
  });

  test('an mj-include of a missing file in the template folder: that, at its line', async () => {
    const mjml = '<mjml>\n<mj-body>\n<mj-include path="parts/nothere.mjml" />\n</mj-body>\n</mjml>\n';
    const { errors } = await compiled({ 'tpl/t.mjml': mjml, tpl: 'tpl/t.mjml' });
    assert.deepEqual(errors.map((e) => e.replace(/^.*t\.mjml/, 't.mjml')), ["t.mjml:3: mj-include 'parts/nothere.mjml': no such file"]);
  });

  test('an unknown variable inside a partial is named once, at its line in the partial', async () => {
    const { errors } = await compiled({ 't.hbs': '<p>Hi {{name}}</p>\n{{> footer}}\n', 'partials/footer.hbs': '<p>Bye {{name}},\n{{nope}}</p>\n' });
    assert.deepEqual(errors.map((e) => e.split(' (')[0]), ["partials/footer.hbs:2:3: unknown variable 'nope': not defined"]);
  });

  test('partials from partials/ beside the template', async () => {
    const { cc, errors } = await compiled({ 't.hbs': '<p>{{> footer}}</p>', 'partials/footer.hbs': 'Bye {{name}}' });
    assert.deepEqual(errors, []);
    assert.equal(cc!.render(row({ email: 'a@x.com', name: 'Zoë', city: '' }), new Date()).html, '<p>Bye Zoë</p>');
  });

  test('text part derived from HTML keeps the variables and is rendered per recipient', async () => {
    const { cc } = await compiled({ 't.hbs': '<h1>Hello {{name}}</h1><p>Visit <a href="https://x.example/{{city}}">us</a></p>' });
    assert.match(cc!.textSource, /Hello \{\{name\}\}/);
    const r = cc!.render(row({ email: 'a@x.com', name: 'Ana', city: 'lisbon' }), new Date());
    assert.match(r.text, /Hello Ana/);
    assert.match(r.text, /https:\/\/x\.example\/lisbon/);
  });

  test('group campaigns see members inside {{#each members}}', async () => {
    const { cc, errors } = await compiled(
      { 't.hbs': '{{team}}:{{#each members}} {{name}}<{{email}}>{{/each}}', subject: '[{{team}}] notice' },
      'group_by: team\n',
      ['email', 'name', 'team'],
    );
    assert.deepEqual(errors, []);
    const r = cc!.render(
      { row: 2, email: 'a@x.com, b@x.com', fields: { email: 'a@x.com', name: 'A', team: 'web' }, groupValue: 'web', members: [{ email: 'a@x.com', name: 'A', team: 'web' }, { email: 'b@x.com', name: 'B', team: 'web' }] },
      new Date(),
    );
    assert.equal(r.html, 'web: A<a@x.com> B<b@x.com>');
    assert.equal(r.subject, '[web] notice');
  });
});
