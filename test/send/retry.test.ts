// Retry policy (backoff bounds, attempt counting) and SMTP error classification: a table of
// error shapes as nodemailer builds them, then the same verdicts on errors produced for real by
// nodemailer's SMTPConnection against the test server.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { RetryPolicy, classifySmtpError, needsReconnect, type SmtpOutcome } from '../../src/send/retry.js';
import { makeCert, makeUntrustedCert } from '../helpers/certs.js';
import { startSmtpServer, type TestSmtpServer, type TestSmtpServerOptions } from '../helpers/smtp-server.js';

describe('RetryPolicy', () => {
  const policy = (random: () => number) =>
    new RetryPolicy({ attempts: 5, initialDelayMs: 2000, maxDelayMs: 300_000 }, random);

  test('delay doubles per failure, with jitter that only adds: [base, 1.5 base], never over maxDelay', () => {
    const low = policy(() => 0);
    const high = policy(() => 0.999999999);
    const bases = [2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000];
    bases.forEach((base, i) => {
      assert.equal(low.delayFor(i + 1), base, `low, attempt ${i + 1}`);
      assert.equal(high.delayFor(i + 1), Math.min(300_000, base * 1.5), `high, attempt ${i + 1}`);
    });
    assert.equal(policy(() => 0.5).delayFor(1), 2500);
  });

  test('never exceeds maxDelay and never drops below initialDelay (or maxDelay once capped), even for huge attempts', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const p = policy(rnd);
    for (let attempt = 1; attempt <= 2000; attempt++) {
      const d = p.delayFor(attempt);
      assert.ok(Number.isInteger(d), `integer ms, attempt ${attempt}`);
      assert.ok(d <= 300_000, `attempt ${attempt}: ${d}`);
      assert.ok(d >= 2000, `attempt ${attempt}: ${d}`);
      if (attempt >= 9) assert.equal(d, 300_000, `attempt ${attempt}`);
    }
  });

  test('jitter actually varies the delay', () => {
    const p = new RetryPolicy({ attempts: 3, initialDelayMs: 1000, maxDelayMs: 60_000 });
    const seen = new Set(Array.from({ length: 50 }, () => p.delayFor(3)));
    assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
    for (const d of seen) assert.ok(d >= 4000 && d <= 6000, `delay ${d}`);
  });

  test('maxDelay below initialDelay caps the first delay too', () => {
    const p = new RetryPolicy({ attempts: 3, initialDelayMs: 10_000, maxDelayMs: 1000 }, () => 1);
    assert.equal(p.delayFor(1), 1000);
  });

  test('attempts counts the first try: attempts 5 allows four retries', () => {
    const p = policy(Math.random);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => p.shouldRetry(n)), [true, true, true, true, true, false, false]);
    const once = new RetryPolicy({ attempts: 1, initialDelayMs: 1, maxDelayMs: 1 });
    assert.equal(once.shouldRetry(1), false);
  });

  test('rejects nonsense', () => {
    assert.throws(() => new RetryPolicy({ attempts: 0, initialDelayMs: 1, maxDelayMs: 1 }), RangeError);
    assert.throws(() => new RetryPolicy({ attempts: 1.5, initialDelayMs: 1, maxDelayMs: 1 }), RangeError);
    assert.throws(() => new RetryPolicy({ attempts: 2, initialDelayMs: -1, maxDelayMs: 1 }), RangeError);
    assert.throws(() => new RetryPolicy({ attempts: 2, initialDelayMs: NaN, maxDelayMs: 1 }), RangeError);
    assert.throws(() => policy(Math.random).delayFor(0), RangeError);
  });
});

/** An error the way nodemailer's _formatError builds it. */
function smtpError(code: string, response?: string, command?: string, originalCode?: string): Error {
  const err = new Error('x') as Error & Record<string, unknown>;
  err.code = code;
  if (originalCode) err.originalCode = originalCode;
  if (response) {
    err.response = response;
    err.responseCode = Number(response.slice(0, 3));
  }
  if (command) err.command = command;
  return err;
}

