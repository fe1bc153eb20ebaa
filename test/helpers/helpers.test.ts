// The small helpers every integration test leans on: temp folders and test certificates.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { makeCert, makeUntrustedCert } from './certs.js';
import { tmpDir, writeFiles } from './tmp.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('tmpDir / writeFiles', () => {
  test('makes distinct folders under os.tmpdir() and writes nested files', () => {
    const a = tmpDir('mc-helpers-');
    const b = tmpDir('mc-helpers-');
    assert.notEqual(a, b);
    assert.ok(a.startsWith(fs.realpathSync(os.tmpdir())), a);
    assert.match(path.basename(a), /^mc-helpers-/);
    assert.equal(writeFiles(a, { 'x.txt': 'x', 'deep/er/y.bin': Buffer.from([0, 1, 2]) }), a);
    assert.equal(fs.readFileSync(path.join(a, 'x.txt'), 'utf8'), 'x');
    assert.deepEqual([...fs.readFileSync(path.join(a, 'deep/er/y.bin'))], [0, 1, 2]);
    assert.throws(() => writeFiles(a, { '/etc/passwd': 'no' }), /must be relative/);
  });

  test('folders are removed when the process exits', () => {
    const script = path.join(tmpDir('mc-helpers-'), 'child.mts');
    fs.writeFileSync(
      script,
      `import { tmpDir, writeFiles } from ${JSON.stringify(path.join(here, 'tmp.ts'))};\n` +
        `const d = writeFiles(tmpDir('mc-child-'), { 'a/b.txt': 'b' });\nconsole.log(d);\n`,
    );
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' }).trim();
    assert.match(path.basename(out), /^mc-child-/);
    assert.equal(fs.existsSync(out), false);
  });
});

describe('makeCert / makeUntrustedCert', () => {
  test('self-signed, SAN covers localhost and 127.0.0.1, cached per process', () => {
    const c = makeCert();
    assert.equal(makeCert(), c);
    assert.equal(c.ca, c.cert);
    const x = new X509Certificate(c.cert);
    assert.match(x.subjectAltName ?? '', /DNS:localhost/);
    assert.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.ok(x.checkIssued(x), 'not self-signed');
    assert.equal(x.checkPrivateKey(crypto.createPrivateKey(c.key)), true);
    const u = makeUntrustedCert();
    assert.notEqual(u.cert, c.cert);
    assert.equal(new X509Certificate(u.cert).checkIssued(x), false);
  });

  test('a TLS client trusting makeCert().ca accepts it by name and address, refuses the untrusted one', async () => {
    const connect = (served: { key: string; cert: string }, host: string, servername?: string) =>
      new Promise<string>((resolve) => {
        const server = tls.createServer({ key: served.key, cert: served.cert }, (s) => s.end());
        server.listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          const sock = tls.connect({ host, port, servername, ca: makeCert().ca });
          const done = (verdict: string) => {
            sock.destroy();
            server.close();
            resolve(verdict);
          };
          sock.once('secureConnect', () => done('ok'));
          sock.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
        });
      });
    assert.equal(await connect(makeCert(), '127.0.0.1', 'localhost'), 'ok');
    assert.equal(await connect(makeCert(), '127.0.0.1'), 'ok');
    assert.equal(await connect(makeUntrustedCert(), '127.0.0.1', 'localhost'), 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  test('other host names go into the SAN as DNS or IP entries', () => {
    const c = makeCert(['mx.example.test', '::1']);
    assert.notEqual(c, makeCert());
    const san = new X509Certificate(c.cert).subjectAltName ?? '';
    assert.match(san, /DNS:mx\.example\.test/);
    assert.match(san, /IP Address:0:0:0:0:0:0:0:1/i);
  });
});

test('ensureBuilt() does not rebuild a fresh dist/: a rebuild while another test file runs the CLI breaks it mid-import', async () => {
  const fs = await import('node:fs');
  const { CLI, ensureBuilt } = await import('../pipeline/delivery-fixture.js');
  ensureBuilt(); // builds once if dist/ is really older than src/
  const before = fs.statSync(CLI).mtimeMs;
  ensureBuilt();
  assert.equal(fs.statSync(CLI).mtimeMs, before, 'dist/ was rebuilt although it was up to date');
});
