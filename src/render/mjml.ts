// MJML is compiled to HTML once per campaign (it costs ~10 ms a time); Handlebars then runs
// on the compiled HTML per recipient, so recipient data never goes through MJML.
// `mj-include` is allowed only below the template's own folder (design.md).
//
// mjml is loaded in a short-lived child process (plain node, the same binary) that compiles
// and exits: loading it takes ~0.3 s and ~50 MB of memory (mjml-core, juice, cheerio,
// html-minifier …) that a process sending a million messages would otherwise carry to the
// end. A worker thread would do as well for the time, but leaves ~10 MB behind in its
// allocator arena after it ends; a process gives everything back. Commands that do not
// render never start it; those that do start it first thing when the campaign file mentions
// `.mjml` (cli/prewarm.ts), so that it loads while the rest of the program does.

import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Diagnostics, ValidationError } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { leavesFolder, realOr } from '../shared/paths.js';
import { readTextFile } from '../shared/text-file.js';

interface MjmlError {
  line: number;
  message: string;
  tagName: string;
}

/** How many templates' compiled HTML is kept (those written longest ago go first). */
const KEPT_HTML = 100;

/** The fs calls the child records (and the parent makes again, no other). */
const PROBED = ['readFileSync', 'existsSync', 'statSync', 'lstatSync', 'realpathSync', 'readdirSync', 'accessSync'];

// How the outcome of an fs call is described: the same text runs in the child, which records
// what mjml looked at, and here, where cachedHtml looks again. A file by its content's hash, a
// folder by its names, a stat by the kind of file (and a file's size and mtime).
const PROBE = `(crypto) => (name, ok, v) => {
  if (!ok) return 'E:' + ((v && v.code) || 'error');
  switch (name) {
    case 'readFileSync':
      return crypto.hash('sha1', v);
    case 'statSync':
    case 'lstatSync':
      if (v === undefined) return 'E:ENOENT';
      return v.isFile() ? 'file:' + v.size + ':' + v.mtimeMs : v.isDirectory() ? 'dir' : v.isSymbolicLink() ? 'link' : 'other';
    case 'readdirSync':
      return crypto.hash('sha1', v.map((d) => (typeof d === 'string' ? d : Buffer.isBuffer(d) ? d.toString() : d.name)).sort().join('/'));
    case 'accessSync':
      return 'ok';
    default:
      return String(v);
  }
}`;

