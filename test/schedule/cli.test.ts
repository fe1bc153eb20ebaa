// The schedule-facing CLI through main(argv, io): `validate` shows the next three run times
// and places a bad cron expression at its line:col; `send --occurrence`; `schedule --list`;
// `schedule` refusing SMTP without --yes and stopping on the signal.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { occurrenceStamp } from '../../src/schedule/occurrence.js';
import { timetable } from '../../src/schedule/timetable.js';
import { runCli } from '../helpers/cli.js';
import { copyExample } from '../helpers/examples.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir } from '../helpers/tmp.js';
import { ensureBuilt, spawnCli } from '../pipeline/delivery-fixture.js';
import { project } from './drive.js';

describe('validate with a schedule', () => {
  test('the weekly-digest example: ok, its zone, and the next three Mondays at 09:00 Berlin time', async () => {
    const { dir, campaign } = copyExample('weekly-digest');
    const r = await runCli(['validate', campaign], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok: weekly-digest: 3 messages would be sent/);
    assert.match(r.stdout, /^schedule: cron '0 9 \* \* 1', time zone Europe\/Berlin$/m);
    const line = r.stdout.split('\n').find((l) => l.startsWith('next runs: '))!;
    const runs = line.slice('next runs: '.length).split(', ');
    assert.equal(runs.length, 3);
    for (const x of runs) assert.match(x, /^Mon \d{4}-\d\d-\d\d 09:00 \+0[12]:00$/);
  });

  test('without timezone the machine zone is used and named', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "0 9 * * 1" }\n' });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    assert.ok(r.stdout.includes(`time zone ${tz} (the machine's; set schedule.timezone to fix one)`), r.stdout);
  });

  test('a bad cron expression and a bad zone are errors at their line:col; nothing else hides them', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule:\n  cron: "0 9 * * 8"\n  timezone: Europe/Berlim\n' });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    const lines = r.stderr.split('\n');
    assert.ok(lines.includes("c.yaml:7:9: schedule.cron: invalid cron expression '0 9 * * 8': Invalid value for dayOfWeek: 8"), r.stderr);
    assert.ok(lines.includes("c.yaml:8:13: schedule.timezone: unknown time zone 'Europe/Berlim' (did you mean Europe/Berlin?)"), r.stderr);
    // A city people guess that IANA files under another: named.
    const beijing = project(tmpDir(), { 'c.yaml': 'schedule:\n  cron: "0 9 * * 1"\n  timezone: Asia/Beijing\n' });
    const b = await runCli(['validate', 'c.yaml'], { cwd: beijing });
    assert.match(b.stderr, /unknown time zone 'Asia\/Beijing' \(did you mean Asia\/Shanghai\?/);
  });

  test('at: a date the calendar does not have, or a fraction of a second, is an error (not moved to another day)', async () => {
    for (const [v, why] of [
      ['2026-11-31T09:00:00Z', /is not a date-time the calendar has/],
      ['2026-02-30T09:00:00+01:00', /is not a date-time the calendar has/],
      ['2026-12-01T24:00:00Z', /is not a date-time the calendar has/],
      ['2026-12-20T09:00:00.250Z', /takes whole seconds \(occurrences are named to the second\)/],
    ] as const) {
      const dir = project(tmpDir(), { 'c.yaml': `schedule: { at: "${v}" }\n` });
      const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
      assert.equal(r.code, 2, `${v}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`^c\\.yaml:6:\\d+: schedule\\.at ${why.source}; got '${v.replace(/[.+]/g, '\\$&')}'$`, 'm'));
    }
    for (const v of ['2028-02-29T09:00:00Z', '2026-12-20T09:00:00.000+08:00', '2026-12-20T09:00Z']) {
      const dir = project(tmpDir(), { 'c.yaml': `schedule: { at: "${v}" }\n` });
      assert.equal((await runCli(['validate', 'c.yaml'], { cwd: dir })).code, 0, v);
    }
  });

  test('a cron expression that never matches is an error', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "0 0 30 2 *", timezone: UTC }\n' });
    const r = await runCli(['validate', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^c\.yaml:6:\d+: schedule\.cron: cron expression '0 0 30 2 \*' never runs/m);
  });
});

