// Static check of the variables a template uses, against what a recipient will have
// (CSV columns, `data`, built-ins). It runs on the template's *source* (MJML or
// Handlebars), so errors point at the line the author wrote, before any row is rendered:
// `templates/news.mjml:4:7: unknown variable 'nmae'; CSV columns are: name, email …`.
// `{{constructor}}`, `{{__proto__}}` and friends are unknown variables like any other.

import Handlebars from 'handlebars';
import { suggest } from '../campaign/suggest.js';
import type { Diagnostics } from '../shared/diagnostics.js';
import { BUILTIN_HELPERS, HELPERS } from './handlebars.js';

type Node = { type: string; loc?: { start: { line: number; column: number } } } & Record<string, any>;

export interface Scope {
  /** Names available at this level; undefined means unknown (not checked). */
  names: Set<string> | undefined;
  /** Scope of an `{{#each members}}` block: names of a member. */
  members?: Set<string>;
  /** Names whose value is a mapping or a list (from `data:`): printing one is an error. */
  compound?: Set<string>;
  /** Built-ins of a known shape, by name: the keys they have (`recipient.email`). */
  shapes?: Map<string, readonly string[]>;
  /** Names whose value is always text (CSV columns, plain `data:` values): they have no keys. */
  text?: Set<string>;
  /** Inside `{{#with city}}` of a text value: the name whose text `this` is. */
  withText?: string;
}

/** The built-ins' keys (render/index.ts contextFor); `now` and `occurrence` are dates, with none. */
export const BUILTIN_SHAPES: ReadonlyMap<string, readonly string[]> = new Map([
  ['campaign', ['name']],
  ['recipient', ['email', 'row', 'name']],
  ['now', []],
  ['occurrence', []],
]);

export interface VariableUse {
  name: string;
  helper?: boolean;
  /** `{{name}}` of a mapping or list: it has no text. */
  printsCompound?: boolean;
  line: number;
  col: number;
  /** Set when the use is inside a partial: the partial's file. */
  file?: string;
  /** `{{> name}}` of a partial that the partials/ folder does not have. */
  partial?: boolean;
  /** `{{formatDate}}`, `{{#if}}`: a helper given nothing to work on. */
  noValue?: boolean;
  /** `{{city.x}}` of a name whose value is text. */
  ofText?: boolean;
}

/** A partial's source and the file to name in errors, by partial name. */
export type PartialSources = (name: string) => { source: string; file: string } | undefined;

const HELPER_SET = new Set<string>([...HELPERS, ...BUILTIN_HELPERS]);
const FORBIDDEN = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__lookupGetter__']);

/**
 * Returns the uses of names that the scope does not provide. `members` is the scope of
 * group members (inside `{{#each members}}`).
 */
