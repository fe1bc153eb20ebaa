// A small POP3 client: RFC 1939 (USER/PASS, STAT, LIST, UIDL, RETR, DELE, QUIT), RFC 2449
// CAPA, RFC 2595 §4 STLS and implicit TLS (RFC 8314). Written here rather than taken from
// npm: node-pop3, the most recently published POP3 client there, has implicit TLS but no
// STLS, and `pop3://` must upgrade before the password is sent.
//
// Replies are `+OK`/`-ERR` status lines (§3); LIST, UIDL, CAPA and RETR add a multi-line
// body ended by a line holding a single ".", with lines that begin with "." byte-stuffed
// (§3). RETR's body is handed out as a stream as it arrives, unstuffed, so a large message
// is held once (by whoever reads it) and the socket is paused while the reader is behind.
//
// Before STLS the client reads nothing but the greeting and CAPA, sends no credentials, and
// drops any bytes that arrived after the server's `+OK` to STLS (RFC 2595 §4 / the
// "STARTTLS injection" attacks: they were sent in clear and could be an attacker's).

import net from 'node:net';
import { Readable } from 'node:stream';
import tls from 'node:tls';

export interface Pop3Options {
  host: string;
  port: number;
  /** Implicit TLS from the first byte; otherwise STLS is required. */
  secure: boolean;
  user: string;
  pass: string;
  tlsVerify?: boolean;
  ca?: string;
  timeoutMs?: number;
}

/** A failure the caller should report: `kind` says which (exit code 3 for all of them). */
export class Pop3Error extends Error {
  constructor(
    message: string,
    readonly kind: 'connect' | 'tls' | 'auth' | 'protocol' | 'timeout',
    readonly code?: string,
  ) {
    super(message);
    this.name = 'Pop3Error';
  }
}

type Waiter =
  | { kind: 'line'; resolve: (line: string) => void; reject: (e: Error) => void }
  | { kind: 'multi'; statusSeen: boolean; onStatus: (line: string) => void; reject: (e: Error) => void; sink: (chunk: Buffer | null) => boolean };

const MAX_STATUS_LINE = 8192;
/** A body line longer than this is passed on in pieces instead of being held. */
const MAX_HELD = 64 * 1024;

export class Pop3Client {
  private socket!: net.Socket | tls.TLSSocket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: Waiter | undefined;
  private atLineStart = true;
  private failure: Error | undefined;
  private busy: Promise<unknown> = Promise.resolve();

  private constructor(private readonly o: Pop3Options) {}

  /** Connects, secures the session (TLS or STLS) and logs in. */
  static async connect(o: Pop3Options): Promise<Pop3Client> {
    const c = new Pop3Client(o);
    await c.start();
    return c;
  }

  private async start(): Promise<void> {
    const o = this.o;
    const tlsOpts = {
      host: o.host,
      port: o.port,
      servername: net.isIP(o.host) ? undefined : o.host,
      rejectUnauthorized: o.tlsVerify !== false,
      ...(o.ca ? { ca: [o.ca] } : {}),
    };
    const sock = o.secure ? tls.connect(tlsOpts) : net.connect({ host: o.host, port: o.port });
    await this.attach(sock, o.secure ? 'secureConnect' : 'connect');
    const greeting = await this.status();
    if (!greeting.startsWith('+OK')) throw new Pop3Error(`greeting: ${greeting}`, 'protocol');
    if (!o.secure) {
      const caps = await this.multiLines('CAPA').catch(() => [] as string[]);
      if (!caps.some((l) => /^STLS\b/i.test(l))) {
        throw new Pop3Error('the server does not offer STLS; refusing to send the password in clear', 'tls');
      }
      await this.ok('STLS');
      if (this.buf.length) throw new Pop3Error('data sent before the TLS handshake; refusing (possible injection)', 'tls');
      const plain = this.socket;
      plain.removeAllListeners('data');
      const secured = tls.connect({ ...tlsOpts, socket: plain });
      await this.attach(secured, 'secureConnect');
    }
    await this.ok(`USER ${o.user}`, 'auth');
    await this.ok(`PASS ${o.pass}`, 'auth', 'PASS ***');
  }