describe('send --occurrence', () => {
  test('an explicit occurrence is sent once, to its own journal, outbox and report', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "0 9 * * 1", timezone: Europe/Berlin }\n' });
    const r = await runCli(['send', 'c.yaml', '--occurrence', '2026-03-30T09:00:00+02:00', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.run_id, '20260330T070000Z');
    assert.equal(s.report, path.join(dir, 'reports', 'c', '20260330T070000Z.json'));
    assert.equal(fs.readdirSync(path.join(dir, 'outbox', 'c', '20260330T070000Z')).length, 2);
    assert.ok(fs.existsSync(path.join(dir, '.mailcamp', 'c', 'occurrences', '20260330T070000Z', 'journal.sqlite')));
    // Again: refused (finished), nothing written twice.
    const again = await runCli(['send', 'c.yaml', '--occurrence', '20260330T070000Z'], { cwd: dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already ran/);
  });

  test('a time that is not an occurrence is refused with the nearest ones', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "0 9 * * 1", timezone: Europe/Berlin }\n' });
    const r = await runCli(['send', 'c.yaml', '--occurrence', '2026-03-30T09:30:00+02:00'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not an occurrence of cron '0 9 \* \* 1'; nearest: 2026-03-30T09:00:00\+02:00 \(Europe\/Berlin\), 2026-04-06T09:00:00\+02:00/);
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')));
    const bad = await runCli(['send', 'c.yaml', '--occurrence', 'monday'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'monday' is not a time/);
  });

  test('an occurrence still to come is refused (a typo of the week), but can be rendered with --dry-run', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "0 9 * * 1", timezone: Europe/Berlin }\n' });
    const next = timetable({ cron: '0 9 * * 1', timezone: 'Europe/Berlin', missed: 'latest', catchUpMs: 6 * 3_600_000 }).after(Date.now() + 600_000, 1)[0];
    const r = await runCli(['send', 'c.yaml', '--occurrence', occurrenceStamp(next)], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /has not come yet; it is sent then .*--dry-run renders it now/);
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')) && !fs.existsSync(path.join(dir, '.mailcamp', 'c')), 'nothing sent or started');
    const dry = await runCli(['send', 'c.yaml', '--occurrence', occurrenceStamp(next), '--dry-run'], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
  });

  test("'due' sends the latest occurrence within catch_up once, then says nothing is due (exit 0)", async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "*/5 * * * *", timezone: UTC }\n' });
    const latest = timetable({ cron: '*/5 * * * *', timezone: 'UTC', missed: 'latest', catchUpMs: 6 * 3_600_000 }).latestAtOrBefore(Date.now())!;
    const r = await runCli(['send', 'c.yaml', '--occurrence', 'due', '--json'], { cwd: dir });
    // The 5-minute boundary may pass during the test: accept the one after `latest` too.
    assert.equal(r.code, 0, r.stderr);
    const stamp = JSON.parse(r.stdout).run_id as string;
    assert.ok([occurrenceStamp(latest), occurrenceStamp(latest + 300_000)].includes(stamp), stamp);
    const again = await runCli(['send', 'c.yaml', '--occurrence', 'due'], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    if (!again.stderr.includes('nothing to send')) assert.match(again.stderr, /sent|written/); // boundary passed: a new one
    else assert.match(again.stderr, /was already sent/);
  });

  test("'due' under missed: skip leaves an occurrence nobody started at its time (a cron job or a plain send hours later); an explicit --occurrence still sends it", async () => {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 20 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const dir = project(tmpDir(), { 'c.yaml': `schedule: { at: "${at}", missed: skip }\n`, 'd.yaml': `schedule: { at: "${at}" }\n` });
    for (const argv of [['send', 'c.yaml', '--occurrence', 'due'], ['send', 'c.yaml']]) {
      const r = await runCli(argv, { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /nothing to send: c: the latest occurrence, .* was not sent at its time and the campaign says missed: skip; send it explicitly with --occurrence \d{8}T\d{6}Z/);
    }
    assert.ok(!fs.existsSync(path.join(dir, 'outbox')), 'nothing written');
    // missed: latest (the default) sends it late.
    assert.equal((await runCli(['send', 'd.yaml', '--occurrence', 'due'], { cwd: dir })).code, 0);
    const stamp = at.replace(/[-:]/g, '');
    assert.equal(fs.readdirSync(path.join(dir, 'outbox', 'd', stamp)).length, 2);
    // Named explicitly, the skipped one goes out.
    assert.equal((await runCli(['send', 'c.yaml', '--occurrence', stamp], { cwd: dir })).code, 0);
    assert.equal(fs.readdirSync(path.join(dir, 'outbox', 'c', stamp)).length, 2);
  });

  test('a plain send of a scheduled campaign sends its due occurrence, once (schedule and send never both send one)', async () => {
    const at = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const dir = project(tmpDir(), { 'c.yaml': `schedule: { at: "${at}" }\n` });
    const r = await runCli(['send', 'c.yaml', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /this campaign has a schedule: sending its latest due occurrence/);
    assert.equal(JSON.parse(r.stdout).run_id, occurrenceStamp(Date.parse(at)));
    const again = await runCli(['send', 'c.yaml'], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /nothing to send: .*was already sent/);
    // status shows that occurrence.
    const st = await runCli(['status', 'c.yaml', '--json'], { cwd: dir });
    assert.equal(st.code, 0, st.stderr);
    const sj = JSON.parse(st.stdout);
    assert.deepEqual([sj.run_id, sj.occurrence, sj.state, sj.totals.sent], [occurrenceStamp(Date.parse(at)), occurrenceStamp(Date.parse(at)), 'finished', 2]);
    const text = await runCli(['status', 'c.yaml'], { cwd: dir });
    assert.match(text.stdout, /^c: latest occurrence \d{8}T\d{6}Z \(finished\)/);
    // --resend-unknown and --restart act on that latest occurrence.
    const stamp = occurrenceStamp(Date.parse(at));
    const db = new Database(path.join(dir, '.mailcamp', 'c', 'occurrences', stamp, 'journal.sqlite'));
    db.prepare(`UPDATE entries SET status = 'unknown' WHERE row = 2`).run();
    db.close();
    const resend = await runCli(['send', 'c.yaml', '--resend-unknown', '--json'], { cwd: dir });
    assert.equal(resend.code, 0, resend.stderr);
    assert.match(resend.stderr, new RegExp(`--resend-unknown applies to its latest occurrence, ${stamp}`));
    assert.deepEqual([JSON.parse(resend.stdout).run_id, JSON.parse(resend.stdout).totals.sent], [stamp, 2]);
    // --restart (the tool's own advice for a finished occurrence): a new run of that occurrence,
    // its own report; --list names that report.
    const again2 = await runCli(['send', 'c.yaml', '--occurrence', stamp], { cwd: dir });
    assert.match(again2.stderr, /already ran .*pass --restart/);
    for (const args of [['send', 'c.yaml', '--restart', '--json'], ['send', 'c.yaml', '--occurrence', stamp, '--restart', '--json']]) {
      const re = await runCli(args, { cwd: dir });
      assert.equal(re.code, 0, re.stderr);
      const rj = JSON.parse(re.stdout);
      assert.match(rj.run_id, new RegExp(`^${stamp}-[0-9a-f]{6}$`));
      assert.equal(rj.totals.sent, 2);
      assert.equal(rj.report, path.join(dir, 'reports', 'c', `${rj.run_id}.json`));
      const list = await runCli(['schedule', 'c.yaml', '--list'], { cwd: dir });
      assert.ok(list.stdout.includes(`report reports/c/${rj.run_id}.json`) || list.stdout.includes(`report ${path.join('reports', 'c', `${rj.run_id}.json`)}`), list.stdout);
    }
    // A dry run is still just a dry run.
    const dry = await runCli(['send', 'c.yaml', '--dry-run', '--json'], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).dry_run, true);
  });

  test('--occurrence on a campaign without a schedule is a usage error', async () => {
    const dir = project(tmpDir(), { 'c.yaml': '' });
    const r = await runCli(['send', 'c.yaml', '--occurrence', 'due'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has no schedule: key/);
  });
});

