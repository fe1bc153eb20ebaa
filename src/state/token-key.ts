// The secret behind `X-Mailcamp-Recipient` (design.md: "an opaque id, not the address").
// A plain hash of the campaign name and the address, with the campaign name in the header
// beside it, is undone by anyone who holds the message and a list of candidate addresses. The
// token is therefore an HMAC under a random key kept in the state folder, which the journals
// that turn tokens back into addresses (receive/match.ts) sit next to anyway.
//
// The key is made on first use (32 random bytes, mode 0600, linked into place so that it is
// never seen half written and two processes starting together agree on one). A dry run, a test send or a preview in a project
// that has no key yet gets a key of its own that is thrown away: nothing matches its tokens back.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MailcampError } from '../shared/errors.js';

export const TOKEN_KEY_FILE = 'recipient-token.key';
const KEY_BYTES = 32;

/** The state folder's key; made when `create` and missing, else a throwaway one when missing. */
export function tokenKey(stateDir: string, o: { create: boolean }): Buffer {
  const file = path.join(stateDir, TOKEN_KEY_FILE);
  const existing = readKey(file);
  if (existing) return existing;
  if (!o.create) return crypto.randomBytes(KEY_BYTES);
  // Written whole to a temporary file, then linked into place: the key appears complete or not
  // at all (a crash leaves no empty key), and of two processes making one, the second finds
  // the first's (EEXIST) and uses it.
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(temp, crypto.randomBytes(KEY_BYTES), { flag: 'wx', mode: 0o600 });
    fs.linkSync(temp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new MailcampError('STATE', `cannot create ${TOKEN_KEY_FILE}: ${(e as Error).message}`, { file });
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
  const made = readKey(file);
  if (!made) throw new MailcampError('STATE', `${TOKEN_KEY_FILE} vanished while it was made`, { file });
  return made;
}

/** The key in the state folder, or undefined when there is none (nothing sent from it yet). */
export function existingTokenKey(stateDir: string): Buffer | undefined {
  return readKey(path.join(stateDir, TOKEN_KEY_FILE));
}

function readKey(file: string): Buffer | undefined {
  let b: Buffer;
  try {
    b = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MailcampError('STATE', `cannot read ${TOKEN_KEY_FILE}: ${(e as Error).message}`, { file });
  }
  if (b.length !== KEY_BYTES) {
    throw new MailcampError(
      'STATE',
      `${TOKEN_KEY_FILE} is not a mailcamp key (${b.length} bytes, expected ${KEY_BYTES})`,
      { file },
      'it is the secret behind X-Mailcamp-Recipient; restore it from a backup, or delete it (bounces of messages already sent will then not be matched by that header)',
    );
  }
  return b;
}
