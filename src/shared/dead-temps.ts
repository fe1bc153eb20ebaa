// Temporary files left by a process that was killed before it could rename or remove them
// (report/atomic-file.ts, send/outbox.ts name theirs with their pid). Whoever writes into the
// same folder later removes those of processes that are gone; a live writer's are left alone.

import fs from 'node:fs';
import path from 'node:path';

/** Whether a process with this pid exists on this host. */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the files in `dir` for which `pidOf` names a pid that is neither this process nor
 * alive; returns their names. Best effort: a folder that cannot be read is left as it is.
 */
export function removeDeadTemps(dir: string, pidOf: (name: string) => number | undefined): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = pidOf(name);
    if (pid === undefined || pid === process.pid || isAlive(pid)) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // best effort
    }
  }
  return removed;
}
