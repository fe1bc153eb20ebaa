// RFC 3834 automatic responses: vacation notices, "out of office", ticket acknowledgements.
// They are not bounces: the address works and a person reads it, so they are recognised,
// reported and never counted toward suppression.
//
// RFC 3834 §5 asks responders to send `Auto-Submitted: auto-replied`; §5.2 says
// `Auto-Submitted: no` means a person wrote it. Responders that predate it are recognised by
// the headers they do send (`X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply`,
// Exchange's `X-Auto-Response-Suppress` paired with an auto subject) and by their subjects.
// Bounces also carry Auto-Submitted (Postfix sets auto-replied), so the caller asks
// bounce.ts first.

import type { IncomingMail } from './parse-mail.js';

const AUTO_SUBJECT =
  /^(?:auto(?:matic)?[ -]?(?:reply|response|antwort|réponse|respuesta)\b|auto:|autoreply|out of (?:the )?office|away from (?:the |my )?(?:office|desk)|on vacation|vacation (?:reply|notice|message)|\bi am (?:currently )?(?:away|out)|abwesenheit|absence|absent|fuera de la oficina|réponse automatique|自动回复|自動応答|不在)/i;
const AWAY_WORDS = /\b(?:away until|out of (?:the )?office|on (?:vacation|holiday|leave)|be back on|returning (?:to the office )?on|limited access to (?:e-?mail|my email))/i;

export function isAutoReply(mail: IncomingMail): boolean {
  const auto = mail.header('auto-submitted')?.trim().toLowerCase();
  if (auto && !auto.startsWith('no')) return true;
  if (mail.header('x-autoreply') || mail.header('x-autorespond') || mail.header('x-auto-reply')) return true;
  const precedence = (mail.header('precedence') ?? mail.header('x-precedence') ?? '').toLowerCase();
  if (precedence.includes('auto_reply') || precedence.includes('auto-reply')) return true;
  const subject = mail.subject.replace(/^\s*(?:re|aw|sv|fw|fwd)\s*:\s*/i, '');
  if (AUTO_SUBJECT.test(subject)) return true;
  if (mail.header('x-auto-response-suppress') && AWAY_WORDS.test(mail.text.slice(0, 2000))) return true;
  return false;
}
