// RFC 3464 delivery status fields: the body of a `message/delivery-status` part (or of
// `message/global-delivery-status`, RFC 6533, the same grammar in UTF-8). The body is one
// group of per-message fields, then one group per recipient, groups separated by blank
// lines, each field a header line that may be folded (RFC 3464 §2.1, §2.2, §2.3).
//
// Real reports bend the grammar: groups without the blank line between them, a
// per-message group missing, lower-case field names, comments after the status code
// ("5.0.0 (permanent failure)"). This reader starts a new recipient at every
// Final-Recipient/Original-Recipient seen after one already started, and takes the first
// `d.d.d` it finds in Status.

export interface DsnRecipient {
  /** Final-Recipient address (§2.3.2), or Original-Recipient when that is all there is. */
  address: string;
  /** Original-Recipient (§2.3.1): the address the sender gave, when present. */
  original?: string;
  /** Action (§2.3.3), lower-cased: failed, delayed, delivered, relayed, expanded. */
  action?: string;
  /** Status (§2.3.4): an RFC 3463 code `class.subject.detail`. */
  status?: string;
  /** Diagnostic-Code (§2.3.6) without its type: usually the remote SMTP reply. */
  diagnostic?: string;
  remoteMta?: string;
}

export interface DeliveryStatus {
  reportingMta?: string;
  recipients: DsnRecipient[];
}

/** Fields of one group, names lower-cased; folded lines joined. */
function fieldsOf(lines: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && out.length) {
      out[out.length - 1][1] += ' ' + line.trim();
      continue;
    }
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$/.exec(line);
    if (m) out.push([m[1].toLowerCase(), m[2].trim()]);
  }
  return out;
}

/** `rfc822; user@example.com` → `user@example.com`; drops angle brackets and quotes. */
export function addressOfTyped(value: string): string {
  const semi = value.indexOf(';');
  let a = (semi >= 0 ? value.slice(semi + 1) : value).trim();
  const angle = /<([^<>]*@[^<>]*)>/.exec(a);
  if (angle) a = angle[1];
  a = a.replace(/^["']|["']$/g, '').trim();
  // RFC 3461 xtext (+XX) appears in ORCPT-derived fields: `user+2Btag@x` is `user+tag@x`.
  if (/\+[0-9A-F]{2}/.test(a)) a = a.replace(/\+([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return a.split(/\s+/)[0] ?? '';
}

/** The first RFC 3463 code in a text (`5.1.1`), or undefined. */
export function statusCodeIn(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const m = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/.exec(text);
  return m ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : undefined;
}

function diagnosticText(value: string): string {
  // `smtp; 550 5.1.1 <x>: user unknown`: the type is noise for a reader.
  return value.replace(/^\s*(smtp|x-[a-z0-9-]+|x400|unix)\s*;\s*/i, '').trim();
}

/** Parses a delivery-status body. Recipients without an address are dropped. */
export function parseDeliveryStatus(body: string): DeliveryStatus {
  const lines = body.replace(/\r\n?/g, '\n').split('\n');
  const result: DeliveryStatus = { recipients: [] };
  let current: DsnRecipient | undefined;
  let sawFinal = false;
  let sawOriginal = false;
  const flush = () => {
    if (current && current.address) result.recipients.push(current);
    current = undefined;
    sawFinal = sawOriginal = false;
  };
  // Group boundaries matter only for starting recipients, so read field by field and
  // start a new recipient on a blank line or on a repeated recipient field.
  const groups: string[][] = [[]];
  for (const l of lines) {
    if (l.trim() === '') groups.push([]);
    else groups[groups.length - 1].push(l);
  }
  for (const g of groups) {
    if (!g.length) continue;
    if (current) flush();
    for (const [name, value] of fieldsOf(g)) {
      switch (name) {
        case 'reporting-mta':
          result.reportingMta ??= diagnosticText(value.replace(/^dns\s*;\s*/i, ''));
          break;
        case 'final-recipient': {
          if (sawFinal) flush();
          current ??= { address: '' };
          current.address = addressOfTyped(value);
          sawFinal = true;
          break;
        }
        case 'original-recipient': {
          if (sawOriginal) flush();
          current ??= { address: '' };
          current.original = addressOfTyped(value);
          if (!current.address) current.address = current.original;
          sawOriginal = true;
          break;
        }
        case 'action':
          if (current) current.action = value.split(/[\s(;]/)[0].toLowerCase();
          break;
        case 'status':
          if (current) current.status = statusCodeIn(value) ?? current.status;
          break;
        case 'diagnostic-code':
          if (current) current.diagnostic = diagnosticText(value);
          break;
        case 'remote-mta':
          if (current) current.remoteMta = value.replace(/^dns\s*;\s*/i, '').trim();
          break;
        default:
          break;
      }
    }
  }
  flush();
  return result;
}

/**
 * Delivery status fields written into a plain-text body (reports whose MIME structure is
 * broken, or relays that flatten it): the text from the first Final-Recipient or
 * Original-Recipient line on, read as a delivery-status body.
 */
export function deliveryStatusInText(text: string): DeliveryStatus | undefined {
  const i = text.search(/^(final|original)-recipient\s*:/im);
  if (i < 0) return undefined;
  const ds = parseDeliveryStatus(text.slice(i));
  return ds.recipients.length ? ds : undefined;
}
