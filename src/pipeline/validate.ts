// `mailcamp validate`: everything `send` checks before its first connection — the YAML,
// templates, every CSV row rendered, attachments — with every problem reported at once.
// Sends nothing and writes nothing.

import fs from 'node:fs';
import path from 'node:path';
import type { Env } from '../campaign/env.js';
import { timetable } from '../schedule/timetable.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { findStateDir } from '../state/folder.js';
import { openSuppression, suppressionFile } from '../state/suppression.js';
import { loadAsFarAsPossible } from './context.js';
import { renderUnit } from './message.js';
import { suppressedBy } from './suppression-lookup.js';
import { unitsOf } from './units.js';
import { MailcampError } from '../shared/errors.js';

export interface ValidateOptions {
  file: string;
  cwd?: string;
  env?: Env;
  state?: string;
  skipInvalid?: boolean;
  now?: Date;
  /** Ctrl-C: stop reading the list (exit 130). */
  signal?: AbortSignal;
  /** For send --dry-run / --transport: the campaign's transport variables need not be set. */
  transportUnused?: boolean;
}

export interface ValidateResult {
  diagnostics: Diagnostics;
  campaign?: string;
  /** Messages that would be sent, and rows skipped (suppressed, or invalid with --skip-invalid). */
  messages: number;
  skipped: number;
  /** Rows whose address an earlier row already has: that one message covers them. */
  duplicates: number;
  /** The first suppressed rows, with why (`file:line: address: suppressed: …`), and how many there are. */
  suppressed: string[];
  suppressedCount: number;
  /** A scheduled campaign: its zone and next three occurrences (epoch ms). */
  schedule?: { kind: 'cron' | 'at'; expression: string; timezone: string; zoneFromMachine: boolean; next: number[] };
}

/** Suppressed rows listed by validate; the rest are counted. */
const SUPPRESSED_SHOWN = 20;

export async function runValidate(o: ValidateOptions): Promise<ValidateResult> {
  const diag = new Diagnostics();
  const result: ValidateResult = { diagnostics: diag, messages: 0, skipped: 0, duplicates: 0, suppressed: [], suppressedCount: 0 };
  let loaded;
  try {
    loaded = await loadAsFarAsPossible(o.file, { env: o.env, cwd: o.cwd, transportUnused: o.transportUnused }, diag);
  } catch (e) {
    diag.capture(e);
    return result;
  }
  const c = loaded.campaign;
  if (!c) return result;
  result.campaign = c.name;
  const now = o.now ?? new Date();
  try {
    const tt = c.schedule && timetable(c.schedule);
    if (tt) {
      const { kind, expression, timezone, zoneFromMachine } = tt;
      result.schedule = { kind, expression, timezone, zoneFromMachine, next: tt.after(now.getTime(), 3) };
      if (!result.schedule.next.length && diag.ok) {
        diag.warning('schedule: no occurrence lies ahead (every at: time has passed): `mailcamp schedule` will send nothing new', {
          file: c.displayFile,
          line: c.pos.schedule?.line,
          col: c.pos.schedule?.col,
        });
      }
    }
  } catch {
    // A bad cron expression or zone: already an error in diag, at its line:col.
  }
  const stateDir = findStateDir(c.dir, o.state ? path.resolve(o.cwd ?? process.cwd(), o.state) : undefined);
  const suppression = fs.existsSync(suppressionFile(stateDir)) ? openSuppression(stateDir) : undefined;
  try {
    const isSuppressed = await suppressedBy(c, suppression, diag);
    const occurrence = result.schedule?.next[0] !== undefined ? new Date(result.schedule.next[0]) : undefined;
    const units = unitsOf(c, diag, {
      skipInvalid: o.skipInvalid,
      isSuppressed,
      // Duplicates are not recipients of their own (the report lists each address once).
      onSkip: (row, email, reason) => {
        if (reason.startsWith('duplicate')) return void result.duplicates++;
        result.skipped++;
        // Invalid rows skipped by --skip-invalid are warnings already; suppressed ones say why here.
        if (!reason.startsWith('suppressed')) return;
        if (result.suppressedCount++ < SUPPRESSED_SHOWN) result.suppressed.push(`${c.recipients.displayFile}:${row}: ${email}: ${reason}`);
      },
    });
    const prepared = loaded.prepared;
    for await (const u of units) {
      if (o.signal?.aborted) throw new MailcampError('INTERRUPTED', 'interrupted while checking the recipients');
      try {
        if (prepared) renderUnit(prepared, u, { runId: 'validate', now, occurrence, check: true });
      } catch (e) {
        diag.capture(e);
      }
      result.messages++;
    }
  } finally {
    suppression?.close();
  }
  return result;
}
