// The mailbox file: where returned mail is read and what to do with it.
//
//   url: imaps://bounces%40acme.example:${IMAP_PASS}@imap.acme.example:993/INBOX
//   after: keep                  # keep (default) | delete | move:FOLDER (IMAP, dir:)
//   soft_bounce_limit: 3         # soft bounces before an address is suppressed
//   unsubscribe_mailto: unsubscribe@acme.example   # mail to it is an unsubscribe (or a list)
//   ca: ../certs/private-ca.pem  # extra CA to trust (a private mail server)
//
// The same keys may sit under `mailbox:` in a campaign file; the campaign's
// `unsubscribe.mailto` then counts as an unsubscribe address too. Read with the campaign
// loader's YAML and schema readers, so errors name `file:line:col` the same way, `${VAR}`
// comes from the environment or a `.env` beside the file, and unknown keys get a suggestion.

import fs from 'node:fs';
import path from 'node:path';
import { displayPath } from '../campaign/load.js';
import { type Env, loadDotEnv } from '../campaign/env.js';
import { isNull, type MapNode, SchemaReader } from '../campaign/schema.js';
import { type PNode, readYamlFile } from '../campaign/yaml.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { type MailboxUrl, parseMailboxUrl } from './mailbox-url.js';

export const MAILBOX_KEYS = ['url', 'after', 'soft_bounce_limit', 'unsubscribe_mailto', 'ca'] as const;
export const DEFAULT_SOFT_BOUNCE_LIMIT = 3;

export type AfterAction = { kind: 'keep' } | { kind: 'delete' } | { kind: 'move'; folder: string };

export interface MailboxConfig {
  /** Absolute path of the file, its folder, and the path to show in messages. */
  file: string;
  dir: string;
  displayFile: string;
  url: MailboxUrl;
  after: AfterAction;
  softBounceLimit: number;
  unsubscribeAddresses: string[];
  /** PEM of an extra CA to trust. */
  ca?: string;
  /** Set when the mailbox came from a campaign's `mailbox:` section. */
  campaign?: string;
  /** Where `url:` is written, for errors found when the mailbox is opened. */
  urlPlace?: { file: string; line: number; col: number };
}

export interface MailboxLoadOptions {
  cwd?: string;
  env?: Env;
  /** `${VAR}` not set reads as empty (validate of a campaign: its send does not need them). */
  missingEnvIsEmpty?: boolean;
}

