// Hard or soft: what one failed recipient means for the next campaign.
//
// RFC 3463 codes are `class.subject.detail`. Class 4 is transient and class 5 permanent
// (§3.1), but "permanent" is about that one message, not the address: a 5.7.1 spam
// rejection or a 5.2.2 full mailbox says nothing about whether the address will work
// tomorrow. So an address is suppressed at once (hard) only when the code says the
// address itself is wrong:
//   5.1.1 bad destination mailbox, 5.1.2 bad destination system, 5.1.3 bad mailbox syntax,
//   5.1.6 mailbox has moved, 5.1.10 null MX (RFC 7505), 5.4.4 unable to route (no such
//   domain), and 5.2.1 mailbox disabled when the text says the user is gone;
// 5.1.7/5.1.8 are about the sender's address (§3.2) and never suppress the recipient.
// Everything else that failed is soft: it counts toward the mailbox file's limit.
//
// Many servers send a bare 5.0.0 or 5.5.0 and explain in words, so the diagnostic text
// decides when the code is generic (X.0.0, X.1.0, X.5.x). The words are the ones the
// common MTAs use (Postfix, Exim, Sendmail, qmail, Exchange, Gmail, Yahoo ...).

export type Severity = 'hard' | 'soft' | 'delayed';

const HARD_CODES = new Set(['1.1', '1.2', '1.3', '1.6', '1.10', '4.4']);
const SENDER_CODES = new Set(['1.7', '1.8']);