// The child's code: loads mjml at once (argv[1] is its path), then reads {source, options, keep}
// as JSON on stdin and writes {html} or the error's message and MJML errors as JSON on stdout;
// with keep ({file, key}), it then keeps the HTML in keep.file (see cachedHtml). An empty stdin
// (the parent never needed it, or exited) ends it quietly.
//
// mjml-core requires juice (for <mj-style inline>), cheerio (for <mj-html-attributes>) and
// htmlnano (for minify) when it loads, ~0.11 s of the ~0.2 s that loading mjml takes. The
// child hands it stand-ins that load the real module when first used: a template without
// those features never loads them, and one with them still compiles ~60 ms sooner (measured
// on the bench newsletter, which inlines styles). The stand-in answers `__esModule` as the
// module would, since Babel's interop helper asks that at load time.
//
// Loading mjml is in good part V8 compiling its ~600 modules. The child keeps V8's code cache
// of them in one file (codeCacheFile(): ~/.cache/mailcamp, the user's own; argv[2], empty for
// none), as Node 22's module.enableCompileCache() would: a module whose source hashes as recorded is
// compiled from its cached data, which V8 itself refuses if it was made by another V8 or with
// other flags. V8 does not check that the data is intact (damaged data crashed it in a test), so
// each entry carries the hash of its data too. The file is rewritten (to a temporary name, then
// renamed) after a compile that needed a module it did not have; it is read only if it is ours
// and nobody else can write it. The child, from its start to its answer for the bench
// newsletter: ~236 -> ~214 ms (issue 6).
const CHILD = `
const Module = require('module');
// Writes a file of the cache, readable by us alone: under a temporary name, then renamed.
const writeOwn = (file, data) => {
  const fs = require('fs'), path = require('path');
  // Two levels by hand: mkdir's recursive mode loops forever where mkdir answers ENOENT
  // under a parent that exists (a cache folder set under /proc, say).
  const dir = path.dirname(file);
  for (const d of [path.dirname(dir), dir]) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
  }
  const temp = file + '.' + process.pid + '.tmp';
  try {
    fs.writeFileSync(temp, data, { mode: 0o600 });
    fs.renameSync(temp, file);
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw e;
  }
};
const codeCache = ((file) => {
  if (!file) return { save() {} };
  const fs = require('fs'), vm = require('vm'), path = require('path'), crypto = require('crypto');
  const known = new Map();
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const st = fs.fstatSync(fd);
      if (st.uid === process.getuid() && (st.mode & 0o022) === 0) {
        const b = Buffer.allocUnsafe(st.size);
        fs.readSync(fd, b, 0, st.size, 0);
        const n = b.readUInt32LE(0);
        let at = 4 + n;
        for (const [f, hash, len, check] of JSON.parse(b.toString('utf8', 4, 4 + n))) {
          const data = b.subarray(at, at + len);
          // V8 does not check the data's integrity (damaged data can crash it): we do.
          if (data.length === len && crypto.hash('sha1', data) === check) known.set(f, { hash, data });
          at += len;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    known.clear(); // none yet, or unreadable: compiled as usual, and written anew
  }
  const compiled = [];
  let missed = false;
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (content, filename) {
    // A script compiled here could not import() (vm wants a loader for it): such modules, and
    // those that start with #!, are compiled as usual.
    if (content.startsWith('#!') || content.includes('import(') || content.includes('import (')) return compile.call(this, content, filename);
    const hash = crypto.hash('sha1', content);
    const k = known.get(filename);
    const script = new vm.Script(Module.wrap(content), { filename, cachedData: k && k.hash === hash ? k.data : undefined });
    if (!k || k.hash !== hash || script.cachedDataRejected) missed = true;
    compiled.push([filename, hash, script]);
    const mod = this;
    const req = (id) => mod.require(id);
    req.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
    req.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
    req.main = process.mainModule;
    req.extensions = Module._extensions;
    req.cache = Module._cache;
    return script.runInThisContext({ displayErrors: true }).call(mod.exports, mod.exports, req, mod, filename, path.dirname(filename));
  };
  return {
    save() {
      if (!missed) return;
      try {
        const index = [], blobs = [];
        for (const [f, hash, script] of compiled) {
          const data = script.createCachedData();
          index.push([f, hash, data.length, crypto.hash('sha1', data)]);
          blobs.push(data);
        }
        const head = Buffer.from(JSON.stringify(index));
        const size = Buffer.alloc(4);
        size.writeUInt32LE(head.length);
        writeOwn(file, Buffer.concat([size, head, ...blobs]));
      } catch {
        // No cache this time: the next child compiles as usual.
      }
    },
  };
})(process.argv[2]);
// What mjml looks at, for its output to be kept (cachedHtml): from here on, each path that a
// synchronous fs call of the child (mjml's, and Node's loading of modules) reads or probes,
// with what it saw. Described (PROBE) only at save(), and only for what is not a module: a
// module is checked by its size, mtime, ctime and inode, not hashed. A file opened by hand or by
// descriptor could not be checked again: nothing is kept then.
const looked = ((fs, path, url) => {
  const seen = [];
  let inside = 0, on = true, unsure = false;
  const asPath = (p) => (typeof p === 'string' ? p : Buffer.isBuffer(p) ? p.toString() : p instanceof URL ? url.fileURLToPath(p) : undefined);
  const watch = (name, call) => {
    const real = fs[name];
    const wrapped = function (p, ...rest) {
      if (!on || inside) return real.call(this, p, ...rest);
      const file = asPath(p);
      if (file === undefined) unsure = true;
      inside++;
      try {
        const [got, v] = call ? call(real, p, rest) : [undefined, real.call(this, p, ...rest)];
        if (file !== undefined) seen.push([name, path.resolve(file), true, got === undefined ? v : got]);
        return v;
      } catch (e) {
        if (file !== undefined) seen.push([name, path.resolve(file), false, e]);
        throw e;
      } finally {
        inside--;
      }
    };
    if (real.native) wrapped.native = real.native;
    fs[name] = wrapped;
  };
  // Read as bytes (what the parent hashes), handed over as asked.
  watch('readFileSync', (real, p, [o]) => {
    const opt = typeof o === 'string' ? { encoding: o } : o || {};
    const buf = real(p, { flag: opt.flag });
    return [buf, opt.encoding && opt.encoding !== 'buffer' ? buf.toString(opt.encoding) : buf];
  });
  for (const name of ${JSON.stringify(PROBED.filter((n) => n !== 'readFileSync'))}) watch(name);
  // Opened by hand, or resolved by the native call (nothing mjml does): not kept.
  for (const [obj, name] of [[fs, 'openSync'], [fs.realpathSync, 'native']]) {
    const real = obj[name];
    obj[name] = function (...a) {
      if (on && !inside) unsure = true;
      return real.apply(this, a);
    };
  }
  return {
    /** Keeps {key, html, looked, modules} in want.file (when asked, and all could be checked). */
    save(want, html) {
      on = false;
      if (!want || unsure) return;
      try {
        const describe = (${PROBE})(require('crypto'));
        const modules = Object.keys(require.cache);
        const isModule = new Set(modules);
        const rows = new Map();
        for (const [name, file, ok, v] of seen) {
          if (isModule.has(file)) continue;
          const row = [name, file, describe(name, ok, v)];
          rows.set(row.join('\\0'), row);
        }
        const stamp = (f) => { const st = fs.statSync(f); return [f, st.size, st.mtimeMs, st.ctimeMs, st.ino]; };
        writeOwn(want.file, JSON.stringify({ key: want.key, html, looked: [...rows.values()], modules: modules.map(stamp) }));
        // At most ${KEPT_HTML} templates' output: the oldest written go.
        const dir = path.dirname(want.file);
        const kept = fs.readdirSync(dir).filter((n) => /^mjml-html-.*\\.json$/.test(n));
        if (kept.length > ${KEPT_HTML}) {
          const byAge = kept.map((n) => [fs.statSync(path.join(dir, n)).mtimeMs, n]).sort((x, y) => x[0] - y[0]);
          for (const [, n] of byAge.slice(0, kept.length - ${KEPT_HTML})) fs.rmSync(path.join(dir, n), { force: true });
        }
      } catch {
        // Not kept: the next compile of this template runs mjml again.
      }
    },
  };
})(require('fs'), require('path'), require('url'));
const load = Module._load;
const LAZY = { juice: undefined, cheerio: true, htmlnano: undefined };
Module._load = function (request, parent, isMain) {
  if (!Object.prototype.hasOwnProperty.call(LAZY, request)) return load.apply(this, arguments);
  let real;
  const get = () => (real === undefined ? (real = load.call(Module, request, parent, isMain)) : real);
  return new Proxy(function () {}, {
    get: (_, k) => (k === '__esModule' && real === undefined ? LAZY[request] : Reflect.get(get(), k)),
    set: (_, k, v) => Reflect.set(get(), k, v),
    has: (_, k) => k in get(),
    apply: (_, self, args) => Reflect.apply(get(), self, args),
  });
};
let m, loadError;
try {
  m = require(process.argv[1]);
} catch (e) {
  loadError = e;
}
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d)).on('end', () => {
  if (!input) return;
  const { source, options, keep } = JSON.parse(input);
  const done = (r) => process.stdout.write(JSON.stringify(r));
  if (loadError) return done({ message: String((loadError && loadError.message) || loadError) });
  Promise.resolve((m.default || m)(source, options)).then(
    (out) => {
      done({ html: out.html });
      looked.save(keep, out.html);
      codeCache.save();
    },
    (e) => done({ message: String((e && e.message) || e), errors: e && Array.isArray(e.errors)
      ? e.errors.map((x) => ({ line: x.line, message: x.message, tagName: x.tagName })) : undefined }),
  );
});
`;

