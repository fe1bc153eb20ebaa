// MJML's output kept between runs (src/render/mjml.ts, cachedHtml): a template compiled before
// is not compiled again, unless something mjml read or looked at changed since; and a send or
// validate whose template is kept starts no MJML child at all.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { cachedHtml, compileMjml, htmlCacheFile, startChild } from '../../src/render/mjml.js';
import { ensureBuilt, spawnCli } from '../pipeline/delivery-fixture.js';
import { tmpDir } from '../helpers/tmp.js';

// This file's own cache folder (each test file runs in its own process).
const CACHE = tmpDir('mailcamp-html-cache-');
process.env.XDG_CACHE_HOME = CACHE;

const TEMPLATE = '<mjml>\n<mj-body>\n<mj-section><mj-column>\n<mj-text>Hello {{name}}</mj-text>\n<mj-include path="./part.mjml" />\n</mj-column></mj-section>\n</mj-body>\n</mjml>\n';

interface Entry {
  key: string;
  html: string;
  looked: [string, string, string][];
  modules: [string, number, number, number, number][];
}

const readEntry = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Entry;
/** The entry with its HTML replaced: what compileMjml returns from then on shows where it came from. */
function tamper(f: string, html: string): void {
  fs.writeFileSync(f, JSON.stringify({ ...readEntry(f), html }), { mode: 0o600 });
}
/** Writes `text` to `file` and gives it back its old mtime (same size: only the content differs). */
function rewriteKeepingMtime(file: string, text: string): void {
  const st = fs.statSync(file);
  assert.equal(Buffer.byteLength(text), st.size);
  fs.writeFileSync(file, text);
  fs.utimesSync(file, st.atime, st.mtime);
}

test('a template compiled before is not compiled again, until something mjml read changes', async () => {
  const dir = tmpDir('mailcamp-html-cache-');
  const file = path.join(dir, 't.mjml');
  fs.writeFileSync(file, TEMPLATE);
  fs.writeFileSync(path.join(dir, 'part.mjml'), '<mj-text>part-AAA</mj-text>\n');
  const first = await compileMjml(TEMPLATE, file, 't.mjml');
  assert.match(first, /part-AAA/);

  const kept = htmlCacheFile(file);
  assert.equal(path.dirname(kept), path.join(CACHE, 'mailcamp'));
  assert.equal(fs.statSync(kept).mode & 0o777, 0o600);
  const e = readEntry(kept);
  assert.equal(e.html, first);
  const looked = e.looked.map(([name, f]) => `${name} ${f}`);
  assert.ok(looked.includes(`readFileSync ${path.join(dir, 'part.mjml')}`), looked.join('\n'));
  assert.ok(looked.includes(`readFileSync ${path.join(process.cwd(), '.mjmlconfig')}`), 'the .mjmlconfig mjml looks for in the working folder');
  assert.ok(e.modules.some(([f]) => f.includes(`${path.sep}mjml-core${path.sep}`)), 'mjml’s own modules');

  tamper(kept, 'KEPT');
  assert.equal(await compileMjml(TEMPLATE, file, 't.mjml'), 'KEPT', 'the kept HTML is used');

  // The included file changed, same size and mtime: its content tells.
  rewriteKeepingMtime(path.join(dir, 'part.mjml'), '<mj-text>part-BBB</mj-text>\n');
  const second = await compileMjml(TEMPLATE, file, 't.mjml');
  assert.match(second, /part-BBB/);
  assert.doesNotMatch(second, /part-AAA/);
  assert.equal(readEntry(kept).html, second, 'kept anew');

  // The template itself changed.
  tamper(kept, 'KEPT');
  const edited = TEMPLATE.replace('Hello', 'Howdy');
  assert.match(await compileMjml(edited, file, 't.mjml'), /Howdy/);
});

