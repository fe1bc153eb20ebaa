// The lock that keeps two processes from sending the same campaign (or reading the same
// mailbox) at once: `<dir>/lock`, a small JSON file {pid, hostname, started_at, what}.
//
// - Created with O_EXCL (`wx`): the file system decides atomically who holds it.
// - A lock whose process is gone (crash, kill -9, reboot) is stale and is taken over, so a
//   crash never needs manual clean-up. "Gone" is decided with kill(pid, 0), which only means
//   something on the same host: a lock written on another host (a state folder on a shared
//   drive) is always respected and the error says how to remove it. The lock also records this
//   boot's id (boot.ts): a lock from an earlier boot is stale whatever process has its pid now
//   (after a crash and reboot a service often gets the same pid, even the new mailcamp's own).
//   A lock naming this very process that it does not hold is stale too, and so is one whose
//   pid now belongs to a process that started at another clock tick since boot than the
//   holder did (Linux /proc: a container restarted on the same boot, where mailcamp was pid 1).
//   A holder in another pid namespace counts as alive while any process we can see is in it.
//   Where that cannot be read, a pid reused by an unrelated process keeps the lock held: the
//   safe mistake.
// - Taking over must not let two processes win. Deleting the stale file and creating a new one
//   is done only while holding a second, short-lived `lock.takeover` file (also O_EXCL), after
//   re-reading the lock under it and checking it is byte-for-byte the stale one: nobody else
//   can replace a stale lock in between, because plain creation needs the file absent and
//   replacement needs the takeover file.
// - A lock file that cannot be parsed is either being written this very moment (a few
//   microseconds after creation) or was torn by a crash; it is stale only once it is older
//   than UNREADABLE_GRACE_MS.
// - release() removes the file only if it still holds exactly what this process wrote, and a
//   process 'exit' hook releases it on a normal exit (the CLI turns signals into an exit).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../shared/dead-temps.js';
import { MailcampError } from '../shared/errors.js';
import { bootId } from './boot.js';

export const LOCK_FILE = 'lock';
const UNREADABLE_GRACE_MS = 2000;
const ACQUIRE_DEADLINE_MS = 5000;
const RETRY_MS = 10;

export interface LockInfo {
  pid: number;
  hostname: string;
  /** ISO 8601 */
  started_at: string;
  /** What the holder is doing, e.g. `send november-news`. */
  what: string;
  /** The holder's boot (boot.ts); absent in locks written before it was recorded. */
  boot?: string;
  /** The holder's start in clock ticks since boot (Linux), to tell a reused pid. */
  start_ticks?: number;
  /** The holder's pid namespace (Linux): its pid means something only in the same one. */
  pidns?: string;
}

/** Lock files this process holds now. */
const heldHere = new Set<string>();

/** Whether the holder of `file` may still be running: on another host, or alive on this boot. */
export function holderAlive(holder: LockInfo, file: string): boolean {
  if (holder.hostname !== os.hostname()) return true;
  const boot = bootId();
  if (holder.boot && boot && holder.boot !== boot) return false;
  // A holder in another pid namespace (another container, or the host): its pid means nothing
  // here. It is alive as long as some process we can see still lives in that namespace (a
  // restarted container's old one is gone; a container beside us is not).
  const ns = pidNamespace('self');
  if (holder.pidns && ns && holder.pidns !== ns) return namespaceInUse(holder.pidns);
  if (holder.pid === process.pid) return heldHere.has(path.resolve(file));
  if (!isAlive(holder.pid)) return false;
  // The pid is taken, but by another process than the one that wrote the lock: the holder died
  // and its pid was given out again (a container restarted on the same boot: pid 1 again).
  // Told by the process's start in clock ticks since boot, which no clock change moves.
  if (holder.start_ticks !== undefined) {
    const now = startTicks(holder.pid);
    if (now !== undefined && now !== holder.start_ticks) return false;
  }
  return true;
}

/** The pid namespace of a process (`pid:[4026531836]`), where /proc tells. */
function pidNamespace(pid: number | 'self'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Whether any process this one can see is in pid namespace `ns`. */
function namespaceInUse(ns: string): boolean {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return true; // cannot look: the safe answer
  }
  return pids.some((p) => pidNamespace(Number(p)) === ns);
}

/** When process `pid` started, in clock ticks since boot (proc(5) stat field 22); Linux only. */
function startTicks(pid: number | 'self'): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields after it start at 3.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

export interface Lock {
  readonly file: string;
  readonly info: LockInfo;
  /** Set when a stale lock was replaced: the dead holder's pid (0 when its file was unreadable). */
  readonly tookOverStaleFrom?: number;
  /** Removes the lock file if it is still ours. Calling it again does nothing. */
  release(): void;
}

