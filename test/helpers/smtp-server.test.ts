// Proves the test SMTP server behaves like a relay and fails on cue, using nodemailer's own
// SMTP client (the one the smtp transport is built on) over real sockets on 127.0.0.1.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { makeCert, makeUntrustedCert } from './certs.js';
import { parse, startSmtpServer, type TestSmtpServer, type TestSmtpServerOptions } from './smtp-server.js';

type Client = InstanceType<typeof SMTPConnection>;
type ClientOptions = ConstructorParameters<typeof SMTPConnection>[0];
interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  command?: string;
  originalCode?: string;
}

const servers: TestSmtpServer[] = [];
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function server(opts: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const s = await startSmtpServer(opts);
  servers.push(s);
  return s;
}

async function connect(s: TestSmtpServer, opts: ClientOptions = {}): Promise<Client> {
  const c = new SMTPConnection({ host: s.host, port: s.port, socketTimeout: 3000, ...opts });
  clients.push(c);
  // A failure during the handshake (e.g. a certificate refused after STARTTLS) only arrives as
  // an 'error' event, never through connect()'s callback; later ones also reach the callbacks.
  c.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    c.connect((err) => (err ? reject(err) : resolve()));
  });
  return c;
}

function login(c: Client, user: string, pass: string): Promise<void> {
  return new Promise((resolve, reject) => c.login({ user, pass }, (err) => (err ? reject(err) : resolve())));
}

function send(c: Client, from: string, to: string[], body: string) {
  return new Promise<{ accepted: unknown[]; rejected: unknown[]; response: string }>((resolve, reject) =>
    c.send({ from, to }, body, (err, info) => (err ? reject(err) : resolve(info as never))),
  );
}

async function sendError(c: Client, from: string, to: string[], body: string): Promise<SmtpError> {
  try {
    await send(c, from, to, body);
  } catch (err) {
    return err as SmtpError;
  }
  assert.fail('send was expected to fail');
}

const MSG = 'From: a@example.test\r\nTo: b@example.test\r\nSubject: Hello\r\n\r\nBody line\r\n.leading dot\r\n';
const trust = { tls: { ca: makeCert().ca } };

