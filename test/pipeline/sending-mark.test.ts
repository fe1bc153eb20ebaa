// design.md: "`sending` is on disk before the message's DATA is sent"; issue 3: `unknown` is for
// a message whose content was handed over. With the real CLI against an in-process smtp-server,
// the journal is read from the server's side while the transaction is under way:
// - when MAIL, RCPT and the DATA command arrive, the recipient is already `sending` (committed
//   before the transaction's first command) and not marked as handed over;
// - a SIGKILL while the envelope is out leaves it `sending` without that mark: the resume sends
//   it again, once, and says so; a SIGKILL once the content is out leaves it `unknown`.

import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { journalExists, openJournal } from '../../src/state/journal.js';
import { runCli } from '../helpers/cli.js';
import { type ScriptContext, startSmtpServer } from '../helpers/smtp-server.js';
import { address as A, ensureBuilt, type Fixture, makeCampaign, spawnCli, states } from './delivery-fixture.js';

/** The entry as another process reads it (the journal and its content marks), or undefined before there is one. */
function journalRow(f: Fixture, email: string): { status: string; content_at: number | null } | undefined {
  const dir = path.join(f.dir, '.mailcamp', 'faults');
  if (!journalExists(dir)) return undefined;
  const j = openJournal(dir, { readonly: true });
  try {
    const e = j.get(email.toLowerCase());
    return e && { status: e.status, content_at: e.contentAt ?? null };
  } finally {
    j.close();
  }
}

function send(f: Fixture, port: number, ...more: string[]) {
  return spawnCli(['send', f.campaign, '--transport', `smtp+plain://127.0.0.1:${port}`, '--yes', ...more], f.dir);
}

/**
 * A server that, at the first command `at` matches, leaves it unanswered and SIGKILLs the
 * sending process `afterMs` later; `first()` runs that send and resolves when it is dead.
 */
async function killingServer(f: Fixture, at: (ctx: ScriptContext) => boolean, afterMs: number) {
  let run: ReturnType<typeof spawnCli> | undefined;
  const server = await startSmtpServer({
    starttls: false,
    script: (ctx) => {
      if (ctx.attempt !== 1 || !at(ctx)) return undefined;
      setTimeout(() => run!.child.kill('SIGKILL'), afterMs);
      return { action: 'hang' };
    },
  });
  const first = () => {
    run = send(f, server.port);
    return run.done;
  };
  return { server, first };
}

describe('when a recipient is `sending` (issue 3, design.md)', () => {
  before(ensureBuilt);

  for (const pipelining of [true, false]) {
    test(`${pipelining ? 'PIPELINING' : 'no PIPELINING'}: \`sending\` is in the journal when MAIL, RCPT and DATA arrive; the content mark is not`, async () => {
      const f = makeCampaign({ n: 3, concurrency: 1 });
      const seen: string[] = [];
      const server = await startSmtpServer({
        starttls: false,
        pipelining,
        script: (ctx) => {
          // concurrency 1: the message under way is the first one not yet delivered.
          const email = ctx.phase === 'data' ? ctx.recipients[0] : ctx.phase === 'rcpt' ? ctx.address! : f.emails[server.messages.length];
          const row = journalRow(f, email);
          seen.push(`${ctx.phase} ${email} ${row?.status} ${row?.content_at ?? 'no content'}`);
          return undefined;
        },
      });
      try {
        const r = await send(f, server.port).done;
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(
          seen,
          f.emails.flatMap((e) => ['mail', 'rcpt', 'data'].map((p) => `${p} ${e} sending no content`)),
        );
        const st = await states(f);
        for (const e of f.emails) assert.deepEqual([st.get(e)!.status, st.get(e)!.attempts, server.deliveries(e)], ['sent', 1, 1], e);
      } finally {
        await server.close();
      }
    });
  }

  test('SIGKILL with only the envelope out: `sending`, without the content mark; the resume sends it again, once', async () => {
    const f = makeCampaign({ n: 3, concurrency: 1 });
    // The kill waits 300 ms: with PIPELINING, A(2)'s RCPT arrives with A(1)'s content, before
    // the client has read A(1)'s 250 (killed at once, A(1) would rightly be left in doubt).
    const { server, first } = await killingServer(f, (ctx) => ctx.phase === 'rcpt' && ctx.address === A(2), 300);
    try {
      let r = await first();
      assert.equal(r.signal, 'SIGKILL');
      let st = await states(f);
      // A(3) was marked ahead, with A(2) (dispatcher.ts, markAhead): `sending`, no content mark either.
      assert.deepEqual([st.get(A(1))!.status, st.get(A(2))!.status, st.get(A(3))!.status], ['sent', 'sending', 'sending']);
      assert.equal(journalRow(f, A(2))!.content_at, null);
      assert.equal(journalRow(f, A(3))!.content_at, null);
      const text = await runCli(['status', f.campaign], { cwd: f.dir });
      assert.match(text.stdout, /being sent \(or next in line\) when the run stopped: unknown once resumed if their content was on its way:\n  line 3  r0002@example\.com  attempts 1  \(content not out\)/);

      r = await send(f, server.port).done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /2 recipient\(s\) were being sent \(or next in line\) when the last run stopped, but their content had not gone out; sending them now: line 3 r0002@example\.com, line 4 r0003@example\.com/);
      st = await states(f);
      assert.deepEqual(
        f.emails.map((e) => [st.get(e)!.status, st.get(e)!.attempts, server.deliveries(e)]),
        f.emails.map(() => ['sent', 1, 1]),
        'the killed try is not counted',
      );
    } finally {
      await server.close();
    }
  });

  test('SIGKILL once the content is out: unknown, not sent again without --resend-unknown', async () => {
    const f = makeCampaign({ n: 3, concurrency: 1 });
    // At 'data' the message is read in full, then not answered: the kill comes while the client waits.
    const { server, first } = await killingServer(f, (ctx) => ctx.phase === 'data' && ctx.recipients[0] === A(2), 300);
    try {
      let r = await first();
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(server.dropped.filter((m) => m.envelope.to[0] === A(2)).length, 1, "A(2)'s content reached the server");
      const row = journalRow(f, A(2))!;
      assert.equal(row.status, 'sending');
      assert.ok(row.content_at, 'the content mark');
      const text = await runCli(['status', f.campaign], { cwd: f.dir });
      assert.match(text.stdout, /line 3  r0002@example\.com  attempts 1  \(content on its way\)/);

      r = await send(f, server.port).done;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /1 recipient\(s\) were being sent when the last run stopped; delivery unknown, not sent again: line 3 r0002@example\.com/);
      const st = await states(f);
      assert.deepEqual(
        f.emails.map((e) => [st.get(e)!.status, server.deliveries(e)]),
        [
          ['sent', 1],
          ['unknown', 0],
          ['sent', 1],
        ],
      );
    } finally {
      await server.close();
    }
  });
});
