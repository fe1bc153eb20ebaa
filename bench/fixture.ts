// The benchmark's fixture, generated deterministically into a folder: a realistic MJML
// newsletter (~20 KB of compiled HTML), an 8 KB PDF, a campaign file, and CSV lists of N
// recipients of whom a third have names in Chinese, Cyrillic or accented Latin. The same
// seed gives the same bytes on every machine, so runs are comparable.

import fs from 'node:fs';
import path from 'node:path';

export { prng } from '../test/helpers/prng.js';
import { prng } from '../test/helpers/prng.js';

const ASCII_FIRST = ['Tom', 'Anna', 'Peter', 'Laura', 'James', 'Emily', 'David', 'Sarah', 'Michael', 'Olivia', 'Daniel', 'Grace'];
const ASCII_LAST = ['Smith', 'Brown', 'Taylor', 'Wilson', 'Clark', 'Walker', 'Hall', 'Young', 'King', 'Wright', 'Green', 'Baker'];
const CHINESE = ['张伟', '王芳', '李娜', '刘洋', '陈静', '杨磊', '赵敏', '黄丽', '周杰', '吴昊', '徐静蕾', '孙悦'];
const CYRILLIC = ['Иван Петров', 'Ольга Смирнова', 'Дмитрий Иванов', 'Анна Кузнецова', 'Сергей Попов', 'Мария Соколова'];
const ACCENTED = ['José Álvarez', 'Zoë Dvořák', 'François Lefèvre', 'Jürgen Müller', 'Łukasz Wójcik', 'Søren Kierkegård', 'Ana Núñez', 'Chloé Bélanger'];
const CITIES = ['London', 'Paris', '上海', 'Москва', 'Sevilla', 'Berlin', 'Kraków', 'São Paulo', 'Springfield, IL', 'Zürich'];
const PLANS = ['Free', 'Pro', 'Team', 'Enterprise'];

export interface Row {
  id: string;
  email: string;
  name: string;
  city: string;
  plan: string;
  points: string;
}

/** Row i (0-based) of the list: a third of the names are not ASCII. */
export function row(i: number, rnd: () => number): Row {
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
  let name: string;
  switch (i % 9) {
    case 2:
      name = pick(CHINESE);
      break;
    case 5:
      name = pick(CYRILLIC);
      break;
    case 8:
      name = pick(ACCENTED);
      break;
    default:
      name = `${pick(ASCII_FIRST)} ${pick(ASCII_LAST)}`;
  }
  return {
    id: String(100000 + i),
    email: `user${i}@example${i % 7}.test`,
    name,
    city: pick(CITIES),
    plan: pick(PLANS),
    points: String(Math.floor(rnd() * 50000)),
  };
}

function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export const CSV_HEADER = 'id,email,name,city,plan,points';

/**
 * Writes N rows to `file` (streamed: a million rows are ~60 MB). `badRows` are 0-based row
 * indexes whose address is made invalid (for the validate measurement).
 */