describe('classifySmtpError', () => {
  const table: [string, unknown, SmtpOutcome, SmtpOutcome?][] = [
    // [name, error, verdict, verdict with afterFinalDot (default: same)]
    ['550 at RCPT', smtpError('EENVELOPE', '550 5.1.1 No such user', 'RCPT TO'), 'failed'],
    ['552 after DATA', smtpError('EMESSAGE', '552 5.3.4 Message too big', 'DATA'), 'failed'],
    ['554 after the dot', smtpError('EMESSAGE', '554 5.7.1 Spam', 'DATA'), 'failed'],
    ['553 at MAIL FROM', smtpError('EENVELOPE', '553 5.7.1 Sender not allowed', 'MAIL FROM'), 'failed'],
    ['503 bad sequence', smtpError('EENVELOPE', '503 5.5.1 Error: need MAIL command', 'RCPT TO'), 'deferred'],
    ['451 at RCPT', smtpError('EENVELOPE', '451 4.3.0 try later', 'RCPT TO'), 'deferred'],
    ['452 too many recipients', smtpError('EENVELOPE', '452 4.5.3 Too many recipients', 'RCPT TO'), 'deferred'],
    ['450 greylisted', smtpError('EENVELOPE', '450 4.2.0 Greylisted', 'RCPT TO'), 'deferred'],
    ['451 after the dot', smtpError('EMESSAGE', '451 4.3.0 Local error', 'DATA'), 'deferred', 'deferred'],
    ['421 at MAIL FROM', smtpError('EENVELOPE', '421 4.7.0 Too many connections', 'MAIL FROM'), 'deferred'],
    ['421 then close (ECONNECTION)', smtpError('ECONNECTION', '421 4.3.2 Shutting down', 'CONN'), 'deferred', 'deferred'],
    ['421 greeting', smtpError('EPROTOCOL', '421 4.3.2 Busy', 'CONN'), 'deferred'],
    ['554 greeting refuses the session', smtpError('EPROTOCOL', '554 5.7.1 Go away', 'CONN'), 'fatal'],
    ['EHLO refused', smtpError('EPROTOCOL', '550 5.7.1 No', 'EHLO'), 'fatal'],
    ['535 bad credentials', smtpError('EAUTH', '535 5.7.8 Authentication credentials invalid', 'AUTH PLAIN'), 'fatal'],
    ['530 auth required at MAIL', smtpError('EENVELOPE', '530 5.7.0 Authentication required', 'MAIL FROM'), 'fatal'],
    ['530 STARTTLS first', smtpError('EENVELOPE', '530 5.7.0 Must issue a STARTTLS command first', 'MAIL FROM'), 'fatal'],
    ['534 mechanism too weak', smtpError('EAUTH', '534 5.7.9 Authentication mechanism is too weak', 'AUTH LOGIN'), 'fatal'],
    ['538 encryption required', smtpError('EENVELOPE', '538 5.7.11 Encryption required', 'MAIL FROM'), 'fatal'],
    ['EAUTH without a reply', smtpError('EAUTH', undefined, 'API'), 'fatal'],
    ['ENOAUTH', smtpError('ENOAUTH', undefined, 'API'), 'fatal'],
    ['ETLS', smtpError('ETLS', undefined, 'STARTTLS'), 'fatal'],
    ['STARTTLS refused 454', smtpError('ETLS', '454 4.7.0 TLS not available', 'STARTTLS'), 'fatal'],
    ['EREQUIRETLS', smtpError('EREQUIRETLS', undefined, 'MAIL FROM'), 'fatal'],
    ['self-signed via ESOCKET', smtpError('ESOCKET', undefined, 'CONN', 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'fatal', 'fatal'],
    ['raw DEPTH_ZERO_SELF_SIGNED_CERT', smtpError('DEPTH_ZERO_SELF_SIGNED_CERT'), 'fatal'],
    ['SELF_SIGNED_CERT_IN_CHAIN', smtpError('ESOCKET', undefined, 'CONN', 'SELF_SIGNED_CERT_IN_CHAIN'), 'fatal'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', smtpError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'fatal'],
    ['CERT_HAS_EXPIRED', smtpError('ESOCKET', undefined, 'CONN', 'CERT_HAS_EXPIRED'), 'fatal'],
    ['hostname mismatch', smtpError('ESOCKET', undefined, 'CONN', 'ERR_TLS_CERT_ALTNAME_INVALID'), 'fatal'],
    ['TLS to a plaintext port', smtpError('ESOCKET', undefined, 'CONN', 'ERR_SSL_WRONG_VERSION_NUMBER'), 'fatal'],
    ['ECONFIG', smtpError('ECONFIG'), 'fatal'],
    ['ECONNECTION', smtpError('ECONNECTION', undefined, 'CONN'), 'deferred', 'unknown'],
    ['ECONNREFUSED via ESOCKET', smtpError('ESOCKET', undefined, 'CONN', 'ECONNREFUSED'), 'deferred', 'deferred'],
    ['ECONNRESET via ESOCKET', smtpError('ESOCKET', undefined, 'CONN', 'ECONNRESET'), 'deferred', 'unknown'],
    ['ETIMEDOUT', smtpError('ETIMEDOUT', undefined, 'CONN'), 'deferred', 'unknown'],
    ['EDNS', smtpError('EDNS', undefined, 'CONN', 'ENOTFOUND'), 'deferred'],
    ['EPROTOCOL without a code', smtpError('EPROTOCOL', undefined, 'CONN'), 'deferred', 'unknown'],
    ['EABORT', smtpError('EABORT', undefined, 'API'), 'deferred', 'unknown'],
    ['client-side size check', smtpError('EMESSAGE', undefined, 'MAIL FROM'), 'failed'],
    ['invalid recipient (client-side)', smtpError('EENVELOPE', undefined, 'API'), 'failed'],
    ['message stream error', smtpError('ESTREAM', undefined, 'API'), 'failed'],
    ['plain Error', new Error('boom'), 'deferred', 'unknown'],
    ['not an error at all', 'string thrown', 'deferred', 'unknown'],
    ['null', null, 'deferred', 'unknown'],
  ];

  for (const [name, err, verdict, afterDot] of table) {
    test(`${name} → ${verdict}${afterDot && afterDot !== verdict ? ` (after the dot: ${afterDot})` : ''}`, () => {
      assert.equal(classifySmtpError(err), verdict);
      assert.equal(classifySmtpError(err, { afterFinalDot: true }), afterDot ?? verdict);
    });
  }

  test('needsReconnect: 421 and broken connections, not ordinary rejections', () => {
    assert.equal(needsReconnect(smtpError('EENVELOPE', '421 4.7.0 bye', 'MAIL FROM')), true);
    assert.equal(needsReconnect(smtpError('ECONNECTION', undefined, 'CONN')), true);
    assert.equal(needsReconnect(smtpError('ETIMEDOUT', undefined, 'CONN')), true);
    assert.equal(needsReconnect(smtpError('EENVELOPE', '451 4.3.0 later', 'RCPT TO')), false);
    assert.equal(needsReconnect(smtpError('EMESSAGE', '550 no', 'DATA')), false);
    assert.equal(needsReconnect(undefined), false);
  });
});

describe('classifySmtpError on real nodemailer errors', () => {
  type Client = InstanceType<typeof SMTPConnection>;
  const servers: TestSmtpServer[] = [];
  const clients: Client[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  /** Connects, optionally logs in, sends one message; resolves with the error (or null). */
  async function attempt(
    opts: TestSmtpServerOptions,
    client: ConstructorParameters<typeof SMTPConnection>[0] = {},
    auth?: { user: string; pass: string },
  ): Promise<unknown> {
    const s = await startSmtpServer(opts);
    servers.push(s);
    const c = new SMTPConnection({ host: s.host, port: s.port, tls: { ca: makeCert().ca }, ...client });
    clients.push(c);
    c.on('error', () => {});
    return new Promise((resolve) => {
      c.once('error', resolve);
      c.connect((err) => {
        if (err) return resolve(err);
        const go = () => c.send({ from: 'a@example.test', to: ['b@example.test'] }, 'Subject: x\r\n\r\nx\r\n', (e) => resolve(e));
        if (!auth) return go();
        c.login(auth, (e) => (e ? resolve(e) : go()));
      });
    });
  }

  test('the verdicts hold for what SMTPConnection really throws', async () => {
    const rcpt = (reply: { code: number; message: string }) => ({
      starttls: false,
      script: (ctx: { phase: string }) => (ctx.phase === 'rcpt' ? reply : undefined),
    });
    const plain = { ignoreTLS: true };
    const cases: [string, Promise<unknown>, SmtpOutcome, boolean?][] = [
      ['550 rcpt', attempt(rcpt({ code: 550, message: '5.1.1 No such user' }), plain), 'failed'],
      ['451 rcpt', attempt(rcpt({ code: 451, message: '4.3.0 later' }), plain), 'deferred'],
      ['421 rcpt', attempt(rcpt({ code: 421, message: '4.3.2 bye' }), plain), 'deferred'],
      ['untrusted cert, STARTTLS', attempt({ tls: makeUntrustedCert() }, { requireTLS: true }), 'fatal'],
      ['untrusted cert, implicit TLS', attempt({ secure: true, tls: makeUntrustedCert() }, { secure: true }), 'fatal'],
      ['wrong name', attempt({ secure: true }, { secure: true, tls: { ca: makeCert().ca, servername: 'other.test' } }), 'fatal'],
      [
        'bad password',
        attempt({ secure: true, auth: { user: 'u', pass: 'p' } }, { secure: true }, { user: 'u', pass: 'nope' }),
        'fatal',
      ],
      ['no login', attempt({ secure: true, auth: { user: 'u', pass: 'p' } }, { secure: true }), 'fatal'],
      [
        'reset after the dot',
        attempt({ starttls: false, script: (c) => (c.phase === 'data' ? { action: 'reset' } : undefined) }, plain),
        'unknown',
        true,
      ],
      [
        'reset before the dot',
        attempt({ starttls: false, script: (c) => (c.phase === 'data' ? { action: 'reset-before-dot' } : undefined) }, plain),
        'deferred',
      ],
      [
        'server hangs',
        attempt({ starttls: false, script: (c) => (c.phase === 'mail' ? { action: 'hang' } : undefined) }, { ...plain, socketTimeout: 200 }),
        'deferred',
      ],
    ];
    for (const [name, promise, verdict, afterFinalDot] of cases) {
      const err = await promise;
      assert.ok(err, `${name}: expected an error`);
      assert.equal(classifySmtpError(err, { afterFinalDot }), verdict, `${name}: ${String(err)}`);
    }
  });
});
