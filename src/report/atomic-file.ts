// A file written in pieces that appears at its path only when complete.
//
// Text goes to a temporary file in the same folder (rename is atomic only within one file
// system), is fsync'ed, and is then renamed over the target; the folder is fsync'ed as well so
// the rename itself survives a crash (POSIX rename(2); the ext4/XFS advice for durable
// replacement). A reader therefore sees the old file or the new one, never a half-written one,
// and a failed write leaves the old file as it was and no temporary behind.
//
// Writes are buffered and flushed in ~1 MiB chunks; flush() is awaited by the producer, which
// is the backpressure: a million report rows never sit in memory at once. (Each flush is a round
// trip to libuv's thread pool: in 64 KiB chunks, a 10,000-row report took ~100 of them, ~15 ms.)

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { removeDeadTemps } from '../shared/dead-temps.js';

const CHUNK = 1024 * 1024;

export class AtomicFile {
  private parts: string[] = [];
  private buffered = 0;
  private done = false;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    private fh: FileHandle,
  ) {}

  /**
   * Creates the temporary file beside `target` (whose folder must exist), after removing those
   * that a killed process left for the same target.
   */
  static async create(target: string): Promise<AtomicFile> {
    const dir = path.dirname(target);
    const prefix = `.${path.basename(target)}.`;
    removeDeadTemps(dir, (name) => (name.startsWith(prefix) ? pidIn(name.slice(prefix.length)) : undefined));
    const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    // 'wx': never follow or reuse something already at the temporary name.
    const fh = await open(temp, 'wx', 0o644);
    return new AtomicFile(target, temp, fh);
  }

  /** Queues text; call flush() when `full` to keep memory bounded. */
  write(text: string): void {
    this.parts.push(text);
    this.buffered += text.length;
  }

  /** Whether enough is buffered that the producer should await flush(). */
  get full(): boolean {
    return this.buffered >= CHUNK;
  }

  /** Writes what is buffered to the temporary file. */
  async flush(): Promise<void> {
    if (!this.parts.length) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.buffered = 0;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
  }

  /** Flushes, fsyncs and closes the temporary file; the target is not touched yet. */
  async finish(): Promise<void> {
    await this.flush();
    await this.fh.sync();
    await this.fh.close();
  }

  /** Moves the finished temporary file over the target and makes the rename durable. */
  async rename(): Promise<void> {
    await rename(this.tempPath, this.target);
    this.done = true;
    syncDir(path.dirname(this.target));
  }

  /** Gives up: closes and removes the temporary file. Safe to call more than once. */
  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await rm(this.tempPath, { force: true });
  }
}

/** `<pid>.<8 hex>.tmp` → pid. */
function pidIn(rest: string): number | undefined {
  const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(rest);
  return m ? Number(m[1]) : undefined;
}

function syncDir(dir: string): void {
  // Not every platform can open a folder for fsync (Windows cannot); the rename has happened
  // either way, only its durability across a power cut is then up to the OS.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // see above
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
