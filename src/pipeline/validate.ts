// `mailcamp validate`: everything `send` checks before its first connection — the YAML,
// templates, every CSV row rendered, attachments — with every problem reported at once.
// Sends nothing and writes nothing.

import fs from 'node:fs';
import path from 'node:path';
import type { Env } from '../campaign/env.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { findStateDir } from '../state/folder.js';
import { openSuppression, suppressionFile } from '../state/suppression.js';
import { loadAsFarAsPossible } from './context.js';
import { renderUnit } from './message.js';
import { loadSuppressFilesAsync } from './suppress-files.js';
import { unitsOf } from './units.js';

export interface ValidateOptions {
  file: string;
  cwd?: string;
  env?: Env;
  state?: string;
  skipInvalid?: boolean;
  now?: Date;
}

export interface ValidateResult {
  diagnostics: Diagnostics;
  campaign?: string;
  /** Messages that would be sent, and rows skipped (suppressed, or invalid with --skip-invalid). */
  messages: number;
  skipped: number;
}

export async function runValidate(o: ValidateOptions): Promise<ValidateResult> {
  const diag = new Diagnostics();
  const result: ValidateResult = { diagnostics: diag, messages: 0, skipped: 0 };
  let loaded;
  try {
    loaded = await loadAsFarAsPossible(o.file, { env: o.env, cwd: o.cwd }, diag);
  } catch (e) {
    diag.capture(e);
    return result;
  }
  const c = loaded.campaign;
  if (!c) return result;
  result.campaign = c.name;
  const stateDir = findStateDir(c.dir, o.state ? path.resolve(o.cwd ?? process.cwd(), o.state) : undefined);
  const suppression = fs.existsSync(suppressionFile(stateDir)) ? openSuppression(stateDir) : undefined;
  try {
    const extra = await loadSuppressFilesAsync(c, diag);
    const now = o.now ?? new Date();
    const units = unitsOf(c, diag, {
      skipInvalid: o.skipInvalid,
      isSuppressed: (k) => {
        const e = suppression?.get(k);
        return e ? `${e.kind}: ${e.reason}` : extra.get(k);
      },
      onSkip: () => result.skipped++,
    });
    const prepared = loaded.prepared;
    for await (const u of units) {
      try {
        if (prepared) renderUnit(prepared, u, { runId: 'validate', now });
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
