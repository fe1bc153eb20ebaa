// Which boot of which machine this process runs on, so that a resume can tell a process that
// died (the kernel kept every write it had made, synced or not) from a machine that went down
// (writes not yet fsynced may be gone). Linux gives each boot a random id; elsewhere there is
// none, and callers must then assume the worse.

import fs from 'node:fs';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

let cached: string | null | undefined;

/** This boot's id, or undefined where the system has none. */
export function bootId(): string | undefined {
  if (cached === undefined) {
    try {
      cached = fs.readFileSync(BOOT_ID, 'utf8').trim() || null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
