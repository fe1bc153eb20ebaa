// Spam complaints from feedback loops: RFC 5965 Abuse Reporting Format,
// `multipart/report; report-type=feedback-report` with a `message/feedback-report` part.
// The person who pressed "this is spam" must not be mailed again; the report names them in
// `Original-Rcpt-To` (§3.2), or the returned original's To does.

import { addressOfTyped } from './dsn.js';
import { headerIn, type IncomingMail } from './parse-mail.js';

export interface Complaint {
  recipients: string[];
  feedbackType: string;
}

export function findComplaint(mail: IncomingMail): Complaint | undefined {
  const isArf = mail.contentType === 'multipart/report' && mail.reportType === 'feedback-report';
  if (!isArf && !mail.feedbackReport.length) return undefined;
  const recipients = new Set<string>();
  let feedbackType = 'abuse';
  for (const body of mail.feedbackReport) {
    const unfolded = body.replace(/\r?\n[ \t]+/g, ' ');
    for (const m of unfolded.matchAll(/^(?:original-rcpt-to|removal-recipient)\s*:\s*(.+)$/gim)) {
      const a = addressOfTyped(m[1]).toLowerCase();
      if (a.includes('@')) recipients.add(a);
    }
    const t = /^feedback-type\s*:\s*(\S+)/im.exec(unfolded);
    if (t) feedbackType = t[1].toLowerCase();
  }
  if (!recipients.size) {
    for (const block of mail.originalHeaders) {
      const to = headerIn(block, 'to');
      const m = to && /[^\s<>,;"]+@[^\s<>,;"]+/.exec(to);
      if (m) recipients.add(m[0].toLowerCase());
    }
  }
  return { recipients: [...recipients], feedbackType };
}
