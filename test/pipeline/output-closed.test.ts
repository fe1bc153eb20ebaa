// `mailcamp send … 2>&1 | head -1`, or a `| logger` that goes away: the closed pipe stops the
// send as SIGTERM does (messages in flight finish, the report is written, exit 130), never as a
// kill -9 with exit 0. The next send completes the campaign without duplicates.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { CLI, ensureBuilt, makeCampaign, spawnCli, status } from './delivery-fixture.js';

before(ensureBuilt);

function bash(script: string, args: string[], cwd: string): Promise<string> {
  const child = spawn('bash', ['-c', script, ...args], { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => child.once('close', () => resolve(out)));
}

test('a send whose output pipe closes stops like SIGTERM: exit 130, nothing left sending, the report written; the next send finishes with no duplicates', async () => {
  const N = 300;
  const f = makeCampaign({ n: N, concurrency: 2 });
  // Every 20th recipient refused: each refusal prints a line, and the second one meets the closed pipe.
  const server = await startSmtpServer({
    starttls: false,
    script: (ctx) => (ctx.phase === 'rcpt' && /[02468]0@/.test(ctx.address ?? '') ? { code: 550 } : ctx.phase === 'data' ? { delay: 5 } : undefined),
  });
  try {
    const transport = `smtp+plain://127.0.0.1:${server.port}`;
    const out = await bash('"$0" "$1" send c.yaml --transport "$2" --yes 2>&1 | head -1; echo "status=${PIPESTATUS[0]}"', [process.execPath, CLI, transport], f.dir);
    const [first, exit] = out.trim().split('\n');
    assert.match(first, /failed: 550/);
    assert.equal(exit, 'status=130', out);
    const s = await status(f, true);
    assert.equal(s.state, 'interrupted');
    assert.equal(s.totals.sending, 0, 'nothing left sending');
    assert.ok(s.totals.sent < N - N / 20, `stopped early (sent ${s.totals.sent})`);
    assert.ok(fs.existsSync(path.join(f.dir, 'reports', 'faults', `${s.run_id}.json`)), 'report written');
    const again = await bash('"$0" "$1" send c.yaml --transport "$2" --yes >/dev/null 2>&1; echo "status=$?"', [process.execPath, CLI, transport], f.dir);
    assert.equal(again.trim(), 'status=1', 'finished, with the refused ones failed');
    const delivered = server.messages.map((m) => m.envelope.to[0]);
    assert.equal(delivered.length, N - N / 20);
    assert.equal(new Set(delivered).size, delivered.length, 'no duplicates');
  } finally {
    await server.close();
  }
});

test('SIGHUP (the terminal went away) stops a send as SIGTERM does: exit 130, nothing left sending, the report written', async () => {
  const f = makeCampaign({ n: 300, concurrency: 2 });
  const server = await startSmtpServer({ starttls: false, script: (ctx) => (ctx.phase === 'data' ? { delay: 5 } : undefined) });
  try {
    const { child, done } = spawnCli(['send', f.campaign, '--transport', `smtp+plain://127.0.0.1:${server.port}`, '--yes'], f.dir);
    while (server.messages.length < 20) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGHUP');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    const s = await status(f, true);
    assert.equal(s.state, 'interrupted');
    assert.equal(s.totals.sending, 0);
    assert.ok(fs.existsSync(path.join(f.dir, 'reports', 'faults', `${s.run_id}.json`)));
  } finally {
    await server.close();
  }
});
