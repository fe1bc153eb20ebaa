// Issue 3 "Resume": a finished run is refused (saying when it ran and what it sent) unless
// --restart; rows added to the CSV since are sent; deferred recipients are retried when due
// without holding up the rest; a second process is refused by the lock and a stale lock is
// taken over; status shows the counts and the recipients that need attention.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { runSend } from '../../src/pipeline/send.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { address as A, ensureBuilt, makeCampaign, spawnCli, states, status } from './delivery-fixture.js';

describe('resume, restart and the lock (issue 3)', () => {
  before(ensureBuilt); // the lock test spawns the real CLI

  test('a finished run is refused with when it ran and what it sent; --restart sends again', async () => {
    const f = makeCampaign({ n: 3 });
    const server = await startSmtpServer({ starttls: false });
    try {
      const url = `smtp://127.0.0.1:${server.port}`;
      const first = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir });
      assert.equal(first.code, 0, first.stderr);
      const again = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir });
      assert.equal(again.code, 2);
      assert.match(
        again.stderr,
        /^campaign 'faults' already ran \(run \S+, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: sent 3, failed 0, unknown 0, skipped 0 of 3\); nothing sent: pass --restart/,
      );
      assert.equal(server.messages.length, 3, 'nothing sent by the refused run');
      // On a terminal, it is refused before the confirmation question, not after a "y".
      let asked = 0;
      await assert.rejects(
        runSend({ file: f.campaign, cwd: f.dir, env: {}, transport: url, confirm: async () => (asked++, true) }),
        /already ran/,
      );
      assert.equal(asked, 0, 'not asked');
      const restart = await runCli(['send', f.campaign, '--transport', url, '--yes', '--restart'], { cwd: f.dir });
      assert.equal(restart.code, 0, restart.stderr);
      assert.doesNotMatch(restart.stderr, /had not finished/);
      for (const e of f.emails) assert.equal(server.deliveries(e), 2);
      // A new run: new Message-IDs.
      const ids = new Set(server.messages.map((m) => /^Message-ID: (.*)$/im.exec(m.raw.toString())![1]));
      assert.equal(ids.size, 6);
      // --restart of a run cut short: it says, before sending, who gets the message again.
      const part = await runCli(['send', f.campaign, '--transport', url, '--yes', '--restart', '--limit', '1'], { cwd: f.dir });
      assert.equal(part.code, 0, part.stderr);
      const over = await runCli(['send', f.campaign, '--transport', url, '--yes', '--restart'], { cwd: f.dir });
      assert.equal(over.code, 0, over.stderr);
      assert.match(over.stderr, /^warning: --restart: run \S+ \(started \S+\) had not finished; 1 of its 3 recipient\(s\) were sent, and get the message again in this new run \(`send` without --restart resumes instead\)$/m);
    } finally {
      await server.close();
    }
  });

  test('rows added to the CSV since are sent on resume; the report covers the whole run with real Message-IDs', async () => {
    const f = makeCampaign({ n: 3 });
    const server = await startSmtpServer({ starttls: false });
    try {
      const url = `smtp://127.0.0.1:${server.port}`;
      const first = await runCli(['send', f.campaign, '--transport', url, '--yes', '--limit', '2'], { cwd: f.dir });
      assert.equal(first.code, 0, first.stderr); // the two asked for went out; the rest waits, not failed
      assert.match(first.stderr, /stopped after 2 message\(s\) \(--limit\); run send again to continue/);
      const s = await status(f);
      assert.equal(s.state, 'unfinished');
      assert.deepEqual([s.totals.sent, s.totals.pending, s.totals.recipients], [2, 1, 3], 'every recipient is in the journal from the start');
      fs.appendFileSync(path.join(f.dir, 'r.csv'), `${A(4)},Person 4\n${A(5)},Person 5\n`);
      const second = await runCli(['send', f.campaign, '--transport', url, '--yes', '--json'], { cwd: f.dir });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /resuming run/);
      for (const e of [...f.emails, A(4), A(5)]) assert.equal(server.deliveries(e), 1, e);
      const report = JSON.parse(fs.readFileSync(JSON.parse(second.stdout).report, 'utf8'));
      assert.equal(report.messages.length, 5);
      assert.deepEqual(report.totals, { recipients: 5, sent: 5, failed: 0, deferred: 0, skipped: 0, unknown: 0 });
      for (const m of report.messages) {
        const got = server.messages.find((x) => x.envelope.to[0] === m.email)!;
        assert.equal(m.message_id, /^Message-ID: (.*)$/im.exec(got.raw.toString())![1], 'journal Message-ID = the one sent');
      }
    } finally {
      await server.close();
    }
  });

  test('a deferred recipient is retried when due on resume, without holding up the others', async () => {
    const f = makeCampaign({ n: 1, retry: '{ attempts: 3, initial_delay: 1500ms, max_delay: 1500ms }' });
    const ac = new AbortController();
    const server = await startSmtpServer({
      starttls: false,
      script: (ctx) => {
        if (ctx.phase === 'rcpt' && ctx.address === A(1) && ctx.attempt === 1) {
          setTimeout(() => ac.abort(new Error('SIGINT')), 100);
          return { code: 451, message: '4.7.1 greylisted, try later' };
        }
        return undefined;
      },
    });
    try {
      const url = `smtp://127.0.0.1:${server.port}`;
      const first = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir, signal: ac.signal });
      assert.equal(first.code, 130, first.stderr);
      const s = await status(f);
      assert.equal(s.state, 'interrupted');
      const deferred = s.recipients.find((r) => r.email === A(1))!;
      assert.equal(deferred.status, 'deferred');
      const due = Date.parse(deferred.next_attempt_at!);
      assert.ok(due > Date.now(), `not yet due: ${JSON.stringify(deferred)} now ${new Date().toISOString()}`);
      fs.appendFileSync(path.join(f.dir, 'r.csv'), `${A(2)},Person 2\n`);
      const second = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir });
      assert.equal(second.code, 0, second.stderr);
      const at = (e: string) => server.messages.find((m) => m.envelope.to[0] === e)!.at;
      assert.ok(at(A(2)) < due, 'the new row went out at once');
      assert.ok(at(A(1)) >= due, 'the deferred one when due');
      assert.equal(server.deliveries(A(1)), 1);
      const st = await states(f);
      assert.deepEqual([st.get(A(1))!.status, st.get(A(1))!.attempts], ['sent', 2]);
    } finally {
      await server.close();
    }
  });

  test('a second process on the same campaign is refused by the lock; a stale lock is taken over', async () => {
    const f = makeCampaign({ n: 30, concurrency: 1 });
    const server = await startSmtpServer({ starttls: false, script: (ctx) => (ctx.phase === 'data' ? { delay: 50 } : undefined) });
    try {
      const url = `smtp+plain://127.0.0.1:${server.port}`;
      const first = spawnCli(['send', f.campaign, '--transport', url, '--yes'], f.dir);
      await server.waitForMessages(1, 15_000);
      const second = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir });
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, new RegExp(`campaign is locked by process ${first.child.pid} `));
      const during = await runCli(['status', f.campaign], { cwd: f.dir });
      assert.match(during.stdout, new RegExp(`\\(running, pid ${first.child.pid}\\)`), 'status works beside a running send');
      const r = await first.done;
      assert.equal(r.code, 0, r.stderr);
      for (const e of f.emails) assert.equal(server.deliveries(e), 1, e);

      // A lock left by a dead process (kill -9) is taken over.
      const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
      const lockFile = path.join(f.dir, '.mailcamp', 'faults', 'lock');
      fs.writeFileSync(lockFile, JSON.stringify({ pid: dead, hostname: os.hostname(), started_at: new Date().toISOString(), what: 'send c.yaml' }));
      const restart = await runCli(['send', f.campaign, '--transport', url, '--yes', '--restart', '--limit', '1'], { cwd: f.dir });
      assert.equal(restart.code, 0, restart.stderr);
      assert.match(restart.stderr, new RegExp(`took over the lock of process ${dead}, which is no longer running`));
      assert.ok(!fs.existsSync(lockFile), 'released at the end');
    } finally {
      await server.close();
    }
  });

  test('send --limit N: exit 0 when those N went out, 1 when one of them failed; the rest stays pending', async () => {
    const f = makeCampaign({ n: 4 });
    const server = await startSmtpServer({ starttls: false, script: (x) => (x.phase === 'rcpt' && x.address === A(2) ? { code: 550, message: '5.1.1 no such user' } : undefined) });
    try {
      const url = `smtp://127.0.0.1:${server.port}`;
      const first = await runCli(['send', f.campaign, '--transport', url, '--yes', '--limit', '1'], { cwd: f.dir });
      assert.equal(first.code, 0, first.stderr);
      const second = await runCli(['send', f.campaign, '--transport', url, '--yes', '--limit', '1'], { cwd: f.dir });
      assert.equal(second.code, 1, 'the one it sent failed');
      const s = await status(f);
      assert.deepEqual([s.totals.sent, s.totals.failed, s.totals.pending, s.state], [1, 1, 2, 'unfinished']);
      const third = await runCli(['send', f.campaign, '--transport', url, '--yes', '--limit', '1'], { cwd: f.dir });
      assert.equal(third.code, 1, 'an earlier failure of this run still counts');
    } finally {
      await server.close();
    }
  });

  test('a pending row removed from the CSV, or suppressed, since the run began is skipped on resume, and the run finishes', async () => {
    const f = makeCampaign({ n: 5 });
    const server = await startSmtpServer({ starttls: false });
    try {
      const url = `smtp://127.0.0.1:${server.port}`;
      const first = await runCli(['send', f.campaign, '--transport', url, '--yes', '--limit', '2'], { cwd: f.dir });
      assert.equal(first.code, 0, first.stderr);
      const csv = path.join(f.dir, 'r.csv');
      fs.writeFileSync(csv, fs.readFileSync(csv, 'utf8').split('\n').filter((l) => !l.startsWith(`${A(4)},`)).join('\n'));
      const sup = await runCli(['suppress', 'add', A(5), '--reason', 'asked by phone', '--state', path.join(f.dir, '.mailcamp')], { cwd: f.dir });
      assert.equal(sup.code, 0, sup.stderr);
      const second = await runCli(['send', f.campaign, '--transport', url, '--yes'], { cwd: f.dir });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /2 recipient\(s\) registered by this run are no longer to be sent, now skipped: line 5 r0004@example\.com, line 6 r0005@example\.com/);
      const s = await status(f);
      assert.equal(s.state, 'finished');
      assert.deepEqual([s.totals.sent, s.totals.skipped, s.totals.pending], [3, 2, 0]);
      const st = await states(f);
      assert.equal(st.get(A(4))!.response, 'no longer in r.csv');
      assert.match(st.get(A(5))!.response!, /^suppressed: .*asked by phone/);
      assert.equal(server.deliveries(A(4)) + server.deliveries(A(5)), 0);
    } finally {
      await server.close();
    }
  });

  test('a list that breaks during the walk (saved mid-run with a quote typo) skips nobody: the rest stays pending, and send says why', async () => {
    const pad = 'x'.repeat(4000); // 60 rows of 4 KB: the walk reads the file a chunk at a time as it sends
    const lines = Array.from({ length: 60 }, (_, i) => `${A(i + 1)},Person ${pad}`);
    const f = makeCampaign({ csv: 'email,name\n' + lines.join('\n') + '\n', concurrency: 1 });
    let edited = false;
    const server = await startSmtpServer({
      starttls: false,
      script: (ctx) => {
        if (ctx.phase === 'mail' && !edited) {
          edited = true; // same length, so the read goes on where it was: row 56 now has a stray quote
          fs.writeFileSync(path.join(f.dir, 'r.csv'), 'email,name\n' + lines.map((l, i) => (i === 54 ? l.replace('Person x', 'Person"x') : l)).join('\n') + '\n');
        }
        return undefined;
      },
    });
    try {
      const r = await runCli(['send', f.campaign, '--transport', `smtp://127.0.0.1:${server.port}`, '--yes'], { cwd: f.dir });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /the list has a problem now \(r\.csv:56: column 'name': quote inside an unquoted value.*\); 6 recipient\(s\) not reached stay pending for the next send/);
      const s = await status(f);
      assert.equal(s.state, 'unfinished');
      assert.deepEqual([s.totals.sent, s.totals.pending, s.totals.skipped], [54, 6, 0]);
    } finally {
      await server.close();
    }
  });

  test('status before the first run: the list, every recipient pending (a duplicate counted once, as the run will); nothing written', async () => {
    const f = makeCampaign({ csv: `email,name\n${A(1)},One\n${A(2)},Two\n${A(1).toUpperCase()},Again\n${A(3)},Three\n` });
    const s = await status(f, false);
    assert.equal(s.state, 'never-run');
    assert.equal(s.run_id, null);
    assert.deepEqual(s.totals, { recipients: 3, sent: 0, failed: 0, deferred: 0, skipped: 0, unknown: 0, pending: 3, sending: 0 });
    assert.deepEqual(
      s.recipients.map((r) => [r.row, r.email, r.status, r.attempts]),
      [[2, A(1), 'pending', 0], [3, A(2), 'pending', 0], [5, A(3), 'pending', 0]],
    );
    const text = await runCli(['status', f.campaign], { cwd: f.dir });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^faults: never sent\n {2}pending 3 {2}skipped 0 {2}\(of 3 in the list\)\n$/);
    assert.ok(!fs.existsSync(path.join(f.dir, '.mailcamp', 'faults')), 'no journal created');
    // The run's own counts are the ones status gave before it.
    const sent = await runCli(['send', f.campaign], { cwd: f.dir });
    assert.equal(sent.code, 0, sent.stderr);
    const after = await status(f, false);
    assert.deepEqual(after.totals, { ...s.totals, pending: 0, sent: 3 });
    fs.rmSync(path.join(f.dir, '.mailcamp'), { recursive: true });
    // Rows with problems are not counted, and status says so.
    fs.appendFileSync(path.join(f.dir, 'r.csv'), 'not-an-address,Bad\n');
    const bad = await runCli(['status', f.campaign, '--json'], { cwd: f.dir });
    assert.equal((JSON.parse(bad.stdout) as { list_errors?: number }).list_errors, 1);
    assert.match((await runCli(['status', f.campaign], { cwd: f.dir })).stdout, /the list has 1 problem, not counted above: `mailcamp validate` names them/);
  });

  test('status before the first run of a group_by campaign gives the counts the run then has (duplicate rows once)', async () => {
    const f = makeCampaign({
      csv: `email,name,team\n${A(1)},One,t1\n${A(2)},Two,t2\n${A(1).toUpperCase()},Again,t1\n ${A(1)},Thrice,t1\n${A(3)},Three,t1\n`,
      extra: 'group_by: team\n',
      template: '<p>Team {{team}}</p>\n',
      subject: 'Hi {{team}}',
    });
    const before = await status(f, true);
    const sent = await runCli(['send', f.campaign], { cwd: f.dir });
    assert.equal(sent.code, 0, sent.stderr);
    const after = await status(f, true);
    assert.deepEqual(after.totals, { ...before.totals, pending: 0, sent: before.totals.pending });
    assert.deepEqual(
      after.recipients.map((r) => [r.row, r.status]),
      before.recipients.map((r) => [r.row, r.status === 'pending' ? 'sent' : r.status]),
    );
  });

  test('two campaign files of the same name under one state folder: the second is refused, not run in the first one\'s journal', async () => {
    const top = tmpDir();
    fs.mkdirSync(path.join(top, '.mailcamp'));
    const make = (sub: string, n: number) => {
      const dir = path.join(top, sub);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 't.hbs'), '<p>Hi {{name}}</p>\n');
      fs.writeFileSync(path.join(dir, 'r.csv'), 'email,name\n' + Array.from({ length: n }, (_, i) => `${sub}${i}@example.com,N${i}\n`).join(''));
      // No name: key: both are called 'campaign', after their file name.
      fs.writeFileSync(path.join(dir, 'campaign.yaml'), 'from: news@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n');
      return path.join(dir, 'campaign.yaml');
    };
    const x = make('x', 5);
    const y = make('y', 2);
    const first = await runCli(['send', x, '--limit', '2'], { cwd: top });
    assert.equal(first.code, 0, first.stderr);
    const other = await runCli(['send', y], { cwd: top });
    assert.equal(other.code, 2, other.stdout);
    assert.match(other.stderr, new RegExp(`campaign name 'campaign' is taken: its journal holds a run of ${fs.realpathSync(x).replace(/[.]/g, '\\.')}; give one of the two files its own \`name:\``));
    assert.ok(!fs.existsSync(path.join(top, 'y', 'outbox')), 'nothing of y sent');
    const rest = await runCli(['send', x], { cwd: top });
    assert.equal(rest.code, 0, rest.stderr);
    assert.equal(fs.readdirSync(path.join(top, 'x', 'outbox', 'campaign')).length, 5);
  });

  test('a copied project (state folder and all) is refused in the copy with where the run belongs, not with advice to rename (which mails everyone again)', async () => {
    const top = tmpDir();
    const one = path.join(top, 'one');
    fs.mkdirSync(path.join(one, '.mailcamp'), { recursive: true });
    fs.mkdirSync(path.join(one, 'campaigns'));
    fs.writeFileSync(path.join(one, 'campaigns', 't.hbs'), '<p>Hi {{name}}</p>\n');
    fs.writeFileSync(path.join(one, 'campaigns', 'r.csv'), 'email,name\na@example.com,A\nb@example.com,B\n');
    fs.writeFileSync(path.join(one, 'campaigns', 'news.yaml'), 'name: news\nfrom: news@example.com\nsubject: hi\ntemplate: t.hbs\nrecipients: r.csv\n');
    assert.equal((await runCli(['send', 'campaigns/news.yaml', '--limit', '1'], { cwd: one })).code, 0);
    const two = path.join(top, 'two');
    fs.cpSync(one, two, { recursive: true });
    const r = await runCli(['send', 'campaigns/news.yaml'], { cwd: two });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /this state folder holds a run of .*one\/campaigns\/news\.yaml, another copy of this campaign \(a copied project\?\); send from there to resume it/);
    assert.doesNotMatch(r.stderr, /its own `name:`/);
  });

  test('a name: changed while a run of the file was unfinished is refused (it would mail everyone again) unless --restart', async () => {
    const f = makeCampaign({ n: 4, name: 'probe' });
    const first = await runCli(['send', f.campaign, '--limit', '1'], { cwd: f.dir });
    assert.equal(first.code, 0, first.stderr);
    fs.writeFileSync(f.campaign, fs.readFileSync(f.campaign, 'utf8').replace('name: probe', 'name: probe-renamed'));
    const renamed = await runCli(['send', f.campaign], { cwd: f.dir });
    assert.equal(renamed.code, 2);
    assert.match(renamed.stderr, /this campaign file has an unfinished run under its earlier name 'probe' \(run \S+\): put back `name: probe` to resume it, or pass --restart/);
    assert.equal(fs.readdirSync(path.join(f.dir, 'outbox', 'probe')).length, 1);
    assert.ok(!fs.existsSync(path.join(f.dir, 'outbox', 'probe-renamed')));
    const restart = await runCli(['send', f.campaign, '--restart'], { cwd: f.dir });
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(fs.readdirSync(path.join(f.dir, 'outbox', 'probe-renamed')).length, 4);
  });

  test('status: counts per state, the unknown and deferred recipients, and what to do next', async () => {
    const f = makeCampaign({ n: 4, retry: '{ attempts: 5, initial_delay: 10m, max_delay: 10m }' });
    const ac = new AbortController();
    const server = await startSmtpServer({
      starttls: false,
      script: (ctx) => {
        if (ctx.phase === 'data' && ctx.recipients[0] === A(1)) return { action: 'reset' };
        if (ctx.phase === 'rcpt' && ctx.address === A(2)) return { code: 452, message: '4.2.2 mailbox full' };
        if (ctx.phase === 'rcpt' && ctx.address === A(3)) return { code: 550, message: '5.1.1 no such user' };
        return undefined;
      },
    });
    try {
      setTimeout(() => ac.abort(new Error('SIGTERM')), 1500);
      const r = await runCli(['send', f.campaign, '--transport', `smtp://127.0.0.1:${server.port}`, '--yes'], { cwd: f.dir, signal: ac.signal });
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /waiting until \S+ to retry 1 deferred recipient/);
      const text = await runCli(['status', f.campaign], { cwd: f.dir });
      assert.equal(text.code, 0);
      const lines = text.stdout.split('\n');
      assert.match(lines[0], /^faults: run \S+ \(interrupted\), started \S+Z, ended \S+Z$/);
      assert.equal(lines[1], '  interrupted by SIGTERM');
      assert.equal(lines[3], '  sent 1  failed 1  deferred 1  unknown 1  pending 0  skipped 0  (of 4)');
      assert.match(text.stdout, /^unknown: .*\n  line 2  r0001@example\.com  attempts 1  .*ECONNRESET|closed/m);
      assert.match(text.stdout, /^deferred: .*\n  line 3  r0002@example\.com  attempts 1  next try \S+Z  452 4\.2\.2 mailbox full$/m);
      assert.match(text.stdout, /^failed: .*\n  line 4  r0003@example\.com  attempts 1  550 5\.1\.1 no such user$/m);
      assert.match(text.stdout, /--resend-unknown/);
      assert.match(text.stdout, /next: `mailcamp send` resumes this run/);
      const json = await status(f, false);
      assert.deepEqual(
        json.recipients.map((x) => [x.email, x.status]),
        [
          [A(1), 'unknown'],
          [A(2), 'deferred'],
          [A(3), 'failed'],
        ],
      );
      assert.equal(json.reason, 'interrupted by SIGTERM');
    } finally {
      await server.close();
    }
  });
});
