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
  let out = text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
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
    return redact(url.replace(/\/\/[^@/]*@/, '//'));
  }
}

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
    return redact(url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@'));
  }
}
