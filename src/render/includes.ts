// Static checks of the files an MJML template pulls in with mj-include, at their own lines:
// once MJML has spliced them in, their problems would be named at a line of the compiled HTML.

import Handlebars from 'handlebars';
import { displayPath } from '../campaign/load.js';
import type { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { readTextFile } from '../shared/text-file.js';
import { checkSyntax, type HB } from './handlebars.js';
import { mjIncludes } from './mjml.js';
import { nodes, type PartialSources, reportUnknownVariables, type Scope } from './variables.js';

/**
 * Checks the files an MJML template includes, and theirs: the variables of the ones included
 * outside any Handlebars block (inside `{{#each}}` the names are not the template's; those are
 * checked when rendered), into `diag`. Returns the syntax errors of the files that do not parse
 * on their own, to be reported if the assembled HTML does not compile either (a block may open
 * in one file and close in the next). Depth-limited like MJML's own includes.
 */
export function checkIncluded(
  hb: HB,
  source: string,
  file: string,
  root: string,
  cwd: string,
  scope: Scope,
  diag: Diagnostics,
  describe: string,
  partials: PartialSources,
  depth = 0,
  seen = new Set<string>(),
  inBlock = false,
): MailcampError[] {
  const syntax: MailcampError[] = [];
  const incs = mjIncludes(source, file, root);
  if (!incs.length || depth > 8) return syntax;
  const blocks = blockSpans(source);
  for (const inc of incs) {
    if (seen.has(inc.file)) continue;
    seen.add(inc.file);
    const shown = displayPath(inc.file, cwd);
    const src = readTextFile(inc.file, shown);
    try {
      checkSyntax(hb, src, shown);
    } catch (e) {
      if (!(e instanceof MailcampError)) throw e;
      syntax.push(e);
      continue;
    }
    // A source that does not parse on its own (blocks across files): its blocks are unknown.
    const inside = inBlock || !blocks || blocks.some((b) => after(inc, b.start) && after(b.end, inc));
    if (!inside) reportUnknownVariables(src, shown, scope, diag, describe, partials);
    syntax.push(...checkIncluded(hb, src, inc.file, root, cwd, scope, diag, describe, partials, depth + 1, seen, inside));
  }
  return syntax;
}

type Spot = { line: number; col: number };
const after = (a: Spot, b: Spot): boolean => a.line > b.line || (a.line === b.line && a.col > b.col);

/** Where the Handlebars blocks of `source` start and end (1-based columns); undefined if it does not parse. */
function blockSpans(source: string): { start: Spot; end: Spot }[] | undefined {
  let ast: unknown;
  try {
    ast = Handlebars.parse(source);
  } catch {
    return undefined;
  }
  const out: { start: Spot; end: Spot }[] = [];
  for (const n of nodes(ast)) {
    if ((n.type === 'BlockStatement' || n.type === 'PartialBlockStatement' || n.type === 'DecoratorBlock') && n.loc) {
      const loc = n.loc as { start: { line: number; column: number }; end: { line: number; column: number } };
      out.push({ start: { line: loc.start.line, col: loc.start.column + 1 }, end: { line: loc.end.line, col: loc.end.column + 1 } });
    }
  }
  return out;
}
