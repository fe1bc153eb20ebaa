// `mailcamp init [dir]`: scaffolds a working project — campaigns/, templates/ and a
// .mailcamp/ state folder at its top — from the copies shipped in this package.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { MailcampError } from '../shared/errors.js';
import { STATE_DIR_NAME } from '../state/folder.js';
import { type Io, out } from './io.js';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCAFFOLD = ['campaigns', 'templates'];

export function register(program: Command, io: Io): void {
  program
    .command('init')
    .description('scaffold a working example campaign (campaigns/, templates/, .mailcamp/)')
    .argument('[dir]', 'target folder', '.')
    .action((dir: string) => {
      const target = path.resolve(io.cwd, dir);
      const clashes = SCAFFOLD.flatMap((d) => listFiles(path.join(PACKAGE_ROOT, d)).map((f) => path.join(d, f))).filter((f) =>
        fs.existsSync(path.join(target, f)),
      );
      if (clashes.length) {
        throw new MailcampError('USAGE', `not overwriting existing files in ${target}: ${clashes.slice(0, 5).join(', ')}`);
      }
      for (const d of SCAFFOLD) fs.cpSync(path.join(PACKAGE_ROOT, d), path.join(target, d), { recursive: true });
      fs.mkdirSync(path.join(target, STATE_DIR_NAME), { recursive: true });
      const rel = path.relative(io.cwd, target) || '.';
      const campaign = path.join(rel, 'campaigns', 'welcome.yaml');
      out(io, `created ${rel}/campaigns/, ${rel}/templates/ and ${rel}/${STATE_DIR_NAME}/`);
      out(io, `next: mailcamp validate ${campaign}`);
      out(io, `      mailcamp preview ${campaign}`);
      out(io, `      mailcamp send ${campaign}          (writes .eml files to campaigns/outbox/welcome/)`);
    });
}

function listFiles(dir: string): string[] {
  const outp: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else outp.push(r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return outp;
}
