// The files a campaign reads, for checks that must not overwrite them (send --report).

import path from 'node:path';
import type { Campaign } from './types.js';

/** Absolute paths: the campaign file and its .env, templates, list, suppression CSVs, shared attachments, DKIM key. */
export function campaignInputs(c: Campaign): string[] {
  const files = [c.file, path.join(c.dir, '.env'), c.template.path, c.recipients.file, ...c.suppress];
  if (c.text) files.push(c.text);
  if (c.dkim) files.push(c.dkim.privateKey);
  for (const a of c.attachments) if (a.kind === 'shared') files.push(a.path);
  return files;
}
