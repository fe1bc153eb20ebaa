// The parser over real bounce mail: the 133 messages of test/fixtures/bounces (from many
// MTAs, labelled by the sisimai parser; see ORIGIN.md) and mailcamp's own auto-replies,
// unsubscribe requests and ordinary mails. Prints the figures the issue asks for:
//   - recognised: the message is read as a bounce (an auto-reply for the vacation notices
//     in the set) naming the labelled failed recipient, per recipient;
//   - hard agreement: our hard/not-hard verdict equals the label's `hard`, per recipient
//     (a recipient we did not find counts as a disagreement);
// and requires both to be at least 95 %. Also: no address that is not in the labels is ever
// reported (a wrong address would be suppressed).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { classifyMessage } from '../../src/receive/classify.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bounces');

interface Label {
  file: string;
  recipients: Array<{ address: string; status: string; reason: string; hard: boolean; action: string }>;
}

test('real bounce messages: recognised with the right recipient, and the hard verdict, ≥ 95 %', async () => {
  const labels = JSON.parse(fs.readFileSync(path.join(dir, 'labels.json'), 'utf8')) as Label[];
  assert.equal(labels.length, 133, 'all 133 labelled messages are here');
  let recipients = 0;
  let recognised = 0;
  let agree = 0;
  let classAgree = 0;
  let withClass = 0;
  const misses: string[] = [];
  const extras: string[] = [];
  for (const l of labels) {
    const c = await classifyMessage(fs.readFileSync(path.join(dir, l.file)));
    const wanted = new Set(l.recipients.map((r) => r.address.toLowerCase()));
    for (const r of c.recipients) if (!wanted.has(r.address)) extras.push(`${l.file}: ${r.address}`);
    for (const r of l.recipients) {
      recipients++;
      const mine = c.recipients.find((x) => x.address === r.address.toLowerCase());
      const vacation = r.reason === 'vacation';
      const ok = !!mine && (vacation ? c.kind === 'auto_reply' : ['hard', 'soft', 'delayed'].includes(mine.kind));
      if (ok) recognised++;
      const hard = mine?.kind === 'hard';
      if (mine && hard === r.hard) agree++;
      else misses.push(`${l.file} ${r.address}: label ${r.reason}${r.hard ? ' (hard)' : ''}, got ${mine ? `${mine.kind} ${mine.status ?? ''}` : 'nothing'}`);
      if (r.status && mine?.status) {
        withClass++;
        if (mine.status[0] === r.status[0]) classAgree++;
      }
    }
  }
  const pct = (n: number, d: number) => `${((100 * n) / d).toFixed(1)}%`;
  console.log(`bounce fixtures: ${labels.length} messages, ${recipients} labelled recipients`);
  console.log(`  recognised with the right failed recipient: ${recognised}/${recipients} = ${pct(recognised, recipients)}`);
  console.log(`  hard/not-hard agrees with the label:        ${agree}/${recipients} = ${pct(agree, recipients)}`);
  console.log(`  status class (4/5) agrees, where both have one: ${classAgree}/${withClass} = ${pct(classAgree, withClass)}`);
  console.log(`  addresses reported that are not in the labels: ${extras.length}`);
  for (const m of misses) console.log(`  disagreement: ${m}`);
  assert.deepEqual(extras, [], 'no address outside the labels is ever reported');
  assert.ok(recognised / recipients >= 0.95, `recognised ${pct(recognised, recipients)} < 95%`);
  assert.ok(agree / recipients >= 0.95, `hard agreement ${pct(agree, recipients)} < 95%`);
});

test("mailcamp's own fixtures: auto-replies, unsubscribes, ordinary mail left alone", async () => {
  const own = path.join(dir, 'mailcamp');
  const labels = JSON.parse(fs.readFileSync(path.join(own, 'labels.json'), 'utf8')) as Array<{ file: string; kind: string; recipients: string[] }>;
  assert.deepEqual(
    labels.map((l) => l.kind).sort(),
    ['auto_reply', 'auto_reply', 'auto_reply', 'unknown', 'unknown', 'unknown', 'unsubscribe', 'unsubscribe', 'unsubscribe'],
  );
  for (const l of labels) {
    const c = await classifyMessage(fs.readFileSync(path.join(own, l.file)), { unsubscribeAddresses: ['unsubscribe@acme.example'] });
    assert.equal(c.kind, l.kind, `${l.file}: kind (via ${c.via})`);
    assert.deepEqual(c.recipients.map((r) => r.address), l.recipients, `${l.file}: recipients`);
  }
  // The unsubscribe sent to the List-Unsubscribe mailto is one only because of that address.
  const mailto = fs.readFileSync(path.join(own, 'unsubscribe-02-mailto.eml'));
  assert.equal((await classifyMessage(mailto)).kind, 'unknown');
});

test('an auto-reply or an unsubscribe is never taken for a bounce, and a bounce never for an auto-reply', async () => {
  // Postfix bounces carry `Auto-Submitted: auto-replied` (RFC 3834), like vacation notices.
  const postfix = await classifyMessage(fs.readFileSync(path.join(dir, 'lhost-postfix-02.eml')));
  assert.equal(postfix.kind, 'hard');
  assert.deepEqual(postfix.recipients.map((r) => [r.address, r.status]), [
    ['filtered@example.co.jp', '5.2.1'],
    ['userunknown@example.co.jp', '5.1.1'],
  ]);
  const vacation = await classifyMessage(fs.readFileSync(path.join(dir, 'rfc3834-01.eml')));
  assert.equal(vacation.kind, 'auto_reply');
});

test('unsubscribe replies as Chinese mail clients write them: 回复：/答复: prefixes, 请退订 as the first line; a question about it is not one', async () => {
  const mail = (subject: string, body: string) =>
    Buffer.from(`From: 王芳 <wang.fang@example.cn>\r\nTo: news@acme.example\r\nSubject: =?UTF-8?B?${Buffer.from(subject).toString('base64')}?=\r\nMessage-ID: <${Math.random()}@example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n`);
  for (const [subject, body] of [
    ['回复：退订', '谢谢'],
    ['答复: 取消订阅', ''],
    ['回复：王芳，您好', '请退订，谢谢。\r\n\r\n> 尊敬的王芳'],
    ['Re: 回复：您的十一月简报', '麻烦退订'],
  ]) {
    const c = await classifyMessage(mail(subject, body));
    assert.equal(c.kind, 'unsubscribe', `${subject} / ${body}`);
    assert.deepEqual(c.recipients.map((r) => r.address), ['wang.fang@example.cn']);
  }
  assert.equal((await classifyMessage(mail('回复：关于退订的问题', '请问怎么帮同事退订？'))).kind, 'unknown');
});
