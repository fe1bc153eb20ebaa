// Postfix's smtp-sink on 127.0.0.1, started fresh for each measurement so that its message
// counter (-c) counts exactly that measurement's messages, and the child processes the bench
// times (wall time and peak RSS through /usr/bin/time).
//
// The counter goes to a file, read when the measurement ends. Read through a pipe, it woke the
// bench's own process after every message, and that process took CPU from the 2 cores the
// measured sender and the sink share (up to 7,600 wake-ups a second with smtp-source).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../test/helpers/net.js';

export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const SMTP_SOURCE = '/usr/sbin/smtp-source';
export const TIME = '/usr/bin/time';

/** Stops with a message naming the package when a tool is missing. */
export function requireTools(): void {
  const missing = [SMTP_SINK, SMTP_SOURCE, TIME].filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new Error(
      `missing ${missing.join(', ')}: install Debian's postfix and time packages ` +
        '(apt-get install postfix time; postfix needs no configuration for the bench)',
    );
  }
}


/** Sinks still running: stopped when the bench exits, even after a failure. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGTERM');
});

export class Sink {
  readonly port: number;
  private proc: ChildProcess;
  /** smtp-sink's standard output: the counter, rewritten after every message. */
  private counterFile: string;

  private constructor(port: number, proc: ChildProcess, counterFile: string) {
    this.port = port;
    this.proc = proc;
    this.counterFile = counterFile;
  }

  /**
   * Starts smtp-sink. `dumpDir` makes it write every message to a file there (slow: only for
   * the small correctness run).
   */
  static async start(dumpDir?: string): Promise<Sink> {
    const port = await freePort();
    const args = ['-c'];
    // As root, smtp-sink insists on dropping privileges.
    if (process.getuid?.() === 0) args.push('-u', 'nobody');
    if (dumpDir) {
      fs.mkdirSync(dumpDir, { recursive: true });
      fs.chmodSync(dumpDir, 0o777);
      args.push('-d', `${dumpDir}/m.`);
    }
    args.push(`127.0.0.1:${port}`, '1024');
    const counterFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-bench-sink-')), 'counter');
    const out = fs.openSync(counterFile, 'w');
    const proc = spawn(SMTP_SINK, args, { stdio: ['ignore', out, 'pipe'] });
    fs.closeSync(out);
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    let err = '';
    proc.stderr!.on('data', (d) => (err += d));
    const sink = new Sink(port, proc, counterFile);
    // Ready when it accepts a connection.
    await waitForPort(port, { what: 'smtp-sink', failed: () => (proc.exitCode !== null ? `smtp-sink exited: ${err}` : undefined) });
    return sink;
  }

  /** Messages received so far (the last `mesg=` of the -c counter). */
  get messages(): number {
    const fd = fs.openSync(this.counterFile, 'r');
    let tail: string;
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 400));
      tail = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, size - buf.length));
    } finally {
      fs.closeSync(fd);
    }
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    return all.length ? Number(all[all.length - 1][1]) : 0;
  }

  /** Waits until the count stops moving (or reaches `expect`), then stops the sink. */
  async stop(expect?: number): Promise<number> {
    let last = -1;
    let stableSince = Date.now();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const n = this.messages;
      if (expect !== undefined && n >= expect) break;
      if (n !== last) {
        last = n;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 500) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // A few extra milliseconds in case one more counter line is on its way.
    await new Promise((r) => setTimeout(r, 100));
    const n = this.messages;
    this.proc.kill('SIGTERM');
    await new Promise((r) => (this.proc.exitCode !== null ? r(null) : this.proc.once('exit', r)));
    fs.rmSync(path.dirname(this.counterFile), { recursive: true, force: true });
    return n;
  }
}

export interface Timed {
  /** Wall time in seconds, as measured around the process (spawn to exit). */
  seconds: number;
  /** Peak resident set size in MB, from /usr/bin/time (the kernel's maxrss of the child). */
  peakMb: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command under /usr/bin/time, measuring wall time and peak RSS. */
export async function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  const tfile = `${fs.mkdtempSync('/tmp/mailcamp-bench-time-')}/t`;
  const t0 = process.hrtime.bigint();
  const child = spawn(TIME, ['-f', '%M', '-o', tfile, cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const text = fs.readFileSync(tfile, 'utf8').trim().split('\n');
  fs.rmSync(tfile.replace(/\/t$/, ''), { recursive: true, force: true });
  const kb = Number(text[text.length - 1]);
  return { seconds, peakMb: kb / 1024, code, stdout, stderr };
}

/** Wall time of a short command, median of `runs` (after one warm-up run). */
export function medianMs(cmd: string, args: string[], runs: number, cwd?: string): { medianMs: number; all: number[]; code: number | null } {
  spawnSync(cmd, args, { cwd, stdio: 'ignore' });
  const all: number[] = [];
  let code: number | null = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd, stdio: 'ignore' });
    all.push(Number(process.hrtime.bigint() - t0) / 1e6);
    code = r.status;
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)], all, code };
}
