// The Handlebars environment: strict (a missing variable is an error, never an empty
// string: style.md habit 3), no compat mode, no prototype access, only the helpers we
// register, and partials from a `partials/` folder beside the template.

import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { MailcampError } from '../shared/errors.js';
import { leavesFolder, realOr } from '../shared/paths.js';
import { readTextFile } from '../shared/text-file.js';
import { markProgram, markText, type StaticBlocks } from './marked.js';
import { valueToText } from './text.js';

export type HB = typeof Handlebars;
export type Tpl = ((ctx: unknown) => string) & {
  /**
   * Body templates: renders only what can fail for one row when the template renders for
   * another (see checkProgram); undefined when the template has blocks or partials.
   */
  check?: (ctx: unknown) => string;
};

export const HELPERS = ['formatDate', 'formatNumber', 'default', 'eq', 'ne', 'upper', 'lower', 'join', 'htmlToText', 'urlencode'] as const;
/** Handlebars' own helpers that we keep. */
export const BUILTIN_HELPERS = ['if', 'unless', 'each', 'with', 'lookup'] as const;

const DATE_STYLES = ['short', 'medium', 'long', 'full'] as const;

/**
 * A value as an instant, or as a calendar day: `2026-11-22` or `2026/11/22` (what spreadsheets
 * export) has no time, and is that day wherever the campaign is sent from, so it is printed in
 * UTC whatever the machine's zone or `timeZone=`. (`new Date('2026-11-22')` is UTC midnight,
 * `new Date('2026/11/22')` local midnight: either would print the 21st west of its zone.)
 */
function toDate(v: unknown): { date: Date; day: boolean } | undefined {
  if (v instanceof Date) return { date: v, day: false };
  if (typeof v === 'number') return { date: new Date(v), day: false };
  if (typeof v === 'string' && v.trim()) {
    const ymd = /^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\s*$/.exec(v);
    if (ymd) {
      const [y, m, d] = [Number(ymd[1]), Number(ymd[2]), Number(ymd[3])];
      const date = new Date(Date.UTC(y, m - 1, d));
      // 2026-02-30 is not a day (Date.UTC would roll it over to March 2nd).
      return date.getUTCMonth() === m - 1 && date.getUTCDate() === d ? { date, day: true } : undefined;
    }
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) return undefined;
    // Other spellings without a time of day (`Nov 22, 2026`, `11/22/2026`) parse as local midnight.
    if (!/\d:\d/.test(v)) return { date: new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate())), day: true };
    return { date: d, day: false };
  }
  return undefined;
}

// Building an Intl formatter costs ~50 µs, formatting with one ~1 µs: a newsletter that formats
// a number per recipient would spend most of its render time building them. Formatters are
// kept per option set (a few per template; bounded in case options come from recipient data).
const MAX_FORMATTERS = 256;
const numberFormats = new Map<string, Intl.NumberFormat>();
const dateFormats = new Map<string, Intl.DateTimeFormat>();
/** `{{formatNumber x}}` without options (the common case), without building a key for the cache. */
let plainNumbers: Intl.NumberFormat | undefined;
/** The last number formatted, and how (formatNumber): the same value again costs no Intl call. */
let lastNumber: { fmt: Intl.NumberFormat | undefined; n: number; shown: string } = { fmt: undefined, n: 0, shown: '' };

function cached<F>(cache: Map<string, F>, key: string, make: () => F): F {
  let f = cache.get(key);
  if (!f) {
    f = make(); // throws (RangeError) for a bad locale or currency: nothing is cached then
    if (cache.size < MAX_FORMATTERS) cache.set(key, f);
  }
  return f;
}

/** A helper that fails on its input (a CSV value that is not a number), with where it is called. */
export class HelperError extends Error {
  constructor(
    message: string,
    readonly loc?: { line: number; col: number },
  ) {
    super(message);
  }
}

type HelperOptions = { hash: Record<string, string | number>; loc?: { start: { line: number; column: number } } };

function helperError(opts: HelperOptions, message: string): HelperError {
  const at = opts.loc?.start;
  return new HelperError(message, at ? { line: at.line, col: at.column + 1 } : undefined);
}