export function loadMailboxConfig(file: string, opts: MailboxLoadOptions = {}): MailboxConfig {
  const cwd = opts.cwd ?? process.cwd();
  const abs = path.resolve(cwd, file);
  const display = displayPath(abs, cwd);
  if (!fs.existsSync(abs)) throw new MailcampError('INPUT', 'no such file', { file: display });
  const dir = path.dirname(abs);
  let env: Env = { ...loadDotEnv(dir), ...(opts.env ?? process.env) };
  if (opts.missingEnvIsEmpty) env = new Proxy(env, { get: (t, k: string) => t[k] ?? '' });
  const diag = new Diagnostics();
  const { root } = readYamlFile(abs, display, diag);
  diag.throwIfErrors();
  if (!root || root.kind !== 'map') {
    throw new MailcampError('INPUT', 'a mailbox file must be a mapping with url: (and after:, soft_bounce_limit: …)', {
      file: display,
      line: root?.pos.line ?? 1,
      col: root?.pos.col ?? 1,
    });
  }
  const r = new SchemaReader(diag, env, displayPath(path.join(dir, '.env'), cwd));
  let section: MapNode = root;
  let campaign: string | undefined;
  const unsubscribe: string[] = [];
  const mailboxNode = root.entries.get('mailbox')?.node;
  if (mailboxNode) {
    // A campaign file: only its mailbox section (and two keys it shares) matter here;
    // `mailcamp validate` checks the rest.
    const m = r.map(mailboxNode, 'mailbox');
    diag.throwIfErrors();
    if (!m) throw new MailcampError('INPUT', 'mailbox: is empty; it needs url:', { file: display, line: mailboxNode.pos.line, col: mailboxNode.pos.col });
    section = m;
    campaign = r.str(root.entries.get('name')?.node, 'name', { env: false }) ?? path.basename(abs).replace(/\.ya?ml$/i, '').toLowerCase();
    const unsub = root.entries.get('unsubscribe')?.node;
    if (unsub?.kind === 'map') {
      const mailto = r.str(unsub.entries.get('mailto')?.node, 'unsubscribe.mailto');
      if (mailto) unsubscribe.push(mailto.replace(/^mailto:/i, '').split('?')[0]);
    }
  }
  // A campaign file without a mailbox: section is one problem, not an unknown key per line.
  if (!mailboxNode && !root.entries.has('url') && ['template', 'recipients', 'subject'].some((k) => root.entries.has(k))) {
    throw new MailcampError('USAGE', 'a campaign file with no mailbox: section; add one (mailbox: { url: imaps://…, after: keep }) or give a mailbox file', {
      file: display,
    });
  }
  const where = mailboxNode ? 'mailbox' : '';
  const name = (k: string) => (where ? `${where}.${k}` : k);
  r.checkKeys(section, MAILBOX_KEYS, where);
  const get = (k: string): PNode | undefined => section.entries.get(k)?.node;

  let url: MailboxUrl | undefined;
  const urlNode = get('url');
  const urlText = r.str(urlNode, name('url'), { secret: true, url: true });
  if (!urlNode || isNull(urlNode)) diag.error(`missing required key '${name('url')}'`, { file: display, line: section.pos.line, col: section.pos.col });
  else if (urlText !== undefined) {
    try {
      url = parseMailboxUrl(urlText, dir);
    } catch (e) {
      if (!(e instanceof MailcampError)) throw e;
      diag.error(e.message.replace(/^url:/, `${name('url')}:`), urlNode.pos);
    }
  }

  let after: AfterAction = { kind: 'keep' };
  const afterNode = get('after');
  const afterText = r.str(afterNode, name('after'), { env: false });
  if (afterText !== undefined && afterNode) {
    const m = /^(keep|delete|move:(.+))$/.exec(afterText.trim());
    if (!m) diag.error(`${name('after')} must be keep, delete or move:FOLDER; got '${afterText}'`, afterNode.pos);
    else if (m[2] !== undefined) {
      const folder = m[2].trim();
      const same = (a: string, b: string) => a === b || (/^inbox$/i.test(a) && /^inbox$/i.test(b)); // RFC 3501 §5.1
      if (url?.kind === 'pop3') diag.error(`${name('after')}: POP3 has no folders to move to; use keep or delete`, afterNode.pos);
      else if (url?.kind === 'imap' && same(folder, url.folder)) {
        diag.error(`${name('after')}: move:${folder} is the folder being read; every run would read the moved messages again`, afterNode.pos);
      }
      after = { kind: 'move', folder };
    } else after = { kind: m[1] as 'keep' | 'delete' };
  }

  const softBounceLimit = r.number(get('soft_bounce_limit'), name('soft_bounce_limit'), { integer: true, positive: true }) ?? DEFAULT_SOFT_BOUNCE_LIMIT;

  const unsubNode = get('unsubscribe_mailto');
  if (unsubNode && !isNull(unsubNode)) {
    const items = unsubNode.kind === 'seq' ? unsubNode.items : [unsubNode];
    for (const it of items) {
      const a = r.str(it, name('unsubscribe_mailto'));
      if (a === undefined) continue;
      const address = a.replace(/^mailto:/i, '').split('?')[0].trim();
      if (!/^[^\s@]+@[^\s@]+$/.test(address)) diag.error(`${name('unsubscribe_mailto')}: not an address: '${a}'`, it.pos);
      else unsubscribe.push(address);
    }
  }

  let ca: string | undefined;
  const caNode = get('ca');
  const caPath = r.str(caNode, name('ca'));
  if (caPath !== undefined && caNode) {
    try {
      ca = fs.readFileSync(path.resolve(dir, caPath), 'utf8');
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) diag.error(`${name('ca')}: not a PEM certificate: ${caPath}`, caNode.pos);
    } catch (e) {
      diag.error(`${name('ca')}: cannot read ${caPath}: ${(e as NodeJS.ErrnoException).code ?? e}`, caNode.pos);
    }
  }

  diag.throwIfErrors();
  return {
    file: abs,
    dir,
    displayFile: display,
    url: url!,
    after,
    softBounceLimit,
    unsubscribeAddresses: [...new Set(unsubscribe.map((a) => a.toLowerCase()))],
    ca,
    campaign,
    urlPlace: urlNode ? { file: display, line: urlNode.pos.line, col: urlNode.pos.col } : undefined,
  };
}
