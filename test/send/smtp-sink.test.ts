// Issue 3 acceptance 3: the fault handling proven against a server we did not write, Postfix's
// smtp-sink (Debian package postfix; .ci/run installs it). Its fault options act on every
// command of a kind: -r CMD answers 4xx, -f CMD 5xx, -Q CMD 421 and disconnect, -q CMD
// disconnect without a reply, -W CMD:SECONDS answers late. With -d it writes every message it
// received in full to a file, whose X-Rcpt-Args lines count deliveries per recipient.
//
// Same expectations as the smtp-server tests: 4yz → deferred, retried, failed once the retries
// are used up; 5yz → failed at once; 421 → deferred, never unknown; silence after the final dot
// → unknown and not sent again; a drop before the dot → deferred, then sent once the server is
// back; 535 → exit 3 with nothing sent and no secret printed.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { freePort, waitForPort } from '../helpers/net.js';
import { address as A, type Fixture, makeCampaign, states } from '../pipeline/delivery-fixture.js';

const SMTP_SINK = '/usr/sbin/smtp-sink';
const missing = !fs.existsSync(SMTP_SINK);
const skip = missing ? `${SMTP_SINK} not found: install Debian's postfix package (.ci/run does)` : false;


class Sink {
  private out = '';
  private constructor(
    readonly port: number,
    readonly dumps: string,
    private readonly proc: ChildProcess,
  ) {
    proc.stdout!.setEncoding('latin1');
    proc.stdout!.on('data', (s: string) => (this.out = (this.out + s).slice(-400)));
  }

