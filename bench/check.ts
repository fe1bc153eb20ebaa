// Correctness while fast: a message from the bench, parsed back with mailparser, must say
// what the fixture row says (subject and To with the non-ASCII name, the personalised HTML and
// text, the PDF byte for byte, one-click unsubscribe) and be well-formed on the wire (7-bit
// headers, CRLF, no line over 998 octets).

import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { prng, row, type Row } from './fixture.js';

/** The first n rows of a fixture list, as writeList wrote them, by address. */
export function expectedRows(n: number): Map<string, Row> {
  const rnd = prng(42);
  const out = new Map<string, Row>();
  for (let i = 0; i < n; i++) {
    const r = row(i, rnd);
    out.set(r.email, r);
  }
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

/**
 * Checks one raw message against its row; returns the problems found (empty: correct).
 * `wire`: the bytes as composed (CRLF); a sink dump has LF line ends and is not checked for it.
 */
export async function checkMessage(raw: Buffer, r: Row, pdf: Buffer, wire = true): Promise<string[]> {
  const problems: string[] = [];
  const text = raw.toString('latin1');
  const head = text.slice(0, text.search(/\r?\n\r?\n/));
  if (!/^[\x09\x0a\x0d\x20-\x7e]*$/.test(head)) problems.push('headers are not 7-bit');
  if (wire && /[^\r]\n/.test(text)) problems.push('a line does not end in CRLF');
  if (text.split(/\r?\n/).some((l) => l.length > 998)) problems.push('a line is longer than 998 octets');
  const m = await simpleParser(raw);
  const expectSubject = `${r.name}, your November update from Acme`;
  if (m.subject !== expectSubject) problems.push(`subject ${JSON.stringify(m.subject)} ≠ ${JSON.stringify(expectSubject)}`);
  const to = Array.isArray(m.to) ? m.to[0] : m.to;
  const t = to?.value[0];
  if (t?.address !== r.email || t?.name !== r.name) problems.push(`To ${JSON.stringify(t)} ≠ ${r.name} <${r.email}>`);
  if (!(m.html || '').includes(`Hello ${escapeHtml(r.name)},`)) problems.push('HTML lacks the greeting with the name');
  if (!(m.html || '').includes(`unsubscribe?id=${r.id}`)) problems.push('HTML lacks the unsubscribe link');
  if (!(m.text || '').includes(`Hello ${r.name},`)) problems.push('text lacks the greeting with the name');
  const points = new Intl.NumberFormat('en').format(Number(r.points));
  if (!(m.text || '').includes(points)) problems.push(`text lacks the points ${points}`);
  const att = m.attachments.find((a) => a.filename === 'november-report.pdf');
  if (!att) problems.push('PDF attachment missing');
  else if (!att.content.equals(pdf)) problems.push('PDF attachment differs from the file');
  const lu = m.headerLines.find((h) => h.key === 'list-unsubscribe')?.line ?? '';
  if (!lu.includes(`unsubscribe?id=${r.id}`)) problems.push('List-Unsubscribe lacks the id');
  if (!m.headerLines.some((h) => h.key === 'list-unsubscribe-post')) problems.push('List-Unsubscribe-Post missing');
  if (!m.messageId) problems.push('no Message-ID');
  return problems;
}

/** Parses every message smtp-sink dumped into `dir` and checks each against its row. */
export async function checkDumps(dir: string, rows: Map<string, Row>, pdf: Buffer): Promise<{ checked: number; problems: string[] }> {
  const problems: string[] = [];
  let checked = 0;
  for (const f of fs.readdirSync(dir)) {
    const raw = fs.readFileSync(path.join(dir, f));
    // smtp-sink prepends its own X-Client-*/X-Rcpt-Args/Received lines; the rest is the message.
    const rcpt = /^X-Rcpt-Args: <([^>]+)>/m.exec(raw.toString('latin1'))?.[1];
    const r = rcpt ? rows.get(rcpt) : undefined;
    if (!r) {
      problems.push(`${f}: recipient ${rcpt} is not in the list`);
      continue;
    }
    for (const p of await checkMessage(raw, r, pdf, false)) problems.push(`${f} (${r.email}): ${p}`);
    checked++;
  }
  return { checked, problems };
}
