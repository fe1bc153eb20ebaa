// MJML is compiled before Handlebars runs (mjml.ts), and MJML keeps only what its components
// hold: text standing between components (`{{#if vip}}` between two <mj-text>, a `{{> footer}}`
// in an <mj-column>) is dropped without a word. A dropped block tag makes its content go to
// everyone, a dropped partial goes to no one, and a dropped `{{#each}}` leaves its body to be
// named at a line of the compiled HTML. So every Handlebars tag of the source must still be in
// the compiled HTML; one that is not is named where the author wrote it, with the way out
// (<mj-raw>, which MJML passes through as it is).

import type { Diagnostics } from '../shared/diagnostics.js';

interface Tag {
  raw: string;
  text: string;
  index: number;
}

/** Handlebars tags, comments left out (MJML may drop those: they render to nothing anyway). */
const TAG = /\{\{\{?~?\s*(?!!)[^{}]*?\}?\}\}/g;

function tags(s: string): Tag[] {
  const out: Tag[] = [];
  for (const m of s.matchAll(TAG)) out.push({ raw: m[0], text: normal(m[0]), index: m.index! });
  return out;
}

/** Spacing, `~` and the entities MJML may write in attributes do not make another tag. */
function normal(tag: string): string {
  return tag
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&gt;/g, '>')
    .replace(/&lt;/g, '<')
    .replace(/&amp;/g, '&')
    .replace(/~/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\{ /g, '{')
    .replace(/ \}/g, '}');
}

function lineCol(s: string, index: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = s.indexOf('\n'); i !== -1 && i < index; i = s.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: index - start + 1 };
}

/**
 * Which tags of `want` are not in `have`, by the longest common subsequence of the two (tags
 * keep their order through MJML): a block tag written twice is named at the place it was
 * dropped, not at its first use. Past a size where the table would be large, by count alone.
 */
function unmatched(want: Tag[], have: Tag[]): boolean[] {
  const n = want.length;
  const m = have.length;
  const missing = new Array<boolean>(n).fill(false);
  if ((n + 1) * (m + 1) > 1 << 24) {
    const left = new Map<string, number>();
    for (const t of have) left.set(t.text, (left.get(t.text) ?? 0) + 1);
    want.forEach((t, i) => {
      const k = left.get(t.text) ?? 0;
      if (k > 0) left.set(t.text, k - 1);
      else missing[i] = true;
    });
    return missing;
  }
  const w = m + 1;
  const L = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i * w + j] = want[i].text === have[j].text ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n) {
    if (j < m && want[i].text === have[j].text && L[i * w + j] === L[(i + 1) * w + j + 1] + 1) {
      i++;
      j++;
    } else if (j < m && L[i * w + j + 1] >= L[(i + 1) * w + j]) j++;
    else missing[i++] = true;
  }
  return missing;
}

/**
 * Records an error for each tag of `source` that MJML left out of `html`; returns how many.
 * A tag out of order (MJML moves <mj-title>, <mj-preview>, inlined styles) still counts as
 * kept when the HTML holds it as often as the source.
 */
export function reportDroppedTags(source: string, html: string, file: string, diag: Diagnostics): number {
  const want = tags(source);
  if (!want.length) return 0;
  const have = tags(html);
  const deficit = new Map<string, number>();
  for (const t of want) deficit.set(t.text, (deficit.get(t.text) ?? 0) + 1);
  for (const t of have) if (deficit.has(t.text)) deficit.set(t.text, deficit.get(t.text)! - 1);
  const missing = unmatched(want, have);
  let dropped = 0;
  want.forEach((t, i) => {
    if (!missing[i] || deficit.get(t.text)! <= 0) return;
    deficit.set(t.text, deficit.get(t.text)! - 1);
    diag.error(
      `'${t.raw}' stands between MJML components, and MJML drops it (it compiles the template before any row is filled in): wrap it in <mj-raw>…</mj-raw>, or move it inside an <mj-text>`,
      { file, ...lineCol(source, t.index) },
    );
    dropped++;
  });
  return dropped;
}