  private attach(sock: net.Socket | tls.TLSSocket, ready: 'connect' | 'secureConnect'): Promise<void> {
    this.socket = sock;
    sock.setTimeout(this.o.timeoutMs ?? 60_000);
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        const tlsProblem = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|SSL|TLS/i.test(`${e.code} ${e.message}`);
        const err = new Pop3Error(e.message, tlsProblem ? 'tls' : 'connect', e.code);
        sock.destroy();
        reject(err);
      };
      sock.once('error', onError);
      sock.once(ready, () => {
        sock.off('error', onError);
        sock.on('error', (e: NodeJS.ErrnoException) => this.fail(new Pop3Error(e.message, 'connect', e.code)));
        resolve();
      });
      sock.on('timeout', () => {
        const e = new Pop3Error(`no answer within ${Math.round((this.o.timeoutMs ?? 60_000) / 1000)}s`, 'timeout');
        this.fail(e);
        sock.destroy();
        reject(e);
      });
      sock.on('close', () => this.fail(new Pop3Error('the server closed the connection', 'connect')));
      sock.on('data', (d: Buffer) => {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        this.pump();
      });
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  /** Runs one exchange at a time: POP3 has no pipelining without RFC 2449 PIPELINING. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => {});
    return run;
  }

  private send(line: string): void {
    if (this.failure) throw this.failure;
    this.socket.write(line + '\r\n');
  }

  private status(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { kind: 'line', resolve, reject };
      this.pump();
    });
  }

  /** Sends a command and requires `+OK`; returns the status line. */
  private async ok(command: string, kind: Pop3Error['kind'] = 'protocol', shown = command): Promise<string> {
    this.send(command);
    const line = await this.status();
    if (!line.startsWith('+OK')) throw new Pop3Error(`${shown.split(' ')[0]}: ${line.replace(/^-ERR\s*/, '')}`, kind);
    return line;
  }

  /** Sends a command with a multi-line answer; `sink` gets unstuffed body bytes, then null. */
  private multi(command: string, sink: (chunk: Buffer | null) => boolean): Promise<string> {
    this.send(command);
    return new Promise((resolve, reject) => {
      this.waiter = {
        kind: 'multi',
        statusSeen: false,
        onStatus: (line) => (line.startsWith('+OK') ? resolve(line) : reject(new Pop3Error(`${command.split(' ')[0]}: ${line.replace(/^-ERR\s*/, '')}`, 'protocol'))),
        reject,
        sink,
      };
      this.pump();
    });
  }

