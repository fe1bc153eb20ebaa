// Which boot of which machine this process runs on, so that a resume can tell a process that
// died (the kernel kept every write it had made, synced or not) from a machine that went down
// (writes not yet fsynced may be gone). Linux gives each boot a random id. Elsewhere the boot
// time stands in for it (now minus uptime, to the minute): two readings on either side of a
// minute's edge differ, which only makes a resume treat the last run as after a reboot, the
// safe side.

import fs from 'node:fs';
import os from 'node:os';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

let cached: string | null | undefined;

/** This boot's id, or undefined where the system gives neither an id nor an uptime. */
export function bootId(): string | undefined {
  if (cached === undefined) {
    try {
      cached = fs.readFileSync(BOOT_ID, 'utf8').trim() || null;
    } catch {
      cached = null;
    }
    if (cached === null) {
      const up = os.uptime();
      cached = up > 0 ? `booted-at:${Math.round((Date.now() / 1000 - up) / 60)}` : null;
    }
  }
  return cached ?? undefined;
}