/**
 * A new Intl formatter (made on a cache miss only), or the helper's error at its call naming
 * the option Intl refused (`locale="en_US"`, a misspelt time zone or currency) instead of
 * Intl's own words.
 */
function intlOption<F>(opts: HelperOptions, helper: string, given: Record<string, unknown>, make: () => F): F {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const shown = Object.entries(given)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}="${String(v)}"`)
      .join(' ');
    const hint = typeof given.locale === 'string' && given.locale.includes('_') ? ` (a language tag is written with '-': ${given.locale.replace(/_/g, '-')})` : '';
    throw helperError(opts, `${helper}: an option Intl does not know: ${shown}${hint}; locales look like en-US or zh-CN, time zones like Asia/Shanghai, currencies like EUR`);
  }
}

export function createEnvironment(): HB {
  const hb = Handlebars.create();
  // Only what we register is callable; these built-ins would otherwise leak internals.
  hb.unregisterHelper('log');
  hb.unregisterHelper('helperMissing');
  hb.registerHelper('helperMissing', function (this: unknown, ...args: unknown[]) {
    const opts = args[args.length - 1] as { name: string; loc?: { start: { line: number; column: number } } };
    throw new Error(`"${opts.name}" not defined`);
  });

  hb.registerHelper('formatDate', (value: unknown, ...rest: unknown[]) => {
    const opts = rest.pop() as HelperOptions;
    const style = (rest[0] as string | undefined) ?? (opts.hash.style as string | undefined) ?? 'medium';
    const d = toDate(value);
    if (!d) throw helperError(opts, `formatDate: not a date: ${JSON.stringify(value)}`);
    const { locale } = opts.hash as Record<string, string>;
    const timeZone = d.day ? 'UTC' : (opts.hash.timeZone as string | undefined);
    if (!(DATE_STYLES as readonly string[]).includes(style)) throw helperError(opts, `formatDate: style must be one of ${DATE_STYLES.join(', ')}`);
    const fmt = cached(dateFormats, JSON.stringify([locale, style, timeZone]), () =>
      intlOption(opts, 'formatDate', { locale, timeZone }, () => new Intl.DateTimeFormat(locale || 'en', { dateStyle: style as 'long', timeZone })),
    );
    return fmt.format(d.date);
  });
  hb.registerHelper('formatNumber', (value: unknown, opts: HelperOptions) => {
    const n = typeof value === 'number' ? value : Number(String(value).trim());
    if (value === '' || !Number.isFinite(n)) {
      // Excel writes a number cell formatted with thousands separators as "1,234.50".
      const grouped = typeof value === 'string' && /^\s*-?\d{1,3}([,\s'’]\d{3})+([.,]\d+)?\s*$/.test(value);
      throw helperError(opts, `formatNumber: not a number: ${JSON.stringify(value)}${grouped ? ' (thousands separators: save the column as a plain number, like 1234.50)' : ''}`);
    }
    const { locale, currency, style, decimals } = opts.hash;
    let fmt: Intl.NumberFormat;
    if (locale === undefined && currency === undefined && style === undefined && decimals === undefined) fmt = plainNumbers ??= new Intl.NumberFormat('en', {});
    else {
      const o: Intl.NumberFormatOptions = {};
      if (currency) Object.assign(o, { style: 'currency', currency: String(currency) });
      else if (style) o.style = String(style) as 'percent';
      if (decimals !== undefined) o.minimumFractionDigits = o.maximumFractionDigits = Number(decimals);
      fmt = cached(numberFormats, JSON.stringify([locale, o]), () =>
        intlOption(opts, 'formatNumber', { locale, currency, style }, () => new Intl.NumberFormat(locale ? String(locale) : 'en', o)),
      );
    }
    // A message shows the same value in its HTML and its text part: formatted once.
    if (fmt !== lastNumber.fmt || !Object.is(n, lastNumber.n)) lastNumber = { fmt, n, shown: fmt.format(n) };
    return lastNumber.shown;
  });
  hb.registerHelper('default', (value: unknown, fallback: unknown) =>
    value === undefined || value === null || value === '' ? fallback : value,
  );
  // Strict like every other variable: `{{lookup . "nmae"}}` (a typo) is an error, not "".
  hb.registerHelper('lookup', (obj: unknown, field: unknown, opts: HelperOptions & { lookupProperty?: (o: unknown, k: unknown) => unknown }) => {
    if (obj === undefined || obj === null) throw helperError(opts, `lookup: nothing to look '${String(field)}' up in`);
    const value = opts.lookupProperty ? opts.lookupProperty(obj, field) : (obj as Record<string, unknown>)[String(field)];
    if (value === undefined && !(typeof obj === 'object' && String(field) in (obj as object))) {
      const keys = typeof obj === 'object' ? Object.keys(obj as object).slice(0, 12).join(', ') : '';
      throw helperError(opts, `lookup: no '${String(field)}'${keys ? ` (there are: ${keys})` : ''}`);
    }
    return value;
  });
  hb.registerHelper('eq', (a: unknown, b: unknown) => String(a) === String(b));
  hb.registerHelper('ne', (a: unknown, b: unknown) => String(a) !== String(b));
  hb.registerHelper('upper', (s: unknown) => String(s).toUpperCase());
  hb.registerHelper('lower', (s: unknown) => String(s).toLowerCase());
  hb.registerHelper('join', (list: unknown, sep: unknown) =>
    Array.isArray(list) ? list.join(typeof sep === 'string' ? sep : ', ') : String(list),
  );
  // A value as one URL component (RFC 3986 percent-encoding): `unsubscribe.url` applies it to
  // its {{values}}, and templates may use it in links.
  // A second argument names the variable the value came from: then a missing one is an error,
  // as a {{variable}} is in strict mode (Handlebars does not check a helper's arguments).
  hb.registerHelper('urlencode', (value: unknown, ...rest: unknown[]) => {
    const name = rest.length > 1 ? rest[0] : undefined;
    if (value === undefined && typeof name === 'string') throw new Error(`"${name}" not defined`);
    return value === undefined || value === null ? '' : encodeURIComponent(String(value));
  });
  // A value holding HTML, as text: the derived text part uses it where the HTML has {{{value}}}.
  hb.registerHelper('htmlToText', (value: unknown) => (value === undefined || value === null ? '' : valueToText(String(value))));
  return hb;
}

/** Registers every file of `<templateDir>/partials/` by its base name; returns name → file. */
export function registerPartials(hb: HB, templateDir: string, show: (file: string) => string = (f) => f): Map<string, string> {
  const dir = path.join(templateDir, 'partials');
  const registered = new Map<string, string>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((f) => /\.(hbs|html|handlebars|txt)$/i.test(f));
  } catch {
    return registered;
  }
  const top = realOr(templateDir);
  for (const f of names) {
    const name = f.replace(/\.[^.]+$/, '');
    // As mj-include: a partial is a file below the template's folder, also through a symlink.
    if (leavesFolder(path.relative(top, realOr(path.join(dir, f))))) {
      throw new MailcampError('INPUT', 'the partial is a link to a file outside the template folder; only files below it can be used', { file: show(path.join(dir, f)) });
    }
    try {
      hb.registerPartial(name, readTextFile(path.join(dir, f), show(path.join(dir, f))));
    } catch (e) {
      // Unreadable (saved as GBK, say): an error where a template uses it, not for every
      // campaign of the folder (reading it again there throws the same error).
      if (!(e instanceof MailcampError)) throw e;
    }
    registered.set(name, path.join(dir, f));
  }
  return registered;
}

export interface CompileOptions {
  /** Where errors point (template file as the user sees it). */
  file: string;
  /** Subject, text and header values are not HTML. */
  escape: boolean;
  /** Body templates: their static lines rendered as markers of these blocks (marked.ts). */
  marks?: StaticBlocks;
  /** Also compile the template's check (Tpl.check). */
  check?: boolean;
}

const RUNTIME = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
  allowCallsToHelperMissing: false,
};

/** A Handlebars parse error as a MailcampError at file:line:col; undefined for anything else. */
function syntaxError(e: unknown, file: string, source?: string): MailcampError | undefined {
  const err = e as Error & { lineNumber?: number; column?: number };
  if (!/Parse error|Expecting|doesn't match|Invalid path/.test(err?.message ?? '')) return undefined;
  const m = /on line (\d+)/.exec(err.message);
  const line = err.lineNumber ?? (m ? Number(m[1]) : undefined);
  const text = line && source ? (source.split(/\r?\n/)[line - 1] ?? '') : '';
  const col = err.column !== undefined ? err.column + 1 : caretColumn(err.message, text);
  // `{{金额(元)}}`, `{{联系 电话}}`: a column name that is not a plain identifier.
  const rest = col ? text.slice(col - 1) : '';
  const oddName = /Expecting 'ID', 'STRING'.*got 'INVALID'/.test(err.message) && /^[^{}<>\n]+\}\}/.test(rest);
  const hint = oddName ? '; a column name with spaces, brackets or other signs is written {{[金额(元)]}}' : '';
  return new MailcampError('INPUT', `template syntax: ${err.message.split('\n').pop()}${hint}`, { file, line, col });
}

/**
 * The column of a parse error (the parser says only the line): its message shows the ~20
 * characters before the error, line breaks removed, and a caret; the longest end of them that
 * starts the error's line gives the column.
 */
function caretColumn(message: string, text: string): number | undefined {
  const [, context, caret] = message.split('\n');
  if (!text || !context || !caret?.endsWith('^')) return undefined;
  const past = context.slice(0, caret.length - 1);
  for (let k = Math.min(past.length, text.length); k > 0; k--) if (text.startsWith(past.slice(past.length - k))) return k + 1;
  return undefined;
}

/**
 * Throws a template syntax error at its place in `source`. For MJML templates, checked on the
 * source before MJML compiles it: a syntax error then names the line the author wrote.
 */
export function checkSyntax(hb: HB, source: string, file: string): void {
  if (!source.includes('{{')) return;
  try {
    hb.parse(source);
  } catch (e) {
    throw syntaxError(e, file, source) ?? e;
  }
}

/** Compiles eagerly (syntax errors now, with line:col) and returns a strict render function. */
export function compileTemplate(hb: HB, source: string, opts: CompileOptions): Tpl {
  // Without a mustache the output is the source, escaped or not: no template call per message.
  if (!source.includes('{{')) {
    const out = opts.marks ? markText(opts.marks, source, true) : source;
    return Object.assign(() => out, opts.check ? { check: () => '' } : {});
  }
  const options = {
    data: true,
    strict: true,
    noEscape: !opts.escape,
    compat: false,
    knownHelpers: Object.fromEntries([...HELPERS, ...BUILTIN_HELPERS].map((h) => [h, true])),
    knownHelpersOnly: false,
  };
  let fn: SetUpTemplate;
  let check: SetUpTemplate | undefined;
  try {
    const ast = hb.parse(source) as Program;
    const probe = opts.check ? checkProgram(ast, hb) : undefined;
    if (opts.marks) markProgram(opts.marks, ast);
    fn = compiled(hb, ast, options);
    // (A check that does not compile is none: the template is then rendered whole for every row.)
    if (probe) check = attempt(() => compiled(hb, probe, options));
  } catch (e) {
    const syntax = syntaxError(e, opts.file, source);
    if (syntax) throw syntax;
    // Any other compiler error: said at each render, where it is placed like a runtime one.
    return () => {
      throw e;
    };
  }
  try {
    // Run once now so that every error a template can have without data shows up in validate.
    fn({}, { ...RUNTIME, helpers: {} } as RuntimeOptions & object);
  } catch {
    // A missing variable on the empty context: expected; the real check is per recipient.
  }
  setUpOnce(fn);
  const tpl: Tpl = (ctx: unknown) => fn(ctx, RUNTIME);
  if (check) {
    const c = check;
    setUpOnce(c);
    tpl.check = (ctx: unknown) => c(ctx, RUNTIME);
  }
  return tpl;
}

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

interface Program {
  type: 'Program';
  body: { type: string; path?: { type: string; original?: unknown; parts?: unknown[]; depth?: number; data?: boolean }; params?: unknown[]; hash?: unknown }[];
}

/**
 * What of a template can fail for one row when it renders for another, as a template of its
 * own: its tags other than `{{name}}`, in their order, at their places (the same errors, word
 * for word). A `{{name}}` (a plain name, not a helper's) fails in strict mode only when the
 * context has no such key; the context of every row of a list has the same keys (its columns,
 * `data:` and the built-ins) with values of the same kinds, so once the whole template has
 * rendered for one row, its `{{name}}`s render for every row, and only helper calls
 * (`{{formatNumber points}}` on a cell that is not a number), dotted paths and the like can
 * still fail. Undefined for a template with blocks, partials or decorators, whose contexts
 * change inside them: validation renders those whole for every row.
 */
function checkProgram(ast: Program, hb: HB): Program | undefined {
  const body: Program['body'] = [];
  for (const s of ast.body) {
    if (s.type === 'ContentStatement' || s.type === 'CommentStatement') continue;
    if (s.type !== 'MustacheStatement') return undefined;
    const p = s.path!;
    const plainName =
      p.type === 'PathExpression' && !p.data && p.depth === 0 && p.parts?.length === 1 && p.original === p.parts[0] && !s.params?.length && !s.hash && !hb.helpers[p.original as string];
    if (!plainName) body.push(s);
  }
  return { ...ast, body };
}

type SetUpTemplate = HandlebarsTemplateDelegate & { _setup: (options: object) => void };

/** What hb.compile() does on first use (compile, the runtime's template()), done now. */
function compiled(hb: HB, ast: Program, options: NonNullable<Parameters<HB['compile']>[1]>): SetUpTemplate {
  const h = hb as HB & {
    Compiler: new () => { compile(ast: unknown, o: object): unknown };
    JavaScriptCompiler: new () => { compile(env: unknown, o: object, context: undefined, asObject: boolean): unknown };
    template(spec: unknown): SetUpTemplate;
  };
  return h.template(new h.JavaScriptCompiler().compile(new h.Compiler().compile(ast, options), options, undefined, true));
}

/**
 * A compiled template sets up its helpers on every call: each of the ~20 helpers wrapped anew,
 * the prototype-access rules built anew, several times per message (subject, HTML, text,
 * headers; validation and send). Nothing it sets up depends on the call when the options are
 * the same RUNTIME object, and no one changes the environment's helpers after start-up
 * (partials are looked up in the environment's own object, which stays the same): the setup
 * of the last call is kept while the calls pass RUNTIME.
 */
function setUpOnce(fn: SetUpTemplate): void {
  const setup = fn._setup.bind(fn);
  let ready = false;
  fn._setup = (options: object) => {
    if (ready && options === RUNTIME) return;
    setup(options);
    ready = options === RUNTIME;
  };
}

type RuntimeOptions = Handlebars.RuntimeOptions;

/** Turns a Handlebars runtime error into a placed MailcampError. */
/** `positioned`: line:col in the compiled template are lines of `file` (not of MJML's output). */
export function renderError(e: unknown, file: string, row?: number, positioned = false): MailcampError {
  if (e instanceof MailcampError) return e;
  if (e instanceof HelperError) {
    return new MailcampError('INPUT', e.message + (row !== undefined ? ` (CSV line ${row})` : ''), { file, ...(positioned && e.loc ? { line: e.loc.line, col: e.loc.col } : {}) });
  }
  const msg = (e as Error).message ?? String(e);
  const m = /^"([^"]+)" not defined in .* - (\d+):(\d+)$/.exec(msg) ?? /^"([^"]+)" not defined/.exec(msg);
  if (m) {
    const where = row !== undefined ? ` (CSV line ${row})` : '';
    return new MailcampError('INPUT', `unknown variable '${m[1]}'${where}`, {
      file,
      line: m[2] ? Number(m[2]) : undefined,
      col: m[3] ? Number(m[3]) + 1 : undefined,
    });
  }
  return new MailcampError('INPUT', msg + (row !== undefined ? ` (CSV line ${row})` : ''), { file });
}
