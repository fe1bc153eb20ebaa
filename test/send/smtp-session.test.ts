// The transaction writer used when the server offers PIPELINING (src/send/smtp-session.ts),
// through SmtpTransport as the dispatcher uses it: against smtp-server with and without
// PIPELINING (the same outcomes either way, one path ours and one nodemailer's), and against a
// hand-driven SMTP peer on a real socket for what smtp-server cannot be made to do: a 421 in
// reply to RSET, replies cut into single bytes and multi-line replies.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { Composed } from '../../src/compose/index.js';
import { give, lend } from '../../src/compose/message-memory.js';
import { SmtpTransport } from '../../src/send/smtp.js';
import { parseTransportUrl } from '../../src/send/transport-url.js';
import type { SendResult } from '../../src/send/transport.js';
import { openGate, refusingGate } from '../helpers/gate.js';
import { startSmtpServer } from '../helpers/smtp-server.js';

function message(to: string[], body = 'hello\r\n.\r\n..two dots\r\n'): Composed {
  const raw = Buffer.from(`From: a@example.com\r\nTo: ${to.join(', ')}\r\nSubject: t\r\n\r\n${body}`);
  return { envelope: { from: 'a@example.com', to }, raw, messageId: '<x@example.com>' } as Composed;
}

function transport(port: number, log: string[], more: { reconnectDelayMs?: number } = {}): SmtpTransport {
  const spec = parseTransportUrl(`smtp+plain://127.0.0.1:${port}?timeout=5s`, process.cwd());
  const logger = { info() {}, warn() {}, debug: (m: string) => log.push(m) };
  return new SmtpTransport(spec as never, { poolSize: 1, debug: true, logger, ...more });
}

describe('SMTP transactions with and without PIPELINING (issue 6)', () => {
  for (const pipelining of [true, false]) {
    test(`${pipelining ? 'PIPELINING: our writer' : 'no PIPELINING: nodemailer'}: refusals, RSET, dots, one connection`, async () => {
      const server = await startSmtpServer({
        starttls: false,
        pipelining,
        size: 1_000_000,
        script: (ctx) => (ctx.phase === 'rcpt' && ctx.address?.startsWith('nobody') ? { code: 550, message: '5.1.1 no such user' } : undefined),
      });
      const log: string[] = [];
      const t = transport(server.port, log);
      const gates = { group: openGate(), refused: openGate(), after: openGate() };
      try {
        await t.open();
        const group = await t.send(message(['b@example.com', 'nobody1@example.com']), gates.group);
        const refused = await t.send(message(['nobody2@example.com']), gates.refused);
        const after = await t.send(message(['c@example.com']), gates.after);
        assert.deepEqual([group.status, refused.status, after.status], ['sent', 'failed', 'sent'], JSON.stringify([group, refused, after]));
        assert.deepEqual(group.delivered, ['b@example.com']);
        assert.deepEqual(group.rejected?.map((r) => [r.address, r.code]), [['nobody1@example.com', 550]]);
        assert.match(refused.response, /^550 5\.1\.1 no such user/);
        assert.equal(refused.code, 550);
        assert.deepEqual(
          [gates.group.calls, gates.refused.calls, gates.after.calls],
          [['ready', 'open', 'handOver'], ['ready', 'open'], ['ready', 'open', 'handOver']],
          'the gate opens for every message, and hands over only a message that gets its 354',
        );
        assert.equal(server.connections, 1, 'a refused envelope leaves the session usable');
        assert.equal(server.messages.length, 2);
        assert.equal(server.messages[1].raw.toString(), message(['c@example.com']).raw.toString(), 'dot lines arrive as composed');
        assert.deepEqual(server.messages[0].envelope.to, ['b@example.com']);
        const ours = log.some((l) => /^<\d+ bytes of message content>$/.test(l));
        assert.equal(ours, pipelining, `our writer ${pipelining ? 'used' : 'not used'}:\n${log.join('\n')}`);
        if (pipelining) {
          assert.ok(log.includes('RSET'), 'RSET after the transaction that ended without content');
          assert.ok(log.some((l) => /^MAIL FROM:<a@example\.com> SIZE=\d+$/.test(l)), log.join('\n'));
        }
      } finally {
        await t.close();
        await server.close();
      }
    });
  }

  for (const pipelining of [true, false]) {
    for (const how of ['throws', 'rejects'] as const) {
      // Our writer refused before it wrote anything (open throws): the connection is as it was, and is used again.
      const reused = pipelining && how === 'throws';
      test(`a gate that refuses (open ${how}, ${pipelining ? 'our writer' : 'nodemailer'}): nothing of the message goes out, the next message gets ${reused ? 'the same' : 'a new'} connection`, async () => {
        const server = await startSmtpServer({ starttls: false, pipelining });
        const t = transport(server.port, []);
        try {
          const refused = await t.send(message(['b@example.com']), refusingGate(how));
          assert.deepEqual([refused.status, refused.notTried, refused.response], ['deferred', true, 'not sent: the run stopped']);
          const next = await t.send(message(['c@example.com']), openGate());
          assert.equal(next.status, 'sent', next.response);
          assert.equal(server.messages.length, 1);
          assert.deepEqual(server.messages[0].envelope.to, ['c@example.com']);
          assert.equal(server.dropped.length, 0, 'no content of the refused message reached the server');
          assert.equal(server.connections, reused ? 1 : 2);
        } finally {
          await t.close();
          await server.close();
        }
      });
    }
  }

  test('handOver that throws: the envelope went out, the content does not, the connection is dropped', async () => {
    const server = await startSmtpServer({ starttls: false });
    const t = transport(server.port, []);
    try {
      const refused = await t.send(message(['b@example.com']), {
        ready: async () => {},
        open: async () => {},
        handOver: () => {
          throw new Error('journal write failed: disk full');
        },
      });
      assert.deepEqual([refused.status, refused.notTried], ['deferred', true], refused.response);
      assert.match(refused.response, /disk full/);
      assert.equal(server.messages.length + server.dropped.length, 0);
      const next = await t.send(message(['c@example.com']), openGate());
      assert.equal(next.status, 'sent', next.response);
      assert.equal(server.connections, 2);
    } finally {
      await t.close();
      await server.close();
    }
  });
});