/** Texts that say the mailbox or domain does not exist (or is gone for good). */
const GONE: RegExp[] = [
  /\buser(?:name)?\s+(?:is\s+)?unknown\b/i,
  /\bunknown\s+(?:user|recipient|local[- ]?part|address|mailbox)\b/i,
  /\bno\s+such\s+(?:user|mailbox|recipient|address|person|account|local user)\b/i,
  /\b(?:user|mailbox|recipient|address|account|addressee)\s+(?:\S+\s+){0,2}(?:does\s+not|doesn'?t|did\s+not)\s+exist/i,
  /\b(?:user|mailbox|recipient|account)\s+(?:was\s+)?not\s+found\b/i,
  /\bmailbox\s+(?:is\s+)?(?:unavailable|not\s+available)\b.*\b(?:unknown|invalid|not\s+exist)/i,
  /\binvalid\s+(?:recipient|mailbox|user)\b/i,
  /\brecipient\s+name\s+is\s+not\s+recognized\b/i,
  /\bdoes\s*n[o']t\s+have\s+an?\s+\S+\s+account\b/i,
  /\bindicated\s+no\s+smtp\s+service\b/i,
  /\bdomain\s+is\s+not\s+reachable\b/i,
  /\bhost\s+\S+\s+not\s+found\b/i,
  /\brecipient\s+address\s+rejected\s*:\s*(?:user\s+unknown|undeliverable\s+address|unknown|invalid|not\s+exist)/i,
  /\bnot\s+a\s+(?:valid|registered)\s+(?:\S+\s+)?(?:user|mailbox|recipient|address)/i,
  /\bis\s+not\s+a\s+registered\b/i,
  /\b(?:unrouteable|unroutable)\s+address\b/i,
  /\bno\s+mailbox\s+here\b/i,
  /\bno\s+mailbox\s+by\s+that\s+name\b/i,
  /\bdoes\s+not\s+have\s+an?\s+(?:e-?mail\s+)?account\b/i,
  /\baddress\s+(?:does\s+not\s+exist|unknown|not\s+found)\b/i,
  /\bhost\s+(?:or\s+domain\s+name\s+)?(?:not\s+found|unknown)\b/i,
  /\bunknown\s+host\b/i,
  /\bdomain\s+(?:name\s+)?(?:not\s+found|does\s+not\s+exist|is\s+not\s+found)\b/i,
  /\bname\s+service\s+error\b/i,
  /\bcould\s*n[o']t\s+find\s+a\s+mail\s+exchanger\b/i,
  /\bno\s+(?:mx|mail\s+exchanger)\s+(?:record|host)/i,
  /\bnull\s+mx\b/i,
  /\bnon[- ]?existent\s+(?:user|address|mailbox|domain)\b/i,
  /\baccount\s+(?:has\s+been\s+)?(?:deleted|closed|removed|terminated)\b/i,
  /\bmailbox\s+(?:has\s+been\s+)?(?:deleted|removed|closed)\b/i,
  /\b(?:user|recipient)\s+(?:has\s+)?moved\b/i,
  /\bdoes\s+not\s+accept\s+(?:any\s+)?mail\b/i,
  /\bsuch\s+(?:user|mailbox|recipient)\s+(?:does\s+not|doesn'?t)\b/i,
  /\bthe\s+email\s+account\s+that\s+you\s+tried\s+to\s+reach\s+does\s+not\s+exist\b/i,
  /\bno\s+valid\s+recipients?\b/i,
  /\brecipient\s+(?:unknown|not\s+recognized|rejected:\s*unknown)\b/i,
  /\baddress\s+rejected\b(?!.*(?:full|quota|spam|block|policy|greylist|try again|rate))/i,
];

/** Texts that say the problem is not the address: full, blocked, spam, policy, busy. */
const NOT_GONE: RegExp[] = [
  /\b(?:over\s*quota|quota\s+exceeded|mailbox\s+(?:is\s+)?full|exceeded\s+(?:the\s+)?(?:storage|quota)|insufficient\s+(?:system\s+)?storage|disk\s+full|mail\s*box\s+size\s+limit)/i,
  /\b(?:spam|junk|blacklist|blocklist|block\s*list|black\s*list|blocked|reputation|rbl|spamhaus|dnsbl|content\s+(?:rejected|filter)|virus|malware|phish)/i,
  /\b(?:policy|not\s+authori[sz]ed|authentication|dmarc|spf|dkim|relay(?:ing)?\s+(?:denied|not\s+permitted|access\s+denied)|reverse\s+dns|ptr\s+record)/i,
  /\b(?:too\s+many|rate\s+limit|try\s+(?:again\s+)?later|temporar|greylist|throttl|busy|timed?\s*out|expired|deferred)/i,
  /\b(?:message\s+(?:too\s+(?:big|large)|size\s+exceeds)|exceeds\s+(?:the\s+)?(?:maximum|size))/i,
];

export function textSaysGone(text: string | undefined): boolean {
  return !!text && GONE.some((re) => re.test(text));
}

export function textSaysNotGone(text: string | undefined): boolean {
  return !!text && NOT_GONE.some((re) => re.test(text));
}

/**
 * The verdict for one recipient of a report. `action` is the RFC 3464 Action (undefined for
 * reports without one), `status` an RFC 3463 code. `diagnostic` is the remote server's own
 * reply (Diagnostic-Code) and weighs more than `context`, the reporting MTA's prose about
 * the recipient: Sendmail, for one, words a blocklist refusal as "User unknown".
 */
export function severityOf(
  action: string | undefined,
  status: string | undefined,
  diagnostic: string | undefined,
  context?: string,
  address?: string,
): Severity {
  if (action === 'delayed') return 'delayed';
  const cls = status?.[0];
  if (cls === '4') return 'soft';
  const subDetail = status ? status.slice(2) : '';
  if (SENDER_CODES.has(subDetail)) return 'soft';
  const words = verdictOfText(diagnostic) ?? verdictOfText(context);
  if (HARD_CODES.has(subDetail)) {
    // A code from the address family, but words that plainly blame content or policy
    // (some filters answer 5.1.1 to hide what they reject) are not a dead address.
    return words === 'other' ? 'soft' : 'hard';
  }
  const generic = !status || /^5\.(0\.\d+|1\.0|2\.1|5\.\d+|3\.0|4\.0|4\.1)$/.test(status);
  if (!generic || words !== 'gone') return 'soft';
  if (address && filtersAsUnknown(address) && !/\brcpt\s+to\b/i.test(`${diagnostic}\n${context}`)) return 'soft';
  return 'hard';
}

/**
 * Japanese mobile carriers answer a message refused by the recipient's own sender filter
 * (domain-specific reception, "指定受信") with a plain "550 User unknown" after DATA. Only a
 * refusal at RCPT TO, or a 5.1.1, says there is no such mailbox there.
 */
const FILTERING_CARRIERS = /@(?:[\w-]+\.)*(?:docomo\.ne\.jp|ezweb\.ne\.jp|au\.com|softbank\.ne\.jp|i\.softbank\.jp|vodafone\.ne\.jp|disney\.ne\.jp|pdx\.ne\.jp|willcom\.com|emnet\.ne\.jp|ymobile\.ne\.jp|y-mobile\.ne\.jp)$/i;

function filtersAsUnknown(address: string): boolean {
  return FILTERING_CARRIERS.test(address);
}

/** `gone` when a text says the address does not exist, `other` when it blames something else. */
function verdictOfText(text: string | undefined): 'gone' | 'other' | undefined {
  if (!text) return undefined;
  const gone = textSaysGone(text);
  if (gone) return textSaysNotGone(stripGone(text)) ? 'other' : 'gone';
  return textSaysNotGone(text) ? 'other' : undefined;
}

/** The text with the "gone" phrases removed, so "user unknown; try later" still reads soft. */
function stripGone(text: string | undefined): string {
  let t = text ?? '';
  for (const re of GONE) t = t.replace(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'), ' ');
  return t;
}
