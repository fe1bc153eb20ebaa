// Readers of the campaign file's sections (recipients, attachments, schedule, error budget,
// addresses, data): each checks its own keys and types and reports problems at their
// line:col; load.ts puts the results together.

import fs from 'node:fs';
import path from 'node:path';
import addressparser from 'nodemailer/lib/addressparser';
import { checkAddress } from '../recipients/address.js';
import { KNOWN_ENCODINGS, resolveEncoding } from '../recipients/decode.js';
import type { RecipientSource } from '../recipients/types.js';
import { cronProblem } from '../schedule/timetable.js';
import { MailcampError } from '../shared/errors.js';
import { leavesFolder, pathHint, realOr } from '../shared/paths.js';
import { isNull, type MapNode, type SchemaReader } from './schema.js';
import { suggest } from './suggest.js';
import { dataMap } from './yaml.js';
import type { AttachmentSpec, Campaign, MailAddress, ScheduleSpec } from './types.js';
import type { PNode, Pos } from './yaml.js';

export const RECIPIENT_KEYS = ['file', 'encoding', 'delimiter', 'email_column', 'name_column'];
export const ERROR_BUDGET_KEYS = ['failures', 'window'];
export const SCHEDULE_KEYS = ['cron', 'timezone', 'at', 'missed', 'catch_up'];
export const ATTACHMENT_KEYS = ['path', 'filename'];

/**
 * `error_budget: { failures: 20%, window: 100 }` (the default), `failures: 5` for a count, or
 * `error_budget: off`. See src/send/error-budget.ts.
 */
export function readErrorBudget(r: SchemaReader, n: PNode | undefined): Campaign['errorBudget'] {
  const dflt = { failures: 0.2, fraction: true, window: 100 };
  if (!n || isNull(n)) return dflt;
  if (n.kind === 'scalar' && (n.value === false || n.value === 'off')) return undefined;
  const m = r.map(n, 'error_budget');
  if (!m) return dflt;
  r.checkKeys(m, ERROR_BUDGET_KEYS, 'error_budget');
  const window = r.number(m.entries.get('window')?.node, 'error_budget.window', { integer: true, positive: true }) ?? dflt.window;
  const f = m.entries.get('failures')?.node;
  if (!f || isNull(f)) return { ...dflt, window };
  const pct = f.kind === 'scalar' && typeof f.value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(f.value) : null;
  if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return { failures: Number(pct[1]) / 100, fraction: true, window };
  if (f.kind === 'scalar' && typeof f.value === 'number' && Number.isInteger(f.value) && f.value > 0 && f.value <= window) {
    return { failures: f.value, fraction: false, window };
  }
  r.error(`error_budget.failures must be a percentage like 20% or a count from 1 to the window (${window})`, f.pos);
  return { ...dflt, window };
}

