// The MJML child process (src/render/mjml.ts): a spare started ahead of need compiles like a
// fresh one, errors included; and a spare nobody used does not outlive the mailcamp process
// that started it (cli/prewarm.ts starts one whenever a campaign file mentions `.mjml`).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { compileMjml, htmlCacheFile, prewarmMjml } from '../../src/render/mjml.js';
import { ensureBuilt, spawnCli } from '../pipeline/delivery-fixture.js';
import { tmpDir } from '../helpers/tmp.js';
import { formatDiagnostic, type ValidationError } from '../../src/shared/diagnostics.js';

const MJML = '<mjml>\n<mj-body>\n<mj-section><mj-column><mj-text>Hello {{name}}</mj-text></mj-column></mj-section>\n</mj-body>\n</mjml>\n';
const BROKEN = '<mjml>\n<mj-body>\n<mj-section>\n<mj-colum><mj-text>x</mj-text></mj-colum>\n</mj-section></mj-body></mjml>\n';

// Reaches the modules the child loads only when a template needs them: juice (inline styles),
// cheerio (html-attributes; juice uses it too).
const FEATURES = `<mjml>
<mj-head>
  <mj-style inline="inline">.note { color: #e95420; font-weight: bold; }</mj-style>
  <mj-style>.plain { color: #333333; }</mj-style>
  <mj-html-attributes>
    <mj-selector path=".note div"><mj-html-attribute name="data-id">{{id}}</mj-html-attribute></mj-selector>
  </mj-html-attributes>
  <mj-attributes><mj-text font-size="15px" /></mj-attributes>
</mj-head>
<mj-body>
  <mj-section><mj-column>
    <mj-text css-class="note">Hello {{name}}</mj-text>
    <mj-text css-class="plain"><p class="note">inline</p></mj-text>
    <mj-include path="./part.mjml" />
  </mj-column></mj-section>
</mj-body>
</mjml>
`;

/** MJML children (our `node -e` with the mjml path) whose command line names `pid` as parent. */
function mjmlChildrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let args: string[];
    try {
      args = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // ended meanwhile
    }
    // node -e CHILD <mjml> <code cache file> <pid> (the line ends with a NUL)
    if (args[1] === '-e' && /mjml/.test(args[3] ?? '') && args[args.length - 2] === String(pid)) found.push(Number(d));
  }
  return found;
}

test('a spare MJML child compiles like a fresh one, errors with their line included', async () => {
  const dir = tmpDir('mailcamp-mjml-');
  const file = path.join(dir, 't.mjml');
  fs.writeFileSync(file, MJML);
  prewarmMjml();
  assert.equal(mjmlChildrenOf(process.pid).length, 1, 'the spare is running');
  const viaSpare = await compileMjml(MJML, file, 't.mjml');
  fs.rmSync(htmlCacheFile(file)); // or the HTML it kept would be used
  const fresh = await compileMjml(MJML, file, 't.mjml');
  assert.match(viaSpare, /Hello \{\{name\}\}/);
  assert.equal(viaSpare, fresh);
  prewarmMjml();
  await assert.rejects(compileMjml(BROKEN, file, 't.mjml'), (e: ValidationError) => {
    assert.match(formatDiagnostic(e.diagnostics.errors[0]), /^t\.mjml:4: MJML <mj-colum>/);
    return true;
  });
  assert.deepEqual(mjmlChildrenOf(process.pid), [], 'used children end');
});

test('a spare the campaign did not need ends with the mailcamp process', async () => {
  ensureBuilt();
  const dir = tmpDir('mailcamp-mjml-');
  fs.writeFileSync(path.join(dir, 't.hbs'), '<p>Hello {{name}}</p>\n');
  fs.writeFileSync(path.join(dir, 'list.csv'), 'email,name\na@example.com,A\n');
  // Mentions .mjml, so the CLI starts a spare; the template is Handlebars, so nothing uses it.
  fs.writeFileSync(path.join(dir, 'c.yaml'), 'name: c\nfrom: a@example.com\nsubject: hi\ntemplate: t.hbs # was t.mjml\nrecipients: list.csv\n');
  const { child, done } = spawnCli(['validate', 'c.yaml'], dir);
  const pid = child.pid!;
  let seen = false;
  const watch = setInterval(() => (seen ||= mjmlChildrenOf(pid).length > 0), 5);
  const r = await done;
  clearInterval(watch);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(seen, 'the spare was started');
  const until = Date.now() + 5000;
  while (mjmlChildrenOf(pid).length && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(mjmlChildrenOf(pid), [], 'no MJML child left behind');
});

test('the child, which loads juice, cheerio and htmlnano only when used, compiles exactly as mjml does in-process', async () => {
  const dir = tmpDir('mailcamp-mjml-');
  const file = path.join(dir, 't.mjml');
  fs.writeFileSync(file, FEATURES);
  fs.writeFileSync(path.join(dir, 'part.mjml'), '<mj-text css-class="note">included</mj-text>\n');
  const mjml = createRequire(import.meta.url)('mjml') as (s: string, o: object) => Promise<{ html: string }>;
  for (const source of [FEATURES, MJML]) {
    fs.writeFileSync(file, source);
    const options = { validationLevel: 'strict', filePath: file, actualPath: file, ignoreIncludes: false, keepComments: false, minify: false, beautify: false };
    const expected = (await mjml(source, options)).html;
    const got = await compileMjml(source, file, 't.mjml');
    assert.equal(got, expected);
  }
  fs.writeFileSync(file, FEATURES);
  const html = await compileMjml(FEATURES, file, 't.mjml');
  assert.match(html, /<p class="note" style="color: #e95420; font-weight: bold;">inline/, 'the inline style was applied (juice)');
  assert.match(html, /data-id="\{\{id\}\}"/, 'the html attribute was set (cheerio)');
  assert.match(html, /included/);
});
