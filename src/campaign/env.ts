// `${VAR}` interpolation, done after YAML parsing so a value can never change the YAML's
// structure. Variables come from the process environment, then a `.env` file beside the
// campaign (the environment wins, as with docker-compose and dotenv). A missing variable
// is an error naming it; values that look like credentials are registered as secrets.

import fs from 'node:fs';
import path from 'node:path';
import { MailcampError } from '../shared/errors.js';
import { assertRegularFile } from '../shared/text-file.js';
import { registerSecret } from '../shared/secrets.js';

export type Env = Record<string, string | undefined>;

/** A .env holds a few variables; a huge one is a mistake (and would be read whole). */
const MAX_DOTENV_BYTES = 1024 * 1024;

/** Reads KEY=VALUE lines (optional `export`, quotes, # comments) from `<dir>/.env`. */
export function loadDotEnv(dir: string): Env {
  const file = path.join(dir, '.env');
  let text: string;
  try {
    assertRegularFile(file, file, MAX_DOTENV_BYTES);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof MailcampError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return {};
    // There but unreadable: the variables it holds would be reported as "not set (nor in .env)".
    throw new MailcampError('INPUT', code === 'EACCES' || code === 'EPERM' ? 'permission denied reading the file' : `cannot read the file: ${code ?? (e as Error).message}`, { file });
  }
  const out: Env = {};
  let lineNo = 0;
  for (const raw of text.split(/\r?\n/)) {
    lineNo++;
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2];
    // Quoted: a value that starts and ends with the same quote is that text (`"p4ss\"` too);
    // else a quoted part may be followed by a comment (`KEY="a b"  # why`), as dotenv and
    // docker compose read them. `\"` and `\n` inside double quotes.
    const whole = v.length > 1 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0]) ? [v, v.slice(1, -1)] : null;
    const q = whole ?? (v[0] === '"' ? /^"((?:[^"\\]|\\.)*)"\s*(?:#.*)?$/.exec(v) : v[0] === "'" ? /^'([^']*)'\s*(?:#.*)?$/.exec(v) : null);
    if (q) {
      v = q[1];
      if (m[2].startsWith('"')) v = v.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else if (/^["']/.test(v)) {
      // `SMTP_PASS="S3cr3t` (no closing quote): the quote would go out as part of the password.
      throw new MailcampError('INPUT', `${m[1]}: the value opens a quote (${v[0]}) that does not close on this line`, { file, line: lineNo });
    } else {
      v = v.replace(/\s+#.*$/, '');
    }
    out[m[1]] = v;
  }
  return out;
}

const SECRET_NAME = /PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH/i;
const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${VAR}` in `value`. `$${` escapes a literal `${`. Throws a MailcampError
 * (without a place; the caller adds it) naming the first missing variable.
 */
export function interpolate(value: string, env: Env, opts: { secret?: boolean; url?: boolean; dotEnvFile?: string } = {}): string {
  if (!value.includes('${')) return value;
  // A value that is the whole user name or the whole password of a URL's user:password@ part
  // is percent-encoded: a password with '@', '/', '#' or '?' in it would otherwise end the user
  // info early (and a piece of the password would be taken for the host name). A user name
  // already percent-encoded (news%40acme.example, nothing else reserved) is left as it is; a
  // password never is: `ab%2Fcd` may well be the password itself, and decoding it would send
  // another one.
  const userinfo = opts.url ? userinfoSpan(value) : undefined;
  return value.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole: string, name: string, at: number) => {
    if (whole.startsWith('$$')) return whole.slice(1);
    const v = env[name];
    if (v === undefined) {
      throw new MailcampError('INPUT', `environment variable ${name} is not set (nor in ${opts.dotEnvFile ?? '.env'})`);
    }
    if (opts.secret || SECRET_NAME.test(name)) registerSecret(v);
    if (!userinfo || at < userinfo[0] || at >= userinfo[1]) return v;
    const before = value[at - 1];
    const after = value[at + whole.length];
    const wholeField = (at === userinfo[0] || before === ':') && (after === ':' || after === '@');
    // A piece of a user name or password (`news-${TEAM}@…`): the characters that would end the
    // user info or the URL's authority early are encoded; the rest is as written.
    if (!wholeField) return v.replace(/[@/?#:%\s]/g, (ch) => encodeURIComponent(ch));
    const user = (x: string) => (alreadyEncoded(x) ? x : encodeURIComponent(x));
    // The whole user info in one variable (`${SMTP_CREDS}@host`): user and password, each encoded.
    if (at === userinfo[0] && after === '@' && v.includes(':')) {
      const i = v.indexOf(':');
      return `${user(v.slice(0, i))}:${encodeURIComponent(v.slice(i + 1))}`;
    }
    return before === ':' ? encodeURIComponent(v) : user(v);
  });
}

/** Percent-encoded already: every '%' starts an escape, and nothing else would need one. */
function alreadyEncoded(v: string): boolean {
  return /%[0-9A-Fa-f]{2}/.test(v) && !/%(?![0-9A-Fa-f]{2})/.test(v) && !/[@/?#:\s]/.test(v);
}

/** [start, end) of the user info in `scheme://user:pass@host…`, as written (placeholders hold no '@' or '/'). */
function userinfoSpan(url: string): [number, number] | undefined {
  const start = url.indexOf('://');
  if (start < 0) return undefined;
  const rest = url.slice(start + 3);
  const hostEnd = rest.search(/[/?#]/);
  const authority = hostEnd < 0 ? rest : rest.slice(0, hostEnd);
  const at = authority.lastIndexOf('@');
  return at < 0 ? undefined : [start + 3, start + 3 + at];
}

export function mentionsVariables(value: string): boolean {
  VAR.lastIndex = 0;
  return VAR.test(value);
}