export function findUnknownVariables(source: string, root: Scope, partials?: PartialSources): VariableUse[] {
  let ast: Node;
  try {
    ast = Handlebars.parse(source) as unknown as Node;
  } catch {
    return []; // syntax errors are reported by compileTemplate
  }
  const out: VariableUse[] = [];
  const stack: Scope[] = [root];
  // Partials defined in the template itself ({{#*inline "name"}}) are not files.
  const inline = new Set(inlinePartialNames(ast));
  /** The partial being walked (its uses are reported in its own file), and those around it. */
  let inFile: string | undefined;
  const entered: string[] = [];

  const checkPath = (p: Node) => {
    if (p.type !== 'PathExpression') return;
    if (p.data) return; // @index, @key, @root…
    const depth = p.depth as number;
    const parts = p.parts as string[];
    const scope = stack[stack.length - 1 - depth];
    const head = parts[0];
    for (const part of parts) {
      if (FORBIDDEN.has(part)) {
        out.push({ name: p.original, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
        return;
      }
    }
    if (scope?.withText !== undefined && head !== undefined) {
      // `{{#with city}}{{zzz}}{{/with}}`: a key of the text of city.
      out.push({ name: `${scope.withText}.${head}`, ofText: true, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
      return;
    }
    if (!scope || !scope.names || head === undefined) return; // `this`, or unchecked scope
    if (!scope.names.has(head)) out.push({ name: head, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
    else if (parts.length > 1 && scope.text?.has(head)) {
      out.push({ name: `${head}.${parts[1]}`, ofText: true, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
    } else if (parts.length > 2 && scope.shapes?.get(head)?.includes(parts[1])) {
      // `{{recipient.email.x}}`: the built-ins' keys hold text.
      out.push({ name: parts.slice(0, 3).join('.'), ofText: true, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
    } else if (parts.length > 1 && !scope.shapes?.get(head)?.includes(parts[1]) && scope.shapes?.has(head)) {
      // `{{recipient.emial}}`: found here, at its place in the source, not at render time
      // (where an MJML template's place is one in the compiled HTML).
      out.push({ name: `${head}.${parts[1]}`, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
    }
  };

  const visitParams = (n: Node) => {
    for (const param of n.params ?? []) visitExpr(param);
    for (const pair of n.hash?.pairs ?? []) visitExpr(pair.value);
  };
  const visitExpr = (e: Node) => {
    if (e.type === 'PathExpression') checkPath(e);
    else if (e.type === 'SubExpression') {
      visitParams(e);
      // the helper name of a subexpression is a helper, not a variable
      if (e.path.type === 'PathExpression' && !HELPER_SET.has(e.path.original)) checkPath(e.path);
    }
  };
  const visitMustache = (n: Node) => {
    const p = n.path as Node;
    const isHelperCall = (n.params?.length ?? 0) > 0 || (n.hash?.pairs?.length ?? 0) > 0;
    if (p.type === 'PathExpression' && HELPER_SET.has(p.original) && !(n.params?.length ?? 0)) {
      out.push({ name: p.original, noValue: true, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
    }
    if (p.type === 'PathExpression' && HELPER_SET.has(p.original)) visitParams(n);
    else {
      if (!isHelperCall && n.type === 'MustacheStatement' && stack.length === 1 && !p.data && p.depth === 0 && p.parts?.length === 1 && root.compound?.has(p.parts[0])) {
        out.push({ name: p.parts[0], printsCompound: true, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
      }
      if (!isHelperCall) visitExpr(p);
      else {
        // unknown helper: report the name
        out.push({ name: p.original, helper: true, line: p.loc!.start.line, col: p.loc!.start.column + 1, file: inFile });
      }
      visitParams(n);
    }
  };
  const visitProgram = (prog: Node | undefined) => {
    if (!prog) return;
    for (const st of prog.body as Node[]) visit(st);
  };
  const visit = (n: Node) => {
    switch (n.type) {
      case 'MustacheStatement':
        visitMustache(n);
        break;
      case 'BlockStatement': {
        const helper = n.path.original as string;
        visitMustache(n);
        if (helper === 'each' || helper === 'with') {
          const arg = n.params?.[0] as Node | undefined;
          const cur = stack[stack.length - 1];
          const textArg = helper === 'with' && arg?.type === 'PathExpression' && !arg.data && arg.depth === 0 && arg.parts?.length === 1 && cur.text?.has(arg.parts[0]);
          const inner: Scope =
            arg?.type === 'PathExpression' && arg.original === 'members' && cur.members
              ? { names: cur.members }
              : textArg
                ? { names: undefined, withText: arg.parts[0] }
                : { names: undefined };
          stack.push(inner);
          visitProgram(n.program);
          stack.pop();
          visitProgram(n.inverse);
        } else {
          visitProgram(n.program);
          visitProgram(n.inverse);
        }
        break;
      }
      case 'PartialStatement':
      case 'PartialBlockStatement': {
        visitParams(n);
        // `{{> name}}` without a context or hash sees the scope it is called in: check its body
        // there, naming the partial's own file (once per partial, and never in a loop).
        const name = n.name?.type === 'PathExpression' ? (n.name.original as string) : undefined;
        const plain = !(n.params?.length ?? 0) && !(n.hash?.pairs?.length ?? 0);
        const p = plain && name !== undefined && !entered.includes(name) && entered.length < 8 ? partials?.(name) : undefined;
        // `{{#> name}}fallback{{/name}}` renders its block when there is no such partial.
        if (n.type === 'PartialStatement' && !p && partials && name !== undefined && !name.startsWith('@') && !inline.has(name) && !partials(name)) {
          out.push({ name, partial: true, line: n.name.loc.start.line, col: n.name.loc.start.column + 1, file: inFile });
        }
        if (p) {
          let body: Node | undefined;
          try {
            body = Handlebars.parse(p.source) as unknown as Node;
          } catch {
            body = undefined; // its syntax error is reported when it is compiled
          }
          for (const x of inlinePartialNames(body)) inline.add(x);
          const outer = inFile;
          entered.push(name!);
          inFile = p.file;
          visitProgram(body);
          inFile = outer;
          entered.pop();
        }
        if (n.type === 'PartialBlockStatement') visitProgram(n.program);
        break;
      }
      default:
        break;
    }
  };
  visitProgram(ast);
  return out;
}

/** Every node below `n` (programs, blocks, params …), depth first. */
export function* nodes(n: unknown): Generator<Node> {
  if (!n || typeof n !== 'object') return;
  if (Array.isArray(n)) {
    for (const x of n) yield* nodes(x);
    return;
  }
  const node = n as Node;
  if (typeof node.type === 'string') yield node;
  for (const [k, v] of Object.entries(node)) if (k !== 'loc' && v && typeof v === 'object') yield* nodes(v);
}

/** Names of the partials a template defines itself: `{{#*inline "name"}}…{{/inline}}`. */
function inlinePartialNames(ast: Node | undefined): string[] {
  const out: string[] = [];
  for (const n of nodes(ast)) {
    if (n.type === 'DecoratorBlock' && n.path?.original === 'inline' && n.params?.[0]?.type === 'StringLiteral') out.push(n.params[0].value as string);
  }
  return out;
}

/**
 * The partial files that `sources` use, directly or through other partials (`{{> name}}`,
 * `{{#> name}}`): the ones whose syntax matters. A source that does not parse uses none here
 * (its own error is reported where it is compiled).
 */
export function partialsUsed(sources: string[], partials: PartialSources): { name: string; source: string; file: string }[] {
  const found = new Map<string, { name: string; source: string; file: string }>();
  const visit = (src: string) => {
    let ast: Node;
    try {
      ast = Handlebars.parse(src) as unknown as Node;
    } catch {
      return;
    }
    for (const n of nodes(ast)) {
      if (n.type !== 'PartialStatement' && n.type !== 'PartialBlockStatement') continue;
      const name = n.name?.type === 'PathExpression' ? (n.name.original as string) : undefined;
      if (name === undefined || found.has(name)) continue;
      const p = partials(name);
      if (!p) continue;
      found.set(name, { name, ...p });
      visit(p.source);
    }
  };
  for (const s of sources) visit(s);
  return [...found.values()];
}

/** Reports unknown variables as errors at their place in `file`. */
export function reportUnknownVariables(
  source: string,
  file: string,
  root: Scope,
  diag: Diagnostics,
  describe: string,
  partials?: PartialSources,
): void {
  for (const u of findUnknownVariables(source, root, partials)) {
    const where = { file: u.file ?? file, line: u.line, col: u.col };
    if (u.printsCompound) {
      diag.error(`'${u.name}' is a mapping or a list, which has no text: print one of its keys ({{${u.name}.key}}) or loop over it ({{#each ${u.name}}})`, where);
      continue;
    }
    if (u.partial) {
      diag.error(`unknown partial '${u.name}': no partials/${u.name}.hbs (or .html) in the template's folder`, where);
      continue;
    }
    if (u.helper) {
      diag.error(`unknown helper '${u.name}' (helpers: ${[...HELPERS, ...BUILTIN_HELPERS].join(', ')})`, where);
      continue;
    }
    if (u.noValue) {
      diag.error(`${u.name} needs a value: write {{${BUILTIN_HELPERS.includes(u.name as never) ? '#' : ''}${u.name} something}}`, where);
      continue;
    }
    if (u.ofText) {
      const head = u.name.slice(0, u.name.lastIndexOf('.'));
      diag.error(`unknown variable '${u.name}': '${head}' is text, it has no keys; write {{${head}}}`, where);
      continue;
    }
    const [head, key] = u.name.split('.');
    const shape = key !== undefined ? root.shapes?.get(head) : undefined;
    if (shape) {
      const near = suggest(key, [...shape]);
      diag.error(
        `unknown variable '${u.name}': '${head}' has ${shape.length ? shape.map((k) => `${head}.${k}`).join(', ') : 'no keys (it is a date: format it with formatDate)'}` +
          (near ? `; did you mean '${head}.${near}'?` : ''),
        where,
      );
      continue;
    }
    const known = root.names ? [...root.names] : [];
    const s = suggest(u.name, known);
    const why = FORBIDDEN.has(u.name.split('.').pop()!) ? 'not allowed' : 'not defined';
    diag.error(
      `unknown variable '${u.name}': ${why} (${describe})` + (s && why === 'not defined' ? `; did you mean '${s}'?` : ''),
      where,
    );
  }
}