/**
 * A minimal SMTP peer on a real socket: EHLO offers PIPELINING, every command is answered by
 * `answer` (undefined: the usual reply), and every reply goes out one byte per write.
 */
async function startPeer(answer: (cmd: string) => string | undefined) {
  let connections = 0;
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const conn = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const reply = (s: string) => {
      for (const byte of Buffer.from(s)) socket.write(Buffer.from([byte]));
    };
    reply('220 peer ESMTP\r\n');
    let buf = '';
    let inData = false;
    let accepted = 0;
    socket.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end === -1) return;
          buf = buf.slice(end + 5);
          accepted = 0;
          inData = false;
          seen.push(`${conn}: <content>`);
          reply(answer('.') ?? '250 2.0.0 queued\r\n');
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i === -1) return;
        const cmd = buf.slice(0, i);
        buf = buf.slice(i + 2);
        seen.push(`${conn}: ${cmd}`);
        const verb = cmd.split(/[ :]/)[0].toUpperCase();
        const custom = answer(cmd);
        if (custom?.startsWith('421')) {
          // Closing: nothing after this command is executed or answered (RFC 5321 §3.8).
          reply(custom);
          socket.end();
          buf = '';
          return;
        }
        if (custom) {
          if (verb === 'RCPT' && custom.startsWith('2')) accepted++;
          reply(custom);
        } else if (verb === 'EHLO') reply('250-peer\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n');
        else if (verb === 'MAIL' || verb === 'RSET') {
          accepted = 0;
          reply('250 2.0.0 ok\r\n');
        } else if (verb === 'RCPT') {
          accepted++;
          reply('250 2.1.5 ok\r\n');
        } else if (verb === 'DATA' && !accepted) reply('554 5.5.1 no valid recipients\r\n');
        else if (verb === 'DATA') {
          reply('354 go ahead\r\n');
          inData = true;
        } else if (verb === 'QUIT') {
          reply('221 bye\r\n');
          socket.end();
        } else reply('250 2.0.0 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('SMTP transactions against a hand-driven peer (issue 6)', () => {
  test('replies one byte at a time and multi-line: read whole, matched in order', async () => {
    const peer = await startPeer((cmd) => (cmd.startsWith('RCPT') ? '250-first line\r\n250-second line\r\n250 2.1.5 ok\r\n' : undefined));
    const t = transport(peer.port, []);
    try {
      const results: SendResult[] = [];
      for (const to of [['b@example.com'], ['c@example.com', 'd@example.com']]) results.push(await t.send(message(to), openGate()));
      assert.deepEqual(
        results.map((r) => [r.status, r.response, r.delivered]),
        [
          ['sent', '250 2.0.0 queued', ['b@example.com']],
          ['sent', '250 2.0.0 queued', ['c@example.com', 'd@example.com']],
        ],
      );
      assert.equal(peer.seen.filter((l) => l.endsWith('<content>')).length, 2);
    } finally {
      await t.close();
      await peer.close();
    }
  });

  test('421 in reply to RSET: the next message was not executed, goes on a new connection and is sent once', async () => {
    const peer = await startPeer((cmd) => {
      if (cmd.startsWith('RCPT TO:<nobody')) return '550 5.1.1 no such user\r\n';
      if (cmd === 'RSET') return '421 4.3.2 closing\r\n';
      return undefined;
    });
    const t = transport(peer.port, [], { reconnectDelayMs: 50 });
    try {
      const refused = await t.send(message(['nobody@example.com']), openGate());
      assert.equal(refused.status, 'failed', refused.response);
      const gate = openGate();
      const next = await t.send(message(['b@example.com']), gate);
      assert.equal(next.status, 'sent', next.response);
      assert.equal(next.notTried, undefined);
      // Opened again on the new connection (the dispatcher's gate then returns the same
      // promise: one `sending`), handed over once.
      assert.deepEqual(gate.calls, ['ready', 'open', 'ready', 'open', 'handOver'], 'the first try was not an attempt');
      assert.equal(peer.connections, 2);
      const first = peer.seen.filter((l) => l.startsWith('1: '));
      const refusedSize = message(['nobody@example.com']).raw.length;
      assert.deepEqual(first.slice(-4), [`1: MAIL FROM:<a@example.com> SIZE=${refusedSize}`, '1: RCPT TO:<nobody@example.com>', '1: DATA', '1: RSET'], 'RSET before the next MAIL');
      const size = message(['b@example.com']).raw.length;
      assert.deepEqual(
        peer.seen.filter((l) => l.startsWith('2: ')).slice(-4),
        [`2: MAIL FROM:<a@example.com> SIZE=${size}`, '2: RCPT TO:<b@example.com>', '2: DATA', '2: <content>'],
      );
      assert.equal(peer.seen.filter((l) => l.endsWith('<content>')).length, 1);
    } finally {
      await t.close();
      await peer.close();
    }
  });

  describe('a second message waiting behind the first on a connection (RFC 2920)', () => {
    test('its envelope goes out with the first one\'s content, before the first one\'s 250 is read; both delivered on one connection', async () => {
      const peer = await startPeer(() => undefined);
      const log: string[] = [];
      const t = transport(peer.port, log);
      try {
        const [a, b] = await Promise.all([t.send(message(['a1@example.com']), openGate()), t.send(message(['b1@example.com']), openGate())]);
        assert.deepEqual([a.status, b.status], ['sent', 'sent'], `${a.response} ${b.response}`);
        assert.equal(peer.connections, 1);
        const firstDot = log.indexOf('.');
        const secondMail = log.findIndex((l, i) => i > firstDot && l.startsWith('MAIL FROM:'));
        const firstQueued = log.findIndex((l, i) => i > firstDot && l.startsWith('250 2.0.0 queued'));
        assert.ok(firstDot >= 0 && secondMail > firstDot && secondMail < firstQueued, log.join('\n'));
        assert.deepEqual(
          peer.seen.filter((l) => /MAIL|RCPT|DATA|content/.test(l)).map((l) => l.replace(/ SIZE=\d+/, '')),
          ['1: MAIL FROM:<a@example.com>', '1: RCPT TO:<a1@example.com>', '1: DATA', '1: <content>', '1: MAIL FROM:<a@example.com>', '1: RCPT TO:<b1@example.com>', '1: DATA', '1: <content>'],
        );
      } finally {
        await t.close();
        await peer.close();
      }
    });

    test('the first one refused at its final dot: the second is still delivered', async () => {
      let dots = 0;
      const peer = await startPeer((cmd) => (cmd === '.' && ++dots === 1 ? '554 5.7.1 content rejected\r\n' : undefined));
      const t = transport(peer.port, []);
      try {
        const [a, b] = await Promise.all([t.send(message(['a2@example.com']), openGate()), t.send(message(['b2@example.com']), openGate())]);
        assert.deepEqual([a.status, a.response, b.status], ['failed', '554 5.7.1 content rejected', 'sent']);
        assert.equal(peer.connections, 1);
      } finally {
        await t.close();
        await peer.close();
      }
    });

    test('the connection lost after the first one\'s content: the first is unknown, the second goes again on a new connection, once', async () => {
      const server = await startSmtpServer({
        starttls: false,
        script: (ctx) => (ctx.phase === 'data' && ctx.recipients[0] === 'a3@example.com' ? { action: 'reset' } : undefined),
      });
      const t = transport(server.port, [], { reconnectDelayMs: 20 });
      try {
        const gate = openGate();
        const [a, b] = await Promise.all([t.send(message(['a3@example.com']), openGate()), t.send(message(['b3@example.com']), gate)]);
        assert.equal(a.status, 'unknown', a.response);
        assert.deepEqual([b.status, b.notTried, b.serverFault], ['sent', undefined, undefined], b.response);
        assert.equal(server.deliveries('b3@example.com'), 1);
        assert.deepEqual(gate.calls.filter((c) => c === 'handOver'), ['handOver'], 'its content went out once');
        assert.equal(server.connections, 2);
      } finally {
        await t.close();
        await server.close();
      }
    });

    test('the first one ended without content (RCPT refused): RSET, then the second; once the run has stopped, it is left unsent', async () => {
      const peer = await startPeer((cmd) => (cmd.startsWith('RCPT TO:<nobody') ? '550 5.1.1 no such user\r\n' : undefined));
      const t = transport(peer.port, []);
      try {
        const [a, b] = await Promise.all([t.send(message(['nobody1@example.com']), openGate()), t.send(message(['b4@example.com']), openGate())]);
        assert.deepEqual([a.status, b.status], ['failed', 'sent'], `${a.response} ${b.response}`);
        assert.deepEqual(peer.seen.filter((l) => /RSET|RCPT/.test(l)), ['1: RCPT TO:<nobody1@example.com>', '1: RSET', '1: RCPT TO:<b4@example.com>']);

        let wanted = true;
        const stopping = { ...openGate(), stillWanted: () => wanted };
        const first = t.send(message(['nobody2@example.com']), { ...openGate(), stillWanted: () => true });
        const second = t.send(message(['b5@example.com']), stopping);
        const r1 = await first.then((r) => {
          wanted = false; // the run stops on the first one's failure (the error budget spent)
          return r;
        });
        const r2 = await second;
        assert.equal(r1.status, 'failed');
        assert.deepEqual([r2.status, r2.notTried, r2.response], ['deferred', true, 'not sent: the run stopped']);
        assert.ok(!peer.seen.includes('1: RCPT TO:<b5@example.com>'), 'nothing of it went out');
      } finally {
        await t.close();
        await peer.close();
      }
    });

    test('two waiting behind one that ended without content, once the run has stopped: both left unsent at once (no wait for a timeout)', async () => {
      const peer = await startPeer((cmd) => (cmd.startsWith('RCPT TO:<nobody') ? '550 5.1.1 no such user\r\n' : undefined));
      const t = transport(peer.port, []);
      try {
        let wanted = true;
        const gate = () => ({ ...openGate(), stillWanted: () => wanted });
        const t0 = Date.now();
        const first = t.send(message(['nobody3@example.com']), gate()).then((r) => {
          wanted = false;
          return r;
        });
        const rest = [t.send(message(['b6@example.com']), gate()), t.send(message(['b7@example.com']), gate())];
        const [r1, r2, r3] = await Promise.all([first, ...rest]);
        assert.equal(r1.status, 'failed');
        assert.deepEqual([r2, r3].map((r) => [r.status, r.notTried]), [['deferred', true], ['deferred', true]]);
        assert.ok(Date.now() - t0 < 2000, `settled in ${Date.now() - t0} ms (the timeout is 5 s)`);
        assert.ok(!peer.seen.some((l) => /b6|b7/.test(l)), peer.seen.join('\n'));
      } finally {
        await t.close();
        await peer.close();
      }
    });

    test('nothing waits behind a group message: it may need another transaction (452), and must not leave two messages in doubt', async () => {
      let rcpts = 0;
      const peer = await startPeer((cmd) => {
        if (cmd.startsWith('MAIL')) rcpts = 0;
        if (cmd.startsWith('RCPT') && ++rcpts > 1) return '452 4.5.3 too many recipients\r\n';
        return undefined;
      });
      const t = transport(peer.port, []);
      try {
        const [g, s2] = await Promise.all([t.send(message(['g1@example.com', 'g2@example.com']), openGate()), t.send(message(['s1@example.com']), openGate())]);
        assert.deepEqual([g.status, s2.status], ['sent', 'sent'], `${g.response} ${s2.response}`);
        const order = peer.seen.filter((l) => /RCPT|content/.test(l));
        assert.deepEqual(order, ['1: RCPT TO:<g1@example.com>', '1: RCPT TO:<g2@example.com>', '1: <content>', '1: RCPT TO:<g2@example.com>', '1: <content>', '1: RCPT TO:<s1@example.com>', '1: <content>'], peer.seen.join('\n'));
      } finally {
        await t.close();
        await peer.close();
      }
    });
  });
});

