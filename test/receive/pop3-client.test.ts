// The POP3 client against a scripted in-process server, for what a well-behaved Dovecot never
// does: a server without STLS, bytes injected after the STLS answer, a wrong password, a
// connection dropped in the middle of a message, terminators split across packets, lines
// that start with dots, and a message large enough that it must be streamed.
// (The same client against a real Dovecot is in dovecot.test.ts.)

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { makeCert } from '../helpers/certs.js';
import { Pop3Client, Pop3Error } from '../../src/receive/pop3-client.js';

interface FakeOptions {
  secure?: boolean;
  stls?: boolean;
  /** Bytes sent right after "+OK" to STLS, in the same write. */
  inject?: string;
  messages: string[];
  /** Split every RETR answer into writes of this many bytes. */
  chunk?: number;
  /** Destroy the socket after this many bytes of a RETR answer. */
  dropAfter?: number;
}

interface Fake {
  port: number;
  /** Commands as received, PASS masked; `[tls]` marks where the session became secure. */
  log: string[];
  /** Message numbers deleted by a QUIT. */
  expunged: number[];
  close(): Promise<void>;
}

const USER = 'bounces@acme.example';
const PASS = 'pa55 word';
const cert = makeCert();

function stuff(msg: string): string {
  const body = msg.replace(/\r?\n/g, '\r\n');
  return body.split('\r\n').map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n');
}

