// Temporary folders for tests. Every folder made here lives under os.tmpdir() and is removed
// when the test process exits, so a failing assertion never leaves litter behind and tests do
// not need their own after() hooks for it (they may still remove earlier, rmSync is idempotent).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();
let hooked = false;

function removeAll(): void {
  for (const dir of made) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder still in use (Windows) cannot be removed; the OS cleans tmp eventually.
    }
  }
  made.clear();
}

/** A new empty folder `<os.tmpdir()>/<prefix>XXXXXX`, removed at process exit. */
export function tmpDir(prefix = 'mailcamp-test-'): string {
  if (!hooked) {
    process.once('exit', removeAll);
    hooked = true;
  }
  // realpath: on macOS tmpdir() is a symlink, and path checks in the code under test
  // (symlinks followed) must see the same spelling the test uses.
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  made.add(dir);
  return dir;
}

/**
 * Writes `{ 'relative/path.txt': contents }` under `dir`, creating parent folders.
 * Returns `dir`, so `writeFiles(tmpDir('x-'), {...})` gives the folder in one expression.
 */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): string {
  for (const [rel, contents] of Object.entries(files)) {
    if (path.isAbsolute(rel)) throw new Error(`writeFiles: path must be relative: ${rel}`);
    const target = path.join(dir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, contents);
  }
  return dir;
}
