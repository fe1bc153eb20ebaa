// Render stage: compiles everything once per campaign (MJML → HTML, inline images, the
// derived text part, subject/header/attachment-name templates), then renders one recipient
// (or group) with plain template calls. Recipient data never reaches MJML.

import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import type { Pos } from '../campaign/yaml.js';
import { displayPath } from '../campaign/load.js';
import { checkAddress } from '../recipients/address.js';
import { Diagnostics, ValidationError } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { readTextFile } from '../shared/text-file.js';
import { checkSyntax, compileTemplate, createEnvironment, type HB, HelperError, registerPartials, renderError, type Tpl } from './handlebars.js';
import { type InlineImage, inlineImages } from './inline-images.js';
import { checkIncluded } from './includes.js';
import { expand, newBlocks, type StaticBlocks } from './marked.js';
import { compileMjml } from './mjml.js';
import { reportDroppedTags } from './mjml-dropped.js';
import { htmlToTextTemplate, inlinePartials } from './text.js';
import { BUILTIN_SHAPES, type PartialSources, partialsUsed, reportUnknownVariables, type Scope } from './variables.js';

export interface RenderInput {
  row: number;
  /** Address(es) as they go into To:/the envelope. */
  email: string;
  name?: string;
  /** The recipient's CSV fields; for a group, the first member's. */
  fields: Record<string, string>;
  /** Group messages: every member's fields plus `email` and `name`. */
  members?: Record<string, string>[];
  groupValue?: string;
}

export interface Rendered {
  subject: string;
  html: string;
  text: string;
  headers: [string, string][];
  attachmentPaths: { spec: number; path: string; filename?: string }[];
  sharedAttachmentNames: (string | undefined)[];
  unsubscribeUrl?: string;
  /** `unsubscribe.mailto`'s address, rendered (it may hold `{{…}}`). */
  unsubscribeMailto?: string;
}

export interface CompiledCampaign {
  campaign: Campaign;
  inlineImages: InlineImage[];
  /** Compiled (MJML → HTML) template source, with `cid:` image links, before Handlebars. */
  htmlSource: string;
  textSource: string;
  /** The static lines of the HTML and text templates (marked.ts). */
  htmlBlocks: StaticBlocks;
  textBlocks: StaticBlocks;
  /**
   * `occurrence`: the scheduled time of this run (templates see `now` when there is none).
   * `bodies`: 'plain' (the default) renders `html` and `text` as text; 'marked' keeps the
   * markers of their static lines (for compose); 'check' only finds what fails, and leaves
   * them empty (for validation: see Tpl.check).
   */
  render(input: RenderInput, now: Date, occurrence?: Date, bodies?: Bodies): Rendered;
}

export type Bodies = 'plain' | 'marked' | 'check';

export const BUILTINS = ['campaign', 'recipient', 'now', 'occurrence'];

/**
 * Compiles the campaign's templates. `columns` are the CSV header names (for the static
 * variable check). Problems go to `diag`; a fatal one throws.
 */
