// `mailcamp preview`: one recipient (by CSV line or address; default the first) rendered
// to an .eml (the exact bytes send would deliver) and an .html for a browser.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Env } from '../campaign/env.js';
import { checkAddress } from '../recipients/address.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { expand } from '../render/marked.js';
import { MailcampError } from '../shared/errors.js';
import { writableFolder } from '../shared/folders.js';
import { loadForSending } from './context.js';
import { buildMessage, renderUnit, signed } from './message.js';
import { unitsOf } from './units.js';

export interface PreviewOptions {
  file: string;
  cwd?: string;
  env?: Env;
  row?: number;
  email?: string;
  out?: string;
  now?: Date;
}

export interface PreviewResult {
  eml: string;
  html: string;
  row: number;
  email: string;
  subject: string;
}

export async function runPreview(o: PreviewOptions): Promise<PreviewResult> {
  const cwd = o.cwd ?? process.cwd();
  if (o.row !== undefined && o.email !== undefined) throw new MailcampError('USAGE', 'preview: --row and --email choose the recipient two ways; give one');
  const { campaign: c, prepared } = await loadForSending(o.file, { env: o.env, cwd, transportUnused: true });
  const diag = new Diagnostics();
  // As the list's addresses are keyed: an internationalized domain as A-labels.
  const chk = o.email !== undefined ? checkAddress(o.email.trim()) : undefined;
  const want = chk?.ok ? chk.address.toLowerCase() : o.email?.toLowerCase();
  // The record a line inside a multi-line value belongs to (the line an editor shows it on).
  let spanning: { row: number; email: string } | undefined;
  for await (const u of unitsOf(c, diag)) {
    if (o.row !== undefined) {
      for (const m of u.members) {
        const breaks = Object.values(m.fields).reduce((n, v) => n + (v.match(/\n/g)?.length ?? 0), 0);
        if (m.row < o.row && o.row <= m.row + breaks) spanning = { row: m.row, email: m.email };
      }
    }
    const match =
      (o.row === undefined && want === undefined) ||
      (o.row !== undefined && u.members.some((m) => m.row === o.row)) ||
      (want !== undefined && u.members.some((m) => m.key === want || m.email.toLowerCase() === want));
    if (!match) continue;
    const now = o.now ?? new Date();
    const { rendered } = renderUnit(prepared, u, { runId: 'preview', now });
    const msg = await signed(prepared, buildMessage(prepared, u, { runId: 'preview', now, tokenKey: randomBytes(32) }));
    const out = writableFolder(path.resolve(cwd, o.out ?? path.join(c.dir, 'preview', c.name)), o.out !== undefined ? '--out' : 'preview');
    const base = `${c.name}-line${u.row}`;
    const eml = path.join(out, `${base}.eml`);
    const html = path.join(out, `${base}.html`);
    fs.writeFileSync(eml, msg.raw);
    // Inline images point at cid: in the message; the browser copy uses the files.
    let page = expand(prepared.compiled.htmlBlocks, rendered.html);
    for (const img of prepared.compiled.inlineImages) page = page.split(`cid:${img.cid}`).join(pathToFileUrl(img.path));
    // Opened from disk, the page has no Content-Type header to say UTF-8: a browser guesses.
    if (!/<meta[^>]+charset/i.test(page)) page = `<meta charset="utf-8">\n${page}`;
    fs.writeFileSync(html, page);
    return { eml, html, row: u.row, email: u.email, subject: rendered.subject };
  }
  diag.throwIfErrors();
  const what = o.row !== undefined ? `line ${o.row}` : o.email ? `address ${o.email}` : 'any recipient';
  const header =
    o.row === 1
      ? ' (line 1 is the header; the first recipient is on line 2)'
      : spanning
        ? ` (line ${o.row} is inside the record that starts on line ${spanning.row}, ${spanning.email}: use --row ${spanning.row})`
        : '';
  throw new MailcampError('USAGE', `no recipient at ${what} in ${c.recipients.displayFile}${header}`);
}

function pathToFileUrl(p: string): string {
  return 'file://' + p.split(path.sep).map(encodeURIComponent).join('/');
}
