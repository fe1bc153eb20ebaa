// Loads campaign.yaml into a validated Campaign. Everything wrong with the file is
// collected into Diagnostics with its line:col and reported at once (style.md habit 2);
// the file's folder is the base of every relative path (design.md "Campaign file").

import fs from 'node:fs';
import path from 'node:path';
import { headerShape } from '../compose/custom-headers.js';
import { headerLine } from '../compose/headers.js';
import { checkAddress } from '../recipients/address.js';
import { parseTransportUrl } from '../send/transport-url.js';
import { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { type Env, loadDotEnv } from './env.js';
import { interpolateData, isFile, readAddress, readAttachments, readErrorBudget, readRecipientsKey, readSchedule } from './sections.js';
import { isNull, SchemaReader } from './schema.js';
import type { Campaign } from './types.js';
import { type PNode, type Pos, readYamlFile } from './yaml.js';
import { leavesFolder, pathHint } from '../shared/paths.js';

export const CAMPAIGN_KEYS = [
  'name',
  'from',
  'reply_to',
  'subject',
  'template',
  'text',
  'recipients',
  'data',
  'attachments',
  'headers',
  'unsubscribe',
  'group_by',
  'bcc',
  'transport',
  'rate',
  'concurrency',
  'retry',
  'schedule',
  'dkim',
  'suppress',
  'max_attachment_size',
  'mailbox',
  'error_budget',
] as const;

const RATE_KEYS = ['per_second', 'per_minute', 'per_hour'];
const RETRY_KEYS = ['attempts', 'initial_delay', 'max_delay'];
const DKIM_KEYS = ['domain', 'selector', 'private_key'];
const UNSUB_KEYS = ['url', 'mailto'];
const GROUP_KEYS = ['column', 'bcc'];
/** A host name of LDH labels with at least one dot (RFC 1035 §2.3.1). */
const DNS_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const MAX_NAME = 128;
const NAME_RE = /^[a-z0-9._-]+$/;
const DEFAULT_MAX_ATTACHMENTS = 25 * 1024 * 1024;

export interface LoadOptions {
  env?: Env;
  /** How paths are shown in messages; default relative to the cwd. */
  cwd?: string;
  /** Commands that never connect (status) do not need the transport's secrets set. */
  missingEnvIsEmpty?: boolean;
  /**
   * The campaign's transport will not be used (preview, a dry run, send --transport): a
   * variable it names need not be set.
   */
  transportUnused?: boolean;
  /**
   * `status` of a campaign that has a journal reads only its name, schedule and group_by: a
   * template, list or sender that is now missing or wrong still gives a Campaign (the problems
   * stay in `diag`), whose other parts must not be used.
   */
  journalOnly?: boolean;
}

/** Loads and validates; throws ValidationError with every problem found. */
export function loadCampaign(file: string, opts: LoadOptions = {}, diag = new Diagnostics()): Campaign {
  const c = loadCampaignPartial(file, opts, diag);
  diag.throwIfErrors();
  return c!;
}

/**
 * Loads as much as can be loaded: returns the Campaign whenever its required parts are
 * usable, even if `diag` holds errors, so `validate` can go on to templates and rows and
 * report everything at once. Undefined when a required part is missing or unreadable.
 */
export function loadCampaignPartial(file: string, opts: LoadOptions = {}, diag = new Diagnostics()): Campaign | undefined {
  const cwd = opts.cwd ?? process.cwd();
  const abs = path.resolve(cwd, file);
  const display = displayPath(abs, cwd);
  if (!fs.existsSync(abs)) throw new MailcampError('INPUT', 'no such file', { file: display });
  const dir = path.dirname(abs);
  let env: Env = { ...loadDotEnv(dir), ...(opts.env ?? process.env) };
  if (opts.missingEnvIsEmpty) env = new Proxy(env, { get: (t, k: string) => t[k] ?? '' });
  const parsed = readYamlFile(abs, display, diag);
  const root = parsed.root;
  if (!parsed.root && !diag.ok) return undefined;
  if (!root || root.kind !== 'map') {
    diag.error('a campaign file must be a mapping of keys (name:, from:, subject: …)', {
      file: display,
      line: root?.pos.line ?? 1,
      col: root?.pos.col ?? 1,
    });
    return undefined;
  }
  const dotEnv = displayPath(path.join(dir, '.env'), cwd);
  const r = new SchemaReader(diag, env, dotEnv);
  r.checkKeys(root, CAMPAIGN_KEYS, '');
  const get = (k: string): PNode | undefined => root.entries.get(k)?.node;
  const pos: Record<string, Pos> = {};
  for (const [k, v] of root.entries) pos[k] = v.node.pos;
  const rootPos = root.pos;
  const rel = (p: string) => path.resolve(dir, p);
  const show = (p: string) => displayPath(p, cwd);

  const required = (k: string): PNode | undefined => {
    const n = get(k);
    if (!n || isNull(n)) diag.error(`missing required key '${k}'`, { file: display, line: rootPos.line, col: 1 });
    return n;
  };

  // name
  let name = r.str(get('name'), 'name');
  // `name:` with no value counts as no `name:` (the file's name), not as a campaign without one.
  const nameNode = get('name');
  if (name === undefined && (!nameNode || isNull(nameNode))) name = path.basename(abs).replace(/\.ya?ml$/i, '').toLowerCase();
  if (name !== undefined && (!NAME_RE.test(name) || /^(\.{1,2}|suppression.*)$/.test(name))) {
    const n = get('name');
    const fromFile = n ? '' : ` (taken from the file name: add a \`name:\` key, e.g. name: ${path.basename(abs).replace(/\.ya?ml$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'my-campaign'})`;
    diag.error(`name must match [a-z0-9._-]+ and not be '.', '..' or 'suppression' (it names the journal folder); got '${name}'${fromFile}`, n?.pos ?? rootPos);
  } else if (name !== undefined && name.length > MAX_NAME) {
    // It names folders (.mailcamp/<name>/, outbox/<name>/, reports/<name>/): a file system takes 255 bytes.
    diag.error(`name is too long: ${name.length} characters, at most ${MAX_NAME} (it names the journal, outbox and report folders)`, get('name')?.pos ?? rootPos);
  }

  const from = readAddress(r, required('from'), 'from');
  const replyTo = readAddress(r, get('reply_to'), 'reply_to');
  const subject = r.str(required('subject'), 'subject');

  // template
  let template: Campaign['template'] | undefined;
  const tplNode = required('template');
  const tplPath = r.str(tplNode, 'template');
  if (tplPath !== undefined && tplNode) {
    const p = rel(tplPath);
    const ext = path.extname(p).toLowerCase();
    if (!['.mjml', '.hbs', '.html', '.htm', '.handlebars'].includes(ext)) {
      diag.error(`template must be a .mjml, .hbs or .html file; got '${tplPath}'`, tplNode.pos);
    } else if (!isFile(p)) {
      diag.error(`template not found: ${show(p)}${pathHint(p)}`, tplNode.pos);
    } else template = { path: p, kind: ext === '.mjml' ? 'mjml' : 'handlebars' };
  }
  let text: string | undefined;
  const textNode = get('text');
  const textPath = r.str(textNode, 'text');
  if (textPath !== undefined && textNode) {
    if (!isFile(rel(textPath))) diag.error(`text template not found: ${show(rel(textPath))}${pathHint(rel(textPath))}`, textNode.pos);
    else text = rel(textPath);
  }

  const recipients = readRecipientsKey(r, required('recipients'), rel, show);

  // data
  let data: Record<string, unknown> = {};
  const dataNode = get('data');
  const dm = r.map(dataNode, 'data');
  if (dm) data = interpolateData(r, dm);

  const attachments = readAttachments(r, get('attachments'), rel, show, dir);

  const headers: Record<string, string> = {};
  const headerNames = new Map<string, string>();
  for (const [k, v] of Object.entries(r.stringMap(get('headers'), 'headers'))) {
    const same = headerNames.get(k.toLowerCase());
    headerNames.set(k.toLowerCase(), k);
    if (!/^[!-9;-~]+$/.test(k)) diag.error(`headers: '${k}' is not a valid header name`, v.pos);
    else if (k.includes('{{')) diag.error(`headers: '${k}': a header name is not a template (only values are)`, v.pos);
    // Header names are case-insensitive: both would go out (RFC 5322 §3.6 allows Sender,
    // In-Reply-To, References once), and DKIM would sign only the last.
    else if (same) diag.error(`headers: '${k}' repeats '${same}' (header names are case-insensitive); give it once`, v.pos);
    else if (/^(cc|bcc)$/i.test(k)) diag.error(`headers: '${k}' is not supported: a campaign sends each message to its row (or group_by's members); put other people in the list`, v.pos);
    else if (/^(from|to|subject|date|message-id|mime-version|content-.*|x-mailcamp-.*|dkim-signature)$/i.test(k))
      diag.error(`headers: '${k}' is set by mailcamp and cannot be overridden here`, v.pos);
    else if (/^(list-unsubscribe|list-unsubscribe-post|reply-to)$/i.test(k))
      // Two of them would go out, and DKIM would sign only the last (RFC 6376 §5.4.2).
      diag.error(`headers: '${k}' comes from ${/^reply/i.test(k) ? 'reply_to:' : 'unsubscribe: { url, mailto }'}; set it there`, v.pos);
    else if (/^return-path$/i.test(k))
      diag.error(`headers: 'Return-Path' is added by the receiving server (RFC 5321 §4.4); the envelope sender is the from: address`, v.pos);
    else if (/[\r\n\0]/.test(v.value)) diag.error(`headers.${k}: line break or NUL in a header value`, v.pos);
    else if (!v.value.includes('{{') && headerProblem(k, v.value)) diag.error(headerProblem(k, v.value)!, v.pos);
    else {
      headers[k] = v.value;
      pos[`headers.${k}`] = v.pos;
    }
  }

  let unsubscribe: Campaign['unsubscribe'];
  const um = r.map(get('unsubscribe'), 'unsubscribe');
  if (um) {
    r.checkKeys(um, UNSUB_KEYS, 'unsubscribe');
    const url = r.str(um.entries.get('url')?.node, 'unsubscribe.url');
    const mailto = r.str(um.entries.get('mailto')?.node, 'unsubscribe.mailto');
    for (const k of ['url', 'mailto']) {
      const at = um.entries.get(k)?.node.pos;
      if (at) pos[`unsubscribe.${k}`] = at;
    }
    if (url === undefined && mailto === undefined) diag.error('unsubscribe needs url: or mailto:', um.pos);
    if (url !== undefined && !/^https?:\/\//i.test(url))
      diag.error('unsubscribe.url must start with https:// or http://', um.entries.get('url')!.node.pos);
    // With `{{…}}` in it, it is checked per recipient once rendered (compose).
    if (mailto !== undefined && !mailto.includes('{{')) {
      const c = checkAddress(mailto.replace(/^mailto:/i, ''));
      if (!c.ok) diag.error(`unsubscribe.mailto: ${c.reason}`, um.entries.get('mailto')!.node.pos);
    }
    unsubscribe = { url, mailto: mailto?.replace(/^mailto:/i, '') };
  }

  // group_by: column, or {column, bcc}
  let groupBy: string | undefined;
  let bcc = r.bool(get('bcc'), 'bcc') ?? false;
  const gNode = get('group_by');
  if (gNode && gNode.kind === 'map') {
    r.checkKeys(gNode, GROUP_KEYS, 'group_by');
    groupBy = r.str(gNode.entries.get('column')?.node, 'group_by.column');
    if (groupBy === undefined) diag.error('group_by needs column:', gNode.pos);
    bcc = r.bool(gNode.entries.get('bcc')?.node, 'group_by.bcc') ?? bcc;
  } else groupBy = r.str(gNode, 'group_by');
  if (bcc && groupBy === undefined && !(gNode && gNode.kind === 'map')) {
    // bcc hides the members of a group message from each other; a one-recipient message has none.
    diag.error('bcc: only with group_by (each message goes to one recipient otherwise)', get('bcc')!.pos);
  }

  // transport
  const tNode = get('transport');
  const tReader = opts.transportUnused ? new SchemaReader(diag, new Proxy(env, { get: (t, k: string) => t[k] ?? '' }), dotEnv) : r;
  const transport = tReader.str(tNode, 'transport', { secret: true, url: true });
  if (transport !== undefined && tNode) {
    try {
      parseTransportUrl(transport, dir);
    } catch (e) {
      if (e instanceof MailcampError) diag.error(`transport: ${e.message}`, tNode.pos);
      else throw e;
    }
  }

  let rate: Campaign['rate'];
  const rm = r.map(get('rate'), 'rate');
  if (rm) {
    r.checkKeys(rm, RATE_KEYS, 'rate');
    rate = {};
    for (const k of RATE_KEYS) {
      const n = rm.entries.get(k)?.node;
      const v = r.number(n, `rate.${k}`, { positive: true });
      // The limiter keeps a sliding log of the last N sends, so N is whole.
      if (v !== undefined && !Number.isInteger(v)) diag.error(`rate.${k} must be a whole number; for slower rates use per_minute or per_hour`, n!.pos);
      else if (v !== undefined) rate[k as 'per_second'] = v;
    }
  }
  const concurrency = r.number(get('concurrency'), 'concurrency', { integer: true, positive: true }) ?? 4;
  if (concurrency > 100) diag.error('concurrency must be at most 100', get('concurrency')!.pos);

  const retry = { attempts: 5, initialDelayMs: 2000, maxDelayMs: 300_000 };
  const retryMap = r.map(get('retry'), 'retry');
  if (retryMap) {
    r.checkKeys(retryMap, RETRY_KEYS, 'retry');
    const e = (k: string) => retryMap.entries.get(k)?.node;
    retry.attempts = r.number(e('attempts'), 'retry.attempts', { integer: true, positive: true }) ?? retry.attempts;
    retry.initialDelayMs = r.duration(e('initial_delay'), 'retry.initial_delay') ?? retry.initialDelayMs;
    retry.maxDelayMs = r.duration(e('max_delay'), 'retry.max_delay') ?? retry.maxDelayMs;
    if (retry.initialDelayMs > retry.maxDelayMs) {
      diag.error('retry.initial_delay is longer than retry.max_delay (the first wait would be cut to max_delay)', e('initial_delay')?.pos ?? e('max_delay')?.pos ?? retryMap.pos);
    }
  }

  const errorBudget = readErrorBudget(r, get('error_budget'));

  const schedule = readSchedule(r, get('schedule'));

  let dkim: Campaign['dkim'];
  const dk = r.map(get('dkim'), 'dkim');
  if (dk) {
    r.checkKeys(dk, DKIM_KEYS, 'dkim');
    const domain = r.str(dk.entries.get('domain')?.node, 'dkim.domain');
    const selector = r.str(dk.entries.get('selector')?.node, 'dkim.selector');
    const keyNode = dk.entries.get('private_key')?.node;
    const keyPath = r.str(keyNode, 'dkim.private_key');
    if (!domain || !selector || !keyPath) diag.error('dkim needs domain, selector and private_key', dk.pos);
    else if (!isFile(rel(keyPath))) diag.error(`dkim.private_key not found: ${show(rel(keyPath))}${pathHint(rel(keyPath))}`, keyNode!.pos);
    else if (!DNS_NAME.test(domain)) diag.error(`dkim.domain must be a domain name like acme.example; got '${domain}'`, dk.entries.get('domain')!.node.pos);
    // The selector is DNS labels too (RFC 6376 §3.1): it is looked up as <selector>._domainkey.<domain>.
    else if (!DNS_NAME.test(selector) && !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(selector)) {
      diag.error(`dkim.selector must be DNS labels (letters, digits, '-', '.'); got '${selector}'`, dk.entries.get('selector')!.node.pos);
    } else dkim = { domain, selector, privateKey: rel(keyPath) };
  }

  const suppress: string[] = [];
  const sNode = get('suppress');
  if (sNode && !isNull(sNode)) {
    const items = sNode.kind === 'seq' ? sNode.items : [sNode];
    for (const it of items) {
      const p = r.str(it, 'suppress');
      if (p === undefined) continue;
      if (!isFile(rel(p))) diag.error(`suppression list not found: ${show(rel(p))}${pathHint(rel(p))}`, it.pos);
      else suppress.push(rel(p));
    }
  }

  let maxAttachmentBytes = DEFAULT_MAX_ATTACHMENTS;
  const maNode = get('max_attachment_size');
  if (maNode && !isNull(maNode)) {
    const b = maNode.kind === 'scalar' ? parseSize(maNode.value) : undefined;
    if (b === undefined) diag.error('max_attachment_size must be a size like 10MB or 500KB', maNode.pos);
    else maxAttachmentBytes = b;
  }

  // A `from:` that is there but wrong has its error recorded (nothing will be sent); a
  // stand-in lets the template and the list be checked in the same run, so that validate
  // reports every problem at once.
  const fromOrStandIn = from ?? (get('from') && !isNull(get('from')!) ? { address: 'from@invalid.invalid' } : undefined);
  if (!name) return undefined;
  if (!fromOrStandIn || subject === undefined || !template || !recipients) {
    if (!opts.journalOnly) return undefined;
  }
  return {
    file: abs,
    dir,
    displayFile: display,
    name,
    // journalOnly: these may be missing (see LoadOptions); nothing reads them then.
    from: fromOrStandIn!,
    replyTo,
    subject: subject!,
    template: template!,
    text,
    recipients: recipients!,
    data,
    attachments,
    headers,
    unsubscribe,
    groupBy,
    bcc,
    transport,
    rate,
    concurrency,
    retry,
    errorBudget,
    schedule,
    dkim,
    suppress,
    maxAttachmentBytes,
    pos,
  };
}

/** Why a header value without template tags cannot be written (its rendered ones: per row). */
function headerProblem(name: string, value: string): string | undefined {
  if (headerShape(name) === 'text' || !value.trim()) return undefined;
  try {
    headerLine(name, value);
    return undefined;
  } catch (e) {
    if (e instanceof MailcampError) return e.message;
    throw e;
  }
}

export function displayPath(abs: string, cwd: string): string {
  const r = path.relative(cwd, abs);
  return r && !leavesFolder(r) ? r : abs;
}


export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return v > 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(v);
  if (!m) return undefined;
  const u = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1 << 20, gb: 1e9, gib: 1 << 30 };
  return Math.round(Number(m[1]) * mult[u]);
}

