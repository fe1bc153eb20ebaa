// MJML is compiled to HTML once per campaign (it costs ~10 ms a time); Handlebars then runs
// on the compiled HTML per recipient, so recipient data never goes through MJML. mjml is
// imported lazily: start-up of commands that do not render does not pay for it.
// `mj-include` is allowed only below the template's own folder (design.md).

import fs from 'node:fs';
import path from 'node:path';
import { MailcampError } from '../shared/errors.js';

interface MjmlError {
  line: number;
  message: string;
  tagName: string;
}

export async function compileMjml(source: string, file: string, displayFile: string): Promise<string> {
  checkIncludes(source, file, displayFile);
  const { default: mjml2html } = (await import('mjml')) as unknown as {
    default: (src: string, opts: object) => Promise<{ html: string; errors: MjmlError[] }>;
  };
  try {
    const out = await mjml2html(source, {
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
