// The baseline a careful engineer would write by hand, to compare mailcamp with: MJML compiled
// once, the text part derived once, Handlebars per recipient, nodemailer's SMTP pool of 5
// connections (kept open: maxMessages unlimited, which is kinder to it than the default of 100),
// at most 2 × 5 messages in flight, the CSV streamed. No journal, no report.
//
//   node --import tsx bench/baseline.ts <fixture-dir> <list.csv> <port>
//
// Prints one JSON line: {"sent":N,"failed":N,"seconds":S}.

import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse';
import Handlebars from 'handlebars';
import { convert } from 'html-to-text';
import mjml2html from 'mjml';
import nodemailer from 'nodemailer';
import { FROM, SUBJECT } from './fixture.js';

async function main(): Promise<void> {
  const [dir, csvFile, portArg] = process.argv.slice(2);
  const t0 = performance.now();
  const hb = Handlebars.create();
  hb.registerHelper('formatNumber', (v: unknown) => new Intl.NumberFormat('en').format(Number(v)));
  const mjml = fs.readFileSync(path.join(dir, 'templates', 'newsletter.mjml'), 'utf8');
  const { html } = await (mjml2html as unknown as (s: string, o: object) => Promise<{ html: string }>)(mjml, { validationLevel: 'soft' });
  const htmlTpl = hb.compile(html, { strict: true });
  const textTpl = hb.compile(convert(html, { wordwrap: 78 }), { strict: true, noEscape: true });
  const subjectTpl = hb.compile(SUBJECT, { strict: true, noEscape: true });
  const pdf = fs.readFileSync(path.join(dir, 'files', 'november-report.pdf'));
  const data = { month: 'November', year: 2026 };

  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 5,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: Number(portArg),
    secure: false,
    ignoreTLS: true,
  } as never);

  let sent = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const records = fs.createReadStream(csvFile).pipe(parse({ columns: true }));
  for await (const r of records as AsyncIterable<Record<string, string>>) {
    const ctx = { ...data, ...r };
    const p: Promise<void> = transport
      .sendMail({
        from: FROM,
        replyTo: 'help@acme.example',
        to: { name: r.name, address: r.email },
        subject: subjectTpl(ctx),
        html: htmlTpl(ctx),
        text: textTpl(ctx),
        headers: {
          'List-Unsubscribe': `<https://acme.example/unsubscribe?id=${r.id}>, <mailto:unsubscribe@acme.example?subject=unsubscribe>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'X-Campaign': 'nov-2026',
        },
        attachments: [{ filename: 'november-report.pdf', content: pdf, contentType: 'application/pdf' }],
      })
      .then(
        () => void sent++,
        () => void failed++,
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 10) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  transport.close();
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ sent, failed, seconds }) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(String((e as Error).stack ?? e) + '\n');
    process.exit(1);
  },
);
