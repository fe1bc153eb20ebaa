// The library API (src/index.ts, dist/index.js): a script sends a campaign through its own
// Transport, with the journal, retries and the report as the CLI has them.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Composed, type Gate, MailcampError, runSend, runStatus, type SendResult, type Transport } from '../../src/index.js';
import { makeCampaign } from './delivery-fixture.js';

class Recorder implements Transport {
  readonly description = 'recorder:test';
  readonly sent: Composed[] = [];
  tries = new Map<string, number>();
  async open(): Promise<void> {}
  async send(msg: Composed, gate: Gate): Promise<SendResult> {
    await gate.ready();
    await gate.open(); // `sending` is on disk when this resolves
    const to = msg.envelope.to[0];
    const n = (this.tries.get(to) ?? 0) + 1;
    this.tries.set(to, n);
    if (to.startsWith('r0002') && n === 1) return { status: 'deferred', response: '451 try later', code: 451 };
    gate.handOver();
    this.sent.push(msg);
    return { status: 'sent', response: '250 queued' };
  }
  async close(): Promise<void> {}
  abort(): void {}
}

test('runSend through a Transport of the script: every message once, a deferral retried, the journal and report kept; without yes or confirm it asks first', async () => {
  const f = makeCampaign({ n: 3, retry: '{ attempts: 3, initial_delay: 10ms, max_delay: 20ms }' });
  const t = new Recorder();
  await assert.rejects(runSend({ file: f.campaign, cwd: f.dir, transport: t }), (e: unknown) => e instanceof MailcampError && /without confirmation/.test(e.message));
  assert.equal(t.sent.length, 0, 'nothing sent without a go-ahead');
  const s = await runSend({ file: f.campaign, cwd: f.dir, transport: t, yes: true });
  assert.equal(s.exitCode, 0);
  assert.equal(s.transport, 'recorder:test');
  assert.deepEqual(t.sent.map((m) => m.envelope.to[0]).sort(), f.emails);
  assert.equal(t.tries.get(f.emails[1]), 2, 'the 451 was tried again');
  const st = await runStatus({ file: f.campaign, cwd: f.dir });
  assert.deepEqual([st.state, st.totals.sent], ['finished', 3]);
  const report = JSON.parse(fs.readFileSync(path.join(f.dir, 'reports', 'faults', `${s.runId}.json`), 'utf8'));
  assert.equal(report.transport, 'recorder:test');
  assert.ok(report.messages.every((m: { status: string }) => m.status === 'sent'));
});

test('runSend with something that is neither a URL nor a Transport is a usage error, nothing sent', async () => {
  const f = makeCampaign({ n: 1 });
  for (const t of [{}, 42, { description: 'x', send: 1 }]) {
    await assert.rejects(
      runSend({ file: f.campaign, cwd: f.dir, transport: t as unknown as Transport, yes: true }),
      (e: unknown) => e instanceof MailcampError && e.code === 'USAGE' && /transport must be a URL, or an object/.test(e.message),
    );
  }
  assert.ok(!fs.existsSync(path.join(f.dir, 'outbox')));
});

test('onSendingStarts is called once, before the first message reaches the transport; not for a run with nothing to send', async () => {
  const f = makeCampaign({ n: 3 });
  const t = new Recorder();
  const seen: number[] = [];
  await runSend({ file: f.campaign, cwd: f.dir, transport: t, yes: true, onSendingStarts: () => seen.push(t.sent.length) });
  assert.equal(t.sent.length, 3);
  assert.deepEqual(seen, [0], 'once, with nothing sent yet');
  await runSend({ file: f.campaign, cwd: f.dir, transport: t, yes: true, onSendingStarts: () => seen.push(t.sent.length) }).catch(() => {});
  assert.equal(t.sent.length, 3, 'the finished run sent nothing more');
  assert.deepEqual(seen, [0], 'not called again: nothing to send');
});
