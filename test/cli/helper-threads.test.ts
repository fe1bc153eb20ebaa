// `mailcamp send` runs V8's helper threads at the lowest priority and leaves its main thread and
// libuv's pool (file I/O) as they are (src/cli/helper-threads.ts). Checked on this very kernel:
// a process imports the module as the CLI does, keeps its pool busy with pbkdf2 (which libuv
// runs on the pool), and reports each thread's nice value and CPU time from /proc.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { helperThreads } from '../../src/cli/helper-threads.js';
import { REPO } from '../helpers/examples.js';
import { tmpDir } from '../helpers/tmp.js';
import { ensureBuilt } from '../pipeline/delivery-fixture.js';

interface ThreadInfo {
  tid: number;
  nice: number;
  /** CPU time (clock ticks) used while the pool was kept busy. */
  busy: number;
}

const PROBE = `
import fs from 'node:fs';
import crypto from 'node:crypto';
await import(${JSON.stringify(path.join(REPO, 'dist', 'cli', 'helper-threads.js'))});
const stat = (t) => fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8').slice(fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8').lastIndexOf(')') + 2).split(' ');
const cpu = (t) => { const f = stat(t); return Number(f[11]) + Number(f[12]); };
const tids = fs.readdirSync('/proc/self/task').map(Number);
const before = new Map(tids.map((t) => [t, cpu(t)]));
await Promise.all(Array.from({ length: 8 }, () => new Promise((resolve, reject) =>
  crypto.pbkdf2('secret', 'salt', 400000, 32, 'sha256', (e) => (e ? reject(e) : resolve())))));
process.stdout.write(JSON.stringify({ main: process.pid, threads: tids.map((t) => ({ tid: t, nice: Number(stat(t)[16]), busy: cpu(t) - before.get(t) })) }));
`;

function probe(command: string): { main: number; threads: ThreadInfo[] } {
  ensureBuilt();
  const file = path.join(tmpDir('mailcamp-threads-'), 'probe.mjs');
  fs.writeFileSync(file, PROBE);
  const r = spawnSync(process.execPath, [file, command], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('helper threads at the lowest priority for send', () => {
  test('the helpers are the threads between the main one and the pool, in the kernel numbering', () => {
    assert.deepEqual(helperThreads([110, 100, 104, 101, 109, 102, 103, 105, 106, 107, 108], 100, 4), [101, 102, 103, 104, 105, 106]);
    assert.deepEqual(helperThreads([100, 101, 102], 100, 4), []);
  });

  test('send: V8 helpers at nice 19; the main thread and the threads that did the file pool work keep 0', { skip: process.platform !== 'linux' }, () => {
    const { main, threads } = probe('send');
    const byTid = new Map(threads.map((t) => [t.tid, t]));
    assert.equal(byTid.get(main)!.nice, 0);
    const pool = threads.filter((t) => t.tid !== main && t.busy > 0);
    assert.ok(pool.length >= 1, `no thread ran the pbkdf2 jobs: ${JSON.stringify(threads)}`);
    for (const t of pool) assert.equal(t.nice, 0, `pool thread ${t.tid} was lowered: ${JSON.stringify(threads)}`);
    assert.ok(threads.filter((t) => t.nice === 19).length >= 4, JSON.stringify(threads));
  });

  test('other commands leave every thread as it was', { skip: process.platform !== 'linux' }, () => {
    const { threads } = probe('validate');
    assert.deepEqual(
      threads.filter((t) => t.nice !== 0),
      [],
    );
  });
});