export async function compileCampaign(
  c: Campaign,
  columns: string[],
  diag: Diagnostics,
  cwd = process.cwd(),
): Promise<CompiledCampaign | undefined> {
  const hb = createEnvironment();
  const tplDisplay = displayPath(c.template.path, cwd);
  const tplDir = path.dirname(c.template.path);
  const partialFiles = registerPartials(hb, tplDir, (f) => displayPath(f, cwd));
  const partials: PartialSources = (name) => {
    const f = partialFiles.get(name);
    return f ? { source: readTextFile(f, displayPath(f, cwd)), file: displayPath(f, cwd) } : undefined;
  };
  const domain = c.from.address.split('@')[1];

  // What a template can see, for the static check.
  const dataKeys = Object.keys(c.data);
  const rowNames = new Set([...columns, ...dataKeys, ...BUILTINS]);
  // data: keys holding a mapping or list, unless a column or built-in of the same name wins (contextFor).
  const shadowing = new Set([...BUILTINS, ...(c.groupBy ? [c.groupBy, 'group', 'members'] : columns)]);
  // (A list of plain values prints as "a,b", as Handlebars does; one holding mappings does not.)
  const isMap = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const compound = new Set(dataKeys.filter((k) => !shadowing.has(k) && (isMap(c.data[k]) || (Array.isArray(c.data[k]) && (c.data[k] as unknown[]).some(isMap)))));
  // A group's members are a list of mappings: {{members}} would print "[object Object],…".
  if (c.groupBy) compound.add('members');
  // Always text: CSV columns, and data: values that are neither a mapping nor a list (unless a built-in of that name wins).
  const plainData = dataKeys.filter((k) => typeof c.data[k] !== 'object' || c.data[k] === null);
  const shapes = BUILTIN_SHAPES as Map<string, readonly string[]>;
  const scope: Scope = c.groupBy
    ? {
        names: new Set([...dataKeys, ...BUILTINS, 'members', 'group', c.groupBy]),
        members: new Set([...columns, 'email', 'name']),
        compound,
        shapes,
        text: new Set([...plainData, 'group', c.groupBy].filter((k) => !BUILTINS.includes(k))),
      }
    : { names: rowNames, compound, shapes, text: new Set([...columns, ...plainData].filter((k) => !BUILTINS.includes(k))) };
  const describe = c.groupBy
    ? `a group message sees: ${[c.groupBy, 'group', 'members', ...dataKeys].join(', ')}; member columns inside {{#each members}}`
    : `CSV columns: ${shortList(columns)}` + (dataKeys.length ? `; data: ${shortList(dataKeys)}` : '');

  const source = readTextFile(c.template.path, tplDisplay);
  // A plain-text file given as the template goes out as HTML: its line breaks are lost.
  if (c.template.kind !== 'mjml' && source.trim() && !/<[a-z!/]/i.test(source.replace(/\{\{[^}]*\}\}/g, ''))) {
    diag.warning(
      'the template has no HTML markup: mail clients show it as one paragraph (its line breaks are lost); write it in HTML (<p>, <br>), and put a plain-text version in text:',
      { file: tplDisplay },
    );
  }
  reportUnknownVariables(source, tplDisplay, scope, diag, describe, partials);
  const subjectPlace = { file: c.displayFile, line: c.pos.subject?.line ?? 1 };
  reportUnknownVariablesAt(c.subject, c.displayFile, c.pos.subject, scope, diag, describe);
  // A used partial's syntax error at its own line (compiled where it is used, it was named at
  // the line of the template, or of the text derived from it, that the partial was spliced into).
  let partialsParse = true;
  for (const p of partialsUsed([source, c.subject, ...(c.text ? [readTextFile(c.text, displayPath(c.text, cwd))] : [])], partials)) {
    try {
      checkSyntax(hb, p.source, p.file);
    } catch (e) {
      diag.capture(e);
      partialsParse = false;
    }
  }
  if (!partialsParse) return undefined;

  let html = source;
  let includeSyntax: MailcampError[] = [];
  if (c.template.kind === 'mjml') {
    // mj-include'd files, at their own lines: once MJML has spliced them in, their problems
    // would be named at a line of the compiled HTML.
    includeSyntax = checkIncluded(hb, source, c.template.path, tplDir, cwd, scope, diag, describe, partials);
    try {
      checkSyntax(hb, source, tplDisplay);
      html = await compileMjml(source, c.template.path, tplDisplay);
    } catch (e) {
      diag.capture(e);
      return undefined;
    }
    // Tags MJML dropped: what is left would compile to other mail than the author wrote.
    if (reportDroppedTags(source, html, tplDisplay, diag)) return undefined;
  }
  let images: InlineImage[] = [];
  try {
    let backgrounds: string[];
    ({ html, images, backgrounds } = inlineImages(html, tplDir, tplDisplay, domain, source));
    for (const b of backgrounds) {
      const at = source.indexOf(b);
      const place = at < 0 ? {} : { line: source.slice(0, at).split('\n').length, col: at - source.lastIndexOf('\n', at - 1) };
      diag.warning(`background image ${b} is relative: only <img src> images are sent inside the message, and a mail client cannot load this one; use an https:// URL`, { file: tplDisplay, ...place });
    }
  } catch (e) {
    diag.capture(e);
  }
  // Images in the partials the HTML uses: their HTML becomes the message's, so their relative
  // src are the template folder's (as in the template itself), inlined the same way; the
  // partial is registered again with its cid: links.
  for (const p of partialsUsed([html], partials)) {
    if (!/<img\b/i.test(p.source)) continue;
    try {
      const done = inlineImages(p.source, tplDir, p.file, domain, p.source);
      hb.registerPartial(p.name, done.html);
      for (const img of done.images) if (!images.some((i) => i.cid === img.cid)) images.push(img);
    } catch (e) {
      diag.capture(e);
    }
  }

  const compile = (src: string, file: string, escape: boolean, place?: { line: number }, instead: MailcampError[] = [], marks?: StaticBlocks): Tpl | undefined => {
    try {
      return compileTemplate(hb, src, { file, escape, marks, check: !!marks });
    } catch (e) {
      if (e instanceof MailcampError && place && e.place.line) e.place.line += place.line - 1;
      if (e instanceof MailcampError && instead.length) for (const x of instead) diag.capture(x);
      else diag.capture(e);
      return undefined;
    }
  };
  // A syntax error in the HTML that MJML assembled: named in the included file that does not
  // parse on its own, when there is one (a block may also open in one file and close in
  // another: fine when the whole compiles).
  const htmlBlocks = newBlocks();
  const textBlocks = newBlocks();
  const htmlTpl = compile(html, tplDisplay, true, undefined, includeSyntax, htmlBlocks);
  let textSource: string;
  let textDisplay: string;
  if (c.text) {
    textSource = readTextFile(c.text, displayPath(c.text, cwd));
    textDisplay = displayPath(c.text, cwd);
    reportUnknownVariables(textSource, textDisplay, scope, diag, describe, partials);
  } else {
    // Derived from the HTML: only worth it when the HTML compiled (else its error shows twice).
    textSource = htmlTpl ? htmlToTextTemplate(inlinePartials(html, hb.partials as Record<string, unknown>)) : '';
    textDisplay = tplDisplay + ' (text part)';
    if (htmlTpl && !textSource.trim()) {
      // Images only: the text/plain part would be empty, which spam filters and text-only readers punish.
      diag.warning('the text part derived from the HTML is empty (no text outside images); add a `text:` template', { file: tplDisplay });
    }
  }
  const textTpl = htmlTpl || c.text ? compile(textSource, textDisplay, false, undefined, [], textBlocks) : undefined;
  const subjectTpl = compile(c.subject, c.displayFile, false, subjectPlace);
  const headerTpls: [string, Tpl, Pos | undefined][] = [];
  for (const [k, v] of Object.entries(c.headers)) {
    const at = c.pos[`headers.${k}`] ?? c.pos.headers;
    reportUnknownVariablesAt(v, c.displayFile, at, scope, diag, describe);
    const t = compile(v, c.displayFile, false, at);
    if (t) headerTpls.push([k, t, at]);
  }
  const urlAt = c.pos['unsubscribe.url'] ?? c.pos.unsubscribe;
  const unsubTpl = c.unsubscribe?.url ? compile(urlComponents(c.unsubscribe.url), c.displayFile, false, urlAt) : undefined;
  if (c.unsubscribe?.url) reportUnknownVariablesAt(c.unsubscribe.url, c.displayFile, urlAt, scope, diag, describe);
  const mailto = c.unsubscribe?.mailto;
  const mailtoAt = c.pos['unsubscribe.mailto'] ?? c.pos.unsubscribe;
  const mailtoTpl = mailto?.includes('{{') ? compile(mailto, c.displayFile, false, mailtoAt) : undefined;
  if (mailtoTpl) reportUnknownVariablesAt(mailto!, c.displayFile, mailtoAt, scope, diag, describe);
  const attTpls: { spec: number; path: Tpl; pathAt: Pos; filename?: Tpl; filenameAt?: Pos }[] = [];
  const sharedNames: (Tpl | undefined)[] = [];
  const sharedNamesAt: (Pos | undefined)[] = [];
  c.attachments.forEach((a, i) => {
    const filenameAt = a.filenamePos ?? a.pos;
    if (a.filename) reportUnknownVariablesAt(a.filename, c.displayFile, filenameAt, scope, diag, describe);
    const fn = a.filename ? compile(a.filename, c.displayFile, false, filenameAt) : undefined;
    if (a.kind === 'templated') {
      reportUnknownVariablesAt(a.pathTemplate, c.displayFile, a.pos, scope, diag, describe);
      const p = compile(a.pathTemplate, c.displayFile, false, a.pos);
      if (p) attTpls.push({ spec: i, path: p, pathAt: a.pos, filename: fn, filenameAt });
    } else {
      sharedNames.push(fn);
      sharedNamesAt.push(filenameAt);
    }
  });
  if (!diag.ok || !htmlTpl || !textTpl || !subjectTpl) return undefined;

  // `{{campaign}}` is the name (design.md lists it as a built-in), `{{campaign.name}}` too.
  const campaignInfo = { name: c.name, toString: () => c.name };
  // Body templates that have rendered whole for a row of the list: checking another row takes
  // only their checks (Tpl.check). Not for groups, whose contexts differ in their members.
  const rendersForARow = { html: false, text: false };
  const render = (input: RenderInput, now: Date, occurrence?: Date, bodies: Bodies = 'plain'): Rendered => {
    const ctx = contextFor(c, input, now, campaignInfo, occurrence ?? now);
    // Every part is rendered even after one failed, so validate names every problem of a row.
    const failed: MailcampError[] = [];
    let failures = 0; // (a failure of the derived text part may repeat one already in `failed`)
    const run = (t: (ctx: unknown) => string, file: string, at?: Pos): string => {
      try {
        return t(ctx);
      } catch (e) {
        failures++;
        // Positions are the template's own for a Handlebars template and an explicit text one.
        const positioned = (file === tplDisplay && c.template.kind === 'handlebars') || (file === textDisplay && !!c.text);
        const err = renderError(explained(e, () => t(withPrototypes(ctx))), file, input.row, positioned);
        // In an MJML template, a helper's place is one in the compiled HTML: the same call,
        // found once in the source, is named there instead.
        if (!positioned && file === tplDisplay && e instanceof HelperError && e.loc) Object.assign(err.place, placeInSource(html, source, e.loc));
        // A value of the campaign file: its place there, not a line inside the value.
        if (at) Object.assign(err.place, { file: c.displayFile, line: at.line, col: at.col });
        // The derived text part fails where the HTML it came from did: one report is enough.
        if (!(file === textDisplay && !c.text && failed.some((f) => f.message === err.message))) failed.push(err);
        return '';
      }
    };
    const body = (part: 'html' | 'text', t: Tpl, file: string, blocks: StaticBlocks): string => {
      const checkOnly = bodies === 'check' && !input.members;
      if (checkOnly && t.check && rendersForARow[part]) {
        run(t.check, file);
        return '';
      }
      const before = failures;
      const out = run(t, file);
      if (checkOnly && failures === before) rendersForARow[part] = true;
      return bodies === 'plain' ? expand(blocks, out) : bodies === 'marked' ? out : '';
    };
    const subject = run(subjectTpl, c.displayFile, c.pos.subject);
    const htmlOut = body('html', htmlTpl, tplDisplay, htmlBlocks);
    const textOut = body('text', textTpl, textDisplay, textBlocks);
    const rendered: Rendered = {
      subject,
      html: htmlOut,
      text: textOut,
      headers: headerTpls.map(([k, t, at]) => [k, run(t, c.displayFile, at)]),
      attachmentPaths: attTpls.map((a) => ({
        spec: a.spec,
        path: run(a.path, c.displayFile, a.pathAt),
        filename: a.filename ? run(a.filename, c.displayFile, a.filenameAt) : undefined,
      })),
      sharedAttachmentNames: sharedNames.map((t, i) => (t ? run(t, c.displayFile, sharedNamesAt[i]) : undefined)),
      unsubscribeUrl: unsubTpl ? run(unsubTpl, c.displayFile, urlAt) : undefined,
      unsubscribeMailto: mailto,
    };
    if (mailtoTpl) {
      const m = run(mailtoTpl, c.displayFile, mailtoAt);
      try {
        if (!failed.length) rendered.unsubscribeMailto = renderedMailto(m, c, input.row, mailtoAt);
      } catch (e) {
        failed.push(e as MailcampError);
      }
    }
    if (failed.length === 1) throw failed[0];
    if (failed.length) {
      const all = new Diagnostics();
      for (const e of failed) all.capture(e);
      throw new ValidationError(all);
    }
    return rendered;
  };
  return { campaign: c, inlineImages: images, htmlSource: html, textSource, htmlBlocks, textBlocks, render };
}

