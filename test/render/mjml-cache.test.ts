// The MJML child's code cache (src/render/mjml.ts): V8's cached data of the modules it loads,
// kept in one file and used only for a module whose source is the one it was made from. A
// stand-in module plays mjml here, so that its source can change under the cache; the real
// mjml compiles the same HTML with and without the cache.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { codeCacheFile, compileMjml, htmlCacheFile, startChild } from '../../src/render/mjml.js';
import { tmpDir } from '../helpers/tmp.js';

/** Runs a child for `module` with `cacheFile`; what the module's function returned as html. */
async function compileWith(module: string, cacheFile: string): Promise<string> {
  const c = startChild(module, cacheFile);
  c.proc.stdin!.end(JSON.stringify({ source: '<mjml></mjml>', options: {} }));
  const r = await c.result;
  assert.equal(r.code, 0, r.err);
  return (JSON.parse(r.out) as { html: string }).html;
}

function standIn(dir: string, html: string): string {
  const file = path.join(dir, 'fake-mjml.js');
  fs.writeFileSync(file, `module.exports = function mjml() { return { html: ${JSON.stringify(html)} }; };\n`);
  // npm gives every file of a package the same mtime: only the content tells versions apart.
  fs.utimesSync(file, new Date('1985-10-26T08:15:00Z'), new Date('1985-10-26T08:15:00Z'));
  return file;
}

const mtime = (f: string) => fs.statSync(f).mtimeMs;

test('a module changed under the cache (same size, same mtime) is compiled from its new source', async () => {
  const dir = tmpDir('mailcamp-v8cache-');
  const cache = path.join(dir, 'cache', 'mjml.v8cache');
  const module = standIn(dir, 'one');
  assert.equal(await compileWith(module, cache), 'one');
  assert.ok(fs.statSync(cache).size > 0, 'the cache is written');
  assert.equal(fs.statSync(cache).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(cache)).mode & 0o777, 0o700);
  standIn(dir, 'two');
  assert.equal(await compileWith(module, cache), 'two');
});

test('a cache that fits is used as it is; damaged or garbage, it is written anew', async () => {
  const dir = tmpDir('mailcamp-v8cache-');
  const cache = path.join(dir, 'mjml.v8cache');
  const module = standIn(dir, 'same');
  assert.equal(await compileWith(module, cache), 'same');
  const written = fs.readFileSync(cache);
  const t = new Date('2001-01-01T00:00:00Z');
  fs.utimesSync(cache, t, t);
  assert.equal(await compileWith(module, cache), 'same');
  assert.equal(mtime(cache), t.getTime(), 'a hit leaves the file as it is');

  // The cached data of the module damaged, its source's hash still matching: V8 does not notice
  // (it crashed on such data), the hash of the data does.
  const damaged = Buffer.from(written);
  for (let i = damaged.length - 64; i < damaged.length; i++) damaged[i] ^= 0xff;
  fs.writeFileSync(cache, damaged, { mode: 0o600 });
  fs.utimesSync(cache, t, t);
  assert.equal(await compileWith(module, cache), 'same');
  assert.notEqual(mtime(cache), t.getTime(), 'refused data is replaced');

  fs.writeFileSync(cache, 'not a cache at all', { mode: 0o600 });
  assert.equal(await compileWith(module, cache), 'same');
  assert.ok(fs.statSync(cache).size > 100, 'written anew');
  fs.utimesSync(cache, t, t);
  assert.equal(await compileWith(module, cache), 'same');
  assert.equal(mtime(cache), t.getTime(), 'and used');
});

test('a cache file others may write is not read (it could carry any code): it is replaced by our own', async () => {
  const dir = tmpDir('mailcamp-v8cache-');
  const cache = path.join(dir, 'mjml.v8cache');
  const module = standIn(dir, 'mine');
  assert.equal(await compileWith(module, cache), 'mine');
  fs.chmodSync(cache, 0o666);
  const t = new Date('2001-01-01T00:00:00Z');
  fs.utimesSync(cache, t, t);
  assert.equal(await compileWith(module, cache), 'mine');
  assert.notEqual(mtime(cache), t.getTime());
  assert.equal(fs.statSync(cache).mode & 0o777, 0o600);
});

test('the real mjml compiles the same HTML from a cold and a warm cache', async () => {
  const dir = tmpDir('mailcamp-v8cache-');
  const file = path.join(dir, 't.mjml');
  fs.writeFileSync(file, '<mjml>\n<mj-head><mj-style inline="inline">.x { color: red; }</mj-style></mj-head>\n<mj-body><mj-section><mj-column><mj-text css-class="x">Hello {{name}}</mj-text></mj-column></mj-section></mj-body>\n</mjml>\n');
  const env = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = path.join(dir, 'xdg');
  try {
    const cold = await compileMjml(fs.readFileSync(file, 'utf8'), file, 't.mjml');
    const files = fs.readdirSync(path.join(dir, 'xdg', 'mailcamp')).filter((f) => f.endsWith('.v8cache'));
    assert.equal(files.length, 1, files.join());
    fs.rmSync(htmlCacheFile(file)); // the HTML kept: compiled again, by a child with the code cache
    const warm = await compileMjml(fs.readFileSync(file, 'utf8'), file, 't.mjml');
    assert.equal(warm, cold);
    assert.match(warm, /color:\s*red/);
  } finally {
    if (env === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = env;
  }
});

test('where the cache lives: $XDG_CACHE_HOME when absolute, else ~/.cache; per Node version and mjml', () => {
  const a = codeCacheFile('/x/node_modules/mjml/lib/index.js', { XDG_CACHE_HOME: '/c' });
  assert.match(a, /^\/c\/mailcamp\/mjml-[0-9a-f]{16}\.v8cache$/);
  assert.notEqual(codeCacheFile('/y/node_modules/mjml/lib/index.js', { XDG_CACHE_HOME: '/c' }), a);
  assert.ok(codeCacheFile('/x/node_modules/mjml/lib/index.js', { XDG_CACHE_HOME: 'relative' }).endsWith('.v8cache'));
  assert.ok(!codeCacheFile('/x/node_modules/mjml/lib/index.js', { XDG_CACHE_HOME: 'relative' }).startsWith('relative'));
});

test('a cache folder that cannot be made (under /proc) leaves the child compiling as usual', { skip: process.platform !== 'linux', timeout: 20_000 }, async () => {
  // mkdir's recursive mode loops forever there: ENOENT under a parent that exists.
  const dir = tmpDir('mailcamp-v8cache-');
  const module = standIn(dir, 'fine');
  assert.equal(await compileWith(module, '/proc/mailcamp-none/cache/mjml.v8cache'), 'fine');
  // The cache file's folder and the one above it are made, no more (~/.cache/mailcamp).
  assert.equal(await compileWith(module, path.join(dir, 'a', 'b', 'c', 'mjml.v8cache')), 'fine');
  assert.ok(!fs.existsSync(path.join(dir, 'a')));
  assert.equal(await compileWith(module, path.join(dir, 'b', 'c', 'mjml.v8cache')), 'fine');
  assert.ok(fs.statSync(path.join(dir, 'b', 'c', 'mjml.v8cache')).size > 0);
});