export function acquireLock(dir: string, what: string): Lock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const boot = bootId();
  const ticks = startTicks('self');
  const pidns = pidNamespace('self');
  const info: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    started_at: new Date().toISOString(),
    what,
    ...(boot ? { boot } : {}),
    ...(ticks !== undefined ? { start_ticks: ticks } : {}),
    ...(pidns ? { pidns } : {}),
  };
  const text = JSON.stringify(info) + '\n';
  const deadline = Date.now() + ACQUIRE_DEADLINE_MS;
  let tookOverStaleFrom: number | undefined;

  while (Date.now() < deadline) {
    if (createExclusive(file, text)) {
      // Paranoia against the one race left (see replaceStale): make sure the file is ours.
      if (readRaw(file) === text) return held(file, info, text, tookOverStaleFrom);
      continue;
    }
    const seen = readRaw(file);
    if (seen === undefined) continue; // released between our two calls
    const holder = parseLock(seen);
    if (holder) {
      if (holderAlive(holder, file)) throw lockedError(file, holder, holder.hostname !== os.hostname());
    } else if (ageMs(file) < UNREADABLE_GRACE_MS) {
      sleep(RETRY_MS); // being written right now
      continue;
    }
    if (replaceStale(file, seen)) tookOverStaleFrom = holder?.pid ?? 0;
  }
  throw new MailcampError('STATE', 'could not take the lock: it keeps changing hands', { file });
}

/** The current holder of the lock in `dir`, if any (for `status`). */
export function readLock(dir: string): LockInfo | undefined {
  const raw = readRaw(path.join(dir, LOCK_FILE));
  return raw === undefined ? undefined : parseLock(raw);
}

/**
 * The holder of the lock in `dir` if it is still running (or on another host, where that
 * cannot be told); undefined for no lock or a stale one left by a crash (for `status`).
 */
export function liveLock(dir: string): LockInfo | undefined {
  const info = readLock(dir);
  if (!info) return undefined;
  return holderAlive(info, path.join(dir, LOCK_FILE)) ? info : undefined;
}

function held(file: string, info: LockInfo, text: string, tookOverStaleFrom: number | undefined): Lock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(path.resolve(file));
    process.removeListener('exit', release);
    if (readRaw(file) === text) {
      try {
        fs.unlinkSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  };
  process.on('exit', release);
  heldHere.add(path.resolve(file));
  const lock: Lock = { file, info, release };
  return tookOverStaleFrom === undefined ? lock : { ...lock, tookOverStaleFrom };
}

/** Deletes the stale lock `seen` under the takeover lock; true when it was deleted. */
function replaceStale(file: string, seen: string): boolean {
  const guard = `${file}.takeover`;
  if (!createExclusive(guard, JSON.stringify({ pid: process.pid }) + '\n')) {
    // Another process is taking over right now (microseconds), or died doing it.
    const raw = readRaw(guard);
    const pid = raw === undefined ? undefined : (parseJson(raw) as { pid?: unknown } | undefined)?.pid;
    const dead = typeof pid === 'number' ? !isAlive(pid) : raw !== undefined && ageMs(guard) >= UNREADABLE_GRACE_MS;
    if (dead) removeIfSame(guard, raw!);
    else sleep(RETRY_MS);
    return false;
  }
  try {
    return removeIfSame(file, seen);
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

function removeIfSame(file: string, expected: string): boolean {
  if (readRaw(file) !== expected) return false;
  try {
    fs.unlinkSync(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new MailcampError('STATE', `cannot remove stale lock: ${(e as Error).message}`, { file });
  }
}

function createExclusive(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new MailcampError('STATE', `cannot create lock: ${(e as Error).message}`, { file });
  }
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw new MailcampError('STATE', `cannot write lock: ${(e as Error).message}`, { file });
  }
  fs.closeSync(fd);
  return true;
}

function readRaw(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable for another reason (permissions, a folder): treat as an unparseable lock.
    return '';
  }
}

function parseLock(raw: string): LockInfo | undefined {
  const v = parseJson(raw) as Partial<LockInfo> | undefined;
  if (!v || typeof v !== 'object') return undefined;
  if (typeof v.pid !== 'number' || typeof v.hostname !== 'string') return undefined;
  return {
    pid: v.pid,
    hostname: v.hostname,
    started_at: typeof v.started_at === 'string' ? v.started_at : '?',
    what: typeof v.what === 'string' ? v.what : '',
    ...(typeof v.boot === 'string' ? { boot: v.boot } : {}),
    ...(typeof v.start_ticks === 'number' ? { start_ticks: v.start_ticks } : {}),
    ...(typeof v.pidns === 'string' ? { pidns: v.pidns } : {}),
  };
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lockedError(file: string, holder: LockInfo, otherHost: boolean): MailcampError {
  const who = otherHost ? `process ${holder.pid} on ${holder.hostname}` : `process ${holder.pid}`;
  const doing = holder.what ? `it is running '${holder.what}'` : undefined;
  const hint = otherHost
    ? `mailcamp cannot check a process on another host; if it is no longer running, delete ${file}`
    : doing;
  return new MailcampError(
    'STATE',
    /^bounces\b/.test(holder.what ?? '')
      ? `another bounces run is recording into this state folder: ${who} (started ${holder.started_at}); wait for it or stop it`
      : `campaign is locked by ${who} (started ${holder.started_at}); wait for it or stop it`,
    { file },
    hint,
  );
}