export interface Child {
  proc: ChildProcess;
  /** What the child printed, once it closed. */
  result: Promise<{ out: string; err: string; code: number | null }>;
}

/**
 * Where the child keeps V8's code cache of mjml (see CHILD): under $XDG_CACHE_HOME or
 * ~/.cache, one file per Node version, architecture and mjml installation; '' for none.
 */
export function codeCacheFile(mjml: string, env: NodeJS.ProcessEnv = process.env): string {
  let home = '';
  try {
    home = os.homedir();
  } catch {
    // No home directory: no cache.
  }
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : home && path.join(home, '.cache');
  if (!base) return '';
  const tag = crypto.hash('sha1', `${process.version}\0${process.arch}\0${mjml}`, 'hex').slice(0, 16);
  return path.join(base, 'mailcamp', `mjml-${tag}.v8cache`);
}

let mjmlModule: string | undefined;
/** Where mjml is installed (its main file). */
function mjmlPath(): string {
  return (mjmlModule ??= createRequire(import.meta.url).resolve('mjml'));
}

/** A child for `module` (mjml, or a stand-in in tests) that keeps its code cache in `cacheFile`. */
export function startChild(module = mjmlPath(), cacheFile = codeCacheFile(module)): Child {
  // Our pid last on its command line: `ps` shows whose child it is.
  const proc = spawn(process.execPath, ['-e', CHILD, module, cacheFile, String(process.pid)], { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdin!.on('error', () => {}); // a child that died early: reported by 'close'
  const result = new Promise<{ out: string; err: string; code: number | null }>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ out, err, code }));
  });
  result.catch(() => {}); // a spare that is never used must not fail the process
  return { proc, result };
}

