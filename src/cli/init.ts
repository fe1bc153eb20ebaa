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
/**
 * The scaffold's files, by name: the package's campaigns/ may hold what running the example
 * from a checkout left there (.mailcamp/, outbox/, reports/, a .env with a password), which a
 * new project must not inherit.
 */
const SCAFFOLD = ['campaigns/welcome.yaml', 'campaigns/welcome.csv', 'templates/welcome.mjml', 'templates/logo.png'];

/**
 * What the scaffold's .gitignore keeps out of git: the state folder (journals, the suppression
 * list with its addresses, the secret behind X-Mailcamp-Recipient), what runs write, and .env.
 */
const GITIGNORE = ['# mailcamp', '.env', `${STATE_DIR_NAME}/`, 'outbox/', 'reports/', 'preview/', 'dev-mail/', ''].join('\n');

export function register(program: Command, io: Io): void {
  program
    .command('init')
    .description('scaffold a working example campaign (campaigns/, templates/, .mailcamp/)')
    .argument('[dir]', 'target folder', '.')
    .action((dir: string) => {
      const target = path.resolve(io.cwd, dir);
      // A file where a folder must go (the target, or campaigns/ or templates/ in it).
      for (const d of [target, ...['campaigns', 'templates', STATE_DIR_NAME].map((x) => path.join(target, x))]) {
        if (fs.existsSync(d) && !fs.statSync(d).isDirectory()) throw new MailcampError('USAGE', `cannot scaffold in ${target}: ${d} is a file, not a folder`);
      }
      const clashes = SCAFFOLD.filter((f) => fs.existsSync(path.join(target, f)));
      if (clashes.length) {
        throw new MailcampError('USAGE', `not overwriting existing files in ${target}: ${clashes.join(', ')}`);
      }
      let madeIgnore = false;
      try {
        for (const f of SCAFFOLD) {
          fs.mkdirSync(path.dirname(path.join(target, f)), { recursive: true });
          fs.copyFileSync(path.join(PACKAGE_ROOT, f), path.join(target, f));
        }
        fs.mkdirSync(path.join(target, STATE_DIR_NAME), { recursive: true });
        // A project kept in git: what runs leave, and secrets, stay out of it (an existing one is kept).
        const ignore = path.join(target, '.gitignore');
        madeIgnore = !fs.existsSync(ignore);
        if (madeIgnore) fs.writeFileSync(ignore, GITIGNORE);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (!err.code || !err.path) throw e;
        throw new MailcampError('USAGE', `cannot scaffold in ${target}: ${err.code === 'EACCES' ? 'permission denied' : err.code} (${err.path})`);
      }
      const rel = path.relative(io.cwd, target) || '.';
      const campaign = path.join(rel, 'campaigns', 'welcome.yaml');
      out(io, `created ${rel}/campaigns/, ${rel}/templates/${madeIgnore ? `, ${rel}/${STATE_DIR_NAME}/ and ${rel}/.gitignore` : ` and ${rel}/${STATE_DIR_NAME}/ (your .gitignore is left as it is)`}`);
      out(io, `next: mailcamp validate ${campaign}`);
      out(io, `      mailcamp preview ${campaign}`);
      out(io, `      mailcamp send ${campaign}          (writes .eml files to campaigns/outbox/welcome/)`);
    });
}
