// The static lines of a body template, rendered as markers instead of as text (issue 6).
//
// A newsletter's HTML is ~20 KB of which a few dozen lines hold values. Rendering it whole, then
// finding the template's lines again in the result to splice in their encoding (made once per
// campaign), cost more than anything else per message: the rendered rope had to be flattened
// and compared line by line. Instead, the template's Handlebars AST (after its whitespace
// control) has each run of whole lines inside a piece of literal text replaced by a marker, so
// a render yields the values and the lines around them, with markers where the static lines go.
// compose/text-body.ts encodes that; expand() gives the text the unmarked template renders,
// character for character (render/index.ts uses it for everything but composing).
//
// Which lines are whole. A piece of literal text (a ContentStatement, as whitespace control
// left it) is output verbatim at the point it stands. After its first line break, the output
// is at a line start; so everything from there to its last line break is whole lines, whatever
// comes before or after it. The first piece of the template also starts a line. Inside
// `{{#if}}`/`{{#each}}`/`{{#with}}`/`{{#unless}}` the same holds: their programs' output is put
// out as it is, once or more. Not inside partial blocks and inline partials: a standalone
// partial's output is indented line by line as a string, markers and all.
//
// A marker is a noncharacter, a nonce drawn per process, the block's number and another
// noncharacter: a value from the list cannot hold one unless it knows the nonce.

import crypto from 'node:crypto';

export interface StaticBlocks {
  /** What every marker of this process starts with. */
  readonly open: string;
  /** Each block's text: whole lines, each ended by "\n" (or "\r\n" as the template has them). */
  readonly blocks: string[];
}

const OPEN = `\uFDD0${crypto.randomBytes(9).toString('base64url')}:`;
export const CLOSE = '\uFDD1';

export function newBlocks(): StaticBlocks {
  return { open: OPEN, blocks: [] };
}

/** The marker of block `i`. */
export function marker(b: StaticBlocks, i: number): string {
  return `${b.open}${i}${CLOSE}`;
}

/**
 * `text` with its whole lines (after its first line break, or from its start when `atStart`,
 * up to its last line break) replaced by a marker of a new block.
 */
export function markText(b: StaticBlocks, text: string, atStart: boolean): string {
  const from = atStart ? 0 : text.indexOf('\n') + 1;
  if (!atStart && from === 0) return text;
  const to = text.lastIndexOf('\n') + 1;
  if (to <= from) return text;
  const m = marker(b, b.blocks.length);
  b.blocks.push(text.slice(from, to));
  return text.slice(0, from) + m + text.slice(to);
}

interface Node {
  type: string;
  value?: string;
  body?: Node[];
  program?: Node | null;
  inverse?: Node | null;
}

/** Marks the literal text of a parsed template (Handlebars.parse(): whitespace control applied). */
export function markProgram(b: StaticBlocks, program: Node, root = true): void {
  const body = program.body ?? [];
  body.forEach((s, i) => {
    if (s.type === 'ContentStatement' && s.value) s.value = markText(b, s.value, root && i === 0);
    else if (s.type === 'BlockStatement') {
      if (s.program) markProgram(b, s.program, false);
      if (s.inverse) markProgram(b, s.inverse, false);
    }
    // PartialBlockStatement, DecoratorBlock: left as they are (see above).
  });
}

/**
 * Walks a marked render: `text(piece)` for the text between markers (possibly empty), `block(i)`
 * for each marker. False when something in it is not a marker of `b` (then nothing is trusted).
 */
export function walkMarked(b: StaticBlocks, s: string, text: (piece: string, last: boolean) => void, block: (i: number) => void): boolean {
  let pos = 0;
  for (;;) {
    const k = s.indexOf(b.open, pos);
    if (k < 0) break;
    const end = s.indexOf(CLOSE, k + b.open.length);
    const digits = end < 0 ? '' : s.slice(k + b.open.length, end);
    const i = /^\d{1,9}$/.test(digits) ? Number(digits) : -1;
    if (i < 0 || i >= b.blocks.length) return false;
    text(s.slice(pos, k), false);
    block(i);
    pos = end + 1;
  }
  text(pos ? s.slice(pos) : s, true);
  return true;
}

/** The text the unmarked template renders. */
export function expand(b: StaticBlocks, s: string): string {
  if (!b.blocks.length || !s.includes(b.open)) return s;
  let out = '';
  const ok = walkMarked(
    b,
    s,
    (piece) => (out += piece),
    (i) => (out += b.blocks[i]),
  );
  if (!ok) throw new Error('bug: a marker that is not one');
  return out;
}

/** expand(b, s).includes(needle), for a needle without line breaks, without expanding. */
export function markedIncludes(b: StaticBlocks, s: string, needle: string): boolean {
  if (s.includes(needle)) return true;
  if (!b.blocks.length) return false;
  let inBlocks = holding.get(b)?.get(needle);
  if (!inBlocks) {
    inBlocks = b.blocks.flatMap((t, i) => (t.includes(needle) ? [marker(b, i)] : []));
    if (!holding.has(b)) holding.set(b, new Map());
    holding.get(b)!.set(needle, inBlocks);
  }
  return inBlocks.some((m) => s.includes(m));
}

/** Per set of blocks: the markers of the blocks holding a needle (markedIncludes' needles are the few cid: links). */
const holding = new WeakMap<StaticBlocks, Map<string, string[]>>();
