// Copies an example campaign from examples/ into a temp folder, so tests can send it
// without leaving outbox/, reports/ or .mailcamp/ in the repository.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from './tmp.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function copyExample(name: string): { dir: string; campaign: string } {
  const dir = tmpDir(`mailcamp-${name}-`);
  fs.cpSync(path.join(REPO, 'examples', name), dir, {
    recursive: true,
    filter: (src) => !/[\\/](outbox|reports|preview|\.mailcamp)([\\/]|$)/.test(path.relative(REPO, src)),
  });
  return { dir, campaign: path.join(dir, 'campaign.yaml') };
}
