// The text/plain part when no `text:` template is given: derived from the compiled HTML
// *once per campaign*, with the Handlebars expressions kept as they are, and then compiled
// as a (non-escaping) template. So the per-recipient cost is a template call, not an
// HTML-to-text conversion. Options keep `{{…}}` intact: no upper-casing of headings, no
// wrapping inside long words.

import { compile, convert } from 'html-to-text';

/**
 * Replaces plain `{{> name}}` partial calls by the partial's source (recursively), so a
 * partial holding HTML is converted to text with the rest instead of landing in the text
 * part as markup. Calls with arguments are left to Handlebars.
 */
export function inlinePartials(src: string, partials: Record<string, unknown>, depth = 0): string {
  if (depth > 8) return src;
  return src.replace(/\{\{~?>\s*([A-Za-z0-9_.-]+)\s*~?\}\}/g, (whole, name: string) => {
    const p = partials[name];
    return typeof p === 'string' ? inlinePartials(p, partials, depth + 1) : whole;
  });
}

export function htmlToTextTemplate(html: string): string {
  const text = convert(html, {
    wordwrap: 78,
    preserveNewlines: false,
    selectors: [
      { selector: 'img', format: 'skip' },
      // Preheaders (mj-preview) and other hidden text are for the inbox list, not the body.
      { selector: '[style*="display:none"]', format: 'skip' },
      { selector: '[style*="display: none"]', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'head', format: 'skip' },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'h3', options: { uppercase: false } },
      { selector: 'h4', options: { uppercase: false } },
      { selector: 'h5', options: { uppercase: false } },
      { selector: 'h6', options: { uppercase: false } },
      { selector: 'table', format: 'block' },
      { selector: 'tr', format: 'block' },
      { selector: 'td', format: 'block' },
      { selector: 'th', format: 'block' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, ignoreHref: false } },
    ],
  });
  // html-to-text decodes entities: `&#123;&#123;` written on purpose would become a template.
  // A `{{{value}}}` puts the value's HTML into the page; the text part gets it as text.
  return (
    text
      .replace(/\{\{(~?)\{\s*([^{}]+?)\s*\}(~?)\}\}/g, (_, open: string, expr: string, close: string) => `{{${open}htmlToText ${/\s/.test(expr) ? `(${expr})` : expr}${close}}}`)
      .replace(/\n{3,}/g, '\n\n')
      .trim() + '\n'
  );
}

/** html-to-text with its options compiled once (convert() compiles them per call: ~200 µs). */
let valueConverter: ((html: string) => string) | undefined;

/**
 * One value's HTML as text, for the `htmlToText` helper: no wrapping, links kept. A value with
 * no tag in it is returned as it is: a URL's `&region=` must not become `®ion=`, and a plain
 * text keeps its line breaks.
 */
export function valueToText(html: string): string {
  if (!/<[A-Za-z!/]/.test(html)) return html;
  valueConverter ??= compile({
    wordwrap: false,
    preserveNewlines: false,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, ignoreHref: false } },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'h3', options: { uppercase: false } },
    ],
  });
  return valueConverter(html).trim();
}