/** `Name <addr>` or a bare address, validated; display name may be non-ASCII. */
export function readAddress(r: SchemaReader, n: PNode | undefined, key: string): MailAddress | undefined {
  const raw = r.str(n, key);
  if (raw === undefined || !n) return undefined;
  if (/[\r\n\0]/.test(raw)) {
    r.error(`${key}: line break or NUL in an address`, n.pos);
    return undefined;
  }
  // Not a template: `{{team}}-lead@acme.example` would go out as written, a valid address nobody owns.
  if (raw.includes('{{')) {
    r.error(`${key} is not a template: '${raw}' would be sent as written; use one fixed address`, n.pos);
    return undefined;
  }
  // Brackets typed with a Chinese or Japanese input method: `财务部 ＜finance@example.cn＞` parses
  // as the address plus a name that shows the empty brackets. (In the name itself, 《读者》 or
  // «Amis» are fine.)
  const wide = /([＜《〈«‹])\s*[^\s<>]*[@＠][^\s<>]*\s*[＞》〉»›]/.exec(raw);
  if (wide) {
    r.error(`${key}: '${wide[1]}' around the address: write "Name <you@example.com>" with ASCII < >`, n.pos);
    return undefined;
  }
  // `Acme: Billing <billing@…>`, `Acme; Billing <…>`, `Acme (News) <…>`: RFC 5322 reads ':' as
  // the end of a group's name, ';' as its end and '(…)' as a comment, so the name that goes out
  // would lose words. Whoever wrote one unquoted name before one <address> meant the name as
  // written; it goes out quoted (or as encoded words).
  // A typo must not be read as something else: `Test <news@acme.example` (no '>'), or text
  // after the address (`Test <news@acme.example> trailing`).
  if (/<[^>]*$/.test(raw) || />\s*[^\s]/.test(raw.replace(/"(?:[^"\\]|\\.)*"/g, '""'))) {
    r.error(`${key} must be one address like "Name <you@example.com>"; got '${raw}' (check the < >)`, n.pos);
    return undefined;
  }
  const plain = /^\s*([^<>"@]*?)\s*<([^<>\s]+)>\s*$/.exec(raw);
  const parsed = plain
    ? [{ name: plain[1], address: plain[2] }]
    : (addressparser(raw, { flatten: true }) as { name: string; address: string }[]);
  if (parsed.length !== 1 || !parsed[0].address) {
    r.error(`${key} must be one address like "Name <you@example.com>"; got '${raw}'`, n.pos);
    return undefined;
  }
  const c = checkAddress(parsed[0].address);
  if (!c.ok) {
    r.error(`${key}: invalid address "${parsed[0].address}": ${c.reason}`, n.pos);
    return undefined;
  }
  return { name: parsed[0].name || undefined, address: c.address };
}

export function readRecipientsKey(
  r: SchemaReader,
  n: PNode | undefined,
  rel: (p: string) => string,
  show: (p: string) => string,
): RecipientSource | undefined {
  if (!n || isNull(n)) return undefined;
  let fileNode: PNode | undefined = n;
  let m: MapNode | undefined;
  if (n.kind === 'map') {
    m = n;
    r.checkKeys(m, RECIPIENT_KEYS, 'recipients');
    fileNode = m.entries.get('file')?.node;
    if (!fileNode) {
      r.error('recipients needs file:', m.pos);
      return undefined;
    }
  }
  const file = r.str(fileNode, 'recipients' + (m ? '.file' : ''));
  if (file === undefined) return undefined;
  const abs = rel(file);
  if (!isFile(abs)) {
    r.error(`recipient list not found: ${show(abs)}${pathHint(abs)}`, fileNode!.pos);
    return undefined;
  }
  const e = (k: string) => m?.entries.get(k)?.node;
  const encoding = (r.str(e('encoding'), 'recipients.encoding') ?? 'utf-8').toLowerCase();
  // Checked here, where the place in the campaign file is known (the CSV is not read yet).
  try {
    resolveEncoding(encoding, show(abs));
  } catch (err) {
    if (!(err instanceof MailcampError)) throw err;
    const near = suggest(encoding, KNOWN_ENCODINGS);
    r.error(`recipients.encoding: ${err.message}${near ? `; did you mean '${near}'?` : ''}`, e('encoding')!.pos);
    return undefined;
  }
  const delimiter = r.str(e('delimiter'), 'recipients.delimiter') ?? ',';
  if (delimiter.length !== 1 && delimiter !== '\\t') r.error('recipients.delimiter must be one character', e('delimiter')!.pos);
  else if (/^["\r\n]$/.test(delimiter)) r.error(`recipients.delimiter cannot be ${JSON.stringify(delimiter)} (it quotes values or ends lines)`, e('delimiter')!.pos);
  return {
    file: abs,
    displayFile: show(abs),
    encoding,
    delimiter: delimiter === '\\t' ? '\t' : delimiter,
    emailColumn: r.str(e('email_column'), 'recipients.email_column') ?? 'email',
    nameColumn: r.str(e('name_column'), 'recipients.name_column'),
  };
}

export function interpolateData(r: SchemaReader, m: MapNode): Record<string, unknown> {
  const walk = (n: PNode, name: string): unknown => {
    if (n.kind === 'map') {
      const o = dataMap();
      for (const [k, v] of n.entries) o[k] = walk(v.node, `${name}.${k}`);
      return o;
    }
    if (n.kind === 'seq') return n.items.map((it, i) => walk(it, `${name}[${i}]`));
    if (typeof n.value === 'string') return r.str(n, name);
    return n.value;
  };
  return walk(m, 'data') as Record<string, unknown>;
}

export function readAttachments(
  r: SchemaReader,
  n: PNode | undefined,
  rel: (p: string) => string,
  show: (p: string) => string,
  dir: string,
): AttachmentSpec[] {
  const out: AttachmentSpec[] = [];
  if (!n || isNull(n)) return out;
  if (n.kind !== 'seq') {
    r.error('attachments must be a list', n.pos);
    return out;
  }
  n.items.forEach((it, i) => {
    const name = `attachments[${i}]`;
    let pathNode: PNode | undefined = it;
    let filename: string | undefined;
    let filenamePos: Pos | undefined;
    if (it.kind === 'map') {
      r.checkKeys(it, ATTACHMENT_KEYS, name);
      pathNode = it.entries.get('path')?.node;
      filename = r.str(it.entries.get('filename')?.node, `${name}.filename`);
      filenamePos = it.entries.get('filename')?.node.pos;
      if (filename !== undefined && (/[\r\n\0/\\]/.test(filename.replace(/\{\{[^}]*\}\}/g, '')) || /^\s*\.{1,2}\s*$/.test(filename))) {
        r.error(`${name}.filename must be a plain file name`, it.entries.get('filename')!.node.pos);
      }
      if (!pathNode) {
        r.error(`${name} needs path:`, it.pos);
        return;
      }
    }
    const p = r.str(pathNode, `${name}.path`);
    if (p === undefined) return;
    const pos = pathNode!.pos;
    if (p.includes('{{')) {
      // The literal part before the first expression names the folder the rendered path must stay in.
      const literal = p.slice(0, p.indexOf('{{'));
      const baseDir = literal.endsWith('/') || literal.endsWith(path.sep) ? rel(literal) : path.dirname(rel(literal + 'x'));
      if (!fs.existsSync(baseDir)) r.error(`${name}: folder not found: ${show(baseDir)}`, pos);
      else if (!leavesFolder(path.relative(realOr(baseDir), realOr(dir)))) {
        // The campaign's own folder, or one above it: the list could name its .env or .mailcamp/.
        r.error(
          `${name}: a per-recipient path needs a folder of its own before its first {{…}}, like files/invoices/{{invoice}}.pdf: '${p}' would let the list pick any file of the campaign's folder (its .env, .mailcamp/)`,
          pos,
        );
      } else out.push({ kind: 'templated', pathTemplate: p, baseDir: realOr(baseDir), filename, pos, filenamePos });
    } else {
      const abs = rel(p);
      if (!isFile(abs)) r.error(`attachment not found: ${show(abs)}${pathHint(abs)}`, pos);
      else out.push({ kind: 'shared', path: abs, filename, pos, filenamePos });
    }
  });
  return out;
}

export function readSchedule(r: SchemaReader, n: PNode | undefined): ScheduleSpec | undefined {
  const m = r.map(n, 'schedule');
  if (!m) return undefined;
  r.checkKeys(m, SCHEDULE_KEYS, 'schedule');
  const e = (k: string) => m.entries.get(k)?.node;
  const cron = r.str(e('cron'), 'schedule.cron');
  const cronWrong = cron === undefined ? undefined : cronProblem(cron);
  if (cronWrong) r.error(`schedule.cron: ${cronWrong}`, e('cron')!.pos);
  const timezone = r.str(e('timezone'), 'schedule.timezone');
  let at: string[] | undefined;
  const atNode = e('at');
  if (atNode) {
    const items = atNode.kind === 'seq' ? atNode.items : [atNode];
    if (!items.length) r.error('schedule.at needs at least one date-time', atNode.pos);
    at = [];
    for (const it of items) {
      const s = r.str(it, 'schedule.at');
      if (s === undefined) continue;
      const wrong = atProblem(s);
      if (wrong) r.error(`schedule.at ${wrong}; got '${s}'`, it.pos);
      else at.push(new Date(s).toISOString());
    }
  }
  if (cron === undefined && at === undefined) r.error('schedule needs cron: or at:', m.pos);
  if (cron !== undefined && at !== undefined) r.error('schedule takes cron: or at:, not both', m.pos);
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      r.error(`schedule.timezone: unknown time zone '${timezone}' (${zoneHint(timezone)})`, e('timezone')!.pos);
    }
  }
  const missed = r.str(e('missed'), 'schedule.missed') ?? 'latest';
  if (missed !== 'skip' && missed !== 'latest') r.error("schedule.missed must be 'skip' or 'latest'", e('missed')!.pos);
  const catchUpMs = r.duration(e('catch_up'), 'schedule.catch_up') ?? 6 * 3_600_000;
  return { cron, timezone, at, missed: missed as 'skip' | 'latest', catchUpMs };
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Why an `at:` value is not a usable instant: not ISO with an offset, a date the calendar does
 * not have (Date.parse moves 2026-11-31 to December 1st without a word), or a fraction of a
 * second (occurrences are named by whole seconds).
 */
function atProblem(s: string): string | undefined {
  const iso = 'must be an ISO date-time with an offset, like 2026-12-01T09:00:00+08:00';
  const m = /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?(?:[zZ]|[+-]\d\d:?\d\d)$/.exec(s.trim());
  if (!m || Number.isNaN(Date.parse(s))) return iso;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map((x) => Number(x ?? 0));
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (mo < 1 || mo > 12 || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) {
    return 'is not a date-time the calendar has';
  }
  if (m[7] && Number(m[7]) !== 0) return 'takes whole seconds (occurrences are named to the second)';
  return undefined;
}

/** Names people guess for their zone, and the IANA name that has the city. */
const ZONE_GUESSES: Record<string, string> = {
  'asia/beijing': 'Asia/Shanghai',
  'asia/peking': 'Asia/Shanghai',
  'asia/guangzhou': 'Asia/Shanghai',
  'asia/shenzhen': 'Asia/Shanghai',
  'asia/hangzhou': 'Asia/Shanghai',
  'asia/chengdu': 'Asia/Shanghai',
  'asia/hongkong': 'Asia/Hong_Kong',
  'asia/taipei city': 'Asia/Taipei',
  'asia/osaka': 'Asia/Tokyo',
  'asia/mumbai': 'Asia/Kolkata',
  'asia/delhi': 'Asia/Kolkata',
  'asia/new delhi': 'Asia/Kolkata',
  'europe/frankfurt': 'Europe/Berlin',
  'europe/munich': 'Europe/Berlin',
  'america/san francisco': 'America/Los_Angeles',
  'america/san_francisco': 'America/Los_Angeles',
  'america/washington': 'America/New_York',
  'america/boston': 'America/New_York',
  'cst': 'Asia/Shanghai (China) or America/Chicago (US Central)',
};

function zoneHint(zone: string): string {
  const key = zone.trim().toLowerCase();
  const guess = ZONE_GUESSES[key];
  if (guess) return `did you mean ${guess}? IANA names the zone by one city`;
  const known = Intl.supportedValuesOf('timeZone');
  const close = suggest(zone, known);
  return close ? `did you mean ${close}?` : 'use an IANA name like Europe/Berlin or Asia/Shanghai';
}
