// The dispatcher with a scripted fake Transport and a real journal: how a fatal error closes
// the gate for messages under way, how a partly delivered group message is retried for the rest
// only, how the bounded wait after a signal ends a hung message, and the error budget's pause.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Composed } from '../../src/compose/index.js';
import { lend } from '../../src/compose/message-memory.js';
import { Dispatcher, type Job } from '../../src/send/dispatcher.js';
import { ErrorBudget } from '../../src/send/error-budget.js';
import { RetryPolicy } from '../../src/send/retry.js';
import type { Gate, SendResult, Transport } from '../../src/send/transport.js';
import { ManualClock, systemClock } from '../../src/shared/clock.js';
import { MailcampError } from '../../src/shared/errors.js';
import { openJournal, type SqliteJournal } from '../../src/state/journal.js';
import { tmpDir } from '../helpers/tmp.js';

type Handler = (msg: Composed, gate: Gate) => Promise<SendResult>;

/** What a transport does with the gate: open before the envelope, hand over before the content. */
async function through(gate: Gate): Promise<void> {
  await gate.ready();
  await gate.open();
  gate.handOver();
}

class FakeTransport implements Transport {
  readonly description = 'fake';
  readonly calls: { to: string[] }[] = [];
  aborted = false;
  private abortHooks: (() => void)[] = [];
  constructor(private readonly handler: Handler) {}
  async open(): Promise<void> {}
  send(msg: Composed, gate: Gate): Promise<SendResult> {
    this.calls.push({ to: [...msg.envelope.to] });
    return this.handler(msg, gate);
  }
  async close(): Promise<void> {}
  abort(): void {
    this.aborted = true;
    for (const h of this.abortHooks.splice(0)) h();
  }
  onAbort(h: () => void): void {
    this.abortHooks.push(h);
  }
}

function setup(keys: string[]): SqliteJournal {
  const j = openJournal(tmpDir('mailcamp-dispatch-'));
  j.startRun('run1', 'fake');
  keys.forEach((k, i) => j.addPending({ key: k, row: i + 2, email: k, messageId: `<${k}>` }));
  return j;
}

function job(key: string, to: string[] = [key], pending?: boolean): Job {
  const msg: Composed = { envelope: { from: 'news@example.com', to }, raw: Buffer.from('Subject: x\r\n\r\nx\r\n'), messageId: `<${key}>` };
  return { key, row: 2, email: to.join(', '), build: async () => msg, attempts: 0, pending };
}

const retry = new RetryPolicy({ attempts: 3, initialDelayMs: 1000, maxDelayMs: 1000 });

/** One message at a time, and an error budget spent by the second failure. */
function pausingAfterTwo(t: Transport, j: SqliteJournal, markAhead?: number): Dispatcher {
  return new Dispatcher({
    transport: t,
    journal: j,
    concurrency: 1,
    retry,
    clock: systemClock,
    signal: new AbortController().signal,
    budget: new ErrorBudget({ failures: 2, fraction: false, window: 10 }),
    markAhead,
  });
}

