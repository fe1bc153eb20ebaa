// Marks: a template's static lines left out of each rendered message and put back as bytes.
//
// A newsletter's HTML is ~20 KB of which a few hundred bytes vary. Rendered whole, Handlebars
// joins it from hundreds of pieces per recipient, and the first look at the result (compose's
// encoder, text-body.ts) copies all of it into one flat string again: ~30 µs per message, a
// tenth of a fast send (issue 6). Compiled with marks (handlebars.ts, compileMarked), the
// template's runs of whole static lines are each replaced by a mark of a few characters; the
// encoder splices the run's encoding, made once, where it finds the mark.
//
// A mark is U+E000, a nonce of NONCE_LENGTH private-use characters drawn when the process
// starts, and one character for the run's number. Recipient data cannot forge one it does not
// know, and a U+E000 that is not followed by the nonce is text like any other.

import crypto from 'node:crypto';

const START = 0xe000;
const NONCE_LENGTH = 6;
const NONCE = Array.from(crypto.randomBytes(NONCE_LENGTH), (b) => String.fromCharCode(0xe100 + b)).join('');
const FIRST_INDEX = 0xe200;
/** How many runs a template can have marked (the rest stay in the rendered text). */
export const MAX_MARKS = 0xf8ff - FIRST_INDEX;
export const MARK_LENGTH = 1 + NONCE_LENGTH + 1;

/** The mark of run `k`. */
export function markFor(k: number): string {
  if (k < 0 || k >= MAX_MARKS) throw new Error(`bug: mark ${k}`);
  return String.fromCharCode(START) + NONCE + String.fromCharCode(FIRST_INDEX + k);
}

/** The run number of the mark at `i` of `text`, or -1 when there is none there. */
export function markAt(text: string, i: number): number {
  if (text.charCodeAt(i) !== START || !text.startsWith(NONCE, i + 1)) return -1;
  const k = text.charCodeAt(i + 1 + NONCE_LENGTH) - FIRST_INDEX;
  return k >= 0 && k < MAX_MARKS ? k : -1;
}

/** `text` with each mark replaced by the run it stands for: what the template without marks renders. */
export function expandMarks(text: string, runs: readonly string[]): string {
  let i = text.indexOf(String.fromCharCode(START));
  if (i < 0) return text;
  let out = '';
  let pos = 0;
  while (i >= 0) {
    const k = markAt(text, i);
    if (k >= 0 && k < runs.length) {
      out += text.slice(pos, i) + runs[k];
      pos = i + MARK_LENGTH;
    }
    i = text.indexOf(String.fromCharCode(START), k >= 0 && k < runs.length ? pos : i + 1);
  }
  return out + text.slice(pos);
}