  /** Starts `smtp-sink -c -d DIR/m. [faults] 127.0.0.1:PORT 100` and waits until it accepts. */
  static async start(faults: string[], port?: number, dumps = tmpDir('mailcamp-sink-')): Promise<Sink> {
    port ??= await freePort();
    fs.chmodSync(dumps, 0o777); // smtp-sink writes as the user it drops to
    const args = ['-c', '-d', `${dumps}/m.`, ...faults];
    if (process.getuid?.() === 0) args.unshift('-u', 'nobody'); // as root it insists on dropping privileges
    const proc = spawn(SMTP_SINK, [...args, `127.0.0.1:${port}`, '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d) => (err += d));
    const sink = new Sink(port, dumps, proc);
    await waitForPort(port, { intervalMs: 20, what: 'smtp-sink', failed: () => (proc.exitCode !== null ? `smtp-sink exited: ${err}` : undefined) });
    // The probe above counts as a session; sessions() subtracts it.
    while (sink.counter('sess') < 1) await new Promise((r) => setTimeout(r, 5));
    return sink;
  }

  private counter(name: string): number {
    const all = [...this.out.matchAll(new RegExp(`${name}=(\\d+)`, 'g'))];
    return all.length ? Number(all[all.length - 1][1]) : 0;
  }

  /** SMTP sessions mailcamp opened (the readiness probe not counted). */
  sessions(): number {
    return this.counter('sess') - 1;
  }

  /** Messages received in full (final dot included), per envelope recipient. */
  deliveries(addr: string): number {
    let n = 0;
    for (const f of fs.readdirSync(this.dumps)) {
      const text = fs.readFileSync(path.join(this.dumps, f), 'latin1');
      if (text.split('\n').some((l) => l.trim() === `X-Rcpt-Args: <${addr}>`)) n++;
    }
    return n;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    await new Promise((r) => this.proc.once('exit', r));
  }
}

async function withSink(faults: string[], fn: (s: Sink) => Promise<void>): Promise<void> {
  const sink = await Sink.start(faults);
  try {
    await fn(sink);
  } finally {
    await sink.stop();
  }
}

function send(f: Fixture, sink: Sink, opts: { query?: string; user?: string; env?: Record<string, string>; more?: string[] } = {}) {
  const cred = opts.user ? `${opts.user}@` : '';
  const url = `smtp+plain://${cred}127.0.0.1:${sink.port}${opts.query ?? ''}`;
  return runCli(['send', f.campaign, '--transport', url, '--yes', ...(opts.more ?? [])], { cwd: f.dir, env: opts.env });
}

describe('against Postfix smtp-sink (issue 3)', { skip }, () => {
  test('no fault: every recipient delivered once, exit 0', async () => {
    const f = makeCampaign({ n: 5 });
    await withSink([], async (sink) => {
      const r = await send(f, sink);
      assert.equal(r.code, 0, r.stderr);
      for (const e of f.emails) assert.equal(sink.deliveries(e), 1, e);
      for (const [, x] of await states(f)) assert.deepEqual([x.status, x.attempts], ['sent', 1]);
    });
  });

  test('-r RCPT (4xx): deferred, retried, failed once the 3 attempts are used up; nothing delivered', async () => {
    const f = makeCampaign({ n: 2 });
    await withSink(['-r', 'RCPT'], async (sink) => {
      const r = await send(f, sink);
      assert.equal(r.code, 1, r.stderr);
      for (const [e, x] of await states(f)) {
        assert.deepEqual([x.status, x.attempts], ['failed', 3], e);
        assert.match(x.response!, /^gave up after 3 attempts: 450 4\.3\.0/);
        assert.equal(sink.deliveries(e), 0);
      }
    });
  });

  test('-f RCPT and -f . (5xx): failed after one attempt, never retried', async () => {
    for (const cmd of ['RCPT', '.']) {
      const f = makeCampaign({ n: 2, concurrency: 1 });
      await withSink(['-f', cmd], async (sink) => {
        const r = await send(f, sink);
        assert.equal(r.code, 1, r.stderr);
        for (const [e, x] of await states(f)) {
          assert.deepEqual([x.status, x.attempts], ['failed', 1], `${cmd} ${e}`);
          assert.match(x.response!, /^5\d\d /);
          // -f . refuses after reading the message: the sink wrote it, but it was not accepted.
          assert.equal(sink.deliveries(e), cmd === '.' ? 1 : 0, `${cmd} ${e}`);
        }
        assert.equal(sink.sessions(), 1, 'one connection: a 5xx leaves the session usable');
      });
    }
  });

  test('-Q RCPT and -Q . (421 and disconnect): deferred and reconnected, never unknown, never failed: a server that keeps closing stops the run (exit 3) and the next send delivers', async () => {
    for (const cmd of ['RCPT', '.']) {
      const f = makeCampaign({ n: 2, concurrency: 1 });
      await withSink(['-Q', cmd], async (sink) => {
        const r = await send(f, sink);
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, /the server failed 3 times in a row: 421 /);
        for (const [e, x] of await states(f)) {
          assert.ok(x.status === 'deferred' || x.status === 'pending', `${cmd} ${e}: ${x.status}`);
          assert.equal(x.attempts, 0, `${cmd} ${e}: the server's trouble costs no attempt`);
        }
        assert.equal(sink.sessions(), 3, `${cmd}: a new connection after each 421, 3 in a row`);
        // -Q . answers 421 after reading the message: written by the sink, not accepted.
        assert.equal(sink.deliveries(A(1)) + sink.deliveries(A(2)), cmd === '.' ? 3 : 0);
      });
      await withSink([], async (sink) => {
        const r = await send(f, sink);
        assert.equal(r.code, 0, r.stderr);
        for (const e of f.emails) assert.equal(sink.deliveries(e), 1, `${cmd} ${e}`);
      });
    }
  });

  test('-Q CONNECT (421 greeting, also when mailcamp first connects): not fatal at first; connected again, then exit 3 with every recipient still to send, no attempt used; the next send delivers them', async () => {
    const f = makeCampaign({ n: 2, concurrency: 1 });
    await withSink(['-Q', 'CONNECT'], async (sink) => {
      const r = await send(f, sink);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /421 .*connecting again later/);
      assert.match(r.stderr, /connection failed 3 times in a row: 421 /);
      assert.equal(sink.sessions(), 3, 'one connection per cool-down');
      for (const [e, x] of await states(f)) {
        assert.ok(x.status === 'deferred' || x.status === 'pending', `${e}: ${x.status}`);
        assert.equal(x.attempts, 0, e);
        assert.equal(sink.deliveries(e), 0);
      }
    });
    await withSink([], async (sink) => {
      const r = await send(f, sink);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /resuming run/);
      for (const e of f.emails) assert.equal(sink.deliveries(e), 1, e);
    });
  });

