// YAML reading that keeps line:col for every value, so that schema errors can name the
// place (`campaign.yaml:12:5: …`). The yaml package's Document gives node ranges; we turn
// it into a small positioned tree (PNode) that the schema walks. Aliases are resolved here
// with a hard count, so an alias bomb ("billion laughs") fails fast instead of exhausting
// memory; the file size is capped before parsing for the same reason.

import fs from 'node:fs';
import YAML, { isAlias, isMap, isScalar, isSeq, LineCounter, type Node as YNode } from 'yaml';
import type { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { readTextFile } from '../shared/text-file.js';

export const MAX_YAML_BYTES = 1024 * 1024;
const MAX_ALIASES = 100;

export interface Pos {
  file: string;
  line: number;
  col: number;
}

export type PNode =
  | { kind: 'map'; pos: Pos; entries: Map<string, { keyPos: Pos; node: PNode }> }
  | { kind: 'seq'; pos: Pos; items: PNode[] }
  | { kind: 'scalar'; pos: Pos; value: string | number | boolean | null; quoted: boolean };

export interface ParsedYaml {
  root: PNode | undefined;
  text: string;
}

/** Parses a YAML file; syntax problems go to `diag` with their line:col. */
export function readYamlFile(file: string, displayFile: string, diag: Diagnostics): ParsedYaml {
  let text: string;
  try {
    const st = fs.statSync(file);
    // A device or FIFO (`validate /dev/urandom`) would be read forever.
    if (!st.isFile()) throw new MailcampError('INPUT', st.isDirectory() ? 'is a folder, not a YAML file' : 'is not a regular file', { file: displayFile });
    if (st.size > MAX_YAML_BYTES) {
      throw new MailcampError('INPUT', `file is ${st.size} bytes; the limit is ${MAX_YAML_BYTES}`, {
        file: displayFile,
      });
    }
    text = readTextFile(file, displayFile);
  } catch (e) {
    if (e instanceof MailcampError) throw e;
    throw new MailcampError('INPUT', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? e}`, {
      file: displayFile,
    });
  }
  return parseYaml(text, displayFile, diag);
}

export function parseYaml(text: string, displayFile: string, diag: Diagnostics): ParsedYaml {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lc = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, strict: true });
  const posOf = (offset: number): Pos => {
    const p = lc.linePos(offset);
    return { file: displayFile, line: p.line, col: p.col };
  };
  // A key followed by a full-width colon (typed with a Chinese or Japanese input method) is not
  // a key to YAML; the parser's own complaint ("Implicit keys need to be on a single line", at
  // another line) would not say so.
  // (Also when it parses: `attempts：3` is then a string where a mapping was expected.)
  const wide = text.includes('：') ? [...text.matchAll(/^([ \t]*(?:- )?)([A-Za-z_][\w.-]*)[ \t]*：/gm)] : [];
  for (const m of wide) {
    diag.error(`full-width '：' after '${m[2]}': write an ASCII ':'`, posOf(m.index + m[1].length + m[2].length + (m[0].length - m[1].length - m[2].length - 1)));
  }
  const lines = text.split('\n');
  for (const e of wide.length ? [] : doc.errors) {
    let p = posOf(e.pos[0]);
    let msg = firstLine(e.message);
    // `subject: {{name}} …` is a parse error of YAML's flow syntax; the cause is the missing quotes.
    const braces = /^(\s*(?:- )?[\w.-]+:[ \t]*)(\{\{.*)$/.exec(lines[p.line - 1] ?? '');
    if (braces) {
      p = { ...p, col: braces[1].length + 1 };
      msg = `a value that starts with {{ must be in quotes: "${braces[2].trim().replace(/"/g, '\\"')}"`;
    }
    if (e.code === 'DUPLICATE_KEY') {
      const key = /^["']?([^"':\n]*)/.exec(text.slice(e.pos[0]))?.[1].trim();
      msg = key ? `duplicate key '${key}'` : 'duplicate key';
    } else if (e.code === 'MULTIPLE_DOCS') msg = "one campaign per file: a second document starts here ('---')";
    diag.error(msg, p);
  }
  for (const w of doc.warnings) diag.warning(firstLine(w.message), posOf(w.pos[0]));
  // A duplicate key is said, and the rest of the file is still checked (the later value counts).
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY') || wide.length) return { root: undefined, text };

  let aliases = 0;
  const convert = (node: unknown, depth: number): PNode => {
    if (depth > 64) throw new MailcampError('INPUT', 'nesting is too deep', {});
    if (isAlias(node)) {
      if (++aliases > MAX_ALIASES) {
        const p = posOf(node.range?.[0] ?? 0);
        throw new MailcampError('INPUT', `more than ${MAX_ALIASES} aliases; refusing (alias bomb?)`, p);
      }
      const target = node.resolve(doc);
      if (target === undefined) {
        const p = posOf(node.range?.[0] ?? 0);
        diag.error(`alias '*${node.source}' is not defined (an anchor &${node.source} must come before it; to write a '*', put the value in quotes)`, p);
        return { kind: 'scalar', pos: p, value: `*${node.source}`, quoted: false };
      }
      return convert(target, depth + 1);
    }
    const n = node as YNode;
    const pos = posOf(n?.range?.[0] ?? 0);
    // `subject: {{name}}` is a YAML mapping inside a mapping, not a template: said once, here,
    // and kept as the text it was, so that nothing else complains about its type.
    if (isMap(n) && n.flow && n.range && text.startsWith('{{', n.range[0])) {
      const written = text.slice(n.range[0], n.range[1]).trimEnd();
      diag.error(`a value that starts with {{ must be in quotes: "${written.replace(/"/g, '\\"')}"`, pos);
      return { kind: 'scalar', pos, value: written, quoted: false };
    }
    if (isMap(n)) {
      const entries = new Map<string, { keyPos: Pos; node: PNode }>();
      for (const pair of n.items) {
        const k = pair.key as YNode | null;
        const keyPos = posOf(k?.range?.[0] ?? n.range?.[0] ?? 0);
        const key = isScalar(k) ? String(k.value) : String(k);
        const value = pair.value === null ? nullScalar(keyPos) : convert(pair.value, depth + 1);
        entries.set(key, { keyPos, node: value });
      }
      return { kind: 'map', pos, entries };
    }
    if (isSeq(n)) return { kind: 'seq', pos, items: n.items.map((i) => convert(i, depth + 1)) };
    if (isScalar(n)) {
      const v = n.value;
      const value =
        v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
          ? v
          : v instanceof Date
            ? v.toISOString()
            : String(v);
      return { kind: 'scalar', pos, value, quoted: n.type === 'QUOTE_DOUBLE' || n.type === 'QUOTE_SINGLE' };
    }
    return nullScalar(pos);
  };
  try {
    const root = doc.contents ? convert(doc.contents, 0) : undefined;
    return { root, text };
  } catch (e) {
    if (e instanceof MailcampError) {
      diag.error(e.message, e.place.line ? e.place : { file: displayFile });
      return { root: undefined, text };
    }
    throw e;
  }
}

function nullScalar(pos: Pos): PNode {
  return { kind: 'scalar', pos, value: null, quoted: false };
}

function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** An object for a YAML mapping's values: no prototype, so `__proto__` or `constructor` is plain data. */
export function dataMap(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

/** Plain JS value of a positioned node (for `data:` and other free-form values). */
export function toPlain(n: PNode): unknown {
  switch (n.kind) {
    case 'scalar':
      return n.value;
    case 'seq':
      return n.items.map(toPlain);
    case 'map': {
      const o = dataMap();
      for (const [k, v] of n.entries) o[k] = toPlain(v.node);
      return o;
    }
  }
}
