// Unsubscribe requests that arrive as mail: a message to the campaign's `mailto:`
// unsubscribe address (the List-Unsubscribe of RFC 2369 §3.2, which mail clients send with
// the subject the link names), or a reply whose subject or first line of its own text asks to
// be removed. The address to suppress is the sender's (From).
//
// Only the subject and the first line the person wrote count (quoted text below a reply is
// ours), and the request has to lead: "unsubscribe", "remove me", "stop" at the start of
// the subject or the line, in a few languages. "How do I unsubscribe my colleague?" and a
// newsletter reply that mentions the footer link in passing stay ordinary mail.

import type { IncomingMail } from './parse-mail.js';

const REQUEST =
  /^(?:(?:please|kindly|pls|bitte|merci\s+de|por\s+favor)[,\s]+|(?:请|請|麻烦|麻煩|烦请|煩請|我要|我想)\s*)?(?:unsubscribe|unsub\b|remove\s+me|remove\s+my\s+(?:e-?mail|address)|take\s+me\s+off|opt[\s-]?out|stop(?:\s+(?:sending|emailing|mailing)|\s*$|[.!])|no\s+more\s+(?:e-?mails|mails|newsletters)|abbestellen|abmelden|désabonner|me\s+désabonner|désinscri|darme\s+de\s+baja|darse\s+de\s+baja|baja\b|cancelar\s+suscripci|disiscriv|退订|取消订阅|退訂|配信停止|登録解除)/i;

/** The sender's address and how the request was made, when the message asks to unsubscribe. */
export function unsubscribeRequest(
  mail: IncomingMail,
  unsubscribeAddresses: readonly string[],
): { address: string; via: 'mailto' | 'subject' | 'first-line' } | undefined {
  const sender = mail.from[0];
  if (!sender) return undefined;
  const targets = new Set(unsubscribeAddresses.map((a) => a.toLowerCase()));
  if (targets.size) {
    const delivered = ['delivered-to', 'x-original-to', 'envelope-to', 'to', 'cc']
      .flatMap((h) => (mail.header(h) ?? '').toLowerCase().match(/[^\s<>,;"]+@[^\s<>,;"]+/g) ?? []);
    if (delivered.some((a) => targets.has(a))) return { address: sender, via: 'mailto' };
  }
  // Reply and forward prefixes, also as Chinese mail clients write them (回复：, 答复:, 转发：).
  const subject = mail.subject.replace(/^\s*(?:(?:re|aw|sv|fw|fwd|wg|回复|回覆|答复|答覆|转发|轉發|轉寄)\s*(?:\[\d+\])?\s*[:：]\s*)+/i, '').trim();
  if (REQUEST.test(subject)) return { address: sender, via: 'subject' };
  if (REQUEST.test(firstOwnLine(mail.text))) return { address: sender, via: 'first-line' };
  return undefined;
}

/** The first non-empty line the sender wrote: not quoted (`>`), not a greeting-less blank. */
export function firstOwnLine(text: string): string {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('>')) continue;
    return line.replace(/^(?:hi|hello|dear\s+\S+|hallo)[,!.]?\s+/i, '');
  }
  return '';
}
