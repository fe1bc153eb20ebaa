// Dot-stuffing (RFC 5321 §4.5.2) of canonical CRLF messages: against an independent
// line-by-line oracle on random input split at random places, and end to end through
// SmtpTransport to a real smtp-server, which removes the stuffing again.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stuffDots } from '../../src/send/dot-stuff.js';
import { SmtpTransport } from '../../src/send/smtp.js';
import { parseTransportUrl } from '../../src/send/transport-url.js';
import { openGate } from '../helpers/gate.js';
import { prng } from '../helpers/prng.js';
import { startSmtpServer } from '../helpers/smtp-server.js';

/** The rule as written: every line that starts with "." gets one more. */
function oracle(text: string): string {
  return text
    .split('\r\n')
    .map((l) => (l.startsWith('.') ? `.${l}` : l))
    .join('\r\n');
}

function randomCanonical(rnd: () => number): string {
  const pieces = ['.', '..', 'a', ' ', '=2E', '\r\n', '\r\n.', '.\r\n', 'x.y', '\r\n.\r\n'];
  let s = '';
  const n = 1 + Math.floor(rnd() * 60);
  for (let i = 0; i < n; i++) s += pieces[Math.floor(rnd() * pieces.length)];
  return s;
}

/** stuffDots over `buf` cut into random chunks, as a stream would see it. */
function streamed(buf: Buffer, rnd: () => number): Buffer {
  const out: Buffer[] = [];
  let last: number | false = false;
  for (let at = 0; at < buf.length; ) {
    const len = 1 + Math.floor(rnd() * 8);
    const chunk = buf.subarray(at, at + len);
    out.push(stuffDots(chunk, last));
    last = chunk[chunk.length - 1];
    at += len;
  }
  return Buffer.concat(out);
}

test('a dot that starts a line is doubled, at the start, after CRLF and across chunk boundaries', () => {
  assert.equal(stuffDots(Buffer.from('.\r\nab\r\n..c\r\nd.e\r\n.'), false).toString(), '..\r\nab\r\n...c\r\nd.e\r\n..');
  assert.equal(stuffDots(Buffer.from('no dots here\r\n'), false).toString(), 'no dots here\r\n');
  assert.equal(stuffDots(Buffer.from('.x'), 0x0a).toString(), '..x', 'after a chunk that ended in CRLF');
  assert.equal(stuffDots(Buffer.from('.x'), 0x61).toString(), '.x', 'mid-line');
  assert.equal(stuffDots(Buffer.from('\n.x'), 0x0d).toString(), '\n..x', 'CR | LF. split between chunks');
  const rnd = prng(7);
  for (let i = 0; i < 2000; i++) {
    const s = randomCanonical(rnd);
    const want = oracle(s);
    assert.equal(stuffDots(Buffer.from(s), false).toString(), want, JSON.stringify(s));
    assert.equal(streamed(Buffer.from(s), rnd).toString(), want, `in chunks: ${JSON.stringify(s)}`);
  }
});

test('lines made of dots reach a real SMTP server intact', async () => {
  const server = await startSmtpServer();
  const transport = new SmtpTransport(parseTransportUrl(`smtp+plain://127.0.0.1:${server.port}`, process.cwd()) as never, { poolSize: 1 });
  try {
    const body = ['.', '..', '.hidden', 'a line', '. ', '...', ''].join('\r\n');
    const raw = Buffer.from(`From: a@example.com\r\nTo: b@example.com\r\nSubject: dots\r\n\r\n${body}`);
    const r = await transport.send({ envelope: { from: 'a@example.com', to: ['b@example.com'] }, raw, messageId: '<x@y>' }, openGate());
    assert.equal(r.status, 'sent', r.response);
    await server.waitForMessages(1);
    assert.equal(server.messages[0].raw.toString(), raw.toString(), 'the server un-stuffs to the very bytes we composed');
  } finally {
    await transport.close();
    await server.close();
  }
});
