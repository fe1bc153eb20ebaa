// MJML is compiled to HTML once per campaign (it costs ~10 ms a time); Handlebars then runs
// on the compiled HTML per recipient, so recipient data never goes through MJML.
// `mj-include` is allowed only below the template's own folder (design.md).
//
// mjml is loaded in a worker thread that ends once the HTML is out: loading it takes ~0.3 s
// and ~50 MB of memory (mjml-core, juice, cheerio, html-minifier …) that a process sending a
// million messages would otherwise carry to the end; a finished worker gives all of it back.
// Commands that do not render never load it.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MailcampError } from '../shared/errors.js';

interface MjmlError {
  line: number;
  message: string;
  tagName: string;
}

// The worker's code (CommonJS, so that it needs no file of its own next to either src/*.ts
// or dist/*.js): compile, post the HTML or the error's message and MJML errors, end.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const mjml = require(workerData.mjml);
Promise.resolve((mjml.default || mjml)(workerData.source, workerData.options)).then(
  (out) => parentPort.postMessage({ html: out.html }),
  (e) => parentPort.postMessage({ message: String((e && e.message) || e), errors: e && Array.isArray(e.errors)
    ? e.errors.map((x) => ({ line: x.line, message: x.message, tagName: x.tagName })) : undefined }),
);
`;

function mjmlInWorker(source: string, options: object): Promise<{ html: string }> {
  const mjml = createRequire(import.meta.url).resolve('mjml');
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { mjml, source, options } });
    worker.once('message', (m: { html?: string; message?: string; errors?: MjmlError[] }) => {
      void worker.terminate();
      if (m.html !== undefined) resolve({ html: m.html });
      else reject(Object.assign(new Error(m.message), { errors: m.errors }));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the MJML worker stopped (exit code ${code})`)));
  });
}

export async function compileMjml(source: string, file: string, displayFile: string): Promise<string> {
  checkIncludes(source, file, displayFile);
  try {
    const out = await mjmlInWorker(source, {
      validationLevel: 'strict',
      filePath: file,
      actualPath: file,
      ignoreIncludes: false,
      keepComments: false,
      minify: false,
      beautify: false,
    });
    // MJML replaces an include it refuses with a comment and no error; make it one.
    if (out.html.includes('mj-include denied')) {
      throw new MailcampError('INPUT', 'mj-include outside the template folder is not allowed', { file: displayFile });
    }
    return out.html;
  } catch (e) {
    if (e instanceof MailcampError) throw e;
    const errs = (e as { errors?: MjmlError[] }).errors;
    if (errs?.length) {
      const first = errs[0];
      const more = errs.length > 1 ? ` (and ${errs.length - 1} more MJML error${errs.length > 2 ? 's' : ''})` : '';
      throw new MailcampError('INPUT', `MJML <${first.tagName}>: ${cleanMessage(first.message)}${more}`, {
        file: displayFile,
        line: first.line,
      });
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
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel) || m[2].includes('\0')) {
      const line = source.slice(0, m.index).split('\n').length;
      throw new MailcampError('INPUT', `mj-include '${m[2]}' is outside the template folder; only files below it can be included`, {
        file: displayFile,
        line,
      });
    }
  }
}

function realOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function cleanMessage(m: string): string {
  return m === 'include-denied' ? 'mj-include outside the template folder is not allowed' : m;
}

export function templateFolder(file: string): string {
  return path.dirname(file);
}
