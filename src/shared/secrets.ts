// Secrets never appear in output, reports or logs. Every value that came from a
// credential (a URL password, a `${VAR}` that held one) is registered here, and every
// string that leaves the program through the CLI, a report or a log goes through redact().

const secrets = new Set<string>();

/** decodeURIComponent that keeps text it cannot decode (a stray '%') as it is, instead of throwing. */
export function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 3) return;
  secrets.add(value);
  // URL-encoded forms appear in transport URLs.
  const enc = encodeURIComponent(value);
  if (enc !== value) secrets.add(enc);
}

export function redact(text: string): string {
  let out = text.includes('://') ? text.replace(URL_WITH_AT, maskPassword) : text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}

/**
 * A URL with an '@' in free text: a transport or mailbox URL typed where something else was
 * expected (`mailcamp smtp://u:pw@host`, `--limit URL`) is echoed by the error about it, and its
 * password was never registered. Only a URL whose authority has a password is changed.
 */
const URL_WITH_AT = /[a-z][a-z0-9+.-]*:\/\/[^\s'"`<>]*@[^\s'"`<>]*/gi;

function maskPassword(url: string): string {
  // `smtp://user:${SMTP_PASS}@host`: a placeholder, not a password (the help's own example).
  if (/^[a-z][a-z0-9+.-]*:\/\/[^:/\s]*:\$\{[A-Za-z_][A-Za-z0-9_]*\}@/i.test(url)) return url;
  try {
    const u = new URL(url);
    if (!u.password) return url;
    registerSecret(decodeComponent(u.password));
    u.password = '***';
    return u.toString();
  } catch {
    // user:pass@ with a '/' or '@' left unencoded in it: from the first ':' after the scheme's
    // '//' to the last '@'.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/\s]*):\S*@/i, '$1:***@');
  }
}

/**
 * Text that does not parse as a URL: a typo in it must not show the credentials. Everything
 * from after `scheme://` (or the start, the scheme forgotten) to the last '@' is taken for
 * them, since an unencoded '/', '@' or '#' in a password is the usual reason for the failure.
 */
function maskUnparsed(url: string, replacement: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)?\S*@/i, (_m, scheme: string | undefined) => `${scheme ?? ''}${replacement}`);
}

/**
 * A URL with its credentials removed, user name included (design.md: the report's and the
 * journal's `transport`): `smtp://smtp.acme.example:587`.
 */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) registerSecret(decodeComponent(u.password));
    u.username = '';
    u.password = '';
    return redact(u.toString());
  } catch {
    return redact(maskUnparsed(url, ''));
  }
}

/** Said when a URL with credentials does not parse: the usual cause. */
export const ENCODE_HINT = "; in a user name or password write '/' as %2F, '@' as %40, '#' as %23";

/** A transport URL with its password masked (user:***@), for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) {
      registerSecret(decodeComponent(u.password));
      u.password = '***';
    }
    return redact(u.toString());
  } catch {
    return redact(maskUnparsed(url, '***@'));
  }
}