describe('test SMTP server', () => {
  test('plaintext: records envelope, raw bytes (dot-unstuffed) and the connection', async () => {
    const s = await server({ starttls: false });
    const c = await connect(s, { ignoreTLS: true });
    const info = await send(c, 'a@example.test', ['b@example.test', 'C@example.test'], MSG);
    assert.match(info.response, /^250 /);
    assert.equal(s.messages.length, 1);
    const m = s.messages[0];
    assert.deepEqual(m.envelope, { from: 'a@example.test', to: ['b@example.test', 'C@example.test'] });
    assert.equal(m.raw.toString(), MSG);
    assert.equal(m.secure, false);
    assert.equal(m.connection, 1);
    assert.ok(Math.abs(m.at - Date.now()) < 5000, `at ${m.at}`);
    const parsed = await parse(m.raw);
    assert.equal(parsed.subject, 'Hello');
    assert.equal(s.connections, 1);
    assert.equal(s.openConnections, 1);
    c.quit();
  });

  test('STARTTLS with the test CA trusted', async () => {
    const s = await server();
    const c = await connect(s, { requireTLS: true, ...trust });
    await send(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(s.messages[0].secure, true);
  });

  test('STARTTLS refused when the server presents an untrusted certificate', async () => {
    const s = await server({ tls: makeUntrustedCert() });
    await assert.rejects(connect(s, { requireTLS: true, ...trust }), (err: SmtpError) => {
      // nodemailer reports the socket error; the certificate verdict is kept in originalCode.
      assert.equal(err.code, 'ESOCKET');
      assert.equal(err.originalCode, 'DEPTH_ZERO_SELF_SIGNED_CERT');
      return true;
    });
    assert.equal(s.messages.length, 0);
  });

  test('implicit TLS', async () => {
    const s = await server({ secure: true });
    assert.match(s.url, /^smtps:\/\/127\.0\.0\.1:\d+$/);
    const c = await connect(s, { secure: true, ...trust });
    await send(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(s.messages[0].secure, true);
  });

  test('AUTH: good credentials are recorded, bad ones get 535, none get 530', async () => {
    const s = await server({ secure: true, auth: { user: 'news@acme.test', pass: 's3cret' } });
    assert.match(s.url, /^smtps:\/\/news%40acme\.test:s3cret@127\.0\.0\.1:\d+$/);

    const good = await connect(s, { secure: true, ...trust });
    await login(good, 'news@acme.test', 's3cret');
    await send(good, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(s.messages[0].user, 'news@acme.test');

    const bad = await connect(s, { secure: true, ...trust });
    await assert.rejects(login(bad, 'news@acme.test', 'wrong'), (err: SmtpError) => {
      assert.equal(err.code, 'EAUTH');
      assert.equal(err.responseCode, 535);
      return true;
    });

    const anonymous = await connect(s, { secure: true, ...trust });
    const err = await sendError(anonymous, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(err.responseCode, 530);
    assert.equal(s.messages.length, 1);
  });

  test('scripted 451 on the first RCPT attempt, accepted on the second', async () => {
    const seen: string[] = [];
    const s = await server({
      starttls: false,
      script: (ctx) => {
        seen.push(`${ctx.phase}:${ctx.address ?? ctx.recipients.join(',')}:${ctx.attempt}`);
        if (ctx.phase === 'rcpt' && ctx.attempt === 1) return { code: 451, message: '4.3.0 try later' };
        return undefined;
      },
    });
    const c = await connect(s, { ignoreTLS: true });
    const err = await sendError(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(err.responseCode, 451);
    assert.match(err.message, /451 4\.3\.0 try later/);
    assert.equal(s.deliveries('b@example.test'), 0);

    await new Promise<void>((resolve, reject) => c.reset((e) => (e ? reject(e) : resolve())));
    await send(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(s.deliveries('b@example.test'), 1);
    assert.deepEqual(seen, [
      'mail:a@example.test:1',
      'rcpt:b@example.test:1',
      'mail:a@example.test:2',
      'rcpt:b@example.test:2',
      'data:b@example.test:1',
    ]);
  });

  test("'hang' leaves the client to time out", async () => {
    const s = await server({ starttls: false, script: (ctx) => (ctx.phase === 'mail' ? { action: 'hang' } : undefined) });
    const c = await connect(s, { ignoreTLS: true, socketTimeout: 300 });
    const started = Date.now();
    const err = await sendError(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(err.code, 'ETIMEDOUT');
    assert.ok(Date.now() - started >= 250, 'timed out too early');
    assert.equal(s.messages.length, 0);
  });

  test("'reset' at DATA reads the whole message, then drops the connection", async () => {
    const s = await server({ starttls: false, script: (ctx) => (ctx.phase === 'data' ? { action: 'reset' } : undefined) });
    const c = await connect(s, { ignoreTLS: true });
    const err = await sendError(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(err.code, 'ECONNECTION');
    assert.equal(err.responseCode, undefined);
    assert.equal(s.messages.length, 0);
    assert.equal(s.dropped.length, 1);
    assert.equal(s.dropped[0].raw.toString(), MSG);
  });

  test("'reset-before-dot' drops the connection before any of the message arrives", async () => {
    const s = await server({
      starttls: false,
      script: (ctx) => (ctx.phase === 'data' ? { action: 'reset-before-dot' } : undefined),
    });
    const c = await connect(s, { ignoreTLS: true });
    const err = await sendError(c, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(err.code, 'ECONNECTION');
    assert.equal(s.messages.length + s.dropped.length, 0);
  });

  test('421 after DATA closes the connection; a new one delivers', async () => {
    const s = await server({
      starttls: false,
      script: (ctx) => (ctx.phase === 'data' && ctx.attempt === 1 ? { code: 421 } : undefined),
    });
    const c1 = await connect(s, { ignoreTLS: true });
    const err = await sendError(c1, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(err.responseCode, 421);
    const c2 = await connect(s, { ignoreTLS: true });
    await send(c2, 'a@example.test', ['b@example.test'], MSG);
    assert.equal(s.messages.length, 1);
    assert.equal(s.messages[0].connection, 2);
    assert.equal(s.connections, 2);
  });

  test('maxRecipientsPerMessage answers 452 past the limit, the rest are delivered', async () => {
    const s = await server({ starttls: false, maxRecipientsPerMessage: 2 });
    const c = await connect(s, { ignoreTLS: true });
    const info = await send(c, 'a@example.test', ['x@example.test', 'y@example.test', 'z@example.test'], MSG);
    assert.deepEqual(info.accepted, ['x@example.test', 'y@example.test']);
    assert.deepEqual(info.rejected, ['z@example.test']);
    const rejectedErrors = (info as unknown as { rejectedErrors: SmtpError[] }).rejectedErrors;
    assert.equal(rejectedErrors[0].responseCode, 452);
    assert.match(rejectedErrors[0].message, /452 4\.5\.3 Too many recipients/);
    assert.deepEqual(s.messages[0].envelope.to, ['x@example.test', 'y@example.test']);
  });

  test('SIZE is advertised and an oversized message gets 552 and is not recorded', async () => {
    const s = await server({ starttls: false, size: 100 });
    const c = await connect(s, { ignoreTLS: true });
    const err = await sendError(c, 'a@example.test', ['b@example.test'], MSG + 'x'.repeat(200) + '\r\n');
    assert.equal(err.responseCode, 552);
    assert.equal(s.messages.length, 0);
    assert.equal(s.dropped.length, 1);
  });

  test('deliveries() counts per recipient, case-insensitively; waitForMessages resolves', async () => {
    const s = await server({ starttls: false });
    const c = await connect(s, { ignoreTLS: true });
    const waiting = s.waitForMessages(2, 2000);
    await send(c, 'a@example.test', ['one@example.test', 'two@example.test'], MSG);
    await send(c, 'a@example.test', ['One@Example.test'], MSG);
    await waiting;
    assert.equal(s.deliveries('one@example.test'), 2);
    assert.equal(s.deliveries('TWO@example.test'), 1);
    assert.equal(s.deliveries('three@example.test'), 0);
    await assert.rejects(s.waitForMessages(3, 50), /2 of 3 messages/);
  });

  test('peakConnections counts concurrent sessions; close() ends open ones', async () => {
    const s = await startSmtpServer({ starttls: false });
    const cs = await Promise.all([1, 2, 3].map(() => connect(s, { ignoreTLS: true })));
    assert.equal(s.peakConnections, 3);
    const closed = Promise.all(cs.map((c) => new Promise((r) => c.once('end', r))));
    await s.close();
    await closed;
  });
});