describe('Dispatcher', () => {
  test('a fatal error closes the gate: a message under way is abandoned unsent, nothing new starts', async () => {
    const j = setup(['a', 'b', 'c']);
    let releaseB!: () => void;
    const bWaits = new Promise<void>((r) => (releaseB = r));
    const t = new FakeTransport(async (msg, gate) => {
      if (msg.envelope.to[0] === 'a') {
        await bWaits; // b is past its envelope, waiting for its turn to send content
        return { status: 'deferred', response: 'not sent: 535 bad credentials', fatal: new MailcampError('TRANSPORT', 'authentication failed: 535') };
      }
      await gate.ready();
      const durable = gate.open(); // b's envelope goes out
      releaseB();
      await new Promise((r) => setTimeout(r, 20));
      try {
        await durable;
        gate.handOver();
      } catch (e) {
        return { status: 'deferred', response: `not sent: ${(e as Error).message}`, notTried: true };
      }
      return { status: 'sent', response: '250 ok' };
    });
    const d = new Dispatcher({ transport: t, journal: j, concurrency: 2, retry, clock: systemClock, signal: new AbortController().signal });
    assert.equal(await d.submit(job('a')), true);
    assert.equal(await d.submit(job('b')), true);
    await d.drain();
    assert.match(d.fatal!.message, /authentication failed/);
    assert.equal(await d.submit(job('c')), false, 'no new work after a fatal error');
    const b = j.get('b')!;
    assert.deepEqual([b.status, b.attempts, b.response], ['deferred', 0, 'not sent: the run stopped']);
    assert.equal(j.get('a')!.status, 'deferred');
    assert.equal(j.get('c')!.status, 'pending');
    assert.equal(t.calls.length, 2);
    j.close();
  });

  test('a group message partly delivered is retried for the rest only, and the journal keeps who got it', async () => {
    const j = setup(['group:x']);
    const clock = new ManualClock();
    const t = new FakeTransport(async (msg, gate) => {
      await through(gate);
      if (t.calls.length === 1) return { status: 'deferred', response: '452 4.5.3 try later', delivered: ['A@example.com', 'b@example.com'] };
      return { status: 'sent', response: '250 ok', delivered: msg.envelope.to };
    });
    const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock, signal: new AbortController().signal });
    await d.submit(job('group:x', ['A@example.com', 'b@example.com', 'c@example.com']));
    const drained = d.drain();
    await new Promise((r) => setTimeout(r, 20));
    const mid = j.get('group:x')!;
    assert.deepEqual([mid.status, mid.delivered], ['deferred', ['a@example.com', 'b@example.com']]);
    await clock.runAll();
    await drained;
    assert.deepEqual(t.calls.map((c) => c.to), [['A@example.com', 'b@example.com', 'c@example.com'], ['c@example.com']]);
    const e = j.get('group:x')!;
    assert.deepEqual([e.status, e.attempts], ['sent', 2]);
    j.close();
  });

  test('a group message given up on says who was left and who an earlier attempt reached', async () => {
    const j = setup(['group:y']);
    const clock = new ManualClock();
    const t = new FakeTransport(async (msg, gate) => {
      await through(gate);
      if (t.calls.length === 1) return { status: 'deferred', response: '451 4.3.0 try later', delivered: ['chen@example.com'] };
      return { status: 'deferred', response: '451 4.3.0 try later' };
    });
    const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock, signal: new AbortController().signal });
    await d.submit(job('group:y', ['chen@example.com', 'dora@example.com']));
    const drained = d.drain();
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      await clock.runAll();
    }
    await drained;
    const e = j.get('group:y')!;
    assert.equal(e.status, 'failed');
    assert.equal(e.response, 'gave up after 3 attempts for dora@example.com: 451 4.3.0 try later; earlier attempts settled chen@example.com');
    j.close();
  });

  test('after a signal, a hung message gets graceMs, then its connection is dropped: unknown', async () => {
    const j = setup(['a']);
    const t = new FakeTransport(async (_msg, gate) => {
      await through(gate);
      await new Promise<void>((r) => t.onAbort(r)); // the server never answers the final dot
      return { status: 'unknown', response: 'EABORT: connection dropped: the run was stopped' };
    });
    const ac = new AbortController();
    const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock: systemClock, signal: ac.signal, graceMs: 150 });
    await d.submit(job('a'));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(j.get('a')!.status, 'sending');
    const t0 = Date.now();
    ac.abort(new Error('SIGTERM'));
    await d.drain();
    const took = Date.now() - t0;
    assert.ok(took >= 140 && took < 1000, `waited the grace period: ${took} ms`);
    assert.ok(t.aborted);
    assert.equal(j.get('a')!.status, 'unknown');
    j.close();
  });

  test('the error budget pauses the run and says why', async () => {
    const keys = ['a', 'b', 'c', 'd'];
    const j = setup(keys);
    const t = new FakeTransport(async () => ({ status: 'failed', response: '554 5.7.1 blocked' }));
    const d = pausingAfterTwo(t, j);
    const accepted: boolean[] = [];
    for (const k of keys) accepted.push(await d.submit(job(k)));
    await d.drain();
    assert.deepEqual(accepted, [true, true, false, false]);
    assert.equal(d.paused, '2 of the 2 messages so far failed (error_budget: 2 of 10)');
    assert.deepEqual(keys.map((k) => j.get(k)!.status), ['failed', 'failed', 'pending', 'pending']);
    j.close();
  });

  describe('marking ahead (markAhead)', () => {
    const keys = Array.from({ length: 40 }, (_, i) => `r${String(i).padStart(2, '0')}`);

    test('pending jobs are marked `sending` in batches ahead of their turn, each durable before its content', async () => {
      const j = setup(keys);
      const seen: string[] = [];
      const t = new FakeTransport(async (msg, gate) => {
        await gate.ready();
        await gate.open();
        // open() resolved: the mark is on disk (journal.test.ts), taken ahead or now.
        seen.push(`${msg.envelope.to[0]} ${j.get(msg.envelope.to[0])!.status}`);
        gate.handOver();
        await new Promise((r) => setTimeout(r, 1));
        return { status: 'sent', response: '250 ok' };
      });
      const d = new Dispatcher({ transport: t, journal: j, concurrency: 2, retry, clock: systemClock, signal: new AbortController().signal, markAhead: 6 });
      const commitsBefore = j.commits;
      let marks = 0;
      const markSending = j.markSending.bind(j);
      j.markSending = (ks: string[]) => {
        marks++;
        return markSending(ks);
      };
      for (const k of keys) assert.equal(await d.submit(job(k, [k], true)), true);
      await d.drain();
      assert.deepEqual(seen.sort(), keys.map((k) => `${k} sending`));
      assert.ok(marks <= keys.length / 3, `${marks} marks for ${keys.length} messages`);
      assert.ok(j.commits - commitsBefore < keys.length * 2.5, 'fewer commits than one mark, one content mark and one result per message');
      assert.deepEqual(keys.map((k) => [j.get(k)!.status, j.get(k)!.attempts]), keys.map(() => ['sent', 1]));
      j.close();
    });

    test('a stop puts the jobs marked ahead back to `pending`, their try not counted', async () => {
      const j = setup(keys);
      const ac = new AbortController();
      const t = new FakeTransport(async (msg, gate) => {
        await through(gate);
        if (msg.envelope.to[0] === 'r03') ac.abort(new Error('SIGTERM'));
        await new Promise((r) => setTimeout(r, 5));
        return { status: 'sent', response: '250 ok' };
      });
      const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock: systemClock, signal: ac.signal, markAhead: 6 });
      for (const k of keys) if (!(await d.submit(job(k, [k], true)))) break;
      await d.drain();
      const sent = keys.filter((k) => j.get(k)!.status === 'sent');
      assert.deepEqual(sent, ['r00', 'r01', 'r02', 'r03']);
      for (const k of keys.slice(4)) assert.deepEqual([k, j.get(k)!.status, j.get(k)!.attempts], [k, 'pending', 0]);
      j.close();
    });

    test('the error budget pause undoes the marks taken ahead too', async () => {
      const j = setup(keys);
      const t = new FakeTransport(async (_msg, gate) => {
        await through(gate);
        return { status: 'failed', response: '554 5.7.1 blocked' };
      });
      const d = pausingAfterTwo(t, j, 6);
      for (const k of keys) if (!(await d.submit(job(k, [k], true)))) break;
      await d.drain();
      assert.ok(d.paused);
      assert.deepEqual(keys.slice(0, 2).map((k) => j.get(k)!.status), ['failed', 'failed']);
      for (const k of keys.slice(2)) assert.deepEqual([k, j.get(k)!.status, j.get(k)!.attempts], [k, 'pending', 0]);
      j.close();
    });

    test('jobs not pending in the journal (deferred, unknown) are marked when they start, not ahead', async () => {
      const j = setup(keys.slice(0, 6));
      const statusAtStart: string[] = [];
      let go!: () => void;
      const allSubmitted = new Promise<void>((r) => (go = r));
      const t = new FakeTransport(async (msg, gate) => {
        await allSubmitted;
        statusAtStart.push(`${msg.envelope.to[0]} ${j.get(msg.envelope.to[0])!.status}`);
        await through(gate);
        await new Promise((r) => setTimeout(r, 2));
        return { status: 'sent', response: '250 ok' };
      });
      const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock: systemClock, signal: new AbortController().signal, markAhead: 6 });
      // r01 and r03 stand for deferred or unknown entries: not `pending`.
      for (const [i, k] of keys.slice(0, 6).entries()) await d.submit(job(k, [k], i !== 1 && i !== 3));
      go();
      await d.drain();
      assert.deepEqual(statusAtStart, ['r00 pending', 'r01 pending', 'r02 sending', 'r03 pending', 'r04 sending', 'r05 sending']);
      j.close();
    });
  });

  describe('building ahead (prebuild)', () => {
    const keys = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    /** A job whose build is counted, its message `bytes` long (or failing). */
    function counted(key: string, log: string[], bytes = 20, fail = false): Job {
      return {
        ...job(key, [key], true),
        build: async () => {
          log.push(`build ${key}`);
          if (fail) throw new MailcampError('INPUT', `${key}: the attachment is gone`);
          return { envelope: { from: 'news@example.com', to: [key] }, raw: Buffer.alloc(bytes, 0x41), messageId: `<${key}>` };
        },
      };
    }
    /** One message in flight, held until `release`; what happened, in order. */
    function held(j: SqliteJournal, log: string[], prebuild: number) {
      let release!: () => void;
      const go = new Promise<void>((r) => (release = r));
      const t = new FakeTransport(async (msg, gate) => {
        log.push(`send ${msg.envelope.to[0]} ${msg.raw.length}`);
        await go;
        await through(gate);
        return { status: 'sent', response: '250 ok' };
      });
      const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock: systemClock, signal: new AbortController().signal, markAhead: 8, prebuild });
      return { d, release };
    }
    const idle = () => new Promise((r) => setTimeout(r, 20));

    test('while the connection waits, jobs in line are built, up to `prebuild`, once each', async () => {
      const j = setup(keys);
      const log: string[] = [];
      const { d, release } = held(j, log, 3);
      for (const k of keys.slice(0, 8)) await d.submit(counted(k, log));
      await idle();
      // p00 in flight; p01–p03 built in line, the rest not yet.
      assert.deepEqual(log, ['build p00', 'send p00 20', 'build p01', 'build p02', 'build p03']);
      release();
      await d.drain();
      for (const k of keys.slice(0, 8)) {
        assert.equal(log.filter((l) => l === `build ${k}`).length, 1, `${k} built once`);
        assert.equal(j.get(k)!.status, 'sent');
      }
      assert.deepEqual(log.filter((l) => l.startsWith('send')), keys.slice(0, 8).map((k) => `send ${k} 20`), 'in order');
      j.close();
    });

    test('none ahead without prebuild; few ahead when the messages are large', async () => {
      for (const [prebuild, bytes, ahead] of [[0, 20, 0], [8, 3 * 1024 * 1024, 2]] as const) {
        const j = setup(keys);
        const log: string[] = [];
        const { d, release } = held(j, log, prebuild);
        for (const k of keys.slice(0, 8)) await d.submit(counted(k, log, bytes));
        await idle();
        // Built ahead: 3 MB, then 6 MB, reach the 4 MB cap after the second.
        assert.equal(log.filter((l) => l.startsWith('build')).length - 1, ahead, `prebuild ${prebuild}, ${bytes} bytes`);
        release();
        await d.drain();
        j.close();
      }
    });

    test('a message built ahead that fails fails its own job when its turn comes; the run goes on', async () => {
      const j = setup(keys);
      const log: string[] = [];
      const { d, release } = held(j, log, 3);
      for (const [i, k] of keys.slice(0, 4).entries()) await d.submit(counted(k, log, 20, i === 2));
      await idle();
      assert.ok(log.includes('build p02'), 'built ahead (and failed) before its turn');
      release();
      await d.drain();
      assert.deepEqual(keys.slice(0, 4).map((k) => j.get(k)!.status), ['sent', 'sent', 'failed', 'sent']);
      assert.match(j.get('p02')!.response!, /the attachment is gone/);
      j.close();
    });

    test('a run stopped with messages built ahead sends none of them, and leaves them pending', async () => {
      const j = setup(keys);
      const log: string[] = [];
      const ac = new AbortController();
      let release!: () => void;
      const go = new Promise<void>((r) => (release = r));
      const t = new FakeTransport(async (msg, gate) => {
        log.push(`send ${msg.envelope.to[0]}`);
        await go;
        await through(gate);
        return { status: 'sent', response: '250 ok' };
      });
      const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock: systemClock, signal: ac.signal, markAhead: 8, prebuild: 3 });
      for (const k of keys.slice(0, 6)) await d.submit(counted(k, log));
      await idle();
      assert.ok(log.includes('build p03'));
      ac.abort();
      release();
      await d.drain();
      assert.deepEqual(log.filter((l) => l.startsWith('send')), ['send p00']);
      assert.deepEqual(keys.slice(0, 6).map((k) => j.get(k)!.status), ['sent', 'pending', 'pending', 'pending', 'pending', 'pending']);
      j.close();
    });
  });

  for (const keepsNoContent of [false, true]) {
    test(`message memory: ${keepsNoContent ? 'a transport that keeps no content has it written over by later messages' : "a script's own transport keeps what it was given, intact"}`, async () => {
      const keys = ['m1', 'm2', 'm3', 'm4'];
      const j = setup(keys);
      const kept: Composed[] = [];
      const t = new FakeTransport(async (msg, gate) => {
        await through(gate);
        kept.push(msg);
        return { status: 'sent', response: '250 ok' };
      });
      Object.assign(t, { keepsNoContent });
      const d = new Dispatcher({ transport: t, journal: j, concurrency: 1, retry, clock: systemClock, signal: new AbortController().signal });
      const lentJob = (key: string): Job => ({
        key,
        row: 2,
        email: key,
        attempts: 0,
        build: async () => {
          // As compose() does: memory lent, every byte written (a size no other test lends).
          const raw = lend(123_457);
          raw.fill(key.charCodeAt(1));
          return { envelope: { from: 'news@example.com', to: [key] }, raw, messageId: `<${key}>` };
        },
      });
      for (const k of keys) await d.submit(lentJob(k));
      await d.drain();
      const memories = new Set(kept.map((m) => m.raw.buffer));
      if (keepsNoContent) assert.equal(memories.size, 1, 'one message at a time: each one written over the last');
      else {
        assert.equal(memories.size, keys.length);
        assert.deepEqual(kept.map((m) => m.raw.every((b) => b === m.messageId.charCodeAt(2))), [true, true, true, true], 'every message as it was built');
      }
      j.close();
    });
  }
});