test('kept HTML is used only when every file and module mjml looked at is as it was, in a file of ours', () => {
  const dir = tmpDir('mailcamp-html-cache-');
  const probed = path.join(dir, 'absent.json');
  const read = path.join(dir, 'read.txt');
  const module = path.join(dir, 'component.js');
  fs.writeFileSync(read, 'abc');
  fs.writeFileSync(module, 'module.exports = 1;\n');
  const npmTime = new Date('1985-10-26T08:15:00Z'); // what npm gives every file of a package
  fs.utimesSync(module, npmTime, npmTime);
  const st = fs.statSync(module);
  const kept = path.join(dir, 'kept.json');
  type Stamp = [string, number, number, number, number];
  const stampOf = (f: string): Stamp => {
    const s = fs.statSync(f);
    return [f, s.size, s.mtimeMs, s.ctimeMs, s.ino];
  };
  const write = (looked: [string, string, string][], modules: Stamp[] = [stampOf(module)]) =>
    fs.writeFileSync(kept, JSON.stringify({ key: 'k', html: 'H', looked, modules }), { mode: 0o600 });
  const abc = 'a9993e364706816aba3e25717850c26c9cd0d89d'; // sha1 of 'abc'
  const looked: [string, string, string][] = [
    ['existsSync', probed, 'false'],
    ['readFileSync', read, abc],
    ['readFileSync', probed, 'E:ENOENT'],
  ];
  write(looked);
  assert.equal(cachedHtml(kept, 'k'), 'H');
  assert.equal(cachedHtml(kept, 'other'), undefined, 'another compile');

  fs.chmodSync(kept, 0o620);
  assert.equal(cachedHtml(kept, 'k'), undefined, 'another user could have written it');
  fs.chmodSync(kept, 0o600);
  assert.equal(cachedHtml(kept, 'k'), 'H');

  fs.writeFileSync(probed, '{}');
  assert.equal(cachedHtml(kept, 'k'), undefined, 'a file mjml looked for and did not find is there now');
  fs.rmSync(probed);
  fs.writeFileSync(read, 'abd');
  assert.equal(cachedHtml(kept, 'k'), undefined, 'a file mjml read has other content');
  fs.writeFileSync(read, 'abc');
  assert.equal(cachedHtml(kept, 'k'), 'H');

  // Rewritten with the same size and its mtime put back, as npm leaves every file of a package
  // (a reinstall of another version): the ctime tells.
  fs.writeFileSync(module, 'module.exports = 2;\n');
  fs.utimesSync(module, npmTime, npmTime);
  assert.equal(fs.statSync(module).mtimeMs, st.mtimeMs);
  assert.equal(cachedHtml(kept, 'k'), undefined, 'a module changed');
  const now: Stamp[] = [stampOf(module)];
  write(looked, now);
  assert.equal(cachedHtml(kept, 'k'), 'H');
  // Only the calls the child records are made again: not one an entry could name to do harm.
  write([...looked, ['rmSync', read, 'undefined']], now);
  assert.equal(cachedHtml(kept, 'k'), undefined, 'a call it does not check');
  assert.ok(fs.existsSync(read));
  fs.writeFileSync(kept, '{"key": "k", "html": "H", ');
  assert.equal(cachedHtml(kept, 'k'), undefined, 'damaged');
});

