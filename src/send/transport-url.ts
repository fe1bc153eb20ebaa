// Transport URLs (design.md "Transports"):
//   outbox | outbox:DIR            write .eml files (the default)
//   smtp://[user:pass@]host[:587]  STARTTLS required, except to a loopback address
//   smtps://[user:pass@]host[:465] implicit TLS
//   smtp+plain://host[:25]         no TLS, said explicitly
// Query: ?tls_verify=false turns off certificate checks; ?ca=FILE trusts a private CA (PEM);
// ?timeout=30s sets command timeouts.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseDuration } from '../campaign/schema.js';
import { MailcampError } from '../shared/errors.js';
import { decodeComponent, ENCODE_HINT, redactUrl, registerSecret } from '../shared/secrets.js';

export type TransportSpec =
  | { kind: 'outbox'; dir?: string }
  | {
      kind: 'smtp';
      /** 'starttls' (required unless loopback), 'implicit' (smtps), 'none' (smtp+plain). */
      tls: 'starttls' | 'implicit' | 'none';
      host: string;
      port: number;
      user?: string;
      pass?: string;
      tlsVerify: boolean;
      /** A PEM file of extra trusted CAs. */
      caFile?: string;
      /** STARTTLS is optional only when the host is a loopback address. */
      requireTls: boolean;
      timeoutMs: number;
      /** The URL with credentials removed. */
      display: string;
    };

const QUERY_KEYS = ['tls_verify', 'timeout', 'ca'];

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1';
  return false;
}

/** Parses and checks a transport URL; `baseDir` resolves a relative outbox folder. */
export function parseTransportUrl(url: string, baseDir: string): TransportSpec {
  if (url === 'outbox') return { kind: 'outbox' };
  if (url.startsWith('outbox:')) {
    const dir = url.slice('outbox:'.length);
    if (!dir) throw new MailcampError('INPUT', 'outbox: needs a folder after the colon');
    return { kind: 'outbox', dir: path.resolve(baseDir, dir) };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MailcampError(
      'INPUT',
      `not a transport URL: '${redactUrl(url)}' (expected outbox, outbox:DIR, smtp://, smtps:// or smtp+plain://)${url.includes('@') ? ENCODE_HINT : ''}`,
    );
  }
  const scheme = u.protocol.replace(/:$/, '');
  const tls = scheme === 'smtp' ? 'starttls' : scheme === 'smtps' ? 'implicit' : scheme === 'smtp+plain' ? 'none' : undefined;
  if (!tls) {
    throw new MailcampError(
      'INPUT',
      `unknown transport scheme '${scheme}:' (expected outbox, smtp://, smtps:// or smtp+plain://)`,
    );
  }
  if (!u.hostname) throw new MailcampError('INPUT', 'transport URL has no host');
  // `smtp://u:1234/x@host` parses as host u, port 1234: the path (not shown: it holds the rest of
  // a password) says that a '/' was left unencoded.
  if (u.pathname && u.pathname !== '/') {
    throw new MailcampError('INPUT', "transport URL has a path, or a '/' in its user name or password: write '/' there as %2F (and '@' as %40, '#' as %23)");
  }
  const user = u.username ? decodeComponent(u.username) : undefined;
  const pass = u.password ? decodeComponent(u.password) : undefined;
  registerSecret(pass);
  for (const k of u.searchParams.keys()) {
    if (!QUERY_KEYS.includes(k)) throw new MailcampError('INPUT', `unknown transport option '${k}' (known: ${QUERY_KEYS.join(', ')})`);
  }
  const verify = u.searchParams.get('tls_verify');
  if (verify !== null && verify !== 'true' && verify !== 'false')
    throw new MailcampError('INPUT', 'tls_verify must be true or false');
  const timeoutRaw = u.searchParams.get('timeout');
  const timeoutMs = timeoutRaw === null ? 60_000 : parseDuration(timeoutRaw);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new MailcampError('INPUT', 'timeout must be a duration like 30s');
  const ca = u.searchParams.get('ca');
  const caFile = ca ? path.resolve(baseDir, ca) : undefined;
  if (caFile && !fs.existsSync(caFile)) throw new MailcampError('INPUT', `ca: no such file: ${ca}`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : tls === 'implicit' ? 465 : tls === 'starttls' ? 587 : 25;
  if (pass && tls === 'none' && !isLoopback(host)) {
    throw new MailcampError(
      'INPUT',
      'smtp+plain:// would send the password in clear text to a remote host; use smtp:// (STARTTLS) or smtps://',
    );
  }
  return {
    kind: 'smtp',
    tls,
    host,
    port,
    user,
    pass,
    tlsVerify: verify !== 'false',
    caFile,
    requireTls: tls === 'starttls' && !isLoopback(host),
    timeoutMs,
    display: redactUrl(url),
  };
}

export function describeTransport(spec: TransportSpec): string {
  return spec.kind === 'outbox' ? `outbox:${spec.dir ?? '(default)'}` : spec.display;
}