/**
 * `data:` mappings have no prototype (their keys are plain data), and JavaScript cannot turn
 * such an object into a string. Handlebars tries to in two places: printing one (`{{info}}`
 * where info is a mapping), and building its strict-mode "x not defined in <object>" message
 * for a typo inside one (`{{info.zip}}`, `{{titel}}` in `{{#each links}}`). Either way the
 * TypeError names nothing; the template is run again on a copy whose objects have prototypes,
 * which gives Handlebars' own error with the name and line:col, or renders: then a mapping or
 * list was printed.
 */
function explained(e: unknown, again: () => unknown): unknown {
  if (!(e instanceof TypeError) || !/convert object to primitive/.test(e.message)) return e;
  try {
    again();
  } catch (e2) {
    return e2;
  }
  return new Error('a value of data: that is a mapping or a list is printed as text (print one of its keys, or loop over it with {{#each}})');
}

function withPrototypes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withPrototypes);
  if (v === null || typeof v !== 'object') return v;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== null && proto !== Object.prototype) return v; // Date, the campaign's info …
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) Object.defineProperty(o, k, { value: withPrototypes(x), enumerable: true, writable: true, configurable: true });
  return o;
}

/**
 * In `unsubscribe.url`, a `{{value}}` is one URL component: percent-encoded (an `&` or a space
 * in it must not change the URL), as `{{value}}` in HTML is HTML-escaped. `{{{value}}}` goes in
 * as it is (the loader makes the URL start with a literal https:// or http://).
 */
