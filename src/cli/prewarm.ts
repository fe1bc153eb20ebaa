// Imported first by cli.ts, before the rest of the program loads (~0.15 s of imports): when
// the command will compile an MJML template, the MJML child (render/mjml.ts) starts now and
// loads mjml meanwhile instead of afterwards. A wrong guess costs a child that loads and ends.

import fs from 'node:fs';
import { prewarmMjml } from '../render/mjml.js';

const [command, ...rest] = process.argv.slice(2);
if (command === 'send' || command === 'validate' || command === 'preview') {
  const file = rest.find((a) => /\.ya?ml$/i.test(a));
  try {
    if (file && fs.statSync(file).size < 1 << 20 && /\.mjml\b/i.test(fs.readFileSync(file, 'utf8'))) prewarmMjml();
  } catch {
    // Unreadable: the command itself reports it.
  }
}
