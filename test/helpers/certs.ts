// Self-signed certificates for TLS tests, made with the openssl CLI (no certificate library in
// node_modules, and openssl is what an operator would use too). One key pair per host list and
// kind is generated per process and cached: generation costs tens of milliseconds, and many
// tests start servers.
//
// The certificate is its own CA: a client trusts it by passing `ca` (tls.connect's `ca`
// option), and a client that does not is refused with DEPTH_ZERO_SELF_SIGNED_CERT.
// subjectAltName carries DNS: entries for names and IP: entries for addresses, because TLS
// clients match only the SAN, never the CN (RFC 6125 section 6.4.4, node's checkServerIdentity).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tmpDir } from './tmp.js';

export interface TestCert {
  /** PEM private key (P-256). */
  key: string;
  /** PEM certificate, self-signed. */
  cert: string;
  /** PEM to trust on the client side; the same text as `cert`, since it signs itself. */
  ca: string;
}

const OPENSSL = fs.existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';
const cache = new Map<string, TestCert>();

function generate(hostnames: string[], commonName: string): TestCert {
  if (!hostnames.length) throw new Error('makeCert: at least one hostname is needed');
  const dir = tmpDir('mailcamp-cert-');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const san = hostnames.map((h) => (net.isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  execFileSync(
    OPENSSL,
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '30',
      '-subj', `/CN=${commonName}`,
      '-addext', `subjectAltName=${san}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const cert = fs.readFileSync(certFile, 'utf8');
  const key = fs.readFileSync(keyFile, 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  return { key, cert, ca: cert };
}

function cached(kind: string, hostnames: string[]): TestCert {
  const id = `${kind}\n${hostnames.join(',')}`;
  let c = cache.get(id);
  if (!c) {
    c = generate(hostnames, kind === 'trusted' ? hostnames[0] : `untrusted ${hostnames[0]}`);
    cache.set(id, c);
  }
  return c;
}

/** The test certificate for `hostnames` (default localhost and 127.0.0.1); same object per process. */
export function makeCert(hostnames: string[] = ['localhost', '127.0.0.1']): TestCert {
  return cached('trusted', hostnames);
}

/**
 * Another self-signed certificate for the same names, with a different key: a client that
 * trusts only makeCert().ca must refuse a server presenting this one.
 */
export function makeUntrustedCert(hostnames: string[] = ['localhost', '127.0.0.1']): TestCert {
  return cached('untrusted', hostnames);
}
