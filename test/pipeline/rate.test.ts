// `rate:` measured where it matters, at the server: with several connections (the first
// messages wait for their connections to open) no interval of a second sees more MAIL
// commands than per_second allows. The rate limiter's own arithmetic is in
// test/send/rate-limit.test.ts; this checks that its grants are taken when a message really
// starts. A limiter taken before the connections had opened let 13–14 through in one second.
// Intervals of 990 ms are checked: with the 25 ms of slack send.ts gives the limiter, a
// message may reach the server up to 35 ms later than the one before it in its second did.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { runSend } from '../../src/pipeline/send.js';
import { ManualClock } from '../../src/shared/clock.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { ensureBuilt, makeCampaign, spawnCli } from './delivery-fixture.js';

before(ensureBuilt);

test('rate per_second 10 with 4 connections: at most 10 MAIL commands in any 0.99 s', async () => {
  const f = makeCampaign({ n: 25, concurrency: 4, extra: 'rate: { per_second: 10 }\n' });
  const times: number[] = [];
  const server = await startSmtpServer({
    starttls: false,
    script: (ctx) => {
      if (ctx.phase === 'mail') times.push(performance.now());
      return undefined;
    },
  });
  try {
    const r = await spawnCli(['send', f.campaign, '--transport', `smtp+plain://127.0.0.1:${server.port}`, '--yes'], f.dir).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.messages.length, 25);
    times.sort((a, b) => a - b);
    let most = 0;
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && times[j] - times[i] < 990) j++;
      most = Math.max(most, j - i);
    }
    assert.ok(most <= 10, `${most} MAIL commands within 0.99 s: ${times.map((t) => Math.round(t - times[0])).join(' ')}`);
    assert.ok(times[times.length - 1] - times[0] >= 2000, '25 messages at 10 a second take at least 2 s');
  } finally {
    await server.close();
  }
});

test('a per_minute limit holds across --limit batches of one run: the journal tells the next send what went out', async () => {
  const f = makeCampaign({ n: 4, concurrency: 1, extra: 'rate: { per_minute: 2 }\n' });
  const server = await startSmtpServer({ starttls: false });
  const clock = new ManualClock(Date.now());
  const said: string[] = [];
  const opts = {
    file: f.campaign,
    cwd: f.dir,
    env: {},
    transport: `smtp+plain://127.0.0.1:${server.port}`,
    yes: true,
    limit: 2,
    clock,
    logger: { info: (m: string) => said.push(m), warn: () => {}, debug: () => {} },
  };
  const settle = () => new Promise((r) => setTimeout(r, 300));
  try {
    assert.equal((await runSend(opts)).exitCode, 0);
    assert.equal(server.messages.length, 2);
    await clock.advance(10_000);
    const second = runSend(opts);
    await settle();
    assert.equal(server.messages.length, 2, 'the minute of the first two is not over');
    await clock.advance(49_000);
    await settle();
    assert.equal(server.messages.length, 2, 'nor at 59 s');
    assert.match(said.join('\n'), /rate limit reached: next message at \d{4}-\d\d-\d\dT/);
    await clock.advance(2_000);
    assert.equal((await second).exitCode, 0);
    assert.equal(server.messages.length, 4);
    // A --restart (a new run: the old run's entries are dropped) counts them too.
    await clock.advance(1_000);
    const third = runSend({ ...opts, restart: true });
    await settle();
    assert.equal(server.messages.length, 4, 'the restart waits for the minute of the last two');
    await clock.advance(61_000);
    assert.equal((await third).exitCode, 0);
    assert.equal(server.messages.length, 6);
  } finally {
    await server.close();
  }
});

test("a campaign's rate limit holds across its occurrences: the next occurrence counts what the last one sent", async () => {
  const f = makeCampaign({ n: 2, concurrency: 1, extra: 'rate: { per_minute: 2 }\n' });
  const server = await startSmtpServer({ starttls: false });
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 9, 0, 0));
  const opts = { file: f.campaign, cwd: f.dir, env: {}, transport: `smtp+plain://127.0.0.1:${server.port}`, yes: true, clock };
  const settle = () => new Promise((r) => setTimeout(r, 300));
  try {
    assert.equal((await runSend({ ...opts, occurrence: new Date(clock.now()) })).exitCode, 0);
    assert.equal(server.messages.length, 2);
    await clock.advance(10_000);
    const next = runSend({ ...opts, occurrence: new Date(clock.now()) });
    await settle();
    assert.equal(server.messages.length, 2, "the first occurrence's minute is not over");
    await clock.advance(51_000);
    assert.equal((await next).exitCode, 0);
    assert.equal(server.messages.length, 4);
  } finally {
    await server.close();
  }
});