describe('message memory and the socket (issue 6)', () => {
  test('a server that answers before it has read the content: the memory is not written over until the socket has written it', async () => {
    // Loopback takes megabytes from a peer that does not read: a first message of 6 MB (memory of
    // its own) fills it, so the second one, lent, is still being written when its 250 comes.
    const lines = (n: number, ch: string) => `${ch.repeat(78)}\r\n`.repeat(n);
    const text1 = `From: a@example.com\r\nTo: b@example.com\r\nSubject: one\r\n\r\n${lines(75_000, 'a')}`;
    const text2 = `From: a@example.com\r\nTo: c@example.com\r\nSubject: two\r\n\r\n${lines(11_000, 'b')}`;
    const raw2 = lend(Buffer.byteLength(text2));
    raw2.write(text2);
    let received = Buffer.alloc(0);
    let done = false;
    let socketOf: net.Socket | undefined;
    let paused = false;
    const server = net.createServer((socket) => {
      socketOf = socket;
      socket.on('error', () => {});
      socket.write('220 peer ESMTP\r\n');
      let line = '';
      let inData = false;
      socket.on('data', (chunk) => {
        if (inData) {
          received = Buffer.concat([received, chunk]);
          if (received.indexOf('\r\nQUIT\r\n') !== -1) socket.end('221 bye\r\n');
          if (received.length === chunk.length) {
            // Content has begun: the first message's 250, the second one's envelope and 354, then
            // nothing more is read until the test says so; the second one's 250 comes before.
            socket.write('250 2.0.0 one queued\r\n250 2.0.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n');
            socket.pause();
            paused = true;
            setTimeout(() => socket.write('250 2.0.0 two queued before reading\r\n'), 250);
          }
          return;
        }
        line += chunk.toString('latin1');
        for (let i = line.indexOf('\r\n'); i !== -1 && !inData; i = line.indexOf('\r\n')) {
          const cmd = line.slice(0, i);
          line = line.slice(i + 2);
          const verb = cmd.split(/[ :]/)[0].toUpperCase();
          if (verb === 'EHLO') socket.write('250-peer\r\n250-PIPELINING\r\n250 SIZE 100000000\r\n');
          else if (verb === 'DATA') {
            socket.write('354 go ahead\r\n');
            inData = true;
            if (line) socket.emit('data', Buffer.from(line, 'latin1'));
          } else socket.write('250 2.0.0 ok\r\n');
        }
      });
      socket.on('end', () => (done = true));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const t = transport((server.address() as net.AddressInfo).port, []);
    try {
      const msg = (raw: Buffer, to: string) => ({ envelope: { from: 'a@example.com', to: [to] }, raw, messageId: '<x@example.com>' }) as Composed;
      const [r1, r2] = await Promise.all([t.send(msg(Buffer.from(text1), 'b@example.com'), openGate()), t.send(msg(raw2, 'c@example.com'), openGate())]);
      assert.deepEqual([r1.status, r2.status], ['sent', 'sent'], `${r1.response} ${r2.response}`);
      assert.ok(paused && received.length < text1.length, 'the server has not read the messages yet');
      // What the dispatcher does once send() resolved; then the next message of that size is written.
      give(raw2);
      const next = lend(raw2.length);
      assert.notEqual(next.buffer, raw2.buffer, 'memory the socket still writes is not lent');
      next.fill(0x58);
      socketOf!.resume();
      await t.close();
      while (!done) await new Promise((r) => setTimeout(r, 20));
      const all = received.toString('latin1');
      const second = all.slice(all.indexOf('\r\n.\r\n') + 5);
      assert.equal(second.slice(second.indexOf('DATA\r\n') + 6, second.indexOf('\r\n.\r\n') + 2), text2, 'the second message arrived as it was composed');
      // Its write done, the memory is reused.
      const later = lend(raw2.length);
      assert.equal(later.buffer, raw2.buffer, 'given back once the socket wrote it');
      give(next);
      give(later);
    } finally {
      socketOf?.destroy();
      await t.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