export async function writeList(file: string, n: number, badRows: number[] = []): Promise<void> {
  const rnd = prng(42);
  const bad = new Set(badRows);
  const out = fs.createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  let buf = CSV_HEADER + '\n';
  for (let i = 0; i < n; i++) {
    const r = row(i, rnd);
    if (bad.has(i)) r.email = `user${i}-at-nowhere`;
    buf += [r.id, r.email, r.name, r.city, r.plan, r.points].map(csvCell).join(',') + '\n';
    if (buf.length > 1 << 16) {
      await write(buf);
      buf = '';
    }
  }
  await write(buf);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** A small valid PDF padded to `size` bytes with a deterministic (incompressible) stream. */
export function pdf(size = 8 * 1024): Buffer {
  const rnd = prng(7);
  const head = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const objs = [
    '1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n',
    '2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n',
    '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n',
  ];
  const fixed = Buffer.byteLength(head + objs.join(''), 'latin1') + 300;
  const streamLen = Math.max(64, size - fixed);
  const stream = Buffer.alloc(streamLen);
  for (let i = 0; i < streamLen; i++) stream[i] = Math.floor(rnd() * 256);
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  const offsets: number[] = [];
  let pos = parts[0].length;
  for (const o of objs) {
    offsets.push(pos);
    const b = Buffer.from(o, 'latin1');
    parts.push(b);
    pos += b.length;
  }
  offsets.push(pos);
  const s = Buffer.concat([Buffer.from(`4 0 obj\n<< /Length ${streamLen} >>\nstream\n`, 'latin1'), stream, Buffer.from('\nendstream\nendobj\n', 'latin1')]);
  parts.push(s);
  pos += s.length;
  const xref = `xref\n0 5\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  let tail = `${xref}trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n${pos}\n%%EOF\n`;
  const total = pos + tail.length;
  if (total < size) tail = tail.replace('%%EOF', '%' + ' '.repeat(size - total - 1) + '\n%%EOF');
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
}

const ARTICLES = [
  ['Our new office opens its doors', 'After two years of planning, the team moved into a bright space by the river. There is a café on the ground floor, a workshop for customer visits, and — finally — enough meeting rooms for everyone. Drop by when you are in town: the coffee is on us.'],
  ['Three features you asked for', 'Scheduled exports, shared dashboards and a dark mode that actually respects your system settings. Each of them started as a request in our community forum, and each of them went through a month of beta testing with customers like you.'],
];

/** The newsletter: enough MJML sections to compile to ~20 KB of HTML. */
export function newsletterMjml(): string {
  const articles = ARTICLES.map(
    ([title, body], i) => `
    <mj-section background-color="#ffffff" padding="10px 0">
      <mj-column>
        <mj-image src="https://cdn.acme.example/news/2026-11/article-${i + 1}.jpg" alt="" width="560px" />
        <mj-text font-size="18px" font-weight="bold" color="#1a1a1a">${title}</mj-text>
        <mj-text>${body}</mj-text>
        <mj-button href="https://acme.example/news/{{year}}/{{month}}/${i + 1}?u={{id}}" background-color="#e95420" align="left">Read more</mj-button>
      </mj-column>
    </mj-section>`,
  ).join('');
  return `<mjml lang="en">
  <mj-head>
    <mj-title>Acme News — {{month}} {{year}}</mj-title>
    <mj-preview>What happened at Acme in {{month}}: a new office, three features, and a customer story</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="15px" line-height="22px" color="#333333" />
      <mj-button font-size="14px" border-radius="4px" />
    </mj-attributes>
    <mj-style inline="inline">
      .footer a { color: #888888; text-decoration: underline; }
    </mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#1a1a1a" padding="12px 0">
      <mj-column>
        <mj-image src="https://cdn.acme.example/brand/logo-white.png" alt="Acme" width="120px" align="left" />
      </mj-column>
      <mj-column>
        <mj-text align="right" color="#ffffff" font-size="13px">{{month}} {{year}} · <a href="https://acme.example/news/{{year}}/{{month}}?u={{id}}" style="color:#ffffff">view online</a></mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text font-size="24px" font-weight="bold">Hello {{name}},</mj-text>
        <mj-text>
          Here is your {{month}} update. You are on the <strong>{{plan}}</strong> plan, and you have
          <strong>{{formatNumber points}}</strong> loyalty points to spend before the end of the year.
          We picked the stories below for readers in {{city}}.
        </mj-text>
        <mj-divider border-color="#eeeeee" border-width="1px" />
      </mj-column>
    </mj-section>${articles}
    <mj-section background-color="#fff7f2">
      <mj-column>
        <mj-text font-size="18px" font-weight="bold">Your points, your choice</mj-text>
        <mj-text>Trade {{formatNumber points}} points for a training seat, a month of Team, or a donation to the open-source projects we depend on.</mj-text>
      </mj-column>
      <mj-column>
        <mj-button href="https://acme.example/rewards?u={{id}}" background-color="#1a1a1a">Spend points</mj-button>
      </mj-column>
    </mj-section>
    <mj-section>
      <mj-column>
        <mj-text css-class="footer" font-size="12px" color="#888888" align="center">
          You receive this because you subscribed to Acme News with {{email}}.
          Acme Ltd · 1 River Street · London · United Kingdom.
          <a href="https://acme.example/unsubscribe?id={{id}}">Unsubscribe</a> ·
          <a href="https://acme.example/preferences?id={{id}}">Preferences</a>
        </mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
}

export interface Fixture {
  dir: string;
  campaign: string;
  mjml: string;
  pdf: string;
  /** CSV path for a list of n rows (written on first request). */
  list(n: number, bad?: number[]): Promise<string>;
  /** A campaign file over the list of n rows. */
  campaignFor(n: number, bad?: number[]): Promise<string>;
}

export const FROM = 'Acme News <news@acme.example>';
export const SUBJECT = '{{name}}, your {{month}} update from Acme';

/** Writes the fixture into `dir` (templates, PDF); lists are written on demand. */
export function makeFixture(dir: string): Fixture {
  fs.mkdirSync(path.join(dir, 'templates'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'lists'), { recursive: true });
  const mjml = path.join(dir, 'templates', 'newsletter.mjml');
  fs.writeFileSync(mjml, newsletterMjml());
  const pdfFile = path.join(dir, 'files', 'november-report.pdf');
  fs.writeFileSync(pdfFile, pdf());
  const lists = new Map<string, Promise<string>>();
  const list = (n: number, bad: number[] = []): Promise<string> => {
    const name = `list-${n}${bad.length ? '-bad' : ''}.csv`;
    let p = lists.get(name);
    if (!p) {
      const file = path.join(dir, 'lists', name);
      p = writeList(file, n, bad).then(() => file);
      lists.set(name, p);
    }
    return p;
  };
  const campaignFor = async (n: number, bad: number[] = []): Promise<string> => {
    const csv = await list(n, bad);
    const name = `news-${n}${bad.length ? '-bad' : ''}`;
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(
      file,
      [
        `name: ${name}`,
        `from: "${FROM}"`,
        'reply_to: help@acme.example',
        `subject: "${SUBJECT}"`,
        'template: templates/newsletter.mjml',
        `recipients: lists/${path.basename(csv)}`,
        'data: { month: November, year: 2026 }',
        'attachments: [files/november-report.pdf]',
        'headers: { X-Campaign: nov-2026 }',
        'unsubscribe: { url: "https://acme.example/unsubscribe?id={{id}}", mailto: unsubscribe@acme.example }',
        'concurrency: 5',
        'retry: { attempts: 3, initial_delay: 1s, max_delay: 5s }',
        '',
      ].join('\n'),
    );
    return file;
  };
  return { dir, campaign: path.join(dir, 'news.yaml'), mjml, pdf: pdfFile, list, campaignFor };
}
