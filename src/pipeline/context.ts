// Loading a campaign for any command: YAML → Campaign, CSV header → columns, templates
// compiled once, shared parts encoded once. Every problem lands in one Diagnostics.

import { type LoadOptions, loadCampaignPartial } from '../campaign/load.js';
import type { Campaign } from '../campaign/types.js';
import { prepare, type PreparedCampaign } from '../compose/index.js';
import { loadMailboxConfig } from '../receive/config.js';
import { readCsv } from '../recipients/csv.js';
import { compileCampaign } from '../render/index.js';
import { Diagnostics } from '../shared/diagnostics.js';

export interface Loaded {
  campaign: Campaign;
  columns: string[];
  prepared: PreparedCampaign;
}

/** Loads, checks and compiles; throws ValidationError carrying every problem found. */
export async function loadForSending(file: string, opts: LoadOptions = {}, diag = new Diagnostics()): Promise<Loaded> {
  const loaded = await loadAsFarAsPossible(file, opts, diag);
  diag.throwIfErrors();
  return loaded as Loaded;
}

/**
 * Goes as far as the input allows, recording every problem in `diag`: the campaign even
 * with errors in it, and the compiled templates when they compile. For `validate`.
 * `whileCompiling` is called once the list's header is read and the templates start to
 * compile (send reads the list ahead meanwhile).
 */
export async function loadAsFarAsPossible(
  file: string,
  opts: LoadOptions,
  diag: Diagnostics,
  whileCompiling?: (c: Campaign) => void,
): Promise<Partial<Loaded>> {
  const campaign = loadCampaignPartial(file, opts, diag);
  if (!campaign) return {};
  // The campaign's mailbox: section is `bounces`'s, but it is part of this file: validate,
  // preview and send agree on it (a variable it needs may be unset where only sending happens).
  if (campaign.pos.mailbox) {
    try {
      loadMailboxConfig(file, { env: opts.env, cwd: opts.cwd, missingEnvIsEmpty: true });
    } catch (e) {
      diag.capture(e);
    }
  }
  const columns = await readColumns(campaign, diag);
  if (!columns) return { campaign }; // the CSV's problem is reported; templates can't be checked without it
  whileCompiling?.(campaign);
  const compiled = await compileCampaign(campaign, columns, diag, opts.cwd);
  let prepared: PreparedCampaign | undefined;
  if (compiled) {
    try {
      prepared = prepare(compiled);
    } catch (e) {
      diag.capture(e);
    }
  }
  return { campaign, columns, prepared };
}

/** The CSV header (and the email/name/group columns checked against it). */
async function readColumns(c: Campaign, diag: Diagnostics): Promise<string[] | undefined> {
  // Header problems are errors here; its warnings are reported by the full pass later.
  const local = new Diagnostics();
  let cols: string[] | undefined;
  let garbled = false;
  try {
    const reader = readCsv(c.recipients, local);
    cols = await reader.header;
    garbled = reader.garbled;
    reader.close();
  } catch (e) {
    diag.capture(e);
  }
  for (const d of local.errors) diag.error(d.message, d);
  // A file read in the wrong encoding has garbled headers: every "no column" and "unknown
  // variable" after that would only bury the one line that names the cause.
  if (!cols || garbled) return undefined;
  const place = { file: c.recipients.displayFile, line: 1 };
  if (c.groupBy && !cols.includes(c.groupBy)) {
    diag.error(`group_by: no column '${c.groupBy}' (columns: ${cols.join(', ')})`, { file: c.displayFile, line: c.pos.group_by?.line, col: c.pos.group_by?.col });
  }
  if (c.recipients.nameColumn && !cols.includes(c.recipients.nameColumn)) {
    diag.error(`no column '${c.recipients.nameColumn}' (columns: ${cols.join(', ')}); set recipients.name_column`, place);
  }
  return cols;
}