/** Handles that keep the event loop alive while a child works (or not, while a spare waits). */
function holdOpen(c: Child, on: boolean): void {
  const handles = [c.proc, c.proc.stdin, c.proc.stdout, c.proc.stderr] as unknown as ({ ref?(): void; unref?(): void } | null)[];
  for (const h of handles) (on ? h?.ref : h?.unref)?.call(h);
}

let spare: Child | undefined;
/** The HTML that prewarmMjml found kept, for the compile it expected. */
let prewarmed: { key: string; html: string } | undefined;

/**
 * Gets the MJML compile ready before it is needed (cli.ts calls it first thing for commands
 * that will compile MJML). When the campaign (`campaign`, its text `text`) plainly names a
 * template whose HTML is kept (cachedHtml), that is all; otherwise the MJML child starts now,
 * so that its ~0.3 s of loading mjml overlaps with the rest of start-up. An unused spare keeps
 * nothing alive: it ends when this process's end closes its stdin.
 */
export function prewarmMjml(campaign?: string, text?: string): void {
  if (spare || prewarmed) return;
  const named = text === undefined ? undefined : templateNamed(text);
  if (campaign && named) {
    try {
      // As campaign/load.ts resolves it, and render/index.ts reads it.
      const file = path.resolve(path.dirname(path.resolve(campaign)), named);
      const key = htmlKey(readTextFile(file, file), mjmlOptions(file));
      const html = cachedHtml(htmlCacheFile(file), key);
      if (html !== undefined) return void (prewarmed = { key, html });
    } catch {
      // Unreadable: the command reports it; compileMjml looks again.
    }
  }
  spare = startChild();
  holdOpen(spare, false);
}

/** A top-level `template:` that names an .mjml file plainly (no ${…}, no escapes), for the guess. */
function templateNamed(text: string): string | undefined {
  const m = /^template:[ \t]*(?:"([^"\\$\n]*\.mjml)"|'([^'$\n]*\.mjml)'|([^\s'"#$&*!|>%@`{[][^#$\n]*?\.mjml))[ \t]*(?:#.*)?$/m.exec(text);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

async function mjmlInChild(source: string, options: object, keep: { file: string; key: string } | undefined): Promise<{ html: string }> {
  const child = spare ?? startChild();
  spare = undefined;
  holdOpen(child, true);
  child.proc.stdin!.end(JSON.stringify({ source, options, keep }));
  const { out, err, code } = await child.result;
  let r: { html?: string; message?: string; errors?: MjmlError[] } | undefined;
  try {
    r = JSON.parse(out) as typeof r;
  } catch {
    throw new Error(`the MJML compiler stopped (exit code ${code})${err ? `: ${err.trim().split('\n').pop()}` : ''}`);
  }
  if (r?.html !== undefined) return { html: r.html };
  throw Object.assign(new Error(r?.message), { errors: r?.errors });
}

