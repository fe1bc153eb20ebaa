// Imported first by cli.ts, before the rest of the program loads (~0.15 s of imports): when
// the command will compile an MJML template, that compile gets ready now (render/mjml.ts: the
// HTML kept from an earlier compile, or the MJML child started so that it loads mjml meanwhile
// instead of afterwards). A wrong guess costs a child that loads and ends.

import fs from 'node:fs';
import { prewarmMjml } from '../render/mjml.js';

const [command, ...rest] = process.argv.slice(2);
if (command === 'send' || command === 'validate' || command === 'preview') {
  const file = rest.find((a) => /\.ya?ml$/i.test(a));
  try {
    const text = file && fs.statSync(file).size < 1 << 20 ? fs.readFileSync(file, 'utf8') : '';
    if (/\.mjml\b/i.test(text)) prewarmMjml(file, text);
  } catch {
    // Unreadable: the command itself reports it.
  }
}
