// Issue 7 acceptance 2, with real processes: two `node dist/cli.js schedule` processes watch
// the same campaign, whose `at:` is a few seconds ahead, and send to a live SMTP server
// (smtp-server in this test process). Every recipient receives exactly one message. Then,
// on a second occurrence, the process that holds the occurrence's lock is killed with SIGKILL
// mid-send: the other one takes the stale lock over, resumes the journal and completes the
// occurrence without sending anything twice. The one allowed exception is a message that was
// in flight when the process died: the journal had it `sending`, so it becomes `unknown`
// (never re-sent without --resend-unknown) and the server may or may not have it.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO } from '../helpers/examples.js';
import { ensureBuilt } from '../pipeline/delivery-fixture.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

const CLI = path.join(REPO, 'dist', 'cli.js');

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function schedule(dir: string): Proc {
  const child = spawn(process.execPath, [CLI, 'schedule', 'c.yaml', '--yes'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let err = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, done };
}

/** A campaign of `n` recipients whose one occurrence is `secondsAhead` from now. */
function campaign(server: TestSmtpServer, prefix: string, n: number, secondsAhead: number, extra = ''): { dir: string; emails: string[]; stamp: string } {
  const dir = tmpDir('mailcamp-sched-');
  // Addresses of their own per test: the server counts deliveries over its whole life.
  const emails = Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(3, '0')}@example.com`);
  const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + secondsAhead * 1000);
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  writeFiles(dir, {
    '.mailcamp/.keep': '',
    't.hbs': '<p>Hello {{name}}, issue of {{occurrence}}</p>\n',
    'r.csv': 'email,name\n' + emails.map((e, i) => `${e},Person ${i + 1}\n`).join(''),
    'c.yaml':
      `name: twice\nfrom: news@example.com\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n` +
      `transport: smtp://127.0.0.1:${server.port}\nretry: { attempts: 3, initial_delay: 100ms, max_delay: 500ms }\n` +
      `schedule: { at: "${at.toISOString()}", timezone: Europe/Berlin }\n${extra}`,
  });
  return { dir, emails, stamp };
}

async function until(what: string, ok: () => boolean, timeoutMs: number, show: Proc[] = []): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${show.map((p, i) => `process ${i + 1}:\n${p.stderr()}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function report(dir: string, stamp: string): { totals: Record<string, number>; messages: { email: string; status: string }[] } {
  return JSON.parse(fs.readFileSync(path.join(dir, 'reports', 'twice', `${stamp}.json`), 'utf8'));
}

describe('two schedule processes against a live SMTP server', () => {
  let server: TestSmtpServer;
  const procs: Proc[] = [];
  before(async () => {
    // The test runs the built CLI. It builds only when dist/ is older than src/: an unconditional
    // tsc here rewrote dist/ while another test file was spawning it (kill.test.ts then read a
    // half-written retry.js and failed in CI).
    ensureBuilt();
    server = await startSmtpServer({ starttls: false });
  });
  after(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await server.close();
  });

  test('every recipient receives exactly one message; both stop cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const { dir, emails, stamp } = campaign(server, 'a', 20, 6, 'concurrency: 2\n');
    const before = server.messages.length;
    const a = schedule(dir);
    const b = schedule(dir);
    procs.push(a, b);
    await server.waitForMessages(before + emails.length, 40_000);
    // Both processes have dealt with the occurrence: one sent it, the other found it sent.
    const settled = (p: Proc) => /occurrence .*: (sent \d+|already finished)/.test(p.stderr());
    await until('both processes to report the occurrence', () => settled(a) && settled(b), 20_000, [a, b]);
    await new Promise((r) => setTimeout(r, 500)); // anything extra would arrive now
    for (const e of emails) assert.equal(server.deliveries(e), 1, `${e} received exactly one message`);
    assert.equal(server.messages.length - before, emails.length);
    const senders = [a, b].filter((p) => /\(Europe\/Berlin\): sent 20, failed 0/.test(p.stderr()));
    assert.equal(senders.length, 1, `exactly one process sent it\nA:\n${a.stderr()}\nB:\n${b.stderr()}`);
    assert.ok([a, b].some((p) => /already finished/.test(p.stderr())), 'the other found it finished');
    assert.equal(report(dir, stamp).totals.sent, 20);

    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    const [ea, eb] = await Promise.all([a.done, b.done]);
    assert.equal(ea.code, 0, a.stderr());
    assert.equal(eb.code, 0, b.stderr());
    assert.match(a.stderr(), /stopped\n$/);
  });

  test('SIGKILL of the sender mid-send: the other completes the occurrence without duplicates', { timeout: 60_000 }, async (t) => {
    // 30 recipients at 10 per second: about three seconds of sending, one at a time.
    const { dir, emails, stamp } = campaign(server, 'k', 30, 6, 'concurrency: 1\nrate: { per_second: 10 }\n');
    const start = server.messages.length;
    const a = schedule(dir);
    const b = schedule(dir);
    procs.push(a, b);
    await server.waitForMessages(start + 5, 40_000);
    const lockFile = path.join(dir, '.mailcamp', 'twice', 'occurrences', stamp, 'lock');
    const holder = JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid as number;
    const [victim, survivor] = holder === a.child.pid ? [a, b] : [b, a];
    assert.equal(victim.child.pid, holder, 'one of our two processes holds the occurrence lock');
    victim.child.kill('SIGKILL');
    const killedAfter = server.messages.length - start;
    assert.ok(killedAfter < emails.length, `killed mid-send (${killedAfter} of ${emails.length} delivered)`);
    await victim.done;

    await until('the survivor to finish the occurrence', () => /\(Europe\/Berlin\): sent \d+, failed 0/.test(survivor.stderr()), 30_000, [survivor, victim]);
    await new Promise((r) => setTimeout(r, 500));
    const r = report(dir, stamp);
    const status = new Map(r.messages.map((m) => [m.email, m.status]));
    const unknown = [...status].filter(([, s]) => s === 'unknown').map(([e]) => e);
    for (const e of emails) {
      const got = server.deliveries(e);
      const s = status.get(e);
      assert.ok(s === 'sent' || s === 'unknown', `${e}: ${s}`);
      if (s === 'sent') assert.equal(got, 1, `${e} (sent) received exactly one message`);
      else assert.ok(got <= 1, `${e} (unknown: in flight when killed) received at most one message, got ${got}`);
    }
    assert.ok(unknown.length <= 1, `at most the one message in flight is unknown: ${unknown.join(', ')}`);
    assert.equal(r.totals.sent + r.totals.unknown, emails.length);
    assert.match(survivor.stderr(), /resuming run /, "the survivor resumed the killed process's run");
    t.diagnostic(`killed after ${killedAfter} deliveries; unknown: ${unknown.join(', ') || 'none'}; the survivor's log:`);
    for (const line of survivor.stderr().trim().split('\n')) t.diagnostic(line);

    survivor.child.kill('SIGTERM');
    assert.equal((await survivor.done).code, 0, survivor.stderr());
  });
});