export function urlComponents(src: string): string {
  return src.replace(
    /(?<!\{)\{\{(~?)(?!\s*(?:[{#/!>^&~]|else\b))\s*([^{}]+?)\s*(~?)\}\}(?!\})/g,
    (_, open: string, expr: string, close: string) =>
      /\s/.test(expr) ? `{{${open}urlencode (${expr})${close}}}` : `{{${open}urlencode ${expr} ${JSON.stringify(expr)}${close}}}`,
  );
}

/** A `{{…}}` mailto must still be one address once the recipient's values are in it. */
function renderedMailto(value: string, c: Campaign, row: number, at: Pos | undefined): string {
  const chk = checkAddress(value.replace(/^mailto:/i, ''));
  if (chk.ok) return value;
  throw new MailcampError('INPUT', `unsubscribe.mailto renders to ${JSON.stringify(value)}: ${chk.reason} (CSV line ${row})`, {
    file: c.displayFile,
    line: at?.line,
    col: at?.col,
  });
}

function reportUnknownVariablesAt(
  src: string,
  file: string,
  pos: { line: number; col: number } | undefined,
  scope: Scope,
  diag: Diagnostics,
  describe: string,
): void {
  if (!src.includes('{{')) return;
  // Values in the campaign file: place the error at the value's line.
  const local = new (diag.constructor as new () => Diagnostics)();
  reportUnknownVariables(src, file, scope, local, describe);
  for (const d of local.errors) diag.error(d.message, { file, line: pos?.line, col: pos?.col });
}

/**
 * Where the `{{…}}` at `loc` of the compiled HTML is in the MJML source: MJML copies text as
 * it is, so the same call is there, unless MJML moved or doubled it (then no place is given).
 */
function placeInSource(compiled: string, source: string, loc: { line: number; col: number }): { line?: number; col?: number } {
  const lineText = compiled.split('\n')[loc.line - 1] ?? '';
  const call = /^\{\{[^]*?\}\}/.exec(lineText.slice(loc.col - 1))?.[0];
  if (!call) return {};
  const at = source.indexOf(call);
  if (at < 0 || source.indexOf(call, at + 1) >= 0) return {};
  const before = source.slice(0, at);
  return { line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
}

function contextFor(c: Campaign, input: RenderInput, now: Date, campaign: { name: string }, occurrence: Date): Record<string, unknown> {
  const recipient = { email: input.email, row: input.row, name: input.name ?? '' };
  // {{recipient}} prints the address, as {{campaign}} prints the name (not "[object Object]").
  Object.defineProperty(recipient, 'toString', { value: () => input.email, enumerable: false });
  if (input.members) {
    return {
      ...c.data,
      [c.groupBy!]: input.groupValue,
      group: input.groupValue,
      members: input.members,
      campaign,
      recipient,
      now,
      occurrence,
    };
  }
  return { ...c.data, ...input.fields, campaign, recipient, now, occurrence };
}

export type { HB };

/** A list for an error line: a list of 5,000 columns made a 34 KB one. */
function shortList(names: string[], max = 40): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, … and ${names.length - max} more`;
}
