// Which files `mailcamp schedule <campaign.yaml|folder>...` watches, and how a change to
// them is noticed.
//
// A file named on the command line is a campaign (and must have a `schedule:`). A folder
// contributes its `*.yaml`/`*.yml` files (not its sub-folders) that have a top-level
// `schedule:` key; other YAML files there (unscheduled campaigns, mailbox files) are left
// alone. Folders are listed again on every check, so a campaign file added later is picked up.
//
// Changes are noticed by polling a signature (size, mtime and inode of each file) rather than
// with fs.watch: editors replace files by renaming, network file systems drop events, and a
// poll every few seconds costs nothing next to a send.

import fs from 'node:fs';
import path from 'node:path';
import { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { fileSignature } from '../shared/paths.js';
import { readYamlFile } from '../campaign/yaml.js';

export interface WatchedFile {
  /** Absolute path. */
  file: string;
  /** Named on the command line (true) or found in a folder (false). */
  explicit: boolean;
  /** Changes when the file does; undefined when it is gone. */
  signature: string | undefined;
}

/** Expands the arguments into campaign files. A path that does not exist is a usage error. */
export function campaignFiles(paths: string[]): WatchedFile[] {
  const out = new Map<string, WatchedFile>();
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new MailcampError('USAGE', `no such file or folder: ${p}`);
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p).sort()) {
        if (!/\.ya?ml$/i.test(name)) continue;
        const file = path.join(p, name);
        if (out.has(file) || !isFile(file) || !hasScheduleKey(file)) continue;
        out.set(file, { file, explicit: false, signature: fileSignature(file) });
      }
    } else out.set(p, { file: p, explicit: true, signature: fileSignature(p) });
  }
  return [...out.values()];
}

/** Like campaignFiles, but a path that has disappeared yields nothing instead of an error. */
export function campaignFilesNow(paths: string[]): WatchedFile[] {
  return campaignFiles(paths.filter((p) => fs.existsSync(p)));
}

function hasScheduleKey(file: string): boolean {
  try {
    const diag = new Diagnostics();
    const { root, text } = readYamlFile(file, file, diag);
    // A broken file that looks scheduled is kept, so its errors are reported, not ignored.
    if (!diag.ok) return /^schedule\s*:/m.test(text);
    return root?.kind === 'map' && root.entries.has('schedule');
  } catch {
    // Unreadable or not YAML: not one of ours.
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