  private async multiLines(command: string): Promise<string[]> {
    const chunks: Buffer[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await this.multi(command, (c) => {
      if (c) chunks.push(c);
      else done();
      return true;
    });
    await finished;
    return Buffer.concat(chunks).toString('latin1').split('\r\n').filter((l) => l !== '');
  }

  /** Moves bytes from the buffer to whoever waits for them. */
  private pump(): void {
    while (this.waiter && this.buf.length) {
      const w = this.waiter;
      if (w.kind === 'line' || !w.statusSeen) {
        const nl = this.buf.indexOf(10);
        if (nl < 0) {
          if (this.buf.length > MAX_STATUS_LINE) this.fail(new Pop3Error('status line too long', 'protocol'));
          return;
        }
        const line = this.buf.subarray(0, nl).toString('latin1').replace(/\r$/, '');
        this.buf = this.buf.subarray(nl + 1);
        if (w.kind === 'line') {
          this.waiter = undefined;
          w.resolve(line);
        } else {
          w.statusSeen = true;
          this.atLineStart = true;
          if (!line.startsWith('+OK')) this.waiter = undefined;
          w.onStatus(line);
        }
        continue;
      }
      if (!this.body(w)) return;
    }
  }

  /** Passes body lines on; false when it must wait for more bytes or for the reader. */
  private body(w: Extract<Waiter, { kind: 'multi' }>): boolean {
    const out: Buffer[] = [];
    let pos = 0;
    let ended = false;
    const buf = this.buf;
    while (pos < buf.length) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) {
        // A partial line: hold it, unless it is long and cannot be the terminator.
        if (buf.length - pos > MAX_HELD && !(this.atLineStart && buf[pos] === 0x2e)) {
          out.push(buf.subarray(pos));
          pos = buf.length;
          this.atLineStart = false;
        }
        break;
      }
      let start = pos;
      if (this.atLineStart && buf[pos] === 0x2e) {
        const rest = buf.subarray(pos + 1, nl + 1).toString('latin1');
        if (rest === '\r\n' || rest === '\n') {
          pos = nl + 1;
          ended = true;
          break;
        }
        start = pos + 1; // byte-stuffed: "..x" is ".x"
      }
      out.push(buf.subarray(start, nl + 1));
      pos = nl + 1;
      this.atLineStart = true;
    }
    this.buf = buf.subarray(pos);
    let more = true;
    if (out.length) more = w.sink(out.length === 1 ? out[0] : Buffer.concat(out));
    if (ended) {
      this.waiter = undefined;
      w.sink(null);
      return true;
    }
    if (!more) {
      this.socket.pause();
      return false;
    }
    return false;
  }

  stat(): Promise<{ count: number; size: number }> {
    return this.serial(async () => {
      const m = /^\+OK\s+(\d+)\s+(\d+)/.exec(await this.ok('STAT'));
      if (!m) throw new Pop3Error('STAT: unexpected answer', 'protocol');
      return { count: Number(m[1]), size: Number(m[2]) };
    });
  }

  /** Message numbers and sizes (RFC 1939 §5 LIST). */
  list(): Promise<Array<{ n: number; size: number }>> {
    return this.serial(async () =>
      (await this.multiLines('LIST')).map((l) => {
        const [n, size] = l.split(/\s+/);
        return { n: Number(n), size: Number(size) };
      }),
    );
  }

  /** Message numbers and their unique ids (RFC 1939 §7 UIDL). */
  uidl(): Promise<Array<{ n: number; uid: string }>> {
    return this.serial(async () =>
      (await this.multiLines('UIDL')).map((l) => {
        const [n, uid] = l.split(/\s+/);
        return { n: Number(n), uid };
      }),
    );
  }

  /**
   * The message, streamed (RFC 1939 §7 RETR). Resolves once the server said +OK; the
   * stream must be read to its end before the next command is sent (they wait for it).
   */
  retr(n: number): Promise<Readable> {
    let stream!: Readable;
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const started = new Promise<Readable>((resolve, reject) => {
      void this.serial(async () => {
        stream = new Readable({
          read: () => {
            if (this.socket.isPaused()) {
              this.socket.resume();
              this.pump();
            }
          },
        });
        const sink = (c: Buffer | null) => {
          if (c === null) {
            stream.push(null);
            finished();
            return true;
          }
          return stream.push(c);
        };
        try {
          await this.multi(`RETR ${n}`, sink);
        } catch (e) {
          finished();
          reject(e);
          return;
        }
        resolve(stream);
        // A connection lost mid-message fails the reader, not just the next command.
        const onFail = () => stream.destroy(this.failure);
        this.socket.once('close', onFail);
        await done;
        this.socket.off('close', onFail);
      });
    });
    return started;
  }

  /** Marks a message deleted; the server removes it at QUIT (RFC 1939 §6). */
  dele(n: number): Promise<void> {
    return this.serial(async () => {
      await this.ok(`DELE ${n}`);
    });
  }

  /** Ends the session, committing deletions. */
  quit(): Promise<void> {
    return this.serial(async () => {
      try {
        await this.ok('QUIT');
      } finally {
        this.socket.end();
      }
    });
  }

  /** Drops the connection without QUIT: deletions are not committed. */
  destroy(): void {
    this.socket?.destroy();
  }
}
