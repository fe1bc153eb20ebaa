// Where state lives (design.md "What a run leaves behind"): the nearest `.mailcamp/` found
// walking up from the campaign's (or mailbox file's) folder, else a new one in that folder;
// `--state DIR` overrides. Walking up lets campaigns in sub-folders of one project share a
// single suppression list, the way git finds `.git/`.
//
// Layout of the folder:
//   .mailcamp/suppression         the shared suppression list (SQLite, see suppression.ts)
//   .mailcamp/<campaign-name>/    one campaign's journal and lock (journal.ts, lock.ts)
//   .mailcamp/recipient-token.key the secret behind X-Mailcamp-Recipient (token-key.ts)
// Because both live side by side, a campaign may not be named like the suppression file
// or like a path step (`.`, `..`): those names would escape or collide.

import fs from 'node:fs';
import path from 'node:path';
import { MailcampError } from '../shared/errors.js';
import { realOr } from '../shared/paths.js';

export const STATE_DIR_NAME = '.mailcamp';
export const SUPPRESSION_FILE = 'suppression';

// SQLite keeps `-wal`, `-shm` and `-journal` files beside the database.
const RESERVED_NAMES = new Set([
  '.',
  '..',
  SUPPRESSION_FILE,
  `${SUPPRESSION_FILE}-wal`,
  `${SUPPRESSION_FILE}-shm`,
  `${SUPPRESSION_FILE}-journal`,
  'recipient-token.key', // state/token-key.ts
]);

/**
 * The state folder for a campaign or mailbox file in `startDir`. Returns an absolute path;
 * it may not exist yet (see ensureStateDir). The walk starts from the folder's real path: a
 * campaign reached through a symlinked folder has the same state (journal, lock, suppression
 * list) as through its own path, not a new one beside the link that would mail everyone again.
 */
export function findStateDir(startDir: string, override?: string): string {
  if (override !== undefined && override !== '') {
    const dir = path.resolve(override);
    if (fs.existsSync(dir) && !isDirectory(dir)) throw new MailcampError('USAGE', `--state: ${override} is a file, not a folder`);
    return dir;
  }
  const start = realOr(path.resolve(startDir));
  for (let dir = start; ; ) {
    const candidate = path.join(dir, STATE_DIR_NAME);
    if (isDirectory(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.join(start, STATE_DIR_NAME);
}

/** Creates the folder (and its parents) if needed; returns it. */
export function ensureStateDir(dir: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new MailcampError('STATE', `cannot create the state folder: ${(e as Error).message}`, { file: dir });
  }
  if (!isDirectory(dir)) {
    throw new MailcampError('STATE', 'the state folder path exists but is not a folder', { file: dir });
  }
  return dir;
}

/** `<stateDir>/<name>/`: where one campaign's journal and lock live. */
export function campaignStateDir(stateDir: string, campaignName: string): string {
  if (campaignName === '' || /[/\\\0]/.test(campaignName) || RESERVED_NAMES.has(campaignName)) {
    throw new MailcampError(
      'INPUT',
      `campaign name '${campaignName}' cannot be used: it would collide with ${path.join(stateDir, campaignName)}`,
      {},
      `names '.', '..' and '${SUPPRESSION_FILE}' are reserved in the state folder; rename the campaign`,
    );
  }
  return path.join(stateDir, campaignName);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
