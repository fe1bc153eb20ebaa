// Where the returned mail is read from, as one URL (the way transports are written):
//   imaps://user:${PASS}@imap.example.com:993/INBOX   IMAP over implicit TLS (RFC 8314)
//   imap://user:${PASS}@imap.example.com:143/INBOX    IMAP with STARTTLS required (RFC 3501 §6.2.1)
//   pop3s://user:${PASS}@pop.example.com:995          POP3 over implicit TLS (RFC 8314)
//   pop3://user:${PASS}@pop.example.com:110           POP3 with STLS required (RFC 2595 §4)
//   dir:PATH                                           a folder of .eml files, or a Maildir
// There is no plaintext mode: a mailbox password is worth as much as the mailbox.
// Certificates are verified; `?tls_verify=false` turns that off for a test server, and
// `?timeout=30s` sets the per-command timeout.

import path from 'node:path';
import { parseDuration } from '../campaign/schema.js';
import { MailcampError } from '../shared/errors.js';
import { decodeComponent, ENCODE_HINT, redactUrl, registerSecret } from '../shared/secrets.js';

export interface RemoteMailboxUrl {
  kind: 'imap' | 'pop3';
  /** Implicit TLS (imaps/pop3s); otherwise STARTTLS/STLS, required. */
  secure: boolean;
  host: string;
  port: number;
  user: string;
  pass: string;
  /** IMAP folder; default INBOX. */
  folder: string;
  tlsVerify: boolean;
  timeoutMs: number;
  /** The URL without its password, for messages and the processed-message store. */
  shown: string;
}

export type MailboxUrl = RemoteMailboxUrl | { kind: 'dir'; path: string; shown: string };

const DEFAULT_PORTS: Record<string, number> = { imaps: 993, imap: 143, pop3s: 995, pop3: 110 };
const DEFAULT_TIMEOUT_MS = 60_000;

/** Parses a mailbox URL; `baseDir` resolves a relative `dir:` path. Throws MailcampError('INPUT'). */
export function parseMailboxUrl(raw: string, baseDir: string): MailboxUrl {
  const text = raw.trim();
  if (/^dir:/i.test(text)) {
    const p = text.slice(4);
    if (!p) throw new MailcampError('INPUT', 'url: dir: needs a folder, like dir:./bounces');
    const abs = path.resolve(baseDir, p);
    return { kind: 'dir', path: abs, shown: `dir:${abs}` };
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new MailcampError('INPUT', `url: not a URL: '${redactUrl(text)}' (expected imaps://, imap://, pop3s://, pop3:// or dir:PATH)${text.includes('@') ? ENCODE_HINT : ''}`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (!(scheme in DEFAULT_PORTS)) {
    throw new MailcampError('INPUT', `url: unsupported scheme '${scheme}:' (use imaps://, imap://, pop3s://, pop3:// or dir:PATH)`);
  }
  if (!u.hostname) throw new MailcampError('INPUT', 'url: no host');
  const user = decodeComponent(u.username);
  const pass = decodeComponent(u.password);
  registerSecret(pass);
  if (!user) throw new MailcampError('INPUT', `url: no user name (write ${scheme}://USER:\${PASSWORD_VAR}@${u.hostname}); '@' in a user name is %40`);
  const kind = scheme.startsWith('imap') ? 'imap' : 'pop3';
  let folder = decodeComponent(u.pathname.replace(/^\//, ''));
  if (kind === 'pop3' && folder) throw new MailcampError('INPUT', 'url: POP3 has no folders; remove the path after the host');
  if (!folder) folder = 'INBOX';
  let tlsVerify = true;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  for (const [k, v] of u.searchParams) {
    if (k === 'tls_verify') {
      if (v !== 'false' && v !== 'true') throw new MailcampError('INPUT', 'url: tls_verify must be true or false');
      tlsVerify = v === 'true';
    } else if (k === 'timeout') {
      const ms = parseDuration(v);
      if (ms === undefined || ms <= 0) throw new MailcampError('INPUT', `url: timeout must be a duration like 30s; got '${v}'`);
      timeoutMs = ms;
    } else {
      throw new MailcampError('INPUT', `url: unknown parameter '${k}' (known: tls_verify, timeout)`);
    }
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[scheme];
  const shown = `${scheme}://${encodeURIComponent(user)}@${u.hostname}:${port}${kind === 'imap' ? `/${encodeURIComponent(folder)}` : ''}`;
  return { kind, secure: scheme.endsWith('s'), host, port, user, pass, folder, tlsVerify, timeoutMs, shown };
}
