import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MailcampError } from '../../src/shared/errors.js';
import { bootId } from '../../src/state/boot.js';
import { acquireLock, liveLock, readLock, LOCK_FILE, type Lock } from '../../src/state/lock.js';

let dir: string;
let held: Lock[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-lock-'));
  held = [];
});

afterEach(() => {
  for (const l of held) l.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

function take(what = 'send news'): Lock {
  const l = acquireLock(dir, what);
  held.push(l);
  return l;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(child.pid);
  return child.pid;
}

function writeLock(info: object): void {
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(info));
}

describe('lock', () => {
  test('writes who holds it, and a second acquire throws naming the pid', () => {
    const l = take('send november-news');
    assert.equal(l.file, path.join(dir, LOCK_FILE));
    assert.equal(l.tookOverStaleFrom, undefined);
    const onDisk = JSON.parse(fs.readFileSync(l.file, 'utf8'));
    assert.equal(onDisk.pid, process.pid);
    assert.equal(onDisk.hostname, os.hostname());
    assert.equal(onDisk.what, 'send november-news');
    assert.ok(!Number.isNaN(Date.parse(onDisk.started_at)));
    assert.deepEqual(readLock(dir), onDisk);

    assert.throws(
      () => acquireLock(dir, 'send again'),
      (e: unknown) =>
        e instanceof MailcampError &&
        e.code === 'STATE' &&
        e.place.file === l.file &&
        e.message ===
          `campaign is locked by process ${process.pid} (started ${onDisk.started_at}); wait for it or stop it`,
    );
    assert.equal(fs.readFileSync(l.file, 'utf8'), JSON.stringify(onDisk) + '\n', 'the holder keeps it');
  });

  test('a lock held by a bounces run says so, not "campaign is locked"', () => {
    take('bounces mailbox.yaml');
    assert.throws(() => acquireLock(dir, 'bounces mailbox.yaml'), (e: unknown) => e instanceof MailcampError && /^another bounces run is recording into this state folder/.test(e.message));
  });

  test('release() frees it for the next one, once', () => {
    const l = take();
    l.release();
    assert.equal(fs.existsSync(l.file), false);
    l.release();
    const again = take();
    assert.equal(again.tookOverStaleFrom, undefined);
  });

  test('a lock left by a dead process is taken over', async () => {
    const pid = await deadPid();
    writeLock({ pid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'send news' });
    const l = take();
    assert.equal(l.tookOverStaleFrom, pid);
    assert.equal(JSON.parse(fs.readFileSync(l.file, 'utf8')).pid, process.pid);
    assert.equal(fs.existsSync(`${l.file}.takeover`), false, 'the takeover guard is gone');
  });

  test('a lock from an earlier boot is taken over even when its pid is alive now (pid reuse after a reboot)', () => {
    writeLock({ pid: process.ppid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'send news', boot: 'an-earlier-boot' });
    const l = take();
    assert.equal(l.tookOverStaleFrom, process.ppid);
    assert.equal(JSON.parse(fs.readFileSync(l.file, 'utf8')).boot, bootId());
    // The same lock written on this boot is respected.
    l.release();
    writeLock({ pid: process.ppid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'send news', boot: bootId() });
    assert.throws(() => acquireLock(dir, 'send'), new RegExp(`locked by process ${process.ppid} `));
  });

  test('a lock whose pid now belongs to a process that started at another tick is stale (a restarted container: pid 1 again); the same tick is respected', (t) => {
    const stat = (() => {
      try {
        return fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
      } catch {
        return undefined;
      }
    })();
    if (!stat) return t.skip('no /proc');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    writeLock({ pid: process.ppid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'send news', boot: bootId(), start_ticks: ticks + 1 });
    const l = take();
    assert.equal(l.tookOverStaleFrom, process.ppid);
    assert.equal(typeof JSON.parse(fs.readFileSync(l.file, 'utf8')).start_ticks, 'number', 'the new lock records its own');
    l.release();
    writeLock({ pid: process.ppid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'send news', boot: bootId(), start_ticks: ticks });
    assert.throws(() => acquireLock(dir, 'send'), new RegExp(`locked by process ${process.ppid} `));
  });

  test('a lock from another pid namespace (a container) is stale once no process is left in it, whatever its pid means here', (t) => {
    if (!fs.existsSync('/proc/self/ns/pid')) return t.skip('no /proc');
    writeLock({ pid: 1, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'send news', boot: bootId(), start_ticks: 1, pidns: 'pid:[1]' });
    const l = take();
    assert.equal(l.tookOverStaleFrom, 1);
    assert.equal(JSON.parse(fs.readFileSync(l.file, 'utf8')).pidns, fs.readlinkSync('/proc/self/ns/pid'));
  });

  test('a lock naming this very process, which it does not hold, is stale (its pid was a dead process\'s)', () => {
    writeLock({ pid: process.pid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00.000Z', what: 'schedule' });
    assert.equal(liveLock(dir), undefined);
    const l = take();
    assert.equal(l.tookOverStaleFrom, process.pid);
    assert.deepEqual(liveLock(dir), JSON.parse(fs.readFileSync(l.file, 'utf8')), 'held by this process now: live');
  });

  test('a torn lock file is taken over once it is old', () => {
    const file = path.join(dir, LOCK_FILE);
    fs.writeFileSync(file, '{"pid": 12');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const l = take();
    assert.equal(l.tookOverStaleFrom, 0);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).pid, process.pid);
  });

  test('a fresh unreadable lock file is being written: it is waited for, not taken over', async () => {
    const file = path.join(dir, LOCK_FILE);
    fs.writeFileSync(file, '');
    // Another process finishes writing it 200 ms later, naming a live holder (our parent).
    const info = JSON.stringify({ pid: process.ppid, hostname: os.hostname(), started_at: 'then', what: 'send' });
    const writer = spawn(process.execPath, [
      '-e',
      `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(info)}), 200)`,
    ]);
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    try {
      assert.throws(() => acquireLock(dir, 'send'), new RegExp(`locked by process ${process.ppid} \\(started then\\)`));
    } finally {
      await exited;
    }
  });

  test('a lock from another host is respected and says how to remove it', () => {
    writeLock({ pid: 1, hostname: `not-${os.hostname()}`, started_at: '2026-01-01T00:00:00.000Z', what: 'send' });
    assert.throws(
      () => acquireLock(dir, 'send'),
      (e: unknown) =>
        e instanceof MailcampError &&
        /locked by process 1 on not-/.test(e.message) &&
        /delete .*lock/.test(e.hint ?? ''),
    );
  });

  test('release() leaves a lock that is no longer its own', async () => {
    const l = take();
    // Someone (wrongly) replaced it; it is theirs now.
    const theirs = JSON.stringify({ pid: process.pid, hostname: os.hostname(), started_at: 'x', what: 'other' });
    fs.writeFileSync(l.file, theirs);
    l.release();
    assert.equal(fs.readFileSync(l.file, 'utf8'), theirs);
  });

  test('a process that exits normally releases its lock', async () => {
    const lockModule = path.resolve('src/state/lock.ts');
    const script = `import { acquireLock } from ${JSON.stringify(lockModule)}; acquireLock(${JSON.stringify(dir)}, 'child'); console.log('held');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0);
    assert.equal(out.trim(), 'held');
    assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
  });
});
