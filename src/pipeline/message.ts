// One recipient (or group) → a composed message: the glue between render and compose that
// validate, preview and send share, so what validate checks is exactly what send does.

import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import { preparePerRecipient, type RecipientPlace, resolveRecipientPath } from '../compose/attachments.js';
import { compose, type Composed, type PreparedCampaign } from '../compose/index.js';
import { give } from '../compose/message-memory.js';
import { headerShape } from '../compose/custom-headers.js';
import { assertHeaderSafe, headerLine, messageIdFor, recipientToken } from '../compose/headers.js';
import type { Recipient } from '../recipients/types.js';
import type { RenderInput, Rendered } from '../render/index.js';
import { MailcampError } from '../shared/errors.js';

/** What the pipeline sends: one recipient, or one group of them. */
export interface Unit {
  key: string;
  row: number;
  /** Addresses, comma-joined (journal/report). */
  email: string;
  members: Recipient[];
  groupValue?: string;
}

export function unitForRecipient(r: Recipient): Unit {
  return { key: r.key, row: r.row, email: r.email, members: [r] };
}

export function unitForGroup(value: string, members: Recipient[]): Unit {
  return {
    key: `group:${value}`,
    row: members[0].row,
    email: members.map((m) => m.email).join(', '),
    members,
    groupValue: value,
  };
}

export function renderInputFor(u: Unit): RenderInput {
  const first = u.members[0];
  if (u.groupValue === undefined) return { row: first.row, email: first.email, name: first.name, fields: first.fields };
  return {
    row: first.row,
    email: u.email,
    fields: first.fields,
    groupValue: u.groupValue,
    members: u.members.map((m) => ({ ...m.fields, email: m.email, name: m.name ?? '' })),
  };
}

export interface RenderOptions {
  runId: string;
  now: Date;
  /** The scheduled time of this run (schedule, send --occurrence), for templates. */
  occurrence?: Date;
  /** Validation: only find what fails; the bodies are left empty (render/index.ts Bodies). */
  check?: boolean;
}

export interface BuildOptions extends RenderOptions {
  /** Deliver to this address instead (send --to). */
  overrideTo?: string;
  /** The state folder's secret behind X-Mailcamp-Recipient and the Message-ID (state/token-key.ts). */
  tokenKey: Buffer;
  /** The Message-ID the journal registered for this message (a retry reuses it). */
  messageId?: string;
}

export interface RenderedUnit {
  /** `html` and `text` with the markers of their templates' static lines (render/marked.ts); empty for a check. */
  rendered: Rendered;
  /** Per-recipient attachments: resolved (inside their folder), sized, not yet read. */
  files: { file: string; size: number; filename?: string; where: RecipientPlace }[];
}

/**
 * Renders one unit and checks everything that depends on its data: header values free of
 * line breaks, per-recipient attachment paths inside their folder. Validate stops here.
 */
