// `send` holds a short suppression list in memory and queries a long one per row
// (pipeline/suppression-lookup.ts): both must skip exactly the suppressed recipients, matched
// the way suppressionKey() matches (case, internationalized domains), and the memory copy
// must follow what another process writes meanwhile.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { suppressionLookup } from '../../src/pipeline/suppression-lookup.js';
import { openSuppression } from '../../src/state/suppression.js';
import { runCli } from '../helpers/cli.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { address as A, makeCampaign } from './delivery-fixture.js';

for (const filler of [0, 50_001]) {
  test(`suppressed recipients are skipped with a suppression list of ${filler + 2} entries`, async () => {
    const f = makeCampaign({ emails: [A(1), A(2), 'Kim@Bücher.example', A(4)] });
    const state = path.join(f.dir, '.mailcamp');
    fs.mkdirSync(state, { recursive: true });
    const list = openSuppression(state);
    list.addAll(
      (function* () {
        for (let i = 0; i < filler; i++) yield { address: `someone${i}@elsewhere.example`, reason: 'old bounce', kind: 'hard' as const };
        yield { address: 'R0002@EXAMPLE.com', reason: 'asked to stop', kind: 'unsubscribe' as const };
        yield { address: 'kim@xn--bcher-kva.example', reason: 'user unknown', kind: 'hard' as const };
      })(),
    );
    assert.equal(list.count(), filler + 2);
    list.close();
    const server = await startSmtpServer({ starttls: false });
    try {
      const r = await runCli(['send', f.campaign, '--transport', `smtp://127.0.0.1:${server.port}`, '--yes', '--json', '--state', state], { cwd: f.dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(server.messages.flatMap((m) => m.envelope.to).sort(), [A(1), A(4)]);
      const report = JSON.parse(fs.readFileSync(JSON.parse(r.stdout).report, 'utf8')) as { messages: { email: string; status: string; response: string }[] };
      const skipped = report.messages.filter((m) => m.status === 'skipped').map((m) => [m.email, m.response]);
      assert.deepEqual(skipped, [
        [A(2), 'suppressed: unsubscribe: asked to stop'],
        ['Kim@xn--bcher-kva.example', 'suppressed: hard: user unknown'], // the domain as it goes on the wire,
      ]);
    } finally {
      await server.close();
    }
  });
}

test('the in-memory copy follows changes another process makes during a send', async () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-suppr-'));
  const mine = openSuppression(state);
  const other = openSuppression(state); // another connection, as a concurrent `bounces` has
  try {
    mine.add({ address: 'a@example.com', reason: 'old', kind: 'hard' });
    const lookup = suppressionLookup(mine);
    assert.equal(lookup('A@example.com'), 'hard: old');
    assert.equal(lookup('b@example.com'), undefined);
    other.add({ address: 'B@Example.com', reason: 'asked to stop', kind: 'unsubscribe' });
    other.remove('a@example.com');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(lookup('b@example.com'), 'unsubscribe: asked to stop');
    assert.equal(lookup('a@example.com'), undefined);
  } finally {
    mine.close();
    other.close();
    fs.rmSync(state, { recursive: true, force: true });
  }
});
