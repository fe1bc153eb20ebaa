// `mailcamp dev-server`: an embedded SMTP server (smtp-server) on loopback that writes each
// message it receives as an .eml into a folder and prints a line per message — for trying
// campaigns locally: `--transport smtp://127.0.0.1:2525`.

import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import libmime from 'libmime';
import { SMTPServer } from 'smtp-server';
import { emlName } from '../send/outbox.js';
import { MailcampError } from '../shared/errors.js';
import { writableFolder } from '../shared/folders.js';
import { printable } from '../shared/printable.js';
import { type Io, out } from './io.js';

/** RFC 2047 encoded words as text, for the log line (`=?UTF-8?Q?=E5=BC=A0…?=` → 张…). */
function decodeWords(s: string): string {
  try {
    return libmime.decodeWords(s);
  } catch {
    return s;
  }
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('--port must be a whole number from 1 to 65535');
  return n;
}

export function register(program: Command, io: Io): void {
  program
    .command('dev-server')
    .description('run a local SMTP server that captures mail to a folder (Ctrl-C to stop)')
    .option('--port <N>', 'port to listen on', (v) => port(v), 2525)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--dir <dir>', 'where to write received messages', 'dev-mail')
    .action(async (f: { port: number; host: string; dir: string }) => {
      const dir = writableFolder(path.resolve(io.cwd, f.dir), '--dir');
      // Numbered on from what the folder holds: a restart must not overwrite earlier mail.
      let n = fs.readdirSync(dir).reduce((max, f) => Math.max(max, Number(/^(\d{6})-/.exec(f)?.[1] ?? 0)), 0);
      const first = n;
      const server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        allowInsecureAuth: true,
        logger: false,
        size: 50 * 1024 * 1024,
        onAuth: (auth, _s, cb) => cb(null, { user: auth.username }),
        onData: (stream, session, cb) => {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const raw = Buffer.concat(chunks);
            const to = session.envelope.rcptTo.map((r) => r.address);
            const file = path.join(dir, emlName(++n, to.join('_')));
            fs.writeFileSync(file, raw);
            const folded = /^Subject: (.*(?:\r\n[ \t].*)*)/im.exec(raw.toString('latin1'))?.[1]?.replace(/\r\n/g, '') ?? '';
            const subject = decodeWords(folded);
            const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
            // What a client sent, control characters included, must not drive the terminal.
            out(io, printable(`${new Date().toISOString()}  ${from} → ${to.join(', ')}  ${subject}  (${raw.length} bytes)  ${path.relative(io.cwd, file)}`));
            cb(null, `Message queued as ${path.basename(file)}`);
          });
        },
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => {
          const why = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOTFOUND' || e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message;
          reject(new MailcampError('USAGE', `dev-server: cannot listen on ${f.host}:${f.port}: ${why}`));
        });
        server.listen(f.port, f.host, () => resolve());
      });
      // The address to give send: a wildcard is not one; smtp:// wants STARTTLS except to loopback.
      const shown = f.host.includes(':') ? `[${f.host}]` : f.host;
      const wildcard = f.host === '0.0.0.0' || f.host === '::';
      const host = wildcard ? '127.0.0.1' : shown;
      const loopback = wildcard || /^(127\.|localhost$|\[::1\]$)/.test(host);
      const use = `${loopback ? 'smtp' : 'smtp+plain'}://${host}:${f.port}`;
      out(io, `dev-server listening on smtp+plain://${shown}:${f.port} (use --transport ${use}); writing to ${dir}`);
      await new Promise<void>((resolve) => {
        if (io.signal.aborted) return resolve();
        io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      out(io, `dev-server stopped; ${n - first} message(s) received`);
    });
}