export function renderUnit(p: PreparedCampaign, u: Unit, o: RenderOptions): RenderedUnit {
  const c = p.compiled.campaign;
  const csv = c.recipients.displayFile;
  // The bodies keep the markers of their static lines: compose encodes those once (render/marked.ts).
  const rendered = p.compiled.render(renderInputFor(u), o.now, o.occurrence, o.check ? 'check' : 'marked');
  try {
    assertHeaderSafe(rendered.subject, 'subject');
    for (const m of u.members) if (m.name) assertHeaderSafe(m.name, 'name');
    for (const [k, v] of rendered.headers) assertHeaderSafe(v, `headers.${k}`);
    for (const n of rendered.sharedAttachmentNames) if (n) assertHeaderSafe(n, 'attachment filename');
    for (const a of rendered.attachmentPaths) if (a.filename) assertHeaderSafe(a.filename, 'attachment filename');
    if (rendered.unsubscribeUrl) assertHeaderSafe(rendered.unsubscribeUrl, 'unsubscribe.url');
  } catch (e) {
    if (e instanceof MailcampError) {
      // Header injection: name the column whose value carries the line break.
      const bad = u.members.flatMap((m) => Object.entries(m.fields)).find(([, v]) => /[\r\n\0]/.test(v));
      // No column of this row has one: it came from the campaign file (a `data:` value).
      if (!bad) throw new MailcampError(e.code, `${e.message} (it comes from the campaign file, e.g. a data: value, not from the list)`, { file: c.displayFile }, e.hint);
      throw new MailcampError(e.code, e.message, { file: csv, line: u.row, column: bad[0] }, e.hint);
    }
    throw e;
  }
  const columnOf = (template: string | undefined) => columnsIn(template ?? '').find((k) => k in u.members[0].fields);
  // A `filename:` that renders empty (its column empty in this row) would send a nameless file.
  // (Per message: nothing is built unless one is empty.)
  const empty = attachmentNameWhere(c, rendered, (n) => n.trim() === '');
  if (empty) {
    throw new MailcampError('INPUT', `attachment filename ${JSON.stringify(empty.template)} is empty for this row`, { file: csv, line: u.row, column: columnOf(empty.template) });
  }
  // A name from the list is a file name, as a literal one must be (RFC 2183 §2.3: no path).
  const pathy = attachmentNameWhere(c, rendered, (n) => /[/\\]/.test(n) || n.trim() === '.' || n.trim() === '..');
  if (pathy) {
    throw new MailcampError('INPUT', `attachment filename ${JSON.stringify(pathy.name)} must be a plain file name, without '/' or '\\' (and not '.' or '..')`, {
      file: csv,
      line: u.row,
      column: columnOf(pathy.template),
    });
  }
  // A header holding addresses, message ids or URLs that cannot be written as such in 7-bit.
  for (const [k, v] of rendered.headers) {
    if (headerShape(k) === 'text' || !v.trim()) continue; // (an empty one is left out)
    try {
      headerLine(k, v);
    } catch (e) {
      if (!(e instanceof MailcampError)) throw e;
      const column = columnOf(c.headers[k]);
      if (column) throw new MailcampError(e.code, e.message, { file: csv, line: u.row, column });
      const at = c.pos[`headers.${k}`];
      throw new MailcampError(e.code, e.message, { file: c.displayFile, line: at?.line, col: at?.col });
    }
  }
  // An unsubscribe URL that the row's data breaks is found here, not when its message is built.
  if (rendered.unsubscribeUrl !== undefined && !URL.canParse(rendered.unsubscribeUrl)) {
    throw new MailcampError('INPUT', `unsubscribe.url renders to an invalid URL: ${rendered.unsubscribeUrl}`, { file: csv, line: u.row, column: columnOf(c.unsubscribe?.url) });
  }
  const files = rendered.attachmentPaths.map((a) => {
    const spec = c.attachments[a.spec];
    if (spec.kind !== 'templated') throw new Error('bug: templated attachment expected');
    const where = { csvFile: csv, row: u.row, column: columnOf(spec.pathTemplate) };
    return { ...resolveRecipientPath(c, spec, a.path, where), filename: a.filename, where };
  });
  // max_attachment_size covers all attachments of a message together: checked here, so that
  // validate (and send, before its first message) finds it, not the send of this message.
  let total = p.sharedBytes;
  for (const f of files) {
    total += f.size;
    if (total > c.maxAttachmentBytes) {
      throw new MailcampError('INPUT', `attachments total ${total} bytes with ${path.basename(f.file)}; the limit is ${c.maxAttachmentBytes} (max_attachment_size)`, {
        file: f.where.csvFile,
        line: f.where.row,
        column: f.where.column,
      });
    }
  }
  return { rendered, files };
}

/** Renders and composes. Errors are MailcampErrors placed at the CSV line. */
export function buildMessage(p: PreparedCampaign, u: Unit, o: BuildOptions): Composed {
  const c = p.compiled.campaign;
  const { rendered, files } = renderUnit(p, u, o);
  const atts = files.map((f) => preparePerRecipient(f.file, f.filename));
  const domain = c.from.address.split('@')[1];
  const to = o.overrideTo ? [{ address: o.overrideTo }] : u.members.map((m) => ({ name: m.name, address: m.email }));
  return compose(p, {
    to,
    bcc: c.bcc && u.groupValue !== undefined && !o.overrideTo,
    rendered,
    messageId: o.messageId || messageIdFor(o.tokenKey, c.name, o.runId, u.key, domain),
    date: o.now,
    // A test send's bounce or unsubscribe must not be matched back to the row's recipient.
    recipientToken: recipientToken(o.tokenKey, c.name, o.overrideTo ? `test:${o.overrideTo.toLowerCase()}` : u.key),
    attachments: atts,
    testSend: o.overrideTo !== undefined,
  });
}

/** The first rendered attachment name (per-recipient ones first) for which `bad` holds, and the `filename:` it came from. */
function attachmentNameWhere(c: Campaign, r: Rendered, bad: (name: string) => boolean): { name: string; template: string | undefined } | undefined {
  const own = r.attachmentPaths.find((a) => a.filename !== undefined && bad(a.filename));
  if (own) return { name: own.filename!, template: c.attachments[own.spec].filename };
  const i = r.sharedAttachmentNames.findIndex((n) => n !== undefined && bad(n));
  if (i < 0) return undefined;
  return { name: r.sharedAttachmentNames[i]!, template: c.attachments.filter((a) => a.kind === 'shared')[i].filename };
}

/** The names a template's tags use (helper arguments too; `{{发票号}}`, `{{[金额(元)]}}`), for the column an error is about. */
function columnsIn(tpl: string): string[] {
  const names: string[] = [];
  for (const m of tpl.matchAll(/\{\{\{?~?([^{}]*?)~?\}?\}\}/g)) {
    for (const t of m[1].match(/\[[^\]]+\]|[^\s"'=()]+/g) ?? []) names.push(t.startsWith('[') ? t.slice(1, -1) : t.replace(/^(?:\.\.\/|this\.)+/, '').split('.')[0]);
  }
  return names;
}

/** DKIM-signs a composed message when the campaign asks for it (RFC 6376). */
export async function signed(p: PreparedCampaign, msg: Composed): Promise<Composed> {
  if (!p.sign) return msg;
  const raw = await p.sign(msg.raw);
  give(msg.raw); // the signed copy is what goes out
  return { ...msg, raw };
}