function mjmlOptions(file: string): object {
  return { validationLevel: 'strict', filePath: file, actualPath: file, ignoreIncludes: false, keepComments: false, minify: false, beautify: false };
}

// MJML's output, kept (issue 6). The child costs a send ~0.15 s of the other vCPU while the
// program starts; a template compiled before (by validate, preview, an earlier send or
// occurrence of a schedule) need not be compiled again. What mjml's output depends on, and how
// each is checked here before kept HTML is used:
// - the template's source and the options (the key, with the environment mjml reads);
// - every file mjml read or probed (mj-include'd files, a .mjmlconfig in the working folder,
//   folders it looked in): read or probed again, compared with what the child saw then;
// - mjml's own code and the components it loaded: each module's size, mtime, ctime and inode
//   (npm gives every file of a package the same mtime; a reinstall still changes the ctime);
// - the Node version, mjml's location, the working folder and the template's path (the name of
//   the entry: one per template and folder, the last compile's).
// An entry is a file of ours that nobody else can write, in the code cache's folder; the child
// writes it after answering, when everything it looked at could be checked again.

/** The file that keeps the compiled HTML of `template` for this working folder ('' for none). */
export function htmlCacheFile(template: string, env: NodeJS.ProcessEnv = process.env, module = mjmlPath()): string {
  const code = codeCacheFile(module, env);
  if (!code) return '';
  const tag = crypto.hash('sha1', [process.version, process.arch, module, process.cwd(), template].join('\0'), 'hex').slice(0, 16);
  return path.join(path.dirname(code), `mjml-html-${tag}.json`);
}

/** What an entry's `looked` and `modules` mean; another version's entries are not used. */
const HTML_FORMAT = 1;

function htmlKey(source: string, options: object, env: NodeJS.ProcessEnv = process.env): string {
  return crypto.hash('sha1', JSON.stringify([HTML_FORMAT, source, options, env.MJML_BROWSER ?? null, env.NODE_PATH ?? null]), 'hex');
}

let describeOutcome: ((name: string, ok: boolean, v: unknown) => string) | undefined;

/** What an fs call `name` on `file` gives now, described as the child described it. */
function probe(name: string, file: string): string {
  // The child's own text of PROBE, so that both sides describe an outcome alike.
  describeOutcome ??= (new Function(`return ${PROBE}`) as () => (c: typeof crypto) => typeof describeOutcome)()(crypto);
  let v: unknown;
  try {
    v = name === 'readFileSync' ? fs.readFileSync(file) : (fs[name as 'existsSync'] as (f: string) => unknown)(file);
  } catch (e) {
    return describeOutcome!(name, false, e);
  }
  return describeOutcome!(name, true, v);
}

/** The HTML kept in `file` for the compile `key`, if all that mjml looked at is as it was. */
export function cachedHtml(file: string, key: string): string | undefined {
  if (!file || !process.getuid) return undefined;
  try {
    let kept: { key: string; html: string; looked: [string, string, string][]; modules: [string, number, number, number, number][] };
    const fd = fs.openSync(file, 'r');
    try {
      const st = fs.fstatSync(fd);
      if (st.uid !== process.getuid() || (st.mode & 0o022) !== 0) return undefined;
      kept = JSON.parse(fs.readFileSync(fd, 'utf8')) as typeof kept;
    } finally {
      fs.closeSync(fd);
    }
    if (kept.key !== key || typeof kept.html !== 'string') return undefined;
    for (const [f, size, mtime, ctime, ino] of kept.modules) {
      const st = fs.statSync(f, { throwIfNoEntry: false });
      if (st?.size !== size || st.mtimeMs !== mtime || st.ctimeMs !== ctime || st.ino !== ino) return undefined;
    }
    for (const [name, f, was] of kept.looked) if (!PROBED.includes(name) || probe(name, f) !== was) return undefined;
    return kept.html;
  } catch {
    return undefined; // none, or unreadable: compiled
  }
}