async function fakeServer(o: FakeOptions): Promise<Fake> {
  const log: string[] = [];
  const expunged: number[] = [];
  const sockets = new Set<net.Socket>();
  const serve = (raw: net.Socket) => {
    sockets.add(raw);
    let sock: net.Socket = raw;
    let buf = '';
    let user = '';
    let authed = false;
    const marked = new Set<number>();
    const write = async (s: string) => {
      if (!o.chunk) return void sock.write(s);
      for (let i = 0; i < s.length; i += o.chunk) {
        sock.write(s.slice(i, i + o.chunk));
        await new Promise((r) => setImmediate(r));
      }
    };
    const onData = async (d: Buffer) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const [cmd, ...args] = line.split(' ');
        log.push(cmd === 'PASS' ? 'PASS ***' : line);
        switch (cmd.toUpperCase()) {
          case 'CAPA':
            sock.write(`+OK\r\nUSER\r\nUIDL\r\n${o.stls ? 'STLS\r\n' : ''}.\r\n`);
            break;
          case 'STLS': {
            sock.write('+OK Begin TLS\r\n' + (o.inject ?? ''));
            sock.off('data', onData);
            const secure = new tls.TLSSocket(sock, { isServer: true, key: cert.key, cert: cert.cert });
            log.push('[tls]');
            sock = secure;
            secure.on('data', onData);
            secure.on('error', () => {});
            return;
          }
          case 'USER':
            user = args.join(' ');
            sock.write('+OK\r\n');
            break;
          case 'PASS':
            authed = user === USER && args.join(' ') === PASS;
            sock.write(authed ? '+OK logged in\r\n' : '-ERR [AUTH] Authentication failed.\r\n');
            break;
          case 'STAT':
            sock.write(`+OK ${o.messages.length} ${o.messages.reduce((n, m) => n + m.length, 0)}\r\n`);
            break;
          case 'LIST':
            sock.write(`+OK\r\n${o.messages.map((m, i) => `${i + 1} ${m.length}\r\n`).join('')}.\r\n`);
            break;
          case 'UIDL':
            sock.write(`+OK\r\n${o.messages.map((_, i) => `${i + 1} uid-${i + 1}\r\n`).join('')}.\r\n`);
            break;
          case 'RETR': {
            const m = o.messages[Number(args[0]) - 1];
            if (!m) {
              sock.write('-ERR no such message\r\n');
              break;
            }
            const answer = `+OK ${m.length} octets\r\n${stuff(m)}\r\n.\r\n`;
            if (o.dropAfter !== undefined) {
              sock.write(answer.slice(0, o.dropAfter));
              setTimeout(() => sock.destroy(), 20);
              return;
            }
            await write(answer);
            break;
          }
          case 'DELE':
            marked.add(Number(args[0]));
            sock.write('+OK marked\r\n');
            break;
          case 'QUIT':
            expunged.push(...marked);
            sock.end('+OK bye\r\n');
            break;
          default:
            sock.write('-ERR unknown command\r\n');
        }
      }
    };
    sock.on('data', onData);
    sock.on('error', () => {});
    sock.write('+OK POP3 ready\r\n');
  };
  const server = o.secure
    ? tls.createServer({ key: cert.key, cert: cert.cert }, (s) => serve(s))
    : net.createServer((s) => serve(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    log,
    expunged,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function connect(f: Fake, o: { secure?: boolean; pass?: string } = {}) {
  return Pop3Client.connect({ host: '127.0.0.1', port: f.port, secure: !!o.secure, user: USER, pass: o.pass ?? PASS, ca: cert.ca, timeoutMs: 5000 });
}

async function readAll(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

const DOTTY = 'Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n. \r\nlast';

test('implicit TLS: UIDL, LIST and RETR with byte-stuffed lines come back exactly', async () => {
  const f = await fakeServer({ secure: true, messages: [DOTTY, 'Subject: two\r\n\r\nhello'] });
  try {
    const c = await connect(f, { secure: true });
    assert.deepEqual(await c.uidl(), [
      { n: 1, uid: 'uid-1' },
      { n: 2, uid: 'uid-2' },
    ]);
    assert.deepEqual((await c.list()).map((x) => x.n), [1, 2]);
    assert.deepEqual(await c.stat(), { count: 2, size: DOTTY.length + 'Subject: two\r\n\r\nhello'.length });
    assert.equal(await readAll(await c.retr(1)), DOTTY + '\r\n');
    assert.equal(await readAll(await c.retr(2)), 'Subject: two\r\n\r\nhello\r\n');
    await c.quit();
  } finally {
    await f.close();
  }
});

test('the end of a message is found when every byte arrives in its own packet', async () => {
  const f = await fakeServer({ secure: true, messages: [DOTTY], chunk: 1 });
  try {
    const c = await connect(f, { secure: true });
    await c.uidl();
    assert.equal(await readAll(await c.retr(1)), DOTTY + '\r\n');
    assert.deepEqual(await c.stat(), { count: 1, size: DOTTY.length }, 'the session is still in step');
    await c.quit();
  } finally {
    await f.close();
  }
});

test('a large message is streamed in pieces, read slowly, and arrives intact', async () => {
  const line = 'x'.repeat(70);
  const big = `Subject: big\r\n\r\n${Array.from({ length: 60_000 }, (_, i) => (i % 100 === 0 ? `.${line}` : line)).join('\r\n')}`;
  const f = await fakeServer({ secure: true, messages: [big] });
  try {
    const c = await connect(f, { secure: true });
    await c.uidl();
    const stream = await c.retr(1);
    let pieces = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) {
      pieces++;
      chunks.push(chunk as Buffer);
      if (pieces % 20 === 0) await new Promise((r) => setTimeout(r, 1)); // a slow reader
    }
    assert.ok(pieces > 10, `streamed in ${pieces} pieces`);
    assert.equal(Buffer.concat(chunks).toString('latin1'), big + '\r\n');
    await c.quit();
  } finally {
    await f.close();
  }
});

test('STLS: the session is upgraded before USER and PASS', async () => {
  const f = await fakeServer({ stls: true, messages: ['Subject: a\r\n\r\nb'] });
  try {
    const c = await connect(f);
    assert.equal((await c.uidl()).length, 1);
    await c.quit();
    assert.deepEqual(f.log.slice(0, 5), ['CAPA', 'STLS', '[tls]', `USER ${USER}`, 'PASS ***']);
  } finally {
    await f.close();
  }
});

test('no STLS offered: refused before any credential is sent', async () => {
  const f = await fakeServer({ stls: false, messages: [] });
  try {
    await assert.rejects(connect(f), (e: unknown) => e instanceof Pop3Error && e.kind === 'tls' && /does not offer STLS/.test(e.message));
    assert.ok(!f.log.some((l) => /^(USER|PASS)/.test(l)), f.log.join(','));
  } finally {
    await f.close();
  }
});

test('bytes injected after the STLS answer: refused before any credential is sent', async () => {
  const f = await fakeServer({ stls: true, inject: '+OK injected\r\n', messages: [] });
  try {
    // Normally caught as bytes left over after "+OK"; should the two arrive apart, they
    // break the TLS handshake instead. Either way no credential leaves.
    await assert.rejects(connect(f), (e: unknown) => e instanceof Pop3Error && e.kind === 'tls');
    assert.ok(!f.log.some((l) => /^(USER|PASS)/.test(l)), f.log.join(','));
  } finally {
    await f.close();
  }
});

test('an untrusted certificate is refused', async () => {
  const f = await fakeServer({ secure: true, messages: [] });
  try {
    await assert.rejects(
      Pop3Client.connect({ host: '127.0.0.1', port: f.port, secure: true, user: USER, pass: PASS, timeoutMs: 5000 }),
      (e: unknown) => e instanceof Pop3Error && e.kind === 'tls',
    );
  } finally {
    await f.close();
  }
});

test('a wrong password is an auth error that does not contain the password', async () => {
  const f = await fakeServer({ secure: true, messages: [] });
  try {
    await assert.rejects(connect(f, { secure: true, pass: 'wrong-secret' }), (e: unknown) => {
      assert.ok(e instanceof Pop3Error && e.kind === 'auth', String(e));
      assert.match(e.message, /Authentication failed/);
      assert.doesNotMatch(e.message, /wrong-secret/);
      return true;
    });
  } finally {
    await f.close();
  }
});

test('a connection dropped in the middle of a message fails the reader', async () => {
  const f = await fakeServer({ secure: true, messages: ['Subject: cut\r\n\r\n' + 'y'.repeat(5000)], dropAfter: 300 });
  try {
    const c = await connect(f, { secure: true });
    await c.uidl();
    await assert.rejects(readAll(await c.retr(1)));
    c.destroy();
  } finally {
    await f.close();
  }
});

test('DELE takes effect at QUIT only', async () => {
  const f = await fakeServer({ secure: true, messages: ['a', 'b', 'c'] });
  try {
    const c1 = await connect(f, { secure: true });
    await c1.dele(2);
    c1.destroy(); // no QUIT: the server keeps everything
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(f.expunged, []);
    const c2 = await connect(f, { secure: true });
    await c2.dele(1);
    await c2.dele(3);
    await c2.quit();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(f.expunged.sort(), [1, 3]);
  } finally {
    await f.close();
  }
});