describe('schedule', () => {
  test('--list: next occurrences and the state of the last one', async () => {
    const dir = project(tmpDir(), {
      'a.yaml': 'schedule: { at: ["2020-01-06T09:00:00+01:00", "2999-01-01T00:00:00Z"], timezone: Europe/Berlin }\n',
      'plain.yaml': '', // no schedule: not listed
    });
    let r = await runCli(['schedule', '.', '--list'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^a {2}a\.yaml$/m);
    assert.match(r.stdout, /next {6}Tue 2999-01-01 01:00 \+01:00/);
    assert.match(r.stdout, /last {6}Mon 2020-01-06 09:00 \+01:00: not sent/);
    assert.ok(!r.stdout.includes('plain'));

    const s = await runCli(['send', 'a.yaml', '--occurrence', '2020-01-06T08:00:00Z'], { cwd: dir });
    assert.equal(s.code, 0, s.stderr);
    r = await runCli(['schedule', 'a.yaml', '--list', '--json'], { cwd: dir });
    const [row] = JSON.parse(r.stdout);
    assert.equal(row.campaign, 'a');
    assert.deepEqual(row.next, ['2999-01-01T01:00:00+01:00']);
    assert.equal(row.last.state, 'finished');
    assert.equal(row.last.occurrence, '20200106T080000Z');
    assert.equal(row.last.totals.sent, 2);
  });

  test('--list of a folder with nothing scheduled yet lists nothing (exit 0; [] with --json); a file without schedule: is an error; --count and --json need --list', async () => {
    const dir = project(tmpDir(), { 'c.yaml': '' });
    fs.mkdirSync(path.join(dir, 'empty'));
    const json = await runCli(['schedule', 'empty', '--list', '--json'], { cwd: dir });
    assert.deepEqual([json.code, json.stdout], [0, '[]\n']);
    const text = await runCli(['schedule', 'empty', '--list'], { cwd: dir });
    assert.deepEqual([text.code, text.stdout], [0, 'no scheduled campaigns in empty yet\n']);
    const file = await runCli(['schedule', 'c.yaml', '--list'], { cwd: dir });
    assert.equal(file.code, 2);
    assert.match(file.stderr, /^c\.yaml: no schedule: key/);
    for (const flag of [['--count', '2'], ['--json']]) {
      const r = await runCli(['schedule', 'empty', ...flag], { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `${flag[0]} goes with --list\n`);
    }
  });

  test('refuses to start for an SMTP campaign without --yes (exit 2, nothing sent)', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'transport: smtp://127.0.0.1:9\nschedule: { cron: "* * * * *", timezone: UTC }\n' });
    const r = await runCli(['schedule', 'c.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sends through smtp:\/\/127\.0\.0\.1:9; start schedule with --yes/);
    assert.match(r.stderr, /not started: 1 campaign would send through SMTP; pass --yes/);
  });

  test('starts, logs the next due time, and stops cleanly on the signal (exit 0)', async () => {
    const dir = project(tmpDir(), { 'c.yaml': 'schedule: { cron: "0 9 1 1 *", timezone: Asia/Shanghai, missed: skip }\n' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('SIGTERM')), 300);
    const r = await runCli(['schedule', 'c.yaml'], { cwd: dir, signal: ac.signal });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /c: watching c\.yaml: cron '0 9 1 1 \*', time zone Asia\/Shanghai; missed: skip, catch_up 6h/);
    assert.match(r.stderr, /c: next occurrence \w{3} \d{4}-01-01 09:00 \+08:00 \(Asia\/Shanghai\), in /);
    assert.match(r.stderr, /stopped$/m);
  });

  test('SIGTERM mid-send: messages in flight finish, exit 130; the next start resumes the occurrence, nothing twice', async () => {
    const server = await startSmtpServer({ starttls: false });
    try {
      const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000).toISOString();
      const emails = Array.from({ length: 8 }, (_, i) => `t${i + 1}@example.com`);
      const dir = project(tmpDir(), {
        'c.yaml': `transport: smtp://127.0.0.1:${server.port}\nconcurrency: 1\nrate: { per_second: 8 }\nschedule: { at: "${at}", timezone: UTC, missed: skip }\n`,
      });
      fs.writeFileSync(path.join(dir, 'r.csv'), 'email,name\n' + emails.map((e) => `${e},X\n`).join(''));
      const first = new AbortController();
      void server.waitForMessages(2, 10_000).then(() => first.abort(new Error('SIGTERM')));
      const r1 = await runCli(['schedule', 'c.yaml', '--yes'], { cwd: dir, signal: first.signal });
      assert.equal(r1.code, 130, r1.stderr);
      assert.match(r1.stderr, /interrupted; it resumes on the next start/);
      const sentBefore = server.messages.length;
      assert.ok(sentBefore >= 2 && sentBefore < emails.length, `stopped mid-send after ${sentBefore}`);

      // Restarted after the occurrence's time: under missed: skip it is still resumed (it was started).
      const second = new AbortController();
      void server.waitForMessages(emails.length, 15_000).then(() => setTimeout(() => second.abort(new Error('SIGTERM')), 300));
      const r2 = await runCli(['schedule', 'c.yaml', '--yes'], { cwd: dir, signal: second.signal });
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stderr, /started earlier but not finished; resuming/);
      for (const e of emails) assert.equal(server.deliveries(e), 1, e);
    } finally {
      await server.close();
    }
  });

  test('a folder with no scheduled campaign yet is watched; one added later is picked up and sent', async () => {
    const dir = project(tmpDir(), {});
    fs.mkdirSync(path.join(dir, 'campaigns'));
    const ac = new AbortController();
    const run = runCli(['schedule', 'campaigns'], { cwd: dir, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000).toISOString();
    fs.writeFileSync(
      path.join(dir, 'campaigns', 'later.yaml'),
      `name: later\nfrom: news@example.com\nsubject: "Hi {{name}}"\ntemplate: ../t.hbs\nrecipients: ../r.csv\nschedule: { at: "${at}", timezone: UTC }\n`,
    );
    const outbox = path.join(dir, 'campaigns', 'outbox', 'later');
    const reports = path.join(dir, 'campaigns', 'reports', 'later');
    // Stopped once the occurrence is over: both messages written (not a file still being written,
    // `.eml.tmp-<pid>`) and its report out; then a moment for the run to close its journal.
    const emls = (d: string) => fs.readdirSync(path.join(outbox, d)).filter((f) => f.endsWith('.eml')).length;
    const over = () => fs.existsSync(outbox) && fs.readdirSync(outbox).some((d) => emls(d) === 2) && fs.existsSync(reports) && fs.readdirSync(reports).some((f) => f.endsWith('.json'));
    for (let i = 0; i < 150 && !over(); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    ac.abort(new Error('SIGTERM'));
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no scheduled campaigns in campaigns yet; watching for new ones/);
    assert.match(r.stderr, /later: watching /);
    const stamps = fs.readdirSync(outbox);
    assert.equal(stamps.length, 1, r.stderr);
    assert.equal(fs.readdirSync(path.join(outbox, stamps[0])).length, 2, 'both recipients written');
  });

  test('two scheduled files with the same name: the second is refused with both named (it would share the journal and never be sent)', async () => {
    const dir = project(tmpDir(), {});
    fs.mkdirSync(path.join(dir, 'c'));
    for (const f of ['a.yaml', 'b.yaml']) {
      fs.writeFileSync(path.join(dir, 'c', f), 'name: reminder\nfrom: news@example.com\nsubject: "Hi {{name}}"\ntemplate: ../t.hbs\nrecipients: ../r.csv\nschedule: { cron: "0 9 * * 1", timezone: UTC }\n');
    }
    const ac = new AbortController();
    const run = runCli(['schedule', 'c'], { cwd: dir, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 500));
    ac.abort(new Error('SIGTERM'));
    const r = await run;
    assert.match(r.stderr, /reminder: watching c\/a\.yaml/);
    assert.match(r.stderr, /c\/b\.yaml: name 'reminder' is also the name of c\/a\.yaml, which is scheduled too: the two would share one journal and only one would be sent/);
    assert.doesNotMatch(r.stderr, /watching c\/b\.yaml/);
  });

  test('a real process on an empty folder keeps running and watching until SIGTERM (exit 0); one whose last file goes away too', { timeout: 30_000 }, async () => {
    ensureBuilt();
    const dir = project(tmpDir(), {});
    fs.mkdirSync(path.join(dir, 'campaigns'));
    const at = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    fs.writeFileSync(path.join(dir, 'other.yaml'), `name: other\nfrom: news@example.com\nsubject: "Hi"\ntemplate: t.hbs\nrecipients: r.csv\nschedule: { at: "${at}" }\n`);
    for (const [args, change] of [
      [['schedule', 'campaigns'], undefined],
      [['schedule', '.'], () => fs.rmSync(path.join(dir, 'other.yaml'))],
    ] as const) {
      const p = spawnCli([...args], dir);
      await new Promise((r) => setTimeout(r, 1000));
      change?.();
      // The poll sees the removal within a few seconds; the process must outlive it.
      await new Promise((r) => setTimeout(r, change ? 4000 : 1000));
      assert.equal(p.child.exitCode, null, `still running (${args.join(' ')})`);
      p.child.kill('SIGTERM');
      const r = await p.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /stopped/);
      if (change) assert.match(r.stderr, /no longer scheduled/);
    }
  });

  test('a path that does not exist is a usage error', async () => {
    const r = await runCli(['schedule', 'nope.yaml'], { cwd: tmpDir() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no such file or folder/);
  });
});