export async function compileMjml(source: string, file: string, displayFile: string): Promise<string> {
  checkIncludes(source, file, displayFile);
  try {
    const options = mjmlOptions(file);
    const keep = { file: htmlCacheFile(file), key: htmlKey(source, options) };
    let html = prewarmed?.key === keep.key ? prewarmed.html : cachedHtml(keep.file, keep.key);
    if (html === undefined) html = (await mjmlInChild(source, options, keep.file ? keep : undefined)).html;
    else if (spare) {
      // Started on a guess that did not find this: not needed after all.
      spare.proc.kill();
      spare = undefined;
    }
    // MJML replaces an include it refuses with a comment and no error; make it one.
    if (html.includes('mj-include denied')) {
      throw new MailcampError('INPUT', 'an mj-include was refused: its file is missing or outside the template folder (only files below it can be included)', { file: displayFile });
    }
    return html;
  } catch (e) {
    if (e instanceof MailcampError) throw e;
    const errs = (e as { errors?: MjmlError[] }).errors;
    if (errs?.length) {
      // Every one, in the order of the file (validate reports every problem at once).
      const all = new Diagnostics();
      for (const x of [...errs].sort((a, b) => (a.line ?? 0) - (b.line ?? 0))) {
        all.error(`MJML <${x.tagName}>: ${cleanMessage(x.message)}`, { file: displayFile, line: x.line });
      }
      throw new ValidationError(all);
    }
    throw new MailcampError('INPUT', `MJML: ${(e as Error).message}`, { file: displayFile });
  }
}

/** All MJML problems, for validate (which reports every one). */
export function mjmlErrors(e: unknown, displayFile: string): { message: string; line?: number }[] {
  const errs = (e as { errors?: MjmlError[] }).errors ?? [];
  return errs.map((x) => ({ message: `MJML <${x.tagName}>: ${cleanMessage(x.message)}`, line: x.line }));
}

/** `mj-include` may only reach files below the template's own folder (design.md). */
function checkIncludes(source: string, file: string, displayFile: string): void {
  const root = realOr(path.dirname(file));
  const re = /<mj-include\b[^>]*?\bpath\s*=\s*(["'])([^"']*)\1/gi;
  for (const m of source.matchAll(re)) {
    const target = realOr(path.resolve(root, m[2]));
    const rel = path.relative(root, target);
    const line = source.slice(0, m.index).split('\n').length;
    if (!rel || leavesFolder(rel) || m[2].includes('\0')) {
      throw new MailcampError('INPUT', `mj-include '${m[2]}' is outside the template folder; only files below it can be included`, {
        file: displayFile,
        line,
      });
    }
    if (!fs.existsSync(target)) throw new MailcampError('INPUT', `mj-include '${m[2]}': no such file`, { file: displayFile, line });
  }
}

/**
 * The files that `source` (`file`, in the template folder `root`) includes with mj-include,
 * where each tag starts (1-based line and column), for the static checks: those below `root`
 * that exist (checkIncludes refuses the others). Paths resolve from the including file's folder.
 */
export function mjIncludes(source: string, file: string, root: string): { file: string; line: number; col: number }[] {
  const top = realOr(root);
  const out: { file: string; line: number; col: number }[] = [];
  // An include inside an HTML comment is not one (MJML skips comments); blanked, lines kept.
  const live = source.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
  for (const m of live.matchAll(/<mj-include\b[^>]*?\bpath\s*=\s*(["'])([^"']*)\1/gi)) {
    const target = realOr(path.resolve(path.dirname(file), m[2]));
    const rel = path.relative(top, target);
    if (!rel || leavesFolder(rel) || !fs.existsSync(target) || !fs.statSync(target).isFile()) continue;
    const before = source.slice(0, m.index);
    out.push({ file: target, line: before.split('\n').length, col: m.index! - before.lastIndexOf('\n') });
  }
  return out;
}


function cleanMessage(m: string): string {
  return m === 'include-denied' ? 'an mj-include was refused: its file is missing or outside the template folder' : m;
}

export function templateFolder(file: string): string {
  return path.dirname(file);
}
