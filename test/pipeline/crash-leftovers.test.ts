// What a crash leaves in the files a run writes, and how the next `send` deals with it:
// - the outbox transport can tell whether a message left `sending` was written (its `.eml`,
//   with the entry's Message-ID inside, is complete) or not (only the dead process's
//   temporary file is there): sent, or sent again, instead of `unknown`; the temporary files
//   are removed;
// - a run is marked finished only after its report is written: killed while the report is
//   being written, the run is still resumable, and the next `send` writes the report (a
//   finished run without one could never get it, since send refuses a finished run).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { openJournal } from '../../src/state/journal.js';
import { runCli } from '../helpers/cli.js';
import { address as A, ensureBuilt, makeCampaign, spawnCli, states } from './delivery-fixture.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

describe('crash leftovers', () => {
  before(ensureBuilt);

  for (const moved of [false, true]) {
    test(`outbox: a complete .eml counts as sent, a dead temporary file as not written, anything else stays unknown${moved ? ' (the project moved before the resume)' : ''}`, async () => {
      let f = makeCampaign({ n: 4 });
      let box = path.join(f.dir, 'outbox', 'faults');
      const first = await runCli(['send', f.campaign, '--limit', '1'], { cwd: f.dir });
      assert.equal(first.code, 0, first.stderr);

      // A crash while three messages were being written (the content on its way).
      const j = openJournal(path.join(f.dir, '.mailcamp', 'faults'));
      const keys = [A(2), A(3), A(4)];
      await j.markSending(keys);
      j.markHandedOver(keys);
      const ids = keys.map((k) => j.get(k)!.messageId);
      j.close();
      const complete = `Message-ID: ${ids[0]}\r\nSubject: x\r\n\r\nwritten before the crash\r\n`;
      fs.writeFileSync(path.join(box, `000003-${A(2)}.eml`), complete);
      const pid = deadPid();
      fs.writeFileSync(path.join(box, `000004-${A(3)}.eml.tmp-${pid}`), 'Message-ID: half');
      // Another message's complete file with another Message-ID proves nothing for this one.
      fs.writeFileSync(path.join(box, `000099-${A(4)}.eml`), 'Message-ID: <other@example.com>\r\n\r\n');
      if (moved) {
        const to = `${f.dir}-moved`;
        fs.renameSync(f.dir, to);
        f = { ...f, dir: to, campaign: path.join(to, 'c.yaml') };
        box = path.join(to, 'outbox', 'faults');
      }

      const r = await runCli(['send', f.campaign], { cwd: f.dir });
      assert.equal(r.code, 1, r.stderr + r.stdout); // one unknown left
      const s = await states(f);
      assert.equal(s.get(A(2))!.status, 'sent');
      assert.equal(s.get(A(2))!.response, `written 000003-${A(2)}.eml`);
      assert.equal(fs.readFileSync(path.join(box, `000003-${A(2)}.eml`), 'utf8'), complete, 'not written again');
      assert.equal(s.get(A(3))!.status, 'sent', 'written again: it never was');
      assert.match(fs.readFileSync(path.join(box, `000004-${A(3)}.eml`), 'utf8'), new RegExp(`^Message-ID: ${ids[1]}\r$`, 'm'));
      assert.equal(s.get(A(4))!.status, 'unknown');
      assert.deepEqual(fs.readdirSync(box).filter((n) => n.includes('.tmp')), [], 'the dead temporary file is gone');
      assert.match(r.stderr + r.stdout, /files are complete, recorded as sent: line 3/);
    });
  }

  test('outbox shared with another campaign: the crash verdicts find files under their .<name>.eml names too', async () => {
    const f = makeCampaign({ n: 4, extra: 'transport: outbox:out\n' });
    const box = path.join(f.dir, 'out');
    fs.mkdirSync(box);
    // Another campaign's messages already hold the plain names.
    for (const [row, k] of [[3, A(2)], [4, A(3)]] as const) fs.writeFileSync(path.join(box, `00000${row}-${k}.eml`), 'X-Mailcamp-Campaign: other\r\nMessage-ID: <o@x>\r\n\r\n');
    assert.equal((await runCli(['send', f.campaign, '--limit', '1'], { cwd: f.dir })).code, 0);
    const j = openJournal(path.join(f.dir, '.mailcamp', 'faults'));
    const keys = [A(2), A(3)];
    await j.markSending(keys);
    j.markHandedOver(keys);
    const ids = keys.map((k) => j.get(k)!.messageId);
    j.close();
    fs.writeFileSync(path.join(box, `000003-${A(2)}.faults.eml`), `X-Mailcamp-Campaign: faults\r\nMessage-ID: ${ids[0]}\r\n\r\nwritten before the crash\r\n`);
    fs.writeFileSync(path.join(box, `000004-${A(3)}.faults.eml.tmp-${deadPid()}`), 'Message-ID: half');
    const r = await runCli(['send', f.campaign], { cwd: f.dir });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const s = await states(f);
    assert.equal(s.get(A(2))!.response, `written 000003-${A(2)}.faults.eml`, 'complete: recorded as sent, not written again');
    assert.equal(s.get(A(3))!.status, 'sent');
    assert.match(fs.readFileSync(path.join(box, `000004-${A(3)}.faults.eml`), 'utf8'), new RegExp(`^Message-ID: ${ids[1]}\r$`, 'm'));
    assert.match(fs.readFileSync(path.join(box, `000004-${A(3)}.eml`), 'utf8'), /X-Mailcamp-Campaign: other/, "the other campaign's file kept");
  });

  test('killed while the report is written: never a finished run without its report', async () => {
    const n = 4000; // a report long enough to be caught in the writing
    const f = makeCampaign({ n, concurrency: 8 });
    const reports = path.join(f.dir, 'reports', 'faults');
    fs.mkdirSync(reports, { recursive: true });
    const run = spawnCli(['send', f.campaign], f.dir);
    let killedWhileWriting = false;
    const watcher = fs.watch(reports, (_e, name) => {
      if (name && /\.tmp$/.test(name) && !killedWhileWriting) {
        killedWhileWriting = true;
        run.child.kill('SIGKILL');
      }
    });
    const done = await run.done;
    watcher.close();
    assert.ok(killedWhileWriting, `the report was never being written? ${done.stderr}`);
    const j = openJournal(path.join(f.dir, '.mailcamp', 'faults'), { readonly: true });
    const runInfo = j.currentRun()!;
    j.close();
    const report = path.join(reports, `${runInfo.runId}.json`);
    assert.ok(runInfo.state !== 'finished' || fs.existsSync(report), 'finished, and no report');
    if (runInfo.state === 'finished') return; // the kill came after the report was complete: nothing more to see

    // The next send finishes the run: nothing is sent again, the report is there, no temporary files.
    const again = await runCli(['send', f.campaign], { cwd: f.dir });
    assert.equal(again.code, 0, again.stderr);
    const got = JSON.parse(fs.readFileSync(report, 'utf8'));
    assert.equal(got.totals.sent, n);
    assert.equal(got.run_id, runInfo.runId);
    assert.deepEqual(fs.readdirSync(reports).filter((x) => x.endsWith('.tmp')), []);
    assert.equal(fs.readdirSync(path.join(f.dir, 'outbox', 'faults')).length, n, 'one file each, none written twice');
  });
});