  test('-q . (silence after the final dot): unknown, not sent again by the next send', async () => {
    const f = makeCampaign({ n: 2, concurrency: 1 });
    await withSink(['-q', '.'], async (sink) => {
      const r = await send(f, sink);
      assert.equal(r.code, 1, r.stderr);
      for (const [e, x] of await states(f)) {
        assert.deepEqual([x.status, x.attempts], ['unknown', 1], e);
        assert.equal(sink.deliveries(e), 1, `${e}: the sink has it, mailcamp cannot know`);
      }
      const again = await send(f, sink);
      assert.equal(again.code, 2, 'the run finished');
      assert.match(again.stderr, /unknown 2,.*--resend-unknown/);
      for (const e of f.emails) assert.equal(sink.deliveries(e), 1);
    });
  });

  test('-W .:3 with ?timeout=1s (a server that stops answering): bounded, unknown', async () => {
    const f = makeCampaign({ n: 1 });
    await withSink(['-W', '.:3'], async (sink) => {
      const t0 = Date.now();
      const r = await send(f, sink, { query: '?timeout=1s' });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(Date.now() - t0 < 3000, `gave up after the 1 s timeout (${Date.now() - t0} ms)`);
      const x = (await states(f)).get(A(1))!;
      assert.deepEqual([x.status, x.attempts], ['unknown', 1]);
      assert.match(x.response!, /ETIMEDOUT/);
    });
  });

  test('-q DATA (dropped before the message): deferred, then sent once the server is back', async () => {
    const f = makeCampaign({ n: 1, retry: '{ attempts: 3, initial_delay: 1500ms, max_delay: 1500ms }' });
    let sink = await Sink.start(['-q', 'DATA']);
    const port = sink.port;
    try {
      const running = send(f, sink);
      while (sink.sessions() < 1) await new Promise((r) => setTimeout(r, 10));
      // The first attempt was dropped at DATA; the retry is due in 0.75-1.5 s. Bring up a good server.
      const faulty = sink;
      await faulty.stop();
      sink = await Sink.start([], port);
      const r = await running;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(faulty.deliveries(A(1)), 0, 'nothing of the message reached the faulty sink');
      assert.equal(sink.deliveries(A(1)), 1);
      const x = (await states(f)).get(A(1))!;
      assert.deepEqual([x.status, x.attempts], ['sent', 1], 'the dropped connection cost no attempt');
    } finally {
      await sink.stop();
    }
  });

  test('-f AUTH answering 535: exit 3 at once, nothing sent, no secret printed', async () => {
    const f = makeCampaign({ n: 3 });
    const secret = 'sink-S3cret-pass';
    await withSink(['-f', 'AUTH', '-B', '535 5.7.8 Error: authentication failed'], async (sink) => {
      const r = await send(f, sink, { user: 'news:${SMTP_PASS}', env: { SMTP_PASS: secret } });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /^127\.0\.0\.1:\d+: authentication failed: 535 5\.7\.8/m);
      assert.ok(!(r.stdout + r.stderr).includes(secret));
      for (const e of f.emails) assert.equal(sink.deliveries(e), 0);
    });
  });
});

if (missing) console.log(`# skipping smtp-sink tests: ${skip}`);
