// A throwaway Dovecot for IMAP and POP3 tests: Debian's dovecot-imapd/-pop3d binaries run in
// the foreground (`dovecot -F`) with a generated config in a temp folder, listening on four
// free loopback ports: IMAPS (implicit TLS), IMAP (STARTTLS), POP3S, POP3 (STLS). Plaintext
// authentication is refused before TLS (`disable_plaintext_auth`), so a client that skipped
// STARTTLS/STLS would fail, not pass. Users from a passwd-file (PLAIN scheme; several, so
// one server serves many test cases with a mailbox each), mail in a Maildir per user under
// the temp folder, the TLS certificate from certs.ts makeCert().
//
// Running as root needs care: Dovecot refuses uid 0 for mail processes ("userdb returned 0
// as uid"), so mail is owned by `nobody` and the login/internal services run as the
// package's own `dovenull`/`dovecot` users; as any other user, everything runs as that
// user. Test messages are written straight into the Maildir (`tmp/` then `new/`, the
// Maildir delivery protocol), owned by the mail user; what is left is read back from
// the same folders, independently of the client under test.
//
// dovecotMissing() says why the tests must be skipped (the binaries are absent); nothing
// else skips them.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCert } from './certs.js';
import { freePort, waitForPort } from './net.js';
import { tmpDir } from './tmp.js';

const DOVECOT = '/usr/sbin/dovecot';
const LIBEXEC = '/usr/lib/dovecot';

export interface Where {
  /** Default: the first user. */
  user?: string;
  /** Default: INBOX. */
  folder?: string;
}

export interface Dovecot {
  host: string;
  ports: { imap: number; imaps: number; pop3: number; pop3s: number };
  /** The first user; every user has the password `pass`. */
  user: string;
  users: string[];
  pass: string;
  /** PEM of the server's (self-signed) certificate, to trust on the client side. */
  ca: string;
  caFile: string;
  /** Writes a message into a user's Maildir `new/` (INBOX, or a Maildir++ folder). */
  deliver(raw: string | Buffer, where?: Where): string;
  /** Message files now in a user's INBOX (or a folder): names in `cur/` and `new/`. */
  messages(where?: Where): string[];
  /** Dovecot's log so far (for assertion messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Why Dovecot tests cannot run here, or undefined when they can. */
export function dovecotMissing(): string | undefined {
  for (const f of [DOVECOT, `${LIBEXEC}/imap`, `${LIBEXEC}/pop3`, `${LIBEXEC}/imap-login`, `${LIBEXEC}/pop3-login`]) {
    if (!fs.existsSync(f)) return `Dovecot is not installed (${f} missing): apt-get install dovecot-imapd dovecot-pop3d`;
  }
  return undefined;
}


function idOf(flag: '-u' | '-g', name: string): number {
  return Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
}

const running = new Set<ChildProcess>();
let hooked = false;

export async function startDovecot(opts: { users?: string[]; pass?: string } = {}): Promise<Dovecot> {
  const missing = dovecotMissing();
  if (missing) throw new Error(missing);
  const root = process.getuid?.() === 0;
  const me = os.userInfo().username;
  const mailUser = root ? 'nobody' : me;
  const mailUid = idOf('-u', mailUser);
  const mailGid = root ? idOf('-g', 'nobody') : (process.getgid?.() ?? mailUid);
  const dir = tmpDir('mailcamp-dovecot-');
  fs.chmodSync(dir, 0o755); // login and mail processes run as other users
  const cert = makeCert();
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), cert.key, { mode: 0o600 });
  const users = opts.users ?? ['bounces@acme.example'];
  const pass = opts.pass ?? 'p4ss-w0rd!';
  fs.writeFileSync(path.join(dir, 'passwd'), users.map((u) => `${u}:{PLAIN}${pass}::::::\n`).join(''), { mode: 0o644 });
  const homes = path.join(dir, 'home');
  const maildirOf = (u: string) => path.join(homes, u, 'Maildir');
  for (const u of users) for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildirOf(u), d), { recursive: true });
  chownTree(homes, mailUid, mailGid);

  const ports = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() };
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
auth_mechanisms = plain login
disable_plaintext_auth = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${mailUid} gid=${mailGid} home=${homes}/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 0
default_internal_user = ${root ? 'dovecot' : me}
default_internal_group = ${root ? 'dovecot' : me}
default_login_user = ${root ? 'dovenull' : me}
pop3_uidl_format = %08Xu%08Xv
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${ports.imap}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${ports.imaps}
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${ports.pop3s}
    ssl = yes
  }
}
`;
  const confFile = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(confFile, conf);
  const child = spawn(DOVECOT, ['-F', '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!hooked) {
    hooked = true;
    // A test that fails before stop() must not leave a Dovecot behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  const log = () => {
    try {
      return fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8') + stderr;
    } catch {
      return stderr;
    }
  };
  try {
    await waitForPorts(Object.values(ports), child, 10_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`Dovecot did not start: ${(e as Error).message}\n${log()}`);
  }

  let seq = 0;
  const folderDir = (w: Where = {}) => {
    const maildir = maildirOf(w.user ?? users[0]);
    return !w.folder || w.folder === 'INBOX' ? maildir : path.join(maildir, `.${w.folder}`);
  };
  return {
    host: '127.0.0.1',
    ports,
    user: users[0],
    users,
    pass,
    ca: cert.ca,
    caFile: path.join(dir, 'cert.pem'),
    deliver(raw, where) {
      const base = folderDir(where);
      for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(base, d), { recursive: true });
      const name = `${Date.now()}.M${++seq}P${process.pid}.mailcamp-test`;
      const tmp = path.join(base, 'tmp', name);
      fs.writeFileSync(tmp, typeof raw === 'string' ? raw.replace(/\r?\n/g, '\n') : raw);
      chownTree(base, mailUid, mailGid);
      fs.renameSync(tmp, path.join(base, 'new', name));
      return name;
    },
    messages(where) {
      const base = folderDir(where);
      const out: string[] = [];
      for (const d of ['cur', 'new']) {
        try {
          out.push(...fs.readdirSync(path.join(base, d)));
        } catch {
          // folder not created (yet)
        }
      }
      return out.sort();
    },
    log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function chownTree(p: string, uid: number, gid: number): void {
  if (process.getuid?.() !== 0) return;
  fs.chownSync(p, uid, gid);
  if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

async function waitForPorts(ports: number[], child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    const failed = () => (child.exitCode !== null ? `exited with code ${child.exitCode}` : undefined);
    await waitForPort(port, { timeoutMs: Math.max(0, deadline - Date.now()), failed, what: 'dovecot' });
  }
}