test('the child keeps nothing when its compile read a file it could not check again (opened by hand)', async () => {
  const dir = tmpDir('mailcamp-html-cache-');
  const data = path.join(dir, 'data.txt');
  fs.writeFileSync(data, 'x');
  const keepIn = (name: string) => ({ file: path.join(dir, 'cache', `${name}.json`), key: name });
  const compile = async (body: string, name: string) => {
    const module = path.join(dir, `${name}.js`);
    fs.writeFileSync(module, `const fs = require('fs');\nmodule.exports = function mjml() { ${body}; return { html: '${name}' }; };\n`);
    const c = startChild(module, '');
    c.proc.stdin!.end(JSON.stringify({ source: '<mjml></mjml>', options: {}, keep: keepIn(name) }));
    const r = await c.result;
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as { html: string }).html, name);
    return fs.existsSync(keepIn(name).file) ? readEntry(keepIn(name).file) : undefined;
  };
  const byPath = await compile(`fs.readFileSync(${JSON.stringify(data)})`, 'by-path');
  assert.ok(byPath?.looked.some(([n, f]) => n === 'readFileSync' && f === data), 'kept, with the file it read');
  assert.equal(cachedHtml(keepIn('by-path').file, 'by-path'), 'by-path');
  assert.equal(await compile(`fs.readSync(fs.openSync(${JSON.stringify(data)}, 'r'), Buffer.alloc(1))`, 'by-hand'), undefined);
  assert.equal(await compile(`const fd = fs.openSync(${JSON.stringify(data)}, 'r'); fs.readFileSync(fd)`, 'by-fd'), undefined);
  // A descriptor it did not open: stdin (read to its end already).
  assert.equal(await compile('fs.readFileSync(0)', 'inherited-fd'), undefined);
});

/** Whether the CLI run started an MJML child (our `node -e` whose command line ends with its pid). */
async function runWatchingChildren(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string; child: boolean }> {
  const { child, done } = spawnCli(args, cwd, { XDG_CACHE_HOME: CACHE });
  const pid = String(child.pid);
  let seen = false;
  const look = () => {
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const a = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
        if (a[1] === '-e' && a[a.length - 2] === pid) seen = true;
      } catch {
        // ended meanwhile
      }
    }
  };
  const watch = setInterval(look, 5);
  const r = await done;
  clearInterval(watch);
  return { ...r, child: seen };
}

test('validate and send of a template kept start no MJML child; one changed since does', async () => {
  ensureBuilt();
  const dir = tmpDir('mailcamp-html-cache-');
  fs.mkdirSync(path.join(dir, 'tpl'));
  fs.writeFileSync(path.join(dir, 'tpl', 'news.mjml'), TEMPLATE);
  fs.writeFileSync(path.join(dir, 'tpl', 'part.mjml'), '<mj-text>part-AAA</mj-text>\n');
  fs.writeFileSync(path.join(dir, 'list.csv'), 'email,name\na@example.com,Ann\n');
  fs.writeFileSync(path.join(dir, 'c.yaml'), 'name: c\nfrom: me@example.com\nsubject: hi\ntemplate: "tpl/news.mjml" # the newsletter\nrecipients: list.csv\n');

  const cold = await runWatchingChildren(['validate', 'c.yaml'], dir);
  assert.equal(cold.code, 0, cold.stderr);
  assert.ok(cold.child, 'compiled by a child the first time');
  const warm = await runWatchingChildren(['validate', 'c.yaml'], dir);
  assert.equal(warm.code, 0, warm.stderr);
  assert.equal(warm.child, false, 'kept: no child');

  const out = path.join(dir, 'out');
  const sent = await runWatchingChildren(['send', 'c.yaml', '--dry-run', '--out', out], dir);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(sent.child, false);
  const [eml] = fs.readdirSync(out).filter((f) => f.endsWith('.eml'));
  assert.match(fs.readFileSync(path.join(out, eml), 'utf8'), /part-AAA/);

  // The include edited: compiled again, and the message says so.
  fs.writeFileSync(path.join(dir, 'tpl', 'part.mjml'), '<mj-text>two, edited</mj-text>\n');
  fs.rmSync(out, { recursive: true });
  const edited = await runWatchingChildren(['send', 'c.yaml', '--dry-run', '--out', out], dir);
  assert.equal(edited.code, 0, edited.stderr);
  assert.ok(edited.child);
  const [again] = fs.readdirSync(out).filter((f) => f.endsWith('.eml'));
  assert.match(fs.readFileSync(path.join(out, again), 'utf8'), /two, edited/);
});
